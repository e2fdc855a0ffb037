/* lower.c - stage graph -> loop IR (see lower.h for the contract). */
#include "lower_impl.h"

#include "stage_share.h"

#include <math.h>
#include <string.h>

/* How deep an inlined elementwise expression may grow (in stages). */
enum { MAX_INLINE_DEPTH = 16 };

/* ---- the dims table ---------------------------------------------------------- */

static uint32_t slot_hash(int64_t op, int64_t a, int64_t b)
{
    uint64_t h = ((uint64_t)op * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)a * 0xc2b2ae3d27d4eb4full) ^
                 ((uint64_t)b * 0x165667b19e3779f9ull);
    return (uint32_t)(h ^ (h >> 29));
}

/* The slot computing op(a, b), shared with every other use of the same
 * computation.  A hash index keeps a table of many slots linear to build. */
static int32_t add_slot(Lower *L, IrSlotOp op, int64_t a, int64_t b)
{
    if ((uint32_t)(L->nslots + 1) * 2 > L->cap_index) {
        uint32_t cap = L->cap_index ? L->cap_index * 2 : 64;
        int32_t *index = arena_array(L->pa, cap, sizeof *index);
        for (uint32_t i = 0; i < cap; i++)
            index[i] = -1;
        for (int32_t k = 0; k < L->nslots; k++) {
            const IrSlot *s = &L->slots[k];
            uint32_t i = slot_hash(s->op, s->a, s->b) & (cap - 1);
            while (index[i] >= 0)
                i = (i + 1) & (cap - 1);
            index[i] = k;
        }
        L->slot_index = index;
        L->cap_index = cap;
    }
    uint32_t i = slot_hash(op, a, b) & (L->cap_index - 1);
    for (; L->slot_index[i] >= 0; i = (i + 1) & (L->cap_index - 1)) {
        const IrSlot *s = &L->slots[L->slot_index[i]];
        if (s->op == op && s->a == a && s->b == b)
            return L->slot_index[i];
    }
    GROW(L, L->slots, L->nslots, L->cap_slots);
    IrSlot *s = &L->slots[L->nslots];
    memset(s, 0, sizeof *s);
    s->op = op;
    s->a = a;
    s->b = b;
    if (op == IR_SLOT_CONST) {
        s->is_const = true;
        s->const_value = a;
    }
    L->slot_index[i] = L->nslots;
    return L->nslots++;
}

static int32_t sym_slot(Lower *L, const char *name)
{
    for (int32_t i = 0; i < L->nsyms; i++)
        if (strcmp(L->sym_names[i], name) == 0)
            return L->sym_slots[i];
    return -1;
}

/* Whether e has its slot yet (then in *slot); *at is where it would go. */
static bool memo_get(Lower *L, const SymExpr *e, int32_t *slot, uint32_t *at)
{
    if (!L->cap_memo)
        return false;
    uint32_t i = (uint32_t)e->hash & (L->cap_memo - 1);
    for (; L->memo[i].e; i = (i + 1) & (L->cap_memo - 1))
        if (L->memo[i].e == e) {
            if (slot)
                *slot = L->memo[i].slot;
            return true;
        }
    if (at)
        *at = i;
    return false;
}

/* The slot of a node that has one. */
static int32_t memo_find(Lower *L, const SymExpr *e, uint32_t *at)
{
    int32_t s = -1;
    memo_get(L, e, &s, at);
    return s;
}

static void memo_put(Lower *L, const SymExpr *e, int32_t slot)
{
    if ((L->nmemo + 1) * 2 > L->cap_memo) {
        uint32_t cap = L->cap_memo ? L->cap_memo * 2 : 64;
        SymSlot *m = arena_array(L->pa, cap, sizeof *m);
        for (uint32_t k = 0; k < L->cap_memo; k++)
            if (L->memo[k].e) {
                uint32_t i = (uint32_t)L->memo[k].e->hash & (cap - 1);
                while (m[i].e)
                    i = (i + 1) & (cap - 1);
                m[i] = L->memo[k];
            }
        L->memo = m;
        L->cap_memo = cap;
    }
    uint32_t i = 0;
    memo_get(L, e, NULL, &i);
    L->memo[i] = (SymSlot){ e, slot };
    L->nmemo++;
}

static int32_t const_slot(Lower *L, int64_t v) { return add_slot(L, IR_SLOT_CONST, v, 0); }

/* The slots of one node whose operands already have theirs.  A sum
 * c0 + c1*t1 + ... is a chain of + and - with the positive terms first,
 * so "H - 4" is d0 - 4 and not d0 + -4. */
static int32_t node_slot(Lower *L, const SymExpr *e)
{
    static const IrSlotOp ops[] = {
        [SYM_FLOORDIV] = IR_SLOT_FLOORDIV, [SYM_CEILDIV] = IR_SLOT_CEILDIV,
        [SYM_MIN] = IR_SLOT_MIN, [SYM_MAX] = IR_SLOT_MAX,
    };
    switch (e->kind) {
    case SYM_CONST: return const_slot(L, e->value);
    case SYM_VAR: return sym_slot(L, e->name);
    case SYM_MUL: {
        int32_t acc = memo_find(L, e->terms[0], NULL);
        for (int32_t i = 1; i < e->n; i++)
            acc = add_slot(L, IR_SLOT_MUL, acc, memo_find(L, e->terms[i], NULL));
        return acc;
    }
    case SYM_ADD: {
        int32_t acc = -1;
        bool any_positive = false;
        for (int32_t i = 0; i < e->n; i++)
            any_positive |= e->coef[i] > 0;
        if (!any_positive)
            acc = const_slot(L, e->value);
        for (int pass = 0; pass < 2; pass++)
            for (int32_t i = 0; i < e->n; i++) {
                int64_t k = e->coef[i];
                if ((k < 0) != (pass == 1))
                    continue;
                int32_t t = memo_find(L, e->terms[i], NULL);
                IrSlotOp op = k > 0 ? IR_SLOT_ADD : IR_SLOT_SUB;
                if (k == INT64_MIN) {
                    t = add_slot(L, IR_SLOT_MUL, t, const_slot(L, k));
                    op = IR_SLOT_ADD;
                } else if (k != 1 && k != -1) {
                    t = add_slot(L, IR_SLOT_MUL, t, const_slot(L, k > 0 ? k : -k));
                }
                acc = acc < 0 ? t : add_slot(L, op, acc, t);
            }
        if (any_positive && e->value) {
            if (e->value == INT64_MIN)
                acc = add_slot(L, IR_SLOT_ADD, acc, const_slot(L, e->value));
            else
                acc = add_slot(L, e->value > 0 ? IR_SLOT_ADD : IR_SLOT_SUB, acc,
                               const_slot(L, e->value > 0 ? e->value : -e->value));
        }
        return acc;
    }
    default:
        return add_slot(L, ops[e->kind], memo_find(L, e->a, NULL), memo_find(L, e->b, NULL));
    }
}

