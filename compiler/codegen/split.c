/* codegen/split.c - the largest micro-kernel functions of a module
 * optimised on threads of their own (CgTarget.threads > 1) and either
 * compiled there too, each into an object of its own (CgTarget.objects;
 * for the JIT, which links any number of objects), or linked back into
 * the module (cg_split_link) for its one object.
 *
 * Most of a CNN block's compile time is the kernel pipeline and the code
 * generation of its stages' parallel task functions, and these are
 * independent of each other and of the rest of the module: a task calls
 * only intrinsics and the runtime and reads only constants.  So
 * cg_split_start takes every such function of at least SPLIT_MIN_INSTS
 * instructions (when there are two or more) out of the module: the module
 * is written as bitcode, each thread reads it into an LLVM context of its
 * own, keeps one function (its constants are copied with it), runs the
 * same kernel pipeline on it and emits its object (or its bitcode), while
 * the calling thread optimises what is left (the function is a
 * declaration there).  cg_split_finish waits for the threads.  Every
 * function goes through the passes and code generation the whole module
 * would have given it, so its machine code is the same either way.
 *
 * Needs: a verified, unoptimised module and its kernel functions.
 * Establishes: those functions optimised (and, with objects, compiled)
 * apart; the rest of the module unchanged but for their declarations. */
#include "cg.h"

#include <pthread.h>
#include <stdatomic.h>

#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Linker.h>

/* Smaller functions are not worth a thread: reading the module's bitcode
 * costs the thread more than their code generation. */
enum { SPLIT_MIN_INSTS = 2000, SPLIT_MAX_DEPTH = 8 };

struct CgPart {
    char  *name;
    char  *obj;         /* the object (or bitcode), malloc'ed, or NULL after err */
    size_t len;
    char  *err;
};

struct CgSplit {
    const CgModule *m;
    const char     *pipeline;   /* the kernel pipeline (codegen.c) */
    int             opt;
    bool            objects;    /* emit objects, else optimised bitcode */
    bool            linked;     /* the parts are back in the module */
    LLVMMemoryBufferRef bitcode;
    CgPart         *parts;
    int             nparts;
    atomic_int      next;
    pthread_t      *threads;
    int             nthreads;
};

static int count_insts(LLVMValueRef fn)
{
    int n = 0;
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
        for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
            n++;
    return n;
}

/* Whether operand v may go with its function to another module: a
 * declared function, a constant, or an internal global whose initialiser
 * may (copied there). */
static bool movable_operand(LLVMValueRef self, LLVMValueRef v, int depth)
{
    if (!v || depth > SPLIT_MAX_DEPTH)
        return !v;
    if (LLVMIsAFunction(v))
        return v == self || LLVMCountBasicBlocks(v) == 0;
    if (LLVMIsAGlobalVariable(v)) {
        LLVMLinkage l = LLVMGetLinkage(v);
        if (l != LLVMInternalLinkage && l != LLVMPrivateLinkage)
            return false;
        return movable_operand(self, LLVMGetInitializer(v), depth + 1);
    }
    if (LLVMIsAGlobalValue(v))
        return false;       /* aliases, ifuncs */
    if (LLVMIsAConstant(v) && !LLVMIsABlockAddress(v)) {
        int n = LLVMGetNumOperands(v);
        for (int i = 0; i < n; i++)
            if (!movable_operand(self, LLVMGetOperand(v, (unsigned)i), depth + 1))
                return false;
    }
    return true;
}

static bool movable(LLVMValueRef fn)
{
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
        for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i)) {
            int n = LLVMGetNumOperands(i);
            for (int k = 0; k < n; k++) {
                LLVMValueRef v = LLVMGetOperand(i, (unsigned)k);
                if ((LLVMIsAConstant(v) || LLVMIsAFunction(v)) && !movable_operand(fn, v, 0))
                    return false;
            }
        }
    return true;
}

/* fn replaced, everywhere in its module, by a declaration of the same name
 * and type with external linkage. */
static void make_declaration(LLVMModuleRef mod, LLVMValueRef fn)
{
    size_t len = 0;
    char *name = cg_xstrdup(LLVMGetValueName2(fn, &len));
    LLVMTypeRef ty = LLVMGlobalGetValueType(fn);
    LLVMSetValueName2(fn, "", 0);
    LLVMValueRef decl = LLVMAddFunction(mod, name, ty);
    LLVMReplaceAllUsesWith(fn, decl);
    LLVMDeleteFunction(fn);
    free(name);
}

