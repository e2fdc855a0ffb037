/* Diagnostics: exact text of syntax and lexical errors, recovery (several
 * errors per file, no cascades), and robustness against hostile input. */
#include <stdint.h>

#include <criterion/criterion.h>

#include "fe_test.h"

/* Parses text; expects failure and exactly `want` on the error stream. */
static void check_errors(const char *text, const char *want)
{
    Run r;
    AstPipeline *p = run_parse(&r, text);
    cr_assert_null(p, "parsed: %s", text);
    cr_assert_str_eq(run_errors(&r), want);
    run_end(&r);
}

Test(diagnostics, conformance_err_syntax)
{
    /* tests/conformance/cases/err_syntax/script.conv: line 4. */
    check_errors(
        "pipeline bad {\n"
        "  input x: f32[1, 8, 8]\n"
        "  output y = relu(x,\n"
        "}\n",
        "t.conv:4:1: error: expected an expression but found '}'\n"
        "}\n"
        "^\n");
}

Test(diagnostics, missing_paren_at_end_of_file)
{
    check_errors(
        "pipeline p {\n"
        "  output y = relu(x",
        "t.conv:2:20: error: expected ')' or ',' but found end of file\n"
        "  output y = relu(x\n"
        "                   ^\n");
}

Test(diagnostics, unexpected_tokens_are_quoted)
{
    check_errors(
        "pipeline p {\n"
        "  output = x\n"
        "  const c: f32[3 = 1\n"
        "  output y = x |> 3\n"
        "  output z = f(a=)\n"
        "  a == b\n"
        "}\n",
        "t.conv:2:10: error: expected identifier but found '='\n"
        "  output = x\n"
        "         ^\n"
        "t.conv:3:18: error: expected ']' or ',' but found '='\n"
        "  const c: f32[3 = 1\n"
        "                 ^\n"
        "t.conv:4:19: error: expected identifier but found integer '3'\n"
        "  output y = x |> 3\n"
        "                  ^\n"
        "t.conv:5:18: error: expected an expression but found ')'\n"
        "  output z = f(a=)\n"
        "                 ^\n"
        "t.conv:6:6: error: expected an expression but found '='\n"
        "  a == b\n"
        "     ^\n");
}

Test(diagnostics, several_errors_one_per_statement)
{
    check_errors(
        "pipeline multi {\n"
        "  input x: f32[1, 8, 8]\n"
        "  a = relu(x w)\n"
        "  b = conv2d(x, , pad=1)\n"
        "  input k f32[3, 3]\n"
        "  c = a +\n"
        "  output y = b * c\n"
        "  output z = (x, )\n"
        "  h = conv2d(x w,\n"
        "             bias=b)\n"
        "  output h\n"
        "}\n",
        "t.conv:3:14: error: expected ')' or ',' but found identifier 'w'\n"
        "  a = relu(x w)\n"
        "             ^\n"
        "t.conv:4:17: error: expected an expression but found ','\n"
        "  b = conv2d(x, , pad=1)\n"
        "                ^\n"
        "t.conv:5:11: error: expected ':' but found identifier 'f32'\n"
        "  input k f32[3, 3]\n"
        "          ^~~\n"
        "t.conv:7:3: error: expected an expression but found 'output'\n"
        "  output y = b * c\n"
        "  ^~~~~~\n"
        "t.conv:8:18: error: expected an expression but found ')'\n"
        "  output z = (x, )\n"
        "                 ^\n"
        "t.conv:9:16: error: expected ')' or ',' but found identifier 'w'\n"
        "  h = conv2d(x w,\n"
        "               ^\n");
}

Test(diagnostics, text_after_the_pipeline)
{
    check_errors(
        "pipeline p {\n"
        "  output y = x\n"
        "}\n"
        "}\n",
        "t.conv:4:1: error: expected end of file after the pipeline but found '}'\n"
        "}\n"
        "^\n");
}

Test(diagnostics, bad_header_still_checks_the_body)
{
    check_errors(
        "pipeline {\n"
        "  output y = relu(x) +\n"
        "}\n",
        "t.conv:1:10: error: expected identifier but found '{'\n"
        "pipeline {\n"
        "         ^\n"
        "t.conv:3:1: error: expected an expression but found '}'\n"
        "}\n"
        "^\n");
}

