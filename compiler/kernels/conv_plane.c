/* kernels/conv_plane.c - the convolution micro-kernel over the flattened
 * output plane (KERNEL_CONV_PLANE, chosen by passes/kernels.c).
 *
 * The kernel walks a "virtual" output plane whose rows have the input's
 * row pitch Wv.  Output pixel (oy, ox) sits at q = oy*Wv + ox and reads tap
 * (ky, kx) at input position q + dy*Wv + dx, a constant offset -- so a
 * vector of VL consecutive positions, across row ends, is one vector load
 * per tap.  With stride 1 and input rows at least as long as output rows,
 * the input itself is that plane (Wv = W).  Otherwise (stride > 1, or
 * padding that makes the output wider than the input) the stage first
 * copies its input into phase planes: plane (py, px) holds the input
 * pixels (iy, ix) with iy = py (mod sy), ix = px (mod sx), rows of
 * Wv >= OW; a tap then reads one phase plane at offset (dy, dx) =
 * (floor(ay/sy), floor(ax/sx)), where ay = ky*dily - pad_top.  Only the
 * phases some tap reads are copied.  Positions with ox >= OW are computed
 * and not stored; stores go row by row when output rows are shorter than
 * Wv.
 *
 * The register block is nk output channels x nv position vectors:
 *
 *   for each work item (batch, group, tile of nv*VL positions, block of
 *   nk output channels):                               -- parallel
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
 * and whose loads stay inside their planes needs masks only for the column
 * taps that can leave the input row; its loads are plain and its few
 * masks stay in mask registers.  Other tiles (the first and last rows, the
 * plane's tail) take the border variant: masked loads and one mask per
 * tap from the lane's row, column and place in the plane (the FMAs take
 * it too, but for a convolution without padding, where every lane it
 * turns off is one that is not stored: x86-64-v3, 1x1 2048->512 at 7x7,
 * whose last tile is one pixel, 1.11x; 256->1024 at 14x14 1.05x), and a
 * kernel row whose input row is outside for every row of the tile is
 * skipped altogether (a top or bottom tile of a padded convolution: W4,
 * 3x3 dilation 2 pad 2 on 56x56, 2.7-3.2% faster; W1 0.8%).  The plane's
 * last tile, when the plane ends within its first vectors, has a border
 * variant of its own that computes only those vectors (56x56: one vector
 * of three; 1-1.5% of W1, W4, for about 15% more compile time).
 *
 * The output-channel block size need not divide the channels: the last
 * block of each group runs a variant with fewer accumulators. */
#include <math.h>
#include <stdlib.h>

#include "conv.h"

static IrExpr *epilogue(Conv *P, IrExpr *acc, IrExpr *lin, IrExpr *mask)
{
    return kl_epilogue(P->L, P->n, acc, lin, mask);
}

/* Stores vector v of accumulator `acc` of output channel j of the block,
 * with the epilogue applied, into the output -- or, with a fused pool, into
 * the work item's strip of rows [cr0, cr1) (rows of OW, one plane of
 * strip_rows rows per channel of the block).  The epilogue reads its other
 * operands at the element's place in the full output either way.  Output
 * rows as long as the virtual ones: one store.  Shorter: one masked store
 * per output row the vector touches, at that row's shift (each output row
 * is Wv - OW shorter than its virtual row). */
static void store_vector(Conv *P, PtrVec *out, int32_t acc, int32_t j, int32_t v,
                         IrExpr *inplane)
{
    Lower *L = P->L;
    Arena *a = L->a;
    IrExpr *q = add(L, loc(P, P->l_p0), I(L, (int64_t)v * P->vl));
    IrExpr *plane = add(L, loc(P, P->l_ybase), mul(L, I(L, j), P->Pout));
    IrExpr *dest = plane;
    int32_t buf = P->by, rank = P->yrank;
    IrExpr *row0 = I(L, 0), *rows_end = P->OH;
    if (P->pool) {
        row0 = loc(P, P->l_cr0);
        rows_end = loc(P, P->l_cr1);
        dest = sub(L, I(L, (int64_t)j * P->strip_rows * P->owc), mul(L, row0, P->Wv));
        buf = P->bstrip;
        rank = 3;
    }
    if (!P->pitched) {
        IrExpr *lin = add(L, plane, q);
        IrExpr *to = add(L, dest, q);
        IrExpr *val = epilogue(P, loc(P, acc), lin, inplane);
        ptrvec_push(a, out, !inplane ? kl_store_full(L, P->stream, P->stream_when, buf, rank, to, val)
                                     : ir_vstore(a, buf, rank, lin_idx(P, rank, to), val, inplane));
        return;
    }
    int32_t vr = lower_var(L, "orow");
    IrExpr *r = V(L, vr);
    IrExpr *m = ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_EQ, loc(P, P->l_oyv[v]), r),
                       ir_bin(a, IR_OP_LT, loc(P, P->l_oxv[v]), P->OW));
    m = vand(P, m, inplane);
    IrExpr *shift = sub(L, P->Wv, P->OW);
    IrExpr *lin = sub(L, add(L, plane, q), mul(L, r, shift));
    IrExpr *to = sub(L, add(L, dest, q), mul(L, sub(L, r, row0), shift));
    IrStmt *st = ir_vstore(a, buf, rank, lin_idx(P, rank, to), epilogue(P, loc(P, acc), lin, m), m);
    IrExpr *first = idiv(L, q, P->Wv);
    IrExpr *last = imin(L, idiv(L, add(L, q, I(L, P->vl - 1)), P->Wv), sub(L, rows_end, I(L, 1)));
    ptrvec_push(a, out, ir_for(a, vr, first, add(L, last, I(L, 1)), st, IR_LOOP_KERNEL));
}

