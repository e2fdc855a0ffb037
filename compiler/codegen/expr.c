/* codegen/expr.c - IR expressions to LLVM values: integer and float
 * arithmetic (IEEE min/max, floor division), libm calls, fused
 * multiply-adds, and the vector forms the micro-kernels write: masked
 * loads, gathers, strided loads, shuffles, broadcasts and lane selects. */
#include "cg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The row-major linear index of buf[idx...]; with nsw flags when the
 * place is known to be inside the buffer. */
static LLVMValueRef linear_index(Fn *f, int32_t b, IrExpr *const *idx, bool inside)
{
    Cg *cg = f->cg;
    const IrBuffer *buf = &cg->p->buffers[b];
    LLVMValueRef *st = cg_buf_strides(f, b);
    LLVMValueRef lin = NULL;
    for (int32_t j = 0; j < buf->rank; j++) {
        LLVMValueRef term = cg_emit_expr(f, idx[j]);
        if (j != buf->rank - 1)
            term = inside ? LLVMBuildNSWMul(f->b, term, st[j], "") : LLVMBuildMul(f->b, term, st[j], "");
        if (lin)
            term = inside ? LLVMBuildNSWAdd(f->b, lin, term, "") : LLVMBuildAdd(f->b, lin, term, "");
        lin = term;
    }
    return lin ? lin : cg_i64c(cg, 0);
}

/* &buf[idx...] as an inbounds GEP on the row-major linear index. */
LLVMValueRef cg_elem_ptr(Fn *f, int32_t b, IrExpr *const *idx)
{
    LLVMValueRef lin = linear_index(f, b, idx, true);
    return LLVMBuildInBoundsGEP2(f->b, f->cg->t_f32, cg_buf_ptr(f, b), &lin, 1, "");
}

/* The first lane's address.  A masked access may start outside the buffer
 * (its disabled lanes are never touched), so its address is a plain GEP,
 * not an inbounds one. */
LLVMValueRef cg_vec_ptr(Fn *f, int32_t b, IrExpr *const *idx, bool masked)
{
    if (!masked)
        return cg_elem_ptr(f, b, idx);
    LLVMValueRef lin = linear_index(f, b, idx, false);
    return LLVMBuildGEP2(f->b, f->cg->t_f32, cg_buf_ptr(f, b), &lin, 1, "");
}

static LLVMValueRef call_intrinsic(Fn *f, const char *name, LLVMTypeRef ty,
                                   LLVMValueRef *args, unsigned n)
{
    Cg *cg = f->cg;
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, &ty, 1);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, &ty, 1);
    return LLVMBuildCall2(f->b, fty, fn, args, n, "");
}

/* True if evaluating e when its guard is false could fault: a load (the
 * guard is often a bounds test for padding) or an integer division by a
 * value not known to be positive.  Such operands of SELECT, AND and OR are
 * evaluated in branches, not speculated. */
static bool may_trap(const IrExpr *e)
{
    if (!e)
        return false;
    switch (e->kind) {
    case IR_EXPR_LOAD:
        return e->type != IR_TYPE_VF32 || !e->load.mask;
    case IR_EXPR_FMA:
        return may_trap(e->fma.a) || may_trap(e->fma.b) || may_trap(e->fma.c);
    case IR_EXPR_BROADCAST:
        return may_trap(e->un.a);
    case IR_EXPR_BINARY:
        if ((e->bin.op == IR_OP_DIV || e->bin.op == IR_OP_MOD) &&
            e->bin.a->type == IR_TYPE_I64 &&
            !(e->bin.b->kind == IR_EXPR_INT && e->bin.b->ival > 0))
            return true;
        return may_trap(e->bin.a) || may_trap(e->bin.b);
    case IR_EXPR_UNARY:
        return may_trap(e->un.a);
    case IR_EXPR_SELECT:
        return may_trap(e->sel.cond) || may_trap(e->sel.a) ||
               may_trap(e->sel.b);
    default:
        return false;
    }
}

/* cond ? a : b with a and b evaluated only on their own branch;
 * a_const/b_const (when non-NULL) are used instead of the expressions. */
