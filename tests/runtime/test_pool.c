/* The thread pool behind convrt_parallel_for. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>

#include "common.h"

TestSuite(pool, .init = capture_start);

typedef struct visit_ctx {
    int64_t n;
    _Atomic int *hits;         /* per index */
    _Atomic int64_t sum;
    _Atomic int chunks;
    _Atomic int bad_range;
} visit_ctx;

static void visit(void *p, int64_t b, int64_t e)
{
    visit_ctx *c = p;
    if (b < 0 || e > c->n || b >= e)
        atomic_store(&c->bad_range, 1);
    int64_t s = 0;
    for (int64_t i = b; i < e && i >= 0 && i < c->n; i++) {
        atomic_fetch_add(&c->hits[i], 1);
        s += i;
    }
    atomic_fetch_add(&c->sum, s);
    atomic_fetch_add(&c->chunks, 1);
}

/* The blocks of a job (convrt.h): [0, n) split into T ranges, range r
 * being [n r / T, n (r + 1) / T); the block that starts at index b of a
 * range [lo, hi) is max(g, (hi - b) / 2) indices, g = max(1, n / (64 T)),
 * the last one of a range possibly shorter. */
static void range_of(int64_t t, int64_t n, int64_t b, int64_t *lo, int64_t *hi)
{
    for (int64_t r = 0; r < t; r++)
        if (b < n * (r + 1) / t) {
            *lo = n * r / t;
            *hi = n * (r + 1) / t;
            return;
        }
    *lo = *hi = n;
}

static int64_t block_len(int64_t t, int64_t n, int64_t b)
{
    int64_t lo, hi, g = n / (64 * t);
    range_of(t, n, b, &lo, &hi);
    int64_t len = (hi - b) / 2;
    if (g < 1)
        g = 1;
    return len < g ? g : len;
}

/* How many blocks convrt_parallel_for hands out: one call when it runs
 * serially, else the guided blocks of every range. */
static int64_t blocks_for(int threads, int64_t n)
{
    if (n <= 0)
        return 0;
    int64_t t = n < threads ? n : threads;
    if (t <= 1)
        return 1;
    int64_t k = 0;
    for (int64_t r = 0; r < t; r++)
        for (int64_t b = n * r / t; b < n * (r + 1) / t; b += block_len(t, n, b))
            k++;
    return k;
}

static void check_run(int threads, int64_t n)
{
    convrt_set_num_threads(threads);
    cr_assert_eq(convrt_get_num_threads(), threads);
    visit_ctx c = {.n = n};
    c.hits = calloc(n > 0 ? (size_t)n : 1, sizeof *c.hits);
    convrt_parallel_for(n, visit, &c);
    cr_expect_eq(c.bad_range, 0, "a chunk was empty or out of range");
    int64_t want = n > 0 ? n * (n - 1) / 2 : 0;
    cr_expect_eq(c.sum, want, "threads=%d n=%lld: sum %lld, want %lld", threads, (long long)n,
                 (long long)c.sum, (long long)want);
    for (int64_t i = 0; i < n; i++)
        cr_expect_eq(c.hits[i], 1, "threads=%d n=%lld: index %lld visited %d times", threads,
                     (long long)n, (long long)i, c.hits[i]);
    int64_t want_chunks = blocks_for(threads, n);
    cr_expect_eq(c.chunks, want_chunks, "threads=%d n=%lld: %d blocks, want %lld", threads, (long long)n,
                 c.chunks, (long long)want_chunks);
    free(c.hits);
}

