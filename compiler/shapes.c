#include "shapes.h"

#include <string.h>

static SymExpr *node(ShapeCtx *c, SymKind k, const SymExpr *a, const SymExpr *b)
{
    SymExpr *e = arena_alloc(c->arena, sizeof *e);
    e->kind = k;
    e->a = a;
    e->b = b;
    return e;
}

const SymExpr *sym_const(ShapeCtx *c, int64_t v)
{
    SymExpr *e = node(c, SYM_CONST, NULL, NULL);
    e->value = v;
    return e;
}

const SymExpr *sym_var(ShapeCtx *c, const char *name)
{
    for (int32_t i = 0; i < c->nbindings; i++)
        if (strcmp(c->bindings[i].name, name) == 0)
            return sym_const(c, c->bindings[i].value);
    SymExpr *e = node(c, SYM_VAR, NULL, NULL);
    e->name = name;
    return e;
}

bool sym_is_const(const SymExpr *e, int64_t *value)
{
    if (e && e->kind == SYM_CONST) {
        if (value)
            *value = e->value;
        return true;
    }
    return false;
}

static int64_t floordiv64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static const SymExpr *fold(ShapeCtx *c, SymKind k, const SymExpr *a,
                           const SymExpr *b)
{
    int64_t x, y, r = 0;
    if (sym_is_const(a, &x) && sym_is_const(b, &y)) {
        bool ovf = false;
        switch (k) {
        case SYM_ADD: ovf = __builtin_add_overflow(x, y, &r); break;
        case SYM_SUB: ovf = __builtin_sub_overflow(x, y, &r); break;
        case SYM_MUL: ovf = __builtin_mul_overflow(x, y, &r); break;
        case SYM_FLOORDIV:
        case SYM_CEILDIV:
            if (y <= 0) {
                ovf = true;
                break;
            }
            r = floordiv64(x, y);
            if (k == SYM_CEILDIV && r * y != x)
                r++;
            break;
        case SYM_MIN: r = x < y ? x : y; break;
        case SYM_MAX: r = x > y ? x : y; break;
        default: break;
        }
        if (ovf) {
            c->overflow = true;
            return sym_const(c, 0);
        }
        return sym_const(c, r);
    }
    /* Identities that keep printed formulas short. */
    if (k == SYM_ADD && sym_is_const(b, &y) && y == 0) return a;
    if (k == SYM_ADD && sym_is_const(a, &x) && x == 0) return b;
    if (k == SYM_SUB && sym_is_const(b, &y) && y == 0) return a;
    if (k == SYM_MUL && sym_is_const(b, &y) && y == 1) return a;
    if (k == SYM_MUL && sym_is_const(a, &x) && x == 1) return b;
    if ((k == SYM_FLOORDIV || k == SYM_CEILDIV) && sym_is_const(b, &y) && y == 1)
        return a;
    if (k == SYM_SUB && sym_equal(a, b)) return sym_const(c, 0);
    if ((k == SYM_MIN || k == SYM_MAX) && sym_equal(a, b)) return a;
    /* (e + c1) - c2 and (e + c1) + c2 fold the constants. */
    if ((k == SYM_ADD || k == SYM_SUB) && sym_is_const(b, &y) &&
        (a->kind == SYM_ADD || a->kind == SYM_SUB) && sym_is_const(a->b, &x)) {
        int64_t cx = a->kind == SYM_ADD ? x : -x;
        int64_t t;
        bool ovf = k == SYM_ADD ? __builtin_add_overflow(cx, y, &t)
                                : __builtin_sub_overflow(cx, y, &t);
        if (!ovf && t != INT64_MIN) {
            if (t == 0)
                return a->a;
            return t > 0 ? node(c, SYM_ADD, a->a, sym_const(c, t))
                         : node(c, SYM_SUB, a->a, sym_const(c, -t));
        }
    }
    return node(c, k, a, b);
}

const SymExpr *sym_add(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return fold(c, SYM_ADD, a, b); }
const SymExpr *sym_sub(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return fold(c, SYM_SUB, a, b); }
const SymExpr *sym_mul(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return fold(c, SYM_MUL, a, b); }
const SymExpr *sym_floordiv(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return fold(c, SYM_FLOORDIV, a, b); }
const SymExpr *sym_ceildiv(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return fold(c, SYM_CEILDIV, a, b); }
const SymExpr *sym_min(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return fold(c, SYM_MIN, a, b); }
const SymExpr *sym_max(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return fold(c, SYM_MAX, a, b); }

bool sym_equal(const SymExpr *a, const SymExpr *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case SYM_CONST: return a->value == b->value;
    case SYM_VAR: return strcmp(a->name, b->name) == 0;
    default: return sym_equal(a->a, b->a) && sym_equal(a->b, b->b);
    }
}

