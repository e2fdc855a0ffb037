/* codegen.c - IrProgram -> LLVM module (see codegen.h for what it holds).
 *
 * Shape of the generated code, for pipeline NAME:
 *   NAME__body(bufs, dims)  calls NAME__stage_K for each top-level nest.
 *   NAME__stage_K(bufs, dims)  one stage's loop nest.  Everything invariant
 *                           (buffer pointers, dims, row-major strides, allocas) is
 *                           emitted once into the entry block, which is
 *                           only closed when the function is complete, so
 *                           it can be filled lazily while lowering.
 *   NAME__par_N(ctx, b, e)  the body of parallel loop N, outlined; the
 *                           enclosing function passes it to
 *                           convrt_parallel_for with a stack context.
 *   NAME_pipeline           the convrt_pipeline descriptor.
 *   NAME, NAME_output_shapes  thin calls into the runtime.
 *
 * Loops are emitted in the rotated form LLVM's loop passes expect
 * (guard, header with the induction phi, latch with the exit test), so the
 * vectoriser sees canonical loops without needing loop-rotate first. */
#include "codegen.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/ErrorHandling.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "arena.h"
#include "convrt_abi.h"

struct CgModule {
    LLVMOrcThreadSafeContextRef tsc;
    LLVMContextRef       ctx;
    LLVMModuleRef        mod;
    LLVMTargetMachineRef tm;
    char                *triple, *cpu, *features, *name;
    LLVMCodeGenOptLevel  level;
    int64_t              cpu_features;
};

/* ---- errors ---------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        arena_out_of_memory(strlen(s ? s : "") + 1);
    return d;
}

static char *fmt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s ? s : xstrdup("out of memory");
}

static void set_err(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
}

/* ---- targets --------------------------------------------------------------- */

/* ---- LLVM failing hard -------------------------------------------------------
 *
 * LLVM is C++: a failed operator new throws std::bad_alloc, which nothing
 * catches, its own allocation failures write "LLVM ERROR: out of memory"
 * and abort(), and report_fatal_error() exits after printing.  Any of these
 * would end convc with SIGABRT (status 134) or a bare LLVM message.  While
 * LLVM runs, a C++ new-handler, LLVM's fatal-error handler and a SIGABRT
 * handler turn each into one diagnostic and exit status 1.  No output file
 * is open meanwhile (the driver writes files only from finished bytes), so
 * none is left behind. */

static void exit_msg(const char *msg, size_t n)
{
    (void)!write(STDERR_FILENO, msg, n);
    _exit(1);
}

#define OOM_MSG "convc: error: out of memory while compiling\n"

static void oom_new_handler(void)
{
    exit_msg(OOM_MSG, sizeof OOM_MSG - 1);
}

static void abort_handler(int sig)
{
    (void)sig;
    static const char msg[] = "convc: error: out of memory while compiling (the code generator aborted)\n";
    exit_msg(msg, sizeof msg - 1);
}

static void fatal_handler(const char *reason)
{
    if (strstr(reason, "out of memory") || strstr(reason, "Allocation failed"))
        exit_msg(OOM_MSG, sizeof OOM_MSG - 1);
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "convc: error: the code generator failed: %s\n", reason);
    exit_msg(msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* std::set_new_handler, looked up at run time so that convc stays a C
 * program; libstdc++ is loaded with libLLVM.  NULL if it is not found. */
typedef void (*NewHandler)(void);
static NewHandler (*set_new_handler_fn)(NewHandler);

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static int guard_depth;
static struct sigaction saved_abrt;
static NewHandler saved_new;

void cg_llvm_enter(void)
{
    pthread_mutex_lock(&guard_lock);
    if (guard_depth++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = abort_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGABRT, &sa, &saved_abrt);
        if (set_new_handler_fn)
            saved_new = set_new_handler_fn(oom_new_handler);
    }
    pthread_mutex_unlock(&guard_lock);
}

void cg_llvm_leave(void)
{
    pthread_mutex_lock(&guard_lock);
    if (--guard_depth == 0) {
        sigaction(SIGABRT, &saved_abrt, NULL);
        if (set_new_handler_fn)
            set_new_handler_fn(saved_new);
    }
    pthread_mutex_unlock(&guard_lock);
}

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static void llvm_init(void)
{
    LLVMInstallFatalErrorHandler(fatal_handler);
    *(void **)&set_new_handler_fn = dlsym(RTLD_DEFAULT, "_ZSt15set_new_handlerPFvvE");
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
}

#define F_V2 (CONVRT_CPU_SSE42)
#define F_V3 (F_V2 | CONVRT_CPU_AVX | CONVRT_CPU_AVX2 | CONVRT_CPU_FMA | \
              CONVRT_CPU_BMI2 | CONVRT_CPU_F16C)
#define F_V4 (F_V3 | CONVRT_CPU_AVX512F | CONVRT_CPU_AVX512BW | \
              CONVRT_CPU_AVX512DQ | CONVRT_CPU_AVX512VL | CONVRT_CPU_AVX512CD)

/* The LLVM-C API cannot list a named CPU's features (the TM's feature
 * string is empty for it), so the CONVRT_CPU_* bits of the CPUs we accept
 * come from this table (the x86-64 psABI levels and the vendors' data
 * sheets).  A name not listed is rejected rather than guessed. */
static const struct { const char *name; int64_t features; } known_cpus[] = {
    {"x86-64", 0},              {"x86-64-v2", F_V2},
    {"x86-64-v3", F_V3},        {"x86-64-v4", F_V4},
    {"nehalem", F_V2},          {"westmere", F_V2},
    {"sandybridge", F_V2 | CONVRT_CPU_AVX},
    {"ivybridge", F_V2 | CONVRT_CPU_AVX | CONVRT_CPU_F16C},
    {"haswell", F_V3},          {"broadwell", F_V3},
    {"skylake", F_V3},          {"alderlake", F_V3},
    {"raptorlake", F_V3},       {"meteorlake", F_V3},
    {"skylake-avx512", F_V4},   {"cascadelake", F_V4},
    {"cooperlake", F_V4},       {"cannonlake", F_V4},
    {"icelake-client", F_V4},   {"icelake-server", F_V4},
    {"tigerlake", F_V4},        {"rocketlake", F_V4},
    {"sapphirerapids", F_V4},   {"emeraldrapids", F_V4},
    {"graniterapids", F_V4},
    {"znver1", F_V3},           {"znver2", F_V3},
    {"znver3", F_V3},           {"znver4", F_V4},
    {"znver5", F_V4},
};
enum { N_KNOWN_CPUS = sizeof known_cpus / sizeof known_cpus[0] };

static const char *known_cpu_names[N_KNOWN_CPUS + 1];

static void fill_known_cpu_names(void)
{
    for (int i = 0; i < N_KNOWN_CPUS; i++)
        known_cpu_names[i] = known_cpus[i].name;
}

const char *const *cg_known_cpus(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill_known_cpu_names);
    return known_cpu_names;
}

/* CONVRT_CPU_* bits of an LLVM feature string ("+avx2,-avx512f,..."). */
static int64_t features_from_string(const char *s)
{
    static const struct { const char *feat; int64_t bit; } map[] = {
        {"sse4.2", CONVRT_CPU_SSE42},     {"avx", CONVRT_CPU_AVX},
        {"avx2", CONVRT_CPU_AVX2},        {"fma", CONVRT_CPU_FMA},
        {"bmi2", CONVRT_CPU_BMI2},        {"f16c", CONVRT_CPU_F16C},
        {"avx512f", CONVRT_CPU_AVX512F},  {"avx512bw", CONVRT_CPU_AVX512BW},
        {"avx512dq", CONVRT_CPU_AVX512DQ}, {"avx512vl", CONVRT_CPU_AVX512VL},
        {"avx512cd", CONVRT_CPU_AVX512CD},
    };
    int64_t bits = 0;
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len > 1 && s[0] == '+')
            for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                if (strlen(map[i].feat) == len - 1 &&
                    !memcmp(map[i].feat, s + 1, len - 1))
                    bits |= map[i].bit;
        s = end ? end + 1 : NULL;
    }
    return bits;
}

static LLVMCodeGenOptLevel codegen_level(int opt)
{
    switch (opt) {
    case 0:  return LLVMCodeGenLevelNone;
    case 1:  return LLVMCodeGenLevelLess;
    case 2:  return LLVMCodeGenLevelDefault;
    default: return LLVMCodeGenLevelAggressive;
    }
}

