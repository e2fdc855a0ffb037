/* kernels/stencil_rows.c - filtering every plane with one small kernel
 * (KERNEL_STENCIL_ROWS, chosen by passes/kernels.c): image filters,
 * conv2d/conv1d with a [FH, FW] / [F] weight, in every padding mode.
 *
 * One input channel feeds one output: the FMAs per loaded vector come
 * from reusing it, so the register block is R output rows x nv vectors of
 * a row, and each input row is loaded once for all the output rows of the
 * block that read it.  Per output the taps are still visited in the
 * scalar nest's order: input rows are taken in increasing order, and for
 * a fixed output row that is increasing kernel row; within a row, kernel
 * columns in order.
 *
 *   for each work item (plane, block of R output rows):      -- parallel
 *     for each chunk of nv vectors along the row:
 *       acc[r][v] = 0
 *       for each input row u the block reads (unrolled, increasing):
 *         zeros padding: skipped when outside the input (the scalar
 *         nest's bounds); other modes: the remapped row
 *         for kx: xv[v] = the row's vectors at column offset kx*d - pad
 *                 for each (r, ky) reading row u: acc[r][v] = fma(xv[v], w[ky][kx], acc[r][v])
 *       store the R rows (epilogue applied)
 *
 * Columns.  Vectors in the middle of a row read plain (or, with a stride,
 * strided) loads.  The first and last vectors, whose lanes may reach past
 * the row's ends, compute each lane's column: with zeros padding those
 * lanes are skipped by masked loads and selects (never w*0), in the other
 * modes they are gathered from the remapped column, as the scalar nest
 * remaps its index.  Rows too narrow for that split are done all as
 * border vectors, with masked stores for lanes past the row's end.  The
 * last middle vector is moved back so that it ends where the right border
 * begins; the outputs it recomputes get the same value.  Kernel rows
 * longer than a vector load each input row's columns once and shift the
 * taps' vectors out of them (chunk); border taps whose lanes stay in the
 * row load rather than gather. */
#include <math.h>

#include "kernels.h"

enum { MAX_R = 8, MAX_NV = 8, MAX_K = KERNEL_MAX_TAPS };


typedef struct Stencil {
    Lower      *L;
    const Node *n, *x, *w, *store;
    int32_t     nsp, vl, R, nv;
    int64_t     kh, kw, sy, sx, dy, dx, pt, pl;
    PadMode     mode;
    bool        flip;
    IrExpr     *IH, *IW, *OH, *OW, *planes;
    int32_t     bx, bw, by, xrank, yrank, wrank;
    /* per work item */
    int32_t     l_plane, l_oy0;
    int32_t    *l_row;              /* per input row u: its row (or -1) */
    int64_t     nu;                 /* input rows a block reads */
    int64_t    *u_off;              /* row u's offset from the block's first
                                       output row times sy, in the order the
                                       rows are read: increasing kernel row
                                       for every output row */
    int64_t     ymin;               /* the smallest tap row offset ky*dy */
    int64_t     xmin, xmax;         /* smallest and largest kx*dx - pl */
    /* what a chunk reads and writes (set per pass: the stage's input and
     * output, or a separable stage's row strip) */
    int32_t     src_buf, src_rank, dst_buf, dst_rank;
    IrExpr     *src_plane, *src_pitch, *src_cols;   /* cols: row's valid width */
    IrExpr     *dst_plane, *dst_pitch, *dst_rows, *dst_row0;
    IrExpr     *out_w;              /* the output row's width (the pitch of
                                       a separable stage's strip may differ) */
    /* A column tile (a separable stage's): the columns [c_lo, c_hi) of
     * the output rows, its left (right) border vectors only when it
     * starts (ends) the row.  NULL: the whole row. */
    IrExpr     *c_lo, *c_hi;
    /* A separable stage's column pass: input row u of a block is strip
     * row loop_row0 + u (inside the input when loop_in0 + u is, with
     * zeros padding), and its taps are the constant table wtab -- so that
     * a chunk may take the rows every output row of the block reads in a
     * loop (chunk).  NULL: the rows unrolled. */
    IrExpr     *loop_row0, *loop_in0;
    int32_t     wtab;
    bool        epilogue;           /* apply the stage's epilogue on store */
    const float *wconst;            /* taps [kh][kw] known here, else read
                                       from the weight */
    bool        tap_loop;           /* taps in loops, not unrolled (one
                                       output row a block: long kernels) */
    /* A row split into column parts, one work item each, when the rows
     * alone are too few items for the threads (a 1-D signal is one row):
     * part `part` of `nparts` runs its share of the middle chunks, part 0
     * also the border vectors.  NULL part: the whole row. */
    IrExpr     *part;
    int64_t     nparts;
    bool        stream;             /* full-vector stores non-temporal: a
                                       large final output (see below) */
    IrExpr     *stream_when;        /* ... when this holds (NULL: always) */
} Stencil;

static IrExpr *get(Stencil *S, int32_t l) { return kl_get(S->L, l); }

/* weight of kernel row ky, column kx (flip applied) */
static IrExpr *weight(Stencil *S, int64_t ky, int64_t kx)
{
    Lower *L = S->L;
    if (S->wconst)
        return ir_float(L->a, S->wconst[ky * S->kw + kx]);
    if (S->flip && S->n->op == NODE_CONV) {
        ky = S->kh - 1 - ky;
        kx = S->kw - 1 - kx;
    }
    IrExpr *wi[2];
    if (S->wrank == 2) {
        wi[0] = I(L, ky);
        wi[1] = I(L, kx);
    } else {
        wi[0] = I(L, kx);
    }
    return lower_value(L, S->w, wi);
}

/* i remapped into [0, n) by the padding mode (zeros: unchanged) */
static IrExpr *remap(Stencil *S, IrExpr *i, IrExpr *n)
{
    Lower *L = S->L;
    Arena *a = L->a;
    IrExpr *last = ir_bin(a, IR_OP_SUB, n, I(L, 1));
    switch (S->mode) {
    case PAD_REPLICATE:
        return ir_bin(a, IR_OP_MIN, ir_bin(a, IR_OP_MAX, i, I(L, 0)), last);
    case PAD_REFLECT: {
        /* one reflection reaches every index an output reads (the padding
         * is smaller than n); rows and lanes computed but never stored may
         * lie further out, so the result is also clamped into [0, n) */
        IrExpr *lo = ir_select(a, ir_bin(a, IR_OP_LT, i, I(L, 0)), ir_bin(a, IR_OP_SUB, I(L, 0), i), i);
        IrExpr *r = ir_select(a, ir_bin(a, IR_OP_GT, lo, last),
                              ir_bin(a, IR_OP_SUB, ir_bin(a, IR_OP_MUL, I(L, 2), last), lo), lo);
        return ir_bin(a, IR_OP_MAX, ir_bin(a, IR_OP_MIN, r, last), I(L, 0));
    }
    case PAD_CIRCULAR:
        return ir_bin(a, IR_OP_MOD, i, n);
    default:
        return i;
    }
}

/* The weight of kernel row ky, column kx given as IR values (flip applied,
 * as weight() does for known ones). */
static IrExpr *weight_at(Stencil *S, IrExpr *ky, IrExpr *kx)
{
    Lower *L = S->L;
    if (S->flip && S->n->op == NODE_CONV) {
        ky = sub(L, I(L, S->kh - 1), ky);
        kx = sub(L, I(L, S->kw - 1), kx);
    }
    IrExpr *wi[2] = { ky, kx };
    return lower_value(L, S->w, S->wrank == 2 ? wi : &wi[1]);
}

/* ceil(a / b) and floor(a / b) for b != 0 known here (IR division rounds
 * toward minus infinity). */
static IrExpr *div_floor(Lower *L, IrExpr *a, int64_t b)
{
    return b > 0 ? idiv(L, a, I(L, b)) : idiv(L, sub(L, I(L, 0), a), I(L, -b));
}

