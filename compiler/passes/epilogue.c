/* passes/epilogue.c - apply elementwise consumers in the producer's
 * registers.
 *
 * Needs: kernels chosen (passes/kernels.c).
 * Establishes: for each stage computed by a vector kernel, the chain of
 * elementwise stages that consume it one after the other (bias added as a
 * stage, activations, arithmetic with numbers or with other tensors of the
 * same shape such as a residual) is recorded as its epilogue; the kernel
 * applies them to its accumulators before the one store.  The chain stops
 * at a stage with more than one reader, at an output, and at a non-
 * elementwise stage.  Each operation is the same as the scalar nest's, on
 * the same values, so results do not change; only the intermediate buffers
 * and the passes over memory go away. */
#include "passes.h"

static bool elementwise(const Node *n) { return n->op == NODE_UNARY || n->op == NODE_BINARY; }

void pass_fuse_epilogues(Arena *a, Schedule *s)
{
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        StagePlan *p = schedule_plan(s, n);
        if (p->kernel == KERNEL_SCALAR || p->fused_into)
            continue;
        PtrVec chain = { 0 };
        const Node *cur = n;
        while (!s->is_output[cur->id] && cur->nuses == 1 &&
               s->consumers[cur->id].len == 1) {
            const Node *e = s->consumers[cur->id].items[0];
            /* a stage already in another producer's epilogue (x + y of two
             * convolutions) stays there: one nest computes each stage */
            if (!elementwise(e) || schedule_plan(s, e)->kernel != KERNEL_SCALAR ||
                schedule_plan(s, e)->fused_into)
                break;
            ptrvec_push(a, &chain, (void *)e);
            cur = e;
        }
        if (chain.len == 0)
            continue;
        p->epilogue = (const Node **)chain.items;
        p->nepilogue = chain.len;
        for (int32_t k = 0; k < chain.len; k++)
            schedule_plan(s, chain.items[k])->fused_into = n;
    }
}
