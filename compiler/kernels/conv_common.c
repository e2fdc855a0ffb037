/* kernels/conv_common.c - geometry, weight packing and phase copies for
 * the convolution micro-kernels (kernels/conv.h). */
#include "conv.h"

static int64_t floordiv64(int64_t a, int64_t b) { return a / b - (a % b != 0 && a < 0); }

/* ---- weights ------------------------------------------------------------ */

/* Index of output channel k, input channel c, tap (ky, kx) in the script's
 * weight, with flip applied. */
static void weight_index(Conv *P, IrExpr *k, IrExpr *c, IrExpr *ky, IrExpr *kx, IrExpr **wi)
{
    Lower *L = P->L;
    if (P->flip) {
        ky = sub(L, I(L, P->kh - 1), ky);
        kx = sub(L, I(L, P->kw - 1), kx);
    }
    wi[0] = k;
    wi[1] = c;
    if (P->w->shape.rank == 4) {
        wi[2] = ky;
        wi[3] = kx;
    } else if (P->w->shape.rank == 3) {
        wi[2] = kx;
    }                               /* rank 2: a 1x1 kernel as [K, C] */
}

/* A packing nest's outer loop over the blocks (parallel), put in the
 * call's prologue; returns the packed buffer b. */
static int32_t pack_nest(Conv *P, int32_t b, int32_t vgb, int64_t nblk, IrStmt *per_block)
{
    Lower *L = P->L;
    IrStmt *st = ir_for(L->a, vgb, I(L, 0), I(L, nblk), per_block,
                        IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0));
    ptrvec_push(L->pa, &L->prologue, st);
    return b;
}

/* The packing nest for weights in a buffer: for each block, input
 * channel and tap, the block's nk weights gathered a vector at a time
 * (lane j from output channel k0 + j, Cg*ntaps apart in the weight),
 * lanes past the group's last channel 0.  A copy, exact by nature. */
static int32_t pack_weights_gather(Conv *P, int32_t b, int32_t wb, int64_t nblk)
{
    Lower *L = P->L;
    Arena *a = L->a;
    const Node *w = P->w;
    int32_t vl = P->vl;
    int32_t vgb = lower_var(L, "gb"), vc = lower_var(L, "c"), vt = lower_var(L, "tap"),
            vjv = lower_var(L, "jv");
    IrExpr *gb = V(L, vgb), *c = V(L, vc), *t = V(L, vt);
    IrExpr *ctaps = mul(L, P->Cg, I(L, P->ntaps));
    /* the first lane's channel within the group, and in the weight */
    IrExpr *j0 = mul(L, V(L, vjv), I(L, vl));
    IrExpr *k = add(L, mul(L, imod(L, gb, I(L, P->nkbg)), I(L, P->nk)), j0);
    IrExpr *kglob = add(L, mul(L, idiv(L, gb, I(L, P->nkbg)), I(L, P->Kg)), k);
    IrExpr *tap = P->flip ? sub(L, I(L, P->ntaps - 1), t) : t;
    IrExpr *src = add(L, add(L, mul(L, kglob, ctaps), mul(L, c, I(L, P->ntaps))), tap);
    IrExpr *lane = ir_iota(a);
    IrExpr *in_block = ir_bin(a, IR_OP_LT, ir_bin(a, IR_OP_ADD, ir_broadcast(a, j0), lane),
                              I(L, P->nk));
    IrExpr *in_group = ir_bin(a, IR_OP_LT, ir_bin(a, IR_OP_ADD, ir_broadcast(a, k), lane),
                              I(L, P->Kg));
    IrExpr *val = ir_vgather(a, wb, w->shape.rank, kl_lin(L, w->shape.rank, src),
                             ir_bin(a, IR_OP_MUL, lane, ctaps), kl_and(L, in_block, in_group));
    IrExpr *dst = add(L, mul(L, add(L, mul(L, gb, P->Cg), c), I(L, P->ntaps * P->nk)),
                      add(L, mul(L, t, I(L, P->nk)), j0));
    IrStmt *st = ir_vstore(a, b, 4, kl_lin(L, 4, dst), val, P->nk % vl ? in_block : NULL);
    st = ir_for(a, vjv, I(L, 0), I(L, (P->nk + vl - 1) / vl), st, IR_LOOP_KERNEL);
    st = ir_for(a, vt, I(L, 0), I(L, P->ntaps), st, IR_LOOP_KERNEL);
    return pack_nest(P, b, vgb, nblk, ir_for(a, vc, I(L, 0), P->Cg, st, IR_LOOP_KERNEL));
}

