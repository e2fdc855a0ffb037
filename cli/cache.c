/* cache.c - the compile cache: the machine code of pipelines that
 * `convc run` compiled before, kept in $XDG_CACHE_HOME/convc (by default
 * ~/.cache/convc), so that running a script again skips LLVM.
 *
 * A hit still reads, parses, checks and lowers the script (milliseconds):
 * the diagnostics, the file checks and the messages of a failed run need
 * the graph and the IR.  Only code generation is skipped.
 *
 * An entry is named by its key, a hash of everything that changes the
 * code (cache_key), and holds a header and the relocatable objects
 * cg_emit_objects_consume made (the module's, then those of the kernels
 * compiled on threads of their own), which the JIT links instead of
 * compiling (the pipeline's descriptor NAME_pipeline is in the first):
 *
 *    0  "CONVCJIT"          magic
 *    8  u32 format          ENTRY_FORMAT
 *   12  u32 header size     HEADER_SIZE
 *   16  key, 16 bytes       XXH3-128 of the key material (also the name)
 *   32  u64 payload size    the file holds exactly header + payload
 *   40  u64 checksum        XXH3-64 of the payload
 *   48  the payload: each object as its u64 size and its bytes, to the
 *       end of the file
 *
 * An entry is linked only when every field agrees; anything else (a
 * truncated or corrupt file, another format, another key) is ignored,
 * compiled afresh and replaced.  Entries are written like every file convc
 * writes (convrt_outfile: a temporary file renamed into place), so two
 * processes filling one entry each put a whole file there and a reader
 * sees the old file or a new one, never a mixture.  The directory is used
 * only when it belongs to this user and no one else may write to it: its
 * files are executed. */
#define _GNU_SOURCE     /* dl_iterate_phdr */
#include "cli.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "jit.h"

#define ENTRY_MAGIC "CONVCJIT"
#define ENTRY_SUFFIX ".jit"
enum {
    ENTRY_FORMAT = 2,
    HEADER_SIZE = 48,
    KEY_BYTES = 16,
    NAME_LEN = 2 * KEY_BYTES + sizeof ENTRY_SUFFIX - 1,
};
/* Larger payloads are not cached (nor believed when read). */
#define MAX_OBJECT ((uint64_t)1 << 30)
/* After a store, while the cache holds more than its limit (in MB: the
 * environment variable CONVC_CACHE_MAX_MB, else this), the least recently
 * used entries are removed until it is back under 3/4 of the limit. */
#define DEFAULT_LIMIT_MB 256
/* Temporary files older than this were left by a killed process. */
enum { STALE_TEMP_SECONDS = 3600 };

/* ---- time, for --verbose ------------------------------------------------------ */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double start_ms;

__attribute__((constructor)) static void note_start(void)
{
    start_ms = now_ms();
}

/* ---- where ----------------------------------------------------------------------- */

/* $XDG_CACHE_HOME/convc, or $HOME/.cache/convc (a relative XDG_CACHE_HOME
 * is ignored, as the XDG specification says); false when there is no
 * home either. */
