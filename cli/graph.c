/* graph.c - convc graph: the stage graph as a picture.
 *
 * The compiler writes the graph as DOT text (compiler/graph_dot.h); a .dot
 * target gets that text, an .svg or .png target the picture Graphviz's
 * library (libgvc: the dot layout, then its SVG or cairo PNG renderer)
 * makes of it, in memory.  The target is checked before anything is done
 * and written like every other output of convc: completely or not at all
 * (files.c). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <graphviz/gvc.h>

#include "graph_dot.h"

/* Graphs larger than this are not laid out: the dot layout takes minutes
 * on tens of thousands of nodes.  Their DOT text can still be written. */
enum { MAX_DRAWN_NODES = 5000 };

/* ---- Graphviz's messages ---------------------------------------------------
 * Graphviz reports through a callback that receives a message in pieces
 * ("Warning", ": ", the text); they are collected here and printed as
 * convc's own. */

static char gv_msg[4096];
static size_t gv_len;

static int collect_gv_message(char *piece)
{
    size_t n = strlen(piece);
    if (gv_len + n >= sizeof gv_msg)
        n = sizeof gv_msg - 1 - gv_len;
    memcpy(gv_msg + gv_len, piece, n);
    gv_len += n;
    gv_msg[gv_len] = '\0';
    return 0;
}

/* Print what Graphviz said, one "convc: warning:" or "convc: error:" line
 * per line of it, and forget it. */
static void flush_gv_messages(bool failed)
{
    char *save = NULL;
    for (char *line = strtok_r(gv_msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        bool is_warning = !strncmp(line, "Warning: ", 9);
        if (is_warning)
            line += 9;
        else if (!strncmp(line, "Error: ", 7))
            line += 7;
        fprintf(stderr, "convc: %s: Graphviz: %s\n", failed && !is_warning ? "error" : "warning", line);
    }
    gv_len = 0;
    gv_msg[0] = '\0';
}

/* The picture of dot in format ("svg", "png"), malloc'ed, or NULL after a
 * message. */
static char *render(const char *dot, const char *format, size_t *len)
{
    agusererrf previous = agseterrf(collect_gv_message);
    agseterr(AGWARN);
    char *result = NULL;
    GVC_t *gvc = gvContext();
    Agraph_t *g = gvc ? agmemread(dot) : NULL;
    bool laid_out = g && gvLayout(gvc, g, "dot") == 0;
    char *data = NULL;
    unsigned int n = 0;
    if (laid_out && gvRenderData(gvc, g, format, &data, &n) == 0 && data) {
        result = malloc(n ? n : 1);
        if (!result)
            arena_out_of_memory(n);
        memcpy(result, data, n);
        *len = n;
    }
    if (data)
        gvFreeRenderData(data);
    if (laid_out)
        gvFreeLayout(gvc, g);
    if (g)
        agclose(g);
    if (gvc)
        gvFreeContext(gvc);
    flush_gv_messages(!result);
    agseterrf(previous);
    if (!result)
        fail("Graphviz could not draw the graph as %s", format);
    return result;
}

/* "svg", "png" or "dot" from the target's extension (any case), or NULL
 * after a message. */
static const char *picture_format(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    static const char *const formats[] = { "svg", "png", "dot" };
    for (int i = 0; dot && i < 3; i++)
        if (!strcasecmp(dot + 1, formats[i]))
            return formats[i];
    if (dot)
        fail("-o '%s': unknown picture format '%s' (use .svg, .png or .dot)", path, dot);
    else
        fail("-o '%s' has no extension to choose the format by (.svg, .png or .dot)", path);
    return NULL;
}

int cmd_graph(Arena *a, const Options *given)
{
    Options with_shapes = *given;      /* INPUT=FILE binds sizes, as for check */
    const Options *o = &with_shapes;
    InputShape *shapes;
    const char **why;
    int unread = load_input_shapes(a, given, &shapes, &with_shapes.nshapes, &why);
    with_shapes.shapes = shapes;
    if (!o->picture)
        return fail("graph needs -o FILE.svg, FILE.png or FILE.dot");
    const char *format = picture_format(o->picture);
    if (!format)
        return 1;
    Compiled c;
    memset(&c, 0, sizeof c);
    bool front = cli_front(a, o, &c, false, "native");
    report_input_shapes(o, why);      /* after the script's own errors */
    if (!front || unread)
        return 1;

    /* The target before anything is drawn (see "output files"). */
    FileRef target = file_ref(a, arena_printf(a, "-o '%s'", o->picture), o->picture);
    FileRef *reads = arena_array(a, (size_t)c.graph->nodes.len + 1, sizeof(FileRef));
    int nreads = read_files(a, o, c.graph, reads);
    int errors = check_targets(&target, 1, reads, nreads);
    convrt_set_error_handler(report_to_stderr, NULL);
    errors += convrt_outfile_check(o->picture) != 0;
    if (!errors && strcmp(format, "dot") && c.graph->nodes.len > MAX_DRAWN_NODES)
        errors += fail("the pipeline has %d nodes; Graphviz draws at most %d in reasonable time "
                       "(write -o FILE.dot to get the graph's text)", (int)c.graph->nodes.len,
                       MAX_DRAWN_NODES);
    if (errors) {
        convrt_set_error_handler(NULL, NULL);
        return 1;
    }

    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    if (!mem)
        arena_out_of_memory(0);
    graph_dot_write(mem, a, c.graph, c.sched);
    if (fclose(mem) != 0)
        arena_out_of_memory(text_len);
    char *bytes = text;
    size_t len = text_len;
    if (strcmp(format, "dot"))
        bytes = render(text, format, &len);
    int rc = bytes ? write_files(&o->picture, &bytes, &len, 1) : 1;
    if (rc == 0 && !o->quiet) {
        int stages = 0;
        for (int32_t i = 0; i < c.graph->nodes.len; i++) {
            const Node *nd = c.graph->nodes.items[i];
            stages += nd->op != NODE_INPUT && nd->op != NODE_CONST;
        }
        printf("convc: wrote %s (%s, %d stage%s)\n", o->picture, format, stages, stages == 1 ? "" : "s");
    }
    if (bytes != text)
        free(bytes);
    free(text);
    convrt_set_error_handler(NULL, NULL);
    return rc;
}
