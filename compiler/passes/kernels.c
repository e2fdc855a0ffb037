/* passes/kernels.c - choose a micro-kernel and register block per stage.
 *
 * Needs: a checked graph and the target (vector width, registers, masks).
 * Establishes: for every stage a vector kernel can compute exactly as the
 * scalar nest does (same operations on every output element, in the same
 * order), plan.kernel and its register block (nk output channels x nv
 * pixel vectors); the operands that kernel reads directly from memory are
 * marked to be materialised; for a plane kernel whose row widths are size
 * symbols, conv-chan's plan beside it for rows it fits (plan.alt,
 * chan_alternative).  Every other stage keeps KERNEL_SCALAR.
 *
 * The convolution kernel (kernels/conv_plane.c) covers the flattened
 * output plane with vectors of consecutive pixels, so each tap is one
 * constant offset from the output position (strides through a copy of the
 * input into phase planes).  Padding must be zeros: taps outside the input
 * are skipped by lane masks; the other modes remap indices, which the
 * scalar nest does.  A strided convolution with a long reduction takes the
 * channel-vector kernel instead (kernels/conv_chan.c): vectors of output
 * channels of one pixel, the input read as it is; with one FMA a cycle, so
 * does one at stride 1 whose column taps leave the rows (see
 * chan_kernel_applies). */
#include "passes.h"

#include "factor.h"

/* Kernels unroll their taps: beyond KERNEL_MAX_TAPS (schedule.h) the code
 * grows past what is worth compiling, and the scalar nest takes the stage. */

static bool dim_const(const SymExpr *e, int64_t *v) { return e && sym_is_const(e, v); }

/* The channel-vector kernel: its widest pixel block (within its MAX_NV),
 * and the shortest reduction (input channels x taps) it takes on its own.
 * Its one scatter per accumulator costs about as much as 16-32 FMAs;
 * below 256 multiply-adds per output (a 7x7 stem over 3 channels: 147)
 * the plane kernel was faster (W7: 2.10 ms against 2.32 ms on one core)
 * -- unless a max pool follows: fused into the kernel (passes/pool.c) it
 * reads the channel vectors from a ring of rows and stores only the
 * pooled outputs (transposed into rows of 16 pooled columns). */
/* CHAN_OPEN_WIDTHS: conv-chan's output widths 14, 28, ... when the widths
 * are known at run time only (the model's choice for those widths, summed:
 * a 7x7 stem takes 2 x 7 blocks, a 3x3 2 x 14, as for a 224 image; with a
 * cost per pixel instead, the stem took 2 x 12, 1.3x slower than 2 x 8). */
enum { MAX_CHAN_PIXELS = 14, CHAN_MIN_REDUCTION = 256, CHAN_OPEN_WIDTHS = 5, CHAN_SPARE_LANES = 4,
       DW_CHAN_MAX_PIXELS = 1024, DW_CHAN_MAX_BYTES = 256 << 10 };
/* conv-chan for stride-1 layers on small planes at two FMAs a cycle
 * (plane_wasteful): output planes of at most CHAN_SMALL_PLANE pixels
 * where the plane kernel would spend more than 1 in CHAN_WASTE_SHARE of
 * its FMA lanes on nothing (1 in CHAN_WASTE_SHARE_1X1 for a layer
 * without column taps) */
enum { CHAN_SMALL_PLANE = 1024, CHAN_WASTE_SHARE = 50, CHAN_WASTE_SHARE_1X1 = 10 };
/* conv-rows' depthwise sliding rows (dw_rows_applies): rows of at most
 * MAX_DW_ROW_VECTORS vectors (kernels/conv_dw_rows.c keeps a row's
 * vectors in a table of MAX_NV, 16), strides up to DW_ROWS_MAX_STRIDE */
enum { MAX_DW_ROW_VECTORS = 16, DW_ROWS_MAX_STRIDE = 2 };
/* strided 1x1 layers on the plane kernel (strided_plane) */
enum { STRIDED_PLANE_CHANNELS = 256 };

/* Whether some column tap of convolution n can leave an input row (a
 * kernel wider than one column, or left padding). */
static bool column_taps(const Node *n)
{
    const WindowParams *w = &n->conv.win;
    int64_t kw = 1, pl = 0;
    dim_const(w->k[w->nsp - 1], &kw);
    dim_const(w->pad0[w->nsp - 1], &pl);
    return kw > 1 || pl != 0;
}

/* No padding above or below the rows (nor, with column_taps false,
 * beside them). */
static bool no_row_padding(const Node *n)
{
    const WindowParams *w = &n->conv.win;
    int64_t a = 0, b = 0;
    return dim_const(w->pad0[0], &a) && dim_const(w->pad1[0], &b) && a == 0 && b == 0;
}

/* The rows kernel for a row width that is a symbol (kernels/conv_rows.c,
 * row_body_open): stride 1, and output rows no longer than the input's
 * (the input read in place).  On x86-64-v3, znver4, against the plane
 * kernel's blends (depthwise 3x3 128 channels [H, W] at 112x112 1.25-
 * 1.33x, the MobileNetV2 block 1.01-1.02x) and conv-chan (3x3 64->64
 * 1.09-1.10x, the ResNet block 1.08x): 0.85-1.00 of the constant-size
 * builds. */
static bool open_rows(Arena *a, const Graph *g, const Node *n)
{
    const WindowParams *w = &n->conv.win;
    for (int32_t d = 0; d < w->nsp; d++)
        if (w->stride[d] != 1)
            return false;
    ShapeCtx sc = g->sc ? *g->sc : (ShapeCtx){ .arena = a };
    const SymExpr *iw = n->in[0]->shape.dims[n->in[0]->shape.rank - 1];
    return sym_equal(sym_max(&sc, iw, n->shape.dims[n->shape.rank - 1]), iw);
}

static bool plane_kernel_applies(const Node *n)
{
    if (n->op != NODE_CONV || n->conv.per_channel || n->conv.pad_mode != PAD_ZEROS)
        return false;
    const WindowParams *w = &n->conv.win;
    const Node *x = n->in[0], *wt = n->in[1];
    int32_t nsp = w->nsp;
    /* conv1x1 may give its weight as [K, C] */
    if ((wt->shape.rank != nsp + 2 && wt->shape.rank != 2) || x->shape.rank < nsp + 1)
        return false;
    int64_t v;
    if (!dim_const(wt->shape.dims[0], &v))
        return false;               /* output channels pick the kernel variants */
    int64_t taps = 1, k;
    for (int32_t i = 0; i < nsp; i++) {
        if (w->stride[i] > 4 || !dim_const(w->k[i], &k) || !dim_const(w->pad0[i], &v) ||
            !dim_const(w->pad1[i], &v))
            return false;
        taps *= k;
    }
    /* the kernel unrolls its taps: long kernels stay with the scalar nest */
    return taps <= KERNEL_MAX_TAPS;
}

/* Pools (not the global ones) with constant windows: the row kernel
 * loads a window column of a whole vector at once, its lanes s apart. */
