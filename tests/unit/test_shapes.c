/* The output-size formula and symbolic dims, at their boundaries. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "shapes.h"

static Arena arena;
static ShapeCtx sc;

static void setup(void)
{
    arena_init(&arena);
    sc = (ShapeCtx){ .arena = &arena };
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
