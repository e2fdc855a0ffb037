/* test_share.c - stages that differ only in their buffers and slots share
 * one generated function (stage_share.h, codegen.c), and still compute
 * their own numbers: called directly from the body for a few stages, and
 * through the stage table for many. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cg_test_util.h"
#include "convrt.h"
#include "stage_share.h"

/* ---- a program with room for many stages -------------------------------- */

typedef struct Big {
    Arena      a;
    IrProgram  p;
    IrSlot     slots[8];
    IrBuffer  *bufs;
    IrVarInfo  vars[256];
    IrType     ltypes[256];
    IrStmt   **stages;
    int32_t    nstages;
} Big;

static void big_init(Big *t, const char *name, int32_t maxbufs, int32_t maxstages)
{
    memset(t, 0, sizeof *t);
    arena_init(&t->a);
    t->bufs = arena_array(&t->a, (size_t)maxbufs, sizeof *t->bufs);
    t->stages = arena_array(&t->a, (size_t)maxstages, sizeof *t->stages);
    t->p.name = name;
    t->p.source_name = "test.conv";
    t->p.slots = t->slots;
    t->p.buffers = t->bufs;
    t->p.vars = t->vars;
    t->p.local_types = t->ltypes;
}

static int32_t big_slot(Big *t, IrSlot s)
{
    t->slots[t->p.nslots] = s;
    return t->p.nslots++;
}

static int32_t big_buf(Big *t, const char *name, IrBufferKind kind, int32_t abi,
                       int32_t slot)
{
    int32_t *ds = arena_array(&t->a, 1, sizeof *ds);
    ds[0] = slot;
    int32_t i = t->p.nbuffers++;
    t->bufs[i] = (IrBuffer){.name = name, .kind = kind, .rank = 1, .dim_slots = ds,
                            .abi_index = abi};
    if (kind == IR_BUF_INPUT)
        t->p.ninputs++;
    if (kind == IR_BUF_OUTPUT)
        t->p.noutputs++;
    return i;
}

static int32_t big_var(Big *t, const char *name)
{
    t->vars[t->p.nvars].name = name;
    return t->p.nvars++;
}

static int32_t big_local(Big *t)
{
    t->ltypes[t->p.nlocals] = IR_TYPE_F32;
    return t->p.nlocals++;
}

static void big_finish(Big *t)
{
    t->p.body = ir_block(&t->a, t->stages, t->nstages);
}

static CgModule *big_compile(Big *t, const char *cpu, int opt)
{
    CgTarget target = {.cpu = cpu, .opt_level = opt};
    char *err = NULL;
    CgModule *m = cg_compile(&t->p, &target, &err);
    cr_assert_not_null(m, "cg_compile: %s", err ? err : "?");
    return m;
}

static char *llvm_text(CgModule *m)
{
    char *txt = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&txt, &len);
    cr_assert_eq(cg_print_llvm(m, mem), 0);
    fclose(mem);
    return txt;
}

/* The functions whose names start with prefix that the module defines. */
static int count_defined(const char *txt, const char *prefix)
{
    int n = 0;
    for (const char *line = txt; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *end = strchr(line, '\n');
        const char *at = strstr(line, prefix);
        if (!strncmp(line, "define ", 7) && at && (!end || at < end))
            n++;
    }
    return n;
}

/* ---- a chain of stages over buffers of length n -------------------------
 * x -> s1 -> s2 -> ... -> y: stage k computes, for i < bound(k),
 *     tile[0] = src[i] * c[0];  dst[i] = tile[0] + acc;  acc = c[1]
 * where c is one of three constant buffers (k % 3), bound(k) is one of two
 * slots (k % 2) equal to the buffers' length, tile is a LOCAL buffer of one element
 * private to each stage, and acc a local of each stage, and the loop is
 * parallel.  The stages differ in buffers, constants, slots, loop
 * variables and locals, so the middle ones all share one function.  The
 * arithmetic is exact (c[0] = -1, c[1] a small integer). */

static const float cdata[3][2] = {{-1.0f, 1.0f}, {-1.0f, 2.0f}, {-1.0f, -3.0f}};

