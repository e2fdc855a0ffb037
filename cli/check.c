/* check.c - convc check: the stage table. */
#include "cli.h"

#include <string.h>

/* ---- convc check ------------------------------------------------------------ */

int cmd_check(Arena *a, const Options *given)
{
    Options with_shapes = *given;
    const Options *o = &with_shapes;
    InputShape *shapes;
    const char **why;
    int unread = load_input_shapes(a, given, &shapes, &with_shapes.nshapes, &why);
    with_shapes.shapes = shapes;
    Compiled c;
    memset(&c, 0, sizeof c);
    bool front = cli_front(a, o, &c, false, "native");
    report_input_shapes(o, why);      /* after the script's own errors */
    if (!front || unread)
        return 1;
    if (o->dump & (DUMP_LLVM | DUMP_ASM)) {
        CgModule *m = cli_back(o, c.ir, "native");
        if (!m)
            return 1;
        cg_free(m);
    }
    graph_print_table(stdout, a, c.graph, schedule_method_note, c.sched);
    if (c.diag.warnings)
        fprintf(stdout, "  %d warning%s\n", c.diag.warnings, c.diag.warnings == 1 ? "" : "s");
    return 0;
}

