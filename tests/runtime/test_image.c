/* PNG and PGM/PPM loading and saving. */
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <zlib.h>

#include "common.h"

TestSuite(image, .init = setup_all, .fini = teardown_all);

static const float eps = 1e-6f;

/* Write a PNG with libpng directly, to produce layouts the runtime does
 * not write itself (16-bit, palette, alpha, low bit depths, interlace). */
static void write_png(const char *path, int w, int h, int color, int depth, int interlace,
                      const unsigned char *pixels, size_t rowbytes, const png_color *palette,
                      int n_palette)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(!setjmp(png_jmpbuf(png)));
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette)
        png_set_PLTE(png, info, palette, n_palette);
    png_bytep rows[64];
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)pixels + (size_t)y * rowbytes;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void fill_ramp(convrt_tensor *t, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        t->data[i] = (float)((i * 37) % 256) / 255.0f;
}

static void expect_same(const convrt_tensor *a, const convrt_tensor *b)
{
    cr_assert_eq(a->rank, b->rank);
    int64_t n = 1;
    for (int i = 0; i < a->rank; i++) {
        cr_assert_eq(a->dims[i], b->dims[i], "dim %d", i);
        n *= a->dims[i];
    }
    for (int64_t i = 0; i < n; i++)
        cr_expect_float_eq(a->data[i], b->data[i], eps, "element %lld: %g vs %g", (long long)i,
                           a->data[i], b->data[i]);
}

static void round_trip(const char *name, int32_t rank, const int64_t *dims)
{
    convrt_tensor t, u;
    cr_assert_eq(convrt_tensor_alloc(&t, rank, dims), 0);
    int64_t n;
    convrt_tensor_numel(&t, &n);
    fill_ramp(&t, n);
    const char *p = scratch_path(name);
    cr_assert_eq(convrt_save(p, &t), 0, "%s", cap.message);
    cr_assert_eq(convrt_load(p, &u), 0, "%s", cap.message);
    expect_same(&t, &u);
    convrt_tensor_free(&t);
    convrt_tensor_free(&u);
    cr_expect_eq(cap.count, 0);
}

Test(image, round_trip_gray_and_rgb)
{
    int64_t gray[2] = {5, 7}, rgb[3] = {3, 4, 6};
    round_trip("g.pgm", 2, gray);
    round_trip("g.png", 2, gray);
    round_trip("c.ppm", 3, rgb);
    round_trip("c.PNG", 3, rgb);
    cr_expect_eq(scratch_count(), 4, "no temporary files left");
}

Test(image, one_channel_rank3_saves_as_gray)
{
    int64_t d[3] = {1, 2, 3};
    convrt_tensor t, u;
    cr_assert_eq(convrt_tensor_alloc(&t, 3, d), 0);
    fill_ramp(&t, 6);
    cr_assert_eq(convrt_image_save(scratch_path("one.png"), &t), 0);
    cr_assert_eq(convrt_image_load(scratch_path("one.png"), &u), 0);
    cr_expect_eq(u.rank, 2);
    cr_expect_eq(u.dims[0], 2);
    cr_expect_eq(u.dims[1], 3);
    cr_expect_float_eq(u.data[5], t.data[5], eps);
    convrt_tensor_free(&t);
    convrt_tensor_free(&u);
}

Test(image, ppm_of_gray_replicates_channels)
{
    int64_t d[2] = {1, 2};
    convrt_tensor t, u;
    cr_assert_eq(convrt_tensor_alloc(&t, 2, d), 0);
    t.data[0] = 0.2f, t.data[1] = 1.0f;
    cr_assert_eq(convrt_image_save(scratch_path("g.ppm"), &t), 0);
    cr_assert_eq(convrt_image_load(scratch_path("g.ppm"), &u), 0);
    cr_expect_eq(u.rank, 3);
    cr_expect_eq(u.dims[0], 3);
    for (int c = 0; c < 3; c++) {
        cr_expect_float_eq(u.data[c * 2 + 0], 51.0f / 255.0f, eps);
        cr_expect_float_eq(u.data[c * 2 + 1], 1.0f, eps);
    }
    convrt_tensor_free(&t);
    convrt_tensor_free(&u);
}