static LLVMTargetMachineRef make_tm(const CgModule *m, char **err)
{
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(m->triple, &target, &msg)) {
        set_err(err, fmt_err("no LLVM target for %s: %s", m->triple,
                             msg ? msg : "?"));
        LLVMDisposeMessage(msg);
        return NULL;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
        target, m->triple, m->cpu, m->features, m->level, LLVMRelocPIC,
        LLVMCodeModelDefault);
    if (!tm)
        set_err(err, fmt_err("cannot create a target machine for %s (cpu %s)",
                             m->triple, m->cpu));
    return tm;
}

struct LLVMOpaqueTargetMachine *cg_new_target_machine(const CgModule *m,
                                                      char **err)
{
    return make_tm(m, err);
}

/* Fills triple, cpu, features, level, cpu_features of m from t. */
static bool choose_target(CgModule *m, const CgTarget *t, char **err)
{
    const char *cpu = (t && t->cpu && *t->cpu) ? t->cpu : "native";
    int opt = t ? t->opt_level : 3;
    if (opt < 0 || opt > 3) {
        set_err(err, fmt_err("optimisation level %d is not in 0..3", opt));
        return false;
    }
    char *triple = LLVMGetDefaultTargetTriple();
    m->triple = xstrdup(triple);
    LLVMDisposeMessage(triple);
    m->level = codegen_level(opt);
    if (!strcmp(cpu, "native")) {
        char *name = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
        m->cpu = xstrdup(name);
        m->features = xstrdup(feat);
        LLVMDisposeMessage(name);
        LLVMDisposeMessage(feat);
        m->cpu_features = features_from_string(m->features);
        return true;
    }
    for (int i = 0; i < N_KNOWN_CPUS; i++)
        if (!strcmp(cpu, known_cpus[i].name)) {
            m->cpu = xstrdup(cpu);
            m->features = xstrdup("");
            m->cpu_features = known_cpus[i].features;
            return true;
        }
    size_t len = 0;
    for (int i = 0; i < N_KNOWN_CPUS; i++)
        len += strlen(known_cpus[i].name) + 2;
    char *list = calloc(1, len + 1);
    if (list)
        for (int i = 0; i < N_KNOWN_CPUS; i++) {
            if (i)
                strcat(list, ", ");
            strcat(list, known_cpus[i].name);
        }
    set_err(err, fmt_err("unknown CPU '%s' (known: native, %s)", cpu,
                         list ? list : ""));
    free(list);
    return false;
}

/* ---- lowering state -------------------------------------------------------- */

typedef struct Cg {
    const IrProgram *p;
    CgModule        *m;
    LLVMContextRef   c;
    LLVMModuleRef    mod;
    LLVMTypeRef      t_i1, t_i32, t_i64, t_f32, t_ptr, t_void;
    LLVMValueRef    *const_globals;     /* per buffer; CONST only */
    LLVMValueRef     fn_par_for, fn_tanhf;
    LLVMTypeRef      ty_par_for, ty_tanhf, ty_par_task;
    int              npar;
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
} Fn;

static void cg_fail(Cg *cg, char *msg)
{
    if (!cg->err)
        cg->err = msg;
    else
        free(msg);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        arena_out_of_memory(n * size);
    return p;
}

static void add_fn_attr(Cg *cg, LLVMValueRef fn, const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->c, kind, 0));
}

static void add_param_attr(Cg *cg, LLVMValueRef fn, unsigned param,
                           const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, param + 1,
                            LLVMCreateEnumAttribute(cg->c, kind, 0));
}

/* Every function we define gets the CPU and features, so that the JIT,
 * the object file and inlining all agree on the instruction set. */
static void set_target_attrs(Cg *cg, LLVMValueRef fn)
{
    const char *cpu = cg->m->cpu, *feat = cg->m->features;
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
        LLVMCreateStringAttribute(cg->c, "target-cpu", 10, cpu,
                                  (unsigned)strlen(cpu)));
    if (*feat)
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
            LLVMCreateStringAttribute(cg->c, "target-features", 15, feat,
                                      (unsigned)strlen(feat)));
    add_fn_attr(cg, fn, "nounwind");
}

static void fn_begin(Fn *f, Cg *cg, LLVMValueRef fn, bool in_par)
{
    const IrProgram *p = cg->p;
    memset(f, 0, sizeof *f);
    f->cg = cg;
    f->fn = fn;
    f->in_par = in_par;
    f->entry = LLVMAppendBasicBlockInContext(cg->c, fn, "entry");
    f->start = LLVMAppendBasicBlockInContext(cg->c, fn, "start");
    f->eb = LLVMCreateBuilderInContext(cg->c);
    f->b = LLVMCreateBuilderInContext(cg->c);
    LLVMPositionBuilderAtEnd(f->eb, f->entry);
    LLVMPositionBuilderAtEnd(f->b, f->start);
    f->buf = xcalloc((size_t)p->nbuffers, sizeof *f->buf);
    f->strides = xcalloc((size_t)p->nbuffers, sizeof *f->strides);
    f->dim = xcalloc((size_t)p->nslots, sizeof *f->dim);
    f->var = xcalloc((size_t)p->nvars, sizeof *f->var);
    f->local = xcalloc((size_t)p->nlocals, sizeof *f->local);
}

/* A local's stack slot, made in the entry block on first use: a function
 * holding one stage pays only for that stage's locals. */
static LLVMValueRef local_ptr(Fn *f, int32_t l)
{
    if (!f->local[l])
        f->local[l] = LLVMBuildAlloca(f->eb, f->cg->t_f32, "local");
    return f->local[l];
}

static void fn_end(Fn *f)
{
    LLVMBuildBr(f->eb, f->start);
    LLVMDisposeBuilder(f->eb);
    LLVMDisposeBuilder(f->b);
    for (int32_t i = 0; i < f->cg->p->nbuffers; i++)
        free(f->strides[i]);
    free(f->buf);
    free(f->strides);
    free(f->dim);
    free(f->var);
    free(f->local);
}

static LLVMValueRef i64c(Cg *cg, int64_t v)
{
    return LLVMConstInt(cg->t_i64, (unsigned long long)v, 1);
}

static LLVMValueRef dim_value(Fn *f, int32_t slot)
{
    Cg *cg = f->cg;
    if (slot < 0 || slot >= cg->p->nslots) {
        cg_fail(cg, fmt_err("IR uses dims slot %d of %d", (int)slot,
                            (int)cg->p->nslots));
        return i64c(cg, 1);
    }
    const IrSlot *s = &cg->p->slots[slot];
    if (s->is_const)
        return i64c(cg, s->const_value);
    if (!f->dim[slot]) {
        LLVMValueRef idx = i64c(cg, slot);
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(f->eb, cg->t_i64, f->dims,
                                                 &idx, 1, "dimp");
        char name[32];
        snprintf(name, sizeof name, "d%d", (int)slot);
        f->dim[slot] = LLVMBuildLoad2(f->eb, cg->t_i64, ptr, name);
    }
    return f->dim[slot];
}

static bool check_buf(Cg *cg, int32_t b)
{
    if (b >= 0 && b < cg->p->nbuffers)
        return true;
    cg_fail(cg, fmt_err("IR uses buffer %d of %d", (int)b,
                        (int)cg->p->nbuffers));
    return false;
}

static LLVMValueRef buf_ptr(Fn *f, int32_t b)
{
    Cg *cg = f->cg;
    const IrBuffer *buf = &cg->p->buffers[b];
    if (buf->kind == IR_BUF_CONST)
        return cg->const_globals[b];
    if (!f->buf[b]) {
        LLVMValueRef idx = i64c(cg, buf->abi_index);
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(f->eb, cg->t_ptr, f->bufs,
                                                 &idx, 1, "bufp");
        f->buf[b] = LLVMBuildLoad2(f->eb, cg->t_ptr, ptr,
                                   buf->name ? buf->name : "buf");
    }
    return f->buf[b];
}

static LLVMValueRef *buf_strides(Fn *f, int32_t b)
{
    const IrBuffer *buf = &f->cg->p->buffers[b];
    if (!f->strides[b] && buf->rank > 0) {
        LLVMValueRef *st = xcalloc((size_t)buf->rank, sizeof *st);
        st[buf->rank - 1] = i64c(f->cg, 1);
        for (int32_t j = buf->rank - 2; j >= 0; j--)
            st[j] = LLVMBuildNSWMul(f->eb, st[j + 1],
                                    dim_value(f, buf->dim_slots[j + 1]),
                                    "stride");
        f->strides[b] = st;
    }
    return f->strides[b];
}