Test(diagnostics, bad_dimensions)
{
    check_errors(
        "pipeline p {\n"
        "  input x: f32[0, 3]\n"
        "  input y: f32[-1]\n"
        "  input z: f32[]\n"
        "}\n",
        "t.conv:2:16: error: dimension 0 is not a positive integer\n"
        "  input x: f32[0, 3]\n"
        "               ^\n"
        "t.conv:3:16: error: dimension -1 is not a positive integer\n"
        "  input y: f32[-1]\n"
        "               ^~\n"
        "t.conv:4:12: error: a tensor type needs at least one dimension\n"
        "  input z: f32[]\n"
        "           ^~~~~\n");
    check_errors(
        "pipeline p {\n"
        "  input x: f32[1.5]\n"
        "}\n",
        "t.conv:2:16: error: expected a dimension but found number '1.5'\n"
        "  input x: f32[1.5]\n"
        "               ^~~\n");
}

Test(diagnostics, too_large_integer)
{
    check_errors(
        "pipeline p {\n"
        "  output y = x * 123456789012345678901234567890\n"
        "}\n",
        "t.conv:2:18: error: integer literal '123456789012345678901234567890' is too large\n"
        "  output y = x * 123456789012345678901234567890\n"
        "                 ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n");
}

Test(diagnostics, lexical_errors_do_not_stop_parsing)
{
    check_errors(
        "pipeline p {\n"
        "  output y = x @ 2\n"
        "  output z = \"abc\n"
        "  output w = (1,\n"
        "}\n",
        "t.conv:2:16: error: unexpected character '@'\n"
        "  output y = x @ 2\n"
        "               ^\n"
        "t.conv:2:18: error: expected a statement or '}' but found integer '2'\n"
        "  output y = x @ 2\n"
        "                 ^\n"
        "t.conv:3:14: error: unterminated string (missing closing '\"')\n"
        "  output z = \"abc\n"
        "             ^~~~\n"
        "t.conv:5:1: error: expected an expression but found '}'\n"
        "}\n"
        "^\n");
}

Test(diagnostics, nul_byte_in_a_statement)
{
    static const char text[] = "pipeline p {\n  input x: f32[3]\0\n  output y = x\n}\n";
    Run r;
    AstPipeline *p = run_parse_n(&r, text, sizeof text - 1);
    cr_assert_null(p);
    cr_assert_str_eq(run_errors(&r),
        "t.conv:2:18: error: unexpected character '\\x00'\n"
        "  input x: f32[3]?\n"
        "                 ^\n");
    run_end(&r);
}

/* ---- nesting limits ------------------------------------------------------ */

static char *repeat_expr(const char *prefix, const char *unit, int n,
                         const char *middle, const char *close, int m,
                         const char *suffix)
{
    size_t len = strlen(prefix) + strlen(unit) * (size_t)n + strlen(middle) +
                 strlen(close) * (size_t)m + strlen(suffix) + 1;
    char *s = malloc(len), *o = s;
    o = stpcpy(o, prefix);
    for (int i = 0; i < n; i++)
        o = stpcpy(o, unit);
    o = stpcpy(o, middle);
    for (int i = 0; i < m; i++)
        o = stpcpy(o, close);
    stpcpy(o, suffix);
    return s;
}

/* Fails with exactly one "nests too deeply" error (plus `extra` others). */
static void check_too_deep(char *text, int extra)
{
    Run r;
    AstPipeline *p = run_parse(&r, text);
    cr_assert_null(p);
    cr_assert_eq(r.diag.errors, 1 + extra, "%s", run_errors(&r));
    const char *msg = "error: expression nests too deeply (more than 200 levels)\n";
    const char *at = strstr(run_errors(&r), msg);
    cr_assert_not_null(at, "%s", run_errors(&r));
    cr_assert_null(strstr(at + 1, msg), "reported twice");
    cr_assert_null(strstr(run_errors(&r), "memory exhausted"));
    run_end(&r);
    free(text);
}

Test(diagnostics, deep_parentheses_closed)
{
    check_too_deep(repeat_expr("pipeline p {\n  output y = ", "(", 100000, "x", ")",
                               100000, "\n  output z = y\n}\n"), 0);
}

Test(diagnostics, deep_parentheses_unclosed)
{
    check_too_deep(repeat_expr("pipeline p {\n  output y = ", "(", 100000, "", "", 0,
                               "\n}\n"), 0);
}

Test(diagnostics, deep_parenthesis_location)
{
    Run r;
    char *text = repeat_expr("pipeline p {\n  output y = ", "(", 201, "x", ")", 201,
                             "\n}\n");
    cr_assert_null(run_parse(&r, text));
    /* The 201st '(' is column 13 + 201. */
    cr_assert(strncmp(run_errors(&r), "t.conv:2:214: error: expression nests too deeply", 48) == 0,
              "%s", run_errors(&r));
    cr_assert_eq(r.diag.errors, 1);
    run_end(&r);
    free(text);
}