/* The dims-table slot of e, made with those of its operands first.  An
 * explicit stack instead of recursion: a pipeline of many stages can nest
 * its sizes deeper than the C stack would like. */
static int32_t slot_of(Lower *L, const SymExpr *e)
{
    int32_t s;
    if (memo_get(L, e, &s, NULL))
        return s;
    PtrVec stack = { 0 };
    ptrvec_push(L->a, &stack, (void *)e);
    while (stack.len) {
        const SymExpr *x = stack.items[stack.len - 1];
        if (memo_get(L, x, NULL, NULL)) {
            stack.len--;
            continue;
        }
        const SymExpr *kids[2] = { x->a, x->b };
        const SymExpr *const *ch = x->kind == SYM_ADD || x->kind == SYM_MUL ? x->terms : kids;
        int32_t nch = x->kind == SYM_ADD || x->kind == SYM_MUL ? x->n
                    : x->kind == SYM_CONST || x->kind == SYM_VAR ? 0 : 2;
        bool ready = true;
        for (int32_t i = 0; i < nch; i++)
            if (!memo_get(L, ch[i], NULL, NULL)) {
                ptrvec_push(L->a, &stack, (void *)ch[i]);
                ready = false;
            }
        if (!ready)
            continue;
        memo_put(L, x, node_slot(L, x));
        stack.len--;
    }
    return memo_find(L, e, NULL);
}

/* A dim as an IR value: a constant when known, else a dims-table read. */
IrExpr *lower_dim(Lower *L, const SymExpr *e)
{
    int64_t v;
    if (sym_is_const(e, &v))
        return ir_int(L->a, v);
    return ir_dim(L->a, slot_of(L, e));
}

/* ---- buffers, vars, locals ------------------------------------------------- */

static int32_t add_buffer(Lower *L, const char *name, IrBufferKind kind, Shape s,
                          int32_t abi_index)
{
    GROW(L, L->bufs, L->nbufs, L->cap_bufs);
    IrBuffer *b = &L->bufs[L->nbufs];
    memset(b, 0, sizeof *b);
    b->name = name ? arena_strdup(L->pa, name) : NULL;
    b->kind = kind;
    b->rank = s.rank;
    int32_t *slots = arena_array(L->pa, (size_t)(s.rank + 1), sizeof(int32_t));
    const char **names = arena_array(L->pa, (size_t)(s.rank + 1), sizeof(char *));
    for (int32_t i = 0; i < s.rank; i++) {
        slots[i] = slot_of(L, s.dims[i]);
        names[i] = s.dims[i]->kind == SYM_VAR ? s.dims[i]->name : NULL;
    }
    b->dim_slots = slots;
    b->dim_names = names;
    b->abi_index = abi_index;
    return L->nbufs++;
}

static int32_t new_var(Lower *L, const char *name)
{
    GROW(L, L->vars, L->nvars, L->cap_vars);
    L->vars[L->nvars].name = name;
    return L->nvars++;
}

int32_t lower_local(Lower *L, IrType type)
{
    GROW(L, L->ltypes, L->nlocals, L->cap_locals);
    L->ltypes[L->nlocals] = type;
    return L->nlocals++;
}

static int32_t new_local(Lower *L) { return lower_local(L, IR_TYPE_F32); }

int32_t lower_var(Lower *L, const char *name) { return new_var(L, name); }

int32_t lower_buffer_of(Lower *L, const Node *n) { return L->node_buf[n->id]; }

int32_t lower_scratch(Lower *L, const char *name, Shape s)
{
    return add_buffer(L, name, IR_BUF_SCRATCH, s, L->next_scratch++);
}

int32_t lower_local_buffer(Lower *L, const char *name, Shape s)
{
    return add_buffer(L, name, IR_BUF_LOCAL, s, -1);
}

int32_t lower_const(Lower *L, const char *name, Shape s, const float *data, int64_t count)
{
    int32_t b = add_buffer(L, name, IR_BUF_CONST, s, -1);
    L->bufs[b].data = data;
    L->bufs[b].count = count;
    return b;
}

static IrStmt *block(Lower *L, PtrVec *v) { return lower_block(L, v); }

/* ---- reading a node's value ---------------------------------------------- */

static bool materialised(Lower *L, const Node *n) { return L->node_buf[n->id] >= 0; }

static IrExpr *value_at(Lower *L, const Node *n, IrExpr **idx);

static IrExpr *unary_expr(Lower *L, const Node *n, IrExpr *x)
{
    Arena *a = L->a;
    switch (n->unary.fn) {
    case UN_RELU: return ir_bin(a, IR_OP_MAX, x, ir_float(a, 0.0f));
    case UN_LEAKY_RELU:
        return ir_select(a, ir_bin(a, IR_OP_GT, x, ir_float(a, 0.0f)), x,
                         ir_bin(a, IR_OP_MUL, x, ir_float(a, n->unary.alpha)));
    case UN_SIGMOID: return ir_un(a, IR_FN_SIGMOID, x);
    case UN_TANH: return ir_un(a, IR_FN_TANH, x);
    case UN_ABS: return ir_un(a, IR_FN_ABS, x);
    case UN_SQRT: return ir_un(a, IR_FN_SQRT, x);
    case UN_NEG: return ir_un(a, IR_FN_NEG, x);
    case UN_EXP: return ir_un(a, IR_FN_EXP, x);
    case UN_CLAMP:
        return ir_bin(a, IR_OP_MIN, ir_bin(a, IR_OP_MAX, x, ir_float(a, n->unary.lo)),
                      ir_float(a, n->unary.hi));
    }
    return x;
}