static bool pool_kernel_applies(const Node *n)
{
    if (n->op != NODE_POOL || n->pool.global)
        return false;
    const WindowParams *w = &n->pool.win;
    int64_t v;
    for (int32_t i = 0; i < w->nsp; i++)
        if (w->stride[i] > 4 || !dim_const(w->k[i], &v) || !dim_const(w->pad0[i], &v) ||
            !dim_const(w->pad1[i], &v))
            return false;
    return n->in[0]->shape.rank >= w->nsp;
}

/* A 2-D max pool that the pool-rows kernel takes reads n, directly or
 * through a chain of elementwise stages with no other reader (what
 * passes/epilogue.c and passes/pool.c will fuse). */
static bool feeds_max_pool(const Schedule *s, const Node *n)
{
    const Node *cur = n;
    for (;;) {
        if (s->is_output[cur->id] || cur->nuses != 1 || s->consumers[cur->id].len != 1)
            return false;
        const Node *e = s->consumers[cur->id].items[0];
        if (e->op == NODE_POOL)
            return e->pool.is_max && e->pool.win.nsp == 2 && pool_kernel_applies(e);
        if (e->op != NODE_UNARY && e->op != NODE_BINARY)
            return false;
        cur = e;
    }
}

/* Where the plane kernel's blocks at one FMA a cycle (16 channels x 1
 * vector of the flattened output plane, weights read in place) fall
 * short on a layer without column taps (1x1), conv-chan takes it
 * (interleaved on znver4, one core / two, runtime weights):
 *  - a plane that whole vectors cover with lanes to spare (14x14: 13
 *    vectors for 12.25, 7x7: 4 for 3.06), where the spare lanes cost
 *    more than conv-chan's transposed stores: the spare share of the
 *    lanes times the reduction (Cg*taps) past 4 (CHAN_SPARE_LANES) --
 *    1x1 256->1024 at 14x14 1.034 / 1.029x, 512->2048 at 7x7 1.22 /
 *    1.20x, 160->960 at 7x7 1.21 / 1.23x, 32->192 at 7x7 1.12 / 1.22x,
 *    64->384 at 7x7 1.19 / 1.80x, 96->576 at 14x14 1.016 / 1.012x;
 *    below it 64->384 at 14x14 1.00x, 32->192 at 14x14 0.98x;
 *  - weight rows whose stride is a multiple of the 4 KB an L1 way spans
 *    (Cg*taps a multiple of 1024): the block's 16 rows fall into one
 *    cache set of 8 ways (12 on later CPUs) and evict each other at every
 *    channel step: 1024->256 at 14x14 2.21 / 2.21x, at 28x28 2.00 /
 *    2.06x, 2048->512 at 7x7 2.51 / 2.56x, 1024->128 at 56x56 1.08 /
 *    1.54x (its 12.8 MB input comes from memory once a channel block
 *    for either kernel: half oneDNN's speed).  This one holds whatever
 *    the plane's size, so it applies with sizes bound at run time too
 *    (1024->256 declared [1, 1024, H, W], at 14x14: 2.07 / 2.17x, 2048->512 at
 *    7x7 1.56 / 1.78x; conv-chan's open widths need no column tests at 1x1).
 * (On x86-64-v3 the rows kernel's blocks of 6 channels keep their rows
 * in the L1 cache, and stay: 1024->256 at 14x14 there 1.05x faster than
 * conv-chan.) */
static bool plane_weak(const Node *n, int64_t row, const Target *t)
{
    int64_t oh, ow;
    int32_t r = n->shape.rank;
    if (row % 1024 == 0)
        return true;
    if (!dim_const(n->shape.dims[r - 2], &oh) || !dim_const(n->shape.dims[r - 1], &ow))
        return false;
    int64_t px = oh * ow, covered = (px + t->vlen - 1) / t->vlen * t->vlen;
    return (covered - px) * row > CHAN_SPARE_LANES * px;
}

/* The plane kernel's FMA lanes that do nothing on a stride-1 layer of
 * known sizes, over those it issues, both counted per tap: the vectors
 * that cover the virtual plane (rows of max(IW, OW) positions, OH rows)
 * issue every tap for every lane; the output pixels' taps inside their
 * input row do work (the taps of rows outside the input, skipped in the
 * top and bottom tiles, counted as work).  3x3 pad 1: at 56x56 1.2%,
 * 28x28 2.4%, 14x14 10%, 7x7 31%; 3x3 dilation 2 pad 2 at 56x56 2.4%;
 * 1x1 at 14x14 5.8%, at 7x7 23%. */
static bool plane_wasteful(const Node *n, const Target *t)
{
    const WindowParams *w = &n->conv.win;
    const Node *x = n->in[0];
    int32_t r = n->shape.rank, xr = x->shape.rank;
    int64_t oh, ow, iw, kh = 1, kw = 1, pl = 0;
    if (w->nsp != 2 || !dim_const(n->shape.dims[r - 2], &oh) || !dim_const(n->shape.dims[r - 1], &ow) ||
        !dim_const(x->shape.dims[xr - 1], &iw) || !dim_const(w->k[0], &kh) || !dim_const(w->k[1], &kw) ||
        !dim_const(w->pad0[1], &pl) || oh * ow > CHAN_SMALL_PLANE)
        return false;
    int64_t positions = oh * (iw > ow ? iw : ow);
    int64_t issued = (positions + t->vlen - 1) / t->vlen * t->vlen * kh * kw, work = 0;
    for (int64_t kx = 0; kx < kw; kx++)
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t ix = ox + kx * w->dilation[1] - pl;
            work += ix >= 0 && ix < iw ? oh * kh : 0;
        }
    return (issued - work) * (column_taps(n) ? CHAN_WASTE_SHARE : CHAN_WASTE_SHARE_1X1) > issued;
}

/* A strided 1x1 layer without padding, sizes known (widths, heights and no
 * max pool next), that the plane kernel takes, its input in one phase
 * plane (passes/layout.c), rather than conv-chan.  conv-chan reads the
 * input's even rows in full, half of each line for nothing, once a block
 * of output channels; the plane kernel reads the compact phase plane,
 * after one pass that makes it, which the reduction and the output
 * channels pay back:
 * Both with at least STRIDED_PLANE_CHANNELS input channels a group (so
 * never a depthwise layer, whose strided ones conv-chan takes on AVX2):
 *  - without mask registers (AVX2) always: x86-64-v3 on znver4,
 *    interleaved, one core / two, 1x1/2 256->512 at 56x56 1.36 / 1.40x,
 *    256->128 at 56 1.15 / 1.25x, 512->1024 at 28 1.25 / 1.22x, 1024->2048
 *    at 28 1.15 / 1.16x, 256->256 at 112 1.00 / 1.22x (fewer input
 *    channels take the plane kernel anyway: conv-chan's least reduction);
 *  - with one FMA a cycle, at least STRIDED_PLANE_CHANNELS output
 *    channels a group too, and whole vectors that cover the output
 *    plane with lanes to spare only within plane_weak's bound: znver4,
 *    256->512 at 56 1.045 / 1.032x, 256->256 at 112 1.16 / 1.09x, 256->512
 *    at 112 1.31 / 1.20x, 512->1024 at 56 1.12 / 1.05x; where conv-chan
 *    stays: 256->128 at 56 0.98 / 0.97x, 192->384 at 56 0.99 / 1.00x,
 *    128->256 at 56 0.99 / 1.00x, at 112 0.99 / 0.99x, 64->256 at 112
 *    0.98 / 1.00x.
 * With sizes bound at run time (open) which kernel is faster turns on
 * the plane's size: znver4, the plane kernel against conv-chan's open
 * widths, 1x1/2 256->512 declared [1, 256, H, W], one core: output rows
 * of 28 1.23x, 56 1.24x, 18 1.63x, 15 1.75x, 12 1.34x, 10 1.28x, but 14
 * 0.96x and 7 0.84x, which conv-chan's blocks of 14 fit; 0.55-0.57x with
 * 1024 input channels (plane_weak's L1 sets); on x86-64-v3 its blends
 * made L8 0.69x.  So with one FMA a cycle an open layer (no max pool
 * next) takes the plane kernel, with conv-chan's plan beside it for
 * output rows of 7 and 14 (chan_alternative), under the same channel
 * bounds; AVX2 keeps conv-chan. */
