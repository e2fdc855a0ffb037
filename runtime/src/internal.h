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

/* Memory a thread keeps between calls (keep.c), one block per use. */
enum convrt__keep_use { CONVRT__KEEP_SCRATCH, CONVRT__KEEP_FFT, CONVRT__KEEP_USES };
#define CONVRT__KEEP_MAX ((size_t)64 << 20)     /* larger blocks are freed */

/* A 64-byte aligned block of at least *bytes: the thread's kept block for
 * `use` when it is large enough, else a new one; NULL when out of memory.
 * *bytes becomes the block's size, which the caller gives back to
 * convrt__keep_put. */
char *convrt__keep_get(enum convrt__keep_use use, size_t *bytes);
void convrt__keep_put(enum convrt__keep_use use, char *block, size_t bytes);

/* How many new blocks convrt__keep_get has allocated for `use` in this
 * process (for the tests). */
size_t convrt__keep_fresh(enum convrt__keep_use use);

/* Complex FFTs of power-of-two lengths n >= CONVRT__FFT2_MIN in vector
 * code (fft_pow2.c), on interleaved (re, im) floats.  The twiddles for n
 * (3n/2 floats, convrt__aligned_alloc'd; free() them), or NULL when n is not
 * such a length or out of memory.  convrt__fft2 transforms the n complex
 * values of in into out (exp(-2 pi i jk/n), or its conjugate for the
 * inverse, unscaled); in is overwritten, and in and out must not overlap. */
#define CONVRT__FFT2_MIN 16
float *convrt__fft2_twiddles(int n);
void convrt__fft2(int n, const float *w, int inverse, float *in, float *out);
/* The same with the code for one instruction set (for the tests: every one
 * gives the same bits); -1 when the CPU does not have it. */
enum { CONVRT__FFT2_SSE2, CONVRT__FFT2_AVX2, CONVRT__FFT2_AVX512 };
int convrt__fft2_isa(int isa, int n, const float *w, int inverse, float *in, float *out);

/* Number of elements of rank/dims, or -1 on overflow of int64 or of the
 * byte size in size_t.  Negative dims are the caller's business. */
int convrt__numel(int64_t rank, const int64_t *dims, int64_t *out);

/* Lower-case extension of path after the last '.' of the last component
 * (without the dot) into buf; "" when there is none. */
void convrt__extension(const char *path, char *buf, size_t size);

/* A pipeline call starts / ends: the thread pool keeps its workers awake
 * between the call's parallel loops (pool.c). */
void convrt__pool_call_begin(void);
void convrt__pool_call_end(void);

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
 * convrt_save_check_with makes of the options and the tensor (t may be
 * NULL there: the options only).  opt is never NULL. */
int convrt__npy_write(convrt_outfile *f, const convrt_tensor *t, const convrt_save_options *opt);
int convrt__npy_check(const char *path, const convrt_tensor *t, const convrt_save_options *opt);
int convrt__image_write(convrt_outfile *f, const convrt_tensor *t, const convrt_save_options *opt);
int convrt__image_check(const char *path, const convrt_tensor *t, const convrt_save_options *opt);
int convrt__audio_write(convrt_outfile *f, const convrt_tensor *t, const convrt_save_options *opt);
int convrt__audio_check(const char *path, const convrt_tensor *t, const convrt_save_options *opt);

/* ---- .npy data (npy.c, npy_convert.c) */

/* A NumPy dtype the reader takes: kind 'b' (bool), 'i', 'u' or 'f', size
 * in bytes, and whether its byte order is the host's opposite. */
typedef struct convrt__npy_dtype {
    char kind;
    int  size;
    int  swap;
} convrt__npy_dtype;

/* Values that changed on their way to float32. */
typedef struct convrt__npy_loss {
    int64_t count;
    double  max_change;
} convrt__npy_loss;

/* Read a whole .npy stream of size bytes from f (at its start) into *out;
 * name is what messages call it ("w.npy", "w.npz:k").  f is not closed. */
int convrt__npy_read(FILE *f, int64_t size, const char *name, convrt_tensor *out);
/* n items of dt at raw (file order) to floats, counting the losses. */
void convrt__npy_convert(const unsigned char *raw, size_t n, convrt__npy_dtype dt, float *dst,
                         convrt__npy_loss *loss);
/* A Fortran-order array of dims (n floats in src) into C order in out. */
void convrt__npy_fortran_to_c(const float *src, float *out, int rank, const int64_t *dims);
/* One CONVRT_W_PRECISION warning, if any value changed. */
void convrt__npy_report_loss(const char *name, const char *descr, const convrt__npy_loss *loss, int64_t n);

/* A runtime function called by a pipeline's body failed with rc (already
 * reported): convrt_pipeline_run, if one is running on this thread,
 * returns the first such code once the body is done. */
void convrt__run_fail(int rc);

#endif