static LLVMValueRef emit_expr(Fn *f, const IrExpr *e);
static void emit_stmt(Fn *f, const IrStmt *s);

/* &buf[idx...] as an inbounds GEP on the row-major linear index. */
static LLVMValueRef elem_ptr(Fn *f, int32_t b, IrExpr *const *idx)
{
    Cg *cg = f->cg;
    const IrBuffer *buf = &cg->p->buffers[b];
    LLVMValueRef *st = buf_strides(f, b);
    LLVMValueRef lin = NULL;
    for (int32_t j = 0; j < buf->rank; j++) {
        LLVMValueRef term = emit_expr(f, idx[j]);
        if (j != buf->rank - 1)
            term = LLVMBuildNSWMul(f->b, term, st[j], "");
        lin = lin ? LLVMBuildNSWAdd(f->b, lin, term, "") : term;
    }
    if (!lin)
        lin = i64c(cg, 0);
    return LLVMBuildInBoundsGEP2(f->b, cg->t_f32, buf_ptr(f, b), &lin, 1, "");
}

static LLVMValueRef call_intrinsic(Fn *f, const char *name, LLVMTypeRef ty,
                                   LLVMValueRef *args, unsigned n)
{
    Cg *cg = f->cg;
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, &ty, 1);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, &ty, 1);
    return LLVMBuildCall2(f->b, fty, fn, args, n, "");
}

static LLVMValueRef contract(LLVMValueRef v)
{
    if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
        LLVMSetFastMathFlags(v, LLVMFastMathAllowContract);
    return v;
}

/* True if evaluating e when its guard is false could fault: a load (the
 * guard is often a bounds test for padding) or an integer division by a
 * value not known to be positive.  Such operands of SELECT, AND and OR are
 * evaluated in branches, not speculated. */
static bool may_trap(const IrExpr *e)
{
    if (!e)
        return false;
    switch (e->kind) {
    case IR_EXPR_LOAD:
        return true;
    case IR_EXPR_BINARY:
        if ((e->bin.op == IR_OP_DIV || e->bin.op == IR_OP_MOD) &&
            e->bin.a->type == IR_TYPE_I64 &&
            !(e->bin.b->kind == IR_EXPR_INT && e->bin.b->ival > 0))
            return true;
        return may_trap(e->bin.a) || may_trap(e->bin.b);
    case IR_EXPR_UNARY:
        return may_trap(e->un.a);
    case IR_EXPR_SELECT:
        return may_trap(e->sel.cond) || may_trap(e->sel.a) ||
               may_trap(e->sel.b);
    default:
        return false;
    }
}

/* cond ? a : b with a and b evaluated only on their own branch;
 * a_const/b_const (when non-NULL) are used instead of the expressions. */
static LLVMValueRef emit_branchy(Fn *f, LLVMValueRef cond, const IrExpr *a,
                                 LLVMValueRef a_val, const IrExpr *b,
                                 LLVMValueRef b_val, LLVMTypeRef ty)
{
    Cg *cg = f->cg;
    LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(cg->c, f->fn, "sel.t");
    LLVMBasicBlockRef bf = LLVMAppendBasicBlockInContext(cg->c, f->fn, "sel.f");
    LLVMBasicBlockRef bm = LLVMAppendBasicBlockInContext(cg->c, f->fn, "sel.m");
    LLVMBuildCondBr(f->b, cond, bt, bf);
    LLVMPositionBuilderAtEnd(f->b, bt);
    LLVMValueRef va = a ? emit_expr(f, a) : a_val;
    LLVMBasicBlockRef bt_end = LLVMGetInsertBlock(f->b);
    LLVMBuildBr(f->b, bm);
    LLVMMoveBasicBlockAfter(bf, bt_end);
    LLVMPositionBuilderAtEnd(f->b, bf);
    LLVMValueRef vb = b ? emit_expr(f, b) : b_val;
    LLVMBasicBlockRef bf_end = LLVMGetInsertBlock(f->b);
    LLVMBuildBr(f->b, bm);
    LLVMMoveBasicBlockAfter(bm, bf_end);
    LLVMPositionBuilderAtEnd(f->b, bm);
    LLVMValueRef phi = LLVMBuildPhi(f->b, ty, "");
    LLVMValueRef vals[2] = {va, vb};
    LLVMBasicBlockRef blocks[2] = {bt_end, bf_end};
    LLVMAddIncoming(phi, vals, blocks, 2);
    return phi;
}

static int log2_if_pow2(const IrExpr *e)
{
    if (e->kind != IR_EXPR_INT || e->ival <= 0 || (e->ival & (e->ival - 1)))
        return -1;
    return __builtin_ctzll((unsigned long long)e->ival);
}

static LLVMValueRef emit_int_binary(Fn *f, const IrExpr *e, LLVMValueRef x,
                                    LLVMValueRef y)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    int k;
    switch (e->bin.op) {
    case IR_OP_ADD: return LLVMBuildNSWAdd(b, x, y, "");
    case IR_OP_SUB: return LLVMBuildNSWSub(b, x, y, "");
    case IR_OP_MUL: return LLVMBuildNSWMul(b, x, y, "");
    case IR_OP_DIV:
        /* floor division, rhs > 0: truncate, then step down when the
         * remainder is negative.  A power of two is an arithmetic shift. */
        if ((k = log2_if_pow2(e->bin.b)) >= 0)
            return LLVMBuildAShr(b, x, i64c(cg, k), "");
        {
            LLVMValueRef q = LLVMBuildSDiv(b, x, y, "");
            LLVMValueRef r = LLVMBuildSRem(b, x, y, "");
            LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, r, i64c(cg, 0), "");
            return LLVMBuildNSWSub(b, q, LLVMBuildZExt(b, neg, cg->t_i64, ""),
                                   "");
        }
    case IR_OP_MOD:
        if ((k = log2_if_pow2(e->bin.b)) >= 0)
            return LLVMBuildAnd(b, x, i64c(cg, e->bin.b->ival - 1), "");
        {
            LLVMValueRef r = LLVMBuildSRem(b, x, y, "");
            LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, r, i64c(cg, 0), "");
            return LLVMBuildSelect(b, neg, LLVMBuildNSWAdd(b, r, y, ""), r, "");
        }
    case IR_OP_MIN: {
        LLVMValueRef args[2] = {x, y};
        return call_intrinsic(f, "llvm.smin", cg->t_i64, args, 2);
    }
    case IR_OP_MAX: {
        LLVMValueRef args[2] = {x, y};
        return call_intrinsic(f, "llvm.smax", cg->t_i64, args, 2);
    }
    case IR_OP_LT: return LLVMBuildICmp(b, LLVMIntSLT, x, y, "");
    case IR_OP_LE: return LLVMBuildICmp(b, LLVMIntSLE, x, y, "");
    case IR_OP_GT: return LLVMBuildICmp(b, LLVMIntSGT, x, y, "");
    case IR_OP_GE: return LLVMBuildICmp(b, LLVMIntSGE, x, y, "");
    case IR_OP_EQ: return LLVMBuildICmp(b, LLVMIntEQ, x, y, "");
    case IR_OP_NE: return LLVMBuildICmp(b, LLVMIntNE, x, y, "");
    default: break;
    }
    cg_fail(cg, fmt_err("IR: operator %d on i64", (int)e->bin.op));
    return i64c(cg, 0);
}

