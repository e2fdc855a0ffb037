/* convrt.h - the convc runtime library: tensors, file I/O, errors, threads.
 *
 * Code compiled by convc calls into this library, and applications use it
 * to load inputs, allocate outputs and save results.  Every function that
 * can fail returns 0 (CONVRT_OK) or a negative CONVRT_E_* code and, before
 * returning the code, passes one human-readable message naming the file,
 * field or argument at fault to the error handler (see
 * convrt_set_error_handler), so callers may just propagate the code.
 *
 * Thread safety: all functions may be called from several threads at once
 * as long as they do not operate on the same tensor concurrently. */
#ifndef CONVRT_H
#define CONVRT_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the shared library are hidden unless marked with CONVRT_API,
 * so that only the documented convrt_* interface is exported. */
#if defined(__GNUC__)
#define CONVRT_API __attribute__((visibility("default")))
#else
#define CONVRT_API
#endif

#if defined(__GNUC__)
#define CONVRT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CONVRT_PRINTF(f, a)
#endif

/* ---------------------------------------------------------------- tensors */

/* The largest rank a tensor can have; dims is a fixed array so a tensor is
 * a plain value that generated code and callers can lay out without
 * allocation. */
#define CONVRT_MAX_RANK 8

/* A dense float32 tensor.  data points to dims[0]*...*dims[rank-1] floats
 * in C (row-major) order; dims[rank..] are unused.  A rank-0 tensor holds
 * one element.  The tensor does not own its data unless it was filled by a
 * convrt_* allocating function, in which case convrt_tensor_free releases
 * it. */
typedef struct convrt_tensor {
    float   *data;
    int32_t  rank;
    int64_t  dims[CONVRT_MAX_RANK];
} convrt_tensor;

/* Result codes: 0 is success, everything else negative. */
enum {
    CONVRT_OK             = 0,
    CONVRT_E_NULL_ARG     = -1,  /* a tensor (or other) pointer is NULL */
    CONVRT_E_NULL_DATA    = -2,  /* a non-empty tensor has data == NULL */
    CONVRT_E_RANK         = -3,  /* a tensor has the wrong rank */
    CONVRT_E_DIM          = -4,  /* dim differs from a literal dim in the declaration */
    CONVRT_E_SYMBOL       = -5,  /* size symbols disagree / an EQ check failed */
    CONVRT_E_SHAPE        = -6,  /* a derived size is below 1 (or 0) */
    CONVRT_E_OUTPUT_SHAPE = -7,  /* output rank/dims differ from what the pipeline produces */
    CONVRT_E_OVERFLOW     = -8,  /* a size computation overflowed */
    CONVRT_E_NOMEM        = -9,  /* out of memory */
    CONVRT_E_CPU          = -10, /* the CPU lacks features the code needs */
    CONVRT_E_ABI          = -11, /* pipeline descriptor from an incompatible compiler, or malformed */
    CONVRT_E_IO           = -12, /* a file could not be opened, read or written */
    CONVRT_E_FORMAT       = -13, /* malformed or unsupported file */
    CONVRT_E_INVALID      = -14, /* bad argument to a runtime function */
    CONVRT_E_ALIAS        = -15  /* an output's data overlaps an input's or another output's */
};

/* ----------------------------------------------------------------- errors */

/* A static description of a code; never NULL, also for unknown codes. */
CONVRT_API const char *convrt_strerror(int code);

/* Receives every error before the failing function returns.  message has
 * no trailing newline and is only valid during the call.  The handler may
 * be called from any thread, concurrently. */
typedef void (*convrt_error_handler)(void *user, int code, const char *message);

/* Install h (with its user pointer) process-wide.  NULL restores the
 * default handler, which prints "convrt: error: MESSAGE\n" on stderr. */
CONVRT_API void convrt_set_error_handler(convrt_error_handler h, void *user);

/* Install h for the errors reported on the calling thread only, ahead of
 * the process-wide handler, which then sees none of them; NULL removes
 * it.  For a library that calls the runtime and wants its messages (the
 * compiler's load(), for one) without replacing the application's
 * handler or racing with other threads. */
CONVRT_API void convrt_set_thread_error_handler(convrt_error_handler h, void *user);

/* Format a message, pass it with code to the current handler and return
 * code, so that `return convrt_report(CONVRT_E_IO, "...")` reports and
 * fails in one step.  Used by generated code and the runtime itself. */
CONVRT_API int convrt_report(int code, const char *fmt, ...) CONVRT_PRINTF(2, 3);

