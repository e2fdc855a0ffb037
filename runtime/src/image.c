/* image.c - PNG (libpng) and netpbm PGM/PPM images as float tensors.
 *
 * Images become [H, W] (gray) or [3, H, W] (RGB, channels first) with
 * samples scaled into [0, 1]; saving goes the other way with 8 or 16 bits,
 * clamping to [0, 1] (and saying how much was clipped) or rescaling the
 * tensor's range to it. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* -------------------------------------------------------------- helpers */

/* The default of CONVRT_MAX_IMAGE_PIXELS (see convrt.h): a 10000 x 10000
 * RGB image, 1.2 GB as floats. */
#define DEFAULT_MAX_PIXELS 100000000LL

/* Deflate's best compression ratio: a 258-byte match coded in two bits.
 * No PNG can hold more pixel bytes than this times its own size. */
#define DEFLATE_MAX_RATIO 1032

static int64_t max_image_pixels(void)
{
    const char *s = getenv("CONVRT_MAX_IMAGE_PIXELS");
    if (s && *s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*end && errno == 0 && v >= 1)
            return v;
    }
    return DEFAULT_MAX_PIXELS;
}

/* The pixel ceiling, checked before anything is allocated. */
static int check_pixels(const char *path, int64_t w, int64_t h)
{
    int64_t n, limit = max_image_pixels();
    if (__builtin_mul_overflow(w, h, &n) || n > limit)
        return convrt_report(CONVRT_E_FORMAT,
                             "cannot load '%s': the image is %lld x %lld pixels, above the limit of %lld "
                             "pixels (set CONVRT_MAX_IMAGE_PIXELS to raise it)",
                             path, (long long)w, (long long)h, (long long)limit);
    return 0;
}

/* The shape of an image, gray [H, W] or colour [C, H, W], without data. */
static void set_image_shape(convrt_tensor *out, int channels, int64_t h, int64_t w)
{
    out->data = NULL;
    out->rank = channels == 1 ? 2 : 3;
    int64_t *d = out->dims;
    if (channels != 1)
        *d++ = channels;
    d[0] = h;
    d[1] = w;
}

static int alloc_image(const char *path, convrt_tensor *out, int channels, int64_t h, int64_t w)
{
    int64_t dims[3];
    int32_t rank;
    if (channels == 1) {
        dims[0] = h, dims[1] = w, rank = 2;
    } else {
        dims[0] = channels, dims[1] = h, dims[2] = w, rank = 3;
    }
    int64_t n;
    if (convrt__numel(rank, dims, &n) != 0)
        return convrt_report(CONVRT_E_OVERFLOW, "cannot load '%s': image of %lld x %lld is too large",
                             path, (long long)w, (long long)h);
    float *data = convrt__aligned_alloc((size_t)n * sizeof(float), 0);
    if (!data)
        return convrt_report(CONVRT_E_NOMEM, "cannot load '%s': cannot allocate %lld floats",
                             path, (long long)n);
    out->data = data;
    out->rank = rank;
    for (int i = 0; i < rank; i++)
        out->dims[i] = dims[i];
    return 0;
}

/* How values become samples of maxv + 1 levels. */
typedef struct levels {
    unsigned maxv;          /* 255 or 65535 */
    int      rescale;       /* map [lo, lo + span] to [0, 1] first */
    double   lo, span;
    int64_t  clipped;       /* values clamping changed the sample of */
} levels;

/* Clamped (the default): value * maxv clamped to [0, maxv], rounded to
 * nearest with halves up (in double, so exactly); NaN (which fails every comparison) becomes 0.
 * A value is counted as clipped when rounding alone would have left the
 * range: more than half a step below 0 or above 1, or NaN. */
static unsigned level(levels *L, float v)
{
    if (L->rescale) {
        double y = isfinite(v) ? (L->span > 0 ? ((double)v - L->lo) / L->span : 0.0) : v > 0 ? 1.0 : 0.0;
        double x = y * L->maxv + 0.5;
        return x <= 0 ? 0 : x >= L->maxv ? L->maxv : (unsigned)x;
    }
    double x = (double)v * L->maxv;     /* exact: 24 + 16 bits */
    if (!(x > 0.0)) {
        if (!(x >= -0.5))
            L->clipped++;
        return 0;
    }
    if (x >= L->maxv) {
        if (x >= L->maxv + 0.5)
            L->clipped++;
        return L->maxv;
    }
    return (unsigned)(x + 0.5);
}

