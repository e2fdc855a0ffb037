/* peak.c - measure this machine's sustained f32 FMA throughput.
 *
 * Each thread runs a loop of independent fused multiply-adds on NACC vector
 * accumulators (enough to cover FMA latency x FMA ports on current x86
 * cores), so the loop is bound by FMA throughput alone, not by latency,
 * loads or stores.  Reported for the widest vector width the compiler
 * targets (-march=native) and for 256-bit vectors, with 1 thread and with
 * every thread count up to the online CPUs.
 *
 *   usage: peak [SECONDS_PER_MEASUREMENT]
 *
 * Output, one line per measurement, machine-readable:
 *   peak BITS THREADS GFLOPS
 * Build: cc -O2 -march=native -pthread peak.c -o peak */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NACC 16 /* accumulators in loop512/loop256 (a0..a15) */

#define SET512(v) _mm512_set1_ps((float)(v))
#define FMA512 _mm512_fmadd_ps
#define ADD512 _mm512_add_ps
#define STORE512 _mm512_storeu_ps
#define SET256(v) _mm256_set1_ps((float)(v))
#define FMA256 _mm256_fmadd_ps
#define ADD256 _mm256_add_ps
#define STORE256 _mm256_storeu_ps

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile float g_mul = 0.99999f, g_add = 1e-7f;

struct job {
    int bits;
    int64_t iters;
    double seconds;
    float sink;
    pthread_barrier_t *bar;
};

/* Each iteration is NACC FMAs of (bits/32) lanes = NACC * lanes * 2 flop. */
#if defined(__AVX512F__)
static float loop512(int64_t iters)
{
    __m512 m = SET512(g_mul), a = SET512(g_add);
    __m512 a0 = SET512(0), a1 = SET512(1), a2 = SET512(2), a3 = SET512(3), a4 = SET512(4),
           a5 = SET512(5), a6 = SET512(6), a7 = SET512(7), a8 = SET512(8), a9 = SET512(9),
           a10 = SET512(10), a11 = SET512(11), a12 = SET512(12), a13 = SET512(13),
           a14 = SET512(14), a15 = SET512(15);
    for (int64_t n = 0; n < iters; n++) {
        a0 = FMA512(a0, m, a); a1 = FMA512(a1, m, a); a2 = FMA512(a2, m, a); a3 = FMA512(a3, m, a);
        a4 = FMA512(a4, m, a); a5 = FMA512(a5, m, a); a6 = FMA512(a6, m, a); a7 = FMA512(a7, m, a);
        a8 = FMA512(a8, m, a); a9 = FMA512(a9, m, a); a10 = FMA512(a10, m, a); a11 = FMA512(a11, m, a);
        a12 = FMA512(a12, m, a); a13 = FMA512(a13, m, a); a14 = FMA512(a14, m, a); a15 = FMA512(a15, m, a);
    }
    __m512 s = ADD512(ADD512(ADD512(ADD512(a0, a1), ADD512(a2, a3)), ADD512(ADD512(a4, a5), ADD512(a6, a7))),
                  ADD512(ADD512(ADD512(a8, a9), ADD512(a10, a11)), ADD512(ADD512(a12, a13), ADD512(a14, a15))));
    float t[16];
    STORE512(t, s);
    float sum = 0;
    for (int i = 0; i < 16; i++)
        sum += t[i];
    return sum;
}
#endif