static LLVMValueRef emit_f32_binary(Fn *f, const IrExpr *e, LLVMValueRef x,
                                    LLVMValueRef y)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    LLVMValueRef args[2] = {x, y};
    switch (e->bin.op) {
    case IR_OP_ADD: return contract(LLVMBuildFAdd(b, x, y, ""));
    case IR_OP_SUB: return contract(LLVMBuildFSub(b, x, y, ""));
    case IR_OP_MUL: return contract(LLVMBuildFMul(b, x, y, ""));
    case IR_OP_DIV: return contract(LLVMBuildFDiv(b, x, y, ""));
    /* NaN-propagating, like torch.minimum/maximum (llvm.minnum would not
     * propagate it). */
    case IR_OP_MIN: return call_intrinsic(f, "llvm.minimum", cg->t_f32, args, 2);
    case IR_OP_MAX: return call_intrinsic(f, "llvm.maximum", cg->t_f32, args, 2);
    case IR_OP_LT: return LLVMBuildFCmp(b, LLVMRealOLT, x, y, "");
    case IR_OP_LE: return LLVMBuildFCmp(b, LLVMRealOLE, x, y, "");
    case IR_OP_GT: return LLVMBuildFCmp(b, LLVMRealOGT, x, y, "");
    case IR_OP_GE: return LLVMBuildFCmp(b, LLVMRealOGE, x, y, "");
    case IR_OP_EQ: return LLVMBuildFCmp(b, LLVMRealOEQ, x, y, "");
    case IR_OP_NE: return LLVMBuildFCmp(b, LLVMRealONE, x, y, "");
    default: break;
    }
    cg_fail(cg, fmt_err("IR: operator %d on f32", (int)e->bin.op));
    return LLVMConstReal(cg->t_f32, 0);
}

static LLVMValueRef emit_binary(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    IrOp op = e->bin.op;
    if (op == IR_OP_AND || op == IR_OP_OR) {
        LLVMValueRef x = emit_expr(f, e->bin.a);
        if (may_trap(e->bin.b)) {
            LLVMValueRef shortcut = LLVMConstInt(cg->t_i1, op == IR_OP_OR, 0);
            return op == IR_OP_AND
                ? emit_branchy(f, x, e->bin.b, NULL, NULL, shortcut, cg->t_i1)
                : emit_branchy(f, x, NULL, shortcut, e->bin.b, NULL, cg->t_i1);
        }
        LLVMValueRef y = emit_expr(f, e->bin.b);
        return op == IR_OP_AND ? LLVMBuildAnd(f->b, x, y, "")
                               : LLVMBuildOr(f->b, x, y, "");
    }
    LLVMValueRef x = emit_expr(f, e->bin.a);
    LLVMValueRef y = emit_expr(f, e->bin.b);
    switch (e->bin.a->type) {
    case IR_TYPE_I64: return emit_int_binary(f, e, x, y);
    case IR_TYPE_F32: return emit_f32_binary(f, e, x, y);
    case IR_TYPE_BOOL:
        if (op == IR_OP_EQ) return LLVMBuildICmp(f->b, LLVMIntEQ, x, y, "");
        if (op == IR_OP_NE) return LLVMBuildICmp(f->b, LLVMIntNE, x, y, "");
        break;
    }
    cg_fail(cg, fmt_err("IR: operator %d on bool", (int)op));
    return LLVMConstInt(cg->t_i1, 0, 0);
}

static LLVMValueRef emit_unary(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    LLVMValueRef x = emit_expr(f, e->un.a);
    switch (e->un.fn) {
    case IR_FN_NEG:
        return e->un.a->type == IR_TYPE_I64 ? LLVMBuildNSWNeg(b, x, "")
                                            : LLVMBuildFNeg(b, x, "");
    case IR_FN_ABS:  return call_intrinsic(f, "llvm.fabs", cg->t_f32, &x, 1);
    case IR_FN_SQRT: return call_intrinsic(f, "llvm.sqrt", cg->t_f32, &x, 1);
    case IR_FN_EXP:  return call_intrinsic(f, "llvm.exp", cg->t_f32, &x, 1);
    case IR_FN_TANH:
        return LLVMBuildCall2(b, cg->ty_tanhf, cg->fn_tanhf, &x, 1, "");
    case IR_FN_SIGMOID: {
        LLVMValueRef nx = LLVMBuildFNeg(b, x, "");
        LLVMValueRef ex = call_intrinsic(f, "llvm.exp", cg->t_f32, &nx, 1);
        LLVMValueRef one = LLVMConstReal(cg->t_f32, 1.0);
        LLVMValueRef den = contract(LLVMBuildFAdd(b, one, ex, ""));
        return contract(LLVMBuildFDiv(b, one, den, ""));
    }
    case IR_FN_NOT:
        return LLVMBuildXor(b, x, LLVMConstInt(cg->t_i1, 1, 0), "");
    case IR_FN_ISNAN:
        return LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
    case IR_FN_TO_F32:
        return LLVMBuildSIToFP(b, x, cg->t_f32, "");
    }
    cg_fail(cg, fmt_err("IR: unknown function %d", (int)e->un.fn));
    return LLVMConstReal(cg->t_f32, 0);
}

static LLVMTypeRef ir_type(Cg *cg, IrType t)
{
    switch (t) {
    case IR_TYPE_I64:  return cg->t_i64;
    case IR_TYPE_F32:  return cg->t_f32;
    case IR_TYPE_BOOL: return cg->t_i1;
    }
    return cg->t_i64;
}

static LLVMValueRef emit_expr(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    switch (e->kind) {
    case IR_EXPR_INT:
        return i64c(cg, e->ival);
    case IR_EXPR_FLOAT:
        return LLVMConstReal(cg->t_f32, (double)e->fval);
    case IR_EXPR_VAR:
        if (e->var >= 0 && e->var < cg->p->nvars && f->var[e->var])
            return f->var[e->var];
        cg_fail(cg, fmt_err("IR uses loop variable %d outside its loop",
                            (int)e->var));
        return i64c(cg, 0);
    case IR_EXPR_DIM:
        return dim_value(f, e->slot);
    case IR_EXPR_LOCAL:
        if (e->local >= 0 && e->local < cg->p->nlocals)
            return LLVMBuildLoad2(f->b, cg->t_f32, local_ptr(f, e->local), "");
        cg_fail(cg, fmt_err("IR uses local %d of %d", (int)e->local,
                            (int)cg->p->nlocals));
        return LLVMConstReal(cg->t_f32, 0);
    case IR_EXPR_LOAD: {
        if (!check_buf(cg, e->load.buf))
            return LLVMConstReal(cg->t_f32, 0);
        LLVMValueRef v = LLVMBuildLoad2(f->b, cg->t_f32,
                                        elem_ptr(f, e->load.buf, e->load.idx),
                                        "");
        LLVMSetAlignment(v, 4);
        return v;
    }
    case IR_EXPR_BINARY:
        return emit_binary(f, e);
    case IR_EXPR_UNARY:
        return emit_unary(f, e);
    case IR_EXPR_SELECT: {
        LLVMValueRef c = emit_expr(f, e->sel.cond);
        if (may_trap(e->sel.a) || may_trap(e->sel.b))
            return emit_branchy(f, c, e->sel.a, NULL, e->sel.b, NULL,
                                ir_type(cg, e->type));
        LLVMValueRef a = emit_expr(f, e->sel.a);
        LLVMValueRef b = emit_expr(f, e->sel.b);
        return LLVMBuildSelect(f->b, c, a, b, "");
    }
    }
    cg_fail(cg, fmt_err("IR: unknown expression kind %d", (int)e->kind));
    return i64c(cg, 0);
}

/* for (var = lo; var < hi; var++) body, rotated: guard, header, latch. */
static void emit_loop(Fn *f, int32_t var, LLVMValueRef lo, LLVMValueRef hi,
                      const IrStmt *body)
{
    Cg *cg = f->cg;
    if (var < 0 || var >= cg->p->nvars) {
        cg_fail(cg, fmt_err("IR loop variable %d of %d", (int)var,
                            (int)cg->p->nvars));
        return;
    }
    const char *name = (cg->p->vars && cg->p->vars[var].name)
                           ? cg->p->vars[var].name : "i";
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef header = LLVMAppendBasicBlockInContext(cg->c, f->fn, "for");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(cg->c, f->fn, "for.end");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, lo, hi, ""),
                    header, exit);
    LLVMPositionBuilderAtEnd(f->b, header);
    LLVMValueRef iv = LLVMBuildPhi(f->b, cg->t_i64, name);
    LLVMValueRef saved = f->var[var];
    f->var[var] = iv;
    emit_stmt(f, body);
    f->var[var] = saved;
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(f->b);
    LLVMValueRef next = LLVMBuildNSWAdd(f->b, iv, i64c(cg, 1), "");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, next, hi, ""),
                    header, exit);
    LLVMValueRef vals[2] = {lo, next};
    LLVMBasicBlockRef blocks[2] = {pre, latch};
    LLVMAddIncoming(iv, vals, blocks, 2);
    LLVMMoveBasicBlockAfter(exit, latch);
    LLVMPositionBuilderAtEnd(f->b, exit);
}