static void build_chain(Big *t, const char *name, int32_t n)
{
    big_init(t, name, 2 * n + 8, n);
    int32_t d0 = big_slot(t, (IrSlot){.op = IR_SLOT_ARG, .a = 0, .b = 0});
    int32_t d1 = big_slot(t, (IrSlot){.op = IR_SLOT_MAX, .a = d0, .b = d0});
    int32_t d2 = big_slot(t, (IrSlot){.op = IR_SLOT_MIN, .a = d0, .b = d0});
    int32_t one = big_slot(t, (IrSlot){.op = IR_SLOT_CONST, .a = 1, .const_value = 1,
                                       .is_const = true});
    int32_t two = big_slot(t, (IrSlot){.op = IR_SLOT_CONST, .a = 2, .const_value = 2,
                                       .is_const = true});
    int32_t x = big_buf(t, "x", IR_BUF_INPUT, 0, d0);
    int32_t y = big_buf(t, "y", IR_BUF_OUTPUT, 1, d0);
    int32_t c[3];
    for (int j = 0; j < 3; j++) {
        c[j] = big_buf(t, "c", IR_BUF_CONST, -1, two);
        t->bufs[c[j]].data = cdata[j];
        t->bufs[c[j]].count = 2;
    }
    Arena *a = &t->a;
    int32_t src = x;
    for (int32_t k = 0; k < n; k++) {
        int32_t dst = k == n - 1 ? y
            : big_buf(t, "s", IR_BUF_SCRATCH, 2 + k, d0);
        int32_t tile = big_buf(t, "tile", IR_BUF_LOCAL, -1, one);
        int32_t i = big_var(t, "i"), acc = big_local(t);
        int32_t cb = c[k % 3];
        IrExpr *zero = ir_int(a, 0), *onei = ir_int(a, 1);
        IrStmt *body = ir_block(a, (IrStmt *const[]){
            ir_store(a, tile, 1, &zero, ir_bin(a, IR_OP_MUL,
                ir_load(a, src, 1, (IrExpr *const[]){ir_var(a, i)}),
                ir_load(a, cb, 1, &zero))),
            ir_assign(a, acc, ir_load(a, cb, 1, &onei)),
            ir_store(a, dst, 1, (IrExpr *const[]){ir_var(a, i)},
                     ir_bin(a, IR_OP_ADD, ir_load(a, tile, 1, &zero), ir_local(a, acc))),
        }, 3);
        t->stages[t->nstages++] = ir_for(a, i, ir_int(a, 0), ir_dim(a, k % 2 ? d2 : d1),
                                         body, IR_LOOP_PARALLEL);
        src = dst;
    }
    big_finish(t);
}

/* What the chain computes, in float as the generated code does. */
static void chain_reference(int32_t nstages, const float *x, float *y, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        float v = x[i];
        for (int32_t k = 0; k < nstages; k++)
            v = v * cdata[k % 3][0] + cdata[k % 3][1];
        y[i] = v;
    }
}

