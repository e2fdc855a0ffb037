/* npy.c - NumPy .npy reader (v1/v2/v3; bool, integer and float dtypes in
 * either byte order, C or Fortran order) and writer (v1, <f4 or <f8).
 *
 * The header is a Python dict literal; it is parsed strictly rather than
 * scanned for substrings so that files numpy would not read the same way
 * (other dtypes, odd shapes) are rejected with the field at fault instead
 * of being misread.  The data is converted to float32 by npy_convert.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy code assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (1u << 20)   /* numpy itself caps headers far lower */

typedef struct npy_header {
    int has_descr, has_fortran, has_shape;
    convrt__npy_dtype dt;
    char descr[32];        /* as written, for messages */
    int fortran;
    int rank;
    int64_t dims[CONVRT_MAX_RANK];
} npy_header;

typedef struct parser {
    const char *path;
    const char *s, *end;
} parser;

static int fmt_err(const parser *p, const char *field, const char *what)
{
    if (field)
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': header field '%s': %s",
                             p->path, field, what);
    return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': header: %s", p->path, what);
}

static int read_err(const char *path)
{
    return convrt_report(CONVRT_E_IO, "cannot load '%s': read error: %s", path,
                         strerror(errno ? errno : EIO));
}

static void skip_ws(parser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int eat(parser *p, char c)
{
    skip_ws(p);
    if (p->s < p->end && *p->s == c) {
        p->s++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes, copied into buf. */
static int parse_string(parser *p, char *buf, size_t size)
{
    skip_ws(p);
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"'))
        return -1;
    char q = *p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\' || *p->s == '\n' || n + 1 >= size)
            return -1;
        buf[n++] = *p->s++;
    }
    if (p->s >= p->end)
        return -1;
    p->s++;
    buf[n] = '\0';
    return 0;
}

static int parse_word(parser *p, const char *w)
{
    skip_ws(p);
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) >= n && memcmp(p->s, w, n) == 0) {
        const char *after = p->s + n;
        if (after < p->end && (*after == '_' || (*after >= 'a' && *after <= 'z') ||
                               (*after >= 'A' && *after <= 'Z') ||
                               (*after >= '0' && *after <= '9')))
            return 0;
        p->s = after;
        return 1;
    }
    return 0;
}

static int parse_shape(parser *p, npy_header *h)
{
    if (!eat(p, '('))
        return fmt_err(p, "shape", "expected a tuple");
    h->rank = 0;
    for (;;) {
        if (eat(p, ')'))
            break;
        skip_ws(p);
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            return fmt_err(p, "shape", "expected a non-negative integer");
        int64_t v = 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p->s - '0', &v))
                return fmt_err(p, "shape", "dimension does not fit in 64 bits");
            p->s++;
        }
        if (p->s < p->end && *p->s == 'L')   /* written by Python 2 */
            p->s++;
        if (h->rank >= CONVRT_MAX_RANK)
            return fmt_err(p, "shape", "rank is above 8");
        h->dims[h->rank++] = v;
        if (eat(p, ','))
            continue;
        if (eat(p, ')')) {
            if (h->rank == 1)   /* "(3)" is an int in Python, not a tuple */
                return fmt_err(p, "shape", "a 1-tuple needs a trailing comma");
            break;
        }
        return fmt_err(p, "shape", "expected ',' or ')'");
    }
    return 0;
}

/* "<f4", ">i2", "|b1", "=u8": byte order, kind, size. */
static int parse_dtype(const char *d, convrt__npy_dtype *dt)
{
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return -1;
    dt->kind = d[1];
    if (!d[1] || !strchr("biuf", dt->kind) || d[2] < '1' || d[2] > '8' || d[3])
        return -1;
    dt->size = d[2] - '0';
    int ok = dt->kind == 'b' ? dt->size == 1
           : dt->kind == 'f' ? dt->size == 2 || dt->size == 4 || dt->size == 8
                             : dt->size == 1 || dt->size == 2 || dt->size == 4 || dt->size == 8;
    if (!ok)
        return -1;
    dt->swap = order == '>' && dt->size > 1;   /* the host is little-endian */
    return 0;
}

