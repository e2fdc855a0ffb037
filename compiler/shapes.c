#include "shapes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A formula longer than this shows a labelled subexpression by its label. */
enum { LONG_FORMULA = 40, LEN_CAP = 1 << 20 };

#define NEG_INF INT64_MIN
#define POS_INF INT64_MAX

struct SymTable {
    const SymExpr **slot;
    uint32_t        cap, count;
};

/* Process-wide, so that operands made through different contexts still
 * sort the same way and never share an id. */
static int64_t next_id = 1;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "convc: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "convc: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static int64_t floordiv64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    uint64_t x = a < 0 ? -(uint64_t)a : (uint64_t)a, y = b < 0 ? -(uint64_t)b : (uint64_t)b;
    while (y) {
        uint64_t t = x % y;
        x = y;
        y = t;
    }
    return x > (uint64_t)INT64_MAX ? 1 : (int64_t)x;
}

/* ---- hashing and interning ------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Structural: made from the children's hashes, not their addresses, so
 * equal expressions from different tables hash alike. */
static uint64_t node_hash(const SymExpr *e)
{
    uint64_t h = mix(0x51ed27, (uint64_t)e->kind);
    switch (e->kind) {
    case SYM_CONST: return mix(h, (uint64_t)e->value);
    case SYM_VAR: return mix(h, str_hash(e->name));
    case SYM_ADD:
        h = mix(h, (uint64_t)e->value);
        for (int32_t i = 0; i < e->n; i++)
            h = mix(mix(h, (uint64_t)e->coef[i]), e->terms[i]->hash);
        return h;
    case SYM_MUL:
        for (int32_t i = 0; i < e->n; i++)
            h = mix(h, e->terms[i]->hash);
        return h;
    default:
        return mix(mix(h, e->a->hash), e->b->hash);
    }
}

/* Equal when the children are the same nodes (they are interned). */
static bool shallow_equal(const SymExpr *x, const SymExpr *y)
{
    if (x->kind != y->kind)
        return false;
    switch (x->kind) {
    case SYM_CONST: return x->value == y->value;
    case SYM_VAR: return strcmp(x->name, y->name) == 0;
    case SYM_ADD:
        if (x->value != y->value || x->n != y->n)
            return false;
        for (int32_t i = 0; i < x->n; i++)
            if (x->coef[i] != y->coef[i] || x->terms[i] != y->terms[i])
                return false;
        return true;
    case SYM_MUL:
        if (x->n != y->n)
            return false;
        for (int32_t i = 0; i < x->n; i++)
            if (x->terms[i] != y->terms[i])
                return false;
        return true;
    default:
        return x->a == y->a && x->b == y->b;
    }
}

/* ---- ranges: endpoints are int64 with INT64_MIN/MAX as -inf/+inf --------- */

typedef __int128 i128;
/* Extended endpoints: anything beyond int64 is as good as infinite here,
 * so values are kept within +-X_BIG and X_INF stands for infinity. */
#define X_INF (((i128)1) << 120)
#define X_BIG (((i128)1) << 100)

static i128 ext(int64_t v) { return v == NEG_INF ? -X_INF : v == POS_INF ? X_INF : (i128)v; }

static i128 xclamp(i128 v) { return v > X_BIG ? X_INF : v < -X_BIG ? -X_INF : v; }

static int64_t bound(i128 v)
{
    if (v >= (i128)INT64_MAX)
        return POS_INF;
    if (v <= (i128)INT64_MIN)
        return NEG_INF;
    return (int64_t)v;
}

/* x*y on extended values, 0 times infinity being 0 (right for interval
 * endpoints). */
static i128 xmul(i128 x, i128 y)
{
    if (x == 0 || y == 0)
        return 0;
    bool neg = (x < 0) != (y < 0);
    if (x > (i128)INT64_MAX || x < (i128)INT64_MIN || y > (i128)INT64_MAX || y < (i128)INT64_MIN)
        return neg ? -X_INF : X_INF;     /* beyond int64 already: unbounded */
    return xclamp(x * y);
}

/* Sums of extended values: an infinity in the direction of the bound wins
 * (a lower bound with any -inf part is -inf). */
static i128 xadd(i128 x, i128 y, bool lower)
{
    i128 weak = lower ? -X_INF : X_INF;
    if (x == weak || y == weak)
        return weak;
    if (x == -weak || y == -weak)
        return -weak;
    return xclamp(x + y);
}

static i128 xfloordiv(i128 x, int64_t d)
{
    if (x == X_INF || x == -X_INF)
        return x;
    i128 q = x / d;
    if (x % d != 0 && x < 0)
        q--;
    return q;
}

static i128 xceildiv(i128 x, int64_t d)
{
    if (x == X_INF || x == -X_INF)
        return x;
    i128 q = x / d;
    if (x % d != 0 && x > 0)
        q++;
    return q;
}

