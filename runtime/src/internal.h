/* internal.h - helpers shared by the runtime's source files; not exported
 * (the library is built with -fvisibility=hidden). */
#ifndef CONVRT_INTERNAL_H
#define CONVRT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "convrt.h"

/* Alignment of every buffer the runtime allocates: one cache line, and
 * enough for AVX-512 aligned loads. */
#define CRT_ALIGN 64

/* 64-byte aligned allocation of max(bytes, 1) bytes rounded up to the
 * alignment; zeroed when zero is set.  NULL on failure (no report). */
void *convrt__aligned_alloc(size_t bytes, int zero);

/* Number of elements of rank/dims, or -1 on overflow of int64 or of the
 * byte size in size_t.  Negative dims are the caller's business. */
int convrt__numel(int64_t rank, const int64_t *dims, int64_t *out);

/* Lower-case extension of path after the last '.' of the last component
 * (without the dot) into buf; "" when there is none. */
void convrt__extension(const char *path, char *buf, size_t size);

/* A file written under a temporary name in the destination directory and
 * renamed over the destination on success, so readers never see a partial
 * file. */
typedef struct convrt__atomic_file {
    FILE *fp;
    char *tmp_path;
    const char *path;
} convrt__atomic_file;

/* Create the temporary file; reports CONVRT_E_IO / NOMEM on failure. */
int convrt__atomic_open(convrt__atomic_file *af, const char *path);
/* Flush, close and rename; on any error the temporary file is removed and
 * the error reported.  Always releases af. */
int convrt__atomic_commit(convrt__atomic_file *af);
/* Close and remove the temporary file without reporting. */
void convrt__atomic_abort(convrt__atomic_file *af);

/* A runtime function called by a pipeline's body failed with rc (already
 * reported): convrt_pipeline_run, if one is running on this thread,
 * returns the first such code once the body is done. */
void convrt__run_fail(int rc);

#endif
