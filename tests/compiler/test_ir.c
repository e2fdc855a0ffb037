/* test_ir.c - the IR constructors' folding and the --dump=ir text. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static Arena A;
static void setup(void) { arena_init(&A); }
static void teardown(void) { arena_free(&A); }
TestSuite(ir, .init = setup, .fini = teardown);

static bool is_int(const IrExpr *e, int64_t v)
{
    return e->kind == IR_EXPR_INT && e->type == IR_TYPE_I64 && e->ival == v;
}

Test(ir, folds_integer_constants)
{
    cr_assert(is_int(ir_bin(&A, IR_OP_ADD, ir_int(&A, 2), ir_int(&A, 3)), 5));
    cr_assert(is_int(ir_bin(&A, IR_OP_SUB, ir_int(&A, 2), ir_int(&A, 3)), -1));
    cr_assert(is_int(ir_bin(&A, IR_OP_MUL, ir_int(&A, -4), ir_int(&A, 3)), -12));
    cr_assert(is_int(ir_bin(&A, IR_OP_DIV, ir_int(&A, -7), ir_int(&A, 2)), -4));
    cr_assert(is_int(ir_bin(&A, IR_OP_MOD, ir_int(&A, -7), ir_int(&A, 2)), 1));
    cr_assert(is_int(ir_bin(&A, IR_OP_MIN, ir_int(&A, -7), ir_int(&A, 2)), -7));
    cr_assert(is_int(ir_bin(&A, IR_OP_MAX, ir_int(&A, -7), ir_int(&A, 2)), 2));
}

Test(ir, does_not_fold_what_is_not_certain)
{
    IrExpr *e = ir_bin(&A, IR_OP_ADD, ir_int(&A, INT64_MAX), ir_int(&A, 1));
    cr_assert_eq(e->kind, IR_EXPR_BINARY, "overflow must not be folded");
    e = ir_bin(&A, IR_OP_DIV, ir_int(&A, 7), ir_int(&A, 0));
    cr_assert_eq(e->kind, IR_EXPR_BINARY);
    e = ir_bin(&A, IR_OP_LT, ir_int(&A, 1), ir_int(&A, 2));
    cr_assert_eq(e->kind, IR_EXPR_BINARY);
    cr_assert_eq(e->type, IR_TYPE_BOOL);
}

Test(ir, integer_identities)
{
    IrExpr *x = ir_var(&A, 0);
    cr_assert_eq(ir_bin(&A, IR_OP_ADD, x, ir_int(&A, 0)), x);
    cr_assert_eq(ir_bin(&A, IR_OP_ADD, ir_int(&A, 0), x), x);
    cr_assert_eq(ir_bin(&A, IR_OP_SUB, x, ir_int(&A, 0)), x);
    cr_assert_eq(ir_bin(&A, IR_OP_MUL, x, ir_int(&A, 1)), x);
    cr_assert_eq(ir_bin(&A, IR_OP_MUL, ir_int(&A, 1), x), x);
    cr_assert(is_int(ir_bin(&A, IR_OP_MUL, x, ir_int(&A, 0)), 0));
    cr_assert_eq(ir_bin(&A, IR_OP_DIV, x, ir_int(&A, 1)), x);
    cr_assert(is_int(ir_bin(&A, IR_OP_MOD, x, ir_int(&A, 1)), 0));
}

Test(ir, float_identities_are_left_alone)
{
    /* x*0 is NaN for x = inf, x+0 is +0 for x = -0: nothing to fold */
    IrExpr *x = ir_local(&A, 0);
    IrExpr *e = ir_bin(&A, IR_OP_MUL, x, ir_float(&A, 0.0f));
    cr_assert_eq(e->kind, IR_EXPR_BINARY);
    cr_assert_eq(e->type, IR_TYPE_F32);
    e = ir_bin(&A, IR_OP_ADD, x, ir_float(&A, 0.0f));
    cr_assert_eq(e->kind, IR_EXPR_BINARY);
    e = ir_bin(&A, IR_OP_ADD, ir_float(&A, 1.0f), ir_float(&A, 2.0f));
    cr_assert_eq(e->kind, IR_EXPR_BINARY);
}

