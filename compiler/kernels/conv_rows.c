/* kernels/conv_rows.c - the convolution micro-kernel along output rows
 * (KERNEL_CONV_ROWS, chosen by passes/kernels.c for targets without mask
 * registers, AVX2).
 *
 * On AVX-512 a masked FMA costs nothing, so conv_plane.c lets vectors run
 * across row ends and masks the taps that leave a row.  Without mask
 * registers every masked FMA costs a blend and a register for its mask,
 * and the 16 vector registers cannot hold the accumulators and the masks
 * at once.  This kernel therefore keeps every vector inside one output
 * row, at columns fixed when compiling: the row's width is known, so which
 * lanes of which vector leave the input row for which kernel column is
 * known too, and the few FMAs that need it get a blend with a constant
 * mask (an immediate blend, no mask register).  The last vector of a row
 * is moved back to end at the row's end (it recomputes a few outputs of
 * its neighbour, with the same operations, so the same values).
 *
 *   for each work item (batch, group, output row, block of nk channels):
 *     for each chunk of nv vectors of the row:
 *       acc[j][v] = bias or 0
 *       for c in the group's input channels:
 *         for ky (unrolled) whose input row exists:      -- as the scalar nest
 *           for kx (unrolled): xv[v] = the row's vectors; w = broadcast;
 *                              acc[j][v] = fma(xv[v], w, acc[j][v]) (blended
 *                              where lanes leave the input row)
 *       store epilogue(acc)
 *
 * Exactness as in conv_plane.c: per lane the scalar nest's operations in
 * its order; taps outside the input are skipped (a row loop bound, or a
 * blend that keeps the accumulator), never added as w*0.  Strides read
 * the phase planes of conv_common.c. */
#include "conv.h"

typedef struct RowVec {
    int64_t ox0;                /* first output column */
    int64_t lanes;              /* lanes that are outputs (VL but on rows
                                   narrower than a vector) */
} RowVec;

/* Lanes of the vector at ox0 whose tap (column offset ax) is an input
 * column; bit l for lane l. */
static uint64_t valid_lanes(const Conv *P, const RowVec *rv, int64_t ax, int64_t iw)
{
    uint64_t m = 0;
    for (int64_t l = 0; l < rv->lanes; l++) {
        int64_t ix = P->sx * (rv->ox0 + l) + ax;
        if (ix >= 0 && ix < iw)
            m |= (uint64_t)1 << l;
    }
    return m;
}

/* A lane mask known when compiling: lane l is set when bit l is (LLVM
 * folds the comparisons of the constant iota into a constant). */
static IrExpr *const_mask(Conv *P, uint64_t bits)
{
    Lower *L = P->L;
    IrExpr *m = NULL;
    for (int32_t l = 0; l < P->vl; l++) {
        IrExpr *is = ir_bin(L->a, IR_OP_EQ, ir_iota(L->a), I(L, l));
        if ((bits >> l) & 1)
            m = m ? ir_bin(L->a, IR_OP_OR, m, is) : is;
    }
    return m ? m : ir_bin(L->a, IR_OP_LT, ir_iota(L->a), I(L, 0));
}

/* One chunk of the row: vectors rv[0..nv), nk_run channels, moved right
 * by `shift` columns (a loop over chunks without masks; 0 otherwise). */
