/* suggest.h - "did you mean": the closest of a list of names to one that
 * names nothing, or none when no name is close enough to be worth saying.
 *
 * One rule for the whole command (script names, builtin kernels, stages,
 * options and option words in the checker; commands, options, inputs,
 * outputs and size symbols on the command line):
 *   - names equal but for case and underscores match best
 *     ("sobelx" -> "sobel_x", "Conv2D" -> "conv2d");
 *   - then the Damerau-Levenshtein distance (insertions, deletions,
 *     substitutions and swaps of neighbours) within a limit that grows with
 *     the length of the longer name: 0 edits for one character, 1 up to 4,
 *     2 up to 7, 3 beyond ("reflct" -> "reflect", "strid" -> "stride"; but
 *     "mean" is 2 edits from "min", too far for 4 letters);
 *   - or one name, at least 3 characters long, starting the other
 *     ("padding" -> "pad", "maxpool" -> "maxpool2d"), ranked by how many
 *     characters the other adds.
 * Ties go to the name offered first. */
#ifndef CONVC_SUGGEST_H
#define CONVC_SUGGEST_H

#include <stddef.h>

typedef struct Suggest {
    const char *name;       /* what was written */
    const char *best;       /* the closest so far, or NULL */
    int         score;      /* lower is closer */
} Suggest;

void        suggest_init(Suggest *s, const char *name);
void        suggest_offer(Suggest *s, const char *candidate);
/* The closest name offered, or NULL. */
const char *suggest_result(const Suggest *s);

/* The same over an array. */
const char *suggest_closest(const char *name, const char *const *candidates, size_t n);

/* The optimal-string-alignment distance between a and b, or a number
 * above any limit when either is longer than 64 bytes. */
int suggest_distance(const char *a, const char *b);

#endif
