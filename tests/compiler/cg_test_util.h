/* cg_test_util.h - building small IrPrograms by hand for the back-end
 * tests, and compiling them with the JIT. */
#ifndef CG_TEST_UTIL_H
#define CG_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "ir.h"
#include "jit.h"

/* A program under construction: arrays sized generously, filled in order. */
typedef struct TProg {
    Arena      a;
    IrProgram  p;
    IrSlot     slots[16];
    IrBuffer   bufs[8];
    IrVarInfo  vars[8];
} TProg;

static inline void tp_init(TProg *t, const char *name)
{
    memset(t, 0, sizeof *t);
    arena_init(&t->a);
    t->p.name = name;
    t->p.source_name = "test.conv";
    t->p.slots = t->slots;
    t->p.buffers = t->bufs;
    t->p.vars = t->vars;
}

static inline int32_t tp_slot_arg(TProg *t, int64_t arg, int64_t dim)
{
    int32_t i = t->p.nslots++;
    t->slots[i] = (IrSlot){.op = IR_SLOT_ARG, .a = arg, .b = dim};
    return i;
}

static inline int32_t tp_slot_const(TProg *t, int64_t v)
{
    int32_t i = t->p.nslots++;
    t->slots[i] = (IrSlot){.op = IR_SLOT_CONST, .a = v, .const_value = v,
                           .is_const = true};
    return i;
}

static inline int32_t tp_slot_op(TProg *t, IrSlotOp op, int32_t a, int32_t b)
{
    int32_t i = t->p.nslots++;
    t->slots[i] = (IrSlot){.op = op, .a = a, .b = b};
    return i;
}

/* A buffer of rank n whose dims are the slots given; args get the next
 * abi_index (declare inputs, then outputs, then scratch). */
static inline int32_t tp_buf(TProg *t, const char *name, IrBufferKind kind,
                             int32_t rank, ...)
{
    int32_t i = t->p.nbuffers++;
    int32_t *ds = arena_array(&t->a, (size_t)(rank ? rank : 1), sizeof *ds);
    va_list ap;
    va_start(ap, rank);
    for (int32_t j = 0; j < rank; j++)
        ds[j] = va_arg(ap, int32_t);
    va_end(ap);
    int32_t abi = -1;
    if (kind != IR_BUF_CONST) {
        abi = 0;
        for (int32_t k = 0; k < i; k++)
            if (t->bufs[k].kind != IR_BUF_CONST)
                abi++;
    }
    t->bufs[i] = (IrBuffer){.name = name, .kind = kind, .rank = rank,
                            .dim_slots = ds, .abi_index = abi};
    if (kind == IR_BUF_INPUT)
        t->p.ninputs++;
    if (kind == IR_BUF_OUTPUT)
        t->p.noutputs++;
    return i;
}

static inline int32_t tp_var(TProg *t, const char *name)
{
    int32_t i = t->p.nvars++;
    t->vars[i].name = name;
    return i;
}

#define IDX(...) ((IrExpr *const[]){__VA_ARGS__})
#define NIDX(...) (int32_t)(sizeof((IrExpr *const[]){__VA_ARGS__}) / sizeof(IrExpr *))
#define LOAD(t, b, ...) ir_load(&(t)->a, b, NIDX(__VA_ARGS__), IDX(__VA_ARGS__))
#define STORE(t, b, v, ...) ir_store(&(t)->a, b, NIDX(__VA_ARGS__), IDX(__VA_ARGS__), v)
#define BLOCK(t, ...) ir_block(&(t)->a, (IrStmt *const[]){__VA_ARGS__}, \
    (int32_t)(sizeof((IrStmt *const[]){__VA_ARGS__}) / sizeof(IrStmt *)))

static inline CgModule *tp_compile(TProg *t, const char *cpu, int opt)
{
    CgTarget target = {.cpu = cpu, .opt_level = opt};
    char *err = NULL;
    CgModule *m = cg_compile(&t->p, &target, &err);
    cr_assert_not_null(m, "cg_compile: %s", err ? err : "?");
    return m;
}

static inline Jit *tp_jit(TProg *t, const char *cpu, int opt)
{
    char *err = NULL;
    Jit *j = jit_create(tp_compile(t, cpu, opt), &err);
    cr_assert_not_null(j, "jit_create: %s", err ? err : "?");
    cr_assert_not_null(jit_pipeline(j));
    return j;
}

static inline void tp_run_body(Jit *j, float **bufs, const int64_t *dims)
{
    jit_pipeline(j)->body((float *const *)bufs, dims);
}

#endif
