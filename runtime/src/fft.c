/* fft.c - linear convolution and correlation through FFTs (fft_pow2.c's
 * vector code for power-of-two lengths, kissfft for the others), for
 * the long kernels where a direct sum costs O(n*k); see convrt_abi.h for
 * the contract and docs/design.md for the method and its accuracy.
 *
 * The method, 1-D.  The shorter operand is the kernel k (length nk), the
 * longer one the signal s; correlation is convolution with one operand
 * reversed.  The wanted part of the full result is cut into blocks of L
 * outputs and each block is computed by overlap-save with an N-point FFT,
 * N >= nk even with no prime factor above 5 (kissfft's fast butterflies),
 * L = N - nk + 1: the N inputs ending at the block's last output,
 * transformed, multiplied by the kernel's spectrum and transformed back
 * give the L outputs exactly once each (the first nk - 1 points of the
 * circular result are discarded).  Every output element is written by
 * exactly one block, and a block's numbers depend only on its own inputs,
 * so blocks can run on any thread in any order and the result is the same
 * bits for every thread count.
 *
 * Two real blocks go through one complex FFT (the first in the real part,
 * the second in the imaginary part); with a shared kernel the product with
 * the kernel's Hermitian spectrum keeps them apart, with different kernels
 * the two spectra are separated first.  A block left without a partner and
 * the kernels use a real FFT built from a half-length complex FFT.  Which
 * blocks are paired depends only on the sizes.
 *
 * 2-D is the same per tile: an Ny x Nx transform (rows by the real FFT,
 * columns by complex FFTs) per output tile of (Ny - ky + 1) x (Nx - kx + 1).
 *
 * N (Ny, Nx) comes from a fixed cost model of the sizes, never from the
 * thread count.  Plans (twiddles) are cached per size and shared
 * read-only by all threads (both transforms write only their own buffers);
 * the work buffers of one call are one block kept by the calling thread
 * between calls (keep.c). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kiss_fft.h>

#include "convrt_abi.h"
#include "internal.h"

typedef kiss_fft_cpx cpx;

/* Largest FFT length in one dimension, and largest 2-D transform. */
#define MAX_LOG2_N   24
#define MAX_LOG2_N2D 22
/* Longest kernel (shorter operand) in 1-D; largest 2-D kernel area. */
#define MAX_KERNEL   ((int64_t)1 << (MAX_LOG2_N - 1))
#define MAX_KERNEL2D ((int64_t)1 << 20)
/* Bytes of kernel spectra computed at once when every plane has its own
 * kernel: planes are processed in groups that fit. */
#define SPECTRA_BUDGET ((size_t)32 << 20)

/* ------------------------------------------------------------------ plans */

/* Everything needed for complex transforms of length n and real transforms
 * of length 2n: kissfft's forward and inverse states and the twiddles
 * exp(-i*pi*k/n), k < n, that split and merge a real transform. */
typedef struct plan {
    int           n;
    int           cached;
    kiss_fft_cfg  fwd, inv;
    float        *w2;           /* fft_pow2.c's twiddles: a power of two */
    cpx          *tw;
} plan;

#define PLAN_SLOTS 48
static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static plan *plan_cache[PLAN_SLOTS];
static int plan_count;

/* Lengths fft_pow2.c takes; kissfft takes the others. */
static int is_pow2(int n) { return n >= CONVRT__FFT2_MIN && (n & (n - 1)) == 0; }

static void plan_free(plan *p)
{
    if (!p)
        return;
    kiss_fft_free(p->fwd);
    kiss_fft_free(p->inv);
    free(p->w2);
    free(p->tw);
    free(p);
}

static plan *plan_make(int n)
{
    plan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n;
    if (is_pow2(n))
        p->w2 = convrt__fft2_twiddles(n);
    else {
        p->fwd = kiss_fft_alloc(n, 0, NULL, NULL);
        p->inv = kiss_fft_alloc(n, 1, NULL, NULL);
    }
    p->tw = malloc((size_t)n * sizeof *p->tw);
    if (!(p->w2 || (p->fwd && p->inv)) || !p->tw) {
        plan_free(p);
        return NULL;
    }
    for (int k = 0; k < n; k++) {
        double ph = -M_PI * (double)k / (double)n;
        p->tw[k].r = (float)cos(ph);
        p->tw[k].i = (float)sin(ph);
    }
    return p;
}

/* The complex FFT of the plan's length from in to out, forward or
 * inverse (unscaled).  in is overwritten. */
static void cfft(const plan *p, int inverse, cpx *in, cpx *out)
{
    if (p->w2)
        convrt__fft2(p->n, p->w2, inverse, (float *)in, (float *)out);
    else
        kiss_fft(inverse ? p->inv : p->fwd, in, out);
}

/* The forward FFT of the column of n values `stride` apart from S into
 * out; tmp is n complex of scratch. */
static void cfft_column(const plan *p, const cpx *S, int stride, cpx *tmp, cpx *out)
{
    if (!p->w2) {
        kiss_fft_stride(p->fwd, S, out, stride);
        return;
    }
    for (int r = 0; r < p->n; r++)
        tmp[r] = S[(size_t)r * stride];
    cfft(p, 0, tmp, out);
}

/* The plan for length n: shared from the cache, or (cache full) a private
 * one that plan_release frees.  NULL when out of memory. */
static plan *plan_get(int n)
{
    pthread_mutex_lock(&plan_lock);
    for (int i = 0; i < plan_count; i++)
        if (plan_cache[i]->n == n) {
            plan *p = plan_cache[i];
            pthread_mutex_unlock(&plan_lock);
            return p;
        }
    pthread_mutex_unlock(&plan_lock);
    /* built unlocked: a large plan takes a while */
    plan *p = plan_make(n);
    if (!p)
        return NULL;
    pthread_mutex_lock(&plan_lock);
    for (int i = 0; i < plan_count; i++)
        if (plan_cache[i]->n == n) {        /* another thread was quicker */
            plan *q = plan_cache[i];
            pthread_mutex_unlock(&plan_lock);
            plan_free(p);
            return q;
        }
    if (plan_count < PLAN_SLOTS) {
        p->cached = 1;
        plan_cache[plan_count++] = p;
    }
    pthread_mutex_unlock(&plan_lock);
    return p;
}

static void plan_release(plan *p)
{
    if (p && !p->cached)
        plan_free(p);
}

