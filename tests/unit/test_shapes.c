/* The output-size formula and symbolic dims, at their boundaries. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "shapes.h"

static Arena arena;
static ShapeCtx sc;

static void setup(void)
{
    arena_init(&arena);
    sc = (ShapeCtx){ .arena = &arena };
    /* declared in this order, as by `input x: f32[H, W]` */
    sym_var(&sc, "H");
    sym_var(&sc, "W");
}
static void teardown(void) { arena_free(&arena); }

TestSuite(shapes, .init = setup, .fini = teardown);

static int64_t out_of(int64_t n, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d, bool ceil)
{
    WindowDim w = { sym_const(&sc, n), sym_const(&sc, k), sym_const(&sc, p0), sym_const(&sc, p1), s, d, ceil };
    int64_t v = INT64_MIN;
    cr_assert(sym_is_const(window_out(&sc, &w), &v));
    return v;
}

Test(shapes, formula_basic_cases)
{
    cr_expect_eq(out_of(5, 3, 2, 1, 1, 1, false), 3);    /* 5x5, 3x3, stride 2, pad 1 */
    cr_expect_eq(out_of(11, 3, 1, 0, 0, 1, false), 9);
    cr_expect_eq(out_of(9, 3, 3, 0, 0, 1, false), 3);    /* 3x3 max-pool */
    cr_expect_eq(out_of(9, 3, 1, 0, 0, 2, false), 5);    /* dilated 3x3 sees 5x5 */
    cr_expect_eq(out_of(6, 1, 1, 0, 0, 1, false), 6);    /* 1x1 */
}

Test(shapes, formula_boundaries)
{
    cr_expect_eq(out_of(1, 1, 1, 0, 0, 1, false), 1);    /* smallest input */
    cr_expect_eq(out_of(4, 5, 1, 0, 0, 1, false), 0);    /* kernel larger: empty */
    cr_expect_eq(out_of(3, 1, 5, 0, 0, 1, false), 1);    /* stride larger than input */
    cr_expect_eq(out_of(3, 3, 100, 0, 0, 1, false), 1);
    cr_expect_eq(out_of(1, 3, 1, 0, 0, 1, false), -1);   /* floor of a negative span */
    cr_expect_eq(out_of(0, 1, 1, 0, 0, 1, false), 0);
    cr_expect_eq(out_of(1, 3, 1, 1, 1, 1, false), 1);    /* padding rescues it */
}

Test(shapes, ceil_mode_drops_a_window_starting_in_the_padding)
{
    /* PyTorch: ceil((5 + 2 - 1 - 1)/2) + 1 = 4, but the 4th window would
     * start at 6 >= 5 + 1, so 3. */
    cr_expect_eq(out_of(5, 2, 2, 1, 1, 1, true), 3);
    cr_expect_eq(out_of(5, 2, 2, 0, 0, 1, true), 3);     /* ceil(3/2) + 1 */
    cr_expect_eq(out_of(4, 2, 2, 0, 0, 1, true), 2);
    cr_expect_eq(out_of(4, 2, 2, 0, 0, 1, false), 2);
}

Test(shapes, formula_text_has_the_numbers)
{
    WindowDim w = { sym_const(&sc, 4), sym_const(&sc, 5), sym_const(&sc, 0), sym_const(&sc, 0), 1, 1, false };
    cr_expect_str_eq(window_formula(&arena, &w), "(4 + 0 + 0 - 1*(5-1) - 1)/1 + 1");
    WindowDim h = { sym_var(&sc, "H"), sym_const(&sc, 3), sym_const(&sc, 1), sym_const(&sc, 1), 2, 1, false };
    cr_expect_str_eq(window_formula(&arena, &h), "(H + 1 + 1 - 1*(3-1) - 1)/2 + 1");
    cr_expect_str_eq(sym_str(&arena, window_out(&sc, &h)), "(H - 1)/2 + 1");
}

