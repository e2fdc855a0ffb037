/* parser.y - the grammar of a .conv file (see docs and lexer.h).
 *
 *   file    : 'pipeline' NAME '{' stmt* '}' <end of file>
 *   stmt    : 'input' NAME ':' type
 *           | 'const' NAME [':' type] '=' expr
 *           | NAME '=' expr
 *           | 'output' NAME ['=' expr]
 *   type    : NAME '[' dim (',' dim)* ']'       dim: INT | '-' INT | NAME
 *   expr    : expr '|>' NAME ['(' args ')']      (lowest, left)
 *           | expr ('+' | '-') expr              (left)
 *           | expr ('*' | '/') expr              (left)
 *           | '-' expr                           (highest)
 *           | INT | FLOAT | 'true' | 'false' | NAME | STRING
 *           | NAME '(' [arg (',' arg)*] ')'      arg: expr | NAME '=' expr
 *           | '(' expr ')' | '(' expr (',' expr)+ ')' | '[' expr (',' expr)* ']'
 *
 * No trailing commas anywhere.  Syntax errors recover at the statement
 * level: one bad statement is reported once and the next one is parsed.
 * Nesting (brackets and unary minus signs) is counted as it is opened, so
 * `((((...` is rejected at level AST_MAX_DEPTH + 1 long before Bison's
 * stack could grow large. */

%code requires {
#include "ast.h"
typedef struct Lexer Lexer;
typedef struct Parser Parser;
}

%code {
#include <string.h>

#include "lexer.h"

static void yyerror(SrcLoc *loc, Lexer *lx, Arena *arena, Diag *diag,
                    Parser *ps, const char *msg);
static bool parser_enter(Parser *ps, Lexer *lx, SrcLoc loc);
}

%define api.pure full
%define api.location.type {SrcLoc}
%define api.token.prefix {TOK_}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {Lexer *lx} {Arena *arena} {Diag *diag}
%parse-param {Parser *ps}

%union {
    const char *str;
    int64_t     ival;
    double      dval;
    AstExpr    *expr;
    AstArg     *arg;
    AstDim     *dim;
    AstType    *type;
    AstStmt    *stmt;
    PtrVec     *vec;
}

%token YYEOF 0 "end of file"
%token <str>  IDENT  "identifier"
%token <ival> INT    "integer"
%token <dval> FLOAT  "number"
%token <str>  STRING "string"
%token PIPELINE "'pipeline'" INPUT "'input'" OUTPUT "'output'" CONST "'const'"
%token TRUE "'true'" FALSE "'false'"
%token LBRACE "'{'" RBRACE "'}'" LPAREN "'('" RPAREN "')'"
%token LBRACK "'['" RBRACK "']'" COMMA "','" COLON "':'" ASSIGN "'='"
%token PLUS "'+'" MINUS "'-'" STAR "'*'" SLASH "'/'" PIPE "'|>'"

%type <expr> header expr sum product unary primary
%type <vec>  stmts exprs tuple_items args arglist dims
%type <stmt> stmt
%type <str>  bind_name
%type <type> type
%type <dim>  dim
%type <arg>  arg

%%

file
    : header stmts RBRACE       { ast_pipeline(ps, $1, $2, @$); yyerrok; }
    ;

header
    : PIPELINE IDENT LBRACE     { $$ = ast_ident(ps, $2, @2); }
    | error LBRACE              { $$ = NULL; }
    ;

stmts
    : %empty                    { $$ = NULL; }
    | stmts stmt                { $$ = ast_stmt_end(ps, $1, $2); yyerrok; }
    | stmts error               { $$ = ast_stmt_end(ps, $1, NULL); }
    ;

stmt
    : input IDENT COLON type    { $$ = ast_stmt(ps, AST_STMT_INPUT, $2, @2, $4, NULL, @$); }
    | const IDENT ASSIGN expr   { $$ = ast_stmt(ps, AST_STMT_CONST, $2, @2, NULL, $4, @$); }
    | const IDENT COLON type ASSIGN expr
                                { $$ = ast_stmt(ps, AST_STMT_CONST, $2, @2, $4, $6, @$); }
    | bind_name ASSIGN expr     { $$ = ast_stmt(ps, AST_STMT_BIND, $1, @1, NULL, $3, @$); }
    | output IDENT              { $$ = ast_stmt(ps, AST_STMT_OUTPUT, $2, @2, NULL, NULL, @$); }
    | output IDENT ASSIGN expr  { $$ = ast_stmt(ps, AST_STMT_OUTPUT, $2, @2, NULL, $4, @$); }
    ;

/* The first token of a statement.  When it was not dropped by the lexer's
 * resynchronisation (see lexer.h), a new statement really starts here, so
 * errors in it are reported at once rather than after Bison's usual three
 * tokens of grace. */