__attribute__((destructor)) static void plan_cache_free(void)
{
    pthread_mutex_lock(&plan_lock);
    for (int i = 0; i < plan_count; i++)
        plan_free(plan_cache[i]);
    plan_count = 0;
    pthread_mutex_unlock(&plan_lock);
}

/* ------------------------------------------------------ real transforms */

/* Forward real FFT of length 2n (p->n == n).  z holds the 2n reals packed
 * as n complex (z[j] = x[2j] + i x[2j+1]) and is overwritten; X receives
 * bins 0..n; t is n complex of scratch.  X may not alias z or t. */
static void rfft_fwd(const plan *p, cpx *z, cpx *t, cpx *X)
{
    int n = p->n;
    cfft(p, 0, z, t);
    X[0].r = t[0].r + t[0].i;
    X[0].i = 0.0f;
    X[n].r = t[0].r - t[0].i;
    X[n].i = 0.0f;
    const cpx *w = p->tw;
    /* with a = t[k], b = t[n-k]: the even samples' spectrum is
     * e = (a + conj b)/2, the odd ones' o = (a - conj b)/(2i), and with
     * q = w^k o, X[k] = e + q and X[n-k] = conj(e - q) */
    for (int k = 1; 2 * k <= n; k++) {
        cpx a = t[k], b = t[n - k];
        float er = 0.5f * (a.r + b.r), ei = 0.5f * (a.i - b.i);
        float or_ = 0.5f * (a.i + b.i), oi = -0.5f * (a.r - b.r);
        float qr = w[k].r * or_ - w[k].i * oi, qi = w[k].r * oi + w[k].i * or_;
        X[k].r = er + qr;
        X[k].i = ei + qi;
        X[n - k].r = er - qr;
        X[n - k].i = qi - ei;
    }
}

/* Inverse of rfft_fwd without the 1/(2n): X (bins 0..n) to 2n reals packed
 * in z, multiplied by 2n.  t is n complex of scratch; X is only read. */
static void rfft_inv(const plan *p, const cpx *X, cpx *t, cpx *z)
{
    int n = p->n;
    const cpx *w = p->tw;
    /* with a = X[k], b = X[n-k]: e = a + conj b (twice the even samples'
     * spectrum), o = (a - conj b) conj(w^k) (twice the odd ones'),
     * t[k] = e + i o and t[n-k] = conj e + i conj o */
    for (int k = 0; 2 * k <= n; k++) {
        cpx a = X[k], b = X[n - k];
        float er = a.r + b.r, ei = a.i - b.i;
        float dr = a.r - b.r, di = a.i + b.i;
        float or_ = dr * w[k].r + di * w[k].i;
        float oi = di * w[k].r - dr * w[k].i;
        t[k].r = er - oi;
        t[k].i = ei + or_;
        if (k > 0 && 2 * k < n) {
            t[n - k].r = er + oi;
            t[n - k].i = or_ - ei;
        }
    }
    cfft(p, 1, t, z);
}

/* ------------------------------------------------------------ cost model */

/* FFT lengths: 2^a, 3 2^a, 5 2^a and 15 2^a with a >= 1 (the real
 * transform halves them).  kissfft has butterflies for 2, 3, 4 and 5 and
 * is about as fast per n log2 n on these as on powers of two (a repeated
 * 3 or 5 costs 15-20% more); four lengths per octave let a length fit
 * the blocks.  The smallest one >= v, or -1 above max. */
static int64_t next_size(int64_t v, int64_t max)
{
    static const int64_t odd[] = {1, 3, 5, 15};
    int64_t best = -1;
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        int64_t n = 2 * odd[i];
        while (n < v && n <= max / 2)
            n *= 2;
        if (n >= v && n <= max && (best < 0 || n < best))
            best = n;
    }
    return best;
}

/* Modelled times, in units of roughly 0.85 ns (kissfft on x86-64, one
 * core).  A complex FFT of length n costs n log2 n while its buffers and
 * twiddles stay in a 2 MB cache (n up to 64K), and proportionally more
 * beyond, up to twice as much from n = 128K (measured in a process that
 * runs other work between calls, so caches start partly cold); a real FFT
 * of length n costs the complex one of n/2 plus the split.  A power of
 * two goes through fft_pow2.c's vector code instead: 0.17 of that up to
 * 128K, 0.3 beyond (AVX-512 on znver4: 0.09-0.15 ns per n log2 n up to
 * 128K, 0.17-0.30 above, where kissfft took 0.76-0.98 and 1.3-2.4).
 * These are constants, not measurements of the machine at hand, so the
 * chosen lengths, and with them the bits of the result, are the same
 * everywhere. */
static double t_cfft(double n)
{
    double e;
    if (is_pow2((int)n))
        e = n <= 131072.0 ? 0.17 : 0.3;
    else
        e = n <= 65536.0 ? 1.0 : n >= 131072.0 ? 2.0 : n / 65536.0;
    return e * n * log2(n);
}

static double t_rfft(double n) { return t_cfft(n / 2.0) + 1.2 * n; }

static size_t align_up(size_t b) { return (b + CRT_ALIGN - 1) & ~(size_t)(CRT_ALIGN - 1); }

/* Threads to use for `units` independent pieces of work: the pool size,
 * but no more than there are pieces.  Only memory and speed depend on it,
 * never the numbers. */
static int64_t worker_count(int64_t units)
{
    int64_t t = convrt_get_num_threads();
    if (t < 1)
        t = 1;
    return units < t ? (units < 1 ? 1 : units) : t;
}

/* Split [0, n) into `parts` nearly equal contiguous ranges; range k. */
static void split(int64_t n, int64_t parts, int64_t k, int64_t *b, int64_t *e)
{
    int64_t base = n / parts, rem = n % parts;
    *b = k * base + (k < rem ? k : rem);
    *e = *b + base + (k < rem ? 1 : 0);
}

/* ------------------------------------------------------ argument checks */

/* Highest element offset + 1 of planes x rows x cols with the given
 * strides (all >= 0, counts >= 1); -1 on overflow. */
static int64_t extent(int64_t planes, int64_t pstride, int64_t rows, int64_t rstride, int64_t cols)
{
    int64_t a, b, r;
    if (__builtin_mul_overflow(planes - 1, pstride, &a) || __builtin_mul_overflow(rows - 1, rstride, &b) ||
        __builtin_add_overflow(a, b, &r) || __builtin_add_overflow(r, cols, &r) ||
        __builtin_mul_overflow(r, (int64_t)sizeof(float), &a) || (uint64_t)a > SIZE_MAX / 2)
        return -1;
    return r;
}

