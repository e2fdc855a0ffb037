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

/* The formats, by extension. */
typedef enum file_kind { FK_NONE, FK_NPY, FK_NPZ, FK_IMAGE, FK_AUDIO } file_kind;

static file_kind kind_of(const char *path)
{
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (!strcmp(ext, "npy"))
        return FK_NPY;
    if (!strcmp(ext, "npz"))
        return FK_NPZ;
    if (!strcmp(ext, "png") || !strcmp(ext, "pgm") || !strcmp(ext, "ppm") || !strcmp(ext, "pnm"))
        return FK_IMAGE;
    if (!strcmp(ext, "wav") || !strcmp(ext, "flac") || !strcmp(ext, "ogg"))
        return FK_AUDIO;
    return FK_NONE;
}

int convrt_load(const char *path, convrt_tensor *out)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_load: path is NULL");
    switch (kind_of(path)) {
    case FK_NPY: return convrt_npy_load(path, out);
    case FK_NPZ: return convrt_npz_load(path, NULL, out);
    case FK_IMAGE: return convrt_image_load(path, out);
    case FK_AUDIO: return convrt_audio_load(path, out, NULL);
    default: break;
    }
    if (out)
        memset(out, 0, sizeof *out);
    return convrt_report(CONVRT_E_INVALID,
                         "cannot load '%s': unknown extension (expected .npy, .npz, .png, .pgm, .ppm, .wav, "
                         ".flac or .ogg)", path);
}

int convrt_load_shape(const char *path, convrt_tensor *out)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_load_shape: path is NULL");
    switch (kind_of(path)) {
    case FK_NPY: return convrt__npy_load_shape(path, out);
    case FK_IMAGE: return convrt__image_load_shape(path, out);
    case FK_NPZ:
    case FK_AUDIO: {
        /* no header-only reader: load, keep the shape */
        int rc = convrt_load(path, out);
        if (rc == 0) {
            free(out->data);
            out->data = NULL;
        }
        return rc;
    }
    default: break;
    }
    if (out)
        memset(out, 0, sizeof *out);
    return convrt_report(CONVRT_E_INVALID,
                         "cannot load '%s': unknown extension (expected .npy, .npz, .png, .pgm, .ppm, .wav, "
                         ".flac or .ogg)", path);
}

static int unknown_save_ext(const char *path)
{
    return convrt_report(CONVRT_E_INVALID,
                         "cannot save '%s': unknown extension (expected .npy, .png, .pgm, .ppm, .wav, .flac "
                         "or .ogg)", path);
}

static const convrt_save_options no_options = {0};

/* The format's own checks of the options and (when t is not NULL) the
 * tensor. */
static int check_format(const char *path, const convrt_tensor *t, const convrt_save_options *opt)
{
    switch (kind_of(path)) {
    case FK_NPY: return convrt__npy_check(path, t, opt);
    case FK_IMAGE: return convrt__image_check(path, t, opt);
    case FK_AUDIO: return convrt__audio_check(path, t, opt);
    default: return unknown_save_ext(path);
    }
}

int convrt_save_check_with(const char *path, const convrt_tensor *t, const convrt_save_options *opt)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_save_check: path is NULL");
    int rc = check_format(path, t, opt ? opt : &no_options);
    return rc != 0 ? rc : convrt_outfile_check(path);
}

int convrt_save_check(const char *path, const convrt_tensor *t)
{
    return convrt_save_check_with(path, t, NULL);
}

int convrt_save_to_with(convrt_outfile *f, const convrt_tensor *t, const convrt_save_options *opt)
{
    if (!f)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_save_to: the file is NULL");
    const char *path = convrt__outfile_path(f);
    if (!opt)
        opt = &no_options;
    switch (kind_of(path)) {
    case FK_NPY: return convrt__npy_write(f, t, opt);
    case FK_IMAGE: return convrt__image_write(f, t, opt);
    case FK_AUDIO: return convrt__audio_write(f, t, opt);
    default: return unknown_save_ext(path);
    }
}

int convrt_save_to(convrt_outfile *f, const convrt_tensor *t)
{
    return convrt_save_to_with(f, t, NULL);
}

int convrt_save_with(const char *path, const convrt_tensor *t, const convrt_save_options *opt)
{
    if (!path || !t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_save: %s is NULL", !path ? "path" : "tensor");
    if (!opt)
        opt = &no_options;
    /* the tensor and options first: a bad one creates no file at all */
    int rc = check_format(path, t, opt);
    if (rc == 0 && kind_of(path) == FK_AUDIO && opt->rate < 1)
        rc = convrt_report(CONVRT_E_INVALID,
                           "cannot save '%s': sound needs a sample rate (convrt_audio_save, or convrt_save_with "
                           "and a rate)", path);
    if (rc != 0)
        return rc;
    convrt_outfile *f;
    if ((rc = convrt_outfile_open(path, &f)) != 0)
        return rc;
    if ((rc = convrt_save_to_with(f, t, opt)) != 0) {
        convrt_outfile_discard(f);
        return rc;
    }
    return convrt_outfile_commit(&f, 1);
}

int convrt_save(const char *path, const convrt_tensor *t)
{
    return convrt_save_with(path, t, NULL);
}
