/* ir.h - the loop IR: what a pipeline computes, as loop nests over index
 * spaces with explicit bounds.
 *
 * Produced by lowering (lower.c) from the checked stage graph, consumed by
 * the code generator (codegen/).  It holds no LLVM handles, so it can be
 * built, transformed, dumped and tested without LLVM.  Every later
 * optimisation (inlining an elementwise producer into its consumer, tiling,
 * vectorising, marking loops parallel) is a rewrite of IrStmt trees.
 *
 * The program also carries the shape program that the runtime evaluates
 * before the body runs (convrt_abi.h): the dims table (slots), the checks
 * that involve size symbols, and the argument and buffer declarations.  The
 * body only ever reads dims from that table: it does no shape arithmetic of
 * its own and everything it indexes has been validated. */
#ifndef CONVC_IR_H
#define CONVC_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"

typedef enum IrType {
    IR_TYPE_I64,    /* indices and sizes */
    IR_TYPE_F32,    /* tensor elements */
    IR_TYPE_BOOL,   /* conditions */
    /* Vectors of IrProgram.vlen lanes (micro-kernels, see kernels.h).  Every
     * vector in a program has the same number of lanes. */
    IR_TYPE_VF32,   /* tensor elements, one per lane */
    IR_TYPE_VI64,   /* per-lane indices (masks are computed from them) */
    IR_TYPE_VBOOL,  /* lane masks */
} IrType;

static inline bool ir_type_is_vector(IrType t)
{
    return t == IR_TYPE_VF32 || t == IR_TYPE_VI64 || t == IR_TYPE_VBOOL;
}

typedef enum IrOp {
    IR_OP_ADD, IR_OP_SUB, IR_OP_MUL,
    IR_OP_DIV,      /* i64: floor division (rhs > 0); f32: IEEE division */
    IR_OP_MOD,      /* i64 only: floor modulo, result in [0, rhs) (rhs > 0) */
    IR_OP_MIN, IR_OP_MAX,   /* f32: a NaN operand gives NaN (like torch) */
    IR_OP_LT, IR_OP_LE, IR_OP_GT, IR_OP_GE, IR_OP_EQ, IR_OP_NE, /* -> bool;
                               f32 compares are ordered (false on NaN) */
    IR_OP_AND, IR_OP_OR,    /* bool */
} IrOp;

typedef enum IrFn {         /* unary, f32 -> f32 unless noted */
    IR_FN_NEG, IR_FN_ABS, IR_FN_SQRT, IR_FN_EXP, IR_FN_TANH, IR_FN_SIGMOID,
    IR_FN_NOT,              /* bool -> bool */
    IR_FN_ISNAN,            /* f32 -> bool */
    IR_FN_TO_F32,           /* i64 -> f32 */
} IrFn;

typedef enum IrExprKind {
    IR_EXPR_INT,        /* i64 constant */
    IR_EXPR_FLOAT,      /* f32 constant */
    IR_EXPR_VAR,        /* a loop variable (i64) */
    IR_EXPR_DIM,        /* dims[slot] (i64) */
    IR_EXPR_LOCAL,      /* a local: f32 unless IrProgram.local_types says */
    IR_EXPR_LOAD,       /* buffer[idx...] (f32) */
    IR_EXPR_BINARY,
    IR_EXPR_UNARY,
    IR_EXPR_SELECT,     /* cond ? a : b (lane by lane for a VBOOL cond) */
    IR_EXPR_FMA,        /* a*b + c rounded once where the target has FMA,
                           else a*b rounded then + c (what the scalar code's
                           contracted multiply-add gives on that target) */
    IR_EXPR_BROADCAST,  /* F32, I64, BOOL -> VF32, VI64, VBOOL: every lane = a */
    IR_EXPR_IOTA,       /* VI64: lane i holds i */
    IR_EXPR_SHUFFLE,    /* VF32 from two VF32: lane i = sel[i] < vlen ?
                           a[sel[i]] : b[sel[i] - vlen] (sel constant) */
} IrExprKind;

