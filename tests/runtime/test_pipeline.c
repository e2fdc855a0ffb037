/* convrt_pipeline_run / convrt_pipeline_output_shapes against hand-built
 * descriptors, as the code generator would emit them. */
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "common.h"
#include "convrt_abi.h"

TestSuite(pipeline, .init = capture_start);

#define SENTINEL 12345.0f

/* ---------------------------------------------------- "addone": y = x + 1 */

static void addone_body(float *const *bufs, const int64_t *dims)
{
    int64_t n = dims[0] * dims[1];
    for (int64_t i = 0; i < n; i++)
        bufs[1][i] = bufs[0][i] + 1.0f;
}

static const int64_t addone_slots_x[2] = {0, 1};
static const char *const addone_names[2] = {"H", "W"};
static const convrt_arg addone_args[2] = {
    {"x", 0, 2, addone_slots_x, addone_names},
    {"y", 1, 2, addone_slots_x, addone_names},
};
static const convrt_dim_expr addone_dims[2] = {
    {CONVRT_DIM_ARG, 0, 0},
    {CONVRT_DIM_ARG, 0, 1},
};
static const convrt_buffer addone_bufs[2] = {{2, addone_slots_x}, {2, addone_slots_x}};
static const convrt_pipeline addone = {
    .abi_version = CONVRT_ABI_VERSION, .name = "addone", .target_cpu = "x86-64",
    .cpu_features = 0, .n_inputs = 1, .n_args = 2, .args = addone_args,
    .n_slots = 2, .slots = addone_dims, .n_checks = 0, .checks = NULL,
    .n_buffers = 2, .buffers = addone_bufs, .body = addone_body,
};

Test(pipeline, addone_runs)
{
    convrt_tensor x, y;
    int64_t d[2] = {3, 4};
    cr_assert_eq(convrt_tensor_alloc(&x, 2, d), 0);
    for (int i = 0; i < 12; i++)
        x.data[i] = (float)i;
    memset(&y, 0, sizeof y);
    convrt_tensor *args[2] = {&x, &y};
    cr_assert_eq(convrt_pipeline_output_shapes(&addone, args), 0);
    cr_expect_null(y.data, "output_shapes leaves data alone");
    cr_assert_eq(y.rank, 2);
    cr_assert_eq(y.dims[0], 3);
    cr_assert_eq(y.dims[1], 4);
    cr_assert_eq(convrt_tensor_alloc(&y, y.rank, y.dims), 0);
    cr_assert_eq(convrt_pipeline_run(&addone, args), 0);
    for (int i = 0; i < 12; i++)
        cr_expect_eq(y.data[i], (float)i + 1.0f);
    cr_expect_eq(cap.count, 0);
    convrt_tensor_free(&x);
    convrt_tensor_free(&y);
}

/* Generated bodies assume that no output shares memory with another
 * argument (their buffer pointers are noalias), so such a call must be
 * refused before the body runs, not computed into wrong numbers. */

static int addone_calls;
static void addone_counting_body(float *const *bufs, const int64_t *dims)
{
    addone_calls++;
    addone_body(bufs, dims);
}

/* x is [3, 4] in a 32-float block; y is [3, 4] at offset y_at of the same
 * block.  The outcome and, on failure, that no float changed. */
static void addone_overlap(int64_t y_at, int want)
{
    convrt_pipeline p = addone;
    p.body = addone_counting_body;
    addone_calls = 0;
    float block[32];
    for (int i = 0; i < 32; i++)
        block[i] = (float)i;
    convrt_tensor x = {.data = block, .rank = 2, .dims = {3, 4}};
    convrt_tensor y = {.data = block + y_at, .rank = 2, .dims = {3, 4}};
    convrt_tensor *a[2] = {&x, &y};
    capture_start();
    cr_expect_eq(convrt_pipeline_run(&p, a), want, "y at %lld: %s", (long long)y_at, cap.message);
    if (want == CONVRT_OK) {
        cr_expect_eq(cap.count, 0);
        cr_expect_eq(addone_calls, 1);
        return;
    }
    expect_report(want, "pipeline 'addone': output 'y' overlaps input 'x'");
    cr_expect_eq(addone_calls, 0, "the body ran");
    for (int i = 0; i < 32; i++)
        cr_expect_eq(block[i], (float)i, "float %d was written", i);
}

Test(pipeline, output_aliasing_an_input_is_refused)
{
    addone_overlap(0, CONVRT_E_ALIAS);
}

Test(pipeline, output_partly_overlapping_an_input_is_refused)
{
    addone_overlap(5, CONVRT_E_ALIAS);     /* y starts inside x */
    addone_overlap(11, CONVRT_E_ALIAS);    /* one float in common */
    addone_overlap(12, CONVRT_OK);         /* y starts right after x */
}

Test(pipeline, output_overlap_message_names_both_arguments)
{
    addone_overlap(4, CONVRT_E_ALIAS);
    cr_expect_str_eq(cap.message,
                     "pipeline 'addone': output 'y' overlaps input 'x' in memory (32 bytes in common); "
                     "the pipeline reads its inputs while it writes its outputs, so every output needs "
                     "memory of its own");
}

/* "split": x[N] -> y1 = x + 1, y2 = 2x. */
static void split_body(float *const *bufs, const int64_t *dims)
{
    for (int64_t i = 0; i < dims[0]; i++) {
        bufs[1][i] = bufs[0][i] + 1.0f;
        bufs[2][i] = bufs[0][i] * 2.0f;
    }
}

