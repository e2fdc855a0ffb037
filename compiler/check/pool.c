/* check/pool.c - max and average pools (1-D and 2-D, ceil mode, padding
 * limits) and the global pools. */
#include "check.h"

/* maxpool1d/2d, avgpool1d/2d. */
Value check_pool(Checker *c, const AstExpr *e, int nsp, bool is_max)
{
    static const char *const max_names[] = { "x", "size", "stride", "pad", "dilation", "ceil_mode" };
    static const char *const avg_names[] = { "x", "size", "stride", "pad", "ceil_mode", "count_pad" };
    const char *stage = e->call.callee;
    CallArgs a;
    chk_bind_args(c, e, is_max ? max_names : avg_names, 6, 2, &a);
    if (!chk_need_first_two(c, e, &a, "an input tensor", "a window size"))
        return chk_val_error(e->loc);
    Node *x = chk_want_tensor(c, chk_eval(c, a.arg[0]), "the input");
    WindowParams win = { .nsp = nsp };
    int64_t size[MAX_SPATIAL] = { 1, 1 }, pad[MAX_SPATIAL] = { 0, 0 };
    bool ok = x && !a.bad;
    ok &= chk_int_pair(c, a.arg[1], stage, "size", nsp, 1, size);
    for (int i = 0; i < nsp; i++) {
        win.stride[i] = size[i];
        win.dilation[i] = 1;
    }
    if (a.arg[2]) ok &= chk_int_pair(c, a.arg[2], stage, "stride", nsp, 1, win.stride);
    if (a.arg[3]) ok &= chk_int_pair(c, a.arg[3], stage, "pad", nsp, 0, pad);
    bool count_pad = true;
    if (is_max) {
        if (a.arg[4]) ok &= chk_int_pair(c, a.arg[4], stage, "dilation", nsp, 1, win.dilation);
        if (a.arg[5]) ok &= chk_bool_value(c, a.arg[5], stage, "ceil_mode", &win.ceil_mode);
    } else {
        if (a.arg[4]) ok &= chk_bool_value(c, a.arg[4], stage, "ceil_mode", &win.ceil_mode);
        if (a.arg[5]) ok &= chk_bool_value(c, a.arg[5], stage, "count_pad", &count_pad);
    }
    if (!ok)
        return chk_val_error(e->loc);
    for (int i = 0; i < nsp; i++) {
        /* One report per distinct (pad, size), so `pad=2` on a 2x2 window
         * is one error, not one per dim. */
        bool seen = i > 0 && pad[0] == pad[i] && size[0] == size[i];
        if (pad[i] > size[i] / 2 && !seen) {
            diag_error(c->d, a.loc[3].first_line ? a.loc[3] : e->loc,
                       "%s: pad %lld is more than half the window size %lld", stage,
                       (long long)pad[i], (long long)size[i]);
            ok = false;
        } else if (pad[i] > size[i] / 2) {
            ok = false;
        }
        win.k[i] = sym_const(&c->sc, size[i]);
        win.pad0[i] = win.pad1[i] = sym_const(&c->sc, pad[i]);
    }
    Shape xs = x->shape;
    if (xs.rank < nsp) {
        diag_error(c->d, a.arg[0]->loc, "%s: the input must have at least %d dims, got %s", stage,
                   nsp, shape_str(c->a, xs));
        ok = false;
    }
    if (!ok)
        return chk_val_error(e->loc);
    Node *n = chk_new_node(c, NODE_POOL, stage, e->loc);
    n->pool.win = win;
    n->pool.is_max = is_max;
    n->pool.count_pad = count_pad;
    chk_add_input(n, x);
    Shape out = shape_make(c->a, xs.rank);
    for (int32_t i = 0; i < xs.rank; i++)
        out.dims[i] = xs.dims[i];
    for (int i = 0; i < nsp; i++) {
        WindowDim wd = { xs.dims[xs.rank - nsp + i], win.k[i], win.pad0[i], win.pad1[i],
                         win.stride[i], win.dilation[i], win.ceil_mode };
        out.dims[xs.rank - nsp + i] = chk_window_dim(c, e, stage, nsp, i, &wd, &ok);
    }
    if (!ok || !chk_window_finish(c, n, x, out, &win, size[0] * (nsp == 2 ? size[1] : 1), NULL))
        return chk_val_error(e->loc);
    n->desc = chk_window_desc(c, stage, &win);
    if (win.ceil_mode)
        n->desc = arena_printf(c->a, "%s ceil", n->desc);
    if (!is_max && !count_pad)
        n->desc = arena_printf(c->a, "%s count_pad=false", n->desc);
    chk_push_node(c, n);
    return chk_tensor_val(n, e->loc);
}

Value check_global_pool(Checker *c, const AstExpr *e, bool is_max)
{
    static const char *const names[] = { "x" };
    CallArgs a;
    chk_bind_args(c, e, names, 1, 1, &a);
    if (!chk_need(c, e, &a, 0, "an input tensor"))
        return chk_val_error(e->loc);
    Node *x = chk_want_tensor(c, chk_eval(c, a.arg[0]), "the input");
    if (!x || a.bad)
        return chk_val_error(e->loc);
    Shape xs = x->shape;
    if (xs.rank < 3) {
        diag_error(c->d, a.arg[0]->loc, "%s: the input must be [.., C, H, W], got %s",
                   e->call.callee, shape_str(c->a, xs));
        return chk_val_error(e->loc);
    }
    Node *n = chk_new_node(c, NODE_POOL, e->call.callee, e->loc);
    n->pool.is_max = is_max;
    n->pool.global = true;
    n->pool.count_pad = true;
    n->pool.win.nsp = 2;
    for (int i = 0; i < 2; i++) {
        n->pool.win.k[i] = xs.dims[xs.rank - 2 + i];
        n->pool.win.stride[i] = n->pool.win.dilation[i] = 1;
        n->pool.win.pad0[i] = n->pool.win.pad1[i] = sym_const(&c->sc, 0);
    }
    chk_add_input(n, x);
    Shape out = shape_make(c->a, xs.rank);
    for (int32_t i = 0; i < xs.rank; i++)
        out.dims[i] = i >= xs.rank - 2 ? sym_const(&c->sc, 1) : xs.dims[i];
    n->shape = out;
    n->macs = shape_numel(&c->sc, xs);
    n->rf_nsp = 2;
    n->rf[0] = n->rf[1] = -2;   /* the whole map */
    chk_push_node(c, n);
    return chk_tensor_val(n, e->loc);
}
