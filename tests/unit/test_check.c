/* The checker: exact diagnostics (message, source line, caret), every
 * error of the phase reported, runtime checks for size symbols. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "graph.h"

typedef struct Result {
    Graph *graph;
    char  *text;    /* everything reported, malloc'ed */
    int    errors, warnings;
} Result;

static Arena arena;

static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_free(&arena); }
TestSuite(check, .init = setup, .fini = teardown);

static Result check(const char *script)
{
    Result r = { 0 };
    size_t size = 0;
    FILE *out = open_memstream(&r.text, &size);
    Source *src = arena_alloc(&arena, sizeof *src);
    src->filename = "t.conv";
    src->text = arena_strdup(&arena, script);
    src->len = strlen(script);
    Diag d;
    diag_init(&d, src, out);
    AstPipeline *ast = ast_parse(&arena, &d, src);
    cr_assert_not_null(ast, "the test script must parse");
    CheckOptions opt = { NULL, 0, "." };
    r.graph = graph_check(&arena, &d, ast, &opt);
    fclose(out);
    r.errors = d.errors;
    r.warnings = d.warnings;
    return r;
}

#define EXPECT_TEXT(r, want) do { \
    cr_expect_str_eq((r).text, (want)); free((r).text); } while (0)

Test(check, channel_mismatch_names_both_shapes)
{
    Result r = check("pipeline p {\n  input x: f32[3, 8, 8]\n  input w: f32[4, 2, 3, 3]\n"
                     "  output y = conv2d(x, w)\n}\n");
    cr_expect_null(r.graph);
    EXPECT_TEXT(r, "t.conv:4:14: error: conv2d: the input has 3 channels (dim 0 of [3, 8, 8]) but the "
                   "weight expects 2 (dim 1 of [4, 2, 3, 3])\n"
                   "  output y = conv2d(x, w)\n"
                   "             ^~~~~~~~~~~~\n");
}

Test(check, empty_output_shows_the_formula_with_numbers)
{
    Result r = check("pipeline p {\n  input x: f32[1, 4, 4]\n  input w: f32[1, 1, 5, 5]\n"
                     "  output y = conv2d(x, w)\n}\n");
    EXPECT_TEXT(r, "t.conv:4:14: error: conv2d: output height (4 + 0 + 0 - 1*(5-1) - 1)/1 + 1 = 0 is below 1\n"
                   "  output y = conv2d(x, w)\n"
                   "             ^~~~~~~~~~~~\n");
}

Test(check, same_padding_needs_stride_one)
{
    Result r = check("pipeline p {\n  input x: f32[1, 8, 8]\n  input w: f32[1, 1, 3, 3]\n"
                     "  output y = conv2d(x, w, stride=2, pad=same)\n}\n");
    EXPECT_TEXT(r, "t.conv:4:27: error: conv2d: pad=same needs stride 1 (got stride 2); give the padding as a number\n"
                   "  output y = conv2d(x, w, stride=2, pad=same)\n"
                   "                          ^~~~~~~~\n");
}

Test(check, undefined_name_suggests_a_close_one)
{
    Result r = check("pipeline p {\n  input x: f32[1, 8, 8]\n  h = relu(x)\n  output y = relu(hh)\n}\n");
    EXPECT_TEXT(r, "t.conv:4:19: error: undefined name 'hh'; did you mean 'h'?\n"
                   "  output y = relu(hh)\n"
                   "                  ^~\n");
}

Test(check, redefinition_points_at_the_first_definition)
{
    Result r = check("pipeline p {\n  input x: f32[1, 8, 8]\n  input x: f32[1, 8, 8]\n  output y = relu(x)\n}\n");
    EXPECT_TEXT(r, "t.conv:3:9: error: 'x' is already defined\n"
                   "  input x: f32[1, 8, 8]\n"
                   "        ^\n"
                   "t.conv:2:9: note: 'x' was defined here\n"
                   "  input x: f32[1, 8, 8]\n"
                   "        ^\n");
}