static int parse_header(parser *p, npy_header *h)
{
    memset(h, 0, sizeof *h);
    if (!eat(p, '{'))
        return fmt_err(p, NULL, "not a dict (expected '{')");
    for (;;) {
        if (eat(p, '}'))
            break;
        char key[32];
        if (parse_string(p, key, sizeof key) != 0)
            return fmt_err(p, NULL, "expected a quoted key");
        if (!eat(p, ':'))
            return fmt_err(p, NULL, "expected ':' after a key");
        int rc;
        if (strcmp(key, "descr") == 0) {
            if (h->has_descr)
                return fmt_err(p, "descr", "given twice");
            h->has_descr = 1;
            if (parse_string(p, h->descr, sizeof h->descr) != 0)
                return fmt_err(p, "descr", "expected a dtype string such as '<f4'");
            if (parse_dtype(h->descr, &h->dt) != 0) {
                char msg[160];
                snprintf(msg, sizeof msg, "dtype '%s' is not supported (only real numbers: bool 'b1', "
                         "integers 'i1'..'i8' and 'u1'..'u8', floats 'f2', 'f4', 'f8')", h->descr);
                return fmt_err(p, "descr", msg);
            }
        } else if (strcmp(key, "fortran_order") == 0) {
            if (h->has_fortran)
                return fmt_err(p, "fortran_order", "given twice");
            h->has_fortran = 1;
            if (parse_word(p, "True"))
                h->fortran = 1;
            else if (parse_word(p, "False"))
                h->fortran = 0;
            else
                return fmt_err(p, "fortran_order", "expected True or False");
        } else if (strcmp(key, "shape") == 0) {
            if (h->has_shape)
                return fmt_err(p, "shape", "given twice");
            h->has_shape = 1;
            if ((rc = parse_shape(p, h)) != 0)
                return rc;
        } else {
            char msg[80];
            snprintf(msg, sizeof msg, "unexpected key '%s'", key);
            return fmt_err(p, NULL, msg);
        }
        if (eat(p, ','))
            continue;
        if (eat(p, '}'))
            break;
        return fmt_err(p, NULL, "expected ',' or '}' in the dict");
    }
    skip_ws(p);
    if (p->s != p->end)
        return fmt_err(p, NULL, "unexpected text after the dict");
    if (!h->has_descr)
        return fmt_err(p, "descr", "missing");
    if (!h->has_fortran)
        return fmt_err(p, "fortran_order", "missing");
    if (!h->has_shape)
        return fmt_err(p, "shape", "missing");
    return 0;
}

/* Read the data of h (n items) from f, converted and in C order. */
static int read_data(FILE *f, const char *path, const npy_header *h, int64_t n, float *out)
{
    enum { CHUNK = 1 << 16 };   /* bytes read at a time */
    float *conv = out;
    if (h->fortran && h->rank > 1) {
        conv = convrt__aligned_alloc((size_t)n * sizeof(float), 0);
        if (!conv)
            return convrt_report(CONVRT_E_NOMEM, "cannot load '%s': cannot allocate %lld floats",
                                 path, (long long)n);
    }
    unsigned char *raw = malloc(CHUNK);
    if (!raw) {
        if (conv != out)
            free(conv);
        return convrt_report(CONVRT_E_NOMEM, "cannot load '%s': out of memory", path);
    }
    convrt__npy_loss loss = {0, 0.0};
    size_t per = CHUNK / (size_t)h->dt.size;
    int64_t got = 0;
    int rc = 0;
    while (got < n) {
        size_t want = (size_t)(n - got) < per ? (size_t)(n - got) : per;
        size_t r = fread(raw, (size_t)h->dt.size, want, f);
        convrt__npy_convert(raw, r, h->dt, conv + got, &loss);
        got += (int64_t)r;
        if (r != want) {
            rc = ferror(f) ? read_err(path)
                           : convrt_report(CONVRT_E_FORMAT,
                                           "cannot load '%s': data: truncated (the file shrank while reading)",
                                           path);
            break;
        }
    }
    free(raw);
    if (rc == 0 && fgetc(f) != EOF)
        rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': data: unexpected bytes after the array", path);
    if (rc == 0 && conv != out)
        convrt__npy_fortran_to_c(conv, out, h->rank, h->dims);
    if (conv != out)
        free(conv);
    if (rc == 0)
        convrt__npy_report_loss(path, h->descr, &loss, n);
    return rc;
}

/* The .npy in f (fsize bytes; path for messages) into *out, or with
 * header_only its shape alone (data NULL).  Closes nothing. */
