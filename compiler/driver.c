/* driver.c - the command line and the one list of passes.
 *
 *   source -> ast_parse -> graph_check
 *          -> pass_choose_kernels -> pass_choose_algorithms -> pass_fuse_epilogues
 *          -> pass_fuse_pools
 *          -> pass_plan_layouts -> pass_schedule_parallel -> pass_pack_weights
 *          -> lower_graph -> cg_compile
 *          -> jit_create (run) | cg_emit_object_consume + header_write (compile)
 *
 * with a --dump hook after each step (front_and_middle below is the list).
 * Diagnostics go to stderr; tables and dumps to stdout. */
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ast.h"
#include "codegen.h"
#include "convrt_abi.h"
#include "factor.h"
#include "graph.h"
#include "header.h"
#include "ir.h"
#include "jit.h"
#include "lower.h"
#include "passes/passes.h"
#include "schedule.h"

#define CONVC_VERSION "0.1.0"

/* Scripts larger than this are refused before reading (a .conv file is a
 * few lines; the limit only keeps a mistaken argument from eating memory). */
enum { MAX_SCRIPT_BYTES = 64 << 20 };

typedef enum Dump {
    DUMP_NONE = 0, DUMP_AST = 1, DUMP_IR = 2, DUMP_LLVM = 4, DUMP_ASM = 8, DUMP_SCHEDULE = 16,
} Dump;

typedef struct Pair {
    const char *name, *file;
} Pair;

typedef struct Options {
    const char *command;
    const char *script;
    unsigned    dump;
    const char *cpu;
    int         opt_level;
    int         threads;
    Pair       *inputs;  int ninputs;
    Pair       *outputs; int noutputs;
    SymBinding *syms;    int nsyms;
    const char *object;      /* compile -o */
    const char *header;      /* compile --header */
    const char *emit;        /* compile --emit */
    bool        no_kernels;  /* --no-kernels: reference scalar nests only */
    MethodPolicy method;     /* --method=direct|auto|script */
} Options;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: convc check SCRIPT [SYM=N ...] [--dump=ast|ir]\n"
            "       convc run SCRIPT NAME=FILE ... -o NAME=FILE ... [options]\n"
            "       convc compile SCRIPT -o FILE.o [--header FILE.h] [--emit=obj|asm|llvm] [options]\n"
            "\n"
            "  check    parse and shape-check; print every stage with its output shape,\n"
            "           MACs and receptive field (SYM=N binds a size symbol)\n"
            "  run      compile in memory and run; inputs and outputs by name, as .npy,\n"
            "           .png, .pgm or .ppm (images: gray -> [H, W], RGB -> [3, H, W], in [0, 1])\n"
            "  compile  write a relocatable object and a C header for the runtime library\n"
            "\n"
            "options:\n"
            "  --dump=ast|schedule|ir|llvm|asm\n"
            "                           print a stage of compilation (repeatable, or comma-separated);\n"
            "                           schedule: the decisions after each optimisation pass\n"
            "  --no-kernels             compute every stage with the reference scalar loops\n"
            "  --method=direct|auto|script\n"
            "                           direct: every sum in the order written, whatever the\n"
            "                           script's method= options; auto: the compiler picks\n"
            "                           (separable filters too) everywhere; script (default)\n"
            "  --target-cpu=CPU         native (default for run), x86-64-v3 (default for compile),\n"
            "                           x86-64-v4, znver4, ...\n"
            "  -O0 .. -O3               optimisation level (default -O3)\n"
            "  --threads N              worker threads for run (default: all cores, or\n"
            "                           CONVRT_NUM_THREADS)\n"
            "  --version, --help\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("convc: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static bool parse_dump(const char *v, unsigned *dump)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "ast")) *dump |= DUMP_AST;
        else if (!strcmp(tok, "ir") || !strcmp(tok, "loops")) *dump |= DUMP_IR;
        else if (!strcmp(tok, "llvm")) *dump |= DUMP_LLVM;
        else if (!strcmp(tok, "asm")) *dump |= DUMP_ASM;
        else if (!strcmp(tok, "schedule")) *dump |= DUMP_SCHEDULE;
        else return false;
    }
    return true;
}