Test(check, unknown_option_and_unknown_stage)
{
    Result r = check("pipeline p {\n  input x: f32[1, 8, 8]\n  input w: f32[1, 1, 3, 3]\n"
                     "  a = conv2d(x, w, strid=2)\n  output y = convlove(x, w)\n}\n");
    cr_expect_eq(r.errors, 2, "both statements are reported");
    EXPECT_TEXT(r, "t.conv:4:20: error: conv2d has no option 'strid'; did you mean 'stride'?\n"
                   "  a = conv2d(x, w, strid=2)\n"
                   "                   ^~~~~\n"
                   "t.conv:5:14: error: unknown stage 'convlove'; did you mean 'convolve'?\n"
                   "  output y = convlove(x, w)\n"
                   "             ^~~~~~~~\n");
}

Test(check, builtins_option_words_and_option_names_get_the_same_hints)
{
    Result r = check("pipeline p {\n  input img: f32[8, 8]\n"
                     "  a = conv2d(img, sobelx)\n"
                     "  b = conv2d(img, sobel_y, pad_mode=reflct)\n"
                     "  c = conv2d(img, sobel_y, padding=1)\n"
                     "  d = conv2d(img, sobel_y, pad=sme)\n"
                     "  e = mean(img, img)\n"
                     "  output y = conv2d(img, sobel_y, pad_mode=mirror)\n}\n");
    cr_expect_eq(r.errors, 6);
    EXPECT_TEXT(r, "t.conv:3:19: error: undefined name 'sobelx'; did you mean 'sobel_x'?\n"
                   "  a = conv2d(img, sobelx)\n"
                   "                  ^~~~~~\n"
                   "t.conv:4:37: error: conv2d: unknown pad_mode 'reflct'; did you mean 'reflect'?\n"
                   "  b = conv2d(img, sobel_y, pad_mode=reflct)\n"
                   "                                    ^~~~~~\n"
                   "t.conv:5:28: error: conv2d has no option 'padding'; did you mean 'pad'?\n"
                   "  c = conv2d(img, sobel_y, padding=1)\n"
                   "                           ^~~~~~~\n"
                   "t.conv:6:32: error: conv2d: unknown pad 'sme'; did you mean 'same'?\n"
                   "  d = conv2d(img, sobel_y, pad=sme)\n"
                   "                               ^~~\n"
                   "t.conv:7:7: error: unknown stage 'mean'\n"
                   "  e = mean(img, img)\n"
                   "      ^~~~\n"
                   "t.conv:8:44: error: conv2d: unknown pad_mode 'mirror' (one of zeros, reflect, replicate, circular)\n"
                   "  output y = conv2d(img, sobel_y, pad_mode=mirror)\n"
                   "                                           ^~~~~~\n");
}

Test(check, stride_that_leaves_input_unread_warns)
{
    Result r = check("pipeline p {\n  input x: f32[1, 8, 8]\n  input w: f32[1, 1, 3, 3]\n"
                     "  output y = conv2d(x, w, stride=(1, 2))\n}\n");
    cr_expect_not_null(r.graph);
    cr_expect_eq(r.warnings, 1);
    EXPECT_TEXT(r, "t.conv:4:14: warning: conv2d: stride 2 leaves the last 1 input column unread "
                   "(width (5)/2 has remainder 1)\n"
                   "  output y = conv2d(x, w, stride=(1, 2))\n"
                   "             ^~~~~~~~~~~~~~~~~~~~~~~~~~~\n");
}

Test(check, huge_dims_are_an_error_not_a_wraparound)
{
    Result r = check("pipeline p {\n  input x: f32[1000000000000, 1000000000000]\n  output y = relu(x)\n}\n");
    cr_expect_null(r.graph);
    EXPECT_TEXT(r, "t.conv:2:3: error: input 'x' [1000000000000, 1000000000000] is too large "
                   "(its size in bytes overflows 64 bits)\n"
                   "  input x: f32[1000000000000, 1000000000000]\n"
                   "  ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n");
}

Test(check, symbolic_channels_become_a_runtime_check)
{
    Result r = check("pipeline p {\n  input x: f32[C, H, W]\n  input w: f32[5, 3, 3, 3]\n"
                     "  output y = conv2d(x, w, stride=2, pad=1)\n}\n");
    cr_assert_not_null(r.graph, "%s", r.text);
    /* C == 3 is decided at run time; the output dims (H - 1)/2 + 1 and
     * (W - 1)/2 + 1 are at least 1 for every H, W >= 1 and need no check */
    cr_expect_eq(r.graph->checks.len, 1);
    GraphOutput *o = &r.graph->outputs[0];
    cr_expect_str_eq(shape_str(&arena, o->node->shape), "[5, (H - 1)/2 + 1, (W - 1)/2 + 1]");
    free(r.text);
}

