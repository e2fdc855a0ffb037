/* Convolution and correlation through FFTs (convrt_fft_conv1d/2d) against
 * direct sums in double: every mode as a window, both operations, odd,
 * even, prime and unit lengths, either operand the longer, batches with
 * strides, 2-D windows and tiles, long kernels (4096 and 22,050 taps),
 * large values, the same bits for every thread count and from concurrent
 * callers, and every error code. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>

#include "common.h"
#include "convrt_abi.h"
#include "internal.h"   /* convrt__keep_fresh */

static void fft_fini(void) { convrt_set_error_handler(NULL, NULL); }

TestSuite(fft, .init = capture_start, .fini = fft_fini);

/* The project's conformance tolerance is 1e-4 of the largest magnitude;
 * the FFT path is held to a tenth of that. */
#define TOL 1e-5

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state;

static void seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }

static double uniform(void)   /* [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static float *random_floats(int64_t n, double scale, double offset)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    cr_assert(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(offset + scale * uniform());
    return p;
}

/* full[m] by definition (scipy.signal.convolve / correlate) */
static double ref1(int corr, const float *a, int64_t n1, const float *b, int64_t n2, int64_t m)
{
    double s = 0.0;
    for (int64_t t = 0; t < n2; t++) {
        int64_t j = corr ? m - (n2 - 1) + t : m - t;
        if (j >= 0 && j < n1)
            s += (double)a[j] * (double)b[t];
    }
    return s;
}

static double ref2(int corr, const float *a, int64_t h1, int64_t w1, int64_t ar, const float *b, int64_t h2,
                   int64_t w2, int64_t br, int64_t y, int64_t x)
{
    double s = 0.0;
    for (int64_t ty = 0; ty < h2; ty++) {
        int64_t iy = corr ? y - (h2 - 1) + ty : y - ty;
        if (iy < 0 || iy >= h1)
            continue;
        for (int64_t tx = 0; tx < w2; tx++) {
            int64_t ix = corr ? x - (w2 - 1) + tx : x - tx;
            if (ix >= 0 && ix < w1)
                s += (double)a[iy * ar + ix] * (double)b[ty * br + tx];
        }
    }
    return s;
}

/* max |err| / max |ref| over the compared elements (max |err| when the
 * reference is all zero) */
typedef struct errstat {
    double maxerr, maxref;
} errstat;

static void err_add(errstat *e, double ref, float got)
{
    double d = fabs(ref - (double)got);
    if (!(d <= e->maxerr))            /* NaN counts as an error */
        e->maxerr = isnan(d) ? INFINITY : d;
    if (fabs(ref) > e->maxref)
        e->maxref = fabs(ref);
}

static double err_rel(const errstat *e)
{
    return e->maxref > 0 ? e->maxerr / e->maxref : e->maxerr;
}

enum { MODE_FULL, MODE_SAME, MODE_VALID };

static void window(int mode, int64_t n1, int64_t n2, int64_t *start, int64_t *n)
{
    int64_t lo = n1 < n2 ? n1 : n2, hi = n1 < n2 ? n2 : n1;
    switch (mode) {
    case MODE_FULL:  *start = 0; *n = n1 + n2 - 1; break;
    case MODE_SAME:  *start = (n2 - 1) / 2; *n = n1; break;
    default:         *start = lo - 1; *n = hi - lo + 1; break;
    }
}

/* One 1-D case: `planes` planes with gaps between them (strides larger
 * than the data), a shared or per-plane kernel, compared element by
 * element; the gaps of the output must be untouched. */
static double case1(int corr, int64_t n1, int64_t n2, int64_t start, int64_t nout, int64_t planes,
                    int shared)
{
    int64_t as = n1 + 3, bs = shared ? 0 : n2 + 2, os = nout + 4;
    float *a = random_floats(planes * as, 1.0, 0.0);
    float *b = random_floats(shared ? n2 : planes * bs, 1.0, 0.0);
    float *o = malloc((size_t)(planes * os) * sizeof *o);
    for (int64_t i = 0; i < planes * os; i++)
        o[i] = 12345.0f;
    int rc = convrt_fft_conv1d(corr, planes, a, n1, as, b, n2, bs, o, start, nout, os);
    cr_assert_eq(rc, 0, "n1=%lld n2=%lld: rc %d (%s)", (long long)n1, (long long)n2, rc, cap.message);
    errstat e = {0, 0};
    for (int64_t p = 0; p < planes; p++) {
        for (int64_t i = 0; i < nout; i++)
            err_add(&e, ref1(corr, a + p * as, n1, b + p * bs, n2, start + i), o[p * os + i]);
        for (int64_t i = nout; i < os; i++)
            cr_assert_eq(o[p * os + i], 12345.0f, "gap after plane %lld written", (long long)p);
    }
    free(a);
    free(b);
    free(o);
    return err_rel(&e);
}

