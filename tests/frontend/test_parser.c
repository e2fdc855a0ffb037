/* The parser: every statement and expression form, checked through the
 * AST's fields and through ast_dump's text. */
#include <dirent.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "fe_test.h"

#ifndef FE_GOLDEN_DIR
#define FE_GOLDEN_DIR "golden"
#endif

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = '\0';
    *len = got;
    return s;
}

/* Parses `pipeline p { output y = EXPR }` and returns y's value. */
static AstExpr *expr_of(Run *r, const char *expr)
{
    char buf[512];
    snprintf(buf, sizeof buf, "pipeline p {\n  output y = %s\n}\n", expr);
    AstPipeline *p = run_parse(r, buf);
    cr_assert_not_null(p, "%s: %s", expr, run_errors(r));
    cr_assert_eq(p->nstmts, 1);
    return p->stmts[0].value;
}

/* The ast_dump lines of y's value (indented by four spaces). */
static void check_dump(const char *expr, const char *want)
{
    Run r;
    expr_of(&r, expr);
    char *s = capture_dump(r.p);
    const char *body = strchr(strchr(s, '\n') + 1, '\n') + 1;
    cr_assert_str_eq(body, want, "for %s", expr);
    free(s);
    run_end(&r);
}

static void check_loc(SrcLoc l, int fl, int fc, int ll, int lc)
{
    cr_assert(l.first_line == fl && l.first_column == fc &&
              l.last_line == ll && l.last_column == lc,
              "loc %d:%d-%d:%d, expected %d:%d-%d:%d", l.first_line,
              l.first_column, l.last_line, l.last_column, fl, fc, ll, lc);
}

Test(parser, golden_block_example)
{
    size_t n, m;
    char *src = read_file(FE_GOLDEN_DIR "/block.conv", &n);
    char *want = read_file(FE_GOLDEN_DIR "/block.ast", &m);
    cr_assert_not_null(src);
    cr_assert_not_null(want);
    Run r;
    AstPipeline *p = run_parse_n(&r, src, n);
    cr_assert_not_null(p, "%s", run_errors(&r));
    cr_assert_str_eq(run_errors(&r), "");
    char *got = capture_dump(p);
    cr_assert_str_eq(got, want);
    free(got);
    free(src);
    free(want);
    run_end(&r);
}

Test(parser, statement_forms)
{
    Run r;
    AstPipeline *p = run_parse(&r,
        "pipeline blk {\n"
        "  input x: f32[64, H, 3]\n"
        "  const k = 1\n"
        "  const w: f32[4] = load(\"w.npy\")\n"
        "  h = x\n"
        "  output y = h\n"
        "  output h\n"
        "}\n");
    cr_assert_not_null(p, "%s", run_errors(&r));
    cr_assert_str_eq(p->name, "blk");
    check_loc(p->name_loc, 1, 10, 1, 12);
    check_loc(p->loc, 1, 1, 8, 1);
    cr_assert_eq(p->nstmts, 6);

    AstStmt *s = &p->stmts[0];
    cr_assert_eq(s->kind, AST_STMT_INPUT);
    cr_assert_str_eq(s->name, "x");
    check_loc(s->name_loc, 2, 9, 2, 9);
    check_loc(s->loc, 2, 3, 2, 24);
    cr_assert(s->type.present);
    cr_assert_str_eq(s->type.elem, "f32");
    check_loc(s->type.loc, 2, 12, 2, 24);
    cr_assert_eq(s->type.rank, 3);
    cr_assert(!s->type.dims[0].is_symbol);
    cr_assert_eq(s->type.dims[0].value, 64);
    check_loc(s->type.dims[0].loc, 2, 16, 2, 17);
    cr_assert(s->type.dims[1].is_symbol);
    cr_assert_str_eq(s->type.dims[1].symbol, "H");
    check_loc(s->type.dims[1].loc, 2, 20, 2, 20);
    cr_assert_eq(s->type.dims[2].value, 3);
    cr_assert_null(s->value);

    s = &p->stmts[1];
    cr_assert_eq(s->kind, AST_STMT_CONST);
    cr_assert_str_eq(s->name, "k");
    cr_assert(!s->type.present);
    cr_assert_eq(s->value->kind, AST_NUM);
    check_loc(s->loc, 3, 3, 3, 13);

    s = &p->stmts[2];
    cr_assert_eq(s->kind, AST_STMT_CONST);
    cr_assert(s->type.present);
    cr_assert_eq(s->type.rank, 1);
    cr_assert_eq(s->type.dims[0].value, 4);
    cr_assert_eq(s->value->kind, AST_CALL);
    cr_assert_str_eq(s->value->call.callee, "load");
    cr_assert_eq(s->value->call.args[0].value->kind, AST_STRING);
    cr_assert_str_eq(s->value->call.args[0].value->string.text, "w.npy");

    s = &p->stmts[3];
    cr_assert_eq(s->kind, AST_STMT_BIND);
    cr_assert_str_eq(s->name, "h");
    check_loc(s->name_loc, 5, 3, 5, 3);
    check_loc(s->loc, 5, 3, 5, 7);
    cr_assert_eq(s->value->kind, AST_IDENT);

    s = &p->stmts[4];
    cr_assert_eq(s->kind, AST_STMT_OUTPUT);
    cr_assert_str_eq(s->name, "y");
    cr_assert_not_null(s->value);

    s = &p->stmts[5];
    cr_assert_eq(s->kind, AST_STMT_OUTPUT);
    cr_assert_str_eq(s->name, "h");
    cr_assert_null(s->value);
    check_loc(s->loc, 7, 3, 7, 10);
    run_end(&r);
}

