/* kernels/conv_rows.c - the convolution micro-kernel along output rows
 * (KERNEL_CONV_ROWS, chosen by passes/kernels.c for targets without mask
 * registers, AVX2; and on every target for depthwise layers, whose
 * planes it computes by sliding rows: dw_plane, below).
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
 * column, in [lo, hi) (0 and the input's width, or the same counted from
 * a row's end); bit l for lane l. */
static uint64_t valid_lanes(const Conv *P, const RowVec *rv, int64_t ax, int64_t lo, int64_t hi)
{
    uint64_t m = 0;
    for (int64_t l = 0; l < rv->lanes; l++) {
        int64_t ix = P->sx * (rv->ox0 + l) + ax;
        if (ix >= lo && ix < hi)
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
            ptrvec_push(a, &out, set(P, m, in_range(P, ir_bin(a, IR_OP_ADD, ox, I(L, P->taps[kx].ax)),
                                                    P->IW)));
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
                    uint64_t ok = valid_lanes(P, &rv[v], t->ax, lo, hi);
                    uint64_t all = P->vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << P->vl) - 1;
                    mask[v] = ok == all ? NULL : const_mask(P, ok);
                }
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
            IrExpr *m = runtime ? outm[v] : outl == all ? NULL : const_mask(P, outl);
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
            if (valid_lanes(P, &rv[v], P->taps[t].ax, 0, iw) != all)
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

    /* narrow rows */
    int32_t t = lower_var(L, "mvec");
    IrStmt *narrow = ir_for(a, t, I(L, 0), idiv(L, add(L, P->OW, I(L, vl - 1)), I(L, vl)),
        chunk_body(P, rv, 1, nk_run, oy, ylo, yhi, 0, 0, mul(L, V(L, t), I(L, vl)), MASKS_RUNTIME),
        IR_LOOP_KERNEL);
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
    ptrvec_push(a, &wrow, chunk_body(P, rvr, P->nv, nk_run, oy, ylo, yhi, -far, wdiff, P->OW,
                                     MASKS_CONST));
    return ir_if(a, ir_bin(a, IR_OP_GE, P->OW, I(L, wide)), lower_block(L, &wrow), narrow);
}

/* The item's channel's weights, one broadcast a tap, set in `out`. */
static int32_t *dw_weights(Conv *P, PtrVec *out)
{
    Lower *L = P->L;
    int32_t *wv = arena_array(L->a, (size_t)P->ntaps, sizeof *wv);
    for (int64_t t = 0; t < P->ntaps; t++) {
        wv[t] = lower_local(L, IR_TYPE_VF32);
        ptrvec_push(L->a, out, set(P, wv[t], ir_broadcast(L->a, conv_weight(P, I(L, 0), t, 0))));
    }
    return wv;
}

/* Each sum's first term: the item's channel's bias, or 0. */
static IrExpr *dw_init(Conv *P)
{
    if (!P->bias)
        return ir_float(P->L->a, 0.0f);
    IrExpr *k = loc(P, P->l_g);
    return lower_value(P->L, P->bias, &k);
}

/* dw_plane's work item: the plane's geometry, its weights and bias, and
 * its lane masks, each set once at the item's start in a mask local
 * (which the code generator keeps opaque, so that a select on it stays a
 * merge-masked FMA rather than becoming a blend after it). */
typedef struct DwRows {
    Conv    *P;
    int64_t  ih, iw, oh, ow, nvec;
    RowVec   rv[MAX_NV];
    int32_t *wv;            /* the channel's weights, one broadcast a tap */
    IrExpr  *init;          /* each sum's first term: the bias, or 0 */
    uint64_t bits[64];
    int32_t  mask[64], nmask;
} DwRows;

static IrExpr *dw_mask(DwRows *D, PtrVec *out, uint64_t bits)
{
    Conv *P = D->P;
    for (int32_t i = 0; i < D->nmask; i++)
        if (D->bits[i] == bits)
            return loc(P, D->mask[i]);
    if (D->nmask == 64)
        return const_mask(P, bits);
    D->bits[D->nmask] = bits;
    D->mask[D->nmask] = lower_local(P->L, IR_TYPE_VBOOL);
    ptrvec_push(P->L->a, out, set(P, D->mask[D->nmask], const_mask(P, bits)));
    return loc(P, D->mask[D->nmask++]);
}