/* ---------------------------------------------------------------- 1-D */

Test(fft, modes_small_lengths_convolve_and_correlate)
{
    /* odd, even, prime, powers of two and one either side, 1 */
    static const int64_t len[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 64, 97, 128, 257};
    const int nl = (int)(sizeof len / sizeof len[0]);
    seed(1);
    double worst = 0;
    for (int i = 0; i < nl; i++)
        for (int j = 0; j < nl; j++)
            for (int corr = 0; corr < 2; corr++)
                for (int mode = 0; mode < 3; mode++) {
                    int64_t start, n;
                    window(mode, len[i], len[j], &start, &n);
                    double r = case1(corr, len[i], len[j], start, n, 1, 1);
                    cr_expect(r <= TOL, "%s n1=%lld n2=%lld mode %d: error %.3g", corr ? "correlate" : "convolve",
                              (long long)len[i], (long long)len[j], mode, r);
                    worst = r > worst ? r : worst;
                }
    cr_expect_eq(cap.count, 0);
}

/* The numbers of SciPy's documentation for the same three modes. */
Test(fft, scipy_documented_values)
{
    const float x[5] = {0, 1, 2, 3, 4}, w[3] = {1, -1, 2};
    const float full[7] = {0, 1, 1, 3, 5, 2, 8}, same[5] = {1, 1, 3, 5, 2}, valid[3] = {1, 3, 5};
    const float csame[5] = {2, 3, 5, 7, -1};
    float o[7];
    cr_assert_eq(convrt_fft_conv1d(CONVRT_FFT_CONVOLVE, 1, x, 5, 0, w, 3, 0, o, 0, 7, 0), 0);
    for (int i = 0; i < 7; i++)
        cr_expect(fabsf(o[i] - full[i]) < 1e-5f, "full[%d] = %g", i, o[i]);
    cr_assert_eq(convrt_fft_conv1d(CONVRT_FFT_CONVOLVE, 1, x, 5, 0, w, 3, 0, o, 1, 5, 0), 0);
    for (int i = 0; i < 5; i++)
        cr_expect(fabsf(o[i] - same[i]) < 1e-5f, "same[%d] = %g", i, o[i]);
    cr_assert_eq(convrt_fft_conv1d(CONVRT_FFT_CONVOLVE, 1, x, 5, 0, w, 3, 0, o, 2, 3, 0), 0);
    for (int i = 0; i < 3; i++)
        cr_expect(fabsf(o[i] - valid[i]) < 1e-5f, "valid[%d] = %g", i, o[i]);
    cr_assert_eq(convrt_fft_conv1d(CONVRT_FFT_CORRELATE, 1, x, 5, 0, w, 3, 0, o, 1, 5, 0), 0);
    for (int i = 0; i < 5; i++)
        cr_expect(fabsf(o[i] - csame[i]) < 1e-5f, "correlate same[%d] = %g", i, o[i]);
}

Test(fft, windows_outside_the_result_are_zero)
{
    seed(2);
    for (int corr = 0; corr < 2; corr++) {
        cr_expect(case1(corr, 20, 7, -5, 40, 1, 1) <= TOL);      /* covers both ends */
        cr_expect(case1(corr, 7, 20, 10, 30, 2, 0) <= TOL);      /* runs past the end */
    }
    float a[4] = {1, 2, 3, 4}, b[2] = {1, 1}, o[6];
    for (int i = 0; i < 6; i++)
        o[i] = 9.0f;
    cr_assert_eq(convrt_fft_conv1d(0, 1, a, 4, 0, b, 2, 0, o, 5, 6, 0), 0);   /* entirely after */
    for (int i = 0; i < 6; i++)
        cr_expect_eq(o[i], 0.0f);
    cr_assert_eq(convrt_fft_conv1d(0, 1, a, 4, 0, b, 2, 0, o, -10, 6, 0), 0); /* entirely before */
    for (int i = 0; i < 6; i++)
        cr_expect_eq(o[i], 0.0f);
}

