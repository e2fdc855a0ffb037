/* kernels/conv_plane.c - the convolution micro-kernel over the flattened
 * output plane (KERNEL_CONV_PLANE, chosen by passes/kernels.c).
 *
 * With stride 1 and input and output rows of the same length W, output
 * pixel p = oy*W + ox reads tap (ky, kx) at input position p + ay*W + ax
 * (ay = ky*dy - pad_top, ax = kx*dx - pad_left): a constant offset.  So a
 * vector of VL consecutive output pixels of the plane -- across row ends --
 * is a vector load per tap, and the kernel keeps a register block of nk
 * output channels x nv such vectors:
 *
 *   for each work item (batch, group, tile of nv*VL pixels, block of nk
 *   output channels):                                  -- parallel
 *     acc[j][v] = bias or 0
 *     for c in the group's input channels:
 *       for each tap (unrolled):
 *         xv[v] = the nv input vectors at the tap's offset
 *         for j: w = broadcast(weight[j][c][tap]); acc[j][v] = fma(xv[v], w, acc[j][v])
 *     store epilogue(acc) (passes/epilogue.c)
 *
 * Exactness.  Each lane is one output element, and its sum is built with
 * the scalar nest's operations in the scalar nest's order: the bias (or
 * 0), then for each input channel, kernel row and kernel column one
 * multiply-add.  A tap outside the input is skipped: the FMA is masked so
 * that the lane keeps its accumulator (a select, which AVX-512 folds into
 * a merge-masked FMA), never added as w*0.
 *
 * Interior and border.  A tile whose rows see every tap inside the input
 * and whose loads stay inside the input plane needs masks only for the
 * column taps that cross a row end (ax != 0); its loads are plain, and its
 * few masks stay in mask registers.  Other tiles (the first and last rows,
 * the plane's tail) take the border variant: masked loads and one mask per
 * tap from the lane's row, column and place in the plane.
 *
 * The output-channel block count need not divide the channels: the last
 * block of each group runs a variant with fewer accumulators. */
#include <math.h>
#include <stdlib.h>

#include "lower_impl.h"

enum { MAX_TAPS_UNROLLED = 64, MAX_NK = 16, MAX_NV = 16 };

typedef struct Plane {
    Lower      *L;
    const Node *n, *x, *w, *bias, *store;
    int32_t     nsp, vl, nk, nv, tile;
    int64_t     K, G, Kg, nkbg, rem;
    int64_t     kh, kw, ntaps;
    int64_t    *ay, *ax;                /* per ky, per kx */
    bool        flip;
    IrExpr     *Cg, *H, *W, *P, *Pin, *N;
    int32_t     bx, bwp, by;            /* input, packed weights, store */
    int32_t     xrank, yrank;
    /* per work item, as i64 locals */
    int32_t     l_kb, l_tile, l_g, l_n, l_p0, l_ox0, l_oy0;
    int32_t     l_xbase, l_ybase, l_wbase;
    int32_t    *l_oxv, *l_oyv;          /* VI64 per vector */
    int32_t     var_c;
} Plane;

static IrExpr *loc(Plane *P, int32_t l) { return ir_local_typed(P->L->a, l, P->L->ltypes[l]); }
static IrStmt *set(Plane *P, int32_t l, IrExpr *v) { return ir_assign(P->L->a, l, v); }

/* [0, ..., 0, lin]: a vector access by linear position (ir.h) */
static IrExpr **lin_idx(Plane *P, int32_t rank, IrExpr *lin)
{
    IrExpr **idx = arena_array(P->L->a, (size_t)rank, sizeof *idx);
    for (int32_t i = 0; i + 1 < rank; i++)
        idx[i] = I(P->L, 0);
    idx[rank - 1] = lin;
    return idx;
}

static IrExpr *vand(Plane *P, IrExpr *a, IrExpr *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return ir_bin(P->L->a, IR_OP_AND, a, b);
}

/* ---- weights ------------------------------------------------------------ */

