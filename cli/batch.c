/* batch.c - convc run over many files.  An input given as a pattern
 * (img='*.png') makes run compile the pipeline once and run it on
 * every file the pattern matches, in sorted order; each output is named by
 * a template (-o mag='edges/{stem}.png').  Files are read and written as
 * by a single run (inputs.c, outputs.c): FILE.npz:KEY inputs (also as a
 * pattern, 'runs/r*.npz:x'), options per output file, several files per
 * output, sound outputs at the rate of the item's sound inputs.  See
 * docs/language.md, "Many files".
 *
 *   - Several patterns are paired in sorted order and must match as many
 *     files each; an input given as a plain file is the same for every
 *     item and is read once.
 *   - Every output name of every item is made and checked before anything
 *     runs: no two items may write the same file, none may write over an
 *     input, the script or a load()ed file.
 *   - Each item is run like a single `convc run`: its outputs are written
 *     all or none.  An item that fails is reported (its messages name its
 *     files) and the others go on; the exit status is 1 if any failed.
 *   - With T threads and N items, N >= 2T runs T items at a time, each on
 *     one thread; otherwise one item at a time with all T threads.
 *   - On a terminal, stderr shows a progress line; a summary line ends
 *     the batch in every case.
 *   - SIGINT, SIGTERM, SIGHUP and SIGQUIT stop the batch once the items in
 *     progress are finished and written; then the signal ends convc. */
#include "cli.h"

#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jit.h"

typedef struct Batch {
    Arena           *a;
    const Options   *o;
    Compiled        *c;
    const IrProgram *ir;
    int32_t          ni, no;
    InputFile       *in;        /* [ni] a plain file or a pattern, each with its .npz key */
    const char     **given;     /* [ni] the argument as given */
    const char    ***matches;   /* [ni] a pattern's files, sorted, or NULL */
    convrt_tensor   *shared;    /* [ni] the plain files, read once */
    int32_t         *shared_rate;   /* [ni] and their sample rates */
    OutputFile      *outf;      /* [nout] -o: its path is a template */
    int              nout;
    int32_t          lead;      /* the pattern input templates refer to */
    int64_t          n;         /* items */
    const char     **out_path;  /* [n * nout] */
    const convrt_pipeline *p;
    bool             concurrent;

    pthread_mutex_t  lock;      /* stderr, the counts below, c->diag */
    atomic_llong     next;
    int64_t          done, failed;
    bool            *item_failed;
    bool             tty, bar_shown;
    double           t_start, t_drawn;
} Batch;

/* ---- patterns and templates ------------------------------------------------------ */

static bool is_pattern(const InputFile *in)
{
    return strpbrk(in->path, "*?[") != NULL;
}

bool batch_requested(const Options *o)
{
    Arena a;
    arena_init(&a);
    bool any = false;
    for (int i = 0; i < o->ninputs && !any; i++) {
        InputFile in = input_file(&a, o->inputs[i].file);
        any = is_pattern(&in);
    }
    arena_free(&a);
    return any;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The files (not directories) matching pattern, in byte order; NULL after
 * an error.  *count is their number. */
static const char **expand_pattern(Arena *a, const char *what, const char *pattern, int64_t *count)
{
    glob_t g;
    int rc = glob(pattern, GLOB_NOSORT | GLOB_MARK, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        if (rc == 0)
            globfree(&g);
        fail("%s: no file matches '%s'", what, pattern);
        return NULL;
    }
    if (rc != 0) {
        fail("%s: cannot expand '%s': %s", what, pattern,
             rc == GLOB_NOSPACE ? "out of memory" : "a directory cannot be read");
        return NULL;
    }
    const char **files = arena_array(a, g.gl_pathc + 1, sizeof(char *));
    int64_t n = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t len = strlen(g.gl_pathv[i]);
        if (len && g.gl_pathv[i][len - 1] == '/')
            continue;       /* GLOB_MARK: a directory */
        files[n++] = arena_strndup(a, g.gl_pathv[i], len);
    }
    globfree(&g);
    if (n == 0) {
        fail("%s: '%s' matches only directories", what, pattern);
        return NULL;
    }
    qsort(files, (size_t)n, sizeof *files, cmp_str);
    *count = n;
    return files;
}

