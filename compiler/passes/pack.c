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
 * pass over every weight. */
#include "passes.h"

void pass_pack_weights(Arena *a, Schedule *s)
{
    (void)a;
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if (p->kernel == KERNEL_CONV_CHAN)
            p->pack_weights = true;
        else if (p->kernel == KERNEL_CONV_PLANE || p->kernel == KERNEL_CONV_ROWS)
            p->pack_weights = n->in[1]->op != NODE_INPUT;
    }
}
