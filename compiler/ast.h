/* ast.h - the syntax tree of one .conv file, exactly as written.
 *
 * Built by the parser (grammar/parser.y) in an arena; no names are resolved
 * and no shapes are known here.  The pipe `x |> f(a)` is already desugared
 * to the call `f(x, a)` (call.piped records that it was written as a pipe),
 * and `x |> relu` to `relu(x)`. */
#ifndef CONVC_AST_H
#define CONVC_AST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"

/* Deeper expressions are rejected by the parser, so every recursive walk
 * over the AST is bounded. */
#define AST_MAX_DEPTH 200

typedef struct AstExpr AstExpr;

typedef enum AstExprKind {
    AST_NUM,     /* 3, 1.5, 2e-3 */
    AST_BOOL,    /* true, false */
    AST_IDENT,   /* x, sobel_x, same, replicate */
    AST_STRING,  /* "weights.npy" (escapes resolved) */
    AST_CALL,    /* f(a, b, name=value) */
    AST_BINARY,  /* a + b, a - b, a * b, a / b */
    AST_NEG,     /* -a */
    AST_TUPLE,   /* (a, b): two or more items in parentheses */
    AST_LIST,    /* [a, b, ...]: a tensor literal row */
} AstExprKind;

typedef struct AstArg {
    const char *name;       /* NULL for a positional argument */
    SrcLoc      name_loc;
    AstExpr    *value;
} AstArg;

struct AstExpr {
    AstExprKind kind;
    SrcLoc      loc;        /* the whole expression */
    int32_t     depth;      /* 1 for a leaf; max(children) + 1 otherwise */
    union {
        struct {
            double  value;
            int64_t ivalue; /* valid when is_int */
            bool    is_int; /* written without '.', 'e' or 'E' */
        } num;
        bool boolean;
        struct {
            const char *name;
        } ident;
        struct {
            const char *text;
        } string;
        struct {
            const char *callee;
            SrcLoc      callee_loc;
            AstArg     *args;
            int32_t     nargs;
            bool        piped;
        } call;
        struct {
            char     op;    /* '+', '-', '*', '/' */
            AstExpr *lhs, *rhs;
        } binary;
        struct {
            AstExpr *operand;
        } neg;
        struct {                /* AST_TUPLE and AST_LIST */
            AstExpr **items;
            int32_t   n;
        } list;
    };
};

typedef struct AstDim {
    bool        is_symbol;
    int64_t     value;      /* when !is_symbol */
    const char *symbol;     /* when is_symbol */
    SrcLoc      loc;
} AstDim;

typedef struct AstType {
    bool        present;    /* `: f32[...]` was written */
    const char *elem;       /* "f32" (anything else is a checker error) */
    AstDim     *dims;
    int32_t     rank;
    SrcLoc      loc;
} AstType;

typedef enum AstStmtKind {
    AST_STMT_INPUT,         /* input NAME: TYPE */
    AST_STMT_CONST,         /* const NAME [: TYPE] = EXPR */
    AST_STMT_BIND,          /* NAME = EXPR */
    AST_STMT_OUTPUT,        /* output NAME [= EXPR] */
} AstStmtKind;

typedef struct AstStmt {
    AstStmtKind kind;
    const char *name;
    SrcLoc      name_loc;
    AstType     type;
    AstExpr    *value;      /* NULL for input and for a bare `output NAME` */
    SrcLoc      loc;        /* the whole statement */
} AstStmt;

typedef struct AstPipeline {
    const char *name;
    SrcLoc      name_loc;
    AstStmt    *stmts;
    int32_t     nstmts;
    SrcLoc      loc;
} AstPipeline;

/* Parse a whole file.  Reports every syntax error it can recover from to
 * `d`; returns NULL if there was any error.  src->text must have a NUL at
 * src->text[src->len] (the lexer's sentinel); NUL bytes before it are
 * ordinary bad characters. */
AstPipeline *ast_parse(Arena *a, Diag *d, const Source *src);

/* --dump=ast: one node per line, indented, with line:col. */
void ast_dump(FILE *out, const AstPipeline *p);

#endif
