/* codegen/stmt.c - IR statements: loops in the rotated form LLVM's loop
 * passes expect (kernel loops marked as vectorised and unrolled), parallel
 * loops outlined into tasks for the runtime's pool, runtime calls, stores
 * (masked, scattered, streaming) and prefetches. */
#include "cg.h"

LLVMMetadataRef cg_kernel_loop_md(Cg *cg)
{
    LLVMContextRef c = cg->c;
    LLVMMetadataRef one = LLVMValueAsMetadata(LLVMConstInt(cg->t_i32, 1, 0));
    LLVMMetadataRef f = LLVMValueAsMetadata(LLVMConstInt(cg->t_i1, 0, 0));
    const char *vec = "llvm.loop.vectorize.enable", *unroll = "llvm.loop.unroll.disable",
               *width = "llvm.loop.vectorize.width", *il = "llvm.loop.interleave.count";
    LLVMMetadataRef p1[2] = {LLVMMDStringInContext2(c, vec, strlen(vec)), f};
    LLVMMetadataRef p2[1] = {LLVMMDStringInContext2(c, unroll, strlen(unroll))};
    LLVMMetadataRef p3[2] = {LLVMMDStringInContext2(c, width, strlen(width)), one};
    LLVMMetadataRef p4[2] = {LLVMMDStringInContext2(c, il, strlen(il)), one};
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(c, NULL, 0);
    LLVMMetadataRef ops[5] = {tmp, LLVMMDNodeInContext2(c, p1, 2), LLVMMDNodeInContext2(c, p2, 1),
                              LLVMMDNodeInContext2(c, p3, 2), LLVMMDNodeInContext2(c, p4, 2)};
    LLVMMetadataRef id = LLVMMDNodeInContext2(c, ops, 5);
    LLVMMetadataReplaceAllUsesWith(tmp, id);   /* the loop id refers to itself */
    return id;
}

/* for (var = lo; var < hi; var++) body, rotated: guard, header, latch. */
static void emit_loop(Fn *f, int32_t var, LLVMValueRef lo, LLVMValueRef hi,
                      const IrStmt *body, uint32_t flags)
{
    Cg *cg = f->cg;
    if (var < 0 || var >= cg->p->nvars) {
        cg_fail(cg, cg_fmt_err("IR loop variable %d of %d", (int)var,
                               (int)cg->p->nvars));
        return;
    }
    const char *name = (cg->p->vars && cg->p->vars[var].name)
                           ? cg->p->vars[var].name : "i";
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef header = LLVMAppendBasicBlockInContext(cg->c, f->fn, "for");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(cg->c, f->fn, "for.end");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, lo, hi, ""),
                    header, exit);
    LLVMPositionBuilderAtEnd(f->b, header);
    LLVMValueRef iv = LLVMBuildPhi(f->b, cg->t_i64, name);
    LLVMValueRef saved = f->var[var];
    f->var[var] = iv;
    cg_emit_stmt(f, body);
    f->var[var] = saved;
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(f->b);
    LLVMValueRef next = LLVMBuildNSWAdd(f->b, iv, cg_i64c(cg, 1), "");
    LLVMValueRef br = LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, next, hi, ""),
                                      header, exit);
    if (flags & IR_LOOP_KERNEL) {
        unsigned kind = LLVMGetMDKindIDInContext(cg->c, "llvm.loop", 9);
        LLVMSetMetadata(br, kind, LLVMMetadataAsValue(cg->c, cg_kernel_loop_md(cg)));
    }
    LLVMValueRef vals[2] = {lo, next};
    LLVMBasicBlockRef blocks[2] = {pre, latch};
    LLVMAddIncoming(iv, vals, blocks, 2);
    LLVMMoveBasicBlockAfter(exit, latch);
    LLVMPositionBuilderAtEnd(f->b, exit);
}

