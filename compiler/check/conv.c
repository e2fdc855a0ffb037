/* check/conv.c - conv1d, conv2d and conv1x1: input, weight and bias
 * shapes, groups, the window options and the output-size formula, and the
 * method= an algorithm needs (separable, fft). */
#include "check.h"

/* method=separable: a 2-D kernel known when compiling, of rank 1 (the
 * tolerance is factor.h's), and unit steps; reported at the option. */
bool chk_separable_applies(Checker *c, const Node *n, const char *stage, bool shape_ok)
{
    SrcLoc at = n->op == NODE_CONV ? n->conv.method_loc : n->signal.method_loc;
    const Node *w = n->in[1];
    if (!shape_ok || w->op != NODE_CONST || w->shape.rank != 2) {
        diag_error(c->d, at, "%s: method=separable needs one 2-D kernel known when compiling "
                             "(a constant [FH, FW]), applied to every plane", stage);
        return false;
    }
    if (n->op == NODE_CONV)
        for (int i = 0; i < 2; i++)
            if (n->conv.win.stride[i] != 1) {
                diag_error(c->d, at, "%s: method=separable needs stride 1", stage);
                return false;
            }
    int64_t kh, kw;
    sym_is_const(w->shape.dims[0], &kh);
    sym_is_const(w->shape.dims[1], &kw);
    double err = kernel_rank1(w->cst.data, kh, kw, NULL, NULL);
    if (err > SEPARABLE_TOLERANCE) {
        diag_error(c->d, at, "%s: method=separable: this %lldx%lld kernel is not the product of a "
                             "column and a row (the closest such product is off by %.2g of its "
                             "largest entry; at most %g is taken as separable)",
                   stage, (long long)kh, (long long)kw, err, SEPARABLE_TOLERANCE);
        return false;
    }
    return true;
}

/* method=fft: each output plane is one input plane filtered by one kernel
 * (convolve/correlate always; a convolution with a per-plane filter or
 * one input channel per group), with unit steps; reported at the option.
 * Every padding mode applies. */
static bool fft_applies(Checker *c, const Node *n, const char *stage)
{
    if (n->op != NODE_CONV)
        return true;
    SrcLoc at = n->conv.method_loc;
    const WindowParams *w = &n->conv.win;
    for (int i = 0; i < w->nsp; i++)
        if (w->stride[i] != 1 || w->dilation[i] != 1) {
            diag_error(c->d, at, "%s: method=fft needs stride 1 and dilation 1 (here %s %lld)", stage,
                       w->stride[i] != 1 ? "stride" : "dilation",
                       (long long)(w->stride[i] != 1 ? w->stride[i] : w->dilation[i]));
            return false;
        }
    int64_t cg;
    const Node *wt = n->in[1];
    if (!n->conv.per_channel && !(sym_is_const(wt->shape.dims[1], &cg) && cg == 1)) {
        diag_error(c->d, at, "%s: method=fft needs each output channel to read one input channel "
                             "(a per-plane filter [FH, FW], or groups equal to the input channels), "
                             "but each sums over %s input channels", stage,
                   sym_str(c->a, wt->shape.dims[1]));
        return false;
    }
    return true;
}