Test(fft, batched_planes_shared_and_own_kernels)
{
    seed(3);
    for (int corr = 0; corr < 2; corr++)
        for (int shared = 0; shared < 2; shared++) {
            /* one block per plane: blocks of different planes are paired */
            cr_expect(case1(corr, 50, 9, 0, 58, 7, shared) <= TOL, "corr %d shared %d", corr, shared);
            /* many blocks per plane, odd count of blocks overall */
            cr_expect(case1(corr, 3001, 200, 0, 3200, 3, shared) <= TOL, "corr %d shared %d", corr, shared);
            /* the longer operand is b: kernels and signals swap roles */
            cr_expect(case1(corr, 30, 301, 0, 330, 4, shared) <= TOL, "corr %d shared %d", corr, shared);
            int64_t s, n;
            window(MODE_SAME, 1000, 77, &s, &n);
            cr_expect(case1(corr, 1000, 77, s, n, 5, shared) <= TOL);
            window(MODE_VALID, 64, 1000, &s, &n);
            cr_expect(case1(corr, 64, 1000, s, n, 2, shared) <= TOL);
        }
    cr_expect_eq(cap.count, 0);
}

/* Plane stride 0 for a: every plane reads the same signal. */
Test(fft, shared_signal_own_kernels)
{
    seed(4);
    const int64_t n1 = 500, n2 = 40, planes = 3, nout = n1 + n2 - 1;
    float *a = random_floats(n1, 1.0, 0.0), *b = random_floats(planes * n2, 1.0, 0.0);
    float *o = malloc((size_t)(planes * nout) * sizeof *o);
    cr_assert_eq(convrt_fft_conv1d(0, planes, a, n1, 0, b, n2, n2, o, 0, nout, nout), 0);
    errstat e = {0, 0};
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < nout; i++)
            err_add(&e, ref1(0, a, n1, b + p * n2, n2, i), o[p * nout + i]);
    cr_expect(err_rel(&e) <= TOL, "error %.3g", err_rel(&e));
    free(a);
    free(b);
    free(o);
}

/* Long kernels: every output of a 4096-tap filter, and a reverb-sized
 * case (200,000 samples, 22,050 taps) checked at its first and last
 * outputs and at every 97th in between. */
Test(fft, long_kernel_4096_taps, .timeout = 120)
{
    seed(5);
    const int64_t n1 = 60000, n2 = 4096;
    float *a = random_floats(n1, 1.0, 0.0), *b = random_floats(n2, 1.0, 0.0);
    float *o = malloc((size_t)(n1 + n2) * sizeof *o);
    for (int corr = 0; corr < 2; corr++) {
        cr_assert_eq(convrt_fft_conv1d(corr, 1, a, n1, 0, b, n2, 0, o, 0, n1 + n2 - 1, 0), 0);
        errstat e = {0, 0};
        for (int64_t m = 0; m < n1 + n2 - 1; m++)
            err_add(&e, ref1(corr, a, n1, b, n2, m), o[m]);
        cr_expect(err_rel(&e) <= TOL, "%s: error %.3g", corr ? "correlate" : "convolve", err_rel(&e));
    }
    free(a);
    free(b);
    free(o);
}

static double sampled1(int corr, const float *a, int64_t n1, const float *b, int64_t n2, const float *o,
                       int64_t start, int64_t nout)
{
    errstat e = {0, 0};
    for (int64_t i = 0; i < nout; i += (i < 300 || i > nout - 300) ? 1 : 97)
        err_add(&e, ref1(corr, a, n1, b, n2, start + i), o[i]);
    return err_rel(&e);
}

Test(fft, reverb_22050_taps, .timeout = 120)
{
    seed(6);
    const int64_t n1 = 200000, n2 = 22050, nfull = n1 + n2 - 1;
    float *a = random_floats(n1, 1.0, 0.0), *b = malloc((size_t)n2 * sizeof *b);
    for (int64_t t = 0; t < n2; t++)   /* a decaying noise tail, like a room */
        b[t] = (float)(uniform() * exp(-6.9 * (double)t / (double)n2));
    float *o = malloc((size_t)nfull * sizeof *o);
    cr_assert_eq(convrt_fft_conv1d(0, 1, a, n1, 0, b, n2, 0, o, 0, nfull, 0), 0);
    double r = sampled1(0, a, n1, b, n2, o, 0, nfull);
    cr_expect(r <= TOL, "full: error %.3g", r);
    cr_assert_eq(convrt_fft_conv1d(CONVRT_FFT_CORRELATE, 1, a, n1, 0, b, n2, 0, o, (n2 - 1) / 2, n1, 0), 0);
    r = sampled1(1, a, n1, b, n2, o, (n2 - 1) / 2, n1);
    cr_expect(r <= TOL, "correlate same: error %.3g", r);
    free(a);
    free(b);
    free(o);
}

