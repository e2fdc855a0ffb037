/* convrt_profile.h - where a pipeline's time goes: per-stage timing of
 * code compiled with profiling (`convc run --profile`), and the floating-
 * point peak of the machine it runs on, measured, to compare with.
 *
 * Code generated with profiling calls convrt_profile_enter(k) and
 * convrt_profile_leave(k) around stage k of its body (stage k is the k-th
 * statement of the body's top block; convc maps it back to the script).
 * Between convrt_profile_start and convrt_profile_stop the runtime adds
 * up each stage's time with a monotonic clock; outside them the hooks do
 * nothing.  Recording is process-wide, for one profiled pipeline call at a
 * time; start and stop must not run while a profiled pipeline does. */
#ifndef CONVRT_PROFILE_H
#define CONVRT_PROFILE_H

#include <stdint.h>

#include "convrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The hooks called by generated code. */
CONVRT_API void convrt_profile_enter(int64_t stage);
CONVRT_API void convrt_profile_leave(int64_t stage);

/* Start recording stages [0, nstages) from zero.  0, or CONVRT_E_INVALID /
 * CONVRT_E_NOMEM after a report. */
CONVRT_API int convrt_profile_start(int64_t nstages);
/* Stop recording and give each stage's total time in seconds and how many
 * times it ran (n entries each; either may be NULL). */
CONVRT_API void convrt_profile_stop(double *seconds, int64_t *calls, int64_t n);

/* The machine's single-precision fused multiply-add peak, measured now:
 * every thread of the pool (convrt_get_num_threads) runs a loop of
 * independent vector FMAs of the widest kind the CPU has (AVX-512, else
 * AVX2 + FMA), about 2 ms a run, best of seven; and one thread alone the
 * same way. */
typedef struct convrt_fma_peak {
    double gflops;          /* all threads together (at least one
                               thread's), 2 flops per FMA lane */
    double gflops_thread;   /* one thread alone */
    int    threads;
    int    vector_bits;     /* 512 or 256; 0: no FMA instructions */
    int    chains;          /* independent accumulators per thread */
    double seconds;         /* length of the best timed run */
} convrt_fma_peak;

/* 0, or CONVRT_E_CPU (without a report) when the CPU has no FMA
 * instructions: out is then zero but for threads. */
CONVRT_API int convrt_measure_fma_peak(convrt_fma_peak *out);

#ifdef __cplusplus
}
#endif

#endif
