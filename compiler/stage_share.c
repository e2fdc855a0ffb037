/* stage_share.c - group the stages of a program by structure (see
 * stage_share.h).
 *
 * A stage's canonical form is a sequence of 64-bit words written by a
 * pre-order walk: every node starts with a tag that fixes how many words
 * and which children follow, so equal sequences mean equal trees.  Ids are
 * written as their number of first appearance in the stage, which makes
 * the form the same for stages that differ only in the buffers, slots,
 * loop variables and locals they use. */
#include "stage_share.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    W_NULL = 1,
    W_FOR, W_IF, W_STORE, W_ASSIGN, W_BLOCK,
    W_EXPR,             /* + IrExprKind */
    W_BUF = 64,         /* a buffer seen before: its number */
    W_BUF_NEW,          /* first use: kind, rank, rank slot references */
    W_SLOT,             /* a slot: its number */
    W_SLOT_CONST,       /* a slot known when compiling: its value */
    W_LOCAL,            /* a local seen before: its number */
    W_LOCAL_NEW,        /* first use: its type */
};

static void *xrealloc(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        p = NULL;
    else
        p = realloc(p, n && size ? n * size : 1);
    if (!p) {
        fputs("convc: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* A growable int64 or int32 array. */
typedef struct Words { int64_t *v; size_t n, cap; } Words;
typedef struct Ints  { int32_t *v; size_t n, cap; } Ints;

static void words_push(Words *w, int64_t x)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->v = xrealloc(w->v, w->cap, sizeof *w->v);
    }
    w->v[w->n++] = x;
}

static void ints_push(Ints *w, int32_t x)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->v = xrealloc(w->v, w->cap, sizeof *w->v);
    }
    w->v[w->n++] = x;
}

/* The walk over one stage.  num_* map a program id to its number + 1 in
 * this stage (0: not seen yet); seen_* list the ids seen, in order, so
 * the maps are cleared in time proportional to the stage. */
typedef struct Walk {
    const IrProgram *p;
    Words    w;
    int32_t *num_buf, *num_slot, *num_var, *num_local;
    Ints     seen_buf, seen_slot, seen_var, seen_local;
    bool     bad;       /* an id out of range: the stage is not shared */
} Walk;

static void put(Walk *k, int64_t x) { words_push(&k->w, x); }

static int32_t number(int32_t *num, Ints *seen, int32_t id)
{
    if (!num[id]) {
        ints_push(seen, id);
        num[id] = (int32_t)seen->n;
    }
    return num[id] - 1;
}

static void put_slot(Walk *k, int32_t slot)
{
    const IrProgram *p = k->p;
    if (slot < 0 || slot >= p->nslots) {
        k->bad = true;
        return;
    }
    if (p->slots[slot].is_const) {
        put(k, W_SLOT_CONST);
        put(k, p->slots[slot].const_value);
        return;
    }
    put(k, W_SLOT);
    put(k, number(k->num_slot, &k->seen_slot, slot));
}

static void put_buf(Walk *k, int32_t b)
{
    const IrProgram *p = k->p;
    if (b < 0 || b >= p->nbuffers) {
        k->bad = true;
        return;
    }
    if (k->num_buf[b]) {
        put(k, W_BUF);
        put(k, k->num_buf[b] - 1);
        return;
    }
    number(k->num_buf, &k->seen_buf, b);
    const IrBuffer *buf = &p->buffers[b];
    put(k, W_BUF_NEW);
    put(k, buf->kind);
    put(k, buf->rank);
    for (int32_t j = 0; j < buf->rank; j++)
        put_slot(k, buf->dim_slots ? buf->dim_slots[j] : -1);
}

static void put_var(Walk *k, int32_t v)
{
    if (v < 0 || v >= k->p->nvars) {
        k->bad = true;
        return;
    }
    put(k, number(k->num_var, &k->seen_var, v));
}

static void put_local(Walk *k, int32_t l)
{
    const IrProgram *p = k->p;
    if (l < 0 || l >= p->nlocals) {
        k->bad = true;
        return;
    }
    if (k->num_local[l]) {
        put(k, W_LOCAL);
        put(k, k->num_local[l] - 1);
        return;
    }
    number(k->num_local, &k->seen_local, l);
    put(k, W_LOCAL_NEW);
    put(k, p->local_types ? p->local_types[l] : IR_TYPE_F32);
}

static void put_expr(Walk *k, const IrExpr *e);

static void put_index(Walk *k, int32_t b, IrExpr *const *idx)
{
    /* as many indices as the buffer has dims (what the code generator reads) */
    int32_t rank = (b >= 0 && b < k->p->nbuffers) ? k->p->buffers[b].rank : 0;
    put(k, rank);
    for (int32_t j = 0; j < rank; j++)
        put_expr(k, idx ? idx[j] : NULL);
}

