/* test_codegen.c - the LLVM back end on hand-built loop IR: values computed
 * by the JIT-compiled body against plain C references. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cg_test_util.h"
#include "convrt.h"

/* y[i] = x[i]*2 + 1 over a symbolic length. */
static void build_scale(TProg *t)
{
    tp_init(t, "scale");
    int32_t n = tp_slot_arg(t, 0, 0);
    int32_t x = tp_buf(t, "x", IR_BUF_INPUT, 1, n);
    int32_t y = tp_buf(t, "y", IR_BUF_OUTPUT, 1, n);
    int32_t i = tp_var(t, "i");
    Arena *a = &t->a;
    IrExpr *v = ir_bin(a, IR_OP_ADD,
                       ir_bin(a, IR_OP_MUL, LOAD(t, x, ir_var(a, i)),
                              ir_float(a, 2.0f)),
                       ir_float(a, 1.0f));
    t->p.body = ir_for(a, i, ir_int(a, 0), ir_dim(a, n),
                       STORE(t, y, v, ir_var(a, i)), IR_LOOP_VECTORIZE);
}

Test(codegen, scale_symbolic_length)
{
    TProg t;
    build_scale(&t);
    for (int opt = 0; opt <= 3; opt += 3) {
        Jit *j = tp_jit(&t, "native", opt);
        for (int64_t n = 0; n < 70; n += 7) {
            float x[80], y[80];
            for (int64_t k = 0; k < 80; k++) {
                x[k] = (float)k * 0.37f - 3.0f;
                y[k] = -99.0f;
            }
            float *bufs[2] = {x, y};
            int64_t dims[1] = {n};
            tp_run_body(j, bufs, dims);
            for (int64_t k = 0; k < n; k++)
                cr_assert_eq(y[k], x[k] * 2.0f + 1.0f, "n=%ld k=%ld", (long)n,
                             (long)k);
            for (int64_t k = n; k < 80; k++)
                cr_assert_eq(y[k], -99.0f, "wrote past the end at %ld", (long)k);
        }
        jit_free(j);
    }
    arena_free(&t.a);
}

/* 1-D "same" correlation with a 3-tap kernel: the out-of-range taps are
 * skipped by an IF (use_select=false) or zeroed by a SELECT whose arm loads
 * (use_select=true): either way nothing outside x may be read. */
static void build_corr(TProg *t, bool use_select)
{
    tp_init(t, use_select ? "corr_sel" : "corr_if");
    int32_t n = tp_slot_arg(t, 0, 0);
    int32_t k3 = tp_slot_const(t, 3);
    int32_t x = tp_buf(t, "x", IR_BUF_INPUT, 1, n);
    int32_t w = tp_buf(t, "w", IR_BUF_INPUT, 1, k3);
    int32_t y = tp_buf(t, "y", IR_BUF_OUTPUT, 1, n);
    int32_t o = tp_var(t, "o"), k = tp_var(t, "k");
    t->p.nlocals = 1;
    Arena *a = &t->a;
    IrExpr *pos = ir_bin(a, IR_OP_SUB,
                         ir_bin(a, IR_OP_ADD, ir_var(a, o), ir_var(a, k)),
                         ir_int(a, 1));
    IrExpr *inb = ir_bin(a, IR_OP_AND, ir_bin(a, IR_OP_GE, pos, ir_int(a, 0)),
                         ir_bin(a, IR_OP_LT, pos, ir_dim(a, n)));
    IrExpr *tap = ir_bin(a, IR_OP_MUL, LOAD(t, x, pos), LOAD(t, w, ir_var(a, k)));
    IrStmt *acc;
    if (use_select) {
        IrExpr *sel = ir_select(a, inb, LOAD(t, x, pos), ir_float(a, 0.0f));
        acc = ir_assign(a, 0, ir_bin(a, IR_OP_ADD, ir_local(a, 0),
                                     ir_bin(a, IR_OP_MUL, sel,
                                            LOAD(t, w, ir_var(a, k)))));
    } else {
        acc = ir_if(a, inb,
                    ir_assign(a, 0, ir_bin(a, IR_OP_ADD, ir_local(a, 0), tap)),
                    NULL);
    }
    IrStmt *body = BLOCK(t,
        ir_assign(a, 0, ir_float(a, 0.0f)),
        ir_for(a, k, ir_int(a, 0), ir_dim(a, k3), acc, 0),
        STORE(t, y, ir_local(a, 0), ir_var(a, o)));
    t->p.body = ir_for(a, o, ir_int(a, 0), ir_dim(a, n), body, 0);
}

