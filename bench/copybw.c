/* copybw.c - measure the bandwidth of reading one array and writing another,
 * the least memory traffic a filter makes (its input read once, its
 * output written once).
 *
 * Each thread scales its own slice of a source array into a destination
 * array, dst[i] = s * src[i], with plain stores, as a filter's output is
 * written.  The arrays are several times the last-level cache, so the data
 * comes from and goes to memory; the store's read for ownership is not
 * counted, as a filter's stores pay it too.  Like peak.c: with 1 thread and
 * with every online CPU, the best of 3 runs, the slowest thread's time.
 *
 *   usage: copybw [SECONDS_PER_MEASUREMENT]
 *
 * Output, one line per measurement, machine-readable:
 *   copy THREADS GBYTES_PER_S BUFFER_MIB
 * where GB/s counts bytes read plus bytes written (1 GB = 1e9 bytes).
 * Build: cc -O3 -march=native -pthread copybw.c -o copybw (-O3 vectorises
 * the loop). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile float g_scale = 1.0000001f;

/* noinline: one copy of the vector loop, whatever the callers. */
__attribute__((noinline)) static void scale(float *restrict dst, const float *restrict src, size_t n,
                                            float s)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = s * src[i];
}

struct job {
    float *src, *dst;
    size_t n;
    int passes, touch;
    double seconds;
    pthread_barrier_t *bar;
};

static void *worker(void *p)
{
    struct job *j = p;
    /* The first run (one thread) touches the arrays, so that no page is
     * first mapped while a clock runs. */
    if (j->touch) {
        memset(j->dst, 0, j->n * sizeof(float));
        for (size_t i = 0; i < j->n; i++)
            j->src[i] = (float)(i & 1023);
    }
    pthread_barrier_wait(j->bar);
    double t0 = now();
    for (int r = 0; r < j->passes; r++)
        scale(j->dst, j->src, j->n, g_scale);
    j->seconds = now() - t0;
    return NULL;
}

/* GB/s (read + written) of `threads` threads each scaling n/threads floats
 * `passes` times; the slowest thread's time counts. */
static double run_once(float *src, float *dst, size_t n, int threads, int passes, int touch)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, threads);
    pthread_t tid[64];
    struct job jobs[64];
    size_t per = n / threads;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){src + t * per, dst + t * per, per, passes, touch, 0, &bar};
        pthread_create(&tid[t], NULL, worker, &jobs[t]);
    }
    double slowest = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (jobs[t].seconds > slowest)
            slowest = jobs[t].seconds;
    }
    pthread_barrier_destroy(&bar);
    return (double)threads * per * 2 * sizeof(float) * passes / slowest * 1e-9;
}

int main(int argc, char **argv)
{
    double target_s = argc > 1 ? atof(argv[1]) : 0.3;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > 64)
        ncpu = 64;
    /* Each array at least 4 times the last-level cache (as the CPU reports
     * it, which on a virtual machine is the host's), and at least 256 MiB. */
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0)
        llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    size_t bytes = (size_t)(llc > 0 ? llc : 0) * 4;
    if (bytes < (size_t)256 << 20)
        bytes = (size_t)256 << 20;
    size_t n = bytes / sizeof(float);
    n -= n % (64 * 16); /* whole vectors in every thread's slice */
    float *src = aligned_alloc(4096, n * sizeof(float));
    float *dst = aligned_alloc(4096, n * sizeof(float));
    if (!src || !dst) {
        fprintf(stderr, "copybw: cannot allocate 2 x %zu MiB\n", bytes >> 20);
        return 1;
    }
    for (int t = 1; t <= ncpu; t++) {
        if (t != 1 && t != ncpu)
            continue;
        /* Size the passes from one pass, then keep the best of 3 runs. */
        double gbs = run_once(src, dst, n, t, 1, t == 1);
        int passes = (int)(target_s * gbs * 1e9 / (2.0 * n * sizeof(float))) + 1;
        double best = gbs;
        for (int rep = 0; rep < 3; rep++) {
            double g = run_once(src, dst, n, t, passes, 0);
            if (g > best)
                best = g;
        }
        printf("copy %d %.2f %zu\n", t, best, (n * sizeof(float)) >> 20);
        fflush(stdout);
    }
    free(src);
    free(dst);
    return 0;
}