static IrExpr *div_ceil(Lower *L, IrExpr *a, int64_t b)
{
    return sub(L, I(L, 0), div_floor(L, sub(L, I(L, 0), a), b));
}

/* One chunk with the taps in loops (tap_loop): one output row, kernel rows
 * then kernel columns in increasing order as the scalar nest takes them.
 *
 * A middle chunk reads every tap with plain loads.  A border vector splits
 * its kernel columns into three loops, still in increasing order: the
 * columns where every lane that is an output reads inside the row take
 * plain loads; before and after them the lanes read through a gather of
 * their columns -- skipped lane by lane where outside the row with zeros
 * padding (and columns where no lane is inside are not visited at all, as
 * the scalar nest's bounds skip them), remapped in the other modes. */
static IrStmt *chunk_loop(Stencil *S, IrExpr *const *ox0, int32_t nv, bool border)
{
    Lower *L = S->L;
    Arena *a = L->a;
    int32_t vl = S->vl;
    bool zeros = S->mode == PAD_ZEROS;
    PtrVec out = { 0 };
    int32_t acc[MAX_NV], lanes_l[MAX_NV], lo_l[MAX_NV];
    for (int32_t v = 0; v < nv; v++) {
        acc[v] = lower_local(L, IR_TYPE_VF32);
        ptrvec_push(a, &out, kl_set(L, acc[v], ir_broadcast(a, ir_float(a, 0.0f))));
        if (border) {
            lo_l[v] = lower_local(L, IR_TYPE_VI64);
            ptrvec_push(a, &out, kl_set(L, lo_l[v], ir_bin(a, IR_OP_ADD, ir_broadcast(a, ox0[v]),
                                                            ir_iota(a))));
            lanes_l[v] = lower_local(L, IR_TYPE_VBOOL);
            ptrvec_push(a, &out, kl_set(L, lanes_l[v], ir_bin(a, IR_OP_LT, kl_get(L, lo_l[v]),
                                                               S->out_w)));
        }
    }
    int32_t vky = lower_var(L, "ky");
    IrExpr *ky = V(L, vky);
    IrExpr *iy = add(L, sub(L, mul(L, S->dst_row0, I(L, S->sy)), I(L, S->pt)), mul(L, ky, I(L, S->dy)));
    int32_t l_rowbase = lower_local(L, IR_TYPE_I64);
    PtrVec rowb = { 0 };
    ptrvec_push(a, &rowb, kl_set(L, l_rowbase, add(L, S->src_plane,
                                                    mul(L, zeros ? iy : remap(S, iy, S->IH),
                                                        S->src_pitch))));
    IrExpr *rowbase = kl_get(L, l_rowbase);
    if (!border) {
        /* every lane of every vector inside the row for every tap: one
         * loop over the kernel columns, the weight broadcast once for all */
        int32_t vkx = lower_var(L, "kx");
        IrExpr *kx = V(L, vkx);
        int32_t l_w = lower_local(L, IR_TYPE_VF32);
        PtrVec taps = { 0 };
        ptrvec_push(a, &taps, kl_set(L, l_w, ir_broadcast(a, weight_at(S, ky, kx))));
        for (int32_t v = 0; v < nv; v++) {
            IrExpr *col = add(L, sub(L, mul(L, ox0[v], I(L, S->sx)), I(L, S->pl)), mul(L, kx, I(L, S->dx)));
            IrExpr *x = ir_vload_strided(a, S->src_buf, S->src_rank,
                                         kl_lin(L, S->src_rank, add(L, rowbase, col)), NULL,
                                         (int32_t)S->sx);
            ptrvec_push(a, &taps, kl_set(L, acc[v], ir_fma(a, x, kl_get(L, l_w), kl_get(L, acc[v]))));
        }
        ptrvec_push(a, &rowb, ir_for(a, vkx, I(L, 0), I(L, S->kw), lower_block(L, &taps), IR_LOOP_KERNEL));
    }
    for (int32_t v = 0; border && v < nv; v++) {
        /* the first column this vector's lane 0 reads at kernel column 0 */
        IrExpr *c0 = sub(L, mul(L, ox0[v], I(L, S->sx)), I(L, S->pl));
        int32_t vkx = lower_var(L, "kx");
        IrExpr *kx = V(L, vkx);
        IrExpr *wv = ir_broadcast(a, weight_at(S, ky, kx));
        IrExpr *col0 = add(L, c0, mul(L, kx, I(L, S->dx)));
        /* lanes past the output's end are not read */
        IrExpr *plain = ir_vload_strided(a, S->src_buf, S->src_rank,
                                         kl_lin(L, S->src_rank, add(L, rowbase, col0)),
                                         kl_get(L, lanes_l[v]), (int32_t)S->sx);
        IrStmt *fast = kl_set(L, acc[v], ir_fma(a, plain, wv, kl_get(L, acc[v])));
        /* lanes that are outputs: nl; lane l reads column c0 + l*sx + kx*dx */
        IrExpr *nl = imin(L, I(L, vl), sub(L, S->out_w, ox0[v]));
        IrExpr *last = mul(L, sub(L, nl, I(L, 1)), I(L, S->sx));
        IrExpr *W = S->src_cols;
        /* every output lane inside [0, W): c0 + kx*dx >= 0 and c0 + last + kx*dx <= W - 1 */
        IrExpr *all_lo, *all_hi, *any_lo, *any_hi;     /* hi: exclusive */
        if (S->dx > 0) {
            all_lo = div_ceil(L, sub(L, I(L, 0), c0), S->dx);
            all_hi = add(L, div_floor(L, sub(L, sub(L, W, I(L, 1)), add(L, c0, last)), S->dx), I(L, 1));
            any_lo = div_ceil(L, sub(L, I(L, 0), add(L, c0, last)), S->dx);
            any_hi = add(L, div_floor(L, sub(L, sub(L, W, I(L, 1)), c0), S->dx), I(L, 1));
        } else {
            all_lo = div_ceil(L, sub(L, sub(L, W, I(L, 1)), add(L, c0, last)), S->dx);
            all_hi = add(L, div_floor(L, sub(L, I(L, 0), c0), S->dx), I(L, 1));
            any_lo = div_ceil(L, sub(L, sub(L, W, I(L, 1)), c0), S->dx);
            any_hi = add(L, div_floor(L, sub(L, I(L, 0), add(L, c0, last)), S->dx), I(L, 1));
        }
        IrExpr *A = zeros ? imax(L, any_lo, I(L, 0)) : I(L, 0);
        IrExpr *B = zeros ? imax(L, imin(L, any_hi, I(L, S->kw)), A) : I(L, S->kw);
        int32_t lA = lower_local(L, IR_TYPE_I64), lB = lower_local(L, IR_TYPE_I64),
                lP0 = lower_local(L, IR_TYPE_I64), lP1 = lower_local(L, IR_TYPE_I64);
        ptrvec_push(a, &rowb, kl_set(L, lA, A));
        ptrvec_push(a, &rowb, kl_set(L, lB, B));
        ptrvec_push(a, &rowb, kl_set(L, lP0, imin(L, imax(L, all_lo, kl_get(L, lA)), kl_get(L, lB))));
        ptrvec_push(a, &rowb, kl_set(L, lP1, imin(L, imax(L, all_hi, kl_get(L, lP0)), kl_get(L, lB))));
        /* the gathered taps */
        IrExpr *col = ir_bin(a, IR_OP_ADD, ir_bin(a, IR_OP_MUL, kl_get(L, lo_l[v]), I(L, S->sx)),
                             sub(L, mul(L, kx, I(L, S->dx)), I(L, S->pl)));
        IrExpr *ok, *cols;
        if (zeros) {
            ok = kl_and(L, kl_in_range(L, col, W), kl_get(L, lanes_l[v]));
            cols = col;
        } else {
            ok = kl_get(L, lanes_l[v]);
            cols = remap(S, col, W);
        }
        int32_t l_ok = lower_local(L, IR_TYPE_VBOOL);
        IrExpr *g = ir_vgather(a, S->src_buf, S->src_rank, kl_lin(L, S->src_rank, rowbase), cols,
                               kl_get(L, l_ok));
        IrExpr *f = ir_fma(a, g, wv, kl_get(L, acc[v]));
        if (zeros)
            f = ir_select(a, kl_get(L, l_ok), f, kl_get(L, acc[v]));
        IrStmt *slow = ir_block(a, (IrStmt *const[]){ kl_set(L, l_ok, ok), kl_set(L, acc[v], f) }, 2);
        ptrvec_push(a, &rowb, ir_for(a, vkx, kl_get(L, lA), kl_get(L, lP0), slow, IR_LOOP_KERNEL));
        ptrvec_push(a, &rowb, ir_for(a, vkx, kl_get(L, lP0), kl_get(L, lP1), fast, IR_LOOP_KERNEL));
        ptrvec_push(a, &rowb, ir_for(a, vkx, kl_get(L, lP1), kl_get(L, lB), slow, IR_LOOP_KERNEL));
    }
    IrStmt *rows = lower_block(L, &rowb);
    if (zeros)      /* a row outside the input: skipped */
        rows = ir_if(a, kl_in_range(L, iy, S->IH), rows, NULL);
    ptrvec_push(a, &out, ir_for(a, vky, I(L, 0), I(L, S->kh), rows, IR_LOOP_KERNEL));
    /* the store (rows past the output's last are never given: R is 1) */
    for (int32_t v = 0; v < nv; v++) {
        IrExpr *lin = add(L, add(L, S->dst_plane, mul(L, S->dst_row0, S->dst_pitch)), ox0[v]);
        IrExpr *m = border ? kl_get(L, lanes_l[v]) : NULL;
        IrExpr *val = kl_get(L, acc[v]);
        if (S->epilogue)
            val = kl_epilogue(L, S->n, val, lin, m);
        ptrvec_push(a, &out, m ? ir_vstore(a, S->dst_buf, S->dst_rank, kl_lin(L, S->dst_rank, lin), val, m)
                               : kl_store_full(L, S->stream, S->stream_when, S->dst_buf, S->dst_rank, lin, val));
    }
    return lower_block(L, &out);
}

