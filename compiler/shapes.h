/* shapes.h - symbolic dims and the output-size formula.
 *
 * A dim is a SymExpr: a constant, a size symbol (H, W, C...) or arithmetic
 * on them.  Constructors fold constants with checked arithmetic; a result
 * that does not fit int64 sets ShapeCtx.overflow and the caller reports it
 * (a 10^12 x 10^12 tensor is an error, not a wrap-around).  Nothing here
 * reports diagnostics: the checker does, with the formula text built here.
 *
 * Expressions are kept in a canonical form and hash-consed, so that a
 * pipeline of N stages costs O(N) memory and time however its sizes nest:
 *   - a sum is one node, c0 + c1*t1 + ... + cn*tn, with like terms collected
 *     (H - 2 - 2 is H - 4, H*W*9 + H*W*9 is H*W*18);
 *   - a product is one node of non-constant factors; its constant factor is
 *     the coefficient of the sum that holds it;
 *   - division by a constant d > 0 is floor((terms + r)/d) with every term
 *     whose coefficient d divides taken outside, the constant r in (-d, 0],
 *     common factors of d and the coefficients cancelled, and a floor nested
 *     directly inside folded: floor((floor(x/a) + r)/d) = floor((x + r*a)/(a*d))
 *     (exact for integers and a, d > 0), so n halvings of H are H/2^n;
 *   - ceil(x/d) is floor((x + d - 1)/d);
 *   - equal expressions made through the same ShapeCtx are the same pointer,
 *     and the operands of commutative operations are ordered by the first
 *     symbol they contain (in declaration order), then by creation, so
 *     that "(H - 2)*(W - 2)" does not depend on which was made first.
 * Each node also carries the range of values it can take for inputs the
 * runtime accepts (every size symbol is between 1 and SYM_DIM_MAX), which
 * lets the checker drop runtime checks that always pass and report sizes
 * that are empty for every input. */
#ifndef CONVC_SHAPES_H
#define CONVC_SHAPES_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"

/* The largest value a size symbol can take at run time: an input's size in
 * bytes (4 per element, every dim at least 1) must fit int64. */
#define SYM_DIM_MAX (INT64_MAX / 4)

typedef enum SymKind {
    SYM_CONST,      /* value */
    SYM_VAR,        /* name */
    SYM_ADD,        /* value + sum of coef[i]*terms[i], n >= 1 */
    SYM_MUL,        /* product of terms[i], n >= 2 */
    SYM_FLOORDIV,   /* floor(a/b) */
    SYM_CEILDIV,    /* ceil(a/b), only for a non-constant b */
    SYM_MIN,        /* min(a, b) */
    SYM_MAX,        /* max(a, b) */
} SymKind;

typedef struct SymExpr SymExpr;
struct SymExpr {
    SymKind               kind;
    int32_t               n;        /* ADD: terms, MUL: factors */
    int64_t               value;    /* CONST: the value; ADD: the constant */
    const char           *name;     /* VAR */
    const SymExpr        *a, *b;    /* FLOORDIV, CEILDIV, MIN, MAX */
    const int64_t        *coef;     /* ADD */
    const SymExpr *const *terms;    /* ADD, MUL: in sym_order */

    int64_t               id;       /* creation order */
    int64_t               lead;     /* id of its first-declared symbol */
    uint64_t              hash;     /* structural */
    int64_t               lo, hi;   /* range; INT64_MIN/INT64_MAX: unbounded */
    int32_t               len;      /* printed length, for choosing labels */
    const char           *label;    /* its name inside longer formulas */
};

/* Symbols bound on the command line (`convc check s.conv H=512`). */
typedef struct SymBinding {
    const char *name;
    int64_t     value;
} SymBinding;

typedef struct SymTable SymTable;

typedef struct ShapeCtx {
    Arena            *arena;
    const SymBinding *bindings;
    int32_t           nbindings;
    bool              overflow;     /* sticky: set by any folding overflow */
    SymTable         *table;        /* made on first use; copies of the
                                       context share it */
} ShapeCtx;