/* n floats placed right after (at_start) or right before a PROT_NONE page. */
static float *guarded(size_t n, bool at_start, void **map, size_t *maplen)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = n * sizeof(float);
    size_t span = (bytes + page - 1) / page * page;
    *maplen = span + 2 * page;
    char *m = mmap(NULL, *maplen, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    mprotect(m, page, PROT_NONE);
    mprotect(m + page + span, page, PROT_NONE);
    *map = m;
    return (float *)(at_start ? m + page : m + page + span - bytes);
}

static void check_corr(bool use_select)
{
    TProg t;
    build_corr(&t, use_select);
    Jit *j = tp_jit(&t, "native", 3);
    const int64_t n = 301;
    for (int side = 0; side < 2; side++) {
        void *map;
        size_t maplen;
        float *x = guarded((size_t)n, side == 0, &map, &maplen);
        float w[3] = {0.25f, -0.5f, 2.0f}, y[301], ref[301];
        for (int64_t i = 0; i < n; i++)
            x[i] = sinf((float)i);
        for (int64_t i = 0; i < n; i++) {
            float acc = 0.0f;
            for (int k = 0; k < 3; k++) {
                int64_t p = i + k - 1;
                if (p >= 0 && p < n)
                    acc += x[p] * w[k];
            }
            ref[i] = acc;
        }
        float *bufs[3] = {x, w, y};
        int64_t dims[2] = {n, 3};
        tp_run_body(j, bufs, dims);
        for (int64_t i = 0; i < n; i++)
            cr_assert_float_eq(y[i], ref[i], 1e-5f, "i=%ld: %g vs %g", (long)i,
                               (double)y[i], (double)ref[i]);
        munmap(map, maplen);
    }
    jit_free(j);
    arena_free(&t.a);
}

Test(codegen, correlation_padding_if) { check_corr(false); }
Test(codegen, correlation_padding_select_never_reads_outside) { check_corr(true); }

static int64_t c_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a % b < 0)) ? q - 1 : q;
}

static int64_t c_floormod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* out[c, i] = (f32) floordiv/floormod(i - 9, divisor) for a constant 3, a
 * constant 4 (the shift path) and a runtime dim (d1). */
