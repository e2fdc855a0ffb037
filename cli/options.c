/* options.c - convc's commands and arguments: the tables behind --help,
 * parsing, and the hints for a command or option that does not exist. */
#include "cli.h"

#include "suggest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the commands and their options ---------------------------------------
 *
 * One table of commands and one of options: `convc --help`, `convc COMMAND
 * --help`, the check that an option belongs to the command it is given to,
 * and the did-you-mean for commands and options all read them.  A new
 * command is a row in COMMANDS (with its function); a new option is a row in
 * OPTIONS (which commands take it, its line in their help) and a branch in
 * parse_args that reads its value. */

enum { CMD_CHECK = 1, CMD_RUN = 2, CMD_COMPILE = 4, CMD_GRAPH = 8, CMD_ALL = 15, CMD_CACHE = 16 };

typedef struct CommandHelp {
    const char *name;
    unsigned    bit;
    int       (*run)(Arena *a, const Options *o);
    const char *args;       /* after "convc NAME " in the synopsis */
    const char *summary;    /* its line in `convc --help` */
    const char *about;      /* `convc NAME --help`, after the synopsis */
} CommandHelp;

static const CommandHelp COMMANDS[] = {
    { "check", CMD_CHECK, cmd_check, "SCRIPT [SYM=N | INPUT=FILE ...] [options]",
      "parse and shape-check; print every stage with its output\n"
      "shape, MACs and receptive field",
      "Parse and check SCRIPT and print every stage with its output shape, its\n"
      "multiply-accumulate count and its receptive field, and how each filtering\n"
      "stage computes its sums.  Exit 0, or 1 after the diagnostics.\n"
      "\n"
      "  SYM=N       bind the size symbol SYM to N (a positive integer)\n"
      "  INPUT=FILE  bind the size symbols of input INPUT from the shape of FILE\n"
      "              (.npy or an image; only the header is read; '-' reads an .npy\n"
      "              from standard input)\n"
      "  SCRIPT '-'  read the script from standard input\n" },
    { "run", CMD_RUN, cmd_run, "SCRIPT INPUT=FILE ... [-o OUTPUT=FILE ...] [options]",
      "compile in memory and run; inputs and outputs by name, as\n"
      ".npy, .png, .pgm or .ppm",
      "Compile SCRIPT in memory for this machine, read the inputs, run the\n"
      "pipeline and write the outputs named with -o: all of them, or none when\n"
      "anything fails.  The format follows the extension: .npy (.npz:KEY for an\n"
      "input), an image (.png, .pgm, .ppm; gray -> [H, W], RGB -> [3, H, W],\n"
      "samples in [0, 1]) or a sound (.wav, .flac, .ogg; [L] mono, [C, L]).  An\n"
      "output may go to several files, each FILE[:auto|:16|:f64...] (see\n"
      "docs/language.md).\n"
      "A line on stdout says what was written.  An input given as a pattern\n"
      "(img='photos/*.png') runs every matching file after one compile, each\n"
      "output named by a template (-o mag='edges/{stem}.png'; fields {stem}\n"
      "{name} {ext} {dir} {i}).  Compiled code is kept in the compile cache.\n"
      "\n"
      "  INPUT=-       read input INPUT as an .npy from standard input\n"
      "  -o OUTPUT=-   write output OUTPUT as an .npy to standard output (the\n"
      "                line about what was written goes to stderr then)\n"
      "  SCRIPT '-'    read the script from standard input\n" },
    { "compile", CMD_COMPILE, cmd_compile, "SCRIPT -o FILE.o [--header FILE.h] [options]",
      "write a relocatable object and a C header for the runtime library",
      "Compile SCRIPT to a relocatable object FILE.o and a C header declaring its\n"
      "entry points (NAME and NAME_output_shapes), to link with the runtime\n"
      "library convrt (see README.md, \"Embedding a pipeline in a C program\").\n"
      "Objects are built for x86-64-v3 (AVX2 + FMA) unless --target-cpu says\n"
      "otherwise.  SCRIPT '-' reads the script from standard input.\n" },
    { "graph", CMD_GRAPH, cmd_graph, "SCRIPT [SYM=N ...] -o FILE.svg|FILE.png|FILE.dot [options]",
      "draw the stage graph (Graphviz) with shapes, MACs\n"
      "and the stages the optimiser fused",
      "Draw the stage graph of SCRIPT through Graphviz: each stage with its\n"
      "operation, output shape, MACs and algorithm, the stages the optimiser\n"
      "fused boxed together.  The format follows the extension of -o: .svg, .png\n"
      "or .dot (the Graphviz text, for any size).\n"
      "\n"
      "  SYM=N       bind the size symbol SYM to N (a positive integer)\n"
      "  INPUT=FILE  bind the size symbols of input INPUT from the shape of FILE\n" },
    { "cache", CMD_CACHE, NULL, "[clear]",
      "where run keeps compiled pipelines and how large\n"
      "the cache is; clear empties it",
      "Print where run keeps the machine code it compiles ($XDG_CACHE_HOME/convc,\n"
      "else ~/.cache/convc), how many entries it holds and how large it is;\n"
      "'clear' removes them.\n" },
};
enum { NCOMMANDS = sizeof COMMANDS / sizeof *COMMANDS };