static const int64_t split_slots[1] = {0};
static const char *const split_names[1] = {"N"};
static const convrt_arg split_args[3] = {
    {"x", 0, 1, split_slots, split_names},
    {"y1", 1, 1, split_slots, split_names},
    {"y2", 1, 1, split_slots, split_names},
};
static const convrt_dim_expr split_dims[1] = {{CONVRT_DIM_ARG, 0, 0}};
static const convrt_buffer split_bufs[3] = {{1, split_slots}, {1, split_slots}, {1, split_slots}};
static const convrt_pipeline split = {
    .abi_version = CONVRT_ABI_VERSION, .name = "split", .target_cpu = "x86-64",
    .cpu_features = 0, .n_inputs = 1, .n_args = 3, .args = split_args,
    .n_slots = 1, .slots = split_dims, .n_checks = 0, .checks = NULL,
    .n_buffers = 3, .buffers = split_bufs, .body = split_body,
};

Test(pipeline, two_outputs_sharing_memory_are_refused)
{
    float x[4] = {1, 2, 3, 4}, out[6] = {9, 9, 9, 9, 9, 9};
    convrt_tensor tx = {.data = x, .rank = 1, .dims = {4}};
    convrt_tensor t1 = {.data = out, .rank = 1, .dims = {4}};
    convrt_tensor t2 = {.data = out + 2, .rank = 1, .dims = {4}};
    convrt_tensor *a[3] = {&tx, &t1, &t2};
    capture_start();
    cr_expect_eq(convrt_pipeline_run(&split, a), CONVRT_E_ALIAS);
    expect_report(CONVRT_E_ALIAS, "pipeline 'split': output 'y2' overlaps output 'y1' in memory (8 bytes in common)");
    for (int i = 0; i < 6; i++)
        cr_expect_eq(out[i], 9.0f, "float %d was written", i);
    /* Side by side they are fine. */
    capture_reset();
    float sep[8];
    t1.data = sep;
    t2.data = sep + 4;
    cr_expect_eq(convrt_pipeline_run(&split, a), CONVRT_OK, "%s", cap.message);
    cr_expect_eq(sep[3], 5.0f);
    cr_expect_eq(sep[7], 8.0f);
}

/* ------------------------------------------------------------ "conv"
 * inputs x[H, W], k[3, 3], m[H, W] (mask), b[N]; output y[H-2, W-2];
 * checks: H-2 >= 1, W-2 >= 1, N == W-2; scratch s[H*W] and z[0]. */

enum { S_H, S_W, S_3, S_2, S_HM2, S_WM2, S_N, S_HW, S_0, N_SLOTS };
static const convrt_dim_expr conv_dims[N_SLOTS] = {
    [S_H] = {CONVRT_DIM_ARG, 0, 0},     [S_W] = {CONVRT_DIM_ARG, 0, 1},
    [S_3] = {CONVRT_DIM_CONST, 3, 0},   [S_2] = {CONVRT_DIM_CONST, 2, 0},
    [S_HM2] = {CONVRT_DIM_SUB, S_H, S_2}, [S_WM2] = {CONVRT_DIM_SUB, S_W, S_2},
    [S_N] = {CONVRT_DIM_ARG, 3, 0},     [S_HW] = {CONVRT_DIM_MUL, S_H, S_W},
    [S_0] = {CONVRT_DIM_CONST, 0, 0},
};
static const int64_t sl_x[2] = {S_H, S_W}, sl_k[2] = {S_3, S_3}, sl_b[1] = {S_N};
static const int64_t sl_y[2] = {S_HM2, S_WM2}, sl_s[1] = {S_HW}, sl_z[1] = {S_0};
static const char *const nm_x[2] = {"H", "W"}, *const nm_k[2] = {NULL, NULL};
static const char *const nm_b[1] = {"N"}, *const nm_y[2] = {NULL, NULL};
static const convrt_arg conv_args[5] = {
    {"x", 0, 2, sl_x, nm_x}, {"k", 0, 2, sl_k, nm_k}, {"m", 0, 2, sl_x, nm_x},
    {"b", 0, 1, sl_b, nm_b}, {"y", 1, 2, sl_y, nm_y},
};
static const convrt_check conv_checks[3] = {
    {CONVRT_CHECK_POSITIVE, S_HM2, 0, "t.conv:4:14: conv2d 'y': height H - 2"},
    {CONVRT_CHECK_POSITIVE, S_WM2, 0, "t.conv:4:14: conv2d 'y': width W - 2"},
    {CONVRT_CHECK_EQ, S_N, S_WM2, "t.conv:5:3: bias 'b' length N must equal the width W - 2"},
};
static const convrt_buffer conv_bufs[7] = {
    {2, sl_x}, {2, sl_k}, {2, sl_x}, {1, sl_b}, {2, sl_y}, {1, sl_s}, {1, sl_z},
};

/* What the body saw, for the tests to inspect. */
static struct {
    int calls;
    float *scratch, *zero;
    int64_t hw;
} seen;