/* Weight of output channel k (within group g), input channel c, tap (ky, kx)
 * in the script's layout, with flip applied. */
static void weight_index(Plane *P, IrExpr *k, IrExpr *c, IrExpr *ky, IrExpr *kx, IrExpr **wi)
{
    Lower *L = P->L;
    if (P->flip) {
        ky = sub(L, I(L, P->kh - 1), ky);
        kx = sub(L, I(L, P->kw - 1), kx);
    }
    wi[0] = k;
    wi[1] = c;
    if (P->w->shape.rank == 4) {
        wi[2] = ky;
        wi[3] = kx;
    } else if (P->w->shape.rank == 3) {
        wi[2] = kx;
    }                               /* rank 2: a 1x1 kernel as [K, C] */
}

/* Packed layout: [G*nkbg][Cg][ntaps][nk], channels past the group's last
 * zero-filled. */
static int32_t pack_weights(Plane *P)
{
    Lower *L = P->L;
    Arena *a = L->a;
    const Node *w = P->w;
    int64_t nblk = P->G * P->nkbg;
    Shape s = shape_make(a, 4);
    s.dims[0] = sym_const(&L->sc, nblk);
    s.dims[1] = w->shape.dims[1];
    s.dims[2] = sym_const(&L->sc, P->ntaps);
    s.dims[3] = sym_const(&L->sc, P->nk);
    const char *name = arena_printf(a, "%s_packed", w->name ? w->name : "w");
    int64_t cg;
    if (w->op == NODE_CONST && sym_is_const(w->shape.dims[1], &cg)) {
        int64_t count = nblk * cg * P->ntaps * P->nk;
        float *d = arena_array(a, (size_t)count, sizeof *d);
        int64_t KK = P->kh * P->kw;
        for (int64_t gb = 0; gb < nblk; gb++)
            for (int64_t c = 0; c < cg; c++)
                for (int64_t t = 0; t < P->ntaps; t++)
                    for (int64_t j = 0; j < P->nk; j++) {
                        int64_t g = gb / P->nkbg, k = (gb % P->nkbg) * P->nk + j;
                        int64_t ky = t / P->kw, kx = t % P->kw;
                        if (P->flip) {
                            ky = P->kh - 1 - ky;
                            kx = P->kw - 1 - kx;
                        }
                        float v = 0.0f;
                        if (k < P->Kg)
                            v = w->cst.data[((g * P->Kg + k) * cg + c) * KK + ky * P->kw + kx];
                        d[((gb * cg + c) * P->ntaps + t) * P->nk + j] = v;
                    }
        return lower_const(L, name, s, d, count);
    }
    /* packed by a nest at the start of every call */
    int32_t b = lower_scratch(L, name, s);
    int32_t vgb = lower_var(L, "gb"), vc = lower_var(L, "c"), vt = lower_var(L, "tap"),
            vj = lower_var(L, "j");
    IrExpr *gb = V(L, vgb), *t = V(L, vt), *j = V(L, vj);
    IrExpr *k = add(L, mul(L, imod(L, gb, I(L, P->nkbg)), I(L, P->nk)), j);
    IrExpr *kglob = add(L, mul(L, idiv(L, gb, I(L, P->nkbg)), I(L, P->Kg)), k);
    IrExpr *wi[4];
    weight_index(P, kglob, V(L, vc), idiv(L, t, I(L, P->kw)), imod(L, t, I(L, P->kw)), wi);
    IrExpr *val = ir_select(a, ir_bin(a, IR_OP_LT, k, I(L, P->Kg)), lower_value(L, w, wi),
                            ir_float(a, 0.0f));
    IrStmt *st = ir_store(a, b, 4, (IrExpr *const[]){ gb, V(L, vc), t, j }, val);
    st = ir_for(a, vj, I(L, 0), I(L, P->nk), st, IR_LOOP_VECTORIZE);
    st = ir_for(a, vt, I(L, 0), I(L, P->ntaps), st, 0);
    st = ir_for(a, vc, I(L, 0), P->Cg, st, 0);
    st = ir_for(a, vgb, I(L, 0), I(L, nblk), st, L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0);
    ptrvec_push(a, &L->prologue, st);
    return b;
}

