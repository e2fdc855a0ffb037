/* driver.h - the compiler in two calls: the one list of passes, from a
 * script to a checked stage graph, its schedule and the loop IR
 * (driver_front), and from the IR to an LLVM module (driver_back).  The
 * convc command (cli/) is built on these. */
#ifndef CONVC_DRIVER_H
#define CONVC_DRIVER_H

#include <stdbool.h>
#include <stdio.h>

#include "arena.h"
#include "codegen.h"
#include "diag.h"
#include "graph.h"
#include "ir.h"
#include "schedule.h"

#define CONVC_VERSION "0.1.0"

/* What --dump prints, as a bit set. */
typedef enum Dump {
    DUMP_NONE = 0, DUMP_AST = 1, DUMP_IR = 2, DUMP_LLVM = 4, DUMP_ASM = 8, DUMP_SCHEDULE = 16,
} Dump;

typedef struct CompileOptions {
    const char       *script;       /* path of the .conv file */
    unsigned          dump;         /* Dump bits: printed to stdout */
    const char       *cpu;          /* --target-cpu, or NULL for the caller's default */
    int               opt_level;    /* 0..3 */
    const SymBinding *syms;         /* size symbols bound by the caller */
    int               nsyms;
    const InputShape *input_shapes; /* files whose shapes bind symbols */
    int               ninput_shapes;
    bool              no_kernels;   /* reference scalar nests only */
    MethodPolicy      method;       /* --method */
    FILE             *messages;     /* diagnostics and errors; NULL: stderr */
    bool              profile;      /* time each stage (CgTarget.profile) */
    int               codegen_threads;  /* CgTarget.threads */
    bool              codegen_objects;  /* CgTarget.objects */
} CompileOptions;

/* Everything the front and middle made; it lives in the caller's arena. */
typedef struct Compiled {
    Source     src;
    Diag       diag;
    Graph     *graph;
    Schedule  *sched;
    IrProgram *ir;      /* NULL unless asked for (want_ir) or dumped */
} Compiled;

/* Read, parse and check the script, run the passes and, when want_ir (or a
 * dump needs it), lower it.  Diagnostics go to o->messages (stderr when
 * NULL); false after an error. */
bool driver_front(Arena *a, const CompileOptions *o, Compiled *c, bool want_ir,
                  const char *default_cpu);
/* The LLVM module of ir, or NULL after a message on o->messages. */
CgModule *driver_back(const CompileOptions *o, const IrProgram *ir, const char *default_cpu);

/* "convc: error: ..." on stderr; returns 1. */
int driver_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The directory part of path ("." when there is none), in a. */
const char *driver_dir_of(Arena *a, const char *path);
/* What a file of this st_mode is, for messages: "a directory", "a FIFO" ... */
const char *driver_file_kind(unsigned mode);
/* All of stream f, read to its end, malloc'ed with a NUL after it (*len
 * bytes before that); NULL with *err = ENOMEM, EFBIG (more than max
 * bytes) or the read's errno.  For '-': the script, or an .npy piped in. */
char *driver_read_stream(FILE *f, size_t max, size_t *len, int *err);

#endif
