/* fma_peak.c - the machine's single-precision FMA peak, measured where the
 * pipeline runs (convrt_profile.h), never assumed from a CPU model.
 *
 * Each thread runs CHAINS independent chains a = a * m + c of vector FMAs:
 * enough to hide the FMA latency (4 cycles on current x86 cores) on every
 * FMA port (two at most), so the loop is bound by FMA throughput alone.
 * The widest vectors the CPU offers are used: AVX-512 where there is
 * AVX-512 (a core that splits 512-bit operations in two, like AMD Zen 4,
 * then gives the same number as with AVX2; one with full-width units more),
 * else AVX2.  The chains converge to c / (1 - m) = 1, so nothing overflows
 * or goes subnormal.  The kernels are compiled for their instruction sets
 * with target attributes and chosen by what the CPU reports. */
#include <immintrin.h>
#include <string.h>
#include <time.h>

#include "convrt_profile.h"

enum { CHAINS = 12 };

/* One step of every chain. */
#define STEP(FMADD)                                                              \
    a0 = FMADD(a0, m, c); a1 = FMADD(a1, m, c); a2 = FMADD(a2, m, c);           \
    a3 = FMADD(a3, m, c); a4 = FMADD(a4, m, c); a5 = FMADD(a5, m, c);           \
    a6 = FMADD(a6, m, c); a7 = FMADD(a7, m, c); a8 = FMADD(a8, m, c);           \
    a9 = FMADD(a9, m, c); a10 = FMADD(a10, m, c); a11 = FMADD(a11, m, c)

/* The chains' sum, so that none of them can be left out. */
#define SUM(ADD) ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), \
                     ADD(ADD(a8, a9), ADD(a10, a11)))

__attribute__((target("avx512f"))) static float fma_loop_512(int64_t iters)
{
    __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
    __m512 a0 = _mm512_set1_ps(0.f), a1 = _mm512_set1_ps(.1f), a2 = _mm512_set1_ps(.2f),
           a3 = _mm512_set1_ps(.3f), a4 = _mm512_set1_ps(.4f), a5 = _mm512_set1_ps(.5f),
           a6 = _mm512_set1_ps(.6f), a7 = _mm512_set1_ps(.7f), a8 = _mm512_set1_ps(.8f),
           a9 = _mm512_set1_ps(.9f), a10 = _mm512_set1_ps(1.1f), a11 = _mm512_set1_ps(1.2f);
    for (int64_t i = 0; i < iters; i++) {
        STEP(_mm512_fmadd_ps);
    }
    return _mm512_reduce_add_ps(SUM(_mm512_add_ps));
}

__attribute__((target("avx2,fma"))) static float fma_loop_256(int64_t iters)
{
    __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
    __m256 a0 = _mm256_set1_ps(0.f), a1 = _mm256_set1_ps(.1f), a2 = _mm256_set1_ps(.2f),
           a3 = _mm256_set1_ps(.3f), a4 = _mm256_set1_ps(.4f), a5 = _mm256_set1_ps(.5f),
           a6 = _mm256_set1_ps(.6f), a7 = _mm256_set1_ps(.7f), a8 = _mm256_set1_ps(.8f),
           a9 = _mm256_set1_ps(.9f), a10 = _mm256_set1_ps(1.1f), a11 = _mm256_set1_ps(1.2f);
    for (int64_t i = 0; i < iters; i++) {
        STEP(_mm256_fmadd_ps);
    }
    __m256 s = SUM(_mm256_add_ps);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

/* Keeps the results alive: the loops cannot be optimised away. */
static volatile float sink;

typedef struct Job {
    int     bits;
    int64_t iters;
} Job;

static void run_loop(const Job *j)
{
    sink = j->bits == 512 ? fma_loop_512(j->iters) : fma_loop_256(j->iters);
}

static void task(void *ctx, int64_t begin, int64_t end)
{
    for (int64_t k = begin; k < end; k++)
        run_loop(ctx);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds for one loop per thread on `threads` threads (1: this one). */
static double timed(Job *j, int threads)
{
    double t0 = now();
    if (threads > 1)
        convrt_parallel_for(threads, task, j);
    else
        run_loop(j);
    return now() - t0;
}

enum { RUNS = 7 };
#define RUN_SECONDS 2e-3

int convrt_measure_fma_peak(convrt_fma_peak *out)
{
    memset(out, 0, sizeof *out);
    out->threads = convrt_get_num_threads();
    __builtin_cpu_init();
    Job j = { 0, 1024 };
    if (__builtin_cpu_supports("avx512f"))
        j.bits = 512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        j.bits = 256;
    else
        return CONVRT_E_CPU;
    /* as many iterations as take about RUN_SECONDS on one thread */
    double t;
    while ((t = timed(&j, 1)) < RUN_SECONDS / 4 && j.iters < ((int64_t)1 << 40))
        j.iters *= 2;
    if (t > 0 && t < RUN_SECONDS)
        j.iters = (int64_t)((double)j.iters * (RUN_SECONDS / t));
    double flops = (double)j.iters * CHAINS * (j.bits / 32) * 2;
    double best1 = 0, bestn = 0;
    for (int r = 0; r < RUNS; r++) {
        t = timed(&j, 1);
        if (t > 0 && flops / t > best1) {
            best1 = flops / t;
            out->seconds = t;
        }
    }
    for (int r = 0; r < RUNS && out->threads > 1; r++) {
        t = timed(&j, out->threads);
        if (t > 0 && flops * out->threads / t > bestn)
            bestn = flops * out->threads / t;
    }
    out->gflops_thread = best1 * 1e-9;
    /* All threads together do at least what one does alone: a lower
     * number means other work took the cores meanwhile. */
    out->gflops = (bestn > best1 ? bestn : best1) * 1e-9;
    out->vector_bits = j.bits;
    out->chains = CHAINS;
    return 0;
}