/* The levels for t under opt: for rescaling, the range of its finite
 * values. */
static levels levels_for(const convrt_tensor *t, const convrt_save_options *opt)
{
    levels L = { opt->bits == 16 ? 65535u : 255u, opt->rescale, 0.0, 0.0, 0 };
    if (!L.rescale)
        return L;
    int64_t n = 0;
    convrt__numel(t->rank, t->dims, &n);
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = t->data[i];
        if (isfinite(v)) {
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    if (lo <= hi) {
        L.lo = lo;
        L.span = hi - lo;
    }
    return L;
}

/* One sample into a row: a byte, or two bytes big-endian (PNG and PNM). */
static void put_sample(unsigned char *row, size_t k, unsigned v, unsigned maxv)
{
    if (maxv > 255) {
        row[2 * k] = (unsigned char)(v >> 8);
        row[2 * k + 1] = (unsigned char)v;
    } else {
        row[k] = (unsigned char)v;
    }
}

/* Shape of a tensor to save as an image: channels 1 or 3, height, width.
 * The data is not looked at. */
static int image_shape(const char *path, const convrt_tensor *t, int *ch, int64_t *h, int64_t *w)
{
    if (t->rank == 2) {
        *ch = 1, *h = t->dims[0], *w = t->dims[1];
    } else if (t->rank == 3 && (t->dims[0] == 1 || t->dims[0] == 3)) {
        *ch = (int)t->dims[0], *h = t->dims[1], *w = t->dims[2];
    } else if (t->rank == 3) {
        return convrt_report(CONVRT_E_INVALID,
                             "cannot save '%s': an image needs 1 or 3 channels, the tensor has %lld",
                             path, (long long)t->dims[0]);
    } else {
        return convrt_report(CONVRT_E_RANK,
                             "cannot save '%s': an image needs rank 2 [H, W] or 3 [C, H, W], the tensor has rank %d",
                             path, (int)t->rank);
    }
    if (*h < 1 || *w < 1 || *h > 0x7fffffff || *w > 0x7fffffff)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': image size %lld x %lld is not supported",
                             path, (long long)*w, (long long)*h);
    int64_t n;
    if (convrt__numel(t->rank, t->dims, &n) != 0)
        return convrt_report(CONVRT_E_OVERFLOW, "cannot save '%s': element count overflows", path);
    return 0;
}

/* ------------------------------------------------------------------ PNG */

typedef struct png_err {
    char msg[200];
    int  code;          /* FORMAT, or IO when reading or writing failed */
} png_err;

static void png_error_fn(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;   /* warnings (e.g. unknown chunks) do not affect the pixels */
}

typedef struct png_src {
    FILE   *f;
    int64_t got;        /* bytes read so far */
} png_src;

/* libpng's own reader says only "Read Error", for a short file as for a
 * failing disk; this one tells them apart. */
static void png_read_fn(png_structp png, png_bytep buf, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    size_t got = fread(buf, 1, n, s->f);
    s->got += (int64_t)got;
    if (got == n)
        return;
    png_err *e = png_get_error_ptr(png);
    if (ferror(s->f)) {
        e->code = CONVRT_E_IO;
        snprintf(e->msg, sizeof e->msg, "read error: %s", strerror(errno ? errno : EIO));
    } else {
        snprintf(e->msg, sizeof e->msg, "truncated: the file ends after %lld bytes, inside a chunk",
                 (long long)s->got);
    }
    png_longjmp(png, 1);
}

/* Sample k of a decoded row: 8 bits, or 16 bits big-endian. */
static unsigned png_sample(const unsigned char *r, size_t k, int depth)
{
    return depth == 16 ? (unsigned)(r[2 * k] << 8 | r[2 * k + 1]) : r[k];
}

