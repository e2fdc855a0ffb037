/* Tensor allocation, freeing and element counting. */
#include <stdint.h>

#include "common.h"

TestSuite(tensor, .init = capture_start);

Test(tensor, alloc_is_zeroed_aligned_and_shaped)
{
    convrt_tensor t;
    int64_t dims[3] = {2, 3, 5};
    cr_assert_eq(convrt_tensor_alloc(&t, 3, dims), CONVRT_OK);
    cr_assert_not_null(t.data);
    cr_expect_eq((uintptr_t)t.data % 64, 0);
    cr_expect_eq(t.rank, 3);
    cr_expect_eq(t.dims[0], 2);
    cr_expect_eq(t.dims[1], 3);
    cr_expect_eq(t.dims[2], 5);
    for (int i = 0; i < 30; i++)
        cr_expect_eq(t.data[i], 0.0f);
    t.data[29] = 1.0f;   /* the whole extent is writable (ASan checks) */
    int64_t n = 0;
    cr_expect_eq(convrt_tensor_numel(&t, &n), CONVRT_OK);
    cr_expect_eq(n, 30);
    convrt_tensor_free(&t);
    cr_expect_null(t.data);
    cr_expect_eq(t.rank, 0);
    convrt_tensor_free(&t);   /* twice is fine */
    convrt_tensor_free(NULL);
    cr_expect_eq(cap.count, 0);
}

Test(tensor, rank0_and_zero_sized)
{
    convrt_tensor t;
    cr_assert_eq(convrt_tensor_alloc(&t, 0, NULL), CONVRT_OK);
    int64_t n = -1;
    cr_expect_eq(convrt_tensor_numel(&t, &n), CONVRT_OK);
    cr_expect_eq(n, 1);
    t.data[0] = 4.0f;
    convrt_tensor_free(&t);

    int64_t dims[2] = {0, 7};
    cr_assert_eq(convrt_tensor_alloc(&t, 2, dims), CONVRT_OK);
    cr_expect_not_null(t.data);
    cr_expect_eq(convrt_tensor_numel(&t, &n), CONVRT_OK);
    cr_expect_eq(n, 0);
    convrt_tensor_free(&t);
    cr_expect_eq(cap.count, 0);
}

Test(tensor, max_rank_ok_and_beyond_rejected)
{
    convrt_tensor t;
    int64_t dims[9] = {1, 2, 1, 2, 1, 2, 1, 2, 1};
    cr_assert_eq(convrt_tensor_alloc(&t, 8, dims), CONVRT_OK);
    int64_t n;
    cr_expect_eq(convrt_tensor_numel(&t, &n), CONVRT_OK);
    cr_expect_eq(n, 16);
    convrt_tensor_free(&t);

    cr_expect_eq(convrt_tensor_alloc(&t, 9, dims), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "rank 9");
    cr_expect_null(t.data);
    capture_reset();
    cr_expect_eq(convrt_tensor_alloc(&t, -1, dims), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "rank -1");
}

Test(tensor, negative_dim_and_null_args)
{
    convrt_tensor t;
    int64_t dims[2] = {4, -2};
    cr_expect_eq(convrt_tensor_alloc(&t, 2, dims), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "dim 1", "-2");
    capture_reset();
    cr_expect_eq(convrt_tensor_alloc(NULL, 2, dims), CONVRT_E_NULL_ARG);
    expect_report(CONVRT_E_NULL_ARG, "tensor");
    capture_reset();
    cr_expect_eq(convrt_tensor_alloc(&t, 2, NULL), CONVRT_E_NULL_ARG);
    expect_report(CONVRT_E_NULL_ARG, "dims");
    capture_reset();
    int64_t n;
    cr_expect_eq(convrt_tensor_numel(NULL, &n), CONVRT_E_NULL_ARG);
    expect_report(CONVRT_E_NULL_ARG, "tensor");
}

Test(tensor, size_overflow)
{
    convrt_tensor t;
    int64_t big[2] = {INT64_C(1) << 32, INT64_C(1) << 32};   /* 2^64 elements */
    cr_expect_eq(convrt_tensor_alloc(&t, 2, big), CONVRT_E_OVERFLOW);
    expect_report(CONVRT_E_OVERFLOW, "overflow");
    cr_expect_null(t.data);

    /* fits int64 as a count, but not as bytes */
    capture_reset();
    int64_t bytes[1] = {INT64_MAX / 2};
    cr_expect_eq(convrt_tensor_alloc(&t, 1, bytes), CONVRT_E_OVERFLOW);
    expect_report(CONVRT_E_OVERFLOW);

    capture_reset();
    convrt_tensor u = {.data = NULL, .rank = 3, .dims = {INT64_C(1) << 31, INT64_C(1) << 31, 4}};
    int64_t n = 123;
    cr_expect_eq(convrt_tensor_numel(&u, &n), CONVRT_E_OVERFLOW);
    cr_expect_eq(n, 123, "out untouched on failure");
    expect_report(CONVRT_E_OVERFLOW);

    capture_reset();
    u.rank = 9;
    cr_expect_eq(convrt_tensor_numel(&u, &n), CONVRT_E_RANK);
    expect_report(CONVRT_E_RANK, "rank 9");
}

Test(tensor, huge_allocation_is_nomem)
{
    /* 2^60 bytes: no overflow in the arithmetic, but no machine has it. */
    convrt_tensor t;
    int64_t dims[1] = {INT64_C(1) << 58};
    cr_expect_eq(convrt_tensor_alloc(&t, 1, dims), CONVRT_E_NOMEM);
    expect_report(CONVRT_E_NOMEM);
    cr_expect_null(t.data);
}

Test(tensor, realloc_from_own_dims)
{
    /* the pattern after convrt_pipeline_output_shapes: dims point into t */
    convrt_tensor t = {.data = NULL, .rank = 2, .dims = {3, 5}};
    cr_assert_eq(convrt_tensor_alloc(&t, t.rank, t.dims), CONVRT_OK);
    cr_expect_eq(t.rank, 2);
    cr_expect_eq(t.dims[0], 3);
    cr_expect_eq(t.dims[1], 5);
    t.data[14] = 1.0f;
    convrt_tensor_free(&t);
}
