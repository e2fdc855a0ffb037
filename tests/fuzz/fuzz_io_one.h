/* fuzz_io_one.h - one fuzz input through the runtime's file readers.
 *
 *   bytes -> a file -> convrt_npy_load         (convc_fuzz_npy)
 *   bytes -> a file -> convrt_image_load       (convc_fuzz_image)
 *   bytes -> a file -> convrt_audio_load       (convc_fuzz_audio)
 *   bytes -> a file -> convrt_npz_load         (convc_fuzz_npz)
 *
 * Shared by the libFuzzer targets (fuzz_npy.c, fuzz_image.c, fuzz_audio.c,
 * fuzz_npz.c) and the corpus replayer (replay.c).  The readers take a path, and what they do with the
 * file's size and type is part of what is tested, so each input is written
 * to a file (in /dev/shm when it exists: no disk traffic).  An image input
 * starting with the PNG signature is read as .png, anything else as .pgm
 * (the netpbm reader takes P2, P3, P5 and P6 whatever the extension says).
 * Errors and warnings are discarded; a successful load is checked for a
 * consistent shape and freed. */
#ifndef CONVC_FUZZ_IO_ONE_H
#define CONVC_FUZZ_IO_ONE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convrt.h"

static char fuzz_io_dir[64];
static char fuzz_io_path[96];

static void fuzz_io_quiet(void *user, int code, const char *message)
{
    (void)user;
    (void)code;
    (void)message;
}

static void fuzz_io_cleanup(void)
{
    if (fuzz_io_path[0])
        unlink(fuzz_io_path);
    if (fuzz_io_dir[0])
        rmdir(fuzz_io_dir);
}

static void fuzz_io_setup(void)
{
    if (fuzz_io_dir[0])
        return;
    snprintf(fuzz_io_dir, sizeof fuzz_io_dir, "%s/convrt-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(fuzz_io_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    convrt_set_error_handler(fuzz_io_quiet, NULL);
    convrt_set_warning_handler(fuzz_io_quiet, NULL);
    atexit(fuzz_io_cleanup);
}

static const char *fuzz_io_write(const uint8_t *data, size_t size, const char *name)
{
    fuzz_io_setup();
    if (fuzz_io_path[0])
        unlink(fuzz_io_path);
    snprintf(fuzz_io_path, sizeof fuzz_io_path, "%s/%s", fuzz_io_dir, name);
    FILE *f = fopen(fuzz_io_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
    return fuzz_io_path;
}

/* A loaded tensor must describe its own data: touch every element. */
static void fuzz_io_use(const convrt_tensor *t)
{
    int64_t n;
    if (t->rank < 0 || t->rank > CONVRT_MAX_RANK || convrt_tensor_numel(t, &n) != 0 || !t->data)
        abort();
    volatile float sink = 0;
    for (int64_t i = 0; i < n; i++)
        sink += t->data[i];
    (void)sink;
}

static inline int convc_fuzz_npy(const uint8_t *data, size_t size)
{
    const char *path = fuzz_io_write(data, size, "in.npy");
    convrt_tensor t;
    if (convrt_npy_load(path, &t) == 0)
        fuzz_io_use(&t);
    else if (t.data || t.rank)
        abort();        /* a failed load leaves the tensor empty */
    convrt_tensor_free(&t);
    return 0;
}

static inline int convc_fuzz_image(const uint8_t *data, size_t size)
{
    int png = size >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8);
    const char *path = fuzz_io_write(data, size, png ? "in.png" : "in.pgm");
    convrt_tensor t;
    if (convrt_image_load(path, &t) == 0) {
        if (t.rank != 2 && !(t.rank == 3 && t.dims[0] == 3))
            abort();
        fuzz_io_use(&t);
    } else if (t.data || t.rank) {
        abort();
    }
    convrt_tensor_free(&t);
    return 0;
}

/* Sound: libsndfile decides by content; the extension only follows it. */
static inline int convc_fuzz_audio(const uint8_t *data, size_t size)
{
    const char *name = size >= 4 && !memcmp(data, "fLaC", 4) ? "in.flac"
                     : size >= 4 && !memcmp(data, "OggS", 4) ? "in.ogg" : "in.wav";
    const char *path = fuzz_io_write(data, size, name);
    convrt_tensor t;
    int32_t rate;
    if (convrt_audio_load(path, &t, &rate) == 0) {
        if ((t.rank != 1 && t.rank != 2) || rate < 1)
            abort();
        fuzz_io_use(&t);
    } else if (t.data || t.rank) {
        abort();
    }
    convrt_tensor_free(&t);
    return 0;
}

/* An archive: the array "x" (the seeds' key), then the only one. */
static inline int convc_fuzz_npz(const uint8_t *data, size_t size)
{
    const char *path = fuzz_io_write(data, size, "in.npz");
    for (int k = 0; k < 2; k++) {
        convrt_tensor t;
        if (convrt_npz_load(path, k ? NULL : "x", &t) == 0)
            fuzz_io_use(&t);
        else if (t.data || t.rank)
            abort();
        convrt_tensor_free(&t);
    }
    return 0;
}

#endif
