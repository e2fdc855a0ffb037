/* io.c - extension dispatch, and opening input files safely. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

void convrt__extension(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return;
    size_t i = 0;
    for (const char *s = dot + 1; *s && i + 1 < size; s++)
        buf[i++] = (char)tolower((unsigned char)*s);
    buf[i] = '\0';
}

int convrt__open_input(const char *path, FILE **fp, int64_t *size)
{
    *fp = NULL;
    if (!path[0])
        return convrt_report(CONVRT_E_INVALID, "cannot load '': the file name is empty");
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer.  The type is checked on the descriptor, so it is the type of
     * the file that is then read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return convrt_report(CONVRT_E_IO, "cannot load '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return convrt_report(CONVRT_E_IO, "cannot load '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return convrt_report(CONVRT_E_IO, "cannot load '%s': it is %s, not a regular file", path,
                             convrt__file_kind(st.st_mode));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *fp = fdopen(fd, "rb");
    if (!*fp) {
        int e = errno;
        close(fd);
        return convrt_report(CONVRT_E_IO, "cannot load '%s': %s", path, strerror(e));
    }
    *size = (int64_t)st.st_size;
    return 0;
}

static int is_image_ext(const char *ext)
{
    return !strcmp(ext, "png") || !strcmp(ext, "pgm") || !strcmp(ext, "ppm") || !strcmp(ext, "pnm");
}

int convrt_load(const char *path, convrt_tensor *out)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_load: path is NULL");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (strcmp(ext, "npy") == 0)
        return convrt_npy_load(path, out);
    if (is_image_ext(ext))
        return convrt_image_load(path, out);
    if (out)
        memset(out, 0, sizeof *out);
    return convrt_report(CONVRT_E_INVALID,
                         "cannot load '%s': unknown extension (expected .npy, .png, .pgm or .ppm)",
                         path);
}

int convrt_load_shape(const char *path, convrt_tensor *out)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_load_shape: path is NULL");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (strcmp(ext, "npy") == 0)
        return convrt__npy_load_shape(path, out);
    if (is_image_ext(ext))
        return convrt__image_load_shape(path, out);
    if (out)
        memset(out, 0, sizeof *out);
    return convrt_report(CONVRT_E_INVALID,
                         "cannot load '%s': unknown extension (expected .npy, .png, .pgm or .ppm)",
                         path);
}

static int unknown_save_ext(const char *path)
{
    return convrt_report(CONVRT_E_INVALID,
                         "cannot save '%s': unknown extension (expected .npy, .png, .pgm or .ppm)",
                         path);
}

int convrt_save_check(const char *path, const convrt_tensor *t)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_save_check: path is NULL");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    int rc;
    if (strcmp(ext, "npy") == 0)
        rc = t ? convrt__npy_check(path, t) : 0;
    else if (is_image_ext(ext))
        rc = t ? convrt__image_check(path, t) : 0;
    else
        rc = unknown_save_ext(path);
    return rc != 0 ? rc : convrt_outfile_check(path);
}

int convrt_save_to(convrt_outfile *f, const convrt_tensor *t)
{
    if (!f)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_save_to: the file is NULL");
    const char *path = convrt__outfile_path(f);
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (strcmp(ext, "npy") == 0)
        return convrt__npy_write(f, t);
    if (is_image_ext(ext))
        return convrt__image_write(f, t);
    return unknown_save_ext(path);
}

int convrt_save(const char *path, const convrt_tensor *t)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_save: path is NULL");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (strcmp(ext, "npy") == 0)
        return convrt_npy_save(path, t);
    if (is_image_ext(ext))
        return convrt_image_save(path, t);
    return unknown_save_ext(path);
}