/* Marks the locals that statement s (or an expression in it) mentions. */
static void locals_in_expr(const IrExpr *e, bool *used)
{
    if (!e)
        return;
    switch (e->kind) {
    case IR_EXPR_LOCAL: used[e->local] = true; break;
    case IR_EXPR_LOAD: break;   /* indices are integer expressions */
    case IR_EXPR_BINARY: locals_in_expr(e->bin.a, used); locals_in_expr(e->bin.b, used); break;
    case IR_EXPR_UNARY: locals_in_expr(e->un.a, used); break;
    case IR_EXPR_SELECT:
        locals_in_expr(e->sel.cond, used);
        locals_in_expr(e->sel.a, used);
        locals_in_expr(e->sel.b, used);
        break;
    default: break;
    }
}

static void locals_in_stmt(const IrStmt *s, bool *used)
{
    if (!s)
        return;
    switch (s->kind) {
    case IR_STMT_FOR: locals_in_stmt(s->loop.body, used); break;
    case IR_STMT_IF:
        locals_in_expr(s->cond.cond, used);
        locals_in_stmt(s->cond.then, used);
        locals_in_stmt(s->cond.otherwise, used);
        break;
    case IR_STMT_STORE: locals_in_expr(s->store.value, used); break;
    case IR_STMT_ASSIGN: used[s->assign.local] = true; locals_in_expr(s->assign.value, used); break;
    case IR_STMT_BLOCK:
        for (int32_t i = 0; i < s->block.n; i++)
            locals_in_stmt(s->block.items[i], used);
        break;
    }
}

/* A parallel loop: its body becomes NAME__par_N(ctx, begin, end), running
 * var = lo+begin .. lo+end-1; the context holds bufs, dims, lo, the values
 * of the loop variables bound around it and of the locals its body
 * mentions -- only those, so a program of a thousand stages does not give
 * each call a context the size of the whole program.  Locals written by the
 * parallel body stay private to it (each task has its own copies). */
static void emit_parallel(Fn *f, const IrStmt *s, LLVMValueRef lo,
                          LLVMValueRef hi)
{
    Cg *cg = f->cg;
    const IrProgram *p = cg->p;
    int32_t *vars = xcalloc((size_t)p->nvars + 1, sizeof *vars);
    int32_t *locals = xcalloc((size_t)p->nlocals + 1, sizeof *locals);
    bool *used = xcalloc((size_t)p->nlocals + 1, sizeof *used);
    int32_t nv = 0, nl = 0;
    for (int32_t v = 0; v < p->nvars; v++)
        if (f->var[v])
            vars[nv++] = v;
    locals_in_stmt(s->loop.body, used);
    for (int32_t l = 0; l < p->nlocals; l++)
        if (used[l])
            locals[nl++] = l;
    free(used);
    LLVMTypeRef elems[5] = {
        cg->t_ptr, cg->t_ptr, cg->t_i64,
        LLVMArrayType2(cg->t_i64, (uint64_t)nv),
        LLVMArrayType2(cg->t_f32, (uint64_t)nl),
    };
    LLVMTypeRef cty = LLVMStructTypeInContext(cg->c, elems, 5, 0);

    char name[256];
    snprintf(name, sizeof name, "%s__par_%d", p->name, cg->npar++);
    LLVMValueRef pf = LLVMAddFunction(cg->mod, name, cg->ty_par_task);
    LLVMSetLinkage(pf, LLVMInternalLinkage);
    set_target_attrs(cg, pf);
    add_param_attr(cg, pf, 0, "noalias");
    add_param_attr(cg, pf, 0, "nocapture");
    add_param_attr(cg, pf, 0, "readonly");

    /* the task */
    Fn g;
    fn_begin(&g, cg, pf, true);
    LLVMValueRef cx = LLVMGetParam(pf, 0);
    LLVMValueRef ptr;
    ptr = LLVMBuildStructGEP2(g.eb, cty, cx, 0, "");
    g.bufs = LLVMBuildLoad2(g.eb, cg->t_ptr, ptr, "bufs");
    ptr = LLVMBuildStructGEP2(g.eb, cty, cx, 1, "");
    g.dims = LLVMBuildLoad2(g.eb, cg->t_ptr, ptr, "dims");
    ptr = LLVMBuildStructGEP2(g.eb, cty, cx, 2, "");
    LLVMValueRef plo = LLVMBuildLoad2(g.eb, cg->t_i64, ptr, "lo");
    for (int32_t k = 0; k < nv; k++) {
        LLVMValueRef idx[3] = {LLVMConstInt(cg->t_i32, 0, 0),
                               LLVMConstInt(cg->t_i32, 3, 0), i64c(cg, k)};
        ptr = LLVMBuildInBoundsGEP2(g.eb, cty, cx, idx, 3, "");
        g.var[vars[k]] = LLVMBuildLoad2(g.eb, cg->t_i64, ptr, "");
    }
    for (int32_t k = 0; k < nl; k++) {
        LLVMValueRef idx[3] = {LLVMConstInt(cg->t_i32, 0, 0),
                               LLVMConstInt(cg->t_i32, 4, 0), i64c(cg, k)};
        ptr = LLVMBuildInBoundsGEP2(g.eb, cty, cx, idx, 3, "");
        LLVMBuildStore(g.eb, LLVMBuildLoad2(g.eb, cg->t_f32, ptr, ""),
                       local_ptr(&g, locals[k]));
    }
    LLVMValueRef blo = LLVMBuildNSWAdd(g.b, plo, LLVMGetParam(pf, 1), "");
    LLVMValueRef bhi = LLVMBuildNSWAdd(g.b, plo, LLVMGetParam(pf, 2), "");
    emit_loop(&g, s->loop.var, blo, bhi, s->loop.body);
    LLVMBuildRetVoid(g.b);
    fn_end(&g);

    /* the call */
    LLVMValueRef ctx = LLVMBuildAlloca(f->eb, cty, "par.ctx");
    LLVMBuildStore(f->b, f->bufs, LLVMBuildStructGEP2(f->b, cty, ctx, 0, ""));
    LLVMBuildStore(f->b, f->dims, LLVMBuildStructGEP2(f->b, cty, ctx, 1, ""));
    LLVMBuildStore(f->b, lo, LLVMBuildStructGEP2(f->b, cty, ctx, 2, ""));
    for (int32_t k = 0; k < nv; k++) {
        LLVMValueRef idx[3] = {LLVMConstInt(cg->t_i32, 0, 0),
                               LLVMConstInt(cg->t_i32, 3, 0), i64c(cg, k)};
        LLVMBuildStore(f->b, f->var[vars[k]],
                       LLVMBuildInBoundsGEP2(f->b, cty, ctx, idx, 3, ""));
    }
    for (int32_t k = 0; k < nl; k++) {
        LLVMValueRef idx[3] = {LLVMConstInt(cg->t_i32, 0, 0),
                               LLVMConstInt(cg->t_i32, 4, 0), i64c(cg, k)};
        LLVMBuildStore(f->b, LLVMBuildLoad2(f->b, cg->t_f32, local_ptr(f, locals[k]), ""),
                       LLVMBuildInBoundsGEP2(f->b, cty, ctx, idx, 3, ""));
    }
    free(vars);
    free(locals);
    LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(cg->c, f->fn, "par.call");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->c, f->fn, "par.end");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, lo, hi, ""), call,
                    done);
    LLVMPositionBuilderAtEnd(f->b, call);
    LLVMValueRef args[3] = {LLVMBuildNSWSub(f->b, hi, lo, "n"), pf, ctx};
    LLVMBuildCall2(f->b, cg->ty_par_for, cg->fn_par_for, args, 3, "");
    LLVMBuildBr(f->b, done);
    LLVMPositionBuilderAtEnd(f->b, done);
}