static IrStmt *chunk_body(Conv *P, const RowVec *rv, int32_t nv, int32_t nk_run, IrExpr *oy,
                          IrExpr *ylo, IrExpr *yhi, int64_t iw, IrExpr *shift)
{
    Lower *L = P->L;
    Arena *a = L->a;
    PtrVec out = { 0 };
    int32_t acc[MAX_NK][MAX_NV], xv[MAX_NV], wv = lower_local(L, IR_TYPE_VF32);
    conv_block_locals(P, &out, nk_run, nv, acc, xv);
    IrExpr *c = V(L, P->var_c);
    /* input row oy*sy of channel c (in its phase planes, oy + dy) */
    IrExpr *xc = add(L, add(L, loc(P, P->l_xbase), mul(L, c, P->cstride)), mul(L, oy, P->Wv));
    PtrVec red = { 0 };
    for (int64_t ky = 0; ky < P->kh; ky++) {
        PtrVec row = { 0 };
        for (int64_t kx = 0; kx < P->kw; kx++) {
            int64_t tap = ky * P->kw + kx;
            const Tap *t = &P->taps[tap];
            IrExpr *off = add(L, add(L, mul(L, I(L, t->phase), P->pstride), mul(L, I(L, t->dy), P->Wv)),
                              I(L, t->dx));
            IrExpr *mask[16];
            for (int32_t v = 0; v < nv; v++) {
                uint64_t ok = valid_lanes(P, &rv[v], t->ax, iw);
                uint64_t all = P->vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << P->vl) - 1;
                mask[v] = ok == all ? NULL : const_mask(P, ok);
                IrExpr *lin = add(L, add(L, xc, add(L, I(L, rv[v].ox0), shift)), off);
                ptrvec_push(a, &row, set(P, xv[v], ir_vload(a, P->bx, P->xrank,
                                                            lin_idx(P, P->xrank, lin), mask[v])));
            }
            conv_tap_fmas(P, &row, c, tap, nk_run, nv, acc, xv, wv, mask);
        }
        /* kernel rows outside the input are skipped, as by the scalar
         * nest's loop bounds */
        IrExpr *in = ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_LE, ylo, I(L, ky)),
                            ir_bin(a, IR_OP_LT, I(L, ky), yhi));
        ptrvec_push(a, &red, ir_if(a, in, lower_block(L, &row), NULL));
    }
    ptrvec_push(a, &out, ir_for(a, P->var_c, I(L, 0), P->Cg, lower_block(L, &red), IR_LOOP_KERNEL));
    for (int32_t j = 0; j < nk_run; j++)
        for (int32_t v = 0; v < nv; v++) {
            IrExpr *lin = add(L, add(L, add(L, loc(P, P->l_ybase), mul(L, I(L, j), P->Pout)),
                                     mul(L, oy, P->OW)), add(L, I(L, rv[v].ox0), shift));
            uint64_t all = P->vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << P->vl) - 1;
            uint64_t outl = rv[v].lanes >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << rv[v].lanes) - 1;
            IrExpr *m = outl == all ? NULL : const_mask(P, outl);
            ptrvec_push(a, &out, ir_vstore(a, P->by, P->yrank, lin_idx(P, P->yrank, lin),
                                           kl_epilogue(L, P->n, loc(P, acc[j][v]), lin, m), m));
        }
    return lower_block(L, &out);
}

/* Whether every vector of the chunk is whole, starts vl after the one
 * before, and reads only input columns with every tap: then the chunk
 * needs no mask and is the one before it moved right. */
static bool clean_chunk(const Conv *P, const RowVec *rv, int32_t nv, int64_t iw)
{
    uint64_t all = P->vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << P->vl) - 1;
    for (int32_t v = 0; v < nv; v++) {
        if (rv[v].lanes != P->vl || (v && rv[v].ox0 != rv[v - 1].ox0 + P->vl))
            return false;
        for (int64_t t = 0; t < P->ntaps; t++)
            if (valid_lanes(P, &rv[v], P->taps[t].ax, iw) != all)
                return false;
    }
    return true;
}

/* A whole output row: chunks of nv vectors.  The chunks at the row's ends
 * are written out (their masks are constants); a run of clean chunks
 * between them is one loop over a chunk moved right by nv vectors a step. */
static IrStmt *row_body(Conv *P, int32_t nk_run, IrExpr *oy, IrExpr *ylo, IrExpr *yhi)
{
    Lower *L = P->L;
    int64_t ow, iw;
    sym_is_const(P->n->shape.dims[P->n->shape.rank - 1], &ow);
    sym_is_const(P->x->shape.dims[P->x->shape.rank - 1], &iw);
    int64_t nvec = ow <= P->vl ? 1 : (ow + P->vl - 1) / P->vl;
    RowVec *rv = arena_array(L->a, (size_t)nvec, sizeof *rv);
    if (ow <= P->vl)
        rv[0] = (RowVec){ 0, ow };
    else
        for (int64_t v = 0; v < nvec; v++) {
            int64_t ox0 = v * P->vl;
            rv[v] = (RowVec){ ox0 + P->vl > ow ? ow - P->vl : ox0, P->vl };
        }
    PtrVec chunks = { 0 };
    int64_t step = (int64_t)P->nv * P->vl;
    for (int64_t v0 = 0; v0 < nvec;) {
        int32_t nv = nvec - v0 < P->nv ? (int32_t)(nvec - v0) : P->nv;
        int64_t run = 0;        /* clean chunks from v0 on, each a step further */
        while (nv == P->nv && v0 + (run + 1) * P->nv <= nvec &&
               clean_chunk(P, &rv[v0 + run * P->nv], P->nv, iw) &&
               rv[v0 + run * P->nv].ox0 == rv[v0].ox0 + run * step)
            run++;
        if (run >= 2) {
            int32_t q = lower_var(L, "chunk");
            IrExpr *shift = mul(L, V(L, q), I(L, step));
            ptrvec_push(L->a, &chunks, ir_for(L->a, q, I(L, 0), I(L, run),
                chunk_body(P, &rv[v0], nv, nk_run, oy, ylo, yhi, iw, shift), IR_LOOP_KERNEL));
            v0 += run * P->nv;
            continue;
        }
        ptrvec_push(L->a, &chunks, chunk_body(P, &rv[v0], nv, nk_run, oy, ylo, yhi, iw, I(L, 0)));
        v0 += nv;
    }
    return lower_block(L, &chunks);
}

