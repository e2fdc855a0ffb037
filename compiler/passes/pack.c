/* passes/pack.c - weights in the order the micro-kernels read them.
 *
 * Needs: kernels chosen (passes/kernels.c).
 * Establishes: plan.pack_weights for the convolutions whose vector
 * kernel reads its weights packed.  Lowering then lays the weights out as
 * [group][channel block][input channel][tap][nk] (zero-filled past the
 * last output channel): the nk weights a kernel step reads are adjacent
 * and each block's weights are one contiguous stream.  Constant weights
 * (literals, builtin kernels, load()) are packed when compiling, for
 * every vector kernel.  Weights that arrive at run time would be packed
 * by a nest at the start of every call; the channel-vector kernel needs
 * that (it loads vectors of output channels, which lie Cg*taps apart in
 * the script's layout), but the kernels that broadcast one weight at a
 * time (plane, rows) read an input's weights where they are: a block's
 * nk channels are nk rows of Cg*taps weights, which stay in the L1 cache
 * over the block as well as the packed copy would, and the call saves a
 * pass over every weight.
 * Also establishes plan.pack_in_items: the channel-vector kernel's work
 * items pack an input's weights themselves (by transposition,
 * kernels/conv_common.c), an item a channel block, each into a block
 * buffer of its own on its stack: its first block of pixels packs the
 * pieces as its reduction reaches them, beside its multiply-adds, and the
 * item's other pixels (every row, every batch index) read that buffer,
 * which stays in the core's L2 cache.  A nest of its own would shuffle
 * with nothing beside it and write every block to a scratch buffer that
 * goes through memory when the weights are large.  For output planes of
 * at most PACK_ITEMS_MAX_PIXELS, where the packing is a share of the call
 * worth it (the nest was 3% of W3's call; its share falls as the plane
 * grows), or of a size known at run time only (small_plane), with at
 * least PACK_ITEMS_MIN_BLOCKS channel blocks (the items: with fewer,
 * cores would wait), blocks of at most PACK_ITEMS_MAX_BYTES, no fused
 * pool, taps in the script's order and whole vectors a block.  Measured
 * interleaved on znver4, one core / two, against a first loop of items
 * that packed into a shared scratch buffer at the first row and a second
 * loop for the rest: W3 (590 KB of weights, 196 output pixels, 8 blocks
 * of 16 channels) 1.004 / 1.018x,
 * x86-64-v3 0.998 / 1.029x; 3x3 512->512 at 7x7 (9.4 MB) 1.21 / 1.19x;
 * 3x3/2 256->512 at 14x14 1.07 / 1.13x.  (That first loop had in turn
 * been 1.013 / 1.008x against the nest on W3.)  W3 in 4 blocks of 32
 * channels (the blocks of CPUs with two FMA units), against the nest:
 * 1.003 / 0.991x on sapphirerapids, 1.012-1.019 / 1.006-1.076x on
 * znver5 (three runs each), where the nest was 5% of the call; hence 4
 * blocks at least.  On 56 x 56 planes (W1, the ResNet block) 1.00x for
 * 1.5x the compile time.  With more cores than channel blocks some cores
 * wait: the blocks are the items.
 * What the items' packing costs: on znver5, W3's items without it
 * (their buffers left as they were) run as fast as the build with the
 * weights load()ed, and 4.4-6.8% faster than with it -- the transposes
 * beside the first row's FMAs hide nothing.  Called back to back (the
 * weights in L3), prefetching each block's weights into the L1 or the L2
 * cache when its item starts, or a few channels ahead of the pieces,
 * gained nothing; nor did transposing from loads of four columns a row
 * (vinsertf32x4, half the shuffles).  (Called after other work, as in a
 * network, the weights come from memory, and there the items' prefetch
 * of the next item's weights pays: kernels/conv_chan.c.)  Alone,
 * 590 KB from beyond the L2 cache transpose in 11-12 us on znver5
 * whatever the method: the bound is the transfer, and on two FMA units
 * that is 4-5% of W3's call.  Split, in scripts/bench.sh's harness
 * against oneDNN (timing-only builds): without the packing 1.007-1.015x
 * oneDNN's time, with its loads and stores but not its shuffles
 * 0.978-0.982x, as it is 0.964-0.970x -- 3.2% the transfer (590 KB read,
 * 590 KB written to the item's buffer, on the first block's critical
 * path), 1.3% the shuffles.
 * Also completes plan.alt, conv-chan's plan beside a plane kernel's
 * (passes/kernels.c chan_alternative), from the plane kernel's final plan,
 * or drops it (chan_alternative_plan). */
#include "passes.h"

