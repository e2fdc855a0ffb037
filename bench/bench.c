/* bench.c - time convc's compiled workloads against oneDNN on the same work.
 *
 * Every workload in bench/workloads/ is compiled twice by `convc compile`:
 * for the build machine (--target-cpu=native) and for x86-64-v3 (AVX2, the
 * default of `convc compile`, renamed NAME_v3 so both link into this
 * program).  For each workload the harness fills reproducible random inputs,
 * builds the same computation from oneDNN primitives, checks that both convc
 * objects give oneDNN's result, and times the three alternately so that a
 * change of machine load hits all of them alike.
 *
 *   usage: bench --threads N [--seconds S] [--only W1,W2,...] [--data DIR [--inputs-only]]
 *
 * The thread count must also be in the environment (OMP_NUM_THREADS for
 * oneDNN's OpenMP, CONVRT_NUM_THREADS for convrt) so that both libraries
 * start with it; the harness sets both APIs as well and refuses to run if
 * either would use a different count.
 *
 * Output: one JSON object per line on stdout (bench/report.py turns them into
 * the report), progress on stderr.  With --data, every workload's inputs are
 * also written to DIR/ID/NAME.npy, with DIR/ID/args listing the names in the
 * pipeline's argument order, so that the PyTorch peer (bench/torch_peer.py)
 * and the `convc run` timing use the same numbers; --inputs-only writes them
 * and stops, so that scripts can load() the weights before this runs.
 *
 * Exit status: 0 when every result matches, 1 when a check fails (max
 * relative error above 1e-3) or anything else goes wrong. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <convrt.h>
#include <oneapi/dnnl/dnnl.h>

#include "w1_conv3x3_64_56.h"
#include "w1_conv3x3_64_56_v3.h"
#include "w2_conv1x1_256_64_56.h"
#include "w2_conv1x1_256_64_56_v3.h"
#include "w3_conv3x3s2_128_28.h"
#include "w3_conv3x3s2_128_28_v3.h"
#include "w4_conv3x3d2_64_56.h"
#include "w4_conv3x3d2_64_56_v3.h"
#include "w5_dw3x3_128_112.h"
#include "w5_dw3x3_128_112_v3.h"
#include "w6_conv3x3_relu_maxpool_64_56.h"
#include "w6_conv3x3_relu_maxpool_64_56_v3.h"
#include "w7_stem7x7s2_maxpool_224.h"
#include "w7_stem7x7s2_maxpool_224_v3.h"
#include "w10_resnet_basic_64_56.h"
#include "w10_resnet_basic_64_56_v3.h"
#include "w11_mbv2_inverted_24_56.h"
#include "w11_mbv2_inverted_24_56_v3.h"
#include "l1_conv3x3_128_28.h"
#include "l1_conv3x3_128_28_v3.h"
#include "l2_conv3x3_256_14.h"
#include "l2_conv3x3_256_14_v3.h"
#include "l3_conv3x3_512_7.h"
#include "l3_conv3x3_512_7_v3.h"
#include "l4_conv3x3s2_256_512_14.h"
#include "l4_conv3x3s2_256_512_14_v3.h"
#include "l5_conv1x1_256_1024_14.h"
#include "l5_conv1x1_256_1024_14_v3.h"
#include "l6_conv1x1_1024_256_14.h"
#include "l6_conv1x1_1024_256_14_v3.h"
#include "l7_conv1x1_2048_512_7.h"
#include "l7_conv1x1_2048_512_7_v3.h"
#include "l8_conv1x1s2_256_512_56.h"
#include "l8_conv1x1s2_256_512_56_v3.h"
#include "l9_conv3x3_3_64_224.h"
#include "l9_conv3x3_3_64_224_v3.h"
#include "l10_dw3x3_576_14.h"
#include "l10_dw3x3_576_14_v3.h"
#include "l11_dw3x3s2_144_56.h"
#include "l11_dw3x3s2_144_56_v3.h"
#include "l12_gconv3x3g32_128_56.h"
#include "l12_gconv3x3g32_128_56_v3.h"

#define TOLERANCE 1e-3
#define MAX_OPS 4
#define MAX_ARGS 8 /* pipeline inputs: x, then a weight and maybe a bias per conv */

/* ------------------------------------------------------------- workloads */

typedef enum { OP_CONV, OP_MAXPOOL } op_kind;
typedef enum { ACT_NONE, ACT_RELU, ACT_RELU6 } act_kind;

/* One stage of a workload, applied to the previous stage's result (the
 * first to the input x).  Windows are square with the same stride, padding
 * (on every side) and dilation in both dims. */
typedef struct {
    op_kind kind;
    int K;           /* conv: output channels */
    int k;           /* window size */
    int stride, pad, dilation;
    int groups;      /* conv */
    int bias;        /* conv: has a bias input */
    int residual;    /* conv: x is added to the result before the activation */
    act_kind act;    /* conv: applied last */
} op;