static bool is_ident(const char *s, size_t n)
{
    if (n == 0 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* NAME=VALUE with NAME an identifier. */
static bool split_pair(Arena *a, const char *arg, Pair *out)
{
    const char *eq = strchr(arg, '=');
    if (!eq || !is_ident(arg, (size_t)(eq - arg)) || !eq[1])
        return false;
    out->name = arena_strndup(a, arg, (size_t)(eq - arg));
    out->file = eq + 1;
    return true;
}

static int parse_args(Arena *a, int argc, char **argv, Options *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = 3;
    o->inputs = arena_array(a, (size_t)argc, sizeof(Pair));
    o->outputs = arena_array(a, (size_t)argc, sizeof(Pair));
    o->syms = arena_array(a, (size_t)argc, sizeof(SymBinding));
    o->command = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (!strncmp(arg, "--dump=", 7)) {
            if (!parse_dump(arg + 7, &o->dump))
                return fail("unknown --dump '%s' (ast, schedule, ir, llvm or asm)", arg + 7);
        } else if (!strcmp(arg, "--no-kernels")) {
            o->no_kernels = true;
        } else if (!strncmp(arg, "--method=", 9)) {
            if (!strcmp(arg + 9, "direct"))
                o->method = POLICY_DIRECT;
            else if (!strcmp(arg + 9, "auto"))
                o->method = POLICY_AUTO;
            else if (!strcmp(arg + 9, "script"))
                o->method = POLICY_SCRIPT;
            else
                return fail("unknown --method '%s' (direct, auto or script)", arg + 9);
        } else if (!strncmp(arg, "--target-cpu=", 13)) {
            o->cpu = arg + 13;
        } else if (!strncmp(arg, "--threads=", 10) || !strcmp(arg, "--threads")) {
            const char *v = arg[9] == '=' ? arg + 10 : (i + 1 < argc ? argv[++i] : "");
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 1024)
                return fail("--threads needs a number from 1 to 1024, got '%s'", v);
            o->threads = (int)n;
        } else if (arg[0] == '-' && arg[1] == 'O' && arg[2] >= '0' && arg[2] <= '3' && !arg[3]) {
            o->opt_level = arg[2] - '0';
        } else if (!strncmp(arg, "--emit=", 7)) {
            o->emit = arg + 7;
            if (strcmp(o->emit, "obj") && strcmp(o->emit, "asm") && strcmp(o->emit, "llvm"))
                return fail("unknown --emit '%s' (obj, asm or llvm)", o->emit);
        } else if (!strcmp(arg, "--header") || !strncmp(arg, "--header=", 9)) {
            if (arg[8] == '=')
                o->header = arg + 9;
            else if (i + 1 < argc)
                o->header = argv[++i];
            else
                return fail("--header needs a file name");
        } else if (!strcmp(arg, "-o")) {
            if (i + 1 >= argc)
                return fail("-o needs %s", !strcmp(o->command, "run") ? "NAME=FILE" : "a file name");
            const char *v = argv[++i];
            if (!strcmp(o->command, "compile")) {
                if (o->object)
                    return fail("-o is given twice");
                o->object = v;
            } else if (!split_pair(a, v, &o->outputs[o->noutputs++])) {
                return fail("-o needs NAME=FILE, got '%s'", v);
            }
        } else if (arg[0] == '-' && arg[1]) {
            return fail("unknown option '%s' (see convc --help)", arg);
        } else if (!o->script) {
            o->script = arg;
        } else if (!strcmp(o->command, "check")) {
            Pair p;
            char *end;
            if (!split_pair(a, arg, &p))
                return fail("expected SYM=N, got '%s'", arg);
            errno = 0;
            long long v = strtoll(p.file, &end, 10);
            if (*end || errno || v < 1)
                return fail("size symbol %s must be a positive integer, got '%s'", p.name, p.file);
            o->syms[o->nsyms++] = (SymBinding){ p.name, v };
        } else if (!strcmp(o->command, "run")) {
            if (!split_pair(a, arg, &o->inputs[o->ninputs++]))
                return fail("expected NAME=FILE for an input, got '%s'", arg);
        } else {
            return fail("unexpected argument '%s'", arg);
        }
    }
    if (!o->script)
        return fail("no script given (see convc --help)");
    return 0;
}