/* Input lines prefetched this far ahead of a middle chunk (in floats: 1
 * KB), when a chunk does few FMAs per input vector it loads (below
 * PREFETCH_FMAS): the hardware prefetcher does not run far enough ahead
 * of several rows read at once for a kernel that short.  Interleaved on
 * znver4, one core: the 5x5 Gaussian's row pass (5 FMAs a vector)
 * 1.09-1.16x on one core, 1.12-1.13x on two; 3x3 Laplacian (6) and 1x3
 * (3) 1.06x; a 3-tap 1-D filter (3) 1.00x; at 12.5 and more they only
 * took load slots: 5x5 direct (12.5) 0.98x, 15-tap 1-D (15) 0.98x, the
 * 31x31 Gaussian's row pass (31) 0.97x. */
enum { PREFETCH_FLOATS = 256, PREFETCH_FMAS = 10 };

static bool prefetch_input(const Stencil *S)
{
    if (S->src_buf != S->bx || S->tap_loop)
        return false;
    int64_t pairs = 0;      /* (input row, output row) pairs of a block */
    for (int64_t u = 0; u < S->nu; u++)
        for (int32_t r = 0; r < S->R; r++) {
            int64_t t = S->u_off[u] - (int64_t)r * S->sy;
            pairs += t % S->dy == 0 && t / S->dy >= 0 && t / S->dy < S->kh;
        }
    return pairs * S->kw < (int64_t)PREFETCH_FMAS * S->nu;
}

/* The lane selection of a vector shifted k lanes along two consecutive
 * ones: lanes k.. of the first, then the second's first k (made once a
 * chunk for each k, in sels). */
static const int32_t *shift_sel(Lower *L, const int32_t **sels, int32_t k)
{
    if (!sels[k]) {
        int32_t vl = L->sched->target.vlen;
        int32_t *sel = arena_array(L->a, (size_t)vl, sizeof *sel);
        for (int32_t i = 0; i < vl; i++)
            sel[i] = k + i;
        sels[k] = sel;
    }
    return sels[k];
}

/* The rows u in [R-1, kh) of a middle chunk (kw = 1, stride and dilation
 * 1), which every output row r of the block reads, with kernel row u - r:
 * a loop, the weights read from the table wtab. */
static IrStmt *rows_loop_body(Stencil *S, IrExpr *const *ox0, int32_t nv, int32_t acc[][MAX_NV],
                              const int32_t *xv)
{
    Lower *L = S->L;
    Arena *a = L->a;
    int32_t vu = lower_var(L, "u");
    IrExpr *u = V(L, vu);
    PtrVec row = { 0 };
    IrExpr *rowbase = add(L, S->src_plane, mul(L, add(L, S->loop_row0, u), S->src_pitch));
    for (int32_t v = 0; v < nv; v++)
        ptrvec_push(a, &row, kl_set(L, xv[v], ir_vload(a, S->src_buf, S->src_rank,
                                                       kl_lin(L, S->src_rank, add(L, rowbase, ox0[v])), NULL)));
    for (int32_t r = 0; r < S->R; r++) {
        IrExpr *ky = sub(L, u, I(L, r));
        IrExpr *wv = ir_broadcast(a, ir_load(a, S->wtab, 1, (IrExpr *[]){ ky }));
        for (int32_t v = 0; v < nv; v++)
            ptrvec_push(a, &row, kl_set(L, acc[r][v], ir_fma(a, kl_get(L, xv[v]), wv, kl_get(L, acc[r][v]))));
    }
    IrStmt *body = lower_block(L, &row);
    if (S->mode == PAD_ZEROS)   /* a row outside the input: skipped */
        body = ir_if(a, kl_in_range(L, add(L, S->loop_in0, u), S->IH), body, NULL);
    return ir_for(a, vu, I(L, S->R - 1), I(L, S->kh), body, IR_LOOP_KERNEL);
}

/* One chunk: the block's R rows x vectors starting at columns ox0[v] (IR
 * values), nv of them; border: lanes may leave the row (or the output). */
