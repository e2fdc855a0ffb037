/* kernels/fft.c - stages computed through FFTs (KERNEL_FFT, ALGO_FFT:
 * passes/algorithm.c): calls of the runtime's overlap-save convolution
 * (convrt_fft_conv1d / 2d, convrt_abi.h), then the stage's bias and
 * epilogue applied in place.
 *
 * Every problem the runtime solves is one input plane filtered by one
 * kernel, written as a window of the full result:
 *   convolve / correlate   a and b as they are, the window of the mode
 *                          (check.c's start and the output's extent);
 *   conv with a per-plane  planes = every leading index of x, the kernel
 *   filter [FH, FW] / [F]  shared (stride 0); flip=true is a convolution,
 *                          otherwise a correlation;
 *   conv with one input    per batch index and per output channel j of a
 *   channel per group      group: planes = the groups, x's channel g with
 *                          weight g*m + j (m output channels per group)
 *                          into output channel g*m + j.
 * A convolution's output i reads x[i - pad0 + t] for taps t, which is
 * entry i + (k - 1 - pad0) of the full correlation (and of the full
 * convolution of the flipped kernel), so zero padding is a window start of
 * k - 1 - pad0 in each dim.  The other padding modes first copy each plane
 * with its padding into a scratch buffer (the scalar nest's index
 * remapping) and take the window at k - 1.
 *
 * The runtime computes each output once, by one block, so the results do
 * not depend on the thread count; the order of the sums is the FFT's, not
 * the taps' (docs/language.md).  The bias and the epilogue are then added
 * to each output in the order the scalar nest applies the epilogue. */
#include "kernels.h"

static IrExpr *dim(Lower *L, const SymExpr *e) { return lower_dim(L, e); }

static IrArg val(IrExpr *v) { return (IrArg){ .buf = -1, .value = v }; }
static IrArg at(int32_t buf, IrExpr *lin) { return (IrArg){ .buf = buf, .value = lin }; }

/* The product of dims [from, to) of s, as a symbolic size. */
static const SymExpr *prod(Lower *L, Shape s, int32_t from, int32_t to)
{
    const SymExpr *p = sym_const(&L->sc, 1);
    for (int32_t i = from; i < to; i++)
        p = sym_mul(&L->sc, p, s.dims[i]);
    return p;
}

/* Loops over every index of `shape` around body(idx) (outermost first),
 * the first loop not known to run once in parallel. */
typedef IrStmt *(*EachFn)(Lower *L, void *ctx, IrExpr **idx);

static IrStmt *each_index(Lower *L, Shape shape, EachFn body, void *ctx)
{
    int32_t r = shape.rank;
    int32_t *vars = arena_array(L->a, (size_t)r + 1, sizeof *vars);
    IrExpr **idx = arena_array(L->a, (size_t)r + 1, sizeof *idx);
    for (int32_t i = 0; i < r; i++) {
        vars[i] = lower_var(L, arena_printf(L->a, "i%d", i));
        idx[i] = V(L, vars[i]);
    }
    int32_t par = 0;
    int64_t v;
    while (par < r - 1 && sym_is_const(shape.dims[par], &v) && v == 1)
        par++;
    IrStmt *s = body(L, ctx, idx);
    for (int32_t i = r - 1; i >= 0; i--) {
        uint32_t flags = i == r - 1 ? IR_LOOP_VECTORIZE : 0;
        if (i == par && L->opt && L->opt->parallel)
            flags |= IR_LOOP_PARALLEL;
        s = ir_for(L->a, vars[i], I(L, 0), dim(L, shape.dims[i]), s, flags);
    }
    return s;
}

/* ---- operands in memory ---------------------------------------------------- */

typedef struct Copy {
    const Node *src;
    int32_t     dst;
    /* padded plane copy: the source plane p at remapped (row, col) */
    const Node *conv;
    int32_t     nsp;
} Copy;

static IrStmt *copy_value(Lower *L, void *ctx, IrExpr **idx)
{
    Copy *c = ctx;
    return ir_store(L->a, c->dst, c->src->shape.rank, idx, lower_value(L, c->src, idx));
}

/* The buffer holding m's value.  passes/algorithm.c gives every operand
 * one; should a stage still be inlined, its values are stored into a
 * scratch buffer first. */
static int32_t operand(Lower *L, PtrVec *out, const Node *m)
{
    int32_t b = lower_buffer_of(L, m);
    if (b >= 0)
        return b;
    Copy c = { .src = m };
    c.dst = lower_scratch(L, "fft_operand", m->shape);
    ptrvec_push(L->a, out, each_index(L, m->shape, copy_value, &c));
    return c.dst;
}

