/* shapes.h - symbolic dims and the output-size formula.
 *
 * A dim is a SymExpr: a constant, a size symbol (H, W, C...) or arithmetic
 * on them.  Constructors fold constants with checked arithmetic; a result
 * that does not fit int64 sets ShapeCtx.overflow and the caller reports it
 * (a 10^12 x 10^12 tensor is an error, not a wrap-around).  Nothing here
 * reports diagnostics: the checker does, with the formula text built here. */
#ifndef CONVC_SHAPES_H
#define CONVC_SHAPES_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"

typedef enum SymKind {
    SYM_CONST, SYM_VAR, SYM_ADD, SYM_SUB, SYM_MUL, SYM_FLOORDIV, SYM_CEILDIV,
    SYM_MIN, SYM_MAX,
} SymKind;

typedef struct SymExpr SymExpr;
struct SymExpr {
    SymKind        kind;
    int64_t        value;   /* SYM_CONST */
    const char    *name;    /* SYM_VAR */
    const SymExpr *a, *b;
};

/* Symbols bound on the command line (`convc check s.conv H=512`). */
typedef struct SymBinding {
    const char *name;
    int64_t     value;
} SymBinding;

typedef struct ShapeCtx {
    Arena            *arena;
    const SymBinding *bindings;
    int32_t           nbindings;
    bool              overflow;     /* sticky: set by any folding overflow */
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

bool sym_is_const(const SymExpr *e, int64_t *value);
bool sym_equal(const SymExpr *a, const SymExpr *b);
/* "H", "(H - 1)/2 + 1", "512". */
const char *sym_str(Arena *a, const SymExpr *e);

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