Test(check, pool_pad_larger_than_half_the_window)
{
    Result r = check("pipeline p {\n  input x: f32[1, 8, 8]\n  output y = maxpool2d(x, 2, pad=2)\n}\n");
    cr_expect_eq(r.errors, 1);
    EXPECT_TEXT(r, "t.conv:3:30: error: maxpool2d: pad 2 is more than half the window size 2\n"
                   "  output y = maxpool2d(x, 2, pad=2)\n"
                   "                             ^~~~~\n");
}

Test(check, shapes_of_every_stage_kind)
{
    Result r = check("pipeline p {\n  input x: f32[2, 4, 12, 12]\n  input w: f32[6, 2, 3, 3]\n"
                     "  input s: f32[100]\n"
                     "  a = conv2d(x, w, pad=1, groups=2, dilation=2)\n"
                     "  b = maxpool2d(a, 3, stride=2, ceil_mode=true)\n"
                     "  c = avgpool2d(b, 2, pad=1)\n"
                     "  d = global_avgpool2d(c)\n"
                     "  e = concat(a, a)\n"
                     "  output o1 = d\n  output o2 = e\n"
                     "  output o3 = correlate(s, savgol(11, 3), mode=valid)\n"
                     "  output o4 = convolve(s, box(4), mode=full)\n"
                     "  output o5 = maxpool1d(s, 3, stride=2)\n}\n");
    cr_assert_not_null(r.graph, "%s", r.text);
    cr_expect_str_eq(shape_str(&arena, r.graph->outputs[0].node->shape), "[2, 6, 1, 1]");
    cr_expect_str_eq(shape_str(&arena, r.graph->outputs[1].node->shape), "[2, 12, 10, 10]");
    cr_expect_str_eq(shape_str(&arena, r.graph->outputs[2].node->shape), "[90]");
    cr_expect_str_eq(shape_str(&arena, r.graph->outputs[3].node->shape), "[103]");
    cr_expect_str_eq(shape_str(&arena, r.graph->outputs[4].node->shape), "[49]");
    free(r.text);
}

Test(check, bad_option_values)
{
    Result r = check("pipeline p {\n  input x: f32[1, 8, 8]\n  input w: f32[1, 1, 3, 3]\n"
                     "  a = conv2d(x, w, pad_mode=mirror)\n"
                     "  b = conv2d(x, w, stride=1.5)\n"
                     "  c = conv2d(x, w, pad=same, pad_mode=reflect, flip=yes)\n"
                     "  output y = relu(x)\n}\n");
    cr_expect_eq(r.errors, 3);
    cr_expect(strstr(r.text, "t.conv:4:29: error: conv2d: unknown pad_mode 'mirror' (one of zeros, reflect, replicate, circular)") != NULL, "%s", r.text);
    cr_expect(strstr(r.text, "t.conv:5:27: error: conv2d: stride must be an integer, not a fraction") != NULL, "%s", r.text);
    cr_expect(strstr(r.text, "t.conv:6:53: error: conv2d: flip must be true or false") != NULL, "%s", r.text);
    free(r.text);
}

#include "header.h"
#include "lower.h"

static char *name_error(const char *script)
{
    Result r = check(script);
    cr_assert_not_null(r.graph, "%s", r.text);
    free(r.text);
    LowerOptions lo = { .parallel = false };
    IrProgram *p = lower_graph(&arena, r.graph, NULL, &lo);
    char *err = NULL;
    int rc = header_check_names(p, &err);
    cr_assert_eq(rc == 0, err == NULL);
    return err;
}

Test(check, names_that_cannot_become_c_symbols_are_refused_for_objects)
{
    char *e = name_error("pipeline main {\n  input x: f32[4]\n  output y = relu(x)\n}\n");
    cr_expect_str_eq(e, "t.conv: error: the pipeline name 'main' would define the program's main(); "
                        "an object exports it as a C function, so rename the pipeline");
    free(e);
    e = name_error("pipeline p {\n  input int: f32[4]\n  output y = relu(int)\n}\n");
    cr_expect_str_eq(e, "t.conv: error: the input name 'int' is a C keyword; it becomes a parameter "
                        "name in the generated header, so rename it");
    free(e);
    e = name_error("pipeline convrt_tensor_alloc {\n  input x: f32[4]\n  output y = relu(x)\n}\n");
    cr_expect(e && strstr(e, "uses the runtime's prefix convrt_"), "%s", e ? e : "(accepted)");
    free(e);
    cr_expect_null(name_error("pipeline edges {\n  input img: f32[4]\n  output mag = relu(img)\n}\n"));
}

