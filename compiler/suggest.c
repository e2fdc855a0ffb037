/* suggest.c - "did you mean" (suggest.h): one rule for every hint. */
#include "suggest.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

enum { MAX_LEN = 64, FAR = 1000 };

int suggest_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > MAX_LEN || m > MAX_LEN)
        return FAR;
    /* d[i][j]: distance between the first i bytes of a and the first j of b */
    int d[MAX_LEN + 1][MAX_LEN + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

/* s in lower case without underscores, into buf; false when too long. */
static bool normalise(const char *s, char buf[MAX_LEN + 1])
{
    size_t o = 0;
    for (; *s; s++) {
        if (*s == '_')
            continue;
        if (o == MAX_LEN)
            return false;
        buf[o++] = (char)tolower((unsigned char)*s);
    }
    buf[o] = '\0';
    return true;
}

/* Edits allowed between names whose longer one has len characters. */
static int edit_limit(size_t len)
{
    return len <= 1 ? 0 : len <= 4 ? 1 : len <= 7 ? 2 : 3;
}

/* Lower is closer; FAR when not close at all. */
static int closeness(const char *name, const char *cand)
{
    char nn[MAX_LEN + 1], nc[MAX_LEN + 1];
    if (!normalise(name, nn) || !normalise(cand, nc))
        return FAR;
    if (!strcmp(nn, nc))
        return 0;
    size_t ln = strlen(name), lc = strlen(cand);
    int score = FAR;
    size_t longer = ln > lc ? ln : lc;
    size_t diff = ln > lc ? ln - lc : lc - ln;
    int limit = edit_limit(longer);
    if ((int)diff <= limit) {
        int d = suggest_distance(name, cand), dn = suggest_distance(nn, nc);
        if (dn < d)
            d = dn;
        if (d <= limit)
            score = 2 * d;
    }
    size_t a = strlen(nn), b = strlen(nc);
    size_t shorter = a < b ? a : b;
    if (shorter >= 3 && !strncmp(nn, nc, shorter)) {
        int p = 1 + 2 * (int)(a > b ? a - b : b - a);
        if (p < score)
            score = p;
    }
    return score;
}

void suggest_init(Suggest *s, const char *name)
{
    s->name = name;
    s->best = NULL;
    s->score = FAR;
}

void suggest_offer(Suggest *s, const char *candidate)
{
    if (!candidate || !strcmp(candidate, s->name))
        return;
    int score = closeness(s->name, candidate);
    if (score < s->score) {
        s->score = score;
        s->best = candidate;
    }
}

const char *suggest_result(const Suggest *s) { return s->best; }

const char *suggest_closest(const char *name, const char *const *candidates, size_t n)
{
    Suggest s;
    suggest_init(&s, name);
    for (size_t i = 0; i < n; i++)
        suggest_offer(&s, candidates[i]);
    return suggest_result(&s);
}