/* ---- the epilogue ------------------------------------------------------- */

/* n's value as a vector at linear position lin of a tensor shaped like the
 * stage's output; `prev` stands for the value `prev_val` (the chain so far). */
static IrExpr *vvalue(Plane *P, const Node *n, IrExpr *lin, IrExpr *mask, const Node *prev,
                      IrExpr *prev_val)
{
    Lower *L = P->L;
    if (n == prev)
        return prev_val;
    int32_t b = lower_buffer_of(L, n);
    if (b >= 0)
        return ir_vload(L->a, b, n->shape.rank, lin_idx(P, n->shape.rank, lin), mask);
    IrExpr *x = n->nin > 0 ? vvalue(P, n->in[0], lin, mask, prev, prev_val) : NULL;
    IrExpr *y = n->nin > 1 ? vvalue(P, n->in[1], lin, mask, prev, prev_val) : NULL;
    return lower_elementwise(L, n, x, y);
}

static IrExpr *epilogue(Plane *P, IrExpr *acc, IrExpr *lin, IrExpr *mask)
{
    const StagePlan *plan = schedule_plan(P->L->sched, P->n);
    const Node *prev = P->n;
    IrExpr *val = acc;
    for (int32_t i = 0; i < plan->nepilogue; i++) {
        const Node *e = plan->epilogue[i];
        IrExpr *x = e->nin > 0 ? vvalue(P, e->in[0], lin, mask, prev, val) : NULL;
        IrExpr *y = e->nin > 1 ? vvalue(P, e->in[1], lin, mask, prev, val) : NULL;
        val = lower_elementwise(P->L, e, x, y);
        prev = e;
    }
    return val;
}

/* ---- one register block ------------------------------------------------- */

/* The accumulation and the store for nk_run output channels.  interior:
 * plain loads, masks only for row-crossing column taps (colm[v][kx], NULL
 * where every lane is inside); else masks for everything. */