Test(codegen, floor_division_and_modulo_of_negatives)
{
    TProg t;
    tp_init(&t, "floors");
    int32_t n = tp_slot_arg(&t, 0, 0);
    int32_t dv = tp_slot_arg(&t, 0, 1);
    int32_t six = tp_slot_const(&t, 6);
    int32_t y = tp_buf(&t, "y", IR_BUF_OUTPUT, 2, six, n);
    int32_t i = tp_var(&t, "i");
    Arena *a = &t.a;
    IrExpr *v = ir_bin(a, IR_OP_SUB, ir_var(a, i), ir_int(a, 9));
    IrExpr *divs[3] = {ir_int(a, 3), ir_int(a, 4), ir_dim(a, dv)};
    IrStmt *st[6];
    for (int d = 0; d < 3; d++) {
        st[2 * d] = STORE(&t, y, ir_un(a, IR_FN_TO_F32,
                                       ir_bin(a, IR_OP_DIV, v, divs[d])),
                          ir_int(a, 2 * d), ir_var(a, i));
        st[2 * d + 1] = STORE(&t, y, ir_un(a, IR_FN_TO_F32,
                                           ir_bin(a, IR_OP_MOD, v, divs[d])),
                              ir_int(a, 2 * d + 1), ir_var(a, i));
    }
    t.p.body = ir_for(a, i, ir_int(a, 0), ir_dim(a, n),
                      ir_block(a, st, 6), 0);
    Jit *j = tp_jit(&t, "native", 3);
    enum { N = 40 };
    float out[6 * N];
    float *bufs[1] = {out};
    int64_t dims[3] = {N, 5, 6};
    tp_run_body(j, bufs, dims);
    int64_t dvals[3] = {3, 4, 5};
    for (int d = 0; d < 3; d++)
        for (int64_t k = 0; k < N; k++) {
            cr_assert_eq(out[(2 * d) * N + k], (float)c_floordiv(k - 9, dvals[d]),
                         "%ld div %ld", (long)(k - 9), (long)dvals[d]);
            cr_assert_eq(out[(2 * d + 1) * N + k],
                         (float)c_floormod(k - 9, dvals[d]),
                         "%ld mod %ld", (long)(k - 9), (long)dvals[d]);
        }
    jit_free(j);
    arena_free(&t.a);
}

/* min/max propagate NaN from either side (vectorised and scalar paths);
 * isnan and ordered compares agree with C. */
Test(codegen, min_max_propagate_nan)
{
    TProg t;
    tp_init(&t, "minmax");
    int32_t n = tp_slot_arg(&t, 0, 0);
    int32_t four = tp_slot_const(&t, 4);
    int32_t xa = tp_buf(&t, "a", IR_BUF_INPUT, 1, n);
    int32_t xb = tp_buf(&t, "b", IR_BUF_INPUT, 1, n);
    int32_t y = tp_buf(&t, "y", IR_BUF_OUTPUT, 2, four, n);
    int32_t i = tp_var(&t, "i");
    Arena *a = &t.a;
    IrExpr *va = LOAD(&t, xa, ir_var(a, i)), *vb = LOAD(&t, xb, ir_var(a, i));
    t.p.body = ir_for(a, i, ir_int(a, 0), ir_dim(a, n), BLOCK(&t,
        STORE(&t, y, ir_bin(a, IR_OP_MIN, va, vb), ir_int(a, 0), ir_var(a, i)),
        STORE(&t, y, ir_bin(a, IR_OP_MAX, va, vb), ir_int(a, 1), ir_var(a, i)),
        STORE(&t, y, ir_select(a, ir_un(a, IR_FN_ISNAN, va), ir_float(a, 1.0f),
                               ir_float(a, 0.0f)), ir_int(a, 2), ir_var(a, i)),
        STORE(&t, y, ir_select(a, ir_bin(a, IR_OP_LT, va, vb), ir_float(a, 1.0f),
                               ir_float(a, 0.0f)), ir_int(a, 3), ir_var(a, i))),
        0);
    Jit *j = tp_jit(&t, "native", 3);
    enum { N = 37 };
    float A[N], B[N], Y[4 * N];
    for (int k = 0; k < N; k++) {
        A[k] = (float)(k % 7) - 3.0f;
        B[k] = (float)(k % 5) - 2.0f;
        if (k % 3 == 0) A[k] = NAN;
        if (k % 4 == 1) B[k] = NAN;
    }
    float *bufs[3] = {A, B, Y};
    int64_t dims[2] = {N, 4};
    tp_run_body(j, bufs, dims);
    for (int k = 0; k < N; k++) {
        bool nan = isnan(A[k]) || isnan(B[k]);
        if (nan) {
            cr_assert(isnan(Y[k]), "min at %d: %g", k, (double)Y[k]);
            cr_assert(isnan(Y[N + k]), "max at %d: %g", k, (double)Y[N + k]);
        } else {
            cr_assert_eq(Y[k], fminf(A[k], B[k]));
            cr_assert_eq(Y[N + k], fmaxf(A[k], B[k]));
        }
        cr_assert_eq(Y[2 * N + k], isnan(A[k]) ? 1.0f : 0.0f);
        cr_assert_eq(Y[3 * N + k], A[k] < B[k] ? 1.0f : 0.0f, "lt at %d", k);
    }
    jit_free(j);
    arena_free(&t.a);
}