static void emit_stmt(Fn *f, const IrStmt *s)
{
    Cg *cg = f->cg;
    if (!s || cg->err)
        return;
    switch (s->kind) {
    case IR_STMT_FOR: {
        LLVMValueRef lo = emit_expr(f, s->loop.lo);
        LLVMValueRef hi = emit_expr(f, s->loop.hi);
        if ((s->loop.flags & IR_LOOP_PARALLEL) && !f->in_par)
            emit_parallel(f, s, lo, hi);
        else
            emit_loop(f, s->loop.var, lo, hi, s->loop.body);
        break;
    }
    case IR_STMT_IF: {
        LLVMValueRef c = emit_expr(f, s->cond.cond);
        LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(cg->c, f->fn, "if.then");
        LLVMBasicBlockRef be = s->cond.otherwise
            ? LLVMAppendBasicBlockInContext(cg->c, f->fn, "if.else") : NULL;
        LLVMBasicBlockRef bm = LLVMAppendBasicBlockInContext(cg->c, f->fn, "if.end");
        LLVMBuildCondBr(f->b, c, bt, be ? be : bm);
        LLVMPositionBuilderAtEnd(f->b, bt);
        emit_stmt(f, s->cond.then);
        LLVMBasicBlockRef last = LLVMGetInsertBlock(f->b);
        LLVMBuildBr(f->b, bm);
        if (be) {
            LLVMMoveBasicBlockAfter(be, last);
            LLVMPositionBuilderAtEnd(f->b, be);
            emit_stmt(f, s->cond.otherwise);
            last = LLVMGetInsertBlock(f->b);
            LLVMBuildBr(f->b, bm);
        }
        LLVMMoveBasicBlockAfter(bm, last);
        LLVMPositionBuilderAtEnd(f->b, bm);
        break;
    }
    case IR_STMT_STORE: {
        if (!check_buf(cg, s->store.buf))
            return;
        if (cg->p->buffers[s->store.buf].kind == IR_BUF_CONST ||
            cg->p->buffers[s->store.buf].kind == IR_BUF_INPUT) {
            cg_fail(cg, fmt_err("IR stores into read-only buffer %s",
                                cg->p->buffers[s->store.buf].name));
            return;
        }
        LLVMValueRef v = emit_expr(f, s->store.value);
        LLVMValueRef st = LLVMBuildStore(f->b, v,
                                         elem_ptr(f, s->store.buf, s->store.idx));
        LLVMSetAlignment(st, 4);
        break;
    }
    case IR_STMT_ASSIGN:
        if (s->assign.local < 0 || s->assign.local >= cg->p->nlocals) {
            cg_fail(cg, fmt_err("IR assigns local %d of %d",
                                (int)s->assign.local, (int)cg->p->nlocals));
            return;
        }
        LLVMBuildStore(f->b, emit_expr(f, s->assign.value),
                       local_ptr(f, s->assign.local));
        break;
    case IR_STMT_BLOCK:
        for (int32_t i = 0; i < s->block.n; i++)
            emit_stmt(f, s->block.items[i]);
        break;
    }
}

/* ---- constant data and the descriptor ---------------------------------- */

static LLVMValueRef private_const(Cg *cg, LLVMValueRef init, const char *name,
                                  unsigned align)
{
    LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    if (align)
        LLVMSetAlignment(g, align);
    return g;
}

static LLVMValueRef const_str(Cg *cg, const char *s)
{
    if (!s)
        return LLVMConstNull(cg->t_ptr);
    return private_const(cg, LLVMConstStringInContext2(cg->c, s, strlen(s), 0),
                         ".str", 1);
}

static LLVMValueRef const_array(Cg *cg, LLVMTypeRef elem, LLVMValueRef *vals,
                                uint64_t n, const char *name)
{
    if (n == 0)
        return LLVMConstNull(cg->t_ptr);
    return private_const(cg, LLVMConstArray2(elem, vals, n), name, 8);
}

static LLVMValueRef slot_array(Cg *cg, const IrBuffer *b)
{
    LLVMValueRef *v = xcalloc((size_t)b->rank, sizeof *v);
    for (int32_t j = 0; j < b->rank; j++)
        v[j] = i64c(cg, b->dim_slots[j]);
    LLVMValueRef g = const_array(cg, cg->t_i64, v, (uint64_t)b->rank,
                                 ".dim_slots");
    free(v);
    return g;
}

static LLVMValueRef struct_const(Cg *cg, LLVMValueRef *vals, unsigned n)
{
    return LLVMConstStructInContext(cg->c, vals, n, 0);
}

/* Buffers in abi_index order (args, then scratch); NULL-filled gaps are an
 * error the caller reports. */
static const IrBuffer **abi_order(Cg *cg, int32_t *n_out)
{
    const IrProgram *p = cg->p;
    int32_t n = 0;
    for (int32_t i = 0; i < p->nbuffers; i++)
        if (p->buffers[i].kind != IR_BUF_CONST)
            n++;
    const IrBuffer **order = xcalloc((size_t)n, sizeof *order);
    for (int32_t i = 0; i < p->nbuffers; i++) {
        const IrBuffer *b = &p->buffers[i];
        if (b->kind == IR_BUF_CONST)
            continue;
        if (b->abi_index < 0 || b->abi_index >= n || order[b->abi_index]) {
            cg_fail(cg, fmt_err("buffer %s has a bad abi_index %d",
                                b->name ? b->name : "?", (int)b->abi_index));
            continue;
        }
        order[b->abi_index] = b;
    }
    for (int32_t i = 0; i < n && !cg->err; i++) {
        if (!order[i])
            cg_fail(cg, fmt_err("no buffer has abi_index %d", (int)i));
        else if ((i < p->ninputs) != (order[i]->kind == IR_BUF_INPUT) ||
                 (i >= p->ninputs && i < p->ninputs + p->noutputs &&
                  order[i]->kind != IR_BUF_OUTPUT))
            cg_fail(cg, fmt_err("buffer %s (abi_index %d) is out of order",
                                order[i]->name ? order[i]->name : "?", (int)i));
    }
    *n_out = n;
    return order;
}

static LLVMValueRef emit_descriptor(Cg *cg, LLVMValueRef body)
{
    const IrProgram *p = cg->p;
    int32_t nbuf;
    const IrBuffer **order = abi_order(cg, &nbuf);
    int32_t nargs = p->ninputs + p->noutputs;
    if (nargs > nbuf) {
        cg_fail(cg, fmt_err("%d arguments but %d buffers", (int)nargs,
                            (int)nbuf));
        nargs = nbuf;
    }

    /* convrt_arg {name, is_output, rank, dim_slots, dim_names} */
    LLVMValueRef *args = xcalloc((size_t)nargs, sizeof *args);
    for (int32_t i = 0; i < nargs && !cg->err; i++) {
        const IrBuffer *b = order[i];
        LLVMValueRef names = LLVMConstNull(cg->t_ptr);
        /* the runtime wants the array whenever rank > 0; its entries are
         * NULL for literal dims */
        if (b->rank > 0) {
            LLVMValueRef *nv = xcalloc((size_t)b->rank, sizeof *nv);
            for (int32_t j = 0; j < b->rank; j++)
                nv[j] = const_str(cg, b->dim_names ? b->dim_names[j] : NULL);
            names = const_array(cg, cg->t_ptr, nv, (uint64_t)b->rank,
                                ".dim_names");
            free(nv);
        }
        LLVMValueRef f[5] = {
            const_str(cg, b->name), i64c(cg, b->kind == IR_BUF_OUTPUT),
            i64c(cg, b->rank), slot_array(cg, b), names,
        };
        args[i] = struct_const(cg, f, 5);
    }
    LLVMTypeRef arg_ty = LLVMStructTypeInContext(cg->c, (LLVMTypeRef[]){
        cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_ptr, cg->t_ptr}, 5, 0);
    LLVMValueRef args_g = cg->err ? LLVMConstNull(cg->t_ptr)
        : const_array(cg, arg_ty, args, (uint64_t)nargs, ".args");
    free(args);

    /* convrt_dim_expr {op, a, b} */
    LLVMTypeRef slot_ty = LLVMStructTypeInContext(cg->c, (LLVMTypeRef[]){
        cg->t_i64, cg->t_i64, cg->t_i64}, 3, 0);
    LLVMValueRef *slots = xcalloc((size_t)p->nslots, sizeof *slots);
    for (int32_t i = 0; i < p->nslots; i++) {
        LLVMValueRef f[3] = {i64c(cg, p->slots[i].op), i64c(cg, p->slots[i].a),
                             i64c(cg, p->slots[i].b)};
        slots[i] = struct_const(cg, f, 3);
    }
    LLVMValueRef slots_g = const_array(cg, slot_ty, slots, (uint64_t)p->nslots,
                                       ".slots");
    free(slots);

    /* convrt_check {kind, a, b, what} */
    LLVMTypeRef check_ty = LLVMStructTypeInContext(cg->c, (LLVMTypeRef[]){
        cg->t_i64, cg->t_i64, cg->t_i64, cg->t_ptr}, 4, 0);
    LLVMValueRef *checks = xcalloc((size_t)p->nchecks, sizeof *checks);
    for (int32_t i = 0; i < p->nchecks; i++) {
        LLVMValueRef f[4] = {i64c(cg, p->checks[i].kind),
                             i64c(cg, p->checks[i].a), i64c(cg, p->checks[i].b),
                             const_str(cg, p->checks[i].what)};
        checks[i] = struct_const(cg, f, 4);
    }
    LLVMValueRef checks_g = const_array(cg, check_ty, checks,
                                        (uint64_t)p->nchecks, ".checks");
    free(checks);

    /* convrt_buffer {rank, dim_slots} */
    LLVMTypeRef buf_ty = LLVMStructTypeInContext(cg->c, (LLVMTypeRef[]){
        cg->t_i64, cg->t_ptr}, 2, 0);
    LLVMValueRef *bufs = xcalloc((size_t)nbuf, sizeof *bufs);
    for (int32_t i = 0; i < nbuf && !cg->err; i++) {
        LLVMValueRef f[2] = {i64c(cg, order[i]->rank), slot_array(cg, order[i])};
        bufs[i] = struct_const(cg, f, 2);
    }
    LLVMValueRef bufs_g = cg->err ? LLVMConstNull(cg->t_ptr)
        : const_array(cg, buf_ty, bufs, (uint64_t)nbuf, ".buffers");
    free(bufs);
    free(order);

    LLVMTypeRef pty = LLVMStructCreateNamed(cg->c, "convrt_pipeline");
    LLVMTypeRef pfields[14] = {
        cg->t_i64, cg->t_ptr, cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_i64,
        cg->t_ptr, cg->t_i64, cg->t_ptr, cg->t_i64, cg->t_ptr, cg->t_i64,
        cg->t_ptr, cg->t_ptr,
    };
    LLVMStructSetBody(pty, pfields, 14, 0);
    LLVMValueRef pv[14] = {
        i64c(cg, CONVRT_ABI_VERSION), const_str(cg, p->name),
        const_str(cg, cg->m->cpu), i64c(cg, cg->m->cpu_features),
        i64c(cg, p->ninputs), i64c(cg, nargs), args_g,
        i64c(cg, p->nslots), slots_g, i64c(cg, p->nchecks), checks_g,
        i64c(cg, nbuf), bufs_g, body,
    };
    char name[256];
    snprintf(name, sizeof name, "%s_pipeline", p->name);
    LLVMValueRef g = LLVMAddGlobal(cg->mod, pty, name);
    LLVMSetInitializer(g, LLVMConstNamedStruct(pty, pv, 14));
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMExternalLinkage);
    LLVMSetAlignment(g, 8);
    return g;
}

