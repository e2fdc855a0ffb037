/* diag.h - source text, locations and clang-style diagnostics.
 *
 *   script.conv:4:14: error: conv2d: weight expects 2 input channels ...
 *     output y = conv2d(x, w)
 *                ^~~~~~~~~~~~
 *
 * Every phase reports through a Diag and keeps going to the end of the
 * phase; the driver stops between phases when diag_errors() is non-zero. */
#ifndef CONVC_DIAG_H
#define CONVC_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* 1-based line and column of the first and last character of a range
 * (Bison's YYLTYPE field names, so the parser uses it directly). */
typedef struct SrcLoc {
    int32_t first_line, first_column;
    int32_t last_line, last_column;
} SrcLoc;

typedef struct Source {
    const char *filename;   /* as given on the command line */
    const char *text;       /* NUL-terminated; may also contain NUL bytes */
    size_t      len;
} Source;

typedef struct Diag {
    const Source *src;
    FILE         *out;       /* stderr, or a memory stream in tests */
    int           errors, warnings;
    int           max_errors; /* stop printing (not counting) beyond this */
    int32_t       seen_line;  /* the last line diag_column found, and */
    size_t        seen_start; /* where it starts */
} Diag;

void diag_init(Diag *d, const Source *src, FILE *out);
void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A note attached to the previous diagnostic ("note: declared here"). */
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error with no source position: "FILE: error: MESSAGE". */
void diag_error_noloc(Diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline int diag_errors(const Diag *d) { return d->errors; }

/* The column of a location as diagnostics print it: 1 + the characters
 * (UTF-8 code points; a byte that is not UTF-8 counts as one) before the
 * 1-based byte column `column` of line `line` of d's source.  Locations
 * themselves count bytes. */
int32_t diag_column(Diag *d, int32_t line, int32_t column);
/* Bytes of the valid UTF-8 sequence at s (1 for ASCII), or 0. */
size_t diag_utf8_len(const unsigned char *s, size_t avail);

/* The smallest range covering a and b. */
SrcLoc srcloc_span(SrcLoc a, SrcLoc b);

#endif
