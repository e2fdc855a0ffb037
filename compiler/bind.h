/* bind.h - what the command line says about a pipeline's sizes, checked
 * against its input declarations before anything else: SYM=N must name a
 * size symbol of the script, INPUT=FILE an input, and a file's shape binds
 * the symbols of its input's declaration (`convc check s.conv img=a.png`). */
#ifndef CONVC_BIND_H
#define CONVC_BIND_H

#include "graph.h"

/* The bindings to check the pipeline with: opt's SYM=N followed by the
 * symbols the files of opt->input_shapes give, in declaration order.
 * Reports every name that means nothing (with the closest that does) and
 * every file whose shape cannot be its input's to d; NULL after any error.
 * *n is the number of bindings. */
const SymBinding *bind_command_line(Arena *a, Diag *d, const AstPipeline *ast,
                                    const CheckOptions *opt, int32_t *n);

#endif
