/* check/signal.c - convolve and correlate of signals, scipy-style, in
 * the full, same and valid modes. */
#include "check.h"

/* scipy.signal.convolve / correlate (direct), modes full/same/valid. */
Value check_signal(Checker *c, const AstExpr *e, bool correlate)
{
    static const char *const names[] = { "a", "b", "mode", "method" };
    static const char *const modes[] = { "full", "same", "valid" };
    const char *stage = e->call.callee;
    CallArgs a;
    chk_bind_args(c, e, names, 4, 2, &a);
    if (!chk_need_first_two(c, e, &a, "two tensors", "two tensors"))
        return chk_val_error(e->loc);
    Node *x = chk_want_tensor(c, chk_eval(c, a.arg[0]), "the first operand");
    Node *y = chk_want_tensor(c, chk_eval(c, a.arg[1]), "the second operand");
    int mode = correlate ? 2 : 0, method = METHOD_DIRECT;
    if (a.arg[2])
        mode = chk_word_value(c, a.arg[2], stage, "mode", modes, 3);
    if (a.arg[3])
        method = chk_word_value(c, a.arg[3], stage, "method", chk_method_names, 4);
    if (!x || !y || mode < 0 || method < 0 || a.bad)
        return chk_val_error(e->loc);
    Shape xs = x->shape, ys = y->shape;
    if (xs.rank != ys.rank || xs.rank < 1 || xs.rank > 2) {
        diag_error(c->d, e->loc, "%s: the operands must both be 1-D or both 2-D, got %s and %s",
                   stage, shape_str(c->a, xs), shape_str(c->a, ys));
        return chk_val_error(e->loc);
    }
    int nsp = xs.rank;
    Node *n = chk_new_node(c, NODE_SIGNAL, stage, e->loc);
    n->signal.correlate = correlate;
    n->signal.method = (Method)method;
    if (a.arg[3])
        n->signal.method_loc = a.arg[3]->loc;
    chk_add_input(n, x);
    chk_add_input(n, y);
    Shape out = shape_make(c->a, nsp);
    ShapeCtx *sc = &c->sc;
    const SymExpr *one = sym_const(sc, 1);
    int bigger = 0;     /* valid mode: +1 a >= b everywhere, -1 b >= a */
    for (int i = 0; i < nsp; i++) {
        const SymExpr *n1 = xs.dims[i], *n2 = ys.dims[i];
        int64_t v1, v2;
        switch (mode) {
        case 0:
            out.dims[i] = sym_sub(sc, sym_add(sc, n1, n2), one);
            n->signal.start[i] = sym_const(sc, 0);
            break;
        case 1:
            out.dims[i] = n1;
            n->signal.start[i] = sym_floordiv(sc, sym_sub(sc, n2, one), sym_const(sc, 2));
            break;
        default:
            if (sym_is_const(n1, &v1) && sym_is_const(n2, &v2) && v1 != v2) {
                int dir = v1 > v2 ? 1 : -1;
                if (bigger && dir != bigger) {
                    diag_error(c->d, e->loc,
                               "%s: mode=valid needs one operand at least as large as the other in every dim (%s vs %s)",
                               stage, shape_str(c->a, xs), shape_str(c->a, ys));
                    return chk_val_error(e->loc);
                }
                bigger = dir;
            }
            out.dims[i] = sym_add(sc, sym_sub(sc, sym_max(sc, n1, n2), sym_min(sc, n1, n2)), one);
            n->signal.start[i] = sym_sub(sc, sym_min(sc, n1, n2), one);
            break;
        }
    }
    n->shape = out;
    if (!chk_finish_shape(c, n))
        return chk_val_error(e->loc);
    n->macs = chk_macs_of(c, out, 1, shape_numel(sc, ys));
    n->rf_nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        int64_t k;
        n->rf[i] = sym_is_const(ys.dims[i], &k) ? k : -1;
        n->jump[i] = 1;
    }
    n->desc = arena_printf(c->a, "%s %s", stage, modes[mode]);
    if (method == METHOD_SEPARABLE && !chk_separable_applies(c, n, stage, nsp == 2))
        return chk_val_error(e->loc);
    chk_push_node(c, n);
    return chk_tensor_val(n, e->loc);
}
