/* replay.c - run every file of a fuzz corpus (and the saved crash
 * reproducers) through the same code as its fuzzer, without libFuzzer.
 *
 *   fuzz_replay [--target=check|npy|image|audio|npz] DIR|FILE ...
 *
 * check (the default) is the parser, checker and lowering (fuzz_one.h);
 * npy, image, audio and npz are the runtime's file readers
 * (fuzz_io_one.h).  Part of the normal test suite (fuzz.replay,
 * fuzz.replay_npy, fuzz.replay_image, fuzz.replay_audio, fuzz.replay_npz):
 * a regression shows up as a crash here, or as a sanitizer report in a
 * sanitized build.  Files are run in name order; dot files (.gitkeep) are
 * skipped, and so is a missing directory.  The exit status is non-zero when
 * a file cannot be read or nothing at all was replayed.  Set
 * FUZZ_REPLAY_VERBOSE=1 to print each file name before running it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz_io_one.h"
#include "fuzz_one.h"

static int (*fuzz_target)(const uint8_t *, size_t) = convc_fuzz_one;

static int read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        if (!buf)
            abort();
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return -1;
    }
    *data = buf;
    *size = n;
    return 0;
}

static int run_file(const char *path)
{
    uint8_t *data;
    size_t size;
    if (read_file(path, &data, &size) != 0) {
        fprintf(stderr, "fuzz_replay: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    fuzz_target(data, size);
    free(data);
    return 0;
}

static int by_name(const struct dirent **x, const struct dirent **y)
{
    return strcmp((*x)->d_name, (*y)->d_name);
}

int main(int argc, char **argv)
{
    static const char usage[] = "usage: fuzz_replay [--target=check|npy|image|audio|npz] DIR|FILE ...\n";
    int first = 1;
    if (argc > 1 && !strncmp(argv[1], "--target=", 9)) {
        const char *t = argv[1] + 9;
        if (!strcmp(t, "npy"))
            fuzz_target = convc_fuzz_npy;
        else if (!strcmp(t, "image"))
            fuzz_target = convc_fuzz_image;
        else if (!strcmp(t, "audio"))
            fuzz_target = convc_fuzz_audio;
        else if (!strcmp(t, "npz"))
            fuzz_target = convc_fuzz_npz;
        else if (strcmp(t, "check")) {
            fputs(usage, stderr);
            return 2;
        }
        first = 2;
    }
    if (argc <= first) {
        fputs(usage, stderr);
        return 2;
    }
    int verbose = getenv("FUZZ_REPLAY_VERBOSE") != NULL;
    long ran = 0, failed = 0;
    for (int i = first; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz_replay: skipping %s: %s\n", argv[i], strerror(errno));
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (verbose)
                fprintf(stderr, "%s\n", argv[i]);
            if (run_file(argv[i]) == 0) ran++; else failed++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, by_name);
        if (n < 0) {
            fprintf(stderr, "fuzz_replay: cannot list %s: %s\n", argv[i], strerror(errno));
            failed++;
            continue;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
            free(names[k]);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || path[strlen(argv[i]) + 1] == '.')
                continue;
            if (verbose)
                fprintf(stderr, "%s\n", path);
            if (run_file(path) == 0) ran++; else failed++;
        }
        free(names);
    }
    printf("fuzz_replay: %ld inputs replayed, %ld unreadable\n", ran, failed);
    return failed || ran == 0 ? 1 : 0;
}
