/* options.c - compile(script, **options) and check(script, **options):
 * the keyword arguments as the compiler's CompileOptions, and one
 * compilation with its diagnostics captured.
 *
 *   target_cpu="native"   --target-cpu
 *   threads=N             --threads (1..1024; per calling thread)
 *   method="script"       --method: "script", "direct" or "auto"
 *   opt_level=3           -O0 .. -O3
 *   no_kernels=False      --no-kernels
 *   sizes={"H": 512}      size symbols, for names that are also options
 *   H=512, ...            size symbols: every other keyword */
#include "pyconvc.h"

#include <pthread.h>
#include <string.h>

static bool is_ident(const char *s)
{
    if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* An int that is not a bool, in [lo, hi]; else a ValueError or TypeError
 * worded by what (a printf format with one %s for the value's text). */
static bool int_in_range(PyObject *v, long long lo, long long hi, long long *out, const char *what)
{
    if (PyLong_Check(v) && !PyBool_Check(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred())
            return false;
        if (!overflow && x >= lo && x <= hi) {
            *out = x;
            return true;
        }
    }
    PyObject *text = PyObject_Str(v);
    if (!text)
        return false;
    PyErr_Format(PyLong_Check(v) && !PyBool_Check(v) ? PyExc_ValueError : PyExc_TypeError, what,
                 PyUnicode_AsUTF8(text));
    Py_DECREF(text);
    return false;
}

static bool add_symbol(Arena *a, PyCompileRequest *r, SymBinding *syms, PyObject *name, PyObject *value)
{
    const char *n = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!n) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "size symbol names must be strings");
        return false;
    }
    if (!is_ident(n)) {
        PyErr_Format(PyExc_ValueError, "size symbol name '%s' is not an identifier", n);
        return false;
    }
    for (int i = 0; i < r->co.nsyms; i++)
        if (!strcmp(syms[i].name, n)) {
            PyErr_Format(PyExc_TypeError, "size symbol %s is given twice", n);
            return false;
        }
    long long v;
    const char *what = arena_printf(a, "size symbol %s must be a positive integer, got '%%s'", n);
    if (!int_in_range(value, 1, INT64_MAX, &v, what))
        return false;
    syms[r->co.nsyms++] = (SymBinding){ arena_strdup(a, n), v };
    return true;
}

static bool is_option(const char *k)
{
    static const char *const names[] = { "target_cpu", "threads", "method", "opt_level", "no_kernels", "sizes" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(k, names[i]))
            return true;
    return false;
}

static bool set_option(Arena *a, PyCompileRequest *r, const char *k, PyObject *v)
{
    long long n;
    if (!strcmp(k, "target_cpu")) {
        if (v == Py_None)
            return true;
        const char *s = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
        if (!s) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "target_cpu must be a string");
            return false;
        }
        r->co.cpu = arena_strdup(a, s);
    } else if (!strcmp(k, "threads")) {
        if (v == Py_None)
            return true;
        if (!int_in_range(v, 1, 1024, &n, "threads needs a number from 1 to 1024, got '%s'"))
            return false;
        r->threads = (int)n;
    } else if (!strcmp(k, "method")) {
        const char *s = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
        if (s && !strcmp(s, "script"))
            r->co.method = POLICY_SCRIPT;
        else if (s && !strcmp(s, "direct"))
            r->co.method = POLICY_DIRECT;
        else if (s && !strcmp(s, "auto"))
            r->co.method = POLICY_AUTO;
        else {
            PyObject *text = PyObject_Str(v);
            if (text)
                PyErr_Format(PyExc_ValueError, "unknown method '%s' (direct, auto or script)",
                             PyUnicode_AsUTF8(text));
            Py_XDECREF(text);
            return false;
        }
    } else if (!strcmp(k, "opt_level")) {
        if (!int_in_range(v, 0, 3, &n, "opt_level must be 0, 1, 2 or 3, got '%s'"))
            return false;
        r->co.opt_level = (int)n;
    } else if (!strcmp(k, "no_kernels")) {
        int t = PyObject_IsTrue(v);
        if (t < 0)
            return false;
        r->co.no_kernels = t;
    }
    return true;
}