/* Scale does not matter to a relative error, a large offset does: it
 * makes the output dominated by a smooth ramp while the noise on top is
 * 1e-3 of it.  The bound is relative to the largest output either way. */
Test(fft, large_values, .timeout = 60)
{
    seed(7);
    const int64_t n1 = 30000, n2 = 4096, nfull = n1 + n2 - 1;
    float *a = random_floats(n1, 1e3, 1e6), *b = random_floats(n2, 1e3, 1e3);
    float *o = malloc((size_t)nfull * sizeof *o);
    cr_assert_eq(convrt_fft_conv1d(0, 1, a, n1, 0, b, n2, 0, o, 0, nfull, 0), 0);
    errstat e = {0, 0};
    for (int64_t m = 0; m < nfull; m++)
        err_add(&e, ref1(0, a, n1, b, n2, m), o[m]);
    cr_expect(e.maxref > 4e12, "largest output %.3g", e.maxref);
    cr_expect(err_rel(&e) <= TOL, "error %.3g", err_rel(&e));
    free(a);
    free(b);
    free(o);
}

/* The calling thread keeps its work block between calls, also when a
 * call that needs less comes between two that need more: the third call
 * allocates nothing (the block, recorded at the small call's size, was
 * freed and a new one faulted in on every large call). */
Test(fft, work_block_kept_across_a_smaller_call)
{
    int64_t n1 = 1 << 16, n2 = 4096, m1 = 40, m2 = 9;
    float *a = random_floats(n1, 1.0, 0.0), *b = random_floats(n2, 1.0, 0.0);
    float *o = malloc((size_t)(n1 + n2) * sizeof *o);
    cr_assert_eq(convrt_fft_conv1d(0, 1, a, n1, 0, b, n2, 0, o, 0, n1 + n2 - 1, 0), 0, "%s", cap.message);
    size_t fresh = convrt__keep_fresh(CONVRT__KEEP_FFT);
    cr_assert_eq(convrt_fft_conv1d(0, 1, a, m1, 0, b, m2, 0, o, 0, m1 + m2 - 1, 0), 0, "%s", cap.message);
    cr_assert_eq(convrt_fft_conv1d(0, 1, a, n1, 0, b, n2, 0, o, 0, n1 + n2 - 1, 0), 0, "%s", cap.message);
    cr_expect_eq(convrt__keep_fresh(CONVRT__KEEP_FFT), fresh,
                 "the large call after the small one took a new block (%zu new)",
                 convrt__keep_fresh(CONVRT__KEEP_FFT) - fresh);
    free(a);
    free(b);
    free(o);
}

/* The power-of-two transforms in vector code (fft_pow2.c), forward and
 * inverse, against a DFT in double for lengths 16 (its shortest) to 4096,
 * within 1e-6 of the largest bin; and the code for every instruction set
 * the CPU has gives the same bits, so the results do not depend on the
 * machine.  Lengths that are not powers of two have no twiddles. */
Test(fft, pow2_transforms_against_a_double_dft)
{
    cr_expect_null(convrt__fft2_twiddles(8));
    cr_expect_null(convrt__fft2_twiddles(48));
    seed(77);
    for (int n = CONVRT__FFT2_MIN; n <= 4096; n *= 2) {
        float *w = convrt__fft2_twiddles(n);
        cr_assert(w, "no twiddles for %d", n);
        float *x = random_floats(2 * n, 1.0, 0.0), *in = malloc((size_t)n * 8), *out[3];
        cr_assert(in);
        for (int inverse = 0; inverse <= 1; inverse++) {
            double *ref = calloc((size_t)n * 2, sizeof *ref), big = 0.0, err = 0.0;
            cr_assert(ref);
            for (int k = 0; k < n; k++) {
                for (int j = 0; j < n; j++) {
                    double ph = (inverse ? 2.0 : -2.0) * M_PI * (double)((int64_t)j * k % n) / (double)n;
                    ref[2 * k] += x[2 * j] * cos(ph) - x[2 * j + 1] * sin(ph);
                    ref[2 * k + 1] += x[2 * j] * sin(ph) + x[2 * j + 1] * cos(ph);
                }
                big = fmax(big, hypot(ref[2 * k], ref[2 * k + 1]));
            }
            int have = 0;
            for (int isa = CONVRT__FFT2_SSE2; isa <= CONVRT__FFT2_AVX512; isa++) {
                out[isa] = malloc((size_t)n * 8);
                cr_assert(out[isa]);
                memcpy(in, x, (size_t)n * 8);
                if (convrt__fft2_isa(isa, n, w, inverse, in, out[isa])) {
                    cr_expect_neq(isa, CONVRT__FFT2_SSE2, "every x86-64 CPU has SSE2");
                    continue;
                }
                have++;
                if (isa > CONVRT__FFT2_SSE2)
                    cr_expect(memcmp(out[isa], out[CONVRT__FFT2_SSE2], (size_t)n * 8) == 0,
                              "n = %d inverse %d: instruction set %d gave other bits than SSE2", n, inverse, isa);
            }
            cr_expect_geq(have, 1);
            memcpy(in, x, (size_t)n * 8);
            float *got = out[CONVRT__FFT2_SSE2];
            convrt__fft2(n, w, inverse, in, got);
            for (int i = 0; i < 2 * n; i++)
                err = fmax(err, fabs(got[i] - ref[i]));
            cr_expect_leq(err, 1e-6 * big, "n = %d inverse %d: error %.3g of %.3g", n, inverse, err, big);
            for (int isa = CONVRT__FFT2_SSE2; isa <= CONVRT__FFT2_AVX512; isa++)
                free(out[isa]);
            free(ref);
        }
        free(x);
        free(in);
        free(w);
    }
}

