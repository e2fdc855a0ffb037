/* check/check.c - names, constants and shapes: AST -> stage graph.
 *
 * Needs: a parsed AST (every expression at most AST_MAX_DEPTH deep, so the
 * recursive evaluation here is bounded).
 * Establishes: every name resolves to a value defined before it; every
 * stage's options are valid; every output shape is computed with the
 * output-size formula and is at least 1 in every dim, or, where size symbols
 * make that undecidable now, a runtime check records it.  All errors of the
 * phase are reported; a statement with an error binds an error value that
 * silences follow-on errors.
 *
 * This file walks the statements and evaluates expressions (the names
 * table, calls dispatched by stage name); each family of stages is checked
 * in a file of its own (check.h lists them). */
#include "check.h"

/* ---- small helpers ------------------------------------------------------ */

Value chk_val_error(SrcLoc loc) { return (Value){ .kind = VAL_ERROR, .loc = loc }; }

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;     /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

Binding *chk_lookup(Checker *c, const char *name)
{
    if (!c->table_cap)
        return NULL;
    for (uint32_t i = hash_name(name) & (c->table_cap - 1);; i = (i + 1) & (c->table_cap - 1)) {
        Binding *b = c->table[i];
        if (!b)
            return NULL;
        if (strcmp(b->name, name) == 0)
            return b;
    }
}

static void table_insert(Checker *c, Binding *nb)
{
    if ((uint32_t)c->bindings.len * 2 >= c->table_cap) {
        uint32_t cap = c->table_cap ? c->table_cap * 2 : 64;
        c->table = arena_array(c->a, cap, sizeof(Binding *));
        c->table_cap = cap;
        for (int32_t k = 0; k < c->bindings.len; k++) {
            Binding *b = c->bindings.items[k];
            uint32_t i = hash_name(b->name) & (cap - 1);
            while (c->table[i])
                i = (i + 1) & (cap - 1);
            c->table[i] = b;
        }
    }
    uint32_t i = hash_name(nb->name) & (c->table_cap - 1);
    while (c->table[i])
        i = (i + 1) & (c->table_cap - 1);
    c->table[i] = nb;
}

Node *chk_new_node(Checker *c, NodeOp op, const char *stage, SrcLoc loc)
{
    Node *n = arena_alloc(c->a, sizeof *n);
    n->op = op;
    n->id = c->next_id++;
    n->stage = stage;
    n->desc = stage;
    n->loc = loc;
    n->ins = n->in;
    return n;
}

void chk_add_input(Node *n, Node *in)
{
    n->in[n->nin++] = in;
    in->nuses++;
}

void chk_push_node(Checker *c, Node *n) { ptrvec_push(c->a, &c->g->nodes, n); }

void chk_add_check(Checker *c, int kind, const SymExpr *x, const SymExpr *y,
                   SrcLoc loc, const char *what)
{
    GraphCheck *k = arena_alloc(c->a, sizeof *k);
    k->kind = kind;
    k->a = x;
    k->b = y;
    k->what = what;
    k->loc = loc;
    ptrvec_push(c->a, &c->g->checks, k);
}

const char *chk_where(Checker *c, SrcLoc loc)
{
    int32_t col = diag_column(c->d, loc.first_line, loc.first_column);
    return arena_printf(c->a, "%s:%d:%d", c->g->source_name, loc.first_line, col);
}

const char *chk_val_kind_name(ValKind k)
{
    switch (k) {
    case VAL_TENSOR: return "a tensor";
    case VAL_SCALAR: return "a number";
    case VAL_BOOL: return "true/false";
    case VAL_WORD: return "a word";
    case VAL_STRING: return "a string";
    case VAL_TUPLE: return "a tuple";
    default: return "an invalid value";
    }
}

static const char *const STAGES[] = {
    "conv1d", "conv2d", "conv1x1", "maxpool1d", "maxpool2d", "avgpool1d",
    "avgpool2d", "global_avgpool2d", "global_maxpool2d", "convolve",
    "correlate", "concat", "relu", "leaky_relu", "sigmoid", "tanh", "abs",
    "sqrt", "exp", "clamp", "min", "max", "box", "box2d", "gaussian",
    "gaussian2d", "savgol", "load",
};

