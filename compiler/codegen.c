/* codegen.c - IrProgram -> LLVM module (see codegen.h for what it holds).
 *
 * Shape of the generated code, for pipeline NAME:
 *   NAME__body(bufs, dims)  runs the stages in order: up to DIRECT_CALLS_MAX
 *                           stages by direct calls, beyond that by a loop
 *                           over the constant table NAME.stages.
 *   NAME__stage_T(ptrs, dimvals)  the loop nest shared by the stages of
 *                           group T (stage_share.h: stages equal up to
 *                           their buffers and slots); ptrs[] holds the
 *                           calling stage's buffer pointers, dimvals[] its
 *                           slot values.  Everything invariant (buffer
 *                           pointers, dims, row-major strides, allocas) is
 *                           emitted once into the entry block, which is
 *                           only closed when the function is complete, so
 *                           it can be filled lazily while lowering.
 *   NAME__par_N(ctx, b, e)  the body of parallel loop N, outlined; the
 *                           enclosing function passes it to
 *                           convrt_parallel_for with a stack context that
 *                           holds its ptrs and dimvals.
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
#include <llvm-c/DebugInfo.h>
#include <llvm-c/ErrorHandling.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "arena.h"
#include "convrt_abi.h"
#include "stage_share.h"

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
    cg_llvm_enter();    /* registering the passes allocates too */
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
    cg_llvm_leave();
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

bool cg_target_info(const char *cpu, Target *out, char **err)
{
    if (err)
        *err = NULL;
    pthread_once(&llvm_once, llvm_init);
    CgModule m;
    memset(&m, 0, sizeof m);
    CgTarget t = { cpu, 3 };
    cg_llvm_enter();
    bool ok = choose_target(&m, &t, err);
    cg_llvm_leave();
    if (ok) {
        static char name[64];   /* one resolved name per process is enough:
                                   the driver compiles for one target */
        snprintf(name, sizeof name, "%s", m.cpu);
        int64_t f = m.cpu_features;
        *out = target_scalar();
        out->cpu = name;
        out->fma = (f & CONVRT_CPU_FMA) != 0;
        if ((f & CONVRT_CPU_AVX512F) && out->fma) {
            out->vlen = 16;
            out->vregs = 32;
            out->masked = true;
        } else if ((f & CONVRT_CPU_AVX2) && out->fma) {
            out->vlen = 8;
            out->vregs = 16;
        }
    }
    free(m.triple);
    free(m.cpu);
    free(m.features);
    return ok;
}

char *cg_target_id(const char *cpu, int opt_level, char **err)
{
    if (err)
        *err = NULL;
    pthread_once(&llvm_once, llvm_init);
    CgModule m;
    memset(&m, 0, sizeof m);
    CgTarget t = { cpu, opt_level };
    cg_llvm_enter();
    bool ok = choose_target(&m, &t, err);
    cg_llvm_leave();
    char *id = NULL;
    if (ok) {
        unsigned major, minor, patch;
        LLVMGetVersion(&major, &minor, &patch);
        id = fmt_err("%s %s %s -O%d LLVM-%u.%u.%u", m.triple, m.cpu, m.features, opt_level, major, minor,
                     patch);
    }
    free(m.triple);
    free(m.cpu);
    free(m.features);
    return id;
}

void cg_llvm_init(void)
{
    pthread_once(&llvm_once, llvm_init);
}

/* ---- lowering state -------------------------------------------------------- */

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

static void cg_fail(Cg *cg, char *msg)
{
    if (!cg->err)
        cg->err = msg;
    else
        free(msg);
}

/* Non-temporal stores are weakly ordered: an sfence makes them visible
 * before whatever the function's return lets other threads see (the pool's
 * completion, the next stage). */
static void emit_sfence_if_streamed(Fn *f);

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
    /* Micro-kernels written with 512-bit vectors must stay 512-bit: several
     * AVX-512 CPUs otherwise make LLVM split them into 256-bit halves. */
    if (cg->p->vlen * 32 >= 512) {
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
            LLVMCreateStringAttribute(cg->c, "prefer-vector-width", 19, "512", 3));
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
            LLVMCreateStringAttribute(cg->c, "min-legal-vector-width", 22, "512", 3));
    }
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
static IrType local_type(const IrProgram *p, int32_t l)
{
    return p->local_types ? p->local_types[l] : IR_TYPE_F32;
}

static LLVMTypeRef ir_type(Cg *cg, IrType t);

