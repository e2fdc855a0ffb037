/* Shapes from headers only (convrt_load_shape), .npy from memory
 * (convrt_npy_load_memory) and .npy to an open stream
 * (convrt_npy_write_stream): what `convc check INPUT=FILE` and `-` for
 * standard input and output are made of. */
#include <stdint.h>

#include "common.h"

TestSuite(streams, .init = setup_all, .fini = teardown_all);

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static convrt_tensor filled(int32_t rank, const int64_t *dims)
{
    convrt_tensor t;
    cr_assert_eq(convrt_tensor_alloc(&t, rank, dims), 0);
    int64_t n;
    convrt_tensor_numel(&t, &n);
    for (int64_t i = 0; i < n; i++)
        t.data[i] = (float)((i * 37) % 101) / 100.0f;
    return t;
}

static void expect_shape(const char *path, int32_t rank, const int64_t *dims)
{
    convrt_tensor s;
    memset(&s, 0xff, sizeof s);
    cr_assert_eq(convrt_load_shape(path, &s), 0, "%s: %s", path, cap.message);
    cr_expect_null(s.data, "%s: no data is read", path);
    cr_expect_eq(s.rank, rank, "%s: rank %d", path, s.rank);
    for (int32_t i = 0; i < rank; i++)
        cr_expect_eq(s.dims[i], dims[i], "%s: dim %d is %lld", path, i, (long long)s.dims[i]);
}

Test(streams, shape_of_every_format_from_its_header)
{
    int64_t d3[3] = { 2, 5, 7 }, d2[2] = { 5, 7 }, rgb[3] = { 3, 5, 7 };
    convrt_tensor a = filled(3, d3), g = filled(2, d2), c = filled(3, rgb);
    cr_assert_eq(convrt_npy_save(scratch_path("a.npy"), &a), 0);
    expect_shape(scratch_path("a.npy"), 3, d3);
    const char *gray[] = { "g.png", "g.pgm", "G.PGM" };
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(convrt_image_save(scratch_path(gray[i]), &g), 0);
        expect_shape(scratch_path(gray[i]), 2, d2);
    }
    const char *colour[] = { "c.png", "c.ppm" };
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(convrt_image_save(scratch_path(colour[i]), &c), 0);
        expect_shape(scratch_path(colour[i]), 3, rgb);
    }
    /* the shapes are those convrt_load gives */
    convrt_tensor l;
    cr_assert_eq(convrt_load(scratch_path("c.png"), &l), 0);
    cr_expect(l.rank == 3 && l.dims[0] == 3 && l.dims[1] == 5 && l.dims[2] == 7);
    convrt_tensor_free(&l);
    convrt_tensor_free(&a);
    convrt_tensor_free(&g);
    convrt_tensor_free(&c);
}

/* Pixels are not read: a sample above maxval fails the load, not the
 * shape; a header that promises more than the file holds fails both. */
Test(streams, shape_reads_the_header_only_but_checks_it)
{
    const char bad_sample[] = "P2\n3 2\n9\n1 2 3\n4 5 99\n";
    write_bytes(scratch_path("s.pgm"), bad_sample, sizeof bad_sample - 1);
    int64_t d[2] = { 2, 3 };
    expect_shape(scratch_path("s.pgm"), 2, d);
    convrt_tensor t;
    capture_reset();
    cr_expect_eq(convrt_load(scratch_path("s.pgm"), &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "sample 99 exceeds maxval 9");

    const char truncated[] = "P5\n300 200\n255\nabc";
    write_bytes(scratch_path("t.pgm"), truncated, sizeof truncated - 1);
    capture_reset();
    cr_expect_eq(convrt_load_shape(scratch_path("t.pgm"), &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "t.pgm", "truncated");

    int64_t big[2] = { 4, 4 };
    convrt_tensor a = filled(2, big);
    cr_assert_eq(convrt_npy_save(scratch_path("a.npy"), &a), 0);
    size_t n;
    unsigned char *bytes = read_all(scratch_path("a.npy"), &n);
    write_bytes(scratch_path("short.npy"), bytes, n - 4);
    capture_reset();
    cr_expect_eq(convrt_load_shape(scratch_path("short.npy"), &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "short.npy", "truncated");
    capture_reset();
    cr_expect_eq(convrt_load_shape(scratch_path("a.txt"), &t), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "unknown extension");
    capture_reset();
    cr_expect_eq(convrt_load_shape(scratch_path("missing.npy"), &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "missing.npy", "No such file");
    free(bytes);
    convrt_tensor_free(&a);
}

Test(streams, npy_from_memory_is_the_npy_from_the_file)
{
    int64_t d[3] = { 3, 1, 6 };
    convrt_tensor a = filled(3, d);
    a.data[4] = -0.0f;
    cr_assert_eq(convrt_npy_save(scratch_path("a.npy"), &a), 0);
    size_t n;
    unsigned char *bytes = read_all(scratch_path("a.npy"), &n);
    convrt_tensor m;
    cr_assert_eq(convrt_npy_load_memory(bytes, n, "<stdin>", &m), 0, "%s", cap.message);
    cr_expect_eq(m.rank, 3);
    cr_expect(m.dims[0] == 3 && m.dims[1] == 1 && m.dims[2] == 6);
    cr_expect_eq(memcmp(m.data, a.data, 18 * sizeof(float)), 0, "the same bits");
    convrt_tensor_free(&m);
    /* errors name the stream as given */
    capture_reset();
    cr_expect_eq(convrt_npy_load_memory(bytes, n - 1, "<stdin>", &m), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "cannot load '<stdin>'", "truncated");
    cr_expect_null(m.data);
    capture_reset();
    cr_expect_eq(convrt_npy_load_memory("P5\n1 1\n255\nx", 13, "<stdin>", &m), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "'<stdin>'", "not a .npy file");
    capture_reset();
    cr_expect_eq(convrt_npy_load_memory(bytes, 0, "<stdin>", &m), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "'<stdin>'", "empty");
    capture_reset();
    cr_expect_eq(convrt_npy_load_memory(NULL, 3, "<stdin>", &m), CONVRT_E_NULL_ARG);
    free(bytes);
    convrt_tensor_free(&a);
}

Test(streams, npy_to_a_stream_is_the_npy_file)
{
    int64_t d[2] = { 4, 9 };
    convrt_tensor a = filled(2, d);
    cr_assert_eq(convrt_npy_save(scratch_path("a.npy"), &a), 0);
    size_t n;
    unsigned char *file = read_all(scratch_path("a.npy"), &n);
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    cr_assert_eq(convrt_npy_write_stream(f, "<stdout>", &a), 0);
    fclose(f);
    cr_expect_eq(len, n);
    cr_expect_eq(memcmp(mem, file, n), 0, "the same bytes as the file");
    free(mem);
    /* a tensor .npy cannot hold is refused before a byte is written */
    convrt_tensor bad = a;
    bad.rank = 9;
    mem = NULL;
    f = open_memstream(&mem, &len);
    capture_reset();
    cr_expect_eq(convrt_npy_write_stream(f, "<stdout>", &bad), CONVRT_E_RANK);
    expect_report(CONVRT_E_RANK, "'<stdout>'");
    fclose(f);
    cr_expect_eq(len, 0u);
    free(mem);
    free(file);
    convrt_tensor_free(&a);
}