static int overlaps(const float *p, int64_t np, const float *q, int64_t nq)
{
    uintptr_t plo = (uintptr_t)p, qlo = (uintptr_t)q, phi, qhi;
    if (__builtin_add_overflow(plo, (uintptr_t)np * sizeof(float), &phi))
        phi = UINTPTR_MAX;
    if (__builtin_add_overflow(qlo, (uintptr_t)nq * sizeof(float), &qhi))
        qhi = UINTPTR_MAX;
    return plo < qhi && qlo < phi;
}

/* In each of `planes` planes (ostride apart) and each of `rows` rows
 * (orow apart) of a window of n elements starting at result index start:
 * zero the elements whose index is outside [lo, hi).  lo == hi zeroes
 * every element. */
static void zero_outside(float *out, int64_t planes, int64_t ostride, int64_t rows, int64_t orow, int64_t start,
                         int64_t n, int64_t lo, int64_t hi)
{
    int64_t end = start + n;
    if (hi <= lo)
        lo = hi = end;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t r = 0; r < rows; r++) {
            float *o = out + p * ostride + r * orow;
            if (lo > start)
                memset(o, 0, (size_t)(lo - start) * sizeof(float));
            if (hi < end)
                memset(o + (hi - start), 0, (size_t)(end - hi) * sizeof(float));
        }
}

/* ====================================================================== */
/*                                  1-D                                   */
/* ====================================================================== */

typedef struct conv1 {
    /* signal s (length ns) and kernel k (length nk): element j of plane p
     * is base[p * stride + (rev ? n - 1 - j : j)] */
    const float *sig;
    int64_t      ns, sstride;
    int          srev;
    const float *ker;
    int64_t      nk, kstride;
    int          krev;
    int          shared;        /* one kernel for every plane */
    float       *out;
    int64_t      ostride;
    int64_t      c0;            /* full-result index computed first ... */
    int64_t      cn;            /* ... and how many, per plane */
    float       *odst;          /* out + (c0 - start): where c0 goes */
    /* transform */
    int          N;
    int64_t      L, nblocks;
    const plan  *pc;            /* complex N */
    const plan  *ph;            /* complex N/2, for real N */
    /* the current group of planes */
    int64_t      g0, gn;
    cpx         *spec;          /* gn (or 1) spectra of N/2 + 1 bins, scaled by 1/N */
    size_t       spec_len;      /* complex values per spectrum */
    char        *work;          /* per worker: work_bytes */
    size_t       work_bytes;
    int64_t      workers;
} conv1;

/* Write x[i] = s(j0 + i) for i < cnt (zero outside the signal) of plane p
 * into dst[i * step]. */
static void gather1(const conv1 *c, int64_t p, int64_t j0, int64_t cnt, float *dst, int step)
{
    int64_t lo = j0 < 0 ? -j0 : 0;
    int64_t hi = c->ns - j0 < cnt ? c->ns - j0 : cnt;
    if (hi < lo)
        hi = lo;
    if (lo > cnt)
        lo = hi = cnt;
    int64_t i = 0;
    for (; i < lo; i++)
        dst[i * step] = 0.0f;
    const float *s = c->sig + p * c->sstride;
    /* indices, not shifted pointers: s + j0 may point before the signal */
    if (!c->srev)
        for (; i < hi; i++)
            dst[i * step] = s[j0 + i];
    else
        for (; i < hi; i++)
            dst[i * step] = s[c->ns - 1 - j0 - i];
    for (; i < cnt; i++)
        dst[i * step] = 0.0f;
}

/* Spectrum of plane p's kernel into spec (N/2 + 1 bins, times 1/N).  t is
 * N complex of scratch. */
static void kernel_spectrum1(const conv1 *c, int64_t p, cpx *spec, cpx *t)
{
    int N = c->N, h = N / 2;
    float *x = (float *)t;
    const float *k = c->ker + (c->shared ? 0 : p * c->kstride);
    for (int64_t j = 0; j < c->nk; j++)
        x[j] = c->krev ? k[c->nk - 1 - j] : k[j];
    for (int64_t j = c->nk; j < N; j++)
        x[j] = 0.0f;
    rfft_fwd(c->ph, t, t + h, spec);
    float scale = 1.0f / (float)N;
    for (int k2 = 0; k2 <= h; k2++) {
        spec[k2].r *= scale;
        spec[k2].i *= scale;
    }
}

static const cpx *spec_of(const conv1 *c, int64_t p)
{
    return c->shared ? c->spec : c->spec + (size_t)(p - c->g0) * c->spec_len;
}

/* Item it of the group: plane g0 + it / nblocks, block it % nblocks. */
static void item_pos(const conv1 *c, int64_t it, int64_t *p, int64_t *first, int64_t *cnt)
{
    int64_t b = it % c->nblocks;
    *p = c->g0 + it / c->nblocks;
    *first = b * c->L;                           /* offset from c0 */
    *cnt = c->cn - *first < c->L ? c->cn - *first : c->L;
}

/* Two blocks through one complex FFT: block 1 in the real part, block 2
 * in the imaginary part. */
