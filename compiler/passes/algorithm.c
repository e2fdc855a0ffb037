/* passes/algorithm.c - how each filtering stage computes its sums.
 *
 * Needs: kernels chosen (passes/kernels.c).
 * Establishes: plan.algorithm for every convolution and convolve/correlate
 * stage; the estimated work of what it runs and of the direct sum
 * (plan.cost, plan.cost_direct) where the sizes are known; a separable
 * stage's column tiles (plan.sep_tile_cols); what auto would
 * choose (plan.auto_algorithm, plan.auto_cost); KERNEL_FFT on the stages
 * that run through FFTs, and a buffer for each of their operands.
 *
 * direct (the default) sums every output's taps in the order written: the
 * results do not depend on the compiler's choices.  The other methods sum
 * in another order and so round differently (docs/language.md gives the
 * measured errors):
 *   separable  a rank-1 2-D constant kernel (factor.h) as a row pass then a
 *              column pass, kh + kw multiply-adds per output instead of
 *              kh*kw, in strips of rows so that the row pass's output stays
 *              in cache (the stencil kernel), of column tiles for a long
 *              kernel on wide rows (sep_tile_cols);
 *   fft        overlap-save FFT blocks in the runtime (convrt_fft_conv1d /
 *              2d, kernels/fft.c), O(log n) work per output whatever the
 *              kernel's size, for stages where each output plane is one
 *              input plane filtered by one kernel.
 * A stage runs another method when its method= names it, or says auto (or
 * the command line says --method=auto) and the cost model below finds it
 * cheaper.  --method=direct keeps every stage direct whatever the script
 * says.
 *
 * The cost model counts work in units of one vector multiply-add of the
 * stencil kernel: a direct sum costs its taps per output (eight times that
 * in a scalar nest, for stages no vector kernel computes); separable
 * kh + kw per output; an FFT block of N points about 5 N log2 N flops for
 * the forward and inverse transforms plus 3 N for the products, counted
 * as half as many multiply-adds and weighted twice for running at a
 * fraction of the vector units' peak (the runtime's power-of-two FFTs
 * against the vector kernels' direct sums, measured on znver4, one core,
 * runtime kernels: 1-D over 2^20 samples direct / FFT 0.92x at 64 taps,
 * 1.61x at 128, 2.39x at 192, 2.65x at 256; 1000x1000 planes 0.58x at
 * 9x9, 0.76x at 11x11, 1.68x at 15x15, 3.2x at 21x21; 2-D weighted 2.5
 * times for its column passes, whose values are a row apart: the model
 * gives 0.86, 1.5, 2.7 and 0.68, 0.88, 1.06, 2.6).  Unknown sizes leave
 * auto direct. */
#include "passes.h"

#include <math.h>

#include "factor.h"

enum { SCALAR_PENALTY = 8 };
static const double FFT_PENALTY = 2.0, FFT_PENALTY_2D = 2.5;

static bool known(const SymExpr *e, int64_t *v)
{
    return sym_is_const(e, v);
}

static double known_numel(const Shape *s)
{
    double n = 1;
    for (int32_t i = 0; i < s->rank; i++) {
        int64_t v;
        if (!known(s->dims[i], &v))
            return 0;
        n *= (double)v;
    }
    return n;
}

/* The smallest power of two >= n (and >= lo). */
static double pow2_at_least(double n, double lo)
{
    double p = lo;
    while (p < n)
        p *= 2;
    return p;
}

/* Estimated FFT work for `planes` problems with output extents out[] and
 * kernel extents k[] (nsp of each), in the units above. */
static double fft_cost(double planes, int32_t nsp, const double *out, const double *k)
{
    double points = 1, useful = 1, blocks = 1;
    for (int32_t i = 0; i < nsp; i++) {
        double n = pow2_at_least(2 * k[i], nsp == 2 ? 8 : 16);
        points *= n;
        useful = n - k[i] + 1;
        blocks *= ceil(out[i] / useful);
    }
    double per_block = 5 * points * log2(points) + 3 * points;
    double flops = planes * blocks * per_block + 2.5 * points * log2(points);
    return flops / 2 * (nsp == 2 ? FFT_PENALTY_2D : FFT_PENALTY);
}