Test(shapes, symbols_stay_symbolic_until_bound)
{
    const SymExpr *h = sym_var(&sc, "H");
    cr_expect_not(sym_is_const(h, NULL));
    cr_expect(sym_equal(sym_add(&sc, h, sym_const(&sc, 0)), h));
    cr_expect(sym_equal(sym_sub(&sc, h, h), sym_const(&sc, 0)));
    SymBinding b[] = { { "H", 512 } };
    ShapeCtx bound = { .arena = &arena, .bindings = b, .nbindings = 1 };
    int64_t v;
    cr_assert(sym_is_const(sym_var(&bound, "H"), &v));
    cr_expect_eq(v, 512);
    WindowDim w = { sym_var(&bound, "H"), sym_const(&sc, 3), sym_const(&sc, 1), sym_const(&sc, 1), 2, 1, false };
    cr_assert(sym_is_const(window_out(&bound, &w), &v));
    cr_expect_eq(v, 256);
}

Test(shapes, checked_arithmetic_near_overflow)
{
    cr_expect_not(sc.overflow);
    sym_add(&sc, sym_const(&sc, INT64_MAX), sym_const(&sc, 1));
    cr_expect(sc.overflow);
    sc.overflow = false;
    sym_mul(&sc, sym_const(&sc, INT64_C(1) << 62), sym_const(&sc, 4));
    cr_expect(sc.overflow);
    sc.overflow = false;
    int64_t v;
    cr_assert(sym_is_const(sym_mul(&sc, sym_const(&sc, INT64_C(1) << 31), sym_const(&sc, INT64_C(1) << 31)), &v));
    cr_expect_eq(v, INT64_C(1) << 62);
    cr_expect_not(sc.overflow);

    Shape s = shape_make(&arena, 2);
    s.dims[0] = s.dims[1] = sym_const(&sc, 1000000000000);
    cr_expect_null(shape_numel(&sc, s));
    cr_expect(sc.overflow);
}

Test(shapes, floor_division_rounds_towards_minus_infinity)
{
    int64_t v;
    cr_assert(sym_is_const(sym_floordiv(&sc, sym_const(&sc, -1), sym_const(&sc, 2)), &v));
    cr_expect_eq(v, -1);
    cr_assert(sym_is_const(sym_ceildiv(&sc, sym_const(&sc, 5), sym_const(&sc, 2)), &v));
    cr_expect_eq(v, 3);
    cr_assert(sym_is_const(sym_ceildiv(&sc, sym_const(&sc, -5), sym_const(&sc, 2)), &v));
    cr_expect_eq(v, -2);
    sym_floordiv(&sc, sym_const(&sc, 1), sym_const(&sc, 0));
    cr_expect(sc.overflow);     /* division by zero is never folded */
}

Test(shapes, shape_text)
{
    Shape s = shape_make(&arena, 3);
    s.dims[0] = sym_const(&sc, 3);
    s.dims[1] = sym_var(&sc, "H");
    s.dims[2] = sym_add(&sc, sym_var(&sc, "W"), sym_const(&sc, 2));
    cr_expect_str_eq(shape_str(&arena, s), "[3, H, W + 2]");
}

/* ---- canonical forms: the same value is the same expression ------------- */

static const char *str(const SymExpr *e) { return sym_str(&arena, e); }
static const SymExpr *H(void) { return sym_var(&sc, "H"); }
static const SymExpr *W(void) { return sym_var(&sc, "W"); }
static const SymExpr *K(int64_t v) { return sym_const(&sc, v); }

