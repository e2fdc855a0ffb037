/* cli.h - the convc command: what its parts share.  The compiler itself
 * is compiler/driver.h; this is arguments, files, and the three commands
 * (check.c, run.c, compile.c), dispatched by main.c. */
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
    const char *object;      /* compile -o */
    const char *header;      /* compile --header */
    const char *emit;        /* compile --emit */
    bool        no_kernels;  /* --no-kernels: reference scalar nests only */
    MethodPolicy method;     /* --method=direct|auto|script */
    int32_t     rate;        /* --rate N: sample rate of sound outputs, or 0 */
    int32_t     out_bits;    /* --out-dtype=f32|f64: 32 or 64 for .npy outputs, or 0 */
} Options;

/* options.c */
void usage(FILE *out);
int  parse_args(Arena *a, int argc, char **argv, Options *o);
/* "convc: error: ..." on stderr; returns 1 */
#define fail driver_error
/* driver_front / driver_back with the command line's options */
bool cli_front(Arena *a, const Options *o, Compiled *c, bool want_ir, const char *default_cpu);
CgModule *cli_back(const Options *o, const IrProgram *ir, const char *default_cpu);

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

/* inputs.c: FILE, or FILE.npz:KEY for one array of an archive */
typedef struct InputFile {
    const char *path;
    const char *key;        /* the .npz array, or NULL */
} InputFile;
InputFile input_file(Arena *a, const char *arg);
/* Load it; *rate is the sample rate of a sound file, else 0. */
int input_load(const InputFile *in, convrt_tensor *t, int32_t *rate);

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
/* Each sound output's rate: --rate, else that of the audio inputs it is
 * computed from (input_rate by argument index, 0 for other files). */
int outputs_set_rates(Arena *a, const Options *o, const Graph *g, const int32_t *input_rate, OutputFile *out,
                      int n);
/* Write t into file as f says, its warnings and errors named after f. */
int output_write(convrt_outfile *file, const OutputFile *f, const convrt_tensor *t);

/* the commands */
int cmd_check(Arena *a, const Options *o);
int cmd_run(Arena *a, const Options *o);
int cmd_compile(Arena *a, const Options *o);

#endif