static void do_pair(const conv1 *c, int64_t it, cpx *z, cpx *Z)
{
    int N = c->N, h = N / 2;
    int64_t nk = c->nk;
    int64_t p1, f1, n1, p2, f2, n2;
    item_pos(c, it, &p1, &f1, &n1);
    item_pos(c, it + 1, &p2, &f2, &n2);
    float *zf = (float *)z;
    /* the N inputs ending at the block's last output; beyond the block's
     * own inputs everything is zero, so the numbers never depend on what
     * the buffer held before */
    gather1(c, p1, c->c0 + f1 - (nk - 1), nk - 1 + n1, zf, 2);
    gather1(c, p2, c->c0 + f2 - (nk - 1), nk - 1 + n2, zf + 1, 2);
    for (int64_t i = nk - 1 + n1; i < N; i++)
        zf[2 * i] = 0.0f;
    for (int64_t i = nk - 1 + n2; i < N; i++)
        zf[2 * i + 1] = 0.0f;
    cfft(c->pc, 0, z, Z);
    const cpx *H1 = spec_of(c, p1), *H2 = spec_of(c, p2);
    if (H1 == H2) {
        /* (X1 + i X2) H = X1 H + i X2 H; H[N-k] = conj H[k] */
        for (int k = 0; k <= h; k++) {
            cpx a = Z[k], w = H1[k];
            Z[k].r = a.r * w.r - a.i * w.i;
            Z[k].i = a.r * w.i + a.i * w.r;
        }
        for (int k = h + 1; k < N; k++) {
            cpx a = Z[k], w = H1[N - k];
            Z[k].r = a.r * w.r + a.i * w.i;
            Z[k].i = a.i * w.r - a.r * w.i;
        }
    } else {
        /* separate X1 = (Z[k] + conj Z[N-k])/2, X2 = (Z[k] - conj Z[N-k])/(2i),
         * then Y = X1 H1 + i X2 H2, and at N-k its Hermitian mirror */
        for (int k = 0; k <= h; k++) {
            int m = k ? N - k : 0;
            cpx a = Z[k], b = Z[m];
            float x1r = 0.5f * (a.r + b.r), x1i = 0.5f * (a.i - b.i);
            float x2r = 0.5f * (a.i + b.i), x2i = -0.5f * (a.r - b.r);
            cpx u = H1[k], v = H2[k];
            float y1r = x1r * u.r - x1i * u.i, y1i = x1r * u.i + x1i * u.r;
            float y2r = x2r * v.r - x2i * v.i, y2i = x2r * v.i + x2i * v.r;
            Z[k].r = y1r - y2i;
            Z[k].i = y1i + y2r;
            if (m != k) {                        /* conj(Y1) + i conj(Y2) */
                Z[m].r = y1r + y2i;
                Z[m].i = y2r - y1i;
            }
        }
    }
    cfft(c->pc, 1, Z, z);
    float *o1 = c->odst + p1 * c->ostride + f1, *o2 = c->odst + p2 * c->ostride + f2;
    const cpx *y = z + (nk - 1);
    for (int64_t i = 0; i < n1; i++)
        o1[i] = y[i].r;
    for (int64_t i = 0; i < n2; i++)
        o2[i] = y[i].i;
}

/* One block by the real transform. */
static void do_single(const conv1 *c, int64_t it, cpx *z, cpx *Z)
{
    int N = c->N, h = N / 2;
    int64_t nk = c->nk;
    int64_t p, f, n;
    item_pos(c, it, &p, &f, &n);
    float *zf = (float *)z;
    gather1(c, p, c->c0 + f - (nk - 1), nk - 1 + n, zf, 1);
    for (int64_t i = nk - 1 + n; i < N; i++)
        zf[i] = 0.0f;
    cpx *X = Z, *t = z + h;           /* the reals fill z[0, h); z[h, N) is scratch */
    rfft_fwd(c->ph, z, t, X);
    const cpx *H = spec_of(c, p);
    for (int k = 0; k <= h; k++) {
        cpx a = X[k], w = H[k];
        X[k].r = a.r * w.r - a.i * w.i;
        X[k].i = a.r * w.i + a.i * w.r;
    }
    rfft_inv(c->ph, X, t, z);
    float *o = c->odst + p * c->ostride + f;
    const float *y = zf + (nk - 1);
    for (int64_t i = 0; i < n; i++)
        o[i] = y[i];
}

typedef struct task1 {
    conv1  *c;
    int64_t units;               /* pairs, or kernels */
    int64_t items;
} task1;

static void run_pairs(void *v, int64_t wb, int64_t we)
{
    task1 *t = v;
    conv1 *c = t->c;
    for (int64_t w = wb; w < we; w++) {
        cpx *z = (cpx *)(c->work + (size_t)w * c->work_bytes);
        cpx *Z = z + c->N;
        int64_t b, e;
        split(t->units, c->workers, w, &b, &e);
        for (int64_t u = b; u < e; u++) {
            int64_t it = 2 * u;
            if (it + 1 < t->items)
                do_pair(c, it, z, Z);
            else
                do_single(c, it, z, Z);
        }
    }
}

static void run_kernels(void *v, int64_t wb, int64_t we)
{
    task1 *t = v;
    conv1 *c = t->c;
    for (int64_t w = wb; w < we; w++) {
        cpx *z = (cpx *)(c->work + (size_t)w * c->work_bytes);
        int64_t b, e;
        split(t->units, c->workers, w, &b, &e);
        for (int64_t q = b; q < e; q++)
            kernel_spectrum1(c, c->g0 + q, c->spec + (size_t)q * c->spec_len, z);
    }
}

/* N for a kernel of nk taps, cn outputs per plane, `planes` planes and
 * `kernels` kernel spectra: the length with the least modelled time.
 * Depends on nothing but the sizes. */
static int64_t choose_n1(int64_t nk, int64_t cn, int64_t planes, int64_t kernels)
{
    const int64_t max = (int64_t)1 << MAX_LOG2_N;
    int64_t lo = next_size(nk > 8 ? nk : 8, max);
    int64_t hi = next_size(cn + nk - 1, max);
    if (hi < 0)
        hi = max;
    int64_t best = lo;
    double best_cost = INFINITY;
    for (int64_t N = lo; N > 0 && N <= hi; N = next_size(N + 1, max)) {
        double n = (double)N, L = n - (double)nk + 1.0;
        double items = ceil((double)cn / L) * (double)planes;
        double pairs = floor(items / 2.0), singles = items - 2.0 * pairs;
        /* a pair: one forward and one inverse complex FFT, the gathers and
         * the product; a single block: two real FFTs */
        double cost = pairs * (2.0 * t_cfft(n) + 3.0 * n) + singles * (2.0 * t_rfft(n) + 2.0 * n) +
                      (double)kernels * t_rfft(n);
        if (cost < best_cost * 0.999) {
            best_cost = cost;
            best = N;
        }
    }
    return best;
}

#define F1 "convrt_fft_conv1d: "

