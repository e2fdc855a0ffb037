/* bench.c - time convc's compiled layers against oneDNN on the same shapes.
 *
 * Every layer in bench/layers/ is compiled by `convc compile
 * --target-cpu=native` into an object whose header is included below.  For
 * each layer the harness fills random inputs, runs the convc pipeline and a
 * oneDNN forward convolution (C API, f32, direct algorithm, layouts chosen
 * by oneDNN; the reorders to and from those layouts happen outside the timed
 * loop), checks that both give the same result, and times both, alternating
 * samples so that a change of machine load hits both alike.
 *
 *   usage: bench --threads N [--peak GFLOPS] [--seconds S] [--only NAME]
 *
 * The thread count must also be in the environment (OMP_NUM_THREADS for
 * oneDNN's OpenMP, CONVRT_NUM_THREADS for convrt) so that both libraries
 * start with it; the harness sets both APIs as well and refuses to run if
 * oneDNN would use a different count.  --peak is the measured FMA peak of N
 * threads (from bench/peak.c) used for the "% of peak" columns.
 *
 * Exit status: 0 when every result matches, 1 when a check fails (max
 * relative error above 1e-3) or anything else goes wrong. */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <convrt.h>
#include <oneapi/dnnl/dnnl.h>

#include "conv1x1_256_64_56.h"
#include "conv1x1_64_256_56.h"
#include "conv3x3_128_28.h"
#include "conv3x3_64_56.h"
#include "dw3x3_64_56.h"
#include "sobel_512.h"

#define TOLERANCE 1e-3

typedef int (*conv_fn)(const convrt_tensor *, const convrt_tensor *, convrt_tensor *);
typedef int (*map_fn)(const convrt_tensor *, convrt_tensor *);

/* One benchmark layer: batch 1, f32, stride 1.  A conv layer is
 * [1, C, H, W] * [K, C/groups, KH, KW] -> [1, K, H, W] with `pad` on every
 * side; the sobel layer is the image pipeline with no peer. */
typedef struct {
    const char *name;
    int C, K, H, W, KH, KW, pad, groups;
    conv_fn conv;     /* NULL for the image pipeline */
    map_fn image;     /* the image pipeline [H, W] -> [H, W] */
} layer;

static const layer layers[] = {
    {"conv3x3 64->64 56x56", 64, 64, 56, 56, 3, 3, 1, 1, conv3x3_64_56, NULL},
    {"conv3x3 128->128 28x28", 128, 128, 28, 28, 3, 3, 1, 1, conv3x3_128_28, NULL},
    {"conv1x1 64->256 56x56", 64, 256, 56, 56, 1, 1, 0, 1, conv1x1_64_256_56, NULL},
    {"conv1x1 256->64 56x56", 256, 64, 56, 56, 1, 1, 0, 1, conv1x1_256_64_56, NULL},
    {"dw3x3 64ch 56x56", 64, 64, 56, 56, 3, 3, 1, 64, dw3x3_64_56, NULL},
    {"sobel 512x512", 1, 1, 512, 512, 3, 3, 1, 1, NULL, sobel_512},
};
#define NLAYERS ((int)(sizeof layers / sizeof layers[0]))

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