static bool strided_plane(const Node *n, int64_t cg, int64_t kg, bool known, bool open, const Target *t)
{
    const WindowParams *w = &n->conv.win;
    int64_t k0 = 0, k1 = 0, oh;
    dim_const(w->k[0], &k0);
    dim_const(w->k[1], &k1);
    if (k0 != 1 || k1 != 1 || column_taps(n) || !no_row_padding(n) || cg < STRIDED_PLANE_CHANNELS)
        return false;
    if (open)
        return t->masked && t->fmas < 2 && t->vregs >= 32 && kg >= STRIDED_PLANE_CHANNELS &&
               !plane_weak(n, cg, t);
    if (!known || !dim_const(n->shape.dims[n->shape.rank - 2], &oh))
        return false;
    if (!t->masked)
        return true;
    return t->fmas < 2 && t->vregs >= 32 && kg >= STRIDED_PLANE_CHANNELS && !plane_weak(n, cg, t);
}

/* A depthwise convolution: one input and one output channel a group,
 * its channels C known (a bias, if any, of rank 1). */
static bool depthwise(const Node *n, int64_t *C)
{
    const Node *x = n->in[0], *w = n->in[1];
    int64_t one, k;
    int32_t nsp = n->conv.win.nsp;
    return n->op == NODE_CONV && !n->conv.per_channel && w->shape.rank == nsp + 2 &&
           dim_const(w->shape.dims[1], &one) && one == 1 && dim_const(w->shape.dims[0], &k) &&
           k == n->conv.groups && x->shape.rank >= nsp + 1 &&
           dim_const(x->shape.dims[x->shape.rank - nsp - 1], C) && *C == k &&
           (n->nin < 3 || n->in[2]->shape.rank == 1);
}

/* Whole vectors of vl lanes cover px positions with more than 2% of
 * their lanes to spare. */
static bool lanes_to_spare(int64_t px, int32_t vl)
{
    int64_t covered = (px + vl - 1) / vl * vl;
    return (covered - px) * 50 > px;
}

/* conv-chan's cycle model: a (channel, tap) step of a block of c channel
 * vectors x q pixels (chan_kernel_applies). */
static double chan_step(int32_t c, int32_t q)
{
    double fma = c * q / 2.0, loads = (c + q) / 2.0;
    double step = fma > 4.0 ? fma : 4.0;
    return step > loads ? step : loads;
}

/* The channel-vector kernel (kernels/conv_chan.c) for a strided 2-D
 * convolution with a long reduction, or with a max pool as its only
 * reader (a stem): vectors of output channels need no phase copy of the
 * input, and every FMA has a full vector whatever the input channels.
 * At stride 1 the plane kernel's vectors cross row borders, and a column
 * tap that leaves the row still spends its FMA on the masked lanes (3x3
 * pad 1 at width 56: 1.2% of the FMAs, dilation 2: 2.4%); conv-chan skips
 * such taps per pixel, but streams its packed weights from the L2 cache
 * where the plane kernel reads a few rows of weights that stay in L1.
 * With two FMAs a cycle the plane kernel kept stride-1 layers (against it,
 * interleaved, one core: W4 (3x3 dilation 2) 1.01x and W6 (3x3 + max
 * pool) 1.00x on a quiet machine, 0.89-0.98x whenever another workload
 * shared the core's caches; two threads 0.89-0.99x).  With one FMA a
 * cycle (znver4) and known widths, conv-chan's one-vector blocks (below)
 * take stride-1 layers with column taps too: interleaved against the
 * plane kernel's 16 x 1, one core / two: W1 (3x3 64->64 56x56) 1.007 /
 * 1.010x, W4 1.019 / 1.015x, W6 1.017 / 1.009x, ResNet block 1.005 /
 * 1.004x, 3x3 128->128 28x28 1.036 / 1.031x, 256->256 14x14 1.12 /
 * 1.13x, 5x5 32->64 56x56 1.024 / 1.023x, 3x3 unpadded 1.045 / 1.041x,
 * batch 2 1.03 / 1.02x; 32->32 at 56 and 112 1.00x (the same with the
 * other core busy; 1x1 layers, without column taps, stay: W2 0.96x).
 * It needs the input channels a group when compiling (the packed weights),
 * at least one vector of output channels a group, and a bias in a buffer;
 * plane sizes may be symbols (W3 with its input declared [1, 128, H, W]:
 * 0.97-0.99x the constant-size build, where the plane kernel it took before
 * was 0.77x).  Register block: ncv channel vectors x np pixels of a row, the
 * cheapest by the cycle model below.  open_alt: the plan beside the plane
 * kernel's for a stride-1 layer with symbolic widths (chan_alternative),
 * which passes where known widths would. */
