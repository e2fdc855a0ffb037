/* options.c - convc's arguments and usage. */
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

void usage(FILE *out)
{
    fprintf(out,
            "usage: convc check SCRIPT [SYM=N ...] [--dump=ast|ir]\n"
            "       convc run SCRIPT NAME=FILE ... -o NAME=FILE ... [options]\n"
            "       convc compile SCRIPT -o FILE.o [--header FILE.h] [--emit=obj|asm|llvm] [options]\n"
            "\n"
            "  check    parse and shape-check; print every stage with its output shape,\n"
            "           MACs and receptive field (SYM=N binds a size symbol)\n"
            "  run      compile in memory and run; inputs and outputs by name, as .npy,\n"
            "           .npz:KEY, .png, .pgm or .ppm (images: gray -> [H, W], RGB -> [3, H, W],\n"
            "           in [0, 1]), .wav, .flac or .ogg (sound: [L] mono, [C, L]); an output\n"
            "           may go to several files, each FILE[:auto|:16|...] (see docs/language.md)\n"
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
            "  --rate N                 run: sample rate (Hz) of sound outputs (default: that of\n"
            "                           the audio inputs they are computed from)\n"
            "  --out-dtype=f32|f64      run: float type of .npy outputs (default f32)\n"
            "  --version, --help\n");
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

int parse_args(Arena *a, int argc, char **argv, Options *o)
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

/* driver_front / driver_back with the command line's options. */
static CompileOptions compile_options(const Options *o)
{
    return (CompileOptions){ .script = o->script, .dump = o->dump, .cpu = o->cpu,
                             .opt_level = o->opt_level, .syms = o->syms, .nsyms = o->nsyms,
                             .no_kernels = o->no_kernels, .method = o->method };
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