static IrStmt *chunk(Stencil *S, IrExpr *const *ox0, int32_t nv, bool border)
{
    if (S->tap_loop)
        return chunk_loop(S, ox0, nv, border);
    Lower *L = S->L;
    Arena *a = L->a;
    int32_t R = S->R, vl = S->vl;
    PtrVec out = { 0 };
    int32_t acc[MAX_R][MAX_NV], xv[MAX_NV];
    for (int32_t v = 0; v < nv; v++)
        xv[v] = lower_local(L, IR_TYPE_VF32);
    for (int32_t r = 0; r < R; r++)
        for (int32_t v = 0; v < nv; v++) {
            acc[r][v] = lower_local(L, IR_TYPE_VF32);
            ptrvec_push(a, &out, kl_set(L, acc[r][v], ir_broadcast(a, ir_float(a, 0.0f))));
        }
    /* border vectors: each lane's output column, whether it is an output,
     * and per kernel column its input column (remapped) and validity */
    IrExpr *lanes[MAX_NV] = { 0 }, *colv[MAX_NV][MAX_K] = { { 0 } }, *okv[MAX_NV][MAX_K] = { { 0 } };
    if (border)
        for (int32_t v = 0; v < nv; v++) {
            int32_t lo = lower_local(L, IR_TYPE_VI64);
            ptrvec_push(a, &out, kl_set(L, lo, ir_bin(a, IR_OP_ADD, ir_broadcast(a, ox0[v]), ir_iota(a))));
            int32_t lm = lower_local(L, IR_TYPE_VBOOL);
            ptrvec_push(a, &out, kl_set(L, lm, ir_bin(a, IR_OP_LT, kl_get(L, lo), S->out_w)));
            lanes[v] = kl_get(L, lm);
            for (int64_t kx = 0; kx < S->kw; kx++) {
                IrExpr *col = ir_bin(a, IR_OP_ADD, ir_bin(a, IR_OP_MUL, kl_get(L, lo), I(L, S->sx)),
                                     I(L, kx * S->dx - S->pl));
                int32_t lc = lower_local(L, IR_TYPE_VI64), lk = lower_local(L, IR_TYPE_VBOOL);
                IrExpr *ok = kl_in_range(L, col, S->src_cols);
                if (S->mode == PAD_ZEROS) {
                    ptrvec_push(a, &out, kl_set(L, lc, col));
                    ptrvec_push(a, &out, kl_set(L, lk, kl_and(L, ok, lanes[v])));
                } else {
                    ptrvec_push(a, &out, kl_set(L, lc, remap(S, col, S->src_cols)));
                    ptrvec_push(a, &out, kl_set(L, lk, lanes[v]));
                }
                colv[v][kx] = kl_get(L, lc);
                okv[v][kx] = kl_get(L, lk);
            }
        }
    bool pf = !border && prefetch_input(S);
    /* A middle chunk whose kernel rows reach further than a vector (the
     * 31-tap row pass of a separable Gaussian), at stride 1 and without
     * dilation: each row's columns are loaded once, as whole vectors from
     * the first column any tap reads (nb of them, the last masked to the
     * columns read), and each tap's vector is two of those shifted
     * together (a lane shuffle).  A load per tap, each across a cache
     * line, was what bound these: on znver4 a 512-bit load that crosses
     * a line takes both load slots of a cycle.  (Kernels up to a vector
     * wide keep their loads: their chunks' rows hold few taps.) */
    int64_t adx = S->dx > 0 ? S->dx : -S->dx;
    bool shifted = !border && S->sx == 1 && adx == 1 && S->kw > vl && L->sched->target.masked;
    int64_t omin = 0, nb = 0;
    IrExpr *lastm = NULL;
    const int32_t *sels[64] = { 0 };    /* shift_sel's, by k < vl */
    if (shifted) {
        int64_t omax = (int64_t)(nv - 1) * vl + (S->dx > 0 ? S->kw - 1 : 0) - S->pl;
        omin = (S->dx > 0 ? 0 : -(S->kw - 1)) - S->pl;
        nb = (omax - omin + vl) / vl + ((omax - omin + vl) % vl != 0);
        int64_t used = omax + vl - (omin + (nb - 1) * vl);     /* lanes of the last */
        if (used < vl)
            lastm = ir_bin(a, IR_OP_LT, ir_iota(a), I(L, used));
    }
    /* The rows every output row of the block reads, [R-1, kh), in a loop
     * (a column pass of a long kernel: 31 rows unrolled in one block were
     * more than the register allocator kept apart, its weights hoisted out
     * of the loop and its loads moved ahead, all of it spilled) -- the
     * rows before and after unrolled, each accumulator's kernel rows still
     * in order. */
    bool rows_loop = !border && S->loop_row0 && S->kw == 1 && S->sy == 1 && S->dy == 1 && !shifted &&
                     S->kh >= R + 2 && S->nu == R - 1 + S->kh;
    for (int64_t u = 0; u < S->nu; u++) {
        if (rows_loop && u == R - 1) {
            ptrvec_push(a, &out, rows_loop_body(S, ox0, nv, acc, xv));
            u = S->kh - 1;
            continue;
        }
        PtrVec row = { 0 };
        IrExpr *rowbase = add(L, S->src_plane, mul(L, get(S, S->l_row[u]), S->src_pitch));
        for (int32_t v = 0; pf && v < nv; v++) {
            IrExpr *c = add(L, mul(L, ox0[v], I(L, S->sx)), I(L, PREFETCH_FLOATS));
            ptrvec_push(a, &row, ir_prefetch(a, S->src_buf, S->src_rank,
                                             kl_lin(L, S->src_rank, add(L, rowbase, c))));
        }
        int32_t *blk = nb ? arena_array(a, (size_t)nb, sizeof *blk) : NULL;
        for (int64_t i = 0; i < nb; i++) {
            blk[i] = lower_local(L, IR_TYPE_VF32);
            IrExpr *c0 = add(L, ox0[0], I(L, omin + i * vl));
            ptrvec_push(a, &row, kl_set(L, blk[i], ir_vload(a, S->src_buf, S->src_rank,
                                                            kl_lin(L, S->src_rank, add(L, rowbase, c0)),
                                                            i == nb - 1 ? lastm : NULL)));
        }
        for (int64_t kx = 0; kx < S->kw; kx++) {
            for (int32_t v = 0; v < nv; v++) {
                IrExpr *ld;
                if (shifted) {
                    int64_t d = (int64_t)v * vl + kx * S->dx - S->pl - omin, i = d / vl, k = d % vl;
                    ld = k ? ir_shuffle(a, kl_get(L, blk[i]), kl_get(L, blk[i + 1]), shift_sel(L, sels, (int32_t)k), vl)
                           : kl_get(L, blk[i]);
                } else if (border) {
                    /* a gather of each lane's (remapped) column, or where
                     * the lanes that are outputs all read inside the row
                     * (the taps of a long kernel that stay in the row,
                     * half of a 31-tap row factor's at either end) a load
                     * of them: the same values */
                    IrExpr *g = ir_vgather(a, S->src_buf, S->src_rank, kl_lin(L, S->src_rank, rowbase),
                                           colv[v][kx], okv[v][kx]);
                    IrExpr *c0 = add(L, mul(L, ox0[v], I(L, S->sx)), I(L, kx * S->dx - S->pl));
                    IrExpr *nl = imin(L, I(L, vl), sub(L, S->out_w, ox0[v]));
                    IrExpr *in = kl_and(L, ir_bin(a, IR_OP_GE, c0, I(L, 0)),
                                        ir_bin(a, IR_OP_LT, add(L, c0, mul(L, sub(L, nl, I(L, 1)), I(L, S->sx))),
                                               S->src_cols));
                    IrExpr *plain = ir_vload_strided(a, S->src_buf, S->src_rank,
                                                     kl_lin(L, S->src_rank, add(L, rowbase, c0)), lanes[v],
                                                     (int32_t)S->sx);
                    ptrvec_push(a, &row, ir_if(a, in, kl_set(L, xv[v], plain), kl_set(L, xv[v], g)));
                    continue;
                } else {
                    IrExpr *c0 = add(L, mul(L, ox0[v], I(L, S->sx)), I(L, kx * S->dx - S->pl));
                    ld = ir_vload_strided(a, S->src_buf, S->src_rank,
                                          kl_lin(L, S->src_rank, add(L, rowbase, c0)), NULL,
                                          (int32_t)S->sx);
                }
                ptrvec_push(a, &row, kl_set(L, xv[v], ld));
            }
            /* every (output row, kernel row) of the block reading row u */
            for (int32_t r = 0; r < S->R; r++) {
                int64_t t = S->u_off[u] - (int64_t)r * S->sy;   /* ky*dy */
                if (t % S->dy || t / S->dy < 0 || t / S->dy >= S->kh)
                    continue;
                int64_t ky = t / S->dy;
                IrExpr *wv = ir_broadcast(a, weight(S, ky, kx));
                for (int32_t v = 0; v < nv; v++) {
                    IrExpr *accv = kl_get(L, acc[r][v]);
                    IrExpr *f = ir_fma(a, kl_get(L, xv[v]), wv, accv);
                    if (border && S->mode == PAD_ZEROS)
                        f = ir_select(a, okv[v][kx], f, accv);
                    ptrvec_push(a, &row, kl_set(L, acc[r][v], f));
                }
            }
        }
        IrStmt *body = lower_block(L, &row);
        if (S->mode == PAD_ZEROS)   /* a row outside the input: skipped */
            body = ir_if(a, ir_bin(a, IR_OP_GE, get(S, S->l_row[u]), I(L, 0)), body, NULL);
        ptrvec_push(a, &out, body);
    }
    /* stores: rows past the output's last are computed, not stored */
    for (int32_t r = 0; r < R; r++) {
        PtrVec st = { 0 };
        IrExpr *oy = add(L, S->dst_row0, I(L, r));
        for (int32_t v = 0; v < nv; v++) {
            IrExpr *lin = add(L, add(L, S->dst_plane, mul(L, oy, S->dst_pitch)), ox0[v]);
            IrExpr *m = border ? lanes[v] : NULL;
            IrExpr *val = kl_get(L, acc[r][v]);
            if (S->epilogue)
                val = kl_epilogue(L, S->n, val, lin, m);
            ptrvec_push(a, &st, m ? ir_vstore(a, S->dst_buf, S->dst_rank, kl_lin(L, S->dst_rank, lin), val, m)
                                  : kl_store_full(L, S->stream, S->stream_when, S->dst_buf, S->dst_rank, lin, val));
        }
        ptrvec_push(a, &out, ir_if(a, ir_bin(a, IR_OP_LT, oy, S->dst_rows), lower_block(L, &st), NULL));
    }
    (void)vl;
    return lower_block(L, &out);
}

