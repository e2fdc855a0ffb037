/* pool.c - the thread pool behind convrt_parallel_for.
 *
 * Workers are started lazily on the first parallel call that needs them
 * and then stay parked on a condition variable between jobs, so the cost
 * of a parallel loop is one broadcast and one join-wait.  The items of a
 * job are split into one contiguous range a thread (the caller's first,
 * then worker 1's, 2's, ...: the same thread takes the same part of every
 * job of the same size, so what one loop of a call writes the next one
 * mostly reads on the same core).  Each thread claims blocks from its own
 * range (guided: half of what is left in it, the last ones small) and
 * then from the others' ranges, in turn, until none are left: a worker
 * that wakes late, or a core that the machine gives to something else
 * for a while, costs only its own blocks instead of holding up a fixed
 * share of the job.  Each
 * item is still run exactly once by one thread (the generated code never
 * splits a reduction across items), so results do not depend on who ran
 * what.  Only one job runs at a time: a call that finds the pool busy
 * (another application thread, or a task calling back in) runs serially
 * instead of waiting, which rules out deadlock.  The workers are joined by
 * a destructor at exit.
 *
 * While a pipeline call is in progress (convrt__pool_call_begin/end), a
 * worker that finishes a job spins for up to SPIN_NS waiting for the
 * next one before it parks, and the caller spins as long for the workers
 * to finish before it sleeps: the stages of one call follow each other in
 * microseconds, while waking a parked thread takes tens of them on a
 * virtual machine.  The start of a call also wakes parked workers into
 * that spin, so the wake-up overlaps the call's argument checks.  Nothing
 * spins between calls: the cores are free as soon as a call returns. */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define MAX_THREADS 1024
#define SPIN_NS 100000

/* pipeline calls in progress (any thread) */
static _Atomic int calls_active;

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t  wake;       /* workers wait for a new generation */
    pthread_cond_t  done;       /* the caller waits for active == 0 */
    pthread_mutex_t run_lock;   /* held by the thread whose job is running */
    pthread_t      *threads;
    int             n_workers;  /* started so far */
    int             shutdown;
    uint64_t        generation;
    /* the current job */
    convrt_task_fn  fn;
    void           *ctx;
    int64_t         grain;      /* the fewest items claimed at a time */
    int             job_threads; /* the threads the job is for */
    int             open;       /* workers may still join the job */
    int             slots;      /* how many more may join (the thread count) */
    int             active;     /* workers inside the job */
    struct range {
        _Atomic int64_t next;   /* the range's first item not yet claimed */
        int64_t         end;
        char            pad[48];    /* one cache line each */
    } *ranges;                  /* one a thread of the job */
} pool;

static pool the_pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
    .run_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* Set while a thread runs a chunk, so nested calls run serially. */
static _Thread_local int in_task;

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int num_threads;   /* 0 = not yet determined */
/* The calling thread's own count (convrt_set_thread_num_threads); 0 =
 * the process-wide one. */
static _Thread_local int thread_num_threads;

