/* messages.c - the compiler's diagnostics and the runtime's errors as the
 * text of Python exceptions: the same words `convc` prints on stderr. */
#include "pyconvc.h"

#include <stdlib.h>
#include <string.h>

/* ---- the compiler's messages: a memory stream --------------------------- */

bool msgbuf_open(MsgBuf *m)
{
    m->text = NULL;
    m->len = 0;
    m->f = open_memstream(&m->text, &m->len);
    return m->f != NULL;
}

const char *msgbuf_text(MsgBuf *m)
{
    if (!m->f || fflush(m->f) != 0 || !m->text)
        return "";
    while (m->len > 0 && m->text[m->len - 1] == '\n')
        m->text[--m->len] = '\0';
    return m->text;
}

void msgbuf_close(MsgBuf *m)
{
    if (m->f)
        fclose(m->f);
    free(m->text);
    m->f = NULL;
    m->text = NULL;
    m->len = 0;
}

/* ---- the runtime's messages: per thread ------------------------------------
 *
 * The runtime's handlers are process-wide, and pipelines run with the GIL
 * released, so several threads may fail at once: each message is kept by
 * the thread that reported it, which is the thread that called the
 * runtime (checks happen before any work is shared with the pool). */

static _Thread_local char *last_error;
static _Thread_local char *pending_warnings;   /* one per line */

static void keep_error(void *user, int code, const char *message)
{
    (void)user;
    (void)code;
    free(last_error);
    last_error = strdup(message);
}

static void keep_warning(void *user, int code, const char *message)
{
    (void)user;
    (void)code;
    size_t old = pending_warnings ? strlen(pending_warnings) : 0;
    char *grown = realloc(pending_warnings, old + strlen(message) + 2);
    if (!grown)
        return;
    memcpy(grown + old, message, strlen(message));
    grown[old + strlen(message)] = '\n';
    grown[old + strlen(message) + 1] = '\0';
    pending_warnings = grown;
}

void runtime_messages_install(void)
{
    convrt_set_error_handler(keep_error, NULL);
    convrt_set_warning_handler(keep_warning, NULL);
}

void runtime_messages_clear(void)
{
    free(last_error);
    last_error = NULL;
    free(pending_warnings);
    pending_warnings = NULL;
}

const char *runtime_last_error(void)
{
    return last_error ? last_error : "";
}

int runtime_flush_warnings(void)
{
    char *all = pending_warnings;
    pending_warnings = NULL;
    int rc = 0;
    for (char *line = all; rc == 0 && line && *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        rc = PyErr_WarnEx(PyExc_RuntimeWarning, line, 1);
        line = nl + 1;
    }
    free(all);
    return rc;
}

PyObject *raise_with_code(PyObject *exc, int code, const char *message)
{
    PyObject *e = PyObject_CallFunction(exc, "s", message);
    if (!e)
        return NULL;
    PyObject *v = PyLong_FromLong(code);
    if (!v || PyObject_SetAttrString(e, "code", v) != 0) {
        Py_XDECREF(v);
        Py_DECREF(e);
        return NULL;
    }
    Py_DECREF(v);
    PyErr_SetObject(exc, e);
    Py_DECREF(e);
    return NULL;
}

/* "f32[4, 5]" */
static const char *array_str(Arena *a, const convrt_tensor *t)
{
    const char *dims = "";
    for (int32_t j = 0; j < t->rank; j++)
        dims = arena_printf(a, "%s%s%lld", dims, j ? ", " : "", (long long)t->dims[j]);
    return arena_printf(a, "f32[%s]", dims);
}

/* The same decisions as report_run_failure in cli/run.c: a message that
 * names one of the graph's runtime checks is a diagnostic at its stage. */
PyObject *raise_run_error(Arena *a, const Compiled *c, const convrt_tensor *inputs, int code)
{
    const char *msg = *runtime_last_error() ? runtime_last_error() : convrt_strerror(code);
    const Graph *g = c->graph;
    const char *rest;
    const GraphCheck *hit = graph_check_in_message(a, g, msg, &rest);
    const char *at = hit ? arena_printf(a, "%s:%d:%d: ", g->source_name, hit->loc.first_line,
                                        hit->loc.first_column) : NULL;
    MsgBuf m;
    if (!msgbuf_open(&m))
        return PyErr_NoMemory();
    if (hit && !strncmp(rest, at, strlen(at))) {
        Diag d;
        diag_init(&d, &c->src, m.f);
        diag_error(&d, hit->loc, "%s", rest + strlen(at));
    } else {
        fprintf(m.f, "%s\n", msg);
    }
    if (code == CONVRT_E_RANK || code == CONVRT_E_DIM || code == CONVRT_E_SYMBOL || code == CONVRT_E_SHAPE ||
        code == CONVRT_E_OVERFLOW)
        for (int32_t i = 0; i < g->inputs.len; i++) {
            const Node *in = g->inputs.items[i];
            fprintf(m.f, "note: %s is %s (declared f32%s)\n", in->name, array_str(a, &inputs[in->input.arg]),
                    shape_str(a, in->shape));
        }
    raise_with_code(pyconvc_RunError, code, msgbuf_text(&m));
    msgbuf_close(&m);
    return NULL;
}