/* The thread's own module: the bitcode read into a new context, every
 * function but part's made a declaration and every external variable
 * too; the internal ones it does not read are removed by globaldce. */
static void compile_part(CgSplit *s, CgPart *part)
{
    LLVMContextRef c = LLVMContextCreate();
    LLVMModuleRef mod = NULL;
    LLVMMemoryBufferRef bc = LLVMCreateMemoryBufferWithMemoryRange(
        LLVMGetBufferStart(s->bitcode), LLVMGetBufferSize(s->bitcode), "part", 0);
    if (LLVMParseBitcodeInContext2(c, bc, &mod)) {
        part->err = cg_fmt_err("cannot read back the module's bitcode");
        LLVMDisposeMemoryBuffer(bc);
        LLVMContextDispose(c);
        return;
    }
    LLVMDisposeMemoryBuffer(bc);
    LLVMValueRef keep = LLVMGetNamedFunction(mod, part->name);
    if (!keep || LLVMCountBasicBlocks(keep) == 0) {
        part->err = cg_fmt_err("the bitcode has no function %s", part->name);
        LLVMDisposeModule(mod);
        LLVMContextDispose(c);
        return;
    }
    for (LLVMValueRef f = LLVMGetFirstFunction(mod), next; f; f = next) {
        next = LLVMGetNextFunction(f);
        if (f != keep && LLVMCountBasicBlocks(f) > 0)
            make_declaration(mod, f);
    }
    for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g)) {
        LLVMLinkage l = LLVMGetLinkage(g);
        if (l != LLVMInternalLinkage && l != LLVMPrivateLinkage && LLVMGetInitializer(g)) {
            LLVMSetInitializer(g, NULL);
            LLVMSetLinkage(g, LLVMExternalLinkage);
        }
    }
    LLVMSetLinkage(keep, LLVMExternalLinkage);

    char *err = NULL;
    LLVMTargetMachineRef tm = cg_make_tm(s->m, &err);
    if (!tm) {
        part->err = err;
    } else {
        LLVMPassBuilderOptionsRef o = LLVMCreatePassBuilderOptions();
        LLVMErrorRef e = NULL;
        if (s->opt >= 1) {
            size_t n = strlen(s->pipeline) + sizeof "globaldce,";
            char *pipeline = cg_xcalloc(n, 1);
            snprintf(pipeline, n, "globaldce,%s", s->pipeline);
            e = LLVMRunPasses(mod, pipeline, tm, o);
            free(pipeline);
        }
        LLVMDisposePassBuilderOptions(o);
        LLVMMemoryBufferRef buf = NULL;
        char *msg = NULL;
        if (e) {
            char *em = LLVMGetErrorMessage(e);
            part->err = cg_fmt_err("optimisation failed: %s", em);
            LLVMDisposeErrorMessage(em);
        } else if (!s->objects) {
            buf = LLVMWriteBitcodeToMemoryBuffer(mod);
        } else if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &buf)) {
            part->err = cg_fmt_err("cannot emit the object of %s: %s", part->name, msg ? msg : "?");
        }
        if (buf) {
            part->len = LLVMGetBufferSize(buf);
            part->obj = malloc(part->len ? part->len : 1);
            if (!part->obj) {
                fputs("convc: out of memory\n", stderr);
                abort();
            }
            memcpy(part->obj, LLVMGetBufferStart(buf), part->len);
            LLVMDisposeMemoryBuffer(buf);
        }
        LLVMDisposeMessage(msg);
        LLVMDisposeTargetMachine(tm);
    }
    LLVMDisposeModule(mod);
    LLVMContextDispose(c);
}

static void *worker(void *arg)
{
    CgSplit *s = arg;
    for (;;) {
        int i = atomic_fetch_add(&s->next, 1);
        if (i >= s->nparts)
            return NULL;
        compile_part(s, &s->parts[i]);
    }
}

static int by_size_desc(const void *x, const void *y)
{
    const int *a = x, *b = y;
    return (b[1] > a[1]) - (b[1] < a[1]);
}