static bool cache_dir(char *out, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    int n;
    if (xdg && xdg[0] == '/') {
        n = snprintf(out, size, "%s/convc", xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/') {
            struct passwd *pw = getpwuid(getuid());
            home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
        }
        if (!home)
            return false;
        n = snprintf(out, size, "%s/.cache/convc", home);
    }
    return n > 0 && (size_t)n < size;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -1;
    char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return -1;
    *slash = '\0';
    int rc = make_dirs(path);
    *slash = '/';
    if (rc != 0)
        return -1;
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* The cache directory, opened; -1 when it does not exist (and create is
 * false) or cannot be used, with *why saying why (NULL for "does not
 * exist"). */
static int open_dir(const char *dir, bool create, const char **why)
{
    static char reason[PATH_MAX + 128];
    *why = NULL;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", dir);
        if (make_dirs(path) != 0) {
            snprintf(reason, sizeof reason, "cannot create '%s': %s", dir, strerror(errno));
            *why = reason;
            return -1;
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) {
        if (errno != ENOENT || create) {
            snprintf(reason, sizeof reason, "cannot open '%s': %s", dir, strerror(errno));
            *why = reason;
        }
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(reason, sizeof reason, "cannot open '%s': %s", dir, strerror(errno));
        *why = reason;
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 022)) {
        snprintf(reason, sizeof reason, "'%s' %s, and its files would be run", dir,
                 st.st_uid != geteuid() ? "belongs to another user" : "may be written by other users");
        *why = reason;
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the key ------------------------------------------------------------------- */

/* The build ID of the convc executable (the linker's hash of its
 * contents: the compiler and the runtime are linked in), so that a rebuilt
 * convc never reuses an older one's code.  Without one, the executable's
 * identity and time stand in for it. */
typedef struct BuildId {
    unsigned char bytes[64];
    size_t        len;
} BuildId;

static int find_build_id(struct dl_phdr_info *info, size_t size, void *user)
{
    (void)size;
    BuildId *b = user;
    for (int i = 0; i < info->dlpi_phnum && !b->len; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        size_t align = ph->p_align == 8 ? 8 : 4;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *n = (const void *)p;
            const char *name = p + sizeof *n;
            const char *desc = name + ((n->n_namesz + align - 1) & ~(align - 1));
            const char *next = desc + ((n->n_descsz + align - 1) & ~(align - 1));
            if (next > end || next <= p)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
                n->n_descsz <= sizeof b->bytes) {
                memcpy(b->bytes, desc, n->n_descsz);
                b->len = n->n_descsz;
            }
            p = next;
        }
    }
    return 1;   /* the first object is the executable: stop there */
}

static void build_id(BuildId *b)
{
    memset(b, 0, sizeof *b);
    dl_iterate_phdr(find_build_id, b);
    struct stat st;
    if (!b->len && stat("/proc/self/exe", &st) == 0) {
        int64_t v[5] = { (int64_t)st.st_dev, (int64_t)st.st_ino, (int64_t)st.st_size,
                         (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec };
        memcpy(b->bytes, v, sizeof v);
        b->len = sizeof v;
    }
}

static void hash_bytes(XXH3_state_t *st, const void *p, size_t n)
{
    uint64_t len = n;
    XXH3_128bits_update(st, &len, sizeof len);  /* no two fields run together */
    if (n)
        XXH3_128bits_update(st, p, n);
}

static void hash_str(XXH3_state_t *st, const char *s)
{
    hash_bytes(st, s ? s : "", s ? strlen(s) : 0);
}

static void hash_int(XXH3_state_t *st, int64_t v)
{
    hash_bytes(st, &v, sizeof v);
}

/* Everything that changes the code of the pipeline `run` compiles:
 *   - convc itself: its version and build ID;
 *   - the target: triple, resolved CPU name and feature string (for
 *     "native", this machine's), optimisation level, LLVM's version;
 *   - the options the passes and the code generator read: --no-kernels,
 *     --method, --profile, bound symbols;
 *   - the script's name as given (checks that fail at run time quote it)
 *     and its text, as the front end read it;
 *   - every constant's data as the checker made it, which for load() is
 *     the file's contents as read (not read again: no window in which the
 *     file could change between compiling and hashing).
 * false when the target cannot be resolved (the front end would already
 * have said so). */
static bool cache_key(const Options *o, const Compiled *c, const char *default_cpu,
                      unsigned char key[KEY_BYTES])
{
    char *err = NULL;
    char *target = cg_target_id(o->cpu ? o->cpu : default_cpu, o->opt_level, &err);
    free(err);
    if (!target)
        return false;
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        arena_out_of_memory(0);
    XXH3_128bits_reset(st);
    hash_str(st, "convc compile cache key 1");
    hash_str(st, CONVC_VERSION);
    BuildId b;
    build_id(&b);
    hash_bytes(st, b.bytes, b.len);
    hash_str(st, target);
    free(target);
    hash_int(st, o->no_kernels);
    hash_int(st, o->method);
    hash_int(st, o->profile);       /* timing hooks in the code */
    hash_int(st, o->nsyms);
    for (int i = 0; i < o->nsyms; i++) {
        hash_str(st, o->syms[i].name);
        hash_int(st, o->syms[i].value);
    }
    hash_str(st, c->src.filename);
    hash_bytes(st, c->src.text, c->src.len);
    const Graph *g = c->graph;
    for (int32_t i = 0; i < g->nodes.len; i++) {
        const Node *n = g->nodes.items[i];
        if (n->op != NODE_CONST)
            continue;
        hash_int(st, n->id);
        hash_str(st, n->desc);
        hash_bytes(st, n->cst.data, n->cst.data ? (size_t)n->cst.count * sizeof(float) : 0);
    }
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(st));
    XXH3_freeState(st);
    memcpy(key, canon.digest, KEY_BYTES);
    return true;
}

/* ---- entries -------------------------------------------------------------------- */

typedef struct Entry {
    char          dir[PATH_MAX];
    char          name[NAME_LEN + 1];   /* "<32 hex digits>.jit" */
    unsigned char key[KEY_BYTES];
} Entry;

static void say(const Options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const Options *o, const char *fmt, ...)
{
    if (!o->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("convc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }
static uint32_t get_u32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get_u64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* The entry's whole file, checked; NULL (with *why) when it is missing,
 * unreadable or not exactly what e's key should hold.  *len is the
 * object's size; the object starts HEADER_SIZE bytes in. */
static unsigned char *read_entry(int dirfd, const Entry *e, size_t *len, const char **why)
{
    int fd = openat(dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOENT ? NULL : strerror(errno);
        return NULL;
    }
    struct stat st;
    unsigned char *buf = NULL;
    *why = "not a regular file";
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto bad;
    *why = "truncated";
    if ((uint64_t)st.st_size < HEADER_SIZE)
        goto bad;
    *why = "too large";
    if ((uint64_t)st.st_size > HEADER_SIZE + MAX_OBJECT)
        goto bad;
    buf = malloc((size_t)st.st_size);
    if (!buf)
        arena_out_of_memory((size_t)st.st_size);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    *why = "cannot be read whole";
    if (got != (size_t)st.st_size)
        goto bad;
    *why = "not a convc cache entry";
    if (memcmp(buf, ENTRY_MAGIC, 8))
        goto bad;
    *why = "of another format";
    if (get_u32(buf + 8) != ENTRY_FORMAT || get_u32(buf + 12) != HEADER_SIZE)
        goto bad;
    *why = "made for another key";
    if (memcmp(buf + 16, e->key, KEY_BYTES))
        goto bad;
    *why = "truncated or extended";
    if (get_u64(buf + 32) != (uint64_t)st.st_size - HEADER_SIZE)
        goto bad;
    *why = "corrupt (checksum)";
    if (XXH3_64bits(buf + HEADER_SIZE, (size_t)st.st_size - HEADER_SIZE) != get_u64(buf + 40))
        goto bad;
    futimens(fd, NULL);     /* recently used: the last to be evicted */
    close(fd);
    *len = (size_t)st.st_size - HEADER_SIZE;
    *why = NULL;
    return buf;
bad:
    free(buf);
    close(fd);
    return NULL;
}

/* The number of objects in a payload, -1 when their sizes do not add up
 * to it; with objs, where each starts (in the payload) and its size. */
static int64_t unpack_objects(const unsigned char *p, size_t len, const void **objs, size_t *lens)
{
    int64_t n = 0;
    size_t at = 0;
    while (at < len) {
        if (len - at < 8)
            return -1;
        uint64_t size = get_u64(p + at);
        at += 8;
        if (size == 0 || size > len - at)
            return -1;
        if (objs) {
            objs[n] = p + at;
            lens[n] = (size_t)size;
        }
        n++;
        at += (size_t)size;
    }
    return n > 0 ? n : -1;
}

/* The payload of an entry for objs: malloc'ed, its size in *len. */
static unsigned char *pack_objects(const CgObjects *objs, size_t *len)
{
    size_t total = 0;
    for (int k = 0; k < objs->n; k++)
        total += 8 + objs->len[k];
    unsigned char *p = malloc(total ? total : 1);
    if (!p)
        arena_out_of_memory(total);
    size_t at = 0;
    for (int k = 0; k < objs->n; k++) {
        put_u64(p + at, objs->len[k]);
        memcpy(p + at + 8, objs->data[k], objs->len[k]);
        at += 8 + objs->len[k];
    }
    *len = total;
    return p;
}

static uint64_t cache_limit(void)
{
    const char *v = getenv("CONVC_CACHE_MAX_MB");
    if (!v || !*v)
        return (uint64_t)DEFAULT_LIMIT_MB * 1000000;
    char *end;
    double mb = strtod(v, &end);
    if (*end || !(mb > 0) || mb > 1e9) {
        fprintf(stderr, "convc: warning: CONVC_CACHE_MAX_MB='%s' is not a positive number of megabytes; "
                "the limit is %d MB\n", v, DEFAULT_LIMIT_MB);
        return (uint64_t)DEFAULT_LIMIT_MB * 1000000;
    }
    return (uint64_t)(mb * 1e6);
}

typedef struct Cached {
    int64_t  mtime;     /* ns */
    uint64_t size;
    char     name[NAME_LEN + 1];
} Cached;

static int by_mtime(const void *x, const void *y)
{
    const Cached *a = x, *b = y;
    return (a->mtime > b->mtime) - (a->mtime < b->mtime);
}

/* Keep the cache under limit: the least recently used entries go
 * first, never `keep`.  Temporary files of killed processes go too. */
static void evict(int dirfd, const char *keep, uint64_t limit)
{
    int fd = dup(dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    Cached *items = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (!strncmp(de->d_name, ".convrt-", 8)) {
            if (now - st.st_mtime > STALE_TEMP_SECONDS)
                unlinkat(dirfd, de->d_name, 0);
            continue;
        }
        size_t len = strlen(de->d_name);
        if (len != NAME_LEN || strcmp(de->d_name + 2 * KEY_BYTES, ENTRY_SUFFIX))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            void *p = realloc(items, cap * sizeof *items);
            if (!p)
                break;
            items = p;
        }
        items[n].mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        items[n].size = (uint64_t)st.st_size;
        memcpy(items[n].name, de->d_name, NAME_LEN + 1);
        total += items[n].size;
        n++;
    }
    closedir(d);
    if (total > limit) {
        qsort(items, n, sizeof *items, by_mtime);
        for (size_t i = 0; i < n && total > limit / 4 * 3; i++)
            if (strcmp(items[i].name, keep) && unlinkat(dirfd, items[i].name, 0) == 0)
                total -= items[i].size;
    }
    free(items);
}

static void capture_error(void *user, int code, const char *message)
{
    (void)code;
    char **msg = user;
    if (!*msg)
        *msg = strdup(message);
}

/* Store the object under e, all or nothing; a failure is a warning: the
 * run goes on without the cache.  true when stored. */
static bool store_entry(const Entry *e, const void *obj, size_t len, uint64_t limit)
{
    if ((uint64_t)len > MAX_OBJECT)
        return false;
    const char *why;
    int dirfd = open_dir(e->dir, true, &why);
    if (dirfd < 0) {
        fprintf(stderr, "convc: warning: not using the compile cache: %s\n", why);
        return false;
    }
    unsigned char h[HEADER_SIZE] = { 0 };
    memcpy(h, ENTRY_MAGIC, 8);
    put_u32(h + 8, ENTRY_FORMAT);
    put_u32(h + 12, HEADER_SIZE);
    memcpy(h + 16, e->key, KEY_BYTES);
    put_u64(h + 32, len);
    put_u64(h + 40, XXH3_64bits(obj, len));
    char path[PATH_MAX + NAME_LEN + 2];
    snprintf(path, sizeof path, "%s/%s", e->dir, e->name);
    char *msg = NULL;
    convrt_set_error_handler(capture_error, &msg);
    sigset_t saved;
    hold_signals(true, &saved);
    convrt_outfile *f = NULL;
    int rc = convrt_outfile_open(path, &f);
    if (rc == 0) {
        FILE *fp = convrt_outfile_stream(f);
        if (fwrite(h, 1, sizeof h, fp) != sizeof h || fwrite(obj, 1, len, fp) != len) {
            if (!msg)
                msg = strdup(strerror(errno ? errno : EIO));
            convrt_outfile_discard(f);
            rc = -1;
        } else {
            rc = convrt_outfile_commit(&f, 1);
        }
    }
    hold_signals(false, &saved);
    convrt_set_error_handler(report_to_stderr, NULL);
    if (rc != 0)
        fprintf(stderr, "convc: warning: cannot store the compiled pipeline in the cache: %s\n",
                msg ? msg : "unknown error");
    else
        evict(dirfd, e->name, limit);
    free(msg);
    close(dirfd);
    return rc == 0;
}

/* ---- convc run's JIT ---------------------------------------------------------- */

/* The module compiled and linked by the JIT itself: for the dumps, which
 * print the whole module. */
static Jit *jit_from_module(CgModule *m)
{
    char *err = NULL;
    Jit *j = jit_create(m, &err);   /* takes m */
    if (!j)
        fail("%s", err ? err : "cannot create the JIT");
    free(err);
    return j;
}

/* Compile (the largest kernels on every CPU), emit the objects (consuming
 * the module: one code generation, as the JIT would do), store them in
 * entry e unless it is NULL, and link them.  *stored tells whether they
 * were stored. */
static Jit *compile_and_link(const Options *o, const Compiled *c, const char *default_cpu,
                             const Entry *e, uint64_t limit, bool *stored, double *t_compiled)
{
    CgModule *m = cli_back_threads(o, c->ir, default_cpu, true);
    if (!m)
        return NULL;
    char *err = NULL;
    CgObjects objs;
    int rc = cg_emit_objects_consume(m, &objs, &err);
    cg_free(m);
    if (rc != 0) {
        fail("%s", err ? err : "cannot emit the object");
        free(err);
        return NULL;
    }
    *t_compiled = now_ms();
    *stored = false;
    if (e) {
        size_t len = 0;
        unsigned char *payload = pack_objects(&objs, &len);
        *stored = store_entry(e, payload, len, limit);
        free(payload);
    }
    Jit *j = jit_create_from_objects(c->ir->name, objs.n, (const void *const *)objs.data, objs.len, &err);
    cg_objects_free(&objs);
    if (!j) {
        fail("%s", err ? err : "cannot link the compiled pipeline");
        free(err);
    }
    return j;
}

Jit *cli_jit(const Options *o, const Compiled *c, const char *default_cpu)
{
    double t0 = now_ms(), t_compiled = 0;
    bool stored = false;
    const char *name = c->ir->name;
    if (o->dump & (DUMP_LLVM | DUMP_ASM)) {
        say(o, "cache not used (--dump needs the LLVM module)");
        CgModule *m = cli_back(o, c->ir, default_cpu);
        return m ? jit_from_module(m) : NULL;
    }
    if (o->no_cache) {
        say(o, "cache not used (--no-cache)");
        return compile_and_link(o, c, default_cpu, NULL, 0, &stored, &t_compiled);
    }
    Entry e = { 0 };
    bool usable = cache_dir(e.dir, sizeof e.dir) && cache_key(o, c, default_cpu, e.key);
    if (!usable) {
        say(o, "cache not used (no cache directory: neither XDG_CACHE_HOME nor HOME is set)");
        return compile_and_link(o, c, default_cpu, NULL, 0, &stored, &t_compiled);
    }
    uint64_t limit = cache_limit();
    for (int i = 0; i < KEY_BYTES; i++)
        snprintf(e.name + 2 * i, 3, "%02x", e.key[i]);
    strcat(e.name, ENTRY_SUFFIX);

    const char *why = NULL;
    int dirfd = open_dir(e.dir, false, &why);
    if (dirfd >= 0) {
        size_t len = 0;
        unsigned char *buf = read_entry(dirfd, &e, &len, &why);
        close(dirfd);
        int64_t n = buf ? unpack_objects(buf + HEADER_SIZE, len, NULL, NULL) : 0;
        if (n < 0 || n > INT_MAX) {
            why = "malformed (object sizes)";
            free(buf);
            buf = NULL;
        }
        if (buf) {
            char *err = NULL;
            const void **objs = malloc((size_t)n * sizeof *objs);
            size_t *lens = malloc((size_t)n * sizeof *lens);
            if (!objs || !lens)
                arena_out_of_memory((size_t)n * sizeof *objs);
            unpack_objects(buf + HEADER_SIZE, len, objs, lens);
            Jit *j = jit_create_from_objects(name, (int)n, objs, lens, &err);
            free(objs);
            free(lens);
            free(buf);
            if (j) {
                say(o, "cache hit: %s/%s (linked in %.1f ms; pipeline ready %.1f ms after start)", e.dir,
                    e.name, now_ms() - t0, now_ms() - start_ms);
                return j;
            }
            say(o, "cache: ignoring %s/%s: %s", e.dir, e.name, err ? err : "cannot be linked");
            free(err);
        } else if (why) {
            say(o, "cache: ignoring %s/%s: %s", e.dir, e.name, why);
        }
    } else if (why) {
        fprintf(stderr, "convc: warning: not using the compile cache: %s\n", why);
        return compile_and_link(o, c, default_cpu, NULL, 0, &stored, &t_compiled);
    }

    /* A miss: compile, store and link. */
    Jit *j = compile_and_link(o, c, default_cpu, &e, limit, &stored, &t_compiled);
    if (j)
        say(o, "cache miss: compiled in %.1f ms, %s %s/%s (pipeline ready %.1f ms after start)",
            t_compiled - t0, stored ? "stored" : "not stored as", e.dir, e.name, now_ms() - start_ms);
    return j;
}

/* ---- convc cache [clear] -------------------------------------------------------- */

int cmd_cache(int argc, char **argv)
{
    bool clear = argc > 2 && !strcmp(argv[2], "clear");
    if (argc > 3 || (argc == 3 && !clear)) {
        fail("usage: convc cache [clear]");
        return 2;
    }
    char dir[PATH_MAX];
    if (!cache_dir(dir, sizeof dir))
        return fail("no cache directory: neither XDG_CACHE_HOME nor HOME is set");
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            return fail("cannot read the cache '%s': %s", dir, strerror(errno));
        printf("%s: empty (not created yet)\n", dir);
        return 0;
    }
    int fd = dirfd(d);
    uint64_t bytes = 0;
    long entries = 0, failed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len != NAME_LEN || strcmp(de->d_name + 2 * KEY_BYTES, ENTRY_SUFFIX))
            continue;
        struct stat st;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (clear && unlinkat(fd, de->d_name, 0) != 0) {
            if (!failed++)
                fail("cannot remove '%s/%s': %s", dir, de->d_name, strerror(errno));
            continue;
        }
        entries++;
        bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    if (clear)
        printf("%s: removed %ld entr%s, %.1f MB\n", dir, entries, entries == 1 ? "y" : "ies", bytes / 1e6);
    else
        printf("%s: %ld entr%s, %.1f MB (limit %.1f MB)\n", dir, entries, entries == 1 ? "y" : "ies",
               bytes / 1e6, cache_limit() / 1e6);
    return failed ? 1 : 0;
}
