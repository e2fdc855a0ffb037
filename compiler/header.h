/* header.h - the C header `convc compile` writes beside the object.
 *
 * Plain text from the IrProgram (no LLVM): the two entry points with one
 * parameter per argument in script order, and a comment per argument
 * giving its declared shape with its size symbols. */
#ifndef CONVC_HEADER_H
#define CONVC_HEADER_H

#include <stdio.h>

#include "ir.h"

/* Names become C symbols (the pipeline) and C parameter names (its
 * arguments): refuse C keywords, the runtime's convrt_ prefix, `main` and
 * names the entry points would collide with.  0, or -1 with *err set to a
 * malloc'ed message naming the offending name. */
int header_check_names(const IrProgram *p, char **err);

/* Writes the header's text to f (the driver puts it in place atomically).
 * 0, or -1 when writing failed (errno says why). */
int header_write(FILE *f, const IrProgram *p, const char *cpu);

#endif
