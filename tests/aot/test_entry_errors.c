/* Error codes of compiled entry points.
 *
 * The pipelines in scripts/err_*.conv are compiled by `convc compile` into
 * objects linked into this program (see CMakeLists.txt).  For every code an
 * entry point can return, one test makes a call that fails with it and
 * checks: the return code, that the error handler was called exactly once
 * with that code and a message naming the pipeline and the argument (and
 * the dim, where there is one), and that the output's data was not
 * written (it is filled with a sentinel byte pattern first). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "blur.h"
#include "convrt_abi.h"
#include "eempty.h"
#include "elit.h"
#include "esym.h"
#include "ev4.h"
#include "sumdiff.h"

/* The descriptors are exported by the objects but not declared in the
 * generated headers (they are for the runtime, not for applications). */
extern const convrt_pipeline esym_pipeline;
extern const convrt_pipeline ev4_pipeline;

/* ------------------------------------------------------------ reports */

static struct {
    int  calls;
    int  code;
    char msg[2048];
} rep;

static void handler(void *user, int code, const char *message)
{
    (void)user;
    rep.calls++;
    rep.code = code;
    snprintf(rep.msg, sizeof rep.msg, "%s", message);
}

static void setup(void)
{
    memset(&rep, 0, sizeof rep);
    convrt_set_error_handler(handler, NULL);
}

static void teardown(void)
{
    convrt_set_error_handler(NULL, NULL);
}

TestSuite(entry, .init = setup, .fini = teardown);

/* rc is code, reported once, and the message contains each of the
 * NULL-terminated strings. */
static void expect_report(int rc, int code, ...)
{
    cr_assert_eq(rc, code, "returned %d (%s), expected %d (%s); message: %s", rc, convrt_strerror(rc), code,
                 convrt_strerror(code), rep.msg);
    cr_assert_eq(rep.calls, 1, "the handler was called %d times", rep.calls);
    cr_assert_eq(rep.code, code, "the handler got code %d", rep.code);
    va_list ap;
    va_start(ap, code);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        cr_assert(strstr(rep.msg, s), "the message does not mention \"%s\": %s", s, rep.msg);
    va_end(ap);
}

/* ------------------------------------------------------------ tensors */

#define SENTINEL 0xA5
#define BIG 4096

static float xbuf[BIG], wbuf[BIG], ybuf[BIG];

static convrt_tensor tensor(float *data, int rank, const int64_t *dims)
{
    convrt_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.rank = rank;
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    return t;
}

static void fill(void)
{
    for (int i = 0; i < BIG; i++) {
        xbuf[i] = (float)(i % 7) - 3.0f;
        wbuf[i] = (float)(i % 5) * 0.25f;
    }
    memset(ybuf, SENTINEL, sizeof ybuf);
}

static void expect_untouched(void)
{
    const unsigned char *b = (const unsigned char *)ybuf;
    for (size_t i = 0; i < sizeof ybuf; i++)
        cr_assert_eq(b[i], SENTINEL, "output byte %zu was written", i);
}

/* esym: x [C=2, H=7, W=6], w [5, 2, 3, 3] -> y [5, 4, 3]. */
static convrt_tensor sx, sw, sy;

static void sym_args(void)
{
    fill();
    sx = tensor(xbuf, 3, (int64_t[]){2, 7, 6});
    sw = tensor(wbuf, 4, (int64_t[]){5, 2, 3, 3});
    sy = tensor(ybuf, 3, (int64_t[]){5, 4, 3});
}

/* elit: x [2, 8, 8], w [3, 2, 3, 3] -> y [3, 8, 8]. */
static convrt_tensor lx, lw, ly;

static void lit_args(void)
{
    fill();
    lx = tensor(xbuf, 3, (int64_t[]){2, 8, 8});
    lw = tensor(wbuf, 4, (int64_t[]){3, 2, 3, 3});
    ly = tensor(ybuf, 3, (int64_t[]){3, 8, 8});
}

/* ------------------------------------------------ the calls succeed */

/* Control: a correct call does write the output, so the sentinel checks
 * below can see a write. */