Test(shapes, like_terms_are_collected)
{
    const SymExpr *h4 = sym_sub(&sc, sym_sub(&sc, H(), K(2)), K(2));
    cr_expect_str_eq(str(h4), "H - 4");
    const SymExpr *hw9 = sym_mul(&sc, sym_mul(&sc, H(), W()), K(9));
    cr_expect_str_eq(str(hw9), "H*W*9");
    cr_expect_str_eq(str(sym_add(&sc, hw9, hw9)), "H*W*18");
    cr_expect_str_eq(str(sym_sub(&sc, sym_add(&sc, H(), W()), H())), "W");
    /* W*H is H*W: the factors of a product are ordered */
    cr_expect_eq(sym_mul(&sc, W(), H()), sym_mul(&sc, H(), W()));
    cr_expect_str_eq(str(sym_add(&sc, sym_mul(&sc, W(), K(2)), sym_sub(&sc, K(0), H()))), "W*2 - H");
}

Test(shapes, equal_expressions_are_one_node)
{
    const SymExpr *a = sym_add(&sc, sym_floordiv(&sc, H(), K(2)), K(1));
    const SymExpr *b = sym_add(&sc, K(1), sym_floordiv(&sc, sym_var(&sc, "H"), K(2)));
    cr_expect_eq(a, b, "hash-consed: the same pointer");
    /* made through another context: a different node, still equal */
    Arena other;
    arena_init(&other);
    ShapeCtx sc2 = { .arena = &other };
    const SymExpr *c = sym_add(&sc2, sym_floordiv(&sc2, sym_var(&sc2, "H"), sym_const(&sc2, 2)),
                               sym_const(&sc2, 1));
    cr_expect_neq(a, c);
    cr_expect(sym_equal(a, c));
    cr_expect_not(sym_equal(a, sym_add(&sc2, c, sym_const(&sc2, 1))));
    arena_free(&other);
}

Test(shapes, nested_floor_divisions_fold)
{
    /* 2x2 pooling: floor((H - 2)/2) + 1 is H/2, and twice is H/4 */
    WindowDim w = { H(), K(2), K(0), K(0), 2, 1, false };
    const SymExpr *once = window_out(&sc, &w);
    cr_expect_str_eq(str(once), "H/2");
    w.n = once;
    cr_expect_str_eq(str(window_out(&sc, &w)), "H/4");
    const SymExpr *x = H();
    for (int i = 0; i < 40; i++) {
        w.n = x;
        x = window_out(&sc, &w);
    }
    cr_expect_str_eq(str(x), "H/1099511627776");
    /* ceil mode: ceil(H/2), kept as floor, then ceil(H/4) */
    WindowDim c = { H(), K(2), K(0), K(0), 2, 1, true };
    const SymExpr *ceil1 = window_out(&sc, &c);
    cr_expect_str_eq(str(ceil1), "(H - 1)/2 + 1");
    c.n = ceil1;
    cr_expect_str_eq(str(window_out(&sc, &c)), "(H - 1)/4 + 1");
    /* a common factor cancels: floor((2H + 1)/4) = floor(H/2) */
    const SymExpr *two_h = sym_add(&sc, sym_mul(&sc, H(), K(2)), K(1));
    cr_expect_eq(sym_floordiv(&sc, two_h, K(4)), sym_floordiv(&sc, H(), K(2)));
    /* ceil(x/d) is floor((x + d - 1)/d) */
    cr_expect_eq(sym_ceildiv(&sc, H(), K(3)), sym_floordiv(&sc, sym_add(&sc, H(), K(2)), K(3)));
}

/* A random expression over H and W, built twice: with the constructors
 * and as a tree evaluated directly, so the two can be compared. */
typedef struct Ref {
    int          op;     /* 0 const, 1 H, 2 W, 3 +, 4 -, 5 *k, 6 floor/k, 7 ceil/k, 8 min, 9 max, 10 * */
    int64_t      k;
    struct Ref  *a, *b;
} Ref;

static uint64_t rng_state = 88172645463325252ull;
static int64_t rnd(int64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int64_t)(rng_state % (uint64_t)n);
}