static int png_load(const char *path, convrt_tensor *out, int header_only)
{
    FILE *f;
    int64_t fsize;
    int rc0 = convrt__open_input(path, &f, &fsize);
    if (rc0 != 0)
        return rc0;
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        int io = ferror(f);
        fclose(f);
        if (io)
            return convrt_report(CONVRT_E_IO, "cannot load '%s': read error: %s", path, strerror(errno ? errno : EIO));
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': not a PNG file (bad signature)", path);
    }
    png_err err = {{0}, CONVRT_E_FORMAT};
    png_src src = {f, 8};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        fclose(f);
        return convrt_report(CONVRT_E_NOMEM, "cannot load '%s': out of memory", path);
    }
    /* Modified after setjmp, so volatile. */
    png_bytep *volatile rows = NULL;
    unsigned char *volatile pixels = NULL;
    volatile int rc = 0;

    if (setjmp(png_jmpbuf(png))) {
        if (rc == 0)
            rc = convrt_report(err.code, "cannot load '%s': %s", path, err.msg);
        goto done;
    }
    png_set_read_fn(png, &src, png_read_fn);
    png_set_sig_bytes(png, 8);
    /* Only IHDR, PLTE, tRNS, IDAT and IEND matter here.  libpng reads a
     * text or ICC chunk whole, allocating what its length field says (up
     * to 2 GB, before the data is known to exist); skipped, a chunk is
     * read and discarded in small pieces. */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_chunk_malloc_max(png, 8 << 20);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    int interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
    /* The header alone must not decide how much is allocated: the pixel
     * rows (one filter byte each) cannot be smaller compressed than
     * 1/DEFLATE_MAX_RATIO of their size. */
    int64_t rowbits = (int64_t)w * png_get_channels(png, info) * depth;
    int64_t raw = (int64_t)h * (1 + (rowbits + 7) / 8);
    if (raw / DEFLATE_MAX_RATIO > fsize) {
        rc = convrt_report(CONVRT_E_FORMAT,
                           "cannot load '%s': truncated: the header says %u x %u pixels, %lld bytes of pixel "
                           "data that take at least %lld bytes compressed, but the file has %lld bytes",
                           path, (unsigned)w, (unsigned)h, (long long)raw,
                           (long long)(raw / DEFLATE_MAX_RATIO), (long long)fsize);
        goto done;
    }
    if ((rc = check_pixels(path, w, h)) != 0)
        goto done;

    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    /* Transparency arrives as an alpha channel, whatever its form, and is
     * dropped while converting, noting whether any pixel was not opaque. */
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int in_ch = png_get_channels(png, info);
    depth = png_get_bit_depth(png, info);
    if (in_ch < 1 || in_ch > 4 || (depth != 8 && depth != 16)) {
        rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': unsupported PNG layout (%d channels, %d bits)",
                           path, in_ch, depth);
        goto done;
    }
    int channels = in_ch >= 3 ? 3 : 1;
    int alpha = in_ch == 2 || in_ch == 4;
    size_t rowbytes = png_get_rowbytes(png, info);
    if (header_only) {
        set_image_shape(out, channels, h, w);
        goto done;
    }
    if ((rc = alloc_image(path, out, channels, h, w)) != 0)
        goto done;
    /* Rows are converted as they are decoded; only an interlaced image,
     * whose passes each cover the whole image, needs all of them at once. */
    size_t nrows = interlaced && passes > 1 ? h : 1;
    int64_t total;
    if (__builtin_mul_overflow((int64_t)rowbytes, (int64_t)nrows, &total) || (uint64_t)total > SIZE_MAX) {
        rc = convrt_report(CONVRT_E_OVERFLOW, "cannot load '%s': image is too large", path);
        goto done;
    }
    pixels = malloc((size_t)total ? (size_t)total : 1);
    rows = malloc(sizeof(png_bytep) * nrows);
    if (!pixels || !rows) {
        rc = convrt_report(CONVRT_E_NOMEM, "cannot load '%s': out of memory", path);
        goto done;
    }
    for (size_t y = 0; y < nrows; y++)
        rows[y] = pixels + y * rowbytes;
    if (nrows > 1)
        png_read_image(png, rows);

    size_t plane = (size_t)h * w;
    float scale = depth == 16 ? 1.0f / 65535.0f : 1.0f / 255.0f;
    unsigned opaque = depth == 16 ? 65535 : 255;
    int translucent = 0;
    for (png_uint_32 y = 0; y < h; y++) {
        const unsigned char *r;
        if (nrows > 1) {
            r = rows[y];
        } else {
            png_read_row(png, rows[0], NULL);
            r = rows[0];
        }
        for (png_uint_32 x = 0; x < w; x++) {
            for (int c = 0; c < channels; c++)
                out->data[c * plane + (size_t)y * w + x] =
                    (float)png_sample(r, (size_t)x * in_ch + c, depth) * scale;
            if (alpha)      /* the last channel */
                translucent |= png_sample(r, (size_t)x * in_ch + channels, depth) != opaque;
        }
    }
    png_read_end(png, NULL);
    if (translucent)
        convrt__warn(CONVRT_W_ALPHA, "'%s': transparency dropped: some pixels are not opaque, and the image is read as %s without alpha",
                     path, channels == 1 ? "gray" : "RGB");