Test(ir, result_types)
{
    cr_assert_eq(ir_un(&A, IR_FN_ISNAN, ir_local(&A, 0))->type, IR_TYPE_BOOL);
    cr_assert_eq(ir_un(&A, IR_FN_TO_F32, ir_var(&A, 0))->type, IR_TYPE_F32);
    cr_assert_eq(ir_un(&A, IR_FN_NEG, ir_var(&A, 0))->type, IR_TYPE_I64);
    cr_assert_eq(ir_select(&A, ir_bin(&A, IR_OP_LT, ir_var(&A, 0), ir_int(&A, 3)),
                           ir_local(&A, 0), ir_float(&A, 1))->type, IR_TYPE_F32);
}

Test(ir, index_arrays_are_copied)
{
    IrExpr *idx[2] = {ir_var(&A, 0), ir_var(&A, 1)};
    IrExpr *e = ir_load(&A, 0, 2, idx);
    idx[0] = NULL;
    cr_assert_not_null(e->load.idx[0]);
    IrStmt *items[1] = {ir_assign(&A, 0, e)};
    IrStmt *b = ir_block(&A, items, 1);
    items[0] = NULL;
    cr_assert_not_null(b->block.items[0]);
}

Test(ir, dump)
{
    int32_t slots_x[4] = {0, 1, 2, 3};
    int32_t slots_y[4] = {0, 4, 5, 6};
    const char *names_x[4] = {"N", NULL, "H", "W"};
    IrSlot slots[7] = {
        {IR_SLOT_ARG, 0, 0, 0, false},
        {IR_SLOT_CONST, 3, 0, 3, true},
        {IR_SLOT_ARG, 0, 2, 0, false},
        {IR_SLOT_ARG, 0, 3, 0, false},
        {IR_SLOT_CONST, 8, 0, 8, true},
        {IR_SLOT_SUB, 2, 1, 0, false},
        {IR_SLOT_FLOORDIV, 3, 1, 0, false},
    };
    IrCheck checks[1] = {{IR_CHECK_POSITIVE, 5, 0, "t.conv:2:5: H - 3"}};
    IrBuffer bufs[2] = {
        {.name = "x", .kind = IR_BUF_INPUT, .rank = 4, .dim_slots = slots_x,
         .dim_names = names_x, .abi_index = 0},
        {.name = "y", .kind = IR_BUF_OUTPUT, .rank = 4, .dim_slots = slots_y,
         .abi_index = 1},
    };
    IrVarInfo vars[4] = {{"n"}, {"k"}, {"oy"}, {"ox"}};
    IrExpr *n = ir_var(&A, 0), *k = ir_var(&A, 1), *oy = ir_var(&A, 2),
           *ox = ir_var(&A, 3);
    IrExpr *src = ir_load(&A, 0, 4, (IrExpr *[]){n, ir_bin(&A, IR_OP_MOD, k, ir_int(&A, 3)),
                                                  oy, ir_bin(&A, IR_OP_MUL, ox, ir_int(&A, 3))});
    IrExpr *val = ir_bin(&A, IR_OP_MAX,
        ir_bin(&A, IR_OP_ADD, ir_bin(&A, IR_OP_MUL, src, ir_float(&A, 0.5f)),
               ir_float(&A, 1.0f)),
        ir_float(&A, 0.0f));
    IrStmt *store = ir_store(&A, 1, 4, (IrExpr *[]){n, k, oy, ox}, val);
    IrStmt *inner = ir_for(&A, 3, ir_int(&A, 0), ir_dim(&A, 6),
        ir_if(&A, ir_un(&A, IR_FN_NOT, ir_un(&A, IR_FN_ISNAN, src)), store,
              ir_assign(&A, 0, ir_float(&A, NAN))), IR_LOOP_VECTORIZE);
    IrStmt *body = ir_for(&A, 0, ir_int(&A, 0), ir_dim(&A, 0),
        ir_for(&A, 1, ir_int(&A, 0), ir_dim(&A, 4),
               ir_for(&A, 2, ir_int(&A, 0), ir_dim(&A, 5), inner, 0),
               IR_LOOP_PARALLEL), 0);
    IrProgram p = {
        .name = "blur", .source_name = "t.conv",
        .slots = slots, .nslots = 7, .checks = checks, .nchecks = 1,
        .buffers = bufs, .nbuffers = 2, .ninputs = 1, .noutputs = 1,
        .vars = vars, .nvars = 4, .nlocals = 1, .body = body,
    };
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    ir_dump(f, &p);
    fclose(f);
    const char *want =
        "pipeline blur (t.conv): 1 input, 1 output\n"
        "// integer / and % round toward minus infinity; dN is dims[N]\n"
        "slots (7):\n"
        "  d0 = arg0.dim0\n"
        "  d1 = 3\n"
        "  d2 = arg0.dim2\n"
        "  d3 = arg0.dim3\n"
        "  d4 = 8\n"
        "  d5 = d2 - d1\n"
        "  d6 = floordiv(d3, d1)\n"
        "checks (1):\n"
        "  positive(d5)  // t.conv:2:5: H - 3\n"
        "buffers (2):\n"
        "  input x #0: f32[d0=N, d1, d2=H, d3=W]\n"
        "  output y #1: f32[d0, d4, d5, d6]\n"
        "body:\n"
        "for (n = 0; n < d0; n++) {\n"
        "  for (k = 0; k < d4; k++) /* parallel */ {\n"
        "    for (oy = 0; oy < d5; oy++) {\n"
        "      for (ox = 0; ox < d6; ox++) /* vectorize */ {\n"
        "        if (!isnan(x[n, k % 3, oy, ox * 3])) {\n"
        "          y[n, k, oy, ox] = max(fma(x[n, k % 3, oy, ox * 3], 0.5f, 1.0f), 0.0f);\n"
        "        } else {\n"
        "          t0 = nan;\n"
        "        }\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n";
    cr_assert_str_eq(out, want, "got:\n%s", out);
    free(out);
}

