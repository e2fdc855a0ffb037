/* input_shapes.c - `convc check SCRIPT INPUT=FILE`: the shapes of the
 * files, read from their headers (or an .npy on standard input), for the
 * checker to bind the inputs' size symbols with (compiler/bind.h). */
#include "cli.h"

#include <string.h>

typedef struct Why {
    Arena      *a;
    const char *context;
    const char *text;
} Why;

static void keep_error(void *user, int code, const char *message)
{
    (void)code;
    Why *w = user;
    w->text = arena_printf(w->a, "%s: %s", w->context, message);
}

int load_input_shapes(Arena *a, const Options *o, InputShape **out, int *n, const char ***why)
{
    InputShape *s = arena_array(a, (size_t)o->ninputs + 1, sizeof *s);
    const char **w = arena_array(a, (size_t)o->ninputs + 1, sizeof *w);
    int failed = 0;
    for (int i = 0; i < o->ninputs; i++) {
        const Pair *p = &o->inputs[i];
        Why k = { a, arena_printf(a, "input '%s'", p->name), NULL };
        convrt_set_error_handler(keep_error, &k);
        convrt_tensor t;
        memset(&t, 0, sizeof t);
        int rc = is_stdio(p->file) ? load_stdin_npy(p->name, &t) : convrt_load_shape(p->file, &t);
        s[i].name = p->name;
        s[i].file = is_stdio(p->file) ? "<stdin>" : p->file;
        if (rc != 0) {
            s[i].rank = -1;
            w[i] = k.text ? k.text : arena_printf(a, "%s: cannot be read", k.context);
            failed++;
            continue;
        }
        s[i].rank = t.rank;
        memcpy(s[i].dims, t.dims, sizeof s[i].dims);
        convrt_tensor_free(&t);
    }
    convrt_set_error_handler(NULL, NULL);
    *out = s;
    *n = o->ninputs;
    *why = w;
    return failed;
}

void report_input_shapes(const Options *o, const char **why)
{
    for (int i = 0; i < o->ninputs; i++)
        if (why[i])
            fprintf(stderr, "convc: error: %s\n", why[i]);
}