static LLVMValueRef emit_branchy(Fn *f, LLVMValueRef cond, const IrExpr *a,
                                 LLVMValueRef a_val, const IrExpr *b,
                                 LLVMValueRef b_val, LLVMTypeRef ty)
{
    Cg *cg = f->cg;
    LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(cg->c, f->fn, "sel.t");
    LLVMBasicBlockRef bf = LLVMAppendBasicBlockInContext(cg->c, f->fn, "sel.f");
    LLVMBasicBlockRef bm = LLVMAppendBasicBlockInContext(cg->c, f->fn, "sel.m");
    LLVMBuildCondBr(f->b, cond, bt, bf);
    LLVMPositionBuilderAtEnd(f->b, bt);
    LLVMValueRef va = a ? cg_emit_expr(f, a) : a_val;
    LLVMBasicBlockRef bt_end = LLVMGetInsertBlock(f->b);
    LLVMBuildBr(f->b, bm);
    LLVMMoveBasicBlockAfter(bf, bt_end);
    LLVMPositionBuilderAtEnd(f->b, bf);
    LLVMValueRef vb = b ? cg_emit_expr(f, b) : b_val;
    LLVMBasicBlockRef bf_end = LLVMGetInsertBlock(f->b);
    LLVMBuildBr(f->b, bm);
    LLVMMoveBasicBlockAfter(bm, bf_end);
    LLVMPositionBuilderAtEnd(f->b, bm);
    LLVMValueRef phi = LLVMBuildPhi(f->b, ty, "");
    LLVMValueRef vals[2] = {va, vb};
    LLVMBasicBlockRef blocks[2] = {bt_end, bf_end};
    LLVMAddIncoming(phi, vals, blocks, 2);
    return phi;
}

static int log2_if_pow2(const IrExpr *e)
{
    if (e->kind != IR_EXPR_INT || e->ival <= 0 || (e->ival & (e->ival - 1)))
        return -1;
    return __builtin_ctzll((unsigned long long)e->ival);
}

/* v as a constant of type ty: a scalar, or every lane of a vector. */
static LLVMValueRef const_like(LLVMTypeRef ty, LLVMValueRef v)
{
    if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind)
        return v;
    unsigned n = LLVMGetVectorSize(ty);
    LLVMValueRef lanes[64];
    for (unsigned i = 0; i < n && i < 64; i++)
        lanes[i] = v;
    return LLVMConstVector(lanes, n);
}

static LLVMValueRef emit_int_binary(Fn *f, const IrExpr *e, LLVMValueRef x,
                                    LLVMValueRef y)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    LLVMTypeRef ty = LLVMTypeOf(x);
    LLVMValueRef zero = LLVMConstNull(ty);
    int k;
    switch (e->bin.op) {
    case IR_OP_ADD: return LLVMBuildNSWAdd(b, x, y, "");
    case IR_OP_SUB: return LLVMBuildNSWSub(b, x, y, "");
    case IR_OP_MUL: return LLVMBuildNSWMul(b, x, y, "");
    case IR_OP_DIV:
        /* floor division, rhs > 0: truncate, then step down when the
         * remainder is negative.  A power of two is an arithmetic shift. */
        if ((k = log2_if_pow2(e->bin.b)) >= 0)
            return LLVMBuildAShr(b, x, const_like(ty, cg_i64c(cg, k)), "");
        {
            LLVMValueRef q = LLVMBuildSDiv(b, x, y, "");
            LLVMValueRef r = LLVMBuildSRem(b, x, y, "");
            LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, r, zero, "");
            return LLVMBuildNSWSub(b, q, LLVMBuildZExt(b, neg, ty, ""), "");
        }
    case IR_OP_MOD:
        if ((k = log2_if_pow2(e->bin.b)) >= 0)
            return LLVMBuildAnd(b, x, const_like(ty, cg_i64c(cg, e->bin.b->ival - 1)), "");
        {
            LLVMValueRef r = LLVMBuildSRem(b, x, y, "");
            LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, r, zero, "");
            return LLVMBuildSelect(b, neg, LLVMBuildNSWAdd(b, r, y, ""), r, "");
        }
    case IR_OP_MIN: {
        LLVMValueRef args[2] = {x, y};
        return call_intrinsic(f, "llvm.smin", ty, args, 2);
    }
    case IR_OP_MAX: {
        LLVMValueRef args[2] = {x, y};
        return call_intrinsic(f, "llvm.smax", ty, args, 2);
    }
    case IR_OP_LT: return LLVMBuildICmp(b, LLVMIntSLT, x, y, "");
    case IR_OP_LE: return LLVMBuildICmp(b, LLVMIntSLE, x, y, "");
    case IR_OP_GT: return LLVMBuildICmp(b, LLVMIntSGT, x, y, "");
    case IR_OP_GE: return LLVMBuildICmp(b, LLVMIntSGE, x, y, "");
    case IR_OP_EQ: return LLVMBuildICmp(b, LLVMIntEQ, x, y, "");
    case IR_OP_NE: return LLVMBuildICmp(b, LLVMIntNE, x, y, "");
    default: break;
    }
    cg_fail(cg, cg_fmt_err("IR: operator %d on i64", (int)e->bin.op));
    return cg_i64c(cg, 0);
}