/* Whether the stage can run through FFTs: convolve/correlate always; a
 * convolution when every output plane reads one input plane with unit
 * steps (check.c reports the same conditions for method=fft). */
static bool fft_shape_ok(const Node *n)
{
    if (n->op == NODE_SIGNAL)
        return true;
    if (n->op != NODE_CONV)
        return false;
    const WindowParams *w = &n->conv.win;
    for (int32_t i = 0; i < w->nsp; i++)
        if (w->stride[i] != 1 || w->dilation[i] != 1)
            return false;
    int64_t cg;
    return n->conv.per_channel || (known(n->in[1]->shape.dims[1], &cg) && cg == 1);
}

/* The FFT's work for stage n, or 0 when a size is unknown. */
static double stage_fft_cost(const Node *n)
{
    double out[2], k[2];
    int32_t nsp = n->op == NODE_CONV ? n->conv.win.nsp : n->shape.rank;
    int32_t r = n->shape.rank;
    double planes = 1;
    for (int32_t i = 0; i < r - nsp; i++) {
        int64_t v;
        if (!known(n->shape.dims[i], &v))
            return 0;
        planes *= (double)v;
    }
    for (int32_t i = 0; i < nsp; i++) {
        int64_t o, kk;
        const SymExpr *ke;
        if (n->op == NODE_CONV) {
            ke = n->conv.win.k[i];
        } else {
            /* the shorter operand is the kernel */
            int64_t a, b;
            if (!known(n->in[0]->shape.dims[i], &a) || !known(n->in[1]->shape.dims[i], &b))
                return 0;
            ke = a < b ? n->in[0]->shape.dims[i] : n->in[1]->shape.dims[i];
        }
        if (!known(n->shape.dims[r - nsp + i], &o) || !known(ke, &kk))
            return 0;
        out[i] = (double)o;
        k[i] = (double)kk;
    }
    return fft_cost(planes, nsp, out, k);
}

/* Taps per output of the direct sum, or 0 when unknown. */
static double stage_taps(const Node *n)
{
    const Node *w = n->in[1];
    double taps = 1;
    int32_t first = n->op == NODE_CONV && !n->conv.per_channel ? 1 : 0;
    for (int32_t d = first; d < w->shape.rank; d++) {
        int64_t v;
        if (!known(w->shape.dims[d], &v))
            return 0;
        taps *= (double)v;
    }
    return taps;
}

/* The separable factors of a stencil stage's constant kernel, or false. */
static bool separable_factors(Arena *a, const Node *n, const StagePlan *p, float **u_out,
                              float **v_out)
{
    if (p->kernel != KERNEL_STENCIL_ROWS || n->op != NODE_CONV || !n->conv.per_channel ||
        n->conv.win.nsp != 2 || n->in[1]->op != NODE_CONST || n->conv.win.stride[0] != 1 ||
        n->conv.win.stride[1] != 1)
        return false;
    const Node *w = n->in[1];
    int64_t kh, kw;
    if (!known(w->shape.dims[0], &kh) || !known(w->shape.dims[1], &kw) ||
        kh > KERNEL_MAX_TAPS || kw > KERNEL_MAX_TAPS)     /* each pass unrolls its taps */
        return false;
    float *u = arena_array(a, (size_t)kh, sizeof *u);
    float *v = arena_array(a, (size_t)kw, sizeof *v);
    if (kernel_rank1(w->cst.data, kh, kw, u, v) > SEPARABLE_TOLERANCE)
        return false;
    if (n->conv.flip) {
        for (int64_t k = 0; k < kh / 2; k++) {
            float t = u[k]; u[k] = u[kh - 1 - k]; u[kh - 1 - k] = t;
        }
        for (int64_t k = 0; k < kw / 2; k++) {
            float t = v[k]; v[k] = v[kw - 1 - k]; v[kw - 1 - k] = t;
        }
    }
    *u_out = u;
    *v_out = v;
    return true;
}

/* A separable stage's column tiles (plan.sep_tile_cols; 0: strips of
 * whole rows).  The row pass makes a strip's halo, the (kh-1)*dy rows
 * both neighbouring strips need, for both, so strips want to be tall:
 * tiles when whole rows would leave a strip under four halos within
 * SEP_STRIP_BYTES, on rows at least two tiles wide (a width known only
 * when running counted as 4096 columns).  A tile holds the row pass's
 * border vectors and a whole chunk of its middle (kernels/stencil_rows.c,
 * row_pass). */