Test(fft, nothing_to_do)
{
    /* no planes or an empty window: nothing is read or written */
    cr_expect_eq(convrt_fft_conv1d(0, 0, NULL, 5, 0, NULL, 3, 0, NULL, 0, 7, 0), 0);
    cr_expect_eq(convrt_fft_conv1d(0, 3, NULL, 5, 0, NULL, 3, 0, NULL, 0, 0, 0), 0);
    cr_expect_eq(convrt_fft_conv2d(0, 1, NULL, 5, 5, 5, 0, NULL, 3, 3, 3, 0, NULL, 0, 0, 0, 7, 7, 0), 0);
    cr_expect_eq(cap.count, 0);
}

/* ---------------------------------------------------------------- 2-D */

typedef struct case2d {
    int64_t h1, w1, h2, w2, sy, oh, sx, ow, planes;
    int shared;
} case2d;

static double run2(int corr, const case2d *k)
{
    int64_t ar = k->w1 + 2, as = k->h1 * ar + 5, br = k->w2 + 1, bs = k->shared ? 0 : k->h2 * br + 3;
    int64_t orow = k->ow + 3, os = k->oh * orow + 7, planes = k->planes;
    float *a = random_floats(planes * as, 1.0, 0.0);
    float *b = random_floats(k->shared ? k->h2 * br : planes * bs, 1.0, 0.0);
    float *o = malloc((size_t)(planes * os) * sizeof *o);
    for (int64_t i = 0; i < planes * os; i++)
        o[i] = 777.0f;
    int rc = convrt_fft_conv2d(corr, planes, a, k->h1, k->w1, ar, as, b, k->h2, k->w2, br, bs, o, k->sy, k->oh,
                               k->sx, k->ow, orow, os);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, cap.message);
    errstat e = {0, 0};
    for (int64_t p = 0; p < planes; p++)
        for (int64_t y = 0; y < k->oh; y++) {
            for (int64_t x = 0; x < k->ow; x++)
                err_add(&e, ref2(corr, a + p * as, k->h1, k->w1, ar, b + p * bs, k->h2, k->w2, br, k->sy + y,
                                 k->sx + x),
                        o[p * os + y * orow + x]);
            for (int64_t x = k->ow; x < orow; x++)
                cr_assert_eq(o[p * os + y * orow + x], 777.0f, "gap after a row written");
        }
    free(a);
    free(b);
    free(o);
    return err_rel(&e);
}