/* Marks the locals that statement s (or an expression in it) mentions. */
static void locals_in_expr(const IrExpr *e, bool *used)
{
    if (!e)
        return;
    switch (e->kind) {
    case IR_EXPR_LOCAL: used[e->local] = true; break;
    case IR_EXPR_LOAD: break;   /* indices are integer expressions */
    case IR_EXPR_BINARY: locals_in_expr(e->bin.a, used); locals_in_expr(e->bin.b, used); break;
    case IR_EXPR_UNARY:
    case IR_EXPR_BROADCAST: locals_in_expr(e->un.a, used); break;
    case IR_EXPR_SHUFFLE:
        locals_in_expr(e->shuf.a, used);
        locals_in_expr(e->shuf.b, used);
        break;
    case IR_EXPR_FMA:
        locals_in_expr(e->fma.a, used);
        locals_in_expr(e->fma.b, used);
        locals_in_expr(e->fma.c, used);
        break;
    case IR_EXPR_SELECT:
        locals_in_expr(e->sel.cond, used);
        locals_in_expr(e->sel.a, used);
        locals_in_expr(e->sel.b, used);
        break;
    default: break;
    }
}

static void locals_in_stmt(const IrStmt *s, bool *used)
{
    if (!s)
        return;
    switch (s->kind) {
    case IR_STMT_FOR: locals_in_stmt(s->loop.body, used); break;
    case IR_STMT_IF:
        locals_in_expr(s->cond.cond, used);
        locals_in_stmt(s->cond.then, used);
        locals_in_stmt(s->cond.otherwise, used);
        break;
    case IR_STMT_STORE: locals_in_expr(s->store.value, used); break;
    case IR_STMT_ASSIGN: used[s->assign.local] = true; locals_in_expr(s->assign.value, used); break;
    case IR_STMT_BLOCK:
        for (int32_t i = 0; i < s->block.n; i++)
            locals_in_stmt(s->block.items[i], used);
        break;
    case IR_STMT_CALL:
        for (int32_t i = 0; i < s->call.nargs; i++)
            locals_in_expr(s->call.args[i].value, used);
        break;
    case IR_STMT_AGAIN:
    case IR_STMT_PREFETCH:
        break;
    }
}

/* A lane mask assigned to a local is computed once where the IR computes
 * it.  Without this, instruction selection's preparation sinks every
 * vector compare next to its uses -- into a kernel's innermost loop, where
 * the masks were meant to be loop-invariant -- and the register allocator
 * then recomputes them there, every iteration.  An empty inline asm that
 * takes the mask and gives it back is opaque to both: with AVX-512 the
 * mask stays in a mask register ("k"); with AVX2 it is a vector of lane
 * signs ("x"), which a blend reads directly. */
static LLVMValueRef mask_barrier(Fn *f, LLVMValueRef m)
{
    Cg *cg = f->cg;
    if (LLVMGetTypeKind(LLVMTypeOf(m)) != LLVMVectorTypeKind)
        return m;
    LLVMTypeRef ty = LLVMTypeOf(m);
    if (cg->m->cpu_features & CONVRT_CPU_AVX512F) {
        LLVMTypeRef fty = LLVMFunctionType(ty, &ty, 1, 0);
        LLVMValueRef as = LLVMGetInlineAsm(fty, "", 0, "=k,0", 4, 0, 0,
                                           LLVMInlineAsmDialectATT, 0);
        return LLVMBuildCall2(f->b, fty, as, &m, 1, "mask");
    }
    LLVMTypeRef ity = LLVMVectorType(cg->t_i32, LLVMGetVectorSize(ty));
    LLVMValueRef wide = LLVMBuildSExt(f->b, m, ity, "");
    LLVMTypeRef fty = LLVMFunctionType(ity, &ity, 1, 0);
    LLVMValueRef as = LLVMGetInlineAsm(fty, "", 0, "=x,0", 4, 0, 0,
                                       LLVMInlineAsmDialectATT, 0);
    LLVMValueRef kept = LLVMBuildCall2(f->b, fty, as, &wide, 1, "mask");
    return LLVMBuildICmp(f->b, LLVMIntSLT, kept, LLVMConstNull(ity), "");
}

/* k if mask is a constant whose lanes [0, k) are set and the others
 * clear (a store of a vector's first k lanes), else -1. */
