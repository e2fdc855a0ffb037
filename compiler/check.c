/* check.c - names, constants and shapes: AST -> stage graph.
 *
 * Needs: a parsed AST (every expression at most AST_MAX_DEPTH deep, so the
 * recursive evaluation here is bounded).
 * Establishes: every name resolves to a value defined before it; every
 * stage's options are valid; every output shape is computed with the
 * output-size formula and is at least 1 in every dim, or, where size symbols
 * make that undecidable now, a runtime check records it.  All errors of the
 * phase are reported; a statement with an error binds an error value that
 * silences follow-on errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convrt.h"
#include "bind.h"
#include "factor.h"
#include "graph.h"
#include "ir.h"
#include "suggest.h"

typedef enum ValKind {
    VAL_ERROR,      /* already reported */
    VAL_TENSOR,     /* a graph node */
    VAL_SCALAR,     /* a number known now */
    VAL_BOOL,
    VAL_WORD,       /* an identifier that names nothing: an option word */
    VAL_STRING,
    VAL_TUPLE,
} ValKind;

typedef struct Value Value;
struct Value {
    ValKind     kind;
    SrcLoc      loc;
    Node       *node;
    double      num;
    bool        is_int;
    bool        exact;      /* an integer literal: ival is what was written */
    int64_t     ival;
    bool        boolean;
    const char *text;       /* WORD, STRING */
    Value      *items;      /* TUPLE */
    int32_t     n;
};

typedef struct Binding {
    const char *name;
    SrcLoc      loc;
    Value       value;
} Binding;

typedef struct Checker {
    Arena              *a;
    Diag               *d;
    ShapeCtx            sc;
    Graph              *g;
    const CheckOptions *opt;
    PtrVec              bindings;   /* Binding*, in definition order */
    Binding           **table;      /* open addressing by name, so a script
                                       of 100,000 statements stays linear */
    uint32_t            table_cap;
    int32_t             next_id;
} Checker;

/* ---- small helpers ------------------------------------------------------ */

static Value val_error(SrcLoc loc) { return (Value){ .kind = VAL_ERROR, .loc = loc }; }

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;     /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static Binding *lookup(Checker *c, const char *name)
{
    if (!c->table_cap)
        return NULL;
    for (uint32_t i = hash_name(name) & (c->table_cap - 1);; i = (i + 1) & (c->table_cap - 1)) {
        Binding *b = c->table[i];
        if (!b)
            return NULL;
        if (strcmp(b->name, name) == 0)
            return b;
    }
}

static void table_insert(Checker *c, Binding *nb)
{
    if ((uint32_t)c->bindings.len * 2 >= c->table_cap) {
        uint32_t cap = c->table_cap ? c->table_cap * 2 : 64;
        c->table = arena_array(c->a, cap, sizeof(Binding *));
        c->table_cap = cap;
        for (int32_t k = 0; k < c->bindings.len; k++) {
            Binding *b = c->bindings.items[k];
            uint32_t i = hash_name(b->name) & (cap - 1);
            while (c->table[i])
                i = (i + 1) & (cap - 1);
            c->table[i] = b;
        }
    }
    uint32_t i = hash_name(nb->name) & (c->table_cap - 1);
    while (c->table[i])
        i = (i + 1) & (c->table_cap - 1);
    c->table[i] = nb;
}

static Node *new_node(Checker *c, NodeOp op, const char *stage, SrcLoc loc)
{
    Node *n = arena_alloc(c->a, sizeof *n);
    n->op = op;
    n->id = c->next_id++;
    n->stage = stage;
    n->desc = stage;
    n->loc = loc;
    n->ins = n->in;
    return n;
}

static void add_input(Node *n, Node *in)
{
    n->in[n->nin++] = in;
    in->nuses++;
}

static void push_node(Checker *c, Node *n) { ptrvec_push(c->a, &c->g->nodes, n); }

static void add_check(Checker *c, int kind, const SymExpr *x, const SymExpr *y,
                      SrcLoc loc, const char *what)
{
    GraphCheck *k = arena_alloc(c->a, sizeof *k);
    k->kind = kind;
    k->a = x;
    k->b = y;
    k->what = what;
    k->loc = loc;
    ptrvec_push(c->a, &c->g->checks, k);
}

static const char *where(Checker *c, SrcLoc loc)
{
    int32_t col = diag_column(c->d, loc.first_line, loc.first_column);
    return arena_printf(c->a, "%s:%d:%d", c->g->source_name, loc.first_line, col);
}

static const char *val_kind_name(ValKind k)
{
    switch (k) {
    case VAL_TENSOR: return "a tensor";
    case VAL_SCALAR: return "a number";
    case VAL_BOOL: return "true/false";
    case VAL_WORD: return "a word";
    case VAL_STRING: return "a string";
    case VAL_TUPLE: return "a tuple";
    default: return "an invalid value";
    }
}

static const char *const STAGES[] = {
    "conv1d", "conv2d", "conv1x1", "maxpool1d", "maxpool2d", "avgpool1d",
    "avgpool2d", "global_avgpool2d", "global_maxpool2d", "convolve",
    "correlate", "concat", "relu", "leaky_relu", "sigmoid", "tanh", "abs",
    "sqrt", "exp", "clamp", "min", "max", "box", "box2d", "gaussian",
    "gaussian2d", "savgol", "load",
};

static bool builtin_kernel_name(const char *name);
static const char *const BUILTIN_KERNELS[] = { "sobel_x", "sobel_y", "laplacian" };

/* The closest name defined so far, or builtin kernel, to an undefined one. */
static const char *suggest_name(Checker *c, const char *name)
{
    Suggest s;
    suggest_init(&s, name);
    for (int32_t i = 0; i < c->bindings.len; i++)
        suggest_offer(&s, ((Binding *)c->bindings.items[i])->name);
    for (size_t i = 0; i < sizeof BUILTIN_KERNELS / sizeof *BUILTIN_KERNELS; i++)
        suggest_offer(&s, BUILTIN_KERNELS[i]);
    return suggest_result(&s);
}

/* ---- constants ---------------------------------------------------------- */

static Node *const_node(Checker *c, const char *stage, SrcLoc loc, Shape shape,
                        float *data, int64_t count)
{
    Node *n = new_node(c, NODE_CONST, stage, loc);
    n->shape = shape;
    n->cst.data = data;
    n->cst.count = count;
    n->macs = sym_const(&c->sc, 0);
    push_node(c, n);
    return n;
}

static Node *const_2d(Checker *c, const char *stage, SrcLoc loc, int64_t h,
                      int64_t w, const float *values)
{
    Shape s = shape_make(c->a, 2);
    s.dims[0] = sym_const(&c->sc, h);
    s.dims[1] = sym_const(&c->sc, w);
    float *data = arena_array(c->a, (size_t)(h * w), sizeof(float));
    memcpy(data, values, (size_t)(h * w) * sizeof(float));
    return const_node(c, stage, loc, s, data, h * w);
}

static Node *const_1d(Checker *c, const char *stage, SrcLoc loc, int64_t n,
                      const double *values)
{
    Shape s = shape_make(c->a, 1);
    s.dims[0] = sym_const(&c->sc, n);
    float *data = arena_array(c->a, (size_t)n, sizeof(float));
    for (int64_t i = 0; i < n; i++)
        data[i] = (float)values[i];
    return const_node(c, stage, loc, s, data, n);
}

static Node *builtin_kernel(Checker *c, const char *name, SrcLoc loc)
{
    static const float sobel_x[] = { -1, 0, 1, -2, 0, 2, -1, 0, 1 };
    static const float sobel_y[] = { -1, -2, -1, 0, 0, 0, 1, 2, 1 };
    static const float laplacian[] = { 0, 1, 0, 1, -4, 1, 0, 1, 0 };
    if (strcmp(name, "sobel_x") == 0) return const_2d(c, name, loc, 3, 3, sobel_x);
    if (strcmp(name, "sobel_y") == 0) return const_2d(c, name, loc, 3, 3, sobel_y);
    if (strcmp(name, "laplacian") == 0) return const_2d(c, name, loc, 3, 3, laplacian);
    return NULL;
}

/* scipy.signal.savgol_coeffs(window, order, deriv, use="conv"): the
 * minimum-norm least-squares solution of A c = y with A[i][j] = x_j^i over
 * the window positions x (reversed for convolution), y = deriv! e_deriv.
 * A has full row rank (order < window), so c = A^T (A A^T)^-1 y. */
static bool savgol_coeffs(int64_t window, int64_t order, int64_t deriv, double *out)
{
    int64_t m = order + 1;
    double pos = (window % 2) ? (double)(window / 2) : (double)(window / 2) - 0.5;
    double *x = malloc((size_t)window * sizeof *x);
    double *G = calloc((size_t)(m * m), sizeof *G);
    double *z = calloc((size_t)m, sizeof *z);
    if (!x || !G || !z) {
        free(x); free(G); free(z);
        return false;
    }
    for (int64_t j = 0; j < window; j++)
        x[window - 1 - j] = (double)j - pos;     /* reversed: use="conv" */
    for (int64_t r = 0; r < m; r++)
        for (int64_t s = 0; s < m; s++) {
            double acc = 0;
            for (int64_t j = 0; j < window; j++)
                acc += pow(x[j], (double)r) * pow(x[j], (double)s);
            G[r * m + s] = acc;
        }
    double fact = 1;
    for (int64_t i = 2; i <= deriv; i++)
        fact *= (double)i;
    if (deriv <= order)
        z[deriv] = fact;
    /* Gaussian elimination with partial pivoting on G z = y. */
    bool ok = true;
    for (int64_t col = 0; col < m && ok; col++) {
        int64_t piv = col;
        for (int64_t r = col + 1; r < m; r++)
            if (fabs(G[r * m + col]) > fabs(G[piv * m + col]))
                piv = r;
        if (fabs(G[piv * m + col]) < 1e-300) {
            ok = false;
            break;
        }
        if (piv != col) {
            for (int64_t s = 0; s < m; s++) {
                double t = G[col * m + s];
                G[col * m + s] = G[piv * m + s];
                G[piv * m + s] = t;
            }
            double t = z[col]; z[col] = z[piv]; z[piv] = t;
        }
        for (int64_t r = col + 1; r < m; r++) {
            double f = G[r * m + col] / G[col * m + col];
            for (int64_t s = col; s < m; s++)
                G[r * m + s] -= f * G[col * m + s];
            z[r] -= f * z[col];
        }
    }
    for (int64_t r = m - 1; r >= 0 && ok; r--) {
        double acc = z[r];
        for (int64_t s = r + 1; s < m; s++)
            acc -= G[r * m + s] * z[s];
        z[r] = acc / G[r * m + r];
    }
    for (int64_t j = 0; j < window && ok; j++) {
        double acc = 0;
        for (int64_t r = 0; r < m; r++)
            acc += pow(x[j], (double)r) * z[r];
        out[j] = acc;
    }
    free(x); free(G); free(z);
    return ok;
}