/* ---- long pipelines: sizes stay short, and certain emptiness is an error */

static char *chain_script(const char *stage, int n)
{
    size_t cap = (size_t)n * 64 + 256, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "pipeline p {\n  input x: f32[H, W]\n  const k = box2d(3)\n");
    for (int i = 1; i <= n; i++) {
        char in[16], out[16];
        snprintf(in, sizeof in, i == 1 ? "x" : "t%d", i - 1);
        snprintf(out, sizeof out, i == n ? "y" : "t%d", i);
        len += (size_t)snprintf(s + len, cap - len, "  %s%s = %s(%s%s)\n", i == n ? "output " : "", out, stage,
                                in, strcmp(stage, "conv2d") ? ", 2" : ", k, pad=same");
    }
    snprintf(s + len, cap - len, "}\n");
    return s;
}

static char *table_of(Graph *g)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    graph_print_table(out, &arena, g, NULL, NULL);
    fclose(out);
    return text;
}

Test(check, symbolic_sizes_stay_short_over_a_long_chain)
{
    char *script = chain_script("conv2d", 1000);
    Result r = check(script);
    free(script);
    cr_assert_not_null(r.graph, "%s", r.text);
    free(r.text);
    cr_expect_eq(r.graph->checks.len, 0, "H and W are at least 1: no runtime check is needed");
    char *table = table_of(r.graph);
    cr_expect(strstr(table, "  total MACs: H*W*9000\n") != NULL, "%s", strstr(table, "total MACs"));
    free(table);
}

Test(check, halvings_that_empty_every_input_are_an_error_at_the_first_such_stage)
{
    char *script = chain_script("maxpool2d", 2000);
    Result r = check(script);
    free(script);
    cr_expect_null(r.graph);
    cr_expect_eq(r.errors, 2, "height and width, once each");
    const char *want =
        "t.conv:64:9: error: maxpool2d: output height (H/1152921504606846976 + 0 + 0 - 1*(2-1) - 1)/2 + 1 = "
        "H/2305843009213693952 is at most 0 for every input, so it is always empty (H is at most "
        "2305843009213693951: an input's size in bytes must fit 64 bits)\n"
        "  t61 = maxpool2d(t60, 2)\n"
        "        ^~~~~~~~~~~~~~~~~\n";
    cr_expect(strncmp(r.text, want, strlen(want)) == 0, "%s", r.text);
    free(r.text);
}

Test(check, dims_that_differ_for_every_input_are_an_error)
{
    Result r = check("pipeline p {\n  input x: f32[H, W]\n  y = conv2d(x, box2d(3))\n  output z = x + y\n}\n");
    EXPECT_TEXT(r, "t.conv:4:14: error: '+': dim 0 of the operands: H != H - 2 for every input (they differ by 2)\n"
                   "  output z = x + y\n"
                   "             ^~~~~\n");
}

Test(check, long_formulas_in_runtime_checks_are_named)
{
    /* Pooling a full convolution: floor((n + U - 1 - 3)/3) + 1 has two
     * terms inside, so no floor folds and the sizes nest.  Each runtime
     * check names the previous stage's size once its formula is long,
     * instead of repeating it. */
    Result r = check("pipeline p {\n  input v: f32[1, W]\n  input u: f32[1, U]\n"
                     "  a = convolve(v, u, mode=full)\n  b = avgpool1d(a, 3, stride=3)\n"
                     "  c = convolve(b, u, mode=full)\n  d = avgpool1d(c, 3, stride=3)\n"
                     "  e = convolve(d, u, mode=full)\n  f = avgpool1d(e, 3, stride=3)\n"
                     "  g = convolve(f, u, mode=full)\n  h = avgpool1d(g, 3, stride=3)\n"
                     "  i = convolve(h, u, mode=full)\n  output j = avgpool1d(i, 3, stride=3)\n}\n");
    cr_assert_not_null(r.graph, "%s", r.text);
    free(r.text);
    cr_assert_eq(r.graph->checks.len, 5);
    const GraphCheck *k = r.graph->checks.items[2];
    cr_expect_str_eq(k->what, "t.conv:9:7: avgpool1d: output length (d.dims[1] + U - 1 + 0 + 0 - 1*(3-1) - 1)/3 + 1");
    k = r.graph->checks.items[4];
    cr_expect_str_eq(k->what, "t.conv:13:14: avgpool1d: output length (g.dims[1]/3 + U - 1 + 0 + 0 - 1*(3-1) - 1)/3 + 1");
    cr_expect_str_eq(shape_str(&arena, r.graph->outputs[0].node->shape), "[1, (g.dims[1]/3 + U - 1)/3]");
}

