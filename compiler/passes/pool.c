/* passes/pool.c - a pool that consumes a convolution's tiles.
 *
 * Needs: kernels chosen (passes/kernels.c) and epilogues fused
 * (passes/epilogue.c).
 * Establishes: when a 2-D convolution computed by the plane kernel is read
 * only by a max or average pool (after its epilogue), plan.pool of the
 * convolution names that pool and plan.pool_rows how many pooled rows one
 * work item makes.  The fused nest computes, per work item, the
 * convolution rows those pooled rows need into a buffer private to the
 * item, then pools them: the convolution's output never goes to memory
 * as a whole.  Rows that two work items both need (a window taller than
 * its stride) are computed by both -- the same operations, so the same
 * values; pool_rows is chosen to keep that recomputation and the tiles
 * that run past a strip's end small.  A max pool after the channel-vector
 * kernel (conv-chan) is fused the same way, over a ring of rows (below).
 * For the plane kernel, skipped when the sizes are not known when
 * compiling (the private strip has a fixed size). */
#include "passes.h"

enum { MAX_STRIP_BYTES = 96 << 10, CHAN_ITEMS = 8, CHAN_OPEN_POOL_ROWS = 14 };

static bool known(const SymExpr *e, int64_t *v) { return e && sym_is_const(e, v); }

void pass_fuse_pools(Arena *a, Schedule *s)
{
    (void)a;
    const Graph *g = s->graph;
    int64_t vl = s->target.vlen;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if ((p->kernel != KERNEL_CONV_PLANE && p->kernel != KERNEL_CONV_CHAN) || p->fused_into ||
            n->conv.win.nsp != 2 || p->plane_row || p->dw_chan || p->chan_rows > 1)
            continue;
        const Node *last = schedule_store_node(s, n);
        if (s->is_output[last->id] || last->nuses != 1 || s->consumers[last->id].len != 1)
            continue;
        const Node *pool = s->consumers[last->id].items[0];
        StagePlan *pp = schedule_plan(s, pool);
        if (pp->kernel != KERNEL_POOL_ROWS || pool->pool.win.nsp != 2)
            continue;
        const WindowParams *w = &pool->pool.win;
        int64_t ohc, owc, ph, k, d = w->dilation[0], st = w->stride[0];
        int32_t r = n->shape.rank;
        if (p->kernel == KERNEL_CONV_CHAN) {
            /* conv-chan computes an item's convolution rows in order into
             * a ring and pools each pooled row once its window is in; an
             * item is a chunk of pooled rows, whose first window rows the
             * item before computed too.  About CHAN_ITEMS chunks a channel
             * block: enough to share among threads, little recomputation;
             * with the pooled height a symbol, CHAN_OPEN_POOL_ROWS pooled
             * rows an item (the rings are then a scratch buffer, one an
             * item: their size depends on the width). */
            if (!pool->pool.is_max)
                continue;
            int64_t K, blocks = 1;
            if (known(n->in[1]->shape.dims[0], &K))
                blocks = n->conv.groups * ((K / n->conv.groups + p->nk - 1) / p->nk);
            int64_t chunks = (CHAN_ITEMS + blocks - 1) / blocks;
            p->pool = pool;
            p->pool_rows = known(pool->shape.dims[r - 2], &ph) ? (int32_t)((ph + chunks - 1) / chunks)
                                                               : CHAN_OPEN_POOL_ROWS;
            pp->fused_into = n;
            continue;
        }
        if (!known(n->shape.dims[r - 2], &ohc) || !known(n->shape.dims[r - 1], &owc) ||
            !known(pool->shape.dims[r - 2], &ph) || !known(w->k[0], &k))
            continue;
        /* the input rows are the convolution's virtual rows: the kernel's
         * row pitch is at least the output width (conv_plane.c) */
        int64_t wv = owc;
        int64_t tile = p->nv * vl, best = 0;
        double best_cost = 1e30;
        for (int64_t rows = 1; rows <= ph; rows++) {
            int64_t crows = (rows - 1) * st + (k - 1) * d + 1;
            if (crows > ohc)
                crows = ohc;
            if ((int64_t)p->nk * crows * owc * 4 > MAX_STRIP_BYTES)
                break;
            int64_t positions = crows * wv, tiles = (positions + tile - 1) / tile;
            /* work per pooled row: computed positions, over what is needed */
            double cost = (double)(tiles * tile) / (double)(rows * st * wv);
            if (cost < best_cost - 1e-9) {
                best_cost = cost;
                best = rows;
            }
        }
        if (best == 0)
            continue;
        p->pool = pool;
        p->pool_rows = (int32_t)best;
        pp->fused_into = n;
    }
}