Test(entry, ok_call_writes_the_output)
{
    sym_args();
    convrt_tensor shape = sy;
    shape.data = NULL;
    memset(shape.dims, 0, sizeof shape.dims);
    shape.rank = 0;
    cr_assert_eq(esym_output_shapes(&sx, &sw, &shape), CONVRT_OK, "%s", rep.msg);
    cr_assert_eq(shape.rank, 3);
    cr_assert_eq(shape.dims[0], 5);
    cr_assert_eq(shape.dims[1], 4);
    cr_assert_eq(shape.dims[2], 3);
    cr_assert_eq(esym(&sx, &sw, &sy), CONVRT_OK, "%s", rep.msg);
    cr_assert_eq(rep.calls, 0);
    const unsigned char *b = (const unsigned char *)ybuf;
    size_t written = 0;
    for (size_t i = 0; i < 60 * sizeof(float); i++)
        written += b[i] != SENTINEL;
    cr_assert_gt(written, 0);
    /* ... and nothing past the output's 60 floats. */
    for (size_t i = 60 * sizeof(float); i < sizeof ybuf; i++)
        cr_assert_eq(b[i], SENTINEL, "byte %zu past the output was written", i);
}

/* ------------------------------------------------------ NULL_ARG */

Test(entry, null_input_pointer)
{
    sym_args();
    expect_report(esym(NULL, &sw, &sy), CONVRT_E_NULL_ARG, "pipeline 'esym'", "input 'x'", NULL);
    expect_untouched();
}

Test(entry, null_output_pointer)
{
    sym_args();
    expect_report(esym(&sx, &sw, NULL), CONVRT_E_NULL_ARG, "pipeline 'esym'", "output 'y'", NULL);
}

Test(entry, null_pointer_in_output_shapes)
{
    sym_args();
    expect_report(esym_output_shapes(&sx, NULL, &sy), CONVRT_E_NULL_ARG, "pipeline 'esym'", "input 'w'", NULL);
    cr_assert_eq(sy.dims[1], 4, "output_shapes changed the output after failing");
}

/* ----------------------------------------------------- NULL_DATA */

Test(entry, null_input_data)
{
    sym_args();
    sw.data = NULL;
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_NULL_DATA, "pipeline 'esym'", "input 'w'", NULL);
    expect_untouched();
}

Test(entry, null_output_data)
{
    sym_args();
    sy.data = NULL;
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_NULL_DATA, "pipeline 'esym'", "output 'y'", NULL);
}

/* ---------------------------------------------------------- RANK */

Test(entry, input_rank)
{
    sym_args();
    sx.rank = 2;
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_RANK, "pipeline 'esym'", "input 'x'", "rank 2", NULL);
    expect_untouched();
}

Test(entry, input_rank_in_output_shapes)
{
    sym_args();
    sw.rank = 5;
    sw.dims[4] = 1;
    expect_report(esym_output_shapes(&sx, &sw, &sy), CONVRT_E_RANK, "pipeline 'esym'", "input 'w'", "rank 5",
                  NULL);
}

/* ----------------------------------------------------------- DIM */

Test(entry, literal_dim_differs)
{
    lit_args();
    lx.dims[0] = 3;   /* declared 2 */
    expect_report(elit(&lx, &lw, &ly), CONVRT_E_DIM, "pipeline 'elit'", "input 'x'", "dim 0", NULL);
    expect_untouched();
}

Test(entry, literal_weight_dim_differs)
{
    lit_args();
    lw.dims[3] = 5;   /* declared 3 */
    expect_report(elit(&lx, &lw, &ly), CONVRT_E_DIM, "pipeline 'elit'", "input 'w'", "dim 3", NULL);
    expect_untouched();
}

Test(entry, zero_dim)
{
    sym_args();
    sx.dims[2] = 0;
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_DIM, "pipeline 'esym'", "input 'x'", "dim 2", NULL);
    expect_untouched();
}

/* -------------------------------------------------------- SYMBOL */