/* The generated entry points have one parameter per input and then one for
 * the output, so their C types differ by workload; they are stored untyped
 * and called through call_entry() with the right arity. */
typedef void (*any_fn)(void);

typedef struct {
    const char *id, *desc;
    int C, H, W; /* x is [1, C, H, W] */
    int nops;
    op ops[MAX_OPS];
    any_fn run, shapes, run_v3, shapes_v3;
} workload;

#define CONV(K_, k_, s_, p_, d_, g_, bias_, res_, act_) \
    {OP_CONV, K_, k_, s_, p_, d_, g_, bias_, res_, act_}
#define MAXPOOL(k_, s_, p_) {OP_MAXPOOL, 0, k_, s_, p_, 1, 1, 0, 0, ACT_NONE}
#define ENTRIES(name) \
    (any_fn)name, (any_fn)name##_output_shapes, (any_fn)name##_v3, (any_fn)name##_v3_output_shapes

/* The scripts in bench/workloads/, stage for stage.  Their inputs are x and
 * then w1, b1, w2, ... in stage order, which is also the order here. */
static const workload workloads[] = {
    {"W1", "conv3x3 64->64 56x56", 64, 56, 56, 1,
     {CONV(64, 3, 1, 1, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(w1_conv3x3_64_56)},
    {"W2", "conv1x1 256->64 56x56", 256, 56, 56, 1,
     {CONV(64, 1, 1, 0, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(w2_conv1x1_256_64_56)},
    {"W3", "conv3x3/2 128->128 28x28", 128, 28, 28, 1,
     {CONV(128, 3, 2, 1, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(w3_conv3x3s2_128_28)},
    {"W4", "conv3x3 dil2 64->64 56x56", 64, 56, 56, 1,
     {CONV(64, 3, 1, 2, 2, 1, 0, 0, ACT_NONE)}, ENTRIES(w4_conv3x3d2_64_56)},
    {"W5", "dw3x3 128ch 112x112", 128, 112, 112, 1,
     {CONV(128, 3, 1, 1, 1, 128, 0, 0, ACT_NONE)}, ENTRIES(w5_dw3x3_128_112)},
    {"W6", "conv3x3+b+relu+maxpool2", 64, 56, 56, 2,
     {CONV(64, 3, 1, 1, 1, 1, 1, 0, ACT_RELU), MAXPOOL(2, 2, 0)},
     ENTRIES(w6_conv3x3_relu_maxpool_64_56)},
    {"W7", "stem 7x7/2 3->64+maxpool3/2", 3, 224, 224, 2,
     {CONV(64, 7, 2, 3, 1, 1, 0, 0, ACT_NONE), MAXPOOL(3, 2, 1)},
     ENTRIES(w7_stem7x7s2_maxpool_224)},
    {"W10", "ResNet basic block 64 56x56", 64, 56, 56, 2,
     {CONV(64, 3, 1, 1, 1, 1, 1, 0, ACT_RELU), CONV(64, 3, 1, 1, 1, 1, 1, 1, ACT_RELU)},
     ENTRIES(w10_resnet_basic_64_56)},
    {"W11", "MobileNetV2 block 24 56x56", 24, 56, 56, 3,
     {CONV(144, 1, 1, 0, 1, 1, 1, 0, ACT_RELU6), CONV(144, 3, 1, 1, 1, 144, 1, 0, ACT_RELU6),
      CONV(24, 1, 1, 0, 1, 1, 1, 1, ACT_NONE)},
     ENTRIES(w11_mbv2_inverted_24_56)},
    /* Common single layers of ResNet-18/50, VGG, MobileNetV2 and ResNeXt */
    {"L1", "conv3x3 128->128 28x28", 128, 28, 28, 1,
     {CONV(128, 3, 1, 1, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l1_conv3x3_128_28)},
    {"L2", "conv3x3 256->256 14x14", 256, 14, 14, 1,
     {CONV(256, 3, 1, 1, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l2_conv3x3_256_14)},
    {"L3", "conv3x3 512->512 7x7", 512, 7, 7, 1,
     {CONV(512, 3, 1, 1, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l3_conv3x3_512_7)},
    {"L4", "conv3x3/2 256->512 14x14", 256, 14, 14, 1,
     {CONV(512, 3, 2, 1, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l4_conv3x3s2_256_512_14)},
    {"L5", "conv1x1 256->1024 14x14", 256, 14, 14, 1,
     {CONV(1024, 1, 1, 0, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l5_conv1x1_256_1024_14)},
    {"L6", "conv1x1 1024->256 14x14", 1024, 14, 14, 1,
     {CONV(256, 1, 1, 0, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l6_conv1x1_1024_256_14)},
    {"L7", "conv1x1 2048->512 7x7", 2048, 7, 7, 1,
     {CONV(512, 1, 1, 0, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l7_conv1x1_2048_512_7)},
    {"L8", "conv1x1/2 256->512 56x56", 256, 56, 56, 1,
     {CONV(512, 1, 2, 0, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l8_conv1x1s2_256_512_56)},
    {"L9", "conv3x3 3->64 224x224", 3, 224, 224, 1,
     {CONV(64, 3, 1, 1, 1, 1, 0, 0, ACT_NONE)}, ENTRIES(l9_conv3x3_3_64_224)},
    {"L10", "dw3x3 576ch 14x14", 576, 14, 14, 1,
     {CONV(576, 3, 1, 1, 1, 576, 0, 0, ACT_NONE)}, ENTRIES(l10_dw3x3_576_14)},
    {"L11", "dw3x3/2 144ch 56x56", 144, 56, 56, 1,
     {CONV(144, 3, 2, 1, 1, 144, 0, 0, ACT_NONE)}, ENTRIES(l11_dw3x3s2_144_56)},
    {"L12", "gconv3x3 g32 128->128 56x56", 128, 56, 56, 1,
     {CONV(128, 3, 1, 1, 1, 32, 0, 0, ACT_NONE)}, ENTRIES(l12_gconv3x3g32_128_56)},
};
#define NWORKLOADS ((int)(sizeof workloads / sizeof workloads[0]))

static int out_size(int n, const op *o)
{
    return (n + 2 * o->pad - o->dilation * (o->k - 1) - 1) / o->stride + 1;
}

/* ------------------------------------------------------------- utilities */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

#define CONVRT_CHECK(call)                                                        \
    do {                                                                          \
        int rc_ = (call);                                                         \
        if (rc_ != 0) {                                                           \
            fprintf(stderr, "bench: %s failed: %s\n", #call, convrt_strerror(rc_)); \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

#define DNNL_CHECK(call)                                                          \
    do {                                                                          \
        dnnl_status_t st_ = (call);                                               \
        if (st_ != dnnl_success) {                                                \
            fprintf(stderr, "bench: %s failed: status %d\n", #call, (int)st_);   \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1), reproducible (xorshift64*). */
static float frand(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545F4914F6CDD1Dull;
    return (float)((r >> 40) * (2.0 / 16777216.0) - 1.0);
}

static int64_t numel(const convrt_tensor *t)
{
    int64_t n;
    CONVRT_CHECK(convrt_tensor_numel(t, &n));
    return n;
}

static void fill(convrt_tensor *t, float scale)
{
    int64_t n = numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = frand() * scale;
}

/* max |a - ref| / max |ref|: the error relative to the output's scale, so
 * outputs near zero do not blow it up. */
static double max_rel_err(const float *a, const float *ref, int64_t n)
{
    double maxdiff = 0, maxref = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= maxdiff)) /* also catches NaN */
            maxdiff = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > maxref)
            maxref = fabs(ref[i]);
    }
    if (!(maxref > 0))
        return INFINITY; /* an all-zero reference means nothing ran */
    return maxdiff / maxref;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Is `id` in the comma-separated list (case-insensitive)?  NULL: all. */
static int selected(const char *only, const char *id)
{
    if (!only)
        return 1;
    size_t n = strlen(id);
    for (const char *p = only; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncasecmp(p, id, n))
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ timing */

typedef void (*run_fn)(void *ctx);

/* Does another thread of this process run (state R in /proc)?  The CPU
 * time of the process would not tell: a thread that runs without a break
 * has its time brought up to date only at the scheduler's ticks. */
static int other_thread_running(void)
{
    DIR *dir = opendir("/proc/self/task");
    if (!dir)
        return 0;
    pid_t self = (pid_t)syscall(SYS_gettid);
    int running = 0;
    struct dirent *e;
    while (!running && (e = readdir(dir))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self)
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *state = strrchr(buf, ')'); /* the name before it may hold anything */
        running = state && state[1] == ' ' && state[2] == 'R';
    }
    closedir(dir);
    return running;
}

/* Wait until no other thread of this process runs.  An OpenMP pool
 * (oneDNN's) keeps its threads spinning for a while after a parallel
 * region; a convc sample started then would share the cores with them.
 * The wait is not timed. */
static void settle(void)
{
    for (int i = 0; i < 2000 && other_thread_running(); i++)
        nanosleep(&(struct timespec){0, 250000}, NULL);
}

enum { MAX_FNS = 4, MIN_SAMPLES = 3, MAX_SAMPLES = 201 };

/* Seconds per call of each fn, median over samples taken in turn (one of
 * each fn per round).  A sample is a batch of calls lasting about 5 ms, or
 * one call when a call is longer, after one untimed call: otherwise the
 * first call of a batch pays for the caches the implementation before it
 * left (in torch_peer.py, convc after PyTorch's channels_last call was
 * 4-13% slower than after its own calls).  Sampling stops once `budget_s`
 * is spent, but only after MIN_SAMPLES rounds: a slow implementation then
 * costs a few calls, not the budget times the number of rounds a fast one
 * would get. */
static int time_interleaved(int nfn, run_fn *fns, void **ctxs, double budget_s, double *median_s)
{
    int batch[MAX_FNS];
    /* Warm up (page faults, first-call setup, caches, clocks) and size a
     * batch from the warm-up's speed. */
    for (int f = 0; f < nfn; f++) {
        double t0 = now();
        int calls = 0;
        while (calls < 1 || now() - t0 < 0.1) {
            fns[f](ctxs[f]);
            calls++;
        }
        double per = (now() - t0) / calls;
        batch[f] = per >= 0.005 ? 1 : (int)(0.005 / per);
    }
    static double samples[MAX_FNS][MAX_SAMPLES];
    int ns = 0;
    double t_start = now();
    while (ns < MAX_SAMPLES && (ns < MIN_SAMPLES || now() - t_start < budget_s)) {
        for (int f = 0; f < nfn; f++) {
            fns[f](ctxs[f]);
            settle();
            double t0 = now();
            for (int i = 0; i < batch[f]; i++)
                fns[f](ctxs[f]);
            samples[f][ns] = (now() - t0) / batch[f];
        }
        ns++;
    }
    for (int f = 0; f < nfn; f++) {
        qsort(samples[f], ns, sizeof(double), cmp_double);
        median_s[f] = samples[f][ns / 2];
    }
    return ns;
}

/* ------------------------------------------------------------------- convc */

typedef const convrt_tensor *in_t;
typedef convrt_tensor *out_t;

static int call_entry(any_fn f, int nin, const convrt_tensor *in, convrt_tensor *out)
{
    switch (nin) {
    case 2: return ((int (*)(in_t, in_t, out_t))f)(&in[0], &in[1], out);
    case 3: return ((int (*)(in_t, in_t, in_t, out_t))f)(&in[0], &in[1], &in[2], out);
    case 4:
        return ((int (*)(in_t, in_t, in_t, in_t, out_t))f)(&in[0], &in[1], &in[2], &in[3], out);
    case 5:
        return ((int (*)(in_t, in_t, in_t, in_t, in_t, out_t))f)(&in[0], &in[1], &in[2], &in[3],
                                                                 &in[4], out);
    case 6:
        return ((int (*)(in_t, in_t, in_t, in_t, in_t, in_t, out_t))f)(&in[0], &in[1], &in[2],
                                                                       &in[3], &in[4], &in[5], out);
    case 7:
        return ((int (*)(in_t, in_t, in_t, in_t, in_t, in_t, in_t, out_t))f)(
            &in[0], &in[1], &in[2], &in[3], &in[4], &in[5], &in[6], out);
    default: die("no entry point of that arity"); return -1;
    }
}

typedef struct {
    any_fn entry;
    int nin;
    const convrt_tensor *in;
    convrt_tensor out;
} convc_ctx;

static void convc_run(void *p)
{
    convc_ctx *c = p;
    if (call_entry(c->entry, c->nin, c->in, &c->out) != 0)
        die("a convc pipeline failed");
}

/* The inputs of a workload, in the pipeline's argument order, with their
 * names in the script (x, w1, b1, w2, ...). */
typedef struct {
    int n;
    convrt_tensor t[MAX_ARGS];
    char name[MAX_ARGS][16];
} inputs;

static void make_inputs(const workload *L, inputs *in)
{
    /* Seeded by the workload alone, so its numbers do not depend on which
     * workloads ran before it (--only) and the files written by one run
     * match the next. */
    rng_state = 0x9E3779B97F4A7C15ull;
    for (const char *p = L->id; *p; p++)
        rng_state = (rng_state ^ (unsigned char)*p) * 0x100000001B3ull;
    memset(in, 0, sizeof *in);
    int64_t xd[4] = {1, L->C, L->H, L->W};
    CONVRT_CHECK(convrt_tensor_alloc(&in->t[0], 4, xd));
    fill(&in->t[0], 1.0f);
    snprintf(in->name[0], sizeof in->name[0], "x");
    in->n = 1;
    int C = L->C, nconv = 0;
    for (int i = 0; i < L->nops; i++) {
        const op *o = &L->ops[i];
        if (o->kind != OP_CONV)
            continue;
        nconv++;
        int cg = C / o->groups;
        int64_t wd[4] = {o->K, cg, o->k, o->k};
        CONVRT_CHECK(convrt_tensor_alloc(&in->t[in->n], 4, wd));
        /* 1/sqrt(fan-in) keeps every stage's output near unit scale, so the
         * error check means the same for every workload */
        fill(&in->t[in->n], (float)(1.0 / sqrt((double)cg * o->k * o->k)));
        snprintf(in->name[in->n++], sizeof in->name[0], "w%d", nconv);
        if (o->bias) {
            int64_t bd[1] = {o->K};
            CONVRT_CHECK(convrt_tensor_alloc(&in->t[in->n], 1, bd));
            fill(&in->t[in->n], 0.5f);
            snprintf(in->name[in->n++], sizeof in->name[0], "b%d", nconv);
        }
        C = o->K;
    }
}

static void write_inputs(const char *dir, const workload *L, const inputs *in)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, L->id);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        die("cannot create the data directory");
    for (int i = 0; i < in->n; i++) {
        snprintf(path, sizeof path, "%s/%s/%s.npy", dir, L->id, in->name[i]);
        CONVRT_CHECK(convrt_npy_save(path, &in->t[i]));
    }
    snprintf(path, sizeof path, "%s/%s/args", dir, L->id);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write the argument list");
    for (int i = 0; i < in->n; i++)
        fprintf(f, "%s%s", in->name[i], i + 1 < in->n ? " " : "\n");
    if (fclose(f) != 0)
        die("cannot write the argument list");
}

/* ------------------------------------------------------------------ oneDNN */

/* The oneDNN version of a workload: one primitive per stage, each stage's
 * bias, activation and residual add folded into the convolution as post-ops
 * (sum, then eltwise), in the layouts oneDNN prefers.  The sum post-op adds
 * the destination's old contents, so a residual stage first copies x into
 * its destination: that copy is part of every call, because x must survive
 * the call as it does for convc. */
enum { MAX_STEPS = 2 * MAX_OPS, MAX_MEMS = 4 * MAX_OPS + 4 };

typedef struct {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[4];
} dnnl_step;

typedef struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int nsteps, nmems;
    dnnl_step steps[MAX_STEPS];
    dnnl_memory_t mems[MAX_MEMS];  /* owned; destroyed at teardown */
    dnnl_memory_t out, user_out;   /* the last stage's result, and as nchw for the check */
    dnnl_primitive_t out_reorder;  /* NULL when the result is already nchw */
    char note[1024];
} dnnl_chain;

static dnnl_memory_t own(dnnl_chain *d, dnnl_memory_t m)
{
    if (d->nmems == MAX_MEMS)
        die("too many oneDNN memories");
    return d->mems[d->nmems++] = m;
}

static void dnnl_exec(dnnl_chain *d, dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args)
{
    DNNL_CHECK(dnnl_primitive_execute(p, d->stream, nargs, args));
    DNNL_CHECK(dnnl_stream_wait(d->stream));
}

static void dnnl_run(void *p)
{
    dnnl_chain *d = p;
    for (int i = 0; i < d->nsteps; i++)
        DNNL_CHECK(dnnl_primitive_execute(d->steps[i].prim, d->stream, d->steps[i].nargs,
                                          d->steps[i].args));
    DNNL_CHECK(dnnl_stream_wait(d->stream));
}

static void add_step(dnnl_chain *d, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
    if (d->nsteps == MAX_STEPS)
        die("too many oneDNN steps");
    dnnl_step *s = &d->steps[d->nsteps++];
    s->prim = prim;
    s->nargs = nargs;
    memcpy(s->args, args, sizeof(dnnl_exec_arg_t) * nargs);
}

/* "nchw", or the plain order followed by the inner blocks, e.g. "nChw16c". */
static void describe_md(const dnnl_memory_desc_t *md, const char *letters, char *out, size_t cap)
{
    if (md->format_kind != dnnl_blocked) {
        snprintf(out, cap, "%s", "opaque");
        return;
    }
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int nd = md->ndims, order[DNNL_MAX_NDIMS];
    for (int i = 0; i < nd; i++)
        order[i] = i;
    /* outer dims sorted by stride, largest first */
    for (int i = 0; i < nd; i++)
        for (int j = i + 1; j < nd; j++)
            if (b->strides[order[j]] > b->strides[order[i]])
                order[i] ^= order[j], order[j] ^= order[i], order[i] ^= order[j];
    size_t len = 0;
    for (int i = 0; i < nd && len + 1 < cap; i++) {
        int blocked = 0;
        for (int k = 0; k < b->inner_nblks; k++)
            blocked |= b->inner_idxs[k] == order[i];
        char ch = letters[order[i]];
        out[len++] = blocked ? (char)(ch - 'a' + 'A') : ch;
    }
    out[len] = 0;
    for (int k = 0; k < b->inner_nblks && len + 8 < cap; k++)
        len += snprintf(out + len, cap - len, "%lld%c", (long long)b->inner_blks[k],
                        letters[b->inner_idxs[k]]);
}

static void note_add(dnnl_chain *d, const char *fmt, ...)
{
    size_t len = strlen(d->note);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->note + len, sizeof d->note - len, fmt, ap);
    va_end(ap);
}

static dnnl_primitive_t make_reorder(dnnl_chain *d, const dnnl_memory_desc_t *from,
                                     const dnnl_memory_desc_t *to)
{
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, from, d->engine, to, d->engine, NULL));
    DNNL_CHECK(dnnl_primitive_create(&r, rpd));
    dnnl_primitive_desc_destroy(rpd);
    return r;
}

/* A memory of layout md holding the user's plain data, reordered once here,
 * outside the timed calls, when the primitive wants another layout. */
static dnnl_memory_t dnnl_from_user(dnnl_chain *d, const dnnl_memory_desc_t *user_md,
                                    const dnnl_memory_desc_t *md, float *data)
{
    dnnl_memory_t user, mem;
    DNNL_CHECK(dnnl_memory_create(&user, user_md, d->engine, data));
    if (dnnl_memory_desc_equal(user_md, md))
        return own(d, user);
    DNNL_CHECK(dnnl_memory_create(&mem, md, d->engine, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_t r = make_reorder(d, user_md, md);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, mem}};
    dnnl_exec(d, r, 2, args);
    dnnl_primitive_destroy(r);
    dnnl_memory_destroy(user);
    return own(d, mem);
}

static dnnl_memory_t dnnl_alloc(dnnl_chain *d, const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m;
    DNNL_CHECK(dnnl_memory_create(&m, md, d->engine, DNNL_MEMORY_ALLOCATE));
    return own(d, m);
}

static const char *impl_of(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    DNNL_CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    return impl ? impl : "?";
}

static void dnnl_setup(dnnl_chain *d, const workload *L, const inputs *in, float *ref)
{
    DNNL_CHECK(dnnl_engine_create(&d->engine, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags));

    dnnl_dims_t x_dims = {1, L->C, L->H, L->W};
    dnnl_memory_desc_t x_user_md, x_md, cur_md;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&x_user_md, 4, x_dims, dnnl_f32, dnnl_nchw));
    dnnl_memory_t x_mem = NULL, cur = NULL;
    int C = L->C, H = L->H, W = L->W, arg = 1;
    char s[48], w[48], o[48];

    for (int i = 0; i < L->nops; i++) {
        const op *op_ = &L->ops[i];
        int OH = out_size(H, op_), OW = out_size(W, op_);
        int K = op_->kind == OP_CONV ? op_->K : C;
        dnnl_dims_t src_dims = {1, C, H, W}, dst_dims = {1, K, OH, OW};
        dnnl_memory_desc_t any_src, any_dst;
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&any_src, 4, src_dims, dnnl_f32, dnnl_format_tag_any));
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&any_dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any));
        /* The first stage picks the input's layout; later ones take their
         * producer's, as a chain of primitives would be used. */
        const dnnl_memory_desc_t *src_req = i == 0 ? &any_src : &cur_md;
        dnnl_dims_t strides = {op_->stride, op_->stride}, pad = {op_->pad, op_->pad};
        dnnl_primitive_desc_t pd;

        if (op_->kind == OP_CONV) {
            int g = op_->groups;
            dnnl_dims_t wei_dims = {K, C, op_->k, op_->k};
            dnnl_dims_t gwei_dims = {g, K / g, C / g, op_->k, op_->k};
            dnnl_dims_t bias_dims = {K};
            dnnl_dims_t dil = {op_->dilation - 1, op_->dilation - 1}; /* oneDNN: 0 is dense */
            dnnl_memory_desc_t user_wei, any_wei, bias_md;
            if (g > 1) {
                DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_wei, 5, gwei_dims, dnnl_f32, dnnl_goihw));
                DNNL_CHECK(dnnl_memory_desc_init_by_tag(&any_wei, 5, gwei_dims, dnnl_f32, dnnl_format_tag_any));
            } else {
                DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_wei, 4, wei_dims, dnnl_f32, dnnl_oihw));
                DNNL_CHECK(dnnl_memory_desc_init_by_tag(&any_wei, 4, wei_dims, dnnl_f32, dnnl_format_tag_any));
            }
            DNNL_CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x));
            dnnl_convolution_desc_t cd;
            DNNL_CHECK(dnnl_dilated_convolution_forward_desc_init(
                &cd, dnnl_forward_inference, dnnl_convolution_direct, src_req, &any_wei,
                op_->bias ? &bias_md : NULL, &any_dst, strides, dil, pad, pad));
            dnnl_post_ops_t po;
            dnnl_primitive_attr_t attr;
            DNNL_CHECK(dnnl_post_ops_create(&po));
            if (op_->residual)
                DNNL_CHECK(dnnl_post_ops_append_sum(po, 1.0f));
            if (op_->act == ACT_RELU)
                DNNL_CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
            else if (op_->act == ACT_RELU6)
                DNNL_CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f));
            DNNL_CHECK(dnnl_primitive_attr_create(&attr));
            DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
            DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, attr, d->engine, NULL));
            dnnl_primitive_attr_destroy(attr);
            dnnl_post_ops_destroy(po);

            const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
            const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
            const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
            if (i == 0) {
                x_md = *src_md;
                cur = x_mem = dnnl_from_user(d, &x_user_md, src_md, in->t[0].data);
            }
            dnnl_memory_t wei = dnnl_from_user(d, &user_wei, wei_md, in->t[arg++].data);
            dnnl_memory_t bias = NULL;
            if (op_->bias) {
                DNNL_CHECK(dnnl_memory_create(&bias, &bias_md, d->engine, in->t[arg++].data));
                own(d, bias);
            }
            dnnl_memory_t dst = dnnl_alloc(d, dst_md);
            if (op_->residual) {
                dnnl_primitive_t copy = make_reorder(d, &x_md, dst_md);
                dnnl_exec_arg_t cargs[2] = {{DNNL_ARG_FROM, x_mem}, {DNNL_ARG_TO, dst}};
                add_step(d, copy, 2, cargs);
                note_add(d, "%scopy x into dst", i ? " -> " : "");
            }
            dnnl_primitive_t prim;
            DNNL_CHECK(dnnl_primitive_create(&prim, pd));
            dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, cur}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst},
                                       {DNNL_ARG_BIAS, bias}};
            add_step(d, prim, op_->bias ? 4 : 3, args);
            describe_md(src_md, "nchw", s, sizeof s);
            describe_md(wei_md, g > 1 ? "goihw" : "oihw", w, sizeof w);
            describe_md(dst_md, "nchw", o, sizeof o);
            note_add(d, "%sconv %s (src %s, weights %s, dst %s%s)", i || op_->residual ? " -> " : "",
                     impl_of(pd), s, w, o, op_->residual ? ", sum post-op" : "");
            cur_md = *dst_md;
            cur = dst;
        } else {
            if (i == 0)
                die("a workload must start with a convolution");
            dnnl_dims_t kernel = {op_->k, op_->k}, dil = {0, 0};
            dnnl_pooling_v2_desc_t pdesc;
            DNNL_CHECK(dnnl_pooling_v2_forward_desc_init(&pdesc, dnnl_forward_inference,
                                                         dnnl_pooling_max, src_req, &any_dst,
                                                         strides, kernel, dil, pad, pad));
            DNNL_CHECK(dnnl_primitive_desc_create(&pd, &pdesc, NULL, d->engine, NULL));
            const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
            dnnl_memory_t dst = dnnl_alloc(d, dst_md);
            dnnl_primitive_t prim;
            DNNL_CHECK(dnnl_primitive_create(&prim, pd));
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, dst}};
            add_step(d, prim, 2, args);
            describe_md(dst_md, "nchw", o, sizeof o);
            note_add(d, " -> maxpool %s (dst %s)", impl_of(pd), o);
            cur_md = *dst_md;
            cur = dst;
        }
        dnnl_primitive_desc_destroy(pd);
        C = K, H = OH, W = OW;
    }

    /* The result, brought back to nchw after the timed calls for the check. */
    dnnl_dims_t y_dims = {1, C, H, W};
    dnnl_memory_desc_t y_user_md;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&y_user_md, 4, y_dims, dnnl_f32, dnnl_nchw));
    DNNL_CHECK(dnnl_memory_create(&d->user_out, &y_user_md, d->engine, ref));
    d->out = cur;
    d->out_reorder = dnnl_memory_desc_equal(&y_user_md, &cur_md) ? NULL : make_reorder(d, &cur_md, &y_user_md);
}

