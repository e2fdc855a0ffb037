/* test_jit.c - the descriptor and entry points as the runtime sees them,
 * and the object file's symbols. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_test_util.h"
#include "convrt.h"

/* y[i] = x[i]*2 + 1, with x declared as x[N] (a size symbol). */
static void build_scale(TProg *t)
{
    tp_init(t, "scale");
    int32_t n = tp_slot_arg(t, 0, 0);
    int32_t x = tp_buf(t, "x", IR_BUF_INPUT, 1, n);
    int32_t y = tp_buf(t, "y", IR_BUF_OUTPUT, 1, n);
    static const char *names[1] = {"N"};
    t->bufs[x].dim_names = names;
    t->bufs[y].dim_names = names;
    t->p.checks = arena_alloc(&t->a, sizeof *t->p.checks);
    t->p.checks[0] = (IrCheck){IR_CHECK_POSITIVE, n, 0, "test.conv:1:1: N"};
    t->p.nchecks = 1;
    int32_t i = tp_var(t, "i");
    Arena *a = &t->a;
    IrExpr *v = ir_bin(a, IR_OP_ADD,
                       ir_bin(a, IR_OP_MUL, LOAD(t, x, ir_var(a, i)),
                              ir_float(a, 2.0f)),
                       ir_float(a, 1.0f));
    t->p.body = ir_for(a, i, ir_int(a, 0), ir_dim(a, n),
                       STORE(t, y, v, ir_var(a, i)), 0);
}

Test(jit, descriptor_fields)
{
    TProg t;
    build_scale(&t);
    Jit *j = tp_jit(&t, "x86-64-v3", 2);
    const convrt_pipeline *p = jit_pipeline(j);
    cr_assert_eq(p->abi_version, CONVRT_ABI_VERSION);
    cr_assert_str_eq(p->name, "scale");
    cr_assert_str_eq(p->target_cpu, "x86-64-v3");
    cr_assert_eq(p->cpu_features, CONVRT_CPU_SSE42 | CONVRT_CPU_AVX |
                 CONVRT_CPU_AVX2 | CONVRT_CPU_FMA | CONVRT_CPU_BMI2 |
                 CONVRT_CPU_F16C);
    cr_assert_eq(p->n_inputs, 1);
    cr_assert_eq(p->n_args, 2);
    cr_assert_str_eq(p->args[0].name, "x");
    cr_assert_eq(p->args[0].is_output, 0);
    cr_assert_eq(p->args[0].rank, 1);
    cr_assert_eq(p->args[0].dim_slots[0], 0);
    cr_assert_str_eq(p->args[0].dim_names[0], "N");
    cr_assert_str_eq(p->args[1].name, "y");
    cr_assert_eq(p->args[1].is_output, 1);
    cr_assert_eq(p->n_slots, 1);
    cr_assert_eq(p->slots[0].op, CONVRT_DIM_ARG);
    cr_assert_eq(p->n_checks, 1);
    cr_assert_eq(p->checks[0].kind, CONVRT_CHECK_POSITIVE);
    cr_assert_str_eq(p->checks[0].what, "test.conv:1:1: N");
    cr_assert_eq(p->n_buffers, 2);
    cr_assert_eq(p->buffers[1].rank, 1);
    cr_assert_not_null(p->body);
    jit_free(j);
    arena_free(&t.a);
}

Test(jit, native_cpu_is_resolved)
{
    TProg t;
    build_scale(&t);
    Jit *j = tp_jit(&t, "native", 0);
    cr_assert_str_neq(jit_pipeline(j)->target_cpu, "native");
    cr_assert(jit_pipeline(j)->cpu_features & CONVRT_CPU_SSE42);
    jit_free(j);
    arena_free(&t.a);
}