/* Output name template t for the item whose lead file is path (item i
 * of n, from 0): {name} a.png, {stem} a, {ext} png, {dir} photos (or .),
 * {i} the item's number from 1, as wide as n's; {{ and }} are braces.
 * NULL with *bad set to the offending text after a mistake. */
static const char *expand_template(Arena *a, const char *t, const char *path, int64_t i, int64_t n,
                                   const char **bad)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    const char *dir = slash ? (slash == path ? "/" : arena_strndup(a, path, (size_t)(slash - path))) : ".";
    const char *dot = strrchr(name, '.');
    if (dot == name)
        dot = NULL;         /* ".profile": all stem */
    const char *stem = dot ? arena_strndup(a, name, (size_t)(dot - name)) : name;
    const char *ext = dot ? dot + 1 : "";
    int width = 1;
    for (int64_t k = n; k >= 10; k /= 10)
        width++;
    const char *out = "";
    const char *p = t;
    while (*p) {
        const char *brace = strpbrk(p, "{}");
        if (!brace) {
            out = arena_printf(a, "%s%s", out, p);
            break;
        }
        out = arena_printf(a, "%s%.*s", out, (int)(brace - p), p);
        if (brace[0] == brace[1]) {     /* {{ or }} */
            out = arena_printf(a, "%s%c", out, brace[0]);
            p = brace + 2;
            continue;
        }
        const char *close = brace[0] == '{' ? strchr(brace, '}') : NULL;
        if (!close) {
            *bad = arena_printf(a, "unmatched '%c'", brace[0]);
            return NULL;
        }
        size_t len = (size_t)(close - brace - 1);
        const char *field = brace + 1;
        if (len == 4 && !strncmp(field, "name", 4))
            out = arena_printf(a, "%s%s", out, name);
        else if (len == 4 && !strncmp(field, "stem", 4))
            out = arena_printf(a, "%s%s", out, stem);
        else if (len == 3 && !strncmp(field, "ext", 3))
            out = arena_printf(a, "%s%s", out, ext);
        else if (len == 3 && !strncmp(field, "dir", 3))
            out = arena_printf(a, "%s%s", out, dir);
        else if (len == 1 && field[0] == 'i')
            out = arena_printf(a, "%s%0*lld", out, width, (long long)(i + 1));
        else {
            *bad = arena_printf(a, "unknown field '{%.*s}' (known: {stem} {name} {ext} {dir} {i})", (int)len,
                                field);
            return NULL;
        }
        p = close + 1;
    }
    return out;
}

/* ---- every target checked before anything runs ------------------------------------
 *
 * check_targets (files.c) compares every pair, which is too slow for
 * thousands of files: here the references are sorted by where they lead,
 * and only neighbours are compared. */

typedef struct Ref {
    const FileRef *f;
    bool           output;
} Ref;

static int cmp_dir_entry(const void *x, const void *y)
{
    const FileRef *a = ((const Ref *)x)->f, *b = ((const Ref *)y)->f;
    if (a->dir_dev != b->dir_dev)
        return a->dir_dev < b->dir_dev ? -1 : 1;
    if (a->dir_ino != b->dir_ino)
        return a->dir_ino < b->dir_ino ? -1 : 1;
    return strcmp(a->base, b->base);
}

static int cmp_file(const void *x, const void *y)
{
    const FileRef *a = ((const Ref *)x)->f, *b = ((const Ref *)y)->f;
    if (a->file_dev != b->file_dev)
        return a->file_dev < b->file_dev ? -1 : 1;
    return a->file_ino < b->file_ino ? -1 : a->file_ino > b->file_ino;
}

enum { MAX_COLLISIONS_SHOWN = 5 };