static void put_expr(Walk *k, const IrExpr *e)
{
    if (!e) {
        put(k, W_NULL);
        return;
    }
    put(k, W_EXPR + e->kind);
    put(k, e->type);
    switch (e->kind) {
    case IR_EXPR_INT:
        put(k, e->ival);
        break;
    case IR_EXPR_FLOAT: {
        uint32_t bits;
        memcpy(&bits, &e->fval, sizeof bits);
        put(k, bits);
        break;
    }
    case IR_EXPR_VAR:
        put_var(k, e->var);
        break;
    case IR_EXPR_DIM:
        put_slot(k, e->slot);
        break;
    case IR_EXPR_LOCAL:
        put_local(k, e->local);
        break;
    case IR_EXPR_LOAD:
        put_buf(k, e->load.buf);
        put_index(k, e->load.buf, e->load.idx);
        put_expr(k, e->load.mask);
        put(k, e->load.stride);
        break;
    case IR_EXPR_BINARY:
        put(k, e->bin.op);
        put_expr(k, e->bin.a);
        put_expr(k, e->bin.b);
        break;
    case IR_EXPR_UNARY:
        put(k, e->un.fn);
        put_expr(k, e->un.a);
        break;
    case IR_EXPR_BROADCAST:
        put_expr(k, e->un.a);
        break;
    case IR_EXPR_SELECT:
        put_expr(k, e->sel.cond);
        put_expr(k, e->sel.a);
        put_expr(k, e->sel.b);
        break;
    case IR_EXPR_FMA:
        put_expr(k, e->fma.a);
        put_expr(k, e->fma.b);
        put_expr(k, e->fma.c);
        break;
    case IR_EXPR_IOTA:
        break;
    default:
        k->bad = true;
        break;
    }
}

static void put_stmt(Walk *k, const IrStmt *s)
{
    if (!s) {
        put(k, W_NULL);
        return;
    }
    switch (s->kind) {
    case IR_STMT_FOR:
        put(k, W_FOR);
        put(k, s->loop.flags);
        put_var(k, s->loop.var);
        put_expr(k, s->loop.lo);
        put_expr(k, s->loop.hi);
        put_stmt(k, s->loop.body);
        break;
    case IR_STMT_IF:
        put(k, W_IF);
        put_expr(k, s->cond.cond);
        put_stmt(k, s->cond.then);
        put_stmt(k, s->cond.otherwise);
        break;
    case IR_STMT_STORE:
        put(k, W_STORE);
        put_buf(k, s->store.buf);
        put_index(k, s->store.buf, s->store.idx);
        put_expr(k, s->store.value);
        put_expr(k, s->store.mask);
        break;
    case IR_STMT_ASSIGN:
        put(k, W_ASSIGN);
        put_local(k, s->assign.local);
        put_expr(k, s->assign.value);
        break;
    case IR_STMT_BLOCK:
        put(k, W_BLOCK);
        put(k, s->block.n);
        for (int32_t i = 0; i < s->block.n; i++)
            put_stmt(k, s->block.items[i]);
        break;
    default:
        k->bad = true;
        break;
    }
}

static uint64_t hash_words(const int64_t *w, size_t n)
{
    uint64_t h = 0x243f6a8885a308d3ull ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint64_t)w[i];
        h *= 0x9e3779b97f4a7c15ull;
        h ^= h >> 31;
    }
    return h;
}

static void clear(int32_t *num, Ints *seen)
{
    for (size_t i = 0; i < seen->n; i++)
        num[seen->v[i]] = 0;
    seen->n = 0;
}