Test(diagnostics, long_sums)
{
    check_too_deep(repeat_expr("pipeline p {\n  output y = a", "+a", 100000, "", "", 0,
                               "\n}\n"), 0);
    check_too_deep(repeat_expr("pipeline p {\n  output y = a", "+a", 200, "", "", 0,
                               "\n}\n"), 0);
}

Test(diagnostics, long_pipes_and_calls_and_lists_and_minus)
{
    check_too_deep(repeat_expr("pipeline p {\n  output y = a", " |> f", 100000, "", "",
                               0, "\n}\n"), 0);
    check_too_deep(repeat_expr("pipeline p {\n  output y = ", "f(", 100000, "a", ")",
                               100000, "\n}\n"), 0);
    check_too_deep(repeat_expr("pipeline p {\n  output y = ", "[", 100000, "1", "]",
                               100000, "\n}\n"), 0);
    check_too_deep(repeat_expr("pipeline p {\n  output y = ", "-", 100000, "a", "", 0,
                               "\n}\n"), 0);
    check_too_deep(repeat_expr("pipeline p {\n  output y = ", "-(", 100000, "a", ")",
                               100000, "\n}\n"), 0);
}

Test(diagnostics, deep_statement_does_not_hide_the_next_error)
{
    check_too_deep(repeat_expr("pipeline p {\n  output y = ", "(", 300, "", "", 0,
                               "\n  output z = )\n}\n"), 1);
}

/* ---- hostile input ------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

Test(diagnostics, random_bytes)
{
    rng_state = 0x9E3779B97F4A7C15ULL;
    char *buf = malloc(8192);
    for (int i = 0; i < 500; i++) {
        size_t n = 1 + rng() % 8192;
        for (size_t k = 0; k < n; k++)
            buf[k] = (char)rng();
        Run r;
        AstPipeline *p = run_parse_n(&r, buf, n);
        cr_assert_null(p, "buffer %d parsed", i);
        cr_assert_geq(r.diag.errors, 1);
        run_end(&r);
    }
    free(buf);
}

/* Random sequences of real tokens, inside a real header, exercise the
 * grammar's error paths far more than random bytes do. */
Test(diagnostics, random_token_soup)
{
    static const char *const words[] = {
        "pipeline", "input", "output", "const", "true", "false", "{", "}",
        "(", ")", "[", "]", ",", ":", "=", "+", "-", "*", "/", "|>", "x",
        "f32", "conv2d", "1", "2.5", "\"s\"", "\n", "#c\n", "@", "\"",
    };
    enum { NW = sizeof words / sizeof words[0] };
    rng_state = 12345;
    char *buf = malloc(64 * 1024);
    for (int i = 0; i < 2000; i++) {
        char *o = stpcpy(buf, "pipeline p {\n");
        int n = (int)(rng() % 200);
        for (int k = 0; k < n; k++) {
            o = stpcpy(o, words[rng() % NW]);
            *o++ = ' ';
        }
        if (rng() % 2)
            o = stpcpy(o, "}");
        *o = '\0';
        Run r;
        AstPipeline *p = run_parse(&r, buf);
        cr_assert_eq(p == NULL, r.diag.errors > 0, "%s", buf);
        if (p) {
            char *s = capture_dump(p);
            free(s);
        }
        run_end(&r);
    }
    free(buf);
}

Test(diagnostics, megabyte_line)
{
    size_t n = 1 << 20;
    char *buf = malloc(n + 64);
    char *o = stpcpy(buf, "pipeline p { output y = ");
    while ((size_t)(o - buf) < n)
        o = stpcpy(o, "a ");
    stpcpy(o, "}");
    Run r;
    cr_assert_null(run_parse(&r, buf));
    cr_assert_eq(r.diag.errors, 1, "%s", run_errors(&r));
    /* The long line is shown as a window around the column. */
    cr_assert(strlen(run_errors(&r)) < 1000);
    run_end(&r);

    /* One huge number and one huge identifier on a 1 MB line. */
    memset(buf, '7', n);
    buf[n] = '\0';
    cr_assert_null(run_parse(&r, buf));
    cr_assert_geq(r.diag.errors, 2, "%s", run_errors(&r));
    cr_assert_not_null(strstr(run_errors(&r), "is too large"));
    run_end(&r);
    memset(buf, 'z', n);
    cr_assert_null(run_parse(&r, buf));
    cr_assert_eq(r.diag.errors, 1);
    run_end(&r);
    free(buf);
}