static IrExpr *binary_expr(Lower *L, const Node *n, IrExpr *x, IrExpr *y)
{
    static const IrOp ops[] = { [BIN_ADD] = IR_OP_ADD, [BIN_SUB] = IR_OP_SUB,
                                [BIN_MUL] = IR_OP_MUL, [BIN_DIV] = IR_OP_DIV,
                                [BIN_MIN] = IR_OP_MIN, [BIN_MAX] = IR_OP_MAX };
    return ir_bin(L->a, ops[n->binary.fn], x, y);
}

IrExpr *lower_elementwise(Lower *L, const Node *n, IrExpr *x, IrExpr *y)
{
    if (n->op == NODE_UNARY)
        return unary_expr(L, n, x);
    if (n->binary.scalar_lhs)
        return binary_expr(L, n, ir_float(L->a, n->binary.scalar), x);
    if (n->binary.scalar_rhs)
        return binary_expr(L, n, x, ir_float(L->a, n->binary.scalar));
    return binary_expr(L, n, x, y);
}

/* The elementwise expression of an inlined node at idx. */
static IrExpr *elementwise_at(Lower *L, const Node *n, IrExpr **idx)
{
    if (n->op == NODE_UNARY)
        return unary_expr(L, n, value_at(L, n->in[0], idx));
    IrExpr *x, *y;
    if (n->binary.scalar_lhs) {
        x = ir_float(L->a, n->binary.scalar);
        y = value_at(L, n->in[0], idx);
    } else if (n->binary.scalar_rhs) {
        x = value_at(L, n->in[0], idx);
        y = ir_float(L->a, n->binary.scalar);
    } else {
        x = value_at(L, n->in[0], idx);
        y = value_at(L, n->in[1], idx);
    }
    return binary_expr(L, n, x, y);
}

static IrExpr *value_at(Lower *L, const Node *n, IrExpr **idx)
{
    if (materialised(L, n))
        return ir_load(L->a, L->node_buf[n->id], n->shape.rank, idx);
    return elementwise_at(L, n, idx);
}

IrExpr *lower_value(Lower *L, const Node *n, IrExpr **idx) { return value_at(L, n, idx); }

/* ---- loop nests ------------------------------------------------------------ */

/* Nest loops over `shape` (outermost first) around the statement that
 * make_body builds from the index vars. */
typedef IrStmt *(*BodyFn)(Lower *L, const Node *n, IrExpr **idx, void *ctx);

static IrStmt *nest(Lower *L, const Node *n, Shape shape, const char *const *names,
                    BodyFn body, void *ctx)
{
    int32_t rank = shape.rank;
    int32_t *vars = arena_array(L->a, (size_t)rank + 1, sizeof(int32_t));
    IrExpr **idx = arena_array(L->a, (size_t)rank + 1, sizeof(IrExpr *));
    for (int32_t i = 0; i < rank; i++) {
        vars[i] = new_var(L, names && names[i] ? names[i] : arena_printf(L->a, "i%d", i));
        idx[i] = V(L, vars[i]);
    }
    /* The parallel loop: the loops the schedule collapsed into one, or
     * else the outermost one not known to have a single iteration (a batch
     * of 1 would leave every core but one idle). */
    const StagePlan *plan = L->sched ? schedule_plan(L->sched, n) : NULL;
    int32_t first = 0, count = 1;
    if (plan && plan->par_count > 1 && plan->par_first + plan->par_count <= rank &&
        shape.rank == n->shape.rank) {
        first = plan->par_first;
        count = plan->par_count;
    } else {
        int64_t extent;
        while (first < rank - 1 && sym_is_const(shape.dims[first], &extent) && extent == 1)
            first++;
    }
    int32_t cv = -1;
    if (count > 1) {
        /* index i of the collapsed loops from the one counter */
        cv = new_var(L, "par");
        IrExpr *inner = I(L, 1);
        for (int32_t i = first + count - 1; i >= first; i--) {
            IrExpr *d = lower_dim(L, shape.dims[i]);
            idx[i] = imod(L, idiv(L, V(L, cv), inner), d);
            inner = mul(L, inner, d);
        }
    }
    IrStmt *s = body(L, n, idx, ctx);
    bool parallel = L->opt && L->opt->parallel;
    for (int32_t i = rank - 1; i >= 0; i--) {
        if (count > 1 && i >= first && i < first + count) {
            if (i == first) {
                IrExpr *total = I(L, 1);
                for (int32_t k = first; k < first + count; k++)
                    total = mul(L, total, lower_dim(L, shape.dims[k]));
                s = ir_for(L->a, cv, I(L, 0), total, s, parallel ? IR_LOOP_PARALLEL : 0);
            }
            continue;
        }
        uint32_t flags = 0;
        if (i == first && parallel)
            flags |= IR_LOOP_PARALLEL;
        if (i == rank - 1)
            flags |= IR_LOOP_VECTORIZE;
        s = ir_for(L->a, vars[i], I(L, 0), lower_dim(L, shape.dims[i]), s, flags);
    }
    return s;
}

/* Names for the output index vars: batch dims n0.., then the stage's own. */
static const char **out_names(Lower *L, int32_t rank, const char *const *tail, int32_t ntail)
{
    const char **names = arena_array(L->a, (size_t)rank + 1, sizeof(char *));
    for (int32_t i = 0; i < rank; i++) {
        int32_t t = i - (rank - ntail);
        names[i] = t >= 0 ? tail[t] : arena_printf(L->a, "n%d", i);
    }
    return names;
}

