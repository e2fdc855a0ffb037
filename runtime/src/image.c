/* image.c - PNG (libpng) and netpbm PGM/PPM images as float tensors.
 *
 * Images become [H, W] (gray) or [3, H, W] (RGB, channels first) with
 * samples scaled into [0, 1]; saving goes the other way with 8 bits. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* -------------------------------------------------------------- helpers */

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

/* value * 255 clamped to [0, 255], rounded to nearest with halves up;
 * NaN (which fails every comparison) becomes 0. */
static unsigned char to_u8(float v)
{
    float x = v * 255.0f;
    if (!(x > 0.0f))
        return 0;
    if (x >= 255.0f)
        return 255;
    return (unsigned char)(x + 0.5f);
}

/* Shape of a tensor to save as an image: channels 1 or 3, height, width. */
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
    if (!t->data)
        return convrt_report(CONVRT_E_NULL_DATA, "cannot save '%s': tensor data is NULL", path);
    return 0;
}

/* ------------------------------------------------------------------ PNG */

typedef struct png_err {
    char msg[200];
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

static int png_load(const char *path, convrt_tensor *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return convrt_report(CONVRT_E_IO, "cannot load '%s': %s", path, strerror(errno));
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(f);
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': not a PNG file (bad signature)", path);
    }
    png_err err = {{0}};
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
            rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': %s", path, err.msg);
        goto done;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);

    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    depth = png_get_bit_depth(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((channels != 1 && channels != 3) || (depth != 8 && depth != 16)) {
        rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': unsupported PNG layout (%d channels, %d bits)",
                           path, channels, depth);
        goto done;
    }
    size_t rowbytes = png_get_rowbytes(png, info);
    int64_t total;
    if (__builtin_mul_overflow((int64_t)rowbytes, (int64_t)h, &total) || (uint64_t)total > SIZE_MAX) {
        rc = convrt_report(CONVRT_E_OVERFLOW, "cannot load '%s': image is too large", path);
        goto done;
    }
    pixels = malloc((size_t)total ? (size_t)total : 1);
    rows = malloc(sizeof(png_bytep) * (h ? h : 1));
    if (!pixels || !rows) {
        rc = convrt_report(CONVRT_E_NOMEM, "cannot load '%s': out of memory", path);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    if ((rc = alloc_image(path, out, channels, h, w)) != 0)
        goto done;
    size_t plane = (size_t)h * w;
    float scale = depth == 16 ? 1.0f / 65535.0f : 1.0f / 255.0f;
    for (png_uint_32 y = 0; y < h; y++) {
        const unsigned char *r = rows[y];
        for (png_uint_32 x = 0; x < w; x++)
            for (int c = 0; c < channels; c++) {
                size_t k = (size_t)x * channels + c;
                unsigned v = depth == 16 ? (unsigned)(r[2 * k] << 8 | r[2 * k + 1]) : r[k];
                out->data[c * plane + (size_t)y * w + x] = (float)v * scale;
            }
    }

done:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(pixels);
    fclose(f);
    return rc;
}