/* Elementwise functions against libm. */
Test(codegen, unary_functions)
{
    TProg t;
    tp_init(&t, "unary");
    int32_t n = tp_slot_arg(&t, 0, 0);
    int32_t six = tp_slot_const(&t, 6);
    int32_t x = tp_buf(&t, "x", IR_BUF_INPUT, 1, n);
    int32_t y = tp_buf(&t, "y", IR_BUF_OUTPUT, 2, six, n);
    int32_t i = tp_var(&t, "i");
    Arena *a = &t.a;
    IrFn fns[6] = {IR_FN_NEG, IR_FN_ABS, IR_FN_SQRT, IR_FN_EXP, IR_FN_TANH,
                   IR_FN_SIGMOID};
    IrStmt *st[6];
    for (int f = 0; f < 6; f++)
        st[f] = STORE(&t, y, ir_un(a, fns[f], LOAD(&t, x, ir_var(a, i))),
                      ir_int(a, f), ir_var(a, i));
    t.p.body = ir_for(a, i, ir_int(a, 0), ir_dim(a, n), ir_block(a, st, 6), 0);
    Jit *j = tp_jit(&t, "native", 3);
    enum { N = 29 };
    float X[N], Y[6 * N];
    for (int k = 0; k < N; k++)
        X[k] = (float)k * 0.5f - 7.0f;
    float *bufs[2] = {X, Y};
    int64_t dims[2] = {N, 6};
    tp_run_body(j, bufs, dims);
    for (int k = 0; k < N; k++) {
        float v = X[k];
        cr_assert_eq(Y[k], -v);
        cr_assert_eq(Y[N + k], fabsf(v));
        if (v >= 0)
            cr_assert_float_eq(Y[2 * N + k], sqrtf(v), 1e-6f);
        else
            cr_assert(isnan(Y[2 * N + k]));
        cr_assert_float_eq(Y[3 * N + k], expf(v), 1e-6f * expf(v) + 1e-7f);
        cr_assert_float_eq(Y[4 * N + k], tanhf(v), 1e-6f);
        cr_assert_float_eq(Y[5 * N + k], 1.0f / (1.0f + expf(-v)), 1e-6f);
    }
    jit_free(j);
    arena_free(&t.a);
}

/* for b (serial) { for r (parallel) { for c (parallel, nested) { t0 = sum_k x[b,r,c+k]*(k+1);
 * y[b,r,c] = t0 } } }: the parallel body reads the enclosing b and uses a
 * local of its own. */