/* ---- one register block ------------------------------------------------- */

/* The input lines the tile reads in input channel c + D, prefetched at
 * the start of channel c: with many input channels the tile's column of
 * planes is more lines than the hardware prefetcher follows, and the
 * first channel block of a tile reads them from beyond the L2 cache.  D
 * channels are about PREFETCH_CYCLES of FMAs ahead, at most
 * PREFETCH_MAX_CHANNELS.  Only for inputs (a group's planes) of more than
 * PLANE_PREFETCH_MIN_BYTES, in at least PREFETCH_MIN_CHANNELS planes:
 * a few planes are streams the hardware prefetcher follows (3x3 3->64 at
 * 224x224, 0.6 MB, 1-4% slower with them), and an input of a quarter of
 * the L2 cache stays there only when nothing runs between the calls.
 * Called back to back, W1 (0.8 MB) was 4% slower with them (znver4);
 * interleaved with oneDNN's calls, as in scripts/bench.sh (and as a layer
 * runs in a network, after others), the same input comes from the L3
 * cache, and on znver5 its first calls after oneDNN's ran 10% slower
 * without them: 11 runs of the cnn workloads, W4 (3x3 dilation 2, 0.8 MB)
 * 0.994-1.007x oneDNN's time with them, 0.940-1.010 (7 of 11 below 0.96)
 * without; W1, W6 and W10 0.99-1.02x, the rest unchanged.  (W2, 3.2 MB,
 * was 7-17% faster with them on znver4.)  When that size is known at run
 * time only, interior tiles get a second copy of their channel loop, with
 * the prefetches, taken for a larger input (a test in the loop instead made
 * W1 13-30% slower), and rows of unknown width prefetch each kernel row's
 * span: W2 declared [1, 256, H, W] 1.10-1.13x, W1 at 112 x 112 1.04x,
 * W1 at 56 x 56 unchanged.  The later
 * blocks of a tile need them too: the tile's planes (48 KB on W2) do not
 * stay in the L1 cache between blocks (prefetching in the first block
 * only: W2 14% slower).
 *
 * Distance, interleaved on W2: 8 channels (96 cycles) 1-2% faster than 16,
 * and 4, 6 or 10 the same as 8, 32 6% slower; W11 1% faster at 8 than at
 * 16.  For x86-64-v3 (6 x 2 blocks, 6 cycles a channel) the same cap: W2
 * at 8 channels 1.6-2.2% faster than at 16 (one and two threads), 24 3%
 * slower, 4 and 6 as 8; W11 0.6% faster.  (Taking the tile through every
 * block a chunk of channels at a time, the partial sums in the output, so
 * that a chunk stays in the L1 cache, was 2-8% slower on W2 with chunks of
 * 8-24 KB, 2% faster with 32 KB.) */
enum { PLANE_PREFETCH_MIN_BYTES = 1 << 18, PREFETCH_MIN_CHANNELS = 16 };