Test(image, save_clamps_rounds_and_zeroes_nan)
{
    float vals[8] = {-1.0f, 0.0f, 0.5f, 0.49f / 255.0f, 1.2f, NAN, 0.999f, INFINITY};
    const unsigned char want[8] = {0, 0, 128, 0, 255, 0, 255, 255};
    convrt_tensor t = {.data = vals, .rank = 2, .dims = {2, 4}};
    const char *p = scratch_path("clamp.pgm");
    cr_assert_eq(convrt_image_save(p, &t), 0);
    FILE *f = fopen(p, "rb");
    char header[32];
    size_t hn = strlen("P5\n4 2\n255\n");
    cr_assert_eq(fread(header, 1, hn, f), hn);
    cr_expect_eq(memcmp(header, "P5\n4 2\n255\n", hn), 0);
    unsigned char got[9];
    cr_assert_eq(fread(got, 1, 9, f), 8, "exactly 8 pixel bytes");
    fclose(f);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(got[i], want[i], "value %g saved as %d, want %d", vals[i], got[i], want[i]);

    convrt_tensor u;
    float neg_inf[1] = {-INFINITY};
    convrt_tensor n = {.data = neg_inf, .rank = 2, .dims = {1, 1}};
    cr_assert_eq(convrt_image_save(scratch_path("ninf.png"), &n), 0);
    cr_assert_eq(convrt_image_load(scratch_path("ninf.png"), &u), 0);
    cr_expect_eq(u.data[0], 0.0f);
    convrt_tensor_free(&u);
}