Test(fft, conv2d_modes_and_windows)
{
    static const int64_t dims[] = {1, 2, 3, 5, 8, 13, 16};
    const int nd = (int)(sizeof dims / sizeof dims[0]);
    seed(8);
    for (int i = 0; i < nd; i++)
        for (int j = 0; j < nd; j += 2)
            for (int k = 0; k < nd; k += 3)
                for (int l = 1; l < nd; l += 2)
                    for (int corr = 0; corr < 2; corr++) {
                        int64_t h1 = dims[i], w1 = dims[j], h2 = dims[k], w2 = dims[l];
                        case2d full = {h1, w1, h2, w2, 0, h1 + h2 - 1, 0, w1 + w2 - 1, 1, 1};
                        case2d same = {h1, w1, h2, w2, (h2 - 1) / 2, h1, (w2 - 1) / 2, w1, 2, 0};
                        case2d odd = {h1, w1, h2, w2, -2, h1 + 1, 3, w2 + 2, 1, 1};
                        cr_expect(run2(corr, &full) <= TOL, "full %lldx%lld * %lldx%lld", (long long)h1,
                                  (long long)w1, (long long)h2, (long long)w2);
                        cr_expect(run2(corr, &same) <= TOL, "same %lldx%lld * %lldx%lld", (long long)h1,
                                  (long long)w1, (long long)h2, (long long)w2);
                        cr_expect(run2(corr, &odd) <= TOL, "window %lldx%lld * %lldx%lld", (long long)h1,
                                  (long long)w1, (long long)h2, (long long)w2);
                        if (h1 >= h2 && w1 >= w2) {
                            case2d valid = {h1, w1, h2, w2, h2 - 1, h1 - h2 + 1, w2 - 1, w1 - w2 + 1, 1, 1};
                            cr_expect(run2(corr, &valid) <= TOL);
                        }
                    }
    cr_expect_eq(cap.count, 0);
}

/* Large enough that the output is cut into several tiles per plane. */
Test(fft, conv2d_tiles_batched, .timeout = 120)
{
    seed(9);
    case2d k31 = {400, 330, 31, 31, 15, 400, 15, 330, 2, 1};
    case2d own = {260, 300, 17, 23, 0, 276, 0, 322, 3, 0};
    case2d k64 = {300, 257, 64, 64, 0, 363, 0, 320, 1, 1};
    for (int corr = 0; corr < 2; corr++) {
        cr_expect(run2(corr, &k31) <= TOL);
        cr_expect(run2(corr, &own) <= TOL);
        cr_expect(run2(corr, &k64) <= TOL);
    }
    /* b the larger: kernel and image swap roles, with a shared b */
    case2d swap = {20, 25, 90, 70, 10, 60, 5, 80, 3, 1};
    cr_expect(run2(0, &swap) <= TOL);
    cr_expect(run2(1, &swap) <= TOL);
}

/* ------------------------------------------------------- determinism */

Test(fft, same_bits_for_every_thread_count, .timeout = 120)
{
    seed(10);
    const int64_t n1 = 70001, n2 = 3000, planes = 3, nout = n1 + n2 - 1;
    float *a = random_floats(planes * n1, 1.0, 0.0), *b = random_floats(planes * n2, 1.0, 0.0);
    size_t bytes = (size_t)(planes * nout) * sizeof(float);
    float *first = malloc(bytes), *o = malloc(bytes);
    const int64_t H = 300, W = 280, K = 33, oh = H + K - 1, ow = W + K - 1;
    float *img = random_floats(2 * H * W, 1.0, 0.0), *ker = random_floats(2 * K * K, 1.0, 0.0);
    size_t bytes2 = (size_t)(2 * oh * ow) * sizeof(float);
    float *first2 = malloc(bytes2), *o2 = malloc(bytes2);
    const int threads[] = {1, 2, 3, 7, 1};
    for (int s = 0; s < 2; s++)            /* shared kernel, then own kernels */
        for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
            convrt_set_num_threads(threads[t]);
            float *dst = t == 0 ? first : o;
            cr_assert_eq(convrt_fft_conv1d(s, planes, a, n1, n1, b, n2, s ? n2 : 0, dst, 0, nout, nout), 0);
            if (t > 0)
                cr_expect(memcmp(first, o, bytes) == 0, "1-D: %d threads changed the bits", threads[t]);
            float *dst2 = t == 0 ? first2 : o2;
            cr_assert_eq(convrt_fft_conv2d(s, 2, img, H, W, W, H * W, ker, K, K, K, s ? K * K : 0, dst2, 0, oh,
                                           0, ow, ow, oh * ow),
                         0);
            if (t > 0)
                cr_expect(memcmp(first2, o2, bytes2) == 0, "2-D: %d threads changed the bits", threads[t]);
        }
    convrt_set_num_threads(0);
    free(a);
    free(b);
    free(first);
    free(o);
    free(img);
    free(ker);
    free(first2);
    free(o2);
}

typedef struct concurrent {
    const float *a, *b;
    int64_t n1, n2;
    float *out;
    int rc;
} concurrent;

static void *concurrent_main(void *v)
{
    concurrent *c = v;
    for (int r = 0; r < 3; r++)
        c->rc |= convrt_fft_conv1d(r & 1, 1, c->a, c->n1, 0, c->b, c->n2, 0, c->out, 0, c->n1 + c->n2 - 1, 0);
    return NULL;
}