/* ---- evaluation ---------------------------------------------------------- */

static Value eval(Checker *c, const AstExpr *e);

static Value tensor_val(Node *n, SrcLoc loc)
{
    return (Value){ .kind = VAL_TENSOR, .node = n, .loc = loc };
}

/* The value as a tensor, or an error (reported once here). */
static Node *want_tensor(Checker *c, Value v, const char *what)
{
    switch (v.kind) {
    case VAL_TENSOR: return v.node;
    case VAL_ERROR: return NULL;
    case VAL_WORD: {
        const char *hint = suggest_name(c, v.text);
        if (hint)
            diag_error(c->d, v.loc, "undefined name '%s'; did you mean '%s'?", v.text, hint);
        else
            diag_error(c->d, v.loc, "undefined name '%s'", v.text);
        return NULL;
    }
    default:
        diag_error(c->d, v.loc, "%s must be a tensor, not %s", what, val_kind_name(v.kind));
        return NULL;
    }
}

/* Named and positional arguments of a call matched to parameter names. */
typedef struct CallArgs {
    const AstExpr *arg[16];
    SrcLoc         loc[16];
    bool           bad;
} CallArgs;

static bool bind_args(Checker *c, const AstExpr *call, const char *const *names,
                      int nnames, int npos, CallArgs *out)
{
    memset(out, 0, sizeof *out);
    const char *stage = call->call.callee;
    int pos = 0;
    bool named_seen = false;
    for (int32_t i = 0; i < call->call.nargs; i++) {
        const AstArg *arg = &call->call.args[i];
        int slot = -1;
        if (!arg->name && named_seen) {
            diag_error(c->d, arg->value->loc, "%s: a positional argument cannot follow a named one",
                       stage);
            out->bad = true;
            continue;
        }
        named_seen |= arg->name != NULL;
        if (!arg->name) {
            if (pos >= npos) {
                diag_error(c->d, arg->value->loc,
                           "%s takes at most %d positional argument%s; name the options (e.g. %s=...)",
                           stage, npos, npos == 1 ? "" : "s",
                           nnames > npos ? names[npos] : "name");
                out->bad = true;
                continue;
            }
            slot = pos++;
        } else {
            for (int k = 0; k < nnames; k++)
                if (strcmp(names[k], arg->name) == 0)
                    slot = k;
            if (slot < 0) {
                const char *hint = suggest_closest(arg->name, names, (size_t)nnames);
                const char *list = "";
                for (int k = npos; k < nnames; k++)
                    list = arena_printf(c->a, "%s%s%s", list, k > npos ? ", " : "", names[k]);
                if (hint)
                    diag_error(c->d, arg->name_loc, "%s has no option '%s'; did you mean '%s'?",
                               stage, arg->name, hint);
                else
                    diag_error(c->d, arg->name_loc, "%s has no option '%s' (its options: %s)",
                               stage, arg->name, nnames > npos ? list : "none");
                out->bad = true;
                continue;
            }
            if (out->arg[slot]) {
                diag_error(c->d, arg->name_loc, "%s: '%s' is given twice", stage, arg->name);
                out->bad = true;
                continue;
            }
        }
        out->arg[slot] = arg->value;
        out->loc[slot] = arg->name ? srcloc_span(arg->name_loc, arg->value->loc) : arg->value->loc;
    }
    return !out->bad;
}

static bool need(Checker *c, const AstExpr *call, const CallArgs *a, int slot,
                 const char *name)
{
    if (a->arg[slot])
        return true;
    diag_error(c->d, call->loc, "%s needs %s", call->call.callee, name);
    return false;
}

/* An integer option: a number with no fractional part within [lo, hi]. */
static bool int_value(Checker *c, Value v, const char *stage, const char *opt,
                      int64_t lo, int64_t *out)
{
    if (v.kind == VAL_ERROR)
        return false;
    if (v.kind != VAL_SCALAR || !v.is_int) {
        diag_error(c->d, v.loc, "%s: %s must be an integer, not %s", stage, opt,
                   v.kind == VAL_SCALAR ? "a fraction" : val_kind_name(v.kind));
        return false;
    }
    /* The value is a double (folded arithmetic), possibly beyond int64:
     * compare and print it as a double, convert only once it is in range. */
    if (v.num < (double)lo || v.num > 1e15) {
        const char *got = v.exact ? arena_printf(c->a, "%lld", (long long)v.ival)
                                  : arena_printf(c->a, "%.0f", v.num);
        diag_error(c->d, v.loc, "%s: %s must be %s %lld, got %s", stage, opt,
                   v.num < (double)lo ? "at least" : "at most",
                   (long long)(v.num < (double)lo ? lo : 1000000000000000LL), got);
        return false;
    }
    *out = (int64_t)v.num;
    return true;
}

/* An int or an (h, w) pair for nsp spatial dims. */
static bool int_pair(Checker *c, const AstExpr *e, const char *stage, const char *opt,
                     int nsp, int64_t lo, int64_t *out)
{
    Value v = eval(c, e);
    if (v.kind == VAL_TUPLE) {
        if (v.n != nsp) {
            diag_error(c->d, v.loc, "%s: %s takes %d value%s here, got %d", stage, opt,
                       nsp, nsp == 1 ? "" : "s", v.n);
            return false;
        }
        bool ok = true;
        for (int i = 0; i < nsp; i++)
            ok &= int_value(c, v.items[i], stage, opt, lo, &out[i]);
        return ok;
    }
    int64_t x;
    if (!int_value(c, v, stage, opt, lo, &x))
        return false;
    for (int i = 0; i < nsp; i++)
        out[i] = x;
    return true;
}

static bool bool_value(Checker *c, const AstExpr *e, const char *stage,
                       const char *opt, bool *out)
{
    Value v = eval(c, e);
    if (v.kind == VAL_ERROR)
        return false;
    if (v.kind != VAL_BOOL) {
        diag_error(c->d, v.loc, "%s: %s must be true or false", stage, opt);
        return false;
    }
    *out = v.boolean;
    return true;
}

/* A word among `words`; returns its index or -1 (reported). */
static int word_value(Checker *c, const AstExpr *e, const char *stage, const char *opt,
                      const char *const *words, int nwords)
{
    /* a mode word is the word as an option value, even where a binding of
     * the same name exists (`output same = ...` then `mode=same`) */
    if (e->kind == AST_IDENT)
        for (int k = 0; k < nwords; k++)
            if (strcmp(e->ident.name, words[k]) == 0)
                return k;
    Value v = eval(c, e);
    if (v.kind == VAL_ERROR)
        return -1;
    const char *list = "";
    for (int k = 0; k < nwords; k++)
        list = arena_printf(c->a, "%s%s%s", list, k ? ", " : "", words[k]);
    if (v.kind != VAL_WORD) {
        diag_error(c->d, v.loc, "%s: %s must be one of %s", stage, opt, list);
        return -1;
    }
    for (int k = 0; k < nwords; k++)
        if (strcmp(v.text, words[k]) == 0)
            return k;
    const char *hint = suggest_closest(v.text, words, (size_t)nwords);
    if (hint)
        diag_error(c->d, v.loc, "%s: unknown %s '%s'; did you mean '%s'?", stage, opt, v.text, hint);
    else
        diag_error(c->d, v.loc, "%s: unknown %s '%s' (one of %s)", stage, opt, v.text, list);
    return -1;
}

static bool scalar_value(Checker *c, const AstExpr *e, const char *stage,
                         const char *what, double *out)
{
    Value v = eval(c, e);
    if (v.kind == VAL_ERROR)
        return false;
    if (v.kind != VAL_SCALAR) {
        diag_error(c->d, v.loc, "%s: %s must be a number, not %s", stage, what,
                   val_kind_name(v.kind));
        return false;
    }
    *out = v.num;
    return true;
}

static const char *spatial_name(int nsp, int i)
{
    if (nsp == 1)
        return "length";
    return i == 0 ? "height" : "width";
}

/* Set and check the size of a stage's output: the product must fit. */
static bool finish_shape(Checker *c, Node *n)
{
    bool before = c->sc.overflow;
    c->sc.overflow = false;
    const SymExpr *numel = shape_numel(&c->sc, n->shape);
    const SymExpr *bytes = numel ? sym_mul(&c->sc, numel, sym_const(&c->sc, 4)) : NULL;
    bool ovf = c->sc.overflow || !numel;
    c->sc.overflow = before;
    if (ovf) {
        if (n->op == NODE_INPUT)
            diag_error(c->d, n->loc, "input '%s' %s is too large (its size in bytes overflows 64 bits)",
                       n->name, shape_str(c->a, n->shape));
        else
            diag_error(c->d, n->loc, "%s: the output %s is too large (its size in bytes overflows 64 bits)",
                       n->stage, shape_str(c->a, n->shape));
        return false;
    }
    (void)bytes;
    return true;
}

