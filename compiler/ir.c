/* ir.c - building and dumping the loop IR (ir.h).
 *
 * The constructors copy every array they are given into the arena, so a
 * caller may build index lists on its stack.  ir_bin folds what is certain
 * for i64 (constant operands, x+0, x*1, x*0 ...); it never touches f32
 * arithmetic, where x*0 is not 0 for NaN or infinity and x+0 is not x for
 * x = -0. */
#include "ir.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static IrExpr *expr_new(Arena *a, IrExprKind kind, IrType type)
{
    IrExpr *e = arena_alloc(a, sizeof *e);
    e->kind = kind;
    e->type = type;
    return e;
}

static IrExpr **copy_exprs(Arena *a, int32_t n, IrExpr *const *src)
{
    if (n <= 0)
        return NULL;
    IrExpr **dst = arena_array(a, (size_t)n, sizeof *dst);
    memcpy(dst, src, (size_t)n * sizeof *dst);
    return dst;
}

IrExpr *ir_int(Arena *a, int64_t v)
{
    IrExpr *e = expr_new(a, IR_EXPR_INT, IR_TYPE_I64);
    e->ival = v;
    return e;
}

IrExpr *ir_float(Arena *a, float v)
{
    IrExpr *e = expr_new(a, IR_EXPR_FLOAT, IR_TYPE_F32);
    e->fval = v;
    return e;
}

IrExpr *ir_var(Arena *a, int32_t var)
{
    IrExpr *e = expr_new(a, IR_EXPR_VAR, IR_TYPE_I64);
    e->var = var;
    return e;
}

IrExpr *ir_dim(Arena *a, int32_t slot)
{
    IrExpr *e = expr_new(a, IR_EXPR_DIM, IR_TYPE_I64);
    e->slot = slot;
    return e;
}

IrExpr *ir_local(Arena *a, int32_t local)
{
    IrExpr *e = expr_new(a, IR_EXPR_LOCAL, IR_TYPE_F32);
    e->local = local;
    return e;
}

IrExpr *ir_load(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx)
{
    IrExpr *e = expr_new(a, IR_EXPR_LOAD, IR_TYPE_F32);
    e->load.buf = buf;
    e->load.idx = copy_exprs(a, rank, idx);
    return e;
}

static bool is_int(const IrExpr *e, int64_t v)
{
    return e->kind == IR_EXPR_INT && e->ival == v;
}