/* Warnings: the call succeeded, but the result lacks something the file
 * had (an image's transparency), or replacing a file had a side effect the
 * caller may not expect (other hard links keep the old contents).  They go
 * to their own handler, so an error handler never sees a success. */
enum {
    CONVRT_W_ALPHA     = 1,  /* an image's transparency was dropped */
    CONVRT_W_HARD_LINK = 2,  /* a replaced file had other hard links */
    CONVRT_W_PRECISION = 3,  /* values read were rounded to float32 */
    CONVRT_W_CLIPPED   = 4   /* values written were clipped to the format's range */
};

/* Install h for warnings (code is a CONVRT_W_* value), process-wide and
 * with the same rules as the error handler.  NULL restores the default,
 * which prints "convrt: warning: MESSAGE\n" on stderr. */
CONVRT_API void convrt_set_warning_handler(convrt_error_handler h, void *user);

/* ------------------------------------------------------ tensor allocation */

/* Fill *t with a new zeroed tensor of the given rank (0..CONVRT_MAX_RANK)
 * and dims (each >= 0; dims may be NULL when rank is 0).  data is 64-byte
 * aligned so vectorised code can use aligned loads, and is non-NULL even
 * when the tensor has no elements.  The previous contents of *t are
 * overwritten, not freed.  On failure *t is left empty (data NULL, rank 0).
 * Errors: NULL_ARG, INVALID (rank or negative dim), OVERFLOW, NOMEM. */
CONVRT_API int convrt_tensor_alloc(convrt_tensor *t, int32_t rank, const int64_t *dims);

/* Release data allocated by the runtime and reset *t to empty (data NULL,
 * rank 0).  NULL-safe, and safe to call twice. */
CONVRT_API void convrt_tensor_free(convrt_tensor *t);

/* *out = number of elements (1 for rank 0).  Errors: NULL_ARG, RANK
 * (rank outside 0..8), INVALID (negative dim), OVERFLOW (product does not
 * fit int64 or its size in bytes does not fit size_t). */
CONVRT_API int convrt_tensor_numel(const convrt_tensor *t, int64_t *out);

/* ----------------------------------------------------------------- files */

/* Reading: every loader refuses, before reading a byte, anything but a
 * regular file: a directory, a FIFO (which would block), a device or a
 * socket is CONVRT_E_IO with a message that says what the path is, and an
 * empty file name is CONVRT_E_INVALID.  When the system reports an error,
 * the message ends with its reason (strerror). */

/* Load a NumPy .npy file (format versions 1.0, 2.0 and 3.0) holding real
 * numbers of any of NumPy's basic dtypes: bool ('b1'), signed and unsigned
 * integers of 1, 2, 4 and 8 bytes ('i1'..'i8', 'u1'..'u8') and floats of 2,
 * 4 and 8 bytes ('f2', 'f4', 'f8'), in either byte order ('<', '>', '|',
 * '='), in C or Fortran order, with rank <= 8, into a newly allocated *out
 * of float32 in C order.  The conversion is NumPy's astype(float32): bool
 * as 0 or 1, integers and float64 rounded to nearest (float64 beyond the
 * float32 range becomes an infinity).  When some value changed on the way
 * (an integer beyond 2^24 that float32 cannot hold exactly, or a float64
 * with more precision), one CONVRT_W_PRECISION warning says how many and by
 * how much.  Every header field is validated; anything unexpected (bad
 * magic, malformed dict, other dtypes such as complex, strings or
 * structured records, truncated or trailing data, overflowing shape) is
 * CONVRT_E_FORMAT with a message naming the file and the field.  Errors:
 * NULL_ARG, IO, FORMAT, NOMEM.  On failure *out is left empty. */
CONVRT_API int convrt_npy_load(const char *path, convrt_tensor *out);

/* Load array key of a NumPy .npz archive (numpy.savez or
 * numpy.savez_compressed: entries KEY.npy, stored or deflated), as
 * convrt_npy_load would load it.  key NULL takes the archive's only array.
 * A missing key (or NULL with several arrays) is CONVRT_E_INVALID with a
 * message listing the archive's keys.  An entry's size is checked against
 * its compressed size before it is decompressed, and its checksum after.
 * Errors: NULL_ARG, INVALID, IO, FORMAT, NOMEM. */
CONVRT_API int convrt_npz_load(const char *path, const char *key, convrt_tensor *out);