static Ref *ref_make(int depth, const SymExpr **out)
{
    Ref *r = arena_alloc(&arena, sizeof *r);
    int op = depth == 0 ? (int)rnd(3) : (int)rnd(11);
    r->op = op;
    const SymExpr *x = NULL, *y = NULL;
    if (op >= 3)
        r->a = ref_make(depth - 1, &x);
    if (op == 3 || op == 4 || op == 8 || op == 9 || op == 10)
        r->b = ref_make(depth - 1, &y);
    switch (op) {
    case 0: r->k = rnd(21) - 10; *out = K(r->k); break;
    case 1: *out = H(); break;
    case 2: *out = W(); break;
    case 3: *out = sym_add(&sc, x, y); break;
    case 4: *out = sym_sub(&sc, x, y); break;
    case 5: r->k = rnd(9) - 4; *out = sym_mul(&sc, x, K(r->k)); break;
    case 6: r->k = rnd(8) + 1; *out = sym_floordiv(&sc, x, K(r->k)); break;
    case 7: r->k = rnd(8) + 1; *out = sym_ceildiv(&sc, x, K(r->k)); break;
    case 8: *out = sym_min(&sc, x, y); break;
    case 9: *out = sym_max(&sc, x, y); break;
    default: *out = sym_mul(&sc, x, y); break;
    }
    return r;
}

static int64_t fdiv(int64_t a, int64_t b) { int64_t q = a / b; return (a % b && (a < 0) != (b < 0)) ? q - 1 : q; }

/* The value, or false when some intermediate value is beyond 2^50 (then
 * the point is skipped: the simplified form may overflow elsewhere). */
static bool ref_eval(const Ref *r, int64_t h, int64_t w, int64_t *out)
{
    int64_t x = 0, y = 0;
    if (r->a && !ref_eval(r->a, h, w, &x))
        return false;
    if (r->b && !ref_eval(r->b, h, w, &y))
        return false;
    __int128 v;
    switch (r->op) {
    case 0: v = r->k; break;
    case 1: v = h; break;
    case 2: v = w; break;
    case 3: v = (__int128)x + y; break;
    case 4: v = (__int128)x - y; break;
    case 5: v = (__int128)x * r->k; break;
    case 6: v = fdiv(x, r->k); break;
    case 7: v = -fdiv(-x, r->k); break;
    case 8: v = x < y ? x : y; break;
    case 9: v = x > y ? x : y; break;
    default: v = (__int128)x * y; break;
    }
    if (v > ((__int128)1 << 50) || v < -((__int128)1 << 50))
        return false;
    *out = (int64_t)v;
    return true;
}

Test(shapes, simplified_expressions_keep_their_values)
{
    static const int64_t vals[] = { 1, 2, 3, 4, 5, 7, 8, 13, 64, 100, 1023, 99991 };
    int nv = (int)(sizeof vals / sizeof *vals);
    for (int trial = 0; trial < 3000; trial++) {
        const SymExpr *e;
        Ref *r = ref_make(4, &e);
        cr_assert_not(sc.overflow);
        int64_t lo, hi;
        sym_range(e, &lo, &hi);
        for (int i = 0; i < nv; i++)
            for (int j = 0; j < nv; j++) {
                SymBinding b[] = { { "H", vals[i] }, { "W", vals[j] } };
                int64_t got, want;
                if (!ref_eval(r, vals[i], vals[j], &want))
                    continue;
                cr_assert(sym_eval(e, b, 2, &got), "%s at H=%lld W=%lld", str(e), (long long)vals[i],
                          (long long)vals[j]);
                cr_assert_eq(got, want, "trial %d: %s at H=%lld W=%lld is %lld, expected %lld", trial, str(e),
                             (long long)vals[i], (long long)vals[j], (long long)got, (long long)want);
                cr_assert(lo <= got && got <= hi, "%s = %lld outside its range [%lld, %lld]", str(e),
                          (long long)got, (long long)lo, (long long)hi);
            }
    }
}

/* The symbolic output size, evaluated, is the constant formula's (which
 * follows PyTorch, ceil mode included) for every window and input size. */
