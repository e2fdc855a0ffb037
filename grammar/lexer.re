/* lexer.re - the tokens of a .conv file (re2c).
 *
 * The input ends at src->text[src->len], which must be NUL: re2c's
 * sentinel (re2c:eof = 0).  A NUL byte before that is an ordinary bad
 * character.  Lexical errors are reported and lexing goes on, so the
 * parser still sees (and reports on) the rest of the file. */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"

/*!re2c
    re2c:api:style = free-form;
    re2c:define:YYCTYPE = "unsigned char";
    re2c:define:YYCURSOR = "lx->cur";
    re2c:define:YYMARKER = "lx->mark";
    re2c:define:YYLIMIT = "lx->lim";
    re2c:yyfill:enable = 0;
    re2c:eof = 0;

    dig   = [0-9];
    ident = [A-Za-z_][A-Za-z0-9_]*;
    exp   = [eE] [+-]? dig+;
    float = (dig+ "." dig* | "." dig+) exp? | dig+ exp;
*/

void lexer_init(Lexer *lx, const Source *src)
{
    memset(lx, 0, sizeof *lx);
    lx->src = src;
    lx->cur = (const unsigned char *)src->text;
    lx->lim = lx->cur + src->len;
    lx->tok = lx->mark = lx->cur;
    lx->line_start = lx->cur;
    lx->line = 1;
    lx->last = TOK_YYEOF;
}

static SrcLoc loc_of(const Lexer *lx, const unsigned char *from,
                     const unsigned char *to)
{
    SrcLoc l;
    l.first_line = l.last_line = lx->line;
    l.first_column = (int32_t)(from - lx->line_start) + 1;
    l.last_column = to > from ? (int32_t)(to - lx->line_start)
                              : l.first_column;
    return l;
}

/* A byte as it is quoted in messages: 'a', '\'', '\\' or '\xNN'. */
static const char *quote_byte(unsigned char c, char buf[8])
{
    if (c == '\'' || c == '\\')
        snprintf(buf, 8, "'\\%c'", c);
    else if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "'\\x%02x'", c);
    return buf;
}

/* Copies n bytes of source into buf, escaping non-printable bytes and
 * cutting long text short with "...". */