static IrStmt *prefetch_ahead(Conv *P, int32_t nk_run, IrExpr **big)
{
    Lower *L = P->L;
    /* a group's input planes (as read: phase planes included) */
    IrExpr *bytes = mul(L, mul(L, P->Cg, P->cstride), I(L, 4));
    *big = NULL;
    if ((bytes->kind == IR_EXPR_INT && bytes->ival <= PLANE_PREFETCH_MIN_BYTES) ||
        (P->Cg->kind == IR_EXPR_INT && P->Cg->ival < PREFETCH_MIN_CHANNELS))
        return NULL;
    if (bytes->kind != IR_EXPR_INT)
        *big = ir_bin(L->a, IR_OP_AND, ir_bin(L->a, IR_OP_GT, bytes, I(L, PLANE_PREFETCH_MIN_BYTES)),
                      ir_bin(L->a, IR_OP_GE, P->Cg, I(L, PREFETCH_MIN_CHANNELS)));
    int64_t per_c = P->ntaps * nk_run * P->nv / 2;     /* FMA cycles a channel */
    int64_t d = per_c > 0 ? (PREFETCH_CYCLES + per_c - 1) / per_c : 1;
    if (d > PREFETCH_MAX_CHANNELS)
        d = PREFETCH_MAX_CHANNELS;
    IrExpr *c = add(L, V(L, P->var_c), I(L, d));
    IrExpr *first = add(L, add(L, add(L, loc(P, P->l_xbase), mul(L, c, P->cstride)), loc(P, P->l_p0)),
                        add(L, mul(L, I(L, P->dmin_dy), P->Wv), I(L, P->dmin)));
    /* the span: the tile plus the reach of the taps, in lines of 16
     * floats, and its last float (its line is one more when the span does
     * not start a line; when it does, a line past the span was a
     * prefetch of the next tile's line, 8 times a tile: W2 0.3% slower);
     * with rows of unknown width, each kernel row's span */
    enum { LINE_FLOATS = 16 };
    IrExpr *span = add(L, I(L, P->tile + P->dmax - P->dmin), mul(L, I(L, P->dmax_dy - P->dmin_dy), P->Wv));
    int64_t rows = span->kind == IR_EXPR_INT ? 1 : P->dmax_dy - P->dmin_dy + 1;
    int64_t row_span = span->kind == IR_EXPR_INT ? span->ival : P->tile + P->dmax - P->dmin;
    int64_t lines = (row_span + LINE_FLOATS - 1) / LINE_FLOATS + 1;
    PtrVec pf = { 0 };
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < lines; i++) {
            int64_t off = i + 1 < lines ? i * LINE_FLOATS : row_span - 1;
            IrExpr *at = add(L, add(L, first, mul(L, I(L, r), P->Wv)), I(L, off));
            ptrvec_push(L->a, &pf, ir_prefetch(L->a, P->bx, P->xrank, lin_idx(P, P->xrank, at)));
        }
    return lower_block(L, &pf);
}

/* Whether some row of the tile (virtual rows oy0 .. the row of its last
 * position) reads, at kernel row offset ay, an input row inside the
 * input. */
static IrExpr *row_needed(Conv *P, int64_t ay)
{
    Lower *L = P->L;
    Arena *a = L->a;
    IrExpr *oy0 = loc(P, P->l_oy0), *oy1 = loc(P, P->l_oy1);
    IrExpr *lo = ir_bin(a, IR_OP_GE, add(L, mul(L, oy1, I(L, P->sy)), I(L, ay)), I(L, 0));
    IrExpr *hi = ir_bin(a, IR_OP_LT, add(L, mul(L, oy0, I(L, P->sy)), I(L, ay)), P->IH);
    return ir_bin(a, IR_OP_AND, lo, hi);
}

static IrStmt *reduction(Conv *P, int32_t nk_run, int32_t nv, bool interior, IrExpr ***colm,
                         IrExpr **tapm, int32_t (*acc)[MAX_NV], const int32_t *xv, int32_t wv,
                         IrStmt *pf);

/* The accumulation and the store for nk_run output channels.  interior:
 * plain loads, masks only for column taps that can leave the input row
 * (colm[v][kx], NULL where no lane can); else one mask per vector and tap. */
static IrStmt *block_body(Conv *P, int32_t nk_run, int32_t nv, bool interior, IrExpr ***colm,
                          IrExpr ***rowm, IrExpr **inplane)
{
    Lower *L = P->L;
    Arena *a = L->a;
    PtrVec out = { 0 };
    int32_t acc[MAX_NK][MAX_NV], xv[MAX_NV], wv = lower_local(L, IR_TYPE_VF32);
    conv_block_locals(P, &out, nk_run, nv, acc, xv);
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
    /* the input prefetches: for an input whose size is known at run time
     * only, a loop of its own for a large input in interior tiles */
    IrExpr *big;
    IrStmt *pf = prefetch_ahead(P, nk_run, &big);
    IrStmt *loop = reduction(P, nk_run, nv, interior, colm, tapm, acc, xv, wv, big ? NULL : pf);
    if (pf && big && interior)
        loop = ir_if(a, big, reduction(P, nk_run, nv, interior, colm, tapm, acc, xv, wv, pf), loop);
    ptrvec_push(a, &out, loop);
    for (int32_t j = 0; j < nk_run; j++)
        for (int32_t v = 0; v < nv; v++)
            store_vector(P, &out, acc[j][v], j, v, interior ? NULL : inplane[v]);
    return lower_block(L, &out);
}

/* The reduction over the input channels, taps in the script's order in
 * each; pf (or NULL) first in each channel. */
