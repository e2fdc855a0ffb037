/* schedule.h - how each stage of a checked graph will be computed.
 *
 * The optimisation passes (passes/passes.h) sit between the checker and
 * lowering.  Each one reads the stage graph and the decisions made so far
 * and records more: which micro-kernel computes a stage and with what
 * register block, which elementwise stages are applied in registers by
 * their producer, which stages need a buffer.  Lowering (lower.c) then
 * turns graph + schedule into the loop IR.  The graph itself is never
 * changed, so every decision can be printed (`--dump=schedule` prints the
 * schedule after each pass) and undone by not running a pass: with no pass
 * at all every stage takes the reference scalar loop nest. */
#ifndef CONVC_SCHEDULE_H
#define CONVC_SCHEDULE_H

#include <stdio.h>

#include "graph.h"
#include "target.h"

typedef enum StageKernel {
    KERNEL_SCALAR = 0,  /* the reference loop nest (lower.c) */
    KERNEL_CONV_PLANE,  /* kernels/conv_plane.c: vectors of consecutive
                           output pixels of the flattened plane */
    KERNEL_CONV_ROWS,   /* kernels/conv_rows.c: vectors within output rows
                           at fixed columns (targets without mask
                           registers; depthwise layers) */
    KERNEL_CONV_CHAN,   /* kernels/conv_chan.c: vectors of output channels
                           of one pixel (strided convolutions, stems); nk is
                           the channel block, nv the pixels of a row block */
    KERNEL_POOL_ROWS,   /* kernels/pool_rows.c: vectors along output rows */
    KERNEL_STENCIL_ROWS,/* kernels/stencil_rows.c: one filter over every
                           plane, any padding mode; nk is the row block */
    KERNEL_FFT,         /* kernels/fft.c: calls of the runtime's FFT
                           convolution, then bias and epilogue in place
                           (set by passes/algorithm.c with ALGO_FFT) */
} StageKernel;

/* The most taps a vector kernel unrolls along one dim (and, but for the
 * separable passes, in all): passes/kernels.c leaves larger kernels to the
 * scalar nest, and the emitters size their tables by it. */
enum { KERNEL_MAX_TAPS = 64 };

/* A separable stage's strips (passes/algorithm.c, kernels/stencil_rows.c):
 * strips of whole rows up to SEP_STRIP_BYTES, or in column tiles of at
 * least SEP_TILE_COLS columns, each strip as tall as SEP_TILE_BYTES of a
 * tile holds. */
enum { SEP_STRIP_BYTES = 1 << 20, SEP_TILE_COLS = 512, SEP_TILE_BYTES = 384 << 10 };

/* How a stage reads its main input (passes/layout.c).  Every tensor the
 * pipeline hands in or out, and every intermediate, is NCHW; a stage may
 * read its input through a private copy in another layout. */
typedef enum InputLayout {
    LAYOUT_DIRECT = 0,  /* the producer's NCHW buffer as it is */
    LAYOUT_PHASES,      /* phase planes: the input split by row and column
                           modulo the stride (kernels/conv_common.c), so a
                           strided window is a unit-stride one */
    LAYOUT_LINES,       /* each input plane copied to start a 64-byte
                           line (the phase copy of a stride-1 window) */
} InputLayout;

/* How a stage's sums are computed (passes/algorithm.c). */
typedef enum Algorithm {
    ALGO_DIRECT = 0,    /* every output's sum in the order written */
    ALGO_SEPARABLE,     /* a rank-1 2-D kernel as a row pass then a column
                           pass over strips of rows (other rounding) */
    ALGO_FFT,           /* overlap-save FFT blocks (other rounding) */
} Algorithm;

/* --method on the command line: what the script's method= options say,
 * direct everywhere, or the compiler's choice everywhere. */
typedef enum MethodPolicy { POLICY_SCRIPT = 0, POLICY_DIRECT, POLICY_AUTO } MethodPolicy;

/* The output row widths at which a plane kernel with a conv-chan plan
 * beside it (plan.alt) takes that plan. */
enum { CHAN_ALT_NWIDTHS = 3 };
static const int64_t CHAN_ALT_WIDTHS[CHAN_ALT_NWIDTHS] = { 7, 14, 28 };

