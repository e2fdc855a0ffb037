/* check/elementwise.c - activations, arithmetic and min/max, with
 * broadcasting of scalars and of equal shapes, folded when every operand
 * is known. */
#include "check.h"

Node *chk_unary_node(Checker *c, UnaryFn fn, const char *stage, SrcLoc loc, Node *x)
{
    Node *n = chk_new_node(c, NODE_UNARY, stage, loc);
    n->unary.fn = fn;
    chk_add_input(n, x);
    n->shape = x->shape;
    n->macs = sym_const(&c->sc, 0);
    chk_elementwise_rf(n);
    chk_push_node(c, n);
    return n;
}

static double apply_unary(UnaryFn fn, double x, double alpha, double lo, double hi)
{
    switch (fn) {
    case UN_RELU: return x > 0 ? x : 0;
    case UN_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case UN_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case UN_TANH: return tanh(x);
    case UN_ABS: return fabs(x);
    case UN_SQRT: return sqrt(x);
    case UN_NEG: return -x;
    case UN_EXP: return exp(x);
    case UN_CLAMP: return x < lo ? lo : x > hi ? hi : x;
    }
    return x;
}

Value check_unary(Checker *c, const AstExpr *e, UnaryFn fn)
{
    const char *stage = e->call.callee;
    static const char *const one[] = { "x" };
    static const char *const leaky[] = { "x", "alpha" };
    static const char *const clamp[] = { "x", "lo", "hi" };
    CallArgs a;
    int nn = fn == UN_LEAKY_RELU ? 2 : fn == UN_CLAMP ? 3 : 1;
    chk_bind_args(c, e, fn == UN_LEAKY_RELU ? leaky : fn == UN_CLAMP ? clamp : one, nn, nn, &a);
    if (!chk_need(c, e, &a, 0, "an operand"))
        return chk_val_error(e->loc);
    double alpha = 0.01, lo = 0, hi = 0;
    bool ok = !a.bad;
    if (fn == UN_LEAKY_RELU && a.arg[1])
        ok &= chk_scalar_value(c, a.arg[1], stage, "alpha", &alpha);
    if (fn == UN_CLAMP) {
        ok &= chk_need(c, e, &a, 1, "a lower bound lo") && chk_need(c, e, &a, 2, "an upper bound hi");
        if (ok) {
            ok &= chk_scalar_value(c, a.arg[1], stage, "lo", &lo);
            ok &= chk_scalar_value(c, a.arg[2], stage, "hi", &hi);
            if (ok && lo > hi) {
                diag_error(c->d, e->loc, "clamp: lo (%g) is greater than hi (%g)", lo, hi);
                ok = false;
            }
        }
    }
    Value v = chk_eval(c, a.arg[0]);
    if (!ok || v.kind == VAL_ERROR)
        return chk_val_error(e->loc);
    if (v.kind == VAL_SCALAR) {
        Value r = { .kind = VAL_SCALAR, .loc = e->loc };
        r.num = apply_unary(fn, v.num, alpha, lo, hi);
        return r;
    }
    Node *x = chk_want_tensor(c, v, "the operand");
    if (!x)
        return chk_val_error(e->loc);
    Node *n = chk_unary_node(c, fn, stage, e->loc, x);
    n->unary.alpha = (float)alpha;
    n->unary.lo = (float)lo;
    n->unary.hi = (float)hi;
    if (fn == UN_LEAKY_RELU)
        n->desc = arena_printf(c->a, "leaky_relu %g", alpha);
    else if (fn == UN_CLAMP)
        n->desc = arena_printf(c->a, "clamp [%g, %g]", lo, hi);
    return chk_tensor_val(n, e->loc);
}

static double apply_binary(BinaryFn fn, double x, double y)
{
    switch (fn) {
    case BIN_ADD: return x + y;
    case BIN_SUB: return x - y;
    case BIN_MUL: return x * y;
    case BIN_DIV: return x / y;
    case BIN_MIN: return x < y ? x : y;
    case BIN_MAX: return x > y ? x : y;
    }
    return 0;
}

static const char *binary_stage(BinaryFn fn)
{
    static const char *const s[] = { "+", "-", "*", "/", "min", "max" };
    return s[fn];
}

Value chk_binary(Checker *c, BinaryFn fn, Value x, Value y, SrcLoc loc)
{
    if (x.kind == VAL_ERROR || y.kind == VAL_ERROR)
        return chk_val_error(loc);
    if (x.kind == VAL_SCALAR && y.kind == VAL_SCALAR) {
        Value r = { .kind = VAL_SCALAR, .loc = loc };
        r.num = apply_binary(fn, x.num, y.num);
        r.is_int = x.is_int && y.is_int && fn != BIN_DIV;
        if (r.is_int && (fabs(r.num) > 9e15))
            r.is_int = false;
        return r;
    }
    Node *nx = NULL, *ny = NULL;
    if (x.kind != VAL_SCALAR && !(nx = chk_want_tensor(c, x, "an operand")))
        return chk_val_error(loc);
    if (y.kind != VAL_SCALAR && !(ny = chk_want_tensor(c, y, "an operand")))
        return chk_val_error(loc);
    Node *n = chk_new_node(c, NODE_BINARY, binary_stage(fn), loc);
    n->binary.fn = fn;
    if (nx && ny) {
        Shape a = nx->shape, b = ny->shape;
        if (a.rank != b.rank) {
            diag_error(c->d, loc, "'%s' needs operands of the same shape, got %s and %s",
                       binary_stage(fn), shape_str(c->a, a), shape_str(c->a, b));
            return chk_val_error(loc);
        }
        bool ok = true;
        for (int32_t i = 0; i < a.rank && ok; i++) {
            int64_t u, v;
            if (sym_is_const(a.dims[i], &u) && sym_is_const(b.dims[i], &v) && u != v) {
                diag_error(c->d, loc, "'%s' needs operands of the same shape, got %s and %s (dim %d: %lld vs %lld)",
                           binary_stage(fn), shape_str(c->a, a), shape_str(c->a, b), i,
                           (long long)u, (long long)v);
                return chk_val_error(loc);
            }
            ok &= chk_unify_dim(c, a.dims[i], b.dims[i], loc,
                                arena_printf(c->a, "'%s': dim %d of the operands", binary_stage(fn), i));
        }
        if (!ok)
            return chk_val_error(loc);
        chk_add_input(n, nx);
        chk_add_input(n, ny);
        n->shape = a;
    } else if (nx) {
        n->binary.scalar_rhs = true;
        n->binary.scalar = (float)y.num;
        chk_add_input(n, nx);
        n->shape = nx->shape;
    } else {
        n->binary.scalar_lhs = true;
        n->binary.scalar = (float)x.num;
        chk_add_input(n, ny);
        n->shape = ny->shape;
    }
    n->macs = sym_const(&c->sc, 0);
    chk_elementwise_rf(n);
    chk_push_node(c, n);
    return chk_tensor_val(n, loc);
}

Value check_minmax(Checker *c, const AstExpr *e, BinaryFn fn)
{
    static const char *const names[] = { "a", "b" };
    CallArgs a;
    chk_bind_args(c, e, names, 2, 2, &a);
    if (!chk_need_first_two(c, e, &a, "two operands", "two operands"))
        return chk_val_error(e->loc);
    Value x = chk_eval(c, a.arg[0]), y = chk_eval(c, a.arg[1]);
    Value r = chk_binary(c, fn, x, y, e->loc);
    if (r.kind == VAL_TENSOR)
        r.node->stage = r.node->desc = e->call.callee;
    return r;
}
