/* kernels/conv_chan.c - the convolution micro-kernel over vectors of
 * output channels (KERNEL_CONV_CHAN, chosen by passes/kernels.c for
 * strided convolutions and for stems with few input channels).
 *
 * A vector holds VL consecutive output channels of one output pixel.  The
 * register block is ncv channel vectors x np pixels of one output row
 * (AVX-512: 4 x 7, 28 accumulators), or with plan.chan_rows of that many
 * whole rows (rows_block):
 *
 *   for each work item (group, block of ncv*VL output channels, batch,
 *   output row oy, block of np columns):               -- parallel
 *     acc[cv][p] = bias or 0
 *     for c in the group's input channels:
 *       for ky in the kernel rows whose input row is inside the input:
 *         for kx (unrolled; a loop for blocks past 24 accumulators):
 *           w[cv] = the packed weights of (c, ky, kx), ncv vectors
 *           for p (unrolled), if column (ox0+p)*sx + kx*dx - pad is inside:
 *             b = broadcast(x[c][iy][ix]);  acc[cv][p] = fma(b, w[cv], acc[cv][p])
 *     for cv: transpose acc[cv][0..np) in registers; store epilogue(row i)
 *       to output channel k0 + cv*VL + i, columns ox0 .. ox0+np-1
 *
 * The input is read as it is (NCHW): each broadcast is one scalar of an
 * input row, sx apart from pixel to pixel, so a stride costs nothing and
 * no phase copy is needed; the few input channels of a stem still give
 * every FMA a full vector of output channels.  After the whole reduction
 * each channel vector's np accumulators are transposed in registers into
 * one row of np pixels per output channel, stored with one masked store
 * (store_rows; W3: 3% faster than a scatter per accumulator, which stays
 * for blocks of more pixels than lanes).
 *
 * Exactness.  Each lane is one output element, and its sum is built with
 * the scalar nest's operations in the scalar nest's order: the bias (or
 * 0), then for each input channel, kernel row and kernel column one
 * multiply-add.  A tap outside the input is never added as w*0: rows
 * outside are left out of the item's ky range, and a column outside has
 * no FMA at all for that pixel.  Which (pixel, column tap) pairs leave the
 * input depends only on the block's first column and the widths: with the
 * widths known when compiling, blocks with the same pattern share one
 * variant, so interior blocks carry no test at all.  With widths bound at
 * run time (size symbols) the blocks wholly inside still take a variant
 * without tests, those of the left border theirs, fixed by the left border
 * alone, and at stride 1 a row's last block, ending at its last column,
 * its own, fixed by the right border (end_layout); the others test each
 * pixel and column tap once a block (open_columns), the right border's
 * over the at most ceil(pr/sx) columns there are past it rather than a
 * whole block (the symbolic W7 stem 1.008x, a 5x5/2 stem with a 2x2 pool
 * 1.015x).
 *
 * The output-channel block need not divide the group's channels: the
 * packed weights are zero past the group's last channel, and those lanes
 * are neither loaded from the bias nor stored.
 *
 * A depthwise layer on a small plane (plan.dw_chan) takes its groups as
 * one: lane i of a vector is channel k0 + i of the block, whose only input
 * channel is the same.  Its work item is a block of channels at one batch
 * index: it transposes their input planes into bt[pixel][VL] on its stack
 * (kl_transpose, VL pixels at a time), then computes every row's blocks
 * with vector loads from there where the other layers broadcast an input
 * scalar, its packed weights [tap][VL] a block as for a layer of one
 * input channel.  Each lane's sum is the scalar nest's: the bias, then
 * its own taps in order, those outside the input left out as above.
 *
 * Runtime weights on a small output plane (plan.pack_in_items) are packed
 * by the work items rather than by a nest before them: an item is a
 * channel block, with a block buffer of its own; its first block of
 * pixels packs the block's weights as its reduction reads them
 * (pack_ahead), and its other blocks, rows and batch indices read them
 * there. */
#include <math.h>

#include "conv.h"

typedef struct ColVariant {
    int32_t np;             /* pixels of the block (the last may be short) */
    uint8_t *valid;         /* [np][kw]: the column tap is inside the input */
    int64_t *blocks;        /* the column blocks with this variant */
    int32_t nblocks;
} ColVariant;

typedef struct Chan {
    Conv    c;
    int32_t ncv, np;
    bool    kx_loop;        /* the column taps in a loop (plan.tap_loop) */
    bool    widths;         /* iw and ow known when compiling */
    bool    open_row;       /* a 1x1 layer's plane as one row of a length
                               known at run time (plan.plane_row) */
    IrExpr *nxb;            /* column blocks per output row */
    int64_t iw, ow, pl, sx, dx, dy, pt;     /* iw, ow: when `widths` */
    int32_t l_oy, l_xb, l_kylo, l_kyhi, l_xrow, l_ybase;
    int32_t l_xcol;         /* the block's first input column, ox0*sx - pl */
    /* widths known at run time only: the first output column whose taps
     * pass the input's right end, the block's first column and the pixels
     * [lo, hi) of the block it stores */
    int32_t l_oxr, l_ox0, l_lo, l_hi;
    int32_t np_general;     /* pixels of the general variant (H->np, or
                               fewer for the blocks past the right border) */
    int64_t pr;             /* the right padding, when known (pr_known) */
    bool    pr_known;
    int32_t var_ky;
    bool    packing;        /* building the blocks that pack the weights */
    /* the blocks after an item's first (pack_items): each channel step
     * prefetches pf_lines lines of the next item's weights, the
     * (s - 1)*Cg + c th group of them in part s (next_item_prefetch) */
    int64_t pf_lines;
    IrExpr *pf_item, *pf_part;
    /* plan.chan_rows: a block is `rows` whole output rows (widths known,
     * OW*rows pixels); each row's kernel rows [l_rlo[r], l_rhi[r]), the
     * block's ky loop their union; row_tests: a variant whose rows'
     * ranges differ, each row's FMAs guarded by its own */
    int32_t rows;
    int64_t oh;             /* the output height, with rows a block */
    int32_t l_rlo[MAX_NV], l_rhi[MAX_NV];
    bool    row_tests;
    /* a depthwise layer (plan.dw_chan): lane i of a vector is group
     * (channel) k0 + i, its input the item's transposed planes
     * bt[pixel][VL], read with vector loads where conv-chan broadcasts */
    bool    dw;
    int32_t bt;
    /* a fused max pool: the block's conv rows go to a ring of `ring`
     * rows ([ring][OW][nk], private to the work item), pooled as soon as a
     * pooled row's window is complete */
    const Node *pool;
    int32_t bring;
    int64_t ring;
    int64_t pk, pkw, ps, psx, pp, ppx, pd, pdx;
    IrExpr *PH, *PW;        /* the pooled plane */
    /* with a plane size known at run time only (or a ring past
     * KL_STACK_MAX_BYTES), the rings are one scratch buffer,
     * [item][ring][OW][nk]: the item's first element */
    bool    ring_local;
    int32_t l_ring0;
} Chan;

static bool same_variant(const ColVariant *v, int32_t np, const uint8_t *valid, int64_t kw)
{
    return v->np == np && memcmp(v->valid, valid, (size_t)(np * kw)) == 0;
}

/* The column blocks grouped by their pattern of valid column taps (the
 * widths known). */
static ColVariant *column_variants(Chan *H, int32_t *count)
{
    Arena *a = H->c.L->a;
    int64_t kw = H->c.kw, nxb = (H->ow + H->np - 1) / H->np;
    ColVariant *vs = arena_array(a, (size_t)nxb, sizeof *vs);
    int32_t n = 0;
    for (int64_t b = 0; b < nxb; b++) {
        int64_t ox0 = b * H->np;
        int32_t np = (int32_t)(H->ow - ox0 < H->np ? H->ow - ox0 : H->np);
        uint8_t *valid = arena_array(a, (size_t)(np * kw), 1);
        for (int32_t p = 0; p < np; p++)
            for (int64_t kx = 0; kx < kw; kx++) {
                int64_t ix = (ox0 + p) * H->sx + kx * H->dx - H->pl;
                valid[p * kw + kx] = ix >= 0 && ix < H->iw;
            }
        int32_t i = 0;
        while (i < n && !same_variant(&vs[i], np, valid, kw))
            i++;
        if (i == n) {
            vs[n++] = (ColVariant){ .np = np, .valid = valid,
                                    .blocks = arena_array(a, (size_t)nxb, sizeof(int64_t)) };
        }
        vs[i].blocks[vs[i].nblocks++] = b;
    }
    *count = n;
    return vs;
}

/* Lanes of channel vector v of the block that are channels of the group
 * (the last block may run past the group's last channel), or NULL: all. */