static int default_threads(void)
{
    const char *env = getenv("CONVRT_NUM_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1)
            return v > MAX_THREADS ? MAX_THREADS : (int)v;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    return cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
}

int convrt_get_num_threads(void)
{
    pthread_mutex_lock(&count_lock);
    if (num_threads == 0)
        num_threads = default_threads();
    int n = num_threads;
    pthread_mutex_unlock(&count_lock);
    return n;
}

int convrt_set_num_threads(int n)
{
    if (n < 0)
        return convrt_report(CONVRT_E_INVALID,
                             "convrt_set_num_threads: thread count %d is negative", n);
    pthread_mutex_lock(&count_lock);
    int prev = num_threads ? num_threads : default_threads();
    num_threads = n == 0 ? default_threads() : (n > MAX_THREADS ? MAX_THREADS : n);
    pthread_mutex_unlock(&count_lock);
    return prev;
}

int convrt_set_thread_num_threads(int n)
{
    if (n < 0)
        return convrt_report(CONVRT_E_INVALID,
                             "convrt_set_thread_num_threads: thread count %d is negative", n);
    int prev = thread_num_threads;
    thread_num_threads = n > MAX_THREADS ? MAX_THREADS : n;
    return prev;
}

/* Claim blocks of the job's items and run them until none are left:
 * from thread `self`'s own range first, then from the others' ranges in
 * turn.  A block is half of what is left in its range (guided), at least
 * `grain`, so every range's first block is large and its last ones small,
 * and the threads finish within a small block of each other. */
static void run_claims(pool *p, convrt_task_fn fn, void *ctx, int64_t grain, int self)
{
    in_task = 1;
    int t = p->job_threads;
    for (int k = 0; k < t; k++) {
        struct range *r = &p->ranges[(self + k) % t];
        int64_t end = r->end;
        for (;;) {
            int64_t b = atomic_load_explicit(&r->next, memory_order_relaxed), size;
            do {
                if (b >= end)
                    goto next_range;
                size = (end - b) / 2;
                if (size < grain)
                    size = grain;
            } while (!atomic_compare_exchange_weak_explicit(&r->next, &b, b + size, memory_order_relaxed,
                                                            memory_order_relaxed));
            fn(ctx, b, end - b < size ? end : b + size);
        }
    next_range:;
    }
    in_task = 0;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin (the lock not held) while the generation is still `seen`, a call
 * is in progress and SPIN_NS have not passed. */
static void spin_for_job(pool *p, uint64_t seen)
{
    uint64_t end = now_ns() + SPIN_NS;
    for (int i = 0;; i++) {
        if (__atomic_load_n(&p->generation, __ATOMIC_ACQUIRE) != seen ||
            __atomic_load_n(&p->shutdown, __ATOMIC_RELAXED) ||
            atomic_load_explicit(&calls_active, memory_order_relaxed) == 0)
            return;
        cpu_relax();
        if ((i & 63) == 63 && now_ns() > end)
            return;
    }
}

void convrt__pool_call_begin(void)
{
    pool *p = &the_pool;
    atomic_fetch_add_explicit(&calls_active, 1, memory_order_relaxed);
    /* wake parked workers into their spin (they go back to sleep if no
     * job comes within SPIN_NS) */
    if (__atomic_load_n(&p->n_workers, __ATOMIC_RELAXED) > 0 && !in_task) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

void convrt__pool_call_end(void)
{
    atomic_fetch_sub_explicit(&calls_active, 1, memory_order_relaxed);
}

typedef struct worker_start {
    uint64_t gen;   /* generation when started: jobs after it are ours */
    int      id;    /* 1, 2, ... in order of start: its range in a job */
} worker_start;

static void *worker_main(void *arg)
{
    pool *p = &the_pool;
    worker_start start = *(worker_start *)arg;
    free(arg);
    /* Not p->generation read here: the job that caused this worker to be
     * started may already have been published. */
    uint64_t seen = start.gen;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        bool spun = false;
        while (!p->shutdown && p->generation == seen) {
            if (!spun && atomic_load_explicit(&calls_active, memory_order_relaxed) > 0) {
                pthread_mutex_unlock(&p->lock);
                spin_for_job(p, seen);
                pthread_mutex_lock(&p->lock);
                spun = true;
                continue;
            }
            pthread_cond_wait(&p->wake, &p->lock);
            spun = false;
        }
        if (p->shutdown)
            break;
        seen = p->generation;
        if (!p->open || p->slots == 0 || start.id >= p->job_threads)
            continue;       /* woke after the job's items were all claimed,
                               or the job has the threads it asked for (a
                               worker past them has no range in it) */
        p->slots--;
        __atomic_add_fetch(&p->active, 1, __ATOMIC_RELAXED);
        convrt_task_fn fn = p->fn;
        void *ctx = p->ctx;
        int64_t grain = p->grain;
        pthread_mutex_unlock(&p->lock);
        run_claims(p, fn, ctx, grain, start.id);
        pthread_mutex_lock(&p->lock);
        if (__atomic_sub_fetch(&p->active, 1, __ATOMIC_RELEASE) == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* A forked child has only the forking thread: forget the parent's workers
 * (and any locks held by other threads at the fork) so that the pool
 * starts afresh instead of waiting forever for workers that do not exist. */
static void pool_atfork_child(void)
{
    pool *p = &the_pool;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    pthread_mutex_init(&count_lock, NULL);
    p->n_workers = 0;
    p->open = 0;
    p->slots = 0;
    p->active = 0;
    p->shutdown = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, pool_atfork_child);
}

/* Start workers until there are `want`; returns how many exist.  Called
 * with run_lock held, so no job is in flight. */
static int grow(pool *p, int want)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&p->lock);
    if (!p->threads) {
        p->threads = calloc(MAX_THREADS, sizeof(pthread_t));
        p->ranges = aligned_alloc(64, MAX_THREADS * sizeof *p->ranges);
        if (!p->threads || !p->ranges) {
            free(p->threads);
            free(p->ranges);
            p->threads = NULL;
            p->ranges = NULL;
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&p->lock);
    while (p->n_workers < want) {
        pthread_t t;
        worker_start *ws = malloc(sizeof *ws);
        if (!ws)
            break;   /* run with fewer threads rather than fail */
        ws->gen = p->generation;   /* stable: only changed under run_lock */
        ws->id = p->n_workers + 1;
        if (pthread_create(&t, NULL, worker_main, ws) != 0) {
            free(ws);
            break;
        }
        pthread_mutex_lock(&p->lock);
        p->threads[p->n_workers] = t;
        __atomic_add_fetch(&p->n_workers, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&p->lock);
    }
    return p->n_workers;
}

static void run_serial(int64_t n, convrt_task_fn fn, void *ctx)
{
    int was = in_task;
    in_task = 1;
    fn(ctx, 0, n);
    in_task = was;
}

void convrt_parallel_for(int64_t n, convrt_task_fn fn, void *ctx)
{
    if (n <= 0 || !fn)
        return;
    int threads = thread_num_threads ? thread_num_threads : convrt_get_num_threads();
    int64_t chunks64 = n < threads ? n : threads;
    if (chunks64 <= 1 || in_task) {
        run_serial(n, fn, ctx);
        return;
    }
    pool *p = &the_pool;
    if (pthread_mutex_trylock(&p->run_lock) != 0) {
        run_serial(n, fn, ctx);
        return;
    }
    int workers = grow(p, (int)chunks64 - 1);
    int chunks = workers + 1 < chunks64 ? workers + 1 : (int)chunks64;
    if (chunks <= 1) {
        pthread_mutex_unlock(&p->run_lock);
        run_serial(n, fn, ctx);
        return;
    }
    /* blocks of items (run_claims): the last ones at least a 64th of a
     * range, so that claiming stays rare */
    int64_t grain = n / ((int64_t)chunks * 64);
    if (grain < 1)
        grain = 1;
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->grain = grain;
    p->job_threads = chunks;
    for (int r = 0; r < chunks; r++) {
        atomic_store_explicit(&p->ranges[r].next, n * r / chunks, memory_order_relaxed);
        p->ranges[r].end = n * (r + 1) / chunks;
    }
    p->open = 1;
    p->slots = chunks - 1;
    __atomic_store_n(&p->active, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->generation, p->generation + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    run_claims(p, fn, ctx, grain, 0);

    /* Every item is claimed: no worker joins any more; wait for those
     * still running theirs. */
    pthread_mutex_lock(&p->lock);
    p->open = 0;
    if (p->active > 0 && atomic_load_explicit(&calls_active, memory_order_relaxed) > 0) {
        /* the workers are finishing their last blocks: wait for them
         * awake for a while rather than be woken */
        pthread_mutex_unlock(&p->lock);
        uint64_t end = now_ns() + SPIN_NS;
        for (int i = 0; __atomic_load_n(&p->active, __ATOMIC_ACQUIRE) > 0; i++) {
            cpu_relax();
            if ((i & 63) == 63 && now_ns() > end)
                break;
        }
        pthread_mutex_lock(&p->lock);
    }
    while (p->active > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->run_lock);
}

/* Join the workers when the process exits (or the shared library is
 * unloaded) so that nothing is left running or leaked.  If a job is still
 * in flight in another thread at exit, the workers are left alone. */
__attribute__((destructor)) static void pool_shutdown(void)
{
    pool *p = &the_pool;
    if (pthread_mutex_trylock(&p->run_lock) != 0)
        return;
    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->shutdown, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&p->wake);
    int n = p->n_workers;
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < n; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p->ranges);
    p->threads = NULL;
    p->ranges = NULL;
    p->n_workers = 0;
    pthread_mutex_unlock(&p->run_lock);
}