static bool chan_kernel_applies(Schedule *s, const Node *n, int64_t kg, bool rows_open, bool open_alt,
                                StagePlan *p)
{
    const Target *t = &s->target;
    const WindowParams *w = &n->conv.win;
    const Node *x = n->in[0];
    int32_t xr = x->shape.rank, r = n->shape.rank;
    int64_t iw, ow, cg;
    if (w->nsp != 2 || !dim_const(n->in[1]->shape.dims[1], &cg))
        return false;
    /* widths known at run time only: the cost summed over the widths of
     * CHAN_OPEN_WIDTHS */
    bool widths = dim_const(x->shape.dims[xr - 1], &iw) && dim_const(n->shape.dims[r - 1], &ow);
    bool strided = w->stride[0] > 1 || w->stride[1] > 1;
    bool pooled = feeds_max_pool(s, n);
    if (strided && !open_alt && strided_plane(n, cg, kg, widths && !pooled, !widths && !pooled, t))
        return false;
    /* A depthwise layer on a small plane that conv-rows' sliding rows
     * leave (dw_rows_applies, tried first: rows of at most half a vector,
     * 5x5 strided), where a 512-bit FMA issues once
     * a cycle: vectors of 16 groups (channels), each work item a block of
     * them at one batch index, whose input planes it transposes into a
     * buffer on its stack, so that every FMA has a full vector and no
     * lane mask; the plane kernel's 16 pixels of one plane cross rows of
     * 7-28 and spend their time on masks.  Interleaved on znver4, one
     * core / two: 3x3 576 channels at 14x14 1.57 / 1.43x, 3x3/2 144 at
     * 56x56 1.73 / 1.68x, 3x3 960 at 7x7 2.00 / 1.56x, 5x5 240 at 28x28
     * 2.15 / 1.89x.  Output planes up to DW_CHAN_MAX_PIXELS: at 56x56 the
     * MobileNetV2 block measured 1.01 / 1.00x, at 112x112 (W5, its
     * transposed planes 800 KB) 0.82 / 0.84x.  Without mask registers
     * (x86-64-v3: vectors of 8 channels, one a block) it takes the
     * strided ones, whose phase planes cost the row kernel a pass over
     * the input (3x3/2 144 at 56x56 3.13x, 192 at 28x28 3.11x, 384 at
     * 14x14 3.22x, 5x5/2 160 at 14x14 3.37x), and rows narrower than a
     * vector (3x3 960 at 7x7 1.88x); at stride 1 with wider rows the row
     * kernel stays (576 at 14x14 0.72x, 64 at 10x10 0.70x, 5x5 240 at
     * 28x28 0.95x, at 14x14 1.23x on conv-chan). */
    int64_t C, oh_, ih_;
    bool dw_target = (t->fmas < 2 && t->masked) || (!t->masked && (strided || (widths && ow < t->vlen)));
    bool dw = dw_target && widths && !pooled && depthwise(n, &C) &&
              dim_const(n->shape.dims[r - 2], &oh_) && dim_const(x->shape.dims[xr - 2], &ih_) &&
              oh_ * ow <= DW_CHAN_MAX_PIXELS && ih_ * iw * t->vlen * 4 <= DW_CHAN_MAX_BYTES;
    if (dw)
        kg = C;
    int64_t k0, k1;
    dim_const(w->k[0], &k0);
    dim_const(w->k[1], &k1);
    /* A 1x1 layer at stride 1 without padding reads input pixel p for
     * output pixel p: its plane is one row of OH*OW pixels to the kernel,
     * whose blocks then cross row ends (7x7, measured with blocks of 10
     * pixels against blocks of 7, interleaved on znver4, one core / two:
     * 1x1 2048->512 1.05 / 1.07x, 512->2048 1.05 / 1.07x, 1024->1024 1.05
     * / 1.04x; 14x14 unchanged; blocks of 14 now, below).  Not before a
     * max pool, which reads the rows. */
    int64_t oh;
    bool plane_row = widths && k0 == 1 && k1 == 1 && !column_taps(n) && !strided && iw == ow &&
                     dim_const(n->shape.dims[r - 2], &oh) && no_row_padding(n) && !pooled;
    if (plane_row)
        ow *= oh;
    /* The same with a width that is a symbol: the kernel's open blocks
     * then run along the plane of OH*OW pixels, its length known at run
     * time, rather than along each row (interleaved on znver4, one core,
     * 1x1 2048->512 declared [1, 2048, H, W]: at 8x8 1.64x, 5x9 1.35x;
     * 1024->256 at 10x10 1.29x; rows of 7, 14 and 28, which blocks of 14
     * fit, 0.98-1.01x). */
    bool plane_row_open = !widths && k0 == 1 && k1 == 1 && !column_taps(n) && !strided &&
                          no_row_padding(n) && !pooled &&
                          sym_equal(x->shape.dims[xr - 1], n->shape.dims[r - 1]) &&
                          sym_equal(x->shape.dims[xr - 2], n->shape.dims[r - 2]);
    /* Without mask registers and with a row width that is a symbol, the
     * plane kernel would mask with blends.  The row kernel takes such a
     * convolution at stride 1 with output rows no longer than the input's
     * (open_rows); the others go to conv-chan at stride 1 too (x86-64-v3,
     * against the constant-size build: W1 declared [1, 64, H, W] 0.46 ->
     * 0.88 on conv-chan, 1.00 on the row kernel). */
    bool blends = !t->masked && !widths && column_taps(n) && !rows_open;
    /* with one FMA a cycle: stride-1 layers whose column taps leave the
     * rows (above; with symbolic widths as the plan beside the plane
     * kernel's), and 1x1 layers where the plane kernel falls short */
    bool one_fma = t->fmas < 2 && (column_taps(n) ? (widths || open_alt) && cg * k0 * k1 >= CHAN_MIN_REDUCTION
                                                  : plane_weak(n, cg * k0 * k1, t));
    /* Without mask registers the rows kernel's vectors stay inside an
     * output row, so rows that whole vectors cover with more than 2% to
     * spare leave lanes empty at every row's end, and short rows give
     * each weight broadcast few pixels; conv-chan's pixel blocks fit the
     * row.  x86-64-v3 on znver4, interleaved, one core / two: 3x3
     * 64->64 at 28x28 1.14 / 1.08x, 128->128 at 28x28 1.13 / 1.11x,
     * 256->256 at 14x14 1.21 / 1.14x, 512->512 at 7x7 2.11 / 2.12x,
     * 128->128 at 42x42 1.19 / 1.22x, 5x5 64->64 at 28x28 1.35 / 1.36x.
     * Rows of whole vectors keep the rows kernel (at 56 columns W4 0.97x
     * and the ResNet block 1.07 / 0.96x on conv-chan, 32->32 at 112
     * 0.86x), and so do 1x1 layers, which it does not take. */
    bool rows_short = !t->masked && widths && !strided && column_taps(n) &&
                      lanes_to_spare(ow, t->vlen) && cg * k0 * k1 >= CHAN_MIN_REDUCTION;
    /* With two FMAs a cycle and mask registers, stride-1 layers on small
     * planes where the plane kernel's vectors would leave more than 2% of
     * its FMA lanes idle (plane_wasteful): the spare lanes of the vectors
     * over a plane that is not whole vectors, and the column taps that
     * leave the input rows, which conv-chan skips pixel by pixel.
     * Interleaved on znver5 against the plane kernel's 8 x 3, runtime
     * weights (packed by conv-chan's items), one core / two: 3x3 128->128
     * at 28x28 (2.4%) 1.033-1.037 / 1.008-1.022x, 256->256 at 14x14
     * 1.092-1.098 / 1.096-1.098x, 512->512 at 7x7 1.30-1.32 / 1.34-1.38x;
     * 1x1 2048->512 at 7x7 (23%) 1.16-1.20 / 1.16-1.17x.  A 1x1 layer
     * gains the spare lanes only, which its runtime weights' packing
     * costs back where few spare: at 14x14 (5.8%) 256->1024 1.00x and
     * 1024->256 1.02-1.05x here, but 0.96-0.99x and 1.00-1.01x in
     * scripts/bench.sh (the plane kernel reads its weights in place), so
     * for a 1x1 layer it takes 10%.  At 56x56 the plane kernel stays: 3x3
     * dilation 2 (2.4% too) 1.00-1.02 / 0.98-0.99x on conv-chan, 3x3
     * 64->64 (1.2%) 1.00x.  Not before a max pool (not measured). */
    bool wasteful = t->masked && t->fmas >= 2 && widths && !strided && !pooled &&
                    cg * k0 * k1 >= CHAN_MIN_REDUCTION && plane_wasteful(n, t);
    if (!(strided || blends || one_fma || rows_short || wasteful || dw) || kg < t->vlen ||
        (cg * k0 * k1 < CHAN_MIN_REDUCTION && !pooled && !one_fma && !wasteful && !dw))
        return false;
    if (n->nin > 2 && n->in[2]->shape.rank != 1)
        return false;
    /* Each (channel, tap) step of a block: ncv*np FMAs at two a cycle (at
     * least 4 cycles: the FMA latency), ncv weight loads and np broadcasts
     * at two a cycle.  The cheapest blocks over the whole output row and
     * every channel block; ties go to more accumulators (fewer weight
     * loads from the L2 cache a pixel).  With the column taps unrolled the
     * code generator keeps columns that two taps share (stride 2: pixel
     * p's third tap is pixel p+1's first) in registers, which leaves room
     * for 24 accumulators on AVX-512; blocks of more (up to 28, with their
     * weight vectors and one broadcast in the 32 registers) put the column
     * taps in a loop: W3 (2 x 14) 1.025x.  Not for a stem with a fused
     * pool, whose 7 column taps unrolled stay faster (2 x 14 in a loop
     * measured 0.5-1% slower on W7).  With 16 registers (AVX2) blocks
     * past 8 accumulators put them in a loop too: unrolled, the shared
     * columns push accumulators out to the stack (x86-64-v3 W3, 2 x 5:
     * four spills in its loop of 30 FMAs; 1.42-1.48x in a loop on
     * znver4), where the 2 x 4 blocks of its W7 and of stride-1 layers
     * keep the unrolled taps (in a loop W7 0.98-1.00x, symbolic stride-1
     * layers 0.91-0.95x).  A 1x1 layer's plane as one row, with one FMA
     * a cycle: its last block computes only the pixels left
     * (column_variants in kernels/conv_chan.c), so it costs the step of
     * that many, and no block is wider than the plane.  Interleaved on
     * znver4, one core: 7x7 planes in blocks of 14 (14 + 14 + 14 + 7)
     * rather than 10 (10 x 4 + 9), 1x1 2048->512 1.025-1.044x (two
     * cores 1.036x), 1024->1024 1.034x, 512->2048 1.019x, 960->160
     * 1.005x; a 10x10 plane in blocks of 13 rather than 10 1.010x, 6x6 in
     * 14 rather than 12 1.007x.  With two FMAs a cycle the model keeps
     * costing the last block as a whole one: on znver5 L7 (2048->512 at
     * 7x7) in blocks of 2 x 14 (the last of 7, the column taps in a loop)
     * measured 0.89-0.90x its 2 x 7 blocks, 3 x 7 0.81x and 4 x 6 0.72x,
     * one core and two.  (Rows of
     * 3x3 layers measured no such gain: 19, 24 and 38 columns in blocks
     * of 12, 14, 14 rather than 10, 12, 13, 0.996-0.999x.) */
    /* With one FMA a cycle (znver4), one channel vector a block, its
     * column taps in a loop: the FMAs stay the bound with fewer
     * accumulators, a block's packed weights are half as many, and a
     * fused pool's ring of conv rows holds half the channels (W7: 3 rows x
     * 112 columns x 16 channels, 21 KB, where 32 channels overflowed the
     * 32 KB L1 cache).  Interleaved, one and two cores: W3 (1 x 14 against
     * 2 x 14) 1.02-1.03x and 1.05-1.07x; against 2 x 8 unrolled, W7
     * (1 x 14) 1.024-1.026x, a 5x5/2 stem with a 2x2 pool 1.07-1.08x,
     * 3x3/2 64->128 + relu + 3x3/2 pool 1.02-1.04x.  With widths known at
     * run time only, not before a max pool (the symbolic W7, 0.88-0.91x:
     * the per-pixel tests of its open blocks grow with np), but without
     * one (symbolic, one core / two: W3 1.010x / 1.002x, 3x3/2 64->128
     * on 56x56 1.010x / 1.006x, 1x1/2 256->512 on 28x28 1.001x /
     * 1.008x). */
    bool onechan = t->fmas < 2 && (widths || !pooled);
    int32_t accmax = t->vregs >= 32 ? (pooled ? 24 : 28) : 12, ncvmax = t->vregs >= 32 ? 4 : 2;
    if (onechan || dw)      /* a depthwise block: its transposed planes are one vector */
        ncvmax = 1;
    int64_t cvs = (kg + t->vlen - 1) / t->vlen;
    int32_t ncv = 1, np = 1;
    double best = 1e30;
    for (int32_t c = 1; c <= ncvmax && c <= cvs; c++)
        for (int32_t q = 1; q <= MAX_CHAN_PIXELS && c * q <= accmax; q++) {
            if (c * q > 24 && c * q + c + 1 > t->vregs)
                continue;
            int64_t blocks = 0;     /* pixel blocks of the rows */
            if (widths)
                blocks = (ow + q - 1) / q;
            for (int32_t i = 0; !widths && i < CHAN_OPEN_WIDTHS; i++)
                blocks += ((14 << i) + q - 1) / q;
            double cost = chan_step(c, q) * (double)blocks;
            if (onechan && plane_row) {
                if (q > ow)
                    break;
                int32_t left = (int32_t)(ow % q);
                cost = chan_step(c, q) * (double)(ow / q) + (left ? chan_step(c, left) : 0.0);
            }
            cost *= (double)((cvs + c - 1) / c);
            if (cost < best - 1e-9 || (cost < best + 1e-9 && c * q > ncv * np)) {
                best = cost;
                ncv = c;
                np = q;
            }
        }
    /* Rows of at most half the widest block, sizes known, one vector a
     * block: a block is as many whole rows as fit MAX_CHAN_PIXELS (7
     * columns: 2 rows, 14 pixels), so that a weight vector feeds as many
     * FMAs as in wider rows; the kernel tests each row's kernel rows
     * only in the blocks where they differ from row to row.  Interleaved
     * on znver4 against blocks of one row, one core: 3x3 512->512 at 7x7 1.030-
     * 1.037x (two cores 1.014x), 3x3/2 256->512 from 14x14 1.024x (two
     * cores 1.018x); 512->512 at 6x6 1.049x, 5x5 1.044x, 4x4 1.088x,
     * 3x3 1.147x.  Three rows of 7 (21 accumulators) measured 0.92x. */
    int64_t ohr, ihr;
    p->chan_rows = 0;
    if (onechan && widths && !plane_row && !dw && !pooled && 2 * ow <= MAX_CHAN_PIXELS &&
        dim_const(n->shape.dims[r - 2], &ohr) && ohr > 1 && dim_const(x->shape.dims[xr - 2], &ihr)) {
        int64_t rows = MAX_CHAN_PIXELS / ow;
        p->chan_rows = (int32_t)(rows < ohr ? rows : ohr);
        np = (int32_t)(p->chan_rows * ow);
    }
    p->kernel = KERNEL_CONV_CHAN;
    p->plane_row = plane_row || plane_row_open;
    p->dw_chan = dw;
    p->nk = ncv * t->vlen;
    p->nv = np;
    p->tap_loop = ncv * np > (t->vregs >= 32 ? 24 : 8) || onechan;
    /* the kernel reads the input and the bias from their buffers */
    schedule_plan(s, n->in[0])->materialise = true;
    if (n->nin > 2)
        schedule_plan(s, n->in[2])->materialise = true;
    return true;
}

