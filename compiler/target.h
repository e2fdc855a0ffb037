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
} Target;

/* The scalar-only target: every stage takes the reference loop nests. */
static inline Target target_scalar(void)
{
    return (Target){ .cpu = "generic", .vlen = 1, .vregs = 16, .fmas = 2 };
}

#endif
