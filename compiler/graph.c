/* graph.c - the stage table of `convc check`. */
#include "graph.h"

#include <string.h>

static const char *with_commas(Arena *a, int64_t v)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t n = strlen(digits);
    char out[48];
    size_t o = 0;
    if (v < 0)
        out[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return arena_strdup(a, out);
}

static const char *macs_str(ShapeCtx *sc, Arena *a, const Node *n)
{
    int64_t v;
    if (n->op == NODE_INPUT || n->op == NODE_CONST)
        return "-";
    if (!n->macs)
        return "overflow";
    if (sym_is_const(n->macs, &v))
        return v ? with_commas(a, v) : "-";
    const char *s = sym_str(a, sym_factored(sc, n->macs));
    return strlen(s) <= 28 ? s : "symbolic";
}

static const char *rf_str(Arena *a, const Node *n)
{
    if (n->op == NODE_INPUT || n->op == NODE_CONST || n->rf_nsp == 0)
        return "-";
    const char *s = "";
    for (int i = 0; i < n->rf_nsp; i++) {
        const char *part = n->rf[i] == -2 ? "all" : n->rf[i] < 0 ? "?"
                         : arena_printf(a, "%lld", (long long)n->rf[i]);
        s = arena_printf(a, "%s%s%s", s, i ? "x" : "", part);
    }
    return s;
}

typedef struct Row {
    const char *cell[7];
} Row;

void graph_print_table(FILE *out, Arena *a, const Graph *g, GraphStageNote method, void *ctx)
{
    static const char *const head[7] = { "line", "name", "stage", "output shape", "MACs",
                                         "receptive field", "method" };
    int32_t nrows = g->nodes.len;
    Row *rows = arena_array(a, (size_t)nrows + 1, sizeof(Row));
    size_t width[7];
    for (int k = 0; k < 7; k++)
        width[k] = strlen(head[k]);
    /* The total is a sum over every stage, collected in one pass (like
     * terms merge: H*W*9 + H*W*9 is H*W*18), and also with products
     * multiplied out, so that (H - 2)*(W - 2)*9 + (H - 4)*(W - 4)*9 + ...
     * over N stages becomes one polynomial of four terms. */
    ShapeCtx sc = g->sc ? *g->sc : (ShapeCtx){ .arena = a };
    sc.overflow = false;
    SymSum *sum = sym_sum_new(&sc), *expanded = sym_sum_new(&sc);
    bool total_known = true;
    int32_t nstages = 0;
    for (int32_t i = 0; i < nrows; i++) {
        const Node *n = g->nodes.items[i];
        Row *r = &rows[i];
        const char *name = n->name ? n->name : "";
        for (int32_t o = 0; o < g->noutputs; o++)
            if (g->outputs[o].node == n)
                name = arena_printf(a, "%s%s%s", name, *name && strcmp(name, g->outputs[o].name) ? "," : "",
                                    strcmp(name, g->outputs[o].name) ? g->outputs[o].name : "");
        for (int32_t o = 0; o < g->noutputs; o++)
            if (g->outputs[o].node == n) {
                name = arena_printf(a, "%s (out)", name);
                break;
            }
        r->cell[0] = arena_printf(a, "%d", n->loc.first_line);
        r->cell[1] = name;
        r->cell[2] = n->op == NODE_INPUT ? "input" : n->op == NODE_CONST ? arena_printf(a, "const %s", n->desc) : n->desc;
        r->cell[3] = shape_str(a, n->shape);
        r->cell[4] = macs_str(&sc, a, n);
        r->cell[5] = rf_str(a, n);
        const char *m = method && n->op != NODE_INPUT && n->op != NODE_CONST ? method(ctx, a, n) : NULL;
        r->cell[6] = m ? m : "-";
        if (n->op != NODE_INPUT && n->op != NODE_CONST) {
            nstages++;
            if (n->macs && total_known) {
                sym_sum_add(sum, n->macs);
                sym_sum_add(expanded, sym_expand(&sc, n->macs));
            } else
                total_known = false;
        }
        for (int k = 0; k < 7; k++)
            if (strlen(r->cell[k]) > width[k])
                width[k] = strlen(r->cell[k]);
    }
    fprintf(out, "pipeline %s (%s): %d input%s, %d output%s, %d stage%s\n\n", g->name,
            g->source_name, g->inputs.len, g->inputs.len == 1 ? "" : "s", g->noutputs,
            g->noutputs == 1 ? "" : "s", nstages, nstages == 1 ? "" : "s");
    /* line and MACs right-aligned, the rest left-aligned */
    for (int32_t i = -1; i < nrows; i++) {
        const char *const *cell = i < 0 ? head : rows[i].cell;
        if (method)
            fprintf(out, "  %*s  %-*s  %-*s  %-*s  %*s  %-*s  %s\n", (int)width[0], cell[0],
                    (int)width[1], cell[1], (int)width[2], cell[2], (int)width[3], cell[3],
                    (int)width[4], cell[4], (int)width[5], cell[5], cell[6]);
        else
            fprintf(out, "  %*s  %-*s  %-*s  %-*s  %*s  %s\n", (int)width[0], cell[0],
                    (int)width[1], cell[1], (int)width[2], cell[2], (int)width[3], cell[3],
                    (int)width[4], cell[4], cell[5]);
    }
    /* Multiplied out only where that makes it shorter: a sum of products
     * of floors would just grow. */
    const SymExpr *total = sym_sum_get(sum);
    total_known &= !sc.overflow;
    const SymExpr *poly = sym_sum_get(expanded);   /* its coefficients may overflow alone */
    if (!sc.overflow && (poly->kind != SYM_ADD || (total->kind == SYM_ADD && poly->n < total->n)))
        total = poly;
    int64_t tv;
    fputc('\n', out);
    if (!total_known)
        fprintf(out, "  total MACs: overflow\n");
    else if (sym_is_const(total, &tv))
        fprintf(out, "  total MACs: %s\n", with_commas(a, tv));
    else
        fprintf(out, "  total MACs: %s\n  (bind the size symbols for numbers, e.g. `convc check %s H=512`)\n",
                sym_str(a, sym_factored(&sc, total)), g->source_name);
    for (int32_t o = 0; o < g->noutputs; o++)
        fprintf(out, "  output %s: %s\n", g->outputs[o].name, shape_str(a, g->outputs[o].node->shape));
}

const char *graph_macs_text(Arena *a, const Graph *g, const Node *n)
{
    ShapeCtx sc = g->sc ? *g->sc : (ShapeCtx){ .arena = a };
    return macs_str(&sc, a, n);
}

const GraphCheck *graph_check_in_message(Arena *a, const Graph *g, const char *msg,
                                         const char **rest)
{
    const char *prefix = arena_printf(a, "pipeline '%s': ", g->name);
    *rest = strncmp(msg, prefix, strlen(prefix)) ? NULL : msg + strlen(prefix);
    for (int32_t i = 0; *rest && i < g->checks.len; i++) {
        const GraphCheck *k = g->checks.items[i];
        if (!strncmp(*rest, k->what, strlen(k->what)))
            return k;
    }
    return NULL;
}