/* A body of stages: each numbered; a runtime call with its buffer
 * addresses; a repeat of stage 0 with its buffers and slots. */
Test(ir, dump_of_stages_calls_and_repeats)
{
    int32_t slots_1[1] = {0};
    IrSlot slots[1] = {{IR_SLOT_ARG, 0, 0, 0, false}};
    IrBuffer bufs[3] = {
        {.name = "a", .kind = IR_BUF_INPUT, .rank = 1, .dim_slots = slots_1, .abi_index = 0},
        {.name = "y", .kind = IR_BUF_OUTPUT, .rank = 1, .dim_slots = slots_1, .abi_index = 1},
        {.name = "z", .kind = IR_BUF_OUTPUT, .rank = 1, .dim_slots = slots_1, .abi_index = 2},
    };
    IrExpr *z = ir_int(&A, 0), *n = ir_dim(&A, 0);
    IrArg args[12] = {
        {-1, ir_int(&A, 0)}, {-1, ir_int(&A, 1)}, {0, z}, {-1, n}, {-1, z},
        {0, ir_int(&A, 4)}, {-1, ir_int(&A, 3)}, {-1, z},
        {1, z}, {-1, z}, {-1, n}, {-1, z},
    };
    IrStmt *call = ir_call(&A, IR_CALL_FFT_CONV1D, args, 12);
    args[0].value = NULL;       /* copied */
    cr_assert_not_null(call->call.args[0].value);
    IrStmt *stages[2] = {call, ir_again(&A, 0, (const int32_t[]){0, 2}, 2, (const int32_t[]){0}, 1)};
    IrProgram p = {
        .name = "calls", .slots = slots, .nslots = 1, .buffers = bufs, .nbuffers = 3,
        .ninputs = 1, .noutputs = 2, .body = ir_block(&A, stages, 2),
    };
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    ir_dump(f, &p);
    fclose(f);
    const char *body = strstr(out, "body:\n");
    cr_assert_not_null(body, "%s", out);
    cr_assert_str_eq(body,
        "body:\n"
        "// stage 0\n"
        "convrt_fft_conv1d(0, 1, &a[0], d0, 0, &a[4], 3, 0, &y[0], 0, d0, 0);\n"
        "// stage 1\n"
        "again stage 0 with (a, z) dims (d0);\n", "got:\n%s", out);
    cr_assert_str_eq(ir_callee_name(IR_CALL_FFT_CONV2D), "convrt_fft_conv2d");
    cr_assert_eq(ir_callee_nargs(IR_CALL_FFT_CONV2D), 19);
    free(out);
}
