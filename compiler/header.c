#include "header.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* A formula longer than this is described by its symbols instead. */
enum { MAX_FORMULA = 120 };

/* A dims-table slot as the formula a user reads: "H", "(H - 1)/2 + 1".
 * The slots form a DAG that can nest as deep as the pipeline is long, so
 * *budget bounds the characters (and so the work and the depth): NULL
 * when the formula would not fit. */
static const char *slot_str(Arena *a, const IrProgram *p, int32_t s, int prec, int64_t *budget)
{
    const IrSlot *sl = &p->slots[s];
    const char *x, *y, *r;
    int my;
    if (*budget <= 0)
        return NULL;
    switch (sl->op) {
    case IR_SLOT_CONST:
        r = arena_printf(a, "%lld", (long long)sl->a);
        *budget -= (int64_t)strlen(r);
        return r;
    case IR_SLOT_ARG: {
        const IrBuffer *b = ir_arg_buffer(p, sl->a);
        if (b && b->dim_names[sl->b])
            r = b->dim_names[sl->b];
        else
            r = arena_printf(a, "%s.dims[%lld]", b ? b->name : "?", (long long)sl->b);
        *budget -= (int64_t)strlen(r);
        return r;
    }
    case IR_SLOT_ADD: case IR_SLOT_SUB:
        my = 1;
        x = slot_str(a, p, (int32_t)sl->a, 1, budget);
        y = x ? slot_str(a, p, (int32_t)sl->b, 2, budget) : NULL;
        if (!y)
            return NULL;
        r = arena_printf(a, "%s %c %s", x, sl->op == IR_SLOT_ADD ? '+' : '-', y);
        break;
    case IR_SLOT_MUL: case IR_SLOT_FLOORDIV:
        my = 2;
        x = slot_str(a, p, (int32_t)sl->a, 2, budget);
        y = x ? slot_str(a, p, (int32_t)sl->b, 3, budget) : NULL;
        if (!y)
            return NULL;
        r = arena_printf(a, "%s%c%s", x, sl->op == IR_SLOT_MUL ? '*' : '/', y);
        break;
    default: {
        static const char *const fn[] = { [IR_SLOT_CEILDIV] = "ceildiv", [IR_SLOT_MIN] = "min",
                                          [IR_SLOT_MAX] = "max" };
        x = slot_str(a, p, (int32_t)sl->a, 0, budget);
        y = x ? slot_str(a, p, (int32_t)sl->b, 0, budget) : NULL;
        *budget -= 8;
        return y ? arena_printf(a, "%s(%s, %s)", fn[sl->op], x, y) : NULL;
    }
    }
    *budget -= 3;
    return my < prec ? arena_printf(a, "(%s)", r) : r;
}

/* "a size computed from H and W": the symbols a long formula depends on,
 * found by a walk of the slots it reads (each visited once). */
static const char *slot_symbols(Arena *a, const IrProgram *p, int32_t s)
{
    bool *seen = arena_array(a, (size_t)p->nslots, sizeof *seen);
    int32_t *stack = arena_array(a, (size_t)p->nslots, sizeof *stack), n = 0;
    stack[n++] = s;
    seen[s] = true;
    while (n) {
        const IrSlot *sl = &p->slots[stack[--n]];
        if (sl->op == IR_SLOT_CONST || sl->op == IR_SLOT_ARG)
            continue;
        int32_t kids[2] = { (int32_t)sl->a, (int32_t)sl->b };
        for (int k = 0; k < 2; k++)
            if (!seen[kids[k]]) {
                seen[kids[k]] = true;
                stack[n++] = kids[k];
            }
    }
    const char *list = "";
    int32_t count = 0;
    for (int32_t k = 0; k < p->nslots; k++)
        if (seen[k] && p->slots[k].op == IR_SLOT_ARG)
            count++;
    for (int32_t k = 0, i = 0; k < p->nslots; k++)
        if (seen[k] && p->slots[k].op == IR_SLOT_ARG) {
            int64_t budget = 64;
            const char *name = slot_str(a, p, k, 0, &budget);
            list = arena_printf(a, "%s%s%s", list, i == 0 ? "" : i == count - 1 ? " and " : ", ", name);
            i++;
        }
    return arena_printf(a, "a size computed from %s", count ? list : "constants");
}

static const char *shape_of(Arena *a, const IrProgram *p, const IrBuffer *b)
{
    const char *s = "f32[";
    for (int32_t j = 0; j < b->rank; j++) {
        int64_t budget = MAX_FORMULA;
        const char *dim = slot_str(a, p, b->dim_slots[j], 0, &budget);
        if (!dim)
            dim = slot_symbols(a, p, b->dim_slots[j]);
        s = arena_printf(a, "%s%s%s", s, j ? ", " : "", dim);
    }
    return arena_printf(a, "%s]", s);
}

static bool name_taken(Arena *a, const IrProgram *p, int32_t upto, const char *name,
                       bool check_later);

/* The C parameter name of argument i: its script name, unless an earlier
 * argument already has it (`output x` of the input x), then NAME_out,
 * NAME_out2, ... chosen not to collide with any other argument either. */
static const char *param_name(Arena *a, const IrProgram *p, int32_t i)
{
    const char *name = ir_arg_buffer(p, i)->name;
    if (!name_taken(a, p, i, name, false))
        return name;
    const char *cand = arena_printf(a, "%s_out", name);
    for (int k = 2; name_taken(a, p, i, cand, true); k++)
        cand = arena_printf(a, "%s_out%d", name, k);
    return cand;
}

