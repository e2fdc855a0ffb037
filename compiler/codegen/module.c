/* codegen/module.c - IrProgram -> LLVM module: the constant data, the
 * pipeline descriptor, the entry points, the stages' functions and the body.
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
#include "cg.h"

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
        const IrBuffer **buf = cg_xcalloc(cap, sizeof *buf);
        LLVMValueRef *g = cg_xcalloc(cap, sizeof *g);
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
    LLVMValueRef *v = cg_xcalloc((size_t)b->rank, sizeof *v);
    for (int32_t j = 0; j < b->rank; j++)
        v[j] = cg_i64c(cg, b->dim_slots[j]);
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
    const IrBuffer **order = cg_xcalloc((size_t)n, sizeof *order);
    for (int32_t i = 0; i < p->nbuffers; i++) {
        const IrBuffer *b = &p->buffers[i];
        if (b->kind == IR_BUF_CONST || b->kind == IR_BUF_LOCAL)
            continue;
        if (b->abi_index < 0 || b->abi_index >= n || order[b->abi_index]) {
            cg_fail(cg, cg_fmt_err("buffer %s has a bad abi_index %d",
                                   b->name ? b->name : "?", (int)b->abi_index));
            continue;
        }
        order[b->abi_index] = b;
    }
    for (int32_t i = 0; i < n && !cg->err; i++) {
        if (!order[i])
            cg_fail(cg, cg_fmt_err("no buffer has abi_index %d", (int)i));
        else if ((i < p->ninputs) != (order[i]->kind == IR_BUF_INPUT) ||
                 (i >= p->ninputs && i < p->ninputs + p->noutputs &&
                  order[i]->kind != IR_BUF_OUTPUT))
            cg_fail(cg, cg_fmt_err("buffer %s (abi_index %d) is out of order",
                                   order[i]->name ? order[i]->name : "?", (int)i));
    }
    *n_out = n;
    return order;
}

/* The stages that use each buffer (by program buffer id): first[b] ..
 * last[b], the whole body for a buffer no stage names. */
static void stage_ranges(const IrProgram *p, const StageShare *sh, int64_t *first, int64_t *last)
{
    int64_t end = sh->nstages > 0 ? sh->nstages - 1 : 0;
    for (int32_t b = 0; b < p->nbuffers; b++) {
        first[b] = -1;
        last[b] = -1;
    }
    for (int32_t k = 0; k < sh->nstages; k++)
        for (int32_t i = sh->buf_at[k]; i < sh->buf_at[k + 1]; i++) {
            int32_t b = sh->bufs[i];
            if (b < 0 || b >= p->nbuffers)
                continue;
            if (first[b] < 0)
                first[b] = k;
            last[b] = k;
        }
    for (int32_t b = 0; b < p->nbuffers; b++)
        if (first[b] < 0) {
            first[b] = 0;
            last[b] = end;
        }
}