Test(entry, symbol_disagrees)
{
    sym_args();
    sw.dims[1] = 3;   /* C is 2, bound by x */
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_SYMBOL, "pipeline 'esym'", "input 'w'", "dim 1", "(C)",
                  "input 'x'", NULL);
    expect_untouched();
}

Test(entry, symbol_disagrees_in_output_shapes)
{
    sym_args();
    sw.dims[1] = 1;
    expect_report(esym_output_shapes(&sx, &sw, &sy), CONVRT_E_SYMBOL, "pipeline 'esym'", "input 'w'", "dim 1",
                  NULL);
}

/* --------------------------------------------------------- SHAPE */

/* eempty: x [1, H, W] with a valid 5x5 convolution -> y [1, H - 4, W - 4]. */
Test(entry, derived_size_below_one)
{
    fill();
    convrt_tensor x = tensor(xbuf, 3, (int64_t[]){1, 3, 9});
    convrt_tensor w = tensor(wbuf, 4, (int64_t[]){1, 1, 5, 5});
    convrt_tensor y = tensor(ybuf, 3, (int64_t[]){1, 1, 5});
    /* The message names the stage by kind and source position (line 5 is
     * `output y = conv2d(x, w)`), the dim and its formula in H. */
    expect_report(eempty(&x, &w, &y), CONVRT_E_SHAPE, "pipeline 'eempty'", "err_empty.conv:5:", "conv2d",
                  "height", "H", "= -1 is below 1 (H = 3)", NULL);
    expect_untouched();
}

Test(entry, derived_size_zero)
{
    fill();
    convrt_tensor x = tensor(xbuf, 3, (int64_t[]){1, 9, 4});
    convrt_tensor w = tensor(wbuf, 4, (int64_t[]){1, 1, 5, 5});
    convrt_tensor y = tensor(ybuf, 3, (int64_t[]){1, 5, 1});
    expect_report(eempty_output_shapes(&x, &w, &y), CONVRT_E_SHAPE, "pipeline 'eempty'", "err_empty.conv:5:",
                  "width", "W", "= 0", NULL);
    cr_assert_eq(y.dims[2], 1, "output_shapes changed the output after failing");
    rep.calls = 0;
    expect_report(eempty(&x, &w, &y), CONVRT_E_SHAPE, "pipeline 'eempty'", "err_empty.conv:5:", "width", NULL);
    expect_untouched();
}

/* -------------------------------------------------- OUTPUT_SHAPE */

Test(entry, output_rank)
{
    sym_args();
    sy.rank = 2;
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_OUTPUT_SHAPE, "pipeline 'esym'", "output 'y'", "rank 2", NULL);
    expect_untouched();
}

Test(entry, output_dim)
{
    sym_args();
    sy.dims[2] = 4;   /* (6 - 1)/2 + 1 = 3 */
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_OUTPUT_SHAPE, "pipeline 'esym'", "output 'y'", "dim 2", NULL);
    expect_untouched();
}

Test(entry, output_dim_literal_pipeline)
{
    lit_args();
    ly.dims[0] = 2;
    expect_report(elit(&lx, &lw, &ly), CONVRT_E_OUTPUT_SHAPE, "pipeline 'elit'", "output 'y'", "dim 0", NULL);
    expect_untouched();
}

/* ------------------------------------------------------ OVERFLOW */

/* 2^31 x 2^31 floats: the element count fits int64, the size in bytes
 * does not.  The data pointer is never read. */
Test(entry, input_size_overflows)
{
    sym_args();
    sx = tensor(xbuf, 3, (int64_t[]){1, INT64_C(1) << 31, INT64_C(1) << 31});
    sw.dims[1] = 1;
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_OVERFLOW, "pipeline 'esym'", "input 'x'", NULL);
    expect_untouched();
}

Test(entry, input_elements_overflow)
{
    sym_args();
    sx = tensor(xbuf, 3, (int64_t[]){INT64_C(1) << 21, INT64_C(1) << 21, INT64_C(1) << 21});
    sw.dims[1] = INT64_C(1) << 21;
    expect_report(esym_output_shapes(&sx, &sw, &sy), CONVRT_E_OVERFLOW, "pipeline 'esym'", NULL);
    rep.calls = 0;
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_OVERFLOW, "pipeline 'esym'", NULL);
    expect_untouched();
}