Test(image, plain_formats_scale_by_maxval)
{
    const char *pgm = "P2\n# a comment\n3 2 # trailing comment\n4\n0 1 2\n3 4 0\n";
    write_bytes(scratch_path("p2.pgm"), pgm, strlen(pgm));
    convrt_tensor t;
    cr_assert_eq(convrt_image_load(scratch_path("p2.pgm"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 2);
    cr_expect_eq(t.dims[0], 2);
    cr_expect_eq(t.dims[1], 3);
    const float want[6] = {0, 0.25f, 0.5f, 0.75f, 1.0f, 0};
    for (int i = 0; i < 6; i++)
        cr_expect_float_eq(t.data[i], want[i], eps);
    convrt_tensor_free(&t);

    /* pixel-interleaved RGB becomes planar [3, H, W] */
    const char *ppm = "P3 2 1 10  10 0 5  0 10 2\n";
    write_bytes(scratch_path("p3.ppm"), ppm, strlen(ppm));
    cr_assert_eq(convrt_image_load(scratch_path("p3.ppm"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 3);
    cr_expect_eq(t.dims[0], 3);
    cr_expect_eq(t.dims[1], 1);
    cr_expect_eq(t.dims[2], 2);
    const float rgb[6] = {1.0f, 0.0f, 0.0f, 1.0f, 0.5f, 0.2f};   /* R0 R1 G0 G1 B0 B1 */
    for (int i = 0; i < 6; i++)
        cr_expect_float_eq(t.data[i], rgb[i], eps, "element %d", i);
    convrt_tensor_free(&t);
}

Test(image, sixteen_bit_netpbm_is_big_endian)
{
    const unsigned char pgm[] = "P5\n3 1\n1000\n\x03\xe8\x01\xf4\x00\x00";
    write_bytes(scratch_path("w.pgm"), pgm, sizeof pgm - 1);
    convrt_tensor t;
    cr_assert_eq(convrt_image_load(scratch_path("w.pgm"), &t), 0, "%s", cap.message);
    cr_expect_float_eq(t.data[0], 1.0f, eps);
    cr_expect_float_eq(t.data[1], 0.5f, eps);
    cr_expect_float_eq(t.data[2], 0.0f, eps);
    convrt_tensor_free(&t);
}

Test(image, png_16bit_gray_and_rgb)
{
    const unsigned char g16[2 * 3] = {0x00, 0x00, 0xff, 0xff, 0x80, 0x00};
    write_png(scratch_path("g16.png"), 3, 1, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, g16, 6, NULL, 0);
    convrt_tensor t;
    cr_assert_eq(convrt_image_load(scratch_path("g16.png"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 2);
    cr_expect_float_eq(t.data[0], 0.0f, eps);
    cr_expect_float_eq(t.data[1], 1.0f, eps);
    cr_expect_float_eq(t.data[2], 32768.0f / 65535.0f, eps, "scaled by 65535, not 65536 or 255");
    convrt_tensor_free(&t);

    const unsigned char c16[6] = {0x12, 0x34, 0xff, 0xff, 0x00, 0x01};
    write_png(scratch_path("c16.png"), 1, 1, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, c16, 6, NULL, 0);
    cr_assert_eq(convrt_image_load(scratch_path("c16.png"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 3);
    cr_expect_float_eq(t.data[0], 0x1234 / 65535.0f, eps);
    cr_expect_float_eq(t.data[1], 1.0f, eps);
    cr_expect_float_eq(t.data[2], 1.0f / 65535.0f, eps);
    convrt_tensor_free(&t);
}

Test(image, png_palette_lowbit_alpha_interlace)
{
    /* 1-bit palette: index 0 = (255, 0, 0), 1 = (0, 0, 255); pixels 0 1 1 0 */
    png_color pal[2] = {{255, 0, 0}, {0, 0, 255}};
    const unsigned char idx[1] = {0x60};
    write_png(scratch_path("pal.png"), 4, 1, PNG_COLOR_TYPE_PALETTE, 1, PNG_INTERLACE_NONE, idx, 1, pal, 2);
    convrt_tensor t;
    cr_assert_eq(convrt_image_load(scratch_path("pal.png"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 3);
    cr_expect_eq(t.dims[0], 3);
    cr_expect_eq(t.dims[2], 4);
    const float want[12] = {1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0};
    for (int i = 0; i < 12; i++)
        cr_expect_float_eq(t.data[i], want[i], eps, "element %d", i);
    convrt_tensor_free(&t);

    /* 2-bit gray: 0..3 -> 0, 1/3, 2/3, 1 */
    const unsigned char g2[1] = {0x1b};
    write_png(scratch_path("g2.png"), 4, 1, PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, g2, 1, NULL, 0);
    cr_assert_eq(convrt_image_load(scratch_path("g2.png"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 2);
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(t.data[i], i / 3.0f, eps);
    convrt_tensor_free(&t);

    /* gray + alpha -> gray, alpha dropped */
    const unsigned char ga[4] = {51, 0, 255, 128};
    write_png(scratch_path("ga.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, ga, 4, NULL, 0);
    cr_assert_eq(convrt_image_load(scratch_path("ga.png"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 2);
    cr_expect_eq(t.dims[1], 2);
    cr_expect_float_eq(t.data[0], 0.2f, eps, "not premultiplied by alpha");
    cr_expect_float_eq(t.data[1], 1.0f, eps);
    convrt_tensor_free(&t);

    /* RGBA, Adam7 interlaced, 3x3 */
    unsigned char rgba[3 * 3 * 4];
    for (int i = 0; i < 9; i++) {
        rgba[4 * i + 0] = (unsigned char)(i * 10);
        rgba[4 * i + 1] = (unsigned char)(100 + i);
        rgba[4 * i + 2] = (unsigned char)(255 - i);
        rgba[4 * i + 3] = (unsigned char)(i * 20);
    }
    write_png(scratch_path("rgba.png"), 3, 3, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_ADAM7, rgba, 12, NULL,
              0);
    cr_assert_eq(convrt_image_load(scratch_path("rgba.png"), &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 3);
    cr_expect_eq(t.dims[0], 3);
    for (int i = 0; i < 9; i++) {
        cr_expect_float_eq(t.data[i], i * 10 / 255.0f, eps, "R %d", i);
        cr_expect_float_eq(t.data[9 + i], (100 + i) / 255.0f, eps, "G %d", i);
        cr_expect_float_eq(t.data[18 + i], (255 - i) / 255.0f, eps, "B %d", i);
    }
    convrt_tensor_free(&t);
}

Test(image, a_palette_with_transparency_becomes_rgb_and_says_so)
{
    /* index 0 = (255, 0, 0) fully transparent, 1 = (0, 0, 255) opaque */
    png_color pal[2] = {{255, 0, 0}, {0, 0, 255}};
    const unsigned char idx[2] = {0, 1};
    const char *p = scratch_path("trns.png");
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(!setjmp(png_jmpbuf(png)));
    png_init_io(png, f);
    png_set_IHDR(png, info, 2, 1, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_PLTE(png, info, pal, 2);
    png_byte alpha[1] = {0};
    png_set_tRNS(png, info, alpha, 1, NULL);
    png_bytep rows[1] = {(png_bytep)idx};
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);

    convrt_tensor t;
    cr_assert_eq(convrt_image_load(p, &t), 0, "%s", cap.message);
    cr_expect_eq(t.rank, 3);
    cr_expect_eq(t.dims[0], 3);
    const float want[6] = {1, 0, 0, 0, 0, 1};
    for (int i = 0; i < 6; i++)
        cr_expect_float_eq(t.data[i], want[i], eps, "element %d", i);
    convrt_tensor_free(&t);
    cr_expect_eq(warned.count, 1);
    cr_expect_eq(warned.code, CONVRT_W_ALPHA);
    cr_expect(strstr(warned.message, "trns.png") && strstr(warned.message, "transparency dropped"), "%s",
              warned.message);

    /* opaque alpha loses nothing and says nothing */
    capture_reset();
    const unsigned char rgba[4] = {1, 2, 3, 255};
    write_png(scratch_path("opaque.png"), 1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, rgba, 4, NULL, 0);
    cr_assert_eq(convrt_image_load(scratch_path("opaque.png"), &t), 0, "%s", cap.message);
    convrt_tensor_free(&t);
    cr_expect_eq(warned.count, 0, "%s", warned.message);
}

Test(image, a_header_larger_than_the_file_is_truncated_before_allocating)
{
    /* 39 bytes that promise 100000 x 100000 pixels: "truncated", with the
     * numbers, and no 40 GB allocation first (that would be NOMEM) */
    const char pgm[] = "P5\n100000 100000\n255\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    cr_assert_eq(sizeof pgm - 1 + 1, 39);
    const char *p = scratch_path("huge.pgm");
    write_bytes(p, pgm, 39);
    convrt_tensor t;
    cr_expect_eq(convrt_image_load(p, &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "huge.pgm", "truncated", "100000 x 100000", "10000000000 bytes",
                  "has 18 after the header");
    cr_expect_null(t.data);

    /* plain text needs at least a digit and a separator per sample */
    capture_reset();
    const char plain[] = "P2\n1000 1000\n255\n0 0 0\n";
    write_bytes(scratch_path("plain.pgm"), plain, sizeof plain - 1);
    cr_expect_eq(convrt_image_load(scratch_path("plain.pgm"), &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "truncated", "at least 1999999 bytes");

    /* a PNG whose IHDR claims 1000000 x 1000000 pixels in a few bytes */
    capture_reset();
    unsigned char px[1] = {0};
    write_png(scratch_path("one.png"), 1, 1, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, px, 1, NULL, 0);
    unsigned char buf[256];
    FILE *f = fopen(scratch_path("one.png"), "rb");
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unsigned char one[256];
    memcpy(one, buf, n);
    /* width and height at bytes 16..23, then the IHDR's CRC over bytes 12..28 */
    const unsigned char big[8] = {0, 0x0f, 0x42, 0x40, 0, 0x0f, 0x42, 0x40};
    memcpy(buf + 16, big, 8);
    uLong crc = crc32(0, buf + 12, 17);
    buf[29] = (unsigned char)(crc >> 24), buf[30] = (unsigned char)(crc >> 16);
    buf[31] = (unsigned char)(crc >> 8), buf[32] = (unsigned char)crc;
    write_bytes(scratch_path("huge.png"), buf, n);
    cr_expect_eq(convrt_image_load(scratch_path("huge.png"), &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "huge.png", "truncated", "1000000 x 1000000");
    cr_expect_null(t.data);

    /* a text chunk whose length says 2 GB, after the 1 x 1 image's IHDR:
     * skipped in small pieces, not read into a 2 GB buffer */
    capture_reset();
    const unsigned char ztxt[12] = {0x7f, 0xff, 0xff, 0xf0, 'z', 'T', 'X', 't', 'B', 'i', 'g', 0};
    memcpy(one + 33, ztxt, sizeof ztxt);
    write_bytes(scratch_path("text.png"), one, 33 + sizeof ztxt);
    cr_expect_eq(convrt_image_load(scratch_path("text.png"), &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "text.png", "truncated: the file ends after 45 bytes");
}

Test(image, a_large_text_chunk_is_skipped_not_held_in_memory)
{
    /* A 1 x 1 PNG with a 32 MB zTXt chunk before its pixels.  libpng reads
     * such a chunk whole into a buffer of the length its header states
     * (a fuzzer found 100 bytes that asked for 591 MB); it is skipped. */
    unsigned char px[1] = {7};
    write_png(scratch_path("one.png"), 1, 1, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, px, 1, NULL, 0);
    unsigned char png[256];
    FILE *f = fopen(scratch_path("one.png"), "rb");
    size_t n = fread(png, 1, sizeof png, f);
    fclose(f);
    enum { LEN = 32 << 20, PIECE = 1 << 16 };
    static unsigned char zeros[PIECE];
    f = fopen(scratch_path("text.png"), "wb");
    fwrite(png, 1, 33, f);                          /* signature and IHDR */
    const unsigned char head[8] = {LEN >> 24, (LEN >> 16) & 0xff, 0, 0, 'z', 'T', 'X', 't'};
    fwrite(head, 1, 8, f);
    uLong crc = crc32(0, head + 4, 4);
    for (int i = 0; i < LEN / PIECE; i++) {
        fwrite(zeros, 1, PIECE, f);
        crc = crc32(crc, zeros, PIECE);
    }
    const unsigned char c[4] = {crc >> 24, (crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff};
    fwrite(c, 1, 4, f);
    fwrite(png + 33, 1, n - 33, f);                 /* IDAT, IEND */
    fclose(f);

    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    convrt_tensor t;
    cr_assert_eq(convrt_image_load(scratch_path("text.png"), &t), 0, "%s", cap.message);
    getrusage(RUSAGE_SELF, &after);
    cr_expect_float_eq(t.data[0], 7 / 255.0f, eps);
    convrt_tensor_free(&t);
    cr_expect_lt(after.ru_maxrss - before.ru_maxrss, 8 << 10, "peak memory grew by %ld KB",
                 after.ru_maxrss - before.ru_maxrss);
}

Test(image, the_pixel_ceiling_can_be_set_in_the_environment)
{
    unsigned char px[20 * 10] = {0};
    write_png(scratch_path("g.png"), 20, 10, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, px, 20, NULL, 0);
    write_bytes(scratch_path("g.pgm"), "P5\n20 10\n255\n", 13);
    FILE *f = fopen(scratch_path("g.pgm"), "ab");
    fwrite(px, 1, sizeof px, f);
    fclose(f);
    convrt_tensor t;
    setenv("CONVRT_MAX_IMAGE_PIXELS", "199", 1);
    cr_expect_eq(convrt_image_load(scratch_path("g.png"), &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "g.png", "20 x 10 pixels", "limit of 199", "CONVRT_MAX_IMAGE_PIXELS");
    capture_reset();
    cr_expect_eq(convrt_image_load(scratch_path("g.pgm"), &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, "g.pgm", "limit of 199");
    setenv("CONVRT_MAX_IMAGE_PIXELS", "200", 1);
    capture_reset();
    cr_expect_eq(convrt_image_load(scratch_path("g.png"), &t), 0, "%s", cap.message);
    convrt_tensor_free(&t);
    setenv("CONVRT_MAX_IMAGE_PIXELS", "nonsense", 1);   /* ignored: the default */
    cr_expect_eq(convrt_image_load(scratch_path("g.pgm"), &t), 0, "%s", cap.message);
    convrt_tensor_free(&t);
    unsetenv("CONVRT_MAX_IMAGE_PIXELS");
}

Test(image, a_fifo_or_a_directory_is_refused_without_blocking, .timeout = 10)
{
    cr_assert_eq(mkfifo(scratch_path("fifo.png"), 0644), 0);
    cr_assert_eq(mkdir(scratch_path("dir.pgm"), 0755), 0);
    convrt_tensor t;
    cr_expect_eq(convrt_image_load(scratch_path("fifo.png"), &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "fifo.png", "it is a FIFO, not a regular file");
    capture_reset();
    cr_expect_eq(convrt_load(scratch_path("dir.pgm"), &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "dir.pgm", "it is a directory, not a regular file");
    capture_reset();
    cr_expect_eq(convrt_image_load(scratch_path("none.ppm"), &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "none.ppm", "No such file or directory");
}

static void expect_bad_pnm(const char *content, size_t n, const char *frag)
{
    const char *p = scratch_path("bad.pgm");
    write_bytes(p, content, n);
    capture_reset();
    convrt_tensor t;
    cr_expect_eq(convrt_image_load(p, &t), CONVRT_E_FORMAT, "for %s: %s", frag, cap.message);
    expect_report(CONVRT_E_FORMAT, p, frag);
    cr_expect_null(t.data);
}
#define BAD(s, frag) expect_bad_pnm(s, sizeof s - 1, frag)

Test(image, malformed_pgm_headers)
{
    BAD("P7\n1 1\n255\n\x00", "magic");
    BAD("GIF89a", "magic");
    BAD("P5\n", "width");
    BAD("P5\n3", "height");
    BAD("P5\n3 x\n255\n", "height");
    BAD("P5\n3 2\n", "maxval");
    BAD("P5\n0 3\n255\n", "width");
    BAD("P5\n3 0\n255\n", "height");
    BAD("P5\n2 2\n70000\n", "maxval");
    BAD("P5\n2 2\n0\n", "maxval");
    BAD("P5\n99999999999 2\n255\n", "width");
    BAD("P5\n2 2\n255\n\x01\x02", "truncated");
    BAD("P5\n2 1\n300\n\x01\x00\x00", "truncated");
    BAD("P5\n2 1\n100\n\x01\xff", "exceeds maxval");
    BAD("P2\n2 1\n15\n3 16\n", "exceeds maxval");
    BAD("P2\n2 1\n15\n3\n", "truncated");
    BAD("P2\n2 1\n15\n3 x\n", "not a number");
}

Test(image, malformed_png)
{
    const char *p = scratch_path("x.png");
    write_bytes(p, "P5\n1 1\n255\n\x00", 12);
    convrt_tensor t;
    cr_expect_eq(convrt_image_load(p, &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, p, "PNG");

    /* a valid PNG cut in half */
    unsigned char px[64] = {0};
    write_png(scratch_path("full.png"), 8, 8, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, px, 8, NULL, 0);
    FILE *f = fopen(scratch_path("full.png"), "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(p, buf, n / 2);
    capture_reset();
    cr_expect_eq(convrt_image_load(p, &t), CONVRT_E_FORMAT);
    expect_report(CONVRT_E_FORMAT, p);
    cr_expect_null(t.data);
}

Test(image, argument_and_io_errors)
{
    convrt_tensor t;
    cr_expect_eq(convrt_image_load(scratch_path("none.png"), &t), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, "none.png");
    capture_reset();
    cr_expect_eq(convrt_image_load(scratch_path("a.jpg"), &t), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "a.jpg");
    capture_reset();
    cr_expect_eq(convrt_load(scratch_path("a.bmp"), &t), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "a.bmp");

    float v[24] = {0};
    convrt_tensor r1 = {.data = v, .rank = 1, .dims = {4}};
    capture_reset();
    cr_expect_eq(convrt_image_save(scratch_path("r1.png"), &r1), CONVRT_E_RANK);
    expect_report(CONVRT_E_RANK, "r1.png");
    convrt_tensor c2 = {.data = v, .rank = 3, .dims = {2, 2, 2}};
    capture_reset();
    cr_expect_eq(convrt_image_save(scratch_path("c2.png"), &c2), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "c2.png", "channels");
    convrt_tensor c3 = {.data = v, .rank = 3, .dims = {3, 2, 2}};
    capture_reset();
    cr_expect_eq(convrt_image_save(scratch_path("c3.pgm"), &c3), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "c3.pgm");
    convrt_tensor nd = {.data = NULL, .rank = 2, .dims = {2, 2}};
    capture_reset();
    cr_expect_eq(convrt_image_save(scratch_path("nd.png"), &nd), CONVRT_E_NULL_DATA);
    expect_report(CONVRT_E_NULL_DATA, "nd.png");
    convrt_tensor empty = {.data = v, .rank = 2, .dims = {0, 2}};
    capture_reset();
    cr_expect_eq(convrt_image_save(scratch_path("e.png"), &empty), CONVRT_E_INVALID);
    expect_report(CONVRT_E_INVALID, "e.png");
    capture_reset();
    convrt_tensor ok = {.data = v, .rank = 2, .dims = {2, 2}};
    const char *p = scratch_path("no-such-dir/o.png");
    cr_expect_eq(convrt_image_save(p, &ok), CONVRT_E_IO);
    expect_report(CONVRT_E_IO, p);
    cr_expect_eq(scratch_count(), 0, "nothing written by any failing save");
}