static IrStmt *block_body(Plane *P, int32_t nk_run, bool interior, IrExpr ***colm,
                          IrExpr ***rowm, IrExpr **inplane)
{
    Lower *L = P->L;
    Arena *a = L->a;
    PtrVec out = { 0 };
    int32_t nv = P->nv, vl = P->vl;
    int32_t acc[MAX_NK][MAX_NV], xv[MAX_NV], wv = lower_local(L, IR_TYPE_VF32);
    for (int32_t v = 0; v < nv; v++)
        xv[v] = lower_local(L, IR_TYPE_VF32);
    for (int32_t j = 0; j < nk_run; j++)
        for (int32_t v = 0; v < nv; v++) {
            acc[j][v] = lower_local(L, IR_TYPE_VF32);
            IrExpr *init = ir_float(a, 0.0f);
            if (P->bias) {
                IrExpr *k = add(L, add(L, mul(L, loc(P, P->l_g), I(L, P->Kg)),
                                        mul(L, loc(P, P->l_kb), I(L, P->nk))), I(L, j));
                init = lower_value(L, P->bias, &k);
            }
            ptrvec_push(a, &out, set(P, acc[j][v], ir_broadcast(a, init)));
        }
    /* Border tiles: one mask per vector and tap, made before the loop (the
     * register allocator keeps what it can in mask registers and reloads
     * the rest; combining them inside the loop cost more). */
    IrExpr **tapm = NULL;
    if (!interior) {
        tapm = arena_array(a, (size_t)(P->ntaps * nv), sizeof *tapm);
        for (int64_t ky = 0; ky < P->kh; ky++)
            for (int64_t kx = 0; kx < P->kw; kx++)
                for (int32_t v = 0; v < nv; v++) {
                    int32_t m = lower_local(L, IR_TYPE_VBOOL);
                    ptrvec_push(a, &out, set(P, m, vand(P, vand(P, inplane[v], rowm[v][ky]),
                                                       colm[v][kx])));
                    tapm[(ky * P->kw + kx) * nv + v] = loc(P, m);
                }
    }
    /* the reduction: input channels, then taps in the script's order */
    PtrVec red = { 0 };
    IrExpr *c = V(L, P->var_c);
    IrExpr *xc = add(L, add(L, loc(P, P->l_xbase), mul(L, c, P->Pin)), loc(P, P->l_p0));
    IrExpr *wc = add(L, loc(P, P->l_wbase), mul(L, c, I(L, P->ntaps * P->nk)));
    for (int64_t ky = 0; ky < P->kh; ky++)
        for (int64_t kx = 0; kx < P->kw; kx++) {
            int64_t tap = ky * P->kw + kx;
            IrExpr *off = add(L, mul(L, I(L, P->ay[ky]), P->W), I(L, P->ax[kx]));
            IrExpr *mask[MAX_NV];
            for (int32_t v = 0; v < nv; v++) {
                mask[v] = interior ? colm[v][kx] : tapm[tap * nv + v];
                IrExpr *lin = add(L, add(L, xc, I(L, (int64_t)v * vl)), off);
                ptrvec_push(a, &red, set(P, xv[v], ir_vload(a, P->bx, P->xrank,
                                                            lin_idx(P, P->xrank, lin),
                                                            interior ? NULL : mask[v])));
            }
            for (int32_t j = 0; j < nk_run; j++) {
                IrExpr *wl = add(L, wc, I(L, tap * P->nk + j));
                ptrvec_push(a, &red, set(P, wv, ir_broadcast(a, ir_load(a, P->bwp, 4,
                    (IrExpr *const[]){ I(L, 0), I(L, 0), I(L, 0), wl }))));
                for (int32_t v = 0; v < nv; v++) {
                    IrExpr *acc_v = loc(P, acc[j][v]);
                    IrExpr *f = ir_fma(a, loc(P, xv[v]), loc(P, wv), acc_v);
                    if (mask[v])
                        f = ir_select(a, mask[v], f, acc_v);
                    ptrvec_push(a, &red, set(P, acc[j][v], f));
                }
            }
        }
    ptrvec_push(a, &out, ir_for(a, P->var_c, I(L, 0), P->Cg, lower_block(L, &red), 0));
    /* epilogue and store */
    for (int32_t j = 0; j < nk_run; j++)
        for (int32_t v = 0; v < nv; v++) {
            IrExpr *lin = add(L, add(L, add(L, loc(P, P->l_ybase), mul(L, I(L, j), P->P)),
                                     loc(P, P->l_p0)), I(L, (int64_t)v * vl));
            IrExpr *m = interior ? NULL : inplane[v];
            IrExpr *val = epilogue(P, loc(P, acc[j][v]), lin, m);
            ptrvec_push(a, &out, ir_vstore(a, P->by, P->yrank, lin_idx(P, P->yrank, lin), val, m));
        }
    return lower_block(L, &out);
}

/* Both channel-block variants: the full one, and the last block's (fewer
 * channels) when the block size does not divide the group's channels. */
static IrStmt *blocks(Plane *P, bool interior, IrExpr ***colm, IrExpr ***rowm, IrExpr **inplane)
{
    Lower *L = P->L;
    IrStmt *full = block_body(P, P->nk, interior, colm, rowm, inplane);
    if (P->rem == 0)
        return full;
    IrStmt *last = block_body(P, (int32_t)P->rem, interior, colm, rowm, inplane);
    IrExpr *is_last = ir_bin(L->a, IR_OP_EQ, loc(P, P->l_kb), I(L, P->nkbg - 1));
    return ir_if(L->a, is_last, last, full);
}

/* ---- the nest ----------------------------------------------------------- */