typedef struct OptionHelp {
    const char *name;       /* what is matched: "--threads" takes "--threads N"
                               and "--threads=N"; "-O" takes -O0 .. -O3 */
    unsigned    commands;
    const char *spelling;   /* as --help shows it */
    const char *text;       /* its lines in --help */
    const char *elsewhere;  /* said when a command that does not take it gets it */
} OptionHelp;

static const OptionHelp OPTIONS[] = {
    { "-o", CMD_RUN, "-o OUTPUT=FILE", "write output OUTPUT to FILE (repeatable;\n"
      "'-': standard output, as .npy)", NULL },
    { "-o", CMD_COMPILE, "-o FILE.o", "the object file (required)", NULL },
    { "--header", CMD_COMPILE, "--header FILE.h", "where to write the header (default: FILE.h; with\n"
      "--emit=asm|llvm only when given)", NULL },
    { "-o", CMD_GRAPH, "-o FILE", "the picture: .svg, .png or .dot (required)", NULL },
    { "--rate", CMD_RUN, "--rate N", "sample rate (Hz) of sound outputs (default: that\n"
      "of the audio inputs they are computed from)", NULL },
    { "--out-dtype", CMD_RUN, "--out-dtype=f32|f64", "float type of .npy outputs (default f32)", NULL },
    { "--profile", CMD_RUN, "--profile", "print each stage's time, share, GFLOP/s and % of\n"
      "the FMA peak (measured), and compile and I/O times", NULL },
    { "--emit", CMD_COMPILE, "--emit=obj|asm|llvm", "write the object (default), assembly or LLVM IR", NULL },
    { "--threads", CMD_RUN, "--threads N",
      "worker threads, 1 to 1024 (also --threads=N;\n"
      "default: CONVRT_NUM_THREADS, else all cores)",
      "a compiled pipeline takes its thread count from the program that runs it "
      "(convrt_set_num_threads() or CONVRT_NUM_THREADS)" },
    { "--no-cache", CMD_RUN, "--no-cache", "compile afresh; neither read nor fill the compile\n"
      "cache", NULL },
    { "--verbose", CMD_RUN, "-v, --verbose", "say whether the compile cache was hit and how\n"
      "long compiling took; for many files, how they\n"
      "are shared among the threads", NULL },
    { "-v", CMD_RUN, NULL, NULL, NULL },
    { "-q", CMD_RUN | CMD_GRAPH, "-q, --quiet", "do not print what was written", NULL },
    { "--quiet", CMD_RUN | CMD_GRAPH, NULL, NULL, NULL },
    { "--dump", CMD_ALL, "--dump=ast|schedule|ir|llvm|asm",
      "print a stage of compilation to stdout (repeatable,\n"
      "or comma-separated); schedule: the decisions after\n"
      "each optimisation pass", NULL },
    { "--no-kernels", CMD_ALL, "--no-kernels", "compute every stage with the reference loops", NULL },
    { "--method", CMD_ALL, "--method=direct|auto|script",
      "direct: every sum in the order written, whatever\n"
      "the script's method= options; auto: the compiler\n"
      "picks (separable filters too) everywhere; script\n"
      "(default): as the script says", NULL },
    { "--target-cpu", CMD_ALL, "--target-cpu=CPU",
      "native (default for check and run), x86-64-v3\n"
      "(default for compile), x86-64-v4, znver4, ...", NULL },
    { "-O", CMD_ALL, "-O0 .. -O3", "optimisation level (default -O3)", NULL },
    { "--help", CMD_ALL, "-h, --help", "this help", NULL },
    { "-h", CMD_ALL, NULL, NULL, NULL },
};
enum { NOPTIONS = sizeof OPTIONS / sizeof *OPTIONS };

