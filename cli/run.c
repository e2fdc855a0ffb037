/* run.c - convc run: compile in memory, run on files, write the outputs. */
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

#include "convrt_abi.h"
#include "jit.h"
#include "suggest.h"

/* ---- convc run ----------------------------------------------------------------- */

/* "pipeline 'p' has no input 'imgg'; did you mean 'img'?" */
int no_such_arg(const IrProgram *ir, IrBufferKind kind, const char *name)
{
    Suggest s;
    suggest_init(&s, name);
    for (int32_t b = 0; b < ir->nbuffers; b++)
        if (ir->buffers[b].kind == kind)
            suggest_offer(&s, ir->buffers[b].name);
    const char *what = kind == IR_BUF_INPUT ? "input" : "output";
    if (suggest_result(&s))
        return fail("pipeline '%s' has no %s '%s'; did you mean '%s'?", ir->name, what, name, suggest_result(&s));
    return fail("pipeline '%s' has no %s '%s'", ir->name, what, name);
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
    else if (!strcasecmp(ext, "wav") || !strcasecmp(ext, "flac") || !strcasecmp(ext, "ogg"))
        kind = t->rank == 1 ? "mono sound " : "sound with several channels ";
    const char *dims = "";
    for (int32_t j = 0; j < t->rank; j++)
        dims = arena_printf(a, "%s%s%lld", dims, j ? ", " : "", (long long)t->dims[j]);
    return arena_printf(a, "%s was read as %sf32[%s]", file, kind, dims);
}

/* The runtime knows the pipeline's arguments but neither the script nor the
 * files: a failed check on the script is said as the checker would say it,
 * at the stage's line, and a failure that concerns the inputs' shapes is
 * followed by what each file was read as and how it is declared. */
