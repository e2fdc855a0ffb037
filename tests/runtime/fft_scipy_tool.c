/* fft_scipy_tool - the C side of fft_scipy.py, which checks the FFT
 * convolutions against scipy.signal.convolve / correlate.
 *
 *   fft_scipy_tool LIST
 *
 * Each line of LIST is "OP MODE A.npy B.npy OUT.npy" with OP convolve or
 * correlate and MODE full, same or valid: A and B (both rank 1 or both
 * rank 2) go through convrt_fft_conv1d / convrt_fft_conv2d with the window
 * that convrt_abi.h gives for MODE, and the result is saved to OUT.npy.
 * Exit status 0 when every line succeeded. */
#include <stdio.h>
#include <string.h>

#include "convrt_abi.h"

/* SciPy's modes as windows of the full result in one dim, as documented
 * in convrt_abi.h. */
static int window(const char *mode, int64_t n1, int64_t n2, int64_t *start, int64_t *n)
{
    int64_t lo = n1 < n2 ? n1 : n2, hi = n1 < n2 ? n2 : n1;
    if (strcmp(mode, "full") == 0) {
        *start = 0;
        *n = n1 + n2 - 1;
    } else if (strcmp(mode, "same") == 0) {
        *start = (n2 - 1) / 2;
        *n = n1;
    } else if (strcmp(mode, "valid") == 0) {
        *start = lo - 1;
        *n = hi - lo + 1;
    } else {
        return -1;
    }
    return 0;
}

static int one(const char *op, const char *mode, const char *pa, const char *pb, const char *po)
{
    convrt_tensor a = {0}, b = {0}, o = {0};
    int rc = convrt_npy_load(pa, &a);
    if (!rc)
        rc = convrt_npy_load(pb, &b);
    int64_t flags = strcmp(op, "correlate") == 0 ? CONVRT_FFT_CORRELATE : CONVRT_FFT_CONVOLVE;
    if (!rc && (a.rank != b.rank || a.rank < 1 || a.rank > 2 ||
                (strcmp(op, "correlate") && strcmp(op, "convolve")))) {
        fprintf(stderr, "%s: bad case\n", pa);
        rc = -1;
    }
    if (!rc && a.rank == 1) {
        int64_t start, n;
        if (window(mode, a.dims[0], b.dims[0], &start, &n) < 0)
            rc = -1;
        if (!rc)
            rc = convrt_tensor_alloc(&o, 1, &n);
        if (!rc)
            rc = convrt_fft_conv1d(flags, 1, a.data, a.dims[0], 0, b.data, b.dims[0], 0, o.data, start, n, 0);
    } else if (!rc) {
        int64_t sy, sx, d[2];
        if (window(mode, a.dims[0], b.dims[0], &sy, &d[0]) < 0 || window(mode, a.dims[1], b.dims[1], &sx, &d[1]) < 0)
            rc = -1;
        if (!rc)
            rc = convrt_tensor_alloc(&o, 2, d);
        if (!rc)
            rc = convrt_fft_conv2d(flags, 1, a.data, a.dims[0], a.dims[1], a.dims[1], 0, b.data, b.dims[0],
                                   b.dims[1], b.dims[1], 0, o.data, sy, d[0], sx, d[1], d[1], 0);
    }
    if (!rc)
        rc = convrt_npy_save(po, &o);
    convrt_tensor_free(&a);
    convrt_tensor_free(&b);
    convrt_tensor_free(&o);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    FILE *f = fopen(argv[1], "r");
    if (!f)
        return 2;
    char op[32], mode[32], pa[1024], pb[1024], po[1024];
    int bad = 0;
    while (fscanf(f, "%31s %31s %1023s %1023s %1023s", op, mode, pa, pb, po) == 5)
        if (one(op, mode, pa, pb, po) != 0)
            bad = 1;
    fclose(f);
    return bad;
}
