/* diag.c - source lines, carets and clang-style messages (diag.h). */
#include "diag.h"

#include <stdarg.h>
#include <string.h>

/* Lines longer than this are shown as a window around the column, so a
 * 1 MB line does not flood the terminal. */
enum { DIAG_WINDOW = 160 };

void diag_init(Diag *d, const Source *src, FILE *out)
{
    d->src = src;
    d->out = out ? out : stderr;
    d->errors = d->warnings = 0;
    d->max_errors = 50;
    d->seen_line = 0;
    d->seen_start = 0;
}

SrcLoc srcloc_span(SrcLoc a, SrcLoc b)
{
    SrcLoc r = a;
    if (b.first_line < r.first_line ||
        (b.first_line == r.first_line && b.first_column < r.first_column)) {
        r.first_line = b.first_line;
        r.first_column = b.first_column;
    }
    if (b.last_line > r.last_line ||
        (b.last_line == r.last_line && b.last_column > r.last_column)) {
        r.last_line = b.last_line;
        r.last_column = b.last_column;
    }
    return r;
}

/* Start of 1-based line `line` at or after the line that starts at byte
 * `from` (line `from_line`), and its length without the newline. */
static bool find_line_from(const Source *s, int32_t from_line, size_t from, int32_t line, size_t *start,
                           size_t *len)
{
    if (!s || !s->text || line < from_line)
        return false;
    size_t i = from;
    for (int32_t l = from_line; l < line; l++) {
        const char *nl = memchr(s->text + i, '\n', s->len - i);
        if (!nl)
            return false;
        i = (size_t)(nl - s->text) + 1;
    }
    const char *nl = memchr(s->text + i, '\n', s->len - i);
    size_t end = nl ? (size_t)(nl - s->text) : s->len;
    if (end > i && s->text[end - 1] == '\r')
        end--;
    *start = i;
    *len = end - i;
    return true;
}

static bool find_line(const Source *s, int32_t line, size_t *start, size_t *len)
{
    return line >= 1 && find_line_from(s, 1, 0, line, start, len);
}

/* Bytes in the UTF-8 sequence at s (at most avail bytes), or 0 when
 * there is none: a stray continuation byte, a truncated sequence, an
 * overlong form, a surrogate or a value above U+10FFFF. */
size_t diag_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || n > avail)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||     /* overlong, surrogate */
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))       /* overlong, > U+10FFFF */
        return 0;
    return n;
}

/* What one shown character of t[i..len) is: its bytes (0 for a byte
 * shown as '?'). */
static size_t char_at(const char *t, size_t i, size_t len)
{
    unsigned char c = (unsigned char)t[i];
    if (c == '\t' || (c >= 0x20 && c < 0x7f))
        return 1;
    size_t n = c >= 0x80 ? diag_utf8_len((const unsigned char *)t + i, len - i) : 0;
    return n > 1 ? n : 0;
}

/* Characters (code points; a byte that is not UTF-8 counts as one) in
 * t[from..to). */
static size_t chars_in(const char *t, size_t from, size_t to, size_t len)
{
    size_t n = 0;
    for (size_t i = from; i < to; n++) {
        size_t k = char_at(t, i, len);
        i += k ? k : 1;
    }
    return n;
}

int32_t diag_column(Diag *d, int32_t line, int32_t column)
{
    size_t start, len;
    const Source *src = d->src;
    if (column < 1 || line < 1 || !src)
        return column;
    /* The checker asks for the lines of its stages in order: carry on from
     * the last line found, so a long script is read once. */
    bool found = d->seen_line >= 1 && line >= d->seen_line
               ? find_line_from(src, d->seen_line, d->seen_start, line, &start, &len)
               : find_line(src, line, &start, &len);
    if (!found)
        return column;
    d->seen_line = line;
    d->seen_start = start;
    size_t col = (size_t)column - 1;
    if (col > len)
        return (int32_t)(chars_in(src->text + start, 0, len, len) + (col - len)) + 1;
    return (int32_t)chars_in(src->text + start, 0, col, len) + 1;
}

/* The start of the character that holds byte i (i itself, unless it is
 * inside a UTF-8 sequence). */
static size_t char_start(const char *t, size_t i, size_t len)
{
    size_t back = 0;
    while (back < 3 && back < i && ((unsigned char)t[i - back] & 0xc0) == 0x80)
        back++;
    if (back && char_at(t, i - back, len) > back)
        return i - back;
    return i;
}

/* The source line, then a caret under the first character of loc and a
 * '~' under each other one.  Valid UTF-8 is shown as it is, with one
 * column per code point; other bytes, and control characters, as '?'. */
static void show_source(Diag *d, SrcLoc loc)
{
    size_t start, len;
    if (!find_line(d->src, loc.first_line, &start, &len))
        return;
    const char *t = d->src->text + start;
    size_t col = loc.first_column > 0 ? (size_t)loc.first_column - 1 : 0;
    if (col > len)
        col = len;
    col = char_start(t, col, len);
    size_t end = col + 1;      /* bytes [col, end) get the caret and tildes */
    if (loc.last_line == loc.first_line && loc.last_column >= loc.first_column)
        end = (size_t)loc.last_column;
    else if (loc.last_line > loc.first_line)
        end = len;
    if (end > len)
        end = len;
    if (end <= col)
        end = col + 1;
    /* Window long lines around the column, on character boundaries. */
    size_t from = 0, to = len;
    if (len > DIAG_WINDOW) {
        from = col > DIAG_WINDOW / 2 ? char_start(t, col - DIAG_WINDOW / 2, len) : 0;
        to = from + DIAG_WINDOW < len ? char_start(t, from + DIAG_WINDOW, len) : len;
    }
    if (end > to)
        end = to > col ? to : col + 1;
    fputs(from ? "..." : "", d->out);
    for (size_t i = from; i < to;) {
        size_t k = char_at(t, i, len);
        if (k)
            fwrite(t + i, 1, k, d->out);
        else
            fputc('?', d->out);
        i += k ? k : 1;
    }
    fputs(to < len ? "...\n" : "\n", d->out);
    fputs(from ? "   " : "", d->out);
    for (size_t i = from; i < col;) {
        size_t k = char_at(t, i, len);
        fputc(t[i] == '\t' ? '\t' : ' ', d->out);
        i += k ? k : 1;
    }
    fputc('^', d->out);
    size_t ncaret = col < len ? chars_in(t, col, end, len) : 1;
    for (size_t i = 1; i < ncaret; i++)
        fputc('~', d->out);
    fputc('\n', d->out);
}

static void report(Diag *d, const char *kind, SrcLoc loc, const char *fmt,
                   va_list ap)
{
    fprintf(d->out, "%s:%d:%d: %s: ", d->src ? d->src->filename : "<input>",
            loc.first_line, diag_column(d, loc.first_line, loc.first_column), kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    show_source(d, loc);
}

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...)
{
    d->errors++;
    if (d->errors > d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, "error", loc, fmt, ap);
    va_end(ap);
    if (d->errors == d->max_errors)
        fprintf(d->out, "%s: fatal: too many errors, stopping here\n",
                d->src ? d->src->filename : "<input>");
}

void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...)
{
    d->warnings++;
    va_list ap;
    va_start(ap, fmt);
    report(d, "warning", loc, fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...)
{
    if (d->errors > d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, "note", loc, fmt, ap);
    va_end(ap);
}

void diag_error_noloc(Diag *d, const char *fmt, ...)
{
    d->errors++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(d->out, "%s: error: ", d->src ? d->src->filename : "convc");
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    va_end(ap);
}
