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
 * register tile with its whole reduction each.
 *
 * Also establishes plan.groups_per_item for the plane kernel: with groups
 * so small that one group's tile is a few dozen FMAs (depthwise: 9 taps x
 * 4 vectors), an item takes several groups one after the other at the
 * same tile, so that the tile's set-up (each lane's row and column, the
 * masks: as much work as those FMAs) is made once for them all.  About
 * GROUP_ITEM_FMAS vector FMAs an item; measured on depthwise 3x3 over
 * 128 x 112 x 112 (7 groups an item): 1.15x on one thread, 1.13x on two;
 * 128 FMAs (3 groups) 3-8% slower than 256, 512 (14) 5% slower, 1024 (28)
 * 19% slower -- as many output planes written at once as groups, past
 * what the write-combining buffers hold for the streaming stores. */
#include "passes.h"

enum { MIN_ITEMS = 64, GROUP_ITEM_FMAS = 256 };

static void plane_groups(const Node *n, StagePlan *p)
{
    int64_t K, cg, groups = n->conv.groups;
    const WindowParams *w = &n->conv.win;
    p->groups_per_item = 1;
    if (p->kernel != KERNEL_CONV_PLANE || p->pool || groups <= 1 ||
        !sym_is_const(n->in[1]->shape.dims[0], &K) || !sym_is_const(n->in[1]->shape.dims[1], &cg) ||
        K / groups > p->nk)
        return;
    int64_t taps = 1;
    for (int32_t d = 0; d < w->nsp; d++) {
        int64_t k;
        if (!sym_is_const(w->k[d], &k))
            return;
        taps *= k;
    }
    int64_t work = cg * taps * p->nk * p->nv;
    int64_t gpi = GROUP_ITEM_FMAS / (work > 0 ? work : 1);
    p->groups_per_item = (int32_t)(gpi < 1 ? 1 : gpi > groups ? groups : gpi);
}

void pass_schedule_parallel(Arena *a, Schedule *s)
{
    (void)a;
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if (n->op == NODE_CONV)
            plane_groups(n, p);
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