static IrStmt *reduction(Conv *P, int32_t nk_run, int32_t nv, bool interior, IrExpr ***colm,
                         IrExpr **tapm, int32_t (*acc)[MAX_NV], const int32_t *xv, int32_t wv,
                         IrStmt *pf)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t vl = P->vl;
    PtrVec red = { 0 };
    IrExpr *c = V(L, P->var_c);
    IrExpr *xc = add(L, add(L, loc(P, P->l_xbase), mul(L, c, P->cstride)), loc(P, P->l_p0));
    if (pf)
        ptrvec_push(a, &red, pf);
    PtrVec row = { 0 };
    bool by_rows = !interior && P->nsp == 2;    /* a border tile's kernel rows */
    for (int64_t tap = 0; tap < P->ntaps; tap++) {
        const Tap *t = &P->taps[tap];
        int64_t kx = tap % P->kw;
        PtrVec *to = by_rows ? &row : &red;
        IrExpr *off = add(L, add(L, mul(L, I(L, t->phase), P->pstride), mul(L, I(L, t->dy), P->Wv)),
                          I(L, t->dx));
        IrExpr *mask[MAX_NV];
        for (int32_t v = 0; v < nv; v++) {
            mask[v] = interior ? colm[v][kx] : tapm[tap * nv + v];
            IrExpr *lin = add(L, add(L, xc, I(L, (int64_t)v * vl)), off);
            ptrvec_push(a, to, set(P, xv[v], ir_vload(a, P->bx, P->xrank,
                                                       lin_idx(P, P->xrank, lin),
                                                       interior ? NULL : mask[v])));
            /* without padding a lane the mask turns off is one that is
             * not stored: its sum may take anything */
            if (P->inside)
                mask[v] = NULL;
        }
        conv_tap_fmas(P, to, c, tap, nk_run, nv, acc, xv, wv, mask);
        if (by_rows && kx == P->kw - 1) {
            /* a border tile: the kernel row's taps only if some row of
             * the tile reads an input row inside (otherwise every lane's
             * FMA is masked off: skipping them changes nothing) */
            ptrvec_push(a, &red, ir_if(a, row_needed(P, t->ay), lower_block(L, &row), NULL));
            row = (PtrVec){ 0 };
        }
    }
    return ir_for(a, P->var_c, I(L, 0), P->Cg, lower_block(L, &red), IR_LOOP_KERNEL);
}

/* Both channel-block variants: the full one, and the last block's (fewer
 * channels) when the block size does not divide the group's channels; nv
 * position vectors. */
static IrStmt *blocks(Conv *P, int32_t nv, bool interior, IrExpr ***colm, IrExpr ***rowm,
                      IrExpr **inplane)
{
    Lower *L = P->L;
    IrStmt *full = block_body(P, P->nk, nv, interior, colm, rowm, inplane);
    if (P->rem == 0)
        return full;
    IrStmt *last = block_body(P, (int32_t)P->rem, nv, interior, colm, rowm, inplane);
    IrExpr *is_last = ir_bin(L->a, IR_OP_EQ, loc(P, P->l_kb), I(L, P->nkbg - 1));
    return ir_if(L->a, is_last, last, full);
}


/* ---- the nest ----------------------------------------------------------- */

/* The linear offsets of group l_g's first input plane, the block's first
 * output plane and its weights. */
static void group_bases(Conv *P, PtrVec *out)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t xr = P->x->shape.rank;
    IrExpr *C = lower_dim(L, P->x->shape.dims[xr - P->nsp - 1]);
    ptrvec_push(a, out, set(P, P->l_xbase, mul(L, add(L, mul(L, loc(P, P->l_n), C),
                                                        mul(L, loc(P, P->l_g), P->Cg)), P->cstride)));
    ptrvec_push(a, out, set(P, P->l_ybase,
        mul(L, add(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)), mul(L, loc(P, P->l_g), I(L, P->Kg))),
                   mul(L, loc(P, P->l_kb), I(L, P->nk))), P->Pout)));
    ptrvec_push(a, out, set(P, P->l_wbase, conv_wbase(P)));
}

/* The tile's blocks for each group of the item (P->gpi groups from l_g0)
 * -- the tile's masks, made once, serve them all -- or for its one group. */
static IrStmt *per_group(Conv *P, IrStmt *blk)
{
    Lower *L = P->L;
    Arena *a = L->a;
    if (P->gpi <= 1)
        return blk;
    PtrVec body = { 0 };
    int32_t vg = lower_var(L, "g");
    ptrvec_push(a, &body, set(P, P->l_g, V(L, vg)));
    group_bases(P, &body);
    ptrvec_push(a, &body, blk);
    IrExpr *g0 = loc(P, P->l_g0);
    return ir_for(a, vg, g0, imin(L, add(L, g0, I(L, P->gpi)), I(L, P->G)), lower_block(L, &body),
                  IR_LOOP_KERNEL);
}


/* The plane's last tile, when its positions before the plane's end fill
 * fewer vectors than a tile has: those vectors (its own variant computes
 * only them), and the tile's first position in *last_p0.  0 otherwise. */
static int32_t tail_vectors(const Conv *P, int64_t *last_p0)
{
    if (P->pool || P->Pv->kind != IR_EXPR_INT)
        return 0;
    int64_t pv = P->Pv->ival, ntiles = (pv + P->tile - 1) / P->tile;
    *last_p0 = (ntiles - 1) * P->tile;
    int64_t nvt = (pv - *last_p0 + P->vl - 1) / P->vl;
    return nvt < P->nv ? (int32_t)nvt : 0;
}