static int32_t prefix_lanes(LLVMValueRef mask)
{
    if (!LLVMIsConstant(mask) || LLVMGetTypeKind(LLVMTypeOf(mask)) != LLVMVectorTypeKind)
        return -1;
    unsigned n = LLVMGetVectorSize(LLVMTypeOf(mask));
    int32_t k = 0;
    for (unsigned i = 0; i < n; i++) {
        LLVMValueRef e = LLVMGetAggregateElement(mask, i);
        if (!e || !LLVMIsAConstantInt(e))
            return -1;
        bool set = LLVMConstIntGetZExtValue(e) != 0;
        if (set && k != (int32_t)i)
            return -1;
        k += set;
    }
    return k;
}

/* The first k lanes of v stored from ptr by plain stores of 4, 2 and 1
 * lanes, for a masked store of a constant prefix without mask registers,
 * where it would be a vmaskmovps, slow on znver4 (x86-64-v3, one core,
 * conv-chan's rows of 4 and 5 pixels after their transposition: W3
 * 1.023x, 3x3 128->128 at 28x28 1.048x, 3x3/2 256->512 from 14x14
 * 1.020x, 512->512 at 7x7 0.999x).  The same lanes are written. */
static void store_prefix(Fn *f, LLVMValueRef v, LLVMValueRef ptr, int32_t k)
{
    Cg *cg = f->cg;
    if (k == (int32_t)LLVMGetVectorSize(LLVMTypeOf(v))) {   /* every lane: one store */
        LLVMSetAlignment(LLVMBuildStore(f->b, v, ptr), 4);
        return;
    }
    for (int32_t lane = 0; lane < k;) {
        int32_t n = k - lane >= 4 ? 4 : k - lane >= 2 ? 2 : 1;
        LLVMValueRef at = LLVMConstInt(cg->t_i64, (unsigned long long)lane, 0);
        LLVMValueRef p = LLVMBuildGEP2(f->b, cg->t_f32, ptr, &at, 1, "");
        LLVMValueRef part;
        if (n == 1) {
            part = LLVMBuildExtractElement(f->b, v, LLVMConstInt(cg->t_i32, (unsigned long long)lane, 0), "");
        } else {
            LLVMValueRef sel[4];
            for (int32_t i = 0; i < n; i++)
                sel[i] = LLVMConstInt(cg->t_i32, (unsigned long long)(lane + i), 0);
            part = LLVMBuildShuffleVector(f->b, v, LLVMGetUndef(LLVMTypeOf(v)),
                                          LLVMConstVector(sel, (unsigned)n), "");
        }
        LLVMValueRef st = LLVMBuildStore(f->b, part, p);
        LLVMSetAlignment(st, 4);
        lane += n;
    }
}

void cg_note_kernel_fn(Cg *cg, LLVMValueRef fn)
{
    if (cg->nkernel_fns == cg->cap_kernel_fns) {
        cg->cap_kernel_fns = cg->cap_kernel_fns ? 2 * cg->cap_kernel_fns : 16;
        cg->kernel_fns = realloc(cg->kernel_fns, (size_t)cg->cap_kernel_fns * sizeof *cg->kernel_fns);
        if (!cg->kernel_fns) {
            fputs("convc: out of memory\n", stderr);
            abort();
        }
    }
    cg->kernel_fns[cg->nkernel_fns++] = fn;
}

bool cg_has_kernel_loop(const IrStmt *s)
{
    if (!s)
        return false;
    switch (s->kind) {
    case IR_STMT_FOR:
        return (s->loop.flags & IR_LOOP_KERNEL) || cg_has_kernel_loop(s->loop.body);
    case IR_STMT_IF:
        return cg_has_kernel_loop(s->cond.then) || cg_has_kernel_loop(s->cond.otherwise);
    case IR_STMT_BLOCK:
        for (int32_t i = 0; i < s->block.n; i++)
            if (cg_has_kernel_loop(s->block.items[i]))
                return true;
        return false;
    default:
        return false;
    }
}

void cg_emit_sfence_if_streamed(Fn *f)
{
    if (!f->streamed)
        return;
    Cg *cg = f->cg;
    const char *name = "llvm.x86.sse.sfence";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0);
    LLVMBuildCall2(f->b, LLVMGlobalGetValueType(fn), fn, NULL, 0, "");
}

