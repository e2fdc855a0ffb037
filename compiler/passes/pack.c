/* passes/pack.c - weights in the order the micro-kernels read them.
 *
 * Needs: kernels chosen (passes/kernels.c).
 * Establishes: plan.pack_weights for every convolution computed by a
 * vector kernel.  Lowering then lays the weights out as
 * [group][channel block][input channel][tap][nk] (zero-filled past the
 * last output channel): the nk weights a kernel step broadcasts are
 * adjacent and each block's weights are one contiguous stream.  Constant
 * weights (literals, builtin kernels, load()) are packed when compiling;
 * weights that arrive at run time are packed by a nest at the start of
 * the call, which costs one pass over the weights per call. */
#include "passes.h"

void pass_pack_weights(Arena *a, Schedule *s)
{
    (void)a;
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if (p->kernel == KERNEL_CONV_PLANE || p->kernel == KERNEL_CONV_ROWS ||
            p->kernel == KERNEL_CONV_CHAN)
            p->pack_weights = true;
    }
}