/* The rows kernel's register block: nk channels x nv vectors of a row,
 * the row cut into chunks of nv vectors (the last chunk may be shorter).
 * Each accumulator needs its register, each vector of a chunk one for its
 * input, plus the broadcast weight and a blend's temporary.  At two FMAs
 * a cycle, 8 independent accumulators would hide the FMA latency of 4
 * cycles with nothing between the FMAs; with the loads and blends between
 * them 12 do: 3x3 64->64 on x86-64-v3, znver4, 6 x 2 against the 4 x 2
 * that 8 gave: 1.08x at rows of 112 (and 1.10x at symbolic widths of 56),
 * 2 x 4 0.84x.  Picks the block whose chunks waste the fewest FMA slots
 * over the rows of widths ows[] (one width when it is known; with a
 * symbol, the cost summed over the widths of CHAN_OPEN_WIDTHS). */
static double rows_cycles(int32_t nk, int32_t nv, int64_t nvec)
{
    /* cycles per output vector-channel: a chunk of m vectors runs at
     * min(1, nk*m/12) of the FMA rate, and its loads (m inputs and nk
     * broadcasts per tap) at two per cycle */
    double cycles = 0;
    for (int64_t v0 = 0; v0 < nvec; v0 += nv) {
        int64_t m = nvec - v0 < nv ? nvec - v0 : nv;
        double fma = (double)(nk * m) / 2.0, lat = 6.0, loads = (double)(m + nk) / 2.0;
        double c = fma > lat ? fma : lat;
        cycles += c > loads ? c : loads;
    }
    return cycles;
}

