/* outputs.c - what `convc run -o NAME=FILE[:OPTIONS]` writes.
 *
 * One output may go to several files (-o y=a.png -o y=a.npy), each with
 * options for its format: `auto` rescales an image's min..max to its full
 * range, a number of bits (`16` for 16-bit PNG/PGM/PPM or WAV/FLAC, `24`,
 * `32`, `f64` for a float64 .npy) picks the sample size.  Sound needs a
 * sample rate: the one of the audio inputs the output is computed from
 * (found by walking the stage graph), or --rate. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool ends_with(const char *path, const char *ext)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) && !strcasecmp(dot + 1, ext);
}

static bool audio_path(const char *path)
{
    return ends_with(path, "wav") || ends_with(path, "flac") || ends_with(path, "ogg");
}

/* FILE[:OPTIONS]: the text after the last ':' is options when it holds no
 * '.' or '/' (so "C:/x.npy" or "a:b.npy" are plain names); a trailing ':'
 * ends a name that would otherwise look like it has options. */
static int split_options(Arena *a, const char *spec, const char **path, convrt_save_options *opt)
{
    *path = spec;
    const char *colon = strrchr(spec, ':');
    if (!colon || strpbrk(colon + 1, "./"))
        return 0;
    *path = arena_strndup(a, spec, (size_t)(colon - spec));
    char buf[64];
    snprintf(buf, sizeof buf, "%s", colon + 1);
    if (strlen(colon + 1) >= sizeof buf)
        return fail("-o '%s': options '%s' are too long", spec, colon + 1);
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (!strcmp(w, "auto"))
            opt->rescale = 1;
        else if (!strcmp(w, "8") || !strcmp(w, "16") || !strcmp(w, "24") || !strcmp(w, "32"))
            opt->bits = atoi(w);
        else if (!strcmp(w, "f32") || !strcmp(w, "f64"))
            opt->bits = w[1] == '3' ? 32 : 64;
        else
            return fail("-o '%s': unknown option '%s' (auto, 8, 16, 24, 32, f32 or f64; a file name "
                        "that ends in ':%s' is written with a ':' after it)", spec, w, w);
    }
    return 0;
}

int outputs_parse(Arena *a, const Options *o, const IrProgram *ir, OutputFile **out, int *n)
{
    int errors = 0;
    *out = arena_array(a, (size_t)o->noutputs + 1, sizeof(OutputFile));
    *n = 0;
    for (int i = 0; i < o->noutputs; i++) {
        OutputFile *f = &(*out)[*n];
        memset(f, 0, sizeof *f);
        f->name = o->outputs[i].name;
        f->index = -1;
        for (int32_t b = 0; b < ir->nbuffers; b++)
            if (ir->buffers[b].kind == IR_BUF_OUTPUT && !strcmp(ir->buffers[b].name, f->name))
                f->index = ir->buffers[b].abi_index - ir->ninputs;
        if (f->index < 0) {
            errors += no_such_arg(ir, IR_BUF_OUTPUT, f->name);
            continue;
        }
        if (split_options(a, o->outputs[i].file, &f->path, &f->opt) != 0) {
            errors++;
            continue;
        }
        if (f->opt.bits == 0 && ends_with(f->path, "npy"))
            f->opt.bits = o->out_bits;
        f->audio = audio_path(f->path);
        f->context = arena_printf(a, "output '%s'", f->name);
        f->what = arena_printf(a, "output '%s' ('%s')", f->name, f->path);
        (*n)++;
    }
    return errors;
}

/* ---- sample rates --------------------------------------------------------- */

/* Mark in seen[] every input argument node n is computed from. */
static void inputs_of(const Node *n, bool *visited, bool *seen)
{
    if (visited[n->id])
        return;
    visited[n->id] = true;
    if (n->op == NODE_INPUT)
        seen[n->input.arg] = true;
    const Node *const *ins = (const Node *const *)(n->ins ? n->ins : n->in);
    for (int32_t k = 0; k < n->nin; k++)
        if (ins[k])
            inputs_of(ins[k], visited, seen);
}

int32_t output_rate(Arena *a, const Options *o, const Graph *g, const int32_t *input_rate, const OutputFile *f,
                    const char **why)
{
    if (o->rate)
        return o->rate;
    int32_t maxid = 0;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *node = g->nodes.items[i];
        maxid = node->id > maxid ? node->id : maxid;
    }
    const Node *node = NULL;
    for (int32_t k = 0; k < g->noutputs; k++)
        if (!strcmp(g->outputs[k].name, f->name))
            node = g->outputs[k].node;
    bool *visited = arena_array(a, (size_t)maxid + 1, sizeof(bool));
    bool *seen = arena_array(a, (size_t)g->inputs.len + 1, sizeof(bool));
    if (node)
        inputs_of(node, visited, seen);
    int32_t rate = 0;
    const char *rates = "";
    bool differ = false;
    for (int32_t k = 0; k < g->inputs.len; k++) {
        const Node *in = g->inputs.items[k];
        int32_t r = input_rate[in->input.arg];
        if (!seen[in->input.arg] || r == 0)
            continue;
        rates = arena_printf(a, "%s%s'%s' (%d Hz)", rates, *rates ? ", " : "", in->name, (int)r);
        if (rate && r != rate)
            differ = true;
        if (!rate)
            rate = r;
    }
    if (differ)
        *why = arena_printf(a, "the audio inputs it is computed from have different sample rates: %s; give the "
                            "output's rate with --rate N", rates);
    else if (!rate)
        *why = "no audio input leads to it, so its sample rate is not known; give it with --rate N";
    return differ ? 0 : rate;
}

void outputs_warn_unused_rate(const Options *o, const OutputFile *out, int n)
{
    for (int i = 0; i < n; i++)
        if (out[i].audio)
            return;
    if (o->rate)
        fprintf(stderr, "convc: warning: --rate %d is not used: no output is a sound file\n", (int)o->rate);
}

int outputs_set_rates(Arena *a, const Options *o, const Graph *g, const int32_t *input_rate, OutputFile *out,
                      int n)
{
    int errors = 0;
    for (int i = 0; i < n; i++) {
        const char *why = NULL;
        if (out[i].audio && (out[i].opt.rate = output_rate(a, o, g, input_rate, &out[i], &why)) == 0)
            errors += fail("%s: %s", out[i].what, why);
    }
    outputs_warn_unused_rate(o, out, n);
    return errors;
}

/* ---- writing ---------------------------------------------------------------- */

/* The runtime's warnings while writing an output, with what convc can do
 * about clipping. */
const char *output_warning_hint(const OutputFile *f, int code)
{
    if (code == CONVRT_W_CLIPPED && !f->audio && !f->opt.rescale)
        return "; -o NAME=FILE:auto rescales min..max to the full range instead";
    return "";
}

static void output_warning(void *user, int code, const char *message)
{
    const OutputFile *f = user;
    fprintf(stderr, "convc: warning: %s: %s%s\n", f->context, message, output_warning_hint(f, code));
}

int output_write(convrt_outfile *file, const OutputFile *f, const convrt_tensor *t)
{
    convrt_set_error_handler(report_to_stderr, (void *)f->context);
    convrt_set_warning_handler(output_warning, (void *)f);
    int rc = convrt_save_to_with(file, t, &f->opt);
    convrt_set_warning_handler(warn_to_stderr, NULL);
    convrt_set_error_handler(report_to_stderr, NULL);
    return rc;
}
