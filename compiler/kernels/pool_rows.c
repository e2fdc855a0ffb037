/* kernels/pool_rows.c - max and average pooling with vectors along output
 * rows (KERNEL_POOL_ROWS, chosen by passes/kernels.c).
 *
 * A vector holds VL consecutive outputs of one output row.  Their windows
 * start s input columns apart, so tap (ky, kx) of the whole vector is one
 * load of input row oy*s - pad_top + ky*d whose lanes are s apart (a wide
 * load and a shuffle).  Within a row every lane sees the same kernel rows,
 * so rows outside the input are skipped by the row loop's bounds, exactly
 * as the scalar nest does; columns outside the input are skipped by lane
 * masks (a vector that touches neither side of the row, nor the row's
 * end, needs none).
 *
 * Exactness: per lane the sum over the visited taps in (ky, kx) order, as
 * the scalar nest adds them, then one division by the same count; or the
 * IEEE maximum of the visited taps, which is associative and commutative
 * (NaN-propagating, -0 below +0), so the kernel takes each row's taps as
 * a tree and the rows in turn, keeping the dependency chain short. */
#include <math.h>

#include "kernels.h"

typedef struct Pool {
    Lower      *L;
    const Node *n, *x, *store;
    int32_t     nsp, vl;
    int64_t     kh, kw, sy, sx, dy, dx, p0y, p0x, p1y, p1x;
    bool        is_max, count_pad;
    IrExpr     *IH, *IW, *OH, *OW, *planes;
    IrExpr     *row_origin;     /* input row held at the plane's first row */
    int32_t     bx, by, xrank, yrank;
} Pool;

static void read_geometry(Pool *P)
{
    Lower *L = P->L;
    const Node *n = P->n;
    const WindowParams *w = &n->pool.win;
    P->x = n->in[0];
    P->store = schedule_store_node(L->sched, n);
    P->nsp = w->nsp;
    P->vl = L->sched->target.vlen;
    P->is_max = n->pool.is_max;
    P->count_pad = n->pool.count_pad;
    int32_t nsp = w->nsp, xr = P->x->shape.rank, orank = n->shape.rank;
    int64_t k[2] = { 1, 1 }, p0[2] = { 0, 0 }, p1[2] = { 0, 0 };
    for (int32_t i = 0; i < nsp; i++) {
        sym_is_const(w->k[i], &k[i]);
        sym_is_const(w->pad0[i], &p0[i]);
        sym_is_const(w->pad1[i], &p1[i]);
    }
    int32_t iy = nsp == 2 ? 0 : -1, ix = nsp - 1;
    P->kh = iy >= 0 ? k[iy] : 1;
    P->kw = k[ix];
    P->sy = iy >= 0 ? w->stride[iy] : 1;
    P->sx = w->stride[ix];
    P->dy = iy >= 0 ? w->dilation[iy] : 1;
    P->dx = w->dilation[ix];
    P->p0y = iy >= 0 ? p0[iy] : 0;
    P->p1y = iy >= 0 ? p1[iy] : 0;
    P->p0x = p0[ix];
    P->p1x = p1[ix];
    P->IW = lower_dim(L, P->x->shape.dims[xr - 1]);
    P->IH = nsp == 2 ? lower_dim(L, P->x->shape.dims[xr - 2]) : I(L, 1);
    P->OW = lower_dim(L, n->shape.dims[orank - 1]);
    P->OH = nsp == 2 ? lower_dim(L, n->shape.dims[orank - 2]) : I(L, 1);
    P->planes = I(L, 1);
    for (int32_t i = 0; i < orank - nsp; i++)
        P->planes = mul(L, P->planes, lower_dim(L, n->shape.dims[i]));
    P->bx = lower_buffer_of(L, P->x);
    P->by = lower_buffer_of(L, P->store);
    P->xrank = xr;
    P->yrank = P->store->shape.rank;
    P->row_origin = I(L, 0);
}

/* One vector of outputs: row oy, columns ox0 .. ox0+VL-1.  interior: every
 * lane an output and every tap column inside the row. */