static IrStmt *store_value_body(Lower *L, const Node *n, IrExpr **idx, void *ctx)
{
    int32_t buf = L->node_buf[n->id];
    return ir_store(L->a, buf, n->shape.rank, idx, elementwise_at(L, n, idx));
}

typedef struct CopyCtx {
    const Node *src;
    int32_t     dst;
} CopyCtx;

static IrStmt *copy_body(Lower *L, const Node *n, IrExpr **idx, void *ctx)
{
    CopyCtx *c = ctx;
    return ir_store(L->a, c->dst, c->src->shape.rank, idx, value_at(L, c->src, idx));
}

/* Index remapping for non-zero padding modes; i may be out of [0, n). */
IrExpr *lower_pad_index(Lower *L, PadMode mode, IrExpr *i, IrExpr *n)
{
    Arena *a = L->a;
    IrExpr *last = sub(L, n, I(L, 1));
    switch (mode) {
    case PAD_REPLICATE: return imin(L, imax(L, i, I(L, 0)), last);
    case PAD_REFLECT: {
        /* pad < n, so one reflection suffices */
        IrExpr *lo = ir_select(a, ir_bin(a, IR_OP_LT, i, I(L, 0)), sub(L, I(L, 0), i), i);
        return ir_select(a, ir_bin(a, IR_OP_GT, lo, last), sub(L, mul(L, I(L, 2), last), lo), lo);
    }
    case PAD_CIRCULAR: return ir_bin(a, IR_OP_MOD, i, n);
    default: return i;
    }
}

/* Bounds of kernel tap t such that o*s - p0 + t*d lies in [0, n):
 *   lo = max(0, ceil((p0 - o*s)/d)),  hi = min(k, floor((n - 1 + p0 - o*s)/d) + 1) */
static void tap_bounds(Lower *L, IrExpr *o, int64_t s, IrExpr *p0, int64_t d, IrExpr *n,
                       IrExpr *k, IrExpr **lo, IrExpr **hi)
{
    IrExpr *base = sub(L, mul(L, o, I(L, s)), p0);           /* o*s - p0 */
    IrExpr *neg_ceil = idiv(L, base, I(L, d));               /* floor((o*s - p0)/d) */
    *lo = imax(L, I(L, 0), sub(L, I(L, 0), neg_ceil));
    *hi = imin(L, k, add(L, idiv(L, sub(L, sub(L, n, I(L, 1)), base), I(L, d)), I(L, 1)));
}

/* conv1d/conv2d/conv1x1 and per-channel filtering. */
static IrStmt *conv_body(Lower *L, const Node *n, IrExpr **idx, void *ctx)
{
    Arena *a = L->a;
    const WindowParams *w = &n->conv.win;
    const Node *x = n->in[0], *wt = n->in[1], *bias = n->nin > 2 ? n->in[2] : NULL;
    int32_t nsp = w->nsp, xr = x->shape.rank, orank = n->shape.rank;
    bool pc = n->conv.per_channel;
    int32_t acc = new_local(L);
    PtrVec outer = { 0 };

    IrExpr *init = ir_float(a, 0.0f);
    IrExpr *kidx = pc ? NULL : idx[orank - nsp - 1];
    if (bias)
        init = value_at(L, bias, &kidx);
    ptrvec_push(a, &outer, ir_assign(a, acc, init));

    /* x index: batch dims, channel, spatial */
    IrExpr **xi = arena_array(a, (size_t)xr, sizeof(IrExpr *));
    for (int32_t i = 0; i < xr - nsp - (pc ? 0 : 1); i++)
        xi[i] = idx[i];
    int32_t wr = wt->shape.rank;
    IrExpr **wi = arena_array(a, (size_t)wr, sizeof(IrExpr *));

    int32_t cvar = -1;
    if (!pc) {
        /* channel of x read for weight channel c in group g = k / (K/groups) */
        const SymExpr *K = wt->shape.dims[0], *Cg = wt->shape.dims[1];
        cvar = new_var(L, "c");
        IrExpr *ci = V(L, cvar);
        if (n->conv.groups > 1) {
            IrExpr *kpg = lower_dim(L, sym_floordiv(&L->sc, K, sym_const(&L->sc, n->conv.groups)));
            ci = add(L, mul(L, idiv(L, kidx, kpg), lower_dim(L, Cg)), ci);
        }
        xi[xr - nsp - 1] = ci;
        wi[0] = kidx;
        wi[1] = V(L, cvar);
    }
    /* spatial taps, innermost last */
    int32_t tvar[MAX_SPATIAL];
    IrExpr *lo[MAX_SPATIAL], *hi[MAX_SPATIAL];
    for (int i = 0; i < nsp; i++) {
        IrExpr *o = idx[orank - nsp + i];
        IrExpr *nin = lower_dim(L, x->shape.dims[xr - nsp + i]);
        IrExpr *k = lower_dim(L, w->k[i]);
        IrExpr *p0 = lower_dim(L, w->pad0[i]);
        tvar[i] = new_var(L, nsp == 1 ? "t" : i == 0 ? "ky" : "kx");
        IrExpr *t = V(L, tvar[i]);
        IrExpr *pos = add(L, sub(L, mul(L, o, I(L, w->stride[i])), p0), mul(L, t, I(L, w->dilation[i])));
        if (n->conv.pad_mode == PAD_ZEROS) {
            tap_bounds(L, o, w->stride[i], p0, w->dilation[i], nin, k, &lo[i], &hi[i]);
            xi[xr - nsp + i] = pos;
        } else {
            lo[i] = I(L, 0);
            hi[i] = k;
            xi[xr - nsp + i] = lower_pad_index(L, n->conv.pad_mode, pos, nin);
        }
        IrExpr *tw = n->conv.flip ? sub(L, sub(L, k, I(L, 1)), t) : t;
        if (wr > (pc ? 0 : 2))
            wi[wr - nsp + i] = tw;
    }
    /* One fused multiply-add per tap (a multiply then an add where the
     * target has no FMA): the operation the vector kernels use too, so
     * every path rounds each output the same way. */
    IrStmt *s = ir_assign(a, acc, ir_fma(a, value_at(L, x, xi), value_at(L, wt, wi),
                                         ir_local(a, acc)));
    for (int i = nsp - 1; i >= 0; i--)
        s = ir_for(a, tvar[i], lo[i], hi[i], s, i == nsp - 1 ? IR_LOOP_VECTORIZE : 0);
    if (!pc)
        s = ir_for(a, cvar, I(L, 0), lower_dim(L, wt->shape.dims[1]), s, 0);
    ptrvec_push(a, &outer, s);
    ptrvec_push(a, &outer, ir_store(a, L->node_buf[n->id], orank, idx, ir_local(a, acc)));
    return block(L, &outer);
}