/* PACK_ITEMS_ALT_MIN_BLOCKS: the same for conv-chan's plan beside a plane
 * kernel (chan_alternative_plan), measured only with 8 blocks (znver4:
 * 3x3 128->128 and 136->136 on rows of 7, 14 and 28) */
enum { PACK_ITEMS_MAX_PIXELS = 1024, PACK_ITEMS_MIN_BLOCKS = 4, PACK_ITEMS_ALT_MIN_BLOCKS = 8 };
/* a block buffer on the item's stack: at most half KL_STACK_MAX_BYTES,
 * and the size of the L2 cache of the CPUs measured (3x3 512 channels,
 * 16 a block: 295 KB) */
#define PACK_ITEMS_MAX_BYTES ((int64_t)1 << 20)

/* The output plane is small, or its size is known at run time only:
 * one object for every plane size packs in its items too, which costs
 * nothing on large planes (above) and saves the nest's pass over the
 * weights on small ones (symbolic sizes, one core, znver4: 3x3/2
 * 256->512 from 14x14 1.13x, 1x1 2048->512 at 7x7 1.07x, W3 1.014x, 1x1
 * 1024->256 at 14x14 1.013x; 1x1/2 256->512 from 56x56 0.97x), for a
 * longer compile (the first block's copy of conv-chan's open variants:
 * W3 declared [1, 128, H, W] 0.19 -> 0.46 s). */
static bool small_plane(const Node *n)
{
    int64_t px = 1, d;
    for (int32_t i = n->shape.rank - n->conv.win.nsp; i < n->shape.rank; i++) {
        if (!sym_is_const(n->shape.dims[i], &d))
            return true;
        px *= d;
    }
    return px <= PACK_ITEMS_MAX_PIXELS;
}

/* conv-chan's packing: every weight; by its work items where it can. */
static void chan_packing(const Schedule *s, const Node *n, StagePlan *p, int64_t min_blocks)
{
    p->pack_weights = true;
    int64_t K, cg, taps = 1, k;
    bool many = sym_is_const(n->in[1]->shape.dims[0], &K) &&
                n->conv.groups * ((K / n->conv.groups + p->nk - 1) / p->nk) >= min_blocks;
    for (int32_t d = 0; d < n->conv.win.nsp; d++)
        taps *= sym_is_const(n->conv.win.k[d], &k) ? k : 0;
    bool fits = sym_is_const(n->in[1]->shape.dims[1], &cg) && taps > 0 &&
                cg * taps * p->nk * 4 <= PACK_ITEMS_MAX_BYTES;
    p->pack_in_items = n->in[1]->op == NODE_INPUT && !p->pool && !n->conv.flip && !p->dw_chan &&
                       p->nk % s->target.vlen == 0 && small_plane(n) && many && fits;
}

/* The conv-chan plan beside a plane kernel's (passes/kernels.c
 * chan_alternative): the plane kernel's final plan with conv-chan's
 * kernel, block and packing, reading the input in place.  Dropped where
 * the plane kernel of a stride-1 layer reads phase planes (a strided 1x1
 * layer's alternative is for the planes, passes/kernels.c strided_plane),
 * has a fused pool, the direct sum is not the algorithm, or
 * runtime weights would need a packing nest (it would run at the start
 * of every call whichever kernel the widths then take). */
static void chan_alternative_plan(const Schedule *s, const Node *n, StagePlan *p)
{
    StagePlan c = *p;
    c.kernel = p->alt->kernel;
    c.nk = p->alt->nk;
    c.nv = p->alt->nv;
    c.tap_loop = p->alt->tap_loop;
    c.groups_per_item = p->alt->groups_per_item;
    c.alt = NULL;
    c.input_layout = LAYOUT_DIRECT;     /* conv-chan reads the input as it is */
    chan_packing(s, n, &c, PACK_ITEMS_ALT_MIN_BLOCKS);
    const WindowParams *w = &n->conv.win;
    bool strided = w->stride[0] != 1 || w->stride[1] != 1;
    if (p->kernel != KERNEL_CONV_PLANE || (p->input_layout != LAYOUT_DIRECT && !strided) || p->pool ||
        p->algorithm != ALGO_DIRECT || (n->in[1]->op == NODE_INPUT && !c.pack_in_items))
        p->alt = NULL;
    else
        *p->alt = c;
}

void pass_pack_weights(Arena *a, Schedule *s)
{
    (void)a;
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if (p->kernel == KERNEL_CONV_CHAN)
            chan_packing(s, n, p, PACK_ITEMS_MIN_BLOCKS);
        else if (p->kernel == KERNEL_CONV_PLANE || p->kernel == KERNEL_CONV_ROWS)
            p->pack_weights = n->in[1]->op != NODE_INPUT;
        if (p->alt)
            chan_alternative_plan(s, n, p);
    }
}