static const CommandHelp *find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name))
            return &COMMANDS[i];
    return NULL;
}

bool known_command(const char *name) { return find_command(name) != NULL; }

/* Print text with every line after the first indented by indent. */
static void print_indented(FILE *out, const char *text, int indent)
{
    for (const char *s = text; *s; s++) {
        fputc(*s, out);
        if (*s == '\n' && s[1])
            fprintf(out, "%*s", indent, "");
    }
}

void usage(FILE *out)
{
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "%s convc %s %s\n", i ? "      " : "usage:", COMMANDS[i].name, COMMANDS[i].args);
    fprintf(out, "       convc COMMAND --help\n       convc --version\n\n");
    for (int i = 0; i < NCOMMANDS; i++) {
        fprintf(out, "  %-9s", COMMANDS[i].name);
        print_indented(out, COMMANDS[i].summary, 11);
        fputc('\n', out);
    }
    fprintf(out, "\n`convc COMMAND --help` lists the options of a command.\n");
}

int command_help(FILE *out, const char *name)
{
    const CommandHelp *c = find_command(name);
    if (!c)
        return 1;
    fprintf(out, "usage: convc %s %s\n\n%s", c->name, c->args, c->about);
    bool any = false;
    for (int i = 0; i < NOPTIONS; i++) {
        const OptionHelp *h = &OPTIONS[i];
        if (!(h->commands & c->bit) || !h->spelling)
            continue;
        if (!any)
            fprintf(out, "\noptions:\n");
        any = true;
        if (strlen(h->spelling) > 24)
            fprintf(out, "  %s\n  %24s ", h->spelling, "");
        else
            fprintf(out, "  %-24s ", h->spelling);
        print_indented(out, h->text, 27);
        fputc('\n', out);
    }
    return 0;
}

/* The row for an option as written ("--threads=4", "-O2"), for command bit
 * cmd if one is, else any; NULL when no row names it. */
static const OptionHelp *find_option(const char *arg, unsigned cmd)
{
    const OptionHelp *any = NULL;
    for (int i = 0; i < NOPTIONS; i++) {
        const char *n = OPTIONS[i].name;
        size_t len = strlen(n);
        bool match = !strcmp(n, "-O") ? !strncmp(arg, "-O", 2) && arg[2] >= '0' && arg[2] <= '3' && !arg[3]
                   : !strncmp(arg, n, len) && (arg[len] == '\0' || (arg[len] == '=' && n[1] == '-'));
        if (!match)
            continue;
        if (OPTIONS[i].commands & cmd)
            return &OPTIONS[i];
        any = any ? any : &OPTIONS[i];
    }
    return any;
}

/* "unknown command 'chek'; did you mean 'check'?" */
int unknown_command(const char *name)
{
    Suggest s;
    suggest_init(&s, name);
    for (int i = 0; i < NCOMMANDS; i++)
        suggest_offer(&s, COMMANDS[i].name);
    const char *hint = suggest_result(&s);
    if (hint)
        return fail("unknown command '%s'; did you mean '%s'?", name, hint);
    const char *list = "";
    char buf[256];
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < NCOMMANDS; i++)
        used += (size_t)snprintf(buf + used, used < sizeof buf ? sizeof buf - used : 0, "%s%s",
                                 i == 0 ? "" : i + 1 == NCOMMANDS ? " or " : ", ", COMMANDS[i].name);
    list = buf;
    size_t n = strlen(name);
    if (n > 5 && !strcmp(name + n - 5, ".conv"))
        return fail("unknown command '%s': the command comes first, e.g. convc check %s", name, name);
    return fail("unknown command '%s' (%s; see convc --help)", name, list);
}

int run_command(Arena *a, const Options *o)
{
    const CommandHelp *c = find_command(o->command);
    return c && c->run ? c->run(a, o) : unknown_command(o->command);
}

/* "check has no option '-o'", or an unknown option with the closest one
 * the command has. */