static void fill(convrt_tensor *t, float scale)
{
    int64_t n;
    CONVRT_CHECK(convrt_tensor_numel(t, &n));
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

/* ------------------------------------------------------------------ timing */

typedef void (*run_fn)(void *ctx);

/* Seconds per call of fn, median over samples; a sample is a batch of
 * `batch` calls.  nfn functions are timed with interleaved samples. */
static void time_interleaved(int nfn, run_fn *fns, void **ctxs, double budget_s, double *median_s)
{
    int batch[4];
    /* Warm up (page faults, oneDNN's first-call setup, caches, clocks) and
     * size a batch so that one sample takes about 5 ms. */
    for (int f = 0; f < nfn; f++) {
        double t0 = now();
        int calls = 0;
        while (calls < 3 || now() - t0 < 0.1) {
            fns[f](ctxs[f]);
            calls++;
        }
        double per = (now() - t0) / calls;
        batch[f] = per >= 0.005 ? 1 : (int)(0.005 / per);
    }
    enum { MAX_SAMPLES = 201 };
    static double samples[4][MAX_SAMPLES];
    int ns = 0;
    double t_start = now();
    while (ns < MAX_SAMPLES && (ns < 11 || now() - t_start < budget_s)) {
        for (int f = 0; f < nfn; f++) {
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
}

/* ------------------------------------------------------------------- convc */

typedef struct {
    const layer *L;
    convrt_tensor x, w, y;
} convc_ctx;

static void convc_run(void *p)
{
    convc_ctx *c = p;
    int rc = c->L->conv ? c->L->conv(&c->x, &c->w, &c->y) : c->L->image(&c->x, &c->y);
    if (rc != 0)
        die("the convc pipeline failed");
}

/* ------------------------------------------------------------------ oneDNN */

typedef struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t conv;
    dnnl_memory_t src, wei, dst;       /* in the layouts the primitive chose */
    dnnl_memory_t user_dst;            /* nchw, for the check */
    dnnl_primitive_t dst_reorder;      /* NULL when dst is already nchw */
    char impl[64];
    char layout[160];
} dnnl_ctx;

static void dnnl_run(void *p)
{
    dnnl_ctx *d = p;
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->wei}, {DNNL_ARG_DST, d->dst}};
    DNNL_CHECK(dnnl_primitive_execute(d->conv, d->stream, 3, args));
    DNNL_CHECK(dnnl_stream_wait(d->stream));
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

/* Make `mem` (layout md) from the user's nchw buffer, reordering outside the
 * timed loop when the primitive wants another layout. */
static dnnl_memory_t dnnl_from_user(dnnl_ctx *d, const dnnl_memory_desc_t *user_md,
                                    const dnnl_memory_desc_t *md, float *data)
{
    dnnl_memory_t user, mem;
    DNNL_CHECK(dnnl_memory_create(&user, user_md, d->engine, data));
    if (dnnl_memory_desc_equal(user_md, md))
        return user;
    DNNL_CHECK(dnnl_memory_create(&mem, md, d->engine, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, user_md, d->engine, md, d->engine, NULL));
    DNNL_CHECK(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, mem}};
    DNNL_CHECK(dnnl_primitive_execute(r, d->stream, 2, args));
    DNNL_CHECK(dnnl_stream_wait(d->stream));
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    return mem;
}

static void dnnl_setup(dnnl_ctx *d, const layer *L, convrt_tensor *x, convrt_tensor *w, float *ref)
{
    DNNL_CHECK(dnnl_engine_create(&d->engine, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags));
    int OH = L->H + 2 * L->pad - L->KH + 1, OW = L->W + 2 * L->pad - L->KW + 1;
    dnnl_dims_t src_dims = {1, L->C, L->H, L->W}, dst_dims = {1, L->K, OH, OW};
    dnnl_dims_t wei_dims = {L->K, L->C, L->KH, L->KW};
    dnnl_dims_t gwei_dims = {L->groups, L->K / L->groups, L->C / L->groups, L->KH, L->KW};
    int grouped = L->groups > 1;
    dnnl_memory_desc_t user_src, user_wei, user_dst, any_src, any_wei, any_dst;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_src, 4, src_dims, dnnl_f32, dnnl_nchw));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_dst, 4, dst_dims, dnnl_f32, dnnl_nchw));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&any_src, 4, src_dims, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&any_dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any));
    if (grouped) {
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_wei, 5, gwei_dims, dnnl_f32, dnnl_goihw));
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&any_wei, 5, gwei_dims, dnnl_f32, dnnl_format_tag_any));
    } else {
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_wei, 4, wei_dims, dnnl_f32, dnnl_oihw));
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&any_wei, 4, wei_dims, dnnl_f32, dnnl_format_tag_any));
    }
    dnnl_dims_t strides = {1, 1}, padding = {L->pad, L->pad};
    dnnl_convolution_desc_t cd;
    DNNL_CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                  &any_src, &any_wei, NULL, &any_dst, strides,
                                                  padding, padding));
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, d->engine, NULL));
    const char *impl = NULL;
    DNNL_CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    snprintf(d->impl, sizeof d->impl, "%s", impl ? impl : "?");
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    char s[40], wz[40], o[40];
    describe_md(src_md, "nchw", s, sizeof s);
    describe_md(wei_md, grouped ? "goihw" : "oihw", wz, sizeof wz);
    describe_md(dst_md, "nchw", o, sizeof o);
    snprintf(d->layout, sizeof d->layout, "src %s, weights %s, dst %s", s, wz, o);
    DNNL_CHECK(dnnl_primitive_create(&d->conv, pd));

    d->src = dnnl_from_user(d, &user_src, src_md, x->data);
    d->wei = dnnl_from_user(d, &user_wei, wei_md, w->data);
    DNNL_CHECK(dnnl_memory_create(&d->user_dst, &user_dst, d->engine, ref));
    if (dnnl_memory_desc_equal(&user_dst, dst_md)) {
        DNNL_CHECK(dnnl_memory_create(&d->dst, dst_md, d->engine, ref));
        d->dst_reorder = NULL;
    } else {
        DNNL_CHECK(dnnl_memory_create(&d->dst, dst_md, d->engine, DNNL_MEMORY_ALLOCATE));
        dnnl_primitive_desc_t rpd;
        DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, dst_md, d->engine, &user_dst, d->engine, NULL));
        DNNL_CHECK(dnnl_primitive_create(&d->dst_reorder, rpd));
        dnnl_primitive_desc_destroy(rpd);
    }
    dnnl_primitive_desc_destroy(pd);
}

