/* filters_loops.c - the filtering workloads as plain C loops, the baseline
 * any compiler should beat.
 *
 * These are the nested loops one writes first: no intrinsics, no blocking,
 * no reordering of the sums, the taps in the innermost loop.  Whatever
 * speed they have comes from the C compiler alone (the benchmark builds
 * them with clang-19 -O3 -march=native), so they show what a convolution
 * costs before anyone works on it.  The only concession to the machine is
 * an OpenMP `parallel for` over the outer loop, so that the all-cores run
 * compares like with like.
 *
 * Built as a shared library and called from bench/filters.py through
 * ctypes: filters_loops_set_threads() sets OpenMP's thread count. */
#include <omp.h>

void filters_loops_set_threads(int n) { omp_set_num_threads(n); }

int filters_loops_get_threads(void) { return omp_get_max_threads(); }

static long clampl(long v, long lo, long hi) { return v < lo ? lo : v > hi ? hi : v; }

/* out[y][x] = sum over i, j of k[i][j] * in[y + i - kh/2][x + j - kw/2]
 * (a correlation, centred for odd sizes: pad=same), with every index
 * clamped to the image: replicate padding. */
void filter2d_replicate(const float *in, float *out, long h, long w, const float *k, long kh,
                        long kw)
{
#pragma omp parallel for
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++) {
            float acc = 0;
            for (long i = 0; i < kh; i++) {
                long yy = clampl(y + i - kh / 2, 0, h - 1);
                for (long j = 0; j < kw; j++) {
                    long xx = clampl(x + j - kw / 2, 0, w - 1);
                    acc += k[i * kw + j] * in[yy * w + xx];
                }
            }
            out[y * w + x] = acc;
        }
}

/* y[i] = sum over j of h[j] * x[i - j], for i in [0, n + k - 1): the full
 * convolution, each output summing only the taps that overlap the signal. */
void conv1d_full(const float *x, long n, const float *h, long k, float *y)
{
#pragma omp parallel for
    for (long i = 0; i < n + k - 1; i++) {
        long lo = i - (n - 1) > 0 ? i - (n - 1) : 0;
        long hi = i < k - 1 ? i : k - 1;
        float acc = 0;
        for (long j = lo; j <= hi; j++)
            acc += h[j] * x[i - j];
        y[i] = acc;
    }
}
