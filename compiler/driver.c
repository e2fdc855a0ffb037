/* driver.c - the one list of passes.
 *
 *   source -> ast_parse -> graph_check
 *          -> pass_choose_kernels -> pass_choose_algorithms -> pass_fuse_epilogues
 *          -> pass_fuse_pools
 *          -> pass_plan_layouts -> pass_schedule_parallel -> pass_pack_weights
 *          -> lower_graph                                      (driver_front)
 *          -> cg_compile                                       (driver_back)
 *
 * with a --dump hook after each step.  The commands that use the result
 * (cg_emit_objects_consume + jit_create_from_objects for run,
 * cg_emit_object_consume + header_write for compile)
 * are in cli/. */
#include "driver.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ast.h"
#include "lower.h"
#include "passes/passes.h"

/* Scripts larger than this are refused before reading (a .conv file is a
 * few lines; the limit only keeps a mistaken argument from eating memory). */
enum { MAX_SCRIPT_BYTES = 64 << 20 };

static void verror(FILE *out, const char *fmt, va_list ap)
{
    fputs("convc: error: ", out);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
}

int driver_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(stderr, fmt, ap);
    va_end(ap);
    return 1;
}

/* driver_error, to where the caller wants the compiler's messages. */
__attribute__((format(printf, 2, 3))) static void error_to(const CompileOptions *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(o->messages ? o->messages : stderr, fmt, ap);
    va_end(ap);
}

const char *driver_file_kind(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR:  return "a directory";
    case S_IFIFO:  return "a FIFO";
    case S_IFCHR:  return "a character device";
    case S_IFBLK:  return "a block device";
    case S_IFSOCK: return "a socket";
    default:       return "not a regular file";
    }
}

char *driver_read_stream(FILE *f, size_t max, size_t *len, int *err)
{
    size_t cap = 4096;
    *len = 0;
    *err = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (*len == cap) {
            if (cap > max) {
                *err = EFBIG;
                break;
            }
            char *t = cap > SIZE_MAX / 2 - 1 ? NULL : realloc(buf, cap * 2 + 1);
            if (!t) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = t;
            cap *= 2;
        }
        size_t got = fread(buf + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0)
            break;
    }
    if (!buf)
        *err = ENOMEM;
    else if (!*err && ferror(f))
        *err = errno ? errno : EIO;
    else if (!*err && *len > max)
        *err = EFBIG;
    if (*err) {
        free(buf);
        return NULL;
    }
    buf[*len] = '\0';
    return buf;
}

/* The script from standard input (`convc check -`), named "<stdin>". */
static bool read_script_stdin(Arena *a, Source *src, FILE *out)
{
    size_t len;
    int err;
    char *text = driver_read_stream(stdin, MAX_SCRIPT_BYTES, &len, &err);
    if (!text) {
        if (err == EFBIG)
            fprintf(out, "<stdin>: error: the script is more than %d MB; scripts are limited to %d MB\n",
                    MAX_SCRIPT_BYTES >> 20, MAX_SCRIPT_BYTES >> 20);
        else
            fprintf(out, "<stdin>: error: cannot read the script: %s\n",
                    err == ENOMEM ? "out of memory" : strerror(err));
        return false;
    }
    char *copy = arena_alloc(a, len + 1);
    memcpy(copy, text, len + 1);
    free(text);
    src->filename = "<stdin>";
    src->text = copy;
    src->len = len;
    return true;
}

/* Read the whole script with a NUL sentinel after it; "-" is standard
 * input. */
