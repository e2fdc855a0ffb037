/* npy_interop_tool - the C side of npy_interop.py, which checks that
 * files written by numpy load correctly and files written by the runtime
 * load correctly in numpy.
 *
 *   npy_interop_tool check PATH D0 D1 ...   load PATH, expect shape (D0, D1,
 *                                            ...) and element i == i*0.25-1
 *   npy_interop_tool reject PATH            expect CONVRT_E_FORMAT
 *   npy_interop_tool write PATH D0 D1 ...   save that tensor
 *   npy_interop_tool write64 PATH D0 D1 ... save it as float64
 *   npy_interop_tool convert IN OUT [KEY]   load IN (.npy, or .npz with
 *                                            KEY or without), save OUT as
 *                                            float32 .npy; warnings on stderr
 * Exit status 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convrt.h"

static int parse_dims(int argc, char **argv, int64_t *dims)
{
    int rank = argc;
    for (int i = 0; i < rank; i++)
        dims[i] = strtoll(argv[i], NULL, 10);
    return rank;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *cmd = argv[1], *path = argv[2];
    int64_t dims[CONVRT_MAX_RANK];
    convrt_tensor t;
    if (strcmp(cmd, "reject") == 0) {
        int rc = convrt_npy_load(path, &t);
        if (rc != CONVRT_E_FORMAT) {
            fprintf(stderr, "expected CONVRT_E_FORMAT, got %d\n", rc);
            convrt_tensor_free(&t);
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "convert") == 0 && argc >= 4) {
        int rc = argc > 4 ? convrt_npz_load(path, argv[4], &t) : convrt_load(path, &t);
        if (rc == 0)
            rc = convrt_npy_save(argv[3], &t);
        convrt_tensor_free(&t);
        return rc != 0;
    }
    int rank = parse_dims(argc - 3, argv + 3, dims);
    if (strcmp(cmd, "write") == 0 || strcmp(cmd, "write64") == 0) {
        if (convrt_tensor_alloc(&t, rank, dims) != 0)
            return 1;
        int64_t n;
        convrt_tensor_numel(&t, &n);
        for (int64_t i = 0; i < n; i++)
            t.data[i] = (float)i * 0.25f - 1.0f;
        convrt_save_options opt = { .bits = strcmp(cmd, "write64") == 0 ? 64 : 0 };
        int rc = convrt_save_with(path, &t, &opt);
        convrt_tensor_free(&t);
        return rc != 0;
    }
    if (strcmp(cmd, "check") == 0) {
        if (convrt_npy_load(path, &t) != 0)
            return 1;
        int bad = t.rank != rank;
        for (int i = 0; !bad && i < rank; i++)
            bad = t.dims[i] != dims[i];
        if (bad) {
            fprintf(stderr, "%s: wrong shape\n", path);
            convrt_tensor_free(&t);
            return 1;
        }
        int64_t n;
        convrt_tensor_numel(&t, &n);
        for (int64_t i = 0; i < n; i++)
            if (t.data[i] != (float)i * 0.25f - 1.0f) {
                fprintf(stderr, "%s: element %lld is %g\n", path, (long long)i, t.data[i]);
                convrt_tensor_free(&t);
                return 1;
            }
        convrt_tensor_free(&t);
        return 0;
    }
    return 2;
}