/* The same by transposition, for blocks of whole vectors (nk a multiple
 * of vl) and taps in the script's order (no flip): for block gb the
 * packed weights [Cg*ntaps][nk] are the transpose of the block's nk rows
 * of Cg*ntaps weights.  Each vl x vl piece is vl row loads (masked past
 * the last tap and the group's last channel), kl_transpose and vl
 * stores: for the 128 x 128 x 3 x 3 weights of a strided layer, a
 * quarter of the gathering nest's time.  conv_pack_piece: the pieces of
 * positions [qb*vl, qb*vl + vl) of block gb, for every vl of its nk
 * channels. */
IrStmt *conv_pack_piece(Conv *P, IrExpr *gb, IrExpr *qb)
{
    Lower *L = P->L;
    Arena *a = L->a;
    int32_t vl = P->vl, wr = P->w->shape.rank, b = P->bwp, wb = P->bwsrc;
    int32_t vjv = lower_var(L, "jv");
    IrExpr *q0 = mul(L, qb, I(L, vl));
    IrExpr *Q = mul(L, P->Cg, I(L, P->ntaps));
    bool qtail = !(Q->kind == IR_EXPR_INT && Q->ival % vl == 0);
    /* the channel within its group of the piece's first row, and in the weight */
    IrExpr *k0 = add(L, mul(L, imod(L, gb, I(L, P->nkbg)), I(L, P->nk)), mul(L, V(L, vjv), I(L, vl)));
    IrExpr *kg0 = add(L, conv_block_row(P, gb), mul(L, V(L, vjv), I(L, vl)));
    IrExpr *cols = qtail ? kl_in_range(L, ir_bin(a, IR_OP_ADD, ir_broadcast(a, q0), ir_iota(a)),
                                       Q)
                         : NULL;
    PtrVec body = { 0 };
    int32_t rows[64];
    for (int32_t r = 0; r < vl; r++) {
        rows[r] = lower_local(L, IR_TYPE_VF32);
        IrExpr *m = cols;
        if (P->Kg % P->nk)
            m = kl_and(L, m, ir_broadcast(a, ir_bin(a, IR_OP_LT, add(L, k0, I(L, r)), I(L, P->Kg))));
        IrExpr *src = add(L, mul(L, add(L, kg0, I(L, r)), Q), q0);
        ptrvec_push(a, &body, kl_set(L, rows[r], ir_vload(a, wb, wr, kl_lin(L, wr, src), m)));
    }
    kl_transpose(L, &body, rows, vl);
    for (int32_t r = 0; r < vl; r++) {
        IrExpr *q = add(L, q0, I(L, r));
        IrExpr *blk = P->pack_items ? I(L, 0) : gb;    /* the item's own block buffer */
        IrExpr *dst = add(L, mul(L, add(L, mul(L, blk, Q), q), I(L, P->nk)), mul(L, V(L, vjv), I(L, vl)));
        IrStmt *st = ir_vstore(a, b, 4, kl_lin(L, 4, dst), kl_get(L, rows[r]), NULL);
        ptrvec_push(a, &body, qtail ? ir_if(a, ir_bin(a, IR_OP_LT, q, Q), st, NULL) : st);
    }
    return ir_for(a, vjv, I(L, 0), I(L, P->nk / vl), lower_block(L, &body), IR_LOOP_KERNEL);
}