input     : INPUT               { if (!lx->skipping) yyerrok; } ;
const     : CONST               { if (!lx->skipping) yyerrok; } ;
output    : OUTPUT              { if (!lx->skipping) yyerrok; } ;
bind_name : IDENT               { $$ = $1; if (!lx->skipping) yyerrok; } ;

type
    : IDENT LBRACK dims RBRACK  { $$ = ast_type(ps, $1, $3, @$); }
    | IDENT LBRACK RBRACK       { $$ = ast_type(ps, $1, NULL, @$); }
    ;

dims
    : dim                       { $$ = ast_vec(ps, $1); }
    | dims COMMA dim            { $$ = ast_vec_push(ps, $1, $3); }
    ;

dim
    : INT                       { $$ = ast_dim_int(ps, $1, false, @$); }
    | MINUS INT                 { $$ = ast_dim_int(ps, $2, true, @$); }
    | IDENT                     { $$ = ast_dim_sym(ps, $1, @$); }
    ;

expr
    : sum
    | expr PIPE IDENT           { $$ = ast_pipe(ps, $1, $3, @3, NULL, @$); }
    | expr PIPE IDENT lparen args RPAREN
                                { $$ = ast_pipe(ps, $1, $3, @3, $5, @$); }
    ;

sum
    : product
    | sum PLUS product          { $$ = ast_binary(ps, '+', $1, $3, @$); }
    | sum MINUS product         { $$ = ast_binary(ps, '-', $1, $3, @$); }
    ;

product
    : unary
    | product STAR unary        { $$ = ast_binary(ps, '*', $1, $3, @$); }
    | product SLASH unary       { $$ = ast_binary(ps, '/', $1, $3, @$); }
    ;

unary
    : primary
    | minus unary               { $$ = ast_neg(ps, $2, @$); }
    ;

/* The three ways to open a nesting level; the builder of the finished
 * form closes it. */
minus  : MINUS                  { if (!parser_enter(ps, lx, @1)) YYERROR; } ;
lparen : LPAREN                 { if (!parser_enter(ps, lx, @1)) YYERROR; } ;
lbrack : LBRACK                 { if (!parser_enter(ps, lx, @1)) YYERROR; } ;

primary
    : INT                       { $$ = ast_int(ps, $1, @$); }
    | FLOAT                     { $$ = ast_float(ps, $1, @$); }
    | TRUE                      { $$ = ast_bool(ps, true, @$); }
    | FALSE                     { $$ = ast_bool(ps, false, @$); }
    | STRING                    { $$ = ast_string(ps, $1, @$); }
    | IDENT                     { $$ = ast_ident(ps, $1, @$); }
    | IDENT lparen args RPAREN  { $$ = ast_call(ps, $1, @1, $3, @$); }
    | lparen expr RPAREN        { $$ = ast_paren(ps, $2); }
    | lparen tuple_items RPAREN { $$ = ast_seq(ps, AST_TUPLE, $2, @$); }
    | lbrack exprs RBRACK       { $$ = ast_seq(ps, AST_LIST, $2, @$); }
    ;

tuple_items
    : expr COMMA expr           { $$ = ast_vec2(ps, $1, $3); }
    | tuple_items COMMA expr    { $$ = ast_vec_push(ps, $1, $3); }
    ;

exprs
    : expr                      { $$ = ast_vec(ps, $1); }
    | exprs COMMA expr          { $$ = ast_vec_push(ps, $1, $3); }
    ;

args
    : %empty                    { $$ = ast_vec(ps, NULL); }
    | arglist
    ;

arglist
    : arg                       { $$ = ast_vec(ps, $1); }
    | arglist COMMA arg         { $$ = ast_vec_push(ps, $1, $3); }
    ;

arg
    : expr                      { $$ = ast_arg(ps, NULL, @1, $1); }
    | IDENT ASSIGN expr         { $$ = ast_arg(ps, $1, @1, $3); }
    ;

%%

static bool parser_enter(Parser *ps, Lexer *lx, SrcLoc loc)
{
    if (++ps->nest <= AST_MAX_DEPTH)
        return true;
    /* The statement is abandoned (YYERROR), so this is said once. */
    if (!ps->deep_reported)
        diag_error(ps->diag, loc,
                   "expression nests too deeply (more than %d levels)",
                   AST_MAX_DEPTH);
    ps->deep_reported = true;
    lexer_syntax_error(lx);
    return false;
}

/* Only reached when Bison's own stack is exhausted, which the nesting
 * limit above should make impossible; say something useful anyway. */
static void yyerror(SrcLoc *loc, Lexer *lx, Arena *arena, Diag *diag,
                    Parser *ps, const char *msg)
{
    (void)msg;
    if (!ps->deep_reported)
        diag_error(diag, *loc,
                   "expression nests too deeply (more than %d levels)",
                   AST_MAX_DEPTH);
    ps->deep_reported = true;
}