static void conv_body(float *const *bufs, const int64_t *d)
{
    seen.calls++;
    seen.scratch = bufs[5];
    seen.zero = bufs[6];
    seen.hw = d[S_HW];
    const float *x = bufs[0], *k = bufs[1], *m = bufs[2], *b = bufs[3];
    float *y = bufs[4], *s = bufs[5];
    int64_t H = d[S_H], W = d[S_W];
    for (int64_t i = 0; i < H * W; i++)   /* masked input, in scratch */
        s[i] = x[i] * m[i];
    for (int64_t i = 0; i < H - 2; i++)
        for (int64_t j = 0; j < W - 2; j++) {
            float acc = b[j];
            for (int a = 0; a < 3; a++)
                for (int c = 0; c < 3; c++)
                    acc += k[a * 3 + c] * s[(i + a) * W + j + c];
            y[i * (W - 2) + j] = acc;
        }
}

static convrt_pipeline conv;   /* per test copy, so tests can break it */
static convrt_tensor x, k, m, b, y;
static convrt_tensor *args[5] = {&x, &k, &m, &b, &y};

static void conv_setup(void)
{
    capture_start();
    conv = (convrt_pipeline){
        .abi_version = CONVRT_ABI_VERSION, .name = "conv", .target_cpu = "x86-64-v3",
        .cpu_features = 0, .n_inputs = 4, .n_args = 5, .args = conv_args,
        .n_slots = N_SLOTS, .slots = conv_dims, .n_checks = 3, .checks = conv_checks,
        .n_buffers = 7, .buffers = conv_bufs, .body = conv_body,
    };
    memset(&seen, 0, sizeof seen);
    int64_t dx[2] = {5, 6}, dk[2] = {3, 3}, db[1] = {4}, dy[2] = {3, 4};
    cr_assert_eq(convrt_tensor_alloc(&x, 2, dx), 0);
    cr_assert_eq(convrt_tensor_alloc(&k, 2, dk), 0);
    cr_assert_eq(convrt_tensor_alloc(&m, 2, dx), 0);
    cr_assert_eq(convrt_tensor_alloc(&b, 1, db), 0);
    cr_assert_eq(convrt_tensor_alloc(&y, 2, dy), 0);
    for (int i = 0; i < 30; i++)
        x.data[i] = (float)i, m.data[i] = (i % 2) ? 1.0f : 2.0f;
    for (int i = 0; i < 9; i++)
        k.data[i] = (float)(i - 4);
    for (int i = 0; i < 4; i++)
        b.data[i] = 0.5f * (float)i;
    for (int i = 0; i < 12; i++)
        y.data[i] = SENTINEL;
}

static void conv_teardown(void)
{
    convrt_tensor *all[5] = {&x, &k, &m, &b, &y};
    for (int i = 0; i < 5; i++)
        convrt_tensor_free(all[i]);
    convrt_set_error_handler(NULL, NULL);
}

static void expect_y_untouched(void)
{
    cr_expect_eq(seen.calls, 0, "body must not run");
    for (int i = 0; i < 12; i++)
        cr_expect_eq(y.data[i], SENTINEL, "output element %d was written", i);
}

/* run() fails with code and fragments; output_shapes fails the same way
 * (unless run_only), without touching y's shape. */
static void expect_fail(int code, int run_only, const char *f1, const char *f2)
{
    capture_reset();
    cr_expect_eq(convrt_pipeline_run(&conv, args), code, "run: %s", cap.message);
    expect_report(code, "pipeline 'conv': ", f1, f2);
    expect_y_untouched();
    if (run_only)
        return;
    capture_reset();
    convrt_tensor saved = y;
    cr_expect_eq(convrt_pipeline_output_shapes(&conv, args), code, "output_shapes: %s", cap.message);
    expect_report(code, "pipeline 'conv': ", f1, f2);
    cr_expect_eq(memcmp(&saved, &y, sizeof y), 0, "output shape changed by a failing call");
    expect_y_untouched();
}

TestSuite(conv, .init = conv_setup, .fini = conv_teardown);

Test(conv, runs_with_scratch)
{
    cr_assert_eq(convrt_pipeline_run(&conv, args), 0, "%s", cap.message);
    cr_expect_eq(seen.calls, 1);
    cr_expect_not_null(seen.scratch);
    cr_expect_eq((uintptr_t)seen.scratch % 64, 0, "scratch is 64-byte aligned");
    cr_expect_not_null(seen.zero, "zero-size scratch still gets a pointer");
    cr_expect_eq(seen.hw, 30);
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 4; j++) {
            float want = 0.5f * (float)j;
            for (int a = 0; a < 3; a++)
                for (int c = 0; c < 3; c++) {
                    int64_t idx = (i + a) * 6 + j + c;
                    want += (float)(a * 3 + c - 4) * (float)idx * ((idx % 2) ? 1.0f : 2.0f);
                }
            cr_expect_eq(y.data[i * 4 + j], want, "y[%lld][%lld] = %g, want %g", (long long)i,
                         (long long)j, y.data[i * 4 + j], want);
        }
    cr_expect_eq(cap.count, 0);
}

/* A thread keeps its scratch block between calls, also when a call that
 * needs less comes between two that need more: the third call runs in the
 * first call's block (a block recorded at the small call's size was freed
 * and a new one faulted in on every large call). */
