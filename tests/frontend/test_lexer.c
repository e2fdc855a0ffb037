/* The token stream: every kind, numbers, strings, comments, bad input. */
#include <criterion/criterion.h>

#include "fe_test.h"

static char *toks(Run *r, const char *text)
{
    return capture_tokens(r, text, strlen(text));
}

Test(lexer, every_token_kind)
{
    Run r;
    char *s = toks(&r, "pipeline input output const true false\n"
                       "{ } ( ) [ ] , : = + - * / |>\n"
                       "name_1 _x 42 1.5 \"s\"");
    cr_assert_str_eq(s,
        "1:1-1:8 'pipeline'\n"
        "1:10-1:14 'input'\n"
        "1:16-1:21 'output'\n"
        "1:23-1:27 'const'\n"
        "1:29-1:32 'true'\n"
        "1:34-1:38 'false'\n"
        "2:1-2:1 '{'\n"
        "2:3-2:3 '}'\n"
        "2:5-2:5 '('\n"
        "2:7-2:7 ')'\n"
        "2:9-2:9 '['\n"
        "2:11-2:11 ']'\n"
        "2:13-2:13 ','\n"
        "2:15-2:15 ':'\n"
        "2:17-2:17 '='\n"
        "2:19-2:19 '+'\n"
        "2:21-2:21 '-'\n"
        "2:23-2:23 '*'\n"
        "2:25-2:25 '/'\n"
        "2:27-2:28 '|>'\n"
        "3:1-3:6 identifier name_1\n"
        "3:8-3:9 identifier _x\n"
        "3:11-3:12 integer 42\n"
        "3:14-3:16 number 1.5\n"
        "3:18-3:20 string \"s\"\n"
        "3:21-3:21 end of file\n");
    cr_assert_str_eq(run_errors(&r), "");
    free(s);
    run_end(&r);
}

Test(lexer, keywords_are_whole_words)
{
    Run r;
    char *s = toks(&r, "inputs pipeline_x True");
    cr_assert_str_eq(s,
        "1:1-1:6 identifier inputs\n"
        "1:8-1:17 identifier pipeline_x\n"
        "1:19-1:22 identifier True\n"
        "1:23-1:23 end of file\n");
    free(s);
    run_end(&r);
}

Test(lexer, numbers)
{
    Run r;
    char *s = toks(&r, "0 007 1.5 .5 2e-3 1e5 3. 1E+2 0.25 1.5e 9223372036854775807");
    cr_assert_str_eq(s,
        "1:1-1:1 integer 0\n"
        "1:3-1:5 integer 7\n"
        "1:7-1:9 number 1.5\n"
        "1:11-1:12 number 0.5\n"
        "1:14-1:17 number 0.002\n"
        "1:19-1:21 number 1e+05\n"
        "1:23-1:24 number 3\n"
        "1:26-1:29 number 1e+02\n"
        "1:31-1:34 number 0.25\n"
        "1:36-1:38 number 1.5\n"
        "1:39-1:39 identifier e\n"
        "1:41-1:59 integer 9223372036854775807\n"
        "1:60-1:60 end of file\n");
    cr_assert_str_eq(run_errors(&r), "");
    free(s);
    run_end(&r);
}

Test(lexer, number_values_through_yylex)
{
    Run r;
    run_start(&r, "2e-3 9223372036854775807 .5", 27);
    Lexer lx;
    lexer_init(&lx, &r.src);
    YYSTYPE v;
    SrcLoc l;
    cr_assert_eq(yylex(&v, &l, &lx, &r.arena, &r.diag), TOK_FLOAT);
    cr_assert_eq(v.dval, 2e-3);
    cr_assert_eq(yylex(&v, &l, &lx, &r.arena, &r.diag), TOK_INT);
    cr_assert_eq(v.ival, INT64_MAX);
    cr_assert_eq(yylex(&v, &l, &lx, &r.arena, &r.diag), TOK_FLOAT);
    cr_assert_eq(v.dval, 0.5);
    cr_assert_eq(l.first_column, 26);
    cr_assert_eq(l.last_column, 27);
    cr_assert_eq(yylex(&v, &l, &lx, &r.arena, &r.diag), TOK_YYEOF);
    run_end(&r);
}

Test(lexer, int64_max_plus_one_is_too_large)
{
    Run r;
    char *s = toks(&r, "x 9223372036854775808 y");
    cr_assert_str_eq(s,
        "1:1-1:1 identifier x\n"
        "1:3-1:21 integer 9223372036854775807\n"
        "1:23-1:23 identifier y\n"
        "1:24-1:24 end of file\n");
    cr_assert_str_eq(run_errors(&r),
        "t.conv:1:3: error: integer literal '9223372036854775808' is too large\n"
        "x 9223372036854775808 y\n"
        "  ^~~~~~~~~~~~~~~~~~~\n");
    free(s);
    run_end(&r);
}

Test(lexer, float_out_of_range)
{
    Run r;
    char *s = toks(&r, "1e999 1e-999");
    cr_assert_str_eq(s,
        "1:1-1:5 number 0\n"
        "1:7-1:12 number 0\n"
        "1:13-1:13 end of file\n");
    cr_assert_str_eq(run_errors(&r),
        "t.conv:1:1: error: float literal '1e999' is out of range\n"
        "1e999 1e-999\n"
        "^~~~~\n");
    free(s);
    run_end(&r);
}