static int64_t floor_div(int64_t x, int64_t y)
{
    int64_t q = x / y, r = x % y;
    return (r != 0 && (r < 0) != (y < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t x, int64_t y)
{
    int64_t r = x % y;
    return (r != 0 && (r < 0) != (y < 0)) ? r + y : r;
}

/* Folds two i64 constants; false when the result is not certain (overflow,
 * division by a non-positive value, or an op with a bool result). */
static bool fold_ints(IrOp op, int64_t x, int64_t y, int64_t *out)
{
    switch (op) {
    case IR_OP_ADD: return !__builtin_add_overflow(x, y, out);
    case IR_OP_SUB: return !__builtin_sub_overflow(x, y, out);
    case IR_OP_MUL: return !__builtin_mul_overflow(x, y, out);
    case IR_OP_DIV:
        if (y <= 0) return false;
        *out = floor_div(x, y);
        return true;
    case IR_OP_MOD:
        if (y <= 0) return false;
        *out = floor_mod(x, y);
        return true;
    case IR_OP_MIN: *out = x < y ? x : y; return true;
    case IR_OP_MAX: *out = x > y ? x : y; return true;
    default: return false;
    }
}

static IrType bin_type(IrOp op, const IrExpr *x)
{
    switch (op) {
    case IR_OP_LT: case IR_OP_LE: case IR_OP_GT: case IR_OP_GE:
    case IR_OP_EQ: case IR_OP_NE: case IR_OP_AND: case IR_OP_OR:
        return ir_type_is_vector(x->type) ? IR_TYPE_VBOOL : IR_TYPE_BOOL;
    default:
        return x->type;
    }
}

/* A scalar operand next to a vector one is broadcast to every lane. */
static void promote(Arena *a, IrExpr **x, IrExpr **y)
{
    bool vx = ir_type_is_vector((*x)->type), vy = ir_type_is_vector((*y)->type);
    if (vx && !vy && (*y)->type != IR_TYPE_BOOL)
        *y = ir_broadcast(a, *y);
    else if (vy && !vx && (*x)->type != IR_TYPE_BOOL)
        *x = ir_broadcast(a, *x);
}

static bool is_fmul(const IrExpr *e)
{
    return e->kind == IR_EXPR_BINARY && e->bin.op == IR_OP_MUL &&
           (e->type == IR_TYPE_F32 || e->type == IR_TYPE_VF32);
}

IrExpr *ir_bin(Arena *a, IrOp op, IrExpr *x, IrExpr *y)
{
    promote(a, &x, &y);
    /* A float multiply whose result is added or subtracted becomes one
     * fused multiply-add, decided here rather than left to the back end:
     * the scalar nests and the micro-kernels' epilogues build the same
     * expressions, so they round the same way whatever LLVM makes of
     * their surroundings.  The left operand's product is fused first;
     * negation is exact. */
    if ((op == IR_OP_ADD || op == IR_OP_SUB) && (x->type == IR_TYPE_F32 || x->type == IR_TYPE_VF32)) {
        if (is_fmul(x))
            return ir_fma(a, x->bin.a, x->bin.b, op == IR_OP_ADD ? y : ir_un(a, IR_FN_NEG, y));
        if (is_fmul(y))
            return ir_fma(a, op == IR_OP_ADD ? y->bin.a : ir_un(a, IR_FN_NEG, y->bin.a), y->bin.b, x);
    }
    if (x->type == IR_TYPE_I64 && y->type == IR_TYPE_I64) {
        int64_t v;
        if (x->kind == IR_EXPR_INT && y->kind == IR_EXPR_INT &&
            fold_ints(op, x->ival, y->ival, &v))
            return ir_int(a, v);
        switch (op) {
        case IR_OP_ADD:
            if (is_int(y, 0)) return x;
            if (is_int(x, 0)) return y;
            break;
        case IR_OP_SUB:
            if (is_int(y, 0)) return x;
            break;
        case IR_OP_MUL:
            if (is_int(y, 1)) return x;
            if (is_int(x, 1)) return y;
            if (is_int(x, 0) || is_int(y, 0)) return ir_int(a, 0);
            break;
        case IR_OP_DIV:
            if (is_int(y, 1)) return x;
            break;
        case IR_OP_MOD:
            if (is_int(y, 1)) return ir_int(a, 0);
            break;
        default:
            break;
        }
    }
    IrExpr *e = expr_new(a, IR_EXPR_BINARY, bin_type(op, x));
    e->bin.op = op;
    e->bin.a = x;
    e->bin.b = y;
    return e;
}

IrExpr *ir_un(Arena *a, IrFn fn, IrExpr *x)
{
    IrType t;
    switch (fn) {
    case IR_FN_NOT:    t = x->type; break;
    case IR_FN_ISNAN:
        t = x->type == IR_TYPE_VF32 ? IR_TYPE_VBOOL : IR_TYPE_BOOL;
        break;
    case IR_FN_TO_F32:
        t = x->type == IR_TYPE_VI64 ? IR_TYPE_VF32 : IR_TYPE_F32;
        break;
    case IR_FN_NEG:    t = x->type; break;
    default:
        t = x->type == IR_TYPE_VF32 ? IR_TYPE_VF32 : IR_TYPE_F32;
        break;
    }
    IrExpr *e = expr_new(a, IR_EXPR_UNARY, t);
    e->un.fn = fn;
    e->un.a = x;
    return e;
}

IrExpr *ir_select(Arena *a, IrExpr *c, IrExpr *x, IrExpr *y)
{
    promote(a, &x, &y);
    IrExpr *e = expr_new(a, IR_EXPR_SELECT, x->type);
    e->sel.cond = c;
    e->sel.a = x;
    e->sel.b = y;
    return e;
}

IrExpr *ir_local_typed(Arena *a, int32_t local, IrType type)
{
    IrExpr *e = expr_new(a, IR_EXPR_LOCAL, type);
    e->local = local;
    return e;
}

IrExpr *ir_vload(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                 IrExpr *mask)
{
    IrExpr *e = expr_new(a, IR_EXPR_LOAD, IR_TYPE_VF32);
    e->load.buf = buf;
    e->load.idx = copy_exprs(a, rank, idx);
    e->load.mask = mask;
    return e;
}

IrExpr *ir_vload_strided(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                         IrExpr *mask, int32_t stride)
{
    IrExpr *e = ir_vload(a, buf, rank, idx, mask);
    e->load.stride = stride;
    return e;
}

IrExpr *ir_vgather(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx, IrExpr *lanes,
                   IrExpr *mask)
{
    IrExpr *e = ir_vload(a, buf, rank, idx, mask);
    e->load.lanes = lanes;
    return e;
}

IrExpr *ir_broadcast(Arena *a, IrExpr *x)
{
    IrExpr *e = expr_new(a, IR_EXPR_BROADCAST,
                         x->type == IR_TYPE_I64    ? IR_TYPE_VI64
                         : x->type == IR_TYPE_BOOL ? IR_TYPE_VBOOL
                                                   : IR_TYPE_VF32);
    e->un.a = x;
    return e;
}

IrExpr *ir_iota(Arena *a)
{
    return expr_new(a, IR_EXPR_IOTA, IR_TYPE_VI64);
}

IrExpr *ir_shuffle(Arena *a, IrExpr *x, IrExpr *y, const int32_t *sel, int32_t vl)
{
    IrExpr *e = expr_new(a, IR_EXPR_SHUFFLE, IR_TYPE_VF32);
    int32_t *s = arena_array(a, (size_t)vl, sizeof *s);
    memcpy(s, sel, (size_t)vl * sizeof *s);
    e->shuf.a = x;
    e->shuf.b = y;
    e->shuf.sel = s;
    return e;
}

IrExpr *ir_fma(Arena *a, IrExpr *x, IrExpr *y, IrExpr *z)
{
    promote(a, &x, &y);
    promote(a, &x, &z);
    promote(a, &y, &z);
    IrExpr *e = expr_new(a, IR_EXPR_FMA, z->type);
    e->fma.a = x;
    e->fma.b = y;
    e->fma.c = z;
    return e;
}

static IrStmt *stmt_new(Arena *a, IrStmtKind kind)
{
    IrStmt *s = arena_alloc(a, sizeof *s);
    s->kind = kind;
    return s;
}

IrStmt *ir_for(Arena *a, int32_t var, IrExpr *lo, IrExpr *hi, IrStmt *body,
               uint32_t flags)
{
    IrStmt *s = stmt_new(a, IR_STMT_FOR);
    s->loop.var = var;
    s->loop.lo = lo;
    s->loop.hi = hi;
    s->loop.body = body;
    s->loop.flags = flags;
    return s;
}

IrStmt *ir_if(Arena *a, IrExpr *cond, IrStmt *then, IrStmt *otherwise)
{
    IrStmt *s = stmt_new(a, IR_STMT_IF);
    s->cond.cond = cond;
    s->cond.then = then;
    s->cond.otherwise = otherwise;
    return s;
}

IrStmt *ir_store(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                 IrExpr *value)
{
    IrStmt *s = stmt_new(a, IR_STMT_STORE);
    s->store.buf = buf;
    s->store.idx = copy_exprs(a, rank, idx);
    s->store.value = value;
    return s;
}

IrStmt *ir_vstore(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                  IrExpr *value, IrExpr *mask)
{
    IrStmt *s = ir_store(a, buf, rank, idx, value);
    s->store.mask = mask;
    return s;
}

IrStmt *ir_prefetch(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx)
{
    IrStmt *s = stmt_new(a, IR_STMT_PREFETCH);
    s->store.buf = buf;
    s->store.idx = copy_exprs(a, rank, idx);
    return s;
}

IrStmt *ir_prefetch_far(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx)
{
    IrStmt *s = ir_prefetch(a, buf, rank, idx);
    s->store.far = true;
    return s;
}

IrStmt *ir_vscatter(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx, IrExpr *lanes,
                    IrExpr *value, IrExpr *mask)
{
    IrStmt *s = ir_vstore(a, buf, rank, idx, value, mask);
    s->store.lanes = lanes;
    return s;
}

IrStmt *ir_vstore_stream(Arena *a, int32_t buf, int32_t rank, IrExpr *const *idx,
                         IrExpr *value)
{
    IrStmt *s = ir_store(a, buf, rank, idx, value);
    s->store.stream = true;
    return s;
}

IrStmt *ir_assign(Arena *a, int32_t local, IrExpr *value)
{
    IrStmt *s = stmt_new(a, IR_STMT_ASSIGN);
    s->assign.local = local;
    s->assign.value = value;
    return s;
}

IrStmt *ir_block(Arena *a, IrStmt *const *items, int32_t n)
{
    IrStmt *s = stmt_new(a, IR_STMT_BLOCK);
    s->block.n = n > 0 ? n : 0;
    if (n > 0) {
        s->block.items = arena_array(a, (size_t)n, sizeof *s->block.items);
        memcpy(s->block.items, items, (size_t)n * sizeof *items);
    }
    return s;
}

IrStmt *ir_call(Arena *a, IrCallee fn, const IrArg *args, int32_t nargs)
{
    IrStmt *s = stmt_new(a, IR_STMT_CALL);
    s->call.fn = fn;
    s->call.nargs = nargs > 0 ? nargs : 0;
    s->call.args = arena_array(a, (size_t)s->call.nargs + 1, sizeof *s->call.args);
    if (nargs > 0)
        memcpy(s->call.args, args, (size_t)nargs * sizeof *args);
    return s;
}

const IrBuffer *ir_arg_buffer(const IrProgram *p, int64_t abi)
{
    for (int32_t i = 0; i < p->nbuffers; i++)
        if (p->buffers[i].abi_index == abi && p->buffers[i].kind != IR_BUF_CONST &&
            p->buffers[i].kind != IR_BUF_LOCAL)
            return &p->buffers[i];
    return NULL;
}

const char *ir_arg_name(const IrProgram *p, int64_t abi)
{
    const IrBuffer *b = ir_arg_buffer(p, abi);
    return b ? b->name : "?";
}

const char *ir_callee_name(IrCallee fn)
{
    switch (fn) {
    case IR_CALL_FFT_CONV1D: return "convrt_fft_conv1d";
    case IR_CALL_FFT_CONV2D: return "convrt_fft_conv2d";
    }
    return NULL;
}

int32_t ir_callee_nargs(IrCallee fn)
{
    switch (fn) {
    case IR_CALL_FFT_CONV1D: return 12;
    case IR_CALL_FFT_CONV2D: return 19;
    }
    return -1;
}

IrStmt *ir_again(Arena *a, int32_t stage, const int32_t *bufs, int32_t nbufs,
                 const int32_t *slots, int32_t nslots)
{
    IrStmt *s = stmt_new(a, IR_STMT_AGAIN);
    s->again.stage = stage;
    s->again.nbufs = nbufs > 0 ? nbufs : 0;
    s->again.nslots = nslots > 0 ? nslots : 0;
    int32_t *b = arena_array(a, (size_t)s->again.nbufs + 1, sizeof *b);
    int32_t *d = arena_array(a, (size_t)s->again.nslots + 1, sizeof *d);
    if (nbufs > 0)
        memcpy(b, bufs, (size_t)nbufs * sizeof *b);
    if (nslots > 0)
        memcpy(d, slots, (size_t)nslots * sizeof *d);
    s->again.bufs = b;
    s->again.slots = d;
    return s;
}

/* ---- dump ---------------------------------------------------------------- */

static const char *var_name(const IrProgram *p, int32_t v, char *tmp, size_t n)
{
    if (p->vars && v >= 0 && v < p->nvars && p->vars[v].name)
        return p->vars[v].name;
    snprintf(tmp, n, "v%d", (int)v);
    return tmp;
}

static const char *buf_name(const IrProgram *p, int32_t b, char *tmp, size_t n)
{
    if (b >= 0 && b < p->nbuffers && p->buffers[b].name)
        return p->buffers[b].name;
    snprintf(tmp, n, "buf%d", (int)b);
    return tmp;
}

static const char *op_text(IrOp op)
{
    switch (op) {
    case IR_OP_ADD: return "+";
    case IR_OP_SUB: return "-";
    case IR_OP_MUL: return "*";
    case IR_OP_DIV: return "/";
    case IR_OP_MOD: return "%";
    case IR_OP_MIN: return "min";
    case IR_OP_MAX: return "max";
    case IR_OP_LT:  return "<";
    case IR_OP_LE:  return "<=";
    case IR_OP_GT:  return ">";
    case IR_OP_GE:  return ">=";
    case IR_OP_EQ:  return "==";
    case IR_OP_NE:  return "!=";
    case IR_OP_AND: return "&&";
    case IR_OP_OR:  return "||";
    }
    return "?";
}

static const char *fn_text(IrFn fn)
{
    switch (fn) {
    case IR_FN_NEG:     return "-";
    case IR_FN_ABS:     return "abs";
    case IR_FN_SQRT:    return "sqrt";
    case IR_FN_EXP:     return "exp";
    case IR_FN_TANH:    return "tanh";
    case IR_FN_SIGMOID: return "sigmoid";
    case IR_FN_NOT:     return "!";
    case IR_FN_ISNAN:   return "isnan";
    case IR_FN_TO_F32:  return "(f32)";
    }
    return "?";
}

static void dump_float(FILE *out, float v)
{
    if (isnan(v))
        fputs("nan", out);
    else if (isinf(v))
        fputs(v < 0 ? "-inf" : "inf", out);
    else if (v == truncf(v) && fabsf(v) < 1e15f)
        fprintf(out, "%.1ff", (double)v);
    else
        fprintf(out, "%.9gf", (double)v);
}

static void dump_expr(FILE *out, const IrProgram *p, const IrExpr *e);

/* Scalar locals are tN, vector locals vN (lanes) and mN (masks). */
static void dump_local(FILE *out, const IrProgram *p, int32_t l)
{
    IrType t = p->local_types && l >= 0 && l < p->nlocals ? p->local_types[l]
                                                           : IR_TYPE_F32;
    fprintf(out, "%c%d", t == IR_TYPE_VBOOL ? 'm' : ir_type_is_vector(t) ? 'v' : 't',
            (int)l);
}

static void dump_index(FILE *out, const IrProgram *p, int32_t buf,
                       IrExpr *const *idx)
{
    char tmp[32];
    int32_t rank = (buf >= 0 && buf < p->nbuffers) ? p->buffers[buf].rank : 0;
    fprintf(out, "%s[", buf_name(p, buf, tmp, sizeof tmp));
    for (int32_t i = 0; i < rank; i++) {
        if (i)
            fputs(", ", out);
        dump_expr(out, p, idx[i]);
    }
    fputc(']', out);
}

/* Operands that are themselves binary or select get parentheses, so the
 * text needs no precedence rules to be read. */
static void dump_operand(FILE *out, const IrProgram *p, const IrExpr *e)
{
    bool paren = e->kind == IR_EXPR_SELECT ||
                 (e->kind == IR_EXPR_BINARY && e->bin.op != IR_OP_MIN &&
                  e->bin.op != IR_OP_MAX);
    if (paren)
        fputc('(', out);
    dump_expr(out, p, e);
    if (paren)
        fputc(')', out);
}

static void dump_expr(FILE *out, const IrProgram *p, const IrExpr *e)
{
    char tmp[32];
    switch (e->kind) {
    case IR_EXPR_INT:   fprintf(out, "%" PRId64, e->ival); break;
    case IR_EXPR_FLOAT: dump_float(out, e->fval); break;
    case IR_EXPR_VAR:   fputs(var_name(p, e->var, tmp, sizeof tmp), out); break;
    case IR_EXPR_DIM:   fprintf(out, "d%d", (int)e->slot); break;
    case IR_EXPR_LOCAL: dump_local(out, p, e->local); break;
    case IR_EXPR_LOAD:
        if (e->type == IR_TYPE_VF32) {
            fputs("vload(", out);
            dump_index(out, p, e->load.buf, e->load.idx);
            if (e->load.stride > 1)
                fprintf(out, " step %d", (int)e->load.stride);
            if (e->load.lanes) {
                fputs(" + ", out);
                dump_expr(out, p, e->load.lanes);
            }
            if (e->load.mask) {
                fputs(", ", out);
                dump_expr(out, p, e->load.mask);
            }
            fputc(')', out);
        } else {
            dump_index(out, p, e->load.buf, e->load.idx);
        }
        break;
    case IR_EXPR_FMA:
        fputs("fma(", out);
        dump_expr(out, p, e->fma.a);
        fputs(", ", out);
        dump_expr(out, p, e->fma.b);
        fputs(", ", out);
        dump_expr(out, p, e->fma.c);
        fputc(')', out);
        break;
    case IR_EXPR_BROADCAST:
        fputs("splat(", out);
        dump_expr(out, p, e->un.a);
        fputc(')', out);
        break;
    case IR_EXPR_IOTA:
        fputs("iota", out);
        break;
    case IR_EXPR_SHUFFLE:
        fputs("shuffle(", out);
        dump_expr(out, p, e->shuf.a);
        fputs(", ", out);
        dump_expr(out, p, e->shuf.b);
        fputs(", [", out);
        for (int32_t i = 0; i < p->vlen; i++)
            fprintf(out, "%s%d", i ? " " : "", (int)e->shuf.sel[i]);
        fputs("])", out);
        break;
    case IR_EXPR_BINARY:
        if (e->bin.op == IR_OP_MIN || e->bin.op == IR_OP_MAX) {
            fprintf(out, "%s(", op_text(e->bin.op));
            dump_expr(out, p, e->bin.a);
            fputs(", ", out);
            dump_expr(out, p, e->bin.b);
            fputc(')', out);
        } else {
            dump_operand(out, p, e->bin.a);
            fprintf(out, " %s ", op_text(e->bin.op));
            dump_operand(out, p, e->bin.b);
        }
        break;
    case IR_EXPR_UNARY:
        if (e->un.fn == IR_FN_NEG || e->un.fn == IR_FN_NOT ||
            e->un.fn == IR_FN_TO_F32) {
            fputs(fn_text(e->un.fn), out);
            dump_operand(out, p, e->un.a);
        } else {
            fprintf(out, "%s(", fn_text(e->un.fn));
            dump_expr(out, p, e->un.a);
            fputc(')', out);
        }
        break;
    case IR_EXPR_SELECT:
        dump_operand(out, p, e->sel.cond);
        fputs(" ? ", out);
        dump_operand(out, p, e->sel.a);
        fputs(" : ", out);
        dump_operand(out, p, e->sel.b);
        break;
    }
}

static void indent(FILE *out, int depth)
{
    for (int i = 0; i < depth; i++)
        fputs("  ", out);
}

static void dump_stmt(FILE *out, const IrProgram *p, const IrStmt *s,
                      int depth);

static void dump_braced(FILE *out, const IrProgram *p, const IrStmt *s,
                        int depth)
{
    if (s && s->kind == IR_STMT_BLOCK) {
        for (int32_t i = 0; i < s->block.n; i++)
            dump_stmt(out, p, s->block.items[i], depth);
    } else if (s) {
        dump_stmt(out, p, s, depth);
    }
}

static void dump_stmt(FILE *out, const IrProgram *p, const IrStmt *s,
                      int depth)
{
    char tmp[32];
    if (!s)
        return;
    switch (s->kind) {
    case IR_STMT_FOR: {
        const char *v = var_name(p, s->loop.var, tmp, sizeof tmp);
        indent(out, depth);
        fprintf(out, "for (%s = ", v);
        dump_expr(out, p, s->loop.lo);
        fprintf(out, "; %s < ", v);
        dump_expr(out, p, s->loop.hi);
        fprintf(out, "; %s++) ", v);
        if (s->loop.flags & IR_LOOP_PARALLEL)
            fputs("/* parallel */ ", out);
        if (s->loop.flags & IR_LOOP_VECTORIZE)
            fputs("/* vectorize */ ", out);
        if (s->loop.flags & IR_LOOP_UNROLL)
            fputs("/* unroll */ ", out);
        if (s->loop.flags & IR_LOOP_KERNEL)
            fputs("/* kernel */ ", out);
        fputs("{\n", out);
        dump_braced(out, p, s->loop.body, depth + 1);
        indent(out, depth);
        fputs("}\n", out);
        break;
    }
    case IR_STMT_IF:
        indent(out, depth);
        fputs("if (", out);
        dump_expr(out, p, s->cond.cond);
        fputs(") {\n", out);
        dump_braced(out, p, s->cond.then, depth + 1);
        indent(out, depth);
        if (s->cond.otherwise) {
            fputs("} else {\n", out);
            dump_braced(out, p, s->cond.otherwise, depth + 1);
            indent(out, depth);
        }
        fputs("}\n", out);
        break;
    case IR_STMT_PREFETCH:
        indent(out, depth);
        fputs(s->store.far ? "prefetch_l2(" : "prefetch(", out);
        dump_index(out, p, s->store.buf, s->store.idx);
        fputs(");\n", out);
        break;
    case IR_STMT_STORE:
        indent(out, depth);
        if (s->store.value->type == IR_TYPE_VF32) {
            fputs(s->store.stream ? "vstream(" : "vstore(", out);
            dump_index(out, p, s->store.buf, s->store.idx);
            if (s->store.lanes) {
                fputs(" + ", out);
                dump_expr(out, p, s->store.lanes);
            }
            fputs(", ", out);
            dump_expr(out, p, s->store.value);
            if (s->store.mask) {
                fputs(", ", out);
                dump_expr(out, p, s->store.mask);
            }
            fputs(");\n", out);
            break;
        }
        dump_index(out, p, s->store.buf, s->store.idx);
        fputs(" = ", out);
        dump_expr(out, p, s->store.value);
        fputs(";\n", out);
        break;
    case IR_STMT_ASSIGN:
        indent(out, depth);
        dump_local(out, p, s->assign.local);
        fputs(" = ", out);
        dump_expr(out, p, s->assign.value);
        fputs(";\n", out);
        break;
    case IR_STMT_BLOCK:
        dump_braced(out, p, s, depth);
        break;
    case IR_STMT_CALL: {
        indent(out, depth);
        const char *name = ir_callee_name(s->call.fn);
        fprintf(out, "%s(", name ? name : "?");
        for (int32_t i = 0; i < s->call.nargs; i++) {
            const IrArg *g = &s->call.args[i];
            if (i)
                fputs(", ", out);
            if (g->buf >= 0)
                fprintf(out, "&%s[", buf_name(p, g->buf, tmp, sizeof tmp));
            dump_expr(out, p, g->value);
            if (g->buf >= 0)
                fputc(']', out);
        }
        fputs(");\n", out);
        break;
    }
    case IR_STMT_AGAIN:
        indent(out, depth);
        fprintf(out, "again stage %d with (", (int)s->again.stage);
        for (int32_t i = 0; i < s->again.nbufs; i++)
            fprintf(out, "%s%s", i ? ", " : "", buf_name(p, s->again.bufs[i], tmp, sizeof tmp));
        fputs(") dims (", out);
        for (int32_t i = 0; i < s->again.nslots; i++)
            fprintf(out, "%sd%d", i ? ", " : "", (int)s->again.slots[i]);
        fputs(");\n", out);
        break;
    }
}

static const char *slot_op_text(IrSlotOp op)
{
    switch (op) {
    case IR_SLOT_ADD:      return "+";
    case IR_SLOT_SUB:      return "-";
    case IR_SLOT_MUL:      return "*";
    case IR_SLOT_FLOORDIV: return "floordiv";
    case IR_SLOT_CEILDIV:  return "ceildiv";
    case IR_SLOT_MIN:      return "min";
    case IR_SLOT_MAX:      return "max";
    default:               return "?";
    }
}

static const char *buf_kind_text(IrBufferKind k)
{
    switch (k) {
    case IR_BUF_INPUT:   return "input";
    case IR_BUF_OUTPUT:  return "output";
    case IR_BUF_SCRATCH: return "scratch";
    case IR_BUF_CONST:   return "const";
    case IR_BUF_LOCAL:   return "local";
    }
    return "?";
}

static const char *check_text(IrCheckKind k)
{
    switch (k) {
    case IR_CHECK_EQ:       return "eq";
    case IR_CHECK_POSITIVE: return "positive";
    case IR_CHECK_NONNEG:   return "nonneg";
    }
    return "?";
}

void ir_dump(FILE *out, const IrProgram *p)
{
    char tmp[32];
    fprintf(out, "pipeline %s", p->name ? p->name : "?");
    if (p->source_name)
        fprintf(out, " (%s)", p->source_name);
    fprintf(out, ": %d input%s, %d output%s\n", (int)p->ninputs,
            p->ninputs == 1 ? "" : "s", (int)p->noutputs, p->noutputs == 1 ? "" : "s");
    fputs("// integer / and % round toward minus infinity; dN is dims[N]\n",
          out);
    if (p->vlen > 1)
        fprintf(out, "// vectors have %d lanes; vN are vector locals, mN lane masks\n",
                (int)p->vlen);

    fprintf(out, "slots (%d):\n", (int)p->nslots);
    for (int32_t i = 0; i < p->nslots; i++) {
        const IrSlot *s = &p->slots[i];
        fprintf(out, "  d%d = ", (int)i);
        switch (s->op) {
        case IR_SLOT_CONST:
            fprintf(out, "%" PRId64, s->a);
            break;
        case IR_SLOT_ARG:
            fprintf(out, "arg%" PRId64 ".dim%" PRId64, s->a, s->b);
            break;
        case IR_SLOT_ADD: case IR_SLOT_SUB: case IR_SLOT_MUL:
            fprintf(out, "d%" PRId64 " %s d%" PRId64, s->a,
                    slot_op_text(s->op), s->b);
            break;
        default:
            fprintf(out, "%s(d%" PRId64 ", d%" PRId64 ")",
                    slot_op_text(s->op), s->a, s->b);
            break;
        }
        if (s->is_const && s->op != IR_SLOT_CONST)
            fprintf(out, "  // = %" PRId64, s->const_value);
        fputc('\n', out);
    }

    fprintf(out, "checks (%d):\n", (int)p->nchecks);
    for (int32_t i = 0; i < p->nchecks; i++) {
        const IrCheck *c = &p->checks[i];
        if (c->kind == IR_CHECK_EQ)
            fprintf(out, "  d%d == d%d", (int)c->a, (int)c->b);
        else
            fprintf(out, "  %s(d%d)", check_text(c->kind), (int)c->a);
        if (c->what)
            fprintf(out, "  // %s", c->what);
        fputc('\n', out);
    }

    fprintf(out, "buffers (%d):\n", (int)p->nbuffers);
    for (int32_t i = 0; i < p->nbuffers; i++) {
        const IrBuffer *b = &p->buffers[i];
        fprintf(out, "  %s %s", buf_kind_text(b->kind),
                buf_name(p, i, tmp, sizeof tmp));
        if (b->kind != IR_BUF_CONST && b->kind != IR_BUF_LOCAL)
            fprintf(out, " #%d", (int)b->abi_index);
        fputs(": f32[", out);
        for (int32_t j = 0; j < b->rank; j++) {
            if (j)
                fputs(", ", out);
            fprintf(out, "d%d", (int)b->dim_slots[j]);
            if (b->dim_names && b->dim_names[j])
                fprintf(out, "=%s", b->dim_names[j]);
        }
        fputc(']', out);
        if (b->kind == IR_BUF_CONST)
            fprintf(out, " (%" PRId64 " values)", b->count);
        fputc('\n', out);
    }

    fputs("body:\n", out);
    if (p->body && p->body->kind == IR_STMT_BLOCK)
        for (int32_t i = 0; i < p->body->block.n; i++) {
            fprintf(out, "// stage %d\n", (int)i);
            dump_stmt(out, p, p->body->block.items[i], 0);
        }
    else
        dump_braced(out, p, p->body, 0);
}