static LLVMValueRef emit_descriptor(Cg *cg, LLVMValueRef body, const StageShare *sh)
{
    const IrProgram *p = cg->p;
    int32_t nbuf;
    const IrBuffer **order = abi_order(cg, &nbuf);
    SlotArrays sa = {0};
    int32_t nargs = p->ninputs + p->noutputs;
    if (nargs > nbuf) {
        cg_fail(cg, cg_fmt_err("%d arguments but %d buffers", (int)nargs,
                               (int)nbuf));
        nargs = nbuf;
    }

    /* convrt_arg {name, is_output, rank, dim_slots, dim_names} */
    LLVMValueRef *args = cg_xcalloc((size_t)nargs, sizeof *args);
    for (int32_t i = 0; i < nargs && !cg->err; i++) {
        const IrBuffer *b = order[i];
        LLVMValueRef names = LLVMConstNull(cg->t_ptr);
        /* the runtime wants the array whenever rank > 0; its entries are
         * NULL for literal dims */
        if (b->rank > 0) {
            LLVMValueRef *nv = cg_xcalloc((size_t)b->rank, sizeof *nv);
            for (int32_t j = 0; j < b->rank; j++)
                nv[j] = const_str(cg, b->dim_names ? b->dim_names[j] : NULL);
            names = const_array(cg, cg->t_ptr, nv, (uint64_t)b->rank,
                                ".dim_names");
            free(nv);
        }
        LLVMValueRef f[5] = {
            const_str(cg, b->name), cg_i64c(cg, b->kind == IR_BUF_OUTPUT),
            cg_i64c(cg, b->rank), slot_array(cg, &sa, b), names,
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
    LLVMValueRef *slots = cg_xcalloc((size_t)p->nslots, sizeof *slots);
    for (int32_t i = 0; i < p->nslots; i++) {
        LLVMValueRef f[3] = {cg_i64c(cg, p->slots[i].op), cg_i64c(cg, p->slots[i].a),
                             cg_i64c(cg, p->slots[i].b)};
        slots[i] = struct_const(cg, f, 3);
    }
    LLVMValueRef slots_g = const_array(cg, slot_ty, slots, (uint64_t)p->nslots,
                                       ".slots");
    free(slots);

    /* convrt_check {kind, a, b, what} */
    LLVMTypeRef check_ty = LLVMStructTypeInContext(cg->c, (LLVMTypeRef[]){
        cg->t_i64, cg->t_i64, cg->t_i64, cg->t_ptr}, 4, 0);
    LLVMValueRef *checks = cg_xcalloc((size_t)p->nchecks, sizeof *checks);
    for (int32_t i = 0; i < p->nchecks; i++) {
        LLVMValueRef f[4] = {cg_i64c(cg, p->checks[i].kind),
                             cg_i64c(cg, p->checks[i].a), cg_i64c(cg, p->checks[i].b),
                             const_str(cg, p->checks[i].what)};
        checks[i] = struct_const(cg, f, 4);
    }
    LLVMValueRef checks_g = const_array(cg, check_ty, checks,
                                        (uint64_t)p->nchecks, ".checks");
    free(checks);

    /* convrt_buffer {rank, dim_slots, first_stage, last_stage}: the
     * runtime lets scratch buffers of stages that do not overlap share
     * memory */
    LLVMTypeRef buf_ty = LLVMStructTypeInContext(cg->c, (LLVMTypeRef[]){
        cg->t_i64, cg->t_ptr, cg->t_i64, cg->t_i64}, 4, 0);
    LLVMValueRef *bufs = cg_xcalloc((size_t)nbuf, sizeof *bufs);
    int64_t *first = cg_xcalloc((size_t)p->nbuffers + 1, sizeof *first);
    int64_t *last = cg_xcalloc((size_t)p->nbuffers + 1, sizeof *last);
    stage_ranges(p, sh, first, last);
    for (int32_t i = 0; i < nbuf && !cg->err; i++) {
        ptrdiff_t b = order[i] - p->buffers;
        LLVMValueRef f[4] = {cg_i64c(cg, order[i]->rank), slot_array(cg, &sa, order[i]),
                             cg_i64c(cg, first[b]), cg_i64c(cg, last[b])};
        bufs[i] = struct_const(cg, f, 4);
    }
    free(first);
    free(last);
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
        cg_i64c(cg, CONVRT_ABI_VERSION), const_str(cg, p->name),
        const_str(cg, cg->m->cpu), cg_i64c(cg, cg->m->cpu_features),
        cg_i64c(cg, p->ninputs), cg_i64c(cg, nargs), args_g,
        cg_i64c(cg, p->nslots), slots_g, cg_i64c(cg, p->nchecks), checks_g,
        cg_i64c(cg, nbuf), bufs_g, body,
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
    LLVMTypeRef *params = cg_xcalloc((size_t)n, sizeof *params);
    for (int32_t i = 0; i < n; i++)
        params[i] = cg->t_ptr;
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name,
        LLVMFunctionType(cg->t_i32, params, (unsigned)n, 0));
    free(params);
    cg_set_target_attrs(cg, fn);

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
        LLVMValueRef idx[2] = {cg_i64c(cg, 0), cg_i64c(cg, i)};
        LLVMBuildStore(b, LLVMGetParam(fn, (unsigned)i),
                       LLVMBuildInBoundsGEP2(b, arr_ty, arr, idx, 2, ""));
    }
    LLVMValueRef args[2] = {desc, arr};
    LLVMBuildRet(b, LLVMBuildCall2(b, rt_ty, rt, args, 2, ""));
    LLVMDisposeBuilder(b);
}

