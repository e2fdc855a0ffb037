/* input_shapes.c - `convc check SCRIPT INPUT=FILE`: the shapes of the
 * files, read from their headers (or an .npy on standard input), for the
 * checker to bind the inputs' size symbols with (compiler/bind.h). */
#include "cli.h"

#include <string.h>

int load_input_shapes(Arena *a, const Options *o, InputShape **out, int *n)
{
    InputShape *s = arena_array(a, (size_t)o->ninputs + 1, sizeof *s);
    int errors = 0;
    for (int i = 0; i < o->ninputs; i++) {
        const Pair *p = &o->inputs[i];
        const char *context = arena_printf(a, "input '%s'", p->name);
        convrt_set_error_handler(report_to_stderr, (void *)context);
        convrt_tensor t;
        memset(&t, 0, sizeof t);
        int rc = is_stdio(p->file) ? load_stdin_npy(p->name, &t) : convrt_load_shape(p->file, &t);
        if (rc != 0) {
            errors++;
            continue;
        }
        s[i].name = p->name;
        s[i].file = is_stdio(p->file) ? "<stdin>" : p->file;
        s[i].rank = t.rank;
        memcpy(s[i].dims, t.dims, sizeof s[i].dims);
        convrt_tensor_free(&t);
    }
    convrt_set_error_handler(NULL, NULL);
    *out = s;
    *n = o->ninputs;
    return errors ? 1 : 0;
}