void report_run_failure(Arena *a, Compiled *c, const char **in_file, const convrt_tensor *tensors,
                        int code, const char *msg)
{
    const Graph *g = c->graph;
    const char *rest;
    const GraphCheck *hit = graph_check_in_message(a, g, msg, &rest);
    const char *at = hit ? arena_printf(a, "%s:%d:%d: ", g->source_name, hit->loc.first_line,
                                        diag_column(&c->diag, hit->loc.first_line, hit->loc.first_column))
                 : NULL;
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
convrt_tensor known_shape(const IrProgram *ir, int32_t i)
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

/* The output that goes to standard output, if any (write_now: written
 * before the files are committed, so that a closed pipe leaves no file), or
 * after the commit the line saying what was written (on stderr when stdout
 * carries data). */
static int finish_outputs(Arena *a, const Options *o, const IrProgram *ir, const OutputFile *outf, int nout,
                          convrt_tensor *tensors, bool write_now)
{
    int32_t ni = ir->ninputs;
    int n = 0;
    bool to_stdout = false;
    const char **names = arena_array(a, (size_t)nout + 1, sizeof(char *));
    const char **files = arena_array(a, (size_t)nout + 1, sizeof(char *));
    const convrt_tensor **written = arena_array(a, (size_t)nout + 1, sizeof(convrt_tensor *));
    /* in the pipeline's order of outputs, then the command line's */
    for (int k = 0, i; k < ir->noutputs * nout; k++) {
        if (outf[i = k % nout].index != k / nout)
            continue;
        names[n] = outf[i].name;
        files[n] = outf[i].path;
        written[n++] = &tensors[ni + outf[i].index];
        if (!is_stdio(outf[i].path))
            continue;
        to_stdout = true;
        if (!write_now)
            continue;
        convrt_set_error_handler(report_to_stderr, (void *)outf[i].context);
        int rc = write_stdout_npy(outf[i].name, &tensors[ni + outf[i].index]);
        convrt_set_error_handler(report_to_stderr, NULL);
        if (rc != 0)
            return 1;
    }
    if (!write_now && n > 0 && !o->quiet)
        print_written(to_stdout ? stderr : stdout, a, names, files, written, n);
    return 0;
}

int cmd_run(Arena *a, const Options *o)
{
    if (batch_requested(o))
        return cmd_run_batch(a, o);
    Compiled c;
    memset(&c, 0, sizeof c);
    RunProfile *prof = profile_begin(a, o);
    if (!cli_front(a, o, &c, true, "native"))
        return 1;
    const IrProgram *ir = c.ir;
    int32_t ni = ir->ninputs, no = ir->noutputs;

    /* Every name on the command line must mean something, and every input
     * must be given, before anything is compiled or read. */
    int errors = 0;
    const char **in_file = arena_array(a, (size_t)ni + 1, sizeof(char *));
    InputFile *inputs = arena_array(a, (size_t)ni + 1, sizeof(InputFile));
    int32_t *in_rate = arena_array(a, (size_t)ni + 1, sizeof(int32_t));
    for (int i = 0; i < o->ninputs; i++) {
        int32_t k = -1;
        for (int32_t b = 0; b < ir->nbuffers; b++)
            if (ir->buffers[b].kind == IR_BUF_INPUT && !strcmp(ir->buffers[b].name, o->inputs[i].name))
                k = ir->buffers[b].abi_index;
        if (k < 0)
            errors += no_such_arg(ir, IR_BUF_INPUT, o->inputs[i].name);
        else if (in_file[k])
            errors += fail("input '%s' is given twice", o->inputs[i].name);
        else
            in_file[k] = o->inputs[i].file;
    }
    /* One output may go to several files (outputs.c). */
    OutputFile *outf;
    int nout;
    errors += outputs_parse(a, o, ir, &outf, &nout);
    for (int32_t b = 0; b < ir->nbuffers; b++)
        if (ir->buffers[b].kind == IR_BUF_INPUT && !in_file[ir->buffers[b].abi_index])
            errors += fail("input '%s' is not given (add %s=FILE)", ir->buffers[b].name,
                           ir->buffers[b].name);
    if (errors)
        return 1;

    /* Every output target, before anything is compiled, loaded or run: a
     * file of its own, not one that is read, a known extension, a shape the
     * format can hold as far as it is known, and a place it can be made. */
    FileRef *outs = arena_array(a, (size_t)nout + 1, sizeof(FileRef));
    int nouts = 0;
    for (int i = 0; i < nout; i++)
        if (!is_stdio(outf[i].path))    /* standard output: checked as it is written */
            outs[nouts++] = file_ref(a, outf[i].what, outf[i].path);
    FileRef *reads = arena_array(a, (size_t)(ni + c.graph->nodes.len) + 1, sizeof(FileRef));
    int nreads = read_files(a, o, c.graph, reads);
    for (int32_t i = 0; i < ni; i++) {
        inputs[i] = input_file(a, in_file[i]);
        if (!is_stdio(in_file[i]))
            reads[nreads++] = file_ref(a, arena_printf(a, "input '%s' ('%s')", ir_arg_name(ir, i), inputs[i].path),
                                       inputs[i].path);
    }
    errors = check_targets(outs, nouts, reads, nreads);
    convrt_set_warning_handler(warn_to_stderr, NULL);
    for (int i = 0; i < nout; i++) {
        if (is_stdio(outf[i].path))
            continue;
        convrt_tensor shape = known_shape(ir, outf[i].index);
        convrt_set_error_handler(report_to_stderr, (void *)outf[i].context);
        errors += convrt_save_check_with(outf[i].path, &shape, &outf[i].opt) != 0;
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
    convrt_outfile **files = calloc((size_t)nout + 1, sizeof *files);
    Jit *jit = NULL;
    int nfiles = 0;
    sigset_t saved_signals;
    bool holding = false;
    if (!tensors || !args || !files) {
        fail("out of memory");
        goto out;
    }
    profile_phase(prof, PHASE_LOAD);
    for (int32_t i = 0; i < ni; i++) {
        if ((is_stdio(in_file[i]) ? load_stdin_npy(ir_arg_name(ir, i), &tensors[i])
                                  : input_load(&inputs[i], &tensors[i], &in_rate[i])) != 0)
            goto out;
        args[i] = &tensors[i];
    }
    /* Sound outputs keep the rate of the sound they come from. */
    if (outputs_set_rates(a, o, c.graph, in_rate, outf, nout) != 0)
        goto out;
    for (int32_t i = 0; i < no; i++)
        args[ni + i] = &tensors[ni + i];

    profile_phase(prof, PHASE_COMPILE);
    jit = cli_jit(o, &c, "native");
    if (!jit)
        goto out;
    const convrt_pipeline *p = jit_pipeline(jit);
    if (!p) {
        fail("the compiled module has no pipeline descriptor");
        goto out;
    }
    profile_phase(prof, PHASE_OTHER);
    if (run_step(a, &c, in_file, tensors, p, args, convrt_pipeline_output_shapes) != 0)
        goto out;
    /* Now that the sizes are known, once more: can each format hold its
     * output?  Still before the body runs. */
    errors = 0;
    for (int i = 0; i < nout; i++) {
        if (is_stdio(outf[i].path))
            continue;
        convrt_set_error_handler(report_to_stderr, (void *)outf[i].context);
        errors += convrt_save_check_with(outf[i].path, &tensors[ni + outf[i].index], &outf[i].opt) != 0;
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
    if (profile_stages_start(prof, a, ir) != 0)
        goto out;
    int ran = run_step(a, &c, in_file, tensors, p, args, convrt_pipeline_run);
    profile_stages_stop(prof);
    if (ran != 0)
        goto out;
    /* Write only now that the whole run has succeeded, and all outputs or
     * none (see "output files" above). */
    profile_phase(prof, PHASE_SAVE);
    hold_signals(true, &saved_signals);
    holding = true;
    for (int i = 0; i < nout; i++) {
        if (is_stdio(outf[i].path))
            continue;
        convrt_set_error_handler(report_to_stderr, (void *)outf[i].context);
        if (convrt_outfile_open(outf[i].path, &files[nfiles]) != 0)
            goto out;
        nfiles++;
        if (output_write(files[nfiles - 1], &outf[i], &tensors[ni + outf[i].index]) != 0)
            goto out;
    }
    convrt_set_error_handler(report_to_stderr, NULL);
    if (finish_outputs(a, o, ir, outf, nout, tensors, true) != 0)
        goto out;
    rc = convrt_outfile_commit(files, nfiles) != 0;
    nfiles = 0;     /* released by the commit */
    if (rc == 0)
        finish_outputs(a, o, ir, outf, nout, tensors, false);
    if (rc == 0 && o->noutputs == 0)
        fprintf(stderr, "convc: note: no -o NAME=FILE given; the results were computed and not written\n");
    if (rc == 0)
        profile_report(prof, a, &c, tensors, ni, nouts);
out:
    for (int i = 0; i < nfiles; i++)
        convrt_outfile_discard(files[i]);
    if (holding)
        hold_signals(false, &saved_signals);
    jit_free(jit);
    for (int32_t i = 0; tensors && i < ni + no; i++)
        convrt_tensor_free(&tensors[i]);
    free(tensors);
    free(args);
    free(files);
    convrt_set_error_handler(NULL, NULL);
    convrt_set_warning_handler(NULL, NULL);
    return rc;
}

