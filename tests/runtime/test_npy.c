/* .npy loading and saving, including every malformed-header path. */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common.h"

TestSuite(npy, .init = setup_all, .fini = teardown_all);

/* A complete .npy v1 file from a header dict (padded here) and raw data. */
static size_t make_npy(unsigned char *buf, const char *dict, const void *data, size_t nbytes)
{
    size_t dl = strlen(dict);
    size_t total = (10 + dl + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, dl);
    memset(buf + 10 + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    if (nbytes)
        memcpy(buf + total, data, nbytes);
    return total + nbytes;
}

Test(npy, round_trip_f32)
{
    convrt_tensor t;
    int64_t dims[3] = {2, 3, 4};
    cr_assert_eq(convrt_tensor_alloc(&t, 3, dims), 0);
    for (int i = 0; i < 24; i++)
        t.data[i] = (float)i * 0.5f - 3.25f;
    t.data[5] = -INFINITY;
    t.data[7] = 1e-40f;   /* subnormal survives bit-exactly */
    const char *p = scratch_path("a.npy");
    cr_assert_eq(convrt_npy_save(p, &t), 0);
    cr_expect_eq(scratch_count(), 1, "no temporary file left behind");

    convrt_tensor u;
    cr_assert_eq(convrt_npy_load(p, &u), 0);
    cr_expect_eq(u.rank, 3);
    cr_expect_eq(u.dims[0], 2);
    cr_expect_eq(u.dims[1], 3);
    cr_expect_eq(u.dims[2], 4);
    cr_expect_eq(memcmp(t.data, u.data, 24 * sizeof(float)), 0);
    cr_expect_eq((uintptr_t)u.data % 64, 0);

    /* header is 64-byte aligned v1.0 as numpy writes it */
    FILE *f = fopen(p, "rb");
    unsigned char h[10];
    cr_assert_eq(fread(h, 1, 10, f), 10);
    fclose(f);
    cr_expect_eq(memcmp(h, "\x93NUMPY\x01\x00", 8), 0);
    cr_expect_eq((10 + (h[8] | h[9] << 8)) % 64, 0);
    struct stat st;
    stat(p, &st);
    cr_expect_eq(st.st_size, 10 + (h[8] | h[9] << 8) + 24 * 4);
    convrt_tensor_free(&t);
    convrt_tensor_free(&u);
    cr_expect_eq(cap.count, 0);
}

Test(npy, round_trip_rank0_and_rank1)
{
    convrt_tensor t, u;
    cr_assert_eq(convrt_tensor_alloc(&t, 0, NULL), 0);
    t.data[0] = 42.5f;
    cr_assert_eq(convrt_save(scratch_path("s.NPY"), &t), 0, "extension case-insensitive");
    cr_assert_eq(convrt_load(scratch_path("s.NPY"), &u), 0);
    cr_expect_eq(u.rank, 0);
    cr_expect_eq(u.data[0], 42.5f);
    convrt_tensor_free(&t);
    convrt_tensor_free(&u);

    int64_t d = 5;
    cr_assert_eq(convrt_tensor_alloc(&t, 1, &d), 0);
    for (int i = 0; i < 5; i++)
        t.data[i] = (float)(i * i);
    cr_assert_eq(convrt_npy_save(scratch_path("v.npy"), &t), 0);
    cr_assert_eq(convrt_npy_load(scratch_path("v.npy"), &u), 0);
    cr_expect_eq(u.rank, 1);
    cr_expect_eq(u.dims[0], 5);
    cr_expect_eq(u.data[4], 16.0f);
    convrt_tensor_free(&t);
    convrt_tensor_free(&u);
}

Test(npy, load_f64_converts)
{
    double vals[6] = {1.5, -2.25, 1e10, 0.1, -0.0, 3.0};
    unsigned char buf[256];
    size_t n = make_npy(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", vals, sizeof vals);
    write_bytes(scratch_path("d.npy"), buf, n);
    convrt_tensor t;
    cr_assert_eq(convrt_npy_load(scratch_path("d.npy"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 2);
    cr_expect_eq(t.dims[0], 2);
    cr_expect_eq(t.dims[1], 3);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(t.data[i], (float)vals[i], "element %d", i);
    convrt_tensor_free(&t);
}

Test(npy, load_v2_header_and_python2_longs)
{
    float vals[2] = {7.0f, 8.0f};
    unsigned char buf[256];
    const char *dict = "{\"descr\": \"<f4\", \"shape\": (2L,), \"fortran_order\": False}";
    size_t dl = strlen(dict);
    size_t total = (12 + dl + 1 + 63) / 64 * 64, hlen = total - 12;
    memcpy(buf, "\x93NUMPY\x02\x00", 8);
    buf[8] = (unsigned char)hlen, buf[9] = 0, buf[10] = 0, buf[11] = 0;
    memcpy(buf + 12, dict, dl);
    memset(buf + 12 + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, vals, sizeof vals);
    write_bytes(scratch_path("v2.npy"), buf, total + sizeof vals);
    convrt_tensor t;
    cr_assert_eq(convrt_npy_load(scratch_path("v2.npy"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 1);
    cr_expect_eq(t.dims[0], 2);
    cr_expect_eq(t.data[1], 8.0f);
    convrt_tensor_free(&t);
}

/* Write `n` bytes as bad.npy, load, expect FORMAT naming file and `frag`. */
static void expect_bad(const void *bytes, size_t n, const char *frag)
{
    const char *p = scratch_path("bad.npy");
    write_bytes(p, bytes, n);
    capture_reset();
    convrt_tensor t;
    memset(&t, 0x5a, sizeof t);
    cr_expect_eq(convrt_npy_load(p, &t), CONVRT_E_FORMAT, "for %s: %s", frag, cap.message);
    expect_report(CONVRT_E_FORMAT, p, frag);
    cr_expect_null(t.data, "output left empty");
    cr_expect_eq(t.rank, 0);
}

static void expect_bad_dict(const char *dict, const void *data, size_t nbytes, const char *frag)
{
    unsigned char buf[1024];
    size_t n = make_npy(buf, dict, data, nbytes);
    expect_bad(buf, n, frag);
}

static const float four[4] = {1, 2, 3, 4};

Test(npy, bad_magic)
{
    unsigned char buf[256];
    size_t n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four, 16);
    buf[1] = 'n';
    expect_bad(buf, n, "magic");
    expect_bad("PK\x03\x04", 4, "magic");
    expect_bad("", 0, "magic");
}

Test(npy, bad_version)
{
    unsigned char buf[256];
    size_t n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four, 16);
    buf[6] = 9;
    expect_bad(buf, n, "version");
}

Test(npy, truncated_header)
{
    unsigned char buf[256];
    size_t n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four, 16);
    (void)n;
    expect_bad(buf, 30, "truncated header");
    expect_bad(buf, 9, "header_len");
}

Test(npy, truncated_data)
{
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four, 12, "truncated");
    expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", four, 16, "truncated");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", four, 16, "unexpected bytes");
}

/* Fortran order: the file holds column after column; the tensor is in C
 * order.  (Every dtype, order and byte order against NumPy itself: the
 * runtime.npy_interop test.) */
Test(npy, fortran_order_true)
{
    /* [[1, 2, 3], [4, 5, 6]] stored column-major: 1 4 2 5 3 6 */
    static const float colmajor[6] = {1, 4, 2, 5, 3, 6};
    unsigned char buf[256];
    size_t n = make_npy(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", colmajor, 24);
    const char *p = scratch_path("f.npy");
    write_bytes(p, buf, n);
    convrt_tensor t;
    cr_assert_eq(convrt_npy_load(p, &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 2);
    cr_expect_eq(t.dims[0], 2);
    cr_expect_eq(t.dims[1], 3);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(t.data[i], (float)(i + 1), "element %d is %g", i, t.data[i]);
    convrt_tensor_free(&t);
}

Test(npy, other_dtypes)
{
    /* complex, strings, objects, records, sizes NumPy has no such type of */
    expect_bad_dict("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", four, 16, "'<c8'");
    expect_bad_dict("{'descr': '<U1', 'fortran_order': False, 'shape': (4,), }", four, 16, "'<U1'");
    expect_bad_dict("{'descr': '|O', 'fortran_order': False, 'shape': (4,), }", four, 16, "descr");
    expect_bad_dict("{'descr': '<i3', 'fortran_order': False, 'shape': (4,), }", four, 16, "descr");
    expect_bad_dict("{'descr': '|b2', 'fortran_order': False, 'shape': (4,), }", four, 16, "descr");
    expect_bad_dict("{'descr': '<f1', 'fortran_order': False, 'shape': (4,), }", four, 16, "descr");
    expect_bad_dict("{'descr': 'f4', 'fortran_order': False, 'shape': (4,), }", four, 16, "descr");
    expect_bad_dict("{'descr': '<f4 ', 'fortran_order': False, 'shape': (4,), }", four, 16, "descr");
    expect_bad_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", four, 16, "descr");
}

Test(npy, absurd_shapes)
{
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", four, 16,
                    "shape");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", four, 16,
                    "shape");
    /* no overflow, but far more than the file holds: caught before allocating */
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", four, 16,
                    "truncated");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", four, 16, "shape");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,4), }", four, 16,
                    "rank");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (4), }", four, 16, "shape");
}