/* Whether conv-rows takes its output rows two a work item, the last
 * chunks of both rows computed as one chunk of their vectors: the rows
 * of a 2-D layer end in a chunk of at most half the block's vectors,
 * whose few accumulators cannot hide the FMA latency (rows_cycles).
 * 3x3 64->64 at rows of 56 on x86-64-v3 (7 vectors: chunks of 2, 2, 2
 * and 1, the last 6 accumulators; paired, 12). */
static bool rows_pair_applies(const Target *t, const Node *n, int64_t ow, const StagePlan *p)
{
    int64_t nvec = (ow + t->vlen - 1) / t->vlen, tail = nvec % p->nv, oh;
    if (n->conv.win.nsp != 2 || tail == 0 || 2 * tail > p->nv)
        return false;
    return !dim_const(n->shape.dims[n->shape.rank - 2], &oh) || oh >= 2;
}

static void choose_rows_block(const Target *t, int64_t kg, const int64_t *ows, int32_t nows,
                              StagePlan *p)
{
    int64_t maxvec = 1;
    for (int32_t i = 0; i < nows; i++) {
        int64_t nvec = (ows[i] + t->vlen - 1) / t->vlen;
        maxvec = nvec > maxvec ? nvec : maxvec;
    }
    double best = 1e30;
    for (int32_t nk = 1; nk <= 8 && nk <= kg; nk++)
        for (int32_t nv = 1; nv <= 4 && nv <= maxvec; nv++) {
            if (nk * nv + nv + 2 > t->vregs)
                continue;
            double cycles = 0;
            for (int32_t i = 0; i < nows; i++)
                cycles += rows_cycles(nk, nv, (ows[i] + t->vlen - 1) / t->vlen);
            /* channel blocks: the last may be partly empty */
            cycles *= (double)((kg + nk - 1) / nk);
            if (cycles < best - 1e-9) {
                best = cycles;
                p->nk = nk;
                p->nv = nv;
            }
        }
}

/* How the stencil kernel takes a stage: not at all, with its taps unrolled
 * over a block of rows, or with its taps in loops (long kernels). */
typedef enum StencilFit { STENCIL_NO = 0, STENCIL_UNROLLED, STENCIL_TAP_LOOP } StencilFit;

/* Whether 2-D filter n may run as a row pass and a column pass
 * (passes/algorithm.c decides after this pass): a constant kernel of rank
 * 1 at stride 1, and a method that allows it. */
static bool may_run_separable(const Schedule *s, const Node *n)
{
    const WindowParams *w = &n->conv.win;
    const Node *wt = n->in[1];
    int64_t kh, kw;
    return schedule_method(s, n) != METHOD_DIRECT && w->nsp == 2 && wt->op == NODE_CONST && w->stride[0] == 1 &&
           w->stride[1] == 1 && dim_const(w->k[0], &kh) && dim_const(w->k[1], &kw) &&
           kernel_separable(wt->cst.data, kh, kw);
}

/* One filter over every plane ([FH, FW] or [F] weights): the stencil
 * kernel handles every padding mode and unknown sizes.  Up to
 * KERNEL_MAX_TAPS taps it unrolls them over a block of rows; a larger
 * kernel that may be and can be separable is unrolled as a row pass and a
 * column pass (passes/algorithm.c), any other one has its taps in loops. */
static StencilFit stencil_kernel_applies(const Schedule *s, const Node *n)
{
    if (n->op != NODE_CONV || !n->conv.per_channel)
        return STENCIL_NO;
    const WindowParams *w = &n->conv.win;
    int64_t v, k, taps = 1;
    bool big = false;
    for (int32_t i = 0; i < w->nsp; i++) {
        if (w->stride[i] > 4 || !dim_const(w->k[i], &k) || !dim_const(w->pad0[i], &v) ||
            !dim_const(w->pad1[i], &v))
            return STENCIL_NO;
        taps *= k;
        big |= k > KERNEL_MAX_TAPS;
    }
    /* one row: the taps in a loop at every length, as for a 1-D signal
     * (signal_kernel_applies): conv1d filters of 64 x 16384 samples on
     * znver4, against unrolled, 5 taps 1.17x, 11 1.06x, 15 1.11x, 40
     * (reflect) 2.1x */
    if (w->nsp == 1)
        return STENCIL_TAP_LOOP;
    if (taps <= KERNEL_MAX_TAPS || (!big && may_run_separable(s, n)))
        return STENCIL_UNROLLED;
    return STENCIL_TAP_LOOP;
}

/* convolve/correlate with a kernel known in size: the stencil kernel with
 * the taps walking backwards (convolve) or forwards, unrolled when short;
 * how much wider the output is than the first operand must be known. */
static StencilFit signal_kernel_applies(Arena *a, Schedule *s, const Node *n)
{
    if (n->op != NODE_SIGNAL)
        return STENCIL_NO;
    const Graph *g = s->graph;
    ShapeCtx sc = g->sc ? *g->sc : (ShapeCtx){ .arena = a };
    int32_t r = n->shape.rank;
    int64_t v, k, taps = 1;
    bool big = false;
    for (int32_t i = 0; i < r; i++) {
        if (!dim_const(n->in[1]->shape.dims[i], &k) || !dim_const(n->signal.start[i], &v))
            return STENCIL_NO;
        big |= k > 16 && r == 2;
        taps *= k;
    }
    if (!dim_const(sym_sub(&sc, n->shape.dims[r - 1], n->in[0]->shape.dims[r - 1]), &v))
        return STENCIL_NO;
    /* A 1-D signal takes its taps in a loop whatever their number: one
     * row of vectors and a broadcast weight a tap, where the unrolled taps
     * keep every weight in a register besides the accumulators.  On
     * znver4, 2^20 samples, against unrolled: 3 taps 1.02x, 5 1.17x, 8
     * 1.15x, 15 1.11x (two cores 1.12x), 32 1.72x (2.7x), 64 1.67x. */
    if (r == 1)
        return STENCIL_TAP_LOOP;
    return big || taps > KERNEL_MAX_TAPS ? STENCIL_TAP_LOOP : STENCIL_UNROLLED;
}

