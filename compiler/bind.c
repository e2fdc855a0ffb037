/* bind.c - size symbols from the command line and from input files'
 * shapes (see bind.h), with did-you-mean for names that mean nothing. */
#include "bind.h"

#include <string.h>

#include "convrt.h"
#include "suggest.h"

_Static_assert(sizeof ((InputShape *)0)->dims / sizeof(int64_t) == CONVRT_MAX_RANK,
               "InputShape holds the runtime's largest rank");

/* The symbols of the input declarations, each once, in order. */
static int32_t script_symbols(Arena *a, const AstPipeline *ast, const char ***out)
{
    int32_t n = 0, cap = 0;
    for (int32_t i = 0; i < ast->nstmts; i++)
        if (ast->stmts[i].kind == AST_STMT_INPUT)
            cap += ast->stmts[i].type.rank;
    const char **syms = arena_array(a, (size_t)cap + 1, sizeof(char *));
    for (int32_t i = 0; i < ast->nstmts; i++) {
        const AstStmt *s = &ast->stmts[i];
        for (int32_t j = 0; s->kind == AST_STMT_INPUT && j < s->type.rank; j++) {
            const AstDim *dim = &s->type.dims[j];
            bool seen = !dim->is_symbol;
            for (int32_t k = 0; k < n && !seen; k++)
                seen = strcmp(syms[k], dim->symbol) == 0;
            if (!seen)
                syms[n++] = dim->symbol;
        }
    }
    *out = syms;
    return n;
}

static const AstStmt *find_input(const AstPipeline *ast, const char *name)
{
    for (int32_t i = 0; i < ast->nstmts; i++)
        if (ast->stmts[i].kind == AST_STMT_INPUT && strcmp(ast->stmts[i].name, name) == 0)
            return &ast->stmts[i];
    return NULL;
}

/* "size symbol 'h' is not in pipeline 'p' (its size symbols: H, W); did
 * you mean 'H'?" */
static void unknown_symbol(Arena *a, Diag *d, const AstPipeline *ast, const char *name,
                           const char **syms, int32_t nsyms)
{
    const char *list = nsyms ? "its size symbols: " : "it has no size symbols";
    for (int32_t k = 0; k < nsyms; k++)
        list = arena_printf(a, "%s%s%s", list, k ? ", " : "", syms[k]);
    const char *hint = suggest_closest(name, syms, (size_t)nsyms);
    if (hint)
        diag_error_noloc(d, "size symbol '%s' is not in pipeline '%s' (%s); did you mean '%s'?", name,
                         ast->name, list, hint);
    else
        diag_error_noloc(d, "size symbol '%s' is not in pipeline '%s' (%s)", name, ast->name, list);
}

static void unknown_input(Diag *d, const AstPipeline *ast, const char *name)
{
    Suggest s;
    suggest_init(&s, name);
    for (int32_t i = 0; i < ast->nstmts; i++)
        if (ast->stmts[i].kind == AST_STMT_INPUT)
            suggest_offer(&s, ast->stmts[i].name);
    if (suggest_result(&s))
        diag_error_noloc(d, "pipeline '%s' has no input '%s'; did you mean '%s'?", ast->name, name,
                         suggest_result(&s));
    else
        diag_error_noloc(d, "pipeline '%s' has no input '%s'", ast->name, name);
}

static const char *dims_str(Arena *a, const int64_t *dims, int32_t rank)
{
    const char *s = "[";
    for (int32_t j = 0; j < rank; j++)
        s = arena_printf(a, "%s%s%lld", s, j ? ", " : "", (long long)dims[j]);
    return arena_printf(a, "%s]", s);
}

/* Where binding k came from, for messages. */
static const char *origin(Arena *a, const SymBinding *b, int32_t k, int32_t nfixed, const char **from)
{
    if (k < nfixed)
        return arena_printf(a, "%s=%lld on the command line", b[k].name, (long long)b[k].value);
    return from[k];
}

/* Bind the symbols of input s from the shape of its file; false after an
 * error at the declaration. */
