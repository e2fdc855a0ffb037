/* outfile.c - how every output file is written (see convrt.h, "output
 * files"): a temporary file created exclusively beside the target, then an
 * atomic rename, or for several files an exchange that can be undone.
 *
 * Everything works relative to a descriptor of the target's directory, so
 * the directory checked is the one written to even if a path component is
 * renamed meanwhile, and a long directory path costs nothing twice. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define TMP_PREFIX ".convrt-"
enum { TMP_RANDOM = 8, TMP_TRIES = 100 };

struct convrt_outfile {
    char       *path;       /* the target as given, for messages */
    const char *base;       /* its last component, inside path */
    int         dirfd;
    char        tmp[sizeof TMP_PREFIX + TMP_RANDOM];
    FILE       *fp;         /* open until finished */
    bool        finished;   /* closed, still under the temporary name */
    bool        existed;    /* a regular file was at the target */
    struct stat old;        /* its mode, owner and link count */
    int         how;        /* how the target was replaced, to undo it */
};

enum { NOT_YET, EXCHANGED, CREATED, RENAMED };

const char *convrt__file_kind(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:  return "a regular file";
    case S_IFDIR:  return "a directory";
    case S_IFIFO:  return "a FIFO";
    case S_IFCHR:  return "a character device";
    case S_IFBLK:  return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFLNK:  return "a symbolic link";
    default:       return "not a regular file";
    }
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

/* The directory part of path ("." when there is none) in buf.  0, or -1
 * when it does not fit (it cannot be a valid path then). */
static int dir_part(const char *path, const char *base, char *buf, size_t size)
{
    if (base == path) {
        snprintf(buf, size, ".");
        return 0;
    }
    size_t n = (size_t)(base - path);
    if (n > 1)
        n--;                /* drop the slash, but keep "/" itself */
    if (n >= size)
        return -1;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return 0;
}

/* Open the target's directory and look at what is at the target now.
 * Reports and returns an error code, else 0 with *dirfd open. */
static int inspect(const char *path, int *dirfd, struct stat *st, bool *existed)
{
    *dirfd = -1;
    *existed = false;
    if (!path[0])
        return convrt_report(CONVRT_E_INVALID, "cannot save '': the file name is empty");
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!base[0])
        return convrt_report(CONVRT_E_IO, "cannot save '%s': the name ends in '/', so it names a directory",
                             path);
    char dir[PATH_MAX];
    if (dir_part(path, base, dir, sizeof dir) != 0)
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, strerror(ENAMETOOLONG));
    /* O_RDONLY so that the directory can be fsync'ed after the rename;
     * O_PATH is enough for everything else when it may not be read. */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == EACCES)
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return convrt_report(CONVRT_E_IO, "cannot save '%s': directory '%s': %s", path, dir,
                             strerror(errno));
    if (fstatat(fd, base, st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st->st_mode)) {
            close(fd);
            return convrt_report(CONVRT_E_IO, "cannot save '%s': it is a directory", path);
        }
        if (!S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode)) {
            close(fd);
            return convrt_report(CONVRT_E_IO,
                                 "cannot save '%s': it is %s, and only a regular file is replaced",
                                 path, convrt__file_kind(st->st_mode));
        }
        *existed = S_ISREG(st->st_mode);
    } else if (errno != ENOENT) {
        int e = errno;
        close(fd);
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, strerror(e));
    }
    *dirfd = fd;
    return 0;
}

int convrt_outfile_check(const char *path)
{
    if (!path)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_outfile_check: path is NULL");
    int dirfd;
    struct stat st;
    bool existed;
    int rc = inspect(path, &dirfd, &st, &existed);
    if (rc != 0)
        return rc;
    /* Creating the file is the real test; this catches a read-only
     * filesystem and missing permissions (root passes the latter). */
    if (faccessat(dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        int e = errno;
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX];
        dir_part(path, slash ? slash + 1 : path, dir, sizeof dir);
        close(dirfd);
        return convrt_report(CONVRT_E_IO, "cannot save '%s': cannot create files in directory '%s': %s",
                             path, dir, strerror(e));
    }
    close(dirfd);
    return 0;
}

/* Eight random letters and digits after the prefix. */
static void random_name(char *buf)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[TMP_RANDOM];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* no entropy yet (early boot): O_EXCL still makes it safe */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid() << 40;
        for (int i = 0; i < TMP_RANDOM; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            r[i] = (unsigned char)(x >> 56);
        }
    }
    memcpy(buf, TMP_PREFIX, sizeof TMP_PREFIX - 1);
    for (int i = 0; i < TMP_RANDOM; i++)
        buf[sizeof TMP_PREFIX - 1 + i] = alphabet[r[i] % (sizeof alphabet - 1)];
    buf[sizeof TMP_PREFIX - 1 + TMP_RANDOM] = '\0';
}

int convrt_outfile_open(const char *path, convrt_outfile **out)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_outfile_open: %s is NULL",
                             !path ? "path" : "out");
    convrt_outfile *f = calloc(1, sizeof *f);
    char *copy = f ? strdup(path) : NULL;
    if (!copy) {
        free(f);
        return convrt_report(CONVRT_E_NOMEM, "cannot save '%s': out of memory", path);
    }
    f->path = copy;
    const char *slash = strrchr(copy, '/');
    f->base = slash ? slash + 1 : copy;
    int rc = inspect(path, &f->dirfd, &f->old, &f->existed);
    if (rc != 0) {
        free(copy);
        free(f);
        return rc;
    }
    int fd = -1;
    for (int i = 0; i < TMP_TRIES && fd < 0; i++) {
        random_name(f->tmp);
        fd = openat(f->dirfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        close(f->dirfd);
        free(copy);
        free(f);
        return convrt_report(CONVRT_E_IO, "cannot save '%s': cannot create a file beside it: %s", path,
                             strerror(e));
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        unlinkat(f->dirfd, f->tmp, 0);
        close(f->dirfd);
        free(copy);
        free(f);
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, strerror(e));
    }
    *out = f;
    return 0;
}