Test(check, separable_method_on_a_kernel_that_does_not_factor_is_an_error_at_the_option)
{
    Result r = check("pipeline p {\n  input x: f32[8, 8]\n"
                     "  output y = conv2d(x, laplacian, pad=same, method=separable)\n}\n");
    cr_expect_null(r.graph);
    EXPECT_TEXT(r, "t.conv:3:52: error: conv2d: method=separable: this 3x3 kernel is not the product "
                   "of a column and a row (the closest such product is off by 0.062 of its largest "
                   "entry; at most 1e-06 is taken as separable)\n"
                   "  output y = conv2d(x, laplacian, pad=same, method=separable)\n"
                   "                                                   ^~~~~~~~~\n");
}

Test(check, separable_method_needs_a_kernel_known_when_compiling)
{
    Result r = check("pipeline p {\n  input x: f32[8, 8]\n  input k: f32[3, 3]\n"
                     "  output y = conv2d(x, k, method=separable)\n}\n");
    cr_expect_null(r.graph);
    EXPECT_TEXT(r, "t.conv:4:34: error: conv2d: method=separable needs one 2-D kernel known when "
                   "compiling (a constant [FH, FW]), applied to every plane\n"
                   "  output y = conv2d(x, k, method=separable)\n"
                   "                                 ^~~~~~~~~\n");
}

Test(check, separable_methods_that_apply_check_and_unknown_methods_are_named)
{
    Result g = check("pipeline p {\n  input x: f32[8, 8]\n"
                     "  a = conv2d(x, gaussian2d(5, 1.0), pad=same, method=separable)\n"
                     "  b = conv2d(a, sobel_x, pad=same, pad_mode=reflect, method=auto)\n"
                     "  output y = convolve(b, box2d(3), method=separable)\n}\n");
    cr_expect_not_null(g.graph, "%s", g.text);
    cr_expect_eq(g.errors, 0);
    free(g.text);
    Result r = check("pipeline p {\n  input x: f32[8, 8]\n"
                     "  output y = conv2d(x, sobel_x, method=fastest)\n}\n");
    cr_expect_null(r.graph);
    cr_expect(strstr(r.text, "conv2d: unknown method 'fastest' (one of direct, auto, separable, fft)") != NULL,
              "%s", r.text);
    free(r.text);
}

/* The mode words are words as option values, even where a binding of the
 * same name exists. */
Test(check, mode_words_win_over_bindings_of_the_same_name)
{
    Result g = check("pipeline p {\n  input s: f32[100]\n  input h: f32[9]\n  input x: f32[20, 20]\n"
                     "  output same = correlate(s, h, mode=same)\n"
                     "  output valid = convolve(s, h, mode=valid)\n"
                     "  output full = conv2d(x, box2d(3), pad=same, pad_mode=replicate)\n"
                     "  output v2 = conv2d(x, box2d(3), pad=valid)\n"
                     "  output f2 = conv2d(x, box2d(3), pad=full, method=direct)\n}\n");
    cr_assert_not_null(g.graph, "%s", g.text);
    cr_expect_eq(g.errors, 0, "%s", g.text);
    int64_t want[5] = {100, 92, 20, 18, 22};
    for (int i = 0; i < 5; i++) {
        int64_t v = -1;
        cr_expect(sym_is_const(g.graph->outputs[i].node->shape.dims[0], &v) && v == want[i],
                  "output %d: dim 0 is %lld, want %lld", i, (long long)v, (long long)want[i]);
    }
    free(g.text);
}