/* H + 2*pad overflows in the dims table itself. */
Test(entry, size_formula_overflows)
{
    sym_args();
    sx = tensor(xbuf, 3, (int64_t[]){2, INT64_MAX, 6});
    expect_report(esym(&sx, &sw, &sy), CONVRT_E_OVERFLOW, "pipeline 'esym'", "overflow", NULL);
    expect_untouched();
}

/* ----------------------------------------------------------- CPU */

static int64_t cpu_has(void)
{
    int64_t m = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))  m |= CONVRT_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) m |= CONVRT_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512dq")) m |= CONVRT_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vl")) m |= CONVRT_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512cd")) m |= CONVRT_CPU_AVX512CD;
    return m;
}

/* A copy of a real object's descriptor that asks for a feature no CPU has
 * (bit 40 is not assigned): the entry point's own path, convrt_pipeline_run
 * on the descriptor, must refuse before running the body.  This works on
 * any machine, unlike the x86-64-v4 object below. */
Test(entry, cpu_feature_missing_descriptor_copy)
{
    sym_args();
    convrt_pipeline p = esym_pipeline;
    p.cpu_features |= INT64_C(1) << 40;
    convrt_tensor *args[] = {&sx, &sw, &sy};
    expect_report(convrt_pipeline_run(&p, args), CONVRT_E_CPU, "pipeline 'esym'", "x86-64-v3", "bit 40", NULL);
    expect_untouched();
    rep.calls = 0;
    expect_report(convrt_pipeline_output_shapes(&p, args), CONVRT_E_CPU, "pipeline 'esym'", NULL);
    /* The unmodified descriptor runs. */
    rep.calls = 0;
    cr_assert_eq(convrt_pipeline_run(&esym_pipeline, args), CONVRT_OK, "%s", rep.msg);
}

/* The object compiled for x86-64-v4 records AVX-512 in its descriptor; on
 * a CPU without it the entry point fails with CONVRT_E_CPU, on one with it
 * the call succeeds. */
Test(entry, cpu_x86_64_v4_object)
{
    int64_t avx512 = CONVRT_CPU_AVX512F | CONVRT_CPU_AVX512BW | CONVRT_CPU_AVX512DQ | CONVRT_CPU_AVX512VL |
                     CONVRT_CPU_AVX512CD;
    cr_assert_eq(ev4_pipeline.cpu_features & avx512, avx512, "cpu_features 0x%llx lacks the AVX-512 bits",
                 (long long)ev4_pipeline.cpu_features);
    cr_assert_str_eq(ev4_pipeline.target_cpu, "x86-64-v4");
    cr_assert_eq(esym_pipeline.cpu_features & avx512, 0, "the x86-64-v3 object asks for AVX-512");
    lit_args();
    if ((cpu_has() & avx512) == avx512) {
        cr_assert_eq(ev4(&lx, &lw, &ly), CONVRT_OK, "%s", rep.msg);
    } else {
        expect_report(ev4(&lx, &lw, &ly), CONVRT_E_CPU, "pipeline 'ev4'", "x86-64-v4", "avx512", NULL);
        expect_untouched();
    }
}

/* ----------------------------------------------------------- ABI */

Test(entry, abi_version_mismatch)
{
    sym_args();
    convrt_pipeline p = esym_pipeline;
    p.abi_version = CONVRT_ABI_VERSION + 1;
    convrt_tensor *args[] = {&sx, &sw, &sy};
    expect_report(convrt_pipeline_run(&p, args), CONVRT_E_ABI, "pipeline 'esym'", NULL);
    expect_untouched();
}

/* --------------------------------------------------------- ALIAS */

/* The generated code marks its buffers noalias and reads every input while
 * it writes the outputs: an output over an input was once computed into
 * wrong numbers with a return code of 0.  It is refused before anything is
 * written. */

enum { BH = 6, BW = 7 };

static void blur_fill(float *p, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (float)((i * 37) % 11) - 5.0f;
}

