/* kernels/kernels.h - what the micro-kernel emitters share: building the
 * vector IR of a kernel and applying a stage's epilogue to its vectors. */
#ifndef CONVC_KERNELS_H
#define CONVC_KERNELS_H

#include "lower_impl.h"

/* A local's value, typed as declared; an assignment to it. */
static inline IrExpr *kl_get(Lower *L, int32_t l) { return ir_local_typed(L->a, l, L->ltypes[l]); }
static inline IrStmt *kl_set(Lower *L, int32_t l, IrExpr *v) { return ir_assign(L->a, l, v); }

/* [0, ..., 0, lin]: an access by linear position (ir.h) */
IrExpr **kl_lin(Lower *L, int32_t rank, IrExpr *lin);
/* a && b where either may be NULL (all lanes) */
IrExpr *kl_and(Lower *L, IrExpr *a, IrExpr *b);
/* 0 <= v < hi, lane by lane */
IrExpr *kl_in_range(Lower *L, IrExpr *v, IrExpr *hi);

/* The value that producer n's nest stores at linear position lin of its
 * output (a tensor shaped like n's): its epilogue stages (schedule.h)
 * applied to acc, reading their other operands at lin (masked loads with
 * mask where the vector is partial). */
IrExpr *kl_epilogue(Lower *L, const Node *n, IrExpr *acc, IrExpr *lin, IrExpr *mask);
/* The same for a vector whose lane i sits at lin + lanes[i] (lanes: VI64),
 * reading the other operands with gathers. */
IrExpr *kl_epilogue_lanes(Lower *L, const Node *n, IrExpr *acc, IrExpr *lin, IrExpr *lanes,
                          IrExpr *mask);

/* Streaming (non-temporal) stores for a pipeline output of the target's
 * stream_min_bytes or more (target.h: 4 MB, twice the largest per-core L2
 * cache of the CPUs served; 16 MB on znver4): it goes back to the caller,
 * not to another stage, so writing it past the caches saves reading each
 * line in before it is written (a third of a large filter's memory
 * traffic).  Same values, same bits.  store: the node a nest stores.
 * False for no streaming; else *when is NULL (the size known when
 * compiling) or the run-time test of the size (a size symbol: a
 * depthwise 3x3 over [1, 128, H, W] at 112x112 1.1x with it on the Xeon). */
bool kl_stream_output(Lower *L, const Node *store, IrExpr **when);

/* The store of a full vector val at linear position lin: streaming when
 * `stream` (under `when` when not NULL, else plain), else plain. */
IrStmt *kl_store_full(Lower *L, bool stream, IrExpr *when, int32_t buf, int32_t rank, IrExpr *lin,
                      IrExpr *val);

/* The largest buffer a work item keeps on its stack (a row strip, a ring
 * of rows); a larger one, for a very wide image, goes to a scratch buffer
 * instead, so that the calling thread's stack need not be deep. */
#define KL_STACK_MAX_BYTES ((int64_t)2 << 20)

/* The maximum of vals[0..n) as a balanced tree (vals is overwritten).
 * The IEEE maximum (IR_OP_MAX: NaN-propagating, -0 below +0) is
 * associative and commutative, so any grouping gives the same bits as
 * the scalar nest's one after the other, with a shorter chain. */
IrExpr *kl_max_tree(Lower *L, IrExpr **vals, int64_t n);

/* Appends to out the assignments that transpose the vl x vl matrix held
 * by the VF32 locals rows[0..vl) (row r in rows[r]) in place: afterwards
 * lane c of rows[r] holds what lane r of rows[c] held.  log2(vl) stages
 * of vl two-vector shuffles (vl a power of two), so a block of vl*vl
 * floats costs vl*log2(vl) shuffles where gathering it a vector at a
 * time costs vl gathers of vl lanes each. */
void kl_transpose(Lower *L, PtrVec *out, const int32_t *rows, int32_t vl);

#endif