static bool builtin_kernel_name(const char *name);
static const char *const BUILTIN_KERNELS[] = { "sobel_x", "sobel_y", "laplacian" };

/* The closest name defined so far, or builtin kernel, to an undefined one. */
const char *chk_suggest_name(Checker *c, const char *name)
{
    Suggest s;
    suggest_init(&s, name);
    for (int32_t i = 0; i < c->bindings.len; i++)
        suggest_offer(&s, ((Binding *)c->bindings.items[i])->name);
    for (size_t i = 0; i < sizeof BUILTIN_KERNELS / sizeof *BUILTIN_KERNELS; i++)
        suggest_offer(&s, BUILTIN_KERNELS[i]);
    return suggest_result(&s);
}

static Value check_call(Checker *c, const AstExpr *e)
{
    const char *f = e->call.callee;
    if (!strcmp(f, "conv2d")) return check_conv(c, e, 2, false);
    if (!strcmp(f, "conv1d")) return check_conv(c, e, 1, false);
    if (!strcmp(f, "conv1x1")) return check_conv(c, e, 2, true);
    if (!strcmp(f, "maxpool2d")) return check_pool(c, e, 2, true);
    if (!strcmp(f, "maxpool1d")) return check_pool(c, e, 1, true);
    if (!strcmp(f, "avgpool2d")) return check_pool(c, e, 2, false);
    if (!strcmp(f, "avgpool1d")) return check_pool(c, e, 1, false);
    if (!strcmp(f, "global_avgpool2d")) return check_global_pool(c, e, false);
    if (!strcmp(f, "global_maxpool2d")) return check_global_pool(c, e, true);
    if (!strcmp(f, "convolve")) return check_signal(c, e, false);
    if (!strcmp(f, "correlate")) return check_signal(c, e, true);
    if (!strcmp(f, "concat")) return check_concat(c, e);
    if (!strcmp(f, "relu")) return check_unary(c, e, UN_RELU);
    if (!strcmp(f, "leaky_relu")) return check_unary(c, e, UN_LEAKY_RELU);
    if (!strcmp(f, "sigmoid")) return check_unary(c, e, UN_SIGMOID);
    if (!strcmp(f, "tanh")) return check_unary(c, e, UN_TANH);
    if (!strcmp(f, "abs")) return check_unary(c, e, UN_ABS);
    if (!strcmp(f, "sqrt")) return check_unary(c, e, UN_SQRT);
    if (!strcmp(f, "exp")) return check_unary(c, e, UN_EXP);
    if (!strcmp(f, "clamp")) return check_unary(c, e, UN_CLAMP);
    if (!strcmp(f, "min")) return check_minmax(c, e, BIN_MIN);
    if (!strcmp(f, "max")) return check_minmax(c, e, BIN_MAX);
    if (!strcmp(f, "box") || !strcmp(f, "box2d") || !strcmp(f, "gaussian") ||
        !strcmp(f, "gaussian2d") || !strcmp(f, "savgol"))
        return check_kernel_builtin(c, e, f);
    if (!strcmp(f, "load")) return check_load(c, e);
    if (chk_lookup(c, f) || builtin_kernel_name(f))
        diag_error(c->d, e->call.callee_loc, "'%s' is a value, not a stage; it cannot be called", f);
    else {
        const char *hint = suggest_closest(f, STAGES, sizeof STAGES / sizeof *STAGES);
        if (hint)
            diag_error(c->d, e->call.callee_loc, "unknown stage '%s'; did you mean '%s'?", f, hint);
        else
            diag_error(c->d, e->call.callee_loc, "unknown stage '%s'", f);
    }
    return chk_val_error(e->loc);
}

/* ---- expressions ------------------------------------------------------------ */

static bool builtin_kernel_name(const char *name)
{
    for (size_t i = 0; i < sizeof BUILTIN_KERNELS / sizeof *BUILTIN_KERNELS; i++)
        if (!strcmp(name, BUILTIN_KERNELS[i]))
            return true;
    return false;
}

