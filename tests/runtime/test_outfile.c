/* Output files: exclusive temporary files beside the target, renamed into
 * place all together or not at all, and the target's mode, owner, links
 * and kind respected. */
#include <sys/stat.h>

#include "common.h"

TestSuite(outfile, .init = setup_all, .fini = teardown_all);

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

static void expect_text(const char *path, const char *want)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s is missing", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cr_expect_str_eq(buf, want, "contents of %s", path);
}

/* Write text into a new output file for path; the handle is returned
 * uncommitted. */
static convrt_outfile *staged(const char *path, const char *text)
{
    convrt_outfile *f;
    cr_assert_eq(convrt_outfile_open(path, &f), 0, "%s", cap.message);
    cr_assert_eq(fputs(text, convrt_outfile_stream(f)) >= 0, 1);
    return f;
}

/* The names in the scratch directory that are temporary files. */
static int temporaries(void)
{
    DIR *d = opendir(scratch_dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, ".convrt-", 8)) {
            cr_expect_eq(strlen(e->d_name), 16, "temporary name %s", e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

Test(outfile, a_failure_on_a_later_file_puts_every_earlier_one_back)
{
    write_text(scratch_path("a.txt"), "old a");
    convrt_outfile *f[3];
    f[0] = staged(scratch_path("a.txt"), "new a");
    f[1] = staged(scratch_path("b.txt"), "new b");      /* a new file */
    f[2] = staged(scratch_path("c.txt"), "new c");
    cr_expect_eq(temporaries(), 3);
    /* the last target becomes a directory after it was checked */
    cr_assert_eq(mkdir(scratch_path("c.txt"), 0755), 0);
    cr_expect_eq(convrt_outfile_commit(f, 3), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "c.txt", "directory");
    expect_text(scratch_path("a.txt"), "old a");
    cr_expect_neq(access(scratch_path("b.txt"), F_OK), 0, "b.txt was created and must be gone");
    cr_expect_eq(temporaries(), 0);
    cr_expect_eq(scratch_count(), 2, "a.txt and the directory c.txt");
}

Test(outfile, all_files_are_replaced_together)
{
    write_text(scratch_path("a.txt"), "old a");
    convrt_outfile *f[2] = {staged(scratch_path("a.txt"), "new a"), staged(scratch_path("b.txt"), "new b")};
    cr_expect_eq(convrt_outfile_commit(f, 2), 0, "%s", cap.message);
    expect_text(scratch_path("a.txt"), "new a");
    expect_text(scratch_path("b.txt"), "new b");
    cr_expect_eq(scratch_count(), 2);
    cr_expect_eq(cap.count + warned.count, 0);
}

Test(outfile, discard_leaves_the_target_as_it_was)
{
    write_text(scratch_path("a.txt"), "old");
    convrt_outfile_discard(staged(scratch_path("a.txt"), "new"));
    convrt_outfile_discard(NULL);
    expect_text(scratch_path("a.txt"), "old");
    cr_expect_eq(scratch_count(), 1);
}

Test(outfile, a_symbolic_link_is_replaced_not_followed)
{
    write_text(scratch_path("victim"), "precious");
    cr_assert_eq(symlink(scratch_path("victim"), scratch_path("link.txt")), 0);
    convrt_outfile *f = staged(scratch_path("link.txt"), "new");
    cr_expect_eq(convrt_outfile_commit(&f, 1), 0, "%s", cap.message);
    expect_text(scratch_path("victim"), "precious");
    struct stat st;
    cr_assert_eq(lstat(scratch_path("link.txt"), &st), 0);
    cr_expect(S_ISREG(st.st_mode), "the link became a regular file");
    expect_text(scratch_path("link.txt"), "new");
}

Test(outfile, the_mode_and_owner_of_a_replaced_file_are_kept)
{
    const char *p = scratch_path("secret.txt");
    write_text(p, "old");
    cr_assert_eq(chmod(p, 0600), 0);
    int root = geteuid() == 0;
    if (root)
        cr_assert_eq(chown(p, 4321, 4322), 0);
    convrt_outfile *f = staged(p, "new");
    struct stat st;
    cr_expect_eq(convrt_outfile_commit(&f, 1), 0, "%s", cap.message);
    cr_assert_eq(stat(p, &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", (unsigned)(st.st_mode & 07777));
    if (root)
        cr_expect(st.st_uid == 4321 && st.st_gid == 4322, "owner %d:%d", (int)st.st_uid, (int)st.st_gid);
    expect_text(p, "new");

    /* a new file: 0666 minus the umask, as fopen gives */
    mode_t old = umask(027);
    f = staged(scratch_path("fresh.txt"), "x");
    cr_expect_eq(convrt_outfile_commit(&f, 1), 0);
    umask(old);
    cr_assert_eq(stat(scratch_path("fresh.txt"), &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0640, "mode %o", (unsigned)(st.st_mode & 0777));
}

Test(outfile, other_hard_links_keep_the_old_contents_with_a_warning)
{
    write_text(scratch_path("a.txt"), "old");
    cr_assert_eq(link(scratch_path("a.txt"), scratch_path("b.txt")), 0);
    convrt_outfile *f = staged(scratch_path("a.txt"), "new");
    cr_expect_eq(convrt_outfile_commit(&f, 1), 0);
    expect_text(scratch_path("a.txt"), "new");
    expect_text(scratch_path("b.txt"), "old");
    cr_expect_eq(warned.count, 1);
    cr_expect_eq(warned.code, CONVRT_W_HARD_LINK);
    cr_expect(strstr(warned.message, "a.txt' had 1 other hard link") != NULL, "%s", warned.message);
}

Test(outfile, a_target_name_of_255_bytes_works)
{
    char name[256];
    memset(name, 'n', 255);
    name[255] = '\0';
    convrt_outfile *f = staged(scratch_path(name), "long");
    cr_expect_eq(temporaries(), 1);
    cr_expect_eq(convrt_outfile_commit(&f, 1), 0, "%s", cap.message);
    expect_text(scratch_path(name), "long");
    cr_expect_eq(scratch_count(), 1);
}

Test(outfile, what_is_not_a_regular_file_is_refused_before_writing)
{
    cr_assert_eq(mkdir(scratch_path("dir.npy"), 0755), 0);
    cr_assert_eq(mkfifo(scratch_path("fifo.npy"), 0644), 0);
    convrt_outfile *f = (convrt_outfile *)1;
    cr_expect_eq(convrt_outfile_open(scratch_path("dir.npy"), &f), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "dir.npy", "is a directory");
    cr_expect_null(f);
    capture_reset();
    cr_expect_eq(convrt_outfile_check(scratch_path("fifo.npy")), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "fifo.npy", "is a FIFO");
    capture_reset();
    cr_expect_eq(convrt_outfile_check(""), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "empty");
    capture_reset();
    cr_expect_eq(convrt_outfile_check(scratch_path("x/")), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "ends in '/'");
    capture_reset();
    cr_expect_eq(convrt_outfile_check(scratch_path("missing/x.npy")), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "missing/x.npy", "No such file or directory");
    cr_expect_eq(temporaries(), 0);
    cr_expect_eq(scratch_count(), 2);
}

Test(outfile, save_check_knows_what_each_format_holds)
{
    convrt_tensor t = {.data = NULL, .rank = 3, .dims = {2, 4, 4}};
    cr_expect_eq(convrt_save_check(scratch_path("y.npy"), &t), 0, "%s", cap.message);
    cr_expect_eq(convrt_save_check(scratch_path("y.png"), &t), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "y.png", "1 or 3 channels");
    capture_reset();
    t.dims[0] = 3;
    cr_expect_eq(convrt_save_check(scratch_path("y.pgm"), &t), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "y.pgm", "grayscale");
    capture_reset();
    cr_expect_eq(convrt_save_check(scratch_path("y.ppm"), &t), 0);
    cr_expect_eq(convrt_save_check(scratch_path("y.jpg"), NULL), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "y.jpg", "unknown extension");
    cr_expect_eq(scratch_count(), 0, "nothing is created");
}
