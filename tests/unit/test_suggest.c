/* "Did you mean": the distance, the limit that grows with the length,
 * names equal but for case and underscores, prefixes, and the hints that
 * must never be given. */
#include <criterion/criterion.h>
#include <string.h>

#include "suggest.h"

static const char *const STAGES[] = {
    "conv1d", "conv2d", "conv1x1", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d",
    "global_avgpool2d", "global_maxpool2d", "convolve", "correlate", "concat", "relu",
    "leaky_relu", "sigmoid", "tanh", "abs", "sqrt", "exp", "clamp", "min", "max", "box",
    "box2d", "gaussian", "gaussian2d", "savgol", "load",
};
static const char *const CONV_OPTIONS[] = {
    "x", "w", "bias", "stride", "pad", "dilation", "groups", "pad_mode", "flip", "method",
};
static const char *const PAD_MODES[] = { "zeros", "reflect", "replicate", "circular" };
static const char *const NAMES[] = { "img", "gx", "gy", "mag", "sobel_x", "sobel_y", "laplacian" };

#define N(a) (sizeof(a) / sizeof *(a))

static void expect(const char *name, const char *const *cands, size_t n, const char *want)
{
    const char *got = suggest_closest(name, cands, n);
    if (!want)
        cr_expect_null(got, "'%s' must suggest nothing, suggested '%s'", name, got ? got : "");
    else
        cr_expect(got && !strcmp(got, want), "'%s' should suggest '%s', got '%s'", name, want,
                  got ? got : "(nothing)");
}

Test(suggest, distance_counts_swaps_as_one_edit)
{
    cr_expect_eq(suggest_distance("", ""), 0);
    cr_expect_eq(suggest_distance("abc", ""), 3);
    cr_expect_eq(suggest_distance("", "ab"), 2);
    cr_expect_eq(suggest_distance("kitten", "sitting"), 3);
    cr_expect_eq(suggest_distance("tanh", "tnah"), 1);      /* a swap */
    cr_expect_eq(suggest_distance("ca", "abc"), 3);         /* OSA: no edit of a swapped pair */
    cr_expect_eq(suggest_distance("reflct", "reflect"), 1);
    cr_expect_eq(suggest_distance("mean", "min"), 2);
    char longer[80];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    cr_expect_gt(suggest_distance(longer, "a"), 10);
}

Test(suggest, close_misspellings_are_suggested)
{
    expect("reflct", PAD_MODES, N(PAD_MODES), "reflect");
    expect("replicat", PAD_MODES, N(PAD_MODES), "replicate");
    expect("zero", PAD_MODES, N(PAD_MODES), "zeros");
    expect("strid", CONV_OPTIONS, N(CONV_OPTIONS), "stride");
    expect("dilaton", CONV_OPTIONS, N(CONV_OPTIONS), "dilation");
    expect("convlove", STAGES, N(STAGES), "convolve");
    expect("sigmiod", STAGES, N(STAGES), "sigmoid");
    expect("imgg", NAMES, N(NAMES), "img");
}

Test(suggest, case_and_underscores_do_not_count)
{
    expect("sobelx", NAMES, N(NAMES), "sobel_x");
    expect("SobelY", NAMES, N(NAMES), "sobel_y");
    expect("leakyrelu", STAGES, N(STAGES), "leaky_relu");
    expect("Conv2D", STAGES, N(STAGES), "conv2d");
    expect("globalavgpool2d", STAGES, N(STAGES), "global_avgpool2d");
    static const char *const syms[] = { "H", "W" };
    expect("h", syms, 2, "H");
}

Test(suggest, a_name_that_starts_another_is_suggested)
{
    expect("padding", CONV_OPTIONS, N(CONV_OPTIONS), "pad");
    expect("maxpool", STAGES, N(STAGES), "maxpool1d");
    expect("gauss", STAGES, N(STAGES), "gaussian");
    expect("biases", CONV_OPTIONS, N(CONV_OPTIONS), "bias");
    expect("laplace", NAMES, N(NAMES), "laplacian");
}

Test(suggest, far_fetched_hints_are_not_given)
{
    expect("mean", STAGES, N(STAGES), NULL);        /* 2 edits from min and max */
    expect("median", STAGES, N(STAGES), NULL);
    expect("blur", STAGES, N(STAGES), NULL);
    expect("z", NAMES, N(NAMES), NULL);
    expect("Q", (const char *const[]){ "H", "W" }, 2, NULL);
    expect("p", CONV_OPTIONS, N(CONV_OPTIONS), NULL);       /* too short to be a prefix */
    expect("mirror", PAD_MODES, N(PAD_MODES), NULL);
    expect("fourier", (const char *const[]){ "direct", "separable", "fft", "auto" }, 4, NULL);
}

Test(suggest, the_name_itself_and_empty_lists_give_nothing)
{
    expect("relu", STAGES, N(STAGES), NULL);
    expect("relu", NULL, 0, NULL);
    expect("", NAMES, N(NAMES), NULL);
}

Test(suggest, the_closest_wins_and_ties_go_to_the_first)
{
    static const char *const c[] = { "stride", "strides", "strid" };
    expect("strde", c, 3, "stride");                        /* 1 edit, before 'strid' */
    static const char *const d[] = { "conv2d", "conv1d" };
    expect("conv3d", d, 2, "conv2d");
    static const char *const e[] = { "padd", "pad_mode", "pad" };
    expect("padding", e, 3, "padd");                        /* adds the fewest characters */
}
