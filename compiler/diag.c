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

/* Start of 1-based line `line`, and its length without the newline. */
static bool find_line(const Source *s, int32_t line, size_t *start, size_t *len)
{
    if (!s || !s->text || line < 1)
        return false;
    size_t i = 0;
    for (int32_t l = 1; l < line; l++) {
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

static void show_source(Diag *d, SrcLoc loc)
{
    size_t start, len;
    if (!find_line(d->src, loc.first_line, &start, &len))
        return;
    size_t col = loc.first_column > 0 ? (size_t)loc.first_column - 1 : 0;
    if (col > len)
        col = len;
    size_t ncaret = 1;
    if (loc.last_line == loc.first_line && loc.last_column >= loc.first_column)
        ncaret = (size_t)(loc.last_column - loc.first_column) + 1;
    else if (loc.last_line > loc.first_line)
        ncaret = len > col ? len - col : 1;
    /* Window long lines around the column. */
    size_t from = 0, to = len;
    if (len > DIAG_WINDOW) {
        from = col > DIAG_WINDOW / 2 ? col - DIAG_WINDOW / 2 : 0;
        to = from + DIAG_WINDOW < len ? from + DIAG_WINDOW : len;
    }
    if (col + ncaret > to)
        ncaret = to > col ? to - col : 1;
    const char *t = d->src->text + start;
    fputs(from ? "..." : "", d->out);
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)t[i];
        fputc(c == '\t' || (c >= 0x20 && c < 0x7f) ? c : '?', d->out);
    }
    fputs(to < len ? "...\n" : "\n", d->out);
    fputs(from ? "   " : "", d->out);
    for (size_t i = from; i < col; i++)
        fputc(t[i] == '\t' ? '\t' : ' ', d->out);
    fputc('^', d->out);
    for (size_t i = 1; i < ncaret; i++)
        fputc('~', d->out);
    fputc('\n', d->out);
}

static void report(Diag *d, const char *kind, SrcLoc loc, const char *fmt,
                   va_list ap)
{
    fprintf(d->out, "%s:%d:%d: %s: ", d->src ? d->src->filename : "<input>",
            loc.first_line, loc.first_column, kind);
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