/* Several application threads at once (plans shared, pool busy): each
 * gets the bits of a lone call. */
Test(fft, concurrent_callers, .timeout = 120)
{
    seed(11);
    enum { T = 4 };
    const int64_t n1 = 40000, n2[T] = {1000, 2500, 1000, 5000};
    float *a = random_floats(n1, 1.0, 0.0), *b = random_floats(5000, 1.0, 0.0);
    concurrent c[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        c[i] = (concurrent){a, b, n1, n2[i], malloc((size_t)(n1 + n2[i]) * sizeof(float)), 0};
        cr_assert_eq(pthread_create(&th[i], NULL, concurrent_main, &c[i]), 0);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    float *lone = malloc((size_t)(n1 + 5000) * sizeof(float));
    for (int i = 0; i < T; i++) {
        cr_expect_eq(c[i].rc, 0);
        /* the last of the three calls (r = 2) was a convolution */
        cr_assert_eq(convrt_fft_conv1d(0, 1, a, n1, 0, b, n2[i], 0, lone, 0, n1 + n2[i] - 1, 0), 0);
        cr_expect(memcmp(lone, c[i].out, (size_t)(n1 + n2[i] - 1) * sizeof(float)) == 0, "caller %d", i);
        free(c[i].out);
    }
    free(lone);
    free(a);
    free(b);
}

/* ------------------------------------------------------------ errors */

static float ea[16], eb[16], eo[64];

/* Assert that the call fails with code, one report mentioning every
 * fragment, and leaves the output untouched. */
#define expect_fail(code_, call_, ...)                                          \
    do {                                                                        \
        for (int i_ = 0; i_ < 64; i_++)                                         \
            eo[i_] = 5.0f;                                                      \
        capture_reset();                                                        \
        cr_expect_eq((call_), (code_), #call_);                                 \
        expect_report(code_, __VA_ARGS__);                                      \
        for (int i_ = 0; i_ < 64; i_++)                                         \
            cr_expect_eq(eo[i_], 5.0f, "output written by a failing call");     \
    } while (0)

Test(fft, conv1d_errors)
{
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv1d(4, 1, ea, 8, 0, eb, 3, 0, eo, 0, 10, 0), "flags");
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv1d(0, -1, ea, 8, 0, eb, 3, 0, eo, 0, 10, 0), "planes");
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv1d(0, 1, ea, 8, 0, eb, 3, 0, eo, 0, -2, 0), "nout");
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv1d(0, 1, ea, 0, 0, eb, 3, 0, eo, 0, 10, 0), "operand a", "0");
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv1d(0, 1, ea, 8, 0, eb, -3, 0, eo, 0, 10, 0), "operand b");
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv1d(0, 2, ea, 8, -8, eb, 3, 0, eo, 0, 10, 10), "negative");
    expect_fail(CONVRT_E_NULL_ARG, convrt_fft_conv1d(0, 1, NULL, 8, 0, eb, 3, 0, eo, 0, 10, 0), "a is NULL");
    expect_fail(CONVRT_E_NULL_ARG, convrt_fft_conv1d(0, 1, ea, 8, 0, NULL, 3, 0, eo, 0, 10, 0), "b is NULL");
    cr_expect_eq(convrt_fft_conv1d(0, 1, ea, 8, 0, eb, 3, 0, NULL, 0, 10, 0), CONVRT_E_NULL_ARG);
    expect_fail(CONVRT_E_ALIAS, convrt_fft_conv1d(0, 2, ea, 8, 8, eb, 3, 0, eo, 0, 10, 9), "planes overlap");
    expect_fail(CONVRT_E_ALIAS, convrt_fft_conv1d(0, 1, eo, 8, 0, eb, 3, 0, eo + 4, 0, 10, 0), "operand a");
    expect_fail(CONVRT_E_ALIAS, convrt_fft_conv1d(0, 1, ea, 8, 0, eo + 20, 3, 0, eo + 10, 0, 12, 0), "operand b");
    expect_fail(CONVRT_E_OVERFLOW, convrt_fft_conv1d(0, 1, ea, INT64_MAX, 0, eb, 3, 0, eo, 0, 10, 0), "overflow");
    expect_fail(CONVRT_E_OVERFLOW, convrt_fft_conv1d(0, 1, ea, 8, 0, eb, 3, 0, eo, INT64_MAX - 3, 10, 0),
                "overflow");
    expect_fail(CONVRT_E_OVERFLOW, convrt_fft_conv1d(0, 3, ea, 8, INT64_MAX / 2, eb, 3, 0, eo, 0, 10, 10),
                "overflow");
    /* the shorter operand too long for the FFT path (checked before any
     * memory is touched) */
    int64_t big = ((int64_t)1 << 23) + 1;
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv1d(0, 1, ea, big, 0, eb, big, 0, eo, 0, 10, 0), "8388608");
}