Test(npy, malformed_dicts)
{
    expect_bad_dict("{'descr': '<f4', 'shape': (4,), }", four, 16, "fortran_order");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False}", four, 16, "shape");
    expect_bad_dict("'descr': '<f4', 'fortran_order': False, 'shape': (4,)", four, 16, "dict");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'extra': 1}", four, 16, "extra");
    expect_bad_dict("{'descr': '<f4' 'fortran_order': False, 'shape': (4,)}", four, 16, "header");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (4,)}", four, 16, "fortran_order");
    expect_bad_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", four, 16,
                    "twice");
}

Test(npy, missing_file_is_io)
{
    convrt_tensor t;
    const char *p = scratch_path("nope.npy");
    cr_expect_eq(convrt_npy_load(p, &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, p);
}

Test(npy, a_fifo_a_directory_or_an_empty_name_is_refused_without_blocking, .timeout = 10)
{
    cr_assert_eq(mkfifo(scratch_path("fifo.npy"), 0644), 0);
    convrt_tensor t;
    cr_expect_eq(convrt_npy_load(scratch_path("fifo.npy"), &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "fifo.npy", "it is a FIFO, not a regular file");
    capture_reset();
    cr_expect_eq(convrt_npy_load(scratch_dir, &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, scratch_dir, "it is a directory, not a regular file");
    capture_reset();
    cr_expect_eq(convrt_npy_load("", &t), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "the file name is empty");
    capture_reset();
    cr_expect_eq(convrt_npy_load("/dev/null", &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "/dev/null", "it is a character device");
}

Test(npy, save_unwritable_leaves_nothing)
{
    convrt_tensor t;
    int64_t d[1] = {3};
    cr_assert_eq(convrt_tensor_alloc(&t, 1, d), 0);
    const char *p = scratch_path("missing-dir/out.npy");
    cr_expect_eq(convrt_npy_save(p, &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, p);
    cr_expect_eq(scratch_count(), 0);

    /* read-only directory (root ignores permissions, so only if it bites) */
    capture_reset();
    char ro[600];
    snprintf(ro, sizeof ro, "%s/ro", scratch_dir);
    cr_assert_eq(mkdir(ro, 0555), 0);
    char rp[700];
    snprintf(rp, sizeof rp, "%s/out.npy", ro);
    if (access(ro, W_OK) != 0) {
        cr_expect_eq(convrt_npy_save(rp, &t), CONVRT_E_IO);
        expect_report(CONVRT_E_IO, rp);
        cr_expect_neq(access(rp, F_OK), 0);
    }
    unlink(rp);
    rmdir(ro);

    /* a directory in the way of the final rename: the temp file is removed */
    capture_reset();
    char dirpath[600];
    snprintf(dirpath, sizeof dirpath, "%s/isdir.npy", scratch_dir);
    cr_assert_eq(mkdir(dirpath, 0755), 0);
    cr_expect_eq(convrt_npy_save(dirpath, &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, dirpath, "it is a directory");
    cr_expect_eq(scratch_count(), 1, "only the directory remains");
    rmdir(dirpath);
    convrt_tensor_free(&t);
}

Test(npy, save_replaces_existing_atomically)
{
    write_bytes(scratch_path("x.npy"), "old", 3);
    convrt_tensor t;
    int64_t d[1] = {2};
    cr_assert_eq(convrt_tensor_alloc(&t, 1, d), 0);
    t.data[1] = 9.0f;
    cr_assert_eq(convrt_npy_save(scratch_path("x.npy"), &t), 0);
    convrt_tensor u;
    cr_assert_eq(convrt_npy_load(scratch_path("x.npy"), &u), 0);
    cr_expect_eq(u.data[1], 9.0f);
    struct stat st;
    stat(scratch_path("x.npy"), &st);
    cr_expect_neq(st.st_mode & 0044, 0, "not left 0600 by mkstemp");
    convrt_tensor_free(&t);
    convrt_tensor_free(&u);
}

Test(npy, save_argument_errors)
{
    convrt_tensor t = {.data = NULL, .rank = 1, .dims = {3}};
    cr_expect_eq(convrt_npy_save(scratch_path("n.npy"), &t), CONVRT_E_NULL_DATA);
    expect_report(CONVRT_E_NULL_DATA, "n.npy");
    capture_reset();
    cr_expect_eq(convrt_npy_save(scratch_path("n.npy"), NULL), CONVRT_E_NULL_ARG);
    expect_report(CONVRT_E_NULL_ARG);
    capture_reset();
    t.rank = 12;
    cr_expect_eq(convrt_npy_save(scratch_path("n.npy"), &t), CONVRT_E_RANK);
    expect_report(CONVRT_E_RANK, "n.npy");
    capture_reset();
    cr_expect_eq(convrt_save(scratch_path("n.txt"), &t), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "n.txt");
    cr_expect_eq(scratch_count(), 0);
}