/* The value of a constant f32 operand (a constant or its broadcast). */
static bool const_f32(const IrExpr *e, float *v)
{
    if (e->kind == IR_EXPR_BROADCAST)
        e = e->un.a;
    if (e->kind != IR_EXPR_FLOAT)
        return false;
    *v = e->fval;
    return true;
}

/* IR_OP_MAX / IR_OP_MIN: NaN-propagating, -0.0 below +0.0, as
 * llvm.maximum / llvm.minimum -- whose x86 lowering takes six
 * instructions a vector.  Two cheaper forms give the same bits:
 *   - one operand a constant c, not NaN: `c > x ? c : x` (`<` for min) is
 *     x86's MAXPS (MINPS) with x second, which returns x where x is NaN;
 *     with c nonzero no zero meets a zero of the other sign, and with
 *     max(x, +0.0) -- relu -- adding +0.0 turns the -0.0 it keeps into
 *     +0.0 and leaves every other value (NaN too) as it is (on AVX-512
 *     only: with 16 registers the +0.0 held for the add cost the x86-64-v3
 *     row kernel spills in its loop of FMAs, the ResNet block 0.96x, the
 *     3x3 + relu + max pool 0.95x); min(x, +0.0) and max(x, -0.0) need
 *     nothing more, min(x, -0.0) keeps the intrinsic;
 *   - otherwise, on AVX-512 DQ: VRANGEPS (maxNum / minNum, -0.0 below
 *     +0.0, a quiet NaN ignored), and a + b where either is NaN: three
 *     instructions.
 * Vectors only: the scalar nests keep the intrinsics. */
static LLVMValueRef emit_minmax(Fn *f, const IrExpr *e, LLVMValueRef x, LLVMValueRef y)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    bool max = e->bin.op == IR_OP_MAX;
    LLVMValueRef args[2] = {x, y};
    float c = NAN;
    LLVMValueRef cv = NULL, xv = NULL;
    if (const_f32(e->bin.b, &c)) {
        cv = y;
        xv = x;
    } else if (const_f32(e->bin.a, &c)) {
        cv = x;
        xv = y;
    }
    bool avx512 = (cg->m->cpu_features & CONVRT_CPU_AVX512F) != 0;
    bool relu = max && c == 0.0f && !signbit(c);
    if (cv && !isnan(c) && !(c == 0.0f && signbit(c) && !max) && (!relu || avx512)) {
        LLVMValueRef keep = LLVMBuildFCmp(b, max ? LLVMRealOGT : LLVMRealOLT, cv, xv, "");
        LLVMValueRef r = LLVMBuildSelect(b, keep, cv, xv, "");
        if (relu)
            r = LLVMBuildFAdd(b, r, cv, "");
        return r;
    }
    int64_t need = CONVRT_CPU_AVX512F | CONVRT_CPU_AVX512DQ;
    if (LLVMGetVectorSize(LLVMTypeOf(x)) == 16 && (cg->m->cpu_features & need) == need) {
        LLVMTypeRef tys[1] = {LLVMTypeOf(x)};
        const char *range = "llvm.x86.avx512.mask.range.ps.512";
        unsigned id = LLVMLookupIntrinsicID(range, strlen(range));
        LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 0);
        LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 0);
        /* imm: bits 1:0 min (0) or max (1), bits 3:2 the sign of the
         * chosen value (1) */
        LLVMValueRef rargs[6] = {x, y, LLVMConstInt(cg->t_i32, max ? 5 : 4, 0), LLVMGetUndef(tys[0]),
                                 LLVMConstInt(LLVMInt16TypeInContext(cg->c), 0xffff, 0),
                                 LLVMConstInt(cg->t_i32, 4, 0)};
        LLVMValueRef r = LLVMBuildCall2(b, fty, fn, rargs, 6, "");
        LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, x, y, "");
        return LLVMBuildSelect(b, nan, LLVMBuildFAdd(b, x, y, ""), r, "");
    }
    return call_intrinsic(f, max ? "llvm.maximum" : "llvm.minimum", LLVMTypeOf(x), args, 2);
}