static void set_range(SymExpr *e)
{
    i128 lo = 0, hi = 0;
    switch (e->kind) {
    case SYM_CONST: lo = hi = e->value; break;
    case SYM_VAR: lo = 1; hi = SYM_DIM_MAX; break;
    case SYM_ADD:
        lo = hi = e->value;
        for (int32_t i = 0; i < e->n; i++) {
            i128 k = e->coef[i], tl = ext(e->terms[i]->lo), th = ext(e->terms[i]->hi);
            lo = xadd(lo, xmul(k, k > 0 ? tl : th), true);
            hi = xadd(hi, xmul(k, k > 0 ? th : tl), false);
        }
        break;
    case SYM_MUL:
        lo = hi = 1;
        for (int32_t i = 0; i < e->n; i++) {
            i128 tl = ext(e->terms[i]->lo), th = ext(e->terms[i]->hi);
            i128 c[4] = { xmul(lo, tl), xmul(lo, th), xmul(hi, tl), xmul(hi, th) };
            lo = hi = c[0];
            for (int j = 1; j < 4; j++) {
                if (c[j] < lo) lo = c[j];
                if (c[j] > hi) hi = c[j];
            }
            lo = ext(bound(lo));
            hi = ext(bound(hi));
        }
        break;
    case SYM_FLOORDIV:
    case SYM_CEILDIV: {
        i128 (*div)(i128, int64_t) = e->kind == SYM_FLOORDIV ? xfloordiv : xceildiv;
        int64_t dl = e->b->lo, dh = e->b->hi;
        if (dl == dh && dl >= 1) {
            lo = div(ext(e->a->lo), dl);
            hi = div(ext(e->a->hi), dl);
            break;
        }
        if (dl < 1 || dh == POS_INF || e->a->lo == NEG_INF || e->a->hi == POS_INF) {
            lo = -X_INF;    /* a divisor below 1 is an error at run time */
            hi = X_INF;
            break;
        }
        /* monotone in the numerator, and in the divisor for a fixed sign of
         * the numerator: the extremes are at the corners */
        i128 c[4] = { div(e->a->lo, dl), div(e->a->lo, dh), div(e->a->hi, dl), div(e->a->hi, dh) };
        lo = hi = c[0];
        for (int j = 1; j < 4; j++) {
            if (c[j] < lo) lo = c[j];
            if (c[j] > hi) hi = c[j];
        }
        break;
    }
    case SYM_MIN:
        lo = ext(e->a->lo < e->b->lo ? e->a->lo : e->b->lo);
        hi = ext(e->a->hi < e->b->hi ? e->a->hi : e->b->hi);
        break;
    case SYM_MAX:
        lo = ext(e->a->lo > e->b->lo ? e->a->lo : e->b->lo);
        hi = ext(e->a->hi > e->b->hi ? e->a->hi : e->b->hi);
        break;
    }
    e->lo = bound(lo);
    e->hi = bound(hi);
}

void sym_range(const SymExpr *e, int64_t *lo, int64_t *hi)
{
    *lo = e->lo;
    *hi = e->hi;
}

/* ---- printed length, for deciding when a label stands in ---------------- */

static int32_t digits(int64_t v)
{
    char buf[32];
    return (int32_t)snprintf(buf, sizeof buf, "%lld", (long long)v);
}

static bool use_label(const SymExpr *e)
{
    return e->label && e->len > LONG_FORMULA;
}

static int64_t shown_len(const SymExpr *e)
{
    return use_label(e) ? (int64_t)strlen(e->label) : e->len;
}

static void set_len(SymExpr *e)
{
    int64_t n = 0;
    switch (e->kind) {
    case SYM_CONST: n = digits(e->value); break;
    case SYM_VAR: n = (int64_t)strlen(e->name); break;
    case SYM_ADD:
        for (int32_t i = 0; i < e->n; i++)
            n += shown_len(e->terms[i]) + 3 + (e->coef[i] != 1 && e->coef[i] != -1 ? 1 + digits(e->coef[i]) : 0);
        if (e->value)
            n += 3 + digits(e->value);
        break;
    case SYM_MUL:
        for (int32_t i = 0; i < e->n; i++)
            n += shown_len(e->terms[i]) + 3;
        break;
    default:
        n = shown_len(e->a) + shown_len(e->b) + 8;
        break;
    }
    e->len = (int32_t)(n > LEN_CAP ? LEN_CAP : n);
}

/* ---- the table -------------------------------------------------------------- */

static SymTable *table_of(ShapeCtx *c)
{
    if (!c->table) {
        c->table = arena_alloc(c->arena, sizeof *c->table);
        c->table->cap = 256;
        c->table->slot = arena_array(c->arena, c->table->cap, sizeof(SymExpr *));
    }
    return c->table;
}

static void table_grow(ShapeCtx *c, SymTable *t)
{
    uint32_t cap = t->cap * 2;
    const SymExpr **slot = arena_array(c->arena, cap, sizeof(SymExpr *));
    for (uint32_t i = 0; i < t->cap; i++) {
        const SymExpr *e = t->slot[i];
        if (!e)
            continue;
        uint32_t j = (uint32_t)e->hash & (cap - 1);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = e;
    }
    t->slot = slot;
    t->cap = cap;
}

/* The node equal to p, made once per table. */
static const SymExpr *intern(ShapeCtx *c, const SymExpr *p)
{
    SymTable *t = table_of(c);
    if ((t->count + 1) * 2 > t->cap)
        table_grow(c, t);
    uint64_t h = node_hash(p);
    uint32_t mask = t->cap - 1, i = (uint32_t)h & mask;
    for (; t->slot[i]; i = (i + 1) & mask)
        if (t->slot[i]->hash == h && shallow_equal(t->slot[i], p))
            return t->slot[i];
    SymExpr *e = arena_alloc(c->arena, sizeof *e);
    *e = *p;
    if (p->kind == SYM_ADD || p->kind == SYM_MUL) {
        const SymExpr **terms = arena_array(c->arena, (size_t)p->n, sizeof *terms);
        memcpy(terms, p->terms, (size_t)p->n * sizeof *terms);
        e->terms = terms;
        if (p->kind == SYM_ADD) {
            int64_t *coef = arena_array(c->arena, (size_t)p->n, sizeof *coef);
            memcpy(coef, p->coef, (size_t)p->n * sizeof *coef);
            e->coef = coef;
        }
    }
    e->hash = h;
    e->id = next_id++;
    e->label = NULL;
    e->lead = e->kind == SYM_VAR ? e->id : INT64_MAX;
    if (e->kind == SYM_ADD || e->kind == SYM_MUL) {
        for (int32_t k = 0; k < e->n; k++)
            if (e->terms[k]->lead < e->lead)
                e->lead = e->terms[k]->lead;
    } else if (e->kind != SYM_CONST && e->kind != SYM_VAR) {
        e->lead = e->a->lead < e->b->lead ? e->a->lead : e->b->lead;
    }
    set_range(e);
    set_len(e);
    t->slot[i] = e;
    t->count++;
    return e;
}