static int fft_conv1d(int64_t flags, int64_t planes,
                      const float *a, int64_t n1, int64_t a_stride,
                      const float *b, int64_t n2, int64_t b_stride,
                      float *out, int64_t start, int64_t nout, int64_t out_stride)
{
    if (flags & ~(int64_t)CONVRT_FFT_CORRELATE)
        return convrt_report(CONVRT_E_INVALID, F1 "unknown flags 0x%llx", (unsigned long long)flags);
    if (planes < 0 || nout < 0)
        return convrt_report(CONVRT_E_INVALID, F1 "%s is negative (%lld)", planes < 0 ? "planes" : "nout",
                             (long long)(planes < 0 ? planes : nout));
    if (n1 < 1 || n2 < 1)
        return convrt_report(CONVRT_E_INVALID, F1 "operand %s has length %lld, but lengths must be at least 1",
                             n1 < 1 ? "a" : "b", (long long)(n1 < 1 ? n1 : n2));
    if (a_stride < 0 || b_stride < 0 || out_stride < 0)
        return convrt_report(CONVRT_E_INVALID, F1 "plane strides must not be negative (a %lld, b %lld, out %lld)",
                             (long long)a_stride, (long long)b_stride, (long long)out_stride);
    int64_t nfull, wend;
    if (__builtin_add_overflow(n1, n2, &nfull) || __builtin_add_overflow(start, nout, &wend))
        return convrt_report(CONVRT_E_OVERFLOW, F1 "the result's length or window end overflows");
    nfull -= 1;
    int64_t nk = n1 < n2 ? n1 : n2;
    if (nk > MAX_KERNEL)
        return convrt_report(CONVRT_E_INVALID, F1 "both operands have more than %lld elements (%lld and %lld)",
                             (long long)MAX_KERNEL, (long long)n1, (long long)n2);
    if (planes == 0 || nout == 0)
        return 0;
    if (!a || !b || !out)
        return convrt_report(CONVRT_E_NULL_ARG, F1 "%s is NULL", !a ? "a" : !b ? "b" : "out");
    if (planes > 1 && out_stride < nout)
        return convrt_report(CONVRT_E_ALIAS, F1 "output planes overlap: plane stride %lld is below the window length %lld",
                             (long long)out_stride, (long long)nout);
    int64_t ea = extent(planes, a_stride, 1, 0, n1), eb = extent(planes, b_stride, 1, 0, n2);
    int64_t eo = extent(planes, out_stride, 1, 0, nout);
    if (ea < 0 || eb < 0 || eo < 0)
        return convrt_report(CONVRT_E_OVERFLOW, F1 "an operand's size in bytes overflows");
    if (overlaps(out, eo, a, ea) || overlaps(out, eo, b, eb))
        return convrt_report(CONVRT_E_ALIAS, F1 "the output overlaps operand %s in memory",
                             overlaps(out, eo, a, ea) ? "a" : "b");

    conv1 c;
    memset(&c, 0, sizeof c);
    int corr = (flags & CONVRT_FFT_CORRELATE) != 0;
    /* correlate(a, b) = convolve(a, reversed b) = convolve(reversed b, a) */
    if (n2 <= n1) {
        c.sig = a; c.ns = n1; c.sstride = a_stride; c.srev = 0;
        c.ker = b; c.nk = n2; c.kstride = b_stride; c.krev = corr;
    } else {
        c.sig = b; c.ns = n2; c.sstride = b_stride; c.srev = corr;
        c.ker = a; c.nk = n1; c.kstride = a_stride; c.krev = 0;
    }
    c.shared = planes == 1 || c.kstride == 0;
    c.out = out;
    c.ostride = out_stride;
    /* the part of the window inside the full result; the rest is zero,
     * written once nothing can fail any more */
    int64_t lo = start > 0 ? start : 0, hi = wend < nfull ? wend : nfull;
    if (hi <= lo) {
        zero_outside(out, planes, out_stride, 1, 0, start, nout, start, start);
        return 0;
    }
    c.c0 = lo;
    c.cn = hi - lo;
    c.odst = out + (lo - start);

    int64_t kernels = c.shared ? 1 : planes;
    c.N = (int)choose_n1(c.nk, c.cn, planes, kernels);
    c.L = c.N - c.nk + 1;
    c.nblocks = (c.cn + c.L - 1) / c.L;
    c.spec_len = (size_t)c.N / 2 + 1;
    size_t spec_bytes = align_up(c.spec_len * sizeof(cpx));
    int64_t group = 1;
    if (!c.shared) {
        group = (int64_t)(SPECTRA_BUDGET / spec_bytes);
        if (group < 1)
            group = 1;
        if (group > planes)
            group = planes;
    }
    int64_t max_items = (c.shared ? planes : group) * c.nblocks;
    int64_t max_units = (max_items + 1) / 2;
    if (!c.shared && group > max_units)
        max_units = group;
    c.workers = worker_count(max_units);
    c.work_bytes = align_up((size_t)c.N * 2 * sizeof(cpx));
    size_t nspec = c.shared ? 1 : (size_t)group;
    size_t total = nspec * spec_bytes + (size_t)c.workers * c.work_bytes;
    plan *pc = plan_get(c.N), *ph = plan_get(c.N / 2);
    size_t size = total;    /* the block's size: total or more */
    char *block = (pc && ph) ? convrt__keep_get(CONVRT__KEEP_FFT, &size) : NULL;
    if (!block) {
        plan_release(pc);
        plan_release(ph);
        return convrt_report(CONVRT_E_NOMEM, F1 "cannot allocate %zu bytes for %d-point transforms",
                             total, c.N);
    }
    c.pc = pc;
    c.ph = ph;
    c.spec = (cpx *)block;
    c.work = block + nspec * spec_bytes;
    zero_outside(out, planes, out_stride, 1, 0, start, nout, lo, hi);

    if (c.shared) {
        c.g0 = 0;
        kernel_spectrum1(&c, 0, c.spec, (cpx *)c.work);
    }
    for (int64_t g0 = 0; g0 < planes; g0 += c.shared ? planes : group) {
        c.g0 = g0;
        c.gn = c.shared ? planes : (planes - g0 < group ? planes - g0 : group);
        task1 t = {.c = &c};
        if (!c.shared) {
            t.units = c.gn;
            convrt_parallel_for(c.workers, run_kernels, &t);
        }
        t.items = c.gn * c.nblocks;
        t.units = (t.items + 1) / 2;
        convrt_parallel_for(c.workers, run_pairs, &t);
    }
    convrt__keep_put(CONVRT__KEEP_FFT, block, size);
    plan_release(pc);
    plan_release(ph);
    return 0;
}

/* ====================================================================== */
/*                                  2-D                                   */
/* ====================================================================== */

typedef struct conv2 {
    /* signal s (sh x sw) and kernel k (kh x kw): element (i, j) of plane p
     * is base[p * stride + i' * row + j'] with i' = rev ? h - 1 - i : i and
     * j' likewise */
    const float *sig;
    int64_t      sh, sw, srow, sstride;
    int          srev;
    const float *ker;
    int64_t      kh, kw, krow, kstride;
    int          krev;
    int          shared;
    float       *odst;          /* where full-result element (cy0, cx0) goes */
    int64_t      orow, ostride;
    int64_t      cy0, cyn, cx0, cxn;
    int          Ny, Nx, W;     /* W = Nx / 2 + 1 bins per row */
    int64_t      Ty, Tx, nty, ntx;
    const plan  *py;            /* complex Ny (columns) */
    const plan  *px;            /* complex Nx / 2 (real rows of Nx) */
    int64_t      g0, gn;
    cpx         *spec;          /* column-major: bin (r, c) at [c * Ny + r], times 1/(Ny Nx) */
    size_t       spec_len;
    char        *work;
    size_t       work_bytes;
    int64_t      workers;
} conv2;