/* Output row lo + o (of base + [lo, hi)), vectors [v0, v0 + nv): stored
 * with the epilogue, lanes past the row's end masked. */
static void dw_store(DwRows *D, PtrVec *out, IrExpr *yrow0, int64_t row, int64_t v0, int64_t nv,
                     const int32_t *acc)
{
    Conv *P = D->P;
    Lower *L = P->L;
    for (int64_t v = 0; v < nv; v++) {
        const RowVec *r = &D->rv[v0 + v];
        IrExpr *lin = add(L, yrow0, I(L, row * D->ow + r->ox0));
        IrExpr *m = r->lanes == P->vl ? NULL : dw_mask(D, out, ((uint64_t)1 << r->lanes) - 1);
        ptrvec_push(L->a, out, ir_vstore(L->a, P->by, P->yrank, lin_idx(P, P->yrank, lin),
                                         kl_epilogue(L, P->n, loc(P, acc[v]), lin, m), m));
    }
}

/* Output rows base + [lo, hi) for the vectors [v0, v0 + nv) of each row:
 * input rows base + iy read in order, each one's column taps loaded once
 * and multiplied into the output rows it reaches (oy = iy - ay), each
 * output row's sum started at its first input row and stored (with the
 * epilogue) after its last.  `checked`: base is 0, and the input rows
 * outside [0, ih) are left out (the top and bottom rows; a row that none
 * reaches is its bias); otherwise every kernel row is inside. */
static void dw_span(DwRows *D, PtrVec *out, IrExpr *base, int64_t lo, int64_t hi, bool checked,
                    int64_t v0, int64_t nv)
{
    Conv *P = D->P;
    Lower *L = P->L;
    Arena *a = L->a;
    int64_t kh = P->kh, kw = P->kw, n = hi - lo;
    int32_t vl = P->vl;
    uint64_t all = vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << vl) - 1;
    int64_t *first = arena_array(a, (size_t)n, sizeof *first), *last = arena_array(a, (size_t)n, sizeof *last);
    int32_t *acc = arena_array(a, (size_t)(n * nv), sizeof *acc);
    int32_t *xv = arena_array(a, (size_t)(kw * nv), sizeof *xv);
    for (int64_t i = 0; i < kw * nv; i++)
        xv[i] = lower_local(L, IR_TYPE_VF32);
    int64_t sx = P->sx, sy = P->sy;
    IrExpr *xrow0 = add(L, loc(P, P->l_xbase), mul(L, base, I(L, sy * D->iw)));
    IrExpr *yrow0 = add(L, loc(P, P->l_ybase), mul(L, base, I(L, D->ow)));
    int64_t iylo = INT64_MAX, iyhi = INT64_MIN;
    for (int64_t o = 0; o < n; o++) {
        first[o] = INT64_MAX;
        last[o] = INT64_MIN;
        for (int64_t ky = 0; ky < kh; ky++) {
            int64_t iy = (lo + o) * sy + P->taps[ky * kw].ay;
            if (!checked || (iy >= 0 && iy < D->ih)) {
                first[o] = iy < first[o] ? iy : first[o];
                last[o] = iy;
            }
        }
        for (int64_t v = 0; v < nv; v++)
            acc[o * nv + v] = lower_local(L, IR_TYPE_VF32);
        if (first[o] > last[o]) {
            for (int64_t v = 0; v < nv; v++)
                ptrvec_push(a, out, set(P, acc[o * nv + v], ir_broadcast(a, D->init)));
            dw_store(D, out, yrow0, lo + o, v0, nv, &acc[o * nv]);
            continue;
        }
        iylo = first[o] < iylo ? first[o] : iylo;
        iyhi = last[o] > iyhi ? last[o] : iyhi;
    }
    for (int64_t iy = iylo; iy <= iyhi; iy++) {
        int64_t outrow[KERNEL_MAX_TAPS];    /* per kernel row, the output row iy reaches, or -1 */
        bool used = false;
        for (int64_t ky = 0; ky < kh; ky++) {
            int64_t q = iy - P->taps[ky * kw].ay, o = q / sy - lo;
            outrow[ky] = q >= 0 && q % sy == 0 && o >= 0 && o < n && first[o] <= iy && iy <= last[o] ? o : -1;
            used |= outrow[ky] >= 0;
        }
        for (int64_t kx = 0; kx < kw && used; kx++)
            for (int64_t v = 0; v < nv; v++) {
                const RowVec *r = &D->rv[v0 + v];
                int64_t ax = P->taps[kx].ax;
                uint64_t ok = valid_lanes(P, r, ax, 0, D->iw);
                if (!ok)
                    continue;
                /* with a stride the load spans sx*VL columns: its mask
                 * also where those past the last lane leave the row */
                bool whole = ok == all && sx * (r->ox0 + vl) + ax <= D->iw;
                IrExpr *m = whole ? NULL : dw_mask(D, out, ok);
                IrExpr **at = lin_idx(P, P->xrank, add(L, xrow0, I(L, iy * D->iw + sx * r->ox0 + ax)));
                ptrvec_push(a, out, set(P, xv[kx * nv + v], sx > 1 ? ir_vload_strided(a, P->bx, P->xrank, at, m, (int32_t)sx)
                                                                  : ir_vload(a, P->bx, P->xrank, at, m)));
            }
        for (int64_t ky = 0; ky < kh; ky++) {
            int64_t o = outrow[ky];
            if (o < 0)
                continue;
            for (int64_t v = 0; v < nv && iy == first[o]; v++)
                ptrvec_push(a, out, set(P, acc[o * nv + v], ir_broadcast(a, D->init)));
            for (int64_t kx = 0; kx < kw; kx++)
                for (int64_t v = 0; v < nv; v++) {
                    uint64_t ok = valid_lanes(P, &D->rv[v0 + v], P->taps[kx].ax, 0, D->iw);
                    if (!ok)
                        continue;
                    IrExpr *av = loc(P, acc[o * nv + v]);
                    IrExpr *f = ir_fma(a, loc(P, xv[kx * nv + v]), loc(P, D->wv[ky * kw + kx]), av);
                    if (ok != all)
                        f = ir_select(a, dw_mask(D, out, ok), f, av);
                    ptrvec_push(a, out, set(P, acc[o * nv + v], f));
                }
        }
        for (int64_t o = 0; o < n; o++)     /* the rows whose last input row this is */
            if (first[o] <= last[o] && last[o] == iy)
                dw_store(D, out, yrow0, lo + o, v0, nv, &acc[o * nv]);
    }
}