#if defined(__FMA__) && defined(__AVX__)
static float loop256(int64_t iters)
{
    __m256 m = SET256(g_mul), a = SET256(g_add);
    __m256 a0 = SET256(0), a1 = SET256(1), a2 = SET256(2), a3 = SET256(3), a4 = SET256(4),
           a5 = SET256(5), a6 = SET256(6), a7 = SET256(7), a8 = SET256(8), a9 = SET256(9),
           a10 = SET256(10), a11 = SET256(11), a12 = SET256(12), a13 = SET256(13),
           a14 = SET256(14), a15 = SET256(15);
    for (int64_t n = 0; n < iters; n++) {
        a0 = FMA256(a0, m, a); a1 = FMA256(a1, m, a); a2 = FMA256(a2, m, a); a3 = FMA256(a3, m, a);
        a4 = FMA256(a4, m, a); a5 = FMA256(a5, m, a); a6 = FMA256(a6, m, a); a7 = FMA256(a7, m, a);
        a8 = FMA256(a8, m, a); a9 = FMA256(a9, m, a); a10 = FMA256(a10, m, a); a11 = FMA256(a11, m, a);
        a12 = FMA256(a12, m, a); a13 = FMA256(a13, m, a); a14 = FMA256(a14, m, a); a15 = FMA256(a15, m, a);
    }
    __m256 s = ADD256(ADD256(ADD256(ADD256(a0, a1), ADD256(a2, a3)), ADD256(ADD256(a4, a5), ADD256(a6, a7))),
                  ADD256(ADD256(ADD256(a8, a9), ADD256(a10, a11)), ADD256(ADD256(a12, a13), ADD256(a14, a15))));
    float t[8];
    STORE256(t, s);
    float sum = 0;
    for (int i = 0; i < 8; i++)
        sum += t[i];
    return sum;
}
#endif

static float run_loop(int bits, int64_t iters)
{
#if defined(__AVX512F__)
    if (bits == 512)
        return loop512(iters);
#endif
#if defined(__FMA__) && defined(__AVX__)
    if (bits == 256)
        return loop256(iters);
#endif
    (void)bits;
    (void)iters;
    return 0;
}

static void *worker(void *p)
{
    struct job *j = p;
    run_loop(j->bits, j->iters / 8); /* warm up (clocks, AVX-512 licence) */
    pthread_barrier_wait(j->bar);
    double t0 = now();
    j->sink = run_loop(j->bits, j->iters);
    j->seconds = now() - t0;
    return NULL;
}

/* GFLOP/s of `threads` threads running together; the slowest thread's time
 * counts, so the figure is what the whole machine sustains. */
static double measure(int bits, int threads, double target_s)
{
    /* Calibrate the iteration count on one thread. */
    int64_t iters = 1 << 16;
    for (;;) {
        double t0 = now();
        run_loop(bits, iters);
        double dt = now() - t0;
        if (dt > 0.05) {
            iters = (int64_t)(iters * target_s / dt);
            break;
        }
        iters *= 4;
    }
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, threads);
        pthread_t tid[64];
        struct job jobs[64];
        for (int t = 0; t < threads; t++) {
            jobs[t] = (struct job){bits, iters, 0, 0, &bar};
            pthread_create(&tid[t], NULL, worker, &jobs[t]);
        }
        double slowest = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            if (jobs[t].seconds > slowest)
                slowest = jobs[t].seconds;
            if (jobs[t].sink == 12345.678f) /* keep the result alive */
                printf("#\n");
        }
        pthread_barrier_destroy(&bar);
        double lanes = bits / 32;
        double gflops = threads * (double)iters * NACC * lanes * 2 / slowest * 1e-9;
        if (gflops > best)
            best = gflops;
    }
    return best;
}

int main(int argc, char **argv)
{
    double target_s = argc > 1 ? atof(argv[1]) : 0.3;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > 64)
        ncpu = 64;
    int widths[2], nw = 0;
#if defined(__AVX512F__)
    widths[nw++] = 512;
#endif
#if defined(__FMA__) && defined(__AVX__)
    widths[nw++] = 256;
#endif
    if (nw == 0) {
        fprintf(stderr, "peak: this CPU/compiler has no FMA vectors (need -march=native on AVX2+FMA)\n");
        return 1;
    }
    for (int w = 0; w < nw; w++)
        for (int t = 1; t <= ncpu; t++) {
            if (t != 1 && t != ncpu)
                continue;
            printf("peak %d %d %.2f\n", widths[w], t, measure(widths[w], t, target_s));
            fflush(stdout);
        }
    return 0;
}