/* A parallel loop: its body becomes NAME__par_N(ctx, begin, end), running
 * var = lo+begin .. lo+end-1; the context holds bufs, dims, lo, the values
 * of the loop variables bound around it and of the locals its body
 * mentions -- only those, so a program of a thousand stages does not give
 * each call a context the size of the whole program.  Locals written by the
 * parallel body stay private to it (each task has its own copies). */
static void emit_parallel(Fn *f, const IrStmt *s, LLVMValueRef lo,
                          LLVMValueRef hi)
{
    Cg *cg = f->cg;
    const IrProgram *p = cg->p;
    int32_t *vars = cg_xcalloc((size_t)p->nvars + 1, sizeof *vars);
    int32_t *locals = cg_xcalloc((size_t)p->nlocals + 1, sizeof *locals);
    bool *used = cg_xcalloc((size_t)p->nlocals + 1, sizeof *used);
    int32_t nv = 0, nl = 0;
    for (int32_t v = 0; v < p->nvars; v++)
        if (f->var[v])
            vars[nv++] = v;
    locals_in_stmt(s->loop.body, used);
    /* Vector locals are always defined inside the nest that uses them. */
    for (int32_t l = 0; l < p->nlocals; l++)
        if (used[l] && cg_local_type(p, l) == IR_TYPE_F32)
            locals[nl++] = l;
    free(used);
    LLVMTypeRef elems[5] = {
        cg->t_ptr, cg->t_ptr, cg->t_i64,
        LLVMArrayType2(cg->t_i64, (uint64_t)nv),
        LLVMArrayType2(cg->t_f32, (uint64_t)nl),
    };
    LLVMTypeRef cty = LLVMStructTypeInContext(cg->c, elems, 5, 0);

    char name[256];
    snprintf(name, sizeof name, "%s__par_%d", p->name, cg->npar++);
    LLVMValueRef pf = LLVMAddFunction(cg->mod, name, cg->ty_par_task);
    if (cg->in_kernel)
        cg_note_kernel_fn(cg, pf);
    LLVMSetLinkage(pf, LLVMInternalLinkage);
    cg_set_target_attrs(cg, pf);
    cg_add_param_attr(cg, pf, 0, "noalias");
    cg_add_param_attr(cg, pf, 0, "nocapture");
    cg_add_param_attr(cg, pf, 0, "readonly");

    /* the task */
    Fn g;
    cg_fn_begin(&g, cg, pf, true);
    LLVMValueRef cx = LLVMGetParam(pf, 0);
    LLVMValueRef ptr;
    ptr = LLVMBuildStructGEP2(g.eb, cty, cx, 0, "");
    g.bufs = LLVMBuildLoad2(g.eb, cg->t_ptr, ptr, "ptrs");
    ptr = LLVMBuildStructGEP2(g.eb, cty, cx, 1, "");
    g.dims = LLVMBuildLoad2(g.eb, cg->t_ptr, ptr, "dimvals");
    ptr = LLVMBuildStructGEP2(g.eb, cty, cx, 2, "");
    LLVMValueRef plo = LLVMBuildLoad2(g.eb, cg->t_i64, ptr, "lo");
    for (int32_t k = 0; k < nv; k++) {
        LLVMValueRef idx[3] = {LLVMConstInt(cg->t_i32, 0, 0),
                               LLVMConstInt(cg->t_i32, 3, 0), cg_i64c(cg, k)};
        ptr = LLVMBuildInBoundsGEP2(g.eb, cty, cx, idx, 3, "");
        g.var[vars[k]] = LLVMBuildLoad2(g.eb, cg->t_i64, ptr, "");
    }
    for (int32_t k = 0; k < nl; k++) {
        LLVMValueRef idx[3] = {LLVMConstInt(cg->t_i32, 0, 0),
                               LLVMConstInt(cg->t_i32, 4, 0), cg_i64c(cg, k)};
        ptr = LLVMBuildInBoundsGEP2(g.eb, cty, cx, idx, 3, "");
        LLVMBuildStore(g.eb, LLVMBuildLoad2(g.eb, cg->t_f32, ptr, ""),
                       cg_local_ptr(&g, locals[k]));
    }
    LLVMValueRef blo = LLVMBuildNSWAdd(g.b, plo, LLVMGetParam(pf, 1), "");
    LLVMValueRef bhi = LLVMBuildNSWAdd(g.b, plo, LLVMGetParam(pf, 2), "");
    emit_loop(&g, s->loop.var, blo, bhi, s->loop.body, s->loop.flags);
    cg_emit_sfence_if_streamed(&g);
    LLVMBuildRetVoid(g.b);
    cg_fn_end(&g);

    /* the call */
    LLVMValueRef ctx = LLVMBuildAlloca(f->eb, cty, "par.ctx");
    LLVMBuildStore(f->b, f->bufs, LLVMBuildStructGEP2(f->b, cty, ctx, 0, ""));
    LLVMBuildStore(f->b, f->dims, LLVMBuildStructGEP2(f->b, cty, ctx, 1, ""));
    LLVMBuildStore(f->b, lo, LLVMBuildStructGEP2(f->b, cty, ctx, 2, ""));
    for (int32_t k = 0; k < nv; k++) {
        LLVMValueRef idx[3] = {LLVMConstInt(cg->t_i32, 0, 0),
                               LLVMConstInt(cg->t_i32, 3, 0), cg_i64c(cg, k)};
        LLVMBuildStore(f->b, f->var[vars[k]],
                       LLVMBuildInBoundsGEP2(f->b, cty, ctx, idx, 3, ""));
    }
    for (int32_t k = 0; k < nl; k++) {
        LLVMValueRef idx[3] = {LLVMConstInt(cg->t_i32, 0, 0),
                               LLVMConstInt(cg->t_i32, 4, 0), cg_i64c(cg, k)};
        LLVMBuildStore(f->b, LLVMBuildLoad2(f->b, cg->t_f32, cg_local_ptr(f, locals[k]), ""),
                       LLVMBuildInBoundsGEP2(f->b, cty, ctx, idx, 3, ""));
    }
    free(vars);
    free(locals);
    LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(cg->c, f->fn, "par.call");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->c, f->fn, "par.end");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, lo, hi, ""), call,
                    done);
    LLVMPositionBuilderAtEnd(f->b, call);
    LLVMValueRef args[3] = {LLVMBuildNSWSub(f->b, hi, lo, "n"), pf, ctx};
    LLVMBuildCall2(f->b, cg->ty_par_for, cg->fn_par_for, args, 3, "");
    LLVMBuildBr(f->b, done);
    LLVMPositionBuilderAtEnd(f->b, done);
}