/* One pass over the rows of a chunk of R rows: left border vectors,
 * middle chunks, right border vectors -- when the row is wide enough for
 * that split; else border vectors all along. */
static IrStmt *row_pass(Stencil *S, const Node *n, int64_t pr_x)
{
    Lower *L = S->L;
    Arena *a = L->a;
    int32_t vl = S->vl;
    S->xmin = (S->dx > 0 ? 0 : (S->kw - 1) * S->dx) - S->pl;
    S->xmax = (S->dx > 0 ? (S->kw - 1) * S->dx : 0) - S->pl;
    int64_t left_lanes = S->xmin < 0 ? (-S->xmin + S->sx - 1) / S->sx : 0;  /* ox*sx + xmin < 0 */
    /* right border: lanes whose last tap passes the row's end: the output
     * is that much wider than the input reaches (conv: the right padding;
     * a signal: how far its window runs past the input) */
    int64_t right_lanes;
    if (n->op == NODE_CONV) {
        right_lanes = S->sx == 1 ? pr_x : pr_x + S->sx;
    } else {
        /* the last output ow-1 reads up to ow-1 + xmax: lanes past
         * iw-1-xmax (ow - iw is known: passes/kernels.c) */
        int64_t wider = 0;
        sym_is_const(sym_sub(&L->sc, n->shape.dims[n->shape.rank - 1],
                             S->x->shape.dims[S->x->shape.rank - 1]), &wider);
        right_lanes = wider + S->xmax + 1;
        if (right_lanes < 0)
            right_lanes = 0;
    }
    int64_t nL = (left_lanes + vl - 1) / vl;
    int64_t nR = (right_lanes + vl - 1) / vl;
    /* Middle chunks of nv vectors over [m0, m1) = [nL*vl, OW - nR*vl),
     * the last chunk's vectors moved back to end at m1 -- when the row is
     * wide enough for a whole chunk there.  Every other vector of the row
     * goes through one border chunk, in a loop over its positions: the
     * nL left and nR right ones (and a middle too narrow for a chunk, one
     * vector at a time), or on a row too narrow for that split, all of
     * them.  One border chunk and one middle chunk keep the code small. */
    IrExpr *OW = S->out_w;
    IrExpr *m0 = I(L, nL * vl), *m1 = sub(L, OW, I(L, nR * vl));
    /* a column tile: its share of the middle, and the border vectors of
     * the row's ends it holds (separable_nest makes tiles whose middle
     * takes a whole chunk) */
    IrExpr *nLw = I(L, nL), *nRw = I(L, nR);
    if (S->c_lo) {
        m0 = imax(L, m0, S->c_lo);
        m1 = imin(L, m1, S->c_hi);
        nLw = ir_select(a, ir_bin(a, IR_OP_EQ, S->c_lo, I(L, 0)), I(L, nL), I(L, 0));
        nRw = ir_select(a, ir_bin(a, IR_OP_EQ, S->c_hi, OW), I(L, nR), I(L, 0));
    }
    IrExpr *span = I(L, (int64_t)S->nv * vl);
    IrExpr *wide = ir_bin(a, IR_OP_GE, OW, I(L, (nL + nR + 1) * vl));
    IrExpr *whole = ir_bin(a, IR_OP_AND, wide, ir_bin(a, IR_OP_GE, sub(L, m1, m0), span));
    int32_t l_whole = lower_local(L, IR_TYPE_I64), l_nmid = lower_local(L, IR_TYPE_I64),
            l_nb = lower_local(L, IR_TYPE_I64);
    PtrVec out = { 0 };
    ptrvec_push(a, &out, kl_set(L, l_whole, ir_select(a, whole, I(L, 1), I(L, 0))));
    /* middle vectors the border loop takes: none, or the narrow middle's */
    IrExpr *nmid = ir_select(a, ir_bin(a, IR_OP_EQ, kl_get(L, l_whole), I(L, 1)), I(L, 0),
                             idiv(L, add(L, sub(L, m1, m0), I(L, vl - 1)), I(L, vl)));
    ptrvec_push(a, &out, kl_set(L, l_nmid, nmid));
    ptrvec_push(a, &out, kl_set(L, l_nb, ir_select(a, wide, add(L, add(L, nLw, nRw), kl_get(L, l_nmid)),
                                                   idiv(L, add(L, OW, I(L, vl - 1)), I(L, vl)))));
    int32_t vb = lower_var(L, "vb");
    IrExpr *b = V(L, vb), *nb = kl_get(L, l_nb);
    /* position of border vector b on a wide row: left, narrow middle, right */
    IrExpr *pos_wide = ir_select(a, ir_bin(a, IR_OP_LT, b, nLw), mul(L, b, I(L, vl)),
        ir_select(a, ir_bin(a, IR_OP_LT, b, add(L, nLw, kl_get(L, l_nmid))),
                  imin(L, add(L, m0, mul(L, sub(L, b, nLw), I(L, vl))), sub(L, m1, I(L, vl))),
                  sub(L, OW, mul(L, sub(L, nb, b), I(L, vl)))));
    IrExpr *ox0b = ir_select(a, wide, pos_wide, mul(L, b, I(L, vl)));
    IrStmt *border = ir_for(a, vb, I(L, 0), nb, chunk(S, &ox0b, 1, true), IR_LOOP_KERNEL);
    if (S->part)    /* the border vectors: part 0's */
        border = ir_if(a, ir_bin(a, IR_OP_EQ, S->part, I(L, 0)), border, NULL);
    ptrvec_push(a, &out, border);
    int32_t vx = lower_var(L, "vx");
    IrExpr *nchunks = idiv(L, add(L, sub(L, m1, m0), sub(L, span, I(L, 1))), span);
    IrExpr *start = imin(L, add(L, m0, mul(L, V(L, vx), span)), sub(L, m1, span));
    IrExpr *ox0[MAX_NV];
    for (int32_t v = 0; v < S->nv; v++)
        ox0[v] = add(L, start, I(L, (int64_t)v * vl));
    IrExpr *lo = I(L, 0), *hi = nchunks;
    if (S->part) {
        /* part p of the row's chunks: [p*m/P, (p+1)*m/P) of the first
         * m = n - 1, the last part up to n.  The last chunk, moved back to
         * end at m1, overlaps the one before it, so both go to the same
         * part: no two threads store to the same place. */
        int32_t l_n = lower_local(L, IR_TYPE_I64);
        ptrvec_push(a, &out, kl_set(L, l_n, nchunks));
        IrExpr *m = imax(L, sub(L, kl_get(L, l_n), I(L, 1)), I(L, 0));
        lo = idiv(L, mul(L, S->part, m), I(L, S->nparts));
        hi = ir_select(a, ir_bin(a, IR_OP_EQ, S->part, I(L, S->nparts - 1)), kl_get(L, l_n),
                       idiv(L, mul(L, add(L, S->part, I(L, 1)), m), I(L, S->nparts)));
    }
    IrStmt *full = ir_for(a, vx, lo, hi, chunk(S, ox0, S->nv, false), IR_LOOP_KERNEL);
    ptrvec_push(a, &out, ir_if(a, ir_bin(a, IR_OP_EQ, kl_get(L, l_whole), I(L, 1)), full, NULL));
    return lower_block(L, &out);
}

