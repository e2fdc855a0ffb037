/* test_profile_hooks.c - code compiled with CgTarget.profile calls the
 * runtime's hooks around each stage of its body with the stage's number,
 * both when the body calls the stages directly and when it walks its
 * stage table (more than 64 stages); without the flag the module has no
 * hook, and the stages' own functions are the same either way. */
#include <stdio.h>

#include "cg_test_util.h"
#include "convrt_profile.h"

enum { BIG = 1 << 20 };

/* nstages stages over y[BIG]: stage k stores x[i]*2 + k for i < n_k,
 * where n_k is BIG for k == heavy and 16 otherwise. */
static void build_stages(TProg *t, int nstages, int heavy)
{
    tp_init(t, "stages");
    int32_t n = tp_slot_const(t, BIG);
    int32_t x = tp_buf(t, "x", IR_BUF_INPUT, 1, n);
    int32_t y = tp_buf(t, "y", IR_BUF_OUTPUT, 1, n);
    Arena *a = &t->a;
    IrStmt **stmts = arena_array(a, (size_t)nstages, sizeof *stmts);
    int32_t i = tp_var(t, "i");
    for (int k = 0; k < nstages; k++) {
        IrExpr *v = ir_bin(a, IR_OP_ADD, ir_bin(a, IR_OP_MUL, LOAD(t, x, ir_var(a, i)), ir_float(a, 2.0f)),
                           ir_float(a, (float)k));
        stmts[k] = ir_for(a, i, ir_int(a, 0), ir_int(a, k == heavy ? BIG : 16),
                          STORE(t, y, v, ir_var(a, i)), 0);
    }
    t->p.body = ir_block(a, stmts, nstages);
}

static void run_profiled(int nstages, int heavy)
{
    TProg t;
    build_stages(&t, nstages, heavy);
    CgTarget target = { .cpu = "x86-64-v3", .opt_level = 2, .profile = true };
    char *err = NULL;
    CgModule *m = cg_compile(&t.p, &target, &err);
    cr_assert_not_null(m, "cg_compile: %s", err ? err : "?");
    Jit *j = jit_create(m, &err);
    cr_assert_not_null(j, "jit_create: %s", err ? err : "?");
    float *x = calloc(BIG, sizeof *x), *y = calloc(BIG, sizeof *y);
    cr_assert(x && y);
    for (int i = 0; i < BIG; i++)
        x[i] = (float)(i % 7);
    float *bufs[2] = { x, y };
    int64_t dims[1] = { BIG };
    cr_assert_eq(convrt_profile_start(nstages), 0);
    tp_run_body(j, bufs, dims);
    double *sec = calloc((size_t)nstages, sizeof *sec);
    int64_t *calls = calloc((size_t)nstages, sizeof *calls);
    convrt_profile_stop(sec, calls, nstages);
    /* the stages ran in order: the last one to write y[0..16) wins, and
     * y[16..BIG) comes from the heavy stage */
    cr_assert_eq(y[3], 3 * 2.0f + (float)(nstages - 1));
    cr_assert_eq(y[BIG - 1], (float)((BIG - 1) % 7) * 2.0f + (float)heavy);
    for (int k = 0; k < nstages; k++) {
        cr_assert_eq(calls[k], 1, "stage %d ran %lld times", k, (long long)calls[k]);
        cr_assert_gt(sec[k], 0.0, "stage %d took no time", k);
        if (k != heavy)
            cr_assert_gt(sec[heavy], sec[k], "stage %d (%g s) took longer than the heavy one (%g s)", k,
                         sec[k], sec[heavy]);
    }
    /* outside start/stop the hooks record nothing */
    tp_run_body(j, bufs, dims);
    convrt_profile_stop(sec, calls, nstages);
    for (int k = 0; k < nstages; k++)
        cr_assert_eq(calls[k], 0);
    free(sec);
    free(calls);
    free(x);
    free(y);
    jit_free(j);
    arena_free(&t.a);
}

Test(profile_hooks, direct_calls)
{
    run_profiled(5, 2);
}

Test(profile_hooks, stage_table)
{
    run_profiled(70, 51);
}

/* The module's text, and the definitions of its stage functions. */
static char *llvm_text(TProg *t, bool profile)
{
    CgTarget target = { .cpu = "x86-64-v3", .opt_level = 2, .profile = profile };
    char *err = NULL;
    CgModule *m = cg_compile(&t->p, &target, &err);
    cr_assert_not_null(m, "cg_compile: %s", err ? err : "?");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(cg_print_llvm(m, f), 0);
    fclose(f);
    cg_free(m);
    return text;
}

static char *stage_functions(const char *text)
{
    size_t cap = strlen(text) + 1, n = 0;
    char *out = calloc(cap, 1);
    for (const char *p = strstr(text, "\ndefine internal "); p; p = strstr(p + 1, "\ndefine internal ")) {
        const char *eol = strchr(p + 1, '\n'), *name = strstr(p, "@stages__stage_");
        if (!name || name > eol)
            continue;
        const char *end = strstr(p, "\n}\n");
        cr_assert_not_null(end);
        memcpy(out + n, p, (size_t)(end - p) + 3);
        n += (size_t)(end - p) + 3;
    }
    return out;
}

Test(profile_hooks, off_by_default_and_stages_unchanged)
{
    for (int nstages = 5; nstages <= 70; nstages += 65) {
        TProg t;
        build_stages(&t, nstages, 1);
        char *plain = llvm_text(&t, false), *profiled = llvm_text(&t, true);
        cr_assert_null(strstr(plain, "convrt_profile"));
        cr_assert_not_null(strstr(profiled, "call void @convrt_profile_enter("));
        cr_assert_not_null(strstr(profiled, "call void @convrt_profile_leave("));
        char *a = stage_functions(plain), *b = stage_functions(profiled);
        cr_assert_gt(strlen(a), 0);
        cr_assert_str_eq(a, b);
        free(a);
        free(b);
        free(plain);
        free(profiled);
        arena_free(&t.a);
    }
}