done:
    if (rc != 0)
        convrt_tensor_free(out);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(pixels);
    fclose(f);
    return rc;
}

static void png_write_fn(png_structp png, png_bytep buf, size_t n)
{
    if (fwrite(buf, 1, n, png_get_io_ptr(png)) != n) {
        png_err *e = png_get_error_ptr(png);
        e->code = CONVRT_E_IO;
        snprintf(e->msg, sizeof e->msg, "%s", strerror(errno ? errno : EIO));
        png_longjmp(png, 1);
    }
}

static void png_flush_fn(png_structp png)
{
    (void)png;      /* the output file is flushed when it is committed */
}

static int png_write(FILE *fp, const char *path, const convrt_tensor *t, int ch, int64_t h, int64_t w, levels *L)
{
    png_err err = {{0}, CONVRT_E_IO};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int bytes = L->maxv > 255 ? 2 : 1;
    unsigned char *volatile row = malloc((size_t)w * (size_t)ch * (size_t)bytes);
    if (!info || !row) {
        png_destroy_write_struct(&png, &info);
        free(row);
        return convrt_report(CONVRT_E_NOMEM, "cannot save '%s': out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, err.msg);
    }
    png_set_write_fn(png, fp, png_write_fn, png_flush_fn);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8 * bytes,
                 ch == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t plane = (size_t)h * (size_t)w;
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                put_sample(row, (size_t)(x * ch + c), level(L, t->data[c * plane + (size_t)(y * w + x)]), L->maxv);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return 0;
}

/* --------------------------------------------------------------- netpbm */

/* Skip whitespace and '#' comments (which run to the end of the line). */
static int pnm_skip(FILE *f)
{
    int c;
    for (;;) {
        c = getc(f);
        if (c == '#') {
            while ((c = getc(f)) != EOF && c != '\n' && c != '\r')
                ;
            if (c == EOF)
                return EOF;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            continue;
        } else {
            return c;
        }
    }
}

/* A decimal header or plain-format value.  1 = ok, 0 = EOF before any
 * digit, -1 = not a number or too large. */
static int pnm_uint(FILE *f, long *out)
{
    int c = pnm_skip(f);
    if (c == EOF)
        return 0;
    if (c < '0' || c > '9')
        return -1;
    long v = 0;
    while (c >= '0' && c <= '9') {
        v = v * 10 + (c - '0');
        if (v > 0x7fffffff)
            return -1;
        c = getc(f);
    }
    if (c != EOF && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f' && c != '#')
        return -1;
    if (c != EOF)
        ungetc(c, f);
    *out = v;
    return 1;
}

static int pnm_read_err(const char *path)
{
    return convrt_report(CONVRT_E_IO, "cannot load '%s': read error: %s", path, strerror(errno ? errno : EIO));
}

static int pnm_load(const char *path, convrt_tensor *out, int header_only)
{
    FILE *f;
    int64_t fsize;
    int rc = convrt__open_input(path, &f, &fsize);
    if (rc != 0)
        return rc;
    int m0 = getc(f), m1 = getc(f);
    if (m0 != 'P' || (m1 != '2' && m1 != '3' && m1 != '5' && m1 != '6')) {
        rc = ferror(f) ? pnm_read_err(path)
                       : convrt_report(CONVRT_E_FORMAT,
                                       "cannot load '%s': header field 'magic': not a PGM/PPM file (expected P2, P3, P5 or P6)",
                                       path);
        fclose(f);
        return rc;
    }
    int plain = m1 == '2' || m1 == '3';
    int channels = (m1 == '3' || m1 == '6') ? 3 : 1;
    static const char *const fields[3] = {"width", "height", "maxval"};
    long v[3];
    for (int i = 0; i < 3; i++) {
        int r = pnm_uint(f, &v[i]);
        if (r != 1) {
            rc = ferror(f) ? pnm_read_err(path)
                           : convrt_report(CONVRT_E_FORMAT, "cannot load '%s': header field '%s': %s", path,
                                           fields[i], r == 0 ? "missing (truncated header)"
                                                             : "not a number or too large");
            fclose(f);
            return rc;
        }
    }
    if (v[0] < 1 || v[1] < 1) {
        fclose(f);
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': header field '%s': must be at least 1",
                             path, v[0] < 1 ? "width" : "height");
    }
    if (v[2] < 1 || v[2] > 65535) {
        fclose(f);
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': header field 'maxval': %ld is outside 1..65535",
                             path, v[2]);
    }
    if (!plain) {
        /* exactly one whitespace byte separates maxval from the raster */
        int c = getc(f);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f') {
            fclose(f);
            return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': header field 'maxval': not followed by whitespace",
                                 path);
        }
    }
    int64_t w = v[0], h = v[1];
    long maxval = v[2];
    int wide = maxval > 255;
    /* The header must not decide how much is allocated: the file has to
     * hold every sample it promises (a raw sample is 1 or 2 bytes, a plain
     * one at least a digit and a separator) before anything is. */
    int64_t need;
    if (__builtin_mul_overflow(w * h, (int64_t)channels * (plain || wide ? 2 : 1), &need))
        need = INT64_MAX;   /* w * h < 2^62 itself */
    else if (plain)
        need -= 1;          /* no separator after the last sample */
    int64_t have = fsize - (int64_t)ftell(f);
    if (have < need) {
        fclose(f);
        return convrt_report(CONVRT_E_FORMAT,
                             "cannot load '%s': pixel data: truncated: the header says %lld x %lld pixels, which "
                             "need %s%lld bytes, but the file has %lld after the header",
                             path, (long long)w, (long long)h, plain ? "at least " : "", (long long)need,
                             (long long)have);
    }
    if ((rc = check_pixels(path, w, h)) != 0 || header_only ||
        (rc = alloc_image(path, out, channels, h, w)) != 0) {
        if (rc == 0)
            set_image_shape(out, channels, h, w);
        fclose(f);
        return rc;
    }
    size_t plane = (size_t)h * (size_t)w;
    float scale = 1.0f / (float)maxval;
    for (size_t p = 0; p < plane && rc == 0; p++) {
        for (int c = 0; c < channels; c++) {
            long s;
            if (plain) {
                int r = pnm_uint(f, &s);
                if (r != 1) {
                    rc = ferror(f) ? pnm_read_err(path)
                                   : convrt_report(CONVRT_E_FORMAT, "cannot load '%s': pixel data: %s", path,
                                                   r == 0 ? "truncated" : "not a number");
                    break;
                }
            } else {
                int a = getc(f), b = wide ? getc(f) : 0;
                if (a == EOF || b == EOF) {
                    rc = ferror(f) ? pnm_read_err(path)
                                   : convrt_report(CONVRT_E_FORMAT,
                                                   "cannot load '%s': pixel data: truncated (the file shrank while reading)",
                                                   path);
                    break;
                }
                s = wide ? (long)a << 8 | b : a;
            }
            if (s > maxval) {
                rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': pixel data: sample %ld exceeds maxval %ld",
                                   path, s, maxval);
                break;
            }
            out->data[(size_t)c * plane + p] = (float)s * scale;
        }
    }
    fclose(f);
    if (rc != 0)
        convrt_tensor_free(out);
    return rc;
}