static IrExpr *channel_lanes(Chan *H, int32_t v)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    if (!P->rem)
        return NULL;
    IrExpr *k = ir_bin(L->a, IR_OP_ADD, ir_broadcast(L->a, add(L, mul(L, loc(P, P->l_kb), I(L, P->nk)),
                                                                I(L, (int64_t)v * P->vl))),
                       ir_iota(L->a));
    return ir_bin(L->a, IR_OP_LT, k, I(L, P->Kg));
}

/* The block's accumulators, each vector set to the bias of its channels
 * (or 0); np pixels. */
static void init_accumulators(Chan *H, int32_t np, int32_t (*acc)[MAX_NV], PtrVec *out)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    for (int32_t v = 0; v < H->ncv; v++) {
        IrExpr *init = ir_broadcast(a, ir_float(a, 0.0f));
        if (P->bias) {
            IrExpr *kb = add(L, add(L, mul(L, loc(P, P->l_g), I(L, P->Kg)),
                                     mul(L, loc(P, P->l_kb), I(L, P->nk))), I(L, (int64_t)v * P->vl));
            IrExpr *mask = channel_lanes(H, v);
            int32_t bb = lower_buffer_of(L, P->bias);
            init = ir_vload(a, bb, P->bias->shape.rank, lin_idx(P, P->bias->shape.rank, kb), mask);
        }
        for (int32_t p = 0; p < np; p++) {
            acc[v][p] = lower_local(L, IR_TYPE_VF32);
            ptrvec_push(a, out, set(P, acc[v][p], init));
        }
    }
}

/* st, the store of the block's channel j (a row after the transposition),
 * only where that channel is one of the group's: in the last block, when
 * the group's channels leave part of it empty. */
static IrStmt *in_group(Chan *H, int32_t j, IrStmt *st)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    if (!P->rem)
        return st;
    IrExpr *k = add(L, mul(L, loc(P, P->l_kb), I(L, P->nk)), I(L, j));
    return ir_if(L->a, ir_bin(L->a, IR_OP_LT, k, I(L, P->Kg)), st, NULL);
}

/* The block's np pixels of each channel vector as rows of the NCHW
 * output: the vl x vl matrix of the vector's accumulators (pixel p in row
 * p, channel i in lane i; rows past np zero) transposed in registers, so
 * that row i holds channel k0 + v*VL + i's np pixels, consecutive in the
 * output row -- one masked store each, its epilogue operands read by
 * plain loads, where the pixels' vectors took a scatter each. */
static void store_rows(Chan *H, int32_t (*acc)[MAX_NV], int32_t np, bool general, PtrVec *out)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t vl = P->vl;
    int32_t rows[64];
    IrExpr *pixels = general ? ir_bin(a, IR_OP_LT, ir_iota(a), loc(P, H->l_hi))
                             : np < vl ? ir_bin(a, IR_OP_LT, ir_iota(a), I(L, np)) : NULL;
    if (!H->widths)     /* a block moved back stores only its new pixels */
        pixels = vand(P, pixels, ir_bin(a, IR_OP_GE, ir_iota(a), loc(P, H->l_lo)));
    for (int32_t v = 0; v < H->ncv; v++) {
        for (int32_t p = 0; p < vl; p++) {
            rows[p] = lower_local(L, IR_TYPE_VF32);
            ptrvec_push(a, out, set(P, rows[p], p < np ? loc(P, acc[v][p])
                                                       : ir_broadcast(a, ir_float(a, 0.0f))));
        }
        kl_transpose(L, out, rows, vl);
        for (int32_t i = 0; i < vl; i++) {
            IrExpr *lin = add(L, loc(P, H->l_ybase), mul(L, I(L, (int64_t)v * vl + i), P->Pout));
            IrExpr *val = kl_epilogue(L, P->n, loc(P, rows[i]), lin, pixels);
            IrStmt *st = ir_vstore(a, P->by, P->yrank, lin_idx(P, P->yrank, lin), val, pixels);
            ptrvec_push(a, out, in_group(H, v * vl + i, st));
        }
    }
}

/* Whether pixel p of the block is one it stores and its column tap kx
 * reads a column inside the input: the test of the general variant, for
 * widths known only at run time (the same for every channel and kernel
 * row of the block: the code generator computes it once a block). */
static IrExpr *tap_inside(Chan *H, int32_t p, IrExpr *kx)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    IrExpr *ix = add(L, loc(P, H->l_xcol), add(L, I(L, p * H->sx), mul(L, kx, I(L, H->dx))));
    return ir_bin(a, IR_OP_AND, kl_in_range(L, ix, P->IW), ir_bin(a, IR_OP_LT, I(L, p), loc(P, H->l_hi)));
}

/* An item that packs its weights (pack_items) reads them from wherever
 * the call finds them -- beyond the L2 cache when the layer runs after
 * others, as in a network -- in its first block of pixels, where the
 * transposes wait on the transfer.  Its other blocks therefore fetch the
 * next item's weights into the L2 cache (prefetcht1: L1 keeps what the
 * block reads), a few lines a channel step, spread over those blocks: on
 * a core of the same range of items the next item is the next block.
 * Only where a channel step is at least NEXT_PREFETCH_MIN_CYCLES of FMAs
 * (at two a cycle): the 1x1 layers' steps of one tap lose more to the
 * extra loads (1x1 2048->512 at 7x7 0.81-0.91x).  Interleaved on znver5,
 * one core, each call after 48 MB of other data / each after the last:
 * W3 1.066-1.081 / 1.00x, 3x3 512->512 at 7x7 1.27-1.30 / 1.04-1.16x,
 * 3x3/2 256->512 from 14x14 1.37 / 1.01x. */
enum { NEXT_PREFETCH_MIN_CYCLES = 32 };

static IrStmt *next_item_prefetch(Chan *H, IrExpr *c)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    IrExpr *Q = mul(L, P->Cg, I(L, P->ntaps));
    IrExpr *k0 = conv_block_row(P, add(L, H->pf_item, I(L, 1)));
    IrExpr *step = add(L, mul(L, sub(L, H->pf_part, I(L, 1)), P->Cg), c);
    IrExpr *last = sub(L, mul(L, I(L, P->G * P->Kg), Q), I(L, 1));
    int32_t wr = P->w->shape.rank;
    PtrVec pf = { 0 };
    for (int64_t i = 0; i < H->pf_lines; i++) {
        IrExpr *line = add(L, mul(L, step, I(L, H->pf_lines)), I(L, i));
        IrExpr *at = imin(L, add(L, mul(L, k0, Q), mul(L, line, I(L, 16))), last);
        ptrvec_push(a, &pf, ir_prefetch_far(a, P->bwsrc, wr, kl_lin(L, wr, at)));
    }
    return lower_block(L, &pf);
}

/* The block that packs a channel block's weights (pack_items) packs them
 * into its item's buffer as its reduction goes.  Before input channel c
 * reads positions [c*T, c*T + T) (T taps) the pieces up to
 * ceil((c+1)*T / VL) are packed: the first before the block, and channel
 * c packs the pieces channel c+1 needs, so that their transposes run
 * beside this channel's multiply-adds rather than in a nest of their
 * own. */
static IrStmt *pack_ahead(Chan *H, IrExpr *c)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    int32_t vqb = lower_var(L, "qb");
    IrExpr *T = I(L, P->ntaps), *vl1 = I(L, P->vl - 1), *vl = I(L, P->vl);
    IrExpr *lo = idiv(L, add(L, mul(L, add(L, c, I(L, 1)), T), vl1), vl);
    IrExpr *hi = imin(L, idiv(L, add(L, mul(L, add(L, c, I(L, 2)), T), vl1), vl), conv_pack_pieces(P));
    IrExpr *gb = add(L, mul(L, loc(P, P->l_g), I(L, P->nkbg)), loc(P, P->l_kb));
    return ir_for(L->a, vqb, lo, hi, conv_pack_piece(P, gb, V(L, vqb)), IR_LOOP_KERNEL);
}

/* Pixel p's input position relative to the block's first pixel at the
 * same tap: p*sx along a row; with rows a block, row p/OW is sy input
 * rows down. */
static int64_t pixel_offset(const Chan *H, int32_t p)
{
    if (H->rows <= 1)
        return p * H->sx;
    return (p / H->ow) * H->c.sy * H->iw + (p % H->ow) * H->sx;
}

/* The input lines the block reads in input channel c + D, prefetched at
 * the start of channel c, as the plane kernel does (conv_plane.c,
 * prefetch_ahead): the block's broadcasts walk the channels a plane
 * apart, more lines than the hardware prefetcher follows, and an input
 * past the L2 cache is read again by every channel block.  D channels
 * are about PREFETCH_CYCLES of the block's FMAs ahead; each kernel row's
 * span of the block's columns, one more line as it need not start one.
 * For a group's input planes of more than PREFETCH_MIN_BYTES, known when
 * compiling (else NULL).  Interleaved on znver4: 1x1/2 256->512 at 56x56
 * (3.2 MB) 1.15x, 1x1 1024->128 at 56x56 (12.8 MB) 1.11x. */