/* The column pass over the strip's rows, CR output rows a block (rows
 * past the output's last are computed, not stored), for the columns C
 * gives (a tile, or a window of one chunk of it). */
static IrStmt *column_rows(Stencil *C, const Node *n, IrExpr *first_in, int64_t rs, int64_t CR)
{
    Lower *L = C->L;
    Arena *a = L->a;
    int32_t vr = lower_var(L, "r0");
    IrExpr *r0 = mul(L, V(L, vr), I(L, CR));
    PtrVec cp = { 0 };
    for (int64_t u = 0; u < C->nu; u++) {
        IrExpr *j = add(L, r0, I(L, u));
        IrExpr *row = j;
        if (C->mode == PAD_ZEROS)   /* an input row outside: skipped */
            row = ir_select(a, kl_in_range(L, add(L, first_in, j), C->IH), j, I(L, -1));
        ptrvec_push(a, &cp, kl_set(L, C->l_row[u], row));
    }
    Stencil Cr = *C;
    Cr.dst_row0 = add(L, get(C, C->l_oy0), r0);
    if (Cr.wtab >= 0) {
        Cr.loop_row0 = r0;
        Cr.loop_in0 = add(L, first_in, r0);
    }
    ptrvec_push(a, &cp, row_pass(&Cr, n, 0));
    return ir_for(a, vr, I(L, 0), I(L, (rs + CR - 1) / CR), lower_block(L, &cp), IR_LOOP_KERNEL);
}

/* Separable: per work item (plane, strip of rs output rows, column tile)
 * the row pass filters the input rows the strip needs with the row
 * factor into a buffer private to the item, then the column pass filters
 * that buffer's rows with the column factor into the output.  Rows
 * outside the input are remapped by the row pass (or, with zeros padding,
 * skipped by both).  Each pass is the stencil above with a one-row or
 * one-column kernel, over the tile's columns.
 *
 * The strip's halo, the (kh-1)*dy rows both neighbouring strips need, is
 * made by the row pass for both, so strips are tall; for a long kernel
 * column tiles of SEP_TILE_COLS (plan.sep_tile_cols) keep a tall strip
 * within SEP_TILE_BYTES, near the L2 cache, for the column pass to read
 * back (the last tile takes the row's remaining columns, fewer than two
 * tiles').  The column pass
 * runs down the strip one chunk of columns at a time (column_rows).
 * Interleaved on znver4, one core, W12 (31x31 Gaussian, 3000x4000, 186
 * row-pass rows for strips of 156 where whole rows gave 90 for 60):
 * tiles of 512 columns and 384 KB 1.10x against 256 and 512 KB, 1.03x
 * against 512 and 256 KB, 1.07x against 1024 and 1 MB; with the other
 * changes of that work (the column pass's rows in a loop, shifted loads
 * in the row pass, loads for border taps inside the row) W12 1.44x, two
 * cores 1.39x.  The 5x5 W8 keeps whole rows: in tiles it measured
 * 0.80x. */
enum { STRIP_SLOTS = 16 };

