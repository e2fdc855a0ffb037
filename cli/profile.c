/* profile.c - convc run --profile: where the time went.
 *
 * A clock that charges the time of `convc run` to one phase after another
 * (compile, load, run, save), the per-stage times the runtime records
 * while the pipeline runs (runtime/src/profile.c, through hooks the code
 * generator puts around each stage call), and the table that puts them
 * next to each stage's work (2 flops per MAC of the check table) and the
 * machine's FMA peak, measured just before the run. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convrt_profile.h"

struct RunProfile {
    double          phase[PHASE_COUNT];     /* seconds */
    ProfilePhase    current;
    double          since;
    int64_t         nstages;
    double         *seconds;                /* per stage of the IR body */
    int64_t        *calls;
    convrt_fma_peak peak;
    int             peak_rc;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

RunProfile *profile_begin(Arena *a, const Options *o)
{
    if (!o->profile)
        return NULL;
    RunProfile *p = arena_alloc(a, sizeof *p);
    memset(p, 0, sizeof *p);
    p->current = PHASE_COMPILE;
    p->since = now();
    return p;
}

void profile_phase(RunProfile *p, ProfilePhase phase)
{
    if (!p)
        return;
    double t = now();
    p->phase[p->current] += t - p->since;
    p->current = phase;
    p->since = t;
}

int profile_stages_start(RunProfile *p, Arena *a, const IrProgram *ir)
{
    if (!p)
        return 0;
    profile_phase(p, PHASE_PEAK);
    p->peak_rc = convrt_measure_fma_peak(&p->peak);
    p->nstages = ir->nstage_nodes;
    p->seconds = arena_array(a, (size_t)p->nstages + 1, sizeof *p->seconds);
    p->calls = arena_array(a, (size_t)p->nstages + 1, sizeof *p->calls);
    if (convrt_profile_start(p->nstages) != 0)
        return 1;
    profile_phase(p, PHASE_RUN);
    return 0;
}

void profile_stages_stop(RunProfile *p)
{
    if (!p)
        return;
    profile_phase(p, PHASE_OTHER);
    convrt_profile_stop(p->seconds, p->calls, p->nstages);
}

/* ---- the table --------------------------------------------------------------- */

/* The node whose stages compute n's value: n itself when it has stages of
 * its own, else the stage it is fused into (schedule.h; a fused group's
 * stages are counted at its root) or inlined into (its one reader,
 * lower.c); NULL when nothing computes it (an unused value). */
static const Node *timed_in(const Schedule *s, const Graph *g, const bool *has_stage, const Node *n)
{
    for (int32_t steps = 0; n && !has_stage[n->id]; steps++) {
        if (steps > g->nodes.len)
            return NULL;
        if (schedule_plan(s, n)->fused_into)
            n = schedule_root(s, n);
        else if (s->consumers[n->id].len == 1)
            n = s->consumers[n->id].items[0];
        else
            return NULL;
    }
    return n;
}

typedef struct Row {
    const Node *node;
    int32_t     number;     /* in the table, from 1 */
    double      seconds;    /* its stages' time (timed rows) */
    double      flops;      /* of every stage timed with it; < 0: unknown */
    const Node *in;         /* the row it is timed with */
} Row;

static const char *row_name(Arena *a, const Graph *g, const Node *n)
{
    const char *name = n->name ? n->name : "";
    bool out = false;
    for (int32_t o = 0; o < g->noutputs; o++)
        if (g->outputs[o].node == n) {
            if (strcmp(name, g->outputs[o].name))
                name = arena_printf(a, "%s%s%s", name, *name ? "," : "", g->outputs[o].name);
            out = true;
        }
    return out ? arena_printf(a, "%s (out)", name) : name;
}

static const char *ms(Arena *a, double seconds)
{
    return arena_printf(a, "%.4f", seconds * 1e3);
}

