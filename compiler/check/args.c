/* check/args.c - a call's arguments matched to the stage's parameters,
 * option values (integers, pairs, booleans, words, scalars), output shapes
 * and their size checks, and the window options (kernel size, stride,
 * dilation, padding) with their descriptions in diagnostics. */
#include "check.h"

Value chk_tensor_val(Node *n, SrcLoc loc)
{
    return (Value){ .kind = VAL_TENSOR, .node = n, .loc = loc };
}

/* The value as a tensor, or an error (reported once here). */
Node *chk_want_tensor(Checker *c, Value v, const char *what)
{
    switch (v.kind) {
    case VAL_TENSOR: return v.node;
    case VAL_ERROR: return NULL;
    case VAL_WORD: {
        const char *hint = chk_suggest_name(c, v.text);
        if (hint)
            diag_error(c->d, v.loc, "undefined name '%s'; did you mean '%s'?", v.text, hint);
        else
            diag_error(c->d, v.loc, "undefined name '%s'", v.text);
        return NULL;
    }
    default:
        diag_error(c->d, v.loc, "%s must be a tensor, not %s", what, chk_val_kind_name(v.kind));
        return NULL;
    }
}

bool chk_bind_args(Checker *c, const AstExpr *call, const char *const *names,
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

bool chk_need(Checker *c, const AstExpr *call, const CallArgs *a, int slot,
              const char *name)
{
    if (a->arg[slot])
        return true;
    diag_error(c->d, call->loc, "%s needs %s", call->call.callee, name);
    return false;
}

/* The first two arguments, each reported when missing (both, when both
 * are). */
bool chk_need_first_two(Checker *c, const AstExpr *call, const CallArgs *a, const char *name0,
                        const char *name1)
{
    bool ok = chk_need(c, call, a, 0, name0);
    ok &= chk_need(c, call, a, 1, name1);
    return ok;
}

/* An integer option: a number with no fractional part within [lo, hi]. */
bool chk_int_value(Checker *c, Value v, const char *stage, const char *opt,
                   int64_t lo, int64_t *out)
{
    if (v.kind == VAL_ERROR)
        return false;
    if (v.kind != VAL_SCALAR || !v.is_int) {
        diag_error(c->d, v.loc, "%s: %s must be an integer, not %s", stage, opt,
                   v.kind == VAL_SCALAR ? "a fraction" : chk_val_kind_name(v.kind));
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
bool chk_int_pair(Checker *c, const AstExpr *e, const char *stage, const char *opt,
                  int nsp, int64_t lo, int64_t *out)
{
    Value v = chk_eval(c, e);
    if (v.kind == VAL_TUPLE) {
        if (v.n != nsp) {
            diag_error(c->d, v.loc, "%s: %s takes %d value%s here, got %d", stage, opt,
                       nsp, nsp == 1 ? "" : "s", v.n);
            return false;
        }
        bool ok = true;
        for (int i = 0; i < nsp; i++)
            ok &= chk_int_value(c, v.items[i], stage, opt, lo, &out[i]);
        return ok;
    }
    int64_t x;
    if (!chk_int_value(c, v, stage, opt, lo, &x))
        return false;
    for (int i = 0; i < nsp; i++)
        out[i] = x;
    return true;
}

bool chk_bool_value(Checker *c, const AstExpr *e, const char *stage,
                    const char *opt, bool *out)
{
    Value v = chk_eval(c, e);
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
int chk_word_value(Checker *c, const AstExpr *e, const char *stage, const char *opt,
                   const char *const *words, int nwords)
{
    /* a mode word is the word as an option value, even where a binding of
     * the same name exists (`output same = ...` then `mode=same`) */
    if (e->kind == AST_IDENT)
        for (int k = 0; k < nwords; k++)
            if (strcmp(e->ident.name, words[k]) == 0)
                return k;
    Value v = chk_eval(c, e);
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

bool chk_scalar_value(Checker *c, const AstExpr *e, const char *stage,
                      const char *what, double *out)
{
    Value v = chk_eval(c, e);
    if (v.kind == VAL_ERROR)
        return false;
    if (v.kind != VAL_SCALAR) {
        diag_error(c->d, v.loc, "%s: %s must be a number, not %s", stage, what,
                   chk_val_kind_name(v.kind));
        return false;
    }
    *out = v.num;
    return true;
}

const char *chk_spatial_name(int nsp, int i)
{
    if (nsp == 1)
        return "length";
    return i == 0 ? "height" : "width";
}

/* Set and check the size of a stage's output: the product must fit. */
bool chk_finish_shape(Checker *c, Node *n)
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

const SymExpr *chk_macs_of(Checker *c, Shape out, int64_t per_output,
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

bool chk_window_finish(Checker *c, Node *n, const Node *x, Shape out, const WindowParams *w,
                       int64_t per_output, const SymExpr *extra)
{
    n->shape = out;
    if (!chk_finish_shape(c, n))
        return false;
    n->macs = chk_macs_of(c, out, per_output, extra);
    chk_window_rf(n, x, w);
    return true;
}

/* Receptive field of a window stage from its input's. */
void chk_window_rf(Node *n, const Node *in, const WindowParams *w)
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

void chk_elementwise_rf(Node *n)
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
bool chk_unify_dim(Checker *c, const SymExpr *x, const SymExpr *y, SrcLoc loc,
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
    chk_add_check(c, IR_CHECK_EQ, x, y, loc, arena_printf(c->a, "%s: %s: %s vs %s", chk_where(c, loc), what,
                                                        sym_ref(c->a, x), sym_ref(c->a, y)));
    return true;
}

/* Why a symbolic size can be proven out of range: the symbols it depends
 * on and the bound they have at run time. */
const char *chk_symbol_bound(Checker *c, const SymExpr *e)
{
    const char *syms = sym_symbols(c->a, e);
    if (!*syms)
        return "";
    return arena_printf(c->a, " (%s %s at most %lld: an input's size in bytes must fit 64 bits)", syms,
                        strstr(syms, " and ") ? "are each" : "is", (long long)SYM_DIM_MAX);
}

/* One output dim of a window: error if it is below 1 now, runtime check if
 * symbolic, warning if the stride leaves real input unread. */
const SymExpr *chk_window_dim(Checker *c, const AstExpr *call, const char *stage,
                              int nsp, int i, const WindowDim *wd, bool *ok)
{
    const SymExpr *out = window_out(&c->sc, wd);
    int64_t v;
    const char *formula = window_formula(c->a, wd);
    if (sym_is_const(out, &v)) {
        if (v < 1) {
            diag_error(c->d, call->loc, "%s: output %s %s = %lld is below 1", stage,
                       chk_spatial_name(nsp, i), formula, (long long)v);
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
                             unread == 1 ? "" : "s", chk_spatial_name(nsp, i),
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
                       stage, chk_spatial_name(nsp, i), formula, sym_str(c->a, out), (long long)hi,
                       chk_symbol_bound(c, out));
            *ok = false;
        } else if (lo >= 1) {
            if (lo == hi && hi != INT64_MAX)
                out = sym_const(&c->sc, lo);    /* one value for every input */
        } else {
            chk_add_check(c, IR_CHECK_POSITIVE, out, NULL, call->loc,
                          arena_printf(c->a, "%s: %s: output %s %s", chk_where(c, call->loc), stage,
                                       chk_spatial_name(nsp, i), formula));
        }
    }
    return out;
}

/* pad=N | (ph, pw) | same | valid | full  -> per-dim before/after. */
bool chk_parse_pad(Checker *c, const AstExpr *e, const char *stage, int nsp,
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
    if (e->kind == AST_IDENT && (pad_word || !chk_lookup(c, e->ident.name))) {
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
    if (!chk_int_pair(c, e, stage, "pad", nsp, 0, p))
        return false;
    for (int i = 0; i < nsp; i++)
        w->pad0[i] = w->pad1[i] = sym_const(&c->sc, p[i]);
    return true;
}

/* " s2", " s(1,2)" (height, width), or "" when every dim is 1. */
const char *chk_pair_desc(Checker *c, const char *letter, const int64_t *v, int nsp)
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
const char *chk_window_desc(Checker *c, const char *stage, const WindowParams *w)
{
    const char *k = sym_str(c->a, w->k[0]);
    if (w->nsp == 2)
        k = arena_printf(c->a, "%sx%s", k, sym_str(c->a, w->k[1]));
    const char *s = arena_printf(c->a, "%s %s%s", stage, k, chk_pair_desc(c, "s", w->stride, w->nsp));
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
    return arena_printf(c->a, "%s%s", s, chk_pair_desc(c, "d", w->dilation, w->nsp));
}

/* method= words, in Method's order */
const char *const chk_method_names[4] = { "direct", "auto", "separable", "fft" };