static void quote_text(const unsigned char *s, size_t n, char *buf, size_t size)
{
    enum { MAX_SHOWN = 40 };
    size_t o = 0;
    for (size_t i = 0; i < n && i < MAX_SHOWN; i++) {
        unsigned char c = s[i];
        char tmp[8];
        if (c >= 0x20 && c < 0x7f)
            tmp[0] = (char)c, tmp[1] = '\0';
        else
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
        size_t t = strlen(tmp);
        if (o + t + 4 >= size)
            break;
        memcpy(buf + o, tmp, t);
        o += t;
    }
    if (n > MAX_SHOWN && o + 4 < size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

static void bad_char(Lexer *lx, Diag *diag, const unsigned char *at,
                     const unsigned char *end)
{
    char q[8];
    diag_error(diag, loc_of(lx, at, end), "unexpected character %s",
               quote_byte(*at, q));
}

/* A run of bytes above 0x7f: a character quoted as written with its code
 * point when it is UTF-8, else the first byte. */
static void bad_high_bytes(Lexer *lx, Diag *diag, const unsigned char *at,
                           const unsigned char *end)
{
    size_t n = diag_utf8_len(at, (size_t)(end - at));
    if (n < 2) {
        bad_char(lx, diag, at, end);
        return;
    }
    uint32_t cp = at[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | (at[i] & 0x3f);
    diag_error(diag, loc_of(lx, at, end), "unexpected character '%.*s' (U+%04X)", (int)n,
               (const char *)at, (unsigned)cp);
}

/* 'text' in single quotes: a string written as in Python or the shell. */
static void single_quoted(Lexer *lx, Diag *diag)
{
    char q[64];
    size_t n = (size_t)(lx->cur - lx->tok);
    quote_text(lx->tok + 1, n - 2, q, sizeof q);
    diag_error(diag, loc_of(lx, lx->tok, lx->cur),
               "strings are written in double quotes: \"%s\", not '%s'", q, q);
}

static int64_t lex_int(Lexer *lx, Diag *diag)
{
    int64_t v = 0;
    for (const unsigned char *p = lx->tok; p < lx->cur; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10) {
            char q[64];
            quote_text(lx->tok, (size_t)(lx->cur - lx->tok), q, sizeof q);
            diag_error(diag, loc_of(lx, lx->tok, lx->cur),
                       "integer literal '%s' is too large", q);
            return INT64_MAX;
        }
        v = v * 10 + d;
    }
    return v;
}

static double lex_float(Lexer *lx, Arena *arena, Diag *diag)
{
    size_t n = (size_t)(lx->cur - lx->tok);
    char small[64];
    char *copy = n < sizeof small ? small : arena_alloc(arena, n + 1);
    memcpy(copy, lx->tok, n);
    copy[n] = '\0';
    errno = 0;
    double v = strtod(copy, NULL);
    if (isinf(v)) {
        char q[64];
        quote_text(lx->tok, n, q, sizeof q);
        diag_error(diag, loc_of(lx, lx->tok, lx->cur),
                   "float literal '%s' is out of range", q);
        return 0.0;
    }
    return v;   /* underflow to 0 or a subnormal is fine */
}

/* A growable byte buffer for string contents. */
typedef struct Buf {
    char  *p;
    size_t len, cap;
} Buf;

static void buf_add(Buf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "convc: out of memory\n");
            abort();
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* The rest of a string literal after its opening quote (at lx->tok).
 * Strings end on the same line; escapes are \" \\ \n \t. */
static const char *lex_string(Lexer *lx, Arena *arena, Diag *diag)
{
    const unsigned char *open = lx->tok;
    Buf b = {0};
    for (;;) {
        const unsigned char *s = lx->cur;
        /*!re2c
            ["]         { break; }
            "\\\""      { buf_add(&b, "\"", 1); continue; }
            "\\\\"      { buf_add(&b, "\\", 1); continue; }
            "\\n"       { buf_add(&b, "\n", 1); continue; }
            "\\t"       { buf_add(&b, "\t", 1); continue; }
            "\\" [^\n]  {
                char q[8];
                if (s[1] >= 0x20 && s[1] < 0x7f)
                    snprintf(q, sizeof q, "%c", s[1]);
                else
                    snprintf(q, sizeof q, "x%02x", s[1]);
                diag_error(diag, loc_of(lx, s, lx->cur),
                           "unknown escape sequence '\\%s' in string", q);
                buf_add(&b, s + 1, 1);
                continue;
            }
            "\\"        { continue; }   /* at the end of the line */
            [\x00]      { bad_char(lx, diag, s, lx->cur); continue; }
            [\n]        { lx->cur--; goto unterminated; }
            $           { goto unterminated; }
            [^"\\\n\x00]+ { buf_add(&b, s, (size_t)(lx->cur - s)); continue; }
        */
    unterminated:
        diag_error(diag, loc_of(lx, open, lx->cur),
                   "unterminated string (missing closing '\"')");
        break;
    }
    const char *r = arena_strndup(arena, b.p ? b.p : "", b.len);
    free(b.p);
    return r;
}

/* One token, or end of file; skips whitespace, comments and (after
 * reporting them) bad characters. */
static int lex_token(Lexer *lx, YYSTYPE *lval, SrcLoc *lloc, Arena *arena,
                     Diag *diag)
{
    int t;
    for (;;) {
        lx->tok = lx->cur;
        if (diag->errors >= diag->max_errors) {
            lx->stopped = true;     /* a long run of bad characters */
            t = TOK_YYEOF;
            break;
        }
        /*!re2c
            $           { t = TOK_YYEOF; break; }
            [ \t\r]+    { continue; }
            "\n"        { lx->line++; lx->line_start = lx->cur; continue; }
            "#" [^\n]*  {
                /* Comments may hold anything but a NUL byte. */
                const unsigned char *z =
                    memchr(lx->tok, 0, (size_t)(lx->cur - lx->tok));
                if (z)
                    bad_char(lx, diag, z, z + 1);
                continue;
            }

            "pipeline"  { t = TOK_PIPELINE; break; }
            "input"     { t = TOK_INPUT; break; }
            "output"    { t = TOK_OUTPUT; break; }
            "const"     { t = TOK_CONST; break; }
            "true"      { t = TOK_TRUE; break; }
            "false"     { t = TOK_FALSE; break; }
            ident       {
                lval->str = arena_strndup(arena, (const char *)lx->tok,
                                          (size_t)(lx->cur - lx->tok));
                t = TOK_IDENT;
                break;
            }
            dig+        { lval->ival = lex_int(lx, diag); t = TOK_INT; break; }
            float       { lval->dval = lex_float(lx, arena, diag); t = TOK_FLOAT; break; }
            ["]         { lval->str = lex_string(lx, arena, diag); t = TOK_STRING; break; }

            "{"         { t = TOK_LBRACE; break; }
            "}"         { t = TOK_RBRACE; break; }
            "("         { t = TOK_LPAREN; break; }
            ")"         { t = TOK_RPAREN; break; }
            "["         { t = TOK_LBRACK; break; }
            "]"         { t = TOK_RBRACK; break; }
            ","         { t = TOK_COMMA; break; }
            ":"         { t = TOK_COLON; break; }
            "="         { t = TOK_ASSIGN; break; }
            "+"         { t = TOK_PLUS; break; }
            "-"         { t = TOK_MINUS; break; }
            "*"         { t = TOK_STAR; break; }
            "/"         { t = TOK_SLASH; break; }
            "|>"        { t = TOK_PIPE; break; }

            "'" [^'\n\x00]* "'" {
                single_quoted(lx, diag);
                size_t n = (size_t)(lx->cur - lx->tok);
                lval->str = arena_strndup(arena, (const char *)lx->tok + 1, n - 2);
                t = TOK_STRING;
                break;
            }
            "'" [^'\n\x00]* {
                /* unterminated: the rest of the line, as for '"' */
                char q[64];
                size_t n = (size_t)(lx->cur - lx->tok);
                quote_text(lx->tok + 1, n - 1, q, sizeof q);
                diag_error(diag, loc_of(lx, lx->tok, lx->cur),
                           "unterminated string in single quotes; strings are written in double quotes: \"%s\"", q);
                lval->str = arena_strndup(arena, (const char *)lx->tok + 1, n - 1);
                t = TOK_STRING;
                break;
            }
            [\x80-\xff]+ { bad_high_bytes(lx, diag, lx->tok, lx->cur); continue; }
            *           { bad_char(lx, diag, lx->tok, lx->cur); continue; }
        */
    }
    *lloc = loc_of(lx, lx->tok, lx->cur);
    return t;
}

/* Could this token start a statement, for resynchronising after an error? */
static bool starts_statement(const Lexer *lx, int t, bool first_on_line)
{
    switch (t) {
    case TOK_INPUT: case TOK_CONST: case TOK_OUTPUT: case TOK_PIPELINE:
    case TOK_RBRACE: case TOK_YYEOF:
        return true;
    case TOK_IDENT:
        return first_on_line;
    default:
        return false;
    }
}

int yylex(YYSTYPE *lval, SrcLoc *lloc, Lexer *lx, Arena *arena, Diag *diag)
{
    for (;;) {
        if (lx->stopped || diag->errors >= diag->max_errors) {
            lx->stopped = true;
            lx->tok = lx->cur;
            *lloc = loc_of(lx, lx->cur, lx->cur);
            lx->last = TOK_YYEOF;
            return TOK_YYEOF;
        }
        int t = lex_token(lx, lval, lloc, arena, diag);
        bool first = lx->last_line != lx->line || lx->last == TOK_YYEOF;
        lx->last_line = lx->line;
        if (t == TOK_LPAREN || t == TOK_LBRACK)
            lx->brackets++;
        else if (t == TOK_RPAREN || t == TOK_RBRACK)
            lx->brackets--;
        else if (t == TOK_LBRACE)
            lx->in_body = true;
        if (lx->skipping) {
            if (!starts_statement(lx, t, first) ||
                (t == TOK_IDENT && lx->brackets > 0))
                continue;
            lx->skipping = false;
        }
        if (t == TOK_INPUT || t == TOK_CONST || t == TOK_OUTPUT ||
            t == TOK_RBRACE || (t == TOK_IDENT && lx->brackets < 0))
            lx->brackets = 0;
        lx->last = t;
        lx->first_on_line = first;
        return t;
    }
}

void lexer_syntax_error(Lexer *lx)
{
    if (!lx->in_body || lx->stopped)
        return;
    if (starts_statement(lx, lx->last, lx->first_on_line)) {
        lx->brackets = 0;   /* a new statement starts with this token */
        return;
    }
    lx->skipping = true;
}

void lexer_describe_last(const Lexer *lx, int kind, char *buf, size_t size)
{
    char q[64];
    size_t n = (size_t)(lx->cur - lx->tok);
    switch (kind) {
    case TOK_YYEOF:
        snprintf(buf, size, "end of file");
        return;
    case TOK_IDENT:
        quote_text(lx->tok, n, q, sizeof q);
        snprintf(buf, size, "identifier '%s'", q);
        return;
    case TOK_INT:
        quote_text(lx->tok, n, q, sizeof q);
        snprintf(buf, size, "integer '%s'", q);
        return;
    case TOK_FLOAT:
        quote_text(lx->tok, n, q, sizeof q);
        snprintf(buf, size, "number '%s'", q);
        return;
    case TOK_STRING:
        quote_text(lx->tok, n, q, sizeof q);
        snprintf(buf, size, "string %s", q);
        return;
    default:
        snprintf(buf, size, "%s", parser_token_name(kind));
        return;
    }
}

/* Shortest %g form that reads back as the same double. */
static void print_double(FILE *out, double v)
{
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

static void print_escaped(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
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

int lexer_dump_tokens(FILE *out, Arena *a, Diag *d, const Source *src)
{
    Lexer lx;
    lexer_init(&lx, src);
    int n = 0;
    for (;;) {
        YYSTYPE v;
        SrcLoc l;
        memset(&v, 0, sizeof v);
        int t = yylex(&v, &l, &lx, a, d);
        fprintf(out, "%d:%d-%d:%d %s", l.first_line, l.first_column,
                l.last_line, l.last_column, parser_token_name(t));
        switch (t) {
        case TOK_IDENT:  fprintf(out, " %s", v.str); break;
        case TOK_INT:    fprintf(out, " %lld", (long long)v.ival); break;
        case TOK_FLOAT:  fputc(' ', out); print_double(out, v.dval); break;
        case TOK_STRING: fputc(' ', out); print_escaped(out, v.str); break;
        default: break;
        }
        fputc('\n', out);
        if (t == TOK_YYEOF)
            return n;
        n++;
    }
}