static IrStmt *prefetch_ahead(Chan *H, IrExpr *c, int32_t np)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    IrExpr *bytes = mul(L, mul(L, P->Cg, P->cstride), I(L, 4));
    if (H->dw || bytes->kind != IR_EXPR_INT || bytes->ival <= PREFETCH_MIN_BYTES)
        return NULL;
    int64_t per_c = P->ntaps * H->ncv * np / 2;       /* FMA cycles a channel */
    int64_t d = per_c > 0 ? (PREFETCH_CYCLES + per_c - 1) / per_c : 1;
    if (d > PREFETCH_MAX_CHANNELS)
        d = PREFETCH_MAX_CHANNELS;
    enum { LINE_FLOATS = 16 };
    int64_t span = pixel_offset(H, np - 1) + (P->kw - 1) * H->dx + 1;
    int64_t lines = (span + LINE_FLOATS - 1) / LINE_FLOATS + 1;
    IrExpr *first = add(L, loc(P, H->l_xrow), mul(L, add(L, c, I(L, d)), P->cstride));
    PtrVec pf = { 0 };
    for (int64_t r = 0; r < P->kh; r++)
        for (int64_t i = 0; i < lines; i++) {
            IrExpr *at = add(L, first, add(L, mul(L, I(L, r * H->dy), P->IW), I(L, i * LINE_FLOATS)));
            ptrvec_push(L->a, &pf, ir_prefetch(L->a, P->bx, P->xrank, lin_idx(P, P->xrank, at)));
        }
    return lower_block(L, &pf);
}

/* The input an FMA of the block multiplies, at linear position xl: the
 * scalar broadcast, or with a depthwise layer the vector of the block's
 * channels at pixel xl of the transposed planes. */
static IrExpr *input_at(Chan *H, IrExpr *xl)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    if (H->dw)
        return ir_vload(L->a, H->bt, 2, lin_idx(P, 2, mul(L, xl, I(L, P->vl))), NULL);
    return ir_broadcast(L->a, ir_load(L->a, P->bx, P->xrank, lin_idx(P, P->xrank, xl)));
}

/* One variant: the reduction and the stores of np pixels, with
 * accumulators of its own (none live across the variants' branches).
 * cv_ NULL: the general variant, H->np_general pixels, each pixel and
 * column tap tested by tap_inside, the stores cut at the row's end. */
static IrStmt *variant_body(Chan *H, const ColVariant *cv_)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t ncv = H->ncv, np = cv_ ? cv_->np : H->np_general, vl = P->vl;
    int64_t kw = P->kw;
    int32_t acc[MAX_NK][MAX_NV];
    PtrVec out = { 0 };
    init_accumulators(H, np, acc, &out);
    int32_t wv[MAX_NK];
    for (int32_t v = 0; v < ncv; v++)
        wv[v] = lower_local(L, IR_TYPE_VF32);
    int32_t bx = lower_local(L, IR_TYPE_VF32);

    PtrVec red = { 0 };
    IrExpr *c = V(L, P->var_c), *ky = V(L, H->var_ky);
    IrExpr *xrow = add(L, add(L, loc(P, H->l_xrow), mul(L, c, P->cstride)),
                       mul(L, ky, mul(L, I(L, H->dy), P->IW)));
    IrExpr *wtap = add(L, loc(P, P->l_wbase),
                       mul(L, add(L, mul(L, c, I(L, P->ntaps)), mul(L, ky, I(L, kw))), I(L, P->nk)));
    if (H->kx_loop) {
        /* the column taps in a loop: one iteration's broadcasts are all
         * different (columns p*sx + kx*dx), so none stays live into the
         * next tap's, as the unrolled taps' shared columns would; a pixel
         * whose column can leave the input is guarded by its tap range */
        int32_t vkx = lower_var(L, "kx");
        IrExpr *kx = V(L, vkx);
        PtrVec tap = { 0 }, row[MAX_NV] = { { 0 } };
        for (int32_t v = 0; v < ncv; v++) {
            IrExpr *wl = add(L, wtap, add(L, mul(L, kx, I(L, P->nk)), I(L, (int64_t)v * vl)));
            ptrvec_push(a, &tap, set(P, wv[v], ir_vload(a, P->bwp, 4,
                (IrExpr *const[]){ I(L, 0), I(L, 0), I(L, 0), wl }, NULL)));
        }
        for (int32_t p = 0; p < np; p++) {
            int64_t lo = 0, hi = kw;        /* the valid taps: one range */
            if (cv_) {
                lo = kw;
                hi = 0;
                for (int64_t k = 0; k < kw; k++)
                    if (cv_->valid[p * kw + k]) {
                        lo = k < lo ? k : lo;
                        hi = k + 1;
                    }
            }
            if (lo >= hi)
                continue;
            IrExpr *xl = add(L, add(L, xrow, I(L, pixel_offset(H, p))), mul(L, kx, I(L, H->dx)));
            IrStmt *st[1 + MAX_NK];
            st[0] = set(P, bx, input_at(H, xl));
            for (int32_t v = 0; v < ncv; v++)
                st[1 + v] = set(P, acc[v][p], ir_fma(a, loc(P, bx), loc(P, wv[v]), loc(P, acc[v][p])));
            IrStmt *pix = ir_block(a, st, 1 + ncv);
            if (!cv_)
                pix = ir_if(a, tap_inside(H, p, kx), pix, NULL);
            else if (lo > 0 || hi < kw)
                pix = ir_if(a, ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, kx, I(L, lo)),
                                      ir_bin(a, IR_OP_LT, kx, I(L, hi))), pix, NULL);
            ptrvec_push(a, H->row_tests ? &row[p / H->ow] : &tap, pix);
        }
        /* a row whose kernel rows are fewer than the block's: its
         * pixels' FMAs under one test of ky */
        for (int32_t r = 0; H->row_tests && r < H->rows; r++)
            if (row[r].len)
                ptrvec_push(a, &tap, ir_if(a, ir_bin(a, IR_OP_AND,
                                                     ir_bin(a, IR_OP_GE, ky, loc(P, H->l_rlo[r])),
                                                     ir_bin(a, IR_OP_LT, ky, loc(P, H->l_rhi[r]))),
                                           lower_block(L, &row[r]), NULL));
        ptrvec_push(a, &red, ir_for(a, vkx, I(L, 0), I(L, kw), lower_block(L, &tap), IR_LOOP_KERNEL));
    }
    for (int64_t kx = 0; kx < kw && !H->kx_loop; kx++) {
        bool any = !cv_;
        for (int32_t p = 0; p < np && cv_; p++)
            any |= cv_->valid[p * kw + kx];
        if (!any)
            continue;
        for (int32_t v = 0; v < ncv; v++) {
            IrExpr *wl = add(L, wtap, I(L, kx * P->nk + (int64_t)v * vl));
            ptrvec_push(a, &red, set(P, wv[v], ir_vload(a, P->bwp, 4,
                (IrExpr *const[]){ I(L, 0), I(L, 0), I(L, 0), wl }, NULL)));
        }
        for (int32_t p = 0; p < np; p++) {
            if (cv_ && !cv_->valid[p * kw + kx])
                continue;
            IrExpr *xl = add(L, xrow, I(L, pixel_offset(H, p) + kx * H->dx));
            IrStmt *st[1 + MAX_NK];
            st[0] = set(P, bx, input_at(H, xl));
            for (int32_t v = 0; v < ncv; v++)
                st[1 + v] = set(P, acc[v][p], ir_fma(a, loc(P, bx), loc(P, wv[v]), loc(P, acc[v][p])));
            IrStmt *pix = ir_block(a, st, 1 + ncv);
            ptrvec_push(a, &red, cv_ ? pix : ir_if(a, tap_inside(H, p, I(L, kx)), pix, NULL));
        }
    }
    IrStmt *kyloop = ir_for(a, H->var_ky, loc(P, H->l_kylo), loc(P, H->l_kyhi), lower_block(L, &red),
                            IR_LOOP_KERNEL);
    if (H->packing)
        kyloop = ir_block(a, (IrStmt *const[]){ pack_ahead(H, c), kyloop }, 2);
    else if (H->pf_lines > 0)
        kyloop = ir_block(a, (IrStmt *const[]){ next_item_prefetch(H, c), kyloop }, 2);
    IrStmt *pf = prefetch_ahead(H, c, np);
    if (pf)
        kyloop = ir_block(a, (IrStmt *const[]){ pf, kyloop }, 2);
    ptrvec_push(a, &out, ir_for(a, P->var_c, I(L, 0), P->Cg, kyloop, IR_LOOP_KERNEL));

    if (!H->pool && np <= vl) {
        store_rows(H, acc, np, !cv_, &out);
        return lower_block(L, &out);
    }
    /* the stores: lane i of vector cv is channel k0 + cv*VL + i, a plane
     * apart in the NCHW output; with a fused pool, into the ring */
    IrExpr *lanes = ir_bin(a, IR_OP_MUL, ir_iota(a), P->Pout);
    IrExpr *slot = H->pool ? imod(L, loc(P, H->l_oy), I(L, H->ring)) : NULL;
    IrExpr *ox0 = H->widths ? mul(L, loc(P, H->l_xb), I(L, H->np)) : loc(P, H->l_ox0);
    for (int32_t v = 0; v < ncv; v++) {
        IrExpr *mask = channel_lanes(H, v);
        for (int32_t p = 0; p < np; p++) {
            IrExpr *lin = add(L, add(L, loc(P, H->l_ybase), mul(L, I(L, (int64_t)v * vl), P->Pout)),
                              I(L, p));
            IrExpr *val = kl_epilogue_lanes(L, P->n, loc(P, acc[v][p]), lin, lanes, mask);
            if (H->pool) {
                IrExpr *to = add(L, add(L, loc(P, H->l_ring0),
                                        mul(L, add(L, mul(L, slot, P->OW), add(L, ox0, I(L, p))),
                                            I(L, P->nk))), I(L, (int64_t)v * vl));
                IrStmt *st = ir_vstore(a, H->bring, 3, lin_idx(P, 3, to), val, NULL);
                if (!cv_)   /* the general variant: only columns of the row */
                    st = ir_if(a, ir_bin(a, IR_OP_LT, I(L, p), loc(P, H->l_hi)), st, NULL);
                ptrvec_push(a, &out, st);
                continue;
            }
            IrStmt *st = ir_vscatter(a, P->by, P->yrank, lin_idx(P, P->yrank, lin), lanes, val, mask);
            if (!H->widths)
                st = ir_if(a, ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, I(L, p), loc(P, H->l_lo)),
                                     ir_bin(a, IR_OP_LT, I(L, p), loc(P, H->l_hi))), st, NULL);
            ptrvec_push(a, &out, st);
        }
    }
    return lower_block(L, &out);
}

