/* compile.c - convc compile: an object file and its C header. */
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

#include "header.h"

/* ---- convc compile ---------------------------------------------------------- */

static const char *default_header(Arena *a, const char *object)
{
    size_t n = strlen(object);
    if (n > 2 && !strcmp(object + n - 2, ".o"))
        return arena_printf(a, "%.*s.h", (int)(n - 2), object);
    return arena_printf(a, "%s.h", object);
}

int cmd_compile(Arena *a, const Options *o)
{
    const char *emit = o->emit ? o->emit : "obj";
    bool obj = !strcmp(emit, "obj");
    if (!o->object)
        return fail("compile needs -o FILE");
    Compiled c;
    memset(&c, 0, sizeof c);
    if (!cli_front(a, o, &c, true, "x86-64-v3"))
        return 1;
    char *name_err = NULL;
    if (header_check_names(c.ir, &name_err) != 0) {
        fprintf(stderr, "%s\n", name_err);
        free(name_err);
        return 1;
    }

    /* Both targets before anything is compiled (see "output files").  The
     * header comes with an object, and with assembly or LLVM IR when
     * --header names it. */
    const char *paths[2] = { o->object, o->header ? o->header : obj ? default_header(a, o->object) : NULL };
    int n = paths[1] ? 2 : 1;
    FileRef outs[2];
    outs[0] = file_ref(a, arena_printf(a, "-o '%s'", paths[0]), paths[0]);
    if (n == 2)
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
    CgModule *m = errors ? NULL : cli_back_threads(o, c.ir, "x86-64-v3", false);
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