static IrStmt *separable_nest(Stencil *S, const StagePlan *plan, int64_t pr_x)
{
    Lower *L = S->L;
    Arena *a = L->a;
    const Node *n = S->n;
    int64_t kh = S->kh, dy = S->dy, vl = S->vl;
    int64_t owc = 0;
    bool known_width = sym_is_const(n->shape.dims[n->shape.rank - 1], &owc);
    int64_t width = known_width ? owc : 4096;   /* a width known only when running, as if */
    /* Whole rows: strips tall enough that the rows both neighbours need
     * (the halo, (kh-1)*dy rows, which the row pass makes for both strips)
     * are a small share -- a quarter, or at most half when the strip would
     * pass SEP_STRIP_BYTES -- and short enough that the strip stays near the L2
     * cache.  W8 (5x5, 3840 wide) 1.05x faster with 32 rows than 16, 64 the
     * same as 32.  At least 32. */
    int64_t halo = (kh - 1) * dy;
    int64_t rs = (4 * halo < 32 ? 32 : 4 * halo + 3) / 4 * 4;
    int64_t rs_min = (2 * halo < 16 ? 16 : 2 * halo + 3) / 4 * 4;
    /* Column tiles (passes/algorithm.c, plan.sep_tile_cols: a long kernel
     * on wide rows, W12's 31x31 at 4000 columns, whose strips of whole rows
     * were 60 rows, 90 made by the row pass); the last tile takes the
     * row's remaining columns, fewer than 2 x tw. */
    int64_t tw = plan->sep_tile_cols;
    bool tiled = tw > 0;
    int64_t bufw = width;       /* the strip's row: the widest tile, or the row */
    if (tiled) {
        bufw = known_width ? owc - (owc / tw - 1) * tw : 2 * tw;
        rs = (SEP_TILE_BYTES / (tw * 4) - halo) / 4 * 4;
        rs = rs < rs_min ? rs_min : rs;
    } else {
        while (rs > rs_min && (rs + halo) * width * 4 > SEP_STRIP_BYTES)
            rs -= 4;
    }
    int64_t nrows = rs - 1 + (kh - 1) * dy + 1, nrows4 = (nrows + 3) / 4 * 4;

    int32_t vit = lower_var(L, "item");
    IrExpr *it = V(L, vit);
    /* the strip: on the work item's stack when its width is known (and it
     * is at most KL_STACK_MAX_BYTES), else one of STRIP_SLOTS strips of a
     * scratch buffer [slots, rows, width]: work item `it` is then a slot,
     * which runs a range of consecutive strips through its one buffer (a
     * buffer for every strip, written once each, had W8 declared [H, W]
     * at 0.71x the constant-size build: 66 MB of strips a call against one
     * 300 KB strip a thread; 32 slots W12 0.76x, 16 0.88x, 8 0.80x) */
    int32_t strip, strip_rank;
    IrExpr *strip_plane, *pitch = tiled || known_width ? I(L, bufw) : S->OW;
    int32_t vblk = -1;
    if ((tiled || known_width) && nrows4 * bufw * 4 <= KL_STACK_MAX_BYTES) {
        Shape ss = shape_make(a, 2);
        ss.dims[0] = sym_const(&L->sc, nrows4);
        ss.dims[1] = sym_const(&L->sc, bufw);
        strip = lower_local_buffer(L, "strip", ss);
        strip_rank = 2;
        strip_plane = I(L, 0);
    } else {
        Shape ss = shape_make(a, 3);
        ss.dims[0] = sym_const(&L->sc, STRIP_SLOTS);
        ss.dims[1] = sym_const(&L->sc, nrows4);
        ss.dims[2] = tiled ? sym_const(&L->sc, bufw) : n->shape.dims[n->shape.rank - 1];
        strip = lower_scratch(L, "strips", ss);
        strip_rank = 3;
        strip_plane = mul(L, it, mul(L, I(L, nrows4), pitch));
        vblk = lower_var(L, "strip");
    }
    IrExpr *blk = vblk >= 0 ? V(L, vblk) : it;    /* the strip the body makes */
    PtrVec body = { 0 };
    S->l_plane = lower_local(L, IR_TYPE_I64);
    S->l_oy0 = lower_local(L, IR_TYPE_I64);
    /* tiles of the row (one without tiling; with a width known only when
     * running, one for rows narrower than 2 x tw) */
    IrExpr *ntiles = !tiled ? I(L, 1) : known_width ? I(L, owc / tw) : imax(L, I(L, 1), idiv(L, S->OW, I(L, tw)));
    IrExpr *nblocks = idiv(L, add(L, S->OH, I(L, rs - 1)), I(L, rs));
    IrExpr *sb = blk;                       /* plane x strip */
    IrExpr *c_lo = NULL, *c_hi = NULL, *tile_plane = strip_plane;
    if (tiled) {
        int32_t l_tile = lower_local(L, IR_TYPE_I64);
        int32_t l_clo = lower_local(L, IR_TYPE_I64), l_chi = lower_local(L, IR_TYPE_I64);
        ptrvec_push(a, &body, kl_set(L, l_tile, imod(L, blk, ntiles)));
        sb = idiv(L, blk, ntiles);
        ptrvec_push(a, &body, kl_set(L, l_clo, mul(L, get(S, l_tile), I(L, tw))));
        ptrvec_push(a, &body, kl_set(L, l_chi, ir_select(a, ir_bin(a, IR_OP_EQ, get(S, l_tile),
                                                                    sub(L, ntiles, I(L, 1))),
                                                          S->OW, add(L, get(S, l_clo), I(L, tw)))));
        c_lo = get(S, l_clo);
        c_hi = get(S, l_chi);
        tile_plane = sub(L, strip_plane, c_lo);     /* the strip's column 0 is the tile's first */
    }
    ptrvec_push(a, &body, kl_set(L, S->l_plane, idiv(L, sb, nblocks)));
    ptrvec_push(a, &body, kl_set(L, S->l_oy0, mul(L, imod(L, sb, nblocks), I(L, rs))));
    IrExpr *first_in = sub(L, get(S, S->l_oy0), I(L, S->pt));    /* input row of strip row 0 */
    S->src_plane = mul(L, get(S, S->l_plane), mul(L, S->IH, S->IW));
    S->dst_plane = mul(L, get(S, S->l_plane), mul(L, S->OH, S->OW));

    /* the row pass: strip rows j0..j0+3 from input rows first_in + j */
    Stencil R = *S;
    R.stream = false;           /* the strip is read right after */
    R.kh = 1;
    R.dy = 1;
    R.sy = 1;
    R.pt = 0;
    R.R = 4;
    /* a row factor longer than a vector (shifted loads, chunk): 2 vectors
     * a chunk (W12's 31 taps, interleaved on znver4: 1.05x against 4) */
    if (R.kw > vl && L->sched->target.masked && R.nv > 2)
        R.nv = 2;
    R.wconst = plan->sep_v;
    R.nu = 4;
    R.ymin = 0;
    R.u_off = arena_array(a, 4, sizeof *R.u_off);
    R.l_row = arena_array(a, 4, sizeof *R.l_row);
    int32_t vj = lower_var(L, "j0");
    IrExpr *j0 = mul(L, V(L, vj), I(L, 4));
    PtrVec rp = { 0 };
    for (int64_t u = 0; u < 4; u++) {
        R.u_off[u] = u;
        R.l_row[u] = lower_local(L, IR_TYPE_I64);
        IrExpr *iy = add(L, first_in, add(L, j0, I(L, u)));
        IrExpr *row = S->mode == PAD_ZEROS
            ? ir_select(a, kl_in_range(L, iy, S->IH), iy, I(L, -1))
            : remap(S, iy, S->IH);
        ptrvec_push(a, &rp, kl_set(L, R.l_row[u], row));
    }
    R.dst_buf = strip;
    R.dst_rank = strip_rank;
    R.dst_plane = tile_plane;
    R.dst_pitch = pitch;
    R.c_lo = c_lo;
    R.c_hi = c_hi;
    R.dst_rows = I(L, nrows);
    R.dst_row0 = j0;
    R.epilogue = false;
    ptrvec_push(a, &rp, row_pass(&R, n, pr_x));
    ptrvec_push(a, &body, ir_for(a, vj, I(L, 0), I(L, nrows4 / 4), lower_block(L, &rp), IR_LOOP_KERNEL));

    /* the column pass: output rows r0..r0+3 of the strip */
    Stencil C = *S;
    C.kw = 1;
    C.dx = 1;
    C.sx = 1;
    C.pl = 0;
    int64_t CR = 4;
    C.R = (int32_t)CR;
    C.wconst = plan->sep_u;
    {
        Shape ts = shape_make(a, 1);
        ts.dims[0] = sym_const(&L->sc, kh);
        C.wtab = lower_const(L, "column_taps", ts, plan->sep_u, kh);
    }
    C.nu = CR - 1 + (kh - 1) * dy + 1;
    C.ymin = 0;
    C.u_off = arena_array(a, (size_t)C.nu, sizeof *C.u_off);
    C.l_row = arena_array(a, (size_t)C.nu, sizeof *C.l_row);
    C.src_buf = strip;
    C.src_rank = strip_rank;
    C.src_plane = tile_plane;
    C.src_pitch = pitch;
    C.src_cols = S->OW;
    for (int64_t u = 0; u < C.nu; u++) {
        C.u_off[u] = u;
        C.l_row[u] = lower_local(L, IR_TYPE_I64);
    }
    /* Windows of one chunk across the tile, each running down the strip's
     * blocks of rows: the kh rows a block reads stay in the L1 cache for
     * the next block, which loads CR more (row after row, each block read
     * them all from the L2 cache -- or beyond, for a strip larger). */
    int64_t cspan = (int64_t)C.nv * vl;
    IrExpr *clo = c_lo ? c_lo : I(L, 0), *chi = c_hi ? c_hi : S->OW;
    int32_t vw = lower_var(L, "w0"), l_ws = lower_local(L, IR_TYPE_I64);
    Stencil Cw = C;
    Cw.c_lo = get(S, l_ws);
    Cw.c_hi = add(L, get(S, l_ws), I(L, cspan));
    C.c_lo = c_lo;
    C.c_hi = c_hi;
    IrStmt *by_window = ir_block(a, (IrStmt *const[]){
        kl_set(L, l_ws, imin(L, add(L, clo, mul(L, V(L, vw), I(L, cspan))), sub(L, chi, I(L, cspan)))),
        column_rows(&Cw, n, first_in, rs, CR) }, 2);
    IrExpr *nwin = idiv(L, add(L, sub(L, chi, clo), I(L, cspan - 1)), I(L, cspan));
    IrStmt *windows = ir_for(a, vw, I(L, 0), nwin, by_window, IR_LOOP_KERNEL);
    if (known_width && owc >= cspan)
        ptrvec_push(a, &body, windows);
    else if (known_width)
        ptrvec_push(a, &body, column_rows(&C, n, first_in, rs, CR));
    else
        ptrvec_push(a, &body, ir_if(a, ir_bin(a, IR_OP_GE, sub(L, chi, clo), I(L, cspan)), windows,
                                    column_rows(&C, n, first_in, rs, CR)));

    IrExpr *items = mul(L, mul(L, S->planes, nblocks), ntiles);
    uint32_t flags = IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0);
    if (vblk < 0)
        return ir_for(a, vit, I(L, 0), items, lower_block(L, &body), flags);
    /* slot `it` makes strips [it*per, min((it+1)*per, items)) */
    IrExpr *slots = imin(L, items, I(L, STRIP_SLOTS));
    IrExpr *per = idiv(L, add(L, items, sub(L, slots, I(L, 1))), slots);
    IrStmt *range = ir_for(a, vblk, mul(L, it, per), imin(L, mul(L, add(L, it, I(L, 1)), per), items),
                           lower_block(L, &body), IR_LOOP_KERNEL);
    return ir_for(a, vit, I(L, 0), slots, range, flags);
}