/* The weight's row (output channel) of block gb's first channel. */
IrExpr *conv_block_row(Conv *P, IrExpr *gb)
{
    Lower *L = P->L;
    return add(L, mul(L, idiv(L, gb, I(L, P->nkbg)), I(L, P->Kg)), mul(L, imod(L, gb, I(L, P->nkbg)), I(L, P->nk)));
}

/* The pieces of a block: ceil(Cg*ntaps / vl). */
IrExpr *conv_pack_pieces(Conv *P)
{
    Lower *L = P->L;
    return idiv(L, add(L, mul(L, P->Cg, I(L, P->ntaps)), I(L, P->vl - 1)), I(L, P->vl));
}

static int32_t pack_weights_transpose(Conv *P, int64_t nblk)
{
    Lower *L = P->L;
    int32_t vgb = lower_var(L, "gb"), vqb = lower_var(L, "qb");
    IrStmt *st = conv_pack_piece(P, V(L, vgb), V(L, vqb));
    return pack_nest(P, P->bwp, vgb, nblk,
                     ir_for(L->a, vqb, I(L, 0), conv_pack_pieces(P), st, IR_LOOP_KERNEL));
}

/* Packed layout: [G*nkbg][Cg][ntaps][nk], channels past the group's last
 * zero-filled. */
static int32_t pack_weights(Conv *P)
{
    Lower *L = P->L;
    Arena *a = L->a;
    const Node *w = P->w;
    int64_t nblk = P->G * P->nkbg;
    Shape s = shape_make(a, 4);
    s.dims[0] = sym_const(&L->sc, nblk);
    s.dims[1] = w->shape.dims[1];
    s.dims[2] = sym_const(&L->sc, P->ntaps);
    s.dims[3] = sym_const(&L->sc, P->nk);
    const char *name = arena_printf(a, "%s_packed", w->name ? w->name : "w");
    int64_t cg;
    if (w->op == NODE_CONST && sym_is_const(w->shape.dims[1], &cg)) {
        int64_t count = nblk * cg * P->ntaps * P->nk;
        float *d = arena_array(L->pa, (size_t)count, sizeof *d);
        for (int64_t gb = 0; gb < nblk; gb++)
            for (int64_t c = 0; c < cg; c++)
                for (int64_t t = 0; t < P->ntaps; t++)
                    for (int64_t j = 0; j < P->nk; j++) {
                        int64_t g = gb / P->nkbg, k = (gb % P->nkbg) * P->nk + j;
                        int64_t ky = t / P->kw, kx = t % P->kw;
                        if (P->flip) {
                            ky = P->kh - 1 - ky;
                            kx = P->kw - 1 - kx;
                        }
                        float v = 0.0f;
                        if (k < P->Kg)
                            v = w->cst.data[((g * P->Kg + k) * cg + c) * P->ntaps + ky * P->kw + kx];
                        d[((gb * cg + c) * P->ntaps + t) * P->nk + j] = v;
                    }
        return lower_const(L, name, s, d, count);
    }
    /* packed by a nest at the start of every call, or by the kernel's
     * work items where the plan says so and they can (by transposition),
     * each item a block into a buffer of its own (on its stack) */
    int32_t wb = lower_buffer_of(L, w);
    bool transposable = wb >= 0 && !P->flip && P->nk % P->vl == 0 && P->vl <= 64;
    P->bwsrc = wb;
    if (transposable && schedule_plan(L->sched, P->n)->pack_in_items) {
        s.dims[0] = sym_const(&L->sc, 1);
        P->pack_items = true;
        return P->bwp = lower_local_buffer(L, name, s);
    }
    int32_t b = lower_scratch(L, name, s);
    if (transposable) {
        P->bwp = b;
        return pack_weights_transpose(P, nblk);
    }
    if (wb >= 0)
        return pack_weights_gather(P, b, wb, nblk);
    int32_t vgb = lower_var(L, "gb"), vc = lower_var(L, "c"), vt = lower_var(L, "tap"),
            vj = lower_var(L, "j");
    IrExpr *gb = V(L, vgb), *t = V(L, vt), *j = V(L, vj);
    IrExpr *k = add(L, mul(L, imod(L, gb, I(L, P->nkbg)), I(L, P->nk)), j);
    IrExpr *kglob = add(L, mul(L, idiv(L, gb, I(L, P->nkbg)), I(L, P->Kg)), k);
    IrExpr *wi[4];
    weight_index(P, kglob, V(L, vc), idiv(L, t, I(L, P->kw)), imod(L, t, I(L, P->kw)), wi);
    IrExpr *val = ir_select(a, ir_bin(a, IR_OP_LT, k, I(L, P->Kg)), lower_value(L, w, wi),
                            ir_float(a, 0.0f));
    IrStmt *st = ir_store(a, b, 4, (IrExpr *const[]){ gb, V(L, vc), t, j }, val);
    /* a small pass over the weights: left as written (no vectorising or
     * unrolling, which would only cost compile time) */
    st = ir_for(a, vj, I(L, 0), I(L, P->nk), st, IR_LOOP_KERNEL);
    st = ir_for(a, vt, I(L, 0), I(L, P->ntaps), st, IR_LOOP_KERNEL);
    return pack_nest(P, b, vgb, nblk, ir_for(a, vc, I(L, 0), P->Cg, st, IR_LOOP_KERNEL));
}