Value chk_eval(Checker *c, const AstExpr *e)
{
    switch (e->kind) {
    case AST_NUM: {
        Value v = { .kind = VAL_SCALAR, .loc = e->loc, .num = e->num.value,
                    .is_int = e->num.is_int, .exact = e->num.is_int, .ival = e->num.ivalue };
        return v;
    }
    case AST_BOOL:
        return (Value){ .kind = VAL_BOOL, .loc = e->loc, .boolean = e->boolean };
    case AST_STRING:
        return (Value){ .kind = VAL_STRING, .loc = e->loc, .text = e->string.text };
    case AST_IDENT: {
        Binding *b = chk_lookup(c, e->ident.name);
        if (b) {
            Value v = b->value;
            v.loc = e->loc;
            return v;
        }
        if (builtin_kernel_name(e->ident.name))
            return chk_tensor_val(chk_builtin_kernel(c, e->ident.name, e->loc), e->loc);
        return (Value){ .kind = VAL_WORD, .loc = e->loc, .text = e->ident.name };
    }
    case AST_CALL:
        return check_call(c, e);
    case AST_BINARY: {
        Value x = chk_eval(c, e->binary.lhs), y = chk_eval(c, e->binary.rhs);
        BinaryFn fn = e->binary.op == '+' ? BIN_ADD : e->binary.op == '-' ? BIN_SUB
                    : e->binary.op == '*' ? BIN_MUL : BIN_DIV;
        return chk_binary(c, fn, x, y, e->loc);
    }
    case AST_NEG: {
        Value x = chk_eval(c, e->neg.operand);
        if (x.kind == VAL_ERROR)
            return x;
        if (x.kind == VAL_SCALAR) {
            x.num = -x.num;
            x.ival = -x.ival;   /* |ival| <= INT64_MAX: a literal is never INT64_MIN */
            x.loc = e->loc;
            return x;
        }
        Node *t = chk_want_tensor(c, x, "the operand of '-'");
        if (!t)
            return chk_val_error(e->loc);
        Node *n = chk_unary_node(c, UN_NEG, "neg", e->loc, t);
        return chk_tensor_val(n, e->loc);
    }
    case AST_TUPLE: {
        Value v = { .kind = VAL_TUPLE, .loc = e->loc, .n = e->list.n };
        v.items = arena_array(c->a, (size_t)e->list.n, sizeof(Value));
        for (int32_t i = 0; i < e->list.n; i++) {
            v.items[i] = chk_eval(c, e->list.items[i]);
            if (v.items[i].kind == VAL_ERROR)
                return chk_val_error(e->loc);
        }
        return v;
    }
    case AST_LIST:
        return chk_tensor_literal(c, e);
    }
    return chk_val_error(e->loc);
}

/* ---- statements ---------------------------------------------------------------- */

static bool define(Checker *c, const char *name, SrcLoc loc, Value v)
{
    Binding *prev = chk_lookup(c, name);
    if (prev) {
        diag_error(c->d, loc, "'%s' is already defined", name);
        diag_note(c->d, prev->loc, "'%s' was defined here", name);
        return false;
    }
    Binding *b = arena_alloc(c->a, sizeof *b);
    b->name = name;
    b->loc = loc;
    b->value = v;
    table_insert(c, b);
    ptrvec_push(c->a, &c->bindings, b);
    return true;
}

/* Name the stage after its binding, and its derived dims after the stage
 * ("t5.dims[0]"), so that a later formula containing a long one can say
 * its name instead of repeating it. */
static void name_node(Checker *c, Value v, const char *name)
{
    if (v.kind != VAL_TENSOR || v.node->name || v.node->op == NODE_INPUT)
        return;
    v.node->name = name;
    for (int32_t i = 0; i < v.node->shape.rank; i++) {
        const SymExpr *d = v.node->shape.dims[i];
        if (d->kind != SYM_CONST && d->kind != SYM_VAR && !d->label)
            sym_label(&c->sc, d, arena_printf(c->a, "%s.dims[%d]", name, i));
    }
}

