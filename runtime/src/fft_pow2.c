/* fft_pow2.c - complex FFTs of power-of-two lengths in vector code, for
 * the FFT convolutions of fft.c (which keeps kissfft for its other
 * lengths, 3, 5 and 15 times a power of two).
 *
 * Stockham's autosort radix-2 algorithm: log2(n) passes, each reading one
 * buffer and writing the other, every pass in the natural order, so no
 * bit reversal.  Pass t (s = 2^t, j = s p + q, 0 <= p < n / 2s,
 * 0 <= q < s) takes a = x[j] and b = x[j + n/2] and writes
 *     y[2 s p + q] = a + b,   y[2 s p + s + q] = (a - b) w^(s p),
 * w = exp(-2 pi i / n) (its conjugate for the inverse).  Both reads are
 * runs of consecutive elements; with s >= 8 so are the writes (and the
 * twiddle is one value for a run), below that the 8 values a vector holds
 * are interleaved in registers with fixed shuffles.  From s = 8 on, two
 * passes are made as one radix-4 pass (pass4_wide), which reads and
 * writes each element once where two passes did twice: 1.3-1.6x faster
 * (0.09-0.15 ns per n log2 n up to 128K points on one znver4 core,
 * against 0.11-0.20 with radix-2 passes throughout and 0.76-0.98 for
 * kissfft).
 *
 * A vector is 8 complex numbers (16 floats, interleaved real and
 * imaginary), written with the compiler's generic vectors, so that one
 * source serves AVX-512, AVX2 and SSE2, each compiled for its
 * instructions, the widest the CPU has taken at each call.  Every lane
 * does the operations a scalar loop would, in the same order, with no
 * contraction into fused multiply-adds (-ffp-contract=off in
 * runtime/CMakeLists.txt), so the results are the same bits on every
 * x86-64 CPU, as kissfft's are.
 *
 * Accuracy: the twiddles (3n/4 of them, for the radix-4 passes' w^3) are
 * rounded from double precision; the error grows with log2(n), as
 * kissfft's does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

#define ld(p) (*(const v16u *)(p))
#define st(p, v) (*(v16u *)(p) = (v))

/* (re, im) -> (im, re) in every complex lane */
#define SWAP(v) __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)

/* d times the twiddles whose real parts are wr (each one twice) and whose
 * imaginary parts, with the signs of a complex product, are wis:
 * (dr wr - di wi, di wr + dr wi) */
#define TWIDDLE(d, wr, wis) ((d) * (wr) + SWAP(d) * (wis))

/* The signs of a twiddle's imaginary part in TWIDDLE (-wi, wi), the
 * conjugate's for the inverse (g = -1) */
#define SIGNS(g) ((v16){-(g), (g), -(g), (g), -(g), (g), -(g), (g), -(g), (g), -(g), (g), -(g), (g), -(g), (g)})

/* Each pass is inlined into each instruction set's copy of the body. */
#define PASS static inline __attribute__((always_inline)) void

float *convrt__fft2_twiddles(int n)
{
    if (n < CONVRT__FFT2_MIN || (n & (n - 1)))
        return NULL;
    float *w = convrt__aligned_alloc((size_t)n * 3 / 2 * sizeof(float), 0);
    if (!w)
        return NULL;
    for (int k = 0; k < n / 4 * 3; k++) {
        double ph = -2.0 * M_PI * (double)k / (double)n;
        w[2 * k] = (float)cos(ph);
        w[2 * k + 1] = (float)sin(ph);
    }
    return w;
}

/* One pass with s >= 8: runs of s consecutive elements. */
PASS pass_wide(int n, int s, const float *w, float sgn, const float *x, float *y)
{
    int h = n / 2, m = h / s;
    const v16 sign = SIGNS(sgn);
    for (int p = 0; p < m; p++) {
        v16 wr = (v16){0} + w[2 * s * p], wis = sign * w[2 * s * p + 1];
        const float *xa = x + 2 * s * p, *xb = xa + 2 * h;
        float *ya = y + 4 * s * p, *yb = ya + 2 * s;
        for (int q = 0; q < 2 * s; q += 16) {
            v16 a = ld(xa + q), b = ld(xb + q);
            st(ya + q, a + b);
            st(yb + q, TWIDDLE(a - b, wr, wis));
        }
    }
}

/* Two passes in one (radix 4) with s >= 8: a = x[j], b, c, d a quarter
 * of n apart, j = s p + q, give y[4 s p + q + k s], k = 0..3: the 4-point
 * DFT of (a, b, c, d), times w^(k s p). */