/* ---- the phase copy ------------------------------------------------------ */

/* xph[(n*C + c)*nph + phase][r][col] = x[n, c, r*sy + py, col*sx + px]
 * (0 where that is outside the input: those places are never read).
 * LAYOUT_LINES: one phase, the planes Hp*Wv rounded up to 16 floats
 * apart; the places between them are not written, and only lanes that
 * are not stored read them. */
static IrStmt *phase_copy(Conv *P, int32_t nph, const int64_t *phy, const int64_t *phx)
{
    Lower *L = P->L;
    Arena *a = L->a;
    const Node *x = P->x;
    int32_t xr = x->shape.rank, nsp = P->nsp;
    Shape s = shape_make(a, 3);
    const SymExpr *planes = sym_const(&L->sc, nph);
    for (int32_t i = 0; i < xr - nsp; i++)
        planes = sym_mul(&L->sc, planes, x->shape.dims[i]);
    /* the plane sizes as dims: rows ceil(IH/sy), pitch max(ceil(IW/sx), OW) */
    const SymExpr *ih = nsp == 2 ? x->shape.dims[xr - 2] : sym_const(&L->sc, 1);
    const SymExpr *hp = sym_ceildiv(&L->sc, ih, sym_const(&L->sc, P->sy));
    const SymExpr *wp = sym_max(&L->sc, sym_ceildiv(&L->sc, x->shape.dims[xr - 1],
                                                    sym_const(&L->sc, P->sx)),
                                P->n->shape.dims[P->n->shape.rank - 1]);
    s.dims[0] = planes;
    s.dims[1] = hp;
    s.dims[2] = wp;
    /* LAYOUT_LINES: each plane's size rounded up to whole lines of 16
     * floats, one row of that many in the buffer's shape */
    bool lines = schedule_plan(L->sched, P->n)->input_layout == LAYOUT_LINES;
    const SymExpr *line = sym_const(&L->sc, 16);
    if (lines) {
        s.dims[1] = sym_const(&L->sc, 1);
        s.dims[2] = sym_mul(&L->sc, sym_ceildiv(&L->sc, sym_mul(&L->sc, hp, wp), line), line);
    }
    P->bx = lower_scratch(L, arena_printf(a, "%s_phases", x->name ? x->name : "x"), s);
    P->Hp = lower_dim(L, hp);
    P->Wv = lower_dim(L, wp);
    P->pstride = lines ? lower_dim(L, s.dims[2]) : mul(L, P->Hp, P->Wv);

    int32_t vn = lower_var(L, "nc"), vp = lower_var(L, "phase"), vr = lower_var(L, "r"),
            vcv = lower_var(L, "cv");
    IrExpr *nc = V(L, vn), *ph = V(L, vp), *r = V(L, vr);
    /* the phase's (py, px): a select chain over the few copied phases,
     * constants once the phase loop is unrolled */
    IrExpr *py = I(L, phy[nph - 1]), *px = I(L, phx[nph - 1]);
    for (int32_t i = nph - 2; i >= 0; i--) {
        IrExpr *is = ir_bin(a, IR_OP_EQ, ph, I(L, i));
        py = ir_select(a, is, I(L, phy[i]), py);
        px = ir_select(a, is, I(L, phx[i]), px);
    }
    /* a vector of the phase row's columns: an input row's lanes sx apart;
     * places past the input are zero (they are never read as taps) */
    int32_t vl = P->vl;
    IrExpr *col0 = mul(L, V(L, vcv), I(L, vl));
    IrExpr *cols = ir_bin(a, IR_OP_ADD, ir_broadcast(a, col0), ir_iota(a));
    IrExpr *iy = add(L, mul(L, r, I(L, P->sy)), py);
    IrExpr *inrow = ir_bin(a, IR_OP_LT, cols, P->Wv);
    IrExpr *m = kl_and(L, inrow, ir_bin(a, IR_OP_LT, ir_bin(a, IR_OP_ADD,
                                                            ir_bin(a, IR_OP_MUL, cols, I(L, P->sx)), px), P->IW));
    m = kl_and(L, m, ir_broadcast(a, ir_bin(a, IR_OP_LT, iy, P->IH)));
    /* x as [batch.. * C planes][IH][IW] by linear position */
    IrExpr *lin = add(L, add(L, mul(L, add(L, mul(L, nc, P->IH), iy), P->IW), mul(L, col0, I(L, P->sx))), px);
    int32_t bxin = lower_buffer_of(L, x);
    IrExpr *val = ir_vload_strided(a, bxin, xr, kl_lin(L, xr, lin), m, (int32_t)P->sx);
    IrExpr *dst = add(L, add(L, mul(L, add(L, mul(L, nc, I(L, nph)), ph), P->pstride), mul(L, r, P->Wv)), col0);
    IrStmt *st = ir_vstore(a, P->bx, 3, kl_lin(L, 3, dst), val, inrow);
    /* A vector whose lanes are all inside the phase row and whose wide
     * load (vl*sx elements from its first lane) stays inside the input
     * row: a plain load and store.  Masked loads and stores are what the
     * copy spent its time on where masks live in vector registers (AVX2:
     * 1x1/2 256->512 from 56x56, the copy 19% of the call). */
    IrExpr *full = ir_bin(a, IR_OP_LE, add(L, col0, I(L, vl)), P->Wv);
    full = ir_bin(a, IR_OP_AND, full, ir_bin(a, IR_OP_LE,
        add(L, add(L, mul(L, col0, I(L, P->sx)), I(L, (int64_t)vl * P->sx)), px), P->IW));
    full = ir_bin(a, IR_OP_AND, full, ir_bin(a, IR_OP_LT, iy, P->IH));
    IrStmt *plain = ir_vstore(a, P->bx, 3, kl_lin(L, 3, dst),
                              ir_vload_strided(a, bxin, xr, kl_lin(L, xr, lin), NULL, (int32_t)P->sx), NULL);
    st = ir_if(a, full, plain, st);
    st = ir_for(a, vcv, I(L, 0), idiv(L, add(L, P->Wv, I(L, vl - 1)), I(L, vl)), st, IR_LOOP_KERNEL);
    st = ir_for(a, vr, I(L, 0), P->Hp, st, IR_LOOP_KERNEL);
    st = ir_for(a, vp, I(L, 0), I(L, nph), st, IR_LOOP_UNROLL);
    IrExpr *nplanes = mul(L, P->N, lower_dim(L, x->shape.dims[xr - nsp - 1]));
    return ir_for(a, vn, I(L, 0), nplanes, st,
                  IR_LOOP_KERNEL | (L->opt && L->opt->parallel ? IR_LOOP_PARALLEL : 0));
}