/* Output rows base + [lo, hi), every vector of each row, nv (the plan's)
 * vectors at a time: their accumulators, kh rows in flight, and their
 * column taps' loads within the registers. */
static void dw_rows(DwRows *D, PtrVec *out, IrExpr *base, int64_t lo, int64_t hi, bool checked)
{
    int64_t chunk = D->P->nv;
    for (int64_t v0 = 0; v0 < D->nvec; v0 += chunk)
        dw_span(D, out, base, lo, hi, checked, v0, D->nvec - v0 < chunk ? D->nvec - v0 : chunk);
}

/* A depthwise layer, its sizes known (plan.dw_rows): one work item a
 * channel's plane, whose output rows are each ceil(OW/VL) vectors from
 * column 0, lanes past the row's end neither stored nor read past the
 * input row's.  The input rows are read in order, each column tap's
 * vectors loaded once (lanes sx apart: a strided load), and multiplied
 * into every output row that the row reaches (oy*sy = iy - ay for each
 * kernel row): output row
 * oy's sum starts (bias or 0) at its first input row and is stored, with
 * its epilogue, after its last, and since its input rows come in order
 * its kernel rows do too -- each lane's sum is the scalar nest's, lanes
 * whose tap leaves the input row keeping theirs (merge-masked FMAs with
 * masks fixed when compiling).  Where the row kernel's items, one output
 * row each, chain each vector's FMAs one after the other and load every
 * input row once per kernel row, here the FMAs of kh output rows are
 * independent and the loads a third as many (3x3).  Planes of at most
 * DW_UNROLL vectors are written out whole; larger ones write out their
 * top and bottom rows (whose kernel rows leave the input) and loop over
 * blocks of DW_BLOCK rows between them, each block loading the kh - 1
 * input rows it shares with the next again. */
