/* kernels/conv.h - what the two convolution micro-kernels share: the
 * stage's geometry (taps, phase planes, sizes as IR values), the packed
 * weights and the phase copy (kernels/conv_common.c).  conv_plane.c walks
 * the flattened output plane (AVX-512: masks are free); conv_dw_rows.c
 * slides a depthwise layer's input rows through its plane; conv_rows.c walks
 * output rows with mask patterns fixed when compiling (AVX2). */
#ifndef CONVC_KERNELS_CONV_H
#define CONVC_KERNELS_CONV_H

#include "kernels.h"

enum { MAX_NK = 16, MAX_NV = 16 };

/* Input lines prefetched a few input channels ahead, by the plane kernel
 * and conv-chan: D channels, about PREFETCH_CYCLES of FMAs, at most
 * PREFETCH_MAX_CHANNELS (conv_plane.c: prefetch_ahead, its measurements);
 * by conv-chan for inputs whose planes (a group's) pass
 * PREFETCH_MIN_BYTES, by the plane kernel from a smaller size of its own */
enum { PREFETCH_CYCLES = 96, PREFETCH_MAX_CHANNELS = 8, PREFETCH_MIN_BYTES = 1 << 20 };

typedef struct Tap {
    int64_t ay, ax;     /* input offset from (sy*oy, sx*ox) */
    int64_t dy, dx;     /* offset in its phase plane */
    int32_t phase;      /* index among the copied phases (0 without copy) */
} Tap;

typedef struct Conv {
    Lower      *L;
    const Node *n, *x, *w, *bias, *store;
    int32_t     nsp, vl, nk, nv, tile;
    int64_t     K, G, Kg, nkbg, rem;
    int64_t     kh, kw, ntaps, sy, sx;
    Tap        *taps;
    bool        flip, copy, pitched;
    bool        inside;             /* no padding: every tap of every output
                                       is inside the input */
    bool        stream;             /* full output vectors as streaming stores */
    IrExpr     *stream_when;        /* ... when this holds (NULL: always) */
    IrStmt     *copy_nest;          /* the phase copy, when there is one */
    bool       *col_mask;           /* per kx: some lane's column may be outside */
    IrExpr     *Cg, *IH, *IW, *OH, *OW, *Wv, *Hp, *Pv, *Pout, *N;
    IrExpr     *cstride, *pstride;  /* input channel and phase plane strides */
    int64_t     dmin, dmax;         /* conservative tap offsets: dy*Wv + dx */
    int32_t     dmin_dy, dmax_dy;
    int32_t     bx, bwp, by;        /* input (or its phase copy), weights, store */
    bool        wdirect;            /* bwp is the script's weight, read in
                                       place (else packed: conv_common.c) */
    bool        pack_items;         /* bwp packed from bwsrc by the kernel's
                                       work items (plan.pack_in_items), each
                                       into a buffer of its own: bwp is
                                       [1][Cg][ntaps][nk], one block */
    int32_t     bwsrc;
    int32_t     xrank, yrank;       /* ranks of the buffers read and written */
    /* per work item, as i64 locals */
    int32_t     l_kb, l_tile, l_g, l_n, l_p0, l_ox0, l_oy0;
    int32_t     l_oy1;              /* the row of the tile's last position */
    int32_t     l_xbase, l_ybase, l_wbase;
    int64_t     gpi;                /* groups an item (conv_plane.c), from l_g0 */
    int32_t     l_g0;
    /* a fused pool (passes/pool.c): the item's pooled rows [pr0, pr1) need
     * the convolution rows [cr0, cr1), kept in the private strip buffer */
    const Node *pool;
    int64_t     pool_rows, strip_rows, owc;
    int32_t     bstrip, l_pr0, l_pr1, l_cr0, l_cr1;
    IrExpr     *limit;              /* positions past it are not computed */
    int32_t    *l_oxv, *l_oyv;      /* VI64 per vector */
    int32_t     var_c;
} Conv;


