/* lower_impl.h - what lower.c shares with the micro-kernel emitters in
 * kernels/: the lowering state and the small builders every emitter uses.
 * Not for the rest of the compiler (it includes lower.h). */
#ifndef CONVC_LOWER_IMPL_H
#define CONVC_LOWER_IMPL_H

#include <string.h>

#include "lower.h"

typedef struct SymSlot {
    const SymExpr *e;
    int32_t        slot;
} SymSlot;

typedef struct Lower {
    Arena              *a;      /* the IR of the stage being lowered */
    Arena              *pa;     /* the program: its tables, buffers' names
                                   and shapes, constant data, every list */
    ShapeCtx            sc;
    const Graph        *g;
    const Schedule     *sched;
    const LowerOptions *opt;
    /* growing arrays */
    IrSlot    *slots;   int32_t nslots, cap_slots;
    IrBuffer  *bufs;    int32_t nbufs, cap_bufs;
    IrVarInfo *vars;    int32_t nvars, cap_vars;
    IrCheck   *checks;  int32_t nchecks, cap_checks;
    SymSlot   *memo;    uint32_t nmemo, cap_memo;   /* by node: slot_of */
    int32_t   *slot_index;  uint32_t cap_index;     /* (op, a, b) -> slot */
    IrType    *ltypes;  int32_t nlocals, cap_locals;
    const char **sym_names; int32_t *sym_slots; int32_t nsyms;
    int32_t   *node_buf;    /* node id -> buffer, -1 when inlined */
    int32_t    next_scratch;    /* abi_index of the next scratch buffer */
    PtrVec     prologue;    /* nests that run first (weight packing) */
    int32_t   *first_stage; int32_t ngroups, cap_groups;    /* per group of
                               equal stages: its first, an index in stmts */
    PtrVec     stmts;
} Lower;

#define GROW(L, arr, n, cap)                                                   \
    do {                                                                       \
        if ((n) == (cap)) {                                                    \
            int32_t nc = (cap) ? (cap) * 2 : 16;                               \
            void *p = arena_array((L)->pa, (size_t)nc, sizeof *(arr));          \
            if (n)                                                             \
                memcpy(p, (arr), (size_t)(n) * sizeof *(arr));                 \
            (arr) = p;                                                         \
            (cap) = nc;                                                        \
        }                                                                      \
    } while (0)

/* A dim as an IR value: a constant when known, else a dims-table read. */
IrExpr *lower_dim(Lower *L, const SymExpr *e);
int32_t lower_var(Lower *L, const char *name);
int32_t lower_local(Lower *L, IrType type);
/* A scratch buffer of the given shape, allocated by the runtime per call. */
int32_t lower_scratch(Lower *L, const char *name, Shape s);
/* A buffer of constant shape private to each run of the nest using it. */
int32_t lower_local_buffer(Lower *L, const char *name, Shape s);
/* A constant buffer holding count values (data must live in L->pa). */
int32_t lower_const(Lower *L, const char *name, Shape s, const float *data, int64_t count);
/* Index i (possibly outside [0, n)) remapped by a padding mode other than
 * zeros, as PyTorch's reflect / replicate / circular padding does. */
IrExpr *lower_pad_index(Lower *L, PadMode mode, IrExpr *i, IrExpr *n);
/* n's value at idx (a load, or its inlined elementwise expression). */
IrExpr *lower_value(Lower *L, const Node *n, IrExpr **idx);
/* The elementwise stage n applied to operand values (x for in[0], y for
 * in[1]; scalars and vectors mix, see ir_bin). */
IrExpr *lower_elementwise(Lower *L, const Node *n, IrExpr *x, IrExpr *y);
int32_t lower_buffer_of(Lower *L, const Node *n);

static inline IrExpr *I(Lower *L, int64_t v) { return ir_int(L->a, v); }
static inline IrExpr *V(Lower *L, int32_t var) { return ir_var(L->a, var); }
static inline IrExpr *add(Lower *L, IrExpr *x, IrExpr *y) { return ir_bin(L->a, IR_OP_ADD, x, y); }
static inline IrExpr *sub(Lower *L, IrExpr *x, IrExpr *y) { return ir_bin(L->a, IR_OP_SUB, x, y); }
static inline IrExpr *mul(Lower *L, IrExpr *x, IrExpr *y) { return ir_bin(L->a, IR_OP_MUL, x, y); }
static inline IrExpr *idiv(Lower *L, IrExpr *x, IrExpr *y) { return ir_bin(L->a, IR_OP_DIV, x, y); }
static inline IrExpr *imod(Lower *L, IrExpr *x, IrExpr *y) { return ir_bin(L->a, IR_OP_MOD, x, y); }
static inline IrExpr *imin(Lower *L, IrExpr *x, IrExpr *y) { return ir_bin(L->a, IR_OP_MIN, x, y); }
static inline IrExpr *imax(Lower *L, IrExpr *x, IrExpr *y) { return ir_bin(L->a, IR_OP_MAX, x, y); }

static inline IrStmt *lower_block(Lower *L, PtrVec *v)
{
    return ir_block(L->a, (IrStmt *const *)v->items, v->len);
}

/* The micro-kernels (kernels/): each gives the whole nest of stage n,
 * following its plan in the schedule. */
IrStmt *kernel_conv_plane(Lower *L, const Node *n);
IrStmt *kernel_conv_rows(Lower *L, const Node *n);
IrStmt *kernel_conv_chan(Lower *L, const Node *n);
IrStmt *kernel_pool_rows(Lower *L, const Node *n);
IrStmt *kernel_stencil_rows(Lower *L, const Node *n);
IrStmt *kernel_fft(Lower *L, const Node *n);
/* Pooled rows [pr0, pr1) of one channel plane of pool, read from buffer bx
 * (rank xrank) whose plane starts at in_base and holds the pool's input
 * rows from row_origin on, written to the pool's store at out_base. */
IrStmt *kernel_pool_rows_range(Lower *L, const Node *pool, int32_t bx, int32_t xrank,
                               IrExpr *in_base, IrExpr *row_origin, IrExpr *out_base,
                               IrExpr *pr0, IrExpr *pr1);

#endif