const SymExpr *sym_const(ShapeCtx *c, int64_t v)
{
    SymExpr p = { .kind = SYM_CONST, .value = v };
    return intern(c, &p);
}

const SymExpr *sym_var(ShapeCtx *c, const char *name)
{
    for (int32_t i = 0; i < c->nbindings; i++)
        if (strcmp(c->bindings[i].name, name) == 0)
            return sym_const(c, c->bindings[i].value);
    SymExpr p = { .kind = SYM_VAR, .name = name };
    return intern(c, &p);
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

/* ---- linear forms: value + sum of coef*term -------------------------------- */

typedef struct Lin {
    int64_t         value;
    int32_t         n, cap;
    int64_t        *coef;
    const SymExpr **term;
    bool            ovf;
} Lin;

static void lin_push(Lin *l, int64_t k, const SymExpr *t)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->coef = xrealloc(l->coef, (size_t)l->cap * sizeof *l->coef);
        l->term = xrealloc(l->term, (size_t)l->cap * sizeof *l->term);
    }
    l->coef[l->n] = k;
    l->term[l->n++] = t;
}

/* l += k*e */
static void lin_add(Lin *l, int64_t k, const SymExpr *e)
{
    int64_t t;
    if (e->kind == SYM_CONST) {
        l->ovf |= __builtin_mul_overflow(k, e->value, &t) || __builtin_add_overflow(l->value, t, &l->value);
        return;
    }
    if (e->kind != SYM_ADD) {
        lin_push(l, k, e);
        return;
    }
    l->ovf |= __builtin_mul_overflow(k, e->value, &t) || __builtin_add_overflow(l->value, t, &l->value);
    for (int32_t i = 0; i < e->n; i++) {
        l->ovf |= __builtin_mul_overflow(k, e->coef[i], &t);
        lin_push(l, t, e->terms[i]);
    }
}

static void lin_free(Lin *l)
{
    free(l->coef);
    free(l->term);
    l->coef = NULL;
    l->term = NULL;
    l->n = l->cap = 0;
}

