/* codegen/function.c - one generated function while it is emitted (Fn):
 * errors, function and parameter attributes, the entry block that holds
 * everything invariant (buffer pointers, dims, row-major strides, the
 * locals' allocas), filled lazily while the body is lowered. */
#include "cg.h"

#include <stdarg.h>

/* ---- errors ---------------------------------------------------------------- */

char *cg_xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        arena_out_of_memory(strlen(s ? s : "") + 1);
    return d;
}

char *cg_fmt_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s ? s : cg_xstrdup("out of memory");
}

void cg_set_err(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
}

/* ---- lowering state -------------------------------------------------------- */

void cg_fail(Cg *cg, char *msg)
{
    if (!cg->err)
        cg->err = msg;
    else
        free(msg);
}

/* Non-temporal stores are weakly ordered: an sfence makes them visible
 * before whatever the function's return lets other threads see (the pool's
 * completion, the next stage). */

void *cg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        arena_out_of_memory(n * size);
    return p;
}

void cg_add_fn_attr(Cg *cg, LLVMValueRef fn, const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->c, kind, 0));
}

void cg_add_param_attr(Cg *cg, LLVMValueRef fn, unsigned param,
                       const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, param + 1,
                            LLVMCreateEnumAttribute(cg->c, kind, 0));
}

/* Every function we define gets the CPU and features, so that the JIT,
 * the object file and inlining all agree on the instruction set. */
void cg_set_target_attrs(Cg *cg, LLVMValueRef fn)
{
    const char *cpu = cg->m->cpu, *feat = cg->m->features;
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
        LLVMCreateStringAttribute(cg->c, "target-cpu", 10, cpu,
                                  (unsigned)strlen(cpu)));
    if (*feat)
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
            LLVMCreateStringAttribute(cg->c, "target-features", 15, feat,
                                      (unsigned)strlen(feat)));
    /* Micro-kernels written with 512-bit vectors must stay 512-bit: several
     * AVX-512 CPUs otherwise make LLVM split them into 256-bit halves. */
    if (cg->p->vlen * 32 >= 512) {
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
            LLVMCreateStringAttribute(cg->c, "prefer-vector-width", 19, "512", 3));
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
            LLVMCreateStringAttribute(cg->c, "min-legal-vector-width", 22, "512", 3));
    }
    cg_add_fn_attr(cg, fn, "nounwind");
}

void cg_fn_begin(Fn *f, Cg *cg, LLVMValueRef fn, bool in_par)
{
    const IrProgram *p = cg->p;
    memset(f, 0, sizeof *f);
    f->cg = cg;
    f->fn = fn;
    f->in_par = in_par;
    f->entry = LLVMAppendBasicBlockInContext(cg->c, fn, "entry");
    f->start = LLVMAppendBasicBlockInContext(cg->c, fn, "start");
    f->eb = LLVMCreateBuilderInContext(cg->c);
    f->b = LLVMCreateBuilderInContext(cg->c);
    LLVMPositionBuilderAtEnd(f->eb, f->entry);
    LLVMPositionBuilderAtEnd(f->b, f->start);
    f->buf = cg_xcalloc((size_t)p->nbuffers, sizeof *f->buf);
    f->strides = cg_xcalloc((size_t)p->nbuffers, sizeof *f->strides);
    f->dim = cg_xcalloc((size_t)p->nslots, sizeof *f->dim);
    f->var = cg_xcalloc((size_t)p->nvars, sizeof *f->var);
    f->local = cg_xcalloc((size_t)p->nlocals, sizeof *f->local);
}

/* A local's stack slot, made in the entry block on first use: a function
 * holding one stage pays only for that stage's locals. */
IrType cg_local_type(const IrProgram *p, int32_t l)
{
    return p->local_types ? p->local_types[l] : IR_TYPE_F32;
}

LLVMValueRef cg_local_ptr(Fn *f, int32_t l)
{
    if (!f->local[l])
        f->local[l] = LLVMBuildAlloca(
            f->eb, cg_ir_type(f->cg, cg_local_type(f->cg->p, l)), "local");
    return f->local[l];
}

void cg_fn_end(Fn *f)
{
    LLVMBuildBr(f->eb, f->start);
    LLVMDisposeBuilder(f->eb);
    LLVMDisposeBuilder(f->b);
    for (int32_t i = 0; i < f->cg->p->nbuffers; i++)
        free(f->strides[i]);
    free(f->buf);
    free(f->strides);
    free(f->dim);
    free(f->var);
    free(f->local);
}