Test(diagnostics, stops_after_too_many_errors)
{
    char *text = repeat_expr("pipeline p {\n", "  a = )\n", 1000, "", "", 0, "}\n");
    Run r;
    cr_assert_null(run_parse(&r, text));
    cr_assert_geq(r.diag.errors, r.diag.max_errors);
    cr_assert_leq(r.diag.errors, r.diag.max_errors + 1);
    cr_assert_not_null(strstr(run_errors(&r), "fatal: too many errors, stopping here\n"));
    run_end(&r);
    free(text);

    char *bytes = repeat_expr("", "@", 100000, "", "", 0, "");
    cr_assert_null(run_parse(&r, bytes));
    cr_assert_leq(r.diag.errors, r.diag.max_errors + 1);
    run_end(&r);
    free(bytes);
}

/* Non-ASCII text is shown as the UTF-8 it is, and columns and carets count
 * characters, not bytes: the caret stands under the character at fault. */
Test(diagnostics, utf8_source_keeps_carets_aligned)
{
    check_errors(
        "pipeline p {  # caf\xc3\xa9\n"
        "  input x: f32[8]\n"
        "  output y = relu(\"\xc3\xa9\xe6\x97\xa5\") @ \xf0\x9f\x98\x80\n"
        "}\n",
        "t.conv:3:25: error: unexpected character '@'\n"
        "  output y = relu(\"\xc3\xa9\xe6\x97\xa5\") @ \xf0\x9f\x98\x80\n"
        "                        ^\n"
        "t.conv:3:27: error: unexpected character '\xf0\x9f\x98\x80' (U+1F600)\n"
        "  output y = relu(\"\xc3\xa9\xe6\x97\xa5\") @ \xf0\x9f\x98\x80\n"
        "                          ^\n");
}

/* A range of characters gets one '~' per character; bytes that are not
 * UTF-8 (a stray continuation byte, an overlong form) are shown as '?'
 * and count as one character each. */
Test(diagnostics, utf8_ranges_and_invalid_bytes)
{
    check_errors(
        "pipeline p {\n"
        "  output y = \"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\" \"\xc0\xaf\x80\"\n"
        "}\n",
        "t.conv:2:20: error: expected a statement or '}' but found string \"\\xc0\\xaf\\x80\"\n"
        "  output y = \"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\" \"???\"\n"
        "                   ^~~~~\n");
}

/* load('x.npy') as in Python: the string is taken, and the message says
 * how to write it. */
Test(diagnostics, single_quoted_string_gets_a_hint)
{
    check_errors(
        "pipeline p {\n"
        "  const k = load('k.npy')\n"
        "  output y = k\n"
        "}\n",
        "t.conv:2:18: error: strings are written in double quotes: \"k.npy\", not 'k.npy'\n"
        "  const k = load('k.npy')\n"
        "                 ^~~~~~~\n");
    check_errors(
        "pipeline p {\n"
        "  const k = load('k.npy\n"
        "}\n",
        "t.conv:2:18: error: unterminated string in single quotes; strings are written in double quotes: \"k.npy\"\n"
        "  const k = load('k.npy\n"
        "                 ^~~~~~\n"
        "t.conv:3:1: error: expected ')' or ',' but found '}'\n"
        "}\n"
        "^\n");
}

/* A long line is windowed around the column without cutting a character
 * in two. */
Test(diagnostics, long_utf8_line_is_windowed_on_character_boundaries)
{
    char *text = repeat_expr("pipeline p {\n  # ", "\xc3\xa9", 400, "", "", 0, "\n  output y = relu(@)\n}\n");
    Run r;
    cr_assert_null(run_parse(&r, text));
    cr_assert_str_eq(run_errors(&r), "t.conv:3:19: error: unexpected character '@'\n"
                                     "  output y = relu(@)\n"
                                     "                  ^\n");
    run_end(&r);
    free(text);
    text = repeat_expr("pipeline p {\n  output y = \"", "\xc3\xa9", 400, "", "", 0, "\" @\n}\n");
    cr_assert_null(run_parse(&r, text));
    const char *e = run_errors(&r);
    const char *head = "t.conv:2:417: error: unexpected character '@'\n...";
    cr_assert(strncmp(e, head, strlen(head)) == 0, "%s", e);
    /* every shown byte is part of a whole UTF-8 character */
    const char *line = strchr(e, '\n') + 4;
    for (const char *q = line; *q != '"'; q += 2)
        cr_assert(q[0] == '\xc3' && q[1] == '\xa9', "cut at %d", (int)(q - line));
    const char *caret = strchr(strchr(line, '\n') + 1, '^');
    const char *caret_line = strchr(line, '\n') + 1;
    size_t chars_before = 0;
    for (const char *q = line; q < strchr(line, '@'); chars_before++)
        q += (unsigned char)*q >= 0x80 ? 2 : 1;
    cr_assert_eq((size_t)(caret - caret_line), chars_before + 3, "caret under the '@'");
    run_end(&r);
    free(text);
}