Test(parser, empty_pipeline_and_free_layout)
{
    Run r;
    AstPipeline *p = run_parse(&r, "pipeline e{}");
    cr_assert_not_null(p);
    cr_assert_eq(p->nstmts, 0);
    run_end(&r);
    /* Newlines mean nothing: statements may share a line or span several. */
    p = run_parse(&r, "pipeline p { input x: f32[\n3\n] output y =\n x a = -\nx }");
    cr_assert_not_null(p, "%s", run_errors(&r));
    cr_assert_eq(p->nstmts, 3);
    cr_assert_eq(p->stmts[2].kind, AST_STMT_BIND);
    check_loc(p->stmts[0].loc, 1, 14, 3, 1);
    check_loc(p->stmts[2].value->loc, 4, 8, 5, 1);
    run_end(&r);
}

Test(parser, literals)
{
    Run r;
    AstExpr *e = expr_of(&r, "42");
    cr_assert_eq(e->kind, AST_NUM);
    cr_assert(e->num.is_int);
    cr_assert_eq(e->num.ivalue, 42);
    cr_assert_eq(e->num.value, 42.0);
    cr_assert_eq(e->depth, 1);
    run_end(&r);
    e = expr_of(&r, "2e-3");
    cr_assert(!e->num.is_int);
    cr_assert_eq(e->num.value, 2e-3);
    run_end(&r);
    e = expr_of(&r, "true");
    cr_assert_eq(e->kind, AST_BOOL);
    cr_assert(e->boolean);
    run_end(&r);
    e = expr_of(&r, "false");
    cr_assert(!e->boolean);
    run_end(&r);
    e = expr_of(&r, "\"a\\tb\"");
    cr_assert_eq(e->kind, AST_STRING);
    cr_assert_str_eq(e->string.text, "a\tb");
    check_loc(e->loc, 2, 14, 2, 19);
    run_end(&r);
    e = expr_of(&r, "sobel_x");
    cr_assert_eq(e->kind, AST_IDENT);
    cr_assert_str_eq(e->ident.name, "sobel_x");
    check_loc(e->loc, 2, 14, 2, 20);
    run_end(&r);
}

