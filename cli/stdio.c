/* stdio.c - '-' on the command line: the script or an .npy input read from
 * standard input, an .npy output written to standard output, each stream
 * used by one argument at most; and the line saying what `run` wrote. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool is_stdio(const char *file) { return file && strcmp(file, "-") == 0; }

int check_stdio_use(const Options *o)
{
    int reader = is_stdio(o->script) ? -1 : -2;     /* -1: the script; i: input i */
    for (int i = 0; i < o->ninputs; i++) {
        if (!is_stdio(o->inputs[i].file))
            continue;
        if (reader == -1)
            return fail("standard input can be read once, but the script and input '%s' are both '-'",
                        o->inputs[i].name);
        if (reader >= 0)
            return fail("standard input can be read once, but inputs '%s' and '%s' are both '-'",
                        o->inputs[reader].name, o->inputs[i].name);
        reader = i;
    }
    const char *writer = NULL;
    for (int i = 0; i < o->noutputs; i++) {
        if (!is_stdio(o->outputs[i].file))
            continue;
        if (writer)
            return fail("only one output can go to standard output, but '%s' and '%s' are both '-'", writer,
                        o->outputs[i].name);
        writer = o->outputs[i].name;
        if (o->dump)
            return fail("--dump prints to standard output, where output '%s' goes ('-')", writer);
    }
    return 0;
}

int load_stdin_npy(const char *input, convrt_tensor *t)
{
    if (isatty(STDIN_FILENO))
        return fail("input '%s' is '-' but standard input is a terminal; pipe an .npy into it", input);
    size_t len;
    int err;
    char *buf = driver_read_stream(stdin, SIZE_MAX - 1, &len, &err);
    if (!buf)
        return fail("input '%s': cannot read standard input: %s", input,
                    err == ENOMEM ? "out of memory" : strerror(err));
    static char context[160];
    snprintf(context, sizeof context, "input '%s'", input);
    convrt_set_error_handler(report_to_stderr, context);
    int rc = convrt_npy_load_memory(buf, len, "<stdin>", t);
    convrt_set_error_handler(report_to_stderr, NULL);
    free(buf);
    return rc;
}

int write_stdout_npy(const char *output, const convrt_tensor *t)
{
    clearerr(stdout);
    int rc = convrt_npy_write_stream(stdout, "<stdout>", t);
    if (rc == 0 && fflush(stdout) != 0)
        rc = fail("output '%s': cannot write standard output: %s", output, strerror(errno ? errno : EIO));
    return rc;
}

void print_written(FILE *out, Arena *a, const char *const *names, const char *const *files,
                   const convrt_tensor *const *tensors, int n)
{
    const char *line = "";
    for (int i = 0; i < n; i++) {
        const char *dims = "";
        for (int32_t j = 0; j < tensors[i]->rank; j++)
            dims = arena_printf(a, "%s%s%lld", dims, j ? ", " : "", (long long)tensors[i]->dims[j]);
        line = arena_printf(a, "%s%s%s=%s f32[%s]", line, i ? ", " : "", names[i],
                            is_stdio(files[i]) ? "<stdout>" : files[i], dims);
    }
    fprintf(out, "convc: wrote %s\n", line);
}