static bool bind_file(Arena *a, Diag *d, const AstStmt *s, const InputShape *f, SymBinding *b, int32_t *nb,
                      int32_t nfixed, const char **from)
{
    const AstType *t = &s->type;
    const char *shape = dims_str(a, f->dims, f->rank);
    if (f->rank != t->rank) {
        diag_error(d, t->loc, "input '%s' has %d dim%s but '%s' has %d: %s", s->name, t->rank,
                   t->rank == 1 ? "" : "s", f->file, f->rank, shape);
        return false;
    }
    bool ok = true;
    for (int32_t j = 0; j < t->rank; j++) {
        const AstDim *dim = &t->dims[j];
        int64_t v = f->dims[j];
        if (!dim->is_symbol) {
            if (dim->value != v) {
                diag_error(d, dim->loc, "dim %d of input '%s' is %lld but '%s' has %lld there: %s", j, s->name,
                           (long long)dim->value, f->file, (long long)v, shape);
                ok = false;
            }
            continue;
        }
        int32_t k = 0;
        while (k < *nb && strcmp(b[k].name, dim->symbol) != 0)
            k++;
        if (k == *nb) {
            b[k] = (SymBinding){ dim->symbol, v };
            from[k] = arena_printf(a, "%s=%lld from '%s'", dim->symbol, (long long)v, f->file);
            (*nb)++;
        } else if (b[k].value != v) {
            diag_error(d, dim->loc, "'%s' makes %s %lld (dim %d of %s) but %s", f->file, dim->symbol,
                       (long long)v, j, shape, origin(a, b, k, nfixed, from));
            ok = false;
        }
    }
    return ok;
}

const SymBinding *bind_command_line(Arena *a, Diag *d, const AstPipeline *ast, const CheckOptions *opt,
                                    int32_t *n)
{
    *n = 0;
    if (!opt)
        return NULL;
    int errors = diag_errors(d);
    const char **syms;
    int32_t nsyms = script_symbols(a, ast, &syms);
    for (int32_t i = 0; i < opt->nbindings; i++) {
        bool known = false;
        for (int32_t k = 0; k < nsyms && !known; k++)
            known = strcmp(syms[k], opt->bindings[i].name) == 0;
        if (!known)
            unknown_symbol(a, d, ast, opt->bindings[i].name, syms, nsyms);
    }
    for (int32_t i = 0; i < opt->ninput_shapes; i++) {
        const char *name = opt->input_shapes[i].name;
        if (!find_input(ast, name))
            unknown_input(d, ast, name);
        for (int32_t k = 0; k < i; k++)
            if (strcmp(opt->input_shapes[k].name, name) == 0) {
                diag_error_noloc(d, "input '%s' is given twice", name);
                break;
            }
    }
    if (diag_errors(d) != errors)
        return NULL;

    SymBinding *b = arena_array(a, (size_t)(opt->nbindings + nsyms) + 1, sizeof *b);
    const char **from = arena_array(a, (size_t)(opt->nbindings + nsyms) + 1, sizeof(char *));
    int32_t nb = 0;
    for (int32_t i = 0; i < opt->nbindings; i++) {
        int32_t k = 0;
        while (k < nb && strcmp(b[k].name, opt->bindings[i].name) != 0)
            k++;
        if (k < nb && b[k].value != opt->bindings[i].value)
            diag_error_noloc(d, "size symbol '%s' is given twice, as %lld and %lld", b[k].name,
                             (long long)b[k].value, (long long)opt->bindings[i].value);
        else if (k == nb)
            b[nb++] = opt->bindings[i];
    }
    int32_t nfixed = nb;
    for (int32_t i = 0; i < ast->nstmts; i++) {
        const AstStmt *s = &ast->stmts[i];
        for (int32_t k = 0; s->kind == AST_STMT_INPUT && k < opt->ninput_shapes; k++)
            if (opt->input_shapes[k].rank >= 0 && strcmp(opt->input_shapes[k].name, s->name) == 0)
                bind_file(a, d, s, &opt->input_shapes[k], b, &nb, nfixed, from);
    }
    *n = nb;
    return diag_errors(d) != errors ? NULL : b;
}