StageShare *stage_share(const IrProgram *p)
{
    if (!p)
        return NULL;
    StageShare *s = xrealloc(NULL, 1, sizeof *s);
    memset(s, 0, sizeof *s);
    const IrStmt *top = p->body;
    int32_t n = top && top->kind == IR_STMT_BLOCK ? top->block.n : 1;
    s->nstages = n;
    s->stage = xrealloc(NULL, (size_t)n, sizeof *s->stage);
    s->group = xrealloc(NULL, (size_t)n, sizeof *s->group);
    s->buf_at = xrealloc(NULL, (size_t)n + 1, sizeof *s->buf_at);
    s->slot_at = xrealloc(NULL, (size_t)n + 1, sizeof *s->slot_at);
    for (int32_t k = 0; k < n; k++)
        s->stage[k] = top && top->kind == IR_STMT_BLOCK ? top->block.items[k] : top;

    Walk k;
    memset(&k, 0, sizeof k);
    k.p = p;
    k.num_buf = calloc((size_t)p->nbuffers + 1, sizeof *k.num_buf);
    k.num_slot = calloc((size_t)p->nslots + 1, sizeof *k.num_slot);
    k.num_var = calloc((size_t)p->nvars + 1, sizeof *k.num_var);
    k.num_local = calloc((size_t)p->nlocals + 1, sizeof *k.num_local);
    if (!k.num_buf || !k.num_slot || !k.num_var || !k.num_local)
        xrealloc(NULL, SIZE_MAX, 2);    /* reports and aborts */

    /* the groups' forms, one after the other, and an open-addressing
     * index of them by hash */
    Words forms = {0};
    size_t *form_at = NULL;     /* ngroups + 1 */
    uint64_t *ghash = NULL;
    int32_t *index = NULL;      /* group, or -1 */
    size_t cap_index = 0, cap_groups = 0;
    Ints bufs = {0}, slots = {0};

    for (int32_t st = 0; st < n; st++) {
        k.w.n = 0;
        k.bad = false;
        put_stmt(&k, s->stage[st]);
        s->buf_at[st] = (int32_t)bufs.n;
        s->slot_at[st] = (int32_t)slots.n;
        for (size_t i = 0; i < k.seen_buf.n; i++)
            ints_push(&bufs, k.seen_buf.v[i]);
        for (size_t i = 0; i < k.seen_slot.n; i++)
            ints_push(&slots, k.seen_slot.v[i]);
        clear(k.num_buf, &k.seen_buf);
        clear(k.num_slot, &k.seen_slot);
        clear(k.num_var, &k.seen_var);
        clear(k.num_local, &k.seen_local);

        uint64_t h = hash_words(k.w.v, k.w.n);
        int32_t g = -1;
        size_t at = 0;
        if (!k.bad && cap_index) {
            for (at = h & (cap_index - 1); index[at] >= 0; at = (at + 1) & (cap_index - 1)) {
                int32_t c = index[at];
                size_t len = form_at[c + 1] - form_at[c];
                if (ghash[c] == h && len == k.w.n &&
                    !memcmp(forms.v + form_at[c], k.w.v, len * sizeof *k.w.v)) {
                    g = c;
                    break;
                }
            }
        }
        if (g < 0) {
            g = s->ngroups++;
            if ((size_t)s->ngroups + 1 > cap_groups) {
                cap_groups = cap_groups ? 2 * cap_groups : 64;
                form_at = xrealloc(form_at, cap_groups + 1, sizeof *form_at);
                ghash = xrealloc(ghash, cap_groups, sizeof *ghash);
                s->first = xrealloc(s->first, cap_groups, sizeof *s->first);
                s->members = xrealloc(s->members, cap_groups, sizeof *s->members);
            }
            s->first[g] = st;
            s->members[g] = 0;
            ghash[g] = h;
            if (g == 0)
                form_at[0] = 0;
            if (!k.bad)     /* a bad stage keeps no form: nothing matches it */
                for (size_t i = 0; i < k.w.n; i++)
                    words_push(&forms, k.w.v[i]);
            form_at[g + 1] = forms.n;
            if (!k.bad) {
                if ((size_t)s->ngroups * 2 > cap_index) {
                    size_t cap = cap_index ? 2 * cap_index : 64;
                    int32_t *ix = xrealloc(NULL, cap, sizeof *ix);
                    for (size_t i = 0; i < cap; i++)
                        ix[i] = -1;
                    for (int32_t c = 0; c < g; c++) {
                        if (form_at[c + 1] == form_at[c])
                            continue;   /* a bad stage: not indexed */
                        size_t i = ghash[c] & (cap - 1);
                        while (ix[i] >= 0)
                            i = (i + 1) & (cap - 1);
                        ix[i] = c;
                    }
                    free(index);
                    index = ix;
                    cap_index = cap;
                }
                at = h & (cap_index - 1);
                while (index[at] >= 0)
                    at = (at + 1) & (cap_index - 1);
                index[at] = g;
            }
        }
        s->group[st] = g;
        s->members[g]++;
    }
    s->buf_at[n] = (int32_t)bufs.n;
    s->slot_at[n] = (int32_t)slots.n;
    s->bufs = bufs.v ? bufs.v : xrealloc(NULL, 1, sizeof *s->bufs);
    s->slots = slots.v ? slots.v : xrealloc(NULL, 1, sizeof *s->slots);

    free(forms.v);
    free(form_at);
    free(ghash);
    free(index);
    free(k.w.v);
    free(k.num_buf);
    free(k.num_slot);
    free(k.num_var);
    free(k.num_local);
    free(k.seen_buf.v);
    free(k.seen_slot.v);
    free(k.seen_var.v);
    free(k.seen_local.v);
    return s;
}

void stage_share_free(StageShare *s)
{
    if (!s)
        return;
    free(s->stage);
    free(s->group);
    free(s->buf_at);
    free(s->bufs);
    free(s->slot_at);
    free(s->slots);
    free(s->first);
    free(s->members);
    free(s);
}