/* The channel blocks that the plane's last tile takes at a time when it
 * is a single vector (tail_vectors): TAIL_BLOCKS, the items of the others
 * idle, or 1.  A block of nk channels over one vector is nk accumulators
 * and a broadcast for each FMA, and the tile streams every weight for
 * one vector's FMAs: on znver5 a 1x1 of 1024 -> 256 channels at 13x16
 * (4 tiles and a 1-vector tail) ran 1.17x the time of one at 12x16 (4
 * tiles), where 13/12 would be 1.083, and at 14x14 (196 pixels, the same
 * vectors) 1.18x.  With the blocks in pairs (16 accumulators): 1.13x;
 * in the benchmark's harness L6 (that layer at 14x14) 0.864, 0.862, 0.830
 * -> 0.874, 0.894, 0.892x oneDNN's time, L5 (256 -> 1024) 0.90-0.91 ->
 * 0.91-0.92, the 56 x 56 layers (one tail vector in 196) unchanged;
 * x86-64-v3 the same.  Only where the blocks of a group pair up, and the
 * accumulators, the input vector and the weight fit in the registers. */
enum { TAIL_BLOCKS = 2 };

static int32_t tail_blocks(const Conv *P, int32_t nv_tail)
{
    int32_t nk = TAIL_BLOCKS * P->nk;
    if (nv_tail != 1 || P->gpi > 1 || P->pool || P->Kg % nk || nk > MAX_NK ||
        nk + 2 > P->L->sched->target.vregs)
        return 1;
    return TAIL_BLOCKS;
}

/* Each lane's row and column in the virtual plane (l_oyv, l_oxv), from
 * the tile's first position.  Only masks read them: the border variants'
 * and an interior tile's column masks and row-by-row stores; an interior
 * tile with neither (a 1x1 layer's) does without: W2 0.3-0.4% faster,
 * the 1x1 256->1024 at 14x14 0.5-1%. */
static IrStmt *lane_places(Conv *P)
{
    Lower *L = P->L;
    Arena *a = L->a;
    PtrVec body = { 0 };
    int32_t nv = P->nv, vl = P->vl;
    for (int32_t v = 0; v < nv; v++) {
        ptrvec_push(a, &body, set(P, P->l_oxv[v], ir_bin(a, IR_OP_ADD,
            ir_broadcast(a, add(L, loc(P, P->l_ox0), I(L, (int64_t)v * vl))), ir_iota(a))));
        ptrvec_push(a, &body, set(P, P->l_oyv[v], ir_broadcast(a, loc(P, P->l_oy0))));
    }
    {
        /* lanes past the row's end wrap into the following rows */
        PtrVec wrap = { 0 };
        for (int32_t v = 0; v < nv; v++) {
            /* the row first: it tests the column before the column moves */
            IrExpr *m = ir_bin(a, IR_OP_GE, loc(P, P->l_oxv[v]), P->Wv);
            ptrvec_push(a, &wrap, set(P, P->l_oyv[v], ir_select(a, m,
                ir_bin(a, IR_OP_ADD, loc(P, P->l_oyv[v]), I(L, 1)), loc(P, P->l_oyv[v]))));
            ptrvec_push(a, &wrap, set(P, P->l_oxv[v], ir_select(a, m,
                ir_bin(a, IR_OP_SUB, loc(P, P->l_oxv[v]), P->Wv), loc(P, P->l_oxv[v]))));
        }
        int32_t vr = lower_var(L, "wrap");
        IrExpr *nwrap = idiv(L, add(L, loc(P, P->l_ox0), I(L, P->tile - 1)), P->Wv);
        ptrvec_push(a, &body, ir_for(a, vr, I(L, 0), nwrap, lower_block(L, &wrap), IR_LOOP_KERNEL));
    }
    return lower_block(L, &body);
}

/* One tile: positions l_p0 .. l_p0 + tile - 1 of the virtual plane (those
 * at or past P->limit are not stored), every channel of the block. */