/* The first output column whose last column tap leaves the input on the
 * right (at most OW): floor((IW - 1 + pl - (kw-1)*dx) / sx) + 1. */
static IrExpr *open_right(Chan *H)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    IrExpr *num = add(L, P->IW, I(L, H->pl - 1 - (P->kw - 1) * H->dx));
    IrExpr *r = ir_select(a, ir_bin(a, IR_OP_LT, num, I(L, 0)), I(L, 0),
                          add(L, idiv(L, num, I(L, H->sx)), I(L, 1)));
    return imin(L, r, P->OW);
}

/* Widths known at run time only, at stride 1 with the right padding
 * known (no fused pool): a block that ends at a row's last column has a
 * pattern fixed by the right border alone (at stride 1, OW = IW + pl + pr
 * - (kw-1)*dx). */
static bool ends_known(const Chan *H)
{
    return H->sx == 1 && H->pr_known && !H->pool;
}

/* The pixels of a narrow block (open_variants), or 0: none. */
static int32_t narrow_np(const Chan *H)
{
    return !H->pool && H->np / 2 >= 4 ? H->np / 2 : 0;
}

/* With ends_known, whether a row takes blocks of np/2: a row narrower
 * than np; and a plane taken as one row (open_row) whose last block of
 * np would end at OW moved back over half a block or more of its
 * predecessor's columns (OW % np in [1, np/2]), where blocks of np/2
 * compute no pixel twice.  1x1 2048->512 declared [1, 2048, H, W],
 * interleaved on znver4, one core / two: 7x7 1.052 / 1.036x, 5x9 1.053x,
 * 10x10 1.045 / 1.038x; 1024->256 at 7x7 1.050x; 8x8 and 14x14, which
 * keep blocks of np, 1.00x. */
static IrExpr *open_narrow(Chan *H)
{
    Lower *L = H->c.L;
    Arena *a = L->a;
    IrExpr *OW = H->c.OW, *np = I(L, H->np);
    IrExpr *c = ir_bin(a, IR_OP_LT, OW, np);
    if (H->open_row) {
        IrExpr *rem = imod(L, OW, np);
        c = ir_bin(a, IR_OP_OR, c, ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GT, rem, I(L, 0)),
                                          ir_bin(a, IR_OP_LE, rem, I(L, narrow_np(H)))));
    }
    return c;
}

/* The blocks' width with widths known at run time only: np, or where
 * open_narrow holds, np/2 (open_variants). */
static IrExpr *open_np(Chan *H)
{
    Lower *L = H->c.L;
    if (!ends_known(H) || !narrow_np(H))
        return I(L, H->np);
    return ir_select(L->a, open_narrow(H), I(L, narrow_np(H)), I(L, H->np));
}

/* With ends_known, whether a row's blocks end at its last column, so
 * that the pattern of its last block is fixed by the right border: blocks
 * of np from column 0, the last moved back to end at OW, storing only the
 * columns the block before did not (a row narrower than a block is one
 * block from 0).  Taken at run time where it saves a block, OW % np == 0
 * or OW % np > pr: with a remainder of at most pr columns, which lie past
 * oxr, a block moved back would recompute almost a whole block where the
 * layout of open_columns computes those columns alone (15 columns in
 * blocks of 14: 0.59x).  NULL where it does not apply. */
static IrExpr *end_layout(Chan *H, IrExpr *np)
{
    Lower *L = H->c.L;
    Arena *a = L->a;
    if (!ends_known(H))
        return NULL;
    IrExpr *rem = imod(L, H->c.OW, np);
    return ir_bin(a, IR_OP_OR, ir_bin(a, IR_OP_EQ, rem, I(L, 0)), ir_bin(a, IR_OP_GT, rem, I(L, H->pr)));
}

/* Widths known at run time only.  Output columns [0, oxr) read no column
 * past the input's right end; they are cut into blocks of np from column
 * 0, the last moved back to end at oxr (it stores only the columns the
 * block before did not); columns [oxr, OW) follow in blocks of np -- or,
 * where end_layout holds, the blocks end at OW.  A block wholly inside
 * takes the variant without tests; a block of the first few, whose taps
 * reach into the left padding, its pattern fixed by the left border
 * alone; a block that ends at OW at stride 1, by the right border (and
 * when it is the whole row, by both); any other the general variant.
 * Sets l_oxr, l_ox0, l_lo, l_hi from l_xb. */
static void open_columns(Chan *H, PtrVec *body)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    IrExpr *np = open_np(H), *xb = loc(P, H->l_xb);
    ptrvec_push(a, body, set(P, H->l_oxr, open_right(H)));
    IrExpr *oxr = loc(P, H->l_oxr), *end = end_layout(H, np);
    IrExpr *nin = idiv(L, add(L, oxr, sub(L, np, I(L, 1))), np);
    IrExpr *isin = ir_bin(a, IR_OP_LT, xb, nin);
    IrExpr *moved = imin(L, mul(L, xb, np), imax(L, I(L, 0), sub(L, oxr, np)));
    IrExpr *ox0 = ir_select(a, isin, moved, add(L, oxr, mul(L, sub(L, xb, nin), np)));
    IrExpr *hi_end = ir_select(a, isin, oxr, P->OW);
    if (end) {
        IrExpr *last = ir_bin(a, IR_OP_GE, mul(L, add(L, xb, I(L, 1)), np), P->OW);
        ox0 = ir_select(a, end, ir_select(a, last, imax(L, I(L, 0), sub(L, P->OW, np)), mul(L, xb, np)),
                        ox0);
        isin = ir_bin(a, IR_OP_OR, isin, end);
        hi_end = ir_select(a, end, P->OW, hi_end);
    }
    ptrvec_push(a, body, set(P, H->l_ox0, ox0));
    ox0 = loc(P, H->l_ox0);
    ptrvec_push(a, body, set(P, H->l_lo, ir_select(a, isin, sub(L, mul(L, xb, np), ox0), I(L, 0))));
    ptrvec_push(a, body, set(P, H->l_hi, imin(L, np, sub(L, hi_end, ox0))));
}

/* Blocks a row when the widths are known at run time only. */
static IrExpr *open_blocks(Chan *H)
{
    Lower *L = H->c.L;
    IrExpr *oxr = open_right(H), *np = open_np(H), *end = end_layout(H, np), *np1 = sub(L, np, I(L, 1));
    IrExpr *n = add(L, idiv(L, add(L, oxr, np1), np), idiv(L, add(L, sub(L, H->c.OW, oxr), np1), np));
    if (!end)
        return n;
    return ir_select(L->a, end, imax(L, I(L, 1), idiv(L, add(L, H->c.OW, np1), np)), n);
}

/* A pattern of the open widths' variants: block b < the blocks that reach
 * into the left padding, by the left border alone; b < 0 wholly inside;
 * with `end`, the row's last block at stride 1 by the right border too
 * (pixel p of a block that ends at OW reads column OW - np + p + kx*dx -
 * pl, inside while p + kx*dx <= np - 1 + (kw-1)*dx - pr). */