static LLVMValueRef emit_f32_binary(Fn *f, const IrExpr *e, LLVMValueRef x,
                                    LLVMValueRef y)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    LLVMValueRef args[2] = {x, y};
    switch (e->bin.op) {
    case IR_OP_ADD: return LLVMBuildFAdd(b, x, y, "");
    case IR_OP_SUB: return LLVMBuildFSub(b, x, y, "");
    case IR_OP_MUL: return LLVMBuildFMul(b, x, y, "");
    case IR_OP_DIV: return LLVMBuildFDiv(b, x, y, "");
    /* NaN-propagating, like torch.minimum/maximum (llvm.minnum would not
     * propagate it). */
    case IR_OP_MIN:
    case IR_OP_MAX:
        if (e->type == IR_TYPE_VF32)
            return emit_minmax(f, e, x, y);
        return call_intrinsic(f, e->bin.op == IR_OP_MAX ? "llvm.maximum" : "llvm.minimum",
                              LLVMTypeOf(x), args, 2);
    case IR_OP_LT: return LLVMBuildFCmp(b, LLVMRealOLT, x, y, "");
    case IR_OP_LE: return LLVMBuildFCmp(b, LLVMRealOLE, x, y, "");
    case IR_OP_GT: return LLVMBuildFCmp(b, LLVMRealOGT, x, y, "");
    case IR_OP_GE: return LLVMBuildFCmp(b, LLVMRealOGE, x, y, "");
    case IR_OP_EQ: return LLVMBuildFCmp(b, LLVMRealOEQ, x, y, "");
    case IR_OP_NE: return LLVMBuildFCmp(b, LLVMRealONE, x, y, "");
    default: break;
    }
    cg_fail(cg, cg_fmt_err("IR: operator %d on f32", (int)e->bin.op));
    return LLVMConstReal(cg->t_f32, 0);
}

static LLVMValueRef emit_binary(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    IrOp op = e->bin.op;
    if ((op == IR_OP_AND || op == IR_OP_OR) && e->bin.a->type == IR_TYPE_BOOL) {
        LLVMValueRef x = cg_emit_expr(f, e->bin.a);
        if (may_trap(e->bin.b)) {
            LLVMValueRef shortcut = LLVMConstInt(cg->t_i1, op == IR_OP_OR, 0);
            return op == IR_OP_AND
                ? emit_branchy(f, x, e->bin.b, NULL, NULL, shortcut, cg->t_i1)
                : emit_branchy(f, x, NULL, shortcut, e->bin.b, NULL, cg->t_i1);
        }
        LLVMValueRef y = cg_emit_expr(f, e->bin.b);
        return op == IR_OP_AND ? LLVMBuildAnd(f->b, x, y, "")
                               : LLVMBuildOr(f->b, x, y, "");
    }
    if (e->bin.a->type == IR_TYPE_VBOOL && (op == IR_OP_AND || op == IR_OP_OR)) {
        LLVMValueRef x = cg_emit_expr(f, e->bin.a), y = cg_emit_expr(f, e->bin.b);
        return op == IR_OP_AND ? LLVMBuildAnd(f->b, x, y, "") : LLVMBuildOr(f->b, x, y, "");
    }
    LLVMValueRef x = cg_emit_expr(f, e->bin.a);
    LLVMValueRef y = cg_emit_expr(f, e->bin.b);
    switch (e->bin.a->type) {
    case IR_TYPE_I64:
    case IR_TYPE_VI64: return emit_int_binary(f, e, x, y);
    case IR_TYPE_F32:
    case IR_TYPE_VF32: return emit_f32_binary(f, e, x, y);
    case IR_TYPE_BOOL:
    case IR_TYPE_VBOOL:
        if (op == IR_OP_EQ) return LLVMBuildICmp(f->b, LLVMIntEQ, x, y, "");
        if (op == IR_OP_NE) return LLVMBuildICmp(f->b, LLVMIntNE, x, y, "");
        break;
    }
    cg_fail(cg, cg_fmt_err("IR: operator %d on bool", (int)op));
    return LLVMConstInt(cg->t_i1, 0, 0);
}