Test(codegen, parallel_rows_match_serial_reference)
{
    TProg t;
    tp_init(&t, "rows");
    int32_t B = tp_slot_arg(&t, 0, 0), H = tp_slot_arg(&t, 0, 1);
    int32_t W = tp_slot_arg(&t, 0, 2), two = tp_slot_const(&t, 2);
    int32_t OW = tp_slot_op(&t, IR_SLOT_SUB, W, two);
    int32_t x = tp_buf(&t, "x", IR_BUF_INPUT, 3, B, H, W);
    int32_t y = tp_buf(&t, "y", IR_BUF_OUTPUT, 3, B, H, OW);
    int32_t vb = tp_var(&t, "b"), vr = tp_var(&t, "r"), vc = tp_var(&t, "c"),
            vk = tp_var(&t, "k");
    t.p.nlocals = 1;
    Arena *a = &t.a;
    IrExpr *tap = ir_bin(a, IR_OP_MUL,
        LOAD(&t, x, ir_var(a, vb), ir_var(a, vr),
             ir_bin(a, IR_OP_ADD, ir_var(a, vc), ir_var(a, vk))),
        ir_un(a, IR_FN_TO_F32, ir_bin(a, IR_OP_ADD, ir_var(a, vk), ir_int(a, 1))));
    IrStmt *cbody = BLOCK(&t,
        ir_assign(a, 0, ir_float(a, 0.0f)),
        ir_for(a, vk, ir_int(a, 0), ir_int(a, 3),
               ir_assign(a, 0, ir_bin(a, IR_OP_ADD, ir_local(a, 0), tap)), 0),
        STORE(&t, y, ir_local(a, 0), ir_var(a, vb), ir_var(a, vr), ir_var(a, vc)));
    IrStmt *rloop = ir_for(a, vr, ir_int(a, 0), ir_dim(a, H),
        ir_for(a, vc, ir_int(a, 0), ir_dim(a, OW), cbody,
               IR_LOOP_VECTORIZE | IR_LOOP_PARALLEL),   /* nested: serial */
        IR_LOOP_PARALLEL);
    t.p.body = ir_for(a, vb, ir_int(a, 0), ir_dim(a, B), rloop, 0);

    CgModule *m = tp_compile(&t, "native", 3);
    char *ir = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&ir, &len);
    cg_print_llvm(m, mem);
    fclose(mem);
    cr_assert(strstr(ir, "@rows__par_0"), "no outlined parallel body");
    cr_assert(strstr(ir, "@convrt_parallel_for"));
    cr_assert_null(strstr(ir, "@rows__par_1"), "nested parallel loop outlined");
    free(ir);
    char *err = NULL;
    Jit *j = jit_create(m, &err);
    cr_assert_not_null(j, "%s", err);

    convrt_set_num_threads(4);
    enum { NB = 2, NH = 37, NW = 23 };
    static float X[NB * NH * NW], Y[NB * NH * (NW - 2)];
    for (int k = 0; k < NB * NH * NW; k++)
        X[k] = cosf((float)k * 0.1f);
    float *bufs[2] = {X, Y};
    int64_t dims[5] = {NB, NH, NW, 2, NW - 2};
    tp_run_body(j, bufs, dims);
    for (int b = 0; b < NB; b++)
        for (int r = 0; r < NH; r++)
            for (int c = 0; c < NW - 2; c++) {
                float acc = 0.0f;
                for (int k = 0; k < 3; k++)
                    acc += X[(b * NH + r) * NW + c + k] * (float)(k + 1);
                cr_assert_float_eq(Y[(b * NH + r) * (NW - 2) + c], acc, 1e-5f,
                                   "b=%d r=%d c=%d", b, r, c);
            }
    jit_free(j);
    arena_free(&t.a);
}

