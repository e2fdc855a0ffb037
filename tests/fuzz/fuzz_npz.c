/* fuzz_npz.c - libFuzzer target for the runtime's .npz reader (libzip).
 *
 * Built only with -DCONVC_FUZZ=ON and clang (see CMakeLists.txt and
 * scripts/fuzz.sh).  What one input does is in fuzz_io_one.h. */
#include "fuzz_io_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return convc_fuzz_npz(data, size);
}
