/* passes/layout.c - the layout each stage reads its input in.
 *
 * Needs: kernels chosen (passes/kernels.c).
 * Establishes: plan.input_layout for every stage.  The pipeline's inputs
 * and outputs are NCHW, as the language promises, and so is every
 * intermediate buffer: the micro-kernels reach the FMA peak on NCHW planes
 * (vectors run along the flattened plane, conv_plane.c), so nothing is
 * gained by keeping intermediates channel-blocked, and elementwise and
 * pool stages read their producer's buffer as it is.  The one layout
 * change is local to a stage: a convolution kernel whose taps do not move
 * one for one with the output -- a stride above 1, or an output row longer
 * than the input row (padding wider than the kernel) -- reads its input
 * through phase planes (the input split by row and column modulo the
 * stride, rows padded to the output's width), a copy it makes itself at
 * the start of its nest, so that each tap is again one constant offset
 * -- but for a depthwise layer on conv-rows' sliding rows (plan.dw_rows),
 * whose vectors start at fixed columns of each row, read their lanes sx
 * apart with strided loads and mask whatever lanes leave the input row.
 * The channel-vector kernel (kernels/conv_chan.c) reads NCHW as it is and
 * scatters NCHW; with a fused max pool it keeps its rows as channel
 * vectors ([row][column][channel]) in a ring private to each work item,
 * which only the pool in the same nest reads.  Since no stage writes
 * another layout, no reorder ever meets another one to cancel. */
#include "passes.h"

void pass_plan_layouts(Arena *a, Schedule *s)
{
    (void)a;
    const Graph *g = s->graph;
    ShapeCtx sc = g->sc ? *g->sc : (ShapeCtx){ .arena = a };
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if ((p->kernel != KERNEL_CONV_PLANE && p->kernel != KERNEL_CONV_ROWS) || p->dw_rows)
            continue;
        const WindowParams *w = &n->conv.win;
        bool strided = false;
        for (int32_t d = 0; d < w->nsp; d++)
            strided |= w->stride[d] > 1;
        const SymExpr *iw = n->in[0]->shape.dims[n->in[0]->shape.rank - 1];
        const SymExpr *ow = n->shape.dims[n->shape.rank - 1];
        bool wider = !sym_equal(sym_max(&sc, iw, ow), iw);
        p->input_layout = strided || wider ? LAYOUT_PHASES : LAYOUT_DIRECT;
    }
}
