/* check/check.h - what the checker's files share: its state, the values
 * that expressions evaluate to, and the helpers one stage family's file
 * uses from another.  The checker is graph_check (graph.h): check.c walks
 * the statements and expressions; each family of stages has a file of its
 * own that checks a call's arguments and shapes and adds its node. */
#ifndef CONVC_CHECK_CHECK_H
#define CONVC_CHECK_CHECK_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convrt.h"
#include "bind.h"
#include "factor.h"
#include "graph.h"
#include "ir.h"
#include "suggest.h"

typedef enum ValKind {
    VAL_ERROR,      /* already reported */
    VAL_TENSOR,     /* a graph node */
    VAL_SCALAR,     /* a number known now */
    VAL_BOOL,
    VAL_WORD,       /* an identifier that names nothing: an option word */
    VAL_STRING,
    VAL_TUPLE,
} ValKind;

typedef struct Value Value;
struct Value {
    ValKind     kind;
    SrcLoc      loc;
    Node       *node;
    double      num;
    bool        is_int;
    bool        exact;      /* an integer literal: ival is what was written */
    int64_t     ival;
    bool        boolean;
    const char *text;       /* WORD, STRING */
    Value      *items;      /* TUPLE */
    int32_t     n;
};

typedef struct Binding {
    const char *name;
    SrcLoc      loc;
    Value       value;
} Binding;

typedef struct Checker {
    Arena              *a;
    Diag               *d;
    ShapeCtx            sc;
    Graph              *g;
    const CheckOptions *opt;
    PtrVec              bindings;   /* Binding*, in definition order */
    Binding           **table;      /* open addressing by name, so a script
                                       of 100,000 statements stays linear */
    uint32_t            table_cap;
    int32_t             next_id;
} Checker;

/* Named and positional arguments of a call matched to parameter names. */
typedef struct CallArgs {
    const AstExpr *arg[16];
    SrcLoc         loc[16];
    bool           bad;
} CallArgs;

/* method= words, in Method's order */
extern const char *const chk_method_names[4];

/* check.c: the names table, nodes and runtime checks, evaluation */
Value chk_val_error(SrcLoc loc);
Binding *chk_lookup(Checker *c, const char *name);
Node *chk_new_node(Checker *c, NodeOp op, const char *stage, SrcLoc loc);
void chk_add_input(Node *n, Node *in);
void chk_push_node(Checker *c, Node *n);
void chk_add_check(Checker *c, int kind, const SymExpr *x, const SymExpr *y, SrcLoc loc,
                   const char *what);
const char *chk_where(Checker *c, SrcLoc loc);
const char *chk_val_kind_name(ValKind k);
const char *chk_suggest_name(Checker *c, const char *name);
Value chk_eval(Checker *c, const AstExpr *e);

/* args.c: a call's arguments and option values, shapes, windows and padding */
Value chk_tensor_val(Node *n, SrcLoc loc);
Node *chk_want_tensor(Checker *c, Value v, const char *what);
bool chk_bind_args(Checker *c, const AstExpr *call, const char *const *names, int nnames, int npos,
                   CallArgs *out);
bool chk_need(Checker *c, const AstExpr *call, const CallArgs *a, int slot, const char *name);
bool chk_need_first_two(Checker *c, const AstExpr *call, const CallArgs *a, const char *name0,
                        const char *name1);
bool chk_int_value(Checker *c, Value v, const char *stage, const char *opt, int64_t lo,
                   int64_t *out);
bool chk_int_pair(Checker *c, const AstExpr *e, const char *stage, const char *opt, int nsp,
                  int64_t lo, int64_t *out);
bool chk_bool_value(Checker *c, const AstExpr *e, const char *stage, const char *opt, bool *out);
int chk_word_value(Checker *c, const AstExpr *e, const char *stage, const char *opt,
                   const char *const *words, int nwords);
bool chk_scalar_value(Checker *c, const AstExpr *e, const char *stage, const char *what,
                      double *out);
const char *chk_spatial_name(int nsp, int i);
bool chk_finish_shape(Checker *c, Node *n);
const SymExpr *chk_macs_of(Checker *c, Shape out, int64_t per_output, const SymExpr *extra);
void chk_window_rf(Node *n, const Node *in, const WindowParams *w);
/* The end of a window stage (conv, pool): its shape `out`, the size check,
 * its MACs (per_output x extra an output element) and its receptive field
 * from input x; false after an error. */
bool chk_window_finish(Checker *c, Node *n, const Node *x, Shape out, const WindowParams *w,
                       int64_t per_output, const SymExpr *extra);
void chk_elementwise_rf(Node *n);
bool chk_unify_dim(Checker *c, const SymExpr *x, const SymExpr *y, SrcLoc loc, const char *what);
const char *chk_symbol_bound(Checker *c, const SymExpr *e);
const SymExpr *chk_window_dim(Checker *c, const AstExpr *call, const char *stage, int nsp, int i,
                              const WindowDim *wd, bool *ok);
bool chk_parse_pad(Checker *c, const AstExpr *e, const char *stage, int nsp, WindowParams *w,
                   bool allow_words, bool *is_same);
const char *chk_pair_desc(Checker *c, const char *letter, const int64_t *v, int nsp);
const char *chk_window_desc(Checker *c, const char *stage, const WindowParams *w);

/* constants.c: literals, builtin kernels and load() */
Node *chk_builtin_kernel(Checker *c, const char *name, SrcLoc loc);
Value check_kernel_builtin(Checker *c, const AstExpr *e, const char *name);
Value check_load(Checker *c, const AstExpr *e);
Value chk_tensor_literal(Checker *c, const AstExpr *e);

/* conv.c: conv1d, conv2d, conv1x1 */
bool chk_separable_applies(Checker *c, const Node *n, const char *stage, bool shape_ok);
Value check_conv(Checker *c, const AstExpr *e, int nsp, bool pointwise);

/* pool.c: max and average pools, the global pools */
Value check_pool(Checker *c, const AstExpr *e, int nsp, bool is_max);
Value check_global_pool(Checker *c, const AstExpr *e, bool is_max);

/* signal.c: convolve and correlate */
Value check_signal(Checker *c, const AstExpr *e, bool correlate);

/* concat.c: concat */
Value check_concat(Checker *c, const AstExpr *e);

/* elementwise.c: activations and arithmetic */
Node *chk_unary_node(Checker *c, UnaryFn fn, const char *stage, SrcLoc loc, Node *x);
Value check_unary(Checker *c, const AstExpr *e, UnaryFn fn);
Value chk_binary(Checker *c, BinaryFn fn, Value x, Value y, SrcLoc loc);
Value check_minmax(Checker *c, const AstExpr *e, BinaryFn fn);

#endif