static bool check_type_elem(Checker *c, const AstType *t)
{
    if (strcmp(t->elem, "f32") != 0) {
        diag_error(c->d, t->loc, "unsupported element type '%s' (only f32)", t->elem);
        return false;
    }
    return true;
}

static void stmt_input(Checker *c, const AstStmt *s)
{
    const AstType *t = &s->type;
    bool ok = check_type_elem(c, t);
    if (t->rank > CONVRT_MAX_RANK) {
        diag_error(c->d, t->loc, "input '%s' has %d dims; at most %d are supported", s->name,
                   t->rank, CONVRT_MAX_RANK);
        ok = false;
    }
    Node *n = chk_new_node(c, NODE_INPUT, "input", s->loc);
    n->name = s->name;
    n->input.arg = c->g->inputs.len;
    if (ok) {
        n->shape = shape_make(c->a, t->rank);
        for (int32_t i = 0; i < t->rank; i++) {
            const AstDim *dim = &t->dims[i];
            if (dim->is_symbol)
                n->shape.dims[i] = sym_var(&c->sc, dim->symbol);
            else if (dim->value < 1) {
                diag_error(c->d, dim->loc, "dim %d of input '%s' must be at least 1, got %lld", i,
                           s->name, (long long)dim->value);
                ok = false;
            } else
                n->shape.dims[i] = sym_const(&c->sc, dim->value);
        }
    }
    if (ok && !chk_finish_shape(c, n))
        ok = false;
    n->macs = sym_const(&c->sc, 0);
    if (!define(c, s->name, s->name_loc, ok ? chk_tensor_val(n, s->loc) : chk_val_error(s->loc)))
        return;
    if (ok) {
        chk_push_node(c, n);
        ptrvec_push(c->a, &c->g->inputs, n);
    }
}

static void stmt_value(Checker *c, const AstStmt *s)
{
    Value v = chk_eval(c, s->value);
    if (s->kind == AST_STMT_CONST && v.kind != VAL_ERROR) {
        bool is_const = v.kind == VAL_SCALAR || (v.kind == VAL_TENSOR && v.node->op == NODE_CONST);
        if (!is_const) {
            diag_error(c->d, s->value->loc,
                       "const '%s' must be known when compiling (a number, a literal, a builtin kernel or load(...))",
                       s->name);
            v = chk_val_error(s->loc);
        } else if (s->type.present) {
            const AstType *t = &s->type;
            if (!check_type_elem(c, t) || v.kind != VAL_TENSOR) {
                if (v.kind != VAL_TENSOR)
                    diag_error(c->d, t->loc, "const '%s' is a number; it has no tensor type", s->name);
                v = chk_val_error(s->loc);
            } else {
                Shape have = v.node->shape;
                bool match = have.rank == t->rank;
                for (int32_t i = 0; i < t->rank; i++) {
                    if (t->dims[i].is_symbol) {
                        diag_error(c->d, t->dims[i].loc,
                                   "const '%s': dims of a constant must be numbers, not the symbol '%s'",
                                   s->name, t->dims[i].symbol);
                        match = false;
                        v = chk_val_error(s->loc);
                        break;
                    }
                    int64_t d;
                    if (i < have.rank && !(sym_is_const(have.dims[i], &d) && d == t->dims[i].value))
                        match = false;
                }
                if (v.kind != VAL_ERROR && !match) {
                    const char *decl = "[";
                    for (int32_t i = 0; i < t->rank; i++)
                        decl = arena_printf(c->a, "%s%s%lld", decl, i ? ", " : "",
                                            (long long)t->dims[i].value);
                    diag_error(c->d, t->loc, "const '%s' is declared %s]%s but the value is %s",
                               s->name, decl, "", shape_str(c->a, have));
                    v = chk_val_error(s->loc);
                }
            }
        }
    }
    if (s->kind == AST_STMT_OUTPUT && v.kind != VAL_ERROR && v.kind != VAL_TENSOR) {
        if (v.kind == VAL_WORD)
            chk_want_tensor(c, v, "an output");
        else
            diag_error(c->d, s->value->loc, "output '%s' must be a tensor, not %s", s->name,
                       chk_val_kind_name(v.kind));
        v = chk_val_error(s->loc);
    }
    if (v.kind == VAL_WORD) {
        chk_want_tensor(c, v, "a value");   /* reports the undefined name */
        v = chk_val_error(s->loc);
    }
    name_node(c, v, s->name);
    if (!define(c, s->name, s->name_loc, v))
        return;
    if (s->kind == AST_STMT_OUTPUT && v.kind == VAL_TENSOR) {
        GraphOutput *o = &c->g->outputs[c->g->noutputs++];
        o->name = s->name;
        o->node = v.node;
        o->loc = s->loc;
        v.node->nuses++;
    }
}

