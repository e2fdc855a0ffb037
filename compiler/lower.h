/* lower.h - stage graph -> loop IR.
 *
 * Needs: a checked Graph (every shape valid or guarded by a runtime check).
 * Establishes: an IrProgram whose dims table binds each size symbol to the
 * first input dim that declares it, whose arguments are the inputs then the
 * outputs in script order, and whose body is one loop nest per materialised
 * stage in topological order.  Zero padding becomes clamped loop bounds
 * (no padded copies); reflect/replicate/circular padding becomes index
 * arithmetic.  An elementwise stage with a single consumer that is not an
 * output is not materialised: its expression is inlined where it is read. */
#ifndef CONVC_LOWER_H
#define CONVC_LOWER_H

#include "graph.h"
#include "ir.h"
#include "schedule.h"

typedef struct LowerOptions {
    bool parallel;      /* mark each nest's outermost loop parallel */
} LowerOptions;

/* The schedule (schedule.h) says which stages use a vector micro-kernel,
 * which are fused into a producer's epilogue and which need a buffer; a
 * schedule on which no pass ran gives the reference scalar nests. */
IrProgram *lower_graph(Arena *a, const Graph *g, const Schedule *sched,
                       const LowerOptions *opt);

#endif