Test(parser, precedence_and_associativity)
{
    check_dump("a + b * c",
        "    binary + 2:14-2:22\n"
        "      ident a 2:14-2:14\n"
        "      binary * 2:18-2:22\n"
        "        ident b 2:18-2:18\n"
        "        ident c 2:22-2:22\n");
    check_dump("a - b - c",
        "    binary - 2:14-2:22\n"
        "      binary - 2:14-2:18\n"
        "        ident a 2:14-2:14\n"
        "        ident b 2:18-2:18\n"
        "      ident c 2:22-2:22\n");
    check_dump("a / b * c",
        "    binary * 2:14-2:22\n"
        "      binary / 2:14-2:18\n"
        "        ident a 2:14-2:14\n"
        "        ident b 2:18-2:18\n"
        "      ident c 2:22-2:22\n");
    check_dump("-a * b",
        "    binary * 2:14-2:19\n"
        "      neg 2:14-2:15\n"
        "        ident a 2:15-2:15\n"
        "      ident b 2:19-2:19\n");
    check_dump("(a + b) * c",
        "    binary * 2:14-2:24\n"
        "      binary + 2:15-2:19\n"
        "        ident a 2:15-2:15\n"
        "        ident b 2:19-2:19\n"
        "      ident c 2:24-2:24\n");
    check_dump("- -1",
        "    neg 2:14-2:17\n"
        "      neg 2:16-2:17\n"
        "        int 1 2:17-2:17\n");
    check_dump("a + b |> f",
        "    call f (piped) 2:14-2:23\n"
        "      binary + 2:14-2:18\n"
        "        ident a 2:14-2:14\n"
        "        ident b 2:18-2:18\n");
}

Test(parser, depth)
{
    Run r;
    AstExpr *e = expr_of(&r, "-(a + b) * f(c)");
    cr_assert_eq(e->depth, 4);
    cr_assert_eq(e->binary.lhs->depth, 3);
    cr_assert_eq(e->binary.rhs->depth, 2);
    run_end(&r);
    e = expr_of(&r, "f()");
    cr_assert_eq(e->kind, AST_CALL);
    cr_assert_eq(e->call.nargs, 0);
    cr_assert_eq(e->depth, 1);
    run_end(&r);
}

Test(parser, pipe_desugaring)
{
    Run r;
    AstExpr *e = expr_of(&r, "x |> f");
    cr_assert_eq(e->kind, AST_CALL);
    cr_assert(e->call.piped);
    cr_assert_str_eq(e->call.callee, "f");
    check_loc(e->call.callee_loc, 2, 19, 2, 19);
    check_loc(e->loc, 2, 14, 2, 19);
    cr_assert_eq(e->call.nargs, 1);
    cr_assert_null(e->call.args[0].name);
    cr_assert_str_eq(e->call.args[0].value->ident.name, "x");
    cr_assert_eq(e->depth, 2);
    run_end(&r);

    e = expr_of(&r, "x |> f(a, k=1)");
    cr_assert(e->call.piped);
    cr_assert_eq(e->call.nargs, 3);
    cr_assert_str_eq(e->call.args[0].value->ident.name, "x");
    cr_assert_null(e->call.args[1].name);
    cr_assert_str_eq(e->call.args[1].value->ident.name, "a");
    cr_assert_str_eq(e->call.args[2].name, "k");
    check_loc(e->call.args[2].name_loc, 2, 24, 2, 24);
    cr_assert_eq(e->call.args[2].value->num.ivalue, 1);
    check_loc(e->loc, 2, 14, 2, 27);
    run_end(&r);

    e = expr_of(&r, "f(x)");
    cr_assert(!e->call.piped);
    run_end(&r);

    check_dump("x |> f() |> g",
        "    call g (piped) 2:14-2:26\n"
        "      call f (piped) 2:14-2:21\n"
        "        ident x 2:14-2:14\n");
}

Test(parser, calls_with_named_arguments)
{
    check_dump("conv2d(x, w, bias=b, stride=(2, 1), flip=true)",
        "    call conv2d 2:14-2:59\n"
        "      ident x 2:21-2:21\n"
        "      ident w 2:24-2:24\n"
        "      arg bias 2:27-2:30\n"
        "        ident b 2:32-2:32\n"
        "      arg stride 2:35-2:40\n"
        "        tuple 2:42-2:47\n"
        "          int 2 2:43-2:43\n"
        "          int 1 2:46-2:46\n"
        "      arg flip 2:50-2:53\n"
        "        bool true 2:55-2:58\n");
}

