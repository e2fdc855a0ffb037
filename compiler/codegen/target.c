/* codegen/target.c - LLVM's targets: initialisation, the CPU names and
 * features the compiler knows, target machines, and the guard that turns
 * LLVM failing hard (a fatal error, out of memory) into a message and an
 * exit instead of a crash. */
#include "cg.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

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

LLVMTargetMachineRef cg_make_tm(const CgModule *m, char **err)
{
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(m->triple, &target, &msg)) {
        cg_set_err(err, cg_fmt_err("no LLVM target for %s: %s", m->triple,
                                   msg ? msg : "?"));
        LLVMDisposeMessage(msg);
        return NULL;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
        target, m->triple, m->cpu, m->features, m->level, LLVMRelocPIC,
        LLVMCodeModelDefault);
    if (!tm)
        cg_set_err(err, cg_fmt_err("cannot create a target machine for %s (cpu %s)",
                                   m->triple, m->cpu));
    return tm;
}

struct LLVMOpaqueTargetMachine *cg_new_target_machine(const CgModule *m,
                                                      char **err)
{
    return cg_make_tm(m, err);
}

/* Fills triple, cpu, features, level, cpu_features of m from t. */
bool cg_choose_target(CgModule *m, const CgTarget *t, char **err)
{
    const char *cpu = (t && t->cpu && *t->cpu) ? t->cpu : "native";
    int opt = t ? t->opt_level : 3;
    if (opt < 0 || opt > 3) {
        cg_set_err(err, cg_fmt_err("optimisation level %d is not in 0..3", opt));
        return false;
    }
    char *triple = LLVMGetDefaultTargetTriple();
    m->triple = cg_xstrdup(triple);
    LLVMDisposeMessage(triple);
    m->level = codegen_level(opt);
    if (!strcmp(cpu, "native")) {
        char *name = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
        m->cpu = cg_xstrdup(name);
        m->features = cg_xstrdup(feat);
        LLVMDisposeMessage(name);
        LLVMDisposeMessage(feat);
        m->cpu_features = features_from_string(m->features);
        return true;
    }
    for (int i = 0; i < N_KNOWN_CPUS; i++)
        if (!strcmp(cpu, known_cpus[i].name)) {
            m->cpu = cg_xstrdup(cpu);
            m->features = cg_xstrdup("");
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
    cg_set_err(err, cg_fmt_err("unknown CPU '%s' (known: native, %s)", cpu,
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
    CgTarget t = { .cpu = cpu, .opt_level = 3 };
    cg_llvm_enter();
    bool ok = cg_choose_target(&m, &t, err);
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
            /* Zen 4 splits each 512-bit operation over its two 256-bit
             * units; Zen 5 and the Xeons have 512-bit FMA units */
            out->fmas = strcmp(name, "znver4") == 0 ? 1 : 2;
            if (strcmp(name, "znver4") == 0)
                out->stream_min_bytes = TARGET_STREAM_MIN_BYTES_ZNVER4;
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
    CgTarget t = { .cpu = cpu, .opt_level = opt_level };
    cg_llvm_enter();
    bool ok = cg_choose_target(&m, &t, err);
    cg_llvm_leave();
    char *id = NULL;
    if (ok) {
        unsigned major, minor, patch;
        LLVMGetVersion(&major, &minor, &patch);
        id = cg_fmt_err("%s %s %s -O%d LLVM-%u.%u.%u", m.triple, m.cpu, m.features, opt_level, major, minor,
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