static IrStmt *dw_plane(Conv *P)
{
    enum { DW_UNROLL = 64, DW_BLOCK = 8 };
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t vl = P->vl, xr = P->x->shape.rank, r = P->n->shape.rank;
    DwRows D = { .P = P };
    sym_is_const(P->x->shape.dims[xr - 2], &D.ih);
    sym_is_const(P->x->shape.dims[xr - 1], &D.iw);
    sym_is_const(P->n->shape.dims[r - 2], &D.oh);
    sym_is_const(P->n->shape.dims[r - 1], &D.ow);
    D.nvec = (D.ow + vl - 1) / vl;
    for (int64_t v = 0; v < D.nvec; v++)
        D.rv[v] = (RowVec){ v * vl, D.ow - v * vl < vl ? D.ow - v * vl : vl };
    PtrVec out = { 0 };
    D.wv = dw_weights(P, &out);
    /* every mask, once an item: the lanes of each vector that a column
     * tap keeps inside the input row, and those a row's last vector stores */
    uint64_t all = vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << vl) - 1;
    for (int64_t v = 0; v < D.nvec; v++) {
        for (int64_t kx = 0; kx < P->kw; kx++) {
            int64_t ax = P->taps[kx].ax;
            uint64_t ok = valid_lanes(P, &D.rv[v], ax, 0, D.iw);
            if (ok && (ok != all || P->sx * (D.rv[v].ox0 + vl) + ax > D.iw))
                dw_mask(&D, &out, ok);
        }
        if (D.rv[v].lanes < vl)
            dw_mask(&D, &out, ((uint64_t)1 << D.rv[v].lanes) - 1);
    }
    D.init = dw_init(P);
    /* interior rows: every kernel row inside the input */
    int64_t aymin = P->taps[0].ay, aymax = P->taps[(P->kh - 1) * P->kw].ay, sy = P->sy;
    int64_t t0 = aymin < 0 ? (-aymin + sy - 1) / sy : 0;        /* oy*sy + aymin >= 0 */
    int64_t t1 = D.ih - 1 - aymax >= 0 ? (D.ih - 1 - aymax) / sy + 1 : 0;   /* oy*sy + aymax < ih */
    t1 = t1 < D.oh ? t1 : D.oh;
    int64_t blocks = t1 > t0 ? (t1 - t0) / DW_BLOCK : 0;
    if (D.oh * D.nvec <= DW_UNROLL || blocks < 2) {
        dw_rows(&D, &out, I(L, 0), 0, D.oh, true);
        return lower_block(L, &out);
    }
    dw_rows(&D, &out, I(L, 0), 0, t0, true);
    int32_t vb = lower_var(L, "rows");
    PtrVec body = { 0 };
    dw_rows(&D, &body, add(L, I(L, t0), mul(L, V(L, vb), I(L, DW_BLOCK))), 0, DW_BLOCK, false);
    ptrvec_push(a, &out, ir_for(a, vb, I(L, 0), I(L, blocks), lower_block(L, &body), IR_LOOP_KERNEL));
    dw_rows(&D, &out, I(L, 0), t0 + blocks * DW_BLOCK, D.oh, true);
    return lower_block(L, &out);
}

/* dw_plane_open's block of DW_OPEN_ROWS output rows from oy0, the
 * vector at ox0: its sums started, the block's input rows in order, each
 * one -- when inside the input, a test at run time -- loaded once a
 * column tap and multiplied into the block's rows it reaches, and the
 * rows inside the output stored after the block's last.  m: per column
 * tap the mask of the lanes whose column is inside the input row (and
 * inside the output row: sm), or NULL for a vector wholly inside. */
enum { DW_OPEN_ROWS = 8 };

