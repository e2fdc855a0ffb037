/* check.c - convc check: the stage table. */
#include "cli.h"

#include <string.h>

#include "factor.h"

/* ---- convc check ------------------------------------------------------------ */

/* The table's method column: how a filtering stage computes its sums and
 * what that costs, with what auto would save where it would change it. */
static const char *method_note(void *ctx, Arena *a, const Node *n)
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

int cmd_check(Arena *a, const Options *given)
{
    Options with_shapes = *given;
    const Options *o = &with_shapes;
    InputShape *shapes;
    if (load_input_shapes(a, given, &shapes, &with_shapes.nshapes) != 0)
        return 1;
    with_shapes.shapes = shapes;
    Compiled c;
    memset(&c, 0, sizeof c);
    if (!cli_front(a, o, &c, false, "native"))
        return 1;
    if (o->dump & (DUMP_LLVM | DUMP_ASM)) {
        CgModule *m = cli_back(o, c.ir, "native");
        if (!m)
            return 1;
        cg_free(m);
    }
    graph_print_table(stdout, a, c.graph, method_note, c.sched);
    if (c.diag.warnings)
        fprintf(stdout, "  %d warning%s\n", c.diag.warnings, c.diag.warnings == 1 ? "" : "s");
    return 0;
}