/* libm's fn (tanhf, expf) of x, lane by lane for a vector.  The calls
 * are marked nobuiltin: LLVM would otherwise fold a call whose argument
 * it knows with the compiling machine's double-precision function, whose
 * rounding differs from libm's float one in the last bit now and then --
 * so a kernel whose sums fold to constants (every tap outside the input)
 * and the scalar nest that calls libm at run time would disagree. */
static LLVMValueRef call_libm(Fn *f, LLVMValueRef fn, LLVMValueRef x)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    unsigned kind = LLVMGetEnumAttributeKindForName("nobuiltin", 9);
    LLVMAttributeRef nb = LLVMCreateEnumAttribute(cg->c, kind, 0);
    if (LLVMGetTypeKind(LLVMTypeOf(x)) != LLVMVectorTypeKind) {
        LLVMValueRef c = LLVMBuildCall2(b, cg->ty_f32_fn, fn, &x, 1, "");
        LLVMAddCallSiteAttribute(c, LLVMAttributeFunctionIndex, nb);
        return c;
    }
    LLVMValueRef v = LLVMGetUndef(LLVMTypeOf(x));
    for (unsigned i = 0; i < LLVMGetVectorSize(LLVMTypeOf(x)); i++) {
        LLVMValueRef lane = LLVMConstInt(cg->t_i32, i, 0);
        LLVMValueRef xi = LLVMBuildExtractElement(b, x, lane, "");
        LLVMValueRef c = LLVMBuildCall2(b, cg->ty_f32_fn, fn, &xi, 1, "");
        LLVMAddCallSiteAttribute(c, LLVMAttributeFunctionIndex, nb);
        v = LLVMBuildInsertElement(b, v, c, lane, "");
    }
    return v;
}

static LLVMValueRef emit_unary(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    LLVMBuilderRef b = f->b;
    LLVMValueRef x = cg_emit_expr(f, e->un.a);
    LLVMTypeRef ty = LLVMTypeOf(x);
    switch (e->un.fn) {
    case IR_FN_NEG:
        return (e->un.a->type == IR_TYPE_I64 || e->un.a->type == IR_TYPE_VI64)
                   ? LLVMBuildNSWNeg(b, x, "") : LLVMBuildFNeg(b, x, "");
    case IR_FN_ABS:  return call_intrinsic(f, "llvm.fabs", ty, &x, 1);
    case IR_FN_SQRT: return call_intrinsic(f, "llvm.sqrt", ty, &x, 1);
    /* libm's expf and tanhf, lane by lane for vectors: the same function,
     * so the same bits, as the scalar code */
    case IR_FN_EXP:  return call_libm(f, cg->fn_expf, x);
    case IR_FN_TANH: return call_libm(f, cg->fn_tanhf, x);
    case IR_FN_SIGMOID: {
        LLVMValueRef nx = LLVMBuildFNeg(b, x, "");
        LLVMValueRef ex = call_libm(f, cg->fn_expf, nx);
        LLVMValueRef one = const_like(ty, LLVMConstReal(cg->t_f32, 1.0));
        LLVMValueRef den = LLVMBuildFAdd(b, one, ex, "");
        return LLVMBuildFDiv(b, one, den, "");
    }
    case IR_FN_NOT:
        return LLVMBuildXor(b, x, const_like(ty, LLVMConstInt(cg->t_i1, 1, 0)), "");
    case IR_FN_ISNAN:
        return LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
    case IR_FN_TO_F32:
        return LLVMBuildSIToFP(b, x, e->type == IR_TYPE_VF32 ? cg->t_vf32 : cg->t_f32, "");
    }
    cg_fail(cg, cg_fmt_err("IR: unknown function %d", (int)e->un.fn));
    return LLVMConstReal(cg->t_f32, 0);
}

LLVMTypeRef cg_ir_type(Cg *cg, IrType t)
{
    switch (t) {
    case IR_TYPE_I64:   return cg->t_i64;
    case IR_TYPE_F32:   return cg->t_f32;
    case IR_TYPE_BOOL:  return cg->t_i1;
    case IR_TYPE_VF32:  return cg->t_vf32;
    case IR_TYPE_VI64:  return cg->t_vi64;
    case IR_TYPE_VBOOL: return cg->t_vi1;
    }
    return cg->t_i64;
}

