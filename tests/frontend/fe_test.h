/* fe_test.h - helpers shared by the front-end tests: parse a string with
 * diagnostics captured in memory, and dump tokens or the AST to a string. */
#ifndef FE_TEST_H
#define FE_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "lexer.h"

typedef struct Run {
    Arena        arena;
    Diag         diag;
    Source       src;
    char        *text;    /* the source, NUL at [len] */
    char        *err;     /* everything written to Diag.out */
    size_t       errlen;
    FILE        *errf;
    AstPipeline *p;
} Run;

static inline void run_start(Run *r, const char *text, size_t len)
{
    memset(r, 0, sizeof *r);
    r->text = malloc(len + 1);
    memcpy(r->text, text, len);
    r->text[len] = '\0';
    r->src.filename = "t.conv";
    r->src.text = r->text;
    r->src.len = len;
    arena_init(&r->arena);
    r->errf = open_memstream(&r->err, &r->errlen);
    diag_init(&r->diag, &r->src, r->errf);
}

/* Diagnostics so far, as a NUL-terminated string owned by r. */
static inline const char *run_errors(Run *r)
{
    fflush(r->errf);
    return r->err ? r->err : "";
}

static inline AstPipeline *run_parse_n(Run *r, const char *text, size_t len)
{
    run_start(r, text, len);
    r->p = ast_parse(&r->arena, &r->diag, &r->src);
    run_errors(r);
    return r->p;
}

static inline AstPipeline *run_parse(Run *r, const char *text)
{
    return run_parse_n(r, text, strlen(text));
}

static inline void run_end(Run *r)
{
    fclose(r->errf);
    free(r->err);
    arena_free(&r->arena);
    free(r->text);
}

/* A malloc'd string holding what fn printed to a FILE. */
static inline char *capture_dump(const AstPipeline *p)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    ast_dump(f, p);
    fclose(f);
    return s;
}

static inline char *capture_tokens(Run *r, const char *text, size_t len)
{
    run_start(r, text, len);
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    lexer_dump_tokens(f, &r->arena, &r->diag, &r->src);
    fclose(f);
    run_errors(r);
    return s;
}

#endif
