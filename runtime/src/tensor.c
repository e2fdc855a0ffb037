/* tensor.c - allocation and element counting of dense float tensors. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void *convrt__aligned_alloc(size_t bytes, int zero)
{
    if (bytes == 0)
        bytes = 1;
    if (bytes > SIZE_MAX - (CRT_ALIGN - 1))
        return NULL;
    bytes = (bytes + CRT_ALIGN - 1) & ~(size_t)(CRT_ALIGN - 1);
    void *p = NULL;
    if (posix_memalign(&p, CRT_ALIGN, bytes) != 0)
        return NULL;
    if (zero)
        memset(p, 0, bytes);
    return p;
}

int convrt__numel(int64_t rank, const int64_t *dims, int64_t *out)
{
    int64_t n = 1;
    for (int64_t i = 0; i < rank; i++) {
        if (__builtin_mul_overflow(n, dims[i], &n))
            return -1;
    }
    int64_t bytes;
    if (__builtin_mul_overflow(n, (int64_t)sizeof(float), &bytes))
        return -1;
    if ((uint64_t)bytes > (uint64_t)SIZE_MAX)
        return -1;
    *out = n;
    return 0;
}

int convrt_tensor_numel(const convrt_tensor *t, int64_t *out)
{
    if (!t || !out)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_tensor_numel: %s is NULL",
                             !t ? "tensor" : "out");
    if (t->rank < 0 || t->rank > CONVRT_MAX_RANK)
        return convrt_report(CONVRT_E_RANK,
                             "convrt_tensor_numel: rank %d is outside 0..%d",
                             (int)t->rank, CONVRT_MAX_RANK);
    for (int32_t i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return convrt_report(CONVRT_E_INVALID,
                                 "convrt_tensor_numel: dim %d is negative (%lld)",
                                 (int)i, (long long)t->dims[i]);
    if (convrt__numel(t->rank, t->dims, out) != 0)
        return convrt_report(CONVRT_E_OVERFLOW,
                             "convrt_tensor_numel: element count overflows");
    return CONVRT_OK;
}

int convrt_tensor_alloc(convrt_tensor *t, int32_t rank, const int64_t *dims)
{
    if (!t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_tensor_alloc: tensor is NULL");
    /* dims may point into t->dims (re-allocating a tensor whose shape was
     * filled in by convrt_pipeline_output_shapes), so copy before clearing. */
    int64_t copy[CONVRT_MAX_RANK];
    int ok_rank = rank >= 0 && rank <= CONVRT_MAX_RANK;
    if (ok_rank && dims)
        memcpy(copy, dims, (size_t)rank * sizeof *dims);
    memset(t, 0, sizeof *t);
    if (!ok_rank)
        return convrt_report(CONVRT_E_INVALID,
                             "convrt_tensor_alloc: rank %d is outside 0..%d",
                             (int)rank, CONVRT_MAX_RANK);
    if (rank > 0 && !dims)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_tensor_alloc: dims is NULL");
    dims = copy;
    for (int32_t i = 0; i < rank; i++)
        if (dims[i] < 0)
            return convrt_report(CONVRT_E_INVALID,
                                 "convrt_tensor_alloc: dim %d is negative (%lld)",
                                 (int)i, (long long)dims[i]);
    int64_t n;
    if (convrt__numel(rank, dims, &n) != 0)
        return convrt_report(CONVRT_E_OVERFLOW,
                             "convrt_tensor_alloc: element count overflows");
    float *data = convrt__aligned_alloc((size_t)n * sizeof(float), 1);
    if (!data)
        return convrt_report(CONVRT_E_NOMEM,
                             "convrt_tensor_alloc: cannot allocate %lld floats",
                             (long long)n);
    t->data = data;
    t->rank = rank;
    for (int32_t i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    return CONVRT_OK;
}

void convrt_tensor_free(convrt_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    memset(t, 0, sizeof *t);
}