Test(shapes, symbolic_window_formula_agrees_with_the_constant_one)
{
    for (int trial = 0; trial < 400; trial++) {
        int64_t k = rnd(5) + 1, s = rnd(4) + 1, d = rnd(3) + 1;
        bool ceil = rnd(2);
        int64_t p0 = rnd(k / 2 + 1), p1 = ceil ? p0 : rnd(k / 2 + 1);
        if (ceil)
            d = 1;
        WindowDim w = { H(), K(k), K(p0), K(p1), s, d, ceil };
        const SymExpr *e = window_out(&sc, &w);
        for (int64_t n = 1; n < 40; n++) {
            WindowDim wc = w;
            wc.n = K(n);
            int64_t want, got;
            cr_assert(sym_is_const(window_out(&sc, &wc), &want));
            SymBinding b[] = { { "H", n } };
            cr_assert(sym_eval(e, b, 1, &got));
            cr_assert_eq(got, want, "k%lld s%lld d%lld p%lld/%lld%s n=%lld: %s gives %lld, expected %lld",
                         (long long)k, (long long)s, (long long)d, (long long)p0, (long long)p1,
                         ceil ? " ceil" : "", (long long)n, str(e), (long long)got, (long long)want);
        }
    }
}

Test(shapes, ranges_bound_every_valid_input)
{
    int64_t lo, hi;
    sym_range(H(), &lo, &hi);
    cr_expect_eq(lo, 1);
    cr_expect_eq(hi, SYM_DIM_MAX);
    sym_range(sym_add(&sc, sym_floordiv(&sc, sym_sub(&sc, H(), K(1)), K(2)), K(1)), &lo, &hi);
    cr_expect_eq(lo, 1, "(H - 1)/2 + 1 >= 1 needs no runtime check");
    /* 61 halvings leave 0 of any input: H <= 2^61 - 1 */
    sym_range(sym_floordiv(&sc, H(), K(INT64_C(1) << 61)), &lo, &hi);
    cr_expect_eq(lo, 0);
    cr_expect_eq(hi, 0);
    sym_range(sym_mul(&sc, H(), W()), &lo, &hi);
    cr_expect_eq(lo, 1);
    cr_expect_eq(hi, INT64_MAX, "beyond int64: unbounded");
    sym_range(sym_sub(&sc, H(), W()), &lo, &hi);
    cr_expect_eq(lo, 1 - SYM_DIM_MAX);
    cr_expect_eq(hi, SYM_DIM_MAX - 1);
}

Test(shapes, long_formulas_are_printed_by_their_labels)
{
    /* (H + W)/3 nested: no floor folds (two terms), so it grows */
    const SymExpr *x = sym_add(&sc, H(), W());
    for (int i = 0; i < 6; i++)
        x = sym_floordiv(&sc, sym_add(&sc, x, W()), K(3));
    const char *full = str(x);
    cr_expect_gt(strlen(full), 40);
    sym_label(&sc, x, "t6.dims[0]");
    const SymExpr *next = sym_add(&sc, x, K(1));
    cr_expect_str_eq(str(next), "t6.dims[0] + 1");
    cr_expect_str_eq(sym_ref(&arena, x), "t6.dims[0]");
    cr_expect_str_eq(str(x), full, "printed as the root, it is the formula");
    /* short ones stay as they are */
    const SymExpr *h2 = sym_floordiv(&sc, H(), K(2));
    sym_label(&sc, h2, "a.dims[0]");
    cr_expect_str_eq(str(sym_add(&sc, h2, K(1))), "H/2 + 1");
    cr_expect_str_eq(sym_symbols(&arena, next), "H and W");
}

