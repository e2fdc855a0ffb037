/* test_share.c - stages that differ only in their buffers and slots share
 * one generated function (stage_share.h). */
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

static void big_finish(Big *t)
{
    t->p.body = ir_block(&t->a, t->stages, t->nstages);
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
