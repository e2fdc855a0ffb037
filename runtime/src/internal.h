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

/* Pass a warning (a CONVRT_W_* code) to the warning handler. */
void convrt__warn(int code, const char *fmt, ...) CONVRT_PRINTF(2, 3);

/* "a directory", "a FIFO", ... for a stat mode, to say what a path is. */
const char *convrt__file_kind(unsigned mode);

/* Open path for reading and return its size, refusing anything but a
 * regular file without blocking on it (a FIFO without a writer would hang
 * fopen).  Reports CONVRT_E_IO / INVALID with the reason on failure. */
int convrt__open_input(const char *path, FILE **fp, int64_t *size);

/* What convrt_load_shape reads: the shape in a file's header, data NULL. */
int convrt__npy_load_shape(const char *path, convrt_tensor *out);
int convrt__image_load_shape(const char *path, convrt_tensor *out);

/* The target path of an output file, for messages. */
const char *convrt__outfile_path(const convrt_outfile *f);

/* What the savers write into an open output file, after the same checks
 * convrt_save_check makes of the tensor. */
int convrt__npy_write(convrt_outfile *f, const convrt_tensor *t);
int convrt__npy_check(const char *path, const convrt_tensor *t);
int convrt__image_write(convrt_outfile *f, const convrt_tensor *t);
int convrt__image_check(const char *path, const convrt_tensor *t);

/* A runtime function called by a pipeline's body failed with rc (already
 * reported): convrt_pipeline_run, if one is running on this thread,
 * returns the first such code once the body is done. */
void convrt__run_fail(int rc);

#endif