PASS pass4_wide(int n, int s, const float *w, float sgn, const float *x, float *y)
{
    int f = n / 4, m = f / s;
    const v16 sign = SIGNS(sgn);
    for (int p = 0; p < m; p++) {
        const float *w1 = w + 2 * s * p, *w2 = w + 4 * s * p, *w3 = w + 6 * s * p;
        v16 wr1 = (v16){0} + w1[0], wi1 = sign * w1[1];
        v16 wr2 = (v16){0} + w2[0], wi2 = sign * w2[1];
        v16 wr3 = (v16){0} + w3[0], wi3 = sign * w3[1];
        const float *xa = x + 2 * s * p;
        float *ya = y + 8 * s * p;
        for (int q = 0; q < 2 * s; q += 16) {
            v16 a = ld(xa + q), b = ld(xa + 2 * f + q), c = ld(xa + 4 * f + q), d = ld(xa + 6 * f + q);
            v16 apc = a + c, amc = a - c, bpd = b + d, bmd = b - d;
            v16 jbmd = SWAP(bmd) * sign;        /* (b - d) times i (forward) or -i */
            st(ya + q, apc + bpd);
            st(ya + 2 * s + q, TWIDDLE(amc - jbmd, wr1, wi1));
            st(ya + 4 * s + q, TWIDDLE(apc - bpd, wr2, wi2));
            st(ya + 6 * s + q, TWIDDLE(amc + jbmd, wr3, wi3));
        }
    }
}

/* One pass with s = 1, 2 or 4: a vector of 8 values of j covers 8 / s
 * values of p; its 16 results are 16 consecutive outputs. */
PASS pass_narrow(int n, int s, const float *w, float sgn, const float *x, float *y)
{
    int h = n / 2;
    const v16 sign = SIGNS(sgn);
    for (int j = 0; j < h; j += 8) {
        v16 a = ld(x + 2 * j), b = ld(x + 2 * (j + h));
        /* lane j' takes w^(s floor(j'/s)): w[j .. j+7] spread */
        v16 t = ld(w + 2 * j);
        if (s == 2)
            t = __builtin_shufflevector(t, t, 0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
        else if (s == 4)
            t = __builtin_shufflevector(t, t, 0, 1, 0, 1, 0, 1, 0, 1, 8, 9, 8, 9, 8, 9, 8, 9);
        v16 wr = __builtin_shufflevector(t, t, 0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14);
        v16 wi = __builtin_shufflevector(t, t, 1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15);
        v16 S = a + b, d = a - b, D = TWIDDLE(d, wr, sign * wi), o0, o1;
        if (s == 1) {
            o0 = __builtin_shufflevector(S, D, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
            o1 = __builtin_shufflevector(S, D, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
        } else if (s == 2) {
            o0 = __builtin_shufflevector(S, D, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
            o1 = __builtin_shufflevector(S, D, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        } else {
            o0 = __builtin_shufflevector(S, D, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
            o1 = __builtin_shufflevector(S, D, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        }
        st(y + 4 * j, o0);
        st(y + 4 * j + 16, o1);
    }
}

PASS fft2_body(int n, const float *w, int inverse, float *in, float *out)
{
    float sgn = inverse ? -1.0f : 1.0f;
    float *x = in, *y = out, *t;
    int s = 1, left = 0;
    for (int v = n; v > 1; v /= 2)
        left++;                         /* log2(n) radix-2 passes to go */
    for (; s < 8; s *= 2, left--) {     /* s a constant in each call: its shuffles */
        if (s == 4)
            pass_narrow(n, 4, w, sgn, x, y);
        else if (s == 2)
            pass_narrow(n, 2, w, sgn, x, y);
        else
            pass_narrow(n, 1, w, sgn, x, y);
        t = x, x = y, y = t;
    }
    if (left % 2) {
        pass_wide(n, s, w, sgn, x, y);
        t = x, x = y, y = t;
        s *= 2;
    }
    for (; s < n; s *= 4) {
        pass4_wide(n, s, w, sgn, x, y);
        t = x, x = y, y = t;
    }
    if (x != out)
        memcpy(out, x, (size_t)n * 2 * sizeof(float));
}

__attribute__((target("avx512f"))) static void fft2_avx512(int n, const float *w, int inverse, float *in,
                                                            float *out)
{
    fft2_body(n, w, inverse, in, out);
}

__attribute__((target("avx2"))) static void fft2_avx2(int n, const float *w, int inverse, float *in, float *out)
{
    fft2_body(n, w, inverse, in, out);
}

static void fft2_sse2(int n, const float *w, int inverse, float *in, float *out)
{
    fft2_body(n, w, inverse, in, out);
}

int convrt__fft2_isa(int isa, int n, const float *w, int inverse, float *in, float *out)
{
    if (isa == CONVRT__FFT2_AVX512 && __builtin_cpu_supports("avx512f"))
        fft2_avx512(n, w, inverse, in, out);
    else if (isa == CONVRT__FFT2_AVX2 && __builtin_cpu_supports("avx2"))
        fft2_avx2(n, w, inverse, in, out);
    else if (isa == CONVRT__FFT2_SSE2)
        fft2_sse2(n, w, inverse, in, out);
    else
        return -1;
    return 0;
}

void convrt__fft2(int n, const float *w, int inverse, float *in, float *out)
{
    if (__builtin_cpu_supports("avx512f"))
        fft2_avx512(n, w, inverse, in, out);
    else if (__builtin_cpu_supports("avx2"))
        fft2_avx2(n, w, inverse, in, out);
    else
        fft2_sse2(n, w, inverse, in, out);
}
