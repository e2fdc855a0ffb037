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

#include <stdlib.h>
#include <string.h>

enum {
    W_NULL = 1,
    W_FOR, W_IF, W_STORE, W_ASSIGN, W_BLOCK, W_CALL, W_PREFETCH,
    W_EXPR,             /* + IrExprKind */
    W_BUF = 64,         /* a buffer seen before: its number */
    W_BUF_NEW,          /* first use: kind, rank, rank slot references */
    W_SLOT,             /* a slot: its number */
    W_SLOT_CONST,       /* a slot known when compiling: its value */
    W_LOCAL,            /* a local seen before: its number */
    W_LOCAL_NEW,        /* first use: its type */
};

/* Running out of memory ends convc as everywhere else in the compiler:
 * one diagnostic and exit status 1 (arena_out_of_memory). */
static void *xrealloc(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        arena_out_of_memory(SIZE_MAX);
    p = realloc(p, n && size ? n * size : 1);
    if (!p)
        arena_out_of_memory(n * size);
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
 * the maps are cleared in time proportional to the stage.  The maps grow
 * with the program's tables, which may grow between stages. */
typedef struct Walk {
    const IrProgram *p;
    Words    w;
    int32_t *num_buf, *num_slot, *num_var, *num_local;
    size_t   cap_buf, cap_slot, cap_var, cap_local;
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
        put_expr(k, e->load.lanes);
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
    case IR_EXPR_SHUFFLE:
        put_expr(k, e->shuf.a);
        put_expr(k, e->shuf.b);
        for (int32_t i = 0; i < k->p->vlen; i++)
            put(k, e->shuf.sel[i]);
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
        put(k, s->store.stream);
        put_expr(k, s->store.lanes);
        break;
    case IR_STMT_PREFETCH:
        put(k, W_PREFETCH);
        put(k, s->store.far);
        put_buf(k, s->store.buf);
        put_index(k, s->store.buf, s->store.idx);
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
    case IR_STMT_CALL:
        put(k, W_CALL);
        put(k, s->call.fn);
        put(k, s->call.nargs);
        for (int32_t i = 0; i < s->call.nargs; i++) {
            if (s->call.args[i].buf >= 0)
                put_buf(k, s->call.args[i].buf);
            else
                put(k, W_NULL);
            put_expr(k, s->call.args[i].value);
        }
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

/* A zeroed map of at least n entries. */
static void fit(int32_t **num, size_t *cap, int64_t n)
{
    size_t want = n > 0 ? (size_t)n + 1 : 1;
    if (want <= *cap)
        return;
    size_t c = *cap ? *cap : 64;
    while (c < want)
        c *= 2;
    *num = xrealloc(*num, c, sizeof **num);
    memset(*num + *cap, 0, (c - *cap) * sizeof **num);
    *cap = c;
}

struct StageForms {
    Walk      k;
    Words     forms;        /* the groups' forms, one after the other */
    size_t   *form_at;      /* ngroups + 1 */
    uint64_t *ghash;
    int32_t  *index;        /* open addressing by hash: group, or -1 */
    size_t    cap_index, cap_groups;
    int32_t   ngroups;
};

StageForms *stage_forms_new(void)
{
    StageForms *f = xrealloc(NULL, 1, sizeof *f);
    memset(f, 0, sizeof *f);
    return f;
}

void stage_forms_free(StageForms *f)
{
    if (!f)
        return;
    free(f->forms.v);
    free(f->form_at);
    free(f->ghash);
    free(f->index);
    free(f->k.w.v);
    free(f->k.num_buf);
    free(f->k.num_slot);
    free(f->k.num_var);
    free(f->k.num_local);
    free(f->k.seen_buf.v);
    free(f->k.seen_slot.v);
    free(f->k.seen_var.v);
    free(f->k.seen_local.v);
    free(f);
}

static void index_group(StageForms *f, int32_t g)
{
    size_t at = f->ghash[g] & (f->cap_index - 1);
    while (f->index[at] >= 0)
        at = (at + 1) & (f->cap_index - 1);
    f->index[at] = g;
}

StageForm stage_forms_add(StageForms *f, const IrProgram *p, const IrStmt *stage)
{
    Walk *k = &f->k;
    k->p = p;
    fit(&k->num_buf, &k->cap_buf, p->nbuffers);
    fit(&k->num_slot, &k->cap_slot, p->nslots);
    fit(&k->num_var, &k->cap_var, p->nvars);
    fit(&k->num_local, &k->cap_local, p->nlocals);
    k->w.n = 0;
    k->bad = false;
    clear(k->num_buf, &k->seen_buf);
    clear(k->num_slot, &k->seen_slot);
    clear(k->num_var, &k->seen_var);
    clear(k->num_local, &k->seen_local);
    put_stmt(k, stage);

    StageForm r = { .group = -1,
                    .bufs = k->seen_buf.v, .nbufs = (int32_t)k->seen_buf.n,
                    .slots = k->seen_slot.v, .nslots = (int32_t)k->seen_slot.n };
    uint64_t h = hash_words(k->w.v, k->w.n);
    if (!k->bad && f->cap_index)
        for (size_t at = h & (f->cap_index - 1); f->index[at] >= 0;
             at = (at + 1) & (f->cap_index - 1)) {
            int32_t c = f->index[at];
            size_t len = f->form_at[c + 1] - f->form_at[c];
            if (f->ghash[c] == h && len == k->w.n &&
                !memcmp(f->forms.v + f->form_at[c], k->w.v, len * sizeof *k->w.v)) {
                r.group = c;
                return r;
            }
        }
    int32_t g = f->ngroups++;
    r.group = g;
    r.is_new = true;
    if ((size_t)f->ngroups + 1 > f->cap_groups) {
        f->cap_groups = f->cap_groups ? 2 * f->cap_groups : 64;
        f->form_at = xrealloc(f->form_at, f->cap_groups + 1, sizeof *f->form_at);
        f->ghash = xrealloc(f->ghash, f->cap_groups, sizeof *f->ghash);
    }
    f->ghash[g] = h;
    if (g == 0)
        f->form_at[0] = 0;
    if (k->bad) {       /* a bad stage keeps no form: nothing matches it */
        f->form_at[g + 1] = f->forms.n;
        return r;
    }
    for (size_t i = 0; i < k->w.n; i++)
        words_push(&f->forms, k->w.v[i]);
    f->form_at[g + 1] = f->forms.n;
    if ((size_t)f->ngroups * 2 > f->cap_index) {
        size_t cap = f->cap_index ? 2 * f->cap_index : 64;
        free(f->index);
        f->index = xrealloc(NULL, cap, sizeof *f->index);
        for (size_t i = 0; i < cap; i++)
            f->index[i] = -1;
        f->cap_index = cap;
        for (int32_t c = 0; c < g; c++)
            if (f->form_at[c + 1] != f->form_at[c])     /* bad stages are not indexed */
                index_group(f, c);
    }
    index_group(f, g);
    return r;
}

/* Whether AGAIN statement s, stage st of the body, names an earlier
 * stage that is not itself an AGAIN, with as many buffers and slots (its
 * buffers are bufs[sh->buf_at[k] ..]), each in range and each buffer of the same kind and rank as the one it
 * replaces. */
static bool again_ok(const IrProgram *p, const StageShare *sh, const int32_t *bufs,
                     int32_t st, const IrStmt *s)
{
    int32_t k = s->again.stage;
    if (k < 0 || k >= st || sh->stage[k]->kind == IR_STMT_AGAIN)
        return false;
    if (s->again.nbufs != sh->buf_at[k + 1] - sh->buf_at[k] ||
        s->again.nslots != sh->slot_at[k + 1] - sh->slot_at[k])
        return false;
    for (int32_t a = 0; a < s->again.nbufs; a++) {
        int32_t b = s->again.bufs[a], b0 = bufs[sh->buf_at[k] + a];
        if (b < 0 || b >= p->nbuffers || p->buffers[b].kind != p->buffers[b0].kind ||
            p->buffers[b].rank != p->buffers[b0].rank)
            return false;
    }
    for (int32_t j = 0; j < s->again.nslots; j++) {
        int32_t d = s->again.slots[j];
        if (d < 0 || d >= p->nslots || p->slots[d].is_const)
            return false;
    }
    return true;
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

    StageForms *f = stage_forms_new();
    Ints bufs = {0}, slots = {0};
    size_t cap_groups = 0;
    for (int32_t st = 0; st < n; st++) {
        const IrStmt *stage = s->stage[st];
        s->buf_at[st] = (int32_t)bufs.n;
        s->slot_at[st] = (int32_t)slots.n;
        int32_t g;
        if (stage && stage->kind == IR_STMT_AGAIN && again_ok(p, s, bufs.v, st, stage)) {
            g = s->group[stage->again.stage];
            for (int32_t a = 0; a < stage->again.nbufs; a++)
                ints_push(&bufs, stage->again.bufs[a]);
            for (int32_t j = 0; j < stage->again.nslots; j++)
                ints_push(&slots, stage->again.slots[j]);
        } else {
            /* a malformed AGAIN walks as a bad stage: a group of its own,
             * which the code generator reports */
            StageForm r = stage_forms_add(f, p, stage);
            g = r.group;
            for (int32_t a = 0; a < r.nbufs; a++)
                ints_push(&bufs, r.bufs[a]);
            for (int32_t j = 0; j < r.nslots; j++)
                ints_push(&slots, r.slots[j]);
            if (r.is_new) {
                if ((size_t)g + 1 > cap_groups) {
                    cap_groups = cap_groups ? 2 * cap_groups : 64;
                    s->first = xrealloc(s->first, cap_groups, sizeof *s->first);
                    s->members = xrealloc(s->members, cap_groups, sizeof *s->members);
                }
                s->first[g] = st;
                s->members[g] = 0;
                s->ngroups = g + 1;
            }
        }
        s->group[st] = g;
        s->members[g]++;
    }
    s->buf_at[n] = (int32_t)bufs.n;
    s->slot_at[n] = (int32_t)slots.n;
    s->bufs = bufs.v ? bufs.v : xrealloc(NULL, 1, sizeof *s->bufs);
    s->slots = slots.v ? slots.v : xrealloc(NULL, 1, sizeof *s->slots);
    if (!s->first) {
        s->first = xrealloc(NULL, 1, sizeof *s->first);
        s->members = xrealloc(NULL, 1, sizeof *s->members);
    }
    stage_forms_free(f);
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
