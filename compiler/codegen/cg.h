/* codegen/cg.h - what the code generator's files share: the module being
 * built (CgModule, Cg), the function being emitted (Fn) and the helpers one
 * file uses from another.  The entry points are codegen.h's; LLVM stays in
 * these files and jit.c. */
#ifndef CONVC_CODEGEN_CG_H
#define CONVC_CODEGEN_CG_H

#include "codegen.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/ErrorHandling.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "arena.h"
#include "convrt_abi.h"
#include "stage_share.h"

typedef struct CgSplit CgSplit;
typedef struct CgPart CgPart;

struct CgModule {
    LLVMOrcThreadSafeContextRef tsc;
    LLVMContextRef       ctx;
    LLVMModuleRef        mod;
    LLVMTargetMachineRef tm;
    char                *triple, *cpu, *features, *name;
    LLVMCodeGenOptLevel  level;
    int64_t              cpu_features;
    CgSplit             *split;     /* functions compiled on their own
                                       threads (split.c), or NULL */
};

typedef struct Cg {
    const IrProgram *p;
    CgModule        *m;
    LLVMContextRef   c;
    LLVMModuleRef    mod;
    LLVMTypeRef      t_i1, t_i32, t_i64, t_f32, t_ptr, t_void;
    LLVMTypeRef      t_vf32, t_vi64, t_vi1;     /* p->vlen lanes, if any */
    bool             fma;                       /* the target has FMA */
    LLVMValueRef    *const_globals;     /* per buffer; CONST only */
    LLVMValueRef     fn_par_for, fn_tanhf, fn_expf;
    LLVMTypeRef      ty_par_for, ty_f32_fn, ty_par_task;    /* ty_f32_fn: float(float) */
    bool             profile;           /* CgTarget.profile */
    LLVMValueRef     fn_prof_enter, fn_prof_leave;  /* void (i64 stage) */
    LLVMTypeRef      ty_prof;
    int              npar;
    /* While a stage function is emitted (emit_stage_fn): where the
     * buffers and slots of its group's first stage come from.  NULL while
     * the body is emitted, which reads bufs[abi_index] and dims[slot]. */
    int32_t         *buf_param;         /* per buffer: index in ptrs[], or
                                           -1 (a LOCAL, or a CONST global
                                           every stage of the group uses) */
    int32_t         *slot_param;        /* per slot: index in dimvals[] */
    bool             shared;            /* the function serves several
                                           stages: no stage's names */
    bool             in_kernel;         /* emitting a micro-kernel's stage */
    LLVMValueRef    *kernel_fns;        /* their functions (stage and tasks) */
    int              nkernel_fns, cap_kernel_fns;
    char            *err;               /* first error, malloc'ed */
} Cg;

typedef struct Fn {
    Cg               *cg;
    LLVMValueRef      fn;
    LLVMBasicBlockRef entry, start;
    LLVMBuilderRef    eb;       /* at the end of the (open) entry block */
    LLVMBuilderRef    b;
    LLVMValueRef      bufs, dims;
    LLVMValueRef     *buf;      /* per buffer: data pointer, lazily */
    LLVMValueRef    **strides;  /* per buffer: rank strides, lazily */
    LLVMValueRef     *dim;      /* per slot, lazily */
    LLVMValueRef     *var;      /* per var: value while bound */
    LLVMValueRef     *local;    /* per local: alloca */
    bool              in_par;   /* inside an outlined parallel body */
    bool              streamed; /* made a non-temporal store: sfence
                                   before the function returns */
} Fn;

/* function.c: errors, attributes, the function being emitted and its entry block */
char *cg_xstrdup(const char *s);
char *cg_fmt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cg_set_err(char **err, char *msg);
void cg_fail(Cg *cg, char *msg);
void *cg_xcalloc(size_t n, size_t size);
void cg_add_fn_attr(Cg *cg, LLVMValueRef fn, const char *name);
void cg_add_param_attr(Cg *cg, LLVMValueRef fn, unsigned param, const char *name);
void cg_set_target_attrs(Cg *cg, LLVMValueRef fn);
void cg_fn_begin(Fn *f, Cg *cg, LLVMValueRef fn, bool in_par);
IrType cg_local_type(const IrProgram *p, int32_t l);
LLVMValueRef cg_local_ptr(Fn *f, int32_t l);
void cg_fn_end(Fn *f);
LLVMValueRef cg_i64c(Cg *cg, int64_t v);
LLVMValueRef cg_dim_value(Fn *f, int32_t slot);
bool cg_check_buf(Cg *cg, int32_t b);
LLVMValueRef cg_buf_ptr(Fn *f, int32_t b);
LLVMValueRef *cg_buf_strides(Fn *f, int32_t b);

/* target.c: target machines */
LLVMTargetMachineRef cg_make_tm(const CgModule *m, char **err);
bool cg_choose_target(CgModule *m, const CgTarget *t, char **err);

/* expr.c: expressions */
LLVMValueRef cg_elem_ptr(Fn *f, int32_t b, IrExpr *const *idx);
LLVMValueRef cg_vec_ptr(Fn *f, int32_t b, IrExpr *const *idx, bool masked);
LLVMTypeRef cg_ir_type(Cg *cg, IrType t);
LLVMValueRef cg_masked_intrinsic(Fn *f, const char *name, LLVMValueRef *args, unsigned n);
void cg_emit_scatter(Fn *f, const IrStmt *s, LLVMValueRef v);
LLVMValueRef cg_emit_expr(Fn *f, const IrExpr *e);

/* stmt.c: statements */
LLVMMetadataRef cg_kernel_loop_md(Cg *cg);
void cg_note_kernel_fn(Cg *cg, LLVMValueRef fn);
bool cg_has_kernel_loop(const IrStmt *s);
void cg_emit_sfence_if_streamed(Fn *f);
void cg_emit_stmt(Fn *f, const IrStmt *s);

/* split.c: the largest kernel functions on threads of their own.  Takes
 * them out of m's module (and out of fns[0..*nfns)), starts the threads
 * and returns at once; NULL (nothing taken) when it is not worth it. */
CgSplit *cg_split_start(CgModule *m, const char *pipeline, int opt, LLVMValueRef *fns,
                        int *nfns, int threads, bool objects);
int cg_split_finish(CgSplit *s, char **err);    /* waits; 0, or -1 after *err */
/* Without objects: the optimised functions linked back into m's module,
 * internal again; the split is then empty.  0, or -1 after *err. */
int cg_split_link(CgSplit *s, CgModule *m, char **err);
int cg_split_count(const CgSplit *s);
char *cg_split_take(CgSplit *s, int k, size_t *len);    /* part k's object */
void cg_split_free(CgSplit *s);

/* module.c: the module */
bool cg_is_c_identifier(const char *s);
void cg_build_module(Cg *cg);

#endif