Test(conv, scratch_block_kept_across_a_smaller_call)
{
    enum { BIG = 1024 };        /* 4 MB of scratch, against 120 bytes */
    convrt_tensor bx, bm, bb, by;
    int64_t dx[2] = {BIG, BIG}, db[1] = {BIG - 2}, dy[2] = {BIG - 2, BIG - 2};
    cr_assert_eq(convrt_tensor_alloc(&bx, 2, dx), 0);
    cr_assert_eq(convrt_tensor_alloc(&bm, 2, dx), 0);
    cr_assert_eq(convrt_tensor_alloc(&bb, 1, db), 0);
    cr_assert_eq(convrt_tensor_alloc(&by, 2, dy), 0);
    convrt_tensor *big[5] = {&bx, &k, &bm, &bb, &by};
    cr_assert_eq(convrt_pipeline_run(&conv, big), 0, "%s", cap.message);
    float *first = seen.scratch;
    cr_assert_eq(seen.hw, (int64_t)BIG * BIG);
    cr_assert_eq(convrt_pipeline_run(&conv, args), 0, "%s", cap.message);
    cr_expect_eq(seen.scratch, first, "the small call runs in the kept block");
    cr_assert_eq(convrt_pipeline_run(&conv, big), 0, "%s", cap.message);
    cr_expect_eq(seen.scratch, first, "the large call after it gets the same block back");
    cr_expect_eq(seen.calls, 3);
    convrt_tensor *all[4] = {&bx, &bm, &bb, &by};
    for (int i = 0; i < 4; i++)
        convrt_tensor_free(all[i]);
}

/* Inputs are only read, so they may share memory: the mask m is x itself. */
Test(conv, inputs_may_share_memory)
{
    float *own = m.data;
    m.data = x.data;
    int rc = convrt_pipeline_run(&conv, args);
    m.data = own;
    cr_assert_eq(rc, CONVRT_OK, "%s", cap.message);
    cr_expect_eq(seen.calls, 1);
    float want = 0.0f;      /* y[0][0] = b[0] + sum k[a][c] * x^2 over the window */
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 3; c++) {
            float v = (float)(a * 6 + c);
            want += (float)(a * 3 + c - 4) * v * v;
        }
    cr_expect_eq(y.data[0], want);
}

Test(conv, output_shapes_fills_dims)
{
    convrt_tensor out = {.data = NULL, .rank = 7, .dims = {9, 9, 9, 9, 9, 9, 9, 9}};
    convrt_tensor *a[5] = {&x, &k, &m, &b, &out};
    cr_assert_eq(convrt_pipeline_output_shapes(&conv, a), 0, "%s", cap.message);
    cr_expect_eq(out.rank, 2);
    cr_expect_eq(out.dims[0], 3);
    cr_expect_eq(out.dims[1], 4);
    cr_expect_eq(out.dims[2], 0, "unused dims cleared");
    cr_expect_null(out.data);
    cr_expect_eq(seen.calls, 0);
    cr_expect_eq(cap.count, 0);
}

Test(conv, null_argument)
{
    args[2] = NULL;
    expect_fail(CONVRT_E_NULL_ARG, 0, "input 'm' is NULL", NULL);
    args[2] = &m;
    args[4] = NULL;
    capture_reset();
    cr_expect_eq(convrt_pipeline_run(&conv, args), CONVRT_E_NULL_ARG);
    expect_report(CONVRT_E_NULL_ARG, "output 'y' is NULL");
    capture_reset();
    cr_expect_eq(convrt_pipeline_output_shapes(&conv, args), CONVRT_E_NULL_ARG);
    expect_report(CONVRT_E_NULL_ARG, "output 'y' is NULL");
    args[4] = &y;
    expect_y_untouched();
}

Test(conv, null_data)
{
    float *keep = b.data;
    b.data = NULL;
    expect_fail(CONVRT_E_NULL_DATA, 0, "input 'b'", "NULL data");
    b.data = keep;
    keep = y.data;
    y.data = NULL;
    capture_reset();
    cr_expect_eq(convrt_pipeline_run(&conv, args), CONVRT_E_NULL_DATA);
    expect_report(CONVRT_E_NULL_DATA, "output 'y'");
    cr_expect_eq(seen.calls, 0);
    y.data = keep;
}

Test(conv, rank)
{
    k.rank = 1;
    expect_fail(CONVRT_E_RANK, 0, "input 'k' has rank 1", "rank 2");
}

Test(conv, literal_dim)
{
    k.dims[1] = 4;
    expect_fail(CONVRT_E_DIM, 0, "input 'k' dim 1 is 4, but the pipeline declares 3", NULL);
}

Test(conv, dim_below_one)
{
    m.dims[0] = 0;
    expect_fail(CONVRT_E_DIM, 0, "input 'm' dim 0 is 0", "at least 1");
}

Test(conv, symbol_mismatch)
{
    m.dims[1] = 7;   /* data is not read before validation fails */
    expect_fail(CONVRT_E_SYMBOL, 0, "input 'm' dim 1 (W) is 7, but W = 6 was bound by input 'x' dim 1", NULL);
}

Test(conv, eq_check)
{
    b.dims[0] = 3;
    expect_fail(CONVRT_E_SYMBOL, 0, "t.conv:5:3: bias 'b' length N must equal the width W - 2: 3 != 4 (W = 6, N = 3)",
                NULL);
}

Test(conv, positive_check)
{
    x.dims[0] = 2;
    m.dims[0] = 2;
    expect_fail(CONVRT_E_SHAPE, 0, "t.conv:4:14: conv2d 'y': height H - 2 = 0 is below 1", NULL);
}

/* A failed check once said only "= 0 is below 1": the values of the size
 * symbols its formula depends on come with it. */
