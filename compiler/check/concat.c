/* check/concat.c - concat along the channel dim: ranks, the other dims
 * equal (or equal at run time), the channel counts summed. */
#include "check.h"

Value check_concat(Checker *c, const AstExpr *e)
{
    int32_t nargs = e->call.nargs;
    if (nargs < 1) {
        diag_error(c->d, e->loc, "concat needs at least one tensor");
        return chk_val_error(e->loc);
    }
    Node **ins = arena_array(c->a, (size_t)nargs, sizeof(Node *));
    bool ok = true;
    for (int32_t i = 0; i < nargs; i++) {
        const AstArg *arg = &e->call.args[i];
        if (arg->name) {
            diag_error(c->d, arg->name_loc, "concat has no option '%s'", arg->name);
            ok = false;
            continue;
        }
        ins[i] = chk_want_tensor(c, chk_eval(c, arg->value), "each concat operand");
        ok &= ins[i] != NULL;
    }
    if (!ok)
        return chk_val_error(e->loc);
    Shape s0 = ins[0]->shape;
    if (s0.rank < 3) {
        diag_error(c->d, e->call.args[0].value->loc,
                   "concat joins [.., C, H, W] maps along C; this operand is %s", shape_str(c->a, s0));
        return chk_val_error(e->loc);
    }
    int32_t cd = s0.rank - 3;
    Shape out = shape_make(c->a, s0.rank);
    for (int32_t i = 0; i < s0.rank; i++)
        out.dims[i] = s0.dims[i];
    SymSum *channels = sym_sum_new(&c->sc);     /* linear in the operands */
    sym_sum_add(channels, s0.dims[cd]);
    for (int32_t k = 1; k < nargs; k++) {
        Shape sk = ins[k]->shape;
        SrcLoc loc = e->call.args[k].value->loc;
        if (sk.rank != s0.rank) {
            diag_error(c->d, loc, "concat: operand %d is %s but the first is %s", k + 1,
                       shape_str(c->a, sk), shape_str(c->a, s0));
            ok = false;
            continue;
        }
        for (int32_t i = 0; i < s0.rank; i++) {
            if (i == cd)
                continue;
            const char *what = arena_printf(c->a, "concat: dim %d of operand %d (%s) must match the first (%s)",
                                            i, k + 1, shape_str(c->a, sk), shape_str(c->a, s0));
            ok &= chk_unify_dim(c, s0.dims[i], sk.dims[i], loc, what);
        }
        sym_sum_add(channels, sk.dims[cd]);
    }
    out.dims[cd] = sym_sum_get(channels);
    if (!ok)
        return chk_val_error(e->loc);
    Node *n = chk_new_node(c, NODE_CONCAT, "concat", e->loc);
    if (nargs > 8)
        n->ins = ins;
    for (int32_t i = 0; i < nargs; i++) {
        if (i < 8)
            n->in[i] = ins[i];
        ins[i]->nuses++;
    }
    n->nin = nargs;
    n->shape = out;
    if (!chk_finish_shape(c, n))
        return chk_val_error(e->loc);
    n->macs = sym_const(&c->sc, 0);
    chk_elementwise_rf(n);
    chk_push_node(c, n);
    return chk_tensor_val(n, e->loc);
}