static int npy_read(FILE *f, int64_t fsize, const char *path, convrt_tensor *out, int header_only)
{
    char *hbuf = NULL;
    float *data = NULL;
    parser p = {.path = path};
    unsigned char pre[12];
    int rc = 0;

    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        rc = ferror(f) ? read_err(path) : fmt_err(&p, "magic", "bad magic (not a .npy file)");
        goto done;
    }
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "unsupported format version %d.%d", major, minor);
        rc = fmt_err(&p, "version", msg);
        goto done;
    }
    size_t lensize = major == 1 ? 2 : 4;
    if (fread(pre + 8, 1, lensize, f) != lensize) {
        rc = ferror(f) ? read_err(path) : fmt_err(&p, "header_len", "truncated header length");
        goto done;
    }
    uint32_t hlen = major == 1 ? (uint32_t)(pre[8] | pre[9] << 8)
                               : (uint32_t)pre[8] | (uint32_t)pre[9] << 8 |
                                     (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen == 0 || hlen > NPY_MAX_HEADER) {
        rc = fmt_err(&p, "header_len", "header length is 0 or absurdly large");
        goto done;
    }
    hbuf = malloc(hlen);
    if (!hbuf) {
        rc = convrt_report(CONVRT_E_NOMEM, "cannot load '%s': out of memory", path);
        goto done;
    }
    if (fread(hbuf, 1, hlen, f) != hlen) {
        rc = ferror(f) ? read_err(path) : fmt_err(&p, NULL, "truncated header");
        goto done;
    }
    if (hbuf[hlen - 1] != '\n') {
        rc = fmt_err(&p, NULL, "does not end with a newline");
        goto done;
    }
    if (memchr(hbuf, '\0', hlen)) {
        rc = fmt_err(&p, NULL, "contains a NUL byte");
        goto done;
    }
    p.s = hbuf;
    p.end = hbuf + hlen;
    npy_header h;
    if ((rc = parse_header(&p, &h)) != 0)
        goto done;

    int64_t n, nbytes;
    if (convrt__numel(h.rank, h.dims, &n) != 0 || __builtin_mul_overflow(n, (int64_t)h.dt.size, &nbytes)) {
        rc = fmt_err(&p, "shape", "element count overflows");
        goto done;
    }
    /* Compare with the file size before allocating so that an absurd
     * shape in a small file is a format error, not an out-of-memory. */
    int64_t have = fsize - (int64_t)(8 + lensize + hlen);
    if (have < nbytes) {
        rc = convrt_report(CONVRT_E_FORMAT,
                           "cannot load '%s': data: truncated, the shape needs %lld bytes but the file has %lld",
                           path, (long long)nbytes, (long long)have);
        goto done;
    }
    if (have > nbytes) {
        rc = convrt_report(CONVRT_E_FORMAT,
                           "cannot load '%s': data: %lld unexpected bytes after the array",
                           path, (long long)(have - nbytes));
        goto done;
    }
    if (header_only) {
        out->rank = h.rank;
        for (int i = 0; i < h.rank; i++)
            out->dims[i] = h.dims[i];
        goto done;
    }

    data = convrt__aligned_alloc((size_t)n * sizeof(float), 0);
    if (!data) {
        rc = convrt_report(CONVRT_E_NOMEM, "cannot load '%s': cannot allocate %lld floats",
                           path, (long long)n);
        goto done;
    }
    if ((rc = read_data(f, path, &h, n, data)) != 0)
        goto done;

    out->data = data;
    out->rank = h.rank;
    for (int i = 0; i < h.rank; i++)
        out->dims[i] = h.dims[i];
    data = NULL;

done:
    free(data);
    free(hbuf);
    return rc;
}

int convrt__npy_read(FILE *f, int64_t fsize, const char *path, convrt_tensor *out)
{
    return npy_read(f, fsize, path, out, 0);
}

static int npy_load(const char *path, convrt_tensor *out, int header_only)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_npy_load: %s is NULL",
                             !path ? "path" : "output tensor");
    FILE *f;
    int64_t fsize;
    int rc = convrt__open_input(path, &f, &fsize);
    if (rc != 0)
        return rc;
    rc = npy_read(f, fsize, path, out, header_only);
    fclose(f);
    return rc;
}

int convrt_npy_load(const char *path, convrt_tensor *out) { return npy_load(path, out, 0); }

int convrt__npy_load_shape(const char *path, convrt_tensor *out) { return npy_load(path, out, 1); }

int convrt_npy_load_memory(const void *bytes, size_t len, const char *name, convrt_tensor *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!bytes || !name || !out)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_npy_load_memory: %s is NULL",
                             !bytes ? "bytes" : !name ? "name" : "output tensor");
    if (len == 0)
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': header field 'magic': empty (not a .npy file)",
                             name);
    FILE *f = fmemopen((void *)bytes, len, "rb");
    if (!f)
        return convrt_report(CONVRT_E_NOMEM, "cannot load '%s': %s", name, strerror(errno));
    int rc = npy_read(f, (int64_t)len, name, out, 0);
    fclose(f);
    return rc;
}