/* Report runs of equal references that hold an output and anything else. */
static int report_collisions(Ref *refs, size_t n, int (*cmp)(const void *, const void *), int *shown)
{
    qsort(refs, n, sizeof *refs, cmp);
    int errors = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && cmp(&refs[i], &refs[j]) == 0)
            j++;
        /* within [i, j): the first output against every other member */
        size_t out = i;
        while (out < j && !refs[out].output)
            out++;
        for (size_t k = i; out < j && k < j; k++) {
            if (k == out)
                continue;
            errors++;
            if ((*shown)++ >= MAX_COLLISIONS_SHOWN)
                continue;
            if (refs[k].output)
                fail("%s and %s are the same file; each output needs a file of its own "
                     "(use {stem}, {name} or {i} in -o)", refs[out].f->what, refs[k].f->what);
            else
                fail("%s would overwrite %s", refs[out].f->what, refs[k].f->what);
        }
        i = j;
    }
    return errors;
}

static int check_batch_targets(Batch *b)
{
    Arena *a = b->a;
    size_t cap = (size_t)(b->n * b->nout + b->n * b->ni + b->c->graph->nodes.len + 1);
    FileRef *refs = arena_array(a, cap, sizeof(FileRef));
    Ref *list = arena_array(a, cap, sizeof(Ref));
    size_t n = 0;
    for (int64_t i = 0; i < b->n; i++)
        for (int k = 0; k < b->nout; k++) {
            const char *path = b->out_path[i * b->nout + k];
            const char *lead = b->matches[b->lead][i];
            refs[n] = file_ref(a, arena_printf(a, "%s ('%s') for %s", b->outf[k].context, path, lead), path);
            list[n] = (Ref){ &refs[n], true };
            n++;
        }
    int nread = read_files(a, b->o, b->c->graph, refs + n);
    for (int r = 0; r < nread; r++, n++)
        list[n] = (Ref){ &refs[n], false };
    for (int32_t k = 0; k < b->ni; k++) {
        const char *name = ir_arg_name(b->ir, k);
        for (int64_t i = 0; i < (b->matches[k] ? b->n : 1); i++) {
            const char *path = b->matches[k] ? b->matches[k][i] : b->in[k].path;
            refs[n] = file_ref(a, arena_printf(a, "input '%s' ('%s')", name, path), path);
            list[n] = (Ref){ &refs[n], false };
            n++;
        }
    }
    /* Sorting by directory entry needs one; by file, an existing file. */
    Ref *sub = arena_array(a, n + 1, sizeof(Ref));
    int shown = 0, errors = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i].f->has_dir)
            sub[m++] = list[i];
    errors += report_collisions(sub, m, cmp_dir_entry, &shown);
    if (!errors) {      /* else the same pairs would be reported twice */
        m = 0;
        for (size_t i = 0; i < n; i++)
            if (list[i].f->has_file)
                sub[m++] = list[i];
        errors += report_collisions(sub, m, cmp_file, &shown);
    }
    if (shown > MAX_COLLISIONS_SHOWN)
        fail("... and %d more", shown - MAX_COLLISIONS_SHOWN);
    return errors;
}

/* ---- progress ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *clock_str(char *buf, size_t size, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

/* With the lock held: the progress line, at most ten times a second. */
static void draw_bar(Batch *b, bool force)
{
    double t = now_s();
    if (!b->tty || (!force && t - b->t_drawn < 0.1))
        return;
    b->t_drawn = t;
    enum { WIDTH = 24 };
    int filled = (int)(b->done * WIDTH / b->n);
    double rate = b->done / (t - b->t_start);
    char left[32];
    fprintf(stderr, "\r\033[K[%.*s%*s] %lld/%lld  %.1f files/s  %s left", filled,
            "########################", WIDTH - filled, "", (long long)b->done, (long long)b->n,
            rate, b->done ? clock_str(left, sizeof left, (b->n - b->done) / rate) : "-:--");
    b->bar_shown = true;
}

/* With the lock held: the progress line off, for a message. */
static void clear_bar(Batch *b)
{
    if (b->bar_shown)
        fputs("\r\033[K", stderr);
    b->bar_shown = false;
}

/* ---- messages from any thread ------------------------------------------------------
 *
 * The runtime's error handler is process-wide; an item's messages are
 * told apart by the thread (or, one item at a time, by the batch) that
 * runs it. */

typedef struct ItemState {
    const char *context;    /* "output 'y'", or NULL */
    const OutputFile *out;  /* the file being written, or NULL */
    bool        capture;    /* keep the message for report_run_failure */
    char       *captured;
} ItemState;