static IrStmt *pool_body(Lower *L, const Node *n, IrExpr **idx, void *ctx)
{
    Arena *a = L->a;
    const WindowParams *w = &n->pool.win;
    const Node *x = n->in[0];
    int32_t nsp = w->nsp, xr = x->shape.rank;
    int32_t acc = new_local(L);
    PtrVec outer = { 0 };
    bool is_max = n->pool.is_max;
    ptrvec_push(a, &outer, ir_assign(a, acc, ir_float(a, is_max ? -INFINITY : 0.0f)));
    IrExpr **xi = arena_array(a, (size_t)xr, sizeof(IrExpr *));
    for (int32_t i = 0; i < xr - nsp; i++)
        xi[i] = idx[i];
    int32_t tvar[MAX_SPATIAL];
    IrExpr *lo[MAX_SPATIAL], *hi[MAX_SPATIAL], *window = I(L, 1), *valid = I(L, 1);
    for (int i = 0; i < nsp; i++) {
        IrExpr *o = idx[xr - nsp + i];
        IrExpr *nin = lower_dim(L, x->shape.dims[xr - nsp + i]);
        IrExpr *k = lower_dim(L, w->k[i]);
        IrExpr *p0 = lower_dim(L, w->pad0[i]);
        tvar[i] = new_var(L, nsp == 1 ? "t" : i == 0 ? "ky" : "kx");
        tap_bounds(L, o, w->stride[i], p0, w->dilation[i], nin, k, &lo[i], &hi[i]);
        xi[xr - nsp + i] = add(L, sub(L, mul(L, o, I(L, w->stride[i])), p0),
                               mul(L, V(L, tvar[i]), I(L, w->dilation[i])));
        /* PyTorch's divisor with count_include_pad: the window clipped to
         * the padded input [-p0, n + p1) */
        IrExpr *start = sub(L, mul(L, o, I(L, w->stride[i])), p0);
        IrExpr *end = imin(L, add(L, start, k), add(L, nin, lower_dim(L, w->pad1[i])));
        window = mul(L, window, sub(L, end, start));
        valid = mul(L, valid, sub(L, hi[i], lo[i]));
    }
    IrExpr *v = value_at(L, x, xi);
    IrStmt *s = ir_assign(a, acc, ir_bin(a, is_max ? IR_OP_MAX : IR_OP_ADD, ir_local(a, acc), v));
    for (int i = nsp - 1; i >= 0; i--)
        s = ir_for(a, tvar[i], lo[i], hi[i], s, i == nsp - 1 ? IR_LOOP_VECTORIZE : 0);
    ptrvec_push(a, &outer, s);
    IrExpr *result = ir_local(a, acc);
    if (!is_max) {
        IrExpr *count = n->pool.count_pad ? window : valid;
        result = ir_bin(a, IR_OP_DIV, result, ir_un(a, IR_FN_TO_F32, count));
    }
    ptrvec_push(a, &outer, ir_store(a, L->node_buf[n->id], n->shape.rank, idx, result));
    return block(L, &outer);
}

static IrStmt *global_pool_body(Lower *L, const Node *n, IrExpr **idx, void *ctx)
{
    Arena *a = L->a;
    const Node *x = n->in[0];
    int32_t xr = x->shape.rank;
    int32_t acc = new_local(L);
    PtrVec outer = { 0 };
    bool is_max = n->pool.is_max;
    ptrvec_push(a, &outer, ir_assign(a, acc, ir_float(a, is_max ? -INFINITY : 0.0f)));
    IrExpr **xi = arena_array(a, (size_t)xr, sizeof(IrExpr *));
    for (int32_t i = 0; i < xr - 2; i++)
        xi[i] = idx[i];
    int32_t hy = new_var(L, "y"), hx = new_var(L, "x");
    xi[xr - 2] = V(L, hy);
    xi[xr - 1] = V(L, hx);
    IrStmt *s = ir_assign(a, acc, ir_bin(a, is_max ? IR_OP_MAX : IR_OP_ADD, ir_local(a, acc),
                                         value_at(L, x, xi)));
    IrExpr *H = lower_dim(L, x->shape.dims[xr - 2]), *W = lower_dim(L, x->shape.dims[xr - 1]);
    s = ir_for(a, hx, I(L, 0), W, s, IR_LOOP_VECTORIZE);
    s = ir_for(a, hy, I(L, 0), H, s, 0);
    ptrvec_push(a, &outer, s);
    IrExpr *result = ir_local(a, acc);
    if (!is_max)
        result = ir_bin(a, IR_OP_DIV, result, ir_un(a, IR_FN_TO_F32, mul(L, H, W)));
    ptrvec_push(a, &outer, ir_store(a, L->node_buf[n->id], n->shape.rank, idx, result));
    return block(L, &outer);
}

/* scipy convolve/correlate: out[o] = full[o + start], with the full result
 *   correlate: full[m] = sum_t a[m - (n2 - 1) + t] * b[t]
 *   convolve:  full[m] = sum_t a[m - t] * b[t]
 * and t clamped so that the index into a stays in [0, n1). */