CgSplit *cg_split_start(CgModule *m, const char *pipeline, int opt, LLVMValueRef *fns,
                        int *nfns, int threads, bool objects)
{
    if (threads < 2 || *nfns < 2)
        return NULL;
    int (*cand)[2] = cg_xcalloc((size_t)*nfns, sizeof *cand);     /* index, size */
    int n = 0;
    for (int i = 0; i < *nfns; i++) {
        if (LLVMGetLinkage(fns[i]) != LLVMInternalLinkage)
            continue;
        int size = count_insts(fns[i]);
        if (size >= SPLIT_MIN_INSTS && movable(fns[i])) {
            cand[n][0] = i;
            cand[n][1] = size;
            n++;
        }
    }
    if (n < 2) {
        free(cand);
        return NULL;
    }
    qsort(cand, (size_t)n, sizeof *cand, by_size_desc);    /* the largest first */

    CgSplit *s = cg_xcalloc(1, sizeof *s);
    s->m = m;
    s->pipeline = pipeline;
    s->opt = opt;
    s->objects = objects;
    s->bitcode = LLVMWriteBitcodeToMemoryBuffer(m->mod);
    s->parts = cg_xcalloc((size_t)n, sizeof *s->parts);
    s->nparts = n;
    bool *gone = cg_xcalloc((size_t)*nfns, sizeof *gone);
    for (int k = 0; k < n; k++) {
        size_t len = 0;
        LLVMValueRef fn = fns[cand[k][0]];
        s->parts[k].name = cg_xstrdup(LLVMGetValueName2(fn, &len));
        make_declaration(m->mod, fn);
        gone[cand[k][0]] = true;
    }
    int kept = 0;
    for (int i = 0; i < *nfns; i++)
        if (!gone[i])
            fns[kept++] = fns[i];
    *nfns = kept;
    free(gone);
    free(cand);

    s->nthreads = threads < n ? threads : n;
    s->threads = cg_xcalloc((size_t)s->nthreads, sizeof *s->threads);
    for (int t = 0; t < s->nthreads; t++)
        if (pthread_create(&s->threads[t], NULL, worker, s) != 0) {
            s->nthreads = t;    /* the threads made, or this one, do the rest */
            break;
        }
    if (s->nthreads == 0)
        worker(s);
    return s;
}

/* Waits for the threads and drops the bitcode they read. */
static void join(CgSplit *s)
{
    for (int t = 0; t < s->nthreads; t++)
        pthread_join(s->threads[t], NULL);
    free(s->threads);
    s->threads = NULL;
    s->nthreads = 0;
    if (s->bitcode)
        LLVMDisposeMemoryBuffer(s->bitcode);
    s->bitcode = NULL;
}

int cg_split_finish(CgSplit *s, char **err)
{
    if (!s)
        return 0;
    join(s);
    for (int k = 0; k < s->nparts; k++)
        if (s->parts[k].err) {
            cg_set_err(err, cg_fmt_err("%s: %s", s->parts[k].name, s->parts[k].err));
            return -1;
        }
    return 0;
}

int cg_split_link(CgSplit *s, CgModule *m, char **err)
{
    if (!s || s->objects)
        return 0;
    for (int k = 0; k < s->nparts; k++) {
        CgPart *part = &s->parts[k];
        LLVMMemoryBufferRef bc = LLVMCreateMemoryBufferWithMemoryRange(part->obj, part->len, "part", 0);
        LLVMModuleRef mod = NULL;
        bool bad = LLVMParseBitcodeInContext2(m->ctx, bc, &mod);
        LLVMDisposeMemoryBuffer(bc);
        if (bad || LLVMLinkModules2(m->mod, mod)) {     /* takes mod */
            cg_set_err(err, cg_fmt_err("cannot link %s back into the module", part->name));
            return -1;
        }
        LLVMValueRef fn = LLVMGetNamedFunction(m->mod, part->name);
        if (fn)
            LLVMSetLinkage(fn, LLVMInternalLinkage);
        free(part->obj);
        part->obj = NULL;
    }
    s->linked = true;
    return 0;
}

int cg_split_count(const CgSplit *s)
{
    return s && !s->linked ? s->nparts : 0;
}

char *cg_split_take(CgSplit *s, int k, size_t *len)
{
    char *obj = s->parts[k].obj;
    *len = s->parts[k].len;
    s->parts[k].obj = NULL;
    return obj;
}

void cg_split_free(CgSplit *s)
{
    if (!s)
        return;
    join(s);
    for (int k = 0; k < s->nparts; k++) {
        free(s->parts[k].name);
        free(s->parts[k].obj);
        free(s->parts[k].err);
    }
    free(s->parts);
    free(s);
}