Test(lexer, strings_with_escapes)
{
    Run r;
    const char *text = "\"a\\\"b\\\\c\\nd\\te\" \"\" \"w.npy\"";
    run_start(&r, text, strlen(text));
    Lexer lx;
    lexer_init(&lx, &r.src);
    YYSTYPE v;
    SrcLoc l;
    cr_assert_eq(yylex(&v, &l, &lx, &r.arena, &r.diag), TOK_STRING);
    cr_assert_str_eq(v.str, "a\"b\\c\nd\te");
    cr_assert_eq(l.first_column, 1);
    cr_assert_eq(l.last_column, 15);
    cr_assert_eq(yylex(&v, &l, &lx, &r.arena, &r.diag), TOK_STRING);
    cr_assert_str_eq(v.str, "");
    cr_assert_eq(yylex(&v, &l, &lx, &r.arena, &r.diag), TOK_STRING);
    cr_assert_str_eq(v.str, "w.npy");
    cr_assert_eq(yylex(&v, &l, &lx, &r.arena, &r.diag), TOK_YYEOF);
    cr_assert_str_eq(run_errors(&r), "");
    run_end(&r);
}

Test(lexer, unknown_escape)
{
    Run r;
    char *s = toks(&r, "\"a\\qb\"");
    cr_assert_str_eq(s, "1:1-1:6 string \"aqb\"\n1:7-1:7 end of file\n");
    cr_assert_str_eq(run_errors(&r),
        "t.conv:1:3: error: unknown escape sequence '\\q' in string\n"
        "\"a\\qb\"\n"
        "  ^~\n");
    free(s);
    run_end(&r);
}

Test(lexer, unterminated_string)
{
    Run r;
    char *s = toks(&r, "x = \"abc\ny \"tail");
    cr_assert_str_eq(s,
        "1:1-1:1 identifier x\n"
        "1:3-1:3 '='\n"
        "1:5-1:8 string \"abc\"\n"
        "2:1-2:1 identifier y\n"
        "2:3-2:7 string \"tail\"\n"
        "2:8-2:8 end of file\n");
    cr_assert_str_eq(run_errors(&r),
        "t.conv:1:5: error: unterminated string (missing closing '\"')\n"
        "x = \"abc\n"
        "    ^~~~\n"
        "t.conv:2:3: error: unterminated string (missing closing '\"')\n"
        "y \"tail\n"
        "  ^~~~~\n");
    free(s);
    run_end(&r);
}

Test(lexer, comments)
{
    Run r;
    char *s = toks(&r, "# whole line\nx # rest \"of\" line |> (\n  # another\ny#z");
    cr_assert_str_eq(s,
        "2:1-2:1 identifier x\n"
        "4:1-4:1 identifier y\n"
        "4:4-4:4 end of file\n");
    cr_assert_str_eq(run_errors(&r), "");
    free(s);
    run_end(&r);
}

Test(lexer, pipe_versus_bar)
{
    Run r;
    char *s = toks(&r, "a |> b | c |>> d");
    cr_assert_str_eq(s,
        "1:1-1:1 identifier a\n"
        "1:3-1:4 '|>'\n"
        "1:6-1:6 identifier b\n"
        "1:10-1:10 identifier c\n"
        "1:12-1:13 '|>'\n"
        "1:16-1:16 identifier d\n"
        "1:17-1:17 end of file\n");
    cr_assert_str_eq(run_errors(&r),
        "t.conv:1:8: error: unexpected character '|'\n"
        "a |> b | c |>> d\n"
        "       ^\n"
        "t.conv:1:14: error: unexpected character '>'\n"
        "a |> b | c |>> d\n"
        "             ^\n");
    free(s);
    run_end(&r);
}

Test(lexer, nul_byte_is_a_bad_character)
{
    Run r;
    char *s = capture_tokens(&r, "a\0b # c\0d\n\"e\0f\"", 15);
    cr_assert_str_eq(s,
        "1:1-1:1 identifier a\n"
        "1:3-1:3 identifier b\n"
        "2:1-2:5 string \"ef\"\n"
        "2:6-2:6 end of file\n");
    cr_assert_str_eq(run_errors(&r),
        "t.conv:1:2: error: unexpected character '\\x00'\n"
        "a?b # c?d\n"
        " ^\n"
        "t.conv:1:8: error: unexpected character '\\x00'\n"
        "a?b # c?d\n"
        "       ^\n"
        "t.conv:2:3: error: unexpected character '\\x00'\n"
        "\"e?f\"\n"
        "  ^\n");
    cr_assert_eq(r.diag.errors, 3);
    free(s);
    run_end(&r);
}

Test(lexer, other_bad_characters)
{
    Run r;
    char *s = toks(&r, "a @ \xc3\xa9 . ; b");
    cr_assert_str_eq(s,
        "1:1-1:1 identifier a\n"
        "1:12-1:12 identifier b\n"
        "1:13-1:13 end of file\n");
    cr_assert_eq(r.diag.errors, 4);
    cr_assert(strstr(run_errors(&r), "1:3: error: unexpected character '@'\n"));
    /* columns count characters: the two bytes of the e-acute are one */
    cr_assert(strstr(run_errors(&r), "1:5: error: unexpected character '\xc3\xa9' (U+00E9)\n"));
    cr_assert(strstr(run_errors(&r), "1:7: error: unexpected character '.'\n"));
    cr_assert(strstr(run_errors(&r), "1:9: error: unexpected character ';'\n"));
    free(s);
    run_end(&r);
}

Test(lexer, empty_input_and_crlf)
{
    Run r;
    char *s = toks(&r, "");
    cr_assert_str_eq(s, "1:1-1:1 end of file\n");
    free(s);
    run_end(&r);
    s = toks(&r, "a\r\nb\r\n");
    cr_assert_str_eq(s,
        "1:1-1:1 identifier a\n"
        "2:1-2:1 identifier b\n"
        "3:1-3:1 end of file\n");
    cr_assert_str_eq(run_errors(&r), "");
    free(s);
    run_end(&r);
}