static IrStmt *signal_body(Lower *L, const Node *n, IrExpr **idx, void *ctx)
{
    Arena *a = L->a;
    const Node *x = n->in[0], *y = n->in[1];
    int32_t nsp = n->shape.rank;
    int32_t acc = new_local(L);
    PtrVec outer = { 0 };
    ptrvec_push(a, &outer, ir_assign(a, acc, ir_float(a, 0.0f)));
    IrExpr *xi[MAX_SPATIAL], *yi[MAX_SPATIAL], *lo[MAX_SPATIAL], *hi[MAX_SPATIAL];
    int32_t tvar[MAX_SPATIAL];
    for (int i = 0; i < nsp; i++) {
        IrExpr *n1 = lower_dim(L, x->shape.dims[i]), *n2 = lower_dim(L, y->shape.dims[i]);
        IrExpr *m = add(L, idx[i], lower_dim(L, n->signal.start[i]));
        tvar[i] = new_var(L, nsp == 1 ? "t" : i == 0 ? "ty" : "tx");
        IrExpr *t = V(L, tvar[i]);
        if (n->signal.correlate) {
            IrExpr *shift = sub(L, m, sub(L, n2, I(L, 1)));     /* m - (n2 - 1) */
            lo[i] = imax(L, I(L, 0), sub(L, I(L, 0), shift));
            hi[i] = imin(L, n2, sub(L, n1, shift));
            xi[i] = add(L, shift, t);
        } else {
            lo[i] = imax(L, I(L, 0), add(L, sub(L, m, n1), I(L, 1)));
            hi[i] = imin(L, n2, add(L, m, I(L, 1)));
            xi[i] = sub(L, m, t);
        }
        yi[i] = t;
    }
    IrStmt *s = ir_assign(a, acc, ir_fma(a, value_at(L, x, xi), value_at(L, y, yi),
                                         ir_local(a, acc)));
    for (int i = nsp - 1; i >= 0; i--)
        s = ir_for(a, tvar[i], lo[i], hi[i], s, 0);
    ptrvec_push(a, &outer, s);
    ptrvec_push(a, &outer, ir_store(a, L->node_buf[n->id], nsp, idx, ir_local(a, acc)));
    return block(L, &outer);
}

typedef struct ConcatCtx {
    const Node *src;
    const SymExpr *offset;
    int32_t dst;
} ConcatCtx;

static IrStmt *concat_body(Lower *L, const Node *n, IrExpr **idx, void *ctx)
{
    ConcatCtx *c = ctx;
    int32_t r = c->src->shape.rank;
    IrExpr **oi = arena_array(L->a, (size_t)r, sizeof(IrExpr *));
    for (int32_t i = 0; i < r; i++)
        oi[i] = idx[i];
    oi[r - 3] = add(L, idx[r - 3], lower_dim(L, c->offset));
    return ir_store(L->a, c->dst, r, oi, value_at(L, c->src, idx));
}

static void emit(Lower *L, IrStmt *s) { ptrvec_push(L->pa, &L->stmts, s); }

/* A plane kernel with conv-chan's plan beside it (plan.alt): both nests,
 * conv-chan's taken where the output rows are CHAN_ALT_WIDTHS wide (the
 * first plan.alt_widths of them).  Each
 * is lowered with its own plan in the stage's slot. */
static IrStmt *conv_plane_or_chan(Lower *L, const Node *n)
{
    StagePlan *p = schedule_plan(L->sched, n);
    if (!p->alt)
        return kernel_conv_plane(L, n);
    StagePlan plane = *p;
    *p = *plane.alt;
    IrStmt *chan = kernel_conv_chan(L, n);
    *p = plane;
    IrExpr *ow = lower_dim(L, n->shape.dims[n->shape.rank - 1]), *cond = NULL;
    for (int32_t i = 0; i < p->alt_widths; i++) {
        IrExpr *is = ir_bin(L->a, IR_OP_EQ, ow, ir_int(L->a, CHAN_ALT_WIDTHS[i]));
        cond = cond ? ir_bin(L->a, IR_OP_OR, cond, is) : is;
    }
    return ir_if(L->a, cond, chan, kernel_conv_plane(L, n));
}

static void lower_node_kernel(Lower *L, const Node *n)
{
    switch (schedule_plan(L->sched, n)->kernel) {
    case KERNEL_CONV_PLANE: emit(L, conv_plane_or_chan(L, n)); return;
    case KERNEL_CONV_ROWS:  emit(L, kernel_conv_rows(L, n)); return;
    case KERNEL_CONV_CHAN:  emit(L, kernel_conv_chan(L, n)); return;
    case KERNEL_POOL_ROWS:  emit(L, kernel_pool_rows(L, n)); return;
    case KERNEL_STENCIL_ROWS: emit(L, kernel_stencil_rows(L, n)); return;
    case KERNEL_FFT:        emit(L, kernel_fft(L, n)); return;
    case KERNEL_SCALAR: break;
    }
}