static _Thread_local ItemState *this_item;
static ItemState *running_item;     /* one item at a time: any thread's */

static ItemState *item_state(void)
{
    return this_item ? this_item : running_item;
}

static void batch_error(void *user, int code, const char *message)
{
    (void)code;
    Batch *b = user;
    ItemState *s = item_state();
    if (s && s->capture) {
        free(s->captured);
        s->captured = strdup(message);
        return;
    }
    pthread_mutex_lock(&b->lock);
    clear_bar(b);
    const char *ctx = s ? s->context : NULL;
    fprintf(stderr, "convc: error: %s%s%s\n", ctx ? ctx : "", ctx ? ": " : "", message);
    pthread_mutex_unlock(&b->lock);
}

static void batch_warning(void *user, int code, const char *message)
{
    Batch *b = user;
    ItemState *s = item_state();
    const OutputFile *f = s ? s->out : NULL;
    pthread_mutex_lock(&b->lock);
    clear_bar(b);
    if (f)
        fprintf(stderr, "convc: warning: %s: %s%s\n", f->context, message, output_warning_hint(f, code));
    else
        fprintf(stderr, "convc: warning: %s\n", message);
    pthread_mutex_unlock(&b->lock);
}

/* An item's own error (not the runtime's), from any thread. */
static void item_error(Batch *b, const char *message)
{
    pthread_mutex_lock(&b->lock);
    clear_bar(b);
    fprintf(stderr, "convc: error: %s\n", message);
    pthread_mutex_unlock(&b->lock);
}

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

/* ---- one item -------------------------------------------------------------------- */

typedef int (*PipelineStep)(const convrt_pipeline *p, convrt_tensor *const *args);

static int step(Batch *b, ItemState *s, Arena *a, const char **in_file, convrt_tensor *t,
                convrt_tensor **args, PipelineStep fn)
{
    s->capture = true;
    int rc = fn(b->p, args);
    s->capture = false;
    if (rc != 0) {
        pthread_mutex_lock(&b->lock);
        clear_bar(b);
        report_run_failure(a, b->c, in_file, t, rc, s->captured ? s->captured : convrt_strerror(rc));
        pthread_mutex_unlock(&b->lock);
    }
    free(s->captured);
    s->captured = NULL;
    return rc;
}