static int bad_option(const char *arg, unsigned cmd, const char *command)
{
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
    const OptionHelp *h = find_option(arg, CMD_ALL);
    if (h) {
        if (h->elsewhere)
            return fail("%s has no option '%s': %s", command, name, h->elsewhere);
        return fail("%s has no option '%s' (see convc %s --help)", command, name, command);
    }
    Suggest s;
    suggest_init(&s, name);
    for (int i = 0; i < NOPTIONS; i++)
        if (OPTIONS[i].commands & cmd)
            suggest_offer(&s, !strcmp(OPTIONS[i].name, "-O") ? "-O3" : OPTIONS[i].name);
    const char *hint = suggest_result(&s);
    if (hint)
        return fail("unknown option '%s'; did you mean '%s'? (see convc %s --help)", name, hint, command);
    return fail("unknown option '%s' (see convc %s --help)", name, command);
}

/* "unknown --dump 'tre' (ast, schedule, ir, llvm or asm)", with a hint. */
static int bad_word(const char *option, const char *word, const char *const *words, size_t n)
{
    const char *hint = suggest_closest(word, words, n);
    char list[128];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0, "%s%s",
                                 i == 0 ? "" : i + 1 == n ? " or " : ", ", words[i]);
    if (hint)
        return fail("unknown %s '%s'; did you mean '%s'?", option, word, hint);
    return fail("unknown %s '%s' (%s)", option, word, list);
}

static int parse_dump(const char *v, unsigned *dump)
{
    static const char *const words[] = { "ast", "schedule", "ir", "llvm", "asm" };
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "ast")) *dump |= DUMP_AST;
        else if (!strcmp(tok, "ir") || !strcmp(tok, "loops")) *dump |= DUMP_IR;
        else if (!strcmp(tok, "llvm")) *dump |= DUMP_LLVM;
        else if (!strcmp(tok, "asm")) *dump |= DUMP_ASM;
        else if (!strcmp(tok, "schedule")) *dump |= DUMP_SCHEDULE;
        else return bad_word("--dump", tok, words, 5);
    }
    if (!*v || strstr(v, ",,") || v[strlen(v) - 1] == ',')
        return bad_word("--dump", "", words, 5);
    return 0;
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

/* A number as written on a command line: "512", "-3", "1.5", "1e3" (not
 * a file name, which "-" alone is). */