static const SymExpr *macs_of(Checker *c, Shape out, int64_t per_output,
                              const SymExpr *extra)
{
    bool before = c->sc.overflow;
    c->sc.overflow = false;
    const SymExpr *m = shape_numel(&c->sc, out);
    if (m) {
        m = sym_mul(&c->sc, m, sym_const(&c->sc, per_output));
        if (extra)
            m = sym_mul(&c->sc, m, extra);
    }
    if (c->sc.overflow)
        m = NULL;
    c->sc.overflow = before;
    return m;
}

/* Receptive field of a window stage from its input's. */
static void window_rf(Node *n, const Node *in, const WindowParams *w)
{
    n->rf_nsp = w->nsp;
    for (int i = 0; i < w->nsp; i++) {
        int64_t rf = 1, jump = 1, k;
        if (in->rf_nsp == w->nsp) {
            rf = in->rf[i];
            jump = in->jump[i];
        } else if (in->rf_nsp == 1 && w->nsp == 2 && i == 1) {
            rf = in->rf[0];
            jump = in->jump[0];
        }
        /* A long chain of strides overflows both: the field is then
         * unknown ("?") and the jump stays at its largest. */
        int64_t ext;
        if (__builtin_mul_overflow(jump, w->stride[i], &n->jump[i]))
            n->jump[i] = INT64_MAX;
        if (rf < 0 || !sym_is_const(w->k[i], &k) || __builtin_mul_overflow(w->dilation[i], k - 1, &ext) ||
            __builtin_mul_overflow(ext, jump, &ext) || __builtin_add_overflow(rf, ext, &n->rf[i]))
            n->rf[i] = -1;
    }
}

static void elementwise_rf(Node *n)
{
    n->rf_nsp = 0;
    for (int32_t i = 0; i < n->nin; i++) {
        const Node *in = n->ins[i];
        if (in->rf_nsp > n->rf_nsp) {
            n->rf_nsp = in->rf_nsp;
            for (int j = 0; j < in->rf_nsp; j++) {
                n->rf[j] = in->rf[j];
                n->jump[j] = in->jump[j];
            }
        } else if (in->rf_nsp == n->rf_nsp) {
            for (int j = 0; j < in->rf_nsp; j++) {
                if (in->rf[j] < 0 || n->rf[j] < 0)
                    n->rf[j] = -1;
                else if (in->rf[j] > n->rf[j])
                    n->rf[j] = in->rf[j];
                if (in->jump[j] > n->jump[j])
                    n->jump[j] = in->jump[j];
            }
        }
    }
}

/* Two dims that must be equal: decided now when both are constants or the
 * same expression, otherwise checked at run time.  Reports a mismatch with
 * `fmt` (which gets the two dims as %s). */
static bool unify_dim(Checker *c, const SymExpr *x, const SymExpr *y, SrcLoc loc,
                      const char *what)
{
    int64_t a, b, lo, hi;
    if (sym_equal(x, y))
        return true;
    if (sym_is_const(x, &a) && sym_is_const(y, &b)) {
        diag_error(c->d, loc, "%s: %lld != %lld", what, (long long)a, (long long)b);
        return false;
    }
    /* Different for every input (H vs H - 2): a runtime check that could
     * only fail is an error now. */
    bool before = c->sc.overflow;
    const SymExpr *diff = sym_sub(&c->sc, x, y);
    bool ovf = c->sc.overflow;
    c->sc.overflow = before;
    sym_range(diff, &lo, &hi);
    if (!ovf && (lo > 0 || hi < 0)) {
        if (lo == hi)
            diag_error(c->d, loc, "%s: %s != %s for every input (they differ by %lld)", what,
                       sym_ref(c->a, x), sym_ref(c->a, y), (long long)lo);
        else
            diag_error(c->d, loc, "%s: %s != %s for every input (their difference is %s %lld)", what,
                       sym_ref(c->a, x), sym_ref(c->a, y), lo > 0 ? "at least" : "at most",
                       (long long)(lo > 0 ? lo : hi));
        return false;
    }
    add_check(c, IR_CHECK_EQ, x, y, loc, arena_printf(c->a, "%s: %s: %s vs %s", where(c, loc), what,
                                                        sym_ref(c->a, x), sym_ref(c->a, y)));
    return true;
}

/* Why a symbolic size can be proven out of range: the symbols it depends
 * on and the bound they have at run time. */
static const char *symbol_bound(Checker *c, const SymExpr *e)
{
    const char *syms = sym_symbols(c->a, e);
    if (!*syms)
        return "";
    return arena_printf(c->a, " (%s %s at most %lld: an input's size in bytes must fit 64 bits)", syms,
                        strstr(syms, " and ") ? "are each" : "is", (long long)SYM_DIM_MAX);
}

/* One output dim of a window: error if it is below 1 now, runtime check if
 * symbolic, warning if the stride leaves real input unread. */
static const SymExpr *window_dim(Checker *c, const AstExpr *call, const char *stage,
                                 int nsp, int i, const WindowDim *wd, bool *ok)
{
    const SymExpr *out = window_out(&c->sc, wd);
    int64_t v;
    const char *formula = window_formula(c->a, wd);
    if (sym_is_const(out, &v)) {
        if (v < 1) {
            diag_error(c->d, call->loc, "%s: output %s %s = %lld is below 1", stage,
                       spatial_name(nsp, i), formula, (long long)v);
            *ok = false;
        } else {
            int64_t span, p1;
            if (!wd->ceil_mode && wd->s > 1 && sym_is_const(window_span(&c->sc, wd), &span) &&
                sym_is_const(wd->p1, &p1) && span % wd->s > p1) {
                int64_t unread = span % wd->s - p1;
                const char *unit = nsp == 2 ? (i == 0 ? "row" : "column") : "sample";
                diag_warning(c->d, call->loc,
                             "%s: stride %lld leaves the last %lld input %s%s unread "
                             "(%s (%s)/%lld has remainder %lld)",
                             stage, (long long)wd->s, (long long)unread, unit,
                             unread == 1 ? "" : "s", spatial_name(nsp, i),
                             sym_str(c->a, window_span(&c->sc, wd)), (long long)wd->s,
                             (long long)(span % wd->s));
            }
        }
    } else {
        /* Decided by the range of sizes an input can have where possible:
         * H/2 + 1 needs no check, and 2,000 halvings of H leave nothing of
         * any input, which is an error here and now, at the first stage
         * where it is certain. */
        int64_t lo, hi;
        sym_range(out, &lo, &hi);
        if (hi < 1) {
            diag_error(c->d, call->loc,
                       "%s: output %s %s = %s is at most %lld for every input, so it is always empty%s",
                       stage, spatial_name(nsp, i), formula, sym_str(c->a, out), (long long)hi,
                       symbol_bound(c, out));
            *ok = false;
        } else if (lo >= 1) {
            if (lo == hi && hi != INT64_MAX)
                out = sym_const(&c->sc, lo);    /* one value for every input */
        } else {
            add_check(c, IR_CHECK_POSITIVE, out, NULL, call->loc,
                      arena_printf(c->a, "%s: %s: output %s %s", where(c, call->loc), stage,
                                   spatial_name(nsp, i), formula));
        }
    }
    return out;
}

/* pad=N | (ph, pw) | same | valid | full  -> per-dim before/after. */
static bool parse_pad(Checker *c, const AstExpr *e, const char *stage, int nsp,
                      WindowParams *w, bool allow_words, bool *is_same)
{
    *is_same = false;
    for (int i = 0; i < nsp; i++)
        w->pad0[i] = w->pad1[i] = sym_const(&c->sc, 0);
    if (!e)
        return true;
    bool pad_word = e->kind == AST_IDENT &&
                    (!strcmp(e->ident.name, "same") || !strcmp(e->ident.name, "valid") ||
                     !strcmp(e->ident.name, "full"));
    if (e->kind == AST_IDENT && (pad_word || !lookup(c, e->ident.name))) {
        const char *word = e->ident.name;
        if (!allow_words) {
            diag_error(c->d, e->loc, "%s: pad must be an integer or a pair", stage);
            return false;
        }
        for (int i = 0; i < nsp; i++) {
            const SymExpr *total = sym_mul(&c->sc, sym_const(&c->sc, w->dilation[i]),
                                           sym_sub(&c->sc, w->k[i], sym_const(&c->sc, 1)));
            if (strcmp(word, "valid") == 0) {
                /* zero already */
            } else if (strcmp(word, "same") == 0) {
                *is_same = true;
                w->pad0[i] = sym_floordiv(&c->sc, total, sym_const(&c->sc, 2));
                w->pad1[i] = sym_sub(&c->sc, total, w->pad0[i]);
            } else if (strcmp(word, "full") == 0) {
                w->pad0[i] = w->pad1[i] = total;
            } else {
                static const char *const words[] = { "same", "valid", "full" };
                const char *hint = suggest_closest(word, words, 3);
                if (hint)
                    diag_error(c->d, e->loc, "%s: unknown pad '%s'; did you mean '%s'?", stage, word, hint);
                else
                    diag_error(c->d, e->loc,
                               "%s: unknown pad '%s' (an integer, a pair, or one of same, valid, full)",
                               stage, word);
                return false;
            }
        }
        return true;
    }
    int64_t p[MAX_SPATIAL];
    if (!int_pair(c, e, stage, "pad", nsp, 0, p))
        return false;
    for (int i = 0; i < nsp; i++)
        w->pad0[i] = w->pad1[i] = sym_const(&c->sc, p[i]);
    return true;
}

/* " s2", " s(1,2)" (height, width), or "" when every dim is 1. */
static const char *pair_desc(Checker *c, const char *letter, const int64_t *v, int nsp)
{
    bool all_one = true;
    for (int i = 0; i < nsp; i++)
        all_one &= v[i] == 1;
    if (all_one)
        return "";
    if (nsp == 1 || v[0] == v[1])
        return arena_printf(c->a, " %s%lld", letter, (long long)v[0]);
    return arena_printf(c->a, " %s(%lld,%lld)", letter, (long long)v[0], (long long)v[1]);
}

