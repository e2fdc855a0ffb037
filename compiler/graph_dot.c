/* graph_dot.c - the stage graph as DOT text (graph_dot.h). */
#include "graph_dot.h"

#include <string.h>

/* s inside a DOT quoted string: quotes and backslashes escaped (a
 * backslash would otherwise start an escape such as \N, the node's
 * name), control characters dropped. */
static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if ((unsigned char)*s >= ' ')
            fputc(*s, out);
    }
}

static bool is_stage(const Node *n) { return n->op != NODE_INPUT && n->op != NODE_CONST; }

/* The names under which a graph output gives n, "y" or "a, b"; NULL if
 * none does. */
static const char *output_names(Arena *a, const Graph *g, const Node *n)
{
    const char *names = NULL;
    for (int32_t o = 0; o < g->noutputs; o++)
        if (g->outputs[o].node == n)
            names = names ? arena_printf(a, "%s, %s", names, g->outputs[o].name) : g->outputs[o].name;
    return names;
}

static void put_node(FILE *out, Arena *a, const Graph *g, const Schedule *s, const Node *n)
{
    static const char *const algorithms[] = { "direct", "separable", "fft" };
    const char *outs = output_names(a, g, n);
    const char *line1, *attrs;
    if (n->op == NODE_INPUT) {
        line1 = arena_printf(a, "input %s", n->name);
        attrs = "shape=box, style=\"filled,bold\", fillcolor=\"#cfe3ff\"";
    } else if (n->op == NODE_CONST) {
        line1 = n->name ? arena_printf(a, "const %s = %s", n->name, n->desc) : arena_printf(a, "const %s", n->desc);
        attrs = "shape=note, style=filled, fillcolor=\"#eeeeee\", fontsize=9";
    } else {
        line1 = n->name && !(outs && !strcmp(outs, n->name)) ? arena_printf(a, "%s = %s", n->name, n->desc) : n->desc;
        attrs = "shape=box, style=\"rounded,filled\", fillcolor=white";
    }
    if (outs) {
        line1 = arena_printf(a, "output %s = %s", outs, line1);
        attrs = "shape=box, style=\"rounded,filled,bold\", fillcolor=\"#ffd9a8\", peripheries=2";
    }
    fprintf(out, "    n%d [%s, label=\"", (int)n->id, attrs);
    fprintf(out, "line %d: ", n->loc.first_line);
    put_escaped(out, line1);
    fputs("\\n", out);
    put_escaped(out, shape_str(a, n->shape));
    const char *macs = graph_macs_text(a, g, n);
    const char *algo = s && (n->op == NODE_CONV || n->op == NODE_SIGNAL)
                     ? algorithms[schedule_plan(s, n)->algorithm] : NULL;
    if (is_stage(n) && (strcmp(macs, "-") || algo)) {
        fputs("\\n", out);
        if (strcmp(macs, "-"))
            fprintf(out, "%s MACs%s", macs, algo ? ", " : "");
        if (algo)
            fputs(algo, out);
    }
    fputs("\"];\n", out);
}

/* Whether n is computed in another stage's nest, or has stages computed
 * in its own. */
static bool in_group(const Schedule *s, const Node *n)
{
    if (!s || !is_stage(n))
        return false;
    const StagePlan *p = schedule_plan(s, n);
    return p->fused_into || p->nepilogue || p->pool;
}

void graph_dot_write(FILE *out, Arena *a, const Graph *g, const Schedule *s)
{
    fputs("digraph \"", out);
    put_escaped(out, g->name);
    fputs("\" {\n    label=\"pipeline ", out);
    put_escaped(out, g->name);
    fputs(" (", out);
    put_escaped(out, g->source_name);
    fputs(")\";\n    labelloc=t;\n    fontname=\"Helvetica\";\n"
          "    node [fontname=\"Helvetica\", fontsize=10];\n"
          "    edge [fontname=\"Helvetica\", fontsize=9];\n", out);
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        if (!in_group(s, n))
            put_node(out, a, g, s, n);
    }
    /* one cluster per stage whose nest computes others too */
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *root = g->nodes.items[i];
        if (!in_group(s, root) || schedule_plan(s, root)->fused_into)
            continue;
        const StagePlan *p = schedule_plan(s, root);
        fprintf(out, "    subgraph cluster_%d {\n", (int)root->id);
        fprintf(out, "        label=\"fused: one loop nest (%s%s%s)\";\n", p->nepilogue ? "epilogue" : "",
                p->nepilogue && p->pool ? ", " : "", p->pool ? "pool on tiles" : "");
        fputs("        style=\"rounded,dashed\"; color=\"#3060c0\"; fontcolor=\"#3060c0\"; fontsize=10;\n",
              out);
        for (int32_t j = i; j < g->nodes.len; j++) {
            const Node *n = g->nodes.items[j];
            if (n == root || (is_stage(n) && schedule_root(s, n) == root)) {
                fputs("    ", out);
                put_node(out, a, g, s, n);
            }
        }
        fputs("    }\n", out);
    }
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        for (int32_t k = 0; k < n->nin; k++) {
            const Node *from = n->ins[k];
            fprintf(out, "    n%d -> n%d%s;\n", (int)from->id, (int)n->id,
                    from->op == NODE_CONST ? " [color=gray50]" : "");
        }
    }
    fputs("}\n", out);
}