/* Save t as a version 1.0 '<f4' .npy file, through a temporary file
 * renamed over PATH (see "output files" below), so a failure leaves PATH
 * as it was.  Errors: NULL_ARG, NULL_DATA, RANK, INVALID, OVERFLOW, IO. */
CONVRT_API int convrt_npy_save(const char *path, const convrt_tensor *t);

/* Load an image chosen by extension (case-insensitive): .png via libpng,
 * .pgm/.ppm/.pnm (binary P5/P6 and plain P2/P3 netpbm, 8 or 16 bits).
 * Grayscale becomes [H, W], colour [3, H, W] (channels first, as
 * convolutions want them); samples are divided by the maximum value so
 * they lie in [0, 1].  PNG palettes are expanded to RGB, gray below 8 bits
 * expanded, 16-bit samples scaled by 65535, and transparency (an alpha
 * channel or a tRNS chunk) dropped; when some pixel was not opaque a
 * CONVRT_W_ALPHA warning says so.
 *
 * The header's size is checked against the file before any pixel memory is
 * allocated: a PGM/PPM must hold every byte its header promises, a PNG at
 * least the compressed size its pixels need at deflate's best ratio, else
 * the load fails as "truncated" with both numbers.  Images above
 * CONVRT_MAX_IMAGE_PIXELS pixels (width x height; the environment variable
 * of that name when it is an integer >= 1, else 100,000,000: a 10000 x
 * 10000 RGB image is 1.2 GB of floats) are refused.  Errors: NULL_ARG,
 * INVALID (unknown extension), IO, FORMAT (also: above the pixel limit),
 * OVERFLOW, NOMEM. */
CONVRT_API int convrt_image_load(const char *path, convrt_tensor *out);

/* Save t as an 8-bit image chosen by extension (.png, .pgm, .ppm/.pnm):
 * [H, W] or [1, H, W] as grayscale, [3, H, W] as RGB.  Each value is
 * multiplied by 255, clamped to [0, 255] and rounded to nearest (halves
 * up); NaN becomes 0.  When some value was outside [0, 1] (or NaN), one
 * CONVRT_W_CLIPPED warning gives their number and share (convrt_save_with
 * can rescale instead, or write 16 bits).  A .pgm needs a grayscale
 * tensor, a .ppm takes either (gray is replicated).  Atomic like
 * convrt_npy_save.  Errors:
 * NULL_ARG, NULL_DATA, RANK/INVALID (shape not an image), IO, NOMEM. */
CONVRT_API int convrt_image_save(const char *path, const convrt_tensor *t);

/* Load a sound with libsndfile: .wav (PCM of 8 to 32 bits, float, ...),
 * .flac and .ogg (Vorbis), whatever the extension says, as the file's
 * content decides.  One channel becomes [L] (L frames), C channels
 * [C, L]; samples are floats as libsndfile reads them (and Python's
 * soundfile package gives them): integer PCM divided by 2^(bits-1), so in
 * [-1, 1); float files as stored.  *rate (when rate is not NULL) receives
 * the sample rate in Hz.  A file shorter than its header says (a WAV whose
 * data chunk is cut short, a FLAC stream that ends early) is
 * CONVRT_E_FORMAT "truncated", as is anything libsndfile cannot read.
 * Errors: NULL_ARG, IO, FORMAT, NOMEM. */
CONVRT_API int convrt_audio_load(const char *path, convrt_tensor *out, int32_t *rate);

/* Save t ([L] mono or [C, L], 1 <= C <= 64) as sound at rate Hz (1 to
 * 768000) in the format of the extension: .wav as 32-bit float by
 * default, or 16- or 24-bit PCM when bits is 16 or 24; .flac as 16-bit PCM
 * (bits 0 or 16) or 24-bit; .ogg as Vorbis (bits 0).  A 32-bit float WAV
 * keeps every value exactly, also outside [-1, 1].  The other formats hold
 * only [-1, 1]: values beyond are clipped to it (NaN becomes 0), and one
 * CONVRT_W_CLIPPED warning says how many.  Integer PCM is libsndfile's
 * conversion: value × 2^(bits-1) rounded (WAV: toward -inf; FLAC: to
 * nearest) and limited to the integer range, so 1.0 becomes 2^(bits-1)-1.
 * Atomic like convrt_npy_save.  Errors: NULL_ARG, NULL_DATA, RANK, INVALID
 * (shape, rate or bits the format cannot take), IO, NOMEM. */
CONVRT_API int convrt_audio_save(const char *path, const convrt_tensor *t, int32_t rate, int32_t bits);

