/* audio_tool - the C side of audio_interop.py: sound files through the
 * runtime's libsndfile reader and writer.
 *
 *   audio_tool load IN OUT.npy          load IN, save the tensor as .npy
 *                                        and print "rate=N rank=R"
 *   audio_tool save IN.npy OUT RATE [BITS]
 *                                        save the .npy tensor as sound
 * Errors and warnings go to stderr as the runtime's default handlers print
 * them; the exit status is 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convrt.h"

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    convrt_tensor t;
    int rc;
    if (!strcmp(argv[1], "load")) {
        int32_t rate = 0;
        rc = convrt_audio_load(argv[2], &t, &rate);
        if (rc == 0) {
            printf("rate=%d rank=%d\n", (int)rate, (int)t.rank);
            rc = convrt_npy_save(argv[3], &t);
        }
    } else if (!strcmp(argv[1], "save") && argc >= 5) {
        rc = convrt_npy_load(argv[2], &t);
        if (rc == 0)
            rc = convrt_audio_save(argv[3], &t, atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 0);
    } else {
        return 2;
    }
    convrt_tensor_free(&t);
    return rc != 0;
}