typedef struct StagePlan {
    StageKernel  kernel;
    InputLayout  input_layout;
    Algorithm    algorithm;
    const float *sep_u, *sep_v;     /* separable: column and row factors */
    int32_t      sep_tile_cols;     /* separable: the strips in column tiles of
                                       this many columns (the last one wider);
                                       0: strips of whole rows */
    double       cost, cost_direct; /* estimated work per call, in vector
                                       multiply-adds (0: unknown) */
    Algorithm    auto_algorithm;    /* what method=auto picks, at auto_cost */
    double       auto_cost;
    int32_t      nk, nv;        /* register block: output channels x pixel
                                   vectors (vector kernels) */
    bool         tap_loop;      /* stencil: the taps in loops rather than
                                   unrolled (kernels larger than
                                   KERNEL_MAX_TAPS), one output row a block */
    int32_t      groups_per_item;   /* conv-plane: groups of one work
                                       item, at the same tile (passes/parallel.c) */
    bool         pack_weights;  /* weights in kernel order: at compile time
                                   for constants, by a packing nest at the
                                   start of the call otherwise */
    bool         pack_in_items; /* conv-chan, runtime weights: each work
                                   item is a whole channel block, and packs
                                   its block's weights itself into a buffer
                                   of its own, alongside its first row's
                                   reduction (no nest) */
    bool         dw_chan;       /* conv-chan over a depthwise layer (one
                                   channel a group): vectors of 16 groups,
                                   each work item a block of them with
                                   their input planes transposed into a
                                   buffer of its own */
    bool         dw_rows;       /* conv-rows over a depthwise layer, its
                                   sizes known: a work item is one
                                   channel's plane, each input row loaded
                                   once and multiplied into every output
                                   row it reaches */
    bool         plane_row;     /* conv-chan, a 1x1 layer at stride 1
                                   without padding, its sizes known: the
                                   output plane taken as one row of OH*OW
                                   pixels, its blocks crossing row ends */
    bool         rows_pair;     /* conv-rows with widths known, whose
                                   rows end in a chunk of at most half
                                   its vectors: a work item is two output
                                   rows, whose last chunks are computed
                                   as one (kernels/conv_rows.c) */
    int32_t      chan_rows;     /* conv-chan with known sizes: whole
                                   output rows a block, nv = chan_rows *
                                   OW pixels (0: one row, blocks of its
                                   columns) */
    bool         materialise;   /* needs a buffer although it could be
                                   inlined into its consumer */
    /* conv-plane with widths known at run time only: conv-chan's plan,
     * taken instead where the output rows are CHAN_ALT_WIDTHS wide
     * (passes/kernels.c chan_alternative; NULL: none) */
    struct StagePlan *alt;
    int32_t      alt_widths;    /* ... the first this many of them */
    /* Epilogue fusion.  A producer's nest also applies, in registers, the
     * elementwise stages epilogue[0..n) (each consuming the one before) and
     * stores the last one's value; those stages and the producer get no
     * buffer and no nest of their own. */
    const Node **epilogue;
    int32_t      nepilogue;
    const Node  *fused_into;    /* set on the stages computed that way */
    /* Pool fusion: a pool that reads this stage's tiles (after its
     * epilogue) from a small buffer private to each work item, so the
     * stage's whole output never exists; the pool is fused_into this stage
     * and keeps its own epilogue. */
    const Node  *pool;
    int32_t      pool_rows;     /* pool output rows per work item */
    /* Parallel scheduling of a scalar nest (passes/parallel.c): its output
     * loops [par_first, par_first + par_count) become one loop over their
     * product, run in pieces on the thread pool (0: the outermost loop). */
    int32_t      par_first, par_count;
} StagePlan;

typedef struct Schedule {
    const Graph *graph;
    Target       target;
    MethodPolicy policy;
    StagePlan   *plan;          /* by node id */
    int32_t      nplans;
    /* who reads a node: consumers[id] lists the nodes with it as an
     * operand (once per operand slot); is_output[id] says a graph output
     * names it */
    PtrVec      *consumers;
    bool        *is_output;
} Schedule;

Schedule *schedule_new(Arena *a, const Graph *g, const Target *t);

static inline StagePlan *schedule_plan(const Schedule *s, const Node *n)
{
    return &s->plan[n->id];
}

/* The method a convolution or signal stage runs by under the policy:
 * what its script says, or direct or auto everywhere (--method). */
static inline Method schedule_method(const Schedule *s, const Node *n)
{
    if (s->policy == POLICY_DIRECT)
        return METHOD_DIRECT;
    if (s->policy == POLICY_AUTO)
        return METHOD_AUTO;
    return n->op == NODE_CONV ? n->conv.method : n->signal.method;
}

/* The node whose value a stage's nest stores: the last epilogue stage of
 * its fused pool if it has one, else its own last epilogue stage, or the
 * stage itself. */
const Node *schedule_store_node(const Schedule *s, const Node *n);
/* The stage whose nest computes n: n itself, or the one it is fused into. */
const Node *schedule_root(const Schedule *s, const Node *n);

/* The method column of `convc check`'s table (a GraphStageNote; ctx is
 * the Schedule): how a filtering stage computes its sums and what that
 * costs, with what method=auto would save where it would change it. */
const char *schedule_method_note(void *ctx, Arena *a, const Node *n);

/* `--dump=schedule`: one line per stage that has a decision. */
void schedule_dump(FILE *out, const Schedule *s, const char *after_pass);

#endif
