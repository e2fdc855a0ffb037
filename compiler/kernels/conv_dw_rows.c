/* kernels/conv_dw_rows.c - depthwise layers by sliding rows: the work
 * items of conv-rows (kernels/conv_rows.c) for a plan with dw_rows, one
 * channel's plane each (passes/kernels.c: dw_rows_applies; every target,
 * strides up to 2; sizes known at run time only on AVX-512).
 *
 *   for each input row iy, in order:
 *     for each column tap kx: xv[kx] = the row's lanes (sx apart) under
 *                                    the lanes' masks
 *     for each kernel row ky reaching an output row oy (oy*sy = iy - ay):
 *       at oy's first input row: acc[oy] = bias or 0
 *       for kx: acc[oy] = fma(xv[kx], w[ky][kx], acc[oy]), merge-masked
 *     after each output row's last input row: store epilogue(acc[oy])
 *
 * Exactness.  Each lane is one output element, and its sum is the scalar
 * nest's: the bias (or 0), then its kernel rows in order -- its input
 * rows come in order -- and in each its column taps in order; a row
 * outside the input is never read, a column outside keeps the lane's sum
 * (a merge-masked FMA, never w*0 added).
 *
 * Where the row kernel's items, one output row each, chain each vector's
 * FMAs one after the other and load every input row once per kernel row,
 * here the FMAs of kh output rows are independent and the loads a third
 * as many (3x3); there are no transpositions (conv-chan's depthwise
 * blocks) and no masks for vectors crossing row ends (the plane kernel). */
#include "conv.h"

/* A column tap's vector of input row lanes at `at`, sx apart (a strided
 * load), under mask m (NULL: every lane). */
static IrExpr *dw_load(Conv *P, IrExpr *lin, IrExpr *m)
{
    Arena *a = P->L->a;
    IrExpr **at = lin_idx(P, P->xrank, lin);
    return P->sx > 1 ? ir_vload_strided(a, P->bx, P->xrank, at, m, (int32_t)P->sx)
                     : ir_vload(a, P->bx, P->xrank, at, m);
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
    int64_t  base_lo, base_hi;  /* the values a span's base takes */
    /* per vector v and column tap kx, [v*kw + kx]: the lanes whose column
     * is inside the input row (ok), and those whose FMA needs no mask
     * (keep: ok and the lanes past the row's end, never stored) */
    uint64_t *ok, *keep;
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
        return conv_const_mask(P, bits);
    D->bits[D->nmask] = bits;
    D->mask[D->nmask] = lower_local(P->L, IR_TYPE_VBOOL);
    ptrvec_push(P->L->a, out, set(P, D->mask[D->nmask], conv_const_mask(P, bits)));
    return loc(P, D->mask[D->nmask++]);
}