/* A runtime routine (ir.h IrCallee): int name(i64 or ptr, ...), declared
 * on first use; the JIT resolves it from convc's copy of the runtime
 * (jit.c), an object from libconvrt. */
static void emit_call(Fn *f, const IrStmt *s)
{
    Cg *cg = f->cg;
    const char *name = ir_callee_name(s->call.fn);
    int32_t n = s->call.nargs;
    if (!name || n != ir_callee_nargs(s->call.fn)) {
        cg_fail(cg, cg_fmt_err("IR calls runtime routine %d with %d arguments", (int)s->call.fn, (int)n));
        return;
    }
    LLVMTypeRef *types = cg_xcalloc((size_t)n, sizeof *types);
    LLVMValueRef *args = cg_xcalloc((size_t)n, sizeof *args);
    for (int32_t i = 0; i < n && !cg->err; i++) {
        const IrArg *g = &s->call.args[i];
        if (!g->value || g->value->type != IR_TYPE_I64 ||
            (g->buf >= 0 && g->buf >= cg->p->nbuffers)) {
            cg_fail(cg, cg_fmt_err("argument %d of %s is not an i64 value or a buffer position",
                                   (int)i, name));
            break;
        }
        LLVMValueRef v = cg_emit_expr(f, g->value);
        if (g->buf >= 0) {
            types[i] = cg->t_ptr;
            args[i] = LLVMBuildInBoundsGEP2(f->b, cg->t_f32, cg_buf_ptr(f, g->buf), &v, 1, "");
        } else {
            types[i] = cg->t_i64;
            args[i] = v;
        }
    }
    if (!cg->err) {
        LLVMTypeRef fty = LLVMFunctionType(cg->t_i32, types, (unsigned)n, 0);
        LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
        if (!fn)
            fn = LLVMAddFunction(cg->mod, name, fty);
        LLVMBuildCall2(f->b, fty, fn, args, (unsigned)n, "");
    }
    free(types);
    free(args);
}