static IrStmt *dw_open_block(Conv *P, const int32_t *wv, IrExpr *init, IrExpr *oy0, IrExpr *ox0,
                             const int32_t *m, int32_t sm)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int64_t kh = P->kh, kw = P->kw, sx = P->sx, sy = P->sy, R = DW_OPEN_ROWS;
    int64_t aymin = P->taps[0].ay, span = (R - 1) * sy + P->taps[(kh - 1) * kw].ay - aymin + 1;
    PtrVec blk = { 0 };
    int32_t acc[DW_OPEN_ROWS], xv[KERNEL_MAX_TAPS];
    for (int64_t r = 0; r < R; r++) {
        acc[r] = lower_local(L, IR_TYPE_VF32);
        ptrvec_push(a, &blk, set(P, acc[r], ir_broadcast(a, init)));
    }
    for (int64_t kx = 0; kx < kw; kx++)
        xv[kx] = lower_local(L, IR_TYPE_VF32);
    for (int64_t j = 0; j < span; j++) {
        /* input row oy0*sy + aymin + j: output row r of the block with
         * kernel row ky where r*sy + ay = aymin + j */
        IrExpr *iy = add(L, mul(L, oy0, I(L, sy)), I(L, aymin + j));
        PtrVec row = { 0 };
        for (int64_t kx = 0; kx < kw; kx++) {
            IrExpr **at = lin_idx(P, P->xrank, add(L, add(L, loc(P, P->l_xbase), mul(L, iy, P->IW)),
                                                   add(L, mul(L, ox0, I(L, sx)), I(L, P->taps[kx].ax))));
            IrExpr *mk = m ? loc(P, m[kx]) : NULL;
            ptrvec_push(a, &row, set(P, xv[kx], sx > 1 ? ir_vload_strided(a, P->bx, P->xrank, at, mk, (int32_t)sx)
                                                       : ir_vload(a, P->bx, P->xrank, at, mk)));
        }
        bool any = false;
        for (int64_t ky = 0; ky < kh; ky++) {
            int64_t q = aymin + j - P->taps[ky * kw].ay;
            if (q < 0 || q % sy || q / sy >= R)
                continue;
            any = true;
            for (int64_t kx = 0; kx < kw; kx++) {
                IrExpr *av = loc(P, acc[q / sy]);
                IrExpr *f = ir_fma(a, loc(P, xv[kx]), loc(P, wv[ky * kw + kx]), av);
                ptrvec_push(a, &row, set(P, acc[q / sy], m ? ir_select(a, loc(P, m[kx]), f, av) : f));
            }
        }
        if (any)
            ptrvec_push(a, &blk, ir_if(a, kl_and(L, ir_bin(a, IR_OP_GE, iy, I(L, 0)), ir_bin(a, IR_OP_LT, iy, P->IH)),
                                      lower_block(L, &row), NULL));
    }
    for (int64_t r = 0; r < R; r++) {
        IrExpr *oy = add(L, oy0, I(L, r));
        IrExpr *lin = add(L, add(L, loc(P, P->l_ybase), mul(L, oy, P->OW)), ox0);
        IrExpr *mk = m ? loc(P, sm) : NULL;
        IrStmt *st = ir_vstore(a, P->by, P->yrank, lin_idx(P, P->yrank, lin),
                               kl_epilogue(L, P->n, loc(P, acc[r]), lin, mk), mk);
        ptrvec_push(a, &blk, ir_if(a, ir_bin(a, IR_OP_LT, oy, P->OH), st, NULL));
    }
    return lower_block(L, &blk);
}

/* dw_plane for a plane whose sizes are known at run time only: a loop
 * over the rows' vectors, and for each over blocks of DW_OPEN_ROWS output
 * rows (dw_open_block).  A vector wholly inside (its lanes inside the
 * output row, its columns inside the input row with every column tap)
 * takes a block without masks; the others make their masks once, before
 * their blocks. */