Test(conv, failed_check_gives_the_symbol_values)
{
    x.dims[0] = 2;
    m.dims[0] = 2;
    cr_expect_eq(convrt_pipeline_run(&conv, args), CONVRT_E_SHAPE);
    cr_expect_str_eq(cap.message, "pipeline 'conv': t.conv:4:14: conv2d 'y': height H - 2 = 0 is below 1 (H = 2)");
    capture_reset();
    x.dims[0] = m.dims[0] = 5;
    x.dims[1] = m.dims[1] = 1;      /* W - 2 = -1, and the EQ check is later */
    cr_expect_eq(convrt_pipeline_output_shapes(&conv, args), CONVRT_E_SHAPE);
    cr_expect_str_eq(cap.message, "pipeline 'conv': t.conv:4:14: conv2d 'y': width W - 2 = -1 is below 1 (W = 1)");
}

Test(conv, output_shape)
{
    y.dims[1] = 5;
    expect_fail(CONVRT_E_OUTPUT_SHAPE, 1, "output 'y' dim 1 is 5, but the pipeline produces 4", NULL);
    y.dims[1] = 4;
    y.rank = 3;
    expect_fail(CONVRT_E_OUTPUT_SHAPE, 1, "output 'y' has rank 3", "rank 2");
}

Test(conv, overflow_in_dims_table)
{
    /* H * W = 2^64 does not fit: the slot computation overflows */
    int64_t big = INT64_C(1) << 32;
    x.dims[0] = x.dims[1] = m.dims[0] = m.dims[1] = big;
    b.dims[0] = big - 2;
    expect_fail(CONVRT_E_OVERFLOW, 0, "overflow", "4294967296 * 4294967296");
}

Test(conv, overflow_in_buffer_size)
{
    /* H * W = 2^62 fits int64, but not times sizeof(float) */
    int64_t big = INT64_C(1) << 31;
    x.dims[0] = x.dims[1] = m.dims[0] = m.dims[1] = big;
    b.dims[0] = big - 2;
    expect_fail(CONVRT_E_OVERFLOW, 0, "input 'x' is too large", NULL);
}

Test(conv, scratch_allocation_failure)
{
    /* 2^58 floats of scratch: the arithmetic is fine, the memory is not.
     * The input tensors' data are never read because the scratch
     * allocation fails first. */
    int64_t big = INT64_C(1) << 29;
    x.dims[0] = x.dims[1] = m.dims[0] = m.dims[1] = big;
    b.dims[0] = big - 2;
    y.dims[0] = big - 2;
    y.dims[1] = big - 2;
    cr_expect_eq(convrt_pipeline_run(&conv, args), CONVRT_E_NOMEM);
    expect_report(CONVRT_E_NOMEM, "pipeline 'conv': ", "scratch buffer 5");
    expect_y_untouched();
}

Test(conv, abi_version)
{
    conv.abi_version = CONVRT_ABI_VERSION + 1;
    char want[64];
    snprintf(want, sizeof want, "ABI version %d", CONVRT_ABI_VERSION + 1);
    expect_fail(CONVRT_E_ABI, 0, want, NULL);
    capture_reset();
    cr_expect_eq(convrt_pipeline_run(NULL, args), CONVRT_E_ABI);
    expect_report(CONVRT_E_ABI, "descriptor is NULL");
}

Test(conv, malformed_descriptor)
{
    static const convrt_dim_expr forward[N_SLOTS] = {
        [S_H] = {CONVRT_DIM_ARG, 0, 0},     [S_W] = {CONVRT_DIM_ARG, 0, 1},
        [S_3] = {CONVRT_DIM_CONST, 3, 0},   [S_2] = {CONVRT_DIM_CONST, 2, 0},
        [S_HM2] = {CONVRT_DIM_SUB, S_H, S_HW}, /* refers to a later slot */
        [S_WM2] = {CONVRT_DIM_SUB, S_W, S_2}, [S_N] = {CONVRT_DIM_ARG, 3, 0},
        [S_HW] = {CONVRT_DIM_MUL, S_H, S_W}, [S_0] = {CONVRT_DIM_CONST, 0, 0},
    };
    conv.slots = forward;
    expect_fail(CONVRT_E_ABI, 0, "malformed descriptor", "earlier slot");
}

/* the first known feature this CPU lacks, or 0 */
static int64_t missing_known_feature(const char **name)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return *name = "avx512f", CONVRT_CPU_AVX512F;
    if (!__builtin_cpu_supports("avx512bw")) return *name = "avx512bw", CONVRT_CPU_AVX512BW;
    if (!__builtin_cpu_supports("avx512vl")) return *name = "avx512vl", CONVRT_CPU_AVX512VL;
    if (!__builtin_cpu_supports("avx2")) return *name = "avx2", CONVRT_CPU_AVX2;
#endif
    return 0;
}

Test(conv, cpu_features)
{
    /* A bit no CPU feature is assigned to yet counts as missing. */
    conv.cpu_features = INT64_C(1) << 40;
    expect_fail(CONVRT_E_CPU, 0, "compiled for CPU 'x86-64-v3'", "unknown feature bit 40");
    conv.cpu_features = INT64_MIN;   /* the sign bit, too */
    expect_fail(CONVRT_E_CPU, 0, "unknown feature bit 63", NULL);

    const char *name;
    int64_t bit = missing_known_feature(&name);
    if (bit) {
        conv.cpu_features = CONVRT_CPU_SSE42 | bit;
        expect_fail(CONVRT_E_CPU, 0, "lacks: ", name);
    } else {
        cr_log_info("this CPU has every feature tested; only the unknown bit was checked");
    }
    /* features this machine does have are accepted */
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        conv.cpu_features = CONVRT_CPU_SSE42;
        capture_reset();
        cr_expect_eq(convrt_pipeline_run(&conv, args), 0, "%s", cap.message);
    }