static bool name_taken(Arena *a, const IrProgram *p, int32_t upto, const char *name,
                       bool check_later)
{
    int32_t n = p->ninputs + p->noutputs;
    for (int32_t j = 0; j < upto; j++)
        if (!strcmp(param_name(a, p, j), name))
            return true;
    for (int32_t j = upto + 1; check_later && j < n; j++)
        if (!strcmp(ir_arg_buffer(p, j)->name, name))
            return true;
    return false;
}

static void params(FILE *f, Arena *a, const IrProgram *p)
{
    int32_t n = p->ninputs + p->noutputs;
    for (int32_t i = 0; i < n; i++)
        fprintf(f, "%s%sconvrt_tensor *%s", i ? ", " : "", i < p->ninputs ? "const " : "",
                param_name(a, p, i));
}

static const char *const C_KEYWORDS[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
    "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
    "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
    "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Alignas",
    "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
    "_Static_assert", "_Thread_local", "bool", "true", "false", "alignas", "alignof",
    "nullptr", "static_assert", "thread_local", "typeof", "constexpr", NULL,
};

static const char *name_problem(const char *name, bool is_symbol)
{
    for (int i = 0; C_KEYWORDS[i]; i++)
        if (!strcmp(name, C_KEYWORDS[i]))
            return "is a C keyword";
    if (!strncmp(name, "convrt_", 7) || !strncmp(name, "CONVRT_", 7))
        return "uses the runtime's prefix convrt_";
    if (!strncmp(name, "__", 2) || (name[0] == '_' && name[1] >= 'A' && name[1] <= 'Z'))
        return "is reserved in C";
    if (is_symbol && !strcmp(name, "main"))
        return "would define the program's main()";
    return NULL;
}

int header_check_names(const IrProgram *p, char **err)
{
    Arena a;
    arena_init(&a);
    const char *why = name_problem(p->name, true);
    const char *msg = NULL;
    if (why)
        msg = arena_printf(&a, "%s: error: the pipeline name '%s' %s; an object exports it as a C "
                               "function, so rename the pipeline", p->source_name, p->name, why);
    for (int32_t i = 0; !msg && i < p->nbuffers; i++) {
        const IrBuffer *b = &p->buffers[i];
        if (b->kind != IR_BUF_INPUT && b->kind != IR_BUF_OUTPUT)
            continue;
        why = name_problem(b->name, false);
        if (why)
            msg = arena_printf(&a, "%s: error: the %s name '%s' %s; it becomes a parameter name in the "
                                   "generated header, so rename it", p->source_name,
                               b->kind == IR_BUF_INPUT ? "input" : "output", b->name, why);
    }
    if (msg)
        *err = strdup(msg);
    arena_free(&a);
    return msg ? -1 : 0;
}

int header_write(FILE *f, const IrProgram *p, const char *cpu)
{
    Arena a;
    arena_init(&a);
    char *guard = arena_printf(&a, "CONVC_PIPELINE_%s_H", p->name);
    for (char *c = guard; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    fprintf(f, "/* %s.h - pipeline '%s', compiled by convc from %s for the CPU %s.\n",
            p->name, p->name, p->source_name, cpu);
    fprintf(f, " *\n * Generated: do not edit.  Build a program with\n"
               " *   cc app.c %s.o $(pkg-config --cflags --libs convrt)\n */\n", p->name);
    fprintf(f, "#ifndef %s\n#define %s\n\n#include <convrt.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
            guard, guard);
    fprintf(f, "/* Arguments, in order (dims in C order; size symbols are bound by the\n"
               " * first input that declares them and every other use must agree):\n");
    for (int32_t i = 0; i < p->ninputs + p->noutputs; i++) {
        const IrBuffer *b = ir_arg_buffer(p, i);
        const char *param = param_name(&a, p, i);
        fprintf(f, " *   %-7s %-8s %s%s%s%s\n", i < p->ninputs ? "input" : "output", b->name,
                shape_of(&a, p, b), strcmp(param, b->name) ? "  (parameter " : "",
                strcmp(param, b->name) ? param : "", strcmp(param, b->name) ? ")" : "");
    }
    fprintf(f, " *\n"
               " * %s_output_shapes() checks the inputs and fills rank and dims of every\n"
               " * output from them (data is not touched): allocate the outputs' data\n"
               " * after it, e.g. with convrt_tensor_alloc().\n"
               " * %s() checks every argument (NULL pointers, ranks, every dim against the\n"
               " * declaration and the size symbols, the outputs' dims, size overflow, the\n"
               " * CPU's features) before touching any data, then computes the outputs.\n"
               " * Each output needs memory of its own: one that overlaps an input or\n"
               " * another output is refused with CONVRT_E_ALIAS (inputs may overlap).\n"
               " * Both return 0 or a negative CONVRT_E_* code (convrt_strerror()); the\n"
               " * details go to the error handler (convrt_set_error_handler()).  Weights\n"
               " * declared with load() are part of the object. */\n",
            p->name, p->name);
    fprintf(f, "int %s(", p->name);
    params(f, &a, p);
    fprintf(f, ");\nint %s_output_shapes(", p->name);
    params(f, &a, p);
    fprintf(f, ");\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
    arena_free(&a);
    return ferror(f) ? -1 : 0;
}