const char *parser_token_name(int kind)
{
    return yysymbol_name(YYTRANSLATE(kind));
}

static bool kind_in(yysymbol_kind_t k, const yysymbol_kind_t *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == k)
            return true;
    return false;
}

/* "expected A, B or C but found X" / "unexpected X", where X quotes what
 * was written: identifier 'w1', integer '3', number '1.5', string "a",
 * 'output', '}' or end of file.  Expression and statement starts are
 * summarised ("an expression", "a statement", "a dimension"), and the
 * operators that could continue an expression are left out when anything
 * else was possible (as is the '=' of a named argument). */
static int yyreport_syntax_error(const yypcontext_t *ctx, Lexer *lx,
                                 Arena *arena, Diag *diag, Parser *ps)
{
    if (lx->stopped)
        return 0;
    yysymbol_kind_t found = yypcontext_token(ctx);
    SrcLoc loc = *yypcontext_location(ctx);

    char what[160];
    lexer_describe_last(lx, found == YYSYMBOL_YYEOF ? TOK_YYEOF : lx->last,
                        what, sizeof what);

    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0)
        n = 0;

    const char *items[YYNTOKENS];
    int k = 0;
    bool is_expr = kind_in(YYSYMBOL_INT, exp, n) && kind_in(YYSYMBOL_STRING, exp, n);
    bool is_dim = kind_in(YYSYMBOL_INT, exp, n) && !is_expr;
    bool is_stmt = kind_in(YYSYMBOL_INPUT, exp, n);
    if (is_expr)
        items[k++] = "an expression";
    if (is_dim)
        items[k++] = "a dimension";
    if (is_stmt)
        items[k++] = "a statement";
    bool only_ops = true;
    for (int i = 0; i < n; i++) {
        switch (exp[i]) {
        case YYSYMBOL_PLUS: case YYSYMBOL_MINUS: case YYSYMBOL_STAR:
        case YYSYMBOL_SLASH: case YYSYMBOL_PIPE: case YYSYMBOL_LPAREN:
        case YYSYMBOL_ASSIGN:
            break;
        default:
            only_ops = false;
        }
    }
    for (int i = 0; i < n; i++) {
        yysymbol_kind_t s = exp[i];
        bool expr_start = s == YYSYMBOL_INT || s == YYSYMBOL_FLOAT ||
                          s == YYSYMBOL_STRING || s == YYSYMBOL_IDENT ||
                          s == YYSYMBOL_TRUE || s == YYSYMBOL_FALSE ||
                          s == YYSYMBOL_LPAREN || s == YYSYMBOL_LBRACK ||
                          s == YYSYMBOL_MINUS;
        if (is_expr && expr_start)
            continue;
        if (is_dim && (s == YYSYMBOL_INT || s == YYSYMBOL_IDENT ||
                       s == YYSYMBOL_MINUS || s == YYSYMBOL_RBRACK))
            continue;
        if (is_stmt && (s == YYSYMBOL_INPUT || s == YYSYMBOL_CONST ||
                        s == YYSYMBOL_OUTPUT || s == YYSYMBOL_IDENT))
            continue;
        bool op = s == YYSYMBOL_PLUS || s == YYSYMBOL_MINUS ||
                  s == YYSYMBOL_STAR || s == YYSYMBOL_SLASH ||
                  s == YYSYMBOL_PIPE || s == YYSYMBOL_LPAREN ||
                  s == YYSYMBOL_ASSIGN;
        if (op && !only_ops)
            continue;
        items[k++] = yysymbol_name(s);
    }

    if (k == 1 && exp[0] == YYSYMBOL_YYEOF && n == 1) {
        diag_error(diag, loc, "expected end of file after the pipeline but found %s",
                   what);
    } else if (k >= 1 && k <= 5) {
        char list[512];
        size_t len = 0;
        list[0] = '\0';
        for (int i = 0; i < k; i++) {
            const char *sep = i == 0 ? "" : i == k - 1 ? " or " : ", ";
            int w = snprintf(list + len, sizeof list - len, "%s%s", sep, items[i]);
            if (w < 0 || (size_t)w >= sizeof list - len)
                break;
            len += (size_t)w;
        }
        diag_error(diag, loc, "expected %s but found %s", list, what);
    } else {
        diag_error(diag, loc, "unexpected %s", what);
    }
    lexer_syntax_error(lx);
    return 0;
}

AstPipeline *ast_parse(Arena *a, Diag *d, const Source *src)
{
    int before = d->errors;
    Lexer lx;
    lexer_init(&lx, src);
    Parser ps;
    memset(&ps, 0, sizeof ps);
    ps.arena = a;
    ps.diag = d;
    int rc = yyparse(&lx, a, d, &ps);
    if (rc != 0 && d->errors == before)
        diag_error_noloc(d, "could not parse the file");
    if (rc != 0 || d->errors != before)
        return NULL;
    return ps.result;
}