/* Bring oneDNN's last output into `ref` (nchw). */
static void dnnl_fetch(dnnl_ctx *d)
{
    if (!d->dst_reorder)
        return;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, d->dst}, {DNNL_ARG_TO, d->user_dst}};
    DNNL_CHECK(dnnl_primitive_execute(d->dst_reorder, d->stream, 2, args));
    DNNL_CHECK(dnnl_stream_wait(d->stream));
}

static void dnnl_teardown(dnnl_ctx *d)
{
    if (d->dst_reorder)
        dnnl_primitive_destroy(d->dst_reorder);
    dnnl_primitive_destroy(d->conv);
    dnnl_memory_destroy(d->src);
    dnnl_memory_destroy(d->wei);
    dnnl_memory_destroy(d->dst);
    dnnl_memory_destroy(d->user_dst);
    dnnl_stream_destroy(d->stream);
    dnnl_engine_destroy(d->engine);
}

/* Naive Sobel magnitude with replicate padding, the image layer's check. */
static void sobel_ref(const float *img, float *out, int H, int W)
{
    static const int kx[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}};
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            double gx = 0, gy = 0;
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    int r = i + a - 1, c = j + b - 1;
                    r = r < 0 ? 0 : r >= H ? H - 1 : r;
                    c = c < 0 ? 0 : c >= W ? W - 1 : c;
                    double v = img[(int64_t)r * W + c];
                    gx += kx[a][b] * v;
                    gy += kx[b][a] * v;
                }
            out[(int64_t)i * W + j] = (float)sqrt(gx * gx + gy * gy);
        }
}