/* i32 NAME(ptr a0, ...): collects the argument pointers into an array and
 * hands them to the runtime together with the descriptor. */
static void emit_entry(Cg *cg, const char *name, const char *runtime_fn,
                       LLVMValueRef desc)
{
    int32_t n = cg->p->ninputs + cg->p->noutputs;
    LLVMTypeRef *params = xcalloc((size_t)n, sizeof *params);
    for (int32_t i = 0; i < n; i++)
        params[i] = cg->t_ptr;
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name,
        LLVMFunctionType(cg->t_i32, params, (unsigned)n, 0));
    free(params);
    set_target_attrs(cg, fn);

    LLVMTypeRef rt_params[2] = {cg->t_ptr, cg->t_ptr};
    LLVMTypeRef rt_ty = LLVMFunctionType(cg->t_i32, rt_params, 2, 0);
    LLVMValueRef rt = LLVMGetNamedFunction(cg->mod, runtime_fn);
    if (!rt)
        rt = LLVMAddFunction(cg->mod, runtime_fn, rt_ty);

    LLVMBuilderRef b = LLVMCreateBuilderInContext(cg->c);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cg->c, fn, "entry"));
    LLVMTypeRef arr_ty = LLVMArrayType2(cg->t_ptr, (uint64_t)n);
    LLVMValueRef arr = LLVMBuildAlloca(b, arr_ty, "args");
    for (int32_t i = 0; i < n; i++) {
        LLVMValueRef idx[2] = {i64c(cg, 0), i64c(cg, i)};
        LLVMBuildStore(b, LLVMGetParam(fn, (unsigned)i),
                       LLVMBuildInBoundsGEP2(b, arr_ty, arr, idx, 2, ""));
    }
    LLVMValueRef args[2] = {desc, arr};
    LLVMBuildRet(b, LLVMBuildCall2(b, rt_ty, rt, args, 2, ""));
    LLVMDisposeBuilder(b);
}

