/* jit.c - ORC LLJIT over a CgModule, or over an object made earlier (see
 * jit.h). */
#include "jit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>

#include "convrt.h"
#include "convrt_profile.h"

struct Jit {
    LLVMOrcLLJITRef lljit;
    CgModule       *cg;         /* kept for the names; its module is gone */
    const convrt_pipeline *pipeline;
};

static void set_err(char **err, const char *what, LLVMErrorRef e)
{
    char *msg = e ? LLVMGetErrorMessage(e) : NULL;
    char *s = NULL;
    if (asprintf(&s, "jit: %s%s%s", what, msg ? ": " : "", msg ? msg : "") < 0)
        s = NULL;
    if (msg)
        LLVMDisposeErrorMessage(msg);
    if (err)
        *err = s;
    else
        free(s);
}

/* What generated code may call.  Given as absolute symbols, so the JIT
 * needs neither -rdynamic nor a shared runtime: convc links libconvrt
 * statically.  The libm entries cover what LLVM lowers intrinsics to. */
static LLVMErrorRef define_runtime(LLVMOrcLLJITRef J, LLVMOrcJITDylibRef jd)
{
    static const struct { const char *name; void (*addr)(void); } syms[] = {
        {"convrt_pipeline_run", (void (*)(void))convrt_pipeline_run},
        {"convrt_pipeline_output_shapes",
         (void (*)(void))convrt_pipeline_output_shapes},
        {"convrt_parallel_for", (void (*)(void))convrt_parallel_for},
        {"convrt_fft_conv1d", (void (*)(void))convrt_fft_conv1d},
        {"convrt_fft_conv2d", (void (*)(void))convrt_fft_conv2d},
        {"convrt_profile_enter", (void (*)(void))convrt_profile_enter},
        {"convrt_profile_leave", (void (*)(void))convrt_profile_leave},
        {"tanhf", (void (*)(void))tanhf},
        {"expf", (void (*)(void))expf},
        {"exp2f", (void (*)(void))exp2f},
        {"sqrtf", (void (*)(void))sqrtf},
        {"fminf", (void (*)(void))fminf},
        {"fmaxf", (void (*)(void))fmaxf},
        {"memset", (void (*)(void))memset},
        {"memcpy", (void (*)(void))memcpy},
        {"memmove", (void (*)(void))memmove},
    };
    enum { N = sizeof syms / sizeof syms[0] };
    LLVMOrcCSymbolMapPair pairs[N];
    for (int i = 0; i < N; i++) {
        pairs[i].Name = LLVMOrcLLJITMangleAndIntern(J, syms[i].name);
        pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)syms[i].addr;
        pairs[i].Sym.Flags.GenericFlags =
            LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
        pairs[i].Sym.Flags.TargetFlags = 0;
    }
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, N);
    LLVMErrorRef e = LLVMOrcJITDylibDefine(jd, mu);
    if (e)
        LLVMOrcDisposeMaterializationUnit(mu);
    return e;
}

/* An LLJIT on jtmb (consumed) whose main dylib holds the runtime symbols
 * and falls back to the process's; NULL after set_err. */
static Jit *new_jit(LLVMOrcJITTargetMachineBuilderRef jtmb, char **err)
{
    Jit *j = calloc(1, sizeof *j);
    if (!j) {
        LLVMOrcDisposeJITTargetMachineBuilder(jtmb);
        set_err(err, "out of memory", NULL);
        return NULL;
    }
    /* LLJIT's compile layer runs codegen only, no IR optimisation. */
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->lljit, builder);
    if (e) {
        set_err(err, "cannot create LLJIT", e);
        j->lljit = NULL;
        jit_free(j);
        return NULL;
    }
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
    if ((e = define_runtime(j->lljit, jd))) {
        set_err(err, "cannot define the runtime symbols", e);
        jit_free(j);
        return NULL;
    }
    LLVMOrcDefinitionGeneratorRef gen = NULL;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
        &gen, LLVMOrcLLJITGetGlobalPrefix(j->lljit), NULL, NULL);
    if (e)
        LLVMConsumeError(e);    /* only a fallback */
    else
        LLVMOrcJITDylibAddGenerator(jd, gen);
    return j;
}