const SymExpr *sym_const(ShapeCtx *c, int64_t v);
/* A size symbol; a bound one is returned as its constant. */
const SymExpr *sym_var(ShapeCtx *c, const char *name);
const SymExpr *sym_add(ShapeCtx *c, const SymExpr *a, const SymExpr *b);
const SymExpr *sym_sub(ShapeCtx *c, const SymExpr *a, const SymExpr *b);
const SymExpr *sym_mul(ShapeCtx *c, const SymExpr *a, const SymExpr *b);
const SymExpr *sym_floordiv(ShapeCtx *c, const SymExpr *a, const SymExpr *b);
const SymExpr *sym_ceildiv(ShapeCtx *c, const SymExpr *a, const SymExpr *b);
const SymExpr *sym_min(ShapeCtx *c, const SymExpr *a, const SymExpr *b);
const SymExpr *sym_max(ShapeCtx *c, const SymExpr *a, const SymExpr *b);

/* Sums of many terms in time linear in their number (adding them one by
 * one with sym_add copies the sum each time). */
typedef struct SymSum SymSum;
SymSum        *sym_sum_new(ShapeCtx *c);
void           sym_sum_add(SymSum *s, const SymExpr *e);
const SymExpr *sym_sum_get(SymSum *s);
/* e with products of sums multiplied out, (H - 2)*(W - 2) as
 * H*W - H*2 - W*2 + 4, so that sums of such products collapse; e itself
 * when that would overflow or grow past a few dozen terms. */
const SymExpr *sym_expand(ShapeCtx *c, const SymExpr *e);

/* e as it is best read: the common factor of the terms of each sum that
 * is a factor of a product taken out of it, (H*8 - 32)*W as (H - 4)*W*8.
 * Equal in value, but not the canonical form (which multiplies a constant
 * into a sum): for printing only, never for comparing or building shapes.
 * e itself when that would overflow. */
const SymExpr *sym_factored(ShapeCtx *c, const SymExpr *e);

bool sym_is_const(const SymExpr *e, int64_t *value);
bool sym_equal(const SymExpr *a, const SymExpr *b);
/* Bounds of e over every input the runtime accepts. */
void sym_range(const SymExpr *e, int64_t *lo, int64_t *hi);
/* The value of e with the given symbols; false when a symbol is unbound,
 * a division is by less than 1, or the arithmetic overflows. */
bool sym_eval(const SymExpr *e, const SymBinding *b, int32_t nb, int64_t *out);

/* Name e ("t5.dims[0]") for the formulas that contain it: a long
 * expression is then printed by its name, not repeated.  The first name
 * given to an expression stays. */
void sym_label(ShapeCtx *c, const SymExpr *e, const char *label);
/* "H", "(H - 1)/2 + 1", "512"; long subexpressions by their labels. */
const char *sym_str(Arena *a, const SymExpr *e);
/* The same, but e itself too is printed by its label when it is long. */
const char *sym_ref(Arena *a, const SymExpr *e);
/* The size symbols e depends on, "H" or "H and W" ("" for none). */
const char *sym_symbols(Arena *a, const SymExpr *e);

typedef struct Shape {
    int32_t         rank;
    const SymExpr **dims;
} Shape;

Shape       shape_make(Arena *a, int32_t rank);
/* "[3, H, W]" */
const char *shape_str(Arena *a, Shape s);
/* Number of elements, or NULL with c->overflow set. */
const SymExpr *shape_numel(ShapeCtx *c, Shape s);

/* One spatial dim of a sliding window (conv or pool):
 *   out = floor((n + p0 + p1 - d*(k-1) - 1)/s) + 1
 * with ceil instead of floor in ceil mode, where (as PyTorch) a last window
 * that would start in the right padding is dropped. */
typedef struct WindowDim {
    const SymExpr *n, *k, *p0, *p1;
    int64_t        s, d;
    bool           ceil_mode;
} WindowDim;

const SymExpr *window_out(ShapeCtx *c, const WindowDim *w);
/* The numerator n + p0 + p1 - d*(k-1) - 1 (for the "input rows never read"
 * check: it is unread when numerator % s != 0). */
const SymExpr *window_span(ShapeCtx *c, const WindowDim *w);
/* "(4 + 0 + 0 - 1*(5-1) - 1)/1 + 1" */
const char *window_formula(Arena *a, const WindowDim *w);

#endif