LLVMValueRef cg_i64c(Cg *cg, int64_t v)
{
    return LLVMConstInt(cg->t_i64, (unsigned long long)v, 1);
}

LLVMValueRef cg_dim_value(Fn *f, int32_t slot)
{
    Cg *cg = f->cg;
    if (slot < 0 || slot >= cg->p->nslots) {
        cg_fail(cg, cg_fmt_err("IR uses dims slot %d of %d", (int)slot,
                               (int)cg->p->nslots));
        return cg_i64c(cg, 1);
    }
    const IrSlot *s = &cg->p->slots[slot];
    if (s->is_const)
        return cg_i64c(cg, s->const_value);
    if (!f->dim[slot]) {
        /* a stage function reads dimvals[], the body dims[] */
        int64_t at = cg->slot_param ? cg->slot_param[slot] : slot;
        if (at < 0) {
            cg_fail(cg, cg_fmt_err("slot %d is not among its stage's slots", (int)slot));
            return cg_i64c(cg, 1);
        }
        LLVMValueRef idx = cg_i64c(cg, at);
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(f->eb, cg->t_i64, f->dims,
                                                 &idx, 1, "dimp");
        char name[32];
        snprintf(name, sizeof name, cg->shared ? "dim%d" : "d%d",
                 (int)(cg->shared ? at : slot));
        f->dim[slot] = LLVMBuildLoad2(f->eb, cg->t_i64, ptr, name);
    }
    return f->dim[slot];
}

bool cg_check_buf(Cg *cg, int32_t b)
{
    if (b >= 0 && b < cg->p->nbuffers)
        return true;
    cg_fail(cg, cg_fmt_err("IR uses buffer %d of %d", (int)b,
                           (int)cg->p->nbuffers));
    return false;
}

LLVMValueRef cg_buf_ptr(Fn *f, int32_t b)
{
    Cg *cg = f->cg;
    const IrBuffer *buf = &cg->p->buffers[b];
    if (buf->kind == IR_BUF_CONST && (!cg->buf_param || cg->buf_param[b] < 0))
        return cg->const_globals[b];
    if (buf->kind == IR_BUF_LOCAL && !f->buf[b]) {
        /* in this function's frame: each parallel task gets its own */
        uint64_t count = 1;
        for (int32_t j = 0; j < buf->rank; j++) {
            const IrSlot *s = &cg->p->slots[buf->dim_slots[j]];
            if (!s->is_const || s->const_value < 0) {
                cg_fail(cg, cg_fmt_err("local buffer %s has a dim not known when compiling",
                                       buf->name ? buf->name : "?"));
                return LLVMConstNull(cg->t_ptr);
            }
            count *= (uint64_t)s->const_value;
        }
        LLVMValueRef a = LLVMBuildAlloca(f->eb, LLVMArrayType2(cg->t_f32, count ? count : 1),
                                         buf->name && !cg->shared ? buf->name : "local");
        LLVMSetAlignment(a, 64);
        f->buf[b] = a;
    }
    if (!f->buf[b]) {
        /* a stage function reads ptrs[], the body bufs[] */
        int64_t at = cg->buf_param ? cg->buf_param[b] : buf->abi_index;
        if (at < 0) {
            cg_fail(cg, cg_fmt_err("buffer %s is not among its stage's buffers",
                                   buf->name ? buf->name : "?"));
            return LLVMConstNull(cg->t_ptr);
        }
        LLVMValueRef idx = cg_i64c(cg, at);
        LLVMValueRef ptr = LLVMBuildInBoundsGEP2(f->eb, cg->t_ptr, f->bufs,
                                                 &idx, 1, "bufp");
        char pname[32];
        snprintf(pname, sizeof pname, "ptr%d", (int)at);
        f->buf[b] = LLVMBuildLoad2(f->eb, cg->t_ptr, ptr,
                                   cg->shared ? pname : buf->name ? buf->name : "buf");
    }
    return f->buf[b];
}

LLVMValueRef *cg_buf_strides(Fn *f, int32_t b)
{
    const IrBuffer *buf = &f->cg->p->buffers[b];
    if (!f->strides[b] && buf->rank > 0) {
        LLVMValueRef *st = cg_xcalloc((size_t)buf->rank, sizeof *st);
        st[buf->rank - 1] = cg_i64c(f->cg, 1);
        for (int32_t j = buf->rank - 2; j >= 0; j--)
            st[j] = LLVMBuildNSWMul(f->eb, st[j + 1],
                                    cg_dim_value(f, buf->dim_slots[j + 1]),
                                    "stride");
        f->strides[b] = st;
    }
    return f->strides[b];
}