/* -------------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    int threads = 0;
    double peak = 0, seconds = 1.0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--peak") && i + 1 < argc)
            peak = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: %s --threads N [--peak GFLOPS] [--seconds S] [--only NAME]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1)
        die("--threads N (N >= 1) is required");
    convrt_set_num_threads(threads);
    omp_set_num_threads(threads);
    if (convrt_get_num_threads() != threads || omp_get_max_threads() != threads)
        die("could not set the thread count of convrt and OpenMP");

    const dnnl_version_t *v = dnnl_version();
    printf("threads %d: convc (convrt %d threads) vs oneDNN %d.%d.%d (OpenMP %d threads); "
           "median of interleaved samples, ~%.1f s per layer\n",
           threads, convrt_get_num_threads(), v->major, v->minor, v->patch, omp_get_max_threads(),
           seconds);
    if (peak > 0)
        printf("measured FMA peak for %d thread%s: %.1f GFLOP/s\n", threads, threads > 1 ? "s" : "", peak);
    printf("\n%-24s %8s %9s %9s %9s %9s %7s %7s %7s %9s\n", "layer", "MFLOP", "convc ms", "oneDNN ms",
           "convc GF", "oneDNN GF", "ratio", "convc%", "dnnl%", "max rel");
    printf("%-24s %8s %9s %9s %9s %9s %7s %7s %7s %9s\n", "", "", "", "", "/s", "/s", "c/dnnl",
           "peak", "peak", "err");

    int failed = 0;
    char notes[NLAYERS][256];
    int nnotes = 0;
    for (int li = 0; li < NLAYERS; li++) {
        const layer *L = &layers[li];
        if (only && !strstr(L->name, only))
            continue;
        convc_ctx c = {.L = L};
        int OH = L->H + 2 * L->pad - L->KH + 1, OW = L->W + 2 * L->pad - L->KW + 1;
        double macs = (double)L->K * OH * OW * (L->C / L->groups) * L->KH * L->KW;
        double mflop = 2 * macs * 1e-6;

        if (L->image) {
            int64_t dims[2] = {L->H, L->W};
            CONVRT_CHECK(convrt_tensor_alloc(&c.x, 2, dims));
            fill(&c.x, 1.0f);
            CONVRT_CHECK(sobel_512_output_shapes(&c.x, &c.y));
            CONVRT_CHECK(convrt_tensor_alloc(&c.y, c.y.rank, dims));
            float *ref = malloc(sizeof(float) * L->H * L->W);
            if (!ref)
                die("out of memory");
            sobel_ref(c.x.data, ref, L->H, L->W);
            convc_run(&c);
            double err = max_rel_err(c.y.data, ref, (int64_t)L->H * L->W);
            run_fn fns[1] = {convc_run};
            void *ctxs[1] = {&c};
            double t[1];
            time_interleaved(1, fns, ctxs, seconds, t);
            /* two convolutions (2 x 9 MACs per pixel) plus the magnitude */
            mflop = 2.0 * 2 * 9 * L->H * L->W * 1e-6;
            double gbs = 2.0 * L->H * L->W * sizeof(float) / t[0] * 1e-9;
            printf("%-24s %8.1f %9.3f %9s %9.1f %9s %7s %6.1f%% %7s %9.1e\n", L->name, mflop,
                   t[0] * 1e3, "-", mflop / t[0] * 1e-3, "-", "-",
                   peak > 0 ? 100 * mflop / t[0] * 1e-3 / peak : 0, "-", err);
            snprintf(notes[nnotes++], sizeof notes[0],
                     "%s: no peer (checked against a naive C reference); %.1f GB/s of image in + "
                     "magnitude out, %.1f Mpixel/s",
                     L->name, gbs, L->H * L->W / t[0] * 1e-6);
            if (!(err <= TOLERANCE)) {
                fprintf(stderr, "bench: FAIL %s: max relative error %.3g > %g against the reference\n",
                        L->name, err, TOLERANCE);
                failed = 1;
            }
            free(ref);
            convrt_tensor_free(&c.x);
            convrt_tensor_free(&c.y);
            continue;
        }

        int64_t xd[4] = {1, L->C, L->H, L->W}, wd[4] = {L->K, L->C / L->groups, L->KH, L->KW};
        CONVRT_CHECK(convrt_tensor_alloc(&c.x, 4, xd));
        CONVRT_CHECK(convrt_tensor_alloc(&c.w, 4, wd));
        fill(&c.x, 1.0f);
        fill(&c.w, (float)(1.0 / sqrt((double)(L->C / L->groups) * L->KH * L->KW)));
        /* conv pipelines' output_shapes has the (x, w, y) signature too */
        convrt_tensor shape = {0};
        int rc;
        if (L->conv == conv3x3_64_56)
            rc = conv3x3_64_56_output_shapes(&c.x, &c.w, &shape);
        else if (L->conv == conv3x3_128_28)
            rc = conv3x3_128_28_output_shapes(&c.x, &c.w, &shape);
        else if (L->conv == conv1x1_64_256_56)
            rc = conv1x1_64_256_56_output_shapes(&c.x, &c.w, &shape);
        else if (L->conv == conv1x1_256_64_56)
            rc = conv1x1_256_64_56_output_shapes(&c.x, &c.w, &shape);
        else
            rc = dw3x3_64_56_output_shapes(&c.x, &c.w, &shape);
        CONVRT_CHECK(rc);
        if (shape.rank != 4 || shape.dims[1] != L->K || shape.dims[2] != OH || shape.dims[3] != OW)
            die("the pipeline's output shape is not the layer's");
        CONVRT_CHECK(convrt_tensor_alloc(&c.y, 4, shape.dims));

        int64_t nout = (int64_t)L->K * OH * OW;
        float *ref = malloc(sizeof(float) * nout);
        if (!ref)
            die("out of memory");
        dnnl_ctx d = {0};
        dnnl_setup(&d, L, &c.x, &c.w, ref);

        convc_run(&c);
        dnnl_run(&d);
        dnnl_fetch(&d);
        double err = max_rel_err(c.y.data, ref, nout);

        run_fn fns[2] = {convc_run, dnnl_run};
        void *ctxs[2] = {&c, &d};
        double t[2];
        time_interleaved(2, fns, ctxs, seconds, t);

        double gc = mflop / t[0] * 1e-3, gd = mflop / t[1] * 1e-3;
        printf("%-24s %8.1f %9.3f %9.3f %9.1f %9.1f %7.4f %6.1f%% %6.1f%% %9.1e\n", L->name, mflop,
               t[0] * 1e3, t[1] * 1e3, gc, gd, t[1] / t[0], peak > 0 ? 100 * gc / peak : 0,
               peak > 0 ? 100 * gd / peak : 0, err);
        snprintf(notes[nnotes++], sizeof notes[0], "%s: oneDNN %s, %s", L->name, d.impl, d.layout);
        if (!(err <= TOLERANCE)) {
            fprintf(stderr, "bench: FAIL %s: max relative error %.3g > %g between convc and oneDNN\n",
                    L->name, err, TOLERANCE);
            failed = 1;
        }
        dnnl_teardown(&d);
        free(ref);
        convrt_tensor_free(&c.x);
        convrt_tensor_free(&c.w);
        convrt_tensor_free(&c.y);
    }
    printf("\n");
    for (int i = 0; i < nnotes; i++)
        printf("  %s\n", notes[i]);
    printf("\n");
    if (failed)
        fprintf(stderr, "bench: FAILED: results differ beyond %g\n", TOLERANCE);
    return failed;
}