/* One dim's padding: "1", or "1/2" for 1 before and 2 after. */
static const char *pad_desc(Checker *c, const SymExpr *p0, const SymExpr *p1)
{
    if (sym_equal(p0, p1))
        return sym_str(c->a, p0);
    return arena_printf(c->a, "%s/%s", sym_str(c->a, p0), sym_str(c->a, p1));
}

/* The table's stage column: "conv2d 3x3 s(1,2) p1/2 d(2,1)", every dim's
 * stride, padding (before/after where they differ, as pad=same makes them
 * for an even kernel) and dilation as they are. */
static const char *window_desc(Checker *c, const char *stage, const WindowParams *w)
{
    const char *k = sym_str(c->a, w->k[0]);
    if (w->nsp == 2)
        k = arena_printf(c->a, "%sx%s", k, sym_str(c->a, w->k[1]));
    const char *s = arena_printf(c->a, "%s %s%s", stage, k, pair_desc(c, "s", w->stride, w->nsp));
    bool pd = false;
    for (int i = 0; i < w->nsp; i++) {
        int64_t v;
        pd |= !(sym_is_const(w->pad0[i], &v) && v == 0) || !(sym_is_const(w->pad1[i], &v) && v == 0);
    }
    if (pd) {
        const char *h = pad_desc(c, w->pad0[0], w->pad1[0]);
        if (w->nsp == 1 || (sym_equal(w->pad0[0], w->pad0[1]) && sym_equal(w->pad1[0], w->pad1[1])))
            s = arena_printf(c->a, "%s p%s", s, h);
        else
            s = arena_printf(c->a, "%s p(%s,%s)", s, h, pad_desc(c, w->pad0[1], w->pad1[1]));
    }
    return arena_printf(c->a, "%s%s", s, pair_desc(c, "d", w->dilation, w->nsp));
}

/* ---- stages ---------------------------------------------------------------- */

/* method= words, in Method's order */
static const char *const method_names[] = { "direct", "auto", "separable", "fft" };

/* method=separable: a 2-D kernel known when compiling, of rank 1 (the
 * tolerance is factor.h's), and unit steps; reported at the option. */
static bool separable_applies(Checker *c, const Node *n, const char *stage, bool shape_ok)
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
static Value check_conv(Checker *c, const AstExpr *e, int nsp, bool pointwise)
{
    static const char *const names[] = { "x", "w", "bias", "stride", "pad", "dilation",
                                         "groups", "pad_mode", "flip", "method" };
    static const char *const pw_names[] = { "x", "w", "bias", "stride" };
    const char *stage = e->call.callee;
    CallArgs a;
    bind_args(c, e, pointwise ? pw_names : names, pointwise ? 4 : 10, 2, &a);
    if (!need(c, e, &a, 0, "an input tensor") | !need(c, e, &a, 1, "a weight tensor"))
        return val_error(e->loc);
    Node *x = want_tensor(c, eval(c, a.arg[0]), "the input");
    Node *w = want_tensor(c, eval(c, a.arg[1]), "the weight");
    Node *bias = a.arg[2] ? want_tensor(c, eval(c, a.arg[2]), "bias") : NULL;
    bool ok = x && w && !(a.arg[2] && !bias) && !a.bad;

    WindowParams win = { .nsp = nsp };
    int64_t groups = 1;
    bool flip = false;
    int pad_mode = PAD_ZEROS, method = METHOD_DIRECT;
    for (int i = 0; i < nsp; i++)
        win.stride[i] = win.dilation[i] = 1;
    if (a.arg[3]) ok &= int_pair(c, a.arg[3], stage, "stride", nsp, 1, win.stride);
    if (!pointwise) {
        if (a.arg[5]) ok &= int_pair(c, a.arg[5], stage, "dilation", nsp, 1, win.dilation);
        if (a.arg[6]) {
            ok &= int_value(c, eval(c, a.arg[6]), stage, "groups", 1, &groups);
        }
        if (a.arg[7]) {
            static const char *const modes[] = { "zeros", "reflect", "replicate", "circular" };
            pad_mode = word_value(c, a.arg[7], stage, "pad_mode", modes, 4);
            ok &= pad_mode >= 0;
        }
        if (a.arg[8]) ok &= bool_value(c, a.arg[8], stage, "flip", &flip);
        if (a.arg[9]) {
            method = word_value(c, a.arg[9], stage, "method", method_names, 4);
            ok &= method >= 0;
        }
    }
    if (!ok)
        return val_error(e->loc);

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
            return val_error(e->loc);
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
        return val_error(e->loc);
    }
    int32_t need_rank = per_channel ? nsp : nsp + 1;
    if (xs.rank < need_rank) {
        diag_error(c->d, a.arg[0]->loc, "%s: the input must have at least %d dims (%s), got %s",
                   stage, need_rank,
                   per_channel ? (nsp == 2 ? "[.., H, W]" : "[.., L]")
                               : (nsp == 2 ? "[.., C, H, W]" : "[.., C, L]"),
                   shape_str(c->a, xs));
        return val_error(e->loc);
    }
    for (int i = 0; i < nsp; i++)
        win.k[i] = pointwise ? sym_const(&c->sc, 1) : ws.dims[ws.rank - nsp + i];
    (void)crank;

    bool is_same = false;
    if (!pointwise && !parse_pad(c, a.arg[4], stage, nsp, &win, true, &is_same))
        return val_error(e->loc);
    if (pointwise)
        for (int i = 0; i < nsp; i++)
            win.pad0[i] = win.pad1[i] = sym_const(&c->sc, 0);
    if (is_same)
        for (int i = 0; i < nsp; i++)
            if (win.stride[i] != 1) {
                diag_error(c->d, a.loc[3].first_line ? a.loc[3] : e->loc,
                           "%s: pad=same needs stride 1 (got stride %lld); give the padding as a number",
                           stage, (long long)win.stride[i]);
                return val_error(e->loc);
            }

    Node *n = new_node(c, NODE_CONV, stage, e->loc);
    n->conv.win = win;
    n->conv.groups = groups;
    n->conv.per_channel = per_channel;
    n->conv.flip = flip;
    n->conv.method = (Method)method;
    if (a.arg[9])
        n->conv.method_loc = a.arg[9]->loc;
    n->conv.pad_mode = (PadMode)pad_mode;
    add_input(n, x);
    add_input(n, w);

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
                unify_dim(c, sym_mul(&c->sc, sym_floordiv(&c->sc, K, sym_const(&c->sc, groups)),
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
                unify_dim(c, C, want, e->loc,
                          arena_printf(c->a, "%s: input channels must equal weight dim 1 x groups", stage));
            }
        }
        out.dims[xs.rank - nsp - 1] = K;
        if (bias) {
            if (bias->shape.rank != 1) {
                diag_error(c->d, a.arg[2]->loc, "%s: bias must be [K] (one per output channel), got %s",
                           stage, shape_str(c->a, bias->shape));
                ok = false;
            } else if (!unify_dim(c, bias->shape.dims[0], K, a.arg[2]->loc,
                                  arena_printf(c->a, "%s: bias length must equal the output channels", stage))) {
                ok = false;
            }
            add_input(n, bias);
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
                                   spatial_name(nsp, i), sym_str(c->a, wd.n));
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
                                   spatial_name(nsp, i), sym_ref(c->a, wd.n), symbol_bound(c, room));
                        ok = false;
                        break;
                    }
                    if (lo < 1)
                        add_check(c, IR_CHECK_POSITIVE, room, NULL, e->loc,
                                  arena_printf(c->a, "%s: %s: pad_mode=%s needs the padding %s the input %s; room",
                                               where(c, e->loc), stage,
                                               pad_mode == PAD_REFLECT ? "reflect" : "circular",
                                               pad_mode == PAD_REFLECT ? "smaller than" : "at most",
                                               spatial_name(nsp, i)));
                }
            }
        }
        if (ok)
            out.dims[xs.rank - nsp + i] = window_dim(c, e, stage, nsp, i, &wd, &ok);
    }
    if (!ok)
        return val_error(e->loc);
    n->shape = out;
    if (!finish_shape(c, n))
        return val_error(e->loc);
    const SymExpr *kprod = cin_per_group;
    for (int i = 0; i < nsp; i++)
        kprod = sym_mul(&c->sc, kprod, win.k[i]);
    n->macs = macs_of(c, out, 1, kprod);
    window_rf(n, x, &win);
    n->desc = pointwise ? arena_printf(c->a, "conv1x1%s", pair_desc(c, "s", win.stride, nsp))
                        : window_desc(c, stage, &win);
    if (groups > 1)
        n->desc = arena_printf(c->a, "%s g%lld", n->desc, (long long)groups);
    if (flip)
        n->desc = arena_printf(c->a, "%s flip", n->desc);
    static const char *const mode_names[] = { "", " reflect", " replicate", " circular" };
    n->desc = arena_printf(c->a, "%s%s", n->desc, mode_names[pad_mode]);
    if (method == METHOD_SEPARABLE && !separable_applies(c, n, stage, per_channel && nsp == 2))
        return val_error(e->loc);
    if (method == METHOD_FFT && !fft_applies(c, n, stage))
        return val_error(e->loc);
    push_node(c, n);
    return tensor_val(n, e->loc);
}