static bool vectors_ok(Cg *cg, const IrExpr *e)
{
    if (cg->t_vf32)
        return true;
    cg_fail(cg, cg_fmt_err("IR uses vectors but declares no vector width"));
    (void)e;
    return false;
}

/* x in every lane */
static LLVMValueRef splat(Fn *f, LLVMValueRef x, LLVMTypeRef vty)
{
    Cg *cg = f->cg;
    LLVMValueRef zero = LLVMConstInt(cg->t_i32, 0, 0);
    LLVMValueRef v = LLVMBuildInsertElement(f->b, LLVMGetPoison(vty), x, zero, "");
    LLVMValueRef mask = LLVMConstNull(LLVMVectorType(cg->t_i32, LLVMGetVectorSize(vty)));
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(vty), mask, "");
}

/* llvm.masked.load/store, overloaded on the vector and pointer types */
LLVMValueRef cg_masked_intrinsic(Fn *f, const char *name, LLVMValueRef *args,
                                 unsigned n)
{
    Cg *cg = f->cg;
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef tys[2] = {cg->t_vf32, cg->t_ptr};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 2);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 2);
    return LLVMBuildCall2(f->b, fty, fn, args, n, "");
}

/* A gather or scatter (llvm.masked.gather / .scatter): lane i at linear
 * position first + lanes[i] of buffer buf, lanes the mask disables not
 * touched.  args[ptr_arg] and args[ptr_arg + 2] are filled in here: the
 * lane pointers and the mask. */
static LLVMValueRef emit_lanes_intrinsic(Fn *f, const char *name, int32_t buf, IrExpr *const *idx,
                                         const IrExpr *lanes, const IrExpr *mask,
                                         LLVMValueRef *args, int ptr_arg)
{
    Cg *cg = f->cg;
    LLVMValueRef base = cg_vec_ptr(f, buf, idx, true);
    LLVMValueRef off = cg_emit_expr(f, lanes);
    args[ptr_arg] = LLVMBuildGEP2(f->b, cg->t_f32, base, &off, 1, "");
    args[ptr_arg + 1] = LLVMConstInt(cg->t_i32, 4, 0);
    args[ptr_arg + 2] = mask ? cg_emit_expr(f, mask)
                             : const_like(cg->t_vi1, LLVMConstInt(cg->t_i1, 1, 0));
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef pv = LLVMVectorType(cg->t_ptr, (unsigned)cg->p->vlen);
    LLVMTypeRef tys[2] = {cg->t_vf32, pv};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 2);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 2);
    return LLVMBuildCall2(f->b, fty, fn, args, 4, "");
}

/* Lane i from first + lanes[i] (disabled lanes are not read and give 0). */
static LLVMValueRef emit_gather(Fn *f, const IrExpr *e)
{
    LLVMValueRef args[4];
    args[3] = LLVMConstNull(f->cg->t_vf32);
    return emit_lanes_intrinsic(f, "llvm.masked.gather", e->load.buf, e->load.idx, e->load.lanes,
                                e->load.mask, args, 0);
}

/* Lane i of v to first + lanes[i] (disabled lanes are not written). */
void cg_emit_scatter(Fn *f, const IrStmt *s, LLVMValueRef v)
{
    LLVMValueRef args[4];
    args[0] = v;
    emit_lanes_intrinsic(f, "llvm.masked.scatter", s->store.buf, s->store.idx, s->store.lanes,
                         s->store.mask, args, 1);
}

/* Lanes `stride` apart: one load of vlen*stride consecutive elements (its
 * mask enabling only the lanes kept) and a shuffle that keeps every
 * stride-th; the back end turns it into a few permutes. */
