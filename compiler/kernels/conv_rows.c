/* kernels/conv_rows.c - the convolution micro-kernel along output rows
 * (KERNEL_CONV_ROWS, chosen by passes/kernels.c for targets without mask
 * registers, AVX2; and on every target for depthwise layers, whose
 * work items are a channel's plane by sliding rows: conv_dw_rows.c).
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
 *   for each work item (batch, group, output row -- two with
 *                       plan.rows_pair, their last chunks as one -- and
 *                       block of nk channels):
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
 * blend that keeps the accumulator), never added as w*0.  (An FMA of the
 * masked load's zero is not the same: a sum that is -0.0 -- a -0.0 bias,
 * or products that round to -0.0, such as -1e-30 * 1e-20 -- plus
 * +0.0 * w is +0.0.)  Strides read the phase planes of conv_common.c. */
#include "conv.h"

/* How a chunk's lanes are masked: by patterns fixed when compiling (the
 * widths known, or the chunks at the ends of a row whose width is a
 * symbol), not at all (every lane and tap inside the rows), or by masks
 * made at run time from the chunk's column, its stores too (the rare rows
 * of symbolic width too narrow for those chunks; AVX2's masked stores
 * are slow on some CPUs: on znver4, at both ends of every row they cost a
 * depthwise layer 7%). */
typedef enum ChunkMasks { MASKS_CONST, MASKS_NONE, MASKS_RUNTIME } ChunkMasks;

/* One chunk of the row: vectors rv[0..nv), nk_run channels, moved right
 * by `shift` columns (a loop over chunks without masks, or the column of
 * a chunk of a row whose width is a symbol; 0 otherwise). */
static IrStmt *chunk_body(Conv *P, const RowVec *rv, int32_t nv, int32_t nk_run, IrExpr *oy,
                          IrExpr *ylo, IrExpr *yhi, int64_t lo, int64_t hi, IrExpr *shift,
                          ChunkMasks how)
{
    Lower *L = P->L;
    Arena *a = L->a;
    PtrVec out = { 0 };
    int32_t acc[MAX_NK][MAX_NV], xv[MAX_NV], wv = lower_local(L, IR_TYPE_VF32);
    conv_block_locals(P, &out, nk_run, nv, acc, xv);
    /* run-time masks, made once a chunk: per vector, each column tap's
     * input column inside the row, and the output column inside it */
    IrExpr *colm[MAX_NV][64], *outm[MAX_NV];
    bool runtime = how == MASKS_RUNTIME;
    for (int32_t v = 0; runtime && v < nv; v++) {
        IrExpr *ox = ir_bin(a, IR_OP_ADD, ir_broadcast(a, add(L, shift, I(L, rv[v].ox0))), ir_iota(a));
        for (int64_t kx = 0; kx < P->kw; kx++) {
            /* every tap tested at both ends: the lanes past the output
             * row's end (not stored) must not load past the input row's */
            int32_t m = lower_local(L, IR_TYPE_VBOOL);
            IrExpr *ix = ir_bin(a, IR_OP_ADD, P->sx > 1 ? ir_bin(a, IR_OP_MUL, ox, I(L, P->sx)) : ox,
                                I(L, P->taps[kx].ax));
            ptrvec_push(a, &out, set(P, m, in_range(P, ix, P->IW)));
            colm[v][kx] = loc(P, m);
        }
        int32_t m = lower_local(L, IR_TYPE_VBOOL);
        ptrvec_push(a, &out, set(P, m, ir_bin(a, IR_OP_LT, ox, P->OW)));
        outm[v] = loc(P, m);
    }
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
                mask[v] = NULL;
                if (runtime) {
                    mask[v] = colm[v][kx];
                } else if (how == MASKS_CONST) {
                    uint64_t ok = conv_valid_lanes(P, &rv[v], t->ax, lo, hi);
                    uint64_t all = P->vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << P->vl) - 1;
                    mask[v] = ok == all ? NULL : conv_const_mask(P, ok);
                }
                IrExpr *lin = add(L, add(L, xc, add(L, I(L, rv[v].ox0), shift)), off);
                if (rv[v].dy)
                    lin = add(L, lin, mul(L, I(L, rv[v].dy), P->Wv));
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
                                     mul(L, add(L, oy, I(L, rv[v].dy)), P->OW)),
                              add(L, I(L, rv[v].ox0), shift));
            uint64_t all = P->vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << P->vl) - 1;
            uint64_t outl = rv[v].lanes >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << rv[v].lanes) - 1;
            IrExpr *m = runtime ? outm[v] : outl == all ? NULL : conv_const_mask(P, outl);
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
            if (conv_valid_lanes(P, &rv[v], P->taps[t].ax, 0, iw) != all)
                return false;
    }
    return true;
}

