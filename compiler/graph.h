/* graph.h - the checked pipeline: a DAG of stages with shapes.
 *
 * The checker (check.c) builds it from the AST, resolving names, evaluating
 * constants and computing every stage's output shape; lowering (lower.c)
 * turns each stage into loop nests.  `convc check` prints it as a table.
 * Nodes are in topological order (inputs before users). */
#ifndef CONVC_GRAPH_H
#define CONVC_GRAPH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "shapes.h"

typedef enum NodeOp {
    NODE_INPUT,     /* a runtime argument */
    NODE_CONST,     /* compile-time data: literal, builtin kernel, load() */
    NODE_CONV,      /* conv1d/conv2d/conv1x1 and per-channel filtering */
    NODE_POOL,      /* max/avg pool 1-D/2-D, and the global pools */
    NODE_SIGNAL,    /* scipy-style convolve/correlate with full/same/valid */
    NODE_CONCAT,    /* along the channel dim (rank - 3) */
    NODE_UNARY,     /* elementwise, one tensor */
    NODE_BINARY,    /* elementwise, two tensors or a tensor and a scalar */
} NodeOp;

typedef enum PadMode { PAD_ZEROS, PAD_REFLECT, PAD_REPLICATE, PAD_CIRCULAR } PadMode;

/* A stage's method= option: how its sums may be computed.  direct (the
 * default) keeps each output's sum in the order written; separable and
 * fft change that order (and the rounding); auto lets the compiler pick by
 * cost (passes/algorithm.c). */
typedef enum Method { METHOD_DIRECT = 0, METHOD_AUTO, METHOD_SEPARABLE, METHOD_FFT } Method;

typedef enum UnaryFn {
    UN_RELU, UN_LEAKY_RELU, UN_SIGMOID, UN_TANH, UN_ABS, UN_SQRT, UN_NEG,
    UN_CLAMP, UN_EXP,
} UnaryFn;

typedef enum BinaryFn { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_MIN, BIN_MAX } BinaryFn;

enum { MAX_SPATIAL = 2 };

typedef struct Node Node;

/* Sliding windows over the last nsp dims (conv and pool). */
typedef struct WindowParams {
    int32_t        nsp;                 /* 1 or 2 spatial dims */
    const SymExpr *k[MAX_SPATIAL];      /* kernel extent per spatial dim */
    int64_t        stride[MAX_SPATIAL], dilation[MAX_SPATIAL];
    const SymExpr *pad0[MAX_SPATIAL], *pad1[MAX_SPATIAL];
    bool           ceil_mode;
} WindowParams;

struct Node {
    NodeOp      op;
    int32_t     id;
    const char *stage;      /* as written: "conv2d", "relu", "+", "input" */
    const char *desc;       /* for the table: "conv2d 3x3 s2 p1" */
    const char *name;       /* the binding's name, or NULL for a temporary */
    SrcLoc      loc;
    Node       *in[8];      /* operands (concat may have more: see ins) */
    int32_t     nin;
    Node      **ins;        /* all operands (== in for nin <= 8) */
    Shape       shape;
    int32_t     nuses;

    union {
        struct {            /* NODE_INPUT */
            int32_t arg;    /* argument index (script order of inputs) */
        } input;
        struct {            /* NODE_CONST */
            const float *data;
            int64_t      count;
        } cst;
        struct {            /* NODE_CONV: in[0] x, in[1] w, in[2] bias or NULL */
            WindowParams win;
            int64_t      groups;
            bool         per_channel;   /* w is [FH, FW] / [F]: each plane
                                           of x filtered independently */
            bool         flip;
            PadMode      pad_mode;
            Method       method;
            SrcLoc       method_loc;
        } conv;
        struct {            /* NODE_POOL: in[0] */
            WindowParams win;
            bool         is_max;
            bool         count_pad;     /* avg: count_include_pad */
            bool         global;
        } pool;
        struct {            /* NODE_SIGNAL: in[0] a, in[1] b, same rank */
            bool           correlate;
            const SymExpr *start[MAX_SPATIAL]; /* window into the full result */
            Method         method;
            SrcLoc         method_loc;
        } signal;
        struct {            /* NODE_UNARY: in[0] */
            UnaryFn fn;
            float   alpha, lo, hi;
        } unary;
        struct {            /* NODE_BINARY: in[0] (and in[1] unless scalar) */
            BinaryFn fn;
            bool     scalar_lhs, scalar_rhs;
            float    scalar;
        } binary;
    };

    /* For `convc check`. */
    const SymExpr *macs;            /* NULL when it overflows */
    int64_t        rf[MAX_SPATIAL]; /* receptive field (input samples) */
    int64_t        jump[MAX_SPATIAL];
    int32_t        rf_nsp;          /* 0: no spatial extent tracked */
};

typedef struct GraphOutput {
    const char *name;
    Node       *node;
    SrcLoc      loc;
} GraphOutput;

/* A condition on size symbols that could not be decided when compiling;
 * it becomes a runtime check (convrt_check). */
typedef struct GraphCheck {
    int32_t        kind;        /* IR_CHECK_EQ / POSITIVE / NONNEG numbering */
    const SymExpr *a, *b;
    const char    *what;        /* "FILE:LINE:COL: stage: ..." */
    SrcLoc         loc;         /* the stage, for pointing at it when the
                                   check fails in `convc run` */
} GraphCheck;

typedef struct Graph {
    const char  *name;
    const char  *source_name;
    PtrVec       nodes;         /* Node*, topological order */
    PtrVec       inputs;        /* Node* of NODE_INPUT, argument order */
    GraphOutput *outputs;
    int32_t      noutputs;
    PtrVec       checks;        /* GraphCheck* */
    ShapeCtx    *sc;            /* the context the shapes were made in:
                                   later passes make their dims with it */
} Graph;

/* The shape of the file given for an input (`convc check s.conv img=a.png`):
 * it binds the size symbols of the input's declaration (bind.h).  rank < 0:
 * the file could not be read (the caller says why); the name is still
 * checked against the script's inputs. */
typedef struct InputShape {
    const char *name;               /* the input */
    const char *file;               /* for messages */
    int32_t     rank;
    int64_t     dims[8];
} InputShape;

typedef struct CheckOptions {
    const SymBinding *bindings;     /* symbols fixed on the command line */
    int32_t           nbindings;
    const char       *script_dir;   /* for load("...") paths */
    const InputShape *input_shapes; /* files whose shapes bind symbols */
    int32_t           ninput_shapes;
} CheckOptions;

/* Resolve names, evaluate constants, compute and check every shape.
 * Reports all errors of the phase to d; returns NULL if there were any. */
Graph *graph_check(Arena *a, Diag *d, const AstPipeline *ast,
                   const CheckOptions *opt);

/* `convc check`: the per-stage table and totals.  method, when not NULL,
 * gives the text of a last column for a stage (how it will be computed)
 * or NULL for none. */
typedef const char *(*GraphStageNote)(void *ctx, Arena *a, const Node *n);
void graph_print_table(FILE *out, Arena *scratch, const Graph *g, GraphStageNote method,
                       void *ctx);
/* The table's MACs cell of n: "1,179,648", "H*W*9", "-" (none), ... */
const char *graph_macs_text(Arena *a, const Graph *g, const Node *n);

/* The runtime check a run-time error message names ("pipeline 'NAME':
 * FILE:LINE:COL: stage: ..."), or NULL; *rest is the message after the
 * pipeline's prefix (NULL without the prefix). */
const GraphCheck *graph_check_in_message(Arena *a, const Graph *g, const char *msg,
                                         const char **rest);

#endif