typedef struct IrExpr IrExpr;
struct IrExpr {
    IrExprKind kind;
    IrType     type;
    union {
        int64_t ival;           /* INT */
        float   fval;           /* FLOAT */
        int32_t var;            /* VAR: index into IrProgram.vars */
        int32_t slot;           /* DIM */
        int32_t local;          /* LOCAL: index into IrProgram.locals */
        struct {
            int32_t  buf;       /* index into IrProgram.buffers */
            IrExpr **idx;       /* buffer rank entries, i64 */
            IrExpr  *mask;      /* VF32 loads only: VBOOL or NULL (all) */
            int32_t  stride;    /* VF32 loads: lane i at linear position
                                   first + i*stride (0 and 1: contiguous) */
            IrExpr  *lanes;     /* VF32 gathers: VI64, lane i at linear
                                   position first + lanes[i] (stride unused) */
        } load;
        struct {
            IrOp    op;
            IrExpr *a, *b;
        } bin;
        struct {
            IrFn    fn;
            IrExpr *a;
        } un;
        struct {
            IrExpr *cond, *a, *b;
        } sel;
        struct {
            IrExpr *a, *b, *c;
        } fma;
        struct {
            IrExpr        *a, *b;
            const int32_t *sel;     /* the program's vlen entries */
        } shuf;
    };
};

typedef enum IrStmtKind {
    IR_STMT_FOR,        /* for var in [lo, hi): body  (nothing if hi <= lo) */
    IR_STMT_IF,         /* if cond: then [else: otherwise] */
    IR_STMT_STORE,      /* buffer[idx...] = value */
    IR_STMT_ASSIGN,     /* local = value */
    IR_STMT_BLOCK,      /* a sequence */
    IR_STMT_AGAIN,      /* only as a stage (a statement of the body's top
                           block): run the earlier stage again.stage (not
                           itself an AGAIN) with its buffers and slots, in
                           the order of their first appearance in it
                           (stage_share.h), replaced by bufs and slots.
                           The lowering writes a repeated stage this way,
                           so a long chain of equal stages costs a few
                           words each and not a copy of its loop nest. */
    IR_STMT_CALL,       /* call a runtime routine (IrCallee) with args */
    IR_STMT_PREFETCH,   /* a hint: bring the cache line of buffer[idx...]
                           (store.buf, store.idx; the place may lie outside
                           the buffer) in for reading soon */
} IrStmtKind;

/* The runtime routines a stage may call (IR_STMT_CALL).  Their int result
 * is not read: a failure is reported by the runtime and fails the run. */
typedef enum IrCallee {
    IR_CALL_FFT_CONV1D,     /* convrt_fft_conv1d (convrt_abi.h): 12 args */
    IR_CALL_FFT_CONV2D,     /* convrt_fft_conv2d: 19 args */
} IrCallee;

/* An argument: an i64 value, or (buf >= 0) the address of the element at
 * linear position `value` of buffer buf (row-major over its dims). */
typedef struct IrArg {
    int32_t buf;
    IrExpr *value;
} IrArg;

enum {
    IR_LOOP_PARALLEL  = 1 << 0, /* iterations are independent: may run on
                                   the runtime's thread pool */
    IR_LOOP_VECTORIZE = 1 << 1, /* innermost, unit stride: hint only */
    IR_LOOP_UNROLL    = 1 << 2, /* constant bounds: emit the body once per
                                   iteration with the variable a constant */
    IR_LOOP_KERNEL    = 1 << 3, /* part of a micro-kernel, vectorised and
                                   unrolled as written: the back end must
                                   not vectorise or unroll it again */
};

typedef struct IrStmt IrStmt;
struct IrStmt {
    IrStmtKind kind;
    union {
        struct {
            int32_t  var;
            IrExpr  *lo, *hi;
            IrStmt  *body;
            uint32_t flags;
        } loop;
        struct {
            IrExpr *cond;
            IrStmt *then, *otherwise;   /* otherwise may be NULL */
        } cond;
        struct {
            int32_t  buf;
            IrExpr **idx;
            IrExpr  *value;
            IrExpr  *mask;      /* VF32 values only: VBOOL or NULL (all) */
            bool     far;       /* PREFETCH: into the L2 cache, not L1 (data
                                   needed long after, which would only
                                   evict L1's) */
            bool     stream;    /* VF32, no mask: a non-temporal store where
                                   the address is vector-aligned (a large
                                   final output, not read back soon) */
            IrExpr  *lanes;     /* VF32 scatters: VI64, lane i to linear
                                   position first + lanes[i] (a vector of
                                   output channels, a plane apart) */
        } store;
        struct {
            int32_t local;
            IrExpr *value;
        } assign;
        struct {
            IrStmt **items;
            int32_t  n;
        } block;
        struct {
            IrCallee fn;
            int32_t  nargs;
            IrArg   *args;
        } call;
        struct {
            int32_t        stage;       /* index in the body's top block */
            int32_t        nbufs, nslots;
            const int32_t *bufs, *slots;
        } again;
    };
};