IrStmt *kernel_conv_plane(Lower *L, const Node *n)
{
    Arena *a = L->a;
    const StagePlan *plan = schedule_plan(L->sched, n);
    Plane P_ = { .L = L, .n = n };
    Plane *P = &P_;
    const WindowParams *win = &n->conv.win;
    P->x = n->in[0];
    P->w = n->in[1];
    P->bias = n->nin > 2 ? n->in[2] : NULL;
    P->store = schedule_store_node(L->sched, n);
    P->nsp = win->nsp;
    P->vl = L->sched->target.vlen;
    P->nk = plan->nk;
    P->nv = plan->nv;
    P->tile = P->nv * P->vl;
    P->flip = n->conv.flip;
    sym_is_const(P->w->shape.dims[0], &P->K);
    P->G = n->conv.groups;
    P->Kg = P->K / P->G;
    P->nkbg = (P->Kg + P->nk - 1) / P->nk;
    P->rem = P->Kg % P->nk;
    int32_t xr = P->x->shape.rank, orank = n->shape.rank, nsp = P->nsp;
    P->xrank = xr;
    P->yrank = P->store->shape.rank;
    int64_t k[2], pad0[2];
    for (int32_t i = 0; i < nsp; i++) {
        sym_is_const(win->k[i], &k[i]);
        sym_is_const(win->pad0[i], &pad0[i]);
    }
    P->kh = nsp == 2 ? k[0] : 1;
    P->kw = k[nsp - 1];
    P->ntaps = P->kh * P->kw;
    P->ay = arena_array(a, (size_t)P->kh, sizeof(int64_t));
    P->ax = arena_array(a, (size_t)P->kw, sizeof(int64_t));
    for (int64_t t = 0; t < P->kh; t++)
        P->ay[t] = nsp == 2 ? t * win->dilation[0] - pad0[0] : 0;
    for (int64_t t = 0; t < P->kw; t++)
        P->ax[t] = t * win->dilation[nsp - 1] - pad0[nsp - 1];

    P->Cg = lower_dim(L, P->w->shape.dims[1]);
    P->W = lower_dim(L, n->shape.dims[orank - 1]);
    P->H = nsp == 2 ? lower_dim(L, P->x->shape.dims[xr - 2]) : I(L, 1);
    IrExpr *OH = nsp == 2 ? lower_dim(L, n->shape.dims[orank - 2]) : I(L, 1);
    P->P = mul(L, OH, P->W);
    P->Pin = mul(L, P->H, P->W);
    P->N = I(L, 1);
    for (int32_t i = 0; i < orank - nsp - 1; i++)
        P->N = mul(L, P->N, lower_dim(L, n->shape.dims[i]));
    P->bx = lower_buffer_of(L, P->x);
    P->by = lower_buffer_of(L, P->store);
    P->bwp = pack_weights(P);

    /* the work items: batch x group x tile x channel block, the block
     * innermost so that consecutive items reuse the same input tile */
    IrExpr *ntiles = idiv(L, add(L, P->P, I(L, P->tile - 1)), I(L, P->tile));
    IrExpr *items = mul(L, mul(L, mul(L, P->N, I(L, P->G)), ntiles), I(L, P->nkbg));
    int32_t vit = lower_var(L, "item");
    P->var_c = lower_var(L, "c");
    IrExpr *it = V(L, vit);
    PtrVec body = { 0 };
#define NEW_I64(field) (P->field = lower_local(L, IR_TYPE_I64))
    NEW_I64(l_kb); NEW_I64(l_tile); NEW_I64(l_g); NEW_I64(l_n); NEW_I64(l_p0);
    NEW_I64(l_ox0); NEW_I64(l_oy0); NEW_I64(l_xbase); NEW_I64(l_ybase); NEW_I64(l_wbase);
#undef NEW_I64
    IrExpr *rest = idiv(L, it, I(L, P->nkbg));
    ptrvec_push(a, &body, set(P, P->l_kb, imod(L, it, I(L, P->nkbg))));
    ptrvec_push(a, &body, set(P, P->l_tile, imod(L, rest, ntiles)));
    rest = idiv(L, rest, ntiles);
    ptrvec_push(a, &body, set(P, P->l_g, imod(L, rest, I(L, P->G))));
    ptrvec_push(a, &body, set(P, P->l_n, idiv(L, rest, I(L, P->G))));
    ptrvec_push(a, &body, set(P, P->l_p0, mul(L, loc(P, P->l_tile), I(L, P->tile))));
    ptrvec_push(a, &body, set(P, P->l_oy0, idiv(L, loc(P, P->l_p0), P->W)));
    ptrvec_push(a, &body, set(P, P->l_ox0, imod(L, loc(P, P->l_p0), P->W)));
    IrExpr *C = lower_dim(L, P->x->shape.dims[xr - nsp - 1]);
    /* linear offsets of the group's first input plane, the block's first
     * output plane and the block's packed weights */
    ptrvec_push(a, &body, set(P, P->l_xbase, mul(L, add(L, mul(L, loc(P, P->l_n), C),
                                                         mul(L, loc(P, P->l_g), P->Cg)), P->Pin)));
    ptrvec_push(a, &body, set(P, P->l_ybase,
        mul(L, add(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)), mul(L, loc(P, P->l_g), I(L, P->Kg))),
                   mul(L, loc(P, P->l_kb), I(L, P->nk))), P->P)));
    ptrvec_push(a, &body, set(P, P->l_wbase,
        mul(L, add(L, mul(L, loc(P, P->l_g), I(L, P->nkbg)), loc(P, P->l_kb)),
            mul(L, P->Cg, I(L, P->ntaps * P->nk)))));

    /* each lane's output row and column */
    int32_t nv = P->nv, vl = P->vl;
    P->l_oxv = arena_array(a, (size_t)nv, sizeof(int32_t));
    P->l_oyv = arena_array(a, (size_t)nv, sizeof(int32_t));
    for (int32_t v = 0; v < nv; v++) {
        P->l_oxv[v] = lower_local(L, IR_TYPE_VI64);
        P->l_oyv[v] = lower_local(L, IR_TYPE_VI64);
        ptrvec_push(a, &body, set(P, P->l_oxv[v], ir_bin(a, IR_OP_ADD,
            ir_broadcast(a, add(L, loc(P, P->l_ox0), I(L, (int64_t)v * vl))), ir_iota(a))));
        ptrvec_push(a, &body, set(P, P->l_oyv[v], ir_broadcast(a, loc(P, P->l_oy0))));
    }
    {
        /* lanes past the row's end wrap into the following rows */
        PtrVec wrap = { 0 };
        for (int32_t v = 0; v < nv; v++) {
            /* the row first: it tests the column before the column moves */
            IrExpr *m = ir_bin(a, IR_OP_GE, loc(P, P->l_oxv[v]), P->W);
            ptrvec_push(a, &wrap, set(P, P->l_oyv[v], ir_select(a, m,
                ir_bin(a, IR_OP_ADD, loc(P, P->l_oyv[v]), I(L, 1)), loc(P, P->l_oyv[v]))));
            ptrvec_push(a, &wrap, set(P, P->l_oxv[v], ir_select(a, m,
                ir_bin(a, IR_OP_SUB, loc(P, P->l_oxv[v]), P->W), loc(P, P->l_oxv[v]))));
        }
        int32_t vr = lower_var(L, "wrap");
        IrExpr *nwrap = idiv(L, add(L, loc(P, P->l_ox0), I(L, P->tile - 1)), P->W);
        ptrvec_push(a, &body, ir_for(a, vr, I(L, 0), nwrap, lower_block(L, &wrap), 0));
    }

    /* masks: column (both variants), row and place in the plane (border) */
    IrExpr ***colm_b = arena_array(a, (size_t)nv, sizeof *colm_b);
    IrExpr ***colm_i = arena_array(a, (size_t)nv, sizeof *colm_i);
    IrExpr ***rowm = arena_array(a, (size_t)nv, sizeof *rowm);
    IrExpr **inplane = arena_array(a, (size_t)nv, sizeof *inplane);
    PtrVec imasks = { 0 }, bmasks = { 0 };
    for (int32_t v = 0; v < nv; v++) {
        colm_b[v] = arena_array(a, (size_t)P->kw, sizeof **colm_b);
        colm_i[v] = arena_array(a, (size_t)P->kw, sizeof **colm_i);
        rowm[v] = arena_array(a, (size_t)P->kh, sizeof **rowm);
        for (int64_t kx = 0; kx < P->kw; kx++) {
            if (P->ax[kx] == 0)
                continue;       /* never crosses a row end */
            int32_t m = lower_local(L, IR_TYPE_VBOOL);
            IrExpr *col = ir_bin(a, IR_OP_ADD, loc(P, P->l_oxv[v]), I(L, P->ax[kx]));
            IrExpr *ok = ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, col, I(L, 0)),
                                ir_bin(a, IR_OP_LT, col, P->W));
            ptrvec_push(a, &imasks, set(P, m, ok));
            colm_i[v][kx] = loc(P, m);
            int32_t mb = lower_local(L, IR_TYPE_VBOOL);
            ptrvec_push(a, &bmasks, set(P, mb, ok));
            colm_b[v][kx] = loc(P, mb);
        }
        for (int64_t ky = 0; ky < P->kh; ky++) {
            if (nsp == 1)
                continue;
            int32_t m = lower_local(L, IR_TYPE_VBOOL);
            IrExpr *row = ir_bin(a, IR_OP_ADD, loc(P, P->l_oyv[v]), I(L, P->ay[ky]));
            ptrvec_push(a, &bmasks, set(P, m, ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, row, I(L, 0)),
                                                      ir_bin(a, IR_OP_LT, row, P->H))));
            rowm[v][ky] = loc(P, m);
        }
        int32_t m = lower_local(L, IR_TYPE_VBOOL);
        IrExpr *pos = ir_bin(a, IR_OP_ADD, ir_broadcast(a, add(L, loc(P, P->l_p0), I(L, (int64_t)v * vl))),
                             ir_iota(a));
        ptrvec_push(a, &bmasks, set(P, m, ir_bin(a, IR_OP_LT, pos, P->P)));
        inplane[v] = loc(P, m);
    }

    /* interior: the whole tile inside the plane, every row of it sees every
     * tap row inside the input, and every plain load stays in the plane */
    int64_t ay_min = P->ay[0], ay_max = P->ay[P->kh - 1];
    int64_t off_min_c = P->ax[0], off_max_c = P->ax[P->kw - 1];
    IrExpr *p0 = loc(P, P->l_p0), *last = add(L, p0, I(L, P->tile - 1));
    IrExpr *oy_last = idiv(L, last, P->W);
    IrExpr *cond = ir_bin(a, IR_OP_LE, add(L, p0, I(L, P->tile)), P->P);
    if (nsp == 2) {
        cond = ir_bin(a, IR_OP_AND, cond, ir_bin(a, IR_OP_GE, add(L, loc(P, P->l_oy0), I(L, ay_min)), I(L, 0)));
        cond = ir_bin(a, IR_OP_AND, cond, ir_bin(a, IR_OP_LT, add(L, oy_last, I(L, ay_max)), P->H));
    }
    IrExpr *off_min = add(L, mul(L, I(L, ay_min), P->W), I(L, off_min_c));
    IrExpr *off_max = add(L, mul(L, I(L, ay_max), P->W), I(L, off_max_c));
    cond = ir_bin(a, IR_OP_AND, cond, ir_bin(a, IR_OP_GE, add(L, p0, off_min), I(L, 0)));
    cond = ir_bin(a, IR_OP_AND, cond, ir_bin(a, IR_OP_LT, add(L, last, off_max), P->Pin));

    ptrvec_push(a, &imasks, blocks(P, true, colm_i, NULL, NULL));
    ptrvec_push(a, &bmasks, blocks(P, false, colm_b, rowm, inplane));
    ptrvec_push(a, &body, ir_if(a, cond, lower_block(L, &imasks), lower_block(L, &bmasks)));

    uint32_t flags = L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0;
    return ir_for(a, vit, I(L, 0), items, lower_block(L, &body), flags);
}