static int pnm_write(FILE *fp, const char *path, const convrt_tensor *t, int ch, int64_t h, int64_t w, int out_ch,
                     levels *L)
{
    size_t rowbytes = (size_t)w * (size_t)out_ch * (L->maxv > 255 ? 2 : 1);
    unsigned char *row = malloc(rowbytes);
    if (!row)
        return convrt_report(CONVRT_E_NOMEM, "cannot save '%s': out of memory", path);
    int ok = fprintf(fp, "P%c\n%lld %lld\n%u\n", out_ch == 1 ? '5' : '6', (long long)w, (long long)h, L->maxv) > 0;
    size_t plane = (size_t)h * (size_t)w;
    for (int64_t y = 0; ok && y < h; y++) {
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < out_ch; c++) {
                /* gray replicated into a .ppm is counted once */
                float v = t->data[(size_t)(ch == 1 ? 0 : c) * plane + (size_t)(y * w + x)];
                int64_t before = L->clipped;
                put_sample(row, (size_t)(x * out_ch + c), level(L, v), L->maxv);
                if (ch == 1 && c > 0)
                    L->clipped = before;
            }
        ok = fwrite(row, 1, rowbytes, fp) == rowbytes;
    }
    free(row);
    if (!ok)
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, strerror(errno ? errno : EIO));
    return 0;
}

/* ------------------------------------------------------------ dispatch */