FILE *convrt_outfile_stream(convrt_outfile *f)
{
    return f ? f->fp : NULL;
}

const char *convrt__outfile_path(const convrt_outfile *f)
{
    return f->path;
}

static void release(convrt_outfile *f)
{
    if (f->fp)
        fclose(f->fp);
    if (f->tmp[0])
        unlinkat(f->dirfd, f->tmp, 0);
    close(f->dirfd);
    free(f->path);
    free(f);
}

void convrt_outfile_discard(convrt_outfile *f)
{
    if (f)
        release(f);
}

/* Give the file its final owner and mode, flush it to disk and close it.
 * The mode is set last: a 0600 file is not readable by others while it is
 * being written, and chown would clear set-id bits set before it. */
static int finish(convrt_outfile *f)
{
    if (f->finished)
        return 0;
    if (!f->fp)
        return convrt_report(CONVRT_E_IO, "cannot save '%s': an earlier write failed", f->path);
    int fd = fileno(f->fp);
    int e = 0;
    if (fflush(f->fp) != 0 || ferror(f->fp))
        e = errno ? errno : EIO;
    mode_t mode = 0666 & ~current_umask();
    if (!e && f->existed) {
        mode = f->old.st_mode & 0777;
        if (f->old.st_uid != geteuid() || f->old.st_gid != getegid()) {
            if (fchown(fd, f->old.st_uid, f->old.st_gid) != 0)
                (void)!fchown(fd, (uid_t)-1, f->old.st_gid);   /* at least the group, if a member */
        }
        struct stat now;
        if (fstat(fd, &now) == 0 && now.st_uid == f->old.st_uid && now.st_gid == f->old.st_gid)
            mode = f->old.st_mode & 07777;
    }
    if (!e && fchmod(fd, mode) != 0)
        e = errno;
    if (!e && fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        e = errno;
    if (fclose(f->fp) != 0 && !e)
        e = errno ? errno : EIO;
    f->fp = NULL;
    if (e)
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", f->path, strerror(e));
    f->finished = true;
    return 0;
}

/* Put the finished file in place, recording in f->how how to undo it. */
static int replace(convrt_outfile *f)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        if (renameat2(f->dirfd, f->tmp, f->dirfd, f->base, RENAME_EXCHANGE) == 0) {
            /* The old entry is now under the temporary name.  Something
             * other than a file put there since the check goes back. */
            struct stat st;
            if (fstatat(f->dirfd, f->tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) &&
                !S_ISLNK(st.st_mode)) {
                renameat2(f->dirfd, f->tmp, f->dirfd, f->base, RENAME_EXCHANGE);
                return convrt_report(CONVRT_E_IO,
                                     "cannot save '%s': it is %s, and only a regular file is replaced",
                                     f->path, convrt__file_kind(st.st_mode));
            }
            f->how = EXCHANGED;
            return 0;
        }
        if (errno == ENOENT) {
            if (renameat2(f->dirfd, f->tmp, f->dirfd, f->base, RENAME_NOREPLACE) == 0) {
                f->how = CREATED;
                f->tmp[0] = '\0';
                return 0;
            }
            if (errno == EEXIST)
                continue;       /* created meanwhile: exchange after all */
        }
        if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
            /* the filesystem cannot exchange: a plain rename, not undoable */
            if (renameat(f->dirfd, f->tmp, f->dirfd, f->base) == 0) {
                f->how = RENAMED;
                f->tmp[0] = '\0';
                return 0;
            }
        }
        break;
    }
    return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", f->path, strerror(errno));
}

int convrt_outfile_commit(convrt_outfile *const *files, int n)
{
    if (n < 0 || (n > 0 && !files))
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_outfile_commit: no files");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        if (!files[i])
            rc = convrt_report(CONVRT_E_NULL_ARG, "convrt_outfile_commit: file %d is NULL", i);
    for (int i = 0; i < n && rc == 0; i++)
        rc = finish(files[i]);

    int done = 0;
    for (; rc == 0 && done < n; done++)
        if ((rc = replace(files[done])) != 0)
            break;
    if (rc != 0) {
        /* undo in reverse order; an exchange left the old file under the
         * temporary name */
        for (int i = done - 1; i >= 0; i--) {
            convrt_outfile *f = files[i];
            if (f->how == EXCHANGED &&
                renameat2(f->dirfd, f->tmp, f->dirfd, f->base, RENAME_EXCHANGE) != 0) {
                /* the old file must not be removed with the temporary name */
                convrt_report(CONVRT_E_IO, "cannot put back '%s': %s; its previous contents are in '%s'",
                              f->path, strerror(errno), f->tmp);
                f->tmp[0] = '\0';
            } else if (f->how == CREATED) {
                unlinkat(f->dirfd, f->base, 0);
            }
        }
    } else {
        for (int i = 0; i < n; i++) {
            convrt_outfile *f = files[i];
            if (f->existed && f->old.st_nlink > 1)
                convrt__warn(CONVRT_W_HARD_LINK,
                             "'%s' had %ld other hard link%s; it was replaced by a new file, "
                             "and the other names keep the old contents",
                             f->path, (long)f->old.st_nlink - 1, f->old.st_nlink == 2 ? "" : "s");
            fsync(f->dirfd);    /* the rename itself (fails harmlessly on an O_PATH descriptor) */
        }
    }
    for (int i = 0; i < n; i++)
        if (files[i])
            release(files[i]);  /* removes the old files kept under the temporary names */
    return rc;
}