static IrStmt *vector_body(Pool *P, IrExpr *plane_in, IrExpr *plane_out, IrExpr *oy, IrExpr *ox0,
                           IrExpr *ylo, IrExpr *yhi, bool interior)
{
    Lower *L = P->L;
    Arena *a = L->a;
    PtrVec out = { 0 };
    int32_t acc = lower_local(L, IR_TYPE_VF32);
    ptrvec_push(a, &out, kl_set(L, acc, ir_broadcast(a, ir_float(a, P->is_max ? -INFINITY : 0.0f))));
    IrExpr *oxv = ir_bin(a, IR_OP_ADD, ir_broadcast(a, ox0), ir_iota(a));
    IrExpr *lanes = interior ? NULL : ir_bin(a, IR_OP_LT, oxv, P->OW);
    /* first input column of each lane's window */
    IrExpr *cs = ir_bin(a, IR_OP_SUB, ir_bin(a, IR_OP_MUL, oxv, I(L, P->sx)), I(L, P->p0x));
    int32_t vky = lower_var(L, "ky");
    IrExpr *ky = V(L, vky);
    IrExpr *iy = add(L, sub(L, mul(L, oy, I(L, P->sy)), I(L, P->p0y)), mul(L, ky, I(L, P->dy)));
    IrExpr *row = add(L, plane_in, mul(L, sub(L, iy, P->row_origin), P->IW));
    IrExpr *c0 = sub(L, mul(L, ox0, I(L, P->sx)), I(L, P->p0x));
    PtrVec taps = { 0 };
    IrExpr *vals[KERNEL_MAX_TAPS];
    for (int64_t kx = 0; kx < P->kw; kx++) {
        IrExpr *m = NULL;
        if (!interior) {
            int32_t ml = lower_local(L, IR_TYPE_VBOOL);
            IrExpr *col = ir_bin(a, IR_OP_ADD, cs, I(L, kx * P->dx));
            ptrvec_push(a, &out, kl_set(L, ml, kl_and(L, lanes, kl_in_range(L, col, P->IW))));
            m = kl_get(L, ml);
        }
        IrExpr *lin = add(L, add(L, row, c0), I(L, kx * P->dx));
        IrExpr *v = ir_vload_strided(a, P->bx, P->xrank, kl_lin(L, P->xrank, lin), m, (int32_t)P->sx);
        if (P->is_max) {
            /* a skipped tap is -inf, which leaves any maximum as it is */
            vals[kx] = m ? ir_select(a, m, v, ir_broadcast(a, ir_float(a, -INFINITY))) : v;
            continue;
        }
        IrExpr *r = ir_bin(a, IR_OP_ADD, kl_get(L, acc), v);
        if (m)
            r = ir_select(a, m, r, kl_get(L, acc));
        ptrvec_push(a, &taps, kl_set(L, acc, r));
    }
    if (P->is_max) {
        /* The row's taps as a balanced tree, then into the accumulator:
         * the IEEE maximum (NaN-propagating, -0 below +0) is associative
         * and commutative, so every order gives the scalar nest's result,
         * and the chain through the accumulator is one maximum a row
         * instead of one a tap. */
        ptrvec_push(a, &taps, kl_set(L, acc, ir_bin(a, IR_OP_MAX, kl_get(L, acc),
                                                     kl_max_tree(L, vals, P->kw))));
    }
    ptrvec_push(a, &out, ir_for(a, vky, ylo, yhi, lower_block(L, &taps), IR_LOOP_KERNEL));
    IrExpr *result = kl_get(L, acc);
    if (!P->is_max) {
        /* the scalar nest's divisor, lane by lane */
        IrExpr *count;
        if (P->count_pad) {
            IrExpr *ys = sub(L, mul(L, oy, I(L, P->sy)), I(L, P->p0y));
            IrExpr *ye = imin(L, add(L, ys, I(L, P->kh)), add(L, P->IH, I(L, P->p1y)));
            IrExpr *xe = ir_bin(a, IR_OP_MIN, ir_bin(a, IR_OP_ADD, cs, I(L, P->kw)),
                                add(L, P->IW, I(L, P->p1x)));
            count = ir_bin(a, IR_OP_MUL, ir_broadcast(a, sub(L, ye, ys)), ir_bin(a, IR_OP_SUB, xe, cs));
        } else {
            /* visited columns: lo = max(0, ceil(-cs/d)), hi = min(k, floor((W-1-cs)/d) + 1) */
            IrExpr *neg = ir_bin(a, IR_OP_DIV, cs, I(L, P->dx));
            IrExpr *lo = ir_bin(a, IR_OP_MAX, I(L, 0), ir_bin(a, IR_OP_SUB, I(L, 0), neg));
            IrExpr *hi = ir_bin(a, IR_OP_MIN, I(L, P->kw),
                                ir_bin(a, IR_OP_ADD, ir_bin(a, IR_OP_DIV,
                                    ir_bin(a, IR_OP_SUB, sub(L, P->IW, I(L, 1)), cs), I(L, P->dx)),
                                       I(L, 1)));
            count = ir_bin(a, IR_OP_MUL, ir_broadcast(a, sub(L, yhi, ylo)), ir_bin(a, IR_OP_SUB, hi, lo));
        }
        result = ir_bin(a, IR_OP_DIV, result, ir_un(a, IR_FN_TO_F32, count));
    }
    IrExpr *olin = add(L, add(L, plane_out, mul(L, oy, P->OW)), ox0);
    ptrvec_push(a, &out, ir_vstore(a, P->by, P->yrank, kl_lin(L, P->yrank, olin),
                                   kl_epilogue(L, P->n, result, olin, lanes), lanes));
    return lower_block(L, &out);
}

