/* codegen/codegen.c - the entry points of codegen.h: an IrProgram
 * compiled into an optimised LLVM module (the micro-kernels' functions by a
 * short pipeline of their own), printed as LLVM IR, emitted as an object
 * or assembly, or handed to the JIT (jit.c). */
#include "cg.h"

#include <errno.h>
#include <stdio.h>

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
            names[i] = cg_xstrdup(LLVMGetValueName2(fns[i], &len));
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
    char **names = cg_xcalloc((size_t)nkernel, sizeof *names);
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
    if (!p || !cg_is_c_identifier(p->name) || strlen(p->name) > 200) {
        cg_set_err(err, cg_fmt_err("pipeline name '%s' is not a C identifier",
                                   p && p->name ? p->name : "(null)"));
        return NULL;
    }
    CgModule *m = cg_xcalloc(1, sizeof *m);
    m->name = cg_xstrdup(p->name);
    if (!cg_choose_target(m, t, err) || !(m->tm = cg_make_tm(m, err))) {
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
    cg_build_module(&cg);
    if (cg.err) {
        cg_set_err(err, cg_fmt_err("%s: %s", p->name, cg.err));
        free(cg.err);
        free(cg.kernel_fns);
        cg_free(m);
        return NULL;
    }
    char *msg = NULL;
    if (LLVMVerifyModule(m->mod, LLVMReturnStatusAction, &msg)) {
        cg_set_err(err, cg_fmt_err("%s: invalid LLVM IR (a code generator bug): %s",
                                   p->name, msg ? msg : "?"));
        LLVMDisposeMessage(msg);
        free(cg.kernel_fns);
        cg_free(m);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    int opt = t ? t->opt_level : 3;
    if (t && opt >= 1)
        m->split = cg_split_start(m, kernel_pipeline, opt, cg.kernel_fns, &cg.nkernel_fns, t->threads,
                                  t->objects);
    LLVMErrorRef e = optimise(m, opt, cg.kernel_fns, cg.nkernel_fns);
    free(cg.kernel_fns);
    char *split_err = NULL;
    int split_rc = cg_split_finish(m->split, &split_err);
    if (split_rc == 0 && !e)
        split_rc = cg_split_link(m->split, m, &split_err);
    if (e) {
        char *em = LLVMGetErrorMessage(e);
        cg_set_err(err, cg_fmt_err("%s: optimisation failed: %s", p->name, em));
        LLVMDisposeErrorMessage(em);
        free(split_err);
        cg_free(m);
        return NULL;
    }
    if (split_rc != 0) {
        cg_set_err(err, cg_fmt_err("%s: %s", p->name, split_err ? split_err : "?"));
        free(split_err);
        cg_free(m);
        return NULL;
    }
    return m;
}

CgModule *cg_compile(const IrProgram *p, const CgTarget *t, char **err)
{
    if (err)
        *err = NULL;
    cg_llvm_init();
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
        cg_set_err(err, cg_fmt_err("no module to emit"));
        return -1;
    }
    cg_llvm_enter();
    LLVMModuleRef mod = consume ? m->mod : LLVMCloneModule(m->mod);
    LLVMMemoryBufferRef buf = NULL;
    char *msg = NULL;
    int rc = 0;
    if (LLVMTargetMachineEmitToMemoryBuffer(m->tm, mod, type, &msg, &buf)) {
        cg_set_err(err, cg_fmt_err("cannot emit %s: %s", type == LLVMObjectFile ? "the object" : "assembly",
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
            cg_set_err(err, cg_fmt_err("cannot write the %s: %s", type == LLVMObjectFile ? "object" : "assembly",
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

int cg_emit_objects_consume(CgModule *m, CgObjects *out, char **err)
{
    memset(out, 0, sizeof *out);
    int n = 1 + cg_split_count(m ? m->split : NULL);
    out->data = cg_xcalloc((size_t)n, sizeof *out->data);
    out->len = cg_xcalloc((size_t)n, sizeof *out->len);
    FILE *mem = open_memstream(&out->data[0], &out->len[0]);
    if (!mem) {
        cg_set_err(err, cg_fmt_err("cannot emit the object: %s", strerror(errno)));
        cg_objects_free(out);
        return -1;
    }
    int rc = emit(m, LLVMObjectFile, true, mem, err);
    if (fclose(mem) != 0 && rc == 0) {
        cg_set_err(err, cg_fmt_err("cannot emit the object: %s", strerror(errno)));
        rc = -1;
    }
    out->n = 1;
    for (int k = 1; k < n && rc == 0; k++, out->n++)
        out->data[k] = cg_split_take(m->split, k - 1, &out->len[k]);
    if (rc != 0)
        cg_objects_free(out);
    return rc;
}

void cg_objects_free(CgObjects *o)
{
    if (!o)
        return;
    if (o->data)
        for (int k = 0; k < o->n; k++)
            free(o->data[k]);
    free(o->data);
    free(o->len);
    memset(o, 0, sizeof *o);
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
    cg_split_free(m->split);
    free(m->triple);
    free(m->cpu);
    free(m->features);
    free(m->name);
    free(m);
}