static IrStmt *tile_body(Conv *P)
{
    Lower *L = P->L;
    Arena *a = L->a;
    PtrVec body = { 0 };
    int32_t nsp = P->nsp, nv = P->nv, vl = P->vl;
    ptrvec_push(a, &body, set(P, P->l_oy0, idiv(L, loc(P, P->l_p0), P->Wv)));
    ptrvec_push(a, &body, set(P, P->l_oy1, idiv(L, add(L, loc(P, P->l_p0), I(L, P->tile - 1)), P->Wv)));
    ptrvec_push(a, &body, set(P, P->l_ox0, imod(L, loc(P, P->l_p0), P->Wv)));

    /* masks: column (both variants), row and place in the plane (border) */
    IrExpr ***colm_b = arena_array(a, (size_t)nv, sizeof *colm_b);
    IrExpr ***colm_i = arena_array(a, (size_t)nv, sizeof *colm_i);
    IrExpr ***rowm = arena_array(a, (size_t)nv, sizeof *rowm);
    IrExpr **inplane = arena_array(a, (size_t)nv, sizeof *inplane);
    PtrVec imasks = { 0 }, bmasks = { 0 };
    bool any_col = false;
    for (int64_t kx = 0; kx < P->kw; kx++)
        any_col |= P->col_mask[kx];
    if (any_col || P->pitched)
        ptrvec_push(a, &imasks, lane_places(P));
    ptrvec_push(a, &bmasks, lane_places(P));
    for (int32_t v = 0; v < nv; v++) {
        colm_b[v] = arena_array(a, (size_t)P->kw, sizeof **colm_b);
        colm_i[v] = arena_array(a, (size_t)P->kw, sizeof **colm_i);
        rowm[v] = arena_array(a, (size_t)P->kh, sizeof **rowm);
        for (int64_t kx = 0; kx < P->kw; kx++) {
            int64_t ax = P->taps[kx].ax;
            /* input column sx*ox + ax inside the row */
            IrExpr *col = ir_bin(a, IR_OP_ADD, ir_bin(a, IR_OP_MUL, loc(P, P->l_oxv[v]), I(L, P->sx)),
                                 I(L, ax));
            /* without a phase copy the lane's column ox is in [0, IW)
             * (stride 1, Wv = IW): ox + ax leaves the row on ax's side only */
            IrExpr *ok = P->copy ? in_range(P, col, P->IW)
                       : ax < 0  ? ir_bin(a, IR_OP_GE, col, I(L, 0))
                                 : ir_bin(a, IR_OP_LT, col, P->IW);
            if (P->col_mask[kx]) {
                int32_t m = lower_local(L, IR_TYPE_VBOOL);
                ptrvec_push(a, &imasks, set(P, m, ok));
                colm_i[v][kx] = loc(P, m);
            }
            if (P->col_mask[kx] || P->pitched || P->copy) {
                int32_t mb = lower_local(L, IR_TYPE_VBOOL);
                ptrvec_push(a, &bmasks, set(P, mb, ok));
                colm_b[v][kx] = loc(P, mb);
            }
        }
        for (int64_t ky = 0; ky < P->kh; ky++) {
            if (nsp == 1)
                continue;
            int64_t ay = P->taps[ky * P->kw].ay;
            int32_t m = lower_local(L, IR_TYPE_VBOOL);
            IrExpr *row = ir_bin(a, IR_OP_ADD, ir_bin(a, IR_OP_MUL, loc(P, P->l_oyv[v]), I(L, P->sy)),
                                 I(L, ay));
            /* the lane's row is at least 0: a tap row at or below it
             * can only pass the input's last row */
            ptrvec_push(a, &bmasks, set(P, m, ay >= 0 ? ir_bin(a, IR_OP_LT, row, P->IH)
                                                      : in_range(P, row, P->IH)));
            rowm[v][ky] = loc(P, m);
        }
        int32_t m = lower_local(L, IR_TYPE_VBOOL);
        IrExpr *pos = ir_bin(a, IR_OP_ADD, ir_broadcast(a, add(L, loc(P, P->l_p0), I(L, (int64_t)v * vl))),
                             ir_iota(a));
        ptrvec_push(a, &bmasks, set(P, m, ir_bin(a, IR_OP_LT, pos, P->limit)));
        inplane[v] = loc(P, m);
    }

    /* interior: the whole tile before the limit, every row of it sees every
     * tap row inside the input, and every plain load stays inside its
     * plane */
    int64_t ay_min = P->taps[0].ay, ay_max = P->taps[P->ntaps - 1].ay;
    IrExpr *p0 = loc(P, P->l_p0), *last = add(L, p0, I(L, P->tile - 1));
    IrExpr *oy_last = loc(P, P->l_oy1);
    IrExpr *cond = ir_bin(a, IR_OP_LE, add(L, p0, I(L, P->tile)), P->limit);
    if (nsp == 2) {
        cond = ir_bin(a, IR_OP_AND, cond, ir_bin(a, IR_OP_GE,
            add(L, mul(L, loc(P, P->l_oy0), I(L, P->sy)), I(L, ay_min)), I(L, 0)));
        cond = ir_bin(a, IR_OP_AND, cond, ir_bin(a, IR_OP_LT,
            add(L, mul(L, oy_last, I(L, P->sy)), I(L, ay_max)), P->IH));
    }
    IrExpr *off_min = add(L, mul(L, I(L, P->dmin_dy), P->Wv), I(L, P->dmin));
    IrExpr *off_max = add(L, mul(L, I(L, P->dmax_dy), P->Wv), I(L, P->dmax));
    cond = ir_bin(a, IR_OP_AND, cond, ir_bin(a, IR_OP_GE, add(L, p0, off_min), I(L, 0)));
    cond = ir_bin(a, IR_OP_AND, cond, ir_bin(a, IR_OP_LT, add(L, last, off_max),
                                             mul(L, P->Hp, P->Wv)));

    ptrvec_push(a, &imasks, per_group(P, blocks(P, nv, true, colm_i, NULL, NULL)));
    IrStmt *border = per_group(P, blocks(P, nv, false, colm_b, rowm, inplane));
    int64_t last_p0;
    int32_t nv_tail = tail_vectors(P, &last_p0);
    if (nv_tail) {
        int32_t m = tail_blocks(P, nv_tail);
        IrStmt *tail = m > 1 ? block_body(P, m * P->nk, nv_tail, false, colm_b, rowm, inplane)
                             : blocks(P, nv_tail, false, colm_b, rowm, inplane);
        tail = per_group(P, tail);
        if (m > 1)      /* the item of each m-th block takes the next m - 1 too */
            tail = ir_if(a, ir_bin(a, IR_OP_EQ, imod(L, loc(P, P->l_kb), I(L, m)), I(L, 0)), tail,
                         NULL);
        border = ir_if(a, ir_bin(a, IR_OP_EQ, p0, I(L, last_p0)), tail, border);
    }
    ptrvec_push(a, &bmasks, border);
    ptrvec_push(a, &body, ir_if(a, cond, lower_block(L, &imasks), lower_block(L, &bmasks)));
    return lower_block(L, &body);
}