static inline IrExpr *loc(Conv *P, int32_t l) { return kl_get(P->L, l); }
static inline IrStmt *set(Conv *P, int32_t l, IrExpr *v) { return kl_set(P->L, l, v); }
static inline IrExpr **lin_idx(Conv *P, int32_t rank, IrExpr *lin) { return kl_lin(P->L, rank, lin); }
static inline IrExpr *vand(Conv *P, IrExpr *a, IrExpr *b) { return kl_and(P->L, a, b); }
static inline IrExpr *in_range(Conv *P, IrExpr *v, IrExpr *hi) { return kl_in_range(P->L, v, hi); }

/* Reads the stage's geometry, decides on a phase copy of the input (built
 * into c->copy_nest) and packs the weights (c->bwp).  Needs c->L, c->n,
 * and c->nk, c->nv, c->vl from the plan. */
void conv_setup(Conv *c);

/* A register block's locals: nv input vectors (xv) and nk_run x nv
 * accumulators, each set in `out` to its channel's bias (or 0) -- the
 * first term of every output's sum. */
void conv_block_locals(Conv *c, PtrVec *out, int32_t nk_run, int32_t nv, int32_t acc[MAX_NK][MAX_NV],
                       int32_t xv[MAX_NV]);

/* One tap of input channel c for the block: for each channel j, its weight
 * broadcast into wv and one FMA a vector, acc[j][v] += xv[v] * wv; where
 * mask[v] is set, lanes outside it keep their sum (a merge-masked FMA,
 * never w*0 added). */
void conv_tap_fmas(Conv *c, PtrVec *out, IrExpr *ch, int64_t tap, int32_t nk_run, int32_t nv,
                   int32_t acc[MAX_NK][MAX_NV], const int32_t xv[MAX_NV], int32_t wv, IrExpr *const *mask);

/* The item's first weight (for l_wbase, once l_g and l_kb are set), and
 * the weight of block channel j, input channel c and tap (a scalar load),
 * from the packed weights or in place; j past the block's nk channels is
 * a channel of the blocks after it (a kernel taking blocks in a run). */
IrExpr *conv_wbase(Conv *c);
IrExpr *conv_weight(Conv *c, IrExpr *ch, int64_t tap, int64_t j);

/* Runtime weights packed by transposition, for a kernel whose work items
 * pack them (pack_items): the vl x vl pieces of positions
 * [qb*vl, qb*vl + vl) of channel block gb (every vl of its nk channels),
 * into the item's block buffer, and how many pieces a block has. */
IrStmt *conv_pack_piece(Conv *c, IrExpr *gb, IrExpr *qb);
IrExpr *conv_pack_pieces(Conv *c);
IrExpr *conv_block_row(Conv *P, IrExpr *gb);

/* A vector within an output row (conv_rows.c, conv_dw_rows.c): its first
 * output column, the lanes that are outputs (VL but on rows narrower than
 * a vector), and its output row counted from the chunk's (0 but in
 * conv_rows.c's row tails in pairs). */
typedef struct RowVec {
    int64_t ox0;
    int64_t lanes;
    int64_t dy;
} RowVec;
/* The lanes of the vector rv whose tap (column offset ax) reads a column
 * in [lo, hi) (0 and the input's width, or the same counted from a row's
 * end), bit l for lane l; and a lane mask known when compiling, lane l set
 * when bit l is (LLVM folds the comparisons of the constant iota into a
 * constant). */
uint64_t conv_valid_lanes(const Conv *c, const RowVec *rv, int64_t ax, int64_t lo, int64_t hi);
IrExpr *conv_const_mask(Conv *c, uint64_t bits);
/* A depthwise layer's work item by sliding rows (plan.dw_rows,
 * conv_dw_rows.c): the plane of channel l_g at batch index l_n, with
 * l_xbase, l_ybase and l_wbase set. */
IrStmt *conv_dw_plane(Conv *c);
#endif