int convrt__npy_check(const char *path, const convrt_tensor *t, const convrt_save_options *opt)
{
    if (opt->bits != 0 && opt->bits != 32 && opt->bits != 64)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': a .npy holds 32-bit or 64-bit floats, not %d bits",
                             path, (int)opt->bits);
    if (opt->rescale)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': rescaling is for images; a .npy keeps the values",
                             path);
    if (!t)
        return 0;
    if (t->rank < 0 || t->rank > CONVRT_MAX_RANK)
        return convrt_report(CONVRT_E_RANK, "cannot save '%s': rank %d is outside 0..%d",
                             path, (int)t->rank, CONVRT_MAX_RANK);
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return convrt_report(CONVRT_E_INVALID, "cannot save '%s': dim %d is negative (%lld)",
                                 path, i, (long long)t->dims[i]);
    int64_t n;
    if (convrt__numel(t->rank, t->dims, &n) != 0)
        return convrt_report(CONVRT_E_OVERFLOW, "cannot save '%s': element count overflows", path);
    return 0;
}

/* t as an .npy to the open stream fp (path names it in messages). */
static int npy_write_fp(FILE *fp, const char *path, const convrt_tensor *t, const convrt_save_options *opt)
{
    if (!t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_npy_save: tensor is NULL");
    int rc = convrt__npy_check(path, t, opt);
    if (rc != 0)
        return rc;
    int64_t n;
    convrt__numel(t->rank, t->dims, &n);
    if (n > 0 && !t->data)
        return convrt_report(CONVRT_E_NULL_DATA, "cannot save '%s': tensor data is NULL", path);

    /* Header: dict, padded with spaces so that the data starts at a
     * multiple of 64 bytes, terminated by '\n' (as numpy writes it). */
    char dict[320];
    int f64 = opt->bits == 64;
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       f64 ? "<f8" : "<f4");
    for (int i = 0; i < t->rank; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld,%s", (long long)t->dims[i],
                        i + 1 < t->rank ? " " : "");
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - 10;
    unsigned char header[448];
    memcpy(header, NPY_MAGIC, NPY_MAGIC_LEN);
    header[6] = 1;
    header[7] = 0;
    header[8] = (unsigned char)(hlen & 0xff);
    header[9] = (unsigned char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)len);
    memset(header + 10 + len, ' ', hlen - (size_t)len - 1);
    header[padded - 1] = '\n';

    int ok = fwrite(header, 1, padded, fp) == padded;
    if (!f64) {
        ok = ok && (n == 0 || fwrite(t->data, sizeof(float), (size_t)n, fp) == (size_t)n);
    } else {
        double buf[1024];   /* widened exactly, a block at a time */
        for (int64_t i = 0; ok && i < n; i += 1024) {
            size_t m = n - i < 1024 ? (size_t)(n - i) : 1024;
            for (size_t j = 0; j < m; j++)
                buf[j] = t->data[i + (int64_t)j];
            ok = fwrite(buf, sizeof(double), m, fp) == m;
        }
    }
    if (!ok)
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, strerror(errno ? errno : EIO));
    return 0;
}

int convrt__npy_write(convrt_outfile *f, const convrt_tensor *t, const convrt_save_options *opt)
{
    return npy_write_fp(convrt_outfile_stream(f), convrt__outfile_path(f), t, opt);
}

int convrt_npy_write_stream(FILE *fp, const char *name, const convrt_tensor *t)
{
    if (!fp || !name)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_npy_write_stream: %s is NULL", !fp ? "stream" : "name");
    convrt_save_options opt = {0};
    return npy_write_fp(fp, name, t, &opt);
}

int convrt_npy_save(const char *path, const convrt_tensor *t)
{
    if (!path || !t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_npy_save: %s is NULL",
                             !path ? "path" : "tensor");
    /* the tensor first: a bad tensor creates no file at all */
    convrt_save_options opt = {0};
    int rc = convrt__npy_check(path, t, &opt);
    if (rc != 0)
        return rc;
    int64_t n;
    convrt__numel(t->rank, t->dims, &n);
    if (n > 0 && !t->data)
        return convrt_report(CONVRT_E_NULL_DATA, "cannot save '%s': tensor data is NULL", path);
    convrt_outfile *f;
    if ((rc = convrt_outfile_open(path, &f)) != 0)
        return rc;
    if ((rc = convrt__npy_write(f, t, &opt)) != 0) {
        convrt_outfile_discard(f);
        return rc;
    }
    return convrt_outfile_commit(&f, 1);
}
