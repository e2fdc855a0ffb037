/* jit.h - run a compiled pipeline in this process (ORC LLJIT).
 *
 * The JIT compiles the module cg_compile already optimised, with a target
 * machine configured exactly like cg_compile's (same CPU, features,
 * relocation model and codegen level) and runs no IR passes of its own, so
 * its machine code is the code cg_emit_object writes for the same target.
 * The runtime functions the generated code calls are defined in the JIT
 * with their addresses in this process; anything else resolves through the
 * process's own symbol table. */
#ifndef CONVC_JIT_H
#define CONVC_JIT_H

#include "codegen.h"
#include "convrt_abi.h"

typedef struct Jit Jit;

/* Takes ownership of m in every case (do not cg_free it afterwards; print
 * or write it out first if needed).  NULL on failure with *err set to a
 * malloc'ed message. */
Jit *jit_create(CgModule *m, char **err);
/* Links the relocatable objects cg_emit_objects_consume made for
 * pipeline name (the compile cache keeps them) instead of compiling a
 * module: no code generation.  The objects must have been made for a CPU
 * this one can run (the descriptor's feature check still guards each
 * call).  NULL on failure with *err set to a malloc'ed message. */
Jit *jit_create_from_objects(const char *name, int n, const void *const *objs,
                             const size_t *lens, char **err);
/* The pipeline's descriptor (NAME_pipeline), or NULL. */
const convrt_pipeline *jit_pipeline(Jit *j);
/* Any symbol of the module or the process, or NULL. */
void *jit_lookup(Jit *j, const char *symbol);
void jit_free(Jit *j);

#endif