static LLVMValueRef local_ptr(Fn *f, int32_t l)
{
    if (!f->local[l])
        f->local[l] = LLVMBuildAlloca(
            f->eb, ir_type(f->cg, local_type(f->cg->p, l)), "local");
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
        /* a stage function reads dimvals[], the body dims[] */
        int64_t at = cg->slot_param ? cg->slot_param[slot] : slot;
        if (at < 0) {
            cg_fail(cg, fmt_err("slot %d is not among its stage's slots", (int)slot));
            return i64c(cg, 1);
        }
        LLVMValueRef idx = i64c(cg, at);
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(f->eb, cg->t_i64, f->dims,
                                                 &idx, 1, "dimp");
        char name[32];
        snprintf(name, sizeof name, cg->shared ? "dim%d" : "d%d",
                 (int)(cg->shared ? at : slot));
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
    if (buf->kind == IR_BUF_CONST && (!cg->buf_param || cg->buf_param[b] < 0))
        return cg->const_globals[b];
    if (buf->kind == IR_BUF_LOCAL && !f->buf[b]) {
        /* in this function's frame: each parallel task gets its own */
        uint64_t count = 1;
        for (int32_t j = 0; j < buf->rank; j++) {
            const IrSlot *s = &cg->p->slots[buf->dim_slots[j]];
            if (!s->is_const || s->const_value < 0) {
                cg_fail(cg, fmt_err("local buffer %s has a dim not known when compiling",
                                    buf->name ? buf->name : "?"));
                return LLVMConstNull(cg->t_ptr);
            }
            count *= (uint64_t)s->const_value;
        }
        LLVMValueRef a = LLVMBuildAlloca(f->eb, LLVMArrayType2(cg->t_f32, count ? count : 1),
                                         buf->name && !cg->shared ? buf->name : "local");
        LLVMSetAlignment(a, 64);
        f->buf[b] = a;
    }
    if (!f->buf[b]) {
        /* a stage function reads ptrs[], the body bufs[] */
        int64_t at = cg->buf_param ? cg->buf_param[b] : buf->abi_index;
        if (at < 0) {
            cg_fail(cg, fmt_err("buffer %s is not among its stage's buffers",
                                buf->name ? buf->name : "?"));
            return LLVMConstNull(cg->t_ptr);
        }
        LLVMValueRef idx = i64c(cg, at);
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(f->eb, cg->t_ptr, f->bufs,
                                                 &idx, 1, "bufp");
        char pname[32];
        snprintf(pname, sizeof pname, "ptr%d", (int)at);
        f->buf[b] = LLVMBuildLoad2(f->eb, cg->t_ptr, ptr,
                                   cg->shared ? pname : buf->name ? buf->name : "buf");
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

/* The first lane's address.  A masked access may start outside the buffer
 * (its disabled lanes are never touched), so its address is a plain GEP,
 * not an inbounds one. */
static LLVMValueRef vec_ptr(Fn *f, int32_t b, IrExpr *const *idx, bool masked)
{
    if (!masked)
        return elem_ptr(f, b, idx);
    Cg *cg = f->cg;
    const IrBuffer *buf = &cg->p->buffers[b];
    LLVMValueRef *st = buf_strides(f, b);
    LLVMValueRef lin = NULL;
    for (int32_t j = 0; j < buf->rank; j++) {
        LLVMValueRef term = emit_expr(f, idx[j]);
        if (j != buf->rank - 1)
            term = LLVMBuildMul(f->b, term, st[j], "");
        lin = lin ? LLVMBuildAdd(f->b, lin, term, "") : term;
    }
    if (!lin)
        lin = i64c(cg, 0);
    return LLVMBuildGEP2(f->b, cg->t_f32, buf_ptr(f, b), &lin, 1, "");
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
        return e->type != IR_TYPE_VF32 || !e->load.mask;
    case IR_EXPR_FMA:
        return may_trap(e->fma.a) || may_trap(e->fma.b) || may_trap(e->fma.c);
    case IR_EXPR_BROADCAST:
        return may_trap(e->un.a);
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

/* v as a constant of type ty: a scalar, or every lane of a vector. */
static LLVMValueRef const_like(LLVMTypeRef ty, LLVMValueRef v)
{
    if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind)
        return v;
    unsigned n = LLVMGetVectorSize(ty);
    LLVMValueRef lanes[64];
    for (unsigned i = 0; i < n && i < 64; i++)
        lanes[i] = v;
    return LLVMConstVector(lanes, n);
}

static LLVMValueRef emit_int_binary(Fn *f, const IrExpr *e, LLVMValueRef x,
                                    LLVMValueRef y)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    LLVMTypeRef ty = LLVMTypeOf(x);
    LLVMValueRef zero = LLVMConstNull(ty);
    int k;
    switch (e->bin.op) {
    case IR_OP_ADD: return LLVMBuildNSWAdd(b, x, y, "");
    case IR_OP_SUB: return LLVMBuildNSWSub(b, x, y, "");
    case IR_OP_MUL: return LLVMBuildNSWMul(b, x, y, "");
    case IR_OP_DIV:
        /* floor division, rhs > 0: truncate, then step down when the
         * remainder is negative.  A power of two is an arithmetic shift. */
        if ((k = log2_if_pow2(e->bin.b)) >= 0)
            return LLVMBuildAShr(b, x, const_like(ty, i64c(cg, k)), "");
        {
            LLVMValueRef q = LLVMBuildSDiv(b, x, y, "");
            LLVMValueRef r = LLVMBuildSRem(b, x, y, "");
            LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, r, zero, "");
            return LLVMBuildNSWSub(b, q, LLVMBuildZExt(b, neg, ty, ""), "");
        }
    case IR_OP_MOD:
        if ((k = log2_if_pow2(e->bin.b)) >= 0)
            return LLVMBuildAnd(b, x, const_like(ty, i64c(cg, e->bin.b->ival - 1)), "");
        {
            LLVMValueRef r = LLVMBuildSRem(b, x, y, "");
            LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, r, zero, "");
            return LLVMBuildSelect(b, neg, LLVMBuildNSWAdd(b, r, y, ""), r, "");
        }
    case IR_OP_MIN: {
        LLVMValueRef args[2] = {x, y};
        return call_intrinsic(f, "llvm.smin", ty, args, 2);
    }
    case IR_OP_MAX: {
        LLVMValueRef args[2] = {x, y};
        return call_intrinsic(f, "llvm.smax", ty, args, 2);
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
    case IR_OP_ADD: return LLVMBuildFAdd(b, x, y, "");
    case IR_OP_SUB: return LLVMBuildFSub(b, x, y, "");
    case IR_OP_MUL: return LLVMBuildFMul(b, x, y, "");
    case IR_OP_DIV: return LLVMBuildFDiv(b, x, y, "");
    /* NaN-propagating, like torch.minimum/maximum (llvm.minnum would not
     * propagate it). */
    case IR_OP_MIN: return call_intrinsic(f, "llvm.minimum", LLVMTypeOf(x), args, 2);
    case IR_OP_MAX: return call_intrinsic(f, "llvm.maximum", LLVMTypeOf(x), args, 2);
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
    if ((op == IR_OP_AND || op == IR_OP_OR) && e->bin.a->type == IR_TYPE_BOOL) {
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
    if (e->bin.a->type == IR_TYPE_VBOOL && (op == IR_OP_AND || op == IR_OP_OR)) {
        LLVMValueRef x = emit_expr(f, e->bin.a), y = emit_expr(f, e->bin.b);
        return op == IR_OP_AND ? LLVMBuildAnd(f->b, x, y, "") : LLVMBuildOr(f->b, x, y, "");
    }
    LLVMValueRef x = emit_expr(f, e->bin.a);
    LLVMValueRef y = emit_expr(f, e->bin.b);
    switch (e->bin.a->type) {
    case IR_TYPE_I64:
    case IR_TYPE_VI64: return emit_int_binary(f, e, x, y);
    case IR_TYPE_F32:
    case IR_TYPE_VF32: return emit_f32_binary(f, e, x, y);
    case IR_TYPE_BOOL:
    case IR_TYPE_VBOOL:
        if (op == IR_OP_EQ) return LLVMBuildICmp(f->b, LLVMIntEQ, x, y, "");
        if (op == IR_OP_NE) return LLVMBuildICmp(f->b, LLVMIntNE, x, y, "");
        break;
    }
    cg_fail(cg, fmt_err("IR: operator %d on bool", (int)op));
    return LLVMConstInt(cg->t_i1, 0, 0);
}

/* libm's fn (tanhf, expf) of x, lane by lane for a vector.  The calls
 * are marked nobuiltin: LLVM would otherwise fold a call whose argument
 * it knows with the compiling machine's double-precision function, whose
 * rounding differs from libm's float one in the last bit now and then --
 * so a kernel whose sums fold to constants (every tap outside the input)
 * and the scalar nest that calls libm at run time would disagree. */
static LLVMValueRef call_libm(Fn *f, LLVMValueRef fn, LLVMValueRef x)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    unsigned kind = LLVMGetEnumAttributeKindForName("nobuiltin", 9);
    LLVMAttributeRef nb = LLVMCreateEnumAttribute(cg->c, kind, 0);
    if (LLVMGetTypeKind(LLVMTypeOf(x)) != LLVMVectorTypeKind) {
        LLVMValueRef c = LLVMBuildCall2(b, cg->ty_f32_fn, fn, &x, 1, "");
        LLVMAddCallSiteAttribute(c, LLVMAttributeFunctionIndex, nb);
        return c;
    }
    LLVMValueRef v = LLVMGetUndef(LLVMTypeOf(x));
    for (unsigned i = 0; i < LLVMGetVectorSize(LLVMTypeOf(x)); i++) {
        LLVMValueRef lane = LLVMConstInt(cg->t_i32, i, 0);
        LLVMValueRef xi = LLVMBuildExtractElement(b, x, lane, "");
        LLVMValueRef c = LLVMBuildCall2(b, cg->ty_f32_fn, fn, &xi, 1, "");
        LLVMAddCallSiteAttribute(c, LLVMAttributeFunctionIndex, nb);
        v = LLVMBuildInsertElement(b, v, c, lane, "");
    }
    return v;
}

static LLVMValueRef emit_unary(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    LLVMValueRef x = emit_expr(f, e->un.a);
    LLVMTypeRef ty = LLVMTypeOf(x);
    switch (e->un.fn) {
    case IR_FN_NEG:
        return (e->un.a->type == IR_TYPE_I64 || e->un.a->type == IR_TYPE_VI64)
                   ? LLVMBuildNSWNeg(b, x, "") : LLVMBuildFNeg(b, x, "");
    case IR_FN_ABS:  return call_intrinsic(f, "llvm.fabs", ty, &x, 1);
    case IR_FN_SQRT: return call_intrinsic(f, "llvm.sqrt", ty, &x, 1);
    /* libm's expf and tanhf, lane by lane for vectors: the same function,
     * so the same bits, as the scalar code */
    case IR_FN_EXP:  return call_libm(f, cg->fn_expf, x);
    case IR_FN_TANH: return call_libm(f, cg->fn_tanhf, x);
    case IR_FN_SIGMOID: {
        LLVMValueRef nx = LLVMBuildFNeg(b, x, "");
        LLVMValueRef ex = call_libm(f, cg->fn_expf, nx);
        LLVMValueRef one = const_like(ty, LLVMConstReal(cg->t_f32, 1.0));
        LLVMValueRef den = LLVMBuildFAdd(b, one, ex, "");
        return LLVMBuildFDiv(b, one, den, "");
    }
    case IR_FN_NOT:
        return LLVMBuildXor(b, x, const_like(ty, LLVMConstInt(cg->t_i1, 1, 0)), "");
    case IR_FN_ISNAN:
        return LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
    case IR_FN_TO_F32:
        return LLVMBuildSIToFP(b, x, e->type == IR_TYPE_VF32 ? cg->t_vf32 : cg->t_f32, "");
    }
    cg_fail(cg, fmt_err("IR: unknown function %d", (int)e->un.fn));
    return LLVMConstReal(cg->t_f32, 0);
}

static LLVMTypeRef ir_type(Cg *cg, IrType t)
{
    switch (t) {
    case IR_TYPE_I64:   return cg->t_i64;
    case IR_TYPE_F32:   return cg->t_f32;
    case IR_TYPE_BOOL:  return cg->t_i1;
    case IR_TYPE_VF32:  return cg->t_vf32;
    case IR_TYPE_VI64:  return cg->t_vi64;
    case IR_TYPE_VBOOL: return cg->t_vi1;
    }
    return cg->t_i64;
}

static bool vectors_ok(Cg *cg, const IrExpr *e)
{
    if (cg->t_vf32)
        return true;
    cg_fail(cg, fmt_err("IR uses vectors but declares no vector width"));
    (void)e;
    return false;
}

/* x in every lane */
static LLVMValueRef splat(Fn *f, LLVMValueRef x, LLVMTypeRef vty)
{
    Cg *cg = f->cg;
    LLVMValueRef zero = LLVMConstInt(cg->t_i32, 0, 0);
    LLVMValueRef v = LLVMBuildInsertElement(f->b, LLVMGetPoison(vty), x, zero, "");
    LLVMValueRef mask = LLVMConstNull(LLVMVectorType(cg->t_i32, LLVMGetVectorSize(vty)));
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(vty), mask, "");
}

/* llvm.masked.load/store, overloaded on the vector and pointer types */
static LLVMValueRef masked_intrinsic(Fn *f, const char *name, LLVMValueRef *args,
                                     unsigned n)
{
    Cg *cg = f->cg;
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef tys[2] = {cg->t_vf32, cg->t_ptr};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 2);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 2);
    return LLVMBuildCall2(f->b, fty, fn, args, n, "");
}

/* A gather or scatter (llvm.masked.gather / .scatter): lane i at linear
 * position first + lanes[i] of buffer buf, lanes the mask disables not
 * touched.  args[ptr_arg] and args[ptr_arg + 2] are filled in here: the
 * lane pointers and the mask. */