static ColVariant *open_variant(Chan *H, int64_t b, bool end)
{
    Arena *a = H->c.L->a;
    int64_t kw = H->c.kw;
    ColVariant *v = arena_alloc(a, sizeof *v);
    *v = (ColVariant){ .np = H->np, .valid = arena_array(a, (size_t)(H->np * kw), 1) };
    for (int32_t p = 0; p < H->np; p++)
        for (int64_t kx = 0; kx < kw; kx++)
            v->valid[p * kw + kx] = (b < 0 || (b * H->np + p) * H->sx + kx * H->dx - H->pl >= 0) &&
                                    (!end || p + kx * H->dx <= H->np - 1 + (kw - 1) * H->dx - H->pr);
    return v;
}

static IrStmt *open_chain(Chan *H)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    IrExpr *ox0 = loc(P, H->l_ox0);
    /* all np pixels before oxr: none reads past the right end */
    IrExpr *right_ok = ir_bin(a, IR_OP_LE, add(L, ox0, I(L, H->np)), loc(P, H->l_oxr));
    IrStmt *chain = variant_body(H, NULL);
    if (ends_known(H)) {
        /* a row's last block, clear of the left padding; a row of one block */
        IrExpr *at_end = ir_bin(a, IR_OP_EQ, add(L, ox0, I(L, H->np)), P->OW);
        chain = ir_if(a, ir_bin(a, IR_OP_AND, at_end, ir_bin(a, IR_OP_EQ, ox0, I(L, 0))),
                      variant_body(H, open_variant(H, 0, true)), chain);
        chain = ir_if(a, ir_bin(a, IR_OP_AND, at_end, ir_bin(a, IR_OP_GE, loc(P, H->l_xcol), I(L, 0))),
                      variant_body(H, open_variant(H, -1, true)), chain);
    }
    int64_t nleft = 0;      /* blocks whose first column tap can read the left padding */
    while (nleft * H->np * H->sx < H->pl)
        nleft++;
    for (int64_t b = nleft - 1; b >= 0; b--)
        chain = ir_if(a, ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_EQ, ox0, I(L, b * H->np)), right_ok),
                      variant_body(H, open_variant(H, b, false)), chain);
    /* the blocks past oxr, clear of the left padding: at most
     * ceil(pr/sx) columns (OW - oxr = floor((A + pr)/sx) - floor(A/sx)),
     * so the general variant over that many pixels, not np */
    int64_t nr = H->pr > 0 ? (H->pr + H->sx - 1) / H->sx : 0;
    if (nr > 0 && nr < H->np) {
        IrExpr *past = ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, ox0, loc(P, H->l_oxr)),
                              ir_bin(a, IR_OP_GE, loc(P, H->l_xcol), I(L, 0)));
        past = ir_bin(a, IR_OP_AND, past, ir_bin(a, IR_OP_LE, sub(L, P->OW, ox0), I(L, nr)));
        H->np_general = (int32_t)nr;
        IrStmt *right = variant_body(H, NULL);
        H->np_general = H->np;
        chain = ir_if(a, past, right, chain);
    }
    IrExpr *inside = ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, loc(P, H->l_xcol), I(L, 0)), right_ok);
    return ir_if(a, inside, variant_body(H, open_variant(H, -1, false)), chain);
}

/* The variants of a block when the widths are known at run time only.
 * A row of at most np/2 columns (a 7x7 map under blocks of 14) has one
 * block before oxr and at most one past it, as with blocks of np/2, and
 * the same l_ox0, l_lo, l_hi: it takes the chain built for blocks of
 * np/2, whose variants without tests fit it, where blocks of np leave
 * it the general variant and its test at every pixel and column tap
 * (znver4, one core: 3x3/2 256->512 from 14x14 2.5x, 1x1 2048->512 on
 * 7x7 1.18x).  With ends_known so does every row narrower than np,
 * its blocks of np/2 then (open_np): two, the second ending at OW; and a
 * plane as one row whose blocks of np would end in a block moved back
 * by half a block or more (open_narrow).  Not for a fused pool, whose
 * blocks are narrow already. */
static IrStmt *open_variants(Chan *H)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    IrStmt *chain = open_chain(H);
    int32_t np = H->np, half = narrow_np(H);
    if (!half)
        return chain;
    H->np = H->np_general = half;
    IrStmt *narrow = open_chain(H);
    H->np = H->np_general = np;
    IrExpr *narrower = ends_known(H) ? open_narrow(H) : ir_bin(L->a, IR_OP_LE, P->OW, I(L, half));
    return ir_if(L->a, narrower, narrow, chain);
}

/* The kernel rows whose input row oy*sy - pt + ky*dy is inside:
 * ky in [ceil((pt - oy*sy)/dy), floor((IH-1 + pt - oy*sy)/dy)], the first
 * and one past the last. */
static IrExpr *ky_first(Chan *H, IrExpr *oy)
{
    Lower *L = H->c.L;
    IrExpr *top = sub(L, I(L, H->pt), mul(L, oy, I(L, H->c.sy)));
    return imax(L, I(L, 0), idiv(L, add(L, top, I(L, H->dy - 1)), I(L, H->dy)));
}

static IrExpr *ky_end(Chan *H, IrExpr *oy)
{
    Lower *L = H->c.L;
    IrExpr *top = sub(L, I(L, H->pt), mul(L, oy, I(L, H->c.sy)));
    return imin(L, I(L, H->c.kh), add(L, idiv(L, add(L, top, sub(L, H->c.IH, I(L, 1))), I(L, H->dy)),
                                      I(L, 1)));
}

/* With rows a block: the variant of a block of n rows, pixel p in column
 * p % OW (the widths known). */
static ColVariant *rows_variant(Chan *H, int64_t n)
{
    Arena *a = H->c.L->a;
    int64_t kw = H->c.kw;
    ColVariant *v = arena_alloc(a, sizeof *v);
    *v = (ColVariant){ .np = (int32_t)(n * H->ow), .valid = arena_array(a, (size_t)(n * H->ow * kw), 1) };
    for (int32_t p = 0; p < v->np; p++)
        for (int64_t kx = 0; kx < kw; kx++) {
            int64_t ix = (p % H->ow) * H->sx + kx * H->dx - H->pl;
            v->valid[p * kw + kx] = ix >= 0 && ix < H->iw;
        }
    return v;
}

/* With rows a block: the block at l_oy -- of the plane's last rows, or
 * of rows whose kernel rows differ (top and bottom borders), each row's
 * FMAs tested against its own; else without a test.  The block that
 * packs the weights is the first. */
static IrStmt *rows_block(Chan *H)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    int64_t R = H->rows, last = H->oh % R;
    ColVariant *full = rows_variant(H, R);
    H->row_tests = true;
    IrStmt *tested = variant_body(H, full);
    H->row_tests = false;
    IrStmt *plain = variant_body(H, full);
    IrExpr *same = ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_EQ, loc(P, H->l_rlo[0]), loc(P, H->l_rlo[R - 1])),
                          ir_bin(a, IR_OP_EQ, loc(P, H->l_rhi[0]), loc(P, H->l_rhi[R - 1])));
    IrStmt *chain = ir_if(a, same, plain, tested);
    if (last) {
        H->row_tests = last > 1;
        IrStmt *part = variant_body(H, rows_variant(H, last));
        H->row_tests = false;
        chain = ir_if(a, ir_bin(a, IR_OP_GT, add(L, loc(P, H->l_oy), I(L, R)), P->OH), part, chain);
    }
    return chain;
}

/* One block of the row l_oy, columns from l_xb*np: its kernel rows, its
 * linear positions, then the variant of its column block. */
