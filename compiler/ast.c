/* ast.c - building the syntax tree (called from grammar/parser.y) and
 * printing it (--dump=ast). */
#include "ast.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"

/* ---- building ------------------------------------------------------------ */

static AstExpr *new_expr(Parser *ps, AstExprKind kind, SrcLoc loc)
{
    AstExpr *e = arena_alloc(ps->arena, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    e->depth = 1;
    return e;
}

/* Sets e's depth from a child's; reports an expression that became too
 * deep, once per statement.  Depth is capped so it cannot overflow. */
static void set_depth(Parser *ps, AstExpr *e, int32_t child_depth)
{
    int32_t d = child_depth + 1;
    if (d > e->depth)
        e->depth = d > AST_MAX_DEPTH + 1 ? AST_MAX_DEPTH + 1 : d;
    if (e->depth > AST_MAX_DEPTH && !ps->deep_reported) {
        ps->deep_reported = true;
        diag_error(ps->diag, e->loc,
                   "expression nests too deeply (more than %d levels)",
                   AST_MAX_DEPTH);
    }
}

/* Closes the nesting level opened by a bracket or a unary minus. */
static void leave(Parser *ps)
{
    if (ps->nest > 0)
        ps->nest--;
}

AstExpr *ast_int(Parser *ps, int64_t v, SrcLoc loc)
{
    AstExpr *e = new_expr(ps, AST_NUM, loc);
    e->num.ivalue = v;
    e->num.value = (double)v;
    e->num.is_int = true;
    return e;
}

AstExpr *ast_float(Parser *ps, double v, SrcLoc loc)
{
    AstExpr *e = new_expr(ps, AST_NUM, loc);
    e->num.value = v;
    return e;
}

AstExpr *ast_bool(Parser *ps, bool v, SrcLoc loc)
{
    AstExpr *e = new_expr(ps, AST_BOOL, loc);
    e->boolean = v;
    return e;
}

AstExpr *ast_ident(Parser *ps, const char *name, SrcLoc loc)
{
    AstExpr *e = new_expr(ps, AST_IDENT, loc);
    e->ident.name = name;
    return e;
}

AstExpr *ast_string(Parser *ps, const char *text, SrcLoc loc)
{
    AstExpr *e = new_expr(ps, AST_STRING, loc);
    e->string.text = text;
    return e;
}

AstExpr *ast_binary(Parser *ps, char op, AstExpr *l, AstExpr *r, SrcLoc loc)
{
    AstExpr *e = new_expr(ps, AST_BINARY, loc);
    e->binary.op = op;
    e->binary.lhs = l;
    e->binary.rhs = r;
    set_depth(ps, e, l->depth > r->depth ? l->depth : r->depth);
    return e;
}

AstExpr *ast_neg(Parser *ps, AstExpr *operand, SrcLoc loc)
{
    leave(ps);
    AstExpr *e = new_expr(ps, AST_NEG, loc);
    e->neg.operand = operand;
    set_depth(ps, e, operand->depth);
    return e;
}

AstExpr *ast_paren(Parser *ps, AstExpr *inner)
{
    leave(ps);
    return inner;
}

AstExpr *ast_seq(Parser *ps, AstExprKind kind, PtrVec *items, SrcLoc loc)
{
    leave(ps);
    AstExpr *e = new_expr(ps, kind, loc);
    e->list.n = items->len;
    e->list.items = arena_array(ps->arena, (size_t)items->len, sizeof(AstExpr *));
    int32_t d = 0;
    for (int32_t i = 0; i < items->len; i++) {
        e->list.items[i] = items->items[i];
        if (e->list.items[i]->depth > d)
            d = e->list.items[i]->depth;
    }
    set_depth(ps, e, d);
    return e;
}

/* A call node with `first` (if any) before the written arguments. */
static AstExpr *make_call(Parser *ps, const char *callee, SrcLoc callee_loc,
                          AstExpr *first, PtrVec *args, SrcLoc loc)
{
    AstExpr *e = new_expr(ps, AST_CALL, loc);
    int32_t n = (first ? 1 : 0) + (args ? args->len : 0);
    e->call.callee = callee;
    e->call.callee_loc = callee_loc;
    e->call.nargs = n;
    e->call.args = arena_array(ps->arena, (size_t)n, sizeof(AstArg));
    int32_t k = 0, d = 0;
    if (first) {
        e->call.args[k].value = first;
        d = first->depth;
        k++;
    }
    for (int32_t i = 0; args && i < args->len; i++, k++) {
        e->call.args[k] = *(AstArg *)args->items[i];
        if (e->call.args[k].value->depth > d)
            d = e->call.args[k].value->depth;
    }
    if (n > 0)
        set_depth(ps, e, d);
    return e;
}

AstExpr *ast_call(Parser *ps, const char *callee, SrcLoc callee_loc,
                  PtrVec *args, SrcLoc loc)
{
    leave(ps);
    return make_call(ps, callee, callee_loc, NULL, args, loc);
}

AstExpr *ast_pipe(Parser *ps, AstExpr *lhs, const char *callee,
                  SrcLoc callee_loc, PtrVec *args, SrcLoc loc)
{
    if (args)
        leave(ps);
    AstExpr *e = make_call(ps, callee, callee_loc, lhs, args, loc);
    e->call.piped = true;
    return e;
}

AstArg *ast_arg(Parser *ps, const char *name, SrcLoc name_loc, AstExpr *v)
{
    AstArg *a = arena_alloc(ps->arena, sizeof *a);
    a->name = name;
    if (name)
        a->name_loc = name_loc;
    a->value = v;
    return a;
}

PtrVec *ast_vec(Parser *ps, void *first)
{
    PtrVec *v = arena_alloc(ps->arena, sizeof *v);
    if (first)
        ptrvec_push(ps->arena, v, first);
    return v;
}

PtrVec *ast_vec_push(Parser *ps, PtrVec *v, void *item)
{
    ptrvec_push(ps->arena, v, item);
    return v;
}

PtrVec *ast_vec2(Parser *ps, void *a, void *b)
{
    return ast_vec_push(ps, ast_vec(ps, a), b);
}

AstDim *ast_dim_int(Parser *ps, int64_t v, bool negative, SrcLoc loc)
{
    AstDim *d = arena_alloc(ps->arena, sizeof *d);
    d->value = negative ? -v : v;
    d->loc = loc;
    if (negative || v < 1)
        diag_error(ps->diag, loc,
                   "dimension %s%" PRId64 " is not a positive integer",
                   negative ? "-" : "", v);
    return d;
}

AstDim *ast_dim_sym(Parser *ps, const char *sym, SrcLoc loc)
{
    AstDim *d = arena_alloc(ps->arena, sizeof *d);
    d->is_symbol = true;
    d->symbol = sym;
    d->loc = loc;
    return d;
}

AstType *ast_type(Parser *ps, const char *elem, PtrVec *dims, SrcLoc loc)
{
    AstType *t = arena_alloc(ps->arena, sizeof *t);
    t->present = true;
    t->elem = elem;
    t->loc = loc;
    if (!dims) {
        diag_error(ps->diag, loc,
                   "a tensor type needs at least one dimension");
        return t;
    }
    t->rank = dims->len;
    t->dims = arena_array(ps->arena, (size_t)dims->len, sizeof(AstDim));
    for (int32_t i = 0; i < dims->len; i++)
        t->dims[i] = *(AstDim *)dims->items[i];
    return t;
}

AstStmt *ast_stmt(Parser *ps, AstStmtKind kind, const char *name,
                  SrcLoc name_loc, AstType *type, AstExpr *value, SrcLoc loc)
{
    AstStmt *s = arena_alloc(ps->arena, sizeof *s);
    s->kind = kind;
    s->name = name;
    s->name_loc = name_loc;
    if (type)
        s->type = *type;
    s->value = value;
    s->loc = loc;
    return s;
}

PtrVec *ast_stmt_end(Parser *ps, PtrVec *stmts, AstStmt *stmt)
{
    ps->nest = 0;
    ps->deep_reported = false;
    if (!stmts)
        stmts = ast_vec(ps, NULL);
    if (stmt)
        ptrvec_push(ps->arena, stmts, stmt);
    return stmts;
}

void ast_pipeline(Parser *ps, AstExpr *name, PtrVec *stmts, SrcLoc loc)
{
    AstPipeline *p = arena_alloc(ps->arena, sizeof *p);
    if (name) {
        p->name = name->ident.name;
        p->name_loc = name->loc;
    }
    p->loc = loc;
    int32_t n = stmts ? stmts->len : 0;
    p->nstmts = n;
    p->stmts = arena_array(ps->arena, (size_t)n, sizeof(AstStmt));
    for (int32_t i = 0; i < n; i++)
        p->stmts[i] = *(AstStmt *)stmts->items[i];
    ps->result = p;
}

/* ---- printing -------------------------------------------------------------
 *
 *   pipeline block 1:1-9:1
 *     input x: f32[64, 56, 56] 2:3-2:26
 *     bind h 5:3-5:40
 *       call conv2d 5:7-5:40
 *         ident x 5:14-5:14
 *         arg bias 5:21-5:24
 *           ident b1 5:26-5:27
 *     output y 6:3-6:40
 *       call relu (piped) 6:14-6:26
 *
 * Node lines: `int 3`, `float 0.25` (shortest exact form), `bool true`,
 * `ident x`, `string "a\n"`, `call f [(piped)]`, `binary +`, `neg`,
 * `tuple`, `list`, and `arg NAME` (at the name) above a named argument's
 * value.  Every line ends with the node's FIRST_LINE:COL-LAST_LINE:COL. */

static void put_loc(FILE *out, SrcLoc l)
{
    fprintf(out, " %d:%d-%d:%d\n", l.first_line, l.first_column, l.last_line,
            l.last_column);
}

static void indent(FILE *out, int level)
{
    for (int i = 0; i < level; i++)
        fputs("  ", out);
}

static void put_double(FILE *out, double v)
{
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

static void put_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* Recursion is bounded: a tree from ast_parse is at most AST_MAX_DEPTH
 * deep, and anything deeper is cut off here. */
static void dump_expr(FILE *out, const AstExpr *e, int level, int depth)
{
    indent(out, level);
    if (!e) {
        fputs("<null>\n", out);
        return;
    }
    if (depth > AST_MAX_DEPTH) {
        fputs("...\n", out);
        return;
    }
    switch (e->kind) {
    case AST_NUM:
        if (e->num.is_int)
            fprintf(out, "int %" PRId64, e->num.ivalue);
        else {
            fputs("float ", out);
            put_double(out, e->num.value);
        }
        break;
    case AST_BOOL:
        fputs(e->boolean ? "bool true" : "bool false", out);
        break;
    case AST_IDENT:
        fprintf(out, "ident %s", e->ident.name);
        break;
    case AST_STRING:
        fputs("string ", out);
        put_string(out, e->string.text);
        break;
    case AST_CALL:
        fprintf(out, "call %s%s", e->call.callee, e->call.piped ? " (piped)" : "");
        break;
    case AST_BINARY:
        fprintf(out, "binary %c", e->binary.op);
        break;
    case AST_NEG:
        fputs("neg", out);
        break;
    case AST_TUPLE:
        fputs("tuple", out);
        break;
    case AST_LIST:
        fputs("list", out);
        break;
    }
    put_loc(out, e->loc);
    switch (e->kind) {
    case AST_CALL:
        for (int32_t i = 0; i < e->call.nargs; i++) {
            const AstArg *a = &e->call.args[i];
            if (a->name) {
                indent(out, level + 1);
                fprintf(out, "arg %s", a->name);
                put_loc(out, a->name_loc);
                dump_expr(out, a->value, level + 2, depth + 1);
            } else {
                dump_expr(out, a->value, level + 1, depth + 1);
            }
        }
        break;
    case AST_BINARY:
        dump_expr(out, e->binary.lhs, level + 1, depth + 1);
        dump_expr(out, e->binary.rhs, level + 1, depth + 1);
        break;
    case AST_NEG:
        dump_expr(out, e->neg.operand, level + 1, depth + 1);
        break;
    case AST_TUPLE:
    case AST_LIST:
        for (int32_t i = 0; i < e->list.n; i++)
            dump_expr(out, e->list.items[i], level + 1, depth + 1);
        break;
    default:
        break;
    }
}

static void dump_type(FILE *out, const AstType *t)
{
    if (!t->present)
        return;
    fprintf(out, ": %s[", t->elem);
    for (int32_t i = 0; i < t->rank; i++) {
        if (i)
            fputs(", ", out);
        if (t->dims[i].is_symbol)
            fputs(t->dims[i].symbol, out);
        else
            fprintf(out, "%" PRId64, t->dims[i].value);
    }
    fputc(']', out);
}

void ast_dump(FILE *out, const AstPipeline *p)
{
    if (!p) {
        fputs("<no pipeline>\n", out);
        return;
    }
    fprintf(out, "pipeline %s", p->name ? p->name : "?");
    put_loc(out, p->loc);
    static const char *const kinds[] = {
        [AST_STMT_INPUT] = "input", [AST_STMT_CONST] = "const",
        [AST_STMT_BIND] = "bind", [AST_STMT_OUTPUT] = "output",
    };
    for (int32_t i = 0; i < p->nstmts; i++) {
        const AstStmt *s = &p->stmts[i];
        fprintf(out, "  %s %s", kinds[s->kind], s->name);
        dump_type(out, &s->type);
        put_loc(out, s->loc);
        if (s->value)
            dump_expr(out, s->value, 2, 1);
    }
}
