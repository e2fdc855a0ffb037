/* npz.c - one array of a NumPy .npz archive (numpy.savez and
 * numpy.savez_compressed), through libzip.
 *
 * An archive holds KEY.npy entries, stored or deflated.  The entry is
 * decompressed into memory (libzip checks its CRC) and read by the .npy
 * reader, so every dtype and order the .npy reader takes works here too. */
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "internal.h"

/* Deflate's best ratio (as for PNG): no deflated entry can decompress to
 * more than this times its compressed size. */
#define DEFLATE_MAX_RATIO 1032

/* "a, b, arr_0" : the archive's keys, for messages. */
static void list_keys(zip_t *z, char *buf, size_t size)   /* size >= 16 */
{
    size_t len = 0;
    buf[0] = '\0';
    zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n && len + 1 < size; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
        if (!name)
            continue;
        size_t nl = strlen(name);
        if (nl > 4 && !strcmp(name + nl - 4, ".npy"))
            nl -= 4;
        int w = snprintf(buf + len, size - len, "%s'%.*s'", len ? ", " : "", (int)nl, name);
        if (w < 0 || (size_t)w >= size - len) {     /* cut: end with ", ..." */
            memcpy(buf + size - 6, ", ...", 6);
            return;
        }
        len += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, size, "none: the archive is empty");
}

/* The entry of key: "KEY.npy", or "KEY" itself as numpy also accepts. */
static zip_int64_t find_entry(zip_t *z, const char *key)
{
    size_t kl = strlen(key);
    char *name = malloc(kl + 5);
    if (!name)
        return -1;
    memcpy(name, key, kl);
    memcpy(name + kl, ".npy", 5);
    zip_int64_t i = zip_name_locate(z, name, 0);
    free(name);
    return i >= 0 ? i : zip_name_locate(z, key, 0);
}

/* Entry i decompressed into *buf (*len bytes), after checking that the
 * sizes the archive states are possible. */
static int read_entry(zip_t *z, zip_uint64_t i, const char *what, unsigned char **buf, size_t *len,
                      int64_t file_size)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE) ||
        !(st.valid & ZIP_STAT_COMP_METHOD))
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': the archive's directory entry is unreadable: %s",
                             what, zip_strerror(z));
    if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)
        return convrt_report(CONVRT_E_FORMAT,
                             "cannot load '%s': compression method %u is not supported (numpy writes stored "
                             "or deflated entries)", what, (unsigned)st.comp_method);
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': the entry is encrypted", what);
    if (st.comp_method == ZIP_CM_STORE && st.size != st.comp_size)
        return convrt_report(CONVRT_E_FORMAT,
                             "cannot load '%s': the entry is stored uncompressed, yet the archive gives it two "
                             "sizes, %llu and %llu bytes", what, (unsigned long long)st.size,
                             (unsigned long long)st.comp_size);
    uint64_t limit = st.comp_method == ZIP_CM_STORE ? st.comp_size : st.comp_size * DEFLATE_MAX_RATIO;
    if (st.comp_size > (uint64_t)file_size || st.size > limit)
        return convrt_report(CONVRT_E_FORMAT,
                             "cannot load '%s': the archive says the entry is %llu bytes, %llu compressed, "
                             "which a %lld-byte file cannot hold", what, (unsigned long long)st.size,
                             (unsigned long long)st.comp_size, (long long)file_size);
    if (st.size > SIZE_MAX - 1)
        return convrt_report(CONVRT_E_OVERFLOW, "cannot load '%s': the entry is too large", what);
    *buf = malloc(st.size ? st.size : 1);
    if (!*buf)
        return convrt_report(CONVRT_E_NOMEM, "cannot load '%s': cannot allocate %llu bytes", what,
                             (unsigned long long)st.size);
    zip_file_t *zf = zip_fopen_index(z, i, 0);
    if (!zf) {
        free(*buf);
        *buf = NULL;
        return convrt_report(CONVRT_E_FORMAT, "cannot load '%s': %s", what, zip_strerror(z));
    }
    uint64_t got = 0;
    int rc = 0;
    while (got < st.size) {
        zip_int64_t r = zip_fread(zf, *buf + got, st.size - got);
        if (r < 0) {
            rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': %s", what, zip_file_strerror(zf));
            break;
        }
        if (r == 0) {
            rc = convrt_report(CONVRT_E_FORMAT,
                               "cannot load '%s': truncated: the entry ends after %llu of %llu bytes", what,
                               (unsigned long long)got, (unsigned long long)st.size);
            break;
        }
        got += (uint64_t)r;
    }
    /* Reading to the end is what makes libzip compare the CRC. */
    unsigned char extra;
    zip_int64_t r = rc == 0 ? zip_fread(zf, &extra, 1) : 0;
    if (rc == 0 && r != 0)
        rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': %s", what,
                           r < 0 ? zip_file_strerror(zf) : "the entry is longer than the archive says");
    zip_fclose(zf);
    if (rc != 0) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    *len = (size_t)st.size;
    return 0;
}

