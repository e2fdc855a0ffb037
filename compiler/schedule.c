/* schedule.c - the per-stage plan table (schedule.h). */
#include "schedule.h"

#include <string.h>

Schedule *schedule_new(Arena *a, const Graph *g, const Target *t)
{
    Schedule *s = arena_alloc(a, sizeof *s);
    s->graph = g;
    s->target = *t;
    int32_t maxid = 0;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        if (n->id + 1 > maxid)
            maxid = n->id + 1;
    }
    s->nplans = maxid;
    s->plan = arena_array(a, (size_t)maxid + 1, sizeof *s->plan);
    s->consumers = arena_array(a, (size_t)maxid + 1, sizeof *s->consumers);
    s->is_output = arena_array(a, (size_t)maxid + 1, sizeof *s->is_output);
    for (int32_t i = 0; i < g->nodes.len; i++) {
        Node *n = g->nodes.items[i];
        for (int32_t k = 0; k < n->nin; k++)
            ptrvec_push(a, &s->consumers[n->ins[k]->id], n);
    }
    for (int32_t o = 0; o < g->noutputs; o++)
        s->is_output[g->outputs[o].node->id] = true;
    return s;
}

const Node *schedule_store_node(const Schedule *s, const Node *n)
{
    const StagePlan *p = &s->plan[n->id];
    if (p->pool)
        return schedule_store_node(s, p->pool);
    return p->nepilogue ? p->epilogue[p->nepilogue - 1] : n;
}

const Node *schedule_root(const Schedule *s, const Node *n)
{
    while (s->plan[n->id].fused_into)
        n = s->plan[n->id].fused_into;
    return n;
}

static const char *kernel_name(StageKernel k)
{
    switch (k) {
    case KERNEL_SCALAR:     return "scalar";
    case KERNEL_CONV_PLANE: return "conv-plane";
    case KERNEL_CONV_ROWS:  return "conv-rows";
    case KERNEL_CONV_CHAN:  return "conv-chan";
    case KERNEL_POOL_ROWS:  return "pool-rows";
    case KERNEL_STENCIL_ROWS: return "stencil-rows";
    case KERNEL_FFT:        return "fft";
    }
    return "?";
}

static const char *node_label(const Node *n, char *buf, size_t size)
{
    if (n->name)
        snprintf(buf, size, "%s", n->name);
    else
        snprintf(buf, size, "#%d", (int)n->id);
    return buf;
}

void schedule_dump(FILE *out, const Schedule *s, const char *after_pass)
{
    const Graph *g = s->graph;
    fprintf(out, "schedule after %s (target %s, %d-lane vectors):\n", after_pass,
            s->target.cpu, (int)s->target.vlen);
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        if (n->op == NODE_INPUT || n->op == NODE_CONST)
            continue;
        const StagePlan *p = &s->plan[n->id];
        char name[64], other[64];
        fprintf(out, "  %-12s %-22s", node_label(n, name, sizeof name), n->desc);
        bool is_fused_pool = p->fused_into && s->plan[p->fused_into->id].pool == n;
        if (p->fused_into && !is_fused_pool) {
            fprintf(out, " fused into %s\n", node_label(p->fused_into, other, sizeof other));
            continue;
        }
        if (is_fused_pool)
            fprintf(out, " (fused into %s)", node_label(p->fused_into, other, sizeof other));
        fprintf(out, " %s", kernel_name(p->kernel));
        if (p->kernel == KERNEL_CONV_PLANE || p->kernel == KERNEL_CONV_ROWS ||
            p->kernel == KERNEL_CONV_CHAN)
            fprintf(out, " %dx%d", (int)p->nk, (int)p->nv);
        if (p->kernel == KERNEL_CONV_CHAN && p->tap_loop)
            fputs(", column taps in a loop", out);
        if (p->plane_row)
            fputs(", the plane as one row", out);
        if (p->chan_rows > 1)
            fprintf(out, ", %d rows a block", (int)p->chan_rows);
        if (p->dw_chan)
            fputs(", depthwise planes transposed", out);
        if (p->dw_rows)
            fputs(", depthwise planes by sliding rows", out);
        if (p->rows_pair)
            fputs(", row tails in pairs", out);
        if (p->kernel == KERNEL_STENCIL_ROWS)
            fprintf(out, " %d rows x %d vectors%s", (int)p->nk, (int)p->nv,
                    p->tap_loop ? ", taps in loops" : "");
        if (p->algorithm == ALGO_SEPARABLE && p->sep_tile_cols)
            fprintf(out, ", separable (row pass, then column pass, in strips of %d-column tiles)",
                    (int)p->sep_tile_cols);
        else if (p->algorithm == ALGO_SEPARABLE)
            fputs(", separable (row pass, then column pass, in strips)", out);
        if (p->algorithm == ALGO_FFT)
            fputs(" (overlap-save blocks in the runtime)", out);
        if (p->input_layout == LAYOUT_PHASES)
            fputs(", input in phase planes", out);
        if (p->input_layout == LAYOUT_LINES)
            fputs(", input planes copied to whole lines", out);
        if (p->groups_per_item > 1)
            fprintf(out, ", %d groups an item", (int)p->groups_per_item);
        if (p->pack_weights)
            fputs(p->pack_in_items ? ", weights packed by the work items" : ", packed weights", out);
        if (p->materialise)
            fputs(", materialised", out);
        if (p->nepilogue) {
            fputs(", epilogue", out);
            for (int32_t k = 0; k < p->nepilogue; k++)
                fprintf(out, "%s %s", k ? " ->" : "", p->epilogue[k]->desc);
        }
        if (p->pool)
            fprintf(out, ", then %s on tiles of %d pooled rows", p->pool->desc, (int)p->pool_rows);
        if (p->par_count > 1)
            fprintf(out, ", parallel over output dims %d..%d", (int)p->par_first,
                    (int)(p->par_first + p->par_count - 1));
        if (p->alt) {
            fprintf(out, "; rows of");
            for (int32_t k = 0; k < p->alt_widths; k++)
                fprintf(out, "%s %d", k ? (k + 1 < p->alt_widths ? "," : " or") : "",
                        (int)CHAN_ALT_WIDTHS[k]);
            fprintf(out, ": %s %dx%d%s%s", kernel_name(p->alt->kernel), (int)p->alt->nk, (int)p->alt->nv,
                    p->alt->tap_loop ? ", column taps in a loop" : "",
                    p->alt->pack_in_items ? ", weights packed by the work items"
                                          : p->alt->pack_weights ? ", packed weights" : "");
        }
        fputc('\n', out);
    }
}

/* The table's method column: how a filtering stage computes its sums and
 * what that costs, with what auto would save where it would change it. */
const char *schedule_method_note(void *ctx, Arena *a, const Node *n)
{
    const Schedule *s = ctx;
    if (n->op != NODE_CONV && n->op != NODE_SIGNAL)
        return NULL;
    const StagePlan *p = schedule_plan(s, n);
    static const char *const names[] = { "direct", "separable", "fft" };
    const char *what = names[p->algorithm];
    if (p->algorithm != ALGO_DIRECT)
        return p->cost > 0 && p->cost_direct > 0
             ? arena_printf(a, "%s, %.1fx less work", what, p->cost_direct / p->cost)
             : what;
    if (p->auto_algorithm == ALGO_DIRECT || !(p->auto_cost > 0))
        return "direct";
    return arena_printf(a, "direct (method=auto: %s, %.1fx less work)", names[p->auto_algorithm],
                        p->cost_direct / p->auto_cost);
}