static LLVMValueRef emit_lanes_intrinsic(Fn *f, const char *name, int32_t buf, IrExpr *const *idx,
                                         const IrExpr *lanes, const IrExpr *mask,
                                         LLVMValueRef *args, int ptr_arg)
{
    Cg *cg = f->cg;
    LLVMValueRef base = vec_ptr(f, buf, idx, true);
    LLVMValueRef off = emit_expr(f, lanes);
    args[ptr_arg] = LLVMBuildGEP2(f->b, cg->t_f32, base, &off, 1, "");
    args[ptr_arg + 1] = LLVMConstInt(cg->t_i32, 4, 0);
    args[ptr_arg + 2] = mask ? emit_expr(f, mask)
                             : const_like(cg->t_vi1, LLVMConstInt(cg->t_i1, 1, 0));
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef pv = LLVMVectorType(cg->t_ptr, (unsigned)cg->p->vlen);
    LLVMTypeRef tys[2] = {cg->t_vf32, pv};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 2);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 2);
    return LLVMBuildCall2(f->b, fty, fn, args, 4, "");
}

/* Lane i from first + lanes[i] (disabled lanes are not read and give 0). */
static LLVMValueRef emit_gather(Fn *f, const IrExpr *e)
{
    LLVMValueRef args[4];
    args[3] = LLVMConstNull(f->cg->t_vf32);
    return emit_lanes_intrinsic(f, "llvm.masked.gather", e->load.buf, e->load.idx, e->load.lanes,
                                e->load.mask, args, 0);
}

/* Lane i of v to first + lanes[i] (disabled lanes are not written). */
static void emit_scatter(Fn *f, const IrStmt *s, LLVMValueRef v)
{
    LLVMValueRef args[4];
    args[0] = v;
    emit_lanes_intrinsic(f, "llvm.masked.scatter", s->store.buf, s->store.idx, s->store.lanes,
                         s->store.mask, args, 1);
}

/* Lanes `stride` apart: one load of vlen*stride consecutive elements (its
 * mask enabling only the lanes kept) and a shuffle that keeps every
 * stride-th; the back end turns it into a few permutes. */
static LLVMValueRef emit_strided_load(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    unsigned vl = (unsigned)cg->p->vlen, s = (unsigned)e->load.stride, wide = vl * s;
    if (wide > 256) {
        cg_fail(cg, fmt_err("IR: strided load of %u elements", wide));
        return LLVMConstNull(cg->t_vf32);
    }
    LLVMTypeRef wty = LLVMVectorType(cg->t_f32, wide);
    LLVMValueRef ptr = vec_ptr(f, e->load.buf, e->load.idx, e->load.mask != NULL);
    LLVMValueRef v;
    if (e->load.mask) {
        LLVMValueRef m = emit_expr(f, e->load.mask);
        LLVMValueRef sel[256];
        for (unsigned i = 0; i < wide; i++)
            sel[i] = LLVMConstInt(cg->t_i32, i % s == 0 ? i / s : vl, 0);
        /* lane vl of the second operand (all false) for the skipped ones */
        LLVMValueRef wm = LLVMBuildShuffleVector(f->b, m, LLVMConstNull(cg->t_vi1),
                                                 LLVMConstVector(sel, wide), "");
        unsigned id = LLVMLookupIntrinsicID("llvm.masked.load", 16);
        LLVMTypeRef tys[2] = {wty, cg->t_ptr};
        LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 2);
        LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 2);
        LLVMValueRef args[4] = {ptr, LLVMConstInt(cg->t_i32, 4, 0), wm, LLVMConstNull(wty)};
        v = LLVMBuildCall2(f->b, fty, fn, args, 4, "");
    } else {
        v = LLVMBuildLoad2(f->b, wty, ptr, "");
        LLVMSetAlignment(v, 4);
    }
    LLVMValueRef keep[64];
    for (unsigned i = 0; i < vl; i++)
        keep[i] = LLVMConstInt(cg->t_i32, i * s, 0);
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(wty), LLVMConstVector(keep, vl), "");
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
            return LLVMBuildLoad2(f->b, ir_type(cg, local_type(cg->p, e->local)),
                                  local_ptr(f, e->local), "");
        cg_fail(cg, fmt_err("IR uses local %d of %d", (int)e->local,
                            (int)cg->p->nlocals));
        return LLVMConstReal(cg->t_f32, 0);
    case IR_EXPR_LOAD: {
        if (!check_buf(cg, e->load.buf))
            return LLVMConstReal(cg->t_f32, 0);
        if (e->type == IR_TYPE_VF32) {
            if (!vectors_ok(cg, e))
                return LLVMConstReal(cg->t_f32, 0);
            if (e->load.lanes)
                return emit_gather(f, e);
            if (e->load.stride > 1)
                return emit_strided_load(f, e);
            LLVMValueRef ptr = vec_ptr(f, e->load.buf, e->load.idx, e->load.mask != NULL);
            if (!e->load.mask) {
                LLVMValueRef v = LLVMBuildLoad2(f->b, cg->t_vf32, ptr, "");
                LLVMSetAlignment(v, 4);
                return v;
            }
            LLVMValueRef args[4] = {ptr, LLVMConstInt(cg->t_i32, 4, 0),
                                    emit_expr(f, e->load.mask),
                                    LLVMConstNull(cg->t_vf32)};
            return masked_intrinsic(f, "llvm.masked.load", args, 4);
        }
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
        /* lane selects evaluate both sides: their loads must be masked */
        if (e->sel.cond->type == IR_TYPE_BOOL && (may_trap(e->sel.a) || may_trap(e->sel.b)))
            return emit_branchy(f, c, e->sel.a, NULL, e->sel.b, NULL,
                                ir_type(cg, e->type));
        LLVMValueRef a = emit_expr(f, e->sel.a);
        LLVMValueRef b = emit_expr(f, e->sel.b);
        return LLVMBuildSelect(f->b, c, a, b, "");
    }
    case IR_EXPR_FMA: {
        LLVMValueRef args[3] = {emit_expr(f, e->fma.a), emit_expr(f, e->fma.b),
                                emit_expr(f, e->fma.c)};
        if (cg->fma)
            return call_intrinsic(f, "llvm.fma", LLVMTypeOf(args[2]), args, 3);
        return LLVMBuildFAdd(f->b, LLVMBuildFMul(f->b, args[0], args[1], ""), args[2], "");
    }
    case IR_EXPR_BROADCAST:
        if (!vectors_ok(cg, e))
            return i64c(cg, 0);
        return splat(f, emit_expr(f, e->un.a), ir_type(cg, e->type));
    case IR_EXPR_IOTA: {
        if (!vectors_ok(cg, e))
            return i64c(cg, 0);
        LLVMValueRef lanes[64];
        for (int32_t i = 0; i < cg->p->vlen; i++)
            lanes[i] = i64c(cg, i);
        return LLVMConstVector(lanes, (unsigned)cg->p->vlen);
    }
    case IR_EXPR_SHUFFLE: {
        if (!vectors_ok(cg, e))
            return i64c(cg, 0);
        LLVMValueRef sel[64];
        for (int32_t i = 0; i < cg->p->vlen; i++) {
            if (e->shuf.sel[i] < 0 || e->shuf.sel[i] >= 2 * cg->p->vlen) {
                cg_fail(cg, fmt_err("IR: shuffle lane %d out of range", (int)e->shuf.sel[i]));
                return i64c(cg, 0);
            }
            sel[i] = LLVMConstInt(LLVMInt32TypeInContext(cg->c), (unsigned long long)e->shuf.sel[i], 0);
        }
        return LLVMBuildShuffleVector(f->b, emit_expr(f, e->shuf.a), emit_expr(f, e->shuf.b),
                                      LLVMConstVector(sel, (unsigned)cg->p->vlen), "");
    }
    }
    cg_fail(cg, fmt_err("IR: unknown expression kind %d", (int)e->kind));
    return i64c(cg, 0);
}

/* Loop metadata saying "already vectorised and unrolled": the loop
 * vectoriser and the unrollers then leave the loop alone at once, which
 * also keeps them from spending compile time on the large kernel bodies. */
static LLVMMetadataRef kernel_loop_md(Cg *cg)
{
    LLVMContextRef c = cg->c;
    LLVMMetadataRef one = LLVMValueAsMetadata(LLVMConstInt(cg->t_i32, 1, 0));
    LLVMMetadataRef f = LLVMValueAsMetadata(LLVMConstInt(cg->t_i1, 0, 0));
    const char *vec = "llvm.loop.vectorize.enable", *unroll = "llvm.loop.unroll.disable",
               *width = "llvm.loop.vectorize.width", *il = "llvm.loop.interleave.count";
    LLVMMetadataRef p1[2] = {LLVMMDStringInContext2(c, vec, strlen(vec)), f};
    LLVMMetadataRef p2[1] = {LLVMMDStringInContext2(c, unroll, strlen(unroll))};
    LLVMMetadataRef p3[2] = {LLVMMDStringInContext2(c, width, strlen(width)), one};
    LLVMMetadataRef p4[2] = {LLVMMDStringInContext2(c, il, strlen(il)), one};
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(c, NULL, 0);
    LLVMMetadataRef ops[5] = {tmp, LLVMMDNodeInContext2(c, p1, 2), LLVMMDNodeInContext2(c, p2, 1),
                              LLVMMDNodeInContext2(c, p3, 2), LLVMMDNodeInContext2(c, p4, 2)};
    LLVMMetadataRef id = LLVMMDNodeInContext2(c, ops, 5);
    LLVMMetadataReplaceAllUsesWith(tmp, id);   /* the loop id refers to itself */
    return id;
}