typedef enum IrBufferKind {
    IR_BUF_INPUT,       /* argument, read only */
    IR_BUF_OUTPUT,      /* argument, written */
    IR_BUF_SCRATCH,     /* an intermediate the runtime allocates per call */
    IR_BUF_CONST,       /* compile-time data baked into the code */
    IR_BUF_LOCAL,       /* a small buffer of constant size private to each
                           run of the nest that uses it (each parallel
                           task has its own, on its stack): a tile that a
                           fused stage produces and its consumer reads */
} IrBufferKind;

typedef struct IrBuffer {
    const char     *name;
    IrBufferKind    kind;
    int32_t         rank;
    const int32_t  *dim_slots;  /* rank entries */
    const char    **dim_names;  /* rank entries: symbol name or NULL (args) */
    int32_t         abi_index;  /* index in the runtime's bufs[] (args and
                                   scratch: args first, in argument order);
                                   -1 for CONST and LOCAL */
    const float    *data;       /* CONST: the values, row-major */
    int64_t         count;      /* CONST: number of values */
} IrBuffer;

typedef enum IrSlotOp {     /* the same numbering as convrt_dim_op */
    IR_SLOT_CONST = 0, IR_SLOT_ARG, IR_SLOT_ADD, IR_SLOT_SUB, IR_SLOT_MUL,
    IR_SLOT_FLOORDIV, IR_SLOT_CEILDIV, IR_SLOT_MIN, IR_SLOT_MAX,
} IrSlotOp;

typedef struct IrSlot {
    IrSlotOp op;
    int64_t  a, b;      /* CONST: a = value; ARG: a = argument, b = dim;
                           others: slot operands, both < this slot */
    int64_t  const_value;   /* the value if known when compiling */
    bool     is_const;
} IrSlot;

typedef enum IrCheckKind {  /* the same numbering as convrt_check_kind */
    IR_CHECK_EQ = 0, IR_CHECK_POSITIVE, IR_CHECK_NONNEG,
} IrCheckKind;

typedef struct IrCheck {
    IrCheckKind kind;
    int32_t     a, b;
    const char *what;
} IrCheck;

typedef struct IrVarInfo {
    const char *name;   /* for dumps: "k", "oy", "ky" ... */
} IrVarInfo;

typedef struct IrProgram {
    const char *name;           /* the pipeline's name: a C identifier */
    const char *source_name;    /* the script's file name, for messages */

    IrSlot    *slots;   int32_t nslots;
    IrCheck   *checks;  int32_t nchecks;
    IrBuffer  *buffers; int32_t nbuffers;
    int32_t    ninputs, noutputs;   /* arguments: buffers with abi_index <
                                       ninputs + noutputs, in that order */
    IrVarInfo *vars;    int32_t nvars;
    int32_t    nlocals;
    const IrType *local_types;  /* nlocals entries, or NULL: all F32 */
    int32_t    vlen;            /* lanes of the vector types (0: none used) */

    IrStmt    *body;
    /* Per stage (statement of the body's top block): the id of the graph
     * node whose loop nest, weight packing or copy into an output it is
     * (lower.c), for mapping a stage back to the script; NULL for IR built
     * by hand. */
    const int32_t *stage_node;
    int32_t    nstage_nodes;
} IrProgram;