/* The vectors of an output row of known width: nvec of them from column
 * 0, the last moved back to end at the row's end. */
static RowVec *row_vectors(Conv *P, int64_t *nvec_out)
{
    int64_t ow;
    sym_is_const(P->n->shape.dims[P->n->shape.rank - 1], &ow);
    int64_t nvec = ow <= P->vl ? 1 : (ow + P->vl - 1) / P->vl;
    RowVec *rv = arena_array(P->L->a, (size_t)nvec, sizeof *rv);
    if (ow <= P->vl)
        rv[0] = (RowVec){ 0, ow, 0 };
    else
        for (int64_t v = 0; v < nvec; v++) {
            int64_t ox0 = v * P->vl;
            rv[v] = (RowVec){ ox0 + P->vl > ow ? ow - P->vl : ox0, P->vl, 0 };
        }
    *nvec_out = nvec;
    return rv;
}

/* What row_body writes of a row: all of it, or all but its last chunk
 * when that is shorter than the block (the tail), or only that tail. */
typedef enum RowPart { ROW_ALL, ROW_HEAD, ROW_TAIL } RowPart;

/* A whole output row (or a part): chunks of nv vectors.  The chunks at
 * the row's ends are written out (their masks are constants); a run of
 * clean chunks between them is one loop over a chunk moved right by nv
 * vectors a step. */
static IrStmt *row_body(Conv *P, int32_t nk_run, IrExpr *oy, IrExpr *ylo, IrExpr *yhi, RowPart part)
{
    Lower *L = P->L;
    int64_t iw, nvec;
    sym_is_const(P->x->shape.dims[P->x->shape.rank - 1], &iw);
    RowVec *rv = row_vectors(P, &nvec);
    PtrVec chunks = { 0 };
    int64_t step = (int64_t)P->nv * P->vl;
    for (int64_t v0 = 0; v0 < nvec;) {
        int32_t nv = nvec - v0 < P->nv ? (int32_t)(nvec - v0) : P->nv;
        bool tail = nv < P->nv;
        if ((part == ROW_HEAD && tail) || (part == ROW_TAIL && !tail)) {
            v0 += nv;
            continue;
        }
        int64_t run = 0;        /* clean chunks from v0 on, each a step further */
        while (nv == P->nv && v0 + (run + 1) * P->nv <= nvec &&
               clean_chunk(P, &rv[v0 + run * P->nv], P->nv, iw) &&
               rv[v0 + run * P->nv].ox0 == rv[v0].ox0 + run * step)
            run++;
        if (run >= 2) {
            int32_t q = lower_var(L, "chunk");
            IrExpr *shift = mul(L, V(L, q), I(L, step));
            ptrvec_push(L->a, &chunks, ir_for(L->a, q, I(L, 0), I(L, run),
                chunk_body(P, &rv[v0], nv, nk_run, oy, ylo, yhi, 0, iw, shift, MASKS_NONE), IR_LOOP_KERNEL));
            v0 += run * P->nv;
            continue;
        }
        ptrvec_push(L->a, &chunks, chunk_body(P, &rv[v0], nv, nk_run, oy, ylo, yhi, 0, iw, I(L, 0),
                                              MASKS_CONST));
        v0 += nv;
    }
    return lower_block(L, &chunks);
}

/* Kernel rows ky in [lo, hi) of output row oy: those whose input row
 * oy*sy + ky*d - pad exists, as the scalar nest's bounds; set in `out`
 * into the locals l_lo and l_hi. */
static void ky_bounds(Conv *P, PtrVec *out, IrExpr *oy, int32_t l_lo, int32_t l_hi)
{
    Lower *L = P->L;
    int64_t dil = P->nsp == 2 ? P->n->conv.win.dilation[0] : 1, pt = -P->taps[0].ay;
    IrExpr *base = sub(L, mul(L, oy, I(L, P->sy)), I(L, pt));
    ptrvec_push(L->a, out, set(P, l_lo, imax(L, I(L, 0), sub(L, I(L, 0), idiv(L, base, I(L, dil))))));
    ptrvec_push(L->a, out, set(P, l_hi, imin(L, I(L, P->kh),
        add(L, idiv(L, sub(L, sub(L, P->IH, I(L, 1)), base), I(L, dil)), I(L, 1)))));
}

/* A loop over a pair item's output rows (oy, and oy + 1 below OH), each
 * with its kernel rows' bounds, the body made by `part` of row oyr. */