/* maxpool1d/2d, avgpool1d/2d. */
static Value check_pool(Checker *c, const AstExpr *e, int nsp, bool is_max)
{
    static const char *const max_names[] = { "x", "size", "stride", "pad", "dilation", "ceil_mode" };
    static const char *const avg_names[] = { "x", "size", "stride", "pad", "ceil_mode", "count_pad" };
    const char *stage = e->call.callee;
    CallArgs a;
    bind_args(c, e, is_max ? max_names : avg_names, 6, 2, &a);
    if (!need(c, e, &a, 0, "an input tensor") | !need(c, e, &a, 1, "a window size"))
        return val_error(e->loc);
    Node *x = want_tensor(c, eval(c, a.arg[0]), "the input");
    WindowParams win = { .nsp = nsp };
    int64_t size[MAX_SPATIAL] = { 1, 1 }, pad[MAX_SPATIAL] = { 0, 0 };
    bool ok = x && !a.bad;
    ok &= int_pair(c, a.arg[1], stage, "size", nsp, 1, size);
    for (int i = 0; i < nsp; i++) {
        win.stride[i] = size[i];
        win.dilation[i] = 1;
    }
    if (a.arg[2]) ok &= int_pair(c, a.arg[2], stage, "stride", nsp, 1, win.stride);
    if (a.arg[3]) ok &= int_pair(c, a.arg[3], stage, "pad", nsp, 0, pad);
    bool count_pad = true;
    if (is_max) {
        if (a.arg[4]) ok &= int_pair(c, a.arg[4], stage, "dilation", nsp, 1, win.dilation);
        if (a.arg[5]) ok &= bool_value(c, a.arg[5], stage, "ceil_mode", &win.ceil_mode);
    } else {
        if (a.arg[4]) ok &= bool_value(c, a.arg[4], stage, "ceil_mode", &win.ceil_mode);
        if (a.arg[5]) ok &= bool_value(c, a.arg[5], stage, "count_pad", &count_pad);
    }
    if (!ok)
        return val_error(e->loc);
    for (int i = 0; i < nsp; i++) {
        /* One report per distinct (pad, size), so `pad=2` on a 2x2 window
         * is one error, not one per dim. */
        bool seen = i > 0 && pad[0] == pad[i] && size[0] == size[i];
        if (pad[i] > size[i] / 2 && !seen) {
            diag_error(c->d, a.loc[3].first_line ? a.loc[3] : e->loc,
                       "%s: pad %lld is more than half the window size %lld", stage,
                       (long long)pad[i], (long long)size[i]);
            ok = false;
        } else if (pad[i] > size[i] / 2) {
            ok = false;
        }
        win.k[i] = sym_const(&c->sc, size[i]);
        win.pad0[i] = win.pad1[i] = sym_const(&c->sc, pad[i]);
    }
    Shape xs = x->shape;
    if (xs.rank < nsp) {
        diag_error(c->d, a.arg[0]->loc, "%s: the input must have at least %d dims, got %s", stage,
                   nsp, shape_str(c->a, xs));
        ok = false;
    }
    if (!ok)
        return val_error(e->loc);
    Node *n = new_node(c, NODE_POOL, stage, e->loc);
    n->pool.win = win;
    n->pool.is_max = is_max;
    n->pool.count_pad = count_pad;
    add_input(n, x);
    Shape out = shape_make(c->a, xs.rank);
    for (int32_t i = 0; i < xs.rank; i++)
        out.dims[i] = xs.dims[i];
    for (int i = 0; i < nsp; i++) {
        WindowDim wd = { xs.dims[xs.rank - nsp + i], win.k[i], win.pad0[i], win.pad1[i],
                         win.stride[i], win.dilation[i], win.ceil_mode };
        out.dims[xs.rank - nsp + i] = window_dim(c, e, stage, nsp, i, &wd, &ok);
    }
    if (!ok)
        return val_error(e->loc);
    n->shape = out;
    if (!finish_shape(c, n))
        return val_error(e->loc);
    n->macs = macs_of(c, out, size[0] * (nsp == 2 ? size[1] : 1), NULL);
    window_rf(n, x, &win);
    n->desc = window_desc(c, stage, &win);
    if (win.ceil_mode)
        n->desc = arena_printf(c->a, "%s ceil", n->desc);
    if (!is_max && !count_pad)
        n->desc = arena_printf(c->a, "%s count_pad=false", n->desc);
    push_node(c, n);
    return tensor_val(n, e->loc);
}

static Value check_global_pool(Checker *c, const AstExpr *e, bool is_max)
{
    static const char *const names[] = { "x" };
    CallArgs a;
    bind_args(c, e, names, 1, 1, &a);
    if (!need(c, e, &a, 0, "an input tensor"))
        return val_error(e->loc);
    Node *x = want_tensor(c, eval(c, a.arg[0]), "the input");
    if (!x || a.bad)
        return val_error(e->loc);
    Shape xs = x->shape;
    if (xs.rank < 3) {
        diag_error(c->d, a.arg[0]->loc, "%s: the input must be [.., C, H, W], got %s",
                   e->call.callee, shape_str(c->a, xs));
        return val_error(e->loc);
    }
    Node *n = new_node(c, NODE_POOL, e->call.callee, e->loc);
    n->pool.is_max = is_max;
    n->pool.global = true;
    n->pool.count_pad = true;
    n->pool.win.nsp = 2;
    for (int i = 0; i < 2; i++) {
        n->pool.win.k[i] = xs.dims[xs.rank - 2 + i];
        n->pool.win.stride[i] = n->pool.win.dilation[i] = 1;
        n->pool.win.pad0[i] = n->pool.win.pad1[i] = sym_const(&c->sc, 0);
    }
    add_input(n, x);
    Shape out = shape_make(c->a, xs.rank);
    for (int32_t i = 0; i < xs.rank; i++)
        out.dims[i] = i >= xs.rank - 2 ? sym_const(&c->sc, 1) : xs.dims[i];
    n->shape = out;
    n->macs = shape_numel(&c->sc, xs);
    n->rf_nsp = 2;
    n->rf[0] = n->rf[1] = -2;   /* the whole map */
    push_node(c, n);
    return tensor_val(n, e->loc);
}

/* scipy.signal.convolve / correlate (direct), modes full/same/valid. */
static Value check_signal(Checker *c, const AstExpr *e, bool correlate)
{
    static const char *const names[] = { "a", "b", "mode", "method" };
    static const char *const modes[] = { "full", "same", "valid" };
    const char *stage = e->call.callee;
    CallArgs a;
    bind_args(c, e, names, 4, 2, &a);
    if (!need(c, e, &a, 0, "two tensors") | !need(c, e, &a, 1, "two tensors"))
        return val_error(e->loc);
    Node *x = want_tensor(c, eval(c, a.arg[0]), "the first operand");
    Node *y = want_tensor(c, eval(c, a.arg[1]), "the second operand");
    int mode = correlate ? 2 : 0, method = METHOD_DIRECT;
    if (a.arg[2])
        mode = word_value(c, a.arg[2], stage, "mode", modes, 3);
    if (a.arg[3])
        method = word_value(c, a.arg[3], stage, "method", method_names, 4);
    if (!x || !y || mode < 0 || method < 0 || a.bad)
        return val_error(e->loc);
    Shape xs = x->shape, ys = y->shape;
    if (xs.rank != ys.rank || xs.rank < 1 || xs.rank > 2) {
        diag_error(c->d, e->loc, "%s: the operands must both be 1-D or both 2-D, got %s and %s",
                   stage, shape_str(c->a, xs), shape_str(c->a, ys));
        return val_error(e->loc);
    }
    int nsp = xs.rank;
    Node *n = new_node(c, NODE_SIGNAL, stage, e->loc);
    n->signal.correlate = correlate;
    n->signal.method = (Method)method;
    if (a.arg[3])
        n->signal.method_loc = a.arg[3]->loc;
    add_input(n, x);
    add_input(n, y);
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
                    return val_error(e->loc);
                }
                bigger = dir;
            }
            out.dims[i] = sym_add(sc, sym_sub(sc, sym_max(sc, n1, n2), sym_min(sc, n1, n2)), one);
            n->signal.start[i] = sym_sub(sc, sym_min(sc, n1, n2), one);
            break;
        }
    }
    n->shape = out;
    if (!finish_shape(c, n))
        return val_error(e->loc);
    n->macs = macs_of(c, out, 1, shape_numel(sc, ys));
    n->rf_nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        int64_t k;
        n->rf[i] = sym_is_const(ys.dims[i], &k) ? k : -1;
        n->jump[i] = 1;
    }
    n->desc = arena_printf(c->a, "%s %s", stage, modes[mode]);
    if (method == METHOD_SEPARABLE && !separable_applies(c, n, stage, nsp == 2))
        return val_error(e->loc);
    push_node(c, n);
    return tensor_val(n, e->loc);
}

static Value check_concat(Checker *c, const AstExpr *e)
{
    int32_t nargs = e->call.nargs;
    if (nargs < 1) {
        diag_error(c->d, e->loc, "concat needs at least one tensor");
        return val_error(e->loc);
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
        ins[i] = want_tensor(c, eval(c, arg->value), "each concat operand");
        ok &= ins[i] != NULL;
    }
    if (!ok)
        return val_error(e->loc);
    Shape s0 = ins[0]->shape;
    if (s0.rank < 3) {
        diag_error(c->d, e->call.args[0].value->loc,
                   "concat joins [.., C, H, W] maps along C; this operand is %s", shape_str(c->a, s0));
        return val_error(e->loc);
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
            ok &= unify_dim(c, s0.dims[i], sk.dims[i], loc, what);
        }
        sym_sum_add(channels, sk.dims[cd]);
    }
    out.dims[cd] = sym_sum_get(channels);
    if (!ok)
        return val_error(e->loc);
    Node *n = new_node(c, NODE_CONCAT, "concat", e->loc);
    if (nargs > 8)
        n->ins = ins;
    for (int32_t i = 0; i < nargs; i++) {
        if (i < 8)
            n->in[i] = ins[i];
        ins[i]->nuses++;
    }
    n->nin = nargs;
    n->shape = out;
    if (!finish_shape(c, n))
        return val_error(e->loc);
    n->macs = sym_const(&c->sc, 0);
    elementwise_rf(n);
    push_node(c, n);
    return tensor_val(n, e->loc);
}