#endif
}

/* ------------------------------------------------------------ "arith":
 * no inputs, one output y[1]; checks the dims table arithmetic. */

static int64_t arith_seen[16];
static void arith_body(float *const *bufs, const int64_t *d)
{
    memcpy(arith_seen, d, 13 * sizeof *d);   /* A_N slots */
    bufs[0][0] = 1.0f;
}

enum { A_M7, A_2, A_FD, A_CD, A_MIN, A_MAX, A_ADD, A_SUB, A_MUL, A_ONE, A_7, A_FD2, A_CD2, A_N };
static const convrt_dim_expr arith_dims[A_N] = {
    [A_M7] = {CONVRT_DIM_CONST, -7, 0},          [A_2] = {CONVRT_DIM_CONST, 2, 0},
    [A_FD] = {CONVRT_DIM_FLOORDIV, A_M7, A_2},   [A_CD] = {CONVRT_DIM_CEILDIV, A_M7, A_2},
    [A_MIN] = {CONVRT_DIM_MIN, A_M7, A_2},       [A_MAX] = {CONVRT_DIM_MAX, A_M7, A_2},
    [A_ADD] = {CONVRT_DIM_ADD, A_M7, A_2},       [A_SUB] = {CONVRT_DIM_SUB, A_M7, A_2},
    [A_MUL] = {CONVRT_DIM_MUL, A_M7, A_2},       [A_ONE] = {CONVRT_DIM_CONST, 1, 0},
    [A_7] = {CONVRT_DIM_CONST, 7, 0},            [A_FD2] = {CONVRT_DIM_FLOORDIV, A_7, A_2},
    [A_CD2] = {CONVRT_DIM_CEILDIV, A_7, A_2},
};
static const int64_t arith_sl_y[1] = {A_ONE};
static const char *const arith_nm_y[1] = {NULL};
static const convrt_arg arith_args[1] = {{"y", 1, 1, arith_sl_y, arith_nm_y}};
static const convrt_buffer arith_bufs[1] = {{1, arith_sl_y}};

Test(pipeline, dims_arithmetic_floor_and_ceil)
{
    convrt_pipeline p = {
        .abi_version = CONVRT_ABI_VERSION, .name = "arith", .target_cpu = "x86-64",
        .n_inputs = 0, .n_args = 1, .args = arith_args, .n_slots = A_N, .slots = arith_dims,
        .n_buffers = 1, .buffers = arith_bufs, .body = arith_body,
    };
    float out = 0;
    convrt_tensor t = {.data = &out, .rank = 1, .dims = {1}};
    convrt_tensor *a[1] = {&t};
    cr_assert_eq(convrt_pipeline_run(&p, a), 0, "%s", cap.message);
    cr_expect_eq(out, 1.0f);
    cr_expect_eq(arith_seen[A_FD], -4, "floor(-7/2)");
    cr_expect_eq(arith_seen[A_CD], -3, "ceil(-7/2)");
    cr_expect_eq(arith_seen[A_FD2], 3);
    cr_expect_eq(arith_seen[A_CD2], 4);
    cr_expect_eq(arith_seen[A_MIN], -7);
    cr_expect_eq(arith_seen[A_MAX], 2);
    cr_expect_eq(arith_seen[A_ADD], -5);
    cr_expect_eq(arith_seen[A_SUB], -9);
    cr_expect_eq(arith_seen[A_MUL], -14);
}

Test(pipeline, division_by_nonpositive_is_shape_error)
{
    static const convrt_dim_expr d[3] = {
        {CONVRT_DIM_CONST, 1, 0}, {CONVRT_DIM_CONST, 0, 0}, {CONVRT_DIM_FLOORDIV, 0, 1}};
    static const int64_t sl[1] = {0};
    static const convrt_arg div_args[1] = {{"y", 1, 1, sl, arith_nm_y}};
    static const convrt_buffer div_bufs[1] = {{1, sl}};
    convrt_pipeline p = {
        .abi_version = CONVRT_ABI_VERSION, .name = "div0", .target_cpu = "x86-64",
        .n_inputs = 0, .n_args = 1, .args = div_args, .n_slots = 3, .slots = d,
        .n_buffers = 1, .buffers = div_bufs, .body = arith_body,
    };
    float out = SENTINEL;
    convrt_tensor t = {.data = &out, .rank = 1, .dims = {1}};
    convrt_tensor *a[1] = {&t};
    cr_expect_eq(convrt_pipeline_run(&p, a), CONVRT_E_SHAPE);
    expect_report(CONVRT_E_SHAPE, "pipeline 'div0': ", "by 0");
    cr_expect_eq(out, SENTINEL);
}