static void lower_node(Lower *L, const Node *n)
{
    int32_t r = n->shape.rank;
    const StagePlan *plan = L->sched ? schedule_plan(L->sched, n) : NULL;
    if (plan && (plan->nepilogue || plan->pool))
        return;     /* emitted where the last stage fused into it stands */
    if (plan && plan->fused_into) {
        /* The producer's nest goes where the whole chain's operands are
         * computed: at the last stage fused into it. */
        const Node *root = schedule_root(L->sched, n);
        if (schedule_store_node(L->sched, root) == n)
            lower_node_kernel(L, root);
        return;
    }
    if (plan && plan->kernel != KERNEL_SCALAR) {
        lower_node_kernel(L, n);
        return;
    }
    switch (n->op) {
    case NODE_INPUT:
    case NODE_CONST:
        return;
    case NODE_CONV: {
        int32_t nsp = n->conv.win.nsp;
        static const char *const t2[] = { "k", "oy", "ox" }, *const t1[] = { "k", "ox" };
        static const char *const p2[] = { "oy", "ox" }, *const p1[] = { "ox" };
        const char *const *tail = n->conv.per_channel ? (nsp == 2 ? p2 : p1) : (nsp == 2 ? t2 : t1);
        int32_t ntail = nsp + (n->conv.per_channel ? 0 : 1);
        emit(L, nest(L, n, n->shape, out_names(L, r, tail, ntail), conv_body, NULL));
        return;
    }
    case NODE_POOL: {
        static const char *const t2[] = { "oy", "ox" }, *const t1[] = { "ox" };
        if (n->pool.global)
            emit(L, nest(L, n, n->shape, out_names(L, r, t2, 2), global_pool_body, NULL));
        else
            emit(L, nest(L, n, n->shape, out_names(L, r, n->pool.win.nsp == 2 ? t2 : t1,
                                                     n->pool.win.nsp), pool_body, NULL));
        return;
    }
    case NODE_SIGNAL: {
        static const char *const t2[] = { "y", "x" }, *const t1[] = { "x" };
        emit(L, nest(L, n, n->shape, r == 2 ? t2 : t1, signal_body, NULL));
        return;
    }
    case NODE_CONCAT: {
        const SymExpr *off = sym_const(&L->sc, 0);
        for (int32_t k = 0; k < n->nin; k++) {
            const Node *src = n->ins[k];
            ConcatCtx c = { src, off, L->node_buf[n->id] };
            emit(L, nest(L, n, src->shape, NULL, concat_body, &c));
            off = sym_add(&L->sc, off, src->shape.dims[r - 3]);
        }
        return;
    }
    case NODE_UNARY:
    case NODE_BINARY:
        if (materialised(L, n))
            emit(L, nest(L, n, n->shape, NULL, store_value_body, NULL));
        return;
    }
}

/* The program as lowered so far, for stage_forms_add. */
static IrProgram tables(Lower *L)
{
    return (IrProgram){ .slots = L->slots, .nslots = L->nslots, .buffers = L->bufs,
                        .nbuffers = L->nbufs, .vars = L->vars, .nvars = L->nvars,
                        .nlocals = L->nlocals, .local_types = L->ltypes };
}

/* Node n's stages, written in an arena of their own.  A stage equal to an
 * earlier one up to its buffers and slots (stage_share.h) becomes an
 * IR_STMT_AGAIN of it and its nest is dropped with the arena, along with
 * the loop variables and locals only it used; otherwise the arena joins
 * the program's.  Nodes that add weight packing to the prologue are kept
 * whole. */
static void lower_stage(Lower *L, StageForms *forms, const Node *n)
{
    Arena stage;
    arena_init(&stage);
    int32_t s0 = L->stmts.len, p0 = L->prologue.len, v0 = L->nvars, l0 = L->nlocals;
    L->a = &stage;
    lower_node(L, n);
    L->a = L->pa;
    int32_t ns = L->stmts.len - s0;
    IrStmt *again[4];
    bool repeat = ns > 0 && ns <= (int32_t)(sizeof again / sizeof *again) &&
                  L->prologue.len == p0;
    IrProgram p = tables(L);
    for (int32_t i = 0; i < ns; i++) {
        StageForm f = stage_forms_add(forms, &p, L->stmts.items[s0 + i]);
        if (f.is_new) {
            GROW(L, L->first_stage, L->ngroups, L->cap_groups);
            L->first_stage[L->ngroups++] = s0 + i;
            repeat = false;
        } else if (repeat) {
            again[i] = ir_again(L->pa, L->first_stage[f.group], f.bufs, f.nbufs,
                                f.slots, f.nslots);
        }
    }
    if (!repeat) {
        arena_adopt(L->pa, &stage);
        return;
    }
    for (int32_t i = 0; i < ns; i++)
        L->stmts.items[s0 + i] = again[i];
    L->nvars = v0;
    L->nlocals = l0;
    arena_free(&stage);
}