Test(shapes, products_of_sums_multiply_out_for_totals)
{
    const SymExpr *m = sym_mul(&sc, sym_mul(&sc, sym_sub(&sc, H(), K(2)), sym_sub(&sc, W(), K(2))), K(9));
    cr_expect_str_eq(str(m), "(H - 2)*(W - 2)*9");
    cr_expect_str_eq(str(sym_expand(&sc, m)), "H*W*9 - H*18 - W*18 + 36");
    SymSum *s = sym_sum_new(&sc);
    for (int i = 0; i < 1000; i++)
        sym_sum_add(s, sym_mul(&sc, sym_mul(&sc, H(), W()), K(9)));
    cr_expect_str_eq(str(sym_sum_get(s)), "H*W*9000");
}

/* MACs as the table prints them: 8*(H - 4) is kept as H*8 - 32 by the
 * canonical form, and shown with the 8 taken out again. */
Test(shapes, factored_takes_common_factors_out_of_sums_in_products)
{
    const SymExpr *half = sym_floordiv(&sc, sym_sub(&sc, W(), K(1)), K(2));
    const SymExpr *m = sym_mul(&sc, sym_mul(&sc, sym_mul(&sc, K(8), sym_sub(&sc, H(), K(4))), half), K(9));
    cr_expect_str_eq(str(m), "(H*8 - 32)*((W - 1)/2)*9");
    cr_expect_str_eq(str(sym_factored(&sc, m)), "(H - 4)*((W - 1)/2)*72");
    /* a sum of such products: each term, with like ones collected */
    const SymExpr *t = sym_add(&sc, m, sym_mul(&sc, sym_mul(&sc, sym_sub(&sc, sym_mul(&sc, H(), K(6)), K(24)),
                                                          half), K(2)));
    cr_expect_str_eq(str(sym_factored(&sc, t)), "(H - 4)*((W - 1)/2)*84");
    /* nothing to take out: unchanged */
    const SymExpr *p = sym_mul(&sc, sym_sub(&sc, H(), K(2)), sym_sub(&sc, sym_mul(&sc, W(), K(2)), K(3)));
    cr_expect_eq(sym_factored(&sc, p), p);
    cr_expect_eq(sym_factored(&sc, H()), H());
    cr_expect_eq(sym_factored(&sc, K(7)), K(7));
    /* the value is the same for every binding */
    for (int64_t h = 5; h < 9; h++)
        for (int64_t w = 1; w < 6; w++) {
            SymBinding b[2] = { { "H", h }, { "W", w } };
            int64_t x, y;
            cr_assert(sym_eval(t, b, 2, &x) && sym_eval(sym_factored(&sc, t), b, 2, &y));
            cr_expect_eq(x, y);
            cr_expect_eq(x, 84 * (h - 4) * ((w - 1) / 2));
        }
    /* a common factor too large to take out whole stays in the sum */
    const SymExpr *big = sym_mul(&sc, sym_mul(&sc, K(INT64_MAX / 4), sym_sub(&sc, H(), K(1))),
                                 sym_mul(&sc, K(8), sym_sub(&sc, W(), K(1))));
    cr_expect_not(sc.overflow);
    cr_expect_eq(sym_factored(&sc, big), big);
    cr_expect_not(sc.overflow);
}

/* 100,000 chained 3x3 convolutions and 2,000 halvings: memory for the
 * sizes stays proportional to the number of stages. */
Test(shapes, sizes_of_a_long_chain_stay_linear)
{
    size_t before = arena.used_total;
    const SymExpr *x = H();
    for (int i = 0; i < 100000; i++) {
        WindowDim w = { x, K(3), K(0), K(0), 1, 1, false };
        x = window_out(&sc, &w);
    }
    cr_expect_str_eq(str(x), "H - 200000");
    cr_expect_lt(arena.used_total - before, (size_t)100 << 20, "%zu bytes", arena.used_total - before);
    before = arena.used_total;
    x = H();
    for (int i = 0; i < 2000; i++) {
        WindowDim w = { x, K(2), K(0), K(0), 2, 1, false };
        x = window_out(&sc, &w);
        if (sym_is_const(x, NULL))
            break;
    }
    cr_expect_lt(arena.used_total - before, (size_t)4 << 20, "%zu bytes", arena.used_total - before);
}