/* The fused pool's rows [pr0, pr1) of the block's channels, read from the
 * strip. */
static IrStmt *pool_strip(Conv *P)
{
    Lower *L = P->L;
    Arena *a = L->a;
    const Node *pool = P->pool;
    int32_t pr = pool->shape.rank;
    IrExpr *PH = lower_dim(L, pool->shape.dims[pr - 2]), *PW = lower_dim(L, pool->shape.dims[pr - 1]);
    int32_t vj = lower_var(L, "j");
    IrExpr *j = V(L, vj);
    IrExpr *in_base = mul(L, j, I(L, P->strip_rows * P->owc));
    IrExpr *ch = add(L, add(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)), mul(L, loc(P, P->l_g), I(L, P->Kg))),
                            mul(L, loc(P, P->l_kb), I(L, P->nk))), j);
    IrExpr *out_base = mul(L, ch, mul(L, PH, PW));
    IrStmt *rows = kernel_pool_rows_range(L, pool, P->bstrip, 3, in_base, loc(P, P->l_cr0), out_base,
                                          loc(P, P->l_pr0), loc(P, P->l_pr1));
    IrExpr *nk_run = I(L, P->nk);
    if (P->rem)
        nk_run = ir_select(a, ir_bin(a, IR_OP_EQ, loc(P, P->l_kb), I(L, P->nkbg - 1)), I(L, P->rem),
                           I(L, P->nk));
    return ir_for(a, vj, I(L, 0), nk_run, rows, IR_LOOP_KERNEL);
}