/* The stencil kernel's output rows a block (at most `rows`, halved while
 * they do not fit): the kernel's distinct taps (every tap of a kernel
 * given at run time, whose loads are hoisted too) stay in registers as
 * broadcasts across the chunks of a row, beside rows x nv accumulators
 * and nv loaded vectors; past the registers the accumulators spill every
 * chunk.  On znver4, a 5x5 kernel of 25 distinct taps on 3840x2160
 * (replicate padding), against 4 rows of 4 vectors (45 registers):
 * 1 row 1.10-1.11x one core, and 1.6x in the processes where the 4 rows
 * ran slow (8.3 against 12.5 ms, the same object: item 6 of docs/design.md
 * section 10), 2 rows 1.02-1.14x; the same kernel given at run time 1
 * row 1.56-1.62x, 2 rows 1.10x.  A 5x5 Gaussian (6 distinct taps), a
 * Laplacian (3) and a 3x3 kernel given at run time (9) keep 4 rows (1
 * row: 0.99x, 0.74-0.77x, 0.81-0.83x; 2 rows for the last 0.94-0.98x). */
static int32_t stencil_rows_fitting(const Node *n, int32_t rows, int32_t nv, int32_t vregs)
{
    const Node *w = n->op == NODE_CONV ? n->in[1] : NULL;
    if (!w)
        return rows;
    int64_t taps = 1;
    for (int32_t i = 0; i < w->shape.rank; i++) {
        int64_t d;
        if (!dim_const(w->shape.dims[i], &d))
            return rows;
        taps *= d;
    }
    int64_t distinct = taps;
    if (w->op == NODE_CONST && w->cst.data) {
        distinct = 0;
        for (int64_t i = 0; i < taps; i++) {
            bool seen = false;
            for (int64_t j = 0; j < i && !seen; j++)
                seen = w->cst.data[j] == w->cst.data[i];
            distinct += !seen;
        }
    }
    while (rows > 1 && rows * nv + nv + distinct > vregs)
        rows /= 2;
    return rows;
}

/* With one FMA a cycle, a stride-1 layer with column taps whose widths
 * are size symbols keeps the plane kernel, and conv-chan's plan beside it
 * (plan.alt), taken at run time where the output rows are 7, 14 or 28
 * wide (CHAN_ALT_WIDTHS): its blocks of 14 columns, the last ending at
 * the row's end (kernels/conv_chan.c end_layout), fit those rows, and
 * the plane kernel's vectors of 16 the others.  Symbolic sizes, one core,
 * znver4, conv-chan against the plane kernel: 3x3 512->512 at 7x7 1.43x
 * (weights packed by the work items), 256->256 at 14x14 1.14x, 128->128
 * at 28x28 1.03x; 56x56 and 112x112 1.00x; but 64->64 at 128x128 0.87x,
 * 256x256 0.67x, 128->128 at 64, 38, 32 and 19 0.93x, 256->256 at 16x16
 * 0.80x, 128->128 at 10x10 0.77x.  Not before a max pool (fused into the
 * plane kernel's tiles otherwise), and only where conv-chan needs no
 * packing nest (passes/pack.c drops the plan otherwise). */
static void chan_alternative(Arena *a, Schedule *s, const Node *n, int64_t kg, StagePlan *p)
{
    const Target *t = &s->target;
    const WindowParams *w = &n->conv.win;
    const Node *x = n->in[0];
    int64_t iw, ow, cg;
    if (p->kernel != KERNEL_CONV_PLANE || t->fmas >= 2 || !t->masked || t->vregs < 32 || w->nsp != 2 ||
        feeds_max_pool(s, n) ||
        (dim_const(x->shape.dims[x->shape.rank - 1], &iw) && dim_const(n->shape.dims[n->shape.rank - 1], &ow)))
        return;
    /* a strided 1x1 layer (strided_plane, open): rows of 7 and 14 only */
    bool strided = w->stride[0] != 1 || w->stride[1] != 1;
    if (strided ? !(dim_const(n->in[1]->shape.dims[1], &cg) && strided_plane(n, cg, kg, false, true, t))
                : !column_taps(n))
        return;
    StagePlan c = *p;
    if (!chan_kernel_applies(s, n, kg, false, true, &c) || c.kernel != KERNEL_CONV_CHAN || c.dw_chan ||
        c.plane_row)
        return;
    p->alt = arena_alloc(a, sizeof *p->alt);
    *p->alt = c;
    p->alt_widths = strided ? 2 : CHAN_ALT_NWIDTHS;
}

/* A depthwise layer goes to conv-rows' sliding rows (kernels/conv_rows.c,
 * dw_plane): a work item is one channel's plane, each input row is
 * loaded once and multiplied into the kh output rows it reaches, so each
 * FMA has kh x kw independent others beside it, where the plane kernel's
 * vectors crossed row ends on masks of their own and conv-chan's
 * transposed every plane in and out.
 * Interleaved, one core / two, against the kernels they replace (bitwise
 * equal): znver4, 3x3 576 channels at 14x14 (conv-chan) 1.79 / 1.79x,
 * 144 at 28x28 1.73x, 5x5 240 at 28x28 1.26x, 672 at 14x14 1.21x, 384
 * at 10x10 1.39x; against the plane kernel, 128 at 56x56 1.97x, W5 (128
 * at 112x112) 1.57 / 1.74x, the MobileNetV2 block 1.15 / 1.11x.
 * x86-64-v3 (one vector a chunk, against the row kernel's items of one
 * output row): 576 at 14x14 1.15x, 144 at 28x28 1.05x, 5x5 672 at 14x14
 * 1.23x, 128 at 56x56 1.41x, W5 1.05x, the block 1.06x.  Strides up to
 * DW_ROWS_MAX_STRIDE (strided loads), against conv-chan on small planes
 * and the kernels reading phase planes on large ones, znver4 / x86-64-v3:
 * 3x3/2 144 at 56x56 (L11) 1.38 / 1.53x, 384 at 28x28 1.20 / 1.21x, 96
 * at 112x112 2.31 / 4.75x, 5x5/2 32 at 112x112 1.69 / 2.54x; but 5x5/2
 * on output planes that conv-chan takes (DW_CHAN_MAX_PIXELS) 0.84-0.98x
 * (five strided loads a row), which stay there.  Rows of more than half
 * a vector (7x7 on AVX-512 measured 1.02x: conv-chan keeps them), at
 * most MAX_DW_ROW_VECTORS vectors.  With plane sizes known at run time
 * only, on AVX-512 (dw_plane_open: one vector at a time, blocks of 8
 * rows, masks made at run time for the vectors at the rows' ends), against
 * the plane kernel: W5 declared [1, 128, H, W] 1.31-1.50x, 3x3 576 at
 * 14x14 2.82x, 3x3/2 144 at 56x56 3.26x, 5x5 240 at 28x28 2.61x, 3x3 960
 * at 7x7 1.57x, the MobileNetV2 block 1.13x.  On x86-64-v3 (blocks of 4
 * rows) the strided ones, which the row kernel reads through phase
 * planes (3x3/2 144 at 56x56 3.66x); at stride 1 its open rows keep
 * them (W5 0.60x on these, though 3x3 576 at 14x14 1.64x).  nv: the vectors of a
 * row taken at once (AVX-512 2: 2 x kh accumulators and 2 x kw loads;
 * x86-64-v3 1, 2 measured 0.87-0.98x of it with 16 registers). */