/* Precedence for printing: 1 additive, 2 multiplicative, 3 atom. */
static int prec(const SymExpr *e)
{
    switch (e->kind) {
    case SYM_ADD: case SYM_SUB: return 1;
    case SYM_MUL: case SYM_FLOORDIV: case SYM_CEILDIV: return 2;
    default: return 3;
    }
}

static const char *paren(Arena *a, const SymExpr *e, int need)
{
    const char *s = sym_str(a, e);
    return prec(e) < need ? arena_printf(a, "(%s)", s) : s;
}

const char *sym_str(Arena *a, const SymExpr *e)
{
    switch (e->kind) {
    case SYM_CONST: return arena_printf(a, "%lld", (long long)e->value);
    case SYM_VAR: return e->name;
    case SYM_ADD: return arena_printf(a, "%s + %s", paren(a, e->a, 1), paren(a, e->b, 2));
    case SYM_SUB: return arena_printf(a, "%s - %s", paren(a, e->a, 1), paren(a, e->b, 2));
    case SYM_MUL: return arena_printf(a, "%s*%s", paren(a, e->a, 2), paren(a, e->b, 3));
    case SYM_FLOORDIV: return arena_printf(a, "%s/%s", paren(a, e->a, 2), paren(a, e->b, 3));
    case SYM_CEILDIV: return arena_printf(a, "ceil(%s/%s)", sym_str(a, e->a), paren(a, e->b, 3));
    case SYM_MIN: return arena_printf(a, "min(%s, %s)", sym_str(a, e->a), sym_str(a, e->b));
    case SYM_MAX: return arena_printf(a, "max(%s, %s)", sym_str(a, e->a), sym_str(a, e->b));
    }
    return "?";
}

Shape shape_make(Arena *a, int32_t rank)
{
    Shape s = { rank, arena_array(a, (size_t)(rank > 0 ? rank : 1), sizeof(SymExpr *)) };
    return s;
}

const char *shape_str(Arena *a, Shape s)
{
    const char *out = "[";
    for (int32_t i = 0; i < s.rank; i++)
        out = arena_printf(a, "%s%s%s", out, i ? ", " : "", sym_str(a, s.dims[i]));
    return arena_printf(a, "%s]", out);
}

const SymExpr *shape_numel(ShapeCtx *c, Shape s)
{
    bool before = c->overflow;
    c->overflow = false;
    const SymExpr *n = sym_const(c, 1);
    for (int32_t i = 0; i < s.rank; i++)
        n = sym_mul(c, n, s.dims[i]);
    bool ovf = c->overflow;
    c->overflow = before || ovf;
    return ovf ? NULL : n;
}

const SymExpr *window_span(ShapeCtx *c, const WindowDim *w)
{
    const SymExpr *t = sym_add(c, sym_add(c, w->n, w->p0), w->p1);
    const SymExpr *ext = sym_mul(c, sym_const(c, w->d), sym_sub(c, w->k, sym_const(c, 1)));
    return sym_sub(c, sym_sub(c, t, ext), sym_const(c, 1));
}

const SymExpr *window_out(ShapeCtx *c, const WindowDim *w)
{
    const SymExpr *span = window_span(c, w);
    const SymExpr *s = sym_const(c, w->s);
    if (!w->ceil_mode)
        return sym_add(c, sym_floordiv(c, span, s), sym_const(c, 1));
    const SymExpr *out = sym_add(c, sym_ceildiv(c, span, s), sym_const(c, 1));
    /* PyTorch: if ((out - 1) * s >= n + p0) out--.  Only decidable here for
     * constants; symbolic ceil mode keeps the rule in a min(). */
    const SymExpr *last = sym_mul(c, sym_sub(c, out, sym_const(c, 1)), s);
    const SymExpr *lim = sym_add(c, w->n, w->p0);
    int64_t lv, mv;
    if (sym_is_const(last, &lv) && sym_is_const(lim, &mv))
        return lv >= mv ? sym_sub(c, out, sym_const(c, 1)) : out;
    /* out' = min(out, floor((n + p0 - 1)/s) + 1): the largest count whose
     * last window starts inside the input or the left padding. */
    const SymExpr *cap = sym_add(c, sym_floordiv(c, sym_sub(c, lim, sym_const(c, 1)), s),
                                 sym_const(c, 1));
    return sym_min(c, out, cap);
}

const char *window_formula(Arena *a, const WindowDim *w)
{
    const char *k = sym_str(a, w->k);
    if (w->k->kind != SYM_CONST && w->k->kind != SYM_VAR)
        k = arena_printf(a, "(%s)", k);
    const char *body = arena_printf(a, "%s + %s + %s - %lld*(%s-1) - 1",
                                    sym_str(a, w->n), sym_str(a, w->p0),
                                    sym_str(a, w->p1), (long long)w->d, k);
    if (w->ceil_mode)
        return arena_printf(a, "ceil((%s)/%lld) + 1", body, (long long)w->s);
    return arena_printf(a, "(%s)/%lld + 1", body, (long long)w->s);
}