IrStmt *kernel_conv_rows(Lower *L, const Node *n)
{
    Arena *a = L->a;
    const StagePlan *plan = schedule_plan(L->sched, n);
    Conv P_ = { .L = L, .n = n };
    Conv *P = &P_;
    conv_setup(P);
    (void)plan;

    int32_t vit = lower_var(L, "item");
    P->var_c = lower_var(L, "c");
    IrExpr *it = V(L, vit);
    PtrVec body = { 0 };
    P->l_kb = lower_local(L, IR_TYPE_I64);
    P->l_g = lower_local(L, IR_TYPE_I64);
    P->l_n = lower_local(L, IR_TYPE_I64);
    P->l_xbase = lower_local(L, IR_TYPE_I64);
    P->l_ybase = lower_local(L, IR_TYPE_I64);
    P->l_wbase = lower_local(L, IR_TYPE_I64);
    int32_t l_oy = lower_local(L, IR_TYPE_I64), l_ylo = lower_local(L, IR_TYPE_I64),
            l_yhi = lower_local(L, IR_TYPE_I64);

    /* work items: batch x group x output row x channel block, the block
     * innermost so that consecutive items read the same input rows */
    IrExpr *items = mul(L, mul(L, mul(L, P->N, I(L, P->G)), P->OH), I(L, P->nkbg));
    IrExpr *rest = idiv(L, it, I(L, P->nkbg));
    ptrvec_push(a, &body, set(P, P->l_kb, imod(L, it, I(L, P->nkbg))));
    ptrvec_push(a, &body, set(P, l_oy, imod(L, rest, P->OH)));
    rest = idiv(L, rest, P->OH);
    ptrvec_push(a, &body, set(P, P->l_g, imod(L, rest, I(L, P->G))));
    ptrvec_push(a, &body, set(P, P->l_n, idiv(L, rest, I(L, P->G))));
    int32_t xr = P->x->shape.rank, nsp = P->nsp;
    IrExpr *C = lower_dim(L, P->x->shape.dims[xr - nsp - 1]);
    ptrvec_push(a, &body, set(P, P->l_xbase, mul(L, add(L, mul(L, loc(P, P->l_n), C),
                                                         mul(L, loc(P, P->l_g), P->Cg)), P->cstride)));
    ptrvec_push(a, &body, set(P, P->l_ybase,
        mul(L, add(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)), mul(L, loc(P, P->l_g), I(L, P->Kg))),
                   mul(L, loc(P, P->l_kb), I(L, P->nk))), P->Pout)));
    ptrvec_push(a, &body, set(P, P->l_wbase, conv_wbase(P)));
    /* kernel rows whose input row exists: iy = oy*sy + ky*d - pad in [0, IH) */
    IrExpr *oy = loc(P, l_oy);
    int64_t dil = nsp == 2 ? P->n->conv.win.dilation[0] : 1, pt = -P->taps[0].ay;
    IrExpr *base = sub(L, mul(L, oy, I(L, P->sy)), I(L, pt));
    ptrvec_push(a, &body, set(P, l_ylo, imax(L, I(L, 0), sub(L, I(L, 0), idiv(L, base, I(L, dil))))));
    ptrvec_push(a, &body, set(P, l_yhi, imin(L, I(L, P->kh),
        add(L, idiv(L, sub(L, sub(L, P->IH, I(L, 1)), base), I(L, dil)), I(L, 1)))));
    IrStmt *run = row_body(P, P->nk, oy, loc(P, l_ylo), loc(P, l_yhi));
    if (P->rem) {
        IrStmt *last = row_body(P, (int32_t)P->rem, oy, loc(P, l_ylo), loc(P, l_yhi));
        run = ir_if(a, ir_bin(a, IR_OP_EQ, loc(P, P->l_kb), I(L, P->nkbg - 1)), last, run);
    }
    ptrvec_push(a, &body, run);
    uint32_t flags = IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0);
    IrStmt *nest = ir_for(a, vit, I(L, 0), items, lower_block(L, &body), flags);
    if (!P->copy_nest)
        return nest;
    return ir_block(a, (IrStmt *const[]){ P->copy_nest, nest }, 2);
}