IrProgram *lower_graph(Arena *a, const Graph *g, const Schedule *sched,
                       const LowerOptions *opt)
{
    Lower L_ = { .a = a, .pa = a, .g = g, .sched = sched, .opt = opt };
    Lower *L = &L_;
    /* The checker's context, so that dims made here are the same nodes as
     * the graph's and share their slots. */
    L->sc = g->sc ? *g->sc : (ShapeCtx){ .arena = a };
    L->sc.overflow = false;
    int32_t nnodes = g->nodes.len;
    int32_t maxid = 0;
    for (int32_t i = 0; i < nnodes; i++) {
        const Node *n = g->nodes.items[i];
        if (n->id + 1 > maxid)
            maxid = n->id + 1;
    }
    L->node_buf = arena_array(a, (size_t)maxid + 1, sizeof(int32_t));
    for (int32_t i = 0; i <= maxid; i++)
        L->node_buf[i] = -1;

    /* Size symbols: bound by the first input dim that declares them. */
    int32_t ni = g->inputs.len, no = g->noutputs;
    size_t ndims = 1;
    for (int32_t i = 0; i < ni; i++)
        ndims += (size_t)((const Node *)g->inputs.items[i])->shape.rank;
    L->sym_names = arena_array(a, ndims, sizeof(char *));
    L->sym_slots = arena_array(a, ndims, sizeof(int32_t));
    for (int32_t i = 0; i < ni; i++) {
        const Node *in = g->inputs.items[i];
        for (int32_t j = 0; j < in->shape.rank; j++) {
            const SymExpr *d = in->shape.dims[j];
            if (d->kind == SYM_VAR && sym_slot(L, d->name) < 0) {
                L->sym_names[L->nsyms] = d->name;
                L->sym_slots[L->nsyms++] = add_slot(L, IR_SLOT_ARG, i, j);
            }
        }
    }
    /* Arguments: inputs then outputs. */
    for (int32_t i = 0; i < ni; i++) {
        const Node *in = g->inputs.items[i];
        L->node_buf[in->id] = add_buffer(L, in->name, IR_BUF_INPUT, in->shape, i);
    }
    int32_t *out_buf = arena_array(a, (size_t)no + 1, sizeof(int32_t));
    for (int32_t o = 0; o < no; o++)
        out_buf[o] = add_buffer(L, g->outputs[o].name, IR_BUF_OUTPUT, g->outputs[o].node->shape, ni + o);
    /* Stage buffers: an output's node writes straight into the output. */
    bool *copy = arena_array(a, (size_t)no + 1, sizeof(bool));
    for (int32_t o = 0; o < no; o++) {
        const Node *n = g->outputs[o].node;
        if (n->op == NODE_INPUT || n->op == NODE_CONST || L->node_buf[n->id] >= 0)
            copy[o] = true;
        else
            L->node_buf[n->id] = out_buf[o];
    }
    L->next_scratch = ni + no;
    int32_t *inline_depth = arena_array(a, (size_t)maxid + 1, sizeof(int32_t));
    for (int32_t i = 0; i < nnodes; i++) {
        const Node *n = g->nodes.items[i];
        if (L->node_buf[n->id] >= 0)
            continue;
        const StagePlan *plan = sched ? schedule_plan(sched, n) : NULL;
        /* A producer with an epilogue, and the epilogue stages before the
         * last, live only in registers. */
        if (plan && (plan->nepilogue || plan->pool ||
                     (plan->fused_into &&
                      schedule_store_node(sched, schedule_root(sched, n)) != n)))
            continue;
        bool must_store = plan && (plan->materialise || plan->fused_into);
        if (n->op == NODE_CONST) {
            int32_t b = add_buffer(L, n->name ? n->name : arena_printf(a, "const%d", n->id),
                                   IR_BUF_CONST, n->shape, -1);
            L->bufs[b].data = n->cst.data;
            L->bufs[b].count = n->cst.count;
            L->node_buf[n->id] = b;
            continue;
        }
        bool elementwise = n->op == NODE_UNARY || n->op == NODE_BINARY;
        if (elementwise && n->nuses <= 1 && !must_store) {
            /* Inlined into its consumer, unless the inlined expression would
             * grow deeper than MAX_INLINE_DEPTH: a long chain is then cut
             * into materialised pieces, which keeps every recursive walk of
             * an expression (here, in the IR dump and in codegen) shallow. */
            int32_t depth = 1;
            for (int32_t k = 0; k < n->nin; k++)
                if (inline_depth[n->ins[k]->id] + 1 > depth)
                    depth = inline_depth[n->ins[k]->id] + 1;
            if (depth <= MAX_INLINE_DEPTH) {
                inline_depth[n->id] = depth;
                continue;
            }
        }
        L->node_buf[n->id] = add_buffer(L, n->name ? n->name : arena_printf(a, "t%d", n->id),
                                        IR_BUF_SCRATCH, n->shape, L->next_scratch++);
    }
    /* whose stages are whose: node i's are stmts up to stmt_end[i] and
     * prologue nests up to pro_end[i]; then one copy per copied output */
    int32_t *stmt_end = arena_array(a, (size_t)nnodes + 1, sizeof(int32_t));
    int32_t *pro_end = arena_array(a, (size_t)nnodes + 1, sizeof(int32_t));
    StageForms *forms = stage_forms_new();
    for (int32_t i = 0; i < nnodes; i++) {
        lower_stage(L, forms, g->nodes.items[i]);
        stmt_end[i] = L->stmts.len;
        pro_end[i] = L->prologue.len;
    }
    stage_forms_free(forms);
    for (int32_t o = 0; o < no; o++)
        if (copy[o]) {
            CopyCtx c = { g->outputs[o].node, out_buf[o] };
            emit(L, nest(L, g->outputs[o].node, g->outputs[o].node->shape, NULL, copy_body, &c));
        }
    /* Runtime checks on size symbols. */
    for (int32_t i = 0; i < g->checks.len; i++) {
        const GraphCheck *k = g->checks.items[i];
        GROW(L, L->checks, L->nchecks, L->cap_checks);
        IrCheck *c = &L->checks[L->nchecks++];
        c->kind = (IrCheckKind)k->kind;
        c->a = slot_of(L, k->a);
        c->b = k->b ? slot_of(L, k->b) : 0;
        c->what = k->what;
    }

    IrProgram *p = arena_alloc(a, sizeof *p);
    p->name = g->name;
    p->source_name = g->source_name;
    p->slots = L->slots;
    p->nslots = L->nslots;
    p->checks = L->checks;
    p->nchecks = L->nchecks;
    p->buffers = L->bufs;
    p->nbuffers = L->nbufs;
    p->ninputs = ni;
    p->noutputs = no;
    p->vars = L->vars;
    p->nvars = L->nvars;
    p->nlocals = L->nlocals;
    p->local_types = L->ltypes;
    p->vlen = sched && sched->target.vlen > 1 ? sched->target.vlen : 0;
    /* weight packing first, then the stages in order (so a repeat's
     * stage number moves by the packing nests before it) */
    int32_t npro = L->prologue.len;
    for (int32_t i = 0; i < L->stmts.len; i++) {
        IrStmt *s = L->stmts.items[i];
        if (s->kind == IR_STMT_AGAIN)
            s->again.stage += npro;
        ptrvec_push(a, &L->prologue, s);
    }
    p->body = block(L, &L->prologue);
    /* each stage's node (ir.h): the weight packing, the nests in node
     * order, the copies into outputs */
    int32_t *owner = arena_array(a, (size_t)L->prologue.len + 1, sizeof(int32_t));
    int32_t at_pro = 0, at_nest = npro, at_copy = npro + (nnodes ? stmt_end[nnodes - 1] : 0);
    for (int32_t i = 0; i < nnodes; i++) {
        int32_t id = ((const Node *)g->nodes.items[i])->id;
        for (; at_pro < pro_end[i]; at_pro++)
            owner[at_pro] = id;
        for (; at_nest < npro + stmt_end[i]; at_nest++)
            owner[at_nest] = id;
    }
    for (int32_t o = 0; o < no; o++)
        if (copy[o])
            owner[at_copy++] = g->outputs[o].node->id;
    p->stage_node = owner;
    p->nstage_nodes = L->prologue.len;
    return p;
}
