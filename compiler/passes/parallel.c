/* passes/parallel.c - how each scalar nest is split among threads.
 *
 * Needs: kernels chosen (passes/kernels.c).
 * Establishes: for every stage left to a scalar nest, plan.par_first and
 * plan.par_count: the output loops that become one parallel loop over
 * their product.  A nest runs its parallel loop in one contiguous piece per
 * thread, so that loop needs many more iterations than there are threads:
 * an image of 3 colour planes filtered in parallel over its 3 planes keeps
 * one of two cores idle a third of the time.  The outer loops (from the
 * first one not known to be 1) are collapsed until their product reaches
 * MIN_ITEMS or a size is unknown when compiling (then it is taken to be
 * large), never the innermost loop, which stays whole for the vectoriser;
 * a reduction is never split.  The micro-kernels (kernels/) make their own
 * work items of this kind: batch x groups x tiles x channel blocks, one
 * register tile with its whole reduction each. */
#include "passes.h"

enum { MIN_ITEMS = 64 };

void pass_schedule_parallel(Arena *a, Schedule *s)
{
    (void)a;
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if (n->op == NODE_INPUT || n->op == NODE_CONST || p->kernel != KERNEL_SCALAR ||
            p->fused_into)
            continue;
        int32_t rank = n->shape.rank;
        int32_t first = 0;
        int64_t v;
        while (first < rank - 1 && sym_is_const(n->shape.dims[first], &v) && v == 1)
            first++;
        int64_t items = 1;
        int32_t count = 0;
        for (int32_t d = first; d < rank - 1; d++) {
            count++;
            if (!sym_is_const(n->shape.dims[d], &v))
                break;                  /* unknown: assume it is enough */
            items *= v;
            if (items >= MIN_ITEMS)
                break;
        }
        p->par_first = first;
        p->par_count = count;
    }
}