Test(jit, entry_points_through_the_runtime)
{
    TProg t;
    build_scale(&t);
    Jit *j = tp_jit(&t, "native", 3);
    int (*run)(convrt_tensor *, convrt_tensor *) =
        (int (*)(convrt_tensor *, convrt_tensor *))jit_lookup(j, "scale");
    int (*shapes)(convrt_tensor *, convrt_tensor *) =
        (int (*)(convrt_tensor *, convrt_tensor *))jit_lookup(j, "scale_output_shapes");
    cr_assert_not_null(run);
    cr_assert_not_null(shapes);
    cr_assert_null(jit_lookup(j, "scale__body"), "the body must be internal");

    convrt_tensor x = {0}, y = {0};
    int64_t n = 1003;
    cr_assert_eq(convrt_tensor_alloc(&x, 1, &n), 0);
    for (int64_t i = 0; i < n; i++)
        x.data[i] = (float)i * 0.25f;
    cr_assert_eq(shapes(&x, &y), 0);
    cr_assert_eq(y.rank, 1);
    cr_assert_eq(y.dims[0], n);
    cr_assert_eq(convrt_tensor_alloc(&y, y.rank, y.dims), 0);
    cr_assert_eq(run(&x, &y), 0);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(y.data[i], x.data[i] * 2.0f + 1.0f);

    /* a wrong output shape is the runtime's error, reported, not a crash */
    convrt_tensor bad = {0};
    int64_t m = 5;
    cr_assert_eq(convrt_tensor_alloc(&bad, 1, &m), 0);
    cr_assert_lt(run(&x, &bad), 0);
    convrt_tensor_free(&bad);
    convrt_tensor_free(&x);
    convrt_tensor_free(&y);
    jit_free(j);
    arena_free(&t.a);
}

static char *read_cmd(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    pclose(f);
    return buf;
}

/* An object file written the way convc compile writes one (consume: from
 * the module itself, which is released). */
static int write_object(CgModule *m, const char *path, bool consume, char **err)
{
    convrt_outfile *f;
    if (convrt_outfile_open(path, &f) != 0)
        return -1;
    if ((consume ? cg_emit_object_consume : cg_emit_object)(m, convrt_outfile_stream(f), err) != 0) {
        convrt_outfile_discard(f);
        return -1;
    }
    return convrt_outfile_commit(&f, 1);
}

Test(jit, object_exports_exactly_three_symbols)
{
    TProg t;
    build_scale(&t);
    CgModule *m = tp_compile(&t, "x86-64-v3", 3);
    char dir[] = "/tmp/convc_cgtest_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256], cmd[600];
    snprintf(path, sizeof path, "%s/scale.o", dir);
    char *err = NULL;
    cr_assert_eq(write_object(m, path, false, &err), 0, "%s", err);
    cr_assert_eq(access(path, R_OK), 0);
    snprintf(cmd, sizeof cmd, "nm -g --defined-only %s | awk '{print $3}' | sort",
             path);
    cr_assert_str_eq(read_cmd(cmd), "scale\nscale_output_shapes\nscale_pipeline\n");
    snprintf(cmd, sizeof cmd, "readelf -h %s | grep -c 'REL (Relocatable'", path);
    cr_assert_str_eq(read_cmd(cmd), "1\n");
    /* no text relocations: it must link into a PIE */
    snprintf(cmd, sizeof cmd, "readelf -r %s | grep -c 'R_X86_64_32 ' || true", path);
    cr_assert_str_eq(read_cmd(cmd), "0\n");
    /* written from the module itself (convc compile): the same bytes, and
     * the module is gone afterwards but its names are not */
    char path2[256];
    snprintf(path2, sizeof path2, "%s/scale2.o", dir);
    cr_assert_eq(write_object(m, path2, true, &err), 0, "%s", err);
    snprintf(cmd, sizeof cmd, "cmp %s %s && echo same", path, path2);
    cr_assert_str_eq(read_cmd(cmd), "same\n");
    cr_assert_eq(cg_print_llvm(m, stdout), -1);
    cr_assert_neq(write_object(m, path2, false, &err), 0);
    cr_assert(strstr(err, "no module"), "%s", err);
    free(err);
    cr_assert_str_eq(cg_pipeline_name(m), "scale");
    cr_assert_str_eq(cg_cpu_name(m), "x86-64-v3");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    cg_free(m);
    arena_free(&t.a);
}

Test(jit, two_pipelines_in_one_process)
{
    TProg a, b;
    build_scale(&a);
    build_scale(&b);
    b.p.name = "scale2";
    Jit *ja = tp_jit(&a, "native", 1), *jb = tp_jit(&b, "native", 1);
    cr_assert_str_eq(jit_pipeline(ja)->name, "scale");
    cr_assert_str_eq(jit_pipeline(jb)->name, "scale2");
    cr_assert_neq(jit_pipeline(ja), jit_pipeline(jb));
    jit_free(ja);
    jit_free(jb);
    arena_free(&a.a);
    arena_free(&b.a);
}

/* The object written for x86-64-v3, linked into a small program, computes
 * bit for bit what the JIT computes for the same target: same module, same
 * target machine, no extra passes in the JIT.  The program supplies its own
 * minimal convrt_pipeline_run (a direct call of the body) so only the
 * generated code is compared. */