static bool is_c_identifier(const char *s)
{
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static void build_module(Cg *cg)
{
    const IrProgram *p = cg->p;
    LLVMContextRef c = cg->c;
    cg->t_i1 = LLVMInt1TypeInContext(c);
    cg->t_i32 = LLVMInt32TypeInContext(c);
    cg->t_i64 = LLVMInt64TypeInContext(c);
    cg->t_f32 = LLVMFloatTypeInContext(c);
    cg->t_ptr = LLVMPointerTypeInContext(c, 0);
    cg->t_void = LLVMVoidTypeInContext(c);

    /* runtime and libm */
    LLVMTypeRef task_params[3] = {cg->t_ptr, cg->t_i64, cg->t_i64};
    cg->ty_par_task = LLVMFunctionType(cg->t_void, task_params, 3, 0);
    LLVMTypeRef pf_params[3] = {cg->t_i64, cg->t_ptr, cg->t_ptr};
    cg->ty_par_for = LLVMFunctionType(cg->t_void, pf_params, 3, 0);
    cg->fn_par_for = LLVMAddFunction(cg->mod, "convrt_parallel_for",
                                     cg->ty_par_for);
    cg->ty_tanhf = LLVMFunctionType(cg->t_f32, &cg->t_f32, 1, 0);
    cg->fn_tanhf = LLVMAddFunction(cg->mod, "tanhf", cg->ty_tanhf);
    /* tanhf never sets errno (C11 7.12.5.6 lists no error), so it may be
     * hoisted and CSE'd. */
    add_fn_attr(cg, cg->fn_tanhf, "nounwind");
    add_fn_attr(cg, cg->fn_tanhf, "willreturn");
    {
        unsigned kind = LLVMGetEnumAttributeKindForName("memory", 6);
        LLVMAddAttributeAtIndex(cg->fn_tanhf, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(c, kind, 0));
    }

    /* constant buffers */
    cg->const_globals = xcalloc((size_t)p->nbuffers, sizeof *cg->const_globals);
    for (int32_t i = 0; i < p->nbuffers; i++) {
        const IrBuffer *b = &p->buffers[i];
        if (b->kind != IR_BUF_CONST)
            continue;
        LLVMValueRef *vals = xcalloc((size_t)b->count, sizeof *vals);
        for (int64_t k = 0; k < b->count; k++)
            vals[k] = LLVMConstReal(cg->t_f32, (double)b->data[k]);
        LLVMValueRef init = LLVMConstArray2(cg->t_f32, vals, (uint64_t)b->count);
        free(vals);
        char name[256];
        snprintf(name, sizeof name, "%s.%s", p->name, b->name ? b->name : "const");
        LLVMValueRef g = private_const(cg, init, name, 64);
        LLVMSetLinkage(g, LLVMInternalLinkage);
        cg->const_globals[i] = g;
    }

    /* NAME__body */
    char name[256];
    snprintf(name, sizeof name, "%s__body", p->name);
    LLVMTypeRef body_params[2] = {cg->t_ptr, cg->t_ptr};
    LLVMValueRef body = LLVMAddFunction(cg->mod, name,
        LLVMFunctionType(cg->t_void, body_params, 2, 0));
    LLVMSetLinkage(body, LLVMInternalLinkage);
    set_target_attrs(cg, body);
    for (unsigned i = 0; i < 2; i++) {
        add_param_attr(cg, body, i, "noalias");
        add_param_attr(cg, body, i, "nocapture");
        add_param_attr(cg, body, i, "readonly");
    }
    /* Each top-level statement (one stage's loop nest) becomes its own
     * function NAME__stage_K, called in order from the body: the optimiser
     * then works on many small functions rather than one that grows with
     * the pipeline, so compile time stays linear in the number of stages. */
    const IrStmt *top = p->body;
    int32_t nstages = top && top->kind == IR_STMT_BLOCK ? top->block.n : 1;
    LLVMValueRef *stage_fn = xcalloc((size_t)nstages, sizeof *stage_fn);
    for (int32_t k = 0; k < nstages && !cg->err; k++) {
        snprintf(name, sizeof name, "%s__stage_%d", p->name, (int)k);
        stage_fn[k] = LLVMAddFunction(cg->mod, name,
            LLVMFunctionType(cg->t_void, body_params, 2, 0));
        LLVMSetLinkage(stage_fn[k], LLVMInternalLinkage);
        set_target_attrs(cg, stage_fn[k]);
        add_fn_attr(cg, stage_fn[k], "noinline");
        for (unsigned i = 0; i < 2; i++) {
            add_param_attr(cg, stage_fn[k], i, "noalias");
            add_param_attr(cg, stage_fn[k], i, "nocapture");
            add_param_attr(cg, stage_fn[k], i, "readonly");
        }
        Fn sf;
        fn_begin(&sf, cg, stage_fn[k], false);
        sf.bufs = LLVMGetParam(stage_fn[k], 0);
        sf.dims = LLVMGetParam(stage_fn[k], 1);
        emit_stmt(&sf, top && top->kind == IR_STMT_BLOCK ? top->block.items[k] : top);
        LLVMBuildRetVoid(sf.b);
        fn_end(&sf);
    }
    Fn f;
    fn_begin(&f, cg, body, false);
    f.bufs = LLVMGetParam(body, 0);
    f.dims = LLVMGetParam(body, 1);
    LLVMTypeRef stage_ty = LLVMFunctionType(cg->t_void, body_params, 2, 0);
    for (int32_t k = 0; k < nstages && !cg->err; k++) {
        LLVMValueRef args[2] = {f.bufs, f.dims};
        LLVMBuildCall2(f.b, stage_ty, stage_fn[k], args, 2, "");
    }
    free(stage_fn);
    LLVMBuildRetVoid(f.b);
    fn_end(&f);

    LLVMValueRef desc = emit_descriptor(cg, body);
    emit_entry(cg, p->name, "convrt_pipeline_run", desc);
    snprintf(name, sizeof name, "%s_output_shapes", p->name);
    emit_entry(cg, name, "convrt_pipeline_output_shapes", desc);
    free(cg->const_globals);
}

/* ---- the public API -------------------------------------------------------- */

static LLVMErrorRef optimise(CgModule *m, int opt)
{
    LLVMPassBuilderOptionsRef o = LLVMCreatePassBuilderOptions();
    bool vec = opt >= 2;
    LLVMPassBuilderOptionsSetLoopVectorization(o, vec);
    LLVMPassBuilderOptionsSetSLPVectorization(o, vec);
    LLVMPassBuilderOptionsSetLoopInterleaving(o, vec);
    LLVMPassBuilderOptionsSetLoopUnrolling(o, opt >= 1);
    char pipeline[32];
    snprintf(pipeline, sizeof pipeline, "default<O%d>", opt);
    LLVMErrorRef e = LLVMRunPasses(m->mod, pipeline, m->tm, o);
    LLVMDisposePassBuilderOptions(o);
    return e;
}

static CgModule *compile(const IrProgram *p, const CgTarget *t, char **err)
{
    if (!p || !is_c_identifier(p->name) || strlen(p->name) > 200) {
        set_err(err, fmt_err("pipeline name '%s' is not a C identifier",
                             p && p->name ? p->name : "(null)"));
        return NULL;
    }
    CgModule *m = xcalloc(1, sizeof *m);
    m->name = xstrdup(p->name);
    if (!choose_target(m, t, err) || !(m->tm = make_tm(m, err))) {
        cg_free(m);
        return NULL;
    }
    m->tsc = LLVMOrcCreateNewThreadSafeContext();
    m->ctx = LLVMOrcThreadSafeContextGetContext(m->tsc);
    m->mod = LLVMModuleCreateWithNameInContext(p->name, m->ctx);
    LLVMSetTarget(m->mod, m->triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(m->tm);
    LLVMSetModuleDataLayout(m->mod, dl);
    LLVMDisposeTargetData(dl);

    Cg cg = {.p = p, .m = m, .c = m->ctx, .mod = m->mod};
    build_module(&cg);
    if (cg.err) {
        set_err(err, fmt_err("%s: %s", p->name, cg.err));
        free(cg.err);
        cg_free(m);
        return NULL;
    }
    char *msg = NULL;
    if (LLVMVerifyModule(m->mod, LLVMReturnStatusAction, &msg)) {
        set_err(err, fmt_err("%s: invalid LLVM IR (a code generator bug): %s",
                             p->name, msg ? msg : "?"));
        LLVMDisposeMessage(msg);
        cg_free(m);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    int opt = t ? t->opt_level : 3;
    LLVMErrorRef e = optimise(m, opt);
    if (e) {
        char *em = LLVMGetErrorMessage(e);
        set_err(err, fmt_err("%s: optimisation failed: %s", p->name, em));
        LLVMDisposeErrorMessage(em);
        cg_free(m);
        return NULL;
    }
    return m;
}

CgModule *cg_compile(const IrProgram *p, const CgTarget *t, char **err)
{
    if (err)
        *err = NULL;
    pthread_once(&llvm_once, llvm_init);
    cg_llvm_enter();
    CgModule *m = compile(p, t, err);
    cg_llvm_leave();
    return m;
}

int cg_print_llvm(CgModule *m, FILE *out)
{
    if (!m || !m->mod)
        return -1;
    cg_llvm_enter();
    char *s = LLVMPrintModuleToString(m->mod);
    cg_llvm_leave();
    int rc = fputs(s, out) < 0 ? -1 : 0;
    LLVMDisposeMessage(s);
    return rc;
}

/* Assembly or an object file into a memory buffer, then into out. */
static int emit(CgModule *m, LLVMCodeGenFileType type, FILE *out, char **err)
{
    if (err)
        *err = NULL;
    if (!m || !m->mod) {
        set_err(err, fmt_err("no module to emit"));
        return -1;
    }
    cg_llvm_enter();
    LLVMModuleRef clone = LLVMCloneModule(m->mod);
    LLVMMemoryBufferRef buf = NULL;
    char *msg = NULL;
    int rc = 0;
    if (LLVMTargetMachineEmitToMemoryBuffer(m->tm, clone, type, &msg, &buf)) {
        set_err(err, fmt_err("cannot emit %s: %s", type == LLVMObjectFile ? "the object" : "assembly",
                             msg ? msg : "?"));
        rc = -1;
    }
    LLVMDisposeMessage(msg);
    LLVMDisposeModule(clone);
    cg_llvm_leave();
    if (rc == 0) {
        size_t n = LLVMGetBufferSize(buf);
        if (fwrite(LLVMGetBufferStart(buf), 1, n, out) != n) {
            set_err(err, fmt_err("cannot write the %s: %s", type == LLVMObjectFile ? "object" : "assembly",
                                 strerror(errno)));
            rc = -1;
        }
        LLVMDisposeMemoryBuffer(buf);
    }
    return rc;
}

int cg_print_asm(CgModule *m, FILE *out)
{
    char *err = NULL;
    int rc = emit(m, LLVMAssemblyFile, out, &err);
    if (rc != 0)
        fprintf(stderr, "convc: error: %s\n", err);
    free(err);
    return rc;
}

int cg_emit_object(CgModule *m, FILE *out, char **err)
{
    return emit(m, LLVMObjectFile, out, err);
}

int64_t cg_cpu_features(CgModule *m) { return m ? m->cpu_features : 0; }
const char *cg_cpu_name(const CgModule *m) { return m ? m->cpu : NULL; }
const char *cg_pipeline_name(const CgModule *m) { return m ? m->name : NULL; }

struct LLVMOpaqueModule *cg_take_module(CgModule *m,
                                        struct LLVMOrcOpaqueThreadSafeContext **tsc)
{
    LLVMModuleRef mod = m->mod;
    *tsc = m->tsc;
    m->mod = NULL;
    m->tsc = NULL;
    m->ctx = NULL;
    return mod;
}

void cg_free(CgModule *m)
{
    if (!m)
        return;
    if (m->mod)
        LLVMDisposeModule(m->mod);
    if (m->tsc)
        LLVMOrcDisposeThreadSafeContext(m->tsc);
    if (m->tm)
        LLVMDisposeTargetMachine(m->tm);
    free(m->triple);
    free(m->cpu);
    free(m->features);
    free(m->name);
    free(m);
}