static Node *unary_node(Checker *c, UnaryFn fn, const char *stage, SrcLoc loc, Node *x)
{
    Node *n = new_node(c, NODE_UNARY, stage, loc);
    n->unary.fn = fn;
    add_input(n, x);
    n->shape = x->shape;
    n->macs = sym_const(&c->sc, 0);
    elementwise_rf(n);
    push_node(c, n);
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

static Value check_unary(Checker *c, const AstExpr *e, UnaryFn fn)
{
    const char *stage = e->call.callee;
    static const char *const one[] = { "x" };
    static const char *const leaky[] = { "x", "alpha" };
    static const char *const clamp[] = { "x", "lo", "hi" };
    CallArgs a;
    int nn = fn == UN_LEAKY_RELU ? 2 : fn == UN_CLAMP ? 3 : 1;
    bind_args(c, e, fn == UN_LEAKY_RELU ? leaky : fn == UN_CLAMP ? clamp : one, nn, nn, &a);
    if (!need(c, e, &a, 0, "an operand"))
        return val_error(e->loc);
    double alpha = 0.01, lo = 0, hi = 0;
    bool ok = !a.bad;
    if (fn == UN_LEAKY_RELU && a.arg[1])
        ok &= scalar_value(c, a.arg[1], stage, "alpha", &alpha);
    if (fn == UN_CLAMP) {
        ok &= need(c, e, &a, 1, "a lower bound lo") && need(c, e, &a, 2, "an upper bound hi");
        if (ok) {
            ok &= scalar_value(c, a.arg[1], stage, "lo", &lo);
            ok &= scalar_value(c, a.arg[2], stage, "hi", &hi);
            if (ok && lo > hi) {
                diag_error(c->d, e->loc, "clamp: lo (%g) is greater than hi (%g)", lo, hi);
                ok = false;
            }
        }
    }
    Value v = eval(c, a.arg[0]);
    if (!ok || v.kind == VAL_ERROR)
        return val_error(e->loc);
    if (v.kind == VAL_SCALAR) {
        Value r = { .kind = VAL_SCALAR, .loc = e->loc };
        r.num = apply_unary(fn, v.num, alpha, lo, hi);
        return r;
    }
    Node *x = want_tensor(c, v, "the operand");
    if (!x)
        return val_error(e->loc);
    Node *n = unary_node(c, fn, stage, e->loc, x);
    n->unary.alpha = (float)alpha;
    n->unary.lo = (float)lo;
    n->unary.hi = (float)hi;
    if (fn == UN_LEAKY_RELU)
        n->desc = arena_printf(c->a, "leaky_relu %g", alpha);
    else if (fn == UN_CLAMP)
        n->desc = arena_printf(c->a, "clamp [%g, %g]", lo, hi);
    return tensor_val(n, e->loc);
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

static Value binary(Checker *c, BinaryFn fn, Value x, Value y, SrcLoc loc)
{
    if (x.kind == VAL_ERROR || y.kind == VAL_ERROR)
        return val_error(loc);
    if (x.kind == VAL_SCALAR && y.kind == VAL_SCALAR) {
        Value r = { .kind = VAL_SCALAR, .loc = loc };
        r.num = apply_binary(fn, x.num, y.num);
        r.is_int = x.is_int && y.is_int && fn != BIN_DIV;
        if (r.is_int && (fabs(r.num) > 9e15))
            r.is_int = false;
        return r;
    }
    Node *nx = NULL, *ny = NULL;
    if (x.kind != VAL_SCALAR && !(nx = want_tensor(c, x, "an operand")))
        return val_error(loc);
    if (y.kind != VAL_SCALAR && !(ny = want_tensor(c, y, "an operand")))
        return val_error(loc);
    Node *n = new_node(c, NODE_BINARY, binary_stage(fn), loc);
    n->binary.fn = fn;
    if (nx && ny) {
        Shape a = nx->shape, b = ny->shape;
        if (a.rank != b.rank) {
            diag_error(c->d, loc, "'%s' needs operands of the same shape, got %s and %s",
                       binary_stage(fn), shape_str(c->a, a), shape_str(c->a, b));
            return val_error(loc);
        }
        bool ok = true;
        for (int32_t i = 0; i < a.rank && ok; i++) {
            int64_t u, v;
            if (sym_is_const(a.dims[i], &u) && sym_is_const(b.dims[i], &v) && u != v) {
                diag_error(c->d, loc, "'%s' needs operands of the same shape, got %s and %s (dim %d: %lld vs %lld)",
                           binary_stage(fn), shape_str(c->a, a), shape_str(c->a, b), i,
                           (long long)u, (long long)v);
                return val_error(loc);
            }
            ok &= unify_dim(c, a.dims[i], b.dims[i], loc,
                            arena_printf(c->a, "'%s': dim %d of the operands", binary_stage(fn), i));
        }
        if (!ok)
            return val_error(loc);
        add_input(n, nx);
        add_input(n, ny);
        n->shape = a;
    } else if (nx) {
        n->binary.scalar_rhs = true;
        n->binary.scalar = (float)y.num;
        add_input(n, nx);
        n->shape = nx->shape;
    } else {
        n->binary.scalar_lhs = true;
        n->binary.scalar = (float)x.num;
        add_input(n, ny);
        n->shape = ny->shape;
    }
    n->macs = sym_const(&c->sc, 0);
    elementwise_rf(n);
    push_node(c, n);
    return tensor_val(n, loc);
}

static Value check_minmax(Checker *c, const AstExpr *e, BinaryFn fn)
{
    static const char *const names[] = { "a", "b" };
    CallArgs a;
    bind_args(c, e, names, 2, 2, &a);
    if (!need(c, e, &a, 0, "two operands") | !need(c, e, &a, 1, "two operands"))
        return val_error(e->loc);
    Value x = eval(c, a.arg[0]), y = eval(c, a.arg[1]);
    Value r = binary(c, fn, x, y, e->loc);
    if (r.kind == VAL_TENSOR)
        r.node->stage = r.node->desc = e->call.callee;
    return r;
}

static Value tensor_literal(Checker *c, const AstExpr *e);

static Value check_kernel_builtin(Checker *c, const AstExpr *e, const char *name)
{
    static const char *const box_names[] = { "n" };
    static const char *const gauss_names[] = { "n", "sigma" };
    static const char *const savgol_names[] = { "window", "order", "deriv" };
    CallArgs a;
    bool is_box = strncmp(name, "box", 3) == 0, is_gauss = strncmp(name, "gaussian", 8) == 0;
    bool two_d = strcmp(name, "box2d") == 0 || strcmp(name, "gaussian2d") == 0;
    if (is_box)
        bind_args(c, e, box_names, 1, 1, &a);
    else if (is_gauss)
        bind_args(c, e, gauss_names, 2, 2, &a);
    else
        bind_args(c, e, savgol_names, 3, 3, &a);
    if (a.bad || !need(c, e, &a, 0, is_box || is_gauss ? "a size n" : "a window length"))
        return val_error(e->loc);
    int64_t n;
    if (!int_value(c, eval(c, a.arg[0]), name, is_box || is_gauss ? "n" : "window", 1, &n))
        return val_error(e->loc);
    int64_t max_n = two_d ? 1024 : 65536;     /* 2-D: at most 1M taps */
    if (n > max_n) {
        diag_error(c->d, a.arg[0]->loc, "%s: size %lld is too large for a kernel (at most %lld)",
                   name, (long long)n, (long long)max_n);
        return val_error(e->loc);
    }
    double *v = arena_array(c->a, (size_t)n, sizeof(double));
    if (is_box) {
        for (int64_t i = 0; i < n; i++)
            v[i] = 1.0 / (double)n;
    } else if (is_gauss) {
        double sigma;
        if (!need(c, e, &a, 1, "a sigma") || !scalar_value(c, a.arg[1], name, "sigma", &sigma))
            return val_error(e->loc);
        if (!(sigma > 0)) {
            diag_error(c->d, a.arg[1]->loc, "%s: sigma must be positive, got %g", name, sigma);
            return val_error(e->loc);
        }
        double sum = 0, mid = (double)(n - 1) / 2.0;
        for (int64_t i = 0; i < n; i++) {
            double t = ((double)i - mid) / sigma;
            v[i] = exp(-0.5 * t * t);
            sum += v[i];
        }
        for (int64_t i = 0; i < n; i++)
            v[i] /= sum;
    } else {
        int64_t order, deriv = 0;
        if (!need(c, e, &a, 1, "a polynomial order") ||
            !int_value(c, eval(c, a.arg[1]), name, "order", 0, &order))
            return val_error(e->loc);
        if (a.arg[2] && !int_value(c, eval(c, a.arg[2]), name, "deriv", 0, &deriv))
            return val_error(e->loc);
        if (order >= n) {
            diag_error(c->d, a.arg[1]->loc, "savgol: order %lld must be less than the window length %lld",
                       (long long)order, (long long)n);
            return val_error(e->loc);
        }
        if (!savgol_coeffs(n, order, deriv, v)) {
            diag_error(c->d, e->loc, "savgol: the fit is singular for window %lld, order %lld",
                       (long long)n, (long long)order);
            return val_error(e->loc);
        }
    }
    Node *k;
    if (two_d) {
        Shape s = shape_make(c->a, 2);
        s.dims[0] = s.dims[1] = sym_const(&c->sc, n);
        float *data = arena_array(c->a, (size_t)(n * n), sizeof(float));
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                data[i * n + j] = (float)(v[i] * v[j]);
        k = const_node(c, name, e->loc, s, data, n * n);
    } else {
        k = const_1d(c, name, e->loc, n, v);
    }
    return tensor_val(k, e->loc);
}

/* Capture the runtime's message for load() so it becomes a diagnostic. */
typedef struct LoadMsg {
    char text[512];
} LoadMsg;

static void capture_error(void *user, int code, const char *message)
{
    LoadMsg *m = user;
    snprintf(m->text, sizeof m->text, "%s", message);
}

static Value check_load(Checker *c, const AstExpr *e)
{
    static const char *const names[] = { "path" };
    CallArgs a;
    bind_args(c, e, names, 1, 1, &a);
    if (a.bad || !need(c, e, &a, 0, "a file name"))
        return val_error(e->loc);
    Value p = eval(c, a.arg[0]);
    if (p.kind == VAL_ERROR)
        return p;
    if (p.kind != VAL_STRING) {
        diag_error(c->d, p.loc, "load: the file name must be a string in double quotes");
        return val_error(e->loc);
    }
    const char *path = p.text;
    if (path[0] != '/' && c->opt && c->opt->script_dir && c->opt->script_dir[0])
        path = arena_printf(c->a, "%s/%s", c->opt->script_dir, p.text);
    LoadMsg msg = { "" };
    convrt_set_thread_error_handler(capture_error, &msg);
    convrt_tensor t = { 0 };
    int rc = convrt_npy_load(path, &t);
    convrt_set_thread_error_handler(NULL, NULL);
    if (rc != 0) {
        diag_error(c->d, p.loc, "load: %s", msg.text[0] ? msg.text : convrt_strerror(rc));
        return val_error(e->loc);
    }
    Shape s = shape_make(c->a, t.rank);
    int64_t count = 1;
    for (int32_t i = 0; i < t.rank; i++) {
        s.dims[i] = sym_const(&c->sc, t.dims[i]);
        count *= t.dims[i];
    }
    float *data = arena_array(c->a, (size_t)(count > 0 ? count : 1), sizeof(float));
    if (count > 0)
        memcpy(data, t.data, (size_t)count * sizeof(float));
    int32_t rank = t.rank;
    convrt_tensor_free(&t);
    if (rank == 0 || count == 0) {
        diag_error(c->d, p.loc, "load: '%s' holds no values (a tensor needs at least one dim >= 1)", p.text);
        return val_error(e->loc);
    }
    Node *n = const_node(c, "load", e->loc, s, data, count);
    n->desc = arena_printf(c->a, "load \"%s\"", p.text);
    return tensor_val(n, e->loc);
}

static Value check_call(Checker *c, const AstExpr *e)
{
    const char *f = e->call.callee;
    if (!strcmp(f, "conv2d")) return check_conv(c, e, 2, false);
    if (!strcmp(f, "conv1d")) return check_conv(c, e, 1, false);
    if (!strcmp(f, "conv1x1")) return check_conv(c, e, 2, true);
    if (!strcmp(f, "maxpool2d")) return check_pool(c, e, 2, true);
    if (!strcmp(f, "maxpool1d")) return check_pool(c, e, 1, true);
    if (!strcmp(f, "avgpool2d")) return check_pool(c, e, 2, false);
    if (!strcmp(f, "avgpool1d")) return check_pool(c, e, 1, false);
    if (!strcmp(f, "global_avgpool2d")) return check_global_pool(c, e, false);
    if (!strcmp(f, "global_maxpool2d")) return check_global_pool(c, e, true);
    if (!strcmp(f, "convolve")) return check_signal(c, e, false);
    if (!strcmp(f, "correlate")) return check_signal(c, e, true);
    if (!strcmp(f, "concat")) return check_concat(c, e);
    if (!strcmp(f, "relu")) return check_unary(c, e, UN_RELU);
    if (!strcmp(f, "leaky_relu")) return check_unary(c, e, UN_LEAKY_RELU);
    if (!strcmp(f, "sigmoid")) return check_unary(c, e, UN_SIGMOID);
    if (!strcmp(f, "tanh")) return check_unary(c, e, UN_TANH);
    if (!strcmp(f, "abs")) return check_unary(c, e, UN_ABS);
    if (!strcmp(f, "sqrt")) return check_unary(c, e, UN_SQRT);
    if (!strcmp(f, "exp")) return check_unary(c, e, UN_EXP);
    if (!strcmp(f, "clamp")) return check_unary(c, e, UN_CLAMP);
    if (!strcmp(f, "min")) return check_minmax(c, e, BIN_MIN);
    if (!strcmp(f, "max")) return check_minmax(c, e, BIN_MAX);
    if (!strcmp(f, "box") || !strcmp(f, "box2d") || !strcmp(f, "gaussian") ||
        !strcmp(f, "gaussian2d") || !strcmp(f, "savgol"))
        return check_kernel_builtin(c, e, f);
    if (!strcmp(f, "load")) return check_load(c, e);
    if (lookup(c, f) || builtin_kernel_name(f))
        diag_error(c->d, e->call.callee_loc, "'%s' is a value, not a stage; it cannot be called", f);
    else {
        const char *hint = suggest_closest(f, STAGES, sizeof STAGES / sizeof *STAGES);
        if (hint)
            diag_error(c->d, e->call.callee_loc, "unknown stage '%s'; did you mean '%s'?", f, hint);
        else
            diag_error(c->d, e->call.callee_loc, "unknown stage '%s'", f);
    }
    return val_error(e->loc);
}

/* ---- tensor literals ------------------------------------------------------- */

/* Flatten a nested list into values, recording the shape of the first
 * element at each depth and requiring every sibling to match. */
typedef struct LitState {
    int64_t dims[CONVRT_MAX_RANK];
    int32_t rank;       /* -1 until the first leaf fixes it */
    float  *buf;
    int64_t len, cap;
    bool    ok;
} LitState;

static void lit_push(Checker *c, LitState *s, float v)
{
    if (s->len == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 16;
        float *nb = arena_array(c->a, (size_t)cap, sizeof(float));
        if (s->len)
            memcpy(nb, s->buf, (size_t)s->len * sizeof(float));
        s->buf = nb;
        s->cap = cap;
    }
    s->buf[s->len++] = v;
}

static void lit_walk(Checker *c, LitState *s, const AstExpr *e, int32_t depth)
{
    if (!s->ok)
        return;
    if (e->kind == AST_LIST) {
        if (depth >= CONVRT_MAX_RANK) {
            diag_error(c->d, e->loc, "tensor literal has more than %d dims", CONVRT_MAX_RANK);
            s->ok = false;
            return;
        }
        if (e->list.n == 0) {
            diag_error(c->d, e->loc, "empty tensor literal");
            s->ok = false;
            return;
        }
        if (s->rank < 0 || depth >= s->rank) {
            if (s->rank >= 0 && depth >= s->rank) {
                diag_error(c->d, e->loc, "ragged tensor literal: a list where a number was expected");
                s->ok = false;
                return;
            }
            s->dims[depth] = e->list.n;
        } else if (s->dims[depth] != e->list.n) {
            diag_error(c->d, e->loc, "ragged tensor literal: %d items where the first row has %lld",
                       e->list.n, (long long)s->dims[depth]);
            s->ok = false;
            return;
        }
        for (int32_t i = 0; i < e->list.n && s->ok; i++)
            lit_walk(c, s, e->list.items[i], depth + 1);
        return;
    }
    if (s->rank < 0)
        s->rank = depth;
    else if (depth != s->rank) {
        diag_error(c->d, e->loc, "ragged tensor literal: a number where a list was expected");
        s->ok = false;
        return;
    }
    Value v = eval(c, e);
    if (v.kind == VAL_ERROR) {
        s->ok = false;
        return;
    }
    if (v.kind != VAL_SCALAR) {
        diag_error(c->d, e->loc, "tensor literal items must be numbers, not %s", val_kind_name(v.kind));
        s->ok = false;
        return;
    }
    lit_push(c, s, (float)v.num);
}

static Value tensor_literal(Checker *c, const AstExpr *e)
{
    LitState s = { .rank = -1, .ok = true };
    lit_walk(c, &s, e, 0);
    if (!s.ok)
        return val_error(e->loc);
    Shape shape = shape_make(c->a, s.rank);
    for (int32_t i = 0; i < s.rank; i++)
        shape.dims[i] = sym_const(&c->sc, s.dims[i]);
    Node *n = const_node(c, "literal", e->loc, shape, s.buf, s.len);
    return tensor_val(n, e->loc);
}

/* ---- expressions ------------------------------------------------------------ */

static bool builtin_kernel_name(const char *name)
{
    for (size_t i = 0; i < sizeof BUILTIN_KERNELS / sizeof *BUILTIN_KERNELS; i++)
        if (!strcmp(name, BUILTIN_KERNELS[i]))
            return true;
    return false;
}

static Value eval(Checker *c, const AstExpr *e)
{
    switch (e->kind) {
    case AST_NUM: {
        Value v = { .kind = VAL_SCALAR, .loc = e->loc, .num = e->num.value,
                    .is_int = e->num.is_int, .exact = e->num.is_int, .ival = e->num.ivalue };
        return v;
    }
    case AST_BOOL:
        return (Value){ .kind = VAL_BOOL, .loc = e->loc, .boolean = e->boolean };
    case AST_STRING:
        return (Value){ .kind = VAL_STRING, .loc = e->loc, .text = e->string.text };
    case AST_IDENT: {
        Binding *b = lookup(c, e->ident.name);
        if (b) {
            Value v = b->value;
            v.loc = e->loc;
            return v;
        }
        if (builtin_kernel_name(e->ident.name))
            return tensor_val(builtin_kernel(c, e->ident.name, e->loc), e->loc);
        return (Value){ .kind = VAL_WORD, .loc = e->loc, .text = e->ident.name };
    }
    case AST_CALL:
        return check_call(c, e);
    case AST_BINARY: {
        Value x = eval(c, e->binary.lhs), y = eval(c, e->binary.rhs);
        BinaryFn fn = e->binary.op == '+' ? BIN_ADD : e->binary.op == '-' ? BIN_SUB
                    : e->binary.op == '*' ? BIN_MUL : BIN_DIV;
        return binary(c, fn, x, y, e->loc);
    }
    case AST_NEG: {
        Value x = eval(c, e->neg.operand);
        if (x.kind == VAL_ERROR)
            return x;
        if (x.kind == VAL_SCALAR) {
            x.num = -x.num;
            x.ival = -x.ival;   /* |ival| <= INT64_MAX: a literal is never INT64_MIN */
            x.loc = e->loc;
            return x;
        }
        Node *t = want_tensor(c, x, "the operand of '-'");
        if (!t)
            return val_error(e->loc);
        Node *n = unary_node(c, UN_NEG, "neg", e->loc, t);
        return tensor_val(n, e->loc);
    }
    case AST_TUPLE: {
        Value v = { .kind = VAL_TUPLE, .loc = e->loc, .n = e->list.n };
        v.items = arena_array(c->a, (size_t)e->list.n, sizeof(Value));
        for (int32_t i = 0; i < e->list.n; i++) {
            v.items[i] = eval(c, e->list.items[i]);
            if (v.items[i].kind == VAL_ERROR)
                return val_error(e->loc);
        }
        return v;
    }
    case AST_LIST:
        return tensor_literal(c, e);
    }
    return val_error(e->loc);
}

/* ---- statements ---------------------------------------------------------------- */

static bool define(Checker *c, const char *name, SrcLoc loc, Value v)
{
    Binding *prev = lookup(c, name);
    if (prev) {
        diag_error(c->d, loc, "'%s' is already defined", name);
        diag_note(c->d, prev->loc, "'%s' was defined here", name);
        return false;
    }
    Binding *b = arena_alloc(c->a, sizeof *b);
    b->name = name;
    b->loc = loc;
    b->value = v;
    table_insert(c, b);
    ptrvec_push(c->a, &c->bindings, b);
    return true;
}

/* Name the stage after its binding, and its derived dims after the stage
 * ("t5.dims[0]"), so that a later formula containing a long one can say
 * its name instead of repeating it. */
static void name_node(Checker *c, Value v, const char *name)
{
    if (v.kind != VAL_TENSOR || v.node->name || v.node->op == NODE_INPUT)
        return;
    v.node->name = name;
    for (int32_t i = 0; i < v.node->shape.rank; i++) {
        const SymExpr *d = v.node->shape.dims[i];
        if (d->kind != SYM_CONST && d->kind != SYM_VAR && !d->label)
            sym_label(&c->sc, d, arena_printf(c->a, "%s.dims[%d]", name, i));
    }
}

static bool check_type_elem(Checker *c, const AstType *t)
{
    if (strcmp(t->elem, "f32") != 0) {
        diag_error(c->d, t->loc, "unsupported element type '%s' (only f32)", t->elem);
        return false;
    }
    return true;
}

static void stmt_input(Checker *c, const AstStmt *s)
{
    const AstType *t = &s->type;
    bool ok = check_type_elem(c, t);
    if (t->rank > CONVRT_MAX_RANK) {
        diag_error(c->d, t->loc, "input '%s' has %d dims; at most %d are supported", s->name,
                   t->rank, CONVRT_MAX_RANK);
        ok = false;
    }
    Node *n = new_node(c, NODE_INPUT, "input", s->loc);
    n->name = s->name;
    n->input.arg = c->g->inputs.len;
    if (ok) {
        n->shape = shape_make(c->a, t->rank);
        for (int32_t i = 0; i < t->rank; i++) {
            const AstDim *dim = &t->dims[i];
            if (dim->is_symbol)
                n->shape.dims[i] = sym_var(&c->sc, dim->symbol);
            else if (dim->value < 1) {
                diag_error(c->d, dim->loc, "dim %d of input '%s' must be at least 1, got %lld", i,
                           s->name, (long long)dim->value);
                ok = false;
            } else
                n->shape.dims[i] = sym_const(&c->sc, dim->value);
        }
    }
    if (ok && !finish_shape(c, n))
        ok = false;
    n->macs = sym_const(&c->sc, 0);
    if (!define(c, s->name, s->name_loc, ok ? tensor_val(n, s->loc) : val_error(s->loc)))
        return;
    if (ok) {
        push_node(c, n);
        ptrvec_push(c->a, &c->g->inputs, n);
    }
}

static void stmt_value(Checker *c, const AstStmt *s)
{
    Value v = eval(c, s->value);
    if (s->kind == AST_STMT_CONST && v.kind != VAL_ERROR) {
        bool is_const = v.kind == VAL_SCALAR || (v.kind == VAL_TENSOR && v.node->op == NODE_CONST);
        if (!is_const) {
            diag_error(c->d, s->value->loc,
                       "const '%s' must be known when compiling (a number, a literal, a builtin kernel or load(...))",
                       s->name);
            v = val_error(s->loc);
        } else if (s->type.present) {
            const AstType *t = &s->type;
            if (!check_type_elem(c, t) || v.kind != VAL_TENSOR) {
                if (v.kind != VAL_TENSOR)
                    diag_error(c->d, t->loc, "const '%s' is a number; it has no tensor type", s->name);
                v = val_error(s->loc);
            } else {
                Shape have = v.node->shape;
                bool match = have.rank == t->rank;
                for (int32_t i = 0; i < t->rank; i++) {
                    if (t->dims[i].is_symbol) {
                        diag_error(c->d, t->dims[i].loc,
                                   "const '%s': dims of a constant must be numbers, not the symbol '%s'",
                                   s->name, t->dims[i].symbol);
                        match = false;
                        v = val_error(s->loc);
                        break;
                    }
                    int64_t d;
                    if (i < have.rank && !(sym_is_const(have.dims[i], &d) && d == t->dims[i].value))
                        match = false;
                }
                if (v.kind != VAL_ERROR && !match) {
                    const char *decl = "[";
                    for (int32_t i = 0; i < t->rank; i++)
                        decl = arena_printf(c->a, "%s%s%lld", decl, i ? ", " : "",
                                            (long long)t->dims[i].value);
                    diag_error(c->d, t->loc, "const '%s' is declared %s]%s but the value is %s",
                               s->name, decl, "", shape_str(c->a, have));
                    v = val_error(s->loc);
                }
            }
        }
    }
    if (s->kind == AST_STMT_OUTPUT && v.kind != VAL_ERROR && v.kind != VAL_TENSOR) {
        if (v.kind == VAL_WORD)
            want_tensor(c, v, "an output");
        else
            diag_error(c->d, s->value->loc, "output '%s' must be a tensor, not %s", s->name,
                       val_kind_name(v.kind));
        v = val_error(s->loc);
    }
    if (v.kind == VAL_WORD) {
        want_tensor(c, v, "a value");   /* reports the undefined name */
        v = val_error(s->loc);
    }
    name_node(c, v, s->name);
    if (!define(c, s->name, s->name_loc, v))
        return;
    if (s->kind == AST_STMT_OUTPUT && v.kind == VAL_TENSOR) {
        GraphOutput *o = &c->g->outputs[c->g->noutputs++];
        o->name = s->name;
        o->node = v.node;
        o->loc = s->loc;
        v.node->nuses++;
    }
}

static void stmt_bare_output(Checker *c, const AstStmt *s)
{
    Binding *b = lookup(c, s->name);
    if (!b) {
        const char *hint = suggest_name(c, s->name);
        if (hint)
            diag_error(c->d, s->name_loc, "output '%s' names nothing defined above; did you mean '%s'?",
                       s->name, hint);
        else
            diag_error(c->d, s->name_loc,
                       "output '%s' names nothing defined above (write `output %s = EXPR` to define it)",
                       s->name, s->name);
        return;
    }
    if (b->value.kind == VAL_ERROR)
        return;
    if (b->value.kind != VAL_TENSOR) {
        diag_error(c->d, s->name_loc, "output '%s' must be a tensor, not %s", s->name,
                   val_kind_name(b->value.kind));
        return;
    }
    for (int32_t i = 0; i < c->g->noutputs; i++)
        if (strcmp(c->g->outputs[i].name, s->name) == 0) {
            diag_error(c->d, s->name_loc, "'%s' is already an output", s->name);
            return;
        }
    GraphOutput *o = &c->g->outputs[c->g->noutputs++];
    o->name = s->name;
    o->node = b->value.node;
    o->loc = s->loc;
    b->value.node->nuses++;
}

Graph *graph_check(Arena *a, Diag *d, const AstPipeline *ast, const CheckOptions *opt)
{
    Checker c = { .a = a, .d = d, .opt = opt };
    c.sc.arena = a;
    int errors_before = diag_errors(d);
    if (opt) {
        c.sc.bindings = bind_command_line(a, d, ast, opt, &c.sc.nbindings);
        if (diag_errors(d) != errors_before)
            return NULL;
    }
    Graph *g = arena_alloc(a, sizeof *g);
    g->name = ast->name;
    g->source_name = d->src ? d->src->filename : "<input>";
    g->outputs = arena_array(a, (size_t)(ast->nstmts + 1), sizeof(GraphOutput));
    c.g = g;
    for (int32_t i = 0; i < ast->nstmts; i++) {
        const AstStmt *s = &ast->stmts[i];
        switch (s->kind) {
        case AST_STMT_INPUT: stmt_input(&c, s); break;
        case AST_STMT_CONST:
        case AST_STMT_BIND: stmt_value(&c, s); break;
        case AST_STMT_OUTPUT:
            if (s->value)
                stmt_value(&c, s);
            else
                stmt_bare_output(&c, s);
            break;
        }
    }
    if (g->noutputs == 0 && diag_errors(d) == errors_before)
        diag_error(d, ast->name_loc, "pipeline '%s' has no output (add `output NAME = EXPR`)", ast->name);
    /* A symbol that appears only in a const or not in any input cannot be
     * bound: all symbols come from input declarations, so nothing to do. */
    if (diag_errors(d) != errors_before)
        return NULL;
    g->sc = arena_alloc(a, sizeof *g->sc);
    *g->sc = c.sc;      /* shares the table of expressions */
    g->sc->overflow = false;
    return g;
}