/* The order of the operands of sums, products, min and max. */
static int sym_order(const SymExpr *x, const SymExpr *y)
{
    if (x->lead != y->lead)
        return x->lead < y->lead ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int by_order(const void *x, const void *y)
{
    return sym_order(*(const SymExpr *const *)x, *(const SymExpr *const *)y);
}

typedef struct Pair {
    const SymExpr *t;
    int64_t        k;
} Pair;

static int pair_by_order(const void *x, const void *y)
{
    return sym_order(((const Pair *)x)->t, ((const Pair *)y)->t);
}

/* Collect like terms (the same node, so adjacent once sorted) and drop
 * zero coefficients. */
static void lin_normalise(Lin *l)
{
    if (l->n > 1) {
        Pair *p = xmalloc((size_t)l->n * sizeof *p);
        for (int32_t i = 0; i < l->n; i++)
            p[i] = (Pair){ l->term[i], l->coef[i] };
        qsort(p, (size_t)l->n, sizeof *p, pair_by_order);
        int32_t m = 0;
        for (int32_t i = 0; i < l->n; i++) {
            if (m > 0 && l->term[m - 1] == p[i].t) {
                l->ovf |= __builtin_add_overflow(l->coef[m - 1], p[i].k, &l->coef[m - 1]);
                continue;
            }
            l->term[m] = p[i].t;
            l->coef[m++] = p[i].k;
        }
        l->n = m;
        free(p);
    }
    int32_t m = 0;
    for (int32_t i = 0; i < l->n; i++)
        if (l->coef[i] != 0) {
            l->term[m] = l->term[i];
            l->coef[m++] = l->coef[i];
        }
    l->n = m;
}

/* The node for l (which is freed); overflow sets the context's flag. */
static const SymExpr *lin_finish(ShapeCtx *c, Lin *l)
{
    lin_normalise(l);
    const SymExpr *r;
    if (l->ovf) {
        c->overflow = true;
        r = sym_const(c, 0);
    } else if (l->n == 0) {
        r = sym_const(c, l->value);
    } else if (l->n == 1 && l->coef[0] == 1 && l->value == 0) {
        r = l->term[0];
    } else {
        SymExpr p = { .kind = SYM_ADD, .n = l->n, .value = l->value, .coef = l->coef,
                      .terms = (const SymExpr *const *)l->term };
        r = intern(c, &p);
    }
    lin_free(l);
    return r;
}

static const SymExpr *scale(ShapeCtx *c, const SymExpr *e, int64_t k)
{
    if (k == 1)
        return e;
    Lin l = { 0 };
    lin_add(&l, k, e);
    return lin_finish(c, &l);
}

const SymExpr *sym_add(ShapeCtx *c, const SymExpr *a, const SymExpr *b)
{
    int64_t x, y;
    if (sym_is_const(b, &y) && y == 0)
        return a;
    if (sym_is_const(a, &x) && x == 0)
        return b;
    Lin l = { 0 };
    lin_add(&l, 1, a);
    lin_add(&l, 1, b);
    return lin_finish(c, &l);
}

const SymExpr *sym_sub(ShapeCtx *c, const SymExpr *a, const SymExpr *b)
{
    int64_t y;
    if (sym_is_const(b, &y) && y == 0)
        return a;
    if (a == b)
        return sym_const(c, 0);
    Lin l = { 0 };
    lin_add(&l, 1, a);
    lin_add(&l, -1, b);
    return lin_finish(c, &l);
}

/* ---- products ------------------------------------------------------------- */

/* e = k * core, with core not a constant multiple of anything. */
static const SymExpr *split_coef(const SymExpr *e, int64_t *k)
{
    if (e->kind == SYM_ADD && e->n == 1 && e->value == 0) {
        *k = e->coef[0];
        return e->terms[0];
    }
    *k = 1;
    return e;
}

const SymExpr *sym_mul(ShapeCtx *c, const SymExpr *a, const SymExpr *b)
{
    int64_t x, y, r;
    if (sym_is_const(a, &x) && sym_is_const(b, &y)) {
        if (__builtin_mul_overflow(x, y, &r)) {
            c->overflow = true;
            return sym_const(c, 0);
        }
        return sym_const(c, r);
    }
    if (sym_is_const(a, &x))
        return x == 0 ? a : scale(c, b, x);
    if (sym_is_const(b, &y))
        return y == 0 ? b : scale(c, a, y);
    int64_t ka, kb, k;
    const SymExpr *ca = split_coef(a, &ka), *cb = split_coef(b, &kb);
    if (__builtin_mul_overflow(ka, kb, &k)) {
        c->overflow = true;
        return sym_const(c, 0);
    }
    /* The factors of both, merged in order (a multiset: H*H keeps both). */
    const SymExpr *const *fa = ca->kind == SYM_MUL ? ca->terms : &ca;
    const SymExpr *const *fb = cb->kind == SYM_MUL ? cb->terms : &cb;
    int32_t na = ca->kind == SYM_MUL ? ca->n : 1, nb = cb->kind == SYM_MUL ? cb->n : 1;
    const SymExpr **f = xmalloc((size_t)(na + nb) * sizeof *f);
    int32_t i = 0, j = 0, n = 0;
    while (i < na || j < nb)
        f[n++] = j >= nb || (i < na && sym_order(fa[i], fb[j]) <= 0) ? fa[i++] : fb[j++];
    SymExpr p = { .kind = SYM_MUL, .n = n, .terms = (const SymExpr *const *)f };
    const SymExpr *m = intern(c, &p);
    free(f);
    return scale(c, m, k);
}

/* ---- division ----------------------------------------------------------------- */

static const SymExpr *floordiv_const(ShapeCtx *c, const SymExpr *num, int64_t d);

/* floor(l/d) for d > 0, l not constant; frees l. */
static const SymExpr *floordiv_lin(ShapeCtx *c, Lin *l, int64_t d)
{
    /* Terms whose coefficient d divides come out whole: floor((d*q*t +
     * rest)/d) = q*t + floor(rest/d).  So does the constant, leaving a
     * remainder in (-d, 0], which keeps "(H - 1)/2 + 1" as written. */
    Lin out = { 0 }, in = { 0 };
    for (int32_t i = 0; i < l->n; i++) {
        if (l->coef[i] % d == 0)
            lin_push(&out, l->coef[i] / d, l->term[i]);
        else
            lin_push(&in, l->coef[i], l->term[i]);
    }
    int64_t q = l->value / d, r = l->value - q * d;
    if (r > 0) {
        q++;
        r -= d;
    }
    out.value = q;
    lin_free(l);
    if (in.n == 0) {
        lin_free(&in);
        out.value += r < 0 ? -1 : 0;    /* q >= INT64_MIN/d + 1: no overflow */
        return lin_finish(c, &out);
    }
    /* A factor common to d and every coefficient cancels:
     * floor((g*x + r)/(g*d')) = floor((x + floor(r/g))/d'). */
    int64_t g = d;
    for (int32_t i = 0; i < in.n && g > 1; i++)
        g = gcd64(g, in.coef[i]);
    const SymExpr *inner;
    if (g > 1) {
        for (int32_t i = 0; i < in.n; i++)
            in.coef[i] /= g;
        in.value = floordiv64(r, g);
        inner = floordiv_const(c, lin_finish(c, &in), d / g);
    } else if (in.n == 1 && in.coef[0] == 1 && in.term[0]->kind == SYM_FLOORDIV &&
               in.term[0]->b->kind == SYM_CONST && in.term[0]->b->value > 0) {
        /* floor((floor(x/a) + r)/d) = floor((x + r*a)/(a*d)) for integer x
         * and a, d > 0: floor(x/a) + r = floor((x + r*a)/a), and nested
         * floors by positive integers compose.  Left alone when a*d or
         * r*a does not fit. */
        const SymExpr *x = in.term[0]->a;
        int64_t a = in.term[0]->b->value, ad, ra, xv = x->kind == SYM_ADD ? x->value : 0, nv;
        if (!__builtin_mul_overflow(a, d, &ad) && !__builtin_mul_overflow(r, a, &ra) &&
            !__builtin_add_overflow(xv, ra, &nv)) {
            Lin m = { 0 };
            lin_add(&m, 1, x);
            m.value += ra;
            inner = floordiv_const(c, lin_finish(c, &m), ad);
        } else {
            in.value = r;
            SymExpr p = { .kind = SYM_FLOORDIV, .a = lin_finish(c, &in), .b = sym_const(c, d) };
            inner = intern(c, &p);
        }
        lin_free(&in);     /* a no-op when lin_finish took it */
    } else {
        in.value = r;
        SymExpr p = { .kind = SYM_FLOORDIV, .a = lin_finish(c, &in), .b = sym_const(c, d) };
        inner = intern(c, &p);
    }
    lin_add(&out, 1, inner);
    return lin_finish(c, &out);
}

static const SymExpr *floordiv_const(ShapeCtx *c, const SymExpr *num, int64_t d)
{
    int64_t x;
    if (sym_is_const(num, &x))
        return sym_const(c, floordiv64(x, d));
    if (d == 1)
        return num;
    Lin l = { 0 };
    lin_add(&l, 1, num);
    lin_normalise(&l);
    return floordiv_lin(c, &l, d);
}

const SymExpr *sym_floordiv(ShapeCtx *c, const SymExpr *a, const SymExpr *b)
{
    int64_t y;
    if (sym_is_const(b, &y)) {
        if (y <= 0) {   /* never folded: the caller reports it */
            c->overflow = true;
            return sym_const(c, 0);
        }
        return floordiv_const(c, a, y);
    }
    SymExpr p = { .kind = SYM_FLOORDIV, .a = a, .b = b };
    return intern(c, &p);
}

const SymExpr *sym_ceildiv(ShapeCtx *c, const SymExpr *a, const SymExpr *b)
{
    int64_t x, y, r;
    if (sym_is_const(b, &y)) {
        if (y <= 0) {
            c->overflow = true;
            return sym_const(c, 0);
        }
        if (sym_is_const(a, &x)) {
            r = floordiv64(x, y);
            return sym_const(c, r * y != x ? r + 1 : r);
        }
        /* ceil(a/d) = floor((a + d - 1)/d) for integers */
        int64_t av = a->kind == SYM_ADD ? a->value : 0;
        if (!__builtin_add_overflow(av, y - 1, &r)) {
            Lin l = { 0 };
            lin_add(&l, 1, a);
            l.value += y - 1;
            lin_normalise(&l);
            return floordiv_lin(c, &l, y);
        }
    }
    SymExpr p = { .kind = SYM_CEILDIV, .a = a, .b = b };
    return intern(c, &p);
}

/* ---- min and max --------------------------------------------------------- */

static const SymExpr *minmax(ShapeCtx *c, SymKind k, const SymExpr *a, const SymExpr *b)
{
    int64_t x, y;
    bool is_min = k == SYM_MIN;
    if (sym_is_const(a, &x) && sym_is_const(b, &y))
        return sym_const(c, (x < y) == is_min ? x : y);
    if (sym_equal(a, b))
        return a;
    /* Decided by the ranges, or by a constant difference (H - 1 vs H + 2). */
    if (a->hi != POS_INF && b->lo != NEG_INF && a->hi <= b->lo)
        return is_min ? a : b;
    if (b->hi != POS_INF && a->lo != NEG_INF && b->hi <= a->lo)
        return is_min ? b : a;
    bool before = c->overflow;
    const SymExpr *diff = sym_sub(c, a, b);
    c->overflow = before;
    if (sym_is_const(diff, &x))
        return (x <= 0) == is_min ? a : b;
    if (sym_order(a, b) > 0) {
        const SymExpr *t = a;
        a = b;
        b = t;
    }
    SymExpr p = { .kind = k, .a = a, .b = b };
    return intern(c, &p);
}

const SymExpr *sym_min(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return minmax(c, SYM_MIN, a, b); }
const SymExpr *sym_max(ShapeCtx *c, const SymExpr *a, const SymExpr *b) { return minmax(c, SYM_MAX, a, b); }

/* ---- sums of many terms ------------------------------------------------------- */

struct SymSum {
    ShapeCtx *c;
    Lin       lin;
    int32_t  *index;    /* open addressing on the term's id -> lin slot */
    uint32_t  cap;
};

SymSum *sym_sum_new(ShapeCtx *c)
{
    SymSum *s = xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->c = c;
    return s;
}

static void sum_term(SymSum *s, int64_t k, const SymExpr *t)
{
    if ((uint32_t)(s->lin.n + 1) * 2 > s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 64;
        int32_t *index = xmalloc(cap * sizeof *index);
        for (uint32_t i = 0; i < cap; i++)
            index[i] = -1;
        for (int32_t j = 0; j < s->lin.n; j++) {
            uint32_t i = (uint32_t)s->lin.term[j]->hash & (cap - 1);
            while (index[i] >= 0)
                i = (i + 1) & (cap - 1);
            index[i] = j;
        }
        free(s->index);
        s->index = index;
        s->cap = cap;
    }
    uint32_t i = (uint32_t)t->hash & (s->cap - 1);
    for (; s->index[i] >= 0; i = (i + 1) & (s->cap - 1))
        if (s->lin.term[s->index[i]] == t) {
            int64_t *kk = &s->lin.coef[s->index[i]];
            s->lin.ovf |= __builtin_add_overflow(*kk, k, kk);
            return;
        }
    s->index[i] = s->lin.n;
    lin_push(&s->lin, k, t);
}

void sym_sum_add(SymSum *s, const SymExpr *e)
{
    if (e->kind == SYM_CONST) {
        s->lin.ovf |= __builtin_add_overflow(s->lin.value, e->value, &s->lin.value);
    } else if (e->kind == SYM_ADD) {
        s->lin.ovf |= __builtin_add_overflow(s->lin.value, e->value, &s->lin.value);
        for (int32_t i = 0; i < e->n; i++)
            sum_term(s, e->coef[i], e->terms[i]);
    } else {
        sum_term(s, 1, e);
    }
}

const SymExpr *sym_sum_get(SymSum *s)
{
    const SymExpr *r = lin_finish(s->c, &s->lin);
    free(s->index);
    free(s);
    return r;
}

/* out += k*e with products of sums multiplied out; false when that would
 * overflow or grow past EXPAND_LIMIT terms. */
enum { EXPAND_LIMIT = 64, EXPAND_DEPTH = 8 };

static bool poly(ShapeCtx *c, const SymExpr *e, int64_t k, Lin *out, int depth)
{
    int64_t t;
    if (e->kind == SYM_ADD && depth < EXPAND_DEPTH) {
        if (__builtin_mul_overflow(k, e->value, &t) || __builtin_add_overflow(out->value, t, &out->value))
            return false;
        for (int32_t i = 0; i < e->n; i++)
            if (__builtin_mul_overflow(k, e->coef[i], &t) || !poly(c, e->terms[i], t, out, depth + 1))
                return false;
        return true;
    }
    if (e->kind != SYM_MUL || depth >= EXPAND_DEPTH) {
        lin_add(out, k, e);
        return !out->ovf;
    }
    Lin acc = { .value = 1 };
    bool ok = true;
    for (int32_t f = 0; f < e->n && ok; f++) {
        Lin fl = { 0 }, next = { 0 };
        ok = poly(c, e->terms[f], 1, &fl, depth + 1);
        lin_normalise(&fl);
        ok = ok && !fl.ovf && !acc.ovf && (int64_t)(acc.n + 1) * (fl.n + 1) <= EXPAND_LIMIT;
        for (int32_t i = -1; ok && i < acc.n; i++)
            for (int32_t j = -1; ok && j < fl.n; j++) {
                int64_t ka = i < 0 ? acc.value : acc.coef[i], kb = j < 0 ? fl.value : fl.coef[j], kk;
                if (ka == 0 || kb == 0)
                    continue;
                if (__builtin_mul_overflow(ka, kb, &kk)) {
                    ok = false;
                } else if (i < 0 && j < 0) {
                    ok = !__builtin_add_overflow(next.value, kk, &next.value);
                } else {
                    const SymExpr *term = i < 0 ? fl.term[j] : j < 0 ? acc.term[i]
                                        : sym_mul(c, acc.term[i], fl.term[j]);
                    lin_push(&next, kk, term);
                }
            }
        lin_free(&fl);
        lin_free(&acc);
        lin_normalise(&next);
        acc = next;
        ok = ok && !acc.ovf;
    }
    for (int32_t i = 0; ok && i < acc.n; i++) {
        ok = !__builtin_mul_overflow(k, acc.coef[i], &t);
        lin_push(out, t, acc.term[i]);
    }
    ok = ok && !__builtin_mul_overflow(k, acc.value, &t) && !__builtin_add_overflow(out->value, t, &out->value);
    lin_free(&acc);
    return ok;
}

const SymExpr *sym_expand(ShapeCtx *c, const SymExpr *e)
{
    if (e->kind != SYM_MUL && e->kind != SYM_ADD)
        return e;
    Lin l = { 0 };
    bool ok = poly(c, e, 1, &l, 0);
    lin_normalise(&l);
    if (!ok || l.ovf || l.n > EXPAND_LIMIT) {
        lin_free(&l);
        return e;
    }
    return lin_finish(c, &l);
}

/* ---- products as they are best read ----------------------------------------- */

/* e (a sum) divided by the gcd of its coefficients and constant, which
 * goes to *g; e itself with *g = 1 when that is 1. */
static const SymExpr *primitive(ShapeCtx *c, const SymExpr *e, int64_t *g)
{
    int64_t d = e->value;
    for (int32_t i = 0; i < e->n; i++)
        d = gcd64(d, e->coef[i]);
    *g = d > 1 ? d : 1;
    if (*g == 1)
        return e;
    Lin l = { .value = e->value / d };
    for (int32_t i = 0; i < e->n; i++)
        lin_push(&l, e->coef[i] / d, e->terms[i]);
    return lin_finish(c, &l);
}

const SymExpr *sym_factored(ShapeCtx *c, const SymExpr *e)
{
    if (e->kind == SYM_ADD) {
        Lin l = { .value = e->value };
        for (int32_t i = 0; i < e->n; i++)
            lin_add(&l, e->coef[i], sym_factored(c, e->terms[i]));
        bool before = c->overflow;
        const SymExpr *r = lin_finish(c, &l);
        if (c->overflow && !before) {
            c->overflow = false;
            return e;
        }
        return r;
    }
    if (e->kind != SYM_MUL)
        return e;
    const SymExpr *p = sym_const(c, 1);
    int64_t k = 1;
    for (int32_t i = 0; i < e->n; i++) {
        const SymExpr *f = sym_factored(c, e->terms[i]);
        int64_t g = 1;
        if (f->kind == SYM_ADD && f->n == 1 && f->value == 0) {
            g = f->coef[0];
            f = f->terms[0];
        } else if (f->kind == SYM_ADD) {
            f = primitive(c, f, &g);
        }
        if (__builtin_mul_overflow(k, g, &k))
            return e;
        p = sym_mul(c, p, f);
    }
    bool before = c->overflow;
    const SymExpr *r = sym_mul(c, p, sym_const(c, k));
    if (c->overflow && !before) {
        c->overflow = false;
        return e;
    }
    return r;
}

/* ---- comparing and evaluating -------------------------------------------------- */

bool sym_equal(const SymExpr *a, const SymExpr *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->hash != b->hash || a->kind != b->kind)
        return false;
    /* Different tables (or a hash collision): compare the structure. */
    switch (a->kind) {
    case SYM_CONST: return a->value == b->value;
    case SYM_VAR: return strcmp(a->name, b->name) == 0;
    case SYM_ADD:
    case SYM_MUL:
        if (a->n != b->n || a->value != b->value)
            return false;
        for (int32_t i = 0; i < a->n; i++)
            if ((a->kind == SYM_ADD && a->coef[i] != b->coef[i]) || !sym_equal(a->terms[i], b->terms[i]))
                return false;
        return true;
    default:
        return sym_equal(a->a, b->a) && sym_equal(a->b, b->b);
    }
}

