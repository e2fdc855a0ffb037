/* io.c - extension dispatch and atomic replacement of output files. */
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

/* The process umask, read without the set-and-restore race of umask(2). */
static mode_t current_umask(void)
{
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return mask;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned m;
        if (sscanf(line, "Umask: %o", &m) == 1) {
            mask = (mode_t)m;
            break;
        }
    }
    fclose(f);
    return mask;
}

int convrt__atomic_open(convrt__atomic_file *af, const char *path)
{
    af->fp = NULL;
    af->path = path;
    size_t len = strlen(path);
    af->tmp_path = malloc(len + sizeof ".tmpXXXXXX");
    if (!af->tmp_path)
        return convrt_report(CONVRT_E_NOMEM, "cannot save '%s': out of memory", path);
    memcpy(af->tmp_path, path, len);
    memcpy(af->tmp_path + len, ".tmpXXXXXX", sizeof ".tmpXXXXXX");
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        int e = errno;
        free(af->tmp_path);
        af->tmp_path = NULL;
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, strerror(e));
    }
    /* mkstemp creates the file 0600; give the result the permissions a
     * plain fopen would have. */
    (void)fchmod(fd, 0666 & ~current_umask());
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        free(af->tmp_path);
        af->tmp_path = NULL;
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, strerror(e));
    }
    return CONVRT_OK;
}

void convrt__atomic_abort(convrt__atomic_file *af)
{
    if (af->fp)
        fclose(af->fp);
    if (af->tmp_path) {
        unlink(af->tmp_path);
        free(af->tmp_path);
    }
    af->fp = NULL;
    af->tmp_path = NULL;
}

int convrt__atomic_commit(convrt__atomic_file *af)
{
    int e = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp))
        e = errno ? errno : EIO;
    if (!e && fsync(fileno(af->fp)) != 0 && errno != EINVAL && errno != EROFS)
        e = errno;
    if (fclose(af->fp) != 0 && !e)
        e = errno ? errno : EIO;
    af->fp = NULL;
    if (!e && rename(af->tmp_path, af->path) != 0)
        e = errno;
    if (e) {
        unlink(af->tmp_path);
        free(af->tmp_path);
        af->tmp_path = NULL;
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", af->path, strerror(e));
    }
    free(af->tmp_path);
    af->tmp_path = NULL;
    return CONVRT_OK;
}

int convrt_load(const char *path, convrt_tensor *out)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_load: path is NULL");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (strcmp(ext, "npy") == 0)
        return convrt_npy_load(path, out);
    if (!strcmp(ext, "png") || !strcmp(ext, "pgm") || !strcmp(ext, "ppm") || !strcmp(ext, "pnm"))
        return convrt_image_load(path, out);
    if (out)
        memset(out, 0, sizeof *out);
    return convrt_report(CONVRT_E_INVALID,
                         "cannot load '%s': unknown extension (expected .npy, .png, .pgm or .ppm)",
                         path);
}

int convrt_save(const char *path, const convrt_tensor *t)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_save: path is NULL");
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (strcmp(ext, "npy") == 0)
        return convrt_npy_save(path, t);
    if (!strcmp(ext, "png") || !strcmp(ext, "pgm") || !strcmp(ext, "ppm") || !strcmp(ext, "pnm"))
        return convrt_image_save(path, t);
    return convrt_report(CONVRT_E_INVALID,
                         "cannot save '%s': unknown extension (expected .npy, .png, .pgm or .ppm)",
                         path);
}