Test(pipeline, large_dims_table_uses_heap)
{
    /* 200 slots (beyond the on-stack table): a chain of +1 */
    static convrt_dim_expr d[200];
    d[0] = (convrt_dim_expr){CONVRT_DIM_CONST, 0, 0};
    d[1] = (convrt_dim_expr){CONVRT_DIM_CONST, 1, 0};
    for (int i = 2; i < 200; i++)
        d[i] = (convrt_dim_expr){CONVRT_DIM_ADD, i - 1, 1};
    static const int64_t sl[1] = {199};
    static const convrt_arg ar[1] = {{"y", 1, 1, sl, arith_nm_y}};
    static const convrt_buffer bu[1] = {{1, sl}};
    convrt_pipeline p = {
        .abi_version = CONVRT_ABI_VERSION, .name = "chain", .target_cpu = "x86-64",
        .n_inputs = 0, .n_args = 1, .args = ar, .n_slots = 200, .slots = d,
        .n_buffers = 1, .buffers = bu, .body = arith_body,
    };
    convrt_tensor t = {0};
    convrt_tensor *a[1] = {&t};
    cr_assert_eq(convrt_pipeline_output_shapes(&p, a), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 1);
    cr_expect_eq(t.dims[0], 199);
}

/* A runtime routine that fails inside the body (here an FFT call with an
 * operand of length 0, as a broken body might make it) fails the run with
 * its code; the next run on the thread starts clean. */
static int fft_calls;
static void failing_fft_body(float *const *bufs, const int64_t *dims)
{
    fft_calls++;
    (void)convrt_fft_conv1d(CONVRT_FFT_CONVOLVE, 1, bufs[0], 0, 0, bufs[0], dims[0], 0, bufs[1],
                            0, dims[0], 0);
    addone_body(bufs, dims);
}

Test(pipeline, a_failing_runtime_call_fails_the_run)
{
    convrt_pipeline p = addone;
    p.body = failing_fft_body;
    convrt_tensor x, y;
    int64_t d[2] = {2, 3};
    cr_assert_eq(convrt_tensor_alloc(&x, 2, d), 0);
    cr_assert_eq(convrt_tensor_alloc(&y, 2, d), 0);
    convrt_tensor *args[2] = {&x, &y};
    capture_start();
    cr_expect_eq(convrt_pipeline_run(&p, args), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "operand a has length 0");
    cr_expect_eq(fft_calls, 1);
    capture_start();
    cr_expect_eq(convrt_pipeline_run(&addone, args), CONVRT_OK, "the failure stuck to the thread");
    cr_expect_eq(cap.count, 0);
    /* outside a run, a failing call only returns its code */
    capture_start();
    cr_expect_eq(convrt_fft_conv1d(7, 1, x.data, 3, 0, x.data, 3, 0, y.data, 0, 3, 0), CONVRT_E_INVALID);
    cr_expect_eq(convrt_pipeline_run(&addone, args), CONVRT_OK);
    convrt_tensor_free(&x);
    convrt_tensor_free(&y);
}

/* ------------------------------------- the pool between and within calls */

/* y = x + 1 in two parallel loops, as a pipeline of two stages runs */
static void addone_half(void *ctx, int64_t b, int64_t e)
{
    float *const *bufs = ctx;
    for (int64_t i = b; i < e; i++)
        bufs[1][i] = bufs[0][i] + 1.0f;
}

static void addone_two_loops_body(float *const *bufs, const int64_t *dims)
{
    int64_t n = dims[0] * dims[1];
    convrt_parallel_for(n / 2, addone_half, (void *)bufs);
    float *const shifted[2] = {bufs[0] + n / 2, bufs[1] + n / 2};
    convrt_parallel_for(n - n / 2, addone_half, (void *)shifted);
}

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The workers wait awake between the parallel loops of one call, and
 * nothing spins once the call has returned: a process idle after a call
 * uses (next to) no CPU time. */
Test(pipeline, pool_idle_after_calls)
{
    int prev = convrt_set_num_threads(2);
    convrt_pipeline p = addone;
    p.body = addone_two_loops_body;
    convrt_tensor x, y;
    int64_t d[2] = {64, 1001};
    cr_assert_eq(convrt_tensor_alloc(&x, 2, d), 0);
    cr_assert_eq(convrt_tensor_alloc(&y, 2, d), 0);
    for (int64_t i = 0; i < 64 * 1001; i++)
        x.data[i] = (float)(i % 977) * 0.5f;
    convrt_tensor *args[2] = {&x, &y};
    for (int r = 0; r < 200; r++) {
        memset(y.data, 0, sizeof(float) * 64 * 1001);
        cr_assert_eq(convrt_pipeline_run(&p, args), 0);
        for (int64_t i = 0; i < 64 * 1001; i += 97)
            cr_assert_eq(y.data[i], (float)(i % 977) * 0.5f + 1.0f, "run %d, element %lld", r,
                         (long long)i);
    }
    double c0 = cpu_seconds();
    struct timespec nap = {0, 200 * 1000 * 1000};
    nanosleep(&nap, NULL);
    double used = cpu_seconds() - c0;
    cr_expect_lt(used, 0.05, "%.3f s of CPU time over 0.2 s idle after the calls", used);
    convrt_tensor_free(&x);
    convrt_tensor_free(&y);
    convrt_set_num_threads(prev);
}

/* -------------------------------------------- scratch shared by stages
 *
 * "relay": y = ((x + 1) * 2 + 3) * 4 through scratch buffers s1, s2, s3, s4
 * used by stages 0-1, 1-2, 2-3 and 0-3: s1 and s3 may share memory, no
 * two others may.  The body records where each buffer was. */