bool sym_eval(const SymExpr *e, const SymBinding *b, int32_t nb, int64_t *out)
{
    int64_t x, y, t;
    switch (e->kind) {
    case SYM_CONST:
        *out = e->value;
        return true;
    case SYM_VAR:
        for (int32_t i = 0; i < nb; i++)
            if (!strcmp(b[i].name, e->name)) {
                *out = b[i].value;
                return true;
            }
        return false;
    case SYM_ADD:
        x = e->value;
        for (int32_t i = 0; i < e->n; i++)
            if (!sym_eval(e->terms[i], b, nb, &y) || __builtin_mul_overflow(e->coef[i], y, &t) ||
                __builtin_add_overflow(x, t, &x))
                return false;
        *out = x;
        return true;
    case SYM_MUL:
        x = 1;
        for (int32_t i = 0; i < e->n; i++)
            if (!sym_eval(e->terms[i], b, nb, &y) || __builtin_mul_overflow(x, y, &x))
                return false;
        *out = x;
        return true;
    default:
        if (!sym_eval(e->a, b, nb, &x) || !sym_eval(e->b, b, nb, &y))
            return false;
        switch (e->kind) {
        case SYM_FLOORDIV:
        case SYM_CEILDIV:
            if (y < 1)
                return false;
            t = floordiv64(x, y);
            *out = e->kind == SYM_CEILDIV && t * y != x ? t + 1 : t;
            return true;
        case SYM_MIN: *out = x < y ? x : y; return true;
        default: *out = x > y ? x : y; return true;
        }
    }
}

