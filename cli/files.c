/* files.c - what convc reads and writes: targets checked before anything
 * is compiled, all outputs written or none. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convrt_abi.h"

/* ---- output files -------------------------------------------------------------
 *
 * Everything convc writes is checked before anything is compiled or run,
 * made completely (the run's output tensors; the object, assembly and
 * header in memory), and only then written: each into a temporary file
 * beside its target, and all of them renamed into place together
 * (convrt_outfile_commit), so a failure at any point leaves every existing
 * file as it was. */

/* The runtime's messages as convc's, after the context given as user
 * ("output 'y'"), if any. */
void report_to_stderr(void *user, int code, const char *message)
{
    const char *context = user;
    fprintf(stderr, "convc: error: %s%s%s\n", context ? context : "", context ? ": " : "", message);
}

void warn_to_stderr(void *user, int code, const char *message)
{
    fprintf(stderr, "convc: warning: %s\n", message);
}


FileRef file_ref(Arena *a, const char *what, const char *path)
{
    FileRef t = { .what = what, .path = path };
    const char *slash = strrchr(path, '/');
    t.base = slash ? slash + 1 : path;
    struct stat st;
    if (stat(driver_dir_of(a, path), &st) == 0) {
        t.has_dir = true;
        t.dir_dev = st.st_dev;
        t.dir_ino = st.st_ino;
    }
    if (stat(path, &st) == 0) {
        t.has_file = true;
        t.file_dev = st.st_dev;
        t.file_ino = st.st_ino;
    }
    return t;
}

static bool same_file(const FileRef *x, const FileRef *y)
{
    if (x->has_dir && y->has_dir && x->dir_dev == y->dir_dev && x->dir_ino == y->dir_ino &&
        !strcmp(x->base, y->base))
        return true;
    return x->has_file && y->has_file && x->file_dev == y->file_dev && x->file_ino == y->file_ino;
}

/* Outputs must be distinct files, and none of them a file convc reads. */
int check_targets(const FileRef *out, int nout, const FileRef *in, int nin)
{
    int errors = 0;
    for (int i = 0; i < nout; i++) {
        for (int j = 0; j < i; j++)
            if (same_file(&out[j], &out[i]))
                errors += fail("%s and %s are the same file; each output needs a file of its own",
                               out[j].what, out[i].what);
        for (int k = 0; k < nin; k++)
            if (same_file(&out[i], &in[k]))
                errors += fail("%s would overwrite %s", out[i].what, in[k].what);
    }
    return errors;
}

/* The script and the files it load()s: convc never writes over them. */
int read_files(Arena *a, const Options *o, const Graph *g, FileRef *in)
{
    int n = 0;
    if (!is_stdio(o->script))
        in[n++] = file_ref(a, arena_printf(a, "the script '%s'", o->script), o->script);
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *node = g->nodes.items[i];
        const char *d = node->desc;
        size_t len = d ? strlen(d) : 0;
        if (node->op != NODE_CONST || len < 7 || strncmp(d, "load \"", 6) || d[len - 1] != '"')
            continue;
        /* the checker's description, load "PATH", and its resolution */
        const char *file = arena_strndup(a, d + 6, len - 7);
        const char *path = file;
        const char *dir = driver_dir_of(a, o->script);
        if (file[0] != '/' && dir[0])
            path = arena_printf(a, "%s/%s", dir, file);
        in[n++] = file_ref(a, arena_printf(a, "'%s', which the script loads", path), path);
    }
    return n;
}

/* While temporary files exist, Ctrl-C and the like wait: the files are
 * finished and renamed (or removed) first, then the signal ends convc. */
void hold_signals(bool hold, sigset_t *saved)
{
    if (!hold) {
        sigprocmask(SIG_SETMASK, saved, NULL);
        return;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, saved);
}

/* Write each bytes[i] to paths[i], all or nothing. */
int write_files(const char *const *paths, char *const *bytes, const size_t *lens, int n)
{
    convrt_outfile *files[2] = { NULL, NULL };
    sigset_t saved;
    hold_signals(true, &saved);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = convrt_outfile_open(paths[i], &files[i]);
        if (rc == 0 && fwrite(bytes[i], 1, lens[i], convrt_outfile_stream(files[i])) != lens[i])
            rc = fail("cannot save '%s': %s", paths[i], strerror(errno ? errno : EIO));
    }
    if (rc != 0) {
        for (int i = 0; i < n; i++)
            convrt_outfile_discard(files[i]);
    } else {
        rc = convrt_outfile_commit(files, n);
    }
    hold_signals(false, &saved);
    return rc != 0;
}