static IrStmt *dw_plane_open(Conv *P)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int64_t kw = P->kw, sx = P->sx, vl = P->vl, R = DW_OPEN_ROWS;
    PtrVec out = { 0 };
    int32_t *wv = dw_weights(P, &out);
    IrExpr *init = dw_init(P);
    int32_t vq = lower_var(L, "vec"), vb = lower_var(L, "rows"), vb2 = lower_var(L, "rows");
    IrExpr *ox0 = mul(L, V(L, vq), I(L, vl));
    IrExpr *nblk = idiv(L, add(L, P->OH, I(L, R - 1)), I(L, R));
    /* wholly inside: ox0*sx + axmin >= 0, (ox0 + vl - 1)*sx + axmax < IW,
     * ox0 + vl <= OW */
    IrExpr *inside = kl_and(L, ir_bin(a, IR_OP_GE, add(L, mul(L, ox0, I(L, sx)), I(L, P->taps[0].ax)), I(L, 0)),
        kl_and(L, ir_bin(a, IR_OP_LT, add(L, mul(L, add(L, ox0, I(L, vl - 1)), I(L, sx)), I(L, P->taps[kw - 1].ax)),
                         P->IW),
               ir_bin(a, IR_OP_LE, add(L, ox0, I(L, vl)), P->OW)));
    IrStmt *plain = ir_for(a, vb, I(L, 0), nblk,
                           dw_open_block(P, wv, init, mul(L, V(L, vb), I(L, R)), ox0, NULL, 0), IR_LOOP_KERNEL);
    PtrVec edge = { 0 };
    IrExpr *ox = ir_bin(a, IR_OP_ADD, ir_broadcast(a, ox0), ir_iota(a));
    int32_t sm = lower_local(L, IR_TYPE_VBOOL), m[KERNEL_MAX_TAPS];
    ptrvec_push(a, &edge, set(P, sm, ir_bin(a, IR_OP_LT, ox, P->OW)));
    for (int64_t kx = 0; kx < kw; kx++) {
        IrExpr *col = ir_bin(a, IR_OP_ADD, ir_bin(a, IR_OP_MUL, ox, I(L, sx)), I(L, P->taps[kx].ax));
        m[kx] = lower_local(L, IR_TYPE_VBOOL);
        ptrvec_push(a, &edge, set(P, m[kx], vand(P, in_range(P, col, P->IW), loc(P, sm))));
    }
    ptrvec_push(a, &edge, ir_for(a, vb2, I(L, 0), nblk,
                                 dw_open_block(P, wv, init, mul(L, V(L, vb2), I(L, R)), ox0, m, sm),
                                 IR_LOOP_KERNEL));
    IrExpr *nvec = idiv(L, add(L, P->OW, I(L, vl - 1)), I(L, vl));
    ptrvec_push(a, &out, ir_for(a, vq, I(L, 0), nvec, ir_if(a, inside, plain, lower_block(L, &edge)),
                                IR_LOOP_KERNEL));
    return lower_block(L, &out);
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
    int32_t l_oy = lower_local(L, IR_TYPE_I64), l_ylo = lower_local(L, IR_TYPE_I64),
            l_yhi = lower_local(L, IR_TYPE_I64);

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
        int64_t d;
        int32_t r = n->shape.rank;
        bool known = sym_is_const(P->x->shape.dims[xr - 2], &d) && sym_is_const(P->x->shape.dims[xr - 1], &d) &&
                     sym_is_const(n->shape.dims[r - 2], &d) && sym_is_const(n->shape.dims[r - 1], &d);
        ptrvec_push(a, &body, known ? dw_plane(P) : dw_plane_open(P));
        return ir_for(a, vit, I(L, 0), mul(L, P->N, I(L, P->G)), lower_block(L, &body), flags);
    }
    /* work items: batch x group x output row x channel block, the block
     * innermost so that consecutive items read the same input rows */
    IrExpr *items = mul(L, mul(L, mul(L, P->N, I(L, P->G)), P->OH), I(L, P->nkbg));
    IrExpr *rest = idiv(L, it, I(L, P->nkbg));
    ptrvec_push(a, &body, set(P, P->l_kb, imod(L, it, I(L, P->nkbg))));
    ptrvec_push(a, &body, set(P, l_oy, imod(L, rest, P->OH)));
    rest = idiv(L, rest, P->OH);
    ptrvec_push(a, &body, set(P, P->l_g, imod(L, rest, I(L, P->G))));
    ptrvec_push(a, &body, set(P, P->l_n, idiv(L, rest, I(L, P->G))));
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
    int64_t wc;
    bool open = !sym_is_const(P->n->shape.dims[P->n->shape.rank - 1], &wc) ||
                !sym_is_const(P->x->shape.dims[xr - 1], &wc);
    IrStmt *(*row)(Conv *, int32_t, IrExpr *, IrExpr *, IrExpr *) = open ? row_body_open : row_body;
    IrStmt *run = row(P, P->nk, oy, loc(P, l_ylo), loc(P, l_yhi));
    if (P->rem) {
        IrStmt *last = row(P, (int32_t)P->rem, oy, loc(P, l_ylo), loc(P, l_yhi));
        run = ir_if(a, ir_bin(a, IR_OP_EQ, loc(P, P->l_kb), I(L, P->nkbg - 1)), last, run);
    }
    ptrvec_push(a, &body, run);
    IrStmt *nest = ir_for(a, vit, I(L, 0), items, lower_block(L, &body), flags);
    if (!P->copy_nest)
        return nest;
    return ir_block(a, (IrStmt *const[]){ P->copy_nest, nest }, 2);
}