static void build_mix(TProg *t)
{
    tp_init(t, "mix");
    int32_t n = tp_slot_arg(t, 0, 0);
    int32_t x = tp_buf(t, "x", IR_BUF_INPUT, 1, n);
    int32_t y = tp_buf(t, "y", IR_BUF_OUTPUT, 1, n);
    int32_t i = tp_var(t, "i");
    Arena *a = &t->a;
    IrExpr *v = LOAD(t, x, ir_var(a, i));
    IrExpr *e = ir_bin(a, IR_OP_ADD,
        ir_bin(a, IR_OP_MUL, ir_un(a, IR_FN_TANH, v), v),
        ir_bin(a, IR_OP_MAX, ir_un(a, IR_FN_SIGMOID, v),
               ir_bin(a, IR_OP_MUL, v, ir_float(a, 0.3f))));
    t->p.body = ir_for(a, i, ir_int(a, 0), ir_dim(a, n),
                       STORE(t, y, e, ir_var(a, i)), IR_LOOP_PARALLEL);
}

static const char driver_src[] =
    "#include <stdio.h>\n"
    "#include \"convrt_abi.h\"\n"
    "int mix(convrt_tensor *, convrt_tensor *);\n"
    "int convrt_pipeline_run(const convrt_pipeline *p, convrt_tensor *const *a)\n"
    "{ float *b[2] = {a[0]->data, a[1]->data}; int64_t d[1] = {a[0]->dims[0]};\n"
    "  p->body(b, d); return 0; }\n"
    "int convrt_pipeline_output_shapes(const convrt_pipeline *p, convrt_tensor *const *a)\n"
    "{ return 0; }\n"
    "void convrt_parallel_for(int64_t n, convrt_task_fn fn, void *ctx)\n"
    "{ fn(ctx, 0, n / 2); fn(ctx, n / 2, n); }\n"
    "static float X[1000], Y[1000];\n"
    "int main(int argc, char **argv) {\n"
    "  FILE *f = fopen(argv[1], \"rb\");\n"
    "  if (!f || fread(X, 4, 1000, f) != 1000) return 2; fclose(f);\n"
    "  convrt_tensor x = {X, 1, {1000}}, y = {Y, 1, {1000}};\n"
    "  if (mix(&x, &y)) return 3;\n"
    "  f = fopen(argv[2], \"wb\");\n"
    "  if (!f || fwrite(Y, 4, 1000, f) != 1000) return 4; fclose(f);\n"
    "  return 0; }\n";

Test(jit, object_and_jit_agree_bit_for_bit, .timeout = 120)
{
    TProg t;
    build_mix(&t);
    char dir[] = "/tmp/convc_cgtest_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[300], cmd[2000];

    CgModule *m = tp_compile(&t, "x86-64-v3", 3);
    snprintf(path, sizeof path, "%s/mix.o", dir);
    char *err = NULL;
    cr_assert_eq(write_object(m, path, true, &err), 0, "%s", err);
    cg_free(m);

    static float X[1000], Yjit[1000], Yobj[1000];
    for (int k = 0; k < 1000; k++)
        X[k] = sinf((float)k * 0.731f) * 6.0f;
    X[7] = NAN;
    snprintf(path, sizeof path, "%s/x.bin", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_eq(fwrite(X, 4, 1000, f), 1000);
    fclose(f);
    snprintf(path, sizeof path, "%s/driver.c", dir);
    f = fopen(path, "w");
    fputs(driver_src, f);
    fclose(f);

    /* the runtime headers, found from this source file's location */
    char inc[400];
    snprintf(inc, sizeof inc, "%s", __FILE__);
    char *slash = strrchr(inc, '/');
    cr_assert_not_null(slash, "__FILE__ is not a path: %s", __FILE__);
    snprintf(slash, sizeof inc - (size_t)(slash - inc), "/../../runtime/include");
    snprintf(cmd, sizeof cmd,
             "cd %s && cc -O1 -I%s driver.c mix.o -lm -o driver && "
             "./driver x.bin y.bin", dir, inc);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/y.bin", dir);
    f = fopen(path, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(Yobj, 4, 1000, f), 1000);
    fclose(f);

    Jit *j = tp_jit(&t, "x86-64-v3", 3);
    int (*run)(convrt_tensor *, convrt_tensor *) =
        (int (*)(convrt_tensor *, convrt_tensor *))jit_lookup(j, "mix");
    convrt_tensor x = {X, 1, {1000}}, y = {Yjit, 1, {1000}};
    cr_assert_eq(run(&x, &y), 0);
    cr_assert(isnan(Yjit[7]));
    cr_assert_eq(memcmp(Yjit, Yobj, sizeof Yjit), 0,
                 "JIT and object results differ");
    jit_free(j);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    arena_free(&t.a);
}