static void stmt_bare_output(Checker *c, const AstStmt *s)
{
    Binding *b = chk_lookup(c, s->name);
    if (!b) {
        const char *hint = chk_suggest_name(c, s->name);
        if (hint)
            diag_error(c->d, s->name_loc, "output '%s' names nothing defined above; did you mean '%s'?",
                       s->name, hint);
        else
            diag_error(c->d, s->name_loc,
                       "output '%s' names nothing defined above (write `output %s = EXPR` to define it)",
                       s->name, s->name);
        return;
    }
    if (b->value.kind == VAL_ERROR)
        return;
    if (b->value.kind != VAL_TENSOR) {
        diag_error(c->d, s->name_loc, "output '%s' must be a tensor, not %s", s->name,
                   chk_val_kind_name(b->value.kind));
        return;
    }
    for (int32_t i = 0; i < c->g->noutputs; i++)
        if (strcmp(c->g->outputs[i].name, s->name) == 0) {
            diag_error(c->d, s->name_loc, "'%s' is already an output", s->name);
            return;
        }
    GraphOutput *o = &c->g->outputs[c->g->noutputs++];
    o->name = s->name;
    o->node = b->value.node;
    o->loc = s->loc;
    b->value.node->nuses++;
}

Graph *graph_check(Arena *a, Diag *d, const AstPipeline *ast, const CheckOptions *opt)
{
    Checker c = { .a = a, .d = d, .opt = opt };
    c.sc.arena = a;
    int errors_before = diag_errors(d);
    if (opt) {
        c.sc.bindings = bind_command_line(a, d, ast, opt, &c.sc.nbindings);
        if (diag_errors(d) != errors_before)
            return NULL;
        /* a file given for an input could not be read (its names were
         * right): the caller says why, and a check without its shape would
         * only add noise */
        for (int32_t i = 0; i < opt->ninput_shapes; i++)
            if (opt->input_shapes[i].rank < 0)
                return NULL;
    }
    Graph *g = arena_alloc(a, sizeof *g);
    g->name = ast->name;
    g->source_name = d->src ? d->src->filename : "<input>";
    g->outputs = arena_array(a, (size_t)(ast->nstmts + 1), sizeof(GraphOutput));
    c.g = g;
    for (int32_t i = 0; i < ast->nstmts; i++) {
        const AstStmt *s = &ast->stmts[i];
        switch (s->kind) {
        case AST_STMT_INPUT: stmt_input(&c, s); break;
        case AST_STMT_CONST:
        case AST_STMT_BIND: stmt_value(&c, s); break;
        case AST_STMT_OUTPUT:
            if (s->value)
                stmt_value(&c, s);
            else
                stmt_bare_output(&c, s);
            break;
        }
    }
    if (g->noutputs == 0 && diag_errors(d) == errors_before)
        diag_error(d, ast->name_loc, "pipeline '%s' has no output (add `output NAME = EXPR`)", ast->name);
    /* A symbol that appears only in a const or not in any input cannot be
     * bound: all symbols come from input declarations, so nothing to do. */
    if (diag_errors(d) != errors_before)
        return NULL;
    g->sc = arena_alloc(a, sizeof *g->sc);
    *g->sc = c.sc;      /* shares the table of expressions */
    g->sc->overflow = false;
    return g;
}
