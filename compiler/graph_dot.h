/* graph_dot.h - the stage graph as Graphviz DOT text (`convc graph`).
 *
 * One node per stage, labelled as `convc check` lists it (line, name,
 * operation, output shape, MACs) plus the algorithm a filtering stage
 * uses; inputs, constants and outputs drawn each in their own way; one edge
 * per operand.  The stages the optimiser computes in one loop nest (an
 * epilogue chain applied in a producer's registers, a pool reading a
 * convolution's tiles; schedule.h) are drawn inside one box, a DOT
 * cluster.  Plain text: rendering it is the caller's business. */
#ifndef CONVC_GRAPH_DOT_H
#define CONVC_GRAPH_DOT_H

#include <stdio.h>

#include "graph.h"
#include "schedule.h"

/* g as scheduled by s (NULL: nothing fused, no algorithms) to out. */
void graph_dot_write(FILE *out, Arena *scratch, const Graph *g, const Schedule *s);

#endif