/* xp[p][i][j] = x at plane p, rows and columns remapped by the padding. */
static IrStmt *copy_padded(Lower *L, void *ctx, IrExpr **idx)
{
    Copy *c = ctx;
    const Node *n = c->conv, *x = n->in[0];
    int32_t xr = x->shape.rank, nsp = c->nsp;
    const WindowParams *w = &n->conv.win;
    IrExpr *lin = idx[0];
    for (int32_t i = 0; i < nsp; i++) {
        IrExpr *size = dim(L, x->shape.dims[xr - nsp + i]);
        IrExpr *pos = lower_pad_index(L, n->conv.pad_mode, sub(L, idx[1 + i], dim(L, w->pad0[i])),
                                      size);
        lin = add(L, mul(L, lin, size), pos);
    }
    return ir_store(L->a, c->dst, 1 + nsp, idx, lower_value(L, x, kl_lin(L, xr, lin)));
}

/* ---- the calls ------------------------------------------------------------- */

static IrStmt *signal_call(Lower *L, PtrVec *out, const Node *n, int32_t ob)
{
    const Node *a = n->in[0], *b = n->in[1];
    int32_t ba = operand(L, out, a), bb = operand(L, out, b);
    IrExpr *flags = I(L, n->signal.correlate ? 1 : 0), *zero = I(L, 0);
    if (n->shape.rank == 1) {
        IrArg args[12] = {
            val(flags), val(I(L, 1)),
            at(ba, zero), val(dim(L, a->shape.dims[0])), val(zero),
            at(bb, zero), val(dim(L, b->shape.dims[0])), val(zero),
            at(ob, zero), val(dim(L, n->signal.start[0])), val(dim(L, n->shape.dims[0])), val(zero),
        };
        return ir_call(L->a, IR_CALL_FFT_CONV1D, args, 12);
    }
    IrExpr *w1 = dim(L, a->shape.dims[1]), *w2 = dim(L, b->shape.dims[1]);
    IrExpr *ow = dim(L, n->shape.dims[1]);
    IrArg args[19] = {
        val(flags), val(I(L, 1)),
        at(ba, zero), val(dim(L, a->shape.dims[0])), val(w1), val(w1), val(zero),
        at(bb, zero), val(dim(L, b->shape.dims[0])), val(w2), val(w2), val(zero),
        at(ob, zero), val(dim(L, n->signal.start[0])), val(dim(L, n->shape.dims[0])),
        val(dim(L, n->signal.start[1])), val(ow), val(ow), val(zero),
    };
    return ir_call(L->a, IR_CALL_FFT_CONV2D, args, 19);
}

/* One call over `planes` problems: x plane p at xoff + p*xstride (dims
 * xdims), kernel at woff + p*wstride, output plane at ooff + p*ostride. */
typedef struct ConvCall {
    int32_t  bx, bw, ob, nsp;
    IrExpr  *planes, *xoff, *xstride, *woff, *wstride, *ooff, *ostride;
    IrExpr  *xdims[2], *kdims[2], *start[2], *odims[2];
} ConvCall;

static IrStmt *conv_call(Lower *L, const Node *n, const ConvCall *c)
{
    IrExpr *flags = I(L, n->conv.flip ? 0 : 1);
    if (c->nsp == 1) {
        IrArg args[12] = {
            val(flags), val(c->planes),
            at(c->bx, c->xoff), val(c->xdims[0]), val(c->xstride),
            at(c->bw, c->woff), val(c->kdims[0]), val(c->wstride),
            at(c->ob, c->ooff), val(c->start[0]), val(c->odims[0]), val(c->ostride),
        };
        return ir_call(L->a, IR_CALL_FFT_CONV1D, args, 12);
    }
    IrArg args[19] = {
        val(flags), val(c->planes),
        at(c->bx, c->xoff), val(c->xdims[0]), val(c->xdims[1]), val(c->xdims[1]), val(c->xstride),
        at(c->bw, c->woff), val(c->kdims[0]), val(c->kdims[1]), val(c->kdims[1]), val(c->wstride),
        at(c->ob, c->ooff), val(c->start[0]), val(c->odims[0]), val(c->start[1]), val(c->odims[1]),
        val(c->odims[1]), val(c->ostride),
    };
    return ir_call(L->a, IR_CALL_FFT_CONV2D, args, 19);
}