/* ---- building (all nodes live in the arena) ---------------------------- */
IrExpr *ir_int(Arena *a, int64_t v);
IrExpr *ir_float(Arena *a, float v);
IrExpr *ir_var(Arena *a, int32_t var);
IrExpr *ir_dim(Arena *a, int32_t slot);
IrExpr *ir_local(Arena *a, int32_t local);
IrExpr *ir_load(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx);
/* ir_bin folds ints, and turns a float product added to or subtracted
 * from something into one IR_EXPR_FMA (the back end fuses nothing on its
 * own).  In ir_bin, ir_select and ir_fma a scalar operand next to a vector
 * one is broadcast. */
IrExpr *ir_bin(Arena *a, IrOp op, IrExpr *x, IrExpr *y);
IrExpr *ir_un(Arena *a, IrFn fn, IrExpr *x);
IrExpr *ir_select(Arena *a, IrExpr *c, IrExpr *x, IrExpr *y);
/* A local of a given type (ir_local is an F32 one). */
IrExpr *ir_local_typed(Arena *a, int32_t local, IrType type);

/* ---- vectors --------------------------------------------------------------
 * A vector access covers vlen consecutive elements of the buffer's
 * row-major storage, starting at the element idx names.  The linear
 * position is what matters: idx may run past a dim (a lane in the next
 * row) as long as every lane that the mask enables lies inside the buffer.
 * Lanes a mask disables are neither read (they load 0) nor written. */
IrExpr *ir_vload(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                 IrExpr *mask);
/* Lanes stride elements apart (a pooling window's columns). */
IrExpr *ir_vload_strided(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                         IrExpr *mask, int32_t stride);
/* Lane i from linear position first + lanes[i] (lanes: VI64). */
IrExpr *ir_vgather(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx, IrExpr *lanes,
                   IrExpr *mask);
IrStmt *ir_vstore(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                  IrExpr *value, IrExpr *mask);
/* Lane i to linear position first + lanes[i] (lanes: VI64). */
IrStmt *ir_vscatter(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx, IrExpr *lanes,
                    IrExpr *value, IrExpr *mask);
/* ir_vstore without a mask, as a streaming (non-temporal) store. */
IrStmt *ir_vstore_stream(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                         IrExpr *value);
IrExpr *ir_broadcast(Arena *a, IrExpr *x);
IrExpr *ir_iota(Arena *a);
IrExpr *ir_fma(Arena *a, IrExpr *x, IrExpr *y, IrExpr *z);
/* Lanes of x and y picked by sel (vl entries in [0, 2*vl), copied). */
IrExpr *ir_shuffle(Arena *a, IrExpr *x, IrExpr *y, const int32_t *sel, int32_t vl);

IrStmt *ir_for(Arena *a, int32_t var, IrExpr *lo, IrExpr *hi, IrStmt *body,
               uint32_t flags);
IrStmt *ir_if(Arena *a, IrExpr *cond, IrStmt *then, IrStmt *otherwise);
IrStmt *ir_store(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                 IrExpr *value);
IrStmt *ir_assign(Arena *a, int32_t local, IrExpr *value);
IrStmt *ir_block(Arena *a, IrStmt *const *items, int32_t n);
/* A prefetch of the line holding buffer[idx...] (IR_STMT_PREFETCH). */
IrStmt *ir_prefetch(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx);
/* The same into the L2 cache only (prefetcht1). */
IrStmt *ir_prefetch_far(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx);
/* A call of a runtime routine (IR_STMT_CALL); args are copied. */
IrStmt *ir_call(Arena *a, IrCallee fn, const IrArg *args, int32_t nargs);
/* The routine's C name and its number of arguments. */
const char *ir_callee_name(IrCallee fn);
/* Argument abi of the program (inputs, then outputs): its buffer, or NULL;
 * its name in the script, or "?". */
const IrBuffer *ir_arg_buffer(const IrProgram *p, int64_t abi);
const char *ir_arg_name(const IrProgram *p, int64_t abi);
int32_t ir_callee_nargs(IrCallee fn);
/* Stage `stage` of the body again (IR_STMT_AGAIN); the arrays are copied. */
IrStmt *ir_again(Arena *a, int32_t stage, const int32_t *bufs, int32_t nbufs,
                 const int32_t *slots, int32_t nslots);

/* --dump=ir: the shape program and the loop nests as indented pseudo-C. */
void ir_dump(FILE *out, const IrProgram *p);

#endif
