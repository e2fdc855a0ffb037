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
 * Also establishes plan.pack_in_items: the channel-vector kernel packs an
 * input's weights itself (by transposition, kernels/conv_common.c), in
 * the first block of each channel block, beside that block's
 * multiply-adds, where a nest of its own would only shuffle.  For output
 * planes of at most PACK_ITEMS_MAX_PIXELS (known when compiling), where
 * the packing is a share of the call worth a second task function (the
 * nest was 3% of W3's call; its share falls as the plane grows), with at
 * least PACK_ITEMS_MIN_BLOCKS channel blocks (the first loop's items:
 * with fewer, threads wait at its end), no fused pool, taps in the
 * script's order and whole vectors a block.  Measured interleaved on
 * znver4: W3 (590 KB of weights for 196 output pixels, 8 blocks of 16
 * channels) 1.013x on one thread, 1.008x on two, x86-64-v3 (8 blocks)
 * 1.008x; W3 in 4 blocks of 32 channels (the blocks of CPUs with two
 * FMA units) 1.003x and 0.991x, so those keep the nest; on 56 x 56
 * planes (W1, the ResNet block) 1.00x for 1.5x the compile time. */
#include "passes.h"

enum { PACK_ITEMS_MAX_PIXELS = 1024, PACK_ITEMS_MIN_BLOCKS = 8 };

/* The output plane is known when compiling and small. */
static bool small_plane(const Node *n)
{
    int64_t px = 1, d;
    for (int32_t i = n->shape.rank - n->conv.win.nsp; i < n->shape.rank; i++) {
        if (!sym_is_const(n->shape.dims[i], &d))
            return false;
        px *= d;
    }
    return px <= PACK_ITEMS_MAX_PIXELS;
}

void pass_pack_weights(Arena *a, Schedule *s)
{
    (void)a;
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if (p->kernel == KERNEL_CONV_CHAN) {
            p->pack_weights = true;
            int64_t K;
            bool many = sym_is_const(n->in[1]->shape.dims[0], &K) &&
                        n->conv.groups * ((K / n->conv.groups + p->nk - 1) / p->nk) >=
                            PACK_ITEMS_MIN_BLOCKS;
            p->pack_in_items = n->in[1]->op == NODE_INPUT && !p->pool && !n->conv.flip &&
                               p->nk % s->target.vlen == 0 && small_plane(n) && many;
        }
        else if (p->kernel == KERNEL_CONV_PLANE || p->kernel == KERNEL_CONV_ROWS)
            p->pack_weights = n->in[1]->op != NODE_INPUT;
    }
}