static const char *file_kind(mode_t mode)
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

/* Read the whole script with a NUL sentinel after it. */
static bool read_script(Arena *a, const char *path, Source *src)
{
    struct stat st;
    /* O_NONBLOCK: a FIFO would otherwise block the open until a writer
     * comes; it is refused below like anything else that is not a file. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: error: cannot open the script: %s\n", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "%s: error: cannot open the script: %s\n", path, strerror(errno));
        close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s: error: the script is %s, not a regular file\n", path,
                file_kind(st.st_mode));
        close(fd);
        return false;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        fprintf(stderr, "%s: error: cannot open the script: %s\n", path, strerror(errno));
        close(fd);
        return false;
    }
    if (st.st_size > MAX_SCRIPT_BYTES) {
        fprintf(stderr, "%s: error: the script is %lld bytes; scripts are limited to %d MB\n", path,
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
        fprintf(stderr, "%s: error: cannot read the script: %s\n", path, strerror(errno ? errno : EIO));
        return false;
    }
    text[len] = '\0';
    src->filename = path;
    src->text = text;
    src->len = len;
    return true;
}

static const char *dir_of(Arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    if (slash == path)
        return "/";
    return arena_strndup(a, path, (size_t)(slash - path));
}

/* The front and middle of the pass list, shared by every command. */
typedef struct Compiled {
    Source     src;
    Diag       diag;
    Graph     *graph;
    Schedule  *sched;
    IrProgram *ir;
} Compiled;

static void dump_schedule(const Options *o, const Schedule *s, const char *pass)
{
    if (o->dump & DUMP_SCHEDULE)
        schedule_dump(stdout, s, pass);
}

static bool front_and_middle(Arena *a, const Options *o, Compiled *c, bool want_ir,
                             const char *default_cpu)
{
    if (!read_script(a, o->script, &c->src))
        return false;
    diag_init(&c->diag, &c->src, stderr);
    AstPipeline *ast = ast_parse(a, &c->diag, &c->src);
    if (!ast)
        return false;
    if (o->dump & DUMP_AST)
        ast_dump(stdout, ast);
    CheckOptions copt = { o->syms, o->nsyms, dir_of(a, o->script) };
    c->graph = graph_check(a, &c->diag, ast, &copt);
    if (!c->graph)
        return false;
    Target target = target_scalar();
    char *err = NULL;
    if (!cg_target_info(o->cpu ? o->cpu : default_cpu, &target, &err)) {
        fail("%s", err ? err : "unknown target");
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

static CgModule *back_end(const Options *o, const IrProgram *ir, const char *default_cpu)
{
    CgTarget t = { o->cpu ? o->cpu : default_cpu, o->opt_level };
    char *err = NULL;
    CgModule *m = cg_compile(ir, &t, &err);
    if (!m) {
        fail("%s", err ? err : "code generation failed");
        free(err);
        return NULL;
    }
    if (o->dump & DUMP_LLVM)
        cg_print_llvm(m, stdout);
    if (o->dump & DUMP_ASM)
        cg_print_asm(m, stdout);
    return m;
}

/* ---- convc check ------------------------------------------------------------ */

/* The table's method column: how a filtering stage computes its sums and
 * what that costs, with what auto would save where it would change it. */
static const char *method_note(void *ctx, Arena *a, const Node *n)
{
    const Schedule *s = ctx;
    if (n->op != NODE_CONV && n->op != NODE_SIGNAL)
        return NULL;
    const StagePlan *p = schedule_plan(s, n);
    static const char *const names[] = { "direct", "separable", "fft" };
    const char *what = names[p->algorithm];
    if (p->algorithm != ALGO_DIRECT)
        return p->cost > 0 && p->cost_direct > 0
             ? arena_printf(a, "%s, %.1fx less work", what, p->cost_direct / p->cost)
             : what;
    if (p->auto_algorithm == ALGO_DIRECT || !(p->auto_cost > 0))
        return "direct";
    return arena_printf(a, "direct (method=auto: %s, %.1fx less work)", names[p->auto_algorithm],
                        p->cost_direct / p->auto_cost);
}

static int cmd_check(Arena *a, const Options *o)
{
    Compiled c;
    memset(&c, 0, sizeof c);
    if (!front_and_middle(a, o, &c, false, "native"))
        return 1;
    if (o->dump & (DUMP_LLVM | DUMP_ASM)) {
        CgModule *m = back_end(o, c.ir, "native");
        if (!m)
            return 1;
        cg_free(m);
    }
    graph_print_table(stdout, a, c.graph, method_note, c.sched);
    if (c.diag.warnings)
        fprintf(stdout, "  %d warning%s\n", c.diag.warnings, c.diag.warnings == 1 ? "" : "s");
    return 0;
}

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
static void report_to_stderr(void *user, int code, const char *message)
{
    const char *context = user;
    fprintf(stderr, "convc: error: %s%s%s\n", context ? context : "", context ? ": " : "", message);
}

static void warn_to_stderr(void *user, int code, const char *message)
{
    fprintf(stderr, "convc: warning: %s\n", message);
}

/* A file convc reads or writes, with where it leads: the directory entry
 * (its directory's device and inode, and its last component) and, when
 * something is there, the file itself (through symbolic links).  Two
 * paths are the same file when either matches, whatever their spelling:
 * "a.npy", "./a.npy", "d/../a.npy", a link to it, or another hard link. */
typedef struct FileRef {
    const char *what;       /* for messages: "output 'y' ('y.npy')" */
    const char *path;
    const char *base;
    bool        has_dir, has_file;
    dev_t       dir_dev, file_dev;
    ino_t       dir_ino, file_ino;
} FileRef;

static FileRef file_ref(Arena *a, const char *what, const char *path)
{
    FileRef t = { .what = what, .path = path };
    const char *slash = strrchr(path, '/');
    t.base = slash ? slash + 1 : path;
    struct stat st;
    if (stat(dir_of(a, path), &st) == 0) {
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
static int check_targets(const FileRef *out, int nout, const FileRef *in, int nin)
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
static int read_files(Arena *a, const Options *o, const Graph *g, FileRef *in)
{
    int n = 0;
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
        const char *dir = dir_of(a, o->script);
        if (file[0] != '/' && dir[0])
            path = arena_printf(a, "%s/%s", dir, file);
        in[n++] = file_ref(a, arena_printf(a, "'%s', which the script loads", path), path);
    }
    return n;
}

/* While temporary files exist, Ctrl-C and the like wait: the files are
 * finished and renamed (or removed) first, then the signal ends convc. */
static void hold_signals(bool hold, sigset_t *saved)
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
static int write_files(const char *const *paths, char *const *bytes, const size_t *lens, int n)
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

/* ---- convc run ----------------------------------------------------------------- */

/* The script name of argument abi (inputs, then outputs). */
static const char *ir_arg_name(const IrProgram *ir, int32_t abi)
{
    for (int32_t b = 0; b < ir->nbuffers; b++)
        if (ir->buffers[b].kind != IR_BUF_CONST && ir->buffers[b].abi_index == abi)
            return ir->buffers[b].name;
    return "?";
}

/* ---- run-time failures, with what the script and the files said ---------- */

typedef struct RunMsg {
    char *text;     /* malloc'ed */
} RunMsg;

static void capture_run_error(void *user, int code, const char *message)
{
    RunMsg *m = user;
    free(m->text);
    m->text = strdup(message);
}

/* "face.ppm was read as an RGB image f32[3, 768, 1024]" */
static const char *read_as(Arena *a, const char *file, const convrt_tensor *t)
{
    const char *dot = strrchr(file, '.');
    const char *ext = dot ? dot + 1 : "";
    const char *kind = "";
    if (!strcasecmp(ext, "ppm") || !strcasecmp(ext, "pgm") || !strcasecmp(ext, "pnm") || !strcasecmp(ext, "png"))
        kind = t->rank == 3 ? "an RGB image " : "a grayscale image ";
    const char *dims = "";
    for (int32_t j = 0; j < t->rank; j++)
        dims = arena_printf(a, "%s%s%lld", dims, j ? ", " : "", (long long)t->dims[j]);
    return arena_printf(a, "%s was read as %sf32[%s]", file, kind, dims);
}

/* The runtime knows the pipeline's arguments but neither the script nor the
 * files: a failed check on the script is said as the checker would say it,
 * at the stage's line, and a failure that concerns the inputs' shapes is
 * followed by what each file was read as and how it is declared. */
static void report_run_failure(Arena *a, Compiled *c, const char **in_file, const convrt_tensor *tensors,
                               int code, const char *msg)
{
    const IrProgram *ir = c->ir;
    const Graph *g = c->graph;
    const char *prefix = arena_printf(a, "pipeline '%s': ", ir->name);
    const char *rest = strncmp(msg, prefix, strlen(prefix)) ? NULL : msg + strlen(prefix);
    const GraphCheck *hit = NULL;
    for (int32_t i = 0; rest && !hit && i < g->checks.len; i++) {
        const GraphCheck *k = g->checks.items[i];
        if (!strncmp(rest, k->what, strlen(k->what)))
            hit = k;
    }
    const char *at = hit ? arena_printf(a, "%s:%d:%d: ", g->source_name, hit->loc.first_line,
                                        hit->loc.first_column) : NULL;
    if (hit && !strncmp(rest, at, strlen(at)))
        diag_error(&c->diag, hit->loc, "%s", rest + strlen(at));
    else
        fprintf(stderr, "convc: error: %s\n", msg);
    if (code != CONVRT_E_RANK && code != CONVRT_E_DIM && code != CONVRT_E_SYMBOL && code != CONVRT_E_SHAPE &&
        code != CONVRT_E_OVERFLOW)
        return;
    for (int32_t i = 0; i < g->inputs.len; i++) {
        const Node *in = g->inputs.items[i];
        fprintf(stderr, "convc: note: %s=%s (declared f32%s)\n", in->name,
                read_as(a, in_file[in->input.arg], &tensors[in->input.arg]), shape_str(a, in->shape));
    }
}

typedef int (*PipelineStep)(const convrt_pipeline *p, convrt_tensor *const *args);

static int run_step(Arena *a, Compiled *c, const char **in_file, const convrt_tensor *tensors,
                    const convrt_pipeline *p, convrt_tensor **args, PipelineStep step)
{
    RunMsg m = { NULL };
    convrt_set_error_handler(capture_run_error, &m);
    int rc = step(p, args);
    convrt_set_error_handler(report_to_stderr, "convc");
    if (rc != 0)
        report_run_failure(a, c, in_file, tensors, rc, m.text ? m.text : convrt_strerror(rc));
    free(m.text);
    return rc;
}

/* Output i's shape as far as it is known before anything runs: literal
 * dims as they are, dims with size symbols as 1 (checked again once the
 * inputs have bound them).  No data. */
static convrt_tensor known_shape(const IrProgram *ir, int32_t i)
{
    convrt_tensor t = { 0 };
    for (int32_t b = 0; b < ir->nbuffers; b++) {
        const IrBuffer *buf = &ir->buffers[b];
        if (buf->kind != IR_BUF_OUTPUT || buf->abi_index != ir->ninputs + i)
            continue;
        t.rank = buf->rank;
        for (int32_t j = 0; j < buf->rank && j < CONVRT_MAX_RANK; j++) {
            const IrSlot *sl = &ir->slots[buf->dim_slots[j]];
            t.dims[j] = sl->is_const ? sl->const_value : 1;
        }
    }
    return t;
}

static int cmd_run(Arena *a, const Options *o)
{
    Compiled c;
    memset(&c, 0, sizeof c);
    if (!front_and_middle(a, o, &c, true, "native"))
        return 1;
    const IrProgram *ir = c.ir;
    int32_t ni = ir->ninputs, no = ir->noutputs;

    /* Every name on the command line must mean something, and every input
     * must be given, before anything is compiled or read. */
    int errors = 0;
    const char **in_file = arena_array(a, (size_t)ni + 1, sizeof(char *));
    const char **out_file = arena_array(a, (size_t)no + 1, sizeof(char *));
    for (int i = 0; i < o->ninputs; i++) {
        int32_t k = -1;
        for (int32_t b = 0; b < ir->nbuffers; b++)
            if (ir->buffers[b].kind == IR_BUF_INPUT && !strcmp(ir->buffers[b].name, o->inputs[i].name))
                k = ir->buffers[b].abi_index;
        if (k < 0)
            errors += fail("pipeline '%s' has no input '%s'", ir->name, o->inputs[i].name);
        else if (in_file[k])
            errors += fail("input '%s' is given twice", o->inputs[i].name);
        else
            in_file[k] = o->inputs[i].file;
    }
    for (int i = 0; i < o->noutputs; i++) {
        int32_t k = -1;
        for (int32_t b = 0; b < ir->nbuffers; b++)
            if (ir->buffers[b].kind == IR_BUF_OUTPUT && !strcmp(ir->buffers[b].name, o->outputs[i].name))
                k = ir->buffers[b].abi_index - ni;
        if (k < 0)
            errors += fail("pipeline '%s' has no output '%s'", ir->name, o->outputs[i].name);
        else if (out_file[k])
            errors += fail("output '%s' is given twice", o->outputs[i].name);
        else
            out_file[k] = o->outputs[i].file;
    }
    for (int32_t b = 0; b < ir->nbuffers; b++)
        if (ir->buffers[b].kind == IR_BUF_INPUT && !in_file[ir->buffers[b].abi_index])
            errors += fail("input '%s' is not given (add %s=FILE)", ir->buffers[b].name,
                           ir->buffers[b].name);
    if (errors)
        return 1;

    /* Every output target, before anything is compiled, loaded or run: a
     * file of its own, not one that is read, a known extension, a shape the
     * format can hold as far as it is known, and a place it can be made. */
    FileRef *outs = arena_array(a, (size_t)no + 1, sizeof(FileRef));
    const char **context = arena_array(a, (size_t)no + 1, sizeof(char *));
    int nouts = 0;
    for (int32_t i = 0; i < no; i++) {
        if (!out_file[i])
            continue;
        context[i] = arena_printf(a, "output '%s'", ir_arg_name(ir, ni + i));
        outs[nouts++] = file_ref(a, arena_printf(a, "%s ('%s')", context[i], out_file[i]), out_file[i]);
    }
    FileRef *reads = arena_array(a, (size_t)(ni + c.graph->nodes.len) + 1, sizeof(FileRef));
    int nreads = read_files(a, o, c.graph, reads);
    for (int32_t i = 0; i < ni; i++)
        reads[nreads++] = file_ref(a, arena_printf(a, "input '%s' ('%s')", ir_arg_name(ir, i), in_file[i]),
                                 in_file[i]);
    errors = check_targets(outs, nouts, reads, nreads);
    convrt_set_warning_handler(warn_to_stderr, NULL);
    for (int32_t i = 0; i < no; i++) {
        if (!out_file[i])
            continue;
        convrt_tensor shape = known_shape(ir, i);
        convrt_set_error_handler(report_to_stderr, (void *)context[i]);
        errors += convrt_save_check(out_file[i], &shape) != 0;
    }
    if (errors) {
        convrt_set_error_handler(NULL, NULL);
        convrt_set_warning_handler(NULL, NULL);
        return 1;
    }

    convrt_set_error_handler(report_to_stderr, NULL);
    if (o->threads)
        convrt_set_num_threads(o->threads);
    int rc = 1;
    convrt_tensor *tensors = calloc((size_t)(ni + no) + 1, sizeof *tensors);
    convrt_tensor **args = calloc((size_t)(ni + no) + 1, sizeof *args);
    convrt_outfile **files = calloc((size_t)no + 1, sizeof *files);
    CgModule *m = NULL;
    Jit *jit = NULL;
    int nfiles = 0;
    sigset_t saved_signals;
    bool holding = false;
    if (!tensors || !args || !files) {
        fail("out of memory");
        goto out;
    }
    for (int32_t i = 0; i < ni; i++) {
        if (convrt_load(in_file[i], &tensors[i]) != 0)
            goto out;
        args[i] = &tensors[i];
    }
    for (int32_t i = 0; i < no; i++)
        args[ni + i] = &tensors[ni + i];

    m = back_end(o, ir, "native");
    if (!m)
        goto out;
    char *err = NULL;
    jit = jit_create(m, &err);
    m = NULL;   /* owned by the JIT now */
    if (!jit) {
        fail("%s", err ? err : "cannot create the JIT");
        free(err);
        goto out;
    }
    const convrt_pipeline *p = jit_pipeline(jit);
    if (!p) {
        fail("the compiled module has no pipeline descriptor");
        goto out;
    }
    if (run_step(a, &c, in_file, tensors, p, args, convrt_pipeline_output_shapes) != 0)
        goto out;
    /* Now that the sizes are known, once more: can each format hold its
     * output?  Still before the body runs. */
    errors = 0;
    for (int32_t i = 0; i < no; i++) {
        if (!out_file[i])
            continue;
        convrt_set_error_handler(report_to_stderr, (void *)context[i]);
        errors += convrt_save_check(out_file[i], &tensors[ni + i]) != 0;
    }
    convrt_set_error_handler(report_to_stderr, NULL);
    if (errors)
        goto out;
    for (int32_t i = 0; i < no; i++) {
        convrt_tensor *t = &tensors[ni + i];
        int64_t dims[CONVRT_MAX_RANK];
        memcpy(dims, t->dims, sizeof dims);
        if (convrt_tensor_alloc(t, t->rank, dims) != 0)
            goto out;
    }
    if (run_step(a, &c, in_file, tensors, p, args, convrt_pipeline_run) != 0)
        goto out;
    /* Write only now that the whole run has succeeded, and all outputs or
     * none (see "output files" above). */
    hold_signals(true, &saved_signals);
    holding = true;
    for (int32_t i = 0; i < no; i++) {
        if (!out_file[i])
            continue;
        convrt_set_error_handler(report_to_stderr, (void *)context[i]);
        if (convrt_outfile_open(out_file[i], &files[nfiles]) != 0)
            goto out;
        nfiles++;
        if (convrt_save_to(files[nfiles - 1], &tensors[ni + i]) != 0)
            goto out;
    }
    convrt_set_error_handler(report_to_stderr, NULL);
    rc = convrt_outfile_commit(files, nfiles) != 0;
    nfiles = 0;     /* released by the commit */
    if (rc == 0 && o->noutputs == 0)
        fprintf(stderr, "convc: note: no -o NAME=FILE given; the results were computed and not written\n");
out:
    for (int i = 0; i < nfiles; i++)
        convrt_outfile_discard(files[i]);
    if (holding)
        hold_signals(false, &saved_signals);
    jit_free(jit);
    if (m)
        cg_free(m);
    for (int32_t i = 0; tensors && i < ni + no; i++)
        convrt_tensor_free(&tensors[i]);
    free(tensors);
    free(args);
    free(files);
    convrt_set_error_handler(NULL, NULL);
    convrt_set_warning_handler(NULL, NULL);
    return rc;
}

/* ---- convc compile ---------------------------------------------------------- */

static const char *default_header(Arena *a, const char *object)
{
    size_t n = strlen(object);
    if (n > 2 && !strcmp(object + n - 2, ".o"))
        return arena_printf(a, "%.*s.h", (int)(n - 2), object);
    return arena_printf(a, "%s.h", object);
}

static int cmd_compile(Arena *a, const Options *o)
{
    const char *emit = o->emit ? o->emit : "obj";
    bool obj = !strcmp(emit, "obj");
    if (!o->object)
        return fail("compile needs -o FILE");
    Compiled c;
    memset(&c, 0, sizeof c);
    if (!front_and_middle(a, o, &c, true, "x86-64-v3"))
        return 1;
    char *name_err = NULL;
    if (header_check_names(c.ir, &name_err) != 0) {
        fprintf(stderr, "%s\n", name_err);
        free(name_err);
        return 1;
    }

    /* Both targets before anything is compiled (see "output files"). */
    const char *paths[2] = { o->object, obj ? (o->header ? o->header : default_header(a, o->object)) : NULL };
    int n = obj ? 2 : 1;
    FileRef outs[2];
    outs[0] = file_ref(a, arena_printf(a, "-o '%s'", paths[0]), paths[0]);
    if (obj)
        outs[1] = file_ref(a, arena_printf(a, "the header '%s'", paths[1]), paths[1]);
    FileRef *reads = arena_array(a, (size_t)c.graph->nodes.len + 1, sizeof(FileRef));
    int nreads = read_files(a, o, c.graph, reads);
    int errors = check_targets(outs, n, reads, nreads);
    convrt_set_error_handler(report_to_stderr, NULL);
    for (int i = 0; i < n; i++)
        errors += convrt_outfile_check(paths[i]) != 0;
    size_t len = strlen(o->object);
    if (!errors && obj && (len < 2 || strcmp(o->object + len - 2, ".o")))
        fprintf(stderr, "convc: warning: -o '%s' does not end in '.o', but an object file is written there\n",
                o->object);

    /* Objects default to a portable x86-64 level, not the build machine's
     * CPU, so they run wherever x86-64-v3 (AVX2 + FMA) does. */
    CgModule *m = errors ? NULL : back_end(o, c.ir, "x86-64-v3");
    if (!m) {
        convrt_set_error_handler(NULL, NULL);
        return 1;
    }
    /* The bytes first, in memory: no file is open while LLVM runs. */
    char *bytes[2] = { NULL, NULL };
    size_t lens[2] = { 0, 0 };
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        FILE *mem = open_memstream(&bytes[i], &lens[i]);
        if (!mem)
            arena_out_of_memory(0);
        if (i == 1) {
            header_write(mem, c.ir, cg_cpu_name(m));
        } else if (obj) {
            char *err = NULL;
            if (cg_emit_object_consume(m, mem, &err) != 0)
                rc = fail("%s", err ? err : "cannot emit the object");
            free(err);
        } else {
            rc = (!strcmp(emit, "asm") ? cg_print_asm(m, mem) : cg_print_llvm(m, mem)) != 0;
        }
        if (fclose(mem) != 0)
            arena_out_of_memory(lens[i]);
    }
    cg_free(m);
    if (rc == 0)
        rc = write_files(paths, bytes, lens, n);
    free(bytes[0]);
    free(bytes[1]);
    convrt_set_error_handler(NULL, NULL);
    return rc;
}

int driver_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("convc %s\n", CONVC_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "check") && strcmp(cmd, "run") && strcmp(cmd, "compile")) {
        fail("unknown command '%s' (check, run or compile)", cmd);
        usage(stderr);
        return 2;
    }
    Arena a;
    arena_init(&a);
    Options o;
    int rc = parse_args(&a, argc, argv, &o);
    if (rc == 0) {
        if (!strcmp(cmd, "check"))
            rc = cmd_check(&a, &o);
        else if (!strcmp(cmd, "run"))
            rc = cmd_run(&a, &o);
        else
            rc = cmd_compile(&a, &o);
    }
    arena_free(&a);
    return rc;
}