IrStmt *kernel_conv_plane(Lower *L, const Node *n)
{
    Arena *a = L->a;
    Conv P_ = { .L = L, .n = n };
    Conv *P = &P_;
    const StagePlan *plan = schedule_plan(L->sched, n);
    conv_setup(P);
    P->pool = plan->pool;
    P->limit = P->Pv;
    P->stream = !P->pool && kl_stream_output(L, P->store, &P->stream_when);

    int32_t vit = lower_var(L, "item");
    P->var_c = lower_var(L, "c");
    IrExpr *it = V(L, vit);
    PtrVec body = { 0 };
#define NEW_I64(field) (P->field = lower_local(L, IR_TYPE_I64))
    NEW_I64(l_kb); NEW_I64(l_tile); NEW_I64(l_g); NEW_I64(l_n); NEW_I64(l_p0);
    NEW_I64(l_ox0); NEW_I64(l_oy0); NEW_I64(l_oy1); NEW_I64(l_xbase); NEW_I64(l_ybase); NEW_I64(l_wbase);
    P->l_oxv = arena_array(a, (size_t)P->nv, sizeof(int32_t));
    P->l_oyv = arena_array(a, (size_t)P->nv, sizeof(int32_t));
    for (int32_t v = 0; v < P->nv; v++) {
        P->l_oxv[v] = lower_local(L, IR_TYPE_VI64);
        P->l_oyv[v] = lower_local(L, IR_TYPE_VI64);
    }

    /* The work items: batch x group x (tile, or strip of pooled rows) x
     * channel block, the block innermost so that consecutive items reuse
     * the same input. */
    IrExpr *spatial;
    IrExpr *ntiles = idiv(L, add(L, P->Pv, I(L, P->tile - 1)), I(L, P->tile));
    IrExpr *PH = NULL;
    if (P->pool) {
        const Node *pool = P->pool;
        const WindowParams *pw = &pool->pool.win;
        int64_t pk, pp0, ohc;
        sym_is_const(pw->k[0], &pk);
        sym_is_const(pw->pad0[0], &pp0);
        sym_is_const(n->shape.dims[n->shape.rank - 2], &ohc);
        sym_is_const(n->shape.dims[n->shape.rank - 1], &P->owc);
        P->pool_rows = plan->pool_rows;
        P->strip_rows = (P->pool_rows - 1) * pw->stride[0] + (pk - 1) * pw->dilation[0] + 1;
        if (P->strip_rows > ohc)
            P->strip_rows = ohc;
        Shape ss = shape_make(a, 3);
        ss.dims[0] = sym_const(&L->sc, P->nk);
        ss.dims[1] = sym_const(&L->sc, P->strip_rows);
        ss.dims[2] = sym_const(&L->sc, P->owc);
        P->bstrip = lower_local_buffer(L, arena_printf(a, "%s_strip", n->name ? n->name : "conv"), ss);
        NEW_I64(l_pr0); NEW_I64(l_pr1); NEW_I64(l_cr0); NEW_I64(l_cr1);
        PH = lower_dim(L, pool->shape.dims[pool->shape.rank - 2]);
        spatial = idiv(L, add(L, PH, I(L, P->pool_rows - 1)), I(L, P->pool_rows));
        P->limit = mul(L, loc(P, P->l_cr1), P->Wv);
    } else {
        spatial = ntiles;
    }
#undef NEW_I64
    /* small groups (depthwise): several an item (passes/parallel.c) */
    P->gpi = plan->groups_per_item;     /* 1 with a fused pool */
    int64_t ngb = P->gpi > 1 ? (P->G + P->gpi - 1) / P->gpi : P->G;
    IrExpr *items = mul(L, mul(L, mul(L, P->N, I(L, ngb)), spatial), I(L, P->nkbg));
    IrExpr *rest = idiv(L, it, I(L, P->nkbg));
    ptrvec_push(a, &body, set(P, P->l_kb, imod(L, it, I(L, P->nkbg))));
    ptrvec_push(a, &body, set(P, P->l_tile, imod(L, rest, spatial)));
    rest = idiv(L, rest, spatial);
    ptrvec_push(a, &body, set(P, P->l_n, idiv(L, rest, I(L, ngb))));
    if (P->gpi > 1) {
        P->l_g0 = lower_local(L, IR_TYPE_I64);
        ptrvec_push(a, &body, set(P, P->l_g0, mul(L, imod(L, rest, I(L, ngb)), I(L, P->gpi))));
    } else {
        ptrvec_push(a, &body, set(P, P->l_g, imod(L, rest, I(L, ngb))));
        group_bases(P, &body);
    }
    if (!P->pool) {
        ptrvec_push(a, &body, set(P, P->l_p0, mul(L, loc(P, P->l_tile), I(L, P->tile))));
        ptrvec_push(a, &body, tile_body(P));
    } else {
        /* pooled rows [pr0, pr1) read convolution rows [cr0, cr1) */
        const WindowParams *pw = &P->pool->pool.win;
        int64_t pk, pp0;
        sym_is_const(pw->k[0], &pk);
        sym_is_const(pw->pad0[0], &pp0);
        IrExpr *pr0 = mul(L, loc(P, P->l_tile), I(L, P->pool_rows));
        ptrvec_push(a, &body, set(P, P->l_pr0, pr0));
        ptrvec_push(a, &body, set(P, P->l_pr1, imin(L, add(L, loc(P, P->l_pr0), I(L, P->pool_rows)), PH)));
        ptrvec_push(a, &body, set(P, P->l_cr0, imax(L, I(L, 0),
            sub(L, mul(L, loc(P, P->l_pr0), I(L, pw->stride[0])), I(L, pp0)))));
        ptrvec_push(a, &body, set(P, P->l_cr1, imin(L, P->OH,
            add(L, sub(L, mul(L, sub(L, loc(P, P->l_pr1), I(L, 1)), I(L, pw->stride[0])), I(L, pp0)),
                I(L, (pk - 1) * pw->dilation[0] + 1)))));
        IrExpr *first = mul(L, loc(P, P->l_cr0), P->Wv);
        IrExpr *count = sub(L, P->limit, first);
        int32_t vt = lower_var(L, "t");
        IrStmt *tile = ir_block(a, (IrStmt *const[]){
            set(P, P->l_p0, add(L, first, mul(L, V(L, vt), I(L, P->tile)))), tile_body(P) }, 2);
        ptrvec_push(a, &body, ir_for(a, vt, I(L, 0),
                                     idiv(L, add(L, count, I(L, P->tile - 1)), I(L, P->tile)), tile,
                                     IR_LOOP_KERNEL));
        ptrvec_push(a, &body, pool_strip(P));
    }

    uint32_t flags = IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0);
    IrStmt *nest = ir_for(a, vit, I(L, 0), items, lower_block(L, &body), flags);
    if (!P->copy_nest)
        return nest;
    return ir_block(a, (IrStmt *const[]){ P->copy_nest, nest }, 2);
}