Test(pool, exact_sums_and_single_visits)
{
    const int threads[] = {1, 2, 7};
    const int64_t sizes[] = {1, 2, 6, 7, 8, 100, 1001, 100000};
    for (size_t t = 0; t < 3; t++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            check_run(threads[t], sizes[s]);
    cr_expect_eq(cap.count, 0);
}

Test(pool, nothing_for_empty_ranges)
{
    check_run(4, 0);
    check_run(4, -5);
}

Test(pool, shrinking_and_growing_thread_count)
{
    check_run(7, 1000);
    check_run(2, 1000);
    check_run(7, 1000);
    check_run(3, 3);
}

/* Blocks are contiguous, as long as the rule says, and cover [0, n)
 * once; they run on at most the thread count's threads. */
typedef struct bounds_ctx {
    int64_t begin[128], end[128];
    pthread_t who[128];
    _Atomic int next;
} bounds_ctx;

static void record(void *p, int64_t b, int64_t e)
{
    bounds_ctx *c = p;
    int k = atomic_fetch_add(&c->next, 1);
    if (k < 128)
        c->begin[k] = b, c->end[k] = e, c->who[k] = pthread_self();
}

static int by_begin(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

Test(pool, blocks_cover_the_range_once_on_at_most_t_threads)
{
    convrt_set_num_threads(7);
    bounds_ctx c = {.next = 0};
    convrt_parallel_for(1000, record, &c);
    cr_assert_eq(c.next, blocks_for(7, 1000));
    int64_t pairs[128][2];
    for (int k = 0; k < c.next; k++)
        pairs[k][0] = c.begin[k], pairs[k][1] = c.end[k];
    qsort(pairs, (size_t)c.next, sizeof pairs[0], by_begin);
    for (int k = 0; k < c.next; k++) {
        cr_expect_eq(pairs[k][0], k ? pairs[k - 1][1] : 0, "block %d starts where %d ended", k, k - 1);
        int64_t lo, hi;
        range_of(7, 1000, pairs[k][0], &lo, &hi);
        int64_t len = pairs[k][1] - pairs[k][0], want = block_len(7, 1000, pairs[k][0]);
        cr_expect(pairs[k][1] <= hi, "block [%lld, %lld) leaves its range [%lld, %lld)",
                  (long long)pairs[k][0], (long long)pairs[k][1], (long long)lo, (long long)hi);
        cr_expect(len == want || (pairs[k][1] == hi && len > 0 && len <= want), "block [%lld, %lld)",
                  (long long)pairs[k][0], (long long)pairs[k][1]);
        /* guided: no block longer than the one before it in its range */
        cr_expect(pairs[k][0] == lo || len <= pairs[k - 1][1] - pairs[k - 1][0], "block %d grows", k);
    }
    cr_expect_eq(pairs[c.next - 1][1], 1000);
    int distinct = 0;
    for (int k = 0; k < c.next; k++) {
        int seen = 0;
        for (int j = 0; j < k; j++)
            seen |= pthread_equal(c.who[j], c.who[k]);
        distinct += !seen;
    }
    cr_expect(distinct >= 1 && distinct <= 7, "%d threads ran blocks", distinct);
}

/* A pool that grew for 7 threads lends only 2 to a call asked to use 2. */
Test(pool, a_smaller_count_uses_no_more_threads)
{
    convrt_set_num_threads(7);
    check_run(7, 1000);
    convrt_set_num_threads(2);
    for (int r = 0; r < 20; r++) {
        bounds_ctx c = {.next = 0};
        convrt_parallel_for(1000, record, &c);
        int distinct = 0;
        for (int k = 0; k < c.next && k < 128; k++) {
            int seen = 0;
            for (int j = 0; j < k; j++)
                seen |= pthread_equal(c.who[j], c.who[k]);
            distinct += !seen;
        }
        cr_expect(distinct <= 2, "%d threads ran blocks of a 2-thread call", distinct);
    }
}

/* A task that itself calls parallel_for: the inner call runs serially in
 * the calling thread (no deadlock, complete coverage). */
typedef struct nested_ctx {
    _Atomic int64_t sum;
    _Atomic int inner_calls;
    _Atomic int inner_other_thread;
} nested_ctx;

typedef struct inner_ctx {
    nested_ctx *outer;
    pthread_t self;
    int64_t base;
} inner_ctx;

static void inner(void *p, int64_t b, int64_t e)
{
    inner_ctx *c = p;
    atomic_fetch_add(&c->outer->inner_calls, 1);
    if (!pthread_equal(c->self, pthread_self()))
        atomic_store(&c->outer->inner_other_thread, 1);
    for (int64_t i = b; i < e; i++)
        atomic_fetch_add(&c->outer->sum, c->base * 10 + i);
}

static void outer(void *p, int64_t b, int64_t e)
{
    for (int64_t i = b; i < e; i++) {
        inner_ctx c = {.outer = p, .self = pthread_self(), .base = i};
        convrt_parallel_for(10, inner, &c);
    }
}

Test(pool, nested_call_runs_serially)
{
    convrt_set_num_threads(4);
    nested_ctx c = {0};
    convrt_parallel_for(20, outer, &c);
    /* sum over i<20, j<10 of 10 i + j */
    cr_expect_eq(c.sum, 10 * 10 * (20 * 19 / 2) + 20 * 45);
    cr_expect_eq(c.inner_calls, 20, "one serial inner call per outer index");
    cr_expect_eq(c.inner_other_thread, 0);
}

static void *concurrent_user(void *arg)
{
    visit_ctx *c = arg;
    for (int r = 0; r < 50; r++)
        convrt_parallel_for(c->n, visit, c);
    return NULL;
}

Test(pool, concurrent_callers_all_complete)
{
    convrt_set_num_threads(3);
    visit_ctx c[3];
    pthread_t t[3];
    for (int k = 0; k < 3; k++) {
        c[k] = (visit_ctx){.n = 500};
        c[k].hits = calloc(500, sizeof *c[k].hits);
        pthread_create(&t[k], NULL, concurrent_user, &c[k]);
    }
    for (int k = 0; k < 3; k++) {
        pthread_join(t[k], NULL);
        cr_expect_eq(c[k].sum, 50 * (500 * 499 / 2));
        for (int i = 0; i < 500; i++)
            cr_expect_eq(c[k].hits[i], 50);
        free(c[k].hits);
    }
}

Test(pool, thread_count_api)
{
    int prev = convrt_set_num_threads(5);
    cr_expect_geq(prev, 1);
    cr_expect_eq(convrt_get_num_threads(), 5);
    cr_expect_eq(convrt_set_num_threads(2), 5);
    cr_expect_eq(convrt_set_num_threads(-1), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "-1");
    cr_expect_eq(convrt_get_num_threads(), 2, "unchanged by a rejected call");
    convrt_set_num_threads(0);
    cr_expect_geq(convrt_get_num_threads(), 1);
}

Test(pool, default_from_environment)
{
    /* each Criterion test runs in its own process, so the default has not
     * been computed yet */
    setenv("CONVRT_NUM_THREADS", "3", 1);
    cr_expect_eq(convrt_get_num_threads(), 3);
    setenv("CONVRT_NUM_THREADS", "junk", 1);
    convrt_set_num_threads(0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cr_expect_eq(convrt_get_num_threads(), cpus);
    setenv("CONVRT_NUM_THREADS", "0", 1);
    convrt_set_num_threads(0);
    cr_expect_eq(convrt_get_num_threads(), cpus);
    unsetenv("CONVRT_NUM_THREADS");
}

Test(pool, usable_after_fork, .timeout = 20)
{
    convrt_set_num_threads(4);
    check_run(4, 1000);   /* workers exist in the parent */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        visit_ctx c = {.n = 1000};
        c.hits = calloc(1000, sizeof *c.hits);
        convrt_parallel_for(1000, visit, &c);
        int ok = c.sum == 1000 * 999 / 2;
        free(c.hits);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child could not use the pool");
    check_run(4, 1000);
}

/* A thread's own count: its calls use it, other threads keep the
 * process-wide count, and 0 returns to that count. */
static void *count_chunks_elsewhere(void *arg)
{
    bounds_ctx *c = arg;
    convrt_parallel_for(100, record, c);
    return NULL;
}

static int chunks_here(void)
{
    bounds_ctx c = {.next = 0};
    convrt_parallel_for(100, record, &c);
    return c.next;
}

/* The thread count a call used, told by its number of blocks over 100. */
#define BLOCKS_OF(t) ((int)blocks_for((t), 100))

Test(pool, thread_count_of_one_thread)
{
    convrt_set_num_threads(4);
    cr_expect_eq(convrt_set_thread_num_threads(1), 0);
    cr_expect_eq(chunks_here(), 1);
    bounds_ctx other = {.next = 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, count_chunks_elsewhere, &other), 0);
    pthread_join(t, NULL);
    cr_expect_eq(other.next, BLOCKS_OF(4), "another thread keeps the process-wide count");
    cr_expect_eq(convrt_get_num_threads(), 4);
    cr_expect_eq(convrt_set_thread_num_threads(3), 1);
    convrt_set_num_threads(1);
    cr_expect_eq(chunks_here(), BLOCKS_OF(3), "the thread's own count wins over the process-wide one");
    cr_expect_eq(convrt_set_thread_num_threads(-2), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "-2");
    cr_expect_eq(convrt_set_thread_num_threads(0), 3, "unchanged by a rejected call");
    cr_expect_eq(chunks_here(), 1, "0 returns to the process-wide count");
}