bool cg_is_c_identifier(const char *s)
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
    st->fn = cg_xcalloc((size_t)ng, sizeof *st->fn);
    st->param_at = cg_xcalloc((size_t)ng, sizeof *st->param_at);
    st->nparams = cg_xcalloc((size_t)ng, sizeof *st->nparams);
    int32_t total = 0;
    for (int32_t g = 0; g < ng; g++) {
        int32_t k = sh->first[g];
        st->param_at[g] = total;
        total += sh->buf_at[k + 1] - sh->buf_at[k];
    }
    /* param[] first marks the CONST buffers some stage does not share with
     * its group's first stage (-2) */
    st->param = cg_xcalloc((size_t)total, sizeof *st->param);
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
    st->buf_param = cg_xcalloc((size_t)p->nbuffers, sizeof *st->buf_param);
    st->slot_param = cg_xcalloc((size_t)p->nslots, sizeof *st->slot_param);
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
    cg_set_target_attrs(cg, fn);
    cg_add_fn_attr(cg, fn, "noinline");
    for (unsigned i = 0; i < 2; i++) {
        cg_add_param_attr(cg, fn, i, "noalias");
        cg_add_param_attr(cg, fn, i, "nocapture");
        cg_add_param_attr(cg, fn, i, "readonly");
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
    cg->in_kernel = cg_has_kernel_loop(stage);
    if (cg->in_kernel)
        cg_note_kernel_fn(cg, fn);
    Fn sf;
    cg_fn_begin(&sf, cg, fn, false);
    sf.bufs = LLVMGetParam(fn, 0);
    sf.dims = LLVMGetParam(fn, 1);
    LLVMSetValueName2(sf.bufs, "ptrs", 4);
    LLVMSetValueName2(sf.dims, "dimvals", 7);
    cg_emit_stmt(&sf, stage);
    cg_emit_sfence_if_streamed(&sf);
    LLVMBuildRetVoid(sf.b);
    cg_fn_end(&sf);
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
            LLVMValueRef idx = cg_i64c(cg, i);
            LLVMBuildStore(f->b, cg_buf_ptr(f, sh->bufs[sh->buf_at[k] + a]),
                           LLVMBuildInBoundsGEP2(f->b, cg->t_ptr, ptrs, &idx, 1, ""));
        }
        for (int32_t j = 0; j < ns; j++) {
            LLVMValueRef idx = cg_i64c(cg, j);
            LLVMBuildStore(f->b, cg_dim_value(f, sh->slots[sh->slot_at[k] + j]),
                           LLVMBuildInBoundsGEP2(f->b, cg->t_i64, dimvals, &idx, 1, ""));
        }
        LLVMValueRef args[2] = {ptrs, dimvals};
        emit_profile_hook(f, cg->fn_prof_enter, cg_i64c(cg, k));
        LLVMBuildCall2(f->b, st->fn_ty, st->fn[g], args, 2, "");
        emit_profile_hook(f, cg->fn_prof_leave, cg_i64c(cg, k));
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

    int32_t *const_num = cg_xcalloc((size_t)p->nbuffers, sizeof *const_num);
    LLVMValueRef *consts = NULL;
    int32_t nconsts = 0;
    size_t nwords = 0;
    for (int32_t k = 0; k < sh->nstages; k++)
        nwords += 1 + (size_t)st->nparams[sh->group[k]] + (size_t)stage_nslots(sh, k);
    LLVMValueRef *words = cg_xcalloc(nwords, sizeof *words);
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
    LLVMValueRef *entries = cg_xcalloc((size_t)ng, sizeof *entries);
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
    LLVMValueRef zero = cg_i64c(cg, 0), one = cg_i64c(cg, 1);
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
    LLVMSetMetadata(br, loop_kind, LLVMMetadataAsValue(c, cg_kernel_loop_md(cg)));
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
    LLVMSetMetadata(br, loop_kind, LLVMMetadataAsValue(c, cg_kernel_loop_md(cg)));
    LLVMAddIncoming(j, (LLVMValueRef[]){zero, j1}, (LLVMBasicBlockRef[]){pdone, sloop}, 2);

    /* call, then the next stage */
    LLVMPositionBuilderAtEnd(b, sdone);
    emit_profile_hook(f, cg->fn_prof_enter, sk);
    LLVMBuildCall2(b, st->fn_ty, fp, (LLVMValueRef[]){ptrs, dimvals}, 2, "");
    emit_profile_hook(f, cg->fn_prof_leave, sk);
    LLVMValueRef next = LLVMBuildNSWAdd(b, s0, ns, "");
    LLVMValueRef sk1 = sk ? LLVMBuildNSWAdd(b, sk, one, "") : NULL;
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, next, cg_i64c(cg, (int64_t)nwords), ""),
                    loop, exit);
    LLVMAddIncoming(pc, (LLVMValueRef[]){zero, next}, (LLVMBasicBlockRef[]){pre, sdone}, 2);
    if (sk)
        LLVMAddIncoming(sk, (LLVMValueRef[]){zero, sk1}, (LLVMBasicBlockRef[]){pre, sdone}, 2);
    LLVMPositionBuilderAtEnd(b, exit);