static int32_t sep_tile_cols(const Schedule *s, const Node *n, const StagePlan *p)
{
    const WindowParams *w = &n->conv.win;
    int64_t kh = 1, kw = 1, pl = 0, pr = 0, ow = 4096;
    known(w->k[0], &kh);
    known(w->k[1], &kw);
    known(w->pad0[1], &pl);
    known(w->pad1[1], &pr);
    known(n->shape.dims[n->shape.rank - 1], &ow);
    int64_t vl = s->target.vlen, span = (int64_t)p->nv * vl;
    int64_t halo = (kh - 1) * w->dilation[0];
    int64_t rs = (4 * halo < 32 ? 32 : 4 * halo + 3) / 4 * 4;
    int64_t nL = (pl + vl - 1) / vl, nR = (pr + vl - 1) / vl;     /* stride 1 */
    int64_t tw = SEP_TILE_COLS;
    while (tw < (nL > nR ? nL : nR) * vl + span || tw < (nL + nR + 1) * vl)
        tw += span;
    return (rs + halo) * ow * 4 > SEP_STRIP_BYTES && ow >= 2 * tw ? (int32_t)tw : 0;
}

void pass_choose_algorithms(Arena *a, Schedule *s)
{
    const Graph *g = s->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        if (n->op != NODE_CONV && n->op != NODE_SIGNAL)
            continue;
        StagePlan *p = schedule_plan(s, n);
        double out = known_numel(&n->shape), taps = stage_taps(n);
        double macs = out * taps;
        p->cost_direct = macs * (p->kernel == KERNEL_SCALAR ? SCALAR_PENALTY : 1);
        p->cost = p->cost_direct;

        /* what auto would pick */
        float *u = NULL, *v = NULL;
        double sep = 0, sep_per_out = 0, fft = 0;
        if (separable_factors(a, n, p, &u, &v)) {
            int64_t kh, kw;
            known(n->in[1]->shape.dims[0], &kh);
            known(n->in[1]->shape.dims[1], &kw);
            sep_per_out = (double)(kh + kw);
            sep = out * sep_per_out;
        }
        if (fft_shape_ok(n))
            fft = stage_fft_cost(n);
        p->auto_algorithm = ALGO_DIRECT;
        p->auto_cost = p->cost_direct;
        /* separable where it clearly gains (5x5 and up: kh*kw > 2*(kh + kw)),
         * a saving per output whatever the sizes */
        bool sep_gains = u && 2 * sep_per_out < taps;
        if (sep_gains) {
            p->auto_algorithm = ALGO_SEPARABLE;
            p->auto_cost = sep;
        }
        if (p->cost_direct > 0 && fft > 0 && fft < p->auto_cost) {
            p->auto_algorithm = ALGO_FFT;
            p->auto_cost = fft;
        }

        Method m = schedule_method(s, n);
        Algorithm alg = ALGO_DIRECT;
        if (m == METHOD_AUTO)
            alg = p->auto_algorithm;
        else if (m == METHOD_SEPARABLE && u)
            alg = ALGO_SEPARABLE;
        else if (m == METHOD_FFT && fft_shape_ok(n))
            alg = ALGO_FFT;
        if (alg == ALGO_SEPARABLE) {
            p->algorithm = ALGO_SEPARABLE;
            p->tap_loop = false;        /* the two passes unroll their taps */
            p->sep_u = u;
            p->sep_v = v;
            p->sep_tile_cols = sep_tile_cols(s, n, p);
            p->cost = sep;
        } else if (alg == ALGO_DIRECT && p->kernel == KERNEL_STENCIL_ROWS &&
                   taps > KERNEL_MAX_TAPS && !p->tap_loop) {
            /* a large kernel the stencil kernel took for its row and column
             * passes, but direct after all: its taps in loops */
            p->tap_loop = true;
            p->nk = 1;
        }
        if (alg == ALGO_FFT) {
            p->algorithm = ALGO_FFT;
            p->kernel = KERNEL_FFT;
            p->cost = fft;
            /* the runtime reads the operands from memory */
            for (int32_t k = 0; k < n->nin; k++)
                schedule_plan(s, n->in[k])->materialise = true;
        }
    }
}