/* How a file is written, for the formats that have choices; a zeroed
 * struct (or NULL) means every default. */
typedef struct convrt_save_options {
    /* Bits per sample.  0: the format's default.  .npy: 32 (float32,
     * default) or 64 (float64, exact).  Images: 8 (default) or 16 (PNG
     * 16-bit, PGM/PPM with maxval 65535).  Audio: see convrt_audio_save. */
    int32_t bits;
    /* Images: 0 clamps every value to [0, 1] (the default; values outside,
     * and NaN, are counted and one CONVRT_W_CLIPPED warning gives their
     * share); 1 maps the smallest finite value to 0 and the largest to 1
     * first (a constant image becomes 0; +inf becomes 1, -inf and NaN 0). */
    int32_t rescale;
    /* Audio: the sample rate in Hz; required. */
    int32_t rate;
} convrt_save_options;

/* Dispatch on the extension (.npy, .png, .pgm, .ppm, .pnm, .wav, .flac,
 * .ogg; .npz for loading; case-insensitive) to the functions above; other
 * extensions are CONVRT_E_INVALID.  convrt_load of .npz takes the
 * archive's only array, and of audio drops the sample rate (use
 * convrt_audio_load to have it).  convrt_save of audio needs a rate, so
 * only convrt_save_with (or convrt_audio_save) can write it. */
CONVRT_API int convrt_load(const char *path, convrt_tensor *out);
CONVRT_API int convrt_save(const char *path, const convrt_tensor *t);
CONVRT_API int convrt_save_with(const char *path, const convrt_tensor *t, const convrt_save_options *opt);

/* The rank and dims convrt_load(path) would give, from the file's header
 * alone for .npy and images (an image's pixels and an array's data are not
 * read; .npz and sound files are loaded and their data dropped); out->data
 * is NULL: what a tool needs to check shapes or bind sizes without keeping
 * the data.
 * The header gets the same checks as when loading, including its size
 * against the file's.  Errors: NULL_ARG, INVALID, IO, FORMAT. */
CONVRT_API int convrt_load_shape(const char *path, convrt_tensor *out);

/* An .npy held in memory (len bytes at bytes, e.g. read from a pipe), loaded
 * as convrt_npy_load would load a file of those bytes; name stands for the
 * file in messages ("<stdin>").  Errors: as convrt_npy_load. */
CONVRT_API int convrt_npy_load_memory(const void *bytes, size_t len, const char *name, convrt_tensor *out);

/* Write t as a version 1.0 '<f4' .npy to the open stream f (e.g. stdout),
 * after the checks convrt_npy_save makes; name stands for the stream in
 * messages.  Nothing is flushed or closed.  Errors: as convrt_npy_save. */
CONVRT_API int convrt_npy_write_stream(FILE *f, const char *name, const convrt_tensor *t);

/* Check, without creating anything, that convrt_save_with(path, t, opt)
 * can succeed: a known extension, options the format takes, a tensor the
 * format can hold (rank, channels and size; t->data is not looked at, and
 * t may be NULL to check only the path and options), and a target
 * convrt_outfile_open accepts.  convrt_save_check(path, t) is the same with
 * the default options (and no rate, which audio then lacks).  Errors:
 * NULL_ARG, INVALID, RANK, OVERFLOW, IO. */
CONVRT_API int convrt_save_check(const char *path, const convrt_tensor *t);
CONVRT_API int convrt_save_check_with(const char *path, const convrt_tensor *t, const convrt_save_options *opt);

/* ----------------------------------------------------------- output files
 *
 * Every file this library writes (and every file convc writes) is made
 * the same way, so that a failure, a crash or a hostile directory cannot
 * destroy or expose anything:
 *
 *  - The bytes go to a new temporary file named .convrt-XXXXXXXX (eight
 *    random letters and digits) in the target's directory, created with
 *    O_EXCL and mode 0600: never an existing file, never through a
 *    symbolic link someone planted, and short enough to sit beside any
 *    valid target name.
 *  - When complete it is given its final mode, flushed to disk (fsync) and
 *    renamed over the target in one step, so readers see either the old
 *    file or the whole new one.
 *  - An existing regular file keeps its permission bits, and its owner and
 *    group where the process may set them (always as root).  A new file
 *    gets 0666 minus the umask, as fopen would give it.
 *  - A target that is a symbolic link is replaced by the new file; the file
 *    the link points to is not touched.  A target with other hard links is
 *    replaced by a new file, so the other names keep the old contents; a
 *    CONVRT_W_HARD_LINK warning says so.  (Rewriting the file in place
 *    would keep the links but lose the guarantee that a failure leaves the
 *    old contents.)
 *  - A target that is a directory, FIFO, device or socket is refused
 *    before anything is written. */