/* Materialise NAME_pipeline: this is when machine code is made (or an
 * object linked).  false after set_err. */
static bool find_pipeline(Jit *j, const char *name, char **err)
{
    char sym[256];
    snprintf(sym, sizeof sym, "%s_pipeline", name);
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef e = LLVMOrcLLJITLookup(j->lljit, &addr, sym);
    if (e) {
        set_err(err, "cannot materialise the pipeline", e);
        return false;
    }
    j->pipeline = (const convrt_pipeline *)(uintptr_t)addr;
    return true;
}

static Jit *create(CgModule *m, char **err)
{
    if (!m) {
        set_err(err, "no module", NULL);
        return NULL;
    }
    char *tm_err = NULL;
    LLVMTargetMachineRef tm = cg_new_target_machine(m, &tm_err);
    if (!tm) {
        if (err)
            *err = tm_err;
        else
            free(tm_err);
        cg_free(m);
        return NULL;
    }
    /* The builder takes the TM and gives the JIT an identical one. */
    Jit *j = new_jit(LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm), err);
    if (!j) {
        cg_free(m);
        return NULL;
    }
    j->cg = m;

    LLVMOrcThreadSafeContextRef tsc = NULL;
    LLVMModuleRef mod = cg_take_module(m, &tsc);
    if (!mod) {
        set_err(err, "the module was already taken", NULL);
        jit_free(j);
        return NULL;
    }
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc);
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
    LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->lljit, jd, tsm);
    if (e) {
        LLVMOrcDisposeThreadSafeModule(tsm);
        set_err(err, "cannot add the module", e);
        jit_free(j);
        return NULL;
    }
    if (!find_pipeline(j, cg_pipeline_name(m), err)) {
        jit_free(j);
        return NULL;
    }
    return j;
}

/* The objects need no code generation, so the JIT's own target machine
 * (the host's) is never used to compile anything: it only has to exist. */
static Jit *create_from_objects(const char *name, int n, const void *const *objs,
                                const size_t *lens, char **err)
{
    LLVMOrcJITTargetMachineBuilderRef jtmb = NULL;
    LLVMErrorRef e = LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb);
    if (e) {
        set_err(err, "cannot describe the host", e);
        return NULL;
    }
    Jit *j = new_jit(jtmb, err);
    if (!j)
        return NULL;
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
    for (int i = 0; i < n; i++) {
        LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(objs[i], lens[i], name);
        if ((e = LLVMOrcLLJITAddObjectFile(j->lljit, jd, buf))) {   /* takes buf */
            set_err(err, "cannot add the object", e);
            jit_free(j);
            return NULL;
        }
    }
    if (!find_pipeline(j, name, err)) {
        jit_free(j);
        return NULL;
    }
    return j;
}

Jit *jit_create_from_objects(const char *name, int n, const void *const *objs,
                             const size_t *lens, char **err)
{
    if (err)
        *err = NULL;
    cg_llvm_init();
    cg_llvm_enter();
    Jit *j = create_from_objects(name, n, objs, lens, err);
    cg_llvm_leave();
    return j;
}

Jit *jit_create(CgModule *m, char **err)
{
    if (err)
        *err = NULL;
    cg_llvm_enter();    /* machine code is generated here, by the lookup */
    Jit *j = create(m, err);
    cg_llvm_leave();
    return j;
}

const convrt_pipeline *jit_pipeline(Jit *j)
{
    return j ? j->pipeline : NULL;
}

void *jit_lookup(Jit *j, const char *symbol)
{
    if (!j || !j->lljit)
        return NULL;
    LLVMOrcExecutorAddress addr = 0;
    cg_llvm_enter();
    LLVMErrorRef e = LLVMOrcLLJITLookup(j->lljit, &addr, symbol);
    cg_llvm_leave();
    if (e) {
        LLVMConsumeError(e);
        return NULL;
    }
    return (void *)(uintptr_t)addr;
}

void jit_free(Jit *j)
{
    if (!j)
        return;
    if (j->lljit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->lljit);
        if (e)
            LLVMConsumeError(e);
    }
    cg_free(j->cg);
    free(j);
}