static LLVMValueRef emit_strided_load(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    unsigned vl = (unsigned)cg->p->vlen, s = (unsigned)e->load.stride, wide = vl * s;
    if (wide > 256) {
        cg_fail(cg, cg_fmt_err("IR: strided load of %u elements", wide));
        return LLVMConstNull(cg->t_vf32);
    }
    LLVMTypeRef wty = LLVMVectorType(cg->t_f32, wide);
    LLVMValueRef ptr = cg_vec_ptr(f, e->load.buf, e->load.idx, e->load.mask != NULL);
    LLVMValueRef v;
    if (e->load.mask) {
        LLVMValueRef m = cg_emit_expr(f, e->load.mask);
        LLVMValueRef sel[256];
        for (unsigned i = 0; i < wide; i++)
            sel[i] = LLVMConstInt(cg->t_i32, i % s == 0 ? i / s : vl, 0);
        /* lane vl of the second operand (all false) for the skipped ones */
        LLVMValueRef wm = LLVMBuildShuffleVector(f->b, m, LLVMConstNull(cg->t_vi1),
                                                 LLVMConstVector(sel, wide), "");
        unsigned id = LLVMLookupIntrinsicID("llvm.masked.load", 16);
        LLVMTypeRef tys[2] = {wty, cg->t_ptr};
        LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 2);
        LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 2);
        LLVMValueRef args[4] = {ptr, LLVMConstInt(cg->t_i32, 4, 0), wm, LLVMConstNull(wty)};
        v = LLVMBuildCall2(f->b, fty, fn, args, 4, "");
    } else {
        v = LLVMBuildLoad2(f->b, wty, ptr, "");
        LLVMSetAlignment(v, 4);
    }
    LLVMValueRef keep[64];
    for (unsigned i = 0; i < vl; i++)
        keep[i] = LLVMConstInt(cg->t_i32, i * s, 0);
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(wty), LLVMConstVector(keep, vl), "");
}