/* A CONST buffer as a 3-tap smoothing kernel, valid correlation. */
Test(codegen, const_buffer)
{
    TProg t;
    tp_init(&t, "smooth");
    int32_t n = tp_slot_arg(&t, 0, 0), k3 = tp_slot_const(&t, 3);
    int32_t two = tp_slot_const(&t, 2);
    int32_t on = tp_slot_op(&t, IR_SLOT_SUB, n, two);
    int32_t x = tp_buf(&t, "x", IR_BUF_INPUT, 1, n);
    int32_t y = tp_buf(&t, "y", IR_BUF_OUTPUT, 1, on);
    int32_t w = tp_buf(&t, "w", IR_BUF_CONST, 1, k3);
    static const float wdata[3] = {0.25f, 0.5f, 0.25f};
    t.bufs[w].data = wdata;
    t.bufs[w].count = 3;
    int32_t i = tp_var(&t, "i"), k = tp_var(&t, "k");
    t.p.nlocals = 1;
    Arena *a = &t.a;
    t.p.body = ir_for(a, i, ir_int(a, 0), ir_dim(a, on), BLOCK(&t,
        ir_assign(a, 0, ir_float(a, 0.0f)),
        ir_for(a, k, ir_int(a, 0), ir_dim(a, k3),
               ir_assign(a, 0, ir_bin(a, IR_OP_ADD, ir_local(a, 0),
                   ir_bin(a, IR_OP_MUL, LOAD(&t, w, ir_var(a, k)),
                          LOAD(&t, x, ir_bin(a, IR_OP_ADD, ir_var(a, i),
                                             ir_var(a, k)))))), 0),
        STORE(&t, y, ir_local(a, 0), ir_var(a, i))), 0);
    Jit *j = tp_jit(&t, "native", 3);
    enum { N = 50 };
    float X[N], Y[N - 2];
    for (int q = 0; q < N; q++)
        X[q] = (float)(q * q % 11);
    float *bufs[2] = {X, Y};
    int64_t dims[4] = {N, 3, 2, N - 2};
    tp_run_body(j, bufs, dims);
    for (int q = 0; q < N - 2; q++)
        cr_assert_float_eq(Y[q], 0.25f * X[q] + 0.5f * X[q + 1] + 0.25f * X[q + 2],
                           1e-5f, "q=%d", q);
    jit_free(j);
    arena_free(&t.a);
}

Test(codegen, unknown_cpu_is_an_error)
{
    TProg t;
    build_scale(&t);
    CgTarget target = {.cpu = "pentium-9000", .opt_level = 3};
    char *err = NULL;
    cr_assert_null(cg_compile(&t.p, &target, &err));
    cr_assert_not_null(err);
    cr_assert(strstr(err, "unknown CPU 'pentium-9000'"), "%s", err);
    cr_assert(strstr(err, "x86-64-v3"), "%s", err);
    free(err);
    arena_free(&t.a);
}

Test(codegen, bad_ir_is_reported_not_crashed)
{
    TProg t;
    build_scale(&t);
    t.p.body->loop.body->store.buf = 7;     /* no such buffer */
    CgTarget target = {.cpu = "x86-64-v3", .opt_level = 0};
    char *err = NULL;
    cr_assert_null(cg_compile(&t.p, &target, &err));
    cr_assert(strstr(err, "buffer 7"), "%s", err);
    free(err);
    arena_free(&t.a);
}

Test(codegen, llvm_and_asm_text)
{
    TProg t;
    build_scale(&t);
    CgModule *m = tp_compile(&t, "x86-64-v3", 3);
    char *txt = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&txt, &len);
    cr_assert_eq(cg_print_llvm(m, mem), 0);
    fclose(mem);
    cr_assert(strstr(txt, "define i32 @scale("), "%s", txt);
    cr_assert(strstr(txt, "define i32 @scale_output_shapes("));
    cr_assert(strstr(txt, "@scale_pipeline = constant"));
    cr_assert(strstr(txt, "define internal void @scale__body("));
    cr_assert(strstr(txt, "\"target-cpu\"=\"x86-64-v3\""));
    cr_assert(strstr(txt, "<8 x float>"), "loop not vectorised for AVX2");
    free(txt);
    txt = NULL;
    mem = open_memstream(&txt, &len);
    cr_assert_eq(cg_print_asm(m, mem), 0);
    fclose(mem);
    cr_assert(strstr(txt, "ymm"), "no AVX registers in the assembly");
    cr_assert(strstr(txt, "scale_pipeline"));
    free(txt);
    cr_assert_eq(cg_cpu_features(m),
                 CONVRT_CPU_SSE42 | CONVRT_CPU_AVX | CONVRT_CPU_AVX2 |
                 CONVRT_CPU_FMA | CONVRT_CPU_BMI2 | CONVRT_CPU_F16C);
    cg_free(m);
    arena_free(&t.a);
}