static void read_geometry(Conv *P)
{
    Lower *L = P->L;
    Arena *a = L->a;
    const Node *n = P->n;
    const WindowParams *win = &n->conv.win;
    const StagePlan *plan = schedule_plan(L->sched, n);
    P->x = n->in[0];
    P->w = n->in[1];
    P->bias = n->nin > 2 ? n->in[2] : NULL;
    P->store = schedule_store_node(L->sched, n);
    P->nsp = win->nsp;
    P->vl = L->sched->target.vlen;
    P->nk = plan->nk;
    P->nv = plan->nv;
    P->tile = P->nv * P->vl;
    P->flip = n->conv.flip;
    sym_is_const(P->w->shape.dims[0], &P->K);
    P->G = plan->dw_chan ? 1 : n->conv.groups;  /* dw: the groups as one, Cg = 1 */
    P->Kg = P->K / P->G;
    P->nkbg = (P->Kg + P->nk - 1) / P->nk;
    P->rem = P->Kg % P->nk;
    int32_t xr = P->x->shape.rank, orank = n->shape.rank, nsp = P->nsp;
    P->xrank = xr;
    P->yrank = P->store->shape.rank;
    int64_t k[2], pad0[2], dil[2], pad1;
    P->inside = true;
    for (int32_t i = 0; i < nsp; i++) {
        sym_is_const(win->k[i], &k[i]);
        sym_is_const(win->pad0[i], &pad0[i]);
        dil[i] = win->dilation[i];
        /* the output size formula keeps an unpadded window inside */
        P->inside = P->inside && pad0[i] == 0 && sym_is_const(win->pad1[i], &pad1) && pad1 == 0;
    }
    P->kh = nsp == 2 ? k[0] : 1;
    P->kw = k[nsp - 1];
    P->ntaps = P->kh * P->kw;
    P->sy = nsp == 2 ? win->stride[0] : 1;
    P->sx = win->stride[nsp - 1];

    P->Cg = lower_dim(L, P->w->shape.dims[1]);
    P->IW = lower_dim(L, P->x->shape.dims[xr - 1]);
    P->IH = nsp == 2 ? lower_dim(L, P->x->shape.dims[xr - 2]) : I(L, 1);
    P->OW = lower_dim(L, n->shape.dims[orank - 1]);
    P->OH = nsp == 2 ? lower_dim(L, n->shape.dims[orank - 2]) : I(L, 1);
    P->Pout = mul(L, P->OH, P->OW);
    P->N = I(L, 1);
    for (int32_t i = 0; i < orank - nsp - 1; i++)
        P->N = mul(L, P->N, lower_dim(L, n->shape.dims[i]));

    /* taps; which phases they read */
    P->taps = arena_array(a, (size_t)P->ntaps, sizeof *P->taps);
    bool used[64] = { false };
    int64_t pad_top = nsp == 2 ? pad0[0] : 0, dil_y = nsp == 2 ? dil[0] : 1;
    for (int64_t t = 0; t < P->ntaps; t++) {
        Tap *tp = &P->taps[t];
        tp->ay = (t / P->kw) * dil_y - pad_top;
        tp->ax = (t % P->kw) * dil[nsp - 1] - pad0[nsp - 1];
        tp->dy = floordiv64(tp->ay, P->sy);
        tp->dx = floordiv64(tp->ax, P->sx);
        int64_t py = tp->ay - tp->dy * P->sy, px = tp->ax - tp->dx * P->sx;
        tp->phase = (int32_t)(py * P->sx + px);
        used[tp->phase] = true;
    }
    const SymExpr *iw = P->x->shape.dims[xr - 1], *ow = n->shape.dims[orank - 1];
    P->copy = plan->input_layout != LAYOUT_DIRECT;
    int64_t phy[64], phx[64], map[64];
    int32_t nph = 0;
    for (int32_t i = 0; i < P->sy * P->sx; i++)
        if (used[i]) {
            phy[nph] = i / P->sx;
            phx[nph] = i % P->sx;
            map[i] = nph++;
        }
    for (int64_t t = 0; t < P->ntaps; t++)
        P->taps[t].phase = (int32_t)map[P->taps[t].phase];
    if (P->copy) {
        P->copy_nest = phase_copy(P, nph, phy, phx);
        P->xrank = 3;
        P->cstride = mul(L, I(L, nph), P->pstride);
    } else {
        P->bx = lower_buffer_of(L, P->x);
        P->Wv = P->IW;
        P->Hp = P->IH;
        P->pstride = I(L, 0);
        P->cstride = mul(L, P->IH, P->IW);
    }
    P->Pv = mul(L, P->OH, P->Wv);
    /* output rows shorter than the virtual ones (when that cannot be
     * decided, store row by row: always right) */
    const SymExpr *wv = P->copy ? sym_max(&L->sc, sym_ceildiv(&L->sc, iw, sym_const(&L->sc, P->sx)), ow)
                                : iw;
    int64_t wvc, owc0;
    P->pitched = (sym_is_const(wv, &wvc) && sym_is_const(ow, &owc0)) ? wvc != owc0
                                                                      : !sym_equal(wv, ow);

    /* conservative bounds of the tap offsets dy*Wv + dx */
    int64_t dy0 = P->taps[0].dy, dy1 = P->taps[0].dy, dx0 = P->taps[0].dx, dx1 = P->taps[0].dx;
    for (int64_t t = 1; t < P->ntaps; t++) {
        const Tap *tp = &P->taps[t];
        dy0 = tp->dy < dy0 ? tp->dy : dy0;
        dy1 = tp->dy > dy1 ? tp->dy : dy1;
        dx0 = tp->dx < dx0 ? tp->dx : dx0;
        dx1 = tp->dx > dx1 ? tp->dx : dx1;
    }
    P->dmin = dx0;
    P->dmax = dx1;
    P->dmin_dy = (int32_t)dy0;
    P->dmax_dy = (int32_t)dy1;

    /* which column taps can leave the input row: ax < 0 at ox = 0, or past
     * the end at the last output column; decided now when the sizes are
     * known, else masked */
    P->col_mask = arena_array(a, (size_t)P->kw, sizeof *P->col_mask);
    int64_t iwc, owc, diff;
    bool known = sym_is_const(iw, &iwc) && sym_is_const(ow, &owc);
    /* widths that are symbols, with ow - iw a constant (pad=same): at
     * stride 1 the last column's tap ax is past the row iff diff-1+ax >= 0 */
    bool related = !known && P->sx == 1 && sym_is_const(sym_sub(&L->sc, ow, iw), &diff);
    for (int64_t kx = 0; kx < P->kw; kx++) {
        int64_t ax = P->taps[kx].ax;
        if (related) {
            P->col_mask[kx] = ax < 0 || diff - 1 + ax >= 0;
            continue;
        }
        P->col_mask[kx] = ax < 0 || !known || P->sx * (owc - 1) + ax >= iwc;
        if (ax == 0 && P->sx == 1 && known && owc <= iwc)
            P->col_mask[kx] = false;
    }
}