static bool looks_numeric(const char *v)
{
    if (*v == '+' || *v == '-')
        v++;
    if (!(*v >= '0' && *v <= '9') && !(*v == '.' && v[1] >= '0' && v[1] <= '9'))
        return false;
    char *end;
    strtod(v, &end);
    return *end == '\0';
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

int parse_args(Arena *a, int argc, char **argv, Options *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = 3;
    o->inputs = arena_array(a, (size_t)argc, sizeof(Pair));
    o->outputs = arena_array(a, (size_t)argc, sizeof(Pair));
    o->syms = arena_array(a, (size_t)argc, sizeof(SymBinding));
    o->command = argv[1];
    const CommandHelp *command = find_command(o->command);
    if (!command)
        return unknown_command(o->command);
    /* --help anywhere (but as the value of an option) wins over the rest */
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--header") || !strcmp(argv[i], "--threads") ||
            !strcmp(argv[i], "--rate"))
            i++;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            o->help = true;
    }
    if (o->help)
        return 0;
    int rc;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1]) {
            const OptionHelp *h = find_option(arg, command->bit);
            if (h && !(h->commands & command->bit))
                return bad_option(arg, command->bit, o->command);
        }
        if (!strncmp(arg, "--dump=", 7)) {
            if ((rc = parse_dump(arg + 7, &o->dump)) != 0)
                return rc;
        } else if (!strcmp(arg, "-q") || !strcmp(arg, "--quiet")) {
            o->quiet = true;
        } else if (!strcmp(arg, "--profile")) {
            o->profile = true;
        } else if (!strcmp(arg, "--no-kernels")) {
            o->no_kernels = true;
        } else if (!strcmp(arg, "--no-cache")) {
            o->no_cache = true;
        } else if (!strcmp(arg, "--verbose") || !strcmp(arg, "-v")) {
            o->verbose = true;
        } else if (!strncmp(arg, "--method=", 9)) {
            if (!strcmp(arg + 9, "direct"))
                o->method = POLICY_DIRECT;
            else if (!strcmp(arg + 9, "auto"))
                o->method = POLICY_AUTO;
            else if (!strcmp(arg + 9, "script"))
                o->method = POLICY_SCRIPT;
            else
                return bad_word("--method", arg + 9, (const char *const[]){ "direct", "auto", "script" }, 3);
        } else if (!strncmp(arg, "--target-cpu=", 13)) {
            o->cpu = arg + 13;
        } else if (!strncmp(arg, "--threads=", 10) || !strcmp(arg, "--threads")) {
            const char *v = arg[9] == '=' ? arg + 10 : (i + 1 < argc ? argv[++i] : "");
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 1024)
                return fail("--threads needs a number from 1 to 1024, got '%s'", v);
            o->threads = (int)n;
        } else if (!strncmp(arg, "--rate=", 7) || !strcmp(arg, "--rate")) {
            const char *v = arg[6] == '=' ? arg + 7 : (i + 1 < argc ? argv[++i] : "");
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 768000)
                return fail("--rate needs a sample rate in Hz from 1 to 768000, got '%s'", v);
            o->rate = (int32_t)n;
        } else if (!strncmp(arg, "--out-dtype=", 12)) {
            if (strcmp(arg + 12, "f32") && strcmp(arg + 12, "f64"))
                return fail("unknown --out-dtype '%s' (f32 or f64)", arg + 12);
            o->out_bits = arg[13] == '6' ? 64 : 32;
        } else if (arg[0] == '-' && arg[1] == 'O' && arg[2] >= '0' && arg[2] <= '3' && !arg[3]) {
            o->opt_level = arg[2] - '0';
        } else if (!strncmp(arg, "--emit=", 7)) {
            o->emit = arg + 7;
            if (strcmp(o->emit, "obj") && strcmp(o->emit, "asm") && strcmp(o->emit, "llvm"))
                return bad_word("--emit", o->emit, (const char *const[]){ "obj", "asm", "llvm" }, 3);
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
            if (!strcmp(o->command, "compile") || !strcmp(o->command, "graph")) {
                const char **target = !strcmp(o->command, "graph") ? &o->picture : &o->object;
                if (*target)
                    return fail("-o is given twice");
                *target = v;
            } else if (!split_pair(a, v, &o->outputs[o->noutputs++])) {
                return fail("-o needs NAME=FILE, got '%s'", v);
            }
        } else if (arg[0] == '-' && arg[1]) {
            return bad_option(arg, command->bit, o->command);
        } else if (!o->script) {
            o->script = arg;
        } else if (!strcmp(o->command, "check") || !strcmp(o->command, "graph")) {
            Pair p;
            char *end;
            if (!split_pair(a, arg, &p))
                return fail("expected SYM=N or INPUT=FILE, got '%s'", arg);
            if (!looks_numeric(p.file)) {
                o->inputs[o->ninputs++] = p;    /* a file whose shape binds symbols */
                continue;
            }
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
        return fail("no script given (see convc %s --help)", o->command);
    return check_stdio_use(o);
}

/* driver_front / driver_back with the command line's options. */
static CompileOptions compile_options(const Options *o)
{
    return (CompileOptions){ .script = o->script, .dump = o->dump, .cpu = o->cpu,
                             .opt_level = o->opt_level, .syms = o->syms, .nsyms = o->nsyms,
                             .input_shapes = o->shapes, .ninput_shapes = o->nshapes,
                             .no_kernels = o->no_kernels, .method = o->method,
                             .profile = o->profile };
}

bool cli_front(Arena *a, const Options *o, Compiled *c, bool want_ir, const char *default_cpu)
{
    CompileOptions co = compile_options(o);
    return driver_front(a, &co, c, want_ir, default_cpu);
}

CgModule *cli_back(const Options *o, const IrProgram *ir, const char *default_cpu)
{
    CompileOptions co = compile_options(o);
    return driver_back(&co, ir, default_cpu);
}

CgModule *cli_back_threads(const Options *o, const IrProgram *ir, const char *default_cpu,
                           bool objects)
{
    CompileOptions co = compile_options(o);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    co.codegen_threads = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    co.codegen_objects = objects;
    return driver_back(&co, ir, default_cpu);
}