static IrStmt *pair_rows(Conv *P, IrExpr *oy,
                         IrStmt *(*part)(Conv *, int32_t, IrExpr *, IrExpr *, IrExpr *, RowPart),
                         int32_t nk_run, RowPart which)
{
    Lower *L = P->L;
    int32_t vr = lower_var(L, "row"), l_lo = lower_local(L, IR_TYPE_I64), l_hi = lower_local(L, IR_TYPE_I64);
    IrExpr *oyr = add(L, oy, V(L, vr));
    PtrVec body = { 0 };
    ky_bounds(P, &body, oyr, l_lo, l_hi);
    ptrvec_push(L->a, &body, part(P, nk_run, oyr, loc(P, l_lo), loc(P, l_hi), which));
    return ir_for(L->a, vr, I(L, 0), imin(L, I(L, 2), sub(L, P->OH, oy)), lower_block(L, &body),
                  IR_LOOP_KERNEL);
}

/* A work item's two output rows oy and oy + 1 (plan.rows_pair): each
 * row's chunks but its tail, then both tails as one chunk of their
 * vectors -- where both rows see every kernel row (the chunk has one
 * reduction for both: ylo0, the first row's first kernel row, is 0 and
 * yhi1, the second's end, kh); elsewhere, and for a last row with no
 * second, each tail on its own.  Per output, the same operations in the
 * same order as row_body's. */
static IrStmt *row_pair(Conv *P, int32_t nk_run, IrExpr *oy, IrExpr *ylo0, IrExpr *yhi1)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int64_t iw, nvec;
    sym_is_const(P->x->shape.dims[P->x->shape.rank - 1], &iw);
    RowVec *rv = row_vectors(P, &nvec);
    int64_t tail = nvec % P->nv;
    RowVec pv[MAX_NV];
    for (int64_t v = 0; v < tail; v++) {
        pv[v] = rv[nvec - tail + v];
        pv[tail + v] = (RowVec){ pv[v].ox0, pv[v].lanes, 1 };
    }
    IrExpr *both = kl_and(L, ir_bin(a, IR_OP_LT, add(L, oy, I(L, 1)), P->OH),
                          kl_and(L, ir_bin(a, IR_OP_EQ, ylo0, I(L, 0)), ir_bin(a, IR_OP_EQ, yhi1, I(L, P->kh))));
    IrStmt *paired = chunk_body(P, pv, (int32_t)(2 * tail), nk_run, oy, I(L, 0), I(L, P->kh), 0, iw,
                                I(L, 0), MASKS_CONST);
    return ir_block(a, (IrStmt *const[]){ pair_rows(P, oy, row_body, nk_run, ROW_HEAD),
        ir_if(a, both, paired, pair_rows(P, oy, row_body, nk_run, ROW_TAIL)) }, 2);
}

/* The clean vectors of the columns [xs, end) (end - xs >= 0): chunks of
 * nv vectors, then single vectors, the last moved back to end at `end`. */
static void clean_run(Conv *P, PtrVec *out, const RowVec *rv, int32_t nk_run, IrExpr *oy,
                      IrExpr *ylo, IrExpr *yhi, IrExpr *xs, IrExpr *end)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int64_t vl = P->vl, step = (int64_t)P->nv * vl;
    IrExpr *span = sub(L, end, xs);
    int32_t q = lower_var(L, "chunk");
    IrExpr *nch = idiv(L, span, I(L, step));
    ptrvec_push(a, out, ir_for(a, q, I(L, 0), nch,
        chunk_body(P, rv, P->nv, nk_run, oy, ylo, yhi, 0, 0, add(L, xs, mul(L, V(L, q), I(L, step))),
                   MASKS_NONE), IR_LOOP_KERNEL));
    int32_t r = lower_var(L, "vec");
    IrExpr *ox = imin(L, add(L, xs, mul(L, V(L, r), I(L, vl))), sub(L, end, I(L, vl)));
    ptrvec_push(a, out, ir_for(a, r, mul(L, nch, I(L, P->nv)), idiv(L, add(L, span, I(L, vl - 1)), I(L, vl)),
        chunk_body(P, rv, 1, nk_run, oy, ylo, yhi, 0, 0, ox, MASKS_NONE), IR_LOOP_KERNEL));
}

/* A whole output row in single vectors from column 0, their masks, the
 * stores' too, made at run time: row_body_open's rows too narrow for its
 * chunks (rare, so the code is kept small rather than fast). */