/* A worker's memory: the Ny x W spectrum, a packed row and its scratch,
 * two columns. */
typedef struct work2 {
    cpx *S, *row, *rtmp, *col, *col2;
} work2;

static work2 work2_at(const conv2 *c, int64_t w)
{
    work2 m;
    m.S = (cpx *)(c->work + (size_t)w * c->work_bytes);
    m.row = m.S + (size_t)c->Ny * c->W;
    m.rtmp = m.row + c->Nx / 2;
    m.col = m.rtmp + c->Nx / 2;
    m.col2 = m.col + c->Ny;
    return m;
}

static size_t work2_bytes(int Ny, int Nx)
{
    size_t W = (size_t)Nx / 2 + 1;
    return align_up(((size_t)Ny * W + (size_t)Nx + 2 * (size_t)Ny) * sizeof(cpx));
}

/* Row i of the Ny rows of a tile whose input window starts at signal row
 * y0 and column x0 with cnt columns wanted: gathered, zero-padded to Nx and
 * transformed into S row i (W bins).  A row outside the signal is zero. */
static void tile_row(const conv2 *c, int64_t p, int64_t y, int64_t x0, int64_t cnt, const work2 *m, cpx *Srow)
{
    int64_t lo = x0 < 0 ? -x0 : 0;
    int64_t hi = c->sw - x0 < cnt ? c->sw - x0 : cnt;
    if (y < 0 || y >= c->sh || hi <= lo) {
        memset(Srow, 0, (size_t)c->W * sizeof(cpx));
        return;
    }
    float *x = (float *)m->row;
    int64_t i = 0;
    for (; i < lo; i++)
        x[i] = 0.0f;
    if (!c->srev) {
        const float *row = c->sig + p * c->sstride + y * c->srow;
        for (; i < hi; i++)
            x[i] = row[x0 + i];
    } else {
        const float *row = c->sig + p * c->sstride + (c->sh - 1 - y) * c->srow;
        for (; i < hi; i++)
            x[i] = row[c->sw - 1 - x0 - i];
    }
    for (; i < c->Nx; i++)
        x[i] = 0.0f;
    rfft_fwd(c->px, m->row, m->rtmp, Srow);
}

static const cpx *spec2_of(const conv2 *c, int64_t p)
{
    return c->shared ? c->spec : c->spec + (size_t)(p - c->g0) * c->spec_len;
}

static void kernel_spectrum2(const conv2 *c, int64_t p, cpx *spec, const work2 *m)
{
    int Ny = c->Ny, Nx = c->Nx, W = c->W;
    const float *k = c->ker + (c->shared ? 0 : p * c->kstride);
    float *x = (float *)m->row;
    for (int r = 0; r < Ny; r++) {
        cpx *Srow = m->S + (size_t)r * W;
        if (r >= c->kh) {
            memset(Srow, 0, (size_t)W * sizeof(cpx));
            continue;
        }
        const float *src = k + (c->krev ? (c->kh - 1 - r) : r) * c->krow;
        for (int64_t j = 0; j < c->kw; j++)
            x[j] = c->krev ? src[c->kw - 1 - j] : src[j];
        for (int64_t j = c->kw; j < Nx; j++)
            x[j] = 0.0f;
        rfft_fwd(c->px, m->row, m->rtmp, Srow);
    }
    float scale = (float)(1.0 / ((double)Ny * (double)Nx));
    for (int col = 0; col < W; col++) {
        cpx *dst = spec + (size_t)col * Ny;
        cfft_column(c->py, m->S + col, W, m->col, dst);
        for (int r = 0; r < Ny; r++) {
            dst[r].r *= scale;
            dst[r].i *= scale;
        }
    }
}

static void do_tile(const conv2 *c, int64_t it, const work2 *m)
{
    int Ny = c->Ny, W = c->W;
    int64_t per_plane = c->nty * c->ntx;
    int64_t p = c->g0 + it / per_plane, t = it % per_plane;
    int64_t oy = (t / c->ntx) * c->Ty, ox = (t % c->ntx) * c->Tx;   /* offsets from (cy0, cx0) */
    int64_t ny = c->cyn - oy < c->Ty ? c->cyn - oy : c->Ty;
    int64_t nx = c->cxn - ox < c->Tx ? c->cxn - ox : c->Tx;
    int64_t kh1 = c->kh - 1, kw1 = c->kw - 1;
    int64_t y0 = c->cy0 + oy - kh1, x0 = c->cx0 + ox - kw1;
    /* forward rows: the kh - 1 + ny input rows; the rest are zero */
    for (int r = 0; r < Ny; r++) {
        cpx *Srow = m->S + (size_t)r * W;
        if (r < kh1 + ny)
            tile_row(c, p, y0 + r, x0, kw1 + nx, m, Srow);
        else
            memset(Srow, 0, (size_t)W * sizeof(cpx));
    }
    /* each column: forward, product, inverse; only the output rows go back */
    const cpx *H = spec2_of(c, p);
    for (int col = 0; col < W; col++) {
        cfft_column(c->py, m->S + col, W, m->col2, m->col);
        const cpx *h = H + (size_t)col * Ny;
        for (int r = 0; r < Ny; r++) {
            cpx a = m->col[r], w = h[r];
            m->col[r].r = a.r * w.r - a.i * w.i;
            m->col[r].i = a.r * w.i + a.i * w.r;
        }
        cfft(c->py, 1, m->col, m->col2);
        for (int64_t r = kh1; r < kh1 + ny; r++)
            m->S[(size_t)r * W + col] = m->col2[r];
    }
    /* inverse rows of the output rows */
    float *o = c->odst + p * c->ostride + oy * c->orow + ox;
    const float *y = (const float *)m->row + kw1;
    for (int64_t r = 0; r < ny; r++) {
        rfft_inv(c->px, m->S + (size_t)(kh1 + r) * W, m->rtmp, m->row);
        float *orow = o + r * c->orow;
        for (int64_t j = 0; j < nx; j++)
            orow[j] = y[j];
    }
}

typedef struct task2 {
    conv2  *c;
    int64_t units;
} task2;