static void run_chain(int32_t nstages, int opt, const char *cpu)
{
    Big t;
    build_chain(&t, nstages > 64 ? "longchain" : "chain", nstages);
    const char *name = t.p.name;

    StageShare *sh = stage_share(&t.p);
    cr_assert_eq(sh->nstages, nstages);
    cr_assert_eq(sh->ngroups, 3, "first, middle and last stage: %d groups", sh->ngroups);
    cr_assert_eq(sh->members[1], nstages - 2);
    stage_share_free(sh);

    CgModule *m = big_compile(&t, cpu, opt);
    char *txt = llvm_text(m);
    char pat[128];
    snprintf(pat, sizeof pat, "@%s__stage_", name);
    cr_assert_eq(count_defined(txt, pat), 3, "%s", txt);
    snprintf(pat, sizeof pat, "@%s.stages = private", name);
    if (nstages > 64) {
        cr_assert(strstr(txt, pat), "no stage table");
        snprintf(pat, sizeof pat, "@%s.stage_consts = private", name);
        cr_assert(strstr(txt, pat), "constants not passed through the table");
        snprintf(pat, sizeof pat, "call void @%s__stage_", name);
        cr_assert_null(strstr(txt, pat), "direct stage calls with a table");
    } else {
        cr_assert_null(strstr(txt, pat), "a table for %d stages", nstages);
    }
    free(txt);

    char *err = NULL;
    Jit *j = jit_create(m, &err);
    cr_assert_not_null(j, "%s", err);
    convrt_set_num_threads(4);
    enum { LEN = 333 };
    int32_t nbuf = nstages + 1;     /* x, y and nstages - 1 scratch buffers */
    float **bufs = calloc((size_t)nbuf, sizeof *bufs);
    for (int32_t b = 0; b < nbuf; b++) {
        bufs[b] = calloc(LEN, sizeof **bufs);
        for (int q = 0; q < LEN; q++)
            bufs[b][q] = -777.0f;
    }
    for (int q = 0; q < LEN; q++)
        bufs[0][q] = (float)(q % 17) - 8.0f;
    float want[LEN];
    chain_reference(nstages, bufs[0], want, LEN);
    int64_t dims[5] = {LEN, LEN, LEN, 1, 2};
    tp_run_body(j, bufs, dims);
    for (int q = 0; q < LEN; q++)
        cr_assert_eq(bufs[1][q], want[q], "y[%d] = %g, want %g (%d stages, O%d)", q,
                     (double)bufs[1][q], (double)want[q], nstages, opt);
    /* every scratch buffer holds its own stage's result */
    for (int32_t k = 0; k + 1 < nstages; k++) {
        float w[LEN];
        chain_reference(k + 1, bufs[0], w, LEN);
        cr_assert_eq(bufs[2 + k][0], w[0], "stage %d", k);
        cr_assert_eq(bufs[2 + k][LEN - 1], w[LEN - 1], "stage %d", k);
    }
    for (int32_t b = 0; b < nbuf; b++)
        free(bufs[b]);
    free(bufs);
    jit_free(j);
    arena_free(&t.a);
}

Test(share, few_stages_call_one_shared_function)
{
    run_chain(5, 0, "x86-64-v3");
    run_chain(5, 3, "native");
}

Test(share, many_stages_walk_the_stage_table)
{
    run_chain(100, 0, "x86-64-v3");
    run_chain(100, 3, "native");
}

/* ---- what makes two stages the same -------------------------------------- */

/* y_k[i] = x[i] * lit (+ x[i] if add) for i < bound: one stage per call. */
static IrStmt *scale_stage(Big *t, int32_t x, int32_t y, int32_t bound, float lit, bool add,
                           int32_t var)
{
    Arena *a = &t->a;
    IrExpr *xi = ir_load(a, x, 1, (IrExpr *const[]){ir_var(a, var)});
    IrExpr *v = ir_bin(a, IR_OP_MUL, xi, ir_float(a, lit));
    if (add)
        v = ir_bin(a, IR_OP_ADD, v, xi);
    return ir_for(a, var, ir_int(a, 0), ir_dim(a, bound),
                  ir_store(a, y, 1, (IrExpr *const[]){ir_var(a, var)}, v), 0);
}