static void expect_block(const float *p, int n)
{
    float want[BIG];
    blur_fill(want, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(p[i], want[i], "float %d was written", i);
}

Test(entry, output_aliasing_an_input_is_refused)
{
    blur_fill(xbuf, BH * BW);
    convrt_tensor x = tensor(xbuf, 2, (int64_t[]){BH, BW});
    expect_report(blur(&x, &x), CONVRT_E_ALIAS, "pipeline 'blur'", "output 'y' overlaps input 'x'", NULL);
    expect_block(xbuf, BH * BW);
}

Test(entry, output_partly_overlapping_an_input_is_refused)
{
    blur_fill(xbuf, 2 * BH * BW);
    convrt_tensor x = tensor(xbuf, 2, (int64_t[]){BH, BW});
    convrt_tensor y = tensor(xbuf + BH * BW - 1, 2, (int64_t[]){BH, BW});   /* one float in common */
    expect_report(blur(&x, &y), CONVRT_E_ALIAS, "pipeline 'blur'", "output 'y' overlaps input 'x'",
                  "(4 bytes in common)", NULL);
    expect_block(xbuf, 2 * BH * BW);
    /* The first float after x is not x's. */
    rep.calls = 0;
    y.data = xbuf + BH * BW;
    cr_assert_eq(blur(&x, &y), CONVRT_OK, "%s", rep.msg);
    cr_assert_eq(rep.calls, 0);
}

Test(entry, output_aliasing_an_input_gave_wrong_numbers)
{
    /* What the in-place call would have had to produce: the same as a call
     * into separate memory. */
    blur_fill(xbuf, BH * BW);
    convrt_tensor x = tensor(xbuf, 2, (int64_t[]){BH, BW});
    convrt_tensor y = tensor(ybuf, 2, (int64_t[]){BH, BW});
    cr_assert_eq(blur(&x, &y), CONVRT_OK, "%s", rep.msg);
    float centre = 0;
    for (int dy = 0; dy < 3; dy++)
        for (int dx = 0; dx < 3; dx++)
            centre += xbuf[(2 + dy) * BW + 2 + dx];
    cr_assert_float_eq(ybuf[3 * BW + 3], centre / 9.0f, 1e-5f);
    rep.calls = 0;
    expect_report(blur(&x, &x), CONVRT_E_ALIAS, "pipeline 'blur'", NULL);
}

Test(entry, two_outputs_sharing_memory_are_refused)
{
    fill();
    convrt_tensor a = tensor(xbuf, 1, (int64_t[]){8});
    convrt_tensor b = tensor(wbuf, 1, (int64_t[]){8});
    convrt_tensor s = tensor(ybuf, 1, (int64_t[]){8});
    convrt_tensor d = tensor(ybuf + 7, 1, (int64_t[]){8});
    expect_report(sumdiff(&a, &b, &s, &d), CONVRT_E_ALIAS, "pipeline 'sumdiff'", "output 'd' overlaps output 's'",
                  NULL);
    expect_untouched();
    rep.calls = 0;
    d.data = xbuf + 4;   /* over input a */
    expect_report(sumdiff(&a, &b, &s, &d), CONVRT_E_ALIAS, "pipeline 'sumdiff'", "output 'd' overlaps input 'a'",
                  NULL);
    expect_untouched();
}

Test(entry, inputs_may_share_memory)
{
    fill();
    convrt_tensor a = tensor(xbuf, 1, (int64_t[]){8});
    convrt_tensor b = tensor(xbuf, 1, (int64_t[]){8});   /* the same memory */
    convrt_tensor s = tensor(ybuf, 1, (int64_t[]){8});
    convrt_tensor d = tensor(ybuf + 8, 1, (int64_t[]){8});
    cr_assert_eq(sumdiff(&a, &b, &s, &d), CONVRT_OK, "%s", rep.msg);
    cr_assert_eq(rep.calls, 0);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(ybuf[i], 2.0f * xbuf[i]);
        cr_assert_eq(ybuf[8 + i], 0.0f);
    }
}