static void run_tiles(void *v, int64_t wb, int64_t we)
{
    task2 *t = v;
    conv2 *c = t->c;
    for (int64_t w = wb; w < we; w++) {
        work2 m = work2_at(c, w);
        int64_t b, e;
        split(t->units, c->workers, w, &b, &e);
        for (int64_t u = b; u < e; u++)
            do_tile(c, u, &m);
    }
}

static void run_kernels2(void *v, int64_t wb, int64_t we)
{
    task2 *t = v;
    conv2 *c = t->c;
    for (int64_t w = wb; w < we; w++) {
        work2 m = work2_at(c, w);
        int64_t b, e;
        split(t->units, c->workers, w, &b, &e);
        for (int64_t q = b; q < e; q++)
            kernel_spectrum2(c, c->g0 + q, c->spec + (size_t)q * c->spec_len, &m);
    }
}

static double cost2(double Ny, double Nx, double kh, double kw, double cyn, double cxn, double planes,
                    double kernels)
{
    double Ty = Ny - kh + 1, Tx = Nx - kw + 1, W = Nx / 2 + 1;
    double tiles = ceil(cyn / Ty) * ceil(cxn / Tx) * planes;
    double rows_in = fmin(Ny, kh - 1 + fmin(Ty, cyn)), rows_out = fmin(Ty, cyn);
    double tile = (rows_in + rows_out) * (t_rfft(Nx) + Nx) + W * (2.0 * t_cfft(Ny) + 3.0 * Ny);
    /* a tile's spectrum past 2 MB leaves the core's cache between the
     * row and column passes, and each column's values are a row apart:
     * 1000x1000 with a 21x21 kernel, one 1024x1024 tile 10.5 ms on one
     * core, 128x1024 tiles 5.2 ms, where the model alone had them equal */
    if (Ny * W * (double)sizeof(cpx) > (double)(2 << 20))
        tile *= 2.0;
    double kernel = kh * t_rfft(Nx) + W * t_cfft(Ny);
    return tiles * tile + kernels * kernel;
}

/* Ny x Nx with the least modelled time, at most 2^MAX_LOG2_N2D points. */
static void choose_n2(const conv2 *c, int64_t planes, int64_t kernels, int64_t *Ny, int64_t *Nx)
{
    const int64_t max = (int64_t)1 << MAX_LOG2_N2D;
    int64_t loy = next_size(c->kh > 2 ? c->kh : 2, max), lox = next_size(c->kw > 4 ? c->kw : 4, max);
    int64_t hiy = next_size(c->cyn + c->kh - 1, max), hix = next_size(c->cxn + c->kw - 1, max);
    if (hiy < 0)
        hiy = max;
    if (hix < 0)
        hix = max;
    double best = INFINITY;
    *Ny = loy;
    *Nx = lox;
    for (int64_t y = loy; y > 0 && y <= hiy; y = next_size(y + 1, max))
        for (int64_t x = lox; x > 0 && x <= hix && x <= max / y; x = next_size(x + 1, max)) {
            double v = cost2((double)y, (double)x, (double)c->kh, (double)c->kw, (double)c->cyn, (double)c->cxn,
                             (double)planes, (double)kernels);
            if (v < best * 0.999) {
                best = v;
                *Ny = y;
                *Nx = x;
            }
        }
}

#define F2 "convrt_fft_conv2d: "