bool options_parse(Arena *a, PyObject *args, PyObject *kwargs, PyCompileRequest *r)
{
    memset(r, 0, sizeof *r);
    r->co.opt_level = 3;
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&:compile", PyUnicode_FSConverter, &path))
        return false;
    r->co.script = arena_strdup(a, PyBytes_AS_STRING(path));
    Py_DECREF(path);

    Py_ssize_t nkw = kwargs ? PyDict_Size(kwargs) : 0;
    PyObject *sizes = kwargs ? PyDict_GetItemString(kwargs, "sizes") : NULL;
    if (sizes == Py_None)
        sizes = NULL;
    if (sizes && !PyDict_Check(sizes)) {
        PyErr_SetString(PyExc_TypeError, "sizes must be a dict of size symbols, e.g. {\"H\": 512}");
        return false;
    }
    SymBinding *syms = arena_array(a, (size_t)(nkw + (sizes ? PyDict_Size(sizes) : 0)) + 1, sizeof *syms);
    r->co.syms = syms;
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (kwargs && PyDict_Next(kwargs, &pos, &k, &v)) {
        const char *key = PyUnicode_AsUTF8(k);
        if (!key)
            return false;
        if (is_option(key) ? !set_option(a, r, key, v) : !add_symbol(a, r, syms, k, v))
            return false;
    }
    pos = 0;
    while (sizes && PyDict_Next(sizes, &pos, &k, &v))
        if (!add_symbol(a, r, syms, k, v))
            return false;
    return true;
}

/* LLVM's and the compiler's state is set up once, on first use, and
 * nothing says two compilations may share it: one at a time. */
static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

bool compile_script(Arena *a, PyCompileRequest *r, Compiled *c, bool want_module, Jit **jit)
{
    MsgBuf m;
    if (!msgbuf_open(&m)) {
        PyErr_NoMemory();
        return false;
    }
    r->co.messages = m.f;
    memset(c, 0, sizeof *c);
    *jit = NULL;
    char *jit_err = NULL;
    bool ok;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&compile_lock);
    ok = driver_front(a, &r->co, c, want_module, "native");
    if (ok && want_module) {
        CgModule *mod = driver_back(&r->co, c->ir, "native");
        ok = mod != NULL;
        if (ok) {
            *jit = jit_create(mod, &jit_err);   /* takes mod */
            if (!*jit) {
                fprintf(m.f, "convc: error: %s\n", jit_err ? jit_err : "cannot create the JIT");
                ok = false;
            } else if (!jit_pipeline(*jit)) {
                fprintf(m.f, "convc: error: the compiled module has no pipeline descriptor\n");
                jit_free(*jit);
                *jit = NULL;
                ok = false;
            }
        }
    }
    pthread_mutex_unlock(&compile_lock);
    Py_END_ALLOW_THREADS
    free(jit_err);
    r->co.messages = NULL;
    const char *text = msgbuf_text(&m);
    if (!ok)
        PyErr_SetString(pyconvc_CompileError, *text ? text : "convc: error: the script did not compile");
    else if (*text && PyErr_WarnEx(pyconvc_CompileWarning, text, 1) != 0) {
        ok = false;     /* warnings turned into errors */
        jit_free(*jit);
        *jit = NULL;
    }
    msgbuf_close(&m);
    /* The Diag wrote to the stream just closed: nothing may use it now. */
    c->diag.out = NULL;
    return ok;
}

PyObject *check_table(Arena *a, const Compiled *c)
{
    MsgBuf m;
    if (!msgbuf_open(&m))
        return PyErr_NoMemory();
    graph_print_table(m.f, a, c->graph, schedule_method_note, c->sched);
    if (c->diag.warnings)
        fprintf(m.f, "  %d warning%s\n", c->diag.warnings, c->diag.warnings == 1 ? "" : "s");
    fflush(m.f);
    PyObject *s = PyUnicode_DecodeUTF8(m.text ? m.text : "", (Py_ssize_t)m.len, "replace");
    msgbuf_close(&m);
    return s;
}