/* Bring oneDNN's last result into `ref` (nchw). */
static void dnnl_fetch(dnnl_chain *d)
{
    if (!d->out_reorder) {
        /* the last stage wrote into its own nchw buffer; copy it over */
        void *src, *dst;
        const dnnl_memory_desc_t *md;
        DNNL_CHECK(dnnl_memory_get_data_handle(d->out, &src));
        DNNL_CHECK(dnnl_memory_get_data_handle(d->user_out, &dst));
        DNNL_CHECK(dnnl_memory_get_memory_desc(d->user_out, &md));
        memcpy(dst, src, dnnl_memory_desc_get_size(md));
        return;
    }
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, d->out}, {DNNL_ARG_TO, d->user_out}};
    dnnl_exec(d, d->out_reorder, 2, args);
}

static void dnnl_teardown(dnnl_chain *d)
{
    if (d->out_reorder)
        dnnl_primitive_destroy(d->out_reorder);
    for (int i = 0; i < d->nsteps; i++)
        dnnl_primitive_destroy(d->steps[i].prim);
    for (int i = 0; i < d->nmems; i++)
        dnnl_memory_destroy(d->mems[i]);
    dnnl_memory_destroy(d->user_out);
    dnnl_stream_destroy(d->stream);
    dnnl_engine_destroy(d->engine);
}

