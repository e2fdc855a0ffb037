/* fuzz_check.c - libFuzzer target for the front and middle of convc.
 *
 * Built only with -DCONVC_FUZZ=ON and clang (see CMakeLists.txt and
 * scripts/fuzz.sh).  What one input does is in fuzz_one.h. */
#include "fuzz_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return convc_fuzz_one(data, size);
}