static float *relay_at[4];
static int64_t relay_n;

static void relay_body(float *const *bufs, const int64_t *dims)
{
    int64_t n = dims[0];
    relay_n = n;
    float *s1 = bufs[2], *s2 = bufs[3], *s3 = bufs[4], *s4 = bufs[5];
    for (int k = 0; k < 4; k++)
        relay_at[k] = bufs[2 + k];
    for (int64_t i = 0; i < n; i++)     /* stage 0 */
        s1[i] = bufs[0][i] + 1.0f, s4[i] = -1.0f;
    for (int64_t i = 0; i < n; i++)     /* stage 1 */
        s2[i] = s1[i] * 2.0f;
    for (int64_t i = 0; i < n; i++)     /* stage 2 */
        s3[i] = s2[i] + 3.0f;
    for (int64_t i = 0; i < n; i++)     /* stage 3 */
        bufs[1][i] = s3[i] * 4.0f + (s4[i] + 1.0f);
}

static const int64_t relay_slots_x[1] = {0};
static const char *const relay_names[1] = {"N"};
static const convrt_arg relay_args[2] = {
    {"x", 0, 1, relay_slots_x, relay_names},
    {"y", 1, 1, relay_slots_x, relay_names},
};
static const convrt_dim_expr relay_dims[1] = {{CONVRT_DIM_ARG, 0, 0}};

/* the buffers (x, y, s1..s4) with these stage ranges */
static convrt_buffer relay_bufs[6];
static const convrt_buffer *relay_ranges(const int64_t (*r)[2])
{
    for (int b = 0; b < 6; b++)
        relay_bufs[b] = (convrt_buffer){1, relay_slots_x, r[b][0], r[b][1]};
    return relay_bufs;
}

static convrt_pipeline relay_with(const convrt_buffer *bufs)
{
    return (convrt_pipeline){
        .abi_version = CONVRT_ABI_VERSION, .name = "relay", .target_cpu = "x86-64",
        .n_inputs = 1, .n_args = 2, .args = relay_args, .n_slots = 1, .slots = relay_dims,
        .n_buffers = 6, .buffers = bufs, .body = relay_body,
    };
}

static void run_relay(const convrt_pipeline *p, int64_t n)
{
    convrt_tensor x, y;
    cr_assert_eq(convrt_tensor_alloc(&x, 1, &n), 0);
    cr_assert_eq(convrt_tensor_alloc(&y, 1, &n), 0);
    for (int64_t i = 0; i < n; i++)
        x.data[i] = (float)i;
    convrt_tensor *a[2] = {&x, &y};
    cr_assert_eq(convrt_pipeline_run(p, a), 0, "%s", cap.message);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(y.data[i], (((float)i + 1.0f) * 2.0f + 3.0f) * 4.0f, "y[%lld]", (long long)i);
    convrt_tensor_free(&x);
    convrt_tensor_free(&y);
}

/* whether [a, a + n) and [b, b + n) floats overlap */
static bool overlap(const float *a, const float *b, int64_t n)
{
    return a < b + n && b < a + n;
}

Test(pipeline, scratch_of_stages_that_do_not_overlap_is_shared)
{
    static const int64_t r[6][2] = {{0, 3}, {0, 3}, {0, 1}, {1, 2}, {2, 3}, {0, 3}};
    convrt_pipeline p = relay_with(relay_ranges(r));
    for (int64_t n = 1; n <= 1000; n = n * 7 + 3) {
        run_relay(&p, n);
        cr_expect_eq(relay_at[2], relay_at[0], "n %lld: s3 takes s1's memory", (long long)n);
        for (int i = 0; i < 4; i++)
            for (int j = i + 1; j < 4; j++)
                if (!(i == 0 && j == 2))
                    cr_expect(!overlap(relay_at[i], relay_at[j], relay_n),
                              "n %lld: s%d and s%d overlap", (long long)n, i + 1, j + 1);
        for (int i = 0; i < 4; i++)
            cr_expect_eq((uintptr_t)relay_at[i] % 64, 0, "s%d is 64-byte aligned", i + 1);
    }
}

Test(pipeline, scratch_in_one_stage_is_never_shared)
{
    /* zero ranges (a hand-made descriptor): every buffer in stage 0 */
    static const int64_t r[6][2] = {{0}};
    convrt_pipeline p = relay_with(relay_ranges(r));
    run_relay(&p, 100);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            cr_expect(!overlap(relay_at[i], relay_at[j], relay_n), "s%d and s%d overlap", i + 1, j + 1);
}

Test(pipeline, a_backward_stage_range_is_a_malformed_descriptor)
{
    static const int64_t r[6][2] = {{0, 3}, {0, 3}, {0, 1}, {2, 1}, {2, 3}, {0, 3}};
    convrt_pipeline p = relay_with(relay_ranges(r));
    int64_t n = 4;
    convrt_tensor x, y;
    cr_assert_eq(convrt_tensor_alloc(&x, 1, &n), 0);
    cr_assert_eq(convrt_tensor_alloc(&y, 1, &n), 0);
    convrt_tensor *a[2] = {&x, &y};
    cr_expect_eq(convrt_pipeline_run(&p, a), CONVRT_E_ABI);
    expect_report(CONVRT_E_ABI, "malformed descriptor", "stage range");
    convrt_tensor_free(&x);
    convrt_tensor_free(&y);
}