/* Output row base + row, vectors [v0, v0 + nv): stored with the
 * epilogue, lanes past the row's end masked. */
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
    int64_t *first = arena_array(a, (size_t)n, sizeof *first);
    int64_t *last = arena_array(a, (size_t)n, sizeof *last);
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
            bool reached = q >= 0 && q % sy == 0 && o >= 0 && o < n && first[o] <= iy && iy <= last[o];
            outrow[ky] = reached ? o : -1;
            used |= outrow[ky] >= 0;
        }
        for (int64_t kx = 0; kx < kw && used; kx++)
            for (int64_t v = 0; v < nv; v++) {
                const RowVec *r = &D->rv[v0 + v];
                int64_t ax = P->taps[kx].ax;
                uint64_t ok = D->ok[(v0 + v) * kw + kx];
                if (!ok)
                    continue;
                /* with a stride the load spans sx*VL columns: its mask
                 * also where those past the last lane leave the row */
                bool whole = ok == all && sx * (r->ox0 + vl) + ax <= D->iw;
                /* or its lanes outside the row still inside the plane: the
                 * FMAs' masks keep those lanes' sums (rows base_lo..base_hi
                 * the values base can take) */
                int64_t first_at = (D->base_lo * sy + iy) * D->iw + sx * r->ox0 + ax;
                int64_t end_at = (D->base_hi * sy + iy) * D->iw + sx * (r->ox0 + vl) + ax;
                whole |= first_at >= 0 && end_at <= D->ih * D->iw;
                IrExpr *lin = add(L, xrow0, I(L, iy * D->iw + sx * r->ox0 + ax));
                IrExpr *x = dw_load(P, lin, whole ? NULL : dw_mask(D, out, ok));
                ptrvec_push(a, out, set(P, xv[kx * nv + v], x));
            }
        for (int64_t ky = 0; ky < kh; ky++) {
            int64_t o = outrow[ky];
            if (o < 0)
                continue;
            for (int64_t v = 0; v < nv && iy == first[o]; v++)
                ptrvec_push(a, out, set(P, acc[o * nv + v], ir_broadcast(a, D->init)));
            for (int64_t kx = 0; kx < kw; kx++)
                for (int64_t v = 0; v < nv; v++) {
                    uint64_t keep = D->keep[(v0 + v) * kw + kx];
                    if (!D->ok[(v0 + v) * kw + kx])
                        continue;
                    IrExpr *av = loc(P, acc[o * nv + v]);
                    IrExpr *f = ir_fma(a, loc(P, xv[kx * nv + v]), loc(P, D->wv[ky * kw + kx]), av);
                    if (keep != all)
                        f = ir_select(a, dw_mask(D, out, keep), f, av);
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
 * column 0, the lanes past the row's end not stored.  The input rows are
 * read in order, each column tap's vectors loaded once (lanes sx apart:
 * a strided load; masked only where it would leave the channel's plane),
 * and multiplied into every output row that the row reaches (oy*sy =
 * iy - ay for each kernel row): output row oy's sum starts (bias or 0) at
 * its first input row and is stored, with its epilogue, after its last,
 * and since its input rows come in order its kernel rows do too -- each
 * lane's sum is the scalar nest's, lanes whose tap leaves the input row
 * keeping theirs (merge-masked FMAs with masks fixed when compiling).
 * Where the row kernel's items, one output row each, chain each vector's
 * FMAs one after the other and load every input row once per kernel row,
 * here the FMAs of kh output rows are independent and the loads a third
 * as many (3x3).  Planes of at most
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
    /* Without mask registers a row's last vector, past its end, is moved
     * back to end there, as conv_rows.c does: its lanes recompute some of
     * the vector before (the same operations, so the same values, stored
     * twice), and its stores and loads need no mask (AVX2's masked stores
     * are slow on znver4: x86-64-v3, one core, 3x3 576 channels at 14x14
     * 1.69-1.83x, 256 at 20x20 1.82x, 192 at 28x28 1.34x, 3x3/2 144 from
     * 56x56 1.23x).  With mask registers (masked stores as fast as plain
     * ones) it stays: 0.98-1.03x. */
    if (!L->sched->target.masked && D.nvec > 1 && D.rv[D.nvec - 1].lanes < vl)
        D.rv[D.nvec - 1] = (RowVec){ D.ow - vl, vl };
    PtrVec out = { 0 };
    D.wv = dw_weights(P, &out);
    /* every mask, once an item: the lanes of each vector that a column
     * tap keeps inside the input row (its loads), those whose FMA needs
     * one (the lanes past the row's end need none: a blend an FMA without
     * mask registers), and those a row's last vector stores */
    uint64_t all = vl >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << vl) - 1;
    D.ok = arena_array(a, (size_t)(D.nvec * P->kw), sizeof *D.ok);
    D.keep = arena_array(a, (size_t)(D.nvec * P->kw), sizeof *D.keep);
    for (int64_t v = 0; v < D.nvec; v++) {
        for (int64_t kx = 0; kx < P->kw; kx++) {
            int64_t ax = P->taps[kx].ax, i = v * P->kw + kx;
            uint64_t ok = D.ok[i] = conv_valid_lanes(P, &D.rv[v], ax, 0, D.iw);
            uint64_t keep = D.keep[i] = ok | (all & ~(((uint64_t)1 << D.rv[v].lanes) - 1));
            if (ok && (ok != all || P->sx * (D.rv[v].ox0 + vl) + ax > D.iw))
                dw_mask(&D, &out, ok);
            if (ok && keep != all)
                dw_mask(&D, &out, keep);
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
    D.base_lo = t0;
    D.base_hi = t0 + (blocks - 1) * DW_BLOCK;
    dw_rows(&D, &body, add(L, I(L, t0), mul(L, V(L, vb), I(L, DW_BLOCK))), 0, DW_BLOCK, false);
    D.base_lo = D.base_hi = 0;
    ptrvec_push(a, &out, ir_for(a, vb, I(L, 0), I(L, blocks), lower_block(L, &body), IR_LOOP_KERNEL));
    dw_rows(&D, &out, I(L, 0), t0 + blocks * DW_BLOCK, D.oh, true);
    return lower_block(L, &out);
}

enum { DW_OPEN_ROWS = 8 };

/* Rows a block: DW_OPEN_ROWS accumulators beside the taps' loads and
 * weights with 32 registers, half as many with 16 (x86-64-v3, 3x3/2 144
 * channels at 56x56: 1.15x against 8). */
static int64_t dw_open_rows(const Conv *P)
{
    return P->L->sched->target.vregs >= 32 ? DW_OPEN_ROWS : DW_OPEN_ROWS / 2;
}

/* dw_plane_open's block of DW_OPEN_ROWS output rows from oy0, the
 * vector at ox0: its sums started, the block's input rows in order, each
 * one -- when inside the input, a test at run time -- loaded once a
 * column tap and multiplied into the block's rows it reaches, and the
 * rows inside the output stored after the block's last.  m: per column
 * tap the mask of the lanes whose column is inside the input row (and
 * inside the output row: sm), or NULL for a vector wholly inside. */
static IrStmt *dw_open_block(Conv *P, const int32_t *wv, IrExpr *init, IrExpr *oy0, IrExpr *ox0,
                             const int32_t *m, int32_t sm)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int64_t kh = P->kh, kw = P->kw, sx = P->sx, sy = P->sy, R = dw_open_rows(P);
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
            IrExpr *lin = add(L, add(L, loc(P, P->l_xbase), mul(L, iy, P->IW)),
                              add(L, mul(L, ox0, I(L, sx)), I(L, P->taps[kx].ax)));
            ptrvec_push(a, &row, set(P, xv[kx], dw_load(P, lin, m ? loc(P, m[kx]) : NULL)));
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
        if (any)        /* the input row inside the input */
            ptrvec_push(a, &blk, ir_if(a, kl_in_range(L, iy, P->IH), lower_block(L, &row), NULL));
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
    int64_t kw = P->kw, sx = P->sx, vl = P->vl, R = dw_open_rows(P);
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

/* Whether the plane's sizes are known when compiling (dw_plane) rather
 * than at run time (dw_plane_open). */
static bool sizes_known(const Conv *P)
{
    int32_t xr = P->x->shape.rank, r = P->n->shape.rank;
    int64_t d;
    return sym_is_const(P->x->shape.dims[xr - 2], &d) && sym_is_const(P->x->shape.dims[xr - 1], &d) &&
           sym_is_const(P->n->shape.dims[r - 2], &d) && sym_is_const(P->n->shape.dims[r - 1], &d);
}

IrStmt *conv_dw_plane(Conv *P)
{
    return sizes_known(P) ? dw_plane(P) : dw_plane_open(P);
}