Test(share, groups_follow_structure_not_ids)
{
    Big t;
    big_init(&t, "groups", 16, 16);
    int32_t n = big_slot(&t, (IrSlot){.op = IR_SLOT_ARG, .a = 0, .b = 0});
    int32_t m = big_slot(&t, (IrSlot){.op = IR_SLOT_ARG, .a = 1, .b = 0});
    int32_t c4 = big_slot(&t, (IrSlot){.op = IR_SLOT_CONST, .a = 4, .const_value = 4,
                                       .is_const = true});
    int32_t c5 = big_slot(&t, (IrSlot){.op = IR_SLOT_CONST, .a = 5, .const_value = 5,
                                       .is_const = true});
    int32_t x = big_buf(&t, "x", IR_BUF_INPUT, 0, n);
    int32_t x2 = big_buf(&t, "x2", IR_BUF_INPUT, 1, m);
    int32_t y[8];
    for (int k = 0; k < 8; k++)     /* y1 and y7 as long as x2 */
        y[k] = big_buf(&t, "y", IR_BUF_OUTPUT, 2 + k, k == 1 || k == 7 ? m : n);
    int32_t i = big_var(&t, "i"), j = big_var(&t, "j");
    IrStmt **s = t.stages;
    s[0] = scale_stage(&t, x, y[0], n, 2.0f, false, i);
    s[1] = scale_stage(&t, x2, y[1], m, 2.0f, false, j);   /* other buffers, slot, var: same */
    s[2] = scale_stage(&t, x, y[2], n, 3.0f, false, i);    /* another literal */
    s[3] = scale_stage(&t, x, y[3], n, -0.0f, false, i);
    s[4] = scale_stage(&t, x, y[4], n, 0.0f, false, i);    /* 0.0 is not -0.0 */
    s[5] = scale_stage(&t, x, y[5], c4, 2.0f, false, i);   /* a constant bound: its value */
    s[6] = scale_stage(&t, x, y[6], c5, 2.0f, false, j);
    s[7] = scale_stage(&t, x2, y[7], c4, 2.0f, false, j);  /* = stage 5 */
    t.nstages = 8;
    big_finish(&t);
    StageShare *sh = stage_share(&t.p);
    int32_t want[8] = {0, 0, 1, 2, 3, 4, 5, 4};
    for (int k = 0; k < 8; k++)
        cr_assert_eq(sh->group[k], want[k], "stage %d: group %d, want %d", k, sh->group[k],
                     want[k]);
    cr_assert_eq(sh->ngroups, 6);
    cr_assert_eq(sh->first[4], 5);
    cr_assert_eq(sh->members[0], 2);
    /* stage 1's buffers and slots, in the order of the shared function
     * (first appearance: the store's buffer comes before its value's) */
    cr_assert_eq(sh->buf_at[2] - sh->buf_at[1], 2);
    cr_assert_eq(sh->bufs[sh->buf_at[1]], y[1]);
    cr_assert_eq(sh->bufs[sh->buf_at[1] + 1], x2);
    cr_assert_eq(sh->slot_at[2] - sh->slot_at[1], 1);
    cr_assert_eq(sh->slots[sh->slot_at[1]], m);
    /* constant slots are not passed */
    cr_assert_eq(sh->slot_at[6] - sh->slot_at[5], 1, "only y's dim");
    stage_share_free(sh);
    arena_free(&t.a);
}

/* Two identical stages writing two outputs: one function, and each output
 * gets its numbers. */
Test(share, identical_stages_one_function)
{
    Big t;
    big_init(&t, "twin", 8, 8);
    int32_t n = big_slot(&t, (IrSlot){.op = IR_SLOT_ARG, .a = 0, .b = 0});
    int32_t x = big_buf(&t, "x", IR_BUF_INPUT, 0, n);
    int32_t a = big_buf(&t, "a", IR_BUF_OUTPUT, 1, n);
    int32_t b = big_buf(&t, "b", IR_BUF_OUTPUT, 2, n);
    int32_t i = big_var(&t, "i");
    t.stages[0] = scale_stage(&t, x, a, n, 2.0f, true, i);
    t.stages[1] = scale_stage(&t, x, b, n, 2.0f, true, i);
    t.nstages = 2;
    big_finish(&t);
    for (int opt = 0; opt <= 3; opt += 3) {
        CgModule *m = big_compile(&t, "native", opt);
        char *txt = llvm_text(m);
        cr_assert_eq(count_defined(txt, "@twin__stage_"), 1, "%s", txt);
        cr_assert(strstr(txt, "@twin__stage_0("), "%s", txt);
        free(txt);
        char *err = NULL;
        Jit *j = jit_create(m, &err);
        cr_assert_not_null(j, "%s", err);
        float X[40], A[40], B[40];
        for (int q = 0; q < 40; q++) {
            X[q] = (float)q - 7.0f;
            A[q] = B[q] = -1.0f;
        }
        float *bufs[3] = {X, A, B};
        int64_t dims[1] = {40};
        tp_run_body(j, bufs, dims);
        for (int q = 0; q < 40; q++) {
            cr_assert_eq(A[q], X[q] * 3.0f, "a[%d]", q);
            cr_assert_eq(B[q], X[q] * 3.0f, "b[%d]", q);
        }
        jit_free(j);
    }
    arena_free(&t.a);
}

/* ---- AGAIN stages --------------------------------------------------------- */

/* A stage written as "stage 0 again" on other buffers and slots joins stage
 * 0's group, passes its own buffers and computes its own numbers. */
