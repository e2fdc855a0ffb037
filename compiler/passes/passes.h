/* passes.h - the optimisation passes between checking and lowering.
 *
 * Each pass reads the stage graph and the schedule built so far and
 * records decisions in the schedule (schedule.h); none changes the graph.
 * The driver runs them in this order, one call per line, and
 * `--dump=schedule` prints the schedule after each.  Every pass opens its
 * file with what it needs and what it establishes. */
#ifndef CONVC_PASSES_H
#define CONVC_PASSES_H

#include "schedule.h"

/* passes/kernels.c: a micro-kernel and register block per stage */
void pass_choose_kernels(Arena *a, Schedule *s);
/* passes/algorithm.c: direct, separable or FFT sums, by the method= options and cost */
void pass_choose_algorithms(Arena *a, Schedule *s);
/* passes/epilogue.c: elementwise consumers applied in the producer's registers */
void pass_fuse_epilogues(Arena *a, Schedule *s);
/* passes/pool.c: a pool computed from a convolution's tiles */
void pass_fuse_pools(Arena *a, Schedule *s);
/* passes/layout.c: the layout each stage reads its input in */
void pass_plan_layouts(Arena *a, Schedule *s);
/* passes/parallel.c: how each scalar nest is split among threads */
void pass_schedule_parallel(Arena *a, Schedule *s);
/* passes/pack.c: weights in the order the kernels read them */
void pass_pack_weights(Arena *a, Schedule *s);

#endif