static IrStmt *row_masked(Conv *P, int32_t nk_run, IrExpr *oy, IrExpr *ylo, IrExpr *yhi)
{
    Lower *L = P->L;
    RowVec rv = { 0, P->vl, 0 };
    int32_t t = lower_var(L, "mvec");
    return ir_for(L->a, t, I(L, 0), idiv(L, add(L, P->OW, I(L, P->vl - 1)), I(L, P->vl)),
        chunk_body(P, &rv, 1, nk_run, oy, ylo, yhi, 0, 0, mul(L, V(L, t), I(L, P->vl)), MASKS_RUNTIME),
        IR_LOOP_KERNEL);
}

/* A whole output row whose width is a symbol (stride 1, the input read in
 * place; the output row is a constant wdiff columns shorter than the
 * input's).  Rows of at least `wide` columns: the first chunk (nv vectors
 * from column 0) and the last (moved back to end at the row's end) with
 * their mask patterns fixed when compiling, as for known widths -- the
 * first counted from the row's start, the last from its end -- and clean
 * vectors between them (chunks of nv vectors with no mask, then single
 * vectors, the last moved back to end where the last chunk starts).
 * Overlapping vectors recompute their neighbours' outputs with the same
 * operations, so the same values.  Narrower rows (rare: a few vectors):
 * single vectors from column 0 with their masks, stores too, made at run
 * time. */
static IrStmt *row_body_open(Conv *P, int32_t nk_run, IrExpr *oy, IrExpr *ylo, IrExpr *yhi)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int64_t vl = P->vl, axmin = P->taps[0].ax, axmax = P->taps[P->kw - 1].ax;
    int64_t chunk = (int64_t)P->nv * vl, pl = axmin < 0 ? -axmin : 0;
    int64_t wdiff;                      /* input row width - output row width */
    bool related = sym_is_const(sym_sub(&L->sc, P->x->shape.dims[P->xrank - 1],
                                        P->n->shape.dims[P->n->shape.rank - 1]), &wdiff);
    int64_t pr = related && axmax > wdiff ? axmax - wdiff : 0;  /* columns past the row's end */
    RowVec rv[MAX_NV], rvr[MAX_NV];
    for (int32_t v = 0; v < P->nv; v++) {
        rv[v] = (RowVec){ (int64_t)v * vl, vl };
        rvr[v] = (RowVec){ (int64_t)v * vl - chunk, vl };  /* from the row's end */
    }
    const int64_t far = (int64_t)1 << 40;

    IrStmt *narrow = row_masked(P, nk_run, oy, ylo, yhi);
    if (!related || pl > chunk || pr > chunk)   /* (at stride 1 the widths are related) */
        return narrow;

    /* Wide rows: the first chunk reads no column past the input's end and
     * the vector before the last chunk none left of its start, so both
     * chunks' masks are constants (they overlap in rows narrower than two
     * chunks), and with pl and pr within a chunk the clean vectors are
     * those of [chunk, OW - chunk). */
    int64_t wide = chunk + (pl + vl > pr ? pl + vl : pr);
    PtrVec wrow = { 0 };
    IrExpr *r0 = sub(L, P->OW, I(L, chunk));        /* the last chunk's column */
    ptrvec_push(a, &wrow, chunk_body(P, rv, P->nv, nk_run, oy, ylo, yhi, 0, far, I(L, 0), MASKS_CONST));
    clean_run(P, &wrow, rv, nk_run, oy, ylo, yhi, I(L, chunk), imax(L, r0, I(L, chunk)));
    ptrvec_push(a, &wrow, chunk_body(P, rvr, P->nv, nk_run, oy, ylo, yhi, -far, wdiff, P->OW, MASKS_CONST));
    return ir_if(a, ir_bin(a, IR_OP_GE, P->OW, I(L, wide)), lower_block(L, &wrow), narrow);
}

/* A work item's output rows (oy, and oy + 1 with pairs) for nk_run
 * channels. */
static IrStmt *item_rows(Conv *P, int32_t nk_run, IrExpr *oy, IrExpr *const ylo[2], IrExpr *const yhi[2],
                         bool pair, bool open)
{
    return pair ? row_pair(P, nk_run, oy, ylo[0], yhi[1])
         : open ? row_body_open(P, nk_run, oy, ylo[0], yhi[0])
                : row_body(P, nk_run, oy, ylo[0], yhi[0], ROW_ALL);
}