void conv_setup(Conv *P)
{
    read_geometry(P);
    P->by = lower_buffer_of(P->L, P->store);
    P->wdirect = !schedule_plan(P->L->sched, P->n)->pack_weights;
    P->bwp = P->wdirect ? lower_buffer_of(P->L, P->w) : pack_weights(P);
}

/* The linear position of the item's first weight: its block's packed
 * weights, or (read in place) output channel g*Kg + kb*nk's first. */
IrExpr *conv_wbase(Conv *P)
{
    Lower *L = P->L;
    IrExpr *g = loc(P, P->l_g), *kb = loc(P, P->l_kb);
    if (P->wdirect)
        return mul(L, add(L, mul(L, g, I(L, P->Kg)), mul(L, kb, I(L, P->nk))),
                   mul(L, P->Cg, I(L, P->ntaps)));
    if (P->pack_items)      /* the item's own block */
        return I(L, 0);
    return mul(L, add(L, mul(L, g, I(L, P->nkbg)), kb), mul(L, P->Cg, I(L, P->ntaps * P->nk)));
}

/* The weight of the block's channel j, input channel c and tap (in the
 * order of P->taps), as a scalar load. */
IrExpr *conv_weight(Conv *P, IrExpr *c, int64_t tap, int64_t j)
{
    Lower *L = P->L;
    IrExpr *lin;
    if (P->wdirect) {
        int64_t t = P->flip ? P->ntaps - 1 - tap : tap;
        lin = add(L, add(L, loc(P, P->l_wbase), mul(L, P->Cg, I(L, j * P->ntaps))),
                  add(L, mul(L, c, I(L, P->ntaps)), I(L, t)));
        return ir_load(L->a, P->bwp, P->w->shape.rank, lin_idx(P, P->w->shape.rank, lin));
    }
    /* j past the block: the next blocks' weights (a run of blocks) */
    int64_t blk = j / P->nk;
    lin = add(L, add(L, loc(P, P->l_wbase), mul(L, c, I(L, P->ntaps * P->nk))),
              I(L, tap * P->nk + j % P->nk));
    if (blk)
        lin = add(L, lin, mul(L, P->Cg, I(L, blk * P->ntaps * P->nk)));
    return ir_load(L->a, P->bwp, 4, lin_idx(P, 4, lin));
}

