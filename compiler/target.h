/* target.h - what the middle of the compiler needs to know about the CPU
 * it generates code for.
 *
 * The micro-kernels (kernels.h) are written with explicit vectors in the
 * loop IR; their width, register budget and masking style depend on the
 * target.  The code generator fills this in (cg_target_info) from the same
 * CPU name and features it compiles for, so the IR and the machine code
 * agree; nothing here depends on LLVM. */
#ifndef CONVC_TARGET_H
#define CONVC_TARGET_H

#include <stdbool.h>
#include <stdint.h>

/* Streaming (non-temporal) stores for a pipeline output of this many
 * bytes or more (kernels.h, kl_stream_output): twice the largest per-core
 * L2 cache of the CPUs served.  On the Xeon where it was measured, the
 * 6.4 MB output of a depthwise 3x3 over 128 x 112 x 112 ran 1.19x on one
 * thread, 1.09x on two.  On znver4, whose 32 MB L3 keeps an output well
 * within it for the next call or its reader, plain stores were faster up
 * to a 12.8 MB output (interleaved, one core / two: the 4 MB filter W9-15
 * 1.04 / 1.04x, 3x3 3->64 at 224x224 (12.8 MB) 1.02-1.08 / 1.02-1.07x,
 * W5's 6.4 MB 1.02 / 1.02x), and streaming ones from 33 MB (W8's 5x5
 * Gaussian, separable: 1.20 / 1.22x; direct, 0.89-0.99x; the 48 MB W12
 * 1.06 / 1.03x): from half the L3 there. */
#define TARGET_STREAM_MIN_BYTES ((int64_t)4 << 20)
#define TARGET_STREAM_MIN_BYTES_ZNVER4 ((int64_t)16 << 20)

typedef struct Target {
    const char *cpu;    /* the resolved CPU name, e.g. "sapphirerapids" */
    int32_t     vlen;   /* f32 lanes the kernels use: 16 (AVX-512), 8 (AVX2
                           + FMA), or 1: no vector kernels, scalar code only */
    int32_t     vregs;  /* vector registers: 32 or 16 */
    bool        fma;    /* fused multiply-add (IR_EXPR_FMA rounds once) */
    bool        masked; /* lane masks are free on FMAs and loads (AVX-512
                           mask registers); else a masked FMA costs a blend */
    int32_t     fmas;   /* vector FMAs of vlen lanes issued a cycle: 2, or 1
                           where a 512-bit FMA takes both 256-bit FMA units
                           (znver4) */
    int64_t     stream_min_bytes;   /* the least pipeline output stored with
                                       streaming stores (kernels.h) */
} Target;

/* The scalar-only target: every stage takes the reference loop nests. */
static inline Target target_scalar(void)
{
    return (Target){ .cpu = "generic", .vlen = 1, .vregs = 16, .fmas = 2,
                     .stream_min_bytes = TARGET_STREAM_MIN_BYTES };
}

#endif