static int fft_conv2d(int64_t flags, int64_t planes,
                      const float *a, int64_t h1, int64_t w1, int64_t a_row, int64_t a_stride,
                      const float *b, int64_t h2, int64_t w2, int64_t b_row, int64_t b_stride,
                      float *out, int64_t sy, int64_t oh, int64_t sx, int64_t ow,
                      int64_t out_row, int64_t out_stride)
{
    if (flags & ~(int64_t)CONVRT_FFT_CORRELATE)
        return convrt_report(CONVRT_E_INVALID, F2 "unknown flags 0x%llx", (unsigned long long)flags);
    if (planes < 0 || oh < 0 || ow < 0)
        return convrt_report(CONVRT_E_INVALID, F2 "%s is negative (%lld)",
                             planes < 0 ? "planes" : oh < 0 ? "oh" : "ow",
                             (long long)(planes < 0 ? planes : oh < 0 ? oh : ow));
    if (h1 < 1 || w1 < 1 || h2 < 1 || w2 < 1)
        return convrt_report(CONVRT_E_INVALID,
                             F2 "operands are %lldx%lld and %lldx%lld, but every dim must be at least 1",
                             (long long)h1, (long long)w1, (long long)h2, (long long)w2);
    if (a_row < 0 || a_stride < 0 || b_row < 0 || b_stride < 0 || out_row < 0 || out_stride < 0)
        return convrt_report(CONVRT_E_INVALID, F2 "strides must not be negative");
    int64_t fh, fw, eh, ew;
    if (__builtin_add_overflow(h1, h2, &fh) || __builtin_add_overflow(w1, w2, &fw) ||
        __builtin_add_overflow(sy, oh, &eh) || __builtin_add_overflow(sx, ow, &ew))
        return convrt_report(CONVRT_E_OVERFLOW, F2 "the result's size or the window's end overflows");
    fh -= 1;
    fw -= 1;
    /* the smaller operand is the kernel; correlation reverses b in both dims */
    int swap = (double)h2 * (double)w2 > (double)h1 * (double)w1;
    int64_t kh = swap ? h1 : h2, kw = swap ? w1 : w2;
    if (kh > MAX_KERNEL2D || kw > MAX_KERNEL2D || kh * kw > MAX_KERNEL2D)
        return convrt_report(CONVRT_E_INVALID,
                             F2 "the smaller operand is %lldx%lld, but the FFT path takes at most %lld elements",
                             (long long)kh, (long long)kw, (long long)MAX_KERNEL2D);
    if (planes == 0 || oh == 0 || ow == 0)
        return 0;
    if (!a || !b || !out)
        return convrt_report(CONVRT_E_NULL_ARG, F2 "%s is NULL", !a ? "a" : !b ? "b" : "out");
    if (oh > 1 && out_row < ow)
        return convrt_report(CONVRT_E_ALIAS, F2 "output rows overlap: row stride %lld is below the window width %lld",
                             (long long)out_row, (long long)ow);
    int64_t eo = extent(planes, out_stride, oh, out_row, ow);
    int64_t ea = extent(planes, a_stride, h1, a_row, w1), eb = extent(planes, b_stride, h2, b_row, w2);
    if (ea < 0 || eb < 0 || eo < 0)
        return convrt_report(CONVRT_E_OVERFLOW, F2 "an operand's size in bytes overflows");
    if (planes > 1 && out_stride < extent(1, 0, oh, out_row, ow))
        return convrt_report(CONVRT_E_ALIAS, F2 "output planes overlap: plane stride %lld is below a plane's extent %lld",
                             (long long)out_stride, (long long)extent(1, 0, oh, out_row, ow));
    if (overlaps(out, eo, a, ea) || overlaps(out, eo, b, eb))
        return convrt_report(CONVRT_E_ALIAS, F2 "the output overlaps operand %s in memory",
                             overlaps(out, eo, a, ea) ? "a" : "b");

    conv2 c;
    memset(&c, 0, sizeof c);
    int corr = (flags & CONVRT_FFT_CORRELATE) != 0;
    if (!swap) {
        c.sig = a; c.sh = h1; c.sw = w1; c.srow = a_row; c.sstride = a_stride; c.srev = 0;
        c.ker = b; c.kh = h2; c.kw = w2; c.krow = b_row; c.kstride = b_stride; c.krev = corr;
    } else {
        c.sig = b; c.sh = h2; c.sw = w2; c.srow = b_row; c.sstride = b_stride; c.srev = corr;
        c.ker = a; c.kh = h1; c.kw = w1; c.krow = a_row; c.kstride = a_stride; c.krev = 0;
    }
    c.shared = planes == 1 || c.kstride == 0;
    c.orow = out_row;
    c.ostride = out_stride;

    /* the part of the window inside the full result; the rest is zero,
     * written once nothing can fail any more */
    int64_t ylo = sy > 0 ? sy : 0, yhi = eh < fh ? eh : fh;
    int64_t xlo = sx > 0 ? sx : 0, xhi = ew < fw ? ew : fw;
    if (yhi <= ylo || xhi <= xlo) {
        zero_outside(out, planes, out_stride, oh, out_row, sx, ow, sx, sx);
        return 0;
    }
    c.cy0 = ylo;
    c.cyn = yhi - ylo;
    c.cx0 = xlo;
    c.cxn = xhi - xlo;
    c.odst = out + (ylo - sy) * out_row + (xlo - sx);

    int64_t kernels = c.shared ? 1 : planes;
    int64_t ny, nx;
    choose_n2(&c, planes, kernels, &ny, &nx);
    c.Ny = (int)ny;
    c.Nx = (int)nx;
    c.W = c.Nx / 2 + 1;
    c.Ty = c.Ny - c.kh + 1;
    c.Tx = c.Nx - c.kw + 1;
    c.nty = (c.cyn + c.Ty - 1) / c.Ty;
    c.ntx = (c.cxn + c.Tx - 1) / c.Tx;
    c.spec_len = (size_t)c.Ny * c.W;
    size_t spec_bytes = align_up(c.spec_len * sizeof(cpx));
    int64_t group = 1;
    if (!c.shared) {
        group = (int64_t)(SPECTRA_BUDGET / spec_bytes);
        if (group < 1)
            group = 1;
        if (group > planes)
            group = planes;
    }
    int64_t max_units = (c.shared ? planes : group) * c.nty * c.ntx;
    c.workers = worker_count(max_units);
    c.work_bytes = work2_bytes(c.Ny, c.Nx);
    size_t nspec = c.shared ? 1 : (size_t)group;
    size_t total = nspec * spec_bytes + (size_t)c.workers * c.work_bytes;
    plan *py = plan_get(c.Ny), *px = plan_get(c.Nx / 2);
    size_t size = total;    /* the block's size: total or more */
    char *block = (py && px) ? convrt__keep_get(CONVRT__KEEP_FFT, &size) : NULL;
    if (!block) {
        plan_release(py);
        plan_release(px);
        return convrt_report(CONVRT_E_NOMEM, F2 "cannot allocate %zu bytes for %dx%d transforms", total,
                             c.Ny, c.Nx);
    }
    c.py = py;
    c.px = px;
    c.spec = (cpx *)block;
    c.work = block + nspec * spec_bytes;
    zero_outside(out, planes, out_stride, ylo - sy, out_row, sx, ow, sx, sx);
    zero_outside(out + (ylo - sy) * out_row, planes, out_stride, yhi - ylo, out_row, sx, ow, xlo, xhi);
    zero_outside(out + (yhi - sy) * out_row, planes, out_stride, eh - yhi, out_row, sx, ow, sx, sx);

    if (c.shared) {
        work2 m = work2_at(&c, 0);
        c.g0 = 0;
        kernel_spectrum2(&c, 0, c.spec, &m);
    }
    for (int64_t g0 = 0; g0 < planes; g0 += c.shared ? planes : group) {
        c.g0 = g0;
        c.gn = c.shared ? planes : (planes - g0 < group ? planes - g0 : group);
        task2 t = {.c = &c};
        if (!c.shared) {
            t.units = c.gn;
            convrt_parallel_for(c.workers, run_kernels2, &t);
        }
        t.units = c.gn * c.nty * c.ntx;
        convrt_parallel_for(c.workers, run_tiles, &t);
    }
    convrt__keep_put(CONVRT__KEEP_FFT, block, size);
    plan_release(py);
    plan_release(px);
    return 0;
}

/* The entry points: a failure inside a pipeline's body (generated code
 * calls these for method=fft stages) also fails the run. */
CONVRT_API int convrt_fft_conv1d(int64_t flags, int64_t planes,
                                 const float *a, int64_t n1, int64_t a_stride,
                                 const float *b, int64_t n2, int64_t b_stride,
                                 float *out, int64_t start, int64_t nout, int64_t out_stride)
{
    int rc = fft_conv1d(flags, planes, a, n1, a_stride, b, n2, b_stride, out, start, nout,
                        out_stride);
    if (rc)
        convrt__run_fail(rc);
    return rc;
}

CONVRT_API int convrt_fft_conv2d(int64_t flags, int64_t planes,
                                 const float *a, int64_t h1, int64_t w1, int64_t a_row, int64_t a_stride,
                                 const float *b, int64_t h2, int64_t w2, int64_t b_row, int64_t b_stride,
                                 float *out, int64_t sy, int64_t oh, int64_t sx, int64_t ow,
                                 int64_t out_row, int64_t out_stride)
{
    int rc = fft_conv2d(flags, planes, a, h1, w1, a_row, a_stride, b, h2, w2, b_row, b_stride,
                        out, sy, oh, sx, ow, out_row, out_stride);
    if (rc)
        convrt__run_fail(rc);
    return rc;
}