static int run_item(Batch *b, int64_t i)
{
    int32_t ni = b->ni, no = b->no;
    int nout = b->nout;
    ItemState s = { 0 };
    this_item = &s;
    if (!b->concurrent)
        running_item = &s;  /* the pool's threads report for it too */
    Arena a;
    arena_init(&a);
    const char **in_file = arena_array(&a, (size_t)ni + 1, sizeof(char *));
    int32_t *rate = arena_array(&a, (size_t)ni + 1, sizeof(int32_t));
    convrt_tensor *t = arena_array(&a, (size_t)(ni + no) + 1, sizeof(convrt_tensor));
    convrt_tensor **args = arena_array(&a, (size_t)(ni + no) + 1, sizeof(convrt_tensor *));
    convrt_outfile **files = arena_array(&a, (size_t)nout + 1, sizeof(convrt_outfile *));
    /* this item's files: the templates' options, its paths and rates */
    OutputFile *out = arena_array(&a, (size_t)nout + 1, sizeof(OutputFile));
    int nfiles = 0, rc = 1;
    for (int32_t k = 0; k < ni; k++) {
        args[k] = &t[k];
        if (!b->matches[k]) {
            in_file[k] = b->given[k];
            t[k] = b->shared[k];
            rate[k] = b->shared_rate[k];
            continue;
        }
        InputFile in = { b->matches[k][i], b->in[k].key };
        in_file[k] = in.key ? arena_printf(&a, "%s:%s", in.path, in.key) : in.path;
        if (input_load(&in, &t[k], &rate[k]) != 0)
            goto out;
    }
    for (int k = 0; k < nout; k++) {
        out[k] = b->outf[k];
        out[k].path = b->out_path[i * nout + k];
        const char *why = NULL;
        if (out[k].audio && (out[k].opt.rate = output_rate(&a, b->o, b->c->graph, rate, &out[k], &why)) == 0) {
            item_error(b, arena_printf(&a, "%s ('%s') for %s: %s", out[k].context, out[k].path,
                                       b->matches[b->lead][i], why));
            goto out;
        }
    }
    for (int32_t k = 0; k < no; k++)
        args[ni + k] = &t[ni + k];
    if (step(b, &s, &a, in_file, t, args, convrt_pipeline_output_shapes) != 0)
        goto out;
    for (int k = 0; k < nout; k++) {
        s.context = out[k].context;
        if (convrt_save_check_with(out[k].path, &t[ni + out[k].index], &out[k].opt) != 0)
            goto out;
    }
    s.context = NULL;
    for (int32_t k = 0; k < no; k++) {
        int64_t dims[CONVRT_MAX_RANK];
        memcpy(dims, t[ni + k].dims, sizeof dims);
        if (convrt_tensor_alloc(&t[ni + k], t[ni + k].rank, dims) != 0)
            goto out;
    }
    if (step(b, &s, &a, in_file, t, args, convrt_pipeline_run) != 0)
        goto out;
    for (int k = 0; k < nout; k++) {
        s.context = out[k].context;
        s.out = &out[k];
        if (convrt_outfile_open(out[k].path, &files[nfiles]) != 0)
            goto out;
        if (convrt_save_to_with(files[nfiles++], &t[ni + out[k].index], &out[k].opt) != 0)
            goto out;
    }
    s.context = NULL;
    s.out = NULL;
    rc = convrt_outfile_commit(files, nfiles) != 0;
    nfiles = 0;
out:
    for (int k = 0; k < nfiles; k++)
        convrt_outfile_discard(files[k]);
    for (int32_t k = 0; k < ni + no; k++)
        if (k >= ni || b->matches[k])
            convrt_tensor_free(&t[k]);
    arena_free(&a);
    this_item = NULL;
    running_item = NULL;

    pthread_mutex_lock(&b->lock);
    b->done++;
    if (rc != 0) {
        b->failed++;
        b->item_failed[i] = true;
    }
    draw_bar(b, b->done == b->n);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static void run_items(Batch *b)
{
    while (!stop_signal) {
        int64_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n)
            break;
        run_item(b, i);
    }
}

/* One chunk per thread; each takes items until none is left. */
static void worker(void *ctx, int64_t begin, int64_t end)
{
    (void)begin;
    (void)end;
    run_items(ctx);
}

/* ---- convc run with patterns ------------------------------------------------------ */

/* Which file or pattern each input gets, and which templates each output:
 * every name must mean something and every input be given. */
static int bind_names(Batch *b)
{
    const Options *o = b->o;
    const IrProgram *ir = b->ir;
    int errors = 0;
    b->lead = -1;
    for (int i = 0; i < o->ninputs; i++) {
        int32_t k = -1;
        for (int32_t j = 0; j < ir->nbuffers; j++)
            if (ir->buffers[j].kind == IR_BUF_INPUT && !strcmp(ir->buffers[j].name, o->inputs[i].name))
                k = ir->buffers[j].abi_index;
        if (k < 0) {
            errors += no_such_arg(ir, IR_BUF_INPUT, o->inputs[i].name);
            continue;
        }
        if (b->given[k]) {
            errors += fail("input '%s' is given twice", o->inputs[i].name);
            continue;
        }
        const char *v = b->given[k] = o->inputs[i].file;
        if (is_stdio(v)) {
            errors += fail("input '%s' is '-', but standard input is not read in a run over many files; "
                           "give a file", o->inputs[i].name);
            continue;
        }
        b->in[k] = input_file(b->a, v);
        if (!is_pattern(&b->in[k]))
            continue;
        int64_t count = 0;
        b->matches[k] = expand_pattern(b->a, arena_printf(b->a, "input '%s'", o->inputs[i].name), b->in[k].path,
                                       &count);
        if (!b->matches[k]) {
            errors++;
        } else if (b->lead < 0) {
            b->lead = k;
            b->n = count;
        } else if (count != b->n) {
            errors += fail("input '%s' matches %lld file%s but input '%s' matches %lld; patterns are paired "
                           "in sorted order and must match as many files each", o->inputs[i].name,
                           (long long)count, count == 1 ? "" : "s", ir_arg_name(ir, b->lead), (long long)b->n);
        }
    }
    for (int32_t k = 0; k < b->ni; k++)
        if (!b->given[k])
            errors += fail("input '%s' is not given (add %s=FILE)", ir_arg_name(ir, k), ir_arg_name(ir, k));
    errors += outputs_parse(b->a, o, ir, &b->outf, &b->nout);
    for (int k = 0; k < b->nout; k++)
        if (is_stdio(b->outf[k].path))
            errors += fail("%s is '-', but standard output cannot take one result per file; name the files "
                           "with a template such as -o %s='out/{stem}.npy'", b->outf[k].context, b->outf[k].name);
    return errors;
}

