/* passes/algorithm.c - how each filtering stage computes its sums.
 *
 * Needs: kernels chosen (passes/kernels.c).
 * Establishes: plan.algorithm for every stage computed by the stencil
 * kernel, and its estimated cost in FMAs per call (plan.cost, with
 * plan.cost_direct for comparison) where sizes are known.
 *
 * direct (the default) sums every output's taps in the order written: the
 * results do not depend on the compiler's choices.  separable applies a
 * rank-1 2-D kernel (factor.h) as a row pass then a column pass, kh + kw
 * multiply-adds per output instead of kh*kw, in strips of rows so that the
 * row pass's output stays in cache; its sums are in another order, so it
 * rounds differently (docs/language.md gives the measured error).  A
 * stage gets it when its method= says separable, or says auto (or the
 * command line says --method=auto) and the kernel is separable and large
 * enough to gain (kh*kw > 2*(kh + kw): 5x5 and up).  --method=direct keeps
 * every stage direct whatever the script says. */
#include "passes.h"

#include "factor.h"

static double known_numel(const Shape *s)
{
    double n = 1;
    for (int32_t i = 0; i < s->rank; i++) {
        int64_t v;
        if (!sym_is_const(s->dims[i], &v))
            return 0;
        n *= (double)v;
    }
    return n;
}

void pass_choose_algorithms(Arena *a, Schedule *s)
{
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if (p->kernel != KERNEL_STENCIL_ROWS || n->op != NODE_CONV)
            continue;
        const Node *w = n->in[1];
        int64_t kh = 1, kw = 1;
        for (int32_t d = 0; d < w->shape.rank; d++) {
            int64_t v;
            sym_is_const(w->shape.dims[d], &v);
            if (d == w->shape.rank - 1)
                kw = v;
            else
                kh = v;
        }
        double out = known_numel(&n->shape);
        p->cost_direct = out * (double)(kh * kw);
        p->cost = p->cost_direct;
        Method m = n->conv.method;
        if (s->policy == POLICY_DIRECT)
            m = METHOD_DIRECT;
        else if (s->policy == POLICY_AUTO)
            m = METHOD_AUTO;
        bool shape_ok = n->conv.per_channel && n->conv.win.nsp == 2 && w->op == NODE_CONST &&
                        n->conv.win.stride[0] == 1 && n->conv.win.stride[1] == 1;
        bool want = m == METHOD_SEPARABLE ||
                    (m == METHOD_AUTO && kh * kw > 2 * (kh + kw));
        if (!want || !shape_ok)
            continue;       /* (a large kernel is direct only if it has few taps:
                               passes/kernels.c leaves the others scalar) */
        float *u = arena_array(a, (size_t)kh, sizeof *u);
        float *v = arena_array(a, (size_t)kw, sizeof *v);
        if (kernel_rank1(w->cst.data, kh, kw, u, v) > SEPARABLE_TOLERANCE)
            continue;       /* auto on a kernel that does not factor */
        if (n->conv.flip) {
            for (int64_t k = 0; k < kh / 2; k++) {
                float t = u[k]; u[k] = u[kh - 1 - k]; u[kh - 1 - k] = t;
            }
            for (int64_t k = 0; k < kw / 2; k++) {
                float t = v[k]; v[k] = v[kw - 1 - k]; v[kw - 1 - k] = t;
            }
        }
        p->algorithm = ALGO_SEPARABLE;
        p->sep_u = u;
        p->sep_v = v;
        p->cost = out * (double)(kh + kw);
    }
}