static int image_load(const char *path, convrt_tensor *out, int header_only)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_image_load: %s is NULL",
                             !path ? "path" : "output tensor");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (strcmp(ext, "png") == 0)
        return png_load(path, out, header_only);
    if (!strcmp(ext, "pgm") || !strcmp(ext, "ppm") || !strcmp(ext, "pnm"))
        return pnm_load(path, out, header_only);
    return convrt_report(CONVRT_E_INVALID,
                         "cannot load '%s': unknown image extension (expected .png, .pgm or .ppm)", path);
}

int convrt_image_load(const char *path, convrt_tensor *out) { return image_load(path, out, 0); }

int convrt__image_load_shape(const char *path, convrt_tensor *out) { return image_load(path, out, 1); }

typedef enum image_kind { IMG_NONE, IMG_PNG, IMG_PGM, IMG_PPM, IMG_PNM } image_kind;

static image_kind kind_of(const char *path)
{
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (!strcmp(ext, "png")) return IMG_PNG;
    if (!strcmp(ext, "pgm")) return IMG_PGM;
    if (!strcmp(ext, "ppm")) return IMG_PPM;
    if (!strcmp(ext, "pnm")) return IMG_PNM;
    return IMG_NONE;
}

int convrt__image_check(const char *path, const convrt_tensor *t, const convrt_save_options *opt)
{
    if (kind_of(path) == IMG_NONE)
        return convrt_report(CONVRT_E_INVALID,
                             "cannot save '%s': unknown image extension (expected .png, .pgm or .ppm)", path);
    if (opt->bits != 0 && opt->bits != 8 && opt->bits != 16)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': an image is written with 8 or 16 bits, not %d",
                             path, (int)opt->bits);
    if (opt->rate)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': a sample rate is for sound, not images", path);
    if (!t)
        return 0;
    int ch = 0;
    int64_t h = 0, w = 0;
    int rc = image_shape(path, t, &ch, &h, &w);
    if (rc != 0)
        return rc;
    if (kind_of(path) == IMG_PGM && ch != 1)
        return convrt_report(CONVRT_E_INVALID,
                             "cannot save '%s': a .pgm is grayscale but the tensor has 3 channels (use .ppm or .png)",
                             path);
    return 0;
}

/* The checks of convrt__image_check plus the data pointer. */
static int image_ready(const char *path, const convrt_tensor *t, const convrt_save_options *opt)
{
    if (!t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_image_save: tensor is NULL");
    int rc = convrt__image_check(path, t, opt);
    if (rc == 0 && !t->data)
        rc = convrt_report(CONVRT_E_NULL_DATA, "cannot save '%s': tensor data is NULL", path);
    return rc;
}

int convrt__image_write(convrt_outfile *f, const convrt_tensor *t, const convrt_save_options *opt)
{
    const char *path = convrt__outfile_path(f);
    int rc = image_ready(path, t, opt);
    if (rc != 0)
        return rc;
    int ch = 0;
    int64_t h = 0, w = 0;
    image_shape(path, t, &ch, &h, &w);
    FILE *fp = convrt_outfile_stream(f);
    image_kind k = kind_of(path);
    levels L = levels_for(t, opt);
    if (k == IMG_PNG)
        rc = png_write(fp, path, t, ch, h, w, &L);
    else
        rc = pnm_write(fp, path, t, ch, h, w, k == IMG_PGM ? 1 : k == IMG_PNM ? ch : 3, &L);
    if (rc == 0 && L.clipped) {
        int64_t n = (int64_t)ch * h * w;
        convrt__warn(CONVRT_W_CLIPPED,
                     "'%s': %lld of %lld values (%.3g%%) were outside [0, 1] (or NaN) and were clipped to it",
                     path, (long long)L.clipped, (long long)n, 100.0 * (double)L.clipped / (double)n);
    }
    return rc;
}

int convrt_image_save(const char *path, const convrt_tensor *t)
{
    if (!path || !t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_image_save: %s is NULL", !path ? "path" : "tensor");
    /* the tensor first: a tensor that is not an image creates no file */
    convrt_save_options opt = {0};
    int rc = image_ready(path, t, &opt);
    if (rc != 0)
        return rc;
    convrt_outfile *f;
    if ((rc = convrt_outfile_open(path, &f)) != 0)
        return rc;
    if ((rc = convrt__image_write(f, t, &opt)) != 0) {
        convrt_outfile_discard(f);
        return rc;
    }
    return convrt_outfile_commit(&f, 1);
}
