/* cli.h - the convc command: what its parts share.  The compiler itself
 * is compiler/driver.h; this is arguments, files, and the commands
 * (check.c, run.c, compile.c, graph.c), found in options.c's table by main.c. */
#ifndef CONVC_CLI_H
#define CONVC_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <signal.h>
#include <sys/types.h>

#include "convrt.h"
#include "driver.h"

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
    const InputShape *shapes; int nshapes;  /* check INPUT=FILE: the files' shapes */
    const char *object;      /* compile -o */
    const char *header;      /* compile --header */
    const char *emit;        /* compile --emit */
    bool        no_kernels;  /* --no-kernels: reference scalar nests only */
    bool        quiet;       /* -q: run prints nothing about what it wrote */
    bool        help;        /* --help after the command: print its help */
    MethodPolicy method;     /* --method=direct|auto|script */
    bool        no_cache;    /* --no-cache: neither read nor fill the compile cache */
    bool        verbose;     /* --verbose: say what the cache did, batch details */
    bool        profile;     /* run --profile */
    const char *picture;     /* graph -o */
    int32_t     rate;        /* --rate N: sample rate of sound outputs, or 0 */
    int32_t     out_bits;    /* --out-dtype=f32|f64: 32 or 64 for .npy outputs, or 0 */
} Options;

/* options.c: the tables of commands and options */
void usage(FILE *out);
/* `convc NAME --help`; 1 when there is no such command. */
int  command_help(FILE *out, const char *name);
bool known_command(const char *name);
/* "unknown command ..." with the closest command; returns 1. */
int  unknown_command(const char *name);
int  parse_args(Arena *a, int argc, char **argv, Options *o);
/* The command's function on the parsed options. */
int  run_command(Arena *a, const Options *o);
/* "convc: error: ..." on stderr; returns 1 */
#define fail driver_error
/* driver_front / driver_back with the command line's options */
bool cli_front(Arena *a, const Options *o, Compiled *c, bool want_ir, const char *default_cpu);
CgModule *cli_back(const Options *o, const IrProgram *ir, const char *default_cpu);
/* cli_back optimising the largest kernels on every CPU (up to 16), with
 * objects also compiling them there, for cg_emit_objects_consume */
CgModule *cli_back_threads(const Options *o, const IrProgram *ir, const char *default_cpu,
                           bool objects);

/* files.c: checking targets first, writing all files or none */
void report_to_stderr(void *user, int code, const char *message);
void warn_to_stderr(void *user, int code, const char *message);

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

FileRef file_ref(Arena *a, const char *what, const char *path);
int  check_targets(const FileRef *out, int nout, const FileRef *in, int nin);
int  read_files(Arena *a, const Options *o, const Graph *g, FileRef *in);
/* Block (hold) or restore SIGINT, SIGTERM, SIGHUP and SIGQUIT while
 * temporary files exist. */
void hold_signals(bool hold, sigset_t *saved);
int  write_files(const char *const *paths, char *const *bytes, const size_t *lens, int n);

/* stdio.c: '-' for standard input and output, and what run wrote */
bool is_stdio(const char *file);
/* Standard input read by one argument at most, standard output written by
 * one output at most and not with --dump; else 1 after the error. */
int  check_stdio_use(const Options *o);
/* Input NAME's .npy from standard input (errors name "<stdin>"). */
int  load_stdin_npy(const char *input, convrt_tensor *t);
int  write_stdout_npy(const char *output, const convrt_tensor *t);
/* "convc: wrote gx=gx.npy f32[6, 7], mag=mag.png f32[6, 7]" */
void print_written(FILE *out, Arena *a, const char *const *names, const char *const *files,
                   const convrt_tensor *const *tensors, int n);

/* input_shapes.c: check's and graph's INPUT=FILE, as shapes.  A file that
 * cannot be read gets rank -1 and its error in (*why)[i]; returns how many
 * could not be read.  report_input_shapes prints those errors: after the
 * front end, so that a misspelled input name is said first. */
int  load_input_shapes(Arena *a, const Options *o, InputShape **out, int *n, const char ***why);
void report_input_shapes(const Options *o, const char **why);