static IrStmt *block_stmts(Chan *H)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t xr = P->x->shape.rank;
    PtrVec body = { 0 };
    IrExpr *top = sub(L, I(L, H->pt), mul(L, loc(P, H->l_oy), I(L, P->sy)));
    if (H->rows > 1) {
        /* each row's kernel rows; the block's, their union: from the
         * last row's first (the last row of the plane at most) to the
         * first row's end */
        for (int32_t r = 0; r < H->rows; r++) {
            IrExpr *oy = imin(L, add(L, loc(P, H->l_oy), I(L, r)), sub(L, P->OH, I(L, 1)));
            ptrvec_push(a, &body, set(P, H->l_rlo[r], ky_first(H, oy)));
            ptrvec_push(a, &body, set(P, H->l_rhi[r], ky_end(H, oy)));
        }
        ptrvec_push(a, &body, set(P, H->l_kylo, loc(P, H->l_rlo[H->rows - 1])));
        ptrvec_push(a, &body, set(P, H->l_kyhi, loc(P, H->l_rhi[0])));
    } else {
        ptrvec_push(a, &body, set(P, H->l_kylo, ky_first(H, loc(P, H->l_oy))));
        ptrvec_push(a, &body, set(P, H->l_kyhi, ky_end(H, loc(P, H->l_oy))));
    }
    /* linear positions: input (c = 0, ky = 0, p = 0, kx = 0), output block,
     * packed weights */
    IrExpr *C = lower_dim(L, P->x->shape.dims[xr - 3]);
    IrExpr *plane0 = H->dw ? I(L, 0)      /* the transposed planes: pixels */
                           : add(L, mul(L, loc(P, P->l_n), C), mul(L, loc(P, P->l_g), P->Cg));
    IrExpr *ox0 = mul(L, loc(P, H->l_xb), I(L, H->np));
    if (!H->widths) {
        open_columns(H, &body);
        ox0 = loc(P, H->l_ox0);
    }
    ptrvec_push(a, &body, set(P, H->l_xcol, sub(L, mul(L, ox0, I(L, H->sx)), I(L, H->pl))));
    ptrvec_push(a, &body, set(P, H->l_xrow,
        add(L, add(L, mul(L, plane0, P->cstride), mul(L, sub(L, I(L, 0), top), P->IW)),
            loc(P, H->l_xcol))));
    IrExpr *k0 = add(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)), mul(L, loc(P, P->l_g), I(L, P->Kg))),
                     mul(L, loc(P, P->l_kb), I(L, P->nk)));
    ptrvec_push(a, &body, set(P, H->l_ybase, add(L, mul(L, add(L, mul(L, k0, P->OH), loc(P, H->l_oy)),
                                                         P->OW), ox0)));
    if (!H->widths) {
        ptrvec_push(a, &body, open_variants(H));
        return lower_block(L, &body);
    }

    if (H->rows > 1) {
        ptrvec_push(a, &body, rows_block(H));
        return lower_block(L, &body);
    }
    /* the column variants: the commonest last, without a test (the
     * blocks that pack the weights are each row's first: its variant) */
    int32_t nvar;
    ColVariant *vs = column_variants(H, &nvar);
    if (H->packing) {
        ptrvec_push(a, &body, variant_body(H, &vs[0]));
        return lower_block(L, &body);
    }
    int32_t common = 0;
    for (int32_t i = 1; i < nvar; i++)
        if (vs[i].nblocks > vs[common].nblocks)
            common = i;
    IrStmt *chain = variant_body(H, &vs[common]);
    for (int32_t i = nvar - 1; i >= 0; i--) {
        if (i == common)
            continue;
        IrExpr *cond = NULL;
        for (int32_t b = 0; b < vs[i].nblocks; b++) {
            IrExpr *is = ir_bin(a, IR_OP_EQ, loc(P, H->l_xb), I(L, vs[i].blocks[b]));
            cond = cond ? ir_bin(a, IR_OP_OR, cond, is) : is;
        }
        chain = ir_if(a, cond, variant_body(H, &vs[i]), chain);
    }
    ptrvec_push(a, &body, chain);

    return lower_block(L, &body);
}

/* Pooled row pr (l_pr) from the ring, VL pooled columns at a time: for
 * each pooled column and channel vector the maximum over the window's
 * rows inside the convolution's output (a tree over each row's columns
 * inside it); the VL columns' vectors transposed in registers into one
 * row of VL columns per channel (as store_rows does for the convolution),
 * each with the pool's epilogue and one store, masked past the row's end
 * (where a scatter a pooled column took 2.5-5% of the W7 stem on znver4). */
static IrStmt *pool_row(Chan *H, int32_t l_pr)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t vl = P->vl;
    PtrVec out = { 0 };
    int32_t l_r0 = lower_local(L, IR_TYPE_I64), l_lo = lower_local(L, IR_TYPE_I64),
            l_hi = lower_local(L, IR_TYPE_I64);
    IrExpr *r0 = loc(P, l_r0);
    ptrvec_push(a, &out, set(P, l_r0, sub(L, mul(L, loc(P, l_pr), I(L, H->ps)), I(L, H->pp))));
    /* window rows r0 + ky*d inside [0, OH) */
    ptrvec_push(a, &out, set(P, l_lo, imax(L, I(L, 0), idiv(L, add(L, sub(L, I(L, 0), r0), I(L, H->pd - 1)),
                                                            I(L, H->pd)))));
    ptrvec_push(a, &out, set(P, l_hi, imin(L, I(L, H->pk), add(L, idiv(L, sub(L, sub(L, P->OH, I(L, 1)), r0),
                                                                       I(L, H->pd)), I(L, 1)))));
    int32_t vxb = lower_var(L, "pxb"), vky = lower_var(L, "pky");
    IrExpr *px0 = mul(L, V(L, vxb), I(L, vl)), *ky = V(L, vky);
    IrExpr *slot = imod(L, add(L, r0, mul(L, ky, I(L, H->pd))), I(L, H->ring));
    IrExpr *neg_inf = ir_broadcast(a, ir_float(a, -INFINITY));
    IrExpr *k0 = add(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)), mul(L, loc(P, P->l_g), I(L, P->Kg))),
                     mul(L, loc(P, P->l_kb), I(L, P->nk)));
    /* the block's pooled columns before the row's end */
    IrExpr *cols = ir_bin(a, IR_OP_LT, ir_bin(a, IR_OP_ADD, ir_broadcast(a, px0), ir_iota(a)), H->PW);
    /* every window column of the block's pooled columns inside the
     * convolution's row: no tests (W7: the two middle blocks of four) */
    IrExpr *inside = kl_and(L, ir_bin(a, IR_OP_GE, sub(L, mul(L, px0, I(L, H->psx)), I(L, H->ppx)), I(L, 0)),
        ir_bin(a, IR_OP_LT, add(L, sub(L, mul(L, add(L, px0, I(L, vl - 1)), I(L, H->psx)), I(L, H->ppx)),
                               I(L, (H->pkw - 1) * H->pdx)), P->OW));
    PtrVec blocks = { 0 };
    for (int32_t v = 0; v < H->ncv; v++) {
        PtrVec blk = { 0 }, rows[2] = { { 0 }, { 0 } };
        int32_t acc[64];
        for (int32_t p = 0; p < vl; p++) {
            acc[p] = lower_local(L, IR_TYPE_VF32);
            ptrvec_push(a, &blk, set(P, acc[p], neg_inf));
        }
        for (int32_t checked = 0; checked < 2; checked++)
            for (int32_t p = 0; p < vl; p++) {
                IrExpr *px = add(L, px0, I(L, p));
                IrExpr *vals[KERNEL_MAX_TAPS];
                for (int64_t kx = 0; kx < H->pkw; kx++) {
                    /* a column outside the convolution's row is -inf, which
                     * leaves any maximum as it is; its place in the ring is
                     * clamped, so that it reads a valid one (also for the
                     * columns past the pooled row's end, which are not
                     * stored) */
                    IrExpr *ix = add(L, sub(L, mul(L, px, I(L, H->psx)), I(L, H->ppx)), I(L, kx * H->pdx));
                    IrExpr *col = checked ? imax(L, I(L, 0), imin(L, ix, sub(L, P->OW, I(L, 1)))) : ix;
                    IrExpr *at = add(L, loc(P, H->l_ring0),
                                     add(L, mul(L, add(L, mul(L, slot, P->OW), col), I(L, P->nk)),
                                         I(L, (int64_t)v * vl)));
                    IrExpr *ld = ir_vload(a, H->bring, 3, lin_idx(P, 3, at), NULL);
                    vals[kx] = checked ? ir_select(a, ir_broadcast(a, kl_in_range(L, ix, P->OW)), ld, neg_inf)
                                       : ld;
                }
                ptrvec_push(a, &rows[checked], set(P, acc[p], ir_bin(a, IR_OP_MAX, loc(P, acc[p]),
                                                                     kl_max_tree(L, vals, H->pkw))));
            }
        ptrvec_push(a, &blk, ir_if(a, inside,
            ir_for(a, vky, loc(P, l_lo), loc(P, l_hi), lower_block(L, &rows[0]), IR_LOOP_KERNEL),
            ir_for(a, vky, loc(P, l_lo), loc(P, l_hi), lower_block(L, &rows[1]), IR_LOOP_KERNEL)));
        /* row i: channel k0 + v*VL + i's pooled columns px0 .. px0 + VL - 1,
         * stores masked only in the row's last block (a masked store
         * costs more than a plain one without mask registers) */
        kl_transpose(L, &blk, acc, vl);
        PtrVec whole = { 0 }, part = { 0 };
        for (int32_t i = 0; i < vl; i++) {
            IrExpr *lin = add(L, mul(L, add(L, mul(L, add(L, k0, I(L, (int64_t)v * vl + i)), H->PH),
                                            loc(P, l_pr)), H->PW), px0);
            for (int32_t cut = 0; cut < 2; cut++) {
                IrExpr *m = cut ? cols : NULL;
                IrExpr *val = kl_epilogue(L, H->pool, loc(P, acc[i]), lin, m);
                IrStmt *st = ir_vstore(a, P->by, P->yrank, lin_idx(P, P->yrank, lin), val, m);
                ptrvec_push(a, cut ? &part : &whole, in_group(H, v * vl + i, st));
            }
        }
        ptrvec_push(a, &blk, ir_if(a, ir_bin(a, IR_OP_LE, add(L, px0, I(L, vl)), H->PW),
                                   lower_block(L, &whole), lower_block(L, &part)));
        ptrvec_push(a, &blocks, lower_block(L, &blk));
    }
    ptrvec_push(a, &out, ir_for(a, vxb, I(L, 0), idiv(L, add(L, H->PW, I(L, vl - 1)), I(L, vl)),
                                lower_block(L, &blocks), IR_LOOP_KERNEL));
    return lower_block(L, &out);
}

