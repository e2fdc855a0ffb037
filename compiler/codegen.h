/* codegen.h - the LLVM back end: IrProgram -> an optimised LLVM module.
 *
 * Needs a checked IrProgram (ir.h); gives a module that holds, for pipeline
 * NAME, exactly three external symbols: the entry points NAME and
 * NAME_output_shapes and the descriptor NAME_pipeline (convrt_abi.h).
 * Everything else (NAME__body, NAME__stage_T, NAME__par_N, constant data)
 * is internal, so any number of pipelines link into one program (but the
 * functions compiled apart with CgTarget.objects: they are external in
 * the objects of cg_emit_objects_consume, which only the JIT links).
 *
 * LLVM types stay out of this header: only codegen/ and jit.c include
 * llvm-c. */
#ifndef CONVC_CODEGEN_H
#define CONVC_CODEGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ir.h"
#include "target.h"

typedef struct CgTarget {
    /* "native" (host CPU and its features), or a CPU name LLVM knows:
     * "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4", "haswell",
     * "skylake-avx512", "znver3", "znver4", ... (cg_known_cpus()) */
    const char *cpu;
    int         opt_level;  /* 0..3: IR pipeline default<On> and codegen level */
    bool        profile;    /* the body calls convrt_profile_enter(k) and
                               convrt_profile_leave(k) around stage k
                               (convrt_profile.h); the stages' own code is
                               the same */
    int         threads;    /* > 1: the largest kernel functions are
                               optimised on up to this many threads and
                               linked back into the module, or, with
                               objects, also compiled there, each into an
                               object of its own (cg_emit_objects_consume;
                               for the JIT) */
    bool        objects;
} CgTarget;

typedef struct CgModule CgModule;

/* Builds, verifies and optimises.  NULL on failure with *err set to a
 * malloc'ed message (the caller frees it). */
CgModule *cg_compile(const IrProgram *p, const CgTarget *t, char **err);

int  cg_print_llvm(CgModule *m, FILE *out);     /* 0 or -1 */
int  cg_print_asm(CgModule *m, FILE *out);      /* 0 or -1, after a message */
/* A relocatable PIC object, made in memory and then written to out.  0, or
 * -1 with *err set to a malloc'ed message. */
int  cg_emit_object(CgModule *m, FILE *out, char **err);
/* The same object, emitted from the module itself rather than a copy (the
 * copy doubles the memory a long pipeline needs), which is then released,
 * whether the emission succeeded or not: afterwards m serves
 * cg_cpu_features/cg_cpu_name/cg_pipeline_name and cg_free only.  For a
 * module not used again. */
int  cg_emit_object_consume(CgModule *m, FILE *out, char **err);
/* The objects of a module compiled with CgTarget.threads > 1: the
 * module's own (as cg_emit_object_consume makes it) first, then one per
 * function compiled on a thread of its own, in which the function is
 * external and the module's object refers to it; linked together (jit.c)
 * they are the program the single object is.  0, or -1 with *err set. */
typedef struct CgObjects {
    int     n;
    char  **data;       /* malloc'ed */
    size_t *len;
} CgObjects;
int  cg_emit_objects_consume(CgModule *m, CgObjects *out, char **err);
void cg_objects_free(CgObjects *o);

/* CONVRT_CPU_* bits that the chosen CPU and features imply. */
int64_t cg_cpu_features(CgModule *m);
/* The resolved CPU name ("native" becomes the host's, e.g. "znver4"). */
const char *cg_cpu_name(const CgModule *m);
const char *cg_pipeline_name(const CgModule *m);
void cg_free(CgModule *m);

/* The vector width, registers and FMA of a CPU name as cg_compile would
 * resolve it ("native" is the host).  false with *err set (malloc'ed) for a
 * name cg_compile would reject. */
bool cg_target_info(const char *cpu, Target *out, char **err);

/* NULL-terminated list of the CPU names cg_compile accepts besides
 * "native". */
const char *const *cg_known_cpus(void);

/* Everything about the target that changes the machine code cg_compile
 * would make for cpu at opt_level, as one malloc'ed line: the triple, the
 * resolved CPU name and its feature string ("native" resolved to the host),
 * the level and LLVM's version.  NULL with *err set for a rejected name.
 * For keys of compiled code (the compile cache). */
char *cg_target_id(const char *cpu, int opt_level, char **err);

/* Initialise LLVM's native target once per process (cg_* do it
 * themselves; jit.c calls it before loading an object). */
void cg_llvm_init(void);

/* Bracket every call into LLVM (cg_* do it themselves; jit.c uses these):
 * meanwhile, running out of memory or a fatal LLVM error prints one
 * "convc: error: ..." line and exits with status 1 instead of aborting.
 * Calls nest. */
void cg_llvm_enter(void);
void cg_llvm_leave(void);

/* ---- for jit.c ------------------------------------------------------------
 * Declared with LLVM's own incomplete struct names so that no llvm-c header
 * is needed here. */
struct LLVMOpaqueModule;
struct LLVMOrcOpaqueThreadSafeContext;
struct LLVMOpaqueTargetMachine;

/* Moves the module and its thread-safe context out of m (m stays valid for
 * cg_cpu_features/cg_cpu_name/cg_pipeline_name and cg_free only). */
struct LLVMOpaqueModule *cg_take_module(CgModule *m,
                                        struct LLVMOrcOpaqueThreadSafeContext **tsc);
/* A new TargetMachine configured exactly like the one the module was
 * optimised with (CPU, features, reloc model, codegen level). */
struct LLVMOpaqueTargetMachine *cg_new_target_machine(const CgModule *m,
                                                      char **err);

#endif