/* for (var = lo; var < hi; var++) body, rotated: guard, header, latch. */
static void emit_loop(Fn *f, int32_t var, LLVMValueRef lo, LLVMValueRef hi,
                      const IrStmt *body, uint32_t flags)
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
    LLVMValueRef br = LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, next, hi, ""),
                                      header, exit);
    if (flags & IR_LOOP_KERNEL) {
        unsigned kind = LLVMGetMDKindIDInContext(cg->c, "llvm.loop", 9);
        LLVMSetMetadata(br, kind, LLVMMetadataAsValue(cg->c, kernel_loop_md(cg)));
    }
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
    case IR_EXPR_UNARY:
    case IR_EXPR_BROADCAST: locals_in_expr(e->un.a, used); break;
    case IR_EXPR_SHUFFLE:
        locals_in_expr(e->shuf.a, used);
        locals_in_expr(e->shuf.b, used);
        break;
    case IR_EXPR_FMA:
        locals_in_expr(e->fma.a, used);
        locals_in_expr(e->fma.b, used);
        locals_in_expr(e->fma.c, used);
        break;
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
    case IR_STMT_CALL:
        for (int32_t i = 0; i < s->call.nargs; i++)
            locals_in_expr(s->call.args[i].value, used);
        break;
    case IR_STMT_AGAIN:
    case IR_STMT_PREFETCH:
        break;
    }
}

/* A lane mask assigned to a local is computed once where the IR computes
 * it.  Without this, instruction selection's preparation sinks every
 * vector compare next to its uses -- into a kernel's innermost loop, where
 * the masks were meant to be loop-invariant -- and the register allocator
 * then recomputes them there, every iteration.  An empty inline asm that
 * takes the mask and gives it back is opaque to both: with AVX-512 the
 * mask stays in a mask register ("k"); with AVX2 it is a vector of lane
 * signs ("x"), which a blend reads directly. */
static LLVMValueRef mask_barrier(Fn *f, LLVMValueRef m)
{
    Cg *cg = f->cg;
    if (LLVMGetTypeKind(LLVMTypeOf(m)) != LLVMVectorTypeKind)
        return m;
    LLVMTypeRef ty = LLVMTypeOf(m);
    if (cg->m->cpu_features & CONVRT_CPU_AVX512F) {
        LLVMTypeRef fty = LLVMFunctionType(ty, &ty, 1, 0);
        LLVMValueRef as = LLVMGetInlineAsm(fty, "", 0, "=k,0", 4, 0, 0,
                                           LLVMInlineAsmDialectATT, 0);
        return LLVMBuildCall2(f->b, fty, as, &m, 1, "mask");
    }
    LLVMTypeRef ity = LLVMVectorType(cg->t_i32, LLVMGetVectorSize(ty));
    LLVMValueRef wide = LLVMBuildSExt(f->b, m, ity, "");
    LLVMTypeRef fty = LLVMFunctionType(ity, &ity, 1, 0);
    LLVMValueRef as = LLVMGetInlineAsm(fty, "", 0, "=x,0", 4, 0, 0,
                                       LLVMInlineAsmDialectATT, 0);
    LLVMValueRef kept = LLVMBuildCall2(f->b, fty, as, &wide, 1, "mask");
    return LLVMBuildICmp(f->b, LLVMIntSLT, kept, LLVMConstNull(ity), "");
}

static void note_kernel_fn(Cg *cg, LLVMValueRef fn)
{
    if (cg->nkernel_fns == cg->cap_kernel_fns) {
        cg->cap_kernel_fns = cg->cap_kernel_fns ? 2 * cg->cap_kernel_fns : 16;
        cg->kernel_fns = realloc(cg->kernel_fns, (size_t)cg->cap_kernel_fns * sizeof *cg->kernel_fns);
        if (!cg->kernel_fns) {
            fputs("convc: out of memory\n", stderr);
            abort();
        }
    }
    cg->kernel_fns[cg->nkernel_fns++] = fn;
}

static bool has_kernel_loop(const IrStmt *s)
{
    if (!s)
        return false;
    switch (s->kind) {
    case IR_STMT_FOR:
        return (s->loop.flags & IR_LOOP_KERNEL) || has_kernel_loop(s->loop.body);
    case IR_STMT_IF:
        return has_kernel_loop(s->cond.then) || has_kernel_loop(s->cond.otherwise);
    case IR_STMT_BLOCK:
        for (int32_t i = 0; i < s->block.n; i++)
            if (has_kernel_loop(s->block.items[i]))
                return true;
        return false;
    default:
        return false;
    }
}

static void emit_sfence_if_streamed(Fn *f)
{
    if (!f->streamed)
        return;
    Cg *cg = f->cg;
    const char *name = "llvm.x86.sse.sfence";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0);
    LLVMBuildCall2(f->b, LLVMGlobalGetValueType(fn), fn, NULL, 0, "");
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
    /* Vector locals are always defined inside the nest that uses them. */
    for (int32_t l = 0; l < p->nlocals; l++)
        if (used[l] && local_type(p, l) == IR_TYPE_F32)
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
    if (cg->in_kernel)
        note_kernel_fn(cg, pf);
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
    g.bufs = LLVMBuildLoad2(g.eb, cg->t_ptr, ptr, "ptrs");
    ptr = LLVMBuildStructGEP2(g.eb, cty, cx, 1, "");
    g.dims = LLVMBuildLoad2(g.eb, cg->t_ptr, ptr, "dimvals");
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
    emit_loop(&g, s->loop.var, blo, bhi, s->loop.body, s->loop.flags);
    emit_sfence_if_streamed(&g);
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

/* A runtime routine (ir.h IrCallee): int name(i64 or ptr, ...), declared
 * on first use; the JIT resolves it from convc's copy of the runtime
 * (jit.c), an object from libconvrt. */
static void emit_call(Fn *f, const IrStmt *s)
{
    Cg *cg = f->cg;
    const char *name = ir_callee_name(s->call.fn);
    int32_t n = s->call.nargs;
    if (!name || n != ir_callee_nargs(s->call.fn)) {
        cg_fail(cg, fmt_err("IR calls runtime routine %d with %d arguments", (int)s->call.fn, (int)n));
        return;
    }
    LLVMTypeRef *types = xcalloc((size_t)n, sizeof *types);
    LLVMValueRef *args = xcalloc((size_t)n, sizeof *args);
    for (int32_t i = 0; i < n && !cg->err; i++) {
        const IrArg *g = &s->call.args[i];
        if (!g->value || g->value->type != IR_TYPE_I64 ||
            (g->buf >= 0 && g->buf >= cg->p->nbuffers)) {
            cg_fail(cg, fmt_err("argument %d of %s is not an i64 value or a buffer position",
                                (int)i, name));
            break;
        }
        LLVMValueRef v = emit_expr(f, g->value);
        if (g->buf >= 0) {
            types[i] = cg->t_ptr;
            args[i] = LLVMBuildInBoundsGEP2(f->b, cg->t_f32, buf_ptr(f, g->buf), &v, 1, "");
        } else {
            types[i] = cg->t_i64;
            args[i] = v;
        }
    }
    if (!cg->err) {
        LLVMTypeRef fty = LLVMFunctionType(cg->t_i32, types, (unsigned)n, 0);
        LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
        if (!fn)
            fn = LLVMAddFunction(cg->mod, name, fty);
        LLVMBuildCall2(f->b, fty, fn, args, (unsigned)n, "");
    }
    free(types);
    free(args);
}