/* With a fused pool, one work item: pooled rows [pr0, pr1) of a channel
 * block.  The convolution rows they need are computed in order into the
 * ring; after each, the pooled rows whose window ends there are pooled. */
static IrStmt *pooled_item(Chan *H, IrExpr *chunk)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    PtrVec body = { 0 };
    int32_t l_pr0 = lower_local(L, IR_TYPE_I64), l_pr1 = lower_local(L, IR_TYPE_I64),
            l_t = lower_local(L, IR_TYPE_I64), l_pr = lower_local(L, IR_TYPE_I64);
    int64_t rows = schedule_plan(L->sched, P->n)->pool_rows, reach = (H->pk - 1) * H->pd;
    ptrvec_push(a, &body, set(P, l_pr0, mul(L, chunk, I(L, rows))));
    ptrvec_push(a, &body, set(P, l_pr1, imin(L, add(L, loc(P, l_pr0), I(L, rows)), H->PH)));
    IrExpr *c0 = imax(L, I(L, 0), sub(L, mul(L, loc(P, l_pr0), I(L, H->ps)), I(L, H->pp)));
    IrExpr *c1 = imin(L, P->OH, add(L, sub(L, mul(L, sub(L, loc(P, l_pr1), I(L, 1)), I(L, H->ps)),
                                                 I(L, H->pp)), I(L, reach + 1)));
    int32_t voy = lower_var(L, "oy"), vxb = lower_var(L, "xb"), vpr = lower_var(L, "pr");
    PtrVec row = { 0 };
    ptrvec_push(a, &row, set(P, H->l_oy, V(L, voy)));
    IrStmt *blk = ir_block(a, (IrStmt *const[]){ set(P, H->l_xb, V(L, vxb)), block_stmts(H) }, 2);
    ptrvec_push(a, &row, ir_for(a, vxb, I(L, 0), H->nxb, blk, IR_LOOP_KERNEL));
    /* pooled rows whose window's last row inside is oy: pr*ps - pp + reach
     * = oy (t = oy + pp - reach, a multiple of ps), or, at the last row,
     * every later one */
    ptrvec_push(a, &row, set(P, l_t, add(L, V(L, voy), I(L, H->pp - reach))));
    IrExpr *first = imax(L, loc(P, l_pr0), idiv(L, add(L, loc(P, l_t), I(L, H->ps - 1)), I(L, H->ps)));
    IrExpr *end = ir_select(a, ir_bin(a, IR_OP_EQ, V(L, voy), sub(L, P->OH, I(L, 1))), loc(P, l_pr1),
                            imin(L, loc(P, l_pr1), add(L, idiv(L, loc(P, l_t), I(L, H->ps)), I(L, 1))));
    IrStmt *pool = ir_block(a, (IrStmt *const[]){ set(P, l_pr, V(L, vpr)), pool_row(H, l_pr) }, 2);
    ptrvec_push(a, &row, ir_for(a, vpr, first, end, pool, IR_LOOP_KERNEL));
    ptrvec_push(a, &body, ir_for(a, voy, c0, c1, lower_block(L, &row), IR_LOOP_KERNEL));
    return lower_block(L, &body);
}

/* A depthwise item's input planes, channels k0 .. k0 + VL - 1 of batch
 * index n, transposed into bt[pixel][VL]: VL pixels of VL planes at a
 * time, VL masked loads (past the plane's end and the last channel: 0,
 * never read as a tap or stored), kl_transpose, VL stores. */
static IrStmt *transpose_planes(Chan *H)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t vl = P->vl, vq = lower_var(L, "q");
    IrExpr *px = mul(L, P->IH, P->IW), *q0 = mul(L, V(L, vq), I(L, vl));
    IrExpr *k0 = mul(L, loc(P, P->l_kb), I(L, P->nk));
    IrExpr *pix = kl_in_range(L, ir_bin(a, IR_OP_ADD, ir_broadcast(a, q0), ir_iota(a)), px);
    PtrVec body = { 0 };
    int32_t rows[64];
    for (int32_t j = 0; j < vl; j++) {
        rows[j] = lower_local(L, IR_TYPE_VF32);
        IrExpr *ch = add(L, k0, I(L, j));
        IrExpr *m = P->rem ? kl_and(L, pix, ir_broadcast(a, ir_bin(a, IR_OP_LT, ch, I(L, P->K))))
                           : pix;
        IrExpr *src = add(L, mul(L, add(L, mul(L, loc(P, P->l_n), I(L, P->K)), ch), px), q0);
        ptrvec_push(a, &body, set(P, rows[j], ir_vload(a, P->bx, P->xrank, lin_idx(P, P->xrank, src), m)));
    }
    kl_transpose(L, &body, rows, vl);
    for (int32_t i = 0; i < vl; i++) {
        IrExpr *dst = mul(L, add(L, q0, I(L, i)), I(L, vl));
        ptrvec_push(a, &body, ir_vstore(a, H->bt, 2, lin_idx(P, 2, dst), loc(P, rows[i]), NULL));
    }
    return ir_for(a, vq, I(L, 0), idiv(L, add(L, px, I(L, vl - 1)), I(L, vl)), lower_block(L, &body),
                  IR_LOOP_KERNEL);
}

/* The first output row of spatial part `part` (an output row and a block
 * of its columns, or with rows a block, that many rows). */
static IrExpr *first_row(Chan *H, IrExpr *part)
{
    Lower *L = H->c.L;
    IrExpr *b = idiv(L, part, H->nxb);
    return H->rows > 1 ? mul(L, b, I(L, H->rows)) : b;
}

/* A work item's batch index n, its group and channel block from gk (the
 * group outer), and its first weight. */
static void channel_block(Chan *H, IrExpr *gk, IrExpr *n, PtrVec *body)
{
    Conv *P = &H->c;
    Lower *L = P->L;
    Arena *a = L->a;
    ptrvec_push(a, body, set(P, P->l_n, n));
    ptrvec_push(a, body, set(P, P->l_kb, imod(L, gk, I(L, P->nkbg))));
    ptrvec_push(a, body, set(P, P->l_g, idiv(L, gk, I(L, P->nkbg))));
    ptrvec_push(a, body, set(P, P->l_wbase, conv_wbase(P)));
}

