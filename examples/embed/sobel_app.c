/* sobel_app.c - embed a compiled convc pipeline in a C program.
 *
 * Reads an image (PGM, PPM or PNG; colour is refused: the pipeline wants
 * one channel), computes the Sobel edge magnitude with the pipeline
 * compiled from examples/sobel_edges.conv, and writes it as an image (and,
 * optionally, as .npy with the exact float values).
 *
 *   usage: sobel_app INPUT.pgm OUTPUT.png [MAGNITUDE.npy]
 *
 * Build: see README.md (`make`, or by hand with pkg-config). */
#include <stdio.h>
#include <string.h>

#include "sobel.h"   /* written by `convc compile sobel_edges.conv -o sobel.o` */

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s INPUT.pgm OUTPUT.png [MAGNITUDE.npy]\n", argv[0]);
        return 2;
    }
    /* Every convrt_* function and both entry points return 0 or a negative
     * CONVRT_E_* code; the default error handler has already printed the
     * details on stderr, so the code only needs to be propagated. */
    convrt_tensor img = {0}, mag = {0};
    int rc;
    if ((rc = convrt_image_load(argv[1], &img)) != 0)
        goto out;
    if (img.rank != 2) {
        fprintf(stderr, "%s: a grayscale image is needed (got %d channels)\n", argv[1],
                img.rank == 3 ? (int)img.dims[0] : -1);
        rc = CONVRT_E_RANK;
        goto out;
    }

    /* The pipeline's sizes are symbolic (img: f32[H, W]): ask it for the
     * output's shape, then allocate the output. */
    if ((rc = sobel_output_shapes(&img, &mag)) != 0)
        goto out;
    int64_t dims[CONVRT_MAX_RANK];
    memcpy(dims, mag.dims, sizeof dims);
    if ((rc = convrt_tensor_alloc(&mag, mag.rank, dims)) != 0)
        goto out;

    if ((rc = sobel(&img, &mag)) != 0)
        goto out;

    float max = 0.0f;
    for (int64_t i = 0; i < mag.dims[0] * mag.dims[1]; i++)
        if (mag.data[i] > max)
            max = mag.data[i];
    printf("%s: %lld x %lld, largest edge magnitude %.4f\n", argv[1], (long long)mag.dims[0],
           (long long)mag.dims[1], max);

    /* The image is written like `convc run ... -o mag=OUT.png`: each value
     * times 255, clamped to [0, 255]. */
    if ((rc = convrt_image_save(argv[2], &mag)) != 0)
        goto out;
    if (argc == 4 && (rc = convrt_npy_save(argv[3], &mag)) != 0)
        goto out;

out:
    if (rc != 0)
        fprintf(stderr, "sobel_app: failed: %s\n", convrt_strerror(rc));
    convrt_tensor_free(&img);
    convrt_tensor_free(&mag);
    return rc != 0;
}