void cg_emit_stmt(Fn *f, const IrStmt *s)
{
    Cg *cg = f->cg;
    if (!s || cg->err)
        return;
    switch (s->kind) {
    case IR_STMT_FOR: {
        if ((s->loop.flags & IR_LOOP_UNROLL) && s->loop.lo->kind == IR_EXPR_INT &&
            s->loop.hi->kind == IR_EXPR_INT) {
            LLVMValueRef saved = f->var[s->loop.var];
            for (int64_t v = s->loop.lo->ival; v < s->loop.hi->ival && !cg->err; v++) {
                f->var[s->loop.var] = cg_i64c(cg, v);
                cg_emit_stmt(f, s->loop.body);
            }
            f->var[s->loop.var] = saved;
            break;
        }
        LLVMValueRef lo = cg_emit_expr(f, s->loop.lo);
        LLVMValueRef hi = cg_emit_expr(f, s->loop.hi);
        if ((s->loop.flags & IR_LOOP_PARALLEL) && !f->in_par)
            emit_parallel(f, s, lo, hi);
        else
            emit_loop(f, s->loop.var, lo, hi, s->loop.body, s->loop.flags);
        break;
    }
    case IR_STMT_IF: {
        LLVMValueRef c = cg_emit_expr(f, s->cond.cond);
        LLVMBasicBlockRef bt = LLVMAppendBasicBlockInContext(cg->c, f->fn, "if.then");
        LLVMBasicBlockRef be = s->cond.otherwise
            ? LLVMAppendBasicBlockInContext(cg->c, f->fn, "if.else") : NULL;
        LLVMBasicBlockRef bm = LLVMAppendBasicBlockInContext(cg->c, f->fn, "if.end");
        LLVMBuildCondBr(f->b, c, bt, be ? be : bm);
        LLVMPositionBuilderAtEnd(f->b, bt);
        cg_emit_stmt(f, s->cond.then);
        LLVMBasicBlockRef last = LLVMGetInsertBlock(f->b);
        LLVMBuildBr(f->b, bm);
        if (be) {
            LLVMMoveBasicBlockAfter(be, last);
            LLVMPositionBuilderAtEnd(f->b, be);
            cg_emit_stmt(f, s->cond.otherwise);
            last = LLVMGetInsertBlock(f->b);
            LLVMBuildBr(f->b, bm);
        }
        LLVMMoveBasicBlockAfter(bm, last);
        LLVMPositionBuilderAtEnd(f->b, bm);
        break;
    }
    case IR_STMT_STORE: {
        if (!cg_check_buf(cg, s->store.buf))
            return;
        if (cg->p->buffers[s->store.buf].kind == IR_BUF_CONST ||
            cg->p->buffers[s->store.buf].kind == IR_BUF_INPUT) {
            cg_fail(cg, cg_fmt_err("IR stores into read-only buffer %s",
                                   cg->p->buffers[s->store.buf].name));
            return;
        }
        LLVMValueRef v = cg_emit_expr(f, s->store.value);
        if (s->store.value->type == IR_TYPE_VF32 && s->store.lanes) {
            cg_emit_scatter(f, s, v);
            break;
        }
        if (s->store.value->type == IR_TYPE_VF32 && s->store.mask) {
            LLVMValueRef ptr = cg_vec_ptr(f, s->store.buf, s->store.idx, true);
            LLVMValueRef mask = cg_emit_expr(f, s->store.mask);
            int32_t k = prefix_lanes(mask);
            if (k >= 0 && !(cg->m->cpu_features & CONVRT_CPU_AVX512F)) {
                store_prefix(f, v, ptr, k);
                break;
            }
            LLVMValueRef args[4] = {v, ptr, LLVMConstInt(cg->t_i32, 4, 0), mask};
            cg_masked_intrinsic(f, "llvm.masked.store", args, 4);
            break;
        }
        if (s->store.stream && s->store.value->type == IR_TYPE_VF32) {
            /* non-temporal where the address is vector-aligned (the rows
             * of a large output usually are), else a plain store */
            LLVMValueRef ptr = cg_elem_ptr(f, s->store.buf, s->store.idx);
            unsigned bytes = 4 * LLVMGetVectorSize(LLVMTypeOf(v));
            LLVMValueRef low = LLVMBuildAnd(f->b, LLVMBuildPtrToInt(f->b, ptr, cg->t_i64, ""),
                                            cg_i64c(cg, bytes - 1), "");
            LLVMValueRef aligned = LLVMBuildICmp(f->b, LLVMIntEQ, low, cg_i64c(cg, 0), "aligned");
            LLVMBasicBlockRef nt = LLVMAppendBasicBlockInContext(cg->c, f->fn, "stream");
            LLVMBasicBlockRef plain = LLVMAppendBasicBlockInContext(cg->c, f->fn, "store");
            LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->c, f->fn, "stored");
            LLVMBuildCondBr(f->b, aligned, nt, plain);
            LLVMPositionBuilderAtEnd(f->b, nt);
            LLVMValueRef st = LLVMBuildStore(f->b, v, ptr);
            LLVMSetAlignment(st, bytes);
            LLVMValueRef one = LLVMConstInt(cg->t_i32, 1, 0);
            LLVMSetMetadata(st, LLVMGetMDKindIDInContext(cg->c, "nontemporal", 11),
                            LLVMMDNodeInContext(cg->c, &one, 1));
            LLVMBuildBr(f->b, done);
            LLVMPositionBuilderAtEnd(f->b, plain);
            st = LLVMBuildStore(f->b, v, ptr);
            LLVMSetAlignment(st, 4);
            LLVMBuildBr(f->b, done);
            LLVMPositionBuilderAtEnd(f->b, done);
            f->streamed = true;
            break;
        }
        LLVMValueRef st = LLVMBuildStore(f->b, v,
                                         cg_elem_ptr(f, s->store.buf, s->store.idx));
        LLVMSetAlignment(st, 4);
        break;
    }
    case IR_STMT_ASSIGN:
        if (s->assign.local < 0 || s->assign.local >= cg->p->nlocals) {
            cg_fail(cg, cg_fmt_err("IR assigns local %d of %d",
                                   (int)s->assign.local, (int)cg->p->nlocals));
            return;
        }
        {
            LLVMValueRef v = cg_emit_expr(f, s->assign.value);
            if (s->assign.value->type == IR_TYPE_VBOOL)
                v = mask_barrier(f, v);
            LLVMBuildStore(f->b, v, cg_local_ptr(f, s->assign.local));
        }
        break;
    case IR_STMT_BLOCK:
        for (int32_t i = 0; i < s->block.n; i++)
            cg_emit_stmt(f, s->block.items[i]);
        break;
    case IR_STMT_CALL:
        emit_call(f, s);
        break;
    case IR_STMT_PREFETCH: {
        if (!cg_check_buf(cg, s->store.buf))
            return;
        /* llvm.prefetch(ptr, read, locality, data cache): no fault
         * whatever the address; locality 3 (prefetcht0) into L1, 2
         * (prefetcht1) into L2 */
        LLVMValueRef ptr = cg_vec_ptr(f, s->store.buf, s->store.idx, true);
        unsigned id = LLVMLookupIntrinsicID("llvm.prefetch", 13);
        LLVMTypeRef tys[1] = {cg->t_ptr};
        LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, tys, 1);
        LLVMTypeRef fty = LLVMIntrinsicGetType(cg->c, id, tys, 1);
        LLVMValueRef args[4] = {ptr, LLVMConstInt(cg->t_i32, 0, 0),
                                LLVMConstInt(cg->t_i32, s->store.far ? 2 : 3, 0),
                                LLVMConstInt(cg->t_i32, 1, 0)};
        LLVMBuildCall2(f->b, fty, fn, args, 4, "");
        break;
    }
    case IR_STMT_AGAIN:
        /* a well-formed one is a call of its group's function */
        cg_fail(cg, cg_fmt_err("IR repeats stage %d where that is not allowed "
                               "(not an earlier stage, or not matching its buffers and slots)",
                               (int)s->again.stage));
        break;
    }
}