void profile_report(RunProfile *p, Arena *a, const Compiled *c, const convrt_tensor *inputs,
                    int ninputs_read, int noutputs_written)
{
    if (!p)
        return;
    profile_phase(p, PHASE_OTHER);
    const Graph *g = c->graph;
    const Schedule *s = c->sched;
    const IrProgram *ir = c->ir;
    int32_t nn = s->nplans;
    bool *has_stage = arena_array(a, (size_t)nn + 1, sizeof(bool));
    double *node_seconds = arena_array(a, (size_t)nn + 1, sizeof(double));
    const Node **by_id = arena_array(a, (size_t)nn + 1, sizeof(Node *));
    for (int32_t i = 0; i < g->nodes.len; i++)
        by_id[((const Node *)g->nodes.items[i])->id] = g->nodes.items[i];
    /* each stage of the body to the node it computes: the root of a fused
     * group, whichever member the lowering emitted its nest for */
    double stage_sum = 0;
    for (int64_t k = 0; k < p->nstages && ir->stage_node; k++) {
        int32_t id = ir->stage_node[k];
        if (id < 0 || id >= nn || !by_id[id])
            continue;
        id = schedule_root(s, by_id[id])->id;
        has_stage[id] = true;
        node_seconds[id] += p->seconds[k];
        stage_sum += p->seconds[k];
    }
    /* the size symbols as the inputs bound them, for the MACs */
    SymBinding *bind = arena_array(a, 64, sizeof *bind);
    int32_t nbind = 0, cap = 64;
    for (int32_t i = 0; i < g->inputs.len; i++) {
        const Node *in = g->inputs.items[i];
        for (int32_t j = 0; j < in->shape.rank; j++) {
            const SymExpr *d = in->shape.dims[j];
            if (d->kind != SYM_VAR)
                continue;
            if (nbind == cap) {
                SymBinding *more = arena_array(a, (size_t)cap * 2, sizeof *more);
                memcpy(more, bind, (size_t)nbind * sizeof *bind);
                bind = more;
                cap *= 2;
            }
            bind[nbind++] = (SymBinding){ d->name, inputs[in->input.arg].dims[j] };
        }
    }

    /* one row per stage of the script, and per copy of an input or
     * constant into an output */
    Row *rows = arena_array(a, (size_t)g->nodes.len + 1, sizeof *rows);
    int32_t *row_of = arena_array(a, (size_t)nn + 1, sizeof(int32_t));
    int32_t nrows = 0;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        bool stage = n->op != NODE_INPUT && n->op != NODE_CONST;
        if (!stage && !has_stage[n->id])
            continue;
        Row *r = &rows[nrows];
        r->node = n;
        r->number = nrows + 1;
        row_of[n->id] = nrows++;
        r->in = stage ? timed_in(s, g, has_stage, n) : n;
        r->seconds = node_seconds[n->id];
    }
    for (int32_t i = 0; i < nrows; i++) {
        const Node *n = rows[i].node;
        if (!rows[i].in || n->op == NODE_INPUT || n->op == NODE_CONST)
            continue;
        Row *t = &rows[row_of[rows[i].in->id]];
        int64_t macs;
        if (t->flops >= 0 && n->macs && sym_eval(n->macs, bind, nbind, &macs))
            t->flops += 2.0 * (double)macs;
        else
            t->flops = -1;
    }

    double run = p->phase[PHASE_RUN];
    double peak = p->peak_rc == 0 ? p->peak.gflops : 0;
    const char *head[8] = { "#", "line", "name", "stage", "ms", "share", "GFLOP/s", "% peak" };
    const char *(*cell)[8] = arena_array(a, (size_t)nrows + 2, sizeof *cell);
    size_t width[8];
    for (int k = 0; k < 8; k++)
        width[k] = strlen(head[k]);
    for (int32_t i = 0; i <= nrows; i++) {
        const char **cl = (const char **)cell[i];
        if (i == nrows) {
            /* what the call did besides the stages */
            double rest = run - stage_sum;
            cl[0] = cl[1] = cl[2] = "";
            cl[3] = "(argument checks, scratch memory)";
            cl[4] = ms(a, rest > 0 ? rest : 0);
            cl[5] = run > 0 ? arena_printf(a, "%.1f%%", 100 * (rest > 0 ? rest : 0) / run) : "-";
            cl[6] = cl[7] = "";
        } else {
            const Row *r = &rows[i];
            const Node *n = r->node;
            bool stage = n->op != NODE_INPUT && n->op != NODE_CONST;
            cl[0] = arena_printf(a, "%d", (int)r->number);
            cl[1] = arena_printf(a, "%d", n->loc.first_line);
            cl[2] = row_name(a, g, n);
            cl[3] = stage ? n->desc : arena_printf(a, "copy of %s into the output", n->name ? n->name : "a constant");
            cl[5] = cl[6] = cl[7] = "";
            if (!r->in) {
                cl[4] = "not computed";
            } else if (r->in != n) {
                cl[4] = arena_printf(a, "in #%d", (int)rows[row_of[r->in->id]].number);
            } else {
                cl[4] = ms(a, r->seconds);
                cl[5] = run > 0 ? arena_printf(a, "%.1f%%", 100 * r->seconds / run) : "-";
                if (r->flops > 0 && r->seconds > 0) {
                    double gf = r->flops / r->seconds * 1e-9;
                    cl[6] = arena_printf(a, "%.2f", gf);
                    cl[7] = peak > 0 ? arena_printf(a, "%.1f%%", 100 * gf / peak) : "-";
                } else {
                    cl[6] = cl[7] = "-";
                }
            }
        }
        for (int k = 0; k < 8; k++)
            if (strlen(cl[k]) > width[k])
                width[k] = strlen(cl[k]);
    }

    FILE *out = stdout;
    fprintf(out, "profile of pipeline %s (%s): %d thread%s, CPU %s\n\n", g->name, g->source_name,
            convrt_get_num_threads(), convrt_get_num_threads() == 1 ? "" : "s", s->target.cpu);
    for (int32_t i = -1; i <= nrows; i++) {
        const char *const *cl = i < 0 ? head : cell[i];
        char *line = arena_printf(a, "  %*s  %*s  %-*s  %-*s  %*s  %*s  %*s  %*s", (int)width[0], cl[0],
                                  (int)width[1], cl[1], (int)width[2], cl[2], (int)width[3], cl[3],
                                  (int)width[4], cl[4], (int)width[5], cl[5], (int)width[6], cl[6],
                                  (int)width[7], cl[7]);
        size_t len = strlen(line);
        while (len && line[len - 1] == ' ')
            line[--len] = '\0';
        fprintf(out, "%s\n", line);
    }
    double total = 0;
    for (int k = 0; k < PHASE_COUNT; k++)
        total += p->phase[k];
    fprintf(out, "\n  run      %10.3f ms  the pipeline call: the stages above, each timed around its call\n",
            run * 1e3);
    fprintf(out, "  compile  %10.3f ms  parse, check, optimise, generate code (LLVM)\n",
            p->phase[PHASE_COMPILE] * 1e3);
    fprintf(out, "  load     %10.3f ms  %d input file%s\n", p->phase[PHASE_LOAD] * 1e3, ninputs_read,
            ninputs_read == 1 ? "" : "s");
    fprintf(out, "  save     %10.3f ms  %d output file%s\n", p->phase[PHASE_SAVE] * 1e3, noutputs_written,
            noutputs_written == 1 ? "" : "s");
    fprintf(out, "  other    %10.3f ms  measuring the peak %.3f ms, output shapes, allocation\n",
            (p->phase[PHASE_OTHER] + p->phase[PHASE_PEAK]) * 1e3, p->phase[PHASE_PEAK] * 1e3);
    fprintf(out, "  total    %10.3f ms\n\n", total * 1e3);
    if (p->peak_rc != 0)
        fprintf(out, "  FMA peak: not measured (the CPU has no FMA instructions)\n");
    else
        fprintf(out, "  FMA peak: %.1f GFLOP/s on %d thread%s (%.1f on one), measured now: %d independent "
                     "chains of %d-bit single-precision FMAs per thread, best of 7 runs of %.1f ms\n",
                p->peak.gflops, p->peak.threads, p->peak.threads == 1 ? "" : "s", p->peak.gflops_thread,
                p->peak.chains, p->peak.vector_bits, p->peak.seconds * 1e3);
    fprintf(out, "  GFLOP/s: 2 flops per MAC of `convc check`, over the time of the stage with the "
                 "stages fused or inlined into it (\"in #N\")\n");
}