IrStmt *kernel_conv_chan(Lower *L, const Node *n)
{
    Arena *a = L->a;
    Chan H_ = { .c = { .L = L, .n = n } };
    Chan *H = &H_;
    Conv *P = &H->c;
    const StagePlan *plan = schedule_plan(L->sched, n);
    conv_setup(P);              /* nk = ncv*VL channels a block, nv = np pixels */
    H->ncv = P->nk / P->vl;
    H->np = P->nv;
    H->np_general = H->np;
    H->kx_loop = plan->tap_loop;
    const WindowParams *win = &n->conv.win;
    int32_t xr = P->x->shape.rank, orank = n->shape.rank;
    H->dw = plan->dw_chan;
    H->widths = sym_is_const(P->x->shape.dims[xr - 1], &H->iw) &&
                sym_is_const(n->shape.dims[orank - 1], &H->ow);
    if (plan->plane_row && H->widths) {      /* a 1x1 layer's plane as one row */
        int64_t oh;
        sym_is_const(n->shape.dims[orank - 2], &oh);
        H->iw = H->ow = H->ow * oh;
        P->IW = P->OW = I(L, H->ow);
        P->IH = P->OH = I(L, 1);
    } else if (plan->plane_row) {   /* ... of a length known at run time */
        P->IW = P->OW = mul(L, P->OH, P->OW);
        P->IH = P->OH = I(L, 1);
        H->open_row = true;
    }
    sym_is_const(win->pad0[1], &H->pl);
    H->pr_known = sym_is_const(win->pad1[1], &H->pr);
    if (!H->pr_known)
        H->pr = 0;
    sym_is_const(win->pad0[0], &H->pt);
    H->sx = win->stride[1];
    H->dx = win->dilation[1];
    H->dy = win->dilation[0];
    H->pool = plan->pool;
    /* rows a block (passes/kernels.c, which sets them only with the sizes
     * known, one vector a block and no pool): whole rows of known width,
     * the column taps in a loop (variant_body's row tests) */
    H->rows = 1;
    if (plan->chan_rows > 1 && H->widths && H->kx_loop && sym_is_const(n->shape.dims[orank - 2], &H->oh))
        H->rows = plan->chan_rows;
    H->nxb = H->widths ? I(L, H->rows > 1 ? 1 : (H->ow + H->np - 1) / H->np) : open_blocks(H);
    const SymExpr *chunks = NULL;   /* work items of a channel block and batch index */
    if (H->pool) {
        const WindowParams *pw = &H->pool->pool.win;
        int32_t pr = H->pool->shape.rank;
        sym_is_const(pw->k[0], &H->pk);
        sym_is_const(pw->k[1], &H->pkw);
        sym_is_const(pw->pad0[0], &H->pp);
        sym_is_const(pw->pad0[1], &H->ppx);
        H->PH = lower_dim(L, H->pool->shape.dims[pr - 2]);
        H->PW = lower_dim(L, H->pool->shape.dims[pr - 1]);
        H->ps = pw->stride[0];
        H->psx = pw->stride[1];
        H->pd = pw->dilation[0];
        H->pdx = pw->dilation[1];
        H->ring = (H->pk - 1) * H->pd + 1;
        chunks = sym_ceildiv(&L->sc, H->pool->shape.dims[pr - 2], sym_const(&L->sc, plan->pool_rows));
        /* the ring: on the item's stack when the widths are known and it
         * is at most KL_STACK_MAX_BYTES, else one scratch buffer with a
         * ring for every work item */
        Shape rs = shape_make(a, 3);
        rs.dims[0] = sym_const(&L->sc, H->ring);
        rs.dims[1] = n->shape.dims[orank - 1];
        rs.dims[2] = sym_const(&L->sc, P->nk);
        const char *name = arena_printf(a, "%s_ring", n->name ? n->name : "conv");
        H->ring_local = H->widths && H->ring * H->ow * P->nk * 4 <= KL_STACK_MAX_BYTES;
        if (H->ring_local) {
            H->bring = lower_local_buffer(L, name, rs);
        } else {
            const SymExpr *items = sym_mul(&L->sc, chunks, sym_const(&L->sc, P->nkbg * P->G));
            for (int32_t i = 0; i < orank - 3; i++)
                items = sym_mul(&L->sc, items, n->shape.dims[i]);
            rs.dims[0] = sym_mul(&L->sc, items, rs.dims[0]);
            H->bring = lower_scratch(L, name, rs);
        }
    }

    int32_t vit = lower_var(L, "item");
    P->var_c = lower_var(L, "c");
    H->var_ky = lower_var(L, "ky");
    IrExpr *it = V(L, vit);
#define NEW_I64(field) (field = lower_local(L, IR_TYPE_I64))
    NEW_I64(P->l_kb); NEW_I64(P->l_g); NEW_I64(P->l_n); NEW_I64(P->l_wbase);
    NEW_I64(H->l_oy); NEW_I64(H->l_xb); NEW_I64(H->l_kylo); NEW_I64(H->l_kyhi);
    NEW_I64(H->l_xrow); NEW_I64(H->l_ybase); NEW_I64(H->l_xcol);
    NEW_I64(H->l_oxr); NEW_I64(H->l_ox0); NEW_I64(H->l_lo); NEW_I64(H->l_hi); NEW_I64(H->l_ring0);
    for (int32_t r = 0; r < H->rows && H->rows > 1; r++) {
        NEW_I64(H->l_rlo[r]);
        NEW_I64(H->l_rhi[r]);
    }
#undef NEW_I64

    /* work items: group x channel block x batch x spatial part, the
     * channel block outer: a thread's share of the items (its range in
     * the thread pool) is then a share of the channel blocks, the same
     * share of the weights that it packed in the packing nest for runtime
     * weights, still in its own cache (the other share is another core's:
     * W3 on two threads 1.09x with the pool's ranges, 1.03x without, one
     * thread alike); the spatial part is an output row and a block of its
     * columns, or with a fused pool a chunk of pooled rows */
    IrExpr *spatial = H->pool ? lower_dim(L, chunks)
                    : H->rows > 1 ? I(L, (H->oh + H->rows - 1) / H->rows) : mul(L, P->OH, H->nxb);
    int32_t l_part = lower_local(L, IR_TYPE_I64);
    uint32_t flags = IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0);
    IrExpr *gks = I(L, P->nkbg * P->G);
    PtrVec body = { 0 };
    if (H->dw) {
        /* a depthwise item: a block of channels at one batch index, its
         * input planes transposed once, then every row and column block */
        int64_t ih, iw, npx;
        sym_is_const(P->x->shape.dims[xr - 2], &ih);
        sym_is_const(P->x->shape.dims[xr - 1], &iw);
        npx = (ih * iw + P->vl - 1) / P->vl * P->vl;
        Shape ts = shape_make(a, 2);
        ts.dims[0] = sym_const(&L->sc, npx);
        ts.dims[1] = sym_const(&L->sc, P->vl);
        H->bt = lower_local_buffer(L, arena_printf(a, "%s_planes", n->name ? n->name : "conv"), ts);
        channel_block(H, idiv(L, it, P->N), imod(L, it, P->N), &body);
        ptrvec_push(a, &body, transpose_planes(H));
        int32_t vs = lower_var(L, "s");
        IrExpr *sv = V(L, vs);
        IrStmt *part[] = {
            set(P, H->l_xb, imod(L, sv, H->nxb)),
            set(P, H->l_oy, idiv(L, sv, H->nxb)),
            block_stmts(H),
        };
        ptrvec_push(a, &body, ir_for(a, vs, I(L, 0), spatial, ir_block(a, part, 3), IR_LOOP_KERNEL));
        return ir_for(a, vit, I(L, 0), mul(L, gks, P->N), lower_block(L, &body), flags);
    }
    if (P->pack_items) {
        /* the runtime weights packed by the work items, an item a channel
         * block, each into a block buffer of its own: the item packs the
         * first pieces, computes batch index 0's first block of columns at
         * the first output row while it packs the others as the reduction
         * reaches them (pack_ahead), then its other spatial parts and
         * batch indices (s = n x spatial + part, from 1) from that buffer */
        int32_t vqb = lower_var(L, "qb"), vs = lower_var(L, "s");
        channel_block(H, it, I(L, 0), &body);
        IrExpr *npc = imin(L, idiv(L, I(L, P->ntaps + P->vl - 1), I(L, P->vl)), conv_pack_pieces(P));
        ptrvec_push(a, &body, ir_for(a, vqb, I(L, 0), npc, conv_pack_piece(P, it, V(L, vqb)),
                                     IR_LOOP_KERNEL));
        ptrvec_push(a, &body, set(P, H->l_xb, I(L, 0)));
        ptrvec_push(a, &body, set(P, H->l_oy, I(L, 0)));
        H->packing = true;
        ptrvec_push(a, &body, block_stmts(H));
        H->packing = false;
        IrExpr *parts = mul(L, P->N, spatial);
        if (!(parts->kind == IR_EXPR_INT && parts->ival == 1)) {
            IrExpr *sv = V(L, vs);
            int64_t cg;
            if (parts->kind == IR_EXPR_INT && sym_is_const(P->w->shape.dims[1], &cg) &&
                (int64_t)H->ncv * H->np * P->ntaps >= 2 * NEXT_PREFETCH_MIN_CYCLES) {
                int64_t lines = P->nk * cg * P->ntaps / 16, slots = cg * (parts->ival - 1);
                H->pf_lines = (lines + slots - 1) / slots;
                H->pf_item = it;
                H->pf_part = sv;
            }
            IrStmt *rest[] = {
                set(P, P->l_n, idiv(L, sv, spatial)),
                set(P, l_part, imod(L, sv, spatial)),
                set(P, H->l_xb, imod(L, loc(P, l_part), H->nxb)),
                set(P, H->l_oy, first_row(H, loc(P, l_part))),
                block_stmts(H),
            };
            ptrvec_push(a, &body, ir_for(a, vs, I(L, 1), parts, ir_block(a, rest, 5), IR_LOOP_KERNEL));
            H->pf_lines = 0;
        }
        return ir_for(a, vit, I(L, 0), gks, lower_block(L, &body), flags);
    }
    IrExpr *rest = idiv(L, it, spatial);
    ptrvec_push(a, &body, set(P, l_part, imod(L, it, spatial)));
    channel_block(H, idiv(L, rest, P->N), imod(L, rest, P->N), &body);
    spatial = mul(L, P->N, spatial);
    if (H->pool) {
        ptrvec_push(a, &body, set(P, H->l_ring0, H->ring_local ? I(L, 0)
                                  : mul(L, mul(L, it, I(L, H->ring * P->nk)), P->OW)));
        ptrvec_push(a, &body, pooled_item(H, loc(P, l_part)));
    } else {
        ptrvec_push(a, &body, set(P, H->l_xb, imod(L, loc(P, l_part), H->nxb)));
        ptrvec_push(a, &body, set(P, H->l_oy, first_row(H, loc(P, l_part))));
        ptrvec_push(a, &body, block_stmts(H));
    }
    return ir_for(a, vit, I(L, 0), mul(L, gks, spatial), lower_block(L, &body), flags);
}