typedef struct convrt_outfile convrt_outfile;

/* Check path as a target without creating anything: a non-empty name that
 * does not end in '/', a directory that exists and that this process may
 * create files in, and nothing at path but a regular file or a symbolic
 * link.  Errors: NULL_ARG, INVALID (empty name), IO (with the reason). */
CONVRT_API int convrt_outfile_check(const char *path);

/* Check path as above and create its temporary file; *out receives the
 * handle (NULL on failure).  Errors: NULL_ARG, INVALID, IO, NOMEM. */
CONVRT_API int convrt_outfile_open(const char *path, convrt_outfile **out);

/* The temporary file's stream, for writing with stdio. */
CONVRT_API FILE *convrt_outfile_stream(convrt_outfile *f);

/* Write t into f in the format of f's target's extension, as convrt_save
 * (convrt_save_with) would; f is neither committed nor released.  Errors:
 * as convrt_save. */
CONVRT_API int convrt_save_to(convrt_outfile *f, const convrt_tensor *t);
CONVRT_API int convrt_save_to_with(convrt_outfile *f, const convrt_tensor *t, const convrt_save_options *opt);

/* Finish the n files (flush, fsync, close: a full disk is reported here)
 * and rename each over its target.  All or nothing: when any step fails,
 * the targets already replaced get their old files back (the old file is
 * kept under the temporary name by an atomic exchange, on filesystems that
 * support it: ext4, xfs, btrfs, tmpfs, ...), every temporary file is
 * removed and the error is reported.  The handles are released in every
 * case.  Errors: IO. */
CONVRT_API int convrt_outfile_commit(convrt_outfile *const *files, int n);

/* Remove the temporary file and release f.  NULL-safe. */
CONVRT_API void convrt_outfile_discard(convrt_outfile *f);

/* ----------------------------------------------------------- thread pool */

/* A piece of parallel work: process indices [begin, end). */
typedef void (*convrt_task_fn)(void *ctx, int64_t begin, int64_t end);

/* Run fn over [0, n) on up to T = min(n, convrt_get_num_threads())
 * threads, the calling thread among them.  [0, n) is split into T
 * contiguous ranges, range r = [n r / T, n (r + 1) / T), one a thread (the
 * caller's is range 0, and a worker takes the same range in every call of
 * the same size, so consecutive loops over the same data mostly find it on
 * the core that wrote it).  Each thread claims blocks from its own range
 * and then from the others' in turn, so a thread that starts late or is
 * slowed down takes fewer blocks; a block that starts at b in a range
 * [lo, hi) is max(g, (hi - b) / 2) indices, g = max(1, n / (64 T)) (the
 * last one of a range may be shorter), so the first blocks are large and
 * the last ones small and the threads finish close together.
 * Every index is passed to fn exactly once.  Returns when every block is done.  n <= 0 does nothing.
 * A call made from inside a task, or while another application thread is
 * using the pool, runs fn(ctx, 0, n) serially in the caller, so nesting
 * can neither deadlock nor oversubscribe.  Worker threads are started
 * lazily and joined when the process exits.  Between calls they sleep;
 * during a convrt_pipeline_run they wait awake (up to 0.1 ms) for the
 * pipeline's next parallel loop, and the start of a run wakes them. */
CONVRT_API void convrt_parallel_for(int64_t n, convrt_task_fn fn, void *ctx);

/* Set the number of threads used by convrt_parallel_for (n >= 1; 0 means
 * the default).  Returns the previous count, or CONVRT_E_INVALID (after a
 * report) for n < 0. */
CONVRT_API int convrt_set_num_threads(int n);

/* The count for convrt_parallel_for calls made by the calling thread
 * only (so for the pipelines it runs), whatever the process-wide count;
 * 0 returns the thread to the process-wide count.  Counts above 1024 are
 * taken as 1024.  Returns the thread's previous setting (0 for none), or
 * CONVRT_E_INVALID (after a report) for n < 0. */
CONVRT_API int convrt_set_thread_num_threads(int n);

/* The current process-wide count.  The default is the environment variable
 * CONVRT_NUM_THREADS when it is a valid integer >= 1, else the number of
 * online CPUs. */
CONVRT_API int convrt_get_num_threads(void);

#ifdef __cplusplus
}
#endif

#endif