static void emit_stmt(Fn *f, const IrStmt *s)
{
    Cg *cg = f->cg;
    if (!s || cg->err)
        return;
    switch (s->kind) {
    case IR_STMT_FOR: {
        if ((s->loop.flags & IR_LOOP_UNROLL) && s->loop.lo->kind == IR_EXPR_INT &&
            s->loop.hi->kind == IR_EXPR_INT) {
            LLVMValueRef saved = f->var[s->loop.var];
            for (int64_t v = s->loop.lo->ival; v < s->loop.hi->ival && !cg->err; v++) {
                f->var[s->loop.var] = i64c(cg, v);
                emit_stmt(f, s->loop.body);
            }
            f->var[s->loop.var] = saved;
            break;
        }
        LLVMValueRef lo = emit_expr(f, s->loop.lo);
        LLVMValueRef hi = emit_expr(f, s->loop.hi);
        if ((s->loop.flags & IR_LOOP_PARALLEL) && !f->in_par)
            emit_parallel(f, s, lo, hi);
        else
            emit_loop(f, s->loop.var, lo, hi, s->loop.body, s->loop.flags);
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
        if (s->store.value->type == IR_TYPE_VF32 && s->store.lanes) {
            emit_scatter(f, s, v);
            break;
        }
        if (s->store.value->type == IR_TYPE_VF32 && s->store.mask) {
            LLVMValueRef ptr = vec_ptr(f, s->store.buf, s->store.idx, true);
            LLVMValueRef args[4] = {v, ptr, LLVMConstInt(cg->t_i32, 4, 0),
                                    emit_expr(f, s->store.mask)};
            masked_intrinsic(f, "llvm.masked.store", args, 4);
            break;
        }
        if (s->store.stream && s->store.value->type == IR_TYPE_VF32) {
            /* non-temporal where the address is vector-aligned (the rows
             * of a large output usually are), else a plain store */
            LLVMValueRef ptr = elem_ptr(f, s->store.buf, s->store.idx);
            unsigned bytes = 4 * LLVMGetVectorSize(LLVMTypeOf(v));
            LLVMValueRef low = LLVMBuildAnd(f->b, LLVMBuildPtrToInt(f->b, ptr, cg->t_i64, ""),
                                            i64c(cg, bytes - 1), "");
            LLVMValueRef aligned = LLVMBuildICmp(f->b, LLVMIntEQ, low, i64c(cg, 0), "aligned");
            LLVMBasicBlockRef nt = LLVMAppendBasicBlockInContext(cg->c, f->fn, "stream");
            LLVMBasicBlockRef plain = LLVMAppendBasicBlockInContext(cg->c, f->fn, "store");
            LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->c, f->fn, "stored");
            LLVMBuildCondBr(f->b, aligned, nt, plain);
            LLVMPositionBuilderAtEnd(f->b, nt);
            LLVMValueRef st = LLVMBuildStore(f->b, v, ptr);
            LLVMSetAlignment(st, bytes);
            LLVMValueRef one = LLVMConstInt(cg->t_i32, 1, 0);
            LLVMSetMetadata(st, LLVMGetMDKindIDInContext(cg->c, "nontemporal", 11),
                            LLVMMDNodeInContext(cg->c, &one, 1));
            LLVMBuildBr(f->b, done);
            LLVMPositionBuilderAtEnd(f->b, plain);
            st = LLVMBuildStore(f->b, v, ptr);
            LLVMSetAlignment(st, 4);
            LLVMBuildBr(f->b, done);
            LLVMPositionBuilderAtEnd(f->b, done);
            f->streamed = true;
            break;
        }
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
        {
            LLVMValueRef v = emit_expr(f, s->assign.value);
            if (s->assign.value->type == IR_TYPE_VBOOL)
                v = mask_barrier(f, v);
            LLVMBuildStore(f->b, v, local_ptr(f, s->assign.local));
        }
        break;
    case IR_STMT_BLOCK:
        for (int32_t i = 0; i < s->block.n; i++)
            emit_stmt(f, s->block.items[i]);
        break;
    case IR_STMT_CALL:
        emit_call(f, s);
        break;
    case IR_STMT_PREFETCH: {
        if (!check_buf(cg, s->store.buf))
            return;
        /* llvm.prefetch(ptr, read, high locality, data cache): no fault
         * whatever the address */
        LLVMValueRef ptr = vec_ptr(f, s->store.buf, s->store.idx, true);
        unsigned id = LLVMLookupIntrinsicID("llvm.prefetch", 13);
        LLVMTypeRef tys[1] = {cg->t_ptr};
        LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 1);
        LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 1);
        LLVMValueRef args[4] = {ptr, LLVMConstInt(cg->t_i32, 0, 0), LLVMConstInt(cg->t_i32, 3, 0),
                                LLVMConstInt(cg->t_i32, 1, 0)};
        LLVMBuildCall2(f->b, fty, fn, args, 4, "");
        break;
    }
    case IR_STMT_AGAIN:
        /* a well-formed one is a call of its group's function */
        cg_fail(cg, fmt_err("IR repeats stage %d where that is not allowed "
                            "(not an earlier stage, or not matching its buffers and slots)",
                            (int)s->again.stage));
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

/* The dim_slots arrays of the descriptor, one global per distinct list:
 * the buffers of a long pipeline mostly have the same dims, and LLVM's
 * constant merging would otherwise merge thousands of equal globals one by
 * one, re-hashing the array of buffers that refers to them each time. */
typedef struct SlotArrays {
    const IrBuffer **buf;       /* the first buffer with each list */
    LLVMValueRef    *g;
    size_t           n, cap;    /* cap: a power of two, or 0 */
} SlotArrays;