/* -------------------------------------------------------------------- main */

/* One result line, read by bench/report.py.  err < 0: the line is a peer's,
 * with no check of its own. */
static void emit(const workload *L, int threads, const char *impl, double mflop, double seconds,
                 int samples, double err, const char *note)
{
    printf("{\"proc\": \"dnnl\", \"id\": \"%s\", \"desc\": \"%s\", \"threads\": %d, \"impl\": \"%s\", "
           "\"mflop\": %.4f, \"ms\": %.6f, \"samples\": %d",
           L->id, L->desc, threads, impl, mflop, seconds * 1e3, samples);
    if (err >= 0) /* JSON has no infinity: a NaN or infinite error becomes 1e300 */
        printf(", \"checks\": {\"oneDNN\": %.3e}", isfinite(err) ? err : 1e300);
    if (note) {
        printf(", \"note\": \"");
        for (const char *p = note; *p; p++)
            if (*p == '"' || *p == '\\')
                printf("\\%c", *p);
            else if (isprint((unsigned char)*p))
                putchar(*p);
        printf("\"");
    }
    printf("}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int threads = 0;
    double seconds = 1.0;
    const char *only = NULL, *data_dir = NULL;
    int inputs_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data_dir = argv[++i];
        else if (!strcmp(argv[i], "--inputs-only"))
            inputs_only = 1;
        else {
            fprintf(stderr, "usage: %s --threads N [--seconds S] [--only W1,W2,...] "
                    "[--data DIR [--inputs-only]]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1)
        die("--threads N (N >= 1) is required");
    if (inputs_only && !data_dir)
        die("--inputs-only needs --data DIR");
    convrt_set_num_threads(threads);
    omp_set_num_threads(threads);
    if (convrt_get_num_threads() != threads || omp_get_max_threads() != threads)
        die("could not set the thread count of convrt and OpenMP");

    int failed = 0;
    for (int li = 0; li < NWORKLOADS; li++) {
        const workload *L = &workloads[li];
        if (!selected(only, L->id))
            continue;
        if (inputs_only) {
            inputs in;
            make_inputs(L, &in);
            write_inputs(data_dir, L, &in);
            for (int i = 0; i < in.n; i++)
                convrt_tensor_free(&in.t[i]);
            continue;
        }
        fprintf(stderr, "bench: %s (%s), %d thread%s: convc, convc x86-64-v3, oneDNN\n", L->id, L->desc,
                threads, threads > 1 ? "s" : "");
        inputs in;
        make_inputs(L, &in);
        if (data_dir)
            write_inputs(data_dir, L, &in);

        /* FLOPs are 2 x the convolutions' MACs; pooling, bias, activations
         * and adds are not counted. */
        double macs = 0;
        int C = L->C, H = L->H, W = L->W;
        for (int i = 0; i < L->nops; i++) {
            const op *o = &L->ops[i];
            int OH = out_size(H, o), OW = out_size(W, o);
            if (o->kind == OP_CONV) {
                macs += (double)o->K * OH * OW * (C / o->groups) * o->k * o->k;
                C = o->K;
            }
            H = OH, W = OW;
        }
        double mflop = 2 * macs * 1e-6;
        int64_t nout = (int64_t)C * H * W;

        convc_ctx native = {L->run, in.n, in.t, {0}}, v3 = {L->run_v3, in.n, in.t, {0}};
        CONVRT_CHECK(call_entry(L->shapes, in.n, in.t, &native.out));
        CONVRT_CHECK(call_entry(L->shapes_v3, in.n, in.t, &v3.out));
        if (native.out.rank != 4 || native.out.dims[1] != C || native.out.dims[2] != H ||
            native.out.dims[3] != W)
            die("a pipeline's output shape is not its workload's");
        CONVRT_CHECK(convrt_tensor_alloc(&native.out, 4, native.out.dims));
        CONVRT_CHECK(convrt_tensor_alloc(&v3.out, 4, v3.out.dims));

        float *ref = malloc(sizeof(float) * nout);
        if (!ref)
            die("out of memory");
        dnnl_chain d;
        memset(&d, 0, sizeof d);
        dnnl_setup(&d, L, &in, ref);

        convc_run(&native);
        convc_run(&v3);
        dnnl_run(&d);
        dnnl_fetch(&d);
        double err = max_rel_err(native.out.data, ref, nout);
        double err_v3 = max_rel_err(v3.out.data, ref, nout);

        run_fn fns[3] = {convc_run, convc_run, dnnl_run};
        void *ctxs[3] = {&native, &v3, &d};
        double t[3];
        int ns = time_interleaved(3, fns, ctxs, seconds, t);

        emit(L, threads, "convc", mflop, t[0], ns, err, NULL);
        emit(L, threads, "convc-v3", mflop, t[1], ns, err_v3, NULL);
        emit(L, threads, "oneDNN", mflop, t[2], ns, -1, d.note);
        if (!(err <= TOLERANCE) || !(err_v3 <= TOLERANCE)) {
            fprintf(stderr, "bench: FAIL %s: max relative error %.3g (native), %.3g (x86-64-v3) > %g "
                    "between convc and oneDNN\n", L->id, err, err_v3, TOLERANCE);
            failed = 1;
        }
        dnnl_teardown(&d);
        free(ref);
        convrt_tensor_free(&native.out);
        convrt_tensor_free(&v3.out);
        for (int i = 0; i < in.n; i++)
            convrt_tensor_free(&in.t[i]);
    }
    return failed;
}