static IrStmt *conv_calls(Lower *L, PtrVec *out, const Node *n, int32_t ob)
{
    const Node *x = n->in[0], *w = n->in[1];
    const WindowParams *win = &n->conv.win;
    int32_t nsp = win->nsp, xr = x->shape.rank, wr = w->shape.rank;
    bool pc = n->conv.per_channel;
    ConvCall c = { .ob = ob, .nsp = nsp };
    c.bw = operand(L, out, w);
    c.bx = operand(L, out, x);
    const SymExpr *xplane = prod(L, x->shape, xr - nsp, xr);
    const SymExpr *oplane = prod(L, n->shape, n->shape.rank - nsp, n->shape.rank);
    const SymExpr *taps = prod(L, w->shape, wr - nsp, wr);
    /* planes of x: every leading index (per-plane filter), or batch x channels */
    const SymExpr *xplanes = prod(L, x->shape, 0, xr - nsp);
    for (int32_t i = 0; i < nsp; i++) {
        c.kdims[i] = dim(L, win->k[i]);
        c.odims[i] = dim(L, n->shape.dims[n->shape.rank - nsp + i]);
        c.xdims[i] = dim(L, x->shape.dims[xr - nsp + i]);
        c.start[i] = sub(L, sub(L, c.kdims[i], I(L, 1)), dim(L, win->pad0[i]));
    }
    if (n->conv.pad_mode != PAD_ZEROS) {
        /* each plane with its padding, then the window from k - 1 */
        Shape ps = shape_make(L->a, 1 + nsp);
        ps.dims[0] = xplanes;
        for (int32_t i = 0; i < nsp; i++) {
            ps.dims[1 + i] = sym_add(&L->sc, sym_add(&L->sc, x->shape.dims[xr - nsp + i], win->pad0[i]),
                                     win->pad1[i]);
            c.xdims[i] = dim(L, ps.dims[1 + i]);
            c.start[i] = sub(L, c.kdims[i], I(L, 1));
        }
        Copy cp = { .conv = n, .nsp = nsp };
        cp.dst = lower_scratch(L, arena_printf(L->a, "%s_padded", x->name ? x->name : "x"), ps);
        ptrvec_push(L->a, out, each_index(L, ps, copy_padded, &cp));
        c.bx = cp.dst;
        xplane = prod(L, ps, 1, 1 + nsp);
    }
    IrExpr *xp = dim(L, xplane), *op = dim(L, oplane);
    if (pc) {
        c.planes = dim(L, xplanes);
        c.xoff = I(L, 0);
        c.xstride = xp;
        c.woff = I(L, 0);
        c.wstride = I(L, 0);
        c.ooff = I(L, 0);
        c.ostride = op;
        return conv_call(L, n, &c);
    }
    /* one input channel per group: loops over the batch and over the
     * output channels j of a group, each call over the groups */
    const SymExpr *K = w->shape.dims[0];
    const SymExpr *m = sym_floordiv(&L->sc, K, sym_const(&L->sc, n->conv.groups));
    const SymExpr *batch = prod(L, x->shape, 0, xr - nsp - 1);
    int32_t vb = lower_var(L, "b"), vj = lower_var(L, "j");
    IrExpr *b = V(L, vb), *j = V(L, vj), *M = dim(L, m), *G = I(L, n->conv.groups);
    IrExpr *T = dim(L, taps);
    c.planes = G;
    c.xoff = mul(L, mul(L, b, G), xp);
    c.xstride = xp;
    c.woff = mul(L, j, T);
    c.wstride = mul(L, M, T);
    c.ooff = mul(L, add(L, mul(L, b, dim(L, K)), j), op);
    c.ostride = mul(L, M, op);
    IrStmt *s = conv_call(L, n, &c);
    s = ir_for(L->a, vj, I(L, 0), M, s, 0);
    return ir_for(L->a, vb, I(L, 0), dim(L, batch), s, 0);
}

/* ---- bias and epilogue ------------------------------------------------------ */

typedef struct Finish {
    const Node *n;
    int32_t     ob;
} Finish;

static IrStmt *finish_value(Lower *L, void *ctx, IrExpr **idx)
{
    Finish *f = ctx;
    const Node *n = f->n;
    int32_t r = n->shape.rank;
    IrExpr *v = ir_load(L->a, f->ob, r, idx);
    if (n->op == NODE_CONV && n->nin > 2) {
        IrExpr *k = idx[r - n->conv.win.nsp - 1];
        v = add(L, v, lower_value(L, n->in[2], &k));
    }
    const StagePlan *plan = schedule_plan(L->sched, n);
    const Node *prev = n;
    for (int32_t i = 0; i < plan->nepilogue; i++) {
        const Node *e = plan->epilogue[i];
        IrExpr *ops[2] = { NULL, NULL };
        for (int32_t k = 0; k < e->nin && k < 2; k++)
            ops[k] = e->in[k] == prev ? v : lower_value(L, e->in[k], idx);
        v = lower_elementwise(L, e, ops[0], ops[1]);
        prev = e;
    }
    return ir_store(L->a, f->ob, r, idx, v);
}

IrStmt *kernel_fft(Lower *L, const Node *n)
{
    PtrVec out = { 0 };
    int32_t ob = lower_buffer_of(L, schedule_store_node(L->sched, n));
    if (n->op == NODE_SIGNAL)
        ptrvec_push(L->a, &out, signal_call(L, &out, n, ob));
    else
        ptrvec_push(L->a, &out, conv_calls(L, &out, n, ob));
    const StagePlan *plan = schedule_plan(L->sched, n);
    if (plan->nepilogue || (n->op == NODE_CONV && n->nin > 2)) {
        Finish f = { n, ob };
        ptrvec_push(L->a, &out, each_index(L, n->shape, finish_value, &f));
    }
    return lower_block(L, &out);
}