/* A template with a field in it: a brace that is not doubled. */
static bool has_field(const char *t)
{
    for (const char *p = strchr(t, '{'); p; p = strchr(p + 2, '{'))
        if (p[1] != '{')
            return true;
    return false;
}

/* Whether sound output f has a rate for item i as far as the file names
 * tell: some sound input leads to it (their rates are compared once read). */
static int check_rate_known(Batch *b, const OutputFile *f, int64_t i)
{
    if (!f->audio || b->o->rate)
        return 0;
    int32_t *sound = arena_array(b->a, (size_t)b->ni + 1, sizeof(int32_t));
    for (int32_t k = 0; k < b->ni; k++) {
        InputFile in = { b->matches[k] ? b->matches[k][i] : b->in[k].path, b->in[k].key };
        sound[k] = input_is_sound(&in);     /* one made-up rate for all */
    }
    const char *why = NULL;
    if (output_rate(b->a, b->o, b->c->graph, sound, f, &why))
        return 0;
    return fail("%s ('%s') for %s: %s", f->context, b->out_path[i * b->nout + (f - b->outf)],
                b->matches[b->lead][i], why);
}

/* Every output name of every item, checked as far as the script fixes
 * the shapes and the file names the rates. */
static int make_output_names(Batch *b)
{
    int errors = 0;
    b->out_path = arena_array(b->a, (size_t)(b->n * b->nout) + 1, sizeof(char *));
    for (int k = 0; k < b->nout; k++) {
        const OutputFile *f = &b->outf[k];
        if (b->n > 1 && !has_field(f->path)) {
            errors += fail("%s: -o '%s' names one file for all %lld files; put {stem}, {name} or {i} in it",
                           f->context, f->path, (long long)b->n);
            continue;
        }
        convrt_tensor shape = known_shape(b->ir, f->index);
        convrt_set_error_handler(report_to_stderr, (void *)f->context);
        for (int64_t i = 0; i < b->n; i++) {
            const char *bad = NULL;
            const char *path = expand_template(b->a, f->path, b->matches[b->lead][i], i, b->n, &bad);
            if (!path) {
                errors += fail("%s: -o '%s': %s", f->context, f->path, bad);
                break;
            }
            b->out_path[i * b->nout + k] = path;
            if (convrt_save_check_with(path, &shape, &f->opt) != 0 && ++errors >= MAX_COLLISIONS_SHOWN)
                break;
            if (check_rate_known(b, f, i) != 0) {
                errors++;
                break;      /* the same for the next items, most likely */
            }
        }
    }
    convrt_set_error_handler(NULL, NULL);
    return errors;
}

static void summary(Batch *b, double seconds)
{
    int64_t ok = b->done - b->failed;
    fprintf(stderr, "convc: %lld of %lld file%s done in %.2f s (%.1f files/s)", (long long)ok,
            (long long)b->n, b->n == 1 ? "" : "s", seconds, seconds > 0 ? b->done / seconds : 0.0);
    if (b->failed) {
        fprintf(stderr, "; %lld failed:", (long long)b->failed);
        int64_t listed = 0;
        for (int64_t i = 0; i < b->n && listed < 10; i++)
            if (b->item_failed[i])
                fprintf(stderr, "%s %s", listed++ ? "," : "", b->matches[b->lead][i]);
        if (b->failed > listed)
            fprintf(stderr, ", and %lld more", (long long)(b->failed - listed));
    }
    if (stop_signal)
        fprintf(stderr, "; interrupted (%s), %lld not run", strsignal(stop_signal), (long long)(b->n - b->done));
    fputc('\n', stderr);
}