Test(parser, tuples_versus_parentheses)
{
    Run r;
    AstExpr *e = expr_of(&r, "(a)");
    cr_assert_eq(e->kind, AST_IDENT);
    check_loc(e->loc, 2, 15, 2, 15);
    run_end(&r);
    e = expr_of(&r, "((a, b))");
    cr_assert_eq(e->kind, AST_TUPLE);
    cr_assert_eq(e->list.n, 2);
    check_loc(e->loc, 2, 15, 2, 20);
    run_end(&r);
    e = expr_of(&r, "(1, -2, c)");
    cr_assert_eq(e->kind, AST_TUPLE);
    cr_assert_eq(e->list.n, 3);
    cr_assert_eq(e->list.items[1]->kind, AST_NEG);
    cr_assert_eq(e->depth, 3);
    run_end(&r);
}

Test(parser, nested_lists)
{
    Run r;
    AstExpr *e = expr_of(&r, "[[1, 2.5], [-3, 4]]");
    cr_assert_eq(e->kind, AST_LIST);
    cr_assert_eq(e->list.n, 2);
    cr_assert_eq(e->depth, 4);
    AstExpr *row = e->list.items[1];
    cr_assert_eq(row->kind, AST_LIST);
    cr_assert_eq(row->list.n, 2);
    check_loc(row->loc, 2, 25, 2, 31);
    cr_assert_eq(row->list.items[0]->kind, AST_NEG);
    cr_assert_eq(e->list.items[0]->list.items[1]->num.value, 2.5);
    run_end(&r);
    check_dump("[1]",
        "    list 2:14-2:16\n"
        "      int 1 2:15-2:15\n");
}

Test(parser, dump_of_types_and_strings)
{
    Run r;
    AstPipeline *p = run_parse(&r,
        "pipeline t {\n"
        "  input a: f32[N, 3, H, W]\n"
        "  const w: f64[2] = load(\"dir/\\\"q\\\".npy\")\n"
        "}\n");
    cr_assert_not_null(p, "%s", run_errors(&r));
    char *s = capture_dump(p);
    cr_assert_str_eq(s,
        "pipeline t 1:1-4:1\n"
        "  input a: f32[N, 3, H, W] 2:3-2:26\n"
        "  const w: f64[2] 3:3-3:41\n"
        "    call load 3:21-3:41\n"
        "      string \"dir/\\\"q\\\".npy\" 3:26-3:40\n");
    free(s);
    run_end(&r);
}

Test(parser, nesting_up_to_the_limit_is_fine)
{
    char *buf = malloc(4096);
    strcpy(buf, "pipeline p {\n  output y = ");
    for (int i = 0; i < AST_MAX_DEPTH; i++)
        strcat(buf, "(");
    strcat(buf, "x");
    for (int i = 0; i < AST_MAX_DEPTH; i++)
        strcat(buf, ")");
    strcat(buf, "\n  output z = a");
    for (int i = 1; i < AST_MAX_DEPTH; i++)
        strcat(buf, "+a");
    strcat(buf, "\n}\n");
    Run r;
    AstPipeline *p = run_parse(&r, buf);
    cr_assert_not_null(p, "%s", run_errors(&r));
    cr_assert_eq(p->stmts[1].value->depth, AST_MAX_DEPTH);
    run_end(&r);
    free(buf);
}

/* Every conformance script parses, except the one about syntax errors
 * (the others fail later, in the checker or at run time). */
Test(parser, conformance_scripts_parse)
{
    const char *dir = FE_CASES_DIR;
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "no conformance cases at %s", dir);
    struct dirent *ent;
    int parsed = 0;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/script.conv", dir, ent->d_name);
        size_t n;
        char *src = read_file(path, &n);
        if (!src)
            continue;
        Run r;
        AstPipeline *p = run_parse_n(&r, src, n);
        if (strcmp(ent->d_name, "err_syntax") == 0)
            cr_expect_null(p, "%s", path);
        else
            cr_expect_not_null(p, "%s: %s", path, run_errors(&r));
        parsed++;
        run_end(&r);
        free(src);
    }
    closedir(d);
    cr_assert_eq(parsed, 95, "parsed %d of the 95 project cases", parsed);
}