static bool dw_rows_applies(Schedule *s, const Node *n, StagePlan *p)
{
    const Target *t = &s->target;
    const WindowParams *w = &n->conv.win;
    const Node *x = n->in[0];
    int32_t xr = x->shape.rank, r = n->shape.rank;
    int64_t C, ih, iw, oh, ow, k1;
    if (w->nsp != 2 || w->stride[0] > DW_ROWS_MAX_STRIDE || w->stride[1] > DW_ROWS_MAX_STRIDE ||
        !depthwise(n, &C) || !dim_const(w->k[1], &k1))
        return false;
    bool known = dim_const(x->shape.dims[xr - 2], &ih) && dim_const(x->shape.dims[xr - 1], &iw) &&
                 dim_const(n->shape.dims[r - 2], &oh) && dim_const(n->shape.dims[r - 1], &ow);
    bool strided = w->stride[0] > 1 || w->stride[1] > 1;
    if (!known ? !t->masked && !strided
               : 2 * ow <= t->vlen || (ow + t->vlen - 1) / t->vlen > MAX_DW_ROW_VECTORS ||
                 (strided && k1 > 3 && oh * ow <= DW_CHAN_MAX_PIXELS))
        return false;
    p->kernel = KERNEL_CONV_ROWS;
    p->dw_rows = true;
    p->nk = 1;
    p->nv = known && t->vregs >= 32 ? 2 : 1;
    schedule_plan(s, x)->materialise = true;
    return true;
}

void pass_choose_kernels(Arena *a, Schedule *s)
{
    const Target *t = &s->target;
    if (t->vlen <= 1)
        return;
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        if (pool_kernel_applies(n)) {
            schedule_plan(s, n)->kernel = KERNEL_POOL_ROWS;
            schedule_plan(s, n->in[0])->materialise = true;
            continue;
        }
        StencilFit fit = stencil_kernel_applies(s, n);
        if (!fit)
            fit = signal_kernel_applies(a, s, n);
        if (fit) {
            StagePlan *p = schedule_plan(s, n);
            p->kernel = KERNEL_STENCIL_ROWS;
            /* rows x vectors: accumulators, plus a register per vector
             * loaded (and the broadcast weight and a blend's temporary);
             * with the taps in loops one row of vectors */
            int32_t nsp = n->op == NODE_CONV ? n->conv.win.nsp : n->shape.rank;
            p->tap_loop = fit == STENCIL_TAP_LOOP;
            p->nk = nsp == 2 && !p->tap_loop ? 4 : 1;       /* a signal has one row */
            p->nv = t->vregs >= 32 ? (nsp == 2 && !p->tap_loop ? 4 : 8) : (nsp == 2 ? 2 : 4);
            /* (a separable stage's passes hold one factor's taps) */
            if (nsp == 2 && !p->tap_loop && t->vregs >= 32 && !may_run_separable(s, n))
                p->nk = stencil_rows_fitting(n, p->nk, p->nv, t->vregs);
            schedule_plan(s, n->in[0])->materialise = true;
            continue;
        }
        if (!plane_kernel_applies(n))
            continue;
        StagePlan *p = schedule_plan(s, n);
        int64_t K, groups = n->conv.groups;
        sym_is_const(n->in[1]->shape.dims[0], &K);
        int64_t kg = K / groups;
        /* without mask registers, the rows kernel for a symbolic width */
        bool rows_open = !t->masked && column_taps(n) && open_rows(a, g, n);
        if (dw_rows_applies(s, n, p) || chan_kernel_applies(s, n, kg, rows_open, false, p))
            continue;
        /* Accumulators: all but the registers for the pixel vectors, the
         * broadcast weight and (with masks) a little room.  AVX-512:
         * 8 channels x 3 vectors; AVX2 (16 registers): 6 x 2 (against
         * 4 x 3 on conv1x1 256->64 56x56 for x86-64-v3, interleaved:
         * 1.04-1.05x -- one input line fewer to load and prefetch per
         * channel for the same FMAs).
         * With one 512-bit FMA a cycle (znver4), 16 channels x 1 vector:
         * 16 accumulators hide the FMA latency at that rate, the 16
         * broadcasts and one input vector of a step stay within two
         * loads a cycle, and a tile of one vector keeps the least input
         * in the L1 cache.  Interleaved against 8 x 3 on znver4, one core:
         * conv1x1 256->64 56x56 1.012-1.015x, 3x3 64->64 1.007x, dilated
         * 1.008-1.009x, 3x3 + max pool 1.009x, ResNet block 1.009x,
         * MobileNetV2 block 1.016x; two cores 1.00-1.02x (8 x 1 the same,
         * 8 x 2 and 12 x 1 0.98-0.99x).  At two FMAs a cycle the
         * broadcasts bound it (16 x 1 on conv1x1 256->64 with
         * sapphirerapids: 0.78x). */
        bool halfrate = t->fmas < 2;
        int32_t acc = t->vregs >= 32 ? (halfrate ? 16 : 24) : 12;
        int32_t nk = t->vregs >= 32 ? (halfrate ? 16 : 8) : 6;
        if (kg < nk)
            nk = (int32_t)kg;
        int32_t nv = acc / nk;
        if (nv > 8)
            nv = 8;
        /* with one or two channels per block (depthwise) each input vector
         * feeds few FMAs: longer tiles only add loads in flight (measured
         * on dw 3x3 112x112: 4 vectors 0.68 ms, 8 vectors 0.74 ms) */
        if (nk <= 2 && nv > 4)
            nv = 4;
        p->kernel = KERNEL_CONV_PLANE;
        p->nk = nk;
        p->nv = nv;
        /* Without mask registers, vectors stay inside output rows at
         * columns fixed when compiling (kernels/conv_rows.c): that needs
         * the row widths. */
        int32_t xr = n->in[0]->shape.rank, orank = n->shape.rank;
        int64_t ow, iw;
        if (!t->masked && column_taps(n) && dim_const(n->shape.dims[orank - 1], &ow) &&
            dim_const(n->in[0]->shape.dims[xr - 1], &iw)) {
            p->kernel = KERNEL_CONV_ROWS;
            choose_rows_block(t, kg, &ow, 1, p);
            p->rows_pair = rows_pair_applies(t, n, ow, p);
        } else if (rows_open) {
            int64_t ows[CHAN_OPEN_WIDTHS];
            for (int32_t w = 0; w < CHAN_OPEN_WIDTHS; w++)
                ows[w] = (int64_t)14 << w;
            p->kernel = KERNEL_CONV_ROWS;
            choose_rows_block(t, kg, ows, CHAN_OPEN_WIDTHS, p);
        }
        /* the kernel reads the input plane with vector loads */
        schedule_plan(s, n->in[0])->materialise = true;
        chan_alternative(a, s, n, kg, p);
    }
}