static bool read_script(Arena *a, const char *path, Source *src, FILE *out)
{
    if (strcmp(path, "-") == 0)
        return read_script_stdin(a, src, out);
    struct stat st;
    /* O_NONBLOCK: a FIFO would otherwise block the open until a writer
     * comes; it is refused below like anything else that is not a file. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(out, "%s: error: cannot open the script: %s\n", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) != 0) {
        fprintf(out, "%s: error: cannot open the script: %s\n", path, strerror(errno));
        close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(out, "%s: error: the script is %s, not a regular file\n", path,
                driver_file_kind(st.st_mode));
        close(fd);
        return false;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        fprintf(out, "%s: error: cannot open the script: %s\n", path, strerror(errno));
        close(fd);
        return false;
    }
    if (st.st_size > MAX_SCRIPT_BYTES) {
        fprintf(out, "%s: error: the script is %lld bytes; scripts are limited to %d MB\n", path,
                (long long)st.st_size, MAX_SCRIPT_BYTES >> 20);
        fclose(f);
        return false;
    }
    size_t cap = (size_t)st.st_size, len = 0;
    char *text = arena_alloc(a, cap + 1);
    for (;;) {
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
        if (len == cap)
            break;      /* the file grew while reading: take what stat said */
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(out, "%s: error: cannot read the script: %s\n", path, strerror(errno ? errno : EIO));
        return false;
    }
    text[len] = '\0';
    src->filename = path;
    src->text = text;
    src->len = len;
    return true;
}

const char *driver_dir_of(Arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    if (slash == path)
        return "/";
    return arena_strndup(a, path, (size_t)(slash - path));
}

static void dump_schedule(const CompileOptions *o, const Schedule *s, const char *pass)
{
    if (o->dump & DUMP_SCHEDULE)
        schedule_dump(stdout, s, pass);
}

bool driver_front(Arena *a, const CompileOptions *o, Compiled *c, bool want_ir,
                  const char *default_cpu)
{
    FILE *out = o->messages ? o->messages : stderr;
    if (!read_script(a, o->script, &c->src, out))
        return false;
    diag_init(&c->diag, &c->src, out);
    AstPipeline *ast = ast_parse(a, &c->diag, &c->src);
    if (!ast)
        return false;
    if (o->dump & DUMP_AST)
        ast_dump(stdout, ast);
    CheckOptions copt = { o->syms, o->nsyms, driver_dir_of(a, o->script), o->input_shapes,
                          o->ninput_shapes };
    c->graph = graph_check(a, &c->diag, ast, &copt);
    if (!c->graph)
        return false;
    Target target = target_scalar();
    char *err = NULL;
    if (!cg_target_info(o->cpu ? o->cpu : default_cpu, &target, &err)) {
        error_to(o, "%s", err ? err : "unknown target");
        free(err);
        return false;
    }
    if (o->no_kernels)
        target.vlen = 1;
    Schedule *sched = schedule_new(a, c->graph, &target);
    sched->policy = o->method;
    pass_choose_kernels(a, sched);
    dump_schedule(o, sched, "choose_kernels");
    pass_choose_algorithms(a, sched);
    dump_schedule(o, sched, "choose_algorithms");
    pass_fuse_epilogues(a, sched);
    dump_schedule(o, sched, "fuse_epilogues");
    pass_fuse_pools(a, sched);
    dump_schedule(o, sched, "fuse_pools");
    pass_plan_layouts(a, sched);
    dump_schedule(o, sched, "plan_layouts");
    pass_schedule_parallel(a, sched);
    dump_schedule(o, sched, "schedule_parallel");
    pass_pack_weights(a, sched);
    dump_schedule(o, sched, "pack_weights");
    c->sched = sched;
    if (!want_ir && !(o->dump & (DUMP_IR | DUMP_LLVM | DUMP_ASM)))
        return true;
    LowerOptions lopt = { .parallel = true };
    c->ir = lower_graph(a, c->graph, sched, &lopt);
    if (o->dump & DUMP_IR)
        ir_dump(stdout, c->ir);
    return true;
}

CgModule *driver_back(const CompileOptions *o, const IrProgram *ir, const char *default_cpu)
{
    CgTarget t = { o->cpu ? o->cpu : default_cpu, o->opt_level, o->profile, o->codegen_threads,
                   o->codegen_objects };
    char *err = NULL;
    CgModule *m = cg_compile(ir, &t, &err);
    if (!m) {
        error_to(o, "%s", err ? err : "code generation failed");
        free(err);
        return NULL;
    }
    if (o->dump & DUMP_LLVM)
        cg_print_llvm(m, stdout);
    if (o->dump & DUMP_ASM)
        cg_print_asm(m, stdout);
    return m;
}