/* inputs.c: FILE, or FILE.npz:KEY for one array of an archive */
typedef struct InputFile {
    const char *path;
    const char *key;        /* the .npz array, or NULL */
} InputFile;
InputFile input_file(Arena *a, const char *arg);
/* Load it; *rate is the sample rate of a sound file, else 0. */
int input_load(const InputFile *in, convrt_tensor *t, int32_t *rate);
/* Whether it is read as sound (and so has a sample rate). */
bool input_is_sound(const InputFile *in);

/* outputs.c: -o NAME=FILE[:OPTIONS], several files per output allowed */
typedef struct OutputFile {
    const char *name;       /* the pipeline's output */
    int32_t     index;      /* its index among the pipeline's outputs */
    const char *path;       /* the file, without the options */
    const char *context;    /* "output 'y'" */
    const char *what;       /* "output 'y' ('y.png')" */
    convrt_save_options opt;
    bool        audio;
} OutputFile;
int outputs_parse(Arena *a, const Options *o, const IrProgram *ir, OutputFile **out, int *n);
/* Sound output f's rate: --rate, else the one rate of the audio inputs it
 * is computed from (input_rate by argument index, 0 for other files); 0
 * with *why saying what is wrong when there is none. */
int32_t output_rate(Arena *a, const Options *o, const Graph *g, const int32_t *input_rate, const OutputFile *f,
                    const char **why);
/* output_rate for each sound output, into its options; errors name f->what. */
int outputs_set_rates(Arena *a, const Options *o, const Graph *g, const int32_t *input_rate, OutputFile *out,
                      int n);
/* "--rate N is not used" when no output is sound. */
void outputs_warn_unused_rate(const Options *o, const OutputFile *out, int n);
/* Write t into file as f says, its warnings and errors named after f. */
int output_write(convrt_outfile *file, const OutputFile *f, const convrt_tensor *t);
/* What convc adds to a runtime warning of code while f is written. */
const char *output_warning_hint(const OutputFile *f, int code);

/* the commands */
int cmd_check(Arena *a, const Options *o);
int cmd_run(Arena *a, const Options *o);
int cmd_compile(Arena *a, const Options *o);
int cmd_graph(Arena *a, const Options *o);

/* profile.c: run --profile.  Each call does nothing when p is NULL (no
 * --profile).  The clock charges time to one phase after another. */
typedef enum ProfilePhase {
    PHASE_COMPILE, PHASE_LOAD, PHASE_PEAK, PHASE_RUN, PHASE_SAVE, PHASE_OTHER, PHASE_COUNT
} ProfilePhase;
typedef struct RunProfile RunProfile;
RunProfile *profile_begin(Arena *a, const Options *o);     /* in PHASE_COMPILE */
void profile_phase(RunProfile *p, ProfilePhase phase);
/* Measure the FMA peak, then record the stages of ir from here on (in
 * PHASE_RUN) until profile_stages_stop.  0, or 1 after a message. */
int  profile_stages_start(RunProfile *p, Arena *a, const IrProgram *ir);
void profile_stages_stop(RunProfile *p);
/* The table, on stdout; inputs bind the size symbols. */
void profile_report(RunProfile *p, Arena *a, const Compiled *c, const convrt_tensor *inputs,
                    int ninputs_read, int noutputs_written);

/* run.c, for batch.c and outputs.c */
/* "pipeline 'p' has no output 'mg'; did you mean 'mag'?"; returns 1 */
int no_such_arg(const IrProgram *ir, IrBufferKind kind, const char *name);
void report_run_failure(Arena *a, Compiled *c, const char **in_file, const convrt_tensor *tensors,
                        int code, const char *msg);
convrt_tensor known_shape(const IrProgram *ir, int32_t i);

/* cache.c: the compiled pipeline for run, from the compile cache when it
 * holds it (parse, checks and lowering still run: only LLVM is skipped),
 * else compiled and stored there.  NULL after a message. */
struct Jit *cli_jit(const Options *o, const Compiled *c, const char *default_cpu);
/* convc cache [clear] */
int cmd_cache(int argc, char **argv);

/* batch.c: convc run with a pattern as an input: the pipeline compiled
 * once and run on every file it matches. */
bool batch_requested(const Options *o);
int  cmd_run_batch(Arena *a, const Options *o);

#endif