#undef BLOCK
#undef WORD
}

void cg_build_module(Cg *cg)
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
            cg_fail(cg, cg_fmt_err("vector width %d is not supported", (int)p->vlen));
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
        cg_add_fn_attr(cg, libm[i], "nounwind");
        cg_add_fn_attr(cg, libm[i], "willreturn");
        cg_add_fn_attr(cg, libm[i], "nobuiltin");
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
    cg->const_globals = cg_xcalloc((size_t)p->nbuffers, sizeof *cg->const_globals);
    for (int32_t i = 0; i < p->nbuffers; i++) {
        const IrBuffer *b = &p->buffers[i];
        if (b->kind != IR_BUF_CONST)
            continue;
        LLVMValueRef *vals = cg_xcalloc((size_t)b->count, sizeof *vals);
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
    cg_set_target_attrs(cg, body);
    for (unsigned i = 0; i < 2; i++) {
        cg_add_param_attr(cg, body, i, "noalias");
        cg_add_param_attr(cg, body, i, "nocapture");
        cg_add_param_attr(cg, body, i, "readonly");
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
    cg_fn_begin(&f, cg, body, false);
    f.bufs = LLVMGetParam(body, 0);
    f.dims = LLVMGetParam(body, 1);
    if (!cg->err) {
        if (st.sh->nstages <= DIRECT_CALLS_MAX)
            emit_stage_calls(&f, &st);
        else
            emit_stage_table(&f, &st);
    }
    LLVMBuildRetVoid(f.b);
    cg_fn_end(&f);

    LLVMValueRef desc = emit_descriptor(cg, body, st.sh);
    free_stages(&st);
    emit_entry(cg, p->name, "convrt_pipeline_run", desc);
    snprintf(name, sizeof name, "%s_output_shapes", p->name);
    emit_entry(cg, name, "convrt_pipeline_output_shapes", desc);
    free(cg->const_globals);
}