static uint64_t slots_hash(const IrBuffer *b)
{
    uint64_t h = 0x9e3779b97f4a7c15ull * (uint64_t)(b->rank + 1);
    for (int32_t j = 0; j < b->rank; j++)
        h = (h ^ (uint64_t)b->dim_slots[j]) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

static bool same_slots(const IrBuffer *a, const IrBuffer *b)
{
    return a->rank == b->rank &&
           (!a->rank || !memcmp(a->dim_slots, b->dim_slots, (size_t)a->rank * sizeof *a->dim_slots));
}

static LLVMValueRef slot_array(Cg *cg, SlotArrays *sa, const IrBuffer *b)
{
    if (b->rank <= 0)
        return LLVMConstNull(cg->t_ptr);
    if ((sa->n + 1) * 2 > sa->cap) {
        size_t cap = sa->cap ? 2 * sa->cap : 64;
        const IrBuffer **buf = xcalloc(cap, sizeof *buf);
        LLVMValueRef *g = xcalloc(cap, sizeof *g);
        for (size_t i = 0; i < sa->cap; i++) {
            if (!sa->buf[i])
                continue;
            size_t k = slots_hash(sa->buf[i]) & (cap - 1);
            while (buf[k])
                k = (k + 1) & (cap - 1);
            buf[k] = sa->buf[i];
            g[k] = sa->g[i];
        }
        free(sa->buf);
        free(sa->g);
        sa->buf = buf;
        sa->g = g;
        sa->cap = cap;
    }
    size_t k = slots_hash(b) & (sa->cap - 1);
    for (; sa->buf[k]; k = (k + 1) & (sa->cap - 1))
        if (same_slots(sa->buf[k], b))
            return sa->g[k];
    LLVMValueRef *v = xcalloc((size_t)b->rank, sizeof *v);
    for (int32_t j = 0; j < b->rank; j++)
        v[j] = i64c(cg, b->dim_slots[j]);
    LLVMValueRef g = const_array(cg, cg->t_i64, v, (uint64_t)b->rank,
                                 ".dim_slots");
    free(v);
    sa->buf[k] = b;
    sa->g[k] = g;
    sa->n++;
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
        if (p->buffers[i].kind != IR_BUF_CONST && p->buffers[i].kind != IR_BUF_LOCAL)
            n++;
    const IrBuffer **order = xcalloc((size_t)n, sizeof *order);
    for (int32_t i = 0; i < p->nbuffers; i++) {
        const IrBuffer *b = &p->buffers[i];
        if (b->kind == IR_BUF_CONST || b->kind == IR_BUF_LOCAL)
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
    SlotArrays sa = {0};
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
            i64c(cg, b->rank), slot_array(cg, &sa, b), names,
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
        LLVMValueRef f[2] = {i64c(cg, order[i]->rank), slot_array(cg, &sa, order[i])};
        bufs[i] = struct_const(cg, f, 2);
    }
    LLVMValueRef bufs_g = cg->err ? LLVMConstNull(cg->t_ptr)
        : const_array(cg, buf_ty, bufs, (uint64_t)nbuf, ".buffers");
    free(bufs);
    free(order);
    free(sa.buf);
    free(sa.g);

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

/* ---- stages and the body ------------------------------------------------ */

/* Up to this many stages the body calls each stage's function directly;
 * beyond it the body walks a constant table, so its code does not grow
 * with the pipeline. */
enum { DIRECT_CALLS_MAX = 64 };

/* The stages' functions, one per group of equal stages (stage_share.h),
 * and what a call passes: ptrs[] holds the base pointers of the group's
 * buffers except its LOCALs (allocas inside the function) and the CONST
 * buffers that every stage of the group uses (the function refers to the
 * global itself, as an unshared stage always did); dimvals[] holds the
 * values of its slots that are not known when compiling. */
typedef struct Stages {
    StageShare   *sh;
    LLVMTypeRef   fn_ty;        /* void (ptr ptrs, ptr dimvals) */
    LLVMValueRef *fn;           /* per group */
    int32_t      *param_at;     /* per group: where its first stage's
                                   abstract buffers start in param[] */
    int32_t      *param;        /* per abstract buffer: index in ptrs[], -1 */
    int32_t      *nparams;      /* per group: entries of ptrs[] */
    int32_t       max_params, max_slots;
    int32_t      *buf_param, *slot_param;   /* for Cg while emitting */
} Stages;

static int32_t stage_nslots(const StageShare *sh, int32_t k)
{
    return sh->slot_at[k + 1] - sh->slot_at[k];
}

static void plan_stages(Cg *cg, Stages *st)
{
    const IrProgram *p = cg->p;
    memset(st, 0, sizeof *st);
    StageShare *sh = st->sh = stage_share(p);
    int32_t ng = sh->ngroups;
    st->fn = xcalloc((size_t)ng, sizeof *st->fn);
    st->param_at = xcalloc((size_t)ng, sizeof *st->param_at);
    st->nparams = xcalloc((size_t)ng, sizeof *st->nparams);
    int32_t total = 0;
    for (int32_t g = 0; g < ng; g++) {
        int32_t k = sh->first[g];
        st->param_at[g] = total;
        total += sh->buf_at[k + 1] - sh->buf_at[k];
    }
    /* param[] first marks the CONST buffers some stage does not share with
     * its group's first stage (-2) */
    st->param = xcalloc((size_t)total, sizeof *st->param);
    for (int32_t k = 0; k < sh->nstages; k++) {
        int32_t g = sh->group[k], k0 = sh->first[g];
        int32_t n = sh->buf_at[k + 1] - sh->buf_at[k];
        for (int32_t a = 0; a < n; a++) {
            int32_t b = sh->bufs[sh->buf_at[k] + a], b0 = sh->bufs[sh->buf_at[k0] + a];
            if (b != b0)
                st->param[st->param_at[g] + a] = -2;
        }
    }
    for (int32_t g = 0; g < ng; g++) {
        int32_t k = sh->first[g], n = sh->buf_at[k + 1] - sh->buf_at[k];
        int32_t np = 0;
        for (int32_t a = 0; a < n; a++) {
            const IrBuffer *b = &p->buffers[sh->bufs[sh->buf_at[k] + a]];
            int32_t *pa = &st->param[st->param_at[g] + a];
            if (b->kind == IR_BUF_LOCAL || (b->kind == IR_BUF_CONST && *pa != -2))
                *pa = -1;
            else
                *pa = np++;
        }
        st->nparams[g] = np;
        if (np > st->max_params)
            st->max_params = np;
        if (stage_nslots(sh, k) > st->max_slots)
            st->max_slots = stage_nslots(sh, k);
    }
    LLVMTypeRef params[2] = {cg->t_ptr, cg->t_ptr};
    st->fn_ty = LLVMFunctionType(cg->t_void, params, 2, 0);
    st->buf_param = xcalloc((size_t)p->nbuffers, sizeof *st->buf_param);
    st->slot_param = xcalloc((size_t)p->nslots, sizeof *st->slot_param);
    for (int32_t i = 0; i < p->nbuffers; i++)
        st->buf_param[i] = -1;
    for (int32_t i = 0; i < p->nslots; i++)
        st->slot_param[i] = -1;
}

static void free_stages(Stages *st)
{
    stage_share_free(st->sh);
    free(st->fn);
    free(st->param_at);
    free(st->param);
    free(st->nparams);
    free(st->buf_param);
    free(st->slot_param);
}

/* NAME__stage_T(ptrs, dimvals), generated from group T's first stage with
 * its buffers and slots read from the two arrays.  Both are noalias: the
 * caller fills them before the call and nothing writes them during it.
 * The buffer pointers loaded from ptrs[] carry no aliasing promise, as
 * those loaded from the body's bufs[] never did. */
static void emit_stage_fn(Cg *cg, Stages *st, int32_t g)
{
    const IrProgram *p = cg->p;
    const StageShare *sh = st->sh;
    int32_t k = sh->first[g];
    char name[256];
    snprintf(name, sizeof name, "%s__stage_%d", p->name, (int)g);
    LLVMValueRef fn = st->fn[g] = LLVMAddFunction(cg->mod, name, st->fn_ty);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    set_target_attrs(cg, fn);
    add_fn_attr(cg, fn, "noinline");
    for (unsigned i = 0; i < 2; i++) {
        add_param_attr(cg, fn, i, "noalias");
        add_param_attr(cg, fn, i, "nocapture");
        add_param_attr(cg, fn, i, "readonly");
    }
    cg->buf_param = st->buf_param;
    cg->slot_param = st->slot_param;
    int32_t nb = sh->buf_at[k + 1] - sh->buf_at[k], ns = stage_nslots(sh, k);
    for (int32_t a = 0; a < nb; a++)
        cg->buf_param[sh->bufs[sh->buf_at[k] + a]] = st->param[st->param_at[g] + a];
    for (int32_t j = 0; j < ns; j++)
        cg->slot_param[sh->slots[sh->slot_at[k] + j]] = j;
    cg->shared = sh->members[g] > 1;

    const IrStmt *stage = sh->stage[k];
    cg->in_kernel = has_kernel_loop(stage);
    if (cg->in_kernel)
        note_kernel_fn(cg, fn);
    Fn sf;
    fn_begin(&sf, cg, fn, false);
    sf.bufs = LLVMGetParam(fn, 0);
    sf.dims = LLVMGetParam(fn, 1);
    LLVMSetValueName2(sf.bufs, "ptrs", 4);
    LLVMSetValueName2(sf.dims, "dimvals", 7);
    emit_stmt(&sf, stage);
    emit_sfence_if_streamed(&sf);
    LLVMBuildRetVoid(sf.b);
    fn_end(&sf);
    cg->in_kernel = false;

    cg->shared = false;
    for (int32_t a = 0; a < nb; a++)
        st->buf_param[sh->bufs[sh->buf_at[k] + a]] = -1;
    for (int32_t j = 0; j < ns; j++)
        st->slot_param[sh->slots[sh->slot_at[k] + j]] = -1;
    cg->buf_param = cg->slot_param = NULL;
}

/* The arrays a body passes to the stage functions, in its entry block:
 * one pair for all calls, since the calls run one after the other. */
static void stage_arrays(Fn *f, const Stages *st, bool always,
                         LLVMValueRef *ptrs, LLVMValueRef *dimvals)
{
    Cg *cg = f->cg;
    *ptrs = *dimvals = LLVMConstNull(cg->t_ptr);
    if (st->max_params || always)
        *ptrs = LLVMBuildAlloca(f->eb, LLVMArrayType2(cg->t_ptr,
                                (uint64_t)(st->max_params ? st->max_params : 1)), "ptrs");
    if (st->max_slots || always)
        *dimvals = LLVMBuildAlloca(f->eb, LLVMArrayType2(cg->t_i64,
                                   (uint64_t)(st->max_slots ? st->max_slots : 1)), "dimvals");
}

/* With profiling, the hook hook(k) for stage k (an i64 value). */
static void emit_profile_hook(Fn *f, LLVMValueRef hook, LLVMValueRef k)
{
    Cg *cg = f->cg;
    if (cg->profile)
        LLVMBuildCall2(f->b, cg->ty_prof, hook, &k, 1, "");
}

/* A few stages: fill the arrays and call, stage after stage. */
static void emit_stage_calls(Fn *f, Stages *st)
{
    Cg *cg = f->cg;
    const StageShare *sh = st->sh;
    LLVMValueRef ptrs, dimvals;
    stage_arrays(f, st, false, &ptrs, &dimvals);
    for (int32_t k = 0; k < sh->nstages && !cg->err; k++) {
        int32_t g = sh->group[k];
        int32_t nb = sh->buf_at[k + 1] - sh->buf_at[k], ns = stage_nslots(sh, k);
        for (int32_t a = 0; a < nb; a++) {
            int32_t i = st->param[st->param_at[g] + a];
            if (i < 0)
                continue;
            LLVMValueRef idx = i64c(cg, i);
            LLVMBuildStore(f->b, buf_ptr(f, sh->bufs[sh->buf_at[k] + a]),
                           LLVMBuildInBoundsGEP2(f->b, cg->t_ptr, ptrs, &idx, 1, ""));
        }
        for (int32_t j = 0; j < ns; j++) {
            LLVMValueRef idx = i64c(cg, j);
            LLVMBuildStore(f->b, dim_value(f, sh->slots[sh->slot_at[k] + j]),
                           LLVMBuildInBoundsGEP2(f->b, cg->t_i64, dimvals, &idx, 1, ""));
        }
        LLVMValueRef args[2] = {ptrs, dimvals};
        emit_profile_hook(f, cg->fn_prof_enter, i64c(cg, k));
        LLVMBuildCall2(f->b, st->fn_ty, st->fn[g], args, 2, "");
        emit_profile_hook(f, cg->fn_prof_leave, i64c(cg, k));
    }
}

static LLVMValueRef i32c(Cg *cg, int64_t v)
{
    return LLVMConstInt(cg->t_i32, (unsigned long long)v, 1);
}

/* Many stages: constant data and one loop.
 *   NAME.stage_fns    [G x {ptr fn, i32 nptrs, i32 ndims}], one per group
 *   NAME.stage_consts [C x ptr]: CONST globals that calls pass in ptrs[]
 *   NAME.stages       [M x i32]: per stage its group g, then nptrs(g)
 *                     buffer references (r >= 0: bufs[r]; r < 0:
 *                     stage_consts[-1 - r]), then ndims(g) slots
 * The body reads an entry, fills ptrs[] and dimvals[] and calls the
 * group's function; its code is the same for any number of stages. */
static void emit_stage_table(Fn *f, Stages *st)
{
    Cg *cg = f->cg;
    const IrProgram *p = cg->p;
    const StageShare *sh = st->sh;
    int32_t ng = sh->ngroups;

    int32_t *const_num = xcalloc((size_t)p->nbuffers, sizeof *const_num);
    LLVMValueRef *consts = NULL;
    int32_t nconsts = 0;
    size_t nwords = 0;
    for (int32_t k = 0; k < sh->nstages; k++)
        nwords += 1 + (size_t)st->nparams[sh->group[k]] + (size_t)stage_nslots(sh, k);
    LLVMValueRef *words = xcalloc(nwords, sizeof *words);
    size_t w = 0;
    for (int32_t k = 0; k < sh->nstages; k++) {
        int32_t g = sh->group[k];
        int32_t nb = sh->buf_at[k + 1] - sh->buf_at[k], ns = stage_nslots(sh, k);
        words[w++] = i32c(cg, g);
        for (int32_t a = 0; a < nb; a++) {
            if (st->param[st->param_at[g] + a] < 0)
                continue;
            int32_t b = sh->bufs[sh->buf_at[k] + a];
            if (p->buffers[b].kind != IR_BUF_CONST) {
                words[w++] = i32c(cg, p->buffers[b].abi_index);
                continue;
            }
            if (!const_num[b]) {
                consts = realloc(consts, (size_t)(nconsts + 1) * sizeof *consts);
                if (!consts) {
                    fputs("convc: out of memory\n", stderr);
                    abort();
                }
                consts[nconsts++] = cg->const_globals[b];
                const_num[b] = nconsts;
            }
            words[w++] = i32c(cg, -const_num[b]);
        }
        for (int32_t j = 0; j < ns; j++)
            words[w++] = i32c(cg, sh->slots[sh->slot_at[k] + j]);
    }
    free(const_num);
    char name[256];
    snprintf(name, sizeof name, "%s.stages", p->name);
    LLVMValueRef table = private_const(cg, LLVMConstArray2(cg->t_i32, words, nwords), name, 4);
    free(words);

    LLVMTypeRef ety = LLVMStructTypeInContext(cg->c, (LLVMTypeRef[]){
        cg->t_ptr, cg->t_i32, cg->t_i32}, 3, 0);
    LLVMValueRef *entries = xcalloc((size_t)ng, sizeof *entries);
    for (int32_t g = 0; g < ng; g++) {
        LLVMValueRef e[3] = {st->fn[g], i32c(cg, st->nparams[g]),
                             i32c(cg, stage_nslots(sh, sh->first[g]))};
        entries[g] = struct_const(cg, e, 3);
    }
    snprintf(name, sizeof name, "%s.stage_fns", p->name);
    LLVMValueRef fns = private_const(cg, LLVMConstArray2(ety, entries, (uint64_t)ng), name, 8);
    free(entries);
    LLVMValueRef consts_g = NULL;
    if (nconsts) {
        snprintf(name, sizeof name, "%s.stage_consts", p->name);
        consts_g = private_const(cg, LLVMConstArray2(cg->t_ptr, consts, (uint64_t)nconsts),
                                 name, 8);
    }
    free(consts);

    LLVMValueRef ptrs, dimvals;
    stage_arrays(f, st, true, &ptrs, &dimvals);
    LLVMBuilderRef b = f->b;
    LLVMContextRef c = cg->c;
    LLVMTypeRef i64 = cg->t_i64, i32 = cg->t_i32;
    LLVMValueRef zero = i64c(cg, 0), one = i64c(cg, 1);
    unsigned loop_kind = LLVMGetMDKindIDInContext(c, "llvm.loop", 9);
#define BLOCK(nm) LLVMAppendBasicBlockInContext(c, f->fn, nm)
#define WORD(at) LLVMBuildSExt(b, LLVMBuildLoad2(b, i32, \
        LLVMBuildInBoundsGEP2(b, i32, table, (LLVMValueRef[]){at}, 1, ""), ""), i64, "")
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
    LLVMBasicBlockRef loop = BLOCK("stage"), ploop = BLOCK("ptr"), platch = ploop;
    LLVMBasicBlockRef parg = NULL, pconst = NULL;
    if (consts_g) {
        parg = BLOCK("ptr.arg");
        pconst = BLOCK("ptr.const");
        platch = BLOCK("ptr.next");
    }
    LLVMBasicBlockRef pdone = BLOCK("ptr.end"), sloop = BLOCK("dim");
    LLVMBasicBlockRef sdone = BLOCK("call"), exit = BLOCK("done");
    LLVMBuildBr(b, loop);

    /* stage: pc at the entry of one stage, which is stage number sk */
    LLVMPositionBuilderAtEnd(b, loop);
    LLVMValueRef pc = LLVMBuildPhi(b, i64, "pc");
    LLVMValueRef sk = cg->profile ? LLVMBuildPhi(b, i64, "k") : NULL;
    LLVMValueRef g = WORD(pc);
    LLVMValueRef ent = LLVMBuildInBoundsGEP2(b, ety, fns, (LLVMValueRef[]){g}, 1, "");
    LLVMValueRef fp = LLVMBuildLoad2(b, cg->t_ptr, LLVMBuildStructGEP2(b, ety, ent, 0, ""), "fn");
    LLVMValueRef np = LLVMBuildSExt(b, LLVMBuildLoad2(b, i32,
        LLVMBuildStructGEP2(b, ety, ent, 1, ""), ""), i64, "nptrs");
    LLVMValueRef ns = LLVMBuildSExt(b, LLVMBuildLoad2(b, i32,
        LLVMBuildStructGEP2(b, ety, ent, 2, ""), ""), i64, "ndims");
    LLVMValueRef p0 = LLVMBuildNSWAdd(b, pc, one, "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, zero, np, ""), ploop, pdone);

    /* ptr: ptrs[i] = bufs[r] or stage_consts[-1 - r] */
    LLVMPositionBuilderAtEnd(b, ploop);
    LLVMValueRef i = LLVMBuildPhi(b, i64, "i");
    LLVMValueRef r = WORD(LLVMBuildNSWAdd(b, p0, i, ""));
    LLVMValueRef v;
    if (consts_g) {
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, r, zero, ""), pconst, parg);
        LLVMPositionBuilderAtEnd(b, parg);
        LLVMValueRef va = LLVMBuildLoad2(b, cg->t_ptr,
            LLVMBuildInBoundsGEP2(b, cg->t_ptr, f->bufs, &r, 1, ""), "");
        LLVMBuildBr(b, platch);
        LLVMPositionBuilderAtEnd(b, pconst);
        LLVMValueRef ci = LLVMBuildNSWSub(b, LLVMBuildNeg(b, r, ""), one, "");
        LLVMValueRef vc = LLVMBuildLoad2(b, cg->t_ptr,
            LLVMBuildInBoundsGEP2(b, cg->t_ptr, consts_g, &ci, 1, ""), "");
        LLVMBuildBr(b, platch);
        LLVMPositionBuilderAtEnd(b, platch);
        v = LLVMBuildPhi(b, cg->t_ptr, "");
        LLVMAddIncoming(v, (LLVMValueRef[]){va, vc}, (LLVMBasicBlockRef[]){parg, pconst}, 2);
    } else {
        v = LLVMBuildLoad2(b, cg->t_ptr, LLVMBuildInBoundsGEP2(b, cg->t_ptr, f->bufs, &r, 1, ""), "");
    }
    LLVMBuildStore(b, v, LLVMBuildInBoundsGEP2(b, cg->t_ptr, ptrs, &i, 1, ""));
    LLVMValueRef i1 = LLVMBuildNSWAdd(b, i, one, "");
    LLVMValueRef br = LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i1, np, ""), ploop, pdone);
    LLVMSetMetadata(br, loop_kind, LLVMMetadataAsValue(c, kernel_loop_md(cg)));
    LLVMAddIncoming(i, (LLVMValueRef[]){zero, i1}, (LLVMBasicBlockRef[]){loop, platch}, 2);

    /* dim: dimvals[j] = dims[slot] */
    LLVMPositionBuilderAtEnd(b, pdone);
    LLVMValueRef s0 = LLVMBuildNSWAdd(b, p0, np, "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, zero, ns, ""), sloop, sdone);
    LLVMPositionBuilderAtEnd(b, sloop);
    LLVMValueRef j = LLVMBuildPhi(b, i64, "j");
    LLVMValueRef slot = WORD(LLVMBuildNSWAdd(b, s0, j, ""));
    LLVMValueRef d = LLVMBuildLoad2(b, i64, LLVMBuildInBoundsGEP2(b, i64, f->dims, &slot, 1, ""), "");
    LLVMBuildStore(b, d, LLVMBuildInBoundsGEP2(b, i64, dimvals, &j, 1, ""));
    LLVMValueRef j1 = LLVMBuildNSWAdd(b, j, one, "");
    br = LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, j1, ns, ""), sloop, sdone);
    LLVMSetMetadata(br, loop_kind, LLVMMetadataAsValue(c, kernel_loop_md(cg)));
    LLVMAddIncoming(j, (LLVMValueRef[]){zero, j1}, (LLVMBasicBlockRef[]){pdone, sloop}, 2);

    /* call, then the next stage */
    LLVMPositionBuilderAtEnd(b, sdone);
    emit_profile_hook(f, cg->fn_prof_enter, sk);
    LLVMBuildCall2(b, st->fn_ty, fp, (LLVMValueRef[]){ptrs, dimvals}, 2, "");
    emit_profile_hook(f, cg->fn_prof_leave, sk);
    LLVMValueRef next = LLVMBuildNSWAdd(b, s0, ns, "");
    LLVMValueRef sk1 = sk ? LLVMBuildNSWAdd(b, sk, one, "") : NULL;
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, next, i64c(cg, (int64_t)nwords), ""),
                    loop, exit);
    LLVMAddIncoming(pc, (LLVMValueRef[]){zero, next}, (LLVMBasicBlockRef[]){pre, sdone}, 2);
    if (sk)
        LLVMAddIncoming(sk, (LLVMValueRef[]){zero, sk1}, (LLVMBasicBlockRef[]){pre, sdone}, 2);
    LLVMPositionBuilderAtEnd(b, exit);