void conv_block_locals(Conv *P, PtrVec *out, int32_t nk_run, int32_t nv, int32_t acc[MAX_NK][MAX_NV],
                       int32_t xv[MAX_NV])
{
    Lower *L = P->L;
    Arena *a = L->a;
    for (int32_t v = 0; v < nv; v++)
        xv[v] = lower_local(L, IR_TYPE_VF32);
    for (int32_t j = 0; j < nk_run; j++)
        for (int32_t v = 0; v < nv; v++) {
            acc[j][v] = lower_local(L, IR_TYPE_VF32);
            IrExpr *init = ir_float(a, 0.0f);
            if (P->bias) {
                IrExpr *k = add(L, add(L, mul(L, loc(P, P->l_g), I(L, P->Kg)),
                                        mul(L, loc(P, P->l_kb), I(L, P->nk))), I(L, j));
                init = lower_value(L, P->bias, &k);
            }
            ptrvec_push(a, out, set(P, acc[j][v], ir_broadcast(a, init)));
        }
}

void conv_tap_fmas(Conv *P, PtrVec *out, IrExpr *ch, int64_t tap, int32_t nk_run, int32_t nv,
                   int32_t acc[MAX_NK][MAX_NV], const int32_t xv[MAX_NV], int32_t wv, IrExpr *const *mask)
{
    Arena *a = P->L->a;
    for (int32_t j = 0; j < nk_run; j++) {
        ptrvec_push(a, out, set(P, wv, ir_broadcast(a, conv_weight(P, ch, tap, j))));
        for (int32_t v = 0; v < nv; v++) {
            IrExpr *acc_v = loc(P, acc[j][v]);
            IrExpr *f = ir_fma(a, loc(P, xv[v]), loc(P, wv), acc_v);
            if (mask[v])
                f = ir_select(a, mask[v], f, acc_v);
            ptrvec_push(a, out, set(P, acc[j][v], f));
        }
    }
}

uint64_t conv_valid_lanes(const Conv *P, const RowVec *rv, int64_t ax, int64_t lo, int64_t hi)
{
    uint64_t m = 0;
    for (int64_t l = 0; l < rv->lanes; l++) {
        int64_t ix = P->sx * (rv->ox0 + l) + ax;
        if (ix >= lo && ix < hi)
            m |= (uint64_t)1 << l;
    }
    return m;
}

IrExpr *conv_const_mask(Conv *P, uint64_t bits)
{
    Lower *L = P->L;
    IrExpr *m = NULL;
    for (int32_t l = 0; l < P->vl; l++) {
        IrExpr *is = ir_bin(L->a, IR_OP_EQ, ir_iota(L->a), I(L, l));
        if ((bits >> l) & 1)
            m = m ? ir_bin(L->a, IR_OP_OR, m, is) : is;
    }
    return m ? m : ir_bin(L->a, IR_OP_LT, ir_iota(L->a), I(L, 0));
}
