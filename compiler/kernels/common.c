/* kernels/common.c - helpers shared by the micro-kernel emitters. */
#include "kernels.h"

IrExpr **kl_lin(Lower *L, int32_t rank, IrExpr *lin)
{
    IrExpr **idx = arena_array(L->a, (size_t)rank, sizeof *idx);
    for (int32_t i = 0; i + 1 < rank; i++)
        idx[i] = I(L, 0);
    idx[rank - 1] = lin;
    return idx;
}

IrExpr *kl_and(Lower *L, IrExpr *a, IrExpr *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return ir_bin(L->a, IR_OP_AND, a, b);
}

IrExpr *kl_in_range(Lower *L, IrExpr *v, IrExpr *hi)
{
    Arena *a = L->a;
    return ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, v, I(L, 0)), ir_bin(a, IR_OP_LT, v, hi));
}

/* n's value as a vector at linear position lin of a tensor shaped like the
 * producer's output; `prev` stands for `prev_val` (the chain so far). */
static IrExpr *vvalue(Lower *L, const Node *n, IrExpr *lin, IrExpr *lanes, IrExpr *mask,
                      const Node *prev, IrExpr *prev_val)
{
    if (n == prev)
        return prev_val;
    int32_t b = lower_buffer_of(L, n);
    if (b >= 0) {
        IrExpr **idx = kl_lin(L, n->shape.rank, lin);
        return lanes ? ir_vgather(L->a, b, n->shape.rank, idx, lanes, mask)
                     : ir_vload(L->a, b, n->shape.rank, idx, mask);
    }
    IrExpr *x = n->nin > 0 ? vvalue(L, n->in[0], lin, lanes, mask, prev, prev_val) : NULL;
    IrExpr *y = n->nin > 1 ? vvalue(L, n->in[1], lin, lanes, mask, prev, prev_val) : NULL;
    return lower_elementwise(L, n, x, y);
}

IrExpr *kl_epilogue_lanes(Lower *L, const Node *n, IrExpr *acc, IrExpr *lin, IrExpr *lanes,
                          IrExpr *mask)
{
    const StagePlan *plan = schedule_plan(L->sched, n);
    const Node *prev = n;
    IrExpr *val = acc;
    for (int32_t i = 0; i < plan->nepilogue; i++) {
        const Node *e = plan->epilogue[i];
        IrExpr *x = e->nin > 0 ? vvalue(L, e->in[0], lin, lanes, mask, prev, val) : NULL;
        IrExpr *y = e->nin > 1 ? vvalue(L, e->in[1], lin, lanes, mask, prev, val) : NULL;
        val = lower_elementwise(L, e, x, y);
        prev = e;
    }
    return val;
}

IrExpr *kl_epilogue(Lower *L, const Node *n, IrExpr *acc, IrExpr *lin, IrExpr *mask)
{
    return kl_epilogue_lanes(L, n, acc, lin, NULL, mask);
}

IrExpr *kl_max_tree(Lower *L, IrExpr **vals, int64_t n)
{
    while (n > 1) {
        for (int64_t i = 0; i < n / 2; i++)
            vals[i] = ir_bin(L->a, IR_OP_MAX, vals[2 * i], vals[2 * i + 1]);
        if (n % 2)
            vals[n / 2] = vals[n - 1];
        n = (n + 1) / 2;
    }
    return vals[0];
}

bool kl_stream_output(Lower *L, const Node *store, IrExpr **when)
{
    *when = NULL;
    if (!L->sched->is_output[store->id])
        return false;
    IrExpr *bytes = ir_int(L->a, 4);
    for (int32_t i = 0; i < store->shape.rank; i++)
        bytes = ir_bin(L->a, IR_OP_MUL, bytes, lower_dim(L, store->shape.dims[i]));
    int64_t least = L->sched->target.stream_min_bytes;
    if (bytes->kind == IR_EXPR_INT)
        return bytes->ival >= least;
    *when = ir_bin(L->a, IR_OP_GE, bytes, ir_int(L->a, least));
    return true;
}

IrStmt *kl_store_full(Lower *L, bool stream, IrExpr *when, int32_t buf, int32_t rank, IrExpr *lin,
                      IrExpr *val)
{
    IrStmt *plain = ir_vstore(L->a, buf, rank, kl_lin(L, rank, lin), val, NULL);
    if (!stream)
        return plain;
    IrStmt *nt = ir_vstore_stream(L->a, buf, rank, kl_lin(L, rank, lin), val);
    return when ? ir_if(L->a, when, nt, plain) : nt;
}

/* Rows r and r + h of the matrix become x[lo] and x[hi], indices into
 * the concatenation of the two rows. */
static void exchange(Lower *L, PtrVec *out, const int32_t *rows, int32_t r, int32_t h,
                     const int32_t *lo, const int32_t *hi, int32_t vl)
{
    Arena *a = L->a;
    int32_t tmp = lower_local(L, IR_TYPE_VF32);
    IrExpr *x = kl_get(L, rows[r]), *y = kl_get(L, rows[r + h]);
    ptrvec_push(a, out, kl_set(L, tmp, ir_shuffle(a, x, y, lo, vl)));
    ptrvec_push(a, out, kl_set(L, rows[r + h], ir_shuffle(a, x, y, hi, vl)));
    ptrvec_push(a, out, kl_set(L, rows[r], kl_get(L, tmp)));
}

/* Stage h swaps, within each 2h x 2h block, the upper right h x h block
 * with the lower left one: rows r and r + h (bit h of r clear) exchange
 * the lanes whose bit h differs from the row's.  After the stages for
 * h = 1, 2, .., vl/2 every element has moved from (r, c) to (c, r).
 * With 16 lanes the stages h = 1, 2 transpose the 4 x 4 blocks within
 * each 128-bit quarter, and the quarters follow in two stages of the
 * same shape, rows r and r + 4, then r and r + 8, becoming [x0 x2 y0 y2]
 * and [x1 x3 y1 y3] (quarters of x and y): each one vshuff32x4, where
 * the stage h = 4 ([x0 y0 x2 y2]) takes a two-source permute with an
 * index register.  Interleaved with FMAs on znver4, a 16 x 16 piece
 * costs about 26 cycles of FMAs against 37 (two in-lane stages, then
 * the butterfly's). */
void kl_transpose(Lower *L, PtrVec *out, const int32_t *rows, int32_t vl)
{
    int32_t lo[64], hi[64];
    bool quarters = vl == 16;
    for (int32_t h = 1; h < (quarters ? 4 : vl); h *= 2) {
        for (int32_t p = 0; p < vl; p++) {
            lo[p] = p & h ? vl + p - h : p;     /* row r keeps its lanes with bit h clear */
            hi[p] = p & h ? vl + p : p + h;     /* row r + h keeps those with it set */
        }
        for (int32_t r = 0; r < vl; r++)
            if (!(r & h))
                exchange(L, out, rows, r, h, lo, hi, vl);
    }
    if (!quarters)
        return;
    for (int32_t p = 0; p < vl; p++) {
        int32_t q = p / 4, k = p % 4, src = q < 2 ? 0 : vl;    /* lane k of quarter q */
        lo[p] = src + (2 * (q % 2)) * 4 + k;                    /* x0 x2 y0 y2 */
        hi[p] = src + (2 * (q % 2) + 1) * 4 + k;                /* x1 x3 y1 y3 */
    }
    for (int32_t h = 4; h < vl; h *= 2)
        for (int32_t r = 0; r < vl; r++)
            if (!(r & h))
                exchange(L, out, rows, r, h, lo, hi, vl);
}