#undef BLOCK
#undef WORD
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
    if (p->vlen > 1) {
        if (p->vlen > 64) {
            cg_fail(cg, fmt_err("vector width %d is not supported", (int)p->vlen));
            return;
        }
        cg->t_vf32 = LLVMVectorType(cg->t_f32, (unsigned)p->vlen);
        cg->t_vi64 = LLVMVectorType(cg->t_i64, (unsigned)p->vlen);
        cg->t_vi1 = LLVMVectorType(cg->t_i1, (unsigned)p->vlen);
    }
    cg->fma = (cg->m->cpu_features & CONVRT_CPU_FMA) != 0;

    /* runtime and libm */
    LLVMTypeRef task_params[3] = {cg->t_ptr, cg->t_i64, cg->t_i64};
    cg->ty_par_task = LLVMFunctionType(cg->t_void, task_params, 3, 0);
    LLVMTypeRef pf_params[3] = {cg->t_i64, cg->t_ptr, cg->t_ptr};
    cg->ty_par_for = LLVMFunctionType(cg->t_void, pf_params, 3, 0);
    cg->fn_par_for = LLVMAddFunction(cg->mod, "convrt_parallel_for",
                                     cg->ty_par_for);
    cg->ty_f32_fn = LLVMFunctionType(cg->t_f32, &cg->t_f32, 1, 0);
    cg->fn_tanhf = LLVMAddFunction(cg->mod, "tanhf", cg->ty_f32_fn);
    cg->fn_expf = LLVMAddFunction(cg->mod, "expf", cg->ty_f32_fn);
    /* The calls are treated as pure so that they may be hoisted and CSE'd:
     * tanhf never sets errno (C11 7.12.5.6 lists no error), and expf's
     * ERANGE on overflow is never read.  nobuiltin: see call_libm. */
    LLVMValueRef libm[2] = {cg->fn_tanhf, cg->fn_expf};
    for (int i = 0; i < 2; i++) {
        add_fn_attr(cg, libm[i], "nounwind");
        add_fn_attr(cg, libm[i], "willreturn");
        add_fn_attr(cg, libm[i], "nobuiltin");
        unsigned kind = LLVMGetEnumAttributeKindForName("memory", 6);
        LLVMAddAttributeAtIndex(libm[i], LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(c, kind, 0));
    }

    if (cg->profile) {
        cg->ty_prof = LLVMFunctionType(cg->t_void, &cg->t_i64, 1, 0);
        cg->fn_prof_enter = LLVMAddFunction(cg->mod, "convrt_profile_enter", cg->ty_prof);
        cg->fn_prof_leave = LLVMAddFunction(cg->mod, "convrt_profile_leave", cg->ty_prof);
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
    /* Each top-level statement (one stage's loop nest) is a stage; stages
     * equal up to their buffers and slots share one function
     * NAME__stage_T, called in order from the body: the optimiser then
     * works on a few small functions rather than one that grows with the
     * pipeline, so compile time and memory stay linear in the number of
     * stages and small. */
    Stages st;
    plan_stages(cg, &st);
    for (int32_t g = 0; g < st.sh->ngroups && !cg->err; g++)
        emit_stage_fn(cg, &st, g);
    Fn f;
    fn_begin(&f, cg, body, false);
    f.bufs = LLVMGetParam(body, 0);
    f.dims = LLVMGetParam(body, 1);
    if (!cg->err) {
        if (st.sh->nstages <= DIRECT_CALLS_MAX)
            emit_stage_calls(&f, &st);
        else
            emit_stage_table(&f, &st);
    }
    free_stages(&st);
    LLVMBuildRetVoid(f.b);
    fn_end(&f);

    LLVMValueRef desc = emit_descriptor(cg, body);
    emit_entry(cg, p->name, "convrt_pipeline_run", desc);
    snprintf(name, sizeof name, "%s_output_shapes", p->name);
    emit_entry(cg, name, "convrt_pipeline_output_shapes", desc);
    free(cg->const_globals);
}

