/* lexer.h - the private interface between the re2c lexer (lexer.re), the
 * Bison parser (parser.y) and the AST builders (compiler/ast.c).
 *
 * Nothing outside the front end needs this file, except tests, which use
 * lexer_dump_tokens() to look at the token stream. */
#ifndef CONVC_LEXER_H
#define CONVC_LEXER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "parser.h"   /* generated: token kinds, YYSTYPE */

/* Lexer state.  The input is src->text[0 .. src->len); the byte at
 * src->text[src->len] must be NUL (the sentinel). */
struct Lexer {
    const Source        *src;
    const unsigned char *cur, *lim, *tok, *mark;
    const unsigned char *line_start;    /* first byte of the current line */
    int32_t              line;          /* 1-based */
    int                  last;          /* kind of the last token returned */
    bool                 first_on_line; /* last token was the first of its line */
    int32_t              brackets;      /* open ( and [ (for error recovery) */
    /* After a syntax error the lexer drops tokens until one that plausibly
     * starts a statement: `input`, `const`, `output`, `}`, end of file, or
     * an identifier first on its line outside brackets.  That keeps one
     * broken statement from producing a cascade of errors. */
    bool                 skipping;
    bool                 stopped;       /* too many errors: only end of file */
    bool                 in_body;       /* the pipeline's '{' was seen */
    int32_t              last_line;     /* line of the previous token */
};

/* Parser state, shared with the AST builders. */
struct Parser {
    Arena       *arena;
    Diag        *diag;
    int32_t      nest;          /* open brackets and unary minus signs */
    bool         deep_reported; /* "nests too deeply" said for this statement */
    AstPipeline *result;
};

void lexer_init(Lexer *lx, const Source *src);

/* The Bison scanner interface: the next token, its value and location.
 * Lexical errors are reported to `diag` and never stop the token stream. */
int yylex(YYSTYPE *lval, SrcLoc *lloc, Lexer *lx, Arena *arena, Diag *diag);

/* Called after a syntax error was reported (or a statement abandoned):
 * unless the offending token already looks like the start of a statement,
 * drop tokens until one does (see `skipping`). */
void lexer_syntax_error(Lexer *lx);

/* What the last token returned was, quoting the source, for "but found
 * ...": "identifier 'w1'", "integer '3'", "number '1.5'", "string \"a\"",
 * "'output'", "end of file".  kind is that token's kind. */
void lexer_describe_last(const Lexer *lx, int kind, char *buf, size_t size);

/* The readable name of a token kind: "identifier", "'|>'", "end of file". */
const char *parser_token_name(int kind);

/* Print the whole token stream of src, one token per line:
 *     LINE:COL-LINE:COL NAME [VALUE]
 * e.g. `1:1-1:8 'pipeline'`, `1:10-1:14 identifier block`,
 * `2:16-2:17 integer 64`, `3:5-3:8 number 0.5`, `4:1-4:6 string "a\n"`
 * (numbers in the shortest %g form that reads back exactly: 1e+05; strings
 * with \" \\ \n \t and \xNN escapes). 
 * Lexical errors go to d.  Returns the number of tokens printed (without
 * the final `end of file` line). */
int lexer_dump_tokens(FILE *out, Arena *a, Diag *d, const Source *src);

/* ---- AST builders, called from the parser's actions (compiler/ast.c) ----
 * Every builder sets loc and depth; those that make an expression deeper
 * than AST_MAX_DEPTH report it (once per statement).  Builders for forms
 * that opened a nesting level in the parser (a bracket or a unary minus)
 * close it again (ps->nest--). */
AstExpr *ast_int(Parser *ps, int64_t v, SrcLoc loc);
AstExpr *ast_float(Parser *ps, double v, SrcLoc loc);
AstExpr *ast_bool(Parser *ps, bool v, SrcLoc loc);
AstExpr *ast_ident(Parser *ps, const char *name, SrcLoc loc);
AstExpr *ast_string(Parser *ps, const char *text, SrcLoc loc);
AstExpr *ast_binary(Parser *ps, char op, AstExpr *l, AstExpr *r, SrcLoc loc);
AstExpr *ast_neg(Parser *ps, AstExpr *operand, SrcLoc loc);
AstExpr *ast_paren(Parser *ps, AstExpr *inner);
/* items: a PtrVec of AstExpr*; kind AST_TUPLE or AST_LIST. */
AstExpr *ast_seq(Parser *ps, AstExprKind kind, PtrVec *items, SrcLoc loc);
/* args: a PtrVec of AstArg* (may be NULL: no arguments). */
AstExpr *ast_call(Parser *ps, const char *callee, SrcLoc callee_loc,
                  PtrVec *args, SrcLoc loc);
/* `lhs |> callee(args)`; args NULL for `lhs |> callee`, in which case no
 * nesting level was opened. */
AstExpr *ast_pipe(Parser *ps, AstExpr *lhs, const char *callee,
                  SrcLoc callee_loc, PtrVec *args, SrcLoc loc);
AstArg  *ast_arg(Parser *ps, const char *name, SrcLoc name_loc, AstExpr *v);

/* A PtrVec holding one item (none if first is NULL), and push returning the vector. */
PtrVec  *ast_vec(Parser *ps, void *first);
PtrVec  *ast_vec_push(Parser *ps, PtrVec *v, void *item);
PtrVec  *ast_vec2(Parser *ps, void *a, void *b);

AstDim  *ast_dim_int(Parser *ps, int64_t v, bool negative, SrcLoc loc);
AstDim  *ast_dim_sym(Parser *ps, const char *sym, SrcLoc loc);
/* dims: PtrVec of AstDim*, or NULL for `f32[]` (reported). */
AstType *ast_type(Parser *ps, const char *elem, PtrVec *dims, SrcLoc loc);

/* type may be NULL, value may be NULL. */
AstStmt *ast_stmt(Parser *ps, AstStmtKind kind, const char *name,
                  SrcLoc name_loc, AstType *type, AstExpr *value, SrcLoc loc);
/* Ends a statement, good or bad: resets the per-statement state.  stmts
 * may be NULL (first statement); stmt may be NULL (a bad one). */
PtrVec  *ast_stmt_end(Parser *ps, PtrVec *stmts, AstStmt *stmt);
/* name: the identifier node built for the header (NULL if it was bad). */
void     ast_pipeline(Parser *ps, AstExpr *name, PtrVec *stmts, SrcLoc loc);

#endif