int convrt_npz_load(const char *path, const char *key, convrt_tensor *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_npz_load: %s is NULL", !path ? "path" : "output tensor");
    FILE *f;
    int64_t fsize;
    int rc = convrt__open_input(path, &f, &fsize);
    if (rc != 0)
        return rc;
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t *src = zip_source_filep_create(f, 0, -1, &err);   /* owns f from here */
    if (!src) {
        fclose(f);
        rc = convrt_report(CONVRT_E_NOMEM, "cannot load '%s': %s", path, zip_error_strerror(&err));
        zip_error_fini(&err);
        return rc;
    }
    zip_t *z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!z) {
        zip_source_free(src);
        rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': not a .npz archive: %s", path,
                           zip_error_strerror(&err));
        zip_error_fini(&err);
        return rc;
    }
    zip_error_fini(&err);

    char keys[512];
    zip_int64_t idx;
    if (key) {
        idx = find_entry(z, key);
        if (idx < 0) {
            list_keys(z, keys, sizeof keys);
            rc = convrt_report(CONVRT_E_INVALID, "cannot load '%s': the archive has no array '%s'; its arrays: %s",
                               path, key, keys);
            goto done;
        }
    } else {
        if (zip_get_num_entries(z, 0) != 1) {
            list_keys(z, keys, sizeof keys);
            rc = convrt_report(CONVRT_E_INVALID,
                               "cannot load '%s': the archive holds %lld arrays, so one must be named by its "
                               "key; its arrays: %s",
                               path, (long long)zip_get_num_entries(z, 0), keys);
            goto done;
        }
        idx = 0;
    }

    /* Messages name the array as the command line does: FILE.npz:KEY. */
    const char *entry = zip_get_name(z, (zip_uint64_t)idx, 0);
    size_t el = entry ? strlen(entry) : 0;
    if (el > 4 && !strcmp(entry + el - 4, ".npy"))
        el -= 4;
    size_t wl = strlen(path) + el + 2;
    char *what = malloc(wl);
    if (!what) {
        rc = convrt_report(CONVRT_E_NOMEM, "cannot load '%s': out of memory", path);
        goto done;
    }
    snprintf(what, wl, "%s:%.*s", path, (int)el, entry ? entry : "");
    unsigned char *buf = NULL;
    size_t len = 0;
    rc = read_entry(z, (zip_uint64_t)idx, what, &buf, &len, fsize);
    if (rc == 0) {
        FILE *mem = len ? fmemopen(buf, len, "rb") : NULL;
        if (!mem) {
            rc = len ? convrt_report(CONVRT_E_NOMEM, "cannot load '%s': out of memory", what)
                     : convrt_report(CONVRT_E_FORMAT, "cannot load '%s': the entry is empty", what);
        } else {
            rc = convrt__npy_read(mem, (int64_t)len, what, out);
            fclose(mem);
        }
    }
    free(buf);
    free(what);
done:
    zip_discard(z);     /* read only: nothing to write back; closes f */
    return rc;
}