/* ---- the public API -------------------------------------------------------- */

/* The micro-kernels' functions arrive vectorised, unrolled and with their
 * loop-invariant values computed outside their loops: all they need is
 * promotion to registers and clean-up.  The standard pipeline would spend
 * most of a CNN block's compile time re-analysing them (the vectorisers
 * and instcombine walk their large bodies several times), so they get this
 * short pipeline and are then hidden from the standard one with optnone,
 * removed again before instruction selection. */
static const char *const kernel_pipeline =
    "function(sroa,early-cse<memssa>,instcombine<no-verify-fixpoint>,simplifycfg,"
    "loop(loop-rotate),loop-mssa(licm),loop(indvars),gvn,instcombine<no-verify-fixpoint>,"
    "simplifycfg)";

/* Interprocedural passes may replace a function by a new one under the
 * same name (dead argument elimination, argument promotion: a stage
 * function called directly with a constant argument), so optnone is
 * taken off by name, not through the handles it was put on with. */
static void set_optnone(CgModule *m, LLVMValueRef *fns, char **names, int n, bool on)
{
    LLVMContextRef c = LLVMGetModuleContext(m->mod);
    unsigned kind = LLVMGetEnumAttributeKindForName("optnone", 7);
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    for (int i = 0; i < n; i++) {
        if (on) {
            size_t len = 0;
            names[i] = xstrdup(LLVMGetValueName2(fns[i], &len));
            LLVMAddAttributeAtIndex(fns[i], LLVMAttributeFunctionIndex,
                                    LLVMCreateEnumAttribute(c, noinline, 0));
            LLVMAddAttributeAtIndex(fns[i], LLVMAttributeFunctionIndex,
                                    LLVMCreateEnumAttribute(c, kind, 0));
        } else if (names[i]) {
            LLVMValueRef fn = LLVMGetNamedFunction(m->mod, names[i]);
            if (fn)
                LLVMRemoveEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex, kind);
            free(names[i]);
            names[i] = NULL;
        }
    }
}

static LLVMErrorRef optimise(CgModule *m, int opt, LLVMValueRef *kernel_fns, int nkernel)
{
    LLVMPassBuilderOptionsRef o = LLVMCreatePassBuilderOptions();
    bool vec = opt >= 2;
    LLVMPassBuilderOptionsSetLoopVectorization(o, vec);
    LLVMPassBuilderOptionsSetSLPVectorization(o, vec);
    LLVMPassBuilderOptionsSetLoopInterleaving(o, vec);
    LLVMPassBuilderOptionsSetLoopUnrolling(o, opt >= 1);
    LLVMErrorRef e = NULL;
    char **names = xcalloc((size_t)nkernel, sizeof *names);
    if (nkernel && opt >= 1) {
        e = LLVMRunPasses(m->mod, kernel_pipeline, m->tm, o);
        if (!e)
            set_optnone(m, kernel_fns, names, nkernel, true);
    }
    char pipeline[32];
    snprintf(pipeline, sizeof pipeline, "default<O%d>", opt);
    if (!e)
        e = LLVMRunPasses(m->mod, pipeline, m->tm, o);
    if (nkernel && opt >= 1)
        set_optnone(m, kernel_fns, names, nkernel, false);
    free(names);
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

    Cg cg = {.p = p, .m = m, .c = m->ctx, .mod = m->mod, .profile = t && t->profile};
    build_module(&cg);
    if (cg.err) {
        set_err(err, fmt_err("%s: %s", p->name, cg.err));
        free(cg.err);
        free(cg.kernel_fns);
        cg_free(m);
        return NULL;
    }
    char *msg = NULL;
    if (LLVMVerifyModule(m->mod, LLVMReturnStatusAction, &msg)) {
        set_err(err, fmt_err("%s: invalid LLVM IR (a code generator bug): %s",
                             p->name, msg ? msg : "?"));
        LLVMDisposeMessage(msg);
        free(cg.kernel_fns);
        cg_free(m);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    int opt = t ? t->opt_level : 3;
    LLVMErrorRef e = optimise(m, opt, cg.kernel_fns, cg.nkernel_fns);
    free(cg.kernel_fns);
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

/* The module and its context, given back to LLVM; m keeps its names. */
static void release_module(CgModule *m)
{
    if (m->mod)
        LLVMDisposeModule(m->mod);
    if (m->tsc)
        LLVMOrcDisposeThreadSafeContext(m->tsc);
    m->mod = NULL;
    m->tsc = NULL;
    m->ctx = NULL;
}

/* Assembly or an object file into a memory buffer, then into out.
 * Emission runs the code generator's IR passes on the module it is given,
 * so a module that is used afterwards is emitted from a copy; a consumed
 * one (a long pipeline's copy would double the memory) is emitted itself
 * and then released, whether the emission succeeded or not. */
static int emit(CgModule *m, LLVMCodeGenFileType type, bool consume, FILE *out, char **err)
{
    if (err)
        *err = NULL;
    if (!m || !m->mod) {
        set_err(err, fmt_err("no module to emit"));
        return -1;
    }
    cg_llvm_enter();
    LLVMModuleRef mod = consume ? m->mod : LLVMCloneModule(m->mod);
    LLVMMemoryBufferRef buf = NULL;
    char *msg = NULL;
    int rc = 0;
    if (LLVMTargetMachineEmitToMemoryBuffer(m->tm, mod, type, &msg, &buf)) {
        set_err(err, fmt_err("cannot emit %s: %s", type == LLVMObjectFile ? "the object" : "assembly",
                             msg ? msg : "?"));
        rc = -1;
    }
    LLVMDisposeMessage(msg);
    if (consume)
        release_module(m);
    else
        LLVMDisposeModule(mod);
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
    int rc = emit(m, LLVMAssemblyFile, false, out, &err);
    if (rc != 0)
        fprintf(stderr, "convc: error: %s\n", err);
    free(err);
    return rc;
}

int cg_emit_object(CgModule *m, FILE *out, char **err)
{
    return emit(m, LLVMObjectFile, false, out, err);
}

int cg_emit_object_consume(CgModule *m, FILE *out, char **err)
{
    return emit(m, LLVMObjectFile, true, out, err);
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