static int png_save(const char *path, const convrt_tensor *t, int ch, int64_t h, int64_t w)
{
    convrt__atomic_file af;
    int rc = convrt__atomic_open(&af, path);
    if (rc != 0)
        return rc;
    png_err err = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile row = malloc((size_t)w * (size_t)ch);
    if (!info || !row) {
        png_destroy_write_struct(&png, &info);
        free(row);
        convrt__atomic_abort(&af);
        return convrt_report(CONVRT_E_NOMEM, "cannot save '%s': out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        convrt__atomic_abort(&af);
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, err.msg);
    }
    png_init_io(png, af.fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 ch == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t plane = (size_t)h * (size_t)w;
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                row[x * ch + c] = to_u8(t->data[c * plane + (size_t)(y * w + x)]);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return convrt__atomic_commit(&af);
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

static int pnm_load(const char *path, convrt_tensor *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return convrt_report(CONVRT_E_IO, "cannot load '%s': %s", path, strerror(errno));
    int rc = 0;
    int m0 = getc(f), m1 = getc(f);
    if (m0 != 'P' || (m1 != '2' && m1 != '3' && m1 != '5' && m1 != '6')) {
        fclose(f);
        return convrt_report(CONVRT_E_FORMAT,
                             "cannot load '%s': header field 'magic': not a PGM/PPM file (expected P2, P3, P5 or P6)",
                             path);
    }
    int plain = m1 == '2' || m1 == '3';
    int channels = (m1 == '3' || m1 == '6') ? 3 : 1;
    static const char *const fields[3] = {"width", "height", "maxval"};
    long v[3];
    for (int i = 0; i < 3; i++) {
        int r = pnm_uint(f, &v[i]);
        if (r != 1) {
            fclose(f);
            return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': header field '%s': %s", path,
                                 fields[i], r == 0 ? "missing (truncated header)"
                                                   : "not a number or too large");
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
    if ((rc = alloc_image(path, out, channels, h, w)) != 0) {
        fclose(f);
        return rc;
    }
    size_t plane = (size_t)h * (size_t)w;
    float scale = 1.0f / (float)maxval;
    int wide = maxval > 255;
    for (size_t p = 0; p < plane && rc == 0; p++) {
        for (int c = 0; c < channels; c++) {
            long s;
            if (plain) {
                int r = pnm_uint(f, &s);
                if (r != 1) {
                    rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': pixel data: %s", path,
                                       r == 0 ? "truncated" : "not a number");
                    break;
                }
            } else {
                int a = getc(f), b = wide ? getc(f) : 0;
                if (a == EOF || b == EOF) {
                    rc = ferror(f) ? convrt_report(CONVRT_E_IO, "cannot load '%s': read error", path)
                                   : convrt_report(CONVRT_E_FORMAT, "cannot load '%s': pixel data: truncated",
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

static int pnm_save(const char *path, const convrt_tensor *t, int ch, int64_t h, int64_t w, int out_ch)
{
    convrt__atomic_file af;
    int rc = convrt__atomic_open(&af, path);
    if (rc != 0)
        return rc;
    unsigned char *row = malloc((size_t)w * (size_t)out_ch);
    if (!row) {
        convrt__atomic_abort(&af);
        return convrt_report(CONVRT_E_NOMEM, "cannot save '%s': out of memory", path);
    }
    int ok = fprintf(af.fp, "P%c\n%lld %lld\n255\n", out_ch == 1 ? '5' : '6', (long long)w, (long long)h) > 0;
    size_t plane = (size_t)h * (size_t)w;
    for (int64_t y = 0; ok && y < h; y++) {
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < out_ch; c++)
                row[x * out_ch + c] = to_u8(t->data[(size_t)(ch == 1 ? 0 : c) * plane + (size_t)(y * w + x)]);
        ok = fwrite(row, 1, (size_t)w * (size_t)out_ch, af.fp) == (size_t)w * (size_t)out_ch;
    }
    free(row);
    if (!ok) {
        int e = errno;
        convrt__atomic_abort(&af);
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, strerror(e));
    }
    return convrt__atomic_commit(&af);
}

/* ------------------------------------------------------------ dispatch */

int convrt_image_load(const char *path, convrt_tensor *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_image_load: %s is NULL",
                             !path ? "path" : "output tensor");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (strcmp(ext, "png") == 0)
        return png_load(path, out);
    if (!strcmp(ext, "pgm") || !strcmp(ext, "ppm") || !strcmp(ext, "pnm"))
        return pnm_load(path, out);
    return convrt_report(CONVRT_E_INVALID,
                         "cannot load '%s': unknown image extension (expected .png, .pgm or .ppm)", path);
}

int convrt_image_save(const char *path, const convrt_tensor *t)
{
    if (!path || !t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_image_save: %s is NULL", !path ? "path" : "tensor");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    int is_png = strcmp(ext, "png") == 0, is_pgm = strcmp(ext, "pgm") == 0;
    int is_ppm = !strcmp(ext, "ppm") || !strcmp(ext, "pnm");
    if (!is_png && !is_pgm && !is_ppm)
        return convrt_report(CONVRT_E_INVALID,
                             "cannot save '%s': unknown image extension (expected .png, .pgm or .ppm)", path);
    int ch = 0;
    int64_t h = 0, w = 0;
    int rc = image_shape(path, t, &ch, &h, &w);
    if (rc != 0)
        return rc;
    if (is_png)
        return png_save(path, t, ch, h, w);
    if (is_pgm && ch != 1)
        return convrt_report(CONVRT_E_INVALID,
                             "cannot save '%s': a .pgm is grayscale but the tensor has 3 channels (use .ppm or .png)",
                             path);
    return pnm_save(path, t, ch, h, w, is_pgm ? 1 : (!strcmp(ext, "pnm") ? ch : 3));
}