/* ---- printing -------------------------------------------------------------------- */

void sym_label(ShapeCtx *c, const SymExpr *e, const char *label)
{
    (void)c;
    if (e->kind != SYM_CONST && e->kind != SYM_VAR && !e->label)
        ((SymExpr *)e)->label = label;     /* nodes belong to the table */
}

/* A growing string: printing is linear in the length of the result. */
typedef struct Buf {
    char  *p;
    size_t len, cap;
} Buf;

static void put(Buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void putnum(Buf *b, int64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)v);
    put(b, s);
}

static void putmag(Buf *b, int64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%llu", v < 0 ? -(unsigned long long)v : (unsigned long long)v);
    put(b, s);
}

/* Precedence for printing: 1 additive, 2 multiplicative, 3 atom. */
static int prec(const SymExpr *e, bool labelled)
{
    if (labelled)
        return 3;
    switch (e->kind) {
    case SYM_CONST: return e->value < 0 ? 1 : 3;
    case SYM_ADD: return e->n == 1 && e->value == 0 && e->coef[0] > 1 ? 2 : 1;
    case SYM_MUL: case SYM_FLOORDIV: return 2;
    default: return 3;
    }
}

static void print(Buf *b, const SymExpr *e, int need, bool may_label)
{
    bool labelled = may_label && use_label(e);
    if (labelled) {
        put(b, e->label);
        return;
    }
    bool par = prec(e, false) < need;
    if (par)
        put(b, "(");
    switch (e->kind) {
    case SYM_CONST: putnum(b, e->value); break;
    case SYM_VAR: put(b, e->name); break;
    case SYM_ADD: {
        /* positive terms first, so "W*2 - H" rather than "-H + W*2" */
        bool first = true;
        for (int pass = 0; pass < 2; pass++)
            for (int32_t i = 0; i < e->n; i++) {
                int64_t k = e->coef[i];
                if ((k < 0) != (pass == 1))
                    continue;
                put(b, first ? (k < 0 ? "-" : "") : (k < 0 ? " - " : " + "));
                print(b, e->terms[i], 2, true);
                if (k != 1 && k != -1) {
                    put(b, "*");
                    putmag(b, k);
                }
                first = false;
            }
        if (e->value) {
            put(b, e->value < 0 ? " - " : " + ");
            putmag(b, e->value);
        }
        break;
    }
    case SYM_MUL:
        for (int32_t i = 0; i < e->n; i++) {
            if (i)
                put(b, "*");
            print(b, e->terms[i], i ? 3 : 2, true);
        }
        break;
    case SYM_FLOORDIV:
        print(b, e->a, 2, true);
        put(b, "/");
        print(b, e->b, 3, true);
        break;
    case SYM_CEILDIV:
        put(b, "ceil(");
        print(b, e->a, 0, true);
        put(b, "/");
        print(b, e->b, 3, true);
        put(b, ")");
        break;
    case SYM_MIN:
    case SYM_MAX:
        put(b, e->kind == SYM_MIN ? "min(" : "max(");
        print(b, e->a, 0, true);
        put(b, ", ");
        print(b, e->b, 0, true);
        put(b, ")");
        break;
    }
    if (par)
        put(b, ")");
}

