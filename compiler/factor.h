/* factor.h - whether a small 2-D kernel is the outer product of a column
 * and a row (a separable filter), for method=separable and the algorithm
 * pass.
 *
 * The test is numerical: with the pivot (i0, j0) the kernel's entry of
 * largest magnitude, u[i] = k[i][j0] and v[j] = k[i0][j] / k[i0][j0]; the
 * kernel is separable when every |k[i][j] - u[i]*v[j]| is at most
 * SEPARABLE_TOLERANCE times the largest |k|.  The tolerance is a few
 * float32 roundings: kernels built as products of two 1-D kernels in
 * float32 (gaussian2d, box2d, sobel_x) pass, kernels that merely look
 * smooth do not. */
#ifndef CONVC_FACTOR_H
#define CONVC_FACTOR_H

#include <stdbool.h>
#include <stdint.h>

#define SEPARABLE_TOLERANCE 1e-6

/* The largest |k - u v^T| relative to max |k|, with u (kh) and v (kw)
 * filled when not NULL; 0 for an all-zero kernel (u and v zero). */
double kernel_rank1(const float *k, int64_t kh, int64_t kw, float *u, float *v);

static inline bool kernel_separable(const float *k, int64_t kh, int64_t kw)
{
    return kernel_rank1(k, kh, kw, 0, 0) <= SEPARABLE_TOLERANCE;
}

#endif