/* conv1d / conv2d / conv1x1. */
Value check_conv(Checker *c, const AstExpr *e, int nsp, bool pointwise)
{
    static const char *const names[] = { "x", "w", "bias", "stride", "pad", "dilation",
                                         "groups", "pad_mode", "flip", "method" };
    static const char *const pw_names[] = { "x", "w", "bias", "stride" };
    const char *stage = e->call.callee;
    CallArgs a;
    chk_bind_args(c, e, pointwise ? pw_names : names, pointwise ? 4 : 10, 2, &a);
    if (!chk_need_first_two(c, e, &a, "an input tensor", "a weight tensor"))
        return chk_val_error(e->loc);
    Node *x = chk_want_tensor(c, chk_eval(c, a.arg[0]), "the input");
    Node *w = chk_want_tensor(c, chk_eval(c, a.arg[1]), "the weight");
    Node *bias = a.arg[2] ? chk_want_tensor(c, chk_eval(c, a.arg[2]), "bias") : NULL;
    bool ok = x && w && !(a.arg[2] && !bias) && !a.bad;

    WindowParams win = { .nsp = nsp };
    int64_t groups = 1;
    bool flip = false;
    int pad_mode = PAD_ZEROS, method = METHOD_DIRECT;
    for (int i = 0; i < nsp; i++)
        win.stride[i] = win.dilation[i] = 1;
    if (a.arg[3]) ok &= chk_int_pair(c, a.arg[3], stage, "stride", nsp, 1, win.stride);
    if (!pointwise) {
        if (a.arg[5]) ok &= chk_int_pair(c, a.arg[5], stage, "dilation", nsp, 1, win.dilation);
        if (a.arg[6]) {
            ok &= chk_int_value(c, chk_eval(c, a.arg[6]), stage, "groups", 1, &groups);
        }
        if (a.arg[7]) {
            static const char *const modes[] = { "zeros", "reflect", "replicate", "circular" };
            pad_mode = chk_word_value(c, a.arg[7], stage, "pad_mode", modes, 4);
            ok &= pad_mode >= 0;
        }
        if (a.arg[8]) ok &= chk_bool_value(c, a.arg[8], stage, "flip", &flip);
        if (a.arg[9]) {
            method = chk_word_value(c, a.arg[9], stage, "method", chk_method_names, 4);
            ok &= method >= 0;
        }
    }
    if (!ok)
        return chk_val_error(e->loc);

    Shape xs = x->shape, ws = w->shape;
    bool per_channel = false;
    int32_t crank;      /* rank of the weight's kernel part */
    if (pointwise) {
        int64_t one;
        if (ws.rank == 4 && sym_is_const(ws.dims[2], &one) && one == 1 &&
            sym_is_const(ws.dims[3], &one) && one == 1) {
            /* [K, C, 1, 1] */
        } else if (ws.rank != 2) {
            diag_error(c->d, a.arg[1]->loc, "%s: the weight must be [K, C] or [K, C, 1, 1], got %s",
                       stage, shape_str(c->a, ws));
            return chk_val_error(e->loc);
        }
        crank = ws.rank == 4 ? 2 : 0;
    } else if (ws.rank == nsp) {
        per_channel = true;
        crank = nsp;
    } else if (ws.rank == nsp + 2) {
        crank = nsp;
    } else {
        diag_error(c->d, a.arg[1]->loc,
                   nsp == 2 ? "%s: the weight must be [K, C/groups, FH, FW] or a 2-D filter [FH, FW], got %s"
                            : "%s: the weight must be [K, C/groups, F] or a 1-D filter [F], got %s",
                   stage, shape_str(c->a, ws));
        return chk_val_error(e->loc);
    }
    int32_t need_rank = per_channel ? nsp : nsp + 1;
    if (xs.rank < need_rank) {
        diag_error(c->d, a.arg[0]->loc, "%s: the input must have at least %d dims (%s), got %s",
                   stage, need_rank,
                   per_channel ? (nsp == 2 ? "[.., H, W]" : "[.., L]")
                               : (nsp == 2 ? "[.., C, H, W]" : "[.., C, L]"),
                   shape_str(c->a, xs));
        return chk_val_error(e->loc);
    }
    for (int i = 0; i < nsp; i++)
        win.k[i] = pointwise ? sym_const(&c->sc, 1) : ws.dims[ws.rank - nsp + i];
    (void)crank;

    bool is_same = false;
    if (!pointwise && !chk_parse_pad(c, a.arg[4], stage, nsp, &win, true, &is_same))
        return chk_val_error(e->loc);
    if (pointwise)
        for (int i = 0; i < nsp; i++)
            win.pad0[i] = win.pad1[i] = sym_const(&c->sc, 0);
    if (is_same)
        for (int i = 0; i < nsp; i++)
            if (win.stride[i] != 1) {
                diag_error(c->d, a.loc[3].first_line ? a.loc[3] : e->loc,
                           "%s: pad=same needs stride 1 (got stride %lld); give the padding as a number",
                           stage, (long long)win.stride[i]);
                return chk_val_error(e->loc);
            }

    Node *n = chk_new_node(c, NODE_CONV, stage, e->loc);
    n->conv.win = win;
    n->conv.groups = groups;
    n->conv.per_channel = per_channel;
    n->conv.flip = flip;
    n->conv.method = (Method)method;
    if (a.arg[9])
        n->conv.method_loc = a.arg[9]->loc;
    n->conv.pad_mode = (PadMode)pad_mode;
    chk_add_input(n, x);
    chk_add_input(n, w);

    Shape out = shape_make(c->a, xs.rank);
    for (int32_t i = 0; i < xs.rank; i++)
        out.dims[i] = xs.dims[i];
    const SymExpr *cin_per_group = sym_const(&c->sc, 1);
    if (!per_channel) {
        const SymExpr *C = xs.dims[xs.rank - nsp - 1], *K = ws.dims[0], *Cg = ws.dims[1];
        int64_t cv, kv, cgv;
        cin_per_group = Cg;
        if (groups > 1) {
            if (sym_is_const(C, &cv) && cv % groups != 0) {
                diag_error(c->d, e->loc, "%s: groups=%lld does not divide the %lld input channels",
                           stage, (long long)groups, (long long)cv);
                ok = false;
            }
            if (sym_is_const(K, &kv) && kv % groups != 0) {
                diag_error(c->d, e->loc, "%s: groups=%lld does not divide the %lld output channels (weight dim 0)",
                           stage, (long long)groups, (long long)kv);
                ok = false;
            }
            if (!sym_is_const(K, &kv))
                chk_unify_dim(c, sym_mul(&c->sc, sym_floordiv(&c->sc, K, sym_const(&c->sc, groups)),
                                         sym_const(&c->sc, groups)), K, e->loc,
                              arena_printf(c->a, "%s: groups=%lld must divide the output channels", stage,
                                           (long long)groups));
        }
        if (ok) {
            const SymExpr *want = sym_mul(&c->sc, Cg, sym_const(&c->sc, groups));
            if (sym_is_const(C, &cv) && sym_is_const(want, &cgv)) {
                if (cv != cgv) {
                    if (groups == 1)
                        diag_error(c->d, e->loc,
                                   "%s: the input has %lld channels (dim %d of %s) but the weight expects %lld (dim 1 of %s)",
                                   stage, (long long)cv, xs.rank - nsp - 1, shape_str(c->a, xs),
                                   (long long)cgv, shape_str(c->a, ws));
                    else
                        diag_error(c->d, e->loc,
                                   "%s: the input has %lld channels but the weight expects %lld per group x %lld groups = %lld",
                                   stage, (long long)cv, (long long)(cgv / groups), (long long)groups,
                                   (long long)cgv);
                    ok = false;
                }
            } else {
                chk_unify_dim(c, C, want, e->loc,
                              arena_printf(c->a, "%s: input channels must equal weight dim 1 x groups", stage));
            }
        }
        out.dims[xs.rank - nsp - 1] = K;
        if (bias) {
            if (bias->shape.rank != 1) {
                diag_error(c->d, a.arg[2]->loc, "%s: bias must be [K] (one per output channel), got %s",
                           stage, shape_str(c->a, bias->shape));
                ok = false;
            } else if (!chk_unify_dim(c, bias->shape.dims[0], K, a.arg[2]->loc,
                                      arena_printf(c->a, "%s: bias length must equal the output channels", stage))) {
                ok = false;
            }
            chk_add_input(n, bias);
        }
    } else if (bias) {
        diag_error(c->d, a.arg[2]->loc,
                   "%s: bias needs a [K, C, ...] weight; a plain filter has no output channels", stage);
        ok = false;
    }
    if (!pointwise && groups > 1 && per_channel) {
        diag_error(c->d, a.loc[6], "%s: groups needs a [K, C/groups, ...] weight", stage);
        ok = false;
    }

    for (int i = 0; i < nsp && ok; i++) {
        WindowDim wd = { xs.dims[xs.rank - nsp + i], win.k[i], win.pad0[i], win.pad1[i],
                         win.stride[i], win.dilation[i], false };
        int64_t nv, pv;
        if (pad_mode == PAD_REFLECT || pad_mode == PAD_CIRCULAR) {
            const SymExpr *pads[2] = { win.pad0[i], win.pad1[i] };
            for (int side = 0; side < 2; side++) {
                /* reflect: pad < n; circular: pad <= n (PyTorch's rules) */
                const SymExpr *room = sym_sub(&c->sc, wd.n, pads[side]);
                if (pad_mode == PAD_CIRCULAR)
                    room = sym_add(&c->sc, room, sym_const(&c->sc, 1));
                if (sym_is_const(room, &nv)) {
                    if (nv < 1) {
                        sym_is_const(pads[side], &pv);
                        diag_error(c->d, e->loc,
                                   "%s: pad_mode=%s needs the padding (%lld) %s the input %s (%s)",
                                   stage, pad_mode == PAD_REFLECT ? "reflect" : "circular",
                                   (long long)pv, pad_mode == PAD_REFLECT ? "smaller than" : "at most",
                                   chk_spatial_name(nsp, i), sym_str(c->a, wd.n));
                        ok = false;
                        break;
                    }
                } else {
                    int64_t lo, hi;
                    sym_range(room, &lo, &hi);
                    if (hi < 1) {
                        diag_error(c->d, e->loc,
                                   "%s: pad_mode=%s needs the padding (%s) %s the input %s (%s) for every input%s",
                                   stage, pad_mode == PAD_REFLECT ? "reflect" : "circular",
                                   sym_ref(c->a, pads[side]),
                                   pad_mode == PAD_REFLECT ? "smaller than" : "at most",
                                   chk_spatial_name(nsp, i), sym_ref(c->a, wd.n), chk_symbol_bound(c, room));
                        ok = false;
                        break;
                    }
                    if (lo < 1)
                        chk_add_check(c, IR_CHECK_POSITIVE, room, NULL, e->loc,
                                      arena_printf(c->a, "%s: %s: pad_mode=%s needs the padding %s the input %s; room",
                                                   chk_where(c, e->loc), stage,
                                                   pad_mode == PAD_REFLECT ? "reflect" : "circular",
                                                   pad_mode == PAD_REFLECT ? "smaller than" : "at most",
                                                   chk_spatial_name(nsp, i)));
                }
            }
        }
        if (ok)
            out.dims[xs.rank - nsp + i] = chk_window_dim(c, e, stage, nsp, i, &wd, &ok);
    }
    const SymExpr *kprod = cin_per_group;
    for (int i = 0; ok && i < nsp; i++)
        kprod = sym_mul(&c->sc, kprod, win.k[i]);
    if (!ok || !chk_window_finish(c, n, x, out, &win, 1, kprod))
        return chk_val_error(e->loc);
    n->desc = pointwise ? arena_printf(c->a, "conv1x1%s", chk_pair_desc(c, "s", win.stride, nsp))
                        : chk_window_desc(c, stage, &win);
    if (groups > 1)
        n->desc = arena_printf(c->a, "%s g%lld", n->desc, (long long)groups);
    if (flip)
        n->desc = arena_printf(c->a, "%s flip", n->desc);
    static const char *const mode_names[] = { "", " reflect", " replicate", " circular" };
    n->desc = arena_printf(c->a, "%s%s", n->desc, mode_names[pad_mode]);
    if (method == METHOD_SEPARABLE && !chk_separable_applies(c, n, stage, per_channel && nsp == 2))
        return chk_val_error(e->loc);
    if (method == METHOD_FFT && !fft_applies(c, n, stage))
        return chk_val_error(e->loc);
    chk_push_node(c, n);
    return chk_tensor_val(n, e->loc);
}
