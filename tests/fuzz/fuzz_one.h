/* fuzz_one.h - one fuzz input through the front and middle of convc.
 *
 *   bytes -> ast_parse -> graph_check -> lower_graph -> ir_dump
 *
 * Shared by the libFuzzer target (fuzz_check.c) and the corpus replayer
 * (replay.c), so the corpus exercises exactly what the fuzzer did.
 *
 * The first byte also selects options (the whole input is still the
 * script): bits 0-2 bind the size symbols H=7, W=5, C=3 (one bit each), bit
 * 3 turns off parallel-loop marking in lowering, bit 4 picks a 16-lane
 * target over an 8-lane one, bit 5 skips the passes, bit 6 gives the
 * 16-lane target one FMA a cycle instead of two.  load("...") paths resolve
 * against an empty temporary directory, so they only produce diagnostics.
 * Diagnostics and the IR dump go to /dev/null.  No LLVM code generation:
 * it is far too slow for a fuzz loop. */
#ifndef CONVC_FUZZ_ONE_H
#define CONVC_FUZZ_ONE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "graph.h"
#include "ir.h"
#include "lower.h"
#include "passes/passes.h"

static FILE *fuzz_null;
static char  fuzz_dir[64];

static void fuzz_cleanup(void)
{
    if (fuzz_dir[0])
        rmdir(fuzz_dir);
}

static void fuzz_setup(void)
{
    if (fuzz_null)
        return;
    fuzz_null = fopen("/dev/null", "w");
    if (!fuzz_null) {
        perror("fuzz: /dev/null");
        abort();
    }
    snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/convc-fuzz-XXXXXX");
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_cleanup);
}

static int convc_fuzz_one(const uint8_t *data, size_t size)
{
    fuzz_setup();

    /* The lexer needs a NUL sentinel at text[len]; interior NULs stay. */
    char *text = malloc(size + 1);
    if (!text)
        abort();
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';

    unsigned sel = size ? data[0] : 0;
    SymBinding all[3] = { { "H", 7 }, { "W", 5 }, { "C", 3 } };
    SymBinding bind[3];
    int32_t nbind = 0;
    for (int i = 0; i < 3; i++)
        if (sel & (1u << i))
            bind[nbind++] = all[i];

    Source src = { "fuzz.conv", text, size };
    Diag d;
    diag_init(&d, &src, fuzz_null);

    Arena a;
    arena_init(&a);
    AstPipeline *ast = ast_parse(&a, &d, &src);
    if (ast) {
        CheckOptions copt = { nbind ? bind : NULL, nbind, fuzz_dir };
        Graph *g = graph_check(&a, &d, ast, &copt);
        if (g) {
            LowerOptions lopt = { .parallel = !(sel & 8) };
            /* every pass, for a 16-lane target (with one or two FMAs a
             * cycle: the blocks differ) or an 8-lane one, or none */
            Target t = (sel & 16) ? (Target){ "fuzz16", 16, 32, true, true, (sel & 64) ? 1 : 2,
                                              TARGET_STREAM_MIN_BYTES }
                                  : (Target){ "fuzz8", 8, 16, true, false, 2, TARGET_STREAM_MIN_BYTES };
            Schedule *sched = NULL;
            if (!(sel & 32)) {
                sched = schedule_new(&a, g, &t);
                pass_choose_kernels(&a, sched);
                pass_fuse_epilogues(&a, sched);
                pass_pack_weights(&a, sched);
            }
            IrProgram *ir = lower_graph(&a, g, sched, &lopt);
            if (ir)
                ir_dump(fuzz_null, ir);
        }
    }
    arena_free(&a);
    free(text);
    return 0;
}

#endif