Test(share, again_joins_the_group_of_the_stage_it_names)
{
    Big t;
    big_init(&t, "again", 8, 8);
    int32_t n = big_slot(&t, (IrSlot){.op = IR_SLOT_ARG, .a = 0, .b = 0});
    int32_t m = big_slot(&t, (IrSlot){.op = IR_SLOT_ARG, .a = 1, .b = 0});
    int32_t x = big_buf(&t, "x", IR_BUF_INPUT, 0, n);
    int32_t x2 = big_buf(&t, "x2", IR_BUF_INPUT, 1, m);
    int32_t a = big_buf(&t, "a", IR_BUF_OUTPUT, 2, n);
    int32_t b = big_buf(&t, "b", IR_BUF_OUTPUT, 3, m);
    int32_t i = big_var(&t, "i");
    t.stages[0] = scale_stage(&t, x, a, n, 2.0f, true, i);
    /* stage 0's buffers in order of first appearance: a (the store), x */
    t.stages[1] = ir_again(&t.a, 0, (const int32_t[]){b, x2}, 2, (const int32_t[]){m}, 1);
    t.nstages = 2;
    big_finish(&t);
    StageShare *sh = stage_share(&t.p);
    cr_assert_eq(sh->ngroups, 1);
    cr_assert_eq(sh->group[1], 0);
    cr_assert_eq(sh->members[0], 2);
    cr_assert_eq(sh->bufs[sh->buf_at[1]], b);
    cr_assert_eq(sh->bufs[sh->buf_at[1] + 1], x2);
    cr_assert_eq(sh->slots[sh->slot_at[1]], m);
    stage_share_free(sh);

    CgModule *mod = big_compile(&t, "native", 0);
    char *err = NULL;
    Jit *j = jit_create(mod, &err);
    cr_assert_not_null(j, "%s", err);
    float X[40], X2[25], A[40], B[25];
    for (int q = 0; q < 40; q++) {
        X[q] = (float)q - 7.0f;
        A[q] = -1.0f;
    }
    for (int q = 0; q < 25; q++) {
        X2[q] = 0.5f * (float)q + 1.0f;
        B[q] = -1.0f;
    }
    float *bufs[4] = {X, X2, A, B};
    int64_t dims[2] = {40, 25};
    tp_run_body(j, bufs, dims);
    for (int q = 0; q < 40; q++)
        cr_assert_eq(A[q], X[q] * 3.0f, "a[%d]", q);
    for (int q = 0; q < 25; q++)
        cr_assert_eq(B[q], X2[q] * 3.0f, "b[%d]", q);
    jit_free(j);
    arena_free(&t.a);
}

/* An AGAIN that names itself, a later stage, another AGAIN, or the wrong
 * number or kinds of buffers is an error of the code generator, not a
 * crash or a wrong call. */
Test(share, malformed_again_is_reported)
{
    for (int c = 0; c < 5; c++) {
        Big t;
        big_init(&t, "bad", 8, 8);
        int32_t n = big_slot(&t, (IrSlot){.op = IR_SLOT_ARG, .a = 0, .b = 0});
        int32_t x = big_buf(&t, "x", IR_BUF_INPUT, 0, n);
        int32_t a = big_buf(&t, "a", IR_BUF_OUTPUT, 1, n);
        int32_t b = big_buf(&t, "b", IR_BUF_OUTPUT, 2, n);
        int32_t i = big_var(&t, "i");
        t.stages[0] = scale_stage(&t, x, a, n, 2.0f, false, i);
        int32_t refs[5] = {1, 2, 0, 0, 0};
        const int32_t right[2] = {b, x}, swapped[2] = {x, b};
        t.stages[1] = ir_again(&t.a, refs[c], c == 4 ? swapped : right, c == 3 ? 1 : 2,
                               (const int32_t[]){n}, 1);
        t.stages[2] = ir_again(&t.a, c == 2 ? 1 : 0, right, 2, (const int32_t[]){n}, 1);
        t.nstages = 3;
        big_finish(&t);
        CgTarget target = {.cpu = "x86-64-v3", .opt_level = 0};
        char *err = NULL;
        CgModule *m = cg_compile(&t.p, &target, &err);
        cr_assert_null(m, "case %d compiled", c);
        cr_assert(err && strstr(err, "repeats stage"), "case %d: %s", c, err ? err : "(none)");
        free(err);
        arena_free(&t.a);
    }
}