static const char *to_arena(Arena *a, Buf *b)
{
    const char *s = arena_strndup(a, b->p ? b->p : "", b->len);
    free(b->p);
    return s;
}

const char *sym_str(Arena *a, const SymExpr *e)
{
    Buf b = { 0 };
    print(&b, e, 0, false);
    return to_arena(a, &b);
}

const char *sym_ref(Arena *a, const SymExpr *e)
{
    Buf b = { 0 };
    print(&b, e, 0, true);
    return to_arena(a, &b);
}

/* The size symbols in e, each once, in the order they were declared: a
 * walk of the DAG that visits every node once, without recursion. */
const char *sym_symbols(Arena *a, const SymExpr *e)
{
    uint32_t cap = 64, nseen = 0;
    const SymExpr **seen = xmalloc(cap * sizeof *seen);
    memset(seen, 0, cap * sizeof *seen);
    int32_t nstack = 0, capstack = 64, nv = 0, capv = 8;
    const SymExpr **stack = xmalloc((size_t)capstack * sizeof *stack);
    const SymExpr **vars = xmalloc((size_t)capv * sizeof *vars);
    stack[nstack++] = e;
    while (nstack) {
        const SymExpr *x = stack[--nstack];
        uint32_t i = (uint32_t)x->hash & (cap - 1);
        while (seen[i] && seen[i] != x)
            i = (i + 1) & (cap - 1);
        if (seen[i])
            continue;
        seen[i] = x;
        if (++nseen * 2 > cap) {
            uint32_t ncap = cap * 2;
            const SymExpr **ns = xmalloc(ncap * sizeof *ns);
            memset(ns, 0, ncap * sizeof *ns);
            for (uint32_t j = 0; j < cap; j++)
                if (seen[j]) {
                    uint32_t k = (uint32_t)seen[j]->hash & (ncap - 1);
                    while (ns[k])
                        k = (k + 1) & (ncap - 1);
                    ns[k] = seen[j];
                }
            free(seen);
            seen = ns;
            cap = ncap;
        }
        const SymExpr *kids[2] = { x->a, x->b };
        const SymExpr *const *ch = x->kind == SYM_ADD || x->kind == SYM_MUL ? x->terms : kids;
        int32_t nch = x->kind == SYM_ADD || x->kind == SYM_MUL ? x->n
                    : x->kind == SYM_CONST || x->kind == SYM_VAR ? 0 : 2;
        if (x->kind == SYM_VAR) {
            if (nv == capv)
                vars = xrealloc(vars, (size_t)(capv *= 2) * sizeof *vars);
            vars[nv++] = x;
        }
        if (nstack + nch > capstack)
            stack = xrealloc(stack, (size_t)(capstack = (nstack + nch) * 2) * sizeof *stack);
        for (int32_t j = 0; j < nch; j++)
            stack[nstack++] = ch[j];
    }
    qsort(vars, (size_t)nv, sizeof *vars, by_order);
    Buf b = { 0 };
    put(&b, "");
    for (int32_t i = 0; i < nv; i++) {
        put(&b, i == 0 ? "" : i == nv - 1 ? " and " : ", ");
        put(&b, vars[i]->name);
    }
    free(seen);
    free(stack);
    free(vars);
    return to_arena(a, &b);
}