IrStmt *kernel_conv_rows(Lower *L, const Node *n)
{
    Arena *a = L->a;
    const StagePlan *plan = schedule_plan(L->sched, n);
    Conv P_ = { .L = L, .n = n };
    Conv *P = &P_;
    conv_setup(P);

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
    int32_t l_oy = lower_local(L, IR_TYPE_I64), l_ylo[2], l_yhi[2];
    for (int32_t r = 0; r < 2; r++) {
        l_ylo[r] = lower_local(L, IR_TYPE_I64);
        l_yhi[r] = lower_local(L, IR_TYPE_I64);
    }
    int32_t xr = P->x->shape.rank, nsp = P->nsp;
    IrExpr *C = lower_dim(L, P->x->shape.dims[xr - nsp - 1]);
    uint32_t flags = IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0);
    if (plan->dw_rows) {
        /* work items: batch x channel, a plane each */
        ptrvec_push(a, &body, set(P, P->l_kb, I(L, 0)));
        ptrvec_push(a, &body, set(P, P->l_g, imod(L, it, I(L, P->G))));
        ptrvec_push(a, &body, set(P, P->l_n, idiv(L, it, I(L, P->G))));
        ptrvec_push(a, &body, set(P, P->l_xbase, mul(L, add(L, mul(L, loc(P, P->l_n), C), loc(P, P->l_g)),
                                                    P->cstride)));
        ptrvec_push(a, &body, set(P, P->l_ybase, mul(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)),
                                                             loc(P, P->l_g)), P->Pout)));
        ptrvec_push(a, &body, set(P, P->l_wbase, conv_wbase(P)));
        ptrvec_push(a, &body, conv_dw_plane(P));
        return ir_for(a, vit, I(L, 0), mul(L, P->N, I(L, P->G)), lower_block(L, &body), flags);
    }
    /* work items: batch x group x output row (or pair of rows) x channel
     * block, the block innermost so that consecutive items read the same
     * input rows */
    int32_t nrows = plan->rows_pair ? 2 : 1;
    IrExpr *OHi = plan->rows_pair ? idiv(L, add(L, P->OH, I(L, 1)), I(L, 2)) : P->OH;
    IrExpr *items = mul(L, mul(L, mul(L, P->N, I(L, P->G)), OHi), I(L, P->nkbg));
    IrExpr *rest = idiv(L, it, I(L, P->nkbg));
    ptrvec_push(a, &body, set(P, P->l_kb, imod(L, it, I(L, P->nkbg))));
    ptrvec_push(a, &body, set(P, l_oy, mul(L, imod(L, rest, OHi), I(L, nrows))));
    rest = idiv(L, rest, OHi);
    ptrvec_push(a, &body, set(P, P->l_g, imod(L, rest, I(L, P->G))));
    ptrvec_push(a, &body, set(P, P->l_n, idiv(L, rest, I(L, P->G))));
    ptrvec_push(a, &body, set(P, P->l_xbase, mul(L, add(L, mul(L, loc(P, P->l_n), C),
                                                         mul(L, loc(P, P->l_g), P->Cg)), P->cstride)));
    ptrvec_push(a, &body, set(P, P->l_ybase,
        mul(L, add(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)), mul(L, loc(P, P->l_g), I(L, P->Kg))),
                   mul(L, loc(P, P->l_kb), I(L, P->nk))), P->Pout)));
    ptrvec_push(a, &body, set(P, P->l_wbase, conv_wbase(P)));
    /* each row's kernel rows whose input row exists */
    IrExpr *oy = loc(P, l_oy), *ylo[2], *yhi[2];
    for (int32_t r = 0; r < nrows; r++) {
        ky_bounds(P, &body, add(L, oy, I(L, r)), l_ylo[r], l_yhi[r]);
        ylo[r] = loc(P, l_ylo[r]);
        yhi[r] = loc(P, l_yhi[r]);
    }
    int64_t wc;
    bool open = !sym_is_const(P->n->shape.dims[P->n->shape.rank - 1], &wc) ||
                !sym_is_const(P->x->shape.dims[xr - 1], &wc);
    IrStmt *run = item_rows(P, P->nk, oy, ylo, yhi, plan->rows_pair, open);
    if (P->rem)
        run = ir_if(a, ir_bin(a, IR_OP_EQ, loc(P, P->l_kb), I(L, P->nkbg - 1)),
                    item_rows(P, (int32_t)P->rem, oy, ylo, yhi, plan->rows_pair, open), run);
    ptrvec_push(a, &body, run);
    PtrVec all = { 0 };
    if (P->copy_nest)
        ptrvec_push(a, &all, P->copy_nest);
    ptrvec_push(a, &all, ir_for(a, vit, I(L, 0), items, lower_block(L, &body), flags));
    return lower_block(L, &all);
}
