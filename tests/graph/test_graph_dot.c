/* test_graph_dot.c - the DOT text of `convc graph`, without Graphviz:
 * every stage once with the check table's text, inputs/constants/outputs
 * each marked their own way, one edge per operand, and a cluster for
 * exactly the stages the optimiser put into one loop nest. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "graph_dot.h"

static char dir[64];

/* A new directory for the script and its files. */
static void new_dir(void)
{
    strcpy(dir, "/tmp/convc-dot-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void write_file(const char *name, const void *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* The DOT text of script, written into dir and compiled for cpu (NULL:
 * reference nests only, nothing fused), with size symbols bound by syms. */
static char *dot_in_dir(const char *script, const char *cpu, const SymBinding *syms, int nsyms)
{
    write_file("s.conv", script, strlen(script));
    char path[256];
    snprintf(path, sizeof path, "%s/s.conv", dir);
    Arena a;
    arena_init(&a);
    CompileOptions o = { .script = path, .cpu = cpu ? cpu : "x86-64-v4", .opt_level = 3,
                         .syms = syms, .nsyms = nsyms, .no_kernels = !cpu };
    Compiled c;
    memset(&c, 0, sizeof c);
    cr_assert(driver_front(&a, &o, &c, false, "x86-64-v4"));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    graph_dot_write(f, &a, c.graph, c.sched);
    fclose(f);
    arena_free(&a);
    return text;
}

static char *dot_of(const char *script, const char *cpu, const SymBinding *syms, int nsyms)
{
    new_dir();
    return dot_in_dir(script, cpu, syms, nsyms);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

/* The text of the first cluster, from "subgraph" to its closing brace. */
static char *first_cluster(const char *text)
{
    const char *p = strstr(text, "subgraph cluster_");
    cr_assert_not_null(p, "no cluster in\n%s", text);
    const char *end = strstr(p, "\n    }\n");
    cr_assert_not_null(end);
    return strndup(p, (size_t)(end - p));
}

static const char CNN[] =
    "pipeline block {\n"
    "  input x: f32[8, 32, 32]\n"
    "  input w1: f32[16, 8, 3, 3]\n"
    "  input b1: f32[16]\n"
    "  input w2: f32[4, 16]\n"
    "  output y = x |> conv2d(w1, bias=b1, pad=1) |> relu |> maxpool2d(2) |> conv1x1(w2)\n"
    "}\n";

Test(graph_dot, fused_stages_are_one_cluster)
{
    char *dot = dot_of(CNN, "x86-64-v4", NULL, 0);
    cr_assert_eq(strncmp(dot, "digraph \"block\" {\n", 18), 0, "%s", dot);
    cr_assert_eq(count(dot, "subgraph cluster_"), 1, "%s", dot);
    char *cl = first_cluster(dot);
    /* the convolution, its relu epilogue and the pool on its tiles */
    cr_assert_not_null(strstr(cl, "label=\"line 6: conv2d 3x3 p1\\n[16, 32, 32]\\n1,179,648 MACs, direct\""),
                       "%s", cl);
    cr_assert_not_null(strstr(cl, "label=\"line 6: relu\\n[16, 32, 32]\""), "%s", cl);
    cr_assert_not_null(strstr(cl, "label=\"line 6: maxpool2d 2x2 s2\\n[16, 16, 16]\\n16,384 MACs\""), "%s", cl);
    cr_assert_not_null(strstr(cl, "label=\"fused: one loop nest (epilogue, pool on tiles)\""), "%s", cl);
    cr_assert_null(strstr(cl, "conv1x1"));
    /* the output outside it, drawn with a double border */
    cr_assert_not_null(strstr(dot, "n7 [shape=box, style=\"rounded,filled,bold\", fillcolor=\"#ffd9a8\", "
                                   "peripheries=2, label=\"line 6: output y = conv1x1\\n[4, 16, 16]\\n"
                                   "16,384 MACs, direct\"];"), "%s", dot);
    /* inputs in their own colour, each once */
    cr_assert_eq(count(dot, "fillcolor=\"#cfe3ff\""), 4);
    cr_assert_not_null(strstr(dot, "label=\"line 2: input x\\n[8, 32, 32]\""));
    /* every operand an edge: conv(x, w1, b1), relu, pool, conv1x1(pool, w2) */
    static const char *const edges[] = { "n0 -> n4;", "n1 -> n4;", "n2 -> n4;", "n4 -> n5;",
                                         "n5 -> n6;", "n6 -> n7;", "n3 -> n7;" };
    for (int i = 0; i < 7; i++)
        cr_assert_eq(count(dot, edges[i]), 1, "%s in\n%s", edges[i], dot);
    cr_assert_eq(count(dot, " -> "), 7);
    cr_assert_eq(strcmp(dot + strlen(dot) - 2, "}\n"), 0);
    free(cl);
    free(dot);
}

Test(graph_dot, nothing_fused_no_cluster)
{
    char *dot = dot_of(CNN, NULL, NULL, 0);
    cr_assert_eq(count(dot, "subgraph"), 0, "%s", dot);
    cr_assert_eq(count(dot, " [shape="), 8);    /* 4 inputs, 4 stages */
    free(dot);
}

Test(graph_dot, epilogue_cluster_and_algorithms)
{
    static const char script[] =
        "pipeline algos {\n"
        "  input img: f32[H, W]\n"
        "  a = conv2d(img, gaussian2d(7, 1.5), pad=same, method=separable)\n"
        "  b = conv2d(img, box2d(31), pad=same, method=fft)\n"
        "  output y = a + b\n"
        "}\n";
    SymBinding syms[2] = { { "H", 64 }, { "W", 64 } };
    char *dot = dot_of(script, "x86-64-v4", syms, 2);
    cr_assert_not_null(strstr(dot, "label=\"line 4: b = conv2d 31x31 p15\\n[64, 64]\\n3,936,256 MACs, fft\""),
                       "%s", dot);
    char *cl = first_cluster(dot);
    cr_assert_not_null(strstr(cl, "label=\"fused: one loop nest (epilogue)\""), "%s", cl);
    cr_assert_not_null(strstr(cl, "label=\"line 3: a = conv2d 7x7 p3\\n[64, 64]\\n200,704 MACs, separable\""),
                       "%s", cl);
    cr_assert_not_null(strstr(cl, "label=\"line 5: output y = +\\n[64, 64]\""), "%s", cl);
    cr_assert_null(strstr(cl, "fft"));
    /* constants as notes, their edges grey */
    cr_assert_not_null(strstr(dot, "n1 [shape=note, style=filled, fillcolor=\"#eeeeee\", fontsize=9, "
                                   "label=\"line 3: const gaussian2d\\n[7, 7]\"];"), "%s", dot);
    cr_assert_eq(count(dot, "[color=gray50]"), 2);
    free(cl);
    free(dot);

    /* unbound sizes: the MACs as the check table shows them */
    dot = dot_of(script, "x86-64-v4", NULL, 0);
    cr_assert_not_null(strstr(dot, "label=\"line 4: b = conv2d 31x31 p15\\n[H, W]\\nH*W*961 MACs, fft\""),
                       "%s", dot);
    free(dot);
}

Test(graph_dot, quotes_and_backslashes_are_escaped)
{
    /* a .npy file of 3 float32 named w\x.npy, which the script loads */
    char npy[128 + 12] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
    size_t hlen = strlen(npy + 10) + 10;
    memset(npy + hlen, ' ', 127 - hlen);
    npy[127] = '\n';
    float data[3] = { 1, 2, 3 };
    memcpy(npy + 128, data, sizeof data);
    new_dir();
    write_file("w\\x.npy", npy, sizeof npy);
    static const char script[] =
        "pipeline esc {\n"
        "  input s: f32[8]\n"
        "  const k = load(\"w\\\\x.npy\")\n"
        "  output y = convolve(s, k)\n"
        "}\n";
    char *dot = dot_in_dir(script, "x86-64-v3", NULL, 0);
    /* load "w\x.npy" as a DOT string: load \"w\\x.npy\" */
    cr_assert_not_null(strstr(dot, "label=\"line 3: const k = load \\\"w\\\\x.npy\\\"\\n[3]\""), "%s", dot);
    free(dot);
}