/* ---- shapes ------------------------------------------------------------------------ */

Shape shape_make(Arena *a, int32_t rank)
{
    Shape s = { rank, arena_array(a, (size_t)(rank > 0 ? rank : 1), sizeof(SymExpr *)) };
    return s;
}

const char *shape_str(Arena *a, Shape s)
{
    Buf b = { 0 };
    put(&b, "[");
    for (int32_t i = 0; i < s.rank; i++) {
        if (i)
            put(&b, ", ");
        print(&b, s.dims[i], 0, false);
    }
    put(&b, "]");
    return to_arena(a, &b);
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

/* ---- the output-size formula ------------------------------------------------------ */

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
    const SymExpr *one = sym_const(c, 1);
    if (!w->ceil_mode)
        return sym_add(c, sym_floordiv(c, span, s), one);
    const SymExpr *out = sym_add(c, sym_ceildiv(c, span, s), one);
    /* PyTorch: if ((out - 1) * s >= n + p0) out--. */
    const SymExpr *last = sym_mul(c, sym_sub(c, out, one), s);
    const SymExpr *lim = sym_add(c, w->n, w->p0);
    int64_t lv, mv;
    if (sym_is_const(last, &lv) && sym_is_const(lim, &mv))
        return lv >= mv ? sym_sub(c, out, one) : out;
    /* Symbolic: out' = min(out, floor((n + p0 - 1)/s) + 1), the largest
     * count whose last window starts inside the input or the left padding
     * (the same as PyTorch's single decrement, since out is at most one
     * more).  Both are floor((n + c)/s) + 1, and floor is monotone, so with
     * constant k and pads the min is floor((n + min(c1, c2))/s) + 1. */
    int64_t k, p0, p1, c1, c2, t;
    if (sym_is_const(w->k, &k) && sym_is_const(w->p0, &p0) && sym_is_const(w->p1, &p1) &&
        !__builtin_mul_overflow(w->d, k - 1, &t) && !__builtin_add_overflow(p0, p1, &c1) &&
        !__builtin_sub_overflow(c1, t, &c1) && !__builtin_add_overflow(c1, w->s - 2, &c1) &&
        !__builtin_sub_overflow(p0, 1, &c2)) {
        const SymExpr *num = sym_add(c, w->n, sym_const(c, c1 < c2 ? c1 : c2));
        return sym_add(c, sym_floordiv(c, num, s), one);
    }
    const SymExpr *cap = sym_add(c, sym_floordiv(c, sym_sub(c, lim, one), s), one);
    return sym_min(c, out, cap);
}

const char *window_formula(Arena *a, const WindowDim *w)
{
    const char *k = sym_ref(a, w->k);
    if (w->k->kind != SYM_CONST && w->k->kind != SYM_VAR && !use_label(w->k))
        k = arena_printf(a, "(%s)", k);
    const char *body = arena_printf(a, "%s + %s + %s - %lld*(%s-1) - 1",
                                    sym_ref(a, w->n), sym_ref(a, w->p0),
                                    sym_ref(a, w->p1), (long long)w->d, k);
    if (w->ceil_mode)
        return arena_printf(a, "ceil((%s)/%lld) + 1", body, (long long)w->s);
    return arena_printf(a, "(%s)/%lld + 1", body, (long long)w->s);
}