/* Output rows [r0, r1) of one plane: per row the visited kernel rows, then
 * the row's vectors, each interior or border. */
static IrStmt *rows_range(Pool *P, IrExpr *plane_in, IrExpr *plane_out, IrExpr *r0, IrExpr *r1)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t vl = P->vl;
    int32_t voy = lower_var(L, "oy"), vx = lower_var(L, "vx");
    IrExpr *oy = V(L, voy), *ox0 = mul(L, V(L, vx), I(L, vl));
    /* visited kernel rows: iy = oy*s - p0 + ky*d inside [0, IH) */
    IrExpr *base = sub(L, mul(L, oy, I(L, P->sy)), I(L, P->p0y));
    IrExpr *ylo = imax(L, I(L, 0), sub(L, I(L, 0), idiv(L, base, I(L, P->dy))));
    IrExpr *yhi = imin(L, I(L, P->kh), add(L, idiv(L, sub(L, sub(L, P->IH, I(L, 1)), base),
                                                   I(L, P->dy)), I(L, 1)));
    int32_t lylo = lower_local(L, IR_TYPE_I64), lyhi = lower_local(L, IR_TYPE_I64);
    /* interior vector: all lanes outputs, the first window starts inside
     * the row and the wide load of the last tap ends inside it */
    IrExpr *c0 = sub(L, mul(L, ox0, I(L, P->sx)), I(L, P->p0x));
    IrExpr *span = I(L, (P->kw - 1) * P->dx + (int64_t)vl * P->sx);
    IrExpr *interior = ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_LE, add(L, ox0, I(L, vl)), P->OW),
        ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, c0, I(L, 0)),
               ir_bin(a, IR_OP_LE, add(L, c0, span), P->IW)));
    IrExpr *vylo = kl_get(L, lylo), *vyhi = kl_get(L, lyhi);
    IrStmt *vec = ir_if(a, interior, vector_body(P, plane_in, plane_out, oy, ox0, vylo, vyhi, true),
                        vector_body(P, plane_in, plane_out, oy, ox0, vylo, vyhi, false));
    IrExpr *nvec = idiv(L, add(L, P->OW, I(L, vl - 1)), I(L, vl));
    IrStmt *row = ir_block(a, (IrStmt *const[]){
        kl_set(L, lylo, ylo), kl_set(L, lyhi, yhi),
        ir_for(a, vx, I(L, 0), nvec, vec, IR_LOOP_KERNEL) }, 3);
    return ir_for(a, voy, r0, r1, row, IR_LOOP_KERNEL);
}

IrStmt *kernel_pool_rows_range(Lower *L, const Node *pool, int32_t bx, int32_t xrank,
                               IrExpr *in_base, IrExpr *row_origin, IrExpr *out_base,
                               IrExpr *pr0, IrExpr *pr1)
{
    Pool P_ = { .L = L, .n = pool };
    Pool *P = &P_;
    read_geometry(P);
    P->bx = bx;
    P->xrank = xrank;
    P->row_origin = row_origin;
    return rows_range(P, in_base, out_base, pr0, pr1);
}

IrStmt *kernel_pool_rows(Lower *L, const Node *n)
{
    Arena *a = L->a;
    Pool P_ = { .L = L, .n = n };
    Pool *P = &P_;
    read_geometry(P);
    int32_t vl = P->vl;

    /* Work items: a plane and a block of output rows, about 32 vectors. */
    int64_t owc, rows = 1;
    if (sym_is_const(n->shape.dims[n->shape.rank - 1], &owc)) {
        int64_t nvec = (owc + vl - 1) / vl;
        rows = nvec >= 32 ? 1 : (32 + nvec - 1) / nvec;
    }
    IrExpr *nrb = idiv(L, add(L, P->OH, I(L, rows - 1)), I(L, rows));
    IrExpr *items = mul(L, P->planes, nrb);
    int32_t vit = lower_var(L, "item");
    IrExpr *it = V(L, vit);
    int32_t lplane = lower_local(L, IR_TYPE_I64), lrb = lower_local(L, IR_TYPE_I64);
    PtrVec body = { 0 };
    ptrvec_push(a, &body, kl_set(L, lplane, idiv(L, it, nrb)));
    ptrvec_push(a, &body, kl_set(L, lrb, imod(L, it, nrb)));
    IrExpr *plane_in = mul(L, kl_get(L, lplane), mul(L, P->IH, P->IW));
    IrExpr *plane_out = mul(L, kl_get(L, lplane), mul(L, P->OH, P->OW));
    IrExpr *r0 = mul(L, kl_get(L, lrb), I(L, rows));
    ptrvec_push(a, &body, rows_range(P, plane_in, plane_out, r0, imin(L, add(L, r0, I(L, rows)), P->OH)));
    uint32_t flags = IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0);
    return ir_for(a, vit, I(L, 0), items, lower_block(L, &body), flags);
}