int cmd_run_batch(Arena *a, const Options *o)
{
    Compiled c;
    memset(&c, 0, sizeof c);
    if (!cli_front(a, o, &c, true, "native"))
        return 1;
    Batch *b = arena_alloc(a, sizeof *b);
    memset(b, 0, sizeof *b);
    b->a = a;
    b->o = o;
    b->c = &c;
    b->ir = c.ir;
    b->ni = c.ir->ninputs;
    b->no = c.ir->noutputs;
    b->in = arena_array(a, (size_t)b->ni + 1, sizeof(InputFile));
    b->given = arena_array(a, (size_t)b->ni + 1, sizeof(char *));
    b->matches = arena_array(a, (size_t)b->ni + 1, sizeof(char **));
    b->shared = arena_array(a, (size_t)b->ni + 1, sizeof(convrt_tensor));
    b->shared_rate = arena_array(a, (size_t)b->ni + 1, sizeof(int32_t));
    if (bind_names(b) || b->lead < 0 || make_output_names(b) || check_batch_targets(b))
        return 1;
    outputs_warn_unused_rate(o, b->outf, b->nout);

    int rc = 1;
    Jit *jit = NULL;
    convrt_set_error_handler(report_to_stderr, NULL);
    convrt_set_warning_handler(warn_to_stderr, NULL);
    for (int32_t k = 0; k < b->ni; k++)
        if (!b->matches[k] && input_load(&b->in[k], &b->shared[k], &b->shared_rate[k]) != 0)
            goto out;
    jit = cli_jit(o, &c, "native");
    if (!jit)
        goto out;
    b->p = jit_pipeline(jit);
    if (!b->p) {
        fail("the compiled module has no pipeline descriptor");
        goto out;
    }

    if (o->threads)
        convrt_set_num_threads(o->threads);
    int threads = convrt_get_num_threads();
    b->concurrent = threads > 1 && b->n >= 2 * (int64_t)threads;
    if (o->verbose)
        fprintf(stderr, "convc: %lld files, %d thread%s: %s\n", (long long)b->n, threads, threads == 1 ? "" : "s",
                b->concurrent ? "one file per thread, several at a time" : "one file at a time, all threads on it");
    b->item_failed = arena_array(a, (size_t)b->n + 1, sizeof(bool));
    b->tty = isatty(STDERR_FILENO);
    pthread_mutex_init(&b->lock, NULL);
    atomic_init(&b->next, 0);
    b->t_start = b->t_drawn = now_s();
    draw_bar(b, true);

    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    struct sigaction stop, saved[4];
    memset(&stop, 0, sizeof stop);
    stop.sa_handler = on_stop_signal;
    sigemptyset(&stop.sa_mask);
    for (int s = 0; s < 4; s++)
        sigaction(sigs[s], &stop, &saved[s]);
    convrt_set_error_handler(batch_error, b);
    convrt_set_warning_handler(batch_warning, b);
    if (b->concurrent)
        convrt_parallel_for(threads, worker, b);
    else
        run_items(b);
    convrt_set_error_handler(report_to_stderr, NULL);
    convrt_set_warning_handler(warn_to_stderr, NULL);
    pthread_mutex_lock(&b->lock);
    clear_bar(b);
    summary(b, now_s() - b->t_start);
    pthread_mutex_unlock(&b->lock);
    if (o->noutputs == 0)
        fprintf(stderr, "convc: note: no -o NAME=FILE given; the results were computed and not written\n");
    for (int s = 0; s < 4; s++)
        sigaction(sigs[s], &saved[s], NULL);
    rc = b->failed || stop_signal ? 1 : 0;
    pthread_mutex_destroy(&b->lock);
out:
    jit_free(jit);
    for (int32_t k = 0; k < b->ni; k++)
        convrt_tensor_free(&b->shared[k]);
    convrt_set_error_handler(NULL, NULL);
    convrt_set_warning_handler(NULL, NULL);
    if (stop_signal) {
        signal(stop_signal, SIG_DFL);
        raise(stop_signal);
    }
    return rc;
}