IrStmt *kernel_stencil_rows(Lower *L, const Node *n)
{
    Arena *a = L->a;
    const StagePlan *plan = schedule_plan(L->sched, n);
    Stencil S_ = { .L = L, .n = n, .nparts = 1, .wtab = -1 };
    Stencil *S = &S_;
    S->x = n->in[0];
    S->w = n->in[1];
    S->store = schedule_store_node(L->sched, n);
    S->vl = L->sched->target.vlen;
    S->R = plan->nk;            /* rows of the block */
    S->tap_loop = plan->tap_loop && plan->algorithm != ALGO_SEPARABLE;
    S->nv = plan->nv;
    int32_t xr = S->x->shape.rank, orank = n->shape.rank, nsp;
    int64_t k[2] = { 1, 1 }, p0[2] = { 0, 0 }, p1[2] = { 0, 0 }, st[2] = { 1, 1 }, dl[2] = { 1, 1 };
    if (n->op == NODE_CONV) {
        const WindowParams *win = &n->conv.win;
        nsp = win->nsp;
        S->mode = n->conv.pad_mode;
        S->flip = n->conv.flip;
        for (int32_t i = 0; i < nsp; i++) {
            sym_is_const(win->k[i], &k[i]);
            sym_is_const(win->pad0[i], &p0[i]);
            sym_is_const(win->pad1[i], &p1[i]);
            st[i] = win->stride[i];
            dl[i] = win->dilation[i];
        }
    } else {
        /* convolve: out[o] = sum_t a[o + start - t] b[t]; correlate:
         * sum_t a[o + start - (n2-1) + t] b[t]; taps outside a skipped */
        nsp = n->shape.rank;
        S->mode = PAD_ZEROS;
        for (int32_t i = 0; i < nsp; i++) {
            int64_t start;
            sym_is_const(S->w->shape.dims[i], &k[i]);
            sym_is_const(n->signal.start[i], &start);
            dl[i] = n->signal.correlate ? 1 : -1;
            p0[i] = n->signal.correlate ? k[i] - 1 - start : -start;
        }
    }
    S->nsp = nsp;
    S->kh = nsp == 2 ? k[0] : 1;
    S->kw = k[nsp - 1];
    S->sy = nsp == 2 ? st[0] : 1;
    S->sx = st[nsp - 1];
    S->dy = nsp == 2 ? dl[0] : 1;
    S->dx = dl[nsp - 1];
    S->pt = nsp == 2 ? p0[0] : 0;
    S->pl = p0[nsp - 1];
    int64_t pr_x = p1[nsp - 1];
    S->IW = lower_dim(L, S->x->shape.dims[xr - 1]);
    S->IH = nsp == 2 ? lower_dim(L, S->x->shape.dims[xr - 2]) : I(L, 1);
    S->OW = lower_dim(L, n->shape.dims[orank - 1]);
    S->OH = nsp == 2 ? lower_dim(L, n->shape.dims[orank - 2]) : I(L, 1);
    S->planes = I(L, 1);
    for (int32_t i = 0; i < orank - nsp; i++)
        S->planes = mul(L, S->planes, lower_dim(L, n->shape.dims[i]));
    S->bx = lower_buffer_of(L, S->x);
    S->by = lower_buffer_of(L, S->store);
    S->xrank = xr;
    S->yrank = S->store->shape.rank;
    S->wrank = S->w->shape.rank;

    S->src_buf = S->bx;
    S->src_rank = S->xrank;
    S->src_pitch = S->IW;
    S->src_cols = S->IW;
    S->dst_buf = S->by;
    S->dst_rank = S->yrank;
    S->dst_pitch = S->OW;
    S->out_w = S->OW;
    S->dst_rows = S->OH;
    S->epilogue = true;
    S->stream = kl_stream_output(L, S->store, &S->stream_when);
    /* the output's size where it is known: planes x rows x columns */
    int64_t cplanes = 1, coh = 1, cow = 0;
    bool known = sym_is_const(n->shape.dims[orank - 1], &cow) &&
                 (nsp == 1 || sym_is_const(n->shape.dims[orank - 2], &coh));
    for (int32_t i = 0; known && i < orank - nsp; i++) {
        int64_t d;
        known = sym_is_const(n->shape.dims[i], &d);
        cplanes *= d;
    }
    if (plan->algorithm == ALGO_SEPARABLE)
        return separable_nest(S, plan, pr_x);
    int32_t vit = lower_var(L, "item");
    IrExpr *it = V(L, vit);
    PtrVec body = { 0 };
    S->l_plane = lower_local(L, IR_TYPE_I64);
    S->l_oy0 = lower_local(L, IR_TYPE_I64);
    IrExpr *nblocks = idiv(L, add(L, S->OH, I(L, S->R - 1)), I(L, S->R));
    /* Fewer than 16 blocks of rows in all (a 1-D signal is one): each row
     * in column parts too, so that every thread has work -- when the row
     * is known to hold at least 4 chunks a part. */
    S->nparts = 1;
    int64_t nrowitems = cplanes * ((coh + S->R - 1) / S->R);
    if (known && nrowitems > 0 && nrowitems < 16) {
        int64_t chunks = cow / ((int64_t)S->nv * S->vl);
        S->nparts = (16 + nrowitems - 1) / nrowitems;
        if (S->nparts > chunks / 4)
            S->nparts = chunks / 4 > 1 ? chunks / 4 : 1;
    }
    IrExpr *row_item = it;
    if (S->nparts > 1) {
        int32_t l_part = lower_local(L, IR_TYPE_I64);
        ptrvec_push(a, &body, kl_set(L, l_part, imod(L, it, I(L, S->nparts))));
        S->part = get(S, l_part);
        row_item = idiv(L, it, I(L, S->nparts));
    }
    ptrvec_push(a, &body, kl_set(L, S->l_plane, idiv(L, row_item, nblocks)));
    ptrvec_push(a, &body, kl_set(L, S->l_oy0, mul(L, imod(L, row_item, nblocks), I(L, S->R))));
    S->src_plane = mul(L, get(S, S->l_plane), mul(L, S->IH, S->IW));
    S->dst_plane = mul(L, get(S, S->l_plane), mul(L, S->OH, S->OW));
    S->dst_row0 = get(S, S->l_oy0);

    /* The input rows the block reads: offsets r*sy + ky*dy from the first
     * output row's, read in increasing kernel row for each output row --
     * increasing offsets, or decreasing when the kernel walks rows
     * backwards (convolve's flipped taps). */
    S->ymin = S->dy > 0 ? 0 : (S->kh - 1) * S->dy;
    int64_t span = (S->R - 1) * S->sy + (S->kh - 1) * (S->dy > 0 ? S->dy : -S->dy);
    S->nu = S->tap_loop ? 0 : span + 1;     /* a tap loop finds its rows itself */
    S->u_off = arena_array(a, (size_t)S->nu, sizeof *S->u_off);
    for (int64_t u = 0; u < S->nu; u++)
        S->u_off[u] = S->dy > 0 ? S->ymin + u : S->ymin + span - u;
    S->l_row = arena_array(a, (size_t)S->nu, sizeof *S->l_row);
    IrExpr *base = sub(L, mul(L, get(S, S->l_oy0), I(L, S->sy)), I(L, S->pt));
    for (int64_t u = 0; u < S->nu; u++) {
        S->l_row[u] = lower_local(L, IR_TYPE_I64);
        IrExpr *iy = add(L, base, I(L, S->u_off[u]));
        IrExpr *row = S->mode == PAD_ZEROS
            ? ir_select(a, kl_in_range(L, iy, S->IH), iy, I(L, -1))
            : remap(S, iy, S->IH);
        ptrvec_push(a, &body, kl_set(L, S->l_row[u], row));
    }

    ptrvec_push(a, &body, row_pass(S, n, pr_x));

    IrExpr *items = mul(L, mul(L, S->planes, nblocks), I(L, S->nparts));
    uint32_t flags = IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0);
    return ir_for(a, vit, I(L, 0), items, lower_block(L, &body), flags);
}
