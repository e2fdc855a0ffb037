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
 * another layout, no reorder ever meets another one to cancel.
 *
 * Without mask registers (AVX2) the plane kernel's 1x1 layers over small
 * planes with many input channels read a copy of their input whose planes
 * each start a 64-byte line (LAYOUT_LINES), where the plane's size is not
 * a multiple of 4 floats: the kernel's vectors of a tile then lie in one
 * line in every channel, where in place they straddle two in most.
 * Interleaved on znver4, one core, x86-64-v3, against reading in place:
 * at 7x7, 2048->512 1.17-1.23x, 1024->1024 1.20x, 512->2048 1.12x,
 * 960->160 1.01x; with fewer input channels the copy costs more than it
 * gains (64->256 at 7x7 0.92x, 256->256 at 9x9 0.92x); planes of a
 * multiple of 4 floats gain nothing (256->512 at 10x10 0.96x, 14x14
 * 0.98-0.99x). */
#include "passes.h"

enum { LINES_MIN_CHANNELS = 512 };

/* A stride-1 plane kernel that reads its input in place, on a target
 * without mask registers: whether its planes are worth copying to whole
 * lines (above; 1x1 layers, the ones measured). */
static bool lines_pay(const Schedule *s, const Node *n, const StagePlan *p)
{
    const Node *x = n->in[0];
    int32_t xr = x->shape.rank;
    int64_t cg, h = 1, w;
    if (s->target.masked || p->kernel != KERNEL_CONV_PLANE || !sym_is_const(n->in[1]->shape.dims[1], &cg) ||
        cg < LINES_MIN_CHANNELS || !sym_is_const(x->shape.dims[xr - 1], &w) ||
        (n->conv.win.nsp == 2 && !sym_is_const(x->shape.dims[xr - 2], &h)))
        return false;
    for (int32_t d = 0; d < n->conv.win.nsp; d++) {
        int64_t k;
        if (!sym_is_const(n->conv.win.k[d], &k) || k != 1)
            return false;
    }
    return (h * w) % 4 != 0;
}

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
        p->input_layout = strided || wider ? LAYOUT_PHASES : lines_pay(s, n, p) ? LAYOUT_LINES : LAYOUT_DIRECT;
    }
}
