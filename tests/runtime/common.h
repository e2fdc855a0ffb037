/* common.h - helpers shared by the runtime tests: an error handler that
 * records what it was given, and scratch directories. */
#ifndef CONVRT_TEST_COMMON_H
#define CONVRT_TEST_COMMON_H

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convrt.h"

typedef struct captured {
    int count;
    int code;
    char message[1024];
} captured;

static captured cap;

static inline void capture_handler(void *user, int code, const char *message)
{
    captured *c = user;
    c->count++;
    c->code = code;
    snprintf(c->message, sizeof c->message, "%s", message);
}

/* Warnings, recorded the same way. */
static captured warned;

static inline void capture_start(void)
{
    memset(&cap, 0, sizeof cap);
    memset(&warned, 0, sizeof warned);
    convrt_set_error_handler(capture_handler, &cap);
    convrt_set_warning_handler(capture_handler, &warned);
}

static inline void capture_reset(void)
{
    memset(&cap, 0, sizeof cap);
    memset(&warned, 0, sizeof warned);
}

/* Assert that exactly one error with `code` was reported and that its
 * message contains every given fragment. */
#define expect_report(code_, ...)                                                      \
    do {                                                                               \
        cr_expect_eq(cap.count, 1, "reports: %d (last: %s)", cap.count, cap.message);  \
        cr_expect_eq(cap.code, (code_), "reported code %d", cap.code);                 \
        const char *frags_[] = {NULL, ##__VA_ARGS__, NULL};                              \
        for (int k_ = 1; frags_[k_]; k_++)                                               \
            cr_expect(strstr(cap.message, frags_[k_]) != NULL,                         \
                      "message \"%s\" lacks \"%s\"", cap.message, frags_[k_]);          \
    } while (0)

static char scratch_dir[256];

static inline void scratch_make(void)
{
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/convrt-test-XXXXXX");
    cr_assert(mkdtemp(scratch_dir) != NULL);
}

/* path of `name` inside the scratch directory (static buffer rotation) */
static inline const char *scratch_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", scratch_dir, name);
    return b;
}

static inline int scratch_count(void)
{
    DIR *d = opendir(scratch_dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static inline void scratch_remove(void)
{
    DIR *d = opendir(scratch_dir);
    if (!d)
        return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", scratch_dir, e->d_name);
            if (unlink(p) != 0)
                rmdir(p);       /* an empty directory a test made */
        }
    closedir(d);
    rmdir(scratch_dir);
}

static inline void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static inline void setup_all(void)
{
    capture_start();
    scratch_make();
}

static inline void teardown_all(void)
{
    scratch_remove();
    convrt_set_error_handler(NULL, NULL);
    convrt_set_warning_handler(NULL, NULL);
}

#endif