Test(fft, conv2d_errors)
{
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv2d(2, 1, ea, 4, 4, 4, 0, eb, 2, 2, 2, 0, eo, 0, 5, 0, 5, 5, 0),
                "flags");
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv2d(0, 1, ea, 4, 4, 4, 0, eb, 2, 2, 2, 0, eo, 0, -5, 0, 5, 5, 0),
                "oh");
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv2d(0, 1, ea, 4, 0, 4, 0, eb, 2, 2, 2, 0, eo, 0, 5, 0, 5, 5, 0),
                "4x0");
    expect_fail(CONVRT_E_INVALID, convrt_fft_conv2d(0, 1, ea, 4, 4, -4, 0, eb, 2, 2, 2, 0, eo, 0, 5, 0, 5, 5, 0),
                "negative");
    expect_fail(CONVRT_E_NULL_ARG,
                convrt_fft_conv2d(0, 1, ea, 4, 4, 4, 0, NULL, 2, 2, 2, 0, eo, 0, 5, 0, 5, 5, 0), "b is NULL");
    expect_fail(CONVRT_E_ALIAS, convrt_fft_conv2d(0, 1, ea, 4, 4, 4, 0, eb, 2, 2, 2, 0, eo, 0, 5, 0, 5, 4, 0),
                "rows overlap");
    expect_fail(CONVRT_E_ALIAS, convrt_fft_conv2d(0, 2, ea, 4, 4, 4, 16, eb, 2, 2, 2, 0, eo, 0, 5, 0, 5, 5, 20),
                "planes overlap");
    expect_fail(CONVRT_E_ALIAS, convrt_fft_conv2d(0, 1, eo, 4, 4, 4, 0, eb, 2, 2, 2, 0, eo + 8, 0, 5, 0, 5, 5, 0),
                "operand a");
    expect_fail(CONVRT_E_OVERFLOW,
                convrt_fft_conv2d(0, 1, ea, 4, 4, INT64_MAX / 2, 0, eb, 2, 2, 2, 0, eo, 0, 5, 0, 5, 5, 0),
                "overflow");
    expect_fail(CONVRT_E_OVERFLOW,
                convrt_fft_conv2d(0, 1, ea, 4, 4, 4, 0, eb, 2, 2, 2, 0, eo, INT64_MAX, 5, 0, 5, 5, 0), "overflow");
    /* too large a kernel: refused on the sizes alone (rows of stride 0 keep
     * the extents small) */
    expect_fail(CONVRT_E_INVALID,
                convrt_fft_conv2d(0, 1, ea, 2000, 2000, 0, 0, eb, 1100, 1000, 0, 0, eo, 0, 5, 0, 5, 5, 0),
                "1100x1000");
}

/* Out of memory: refused before anything is written.  The address space
 * of the test's own process is capped just above what it uses, and a
 * 2^22-tap kernel needs a few hundred MB of plans and work memory.
 * AddressSanitizer cannot run under such a cap. */
Test(fft, out_of_memory_writes_nothing, .timeout = 60)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("AddressSanitizer reserves more address space than the cap");
#else
    const int64_t n = (int64_t)1 << 22;
    float *a = calloc((size_t)n, sizeof(float)), *b = calloc((size_t)n, sizeof(float));
    float *o = malloc(64 * sizeof(float));
    cr_assert(a && b && o);
    for (int i = 0; i < 64; i++)
        o[i] = 5.0f;
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert(f && fscanf(f, "%ld", &pages) == 1);
    fclose(f);
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_AS, &rl), 0);
    rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)48 << 20);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < limit)
        cr_skip_test("the address space is already capped below what the test needs");
    rl.rlim_cur = limit;
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
    capture_reset();
    cr_expect_eq(convrt_fft_conv1d(0, 1, a, n, 0, b, n, 0, o, n - 10, 64, 0), CONVRT_E_NOMEM);
    expect_report(CONVRT_E_NOMEM, "cannot allocate");
    for (int i = 0; i < 64; i++)
        cr_expect_eq(o[i], 5.0f, "output written by a failing call");
    free(a);
    free(b);
    free(o);
#endif
}