LLVMValueRef cg_emit_expr(Fn *f, const IrExpr *e)
{
    Cg *cg = f->cg;
    switch (e->kind) {
    case IR_EXPR_INT:
        return cg_i64c(cg, e->ival);
    case IR_EXPR_FLOAT:
        return LLVMConstReal(cg->t_f32, (double)e->fval);
    case IR_EXPR_VAR:
        if (e->var >= 0 && e->var < cg->p->nvars && f->var[e->var])
            return f->var[e->var];
        cg_fail(cg, cg_fmt_err("IR uses loop variable %d outside its loop",
                               (int)e->var));
        return cg_i64c(cg, 0);
    case IR_EXPR_DIM:
        return cg_dim_value(f, e->slot);
    case IR_EXPR_LOCAL:
        if (e->local >= 0 && e->local < cg->p->nlocals)
            return LLVMBuildLoad2(f->b, cg_ir_type(cg, cg_local_type(cg->p, e->local)),
                                  cg_local_ptr(f, e->local), "");
        cg_fail(cg, cg_fmt_err("IR uses local %d of %d", (int)e->local,
                               (int)cg->p->nlocals));
        return LLVMConstReal(cg->t_f32, 0);
    case IR_EXPR_LOAD: {
        if (!cg_check_buf(cg, e->load.buf))
            return LLVMConstReal(cg->t_f32, 0);
        if (e->type == IR_TYPE_VF32) {
            if (!vectors_ok(cg, e))
                return LLVMConstReal(cg->t_f32, 0);
            if (e->load.lanes)
                return emit_gather(f, e);
            if (e->load.stride > 1)
                return emit_strided_load(f, e);
            LLVMValueRef ptr = cg_vec_ptr(f, e->load.buf, e->load.idx, e->load.mask != NULL);
            if (!e->load.mask) {
                LLVMValueRef v = LLVMBuildLoad2(f->b, cg->t_vf32, ptr, "");
                LLVMSetAlignment(v, 4);
                return v;
            }
            LLVMValueRef args[4] = {ptr, LLVMConstInt(cg->t_i32, 4, 0),
                                    cg_emit_expr(f, e->load.mask),
                                    LLVMConstNull(cg->t_vf32)};
            return cg_masked_intrinsic(f, "llvm.masked.load", args, 4);
        }
        LLVMValueRef v = LLVMBuildLoad2(f->b, cg->t_f32,
                                        cg_elem_ptr(f, e->load.buf, e->load.idx),
                                        "");
        LLVMSetAlignment(v, 4);
        return v;
    }
    case IR_EXPR_BINARY:
        return emit_binary(f, e);
    case IR_EXPR_UNARY:
        return emit_unary(f, e);
    case IR_EXPR_SELECT: {
        LLVMValueRef c = cg_emit_expr(f, e->sel.cond);
        /* lane selects evaluate both sides: their loads must be masked */
        if (e->sel.cond->type == IR_TYPE_BOOL && (may_trap(e->sel.a) || may_trap(e->sel.b)))
            return emit_branchy(f, c, e->sel.a, NULL, e->sel.b, NULL,
                                cg_ir_type(cg, e->type));
        LLVMValueRef a = cg_emit_expr(f, e->sel.a);
        LLVMValueRef b = cg_emit_expr(f, e->sel.b);
        return LLVMBuildSelect(f->b, c, a, b, "");
    }
    case IR_EXPR_FMA: {
        LLVMValueRef args[3] = {cg_emit_expr(f, e->fma.a), cg_emit_expr(f, e->fma.b),
                                cg_emit_expr(f, e->fma.c)};
        if (cg->fma)
            return call_intrinsic(f, "llvm.fma", LLVMTypeOf(args[2]), args, 3);
        return LLVMBuildFAdd(f->b, LLVMBuildFMul(f->b, args[0], args[1], ""), args[2], "");
    }
    case IR_EXPR_BROADCAST:
        if (!vectors_ok(cg, e))
            return cg_i64c(cg, 0);
        return splat(f, cg_emit_expr(f, e->un.a), cg_ir_type(cg, e->type));
    case IR_EXPR_IOTA: {
        if (!vectors_ok(cg, e))
            return cg_i64c(cg, 0);
        LLVMValueRef lanes[64];
        for (int32_t i = 0; i < cg->p->vlen; i++)
            lanes[i] = cg_i64c(cg, i);
        return LLVMConstVector(lanes, (unsigned)cg->p->vlen);
    }
    case IR_EXPR_SHUFFLE: {
        if (!vectors_ok(cg, e))
            return cg_i64c(cg, 0);
        LLVMValueRef sel[64];
        for (int32_t i = 0; i < cg->p->vlen; i++) {
            if (e->shuf.sel[i] < 0 || e->shuf.sel[i] >= 2 * cg->p->vlen) {
                cg_fail(cg, cg_fmt_err("IR: shuffle lane %d out of range", (int)e->shuf.sel[i]));
                return cg_i64c(cg, 0);
            }
            sel[i] = LLVMConstInt(LLVMInt32TypeInContext(cg->c), (unsigned long long)e->shuf.sel[i], 0);
        }
        LLVMValueRef x = cg_emit_expr(f, e->shuf.a), y = cg_emit_expr(f, e->shuf.b);
        /* lanes k.. of x and then y's first: as 32-bit integers, which
         * AVX-512 shifts along the pair in one instruction (valignd) where
         * the float shuffle took a permute with an index vector */
        bool along = e->shuf.sel[0] > 0;
        for (int32_t i = 1; along && i < cg->p->vlen; i++)
            along = e->shuf.sel[i] == e->shuf.sel[0] + i;
        if (along && cg->p->vlen == 16 && (cg->m->cpu_features & CONVRT_CPU_AVX512F)) {
            char text[64];
            snprintf(text, sizeof text, "valignd $$%d, $2, $1, $0", (int)e->shuf.sel[0]);
            LLVMTypeRef vt = LLVMTypeOf(x), args[2] = { vt, vt };
            LLVMTypeRef fty = LLVMFunctionType(vt, args, 2, 0);
            LLVMValueRef as = LLVMGetInlineAsm(fty, text, strlen(text), "=v,v,v", 6, 0, 0,
                                               LLVMInlineAsmDialectATT, 0);
            LLVMValueRef ops[2] = { y, x };
            LLVMValueRef call = LLVMBuildCall2(f->b, fty, as, ops, 2, "");
            /* no memory touched: equal shifts are computed once */
            static const char *const attrs[] = { "memory", "nounwind", "willreturn" };
            for (int i = 0; i < 3; i++) {
                unsigned kind = LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i]));
                LLVMAddCallSiteAttribute(call, LLVMAttributeFunctionIndex,
                                         LLVMCreateEnumAttribute(cg->c, kind, 0));
            }
            return call;
        }
        return LLVMBuildShuffleVector(f->b, x, y, LLVMConstVector(sel, (unsigned)cg->p->vlen), "");
    }
    }
    cg_fail(cg, cg_fmt_err("IR: unknown expression kind %d", (int)e->kind));
    return cg_i64c(cg, 0);
}

/* Loop metadata saying "already vectorised and unrolled": the loop
 * vectoriser and the unrollers then leave the loop alone at once, which
 * also keeps them from spending compile time on the large kernel bodies. */
