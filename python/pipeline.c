/* pipeline.c - convc.Pipeline: a pipeline JIT-compiled in this process,
 * called with NumPy arrays.
 *
 *   out = p(img=a)          inputs by name, or positionally in script order
 *   out["mag"]              a dict of float32 arrays, one per output
 *
 * An input that is already a float32, C-contiguous, aligned array in the
 * machine's byte order is passed to the code as it is; anything else that
 * holds real numbers (other floats, integers, booleans, other orders,
 * lists) is first converted to such an array, a copy.  Outputs are NumPy
 * arrays allocated here and written by the code in place.  The GIL is
 * released while the pipeline runs. */
#include "pyconvc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct PipelineObject {
    PyObject_HEAD
    Arena                 *arena;      /* everything the compiler made; its
                                          address is kept in it (ShapeCtx) */
    Compiled               c;
    Jit                   *jit;
    const convrt_pipeline *p;
    int                    threads;    /* 0: the process-wide count */
    PyObject              *inputs;     /* {name: declared shape}, script order */
    PyObject              *outputs;
} PipelineObject;

/* A dim as Python sees it: 512, or "H", "(H - 1)/2 + 1". */
static PyObject *dim_object(Arena *a, const SymExpr *e)
{
    int64_t v;
    if (sym_is_const(e, &v))
        return PyLong_FromLongLong(v);
    return PyUnicode_FromString(sym_str(a, e));
}

static PyObject *shape_tuple(Arena *a, Shape s)
{
    PyObject *t = PyTuple_New(s.rank);
    for (int32_t j = 0; t && j < s.rank; j++) {
        PyObject *d = dim_object(a, s.dims[j]);
        if (!d) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, j, d);
    }
    return t;
}

/* {name: shape} of the descriptor's arguments [from, to), with the shapes
 * of the graph's nodes of those names. */
static PyObject *arg_shapes(PipelineObject *self, int64_t from, int64_t to)
{
    PyObject *d = PyDict_New();
    const Graph *g = self->c.graph;
    for (int64_t i = from; d && i < to; i++) {
        const char *name = self->p->args[i].name;
        const Node *n = NULL;
        for (int32_t k = 0; !n && k < g->inputs.len; k++)
            if (!strcmp(((const Node *)g->inputs.items[k])->name, name))
                n = g->inputs.items[k];
        for (int32_t k = 0; !n && k < g->noutputs; k++)
            if (!strcmp(g->outputs[k].name, name))
                n = g->outputs[k].node;
        PyObject *shape = n ? shape_tuple(self->arena, n->shape) : PyTuple_New(0);
        if (!shape || PyDict_SetItemString(d, name, shape) != 0)
            Py_CLEAR(d);
        Py_XDECREF(shape);
    }
    return d;
}

PyObject *pipeline_new(Arena *arena, const Compiled *c, Jit *jit, int threads)
{
    PipelineObject *self = PyObject_New(PipelineObject, &pyconvc_PipelineType);
    if (!self) {
        jit_free(jit);
        arena_free(arena);
        free(arena);
        return NULL;
    }
    self->arena = arena;
    self->c = *c;
    self->c.diag.src = &self->c.src;
    self->jit = jit;
    self->p = jit_pipeline(jit);
    self->threads = threads;
    self->inputs = self->outputs = NULL;
    self->inputs = arg_shapes(self, 0, self->p->n_inputs);
    self->outputs = self->inputs ? arg_shapes(self, self->p->n_inputs, self->p->n_args) : NULL;
    if (!self->outputs) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void pipeline_dealloc(PipelineObject *self)
{
    Py_XDECREF(self->inputs);
    Py_XDECREF(self->outputs);
    jit_free(self->jit);
    arena_free(self->arena);
    free(self->arena);
    PyObject_Free(self);
}

/* ---- calling ----------------------------------------------------------------- */

/* obj as a float32, C-contiguous, aligned, native-order array: obj itself
 * when it is one, else a converted copy.  Only real numbers convert. */
static PyArrayObject *as_input(const convrt_pipeline *p, const char *name, PyObject *obj)
{
    PyArrayObject *arr = (PyArrayObject *)PyArray_FROM_O(obj);
    if (!arr)
        return NULL;
    char kind = PyArray_DESCR(arr)->kind;
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
        PyErr_Format(PyExc_TypeError,
                     "pipeline '%s': input '%s' is an array of %S; only real numbers can be converted to float32",
                     p->name, name, (PyObject *)PyArray_DESCR(arr));
        Py_DECREF(arr);
        return NULL;
    }
    PyArrayObject *f = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)arr, NPY_FLOAT32,
                                                         NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_DECREF(arr);
    return f;
}

/* The inputs in script order, from positional and keyword arguments;
 * given[] holds borrowed references.  false with a TypeError set. */
static bool bind_inputs(const convrt_pipeline *p, PyObject *args, PyObject *kwargs, PyObject **given)
{
    int64_t ni = p->n_inputs;
    Py_ssize_t npos = PyTuple_GET_SIZE(args);
    if (npos > ni) {
        PyErr_Format(PyExc_TypeError, "pipeline '%s' takes %lld input%s, %zd given", p->name, (long long)ni,
                     ni == 1 ? "" : "s", npos);
        return false;
    }
    for (Py_ssize_t i = 0; i < npos; i++)
        given[i] = PyTuple_GET_ITEM(args, i);
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (kwargs && PyDict_Next(kwargs, &pos, &k, &v)) {
        const char *key = PyUnicode_AsUTF8(k);
        if (!key)
            return false;
        int64_t found = -1;
        for (int64_t i = 0; i < ni; i++)
            if (!strcmp(p->args[i].name, key))
                found = i;
        if (found < 0) {
            PyErr_Format(PyExc_TypeError, "pipeline '%s' has no input '%s'", p->name, key);
            return false;
        }
        if (given[found]) {
            PyErr_Format(PyExc_TypeError, "input '%s' is given twice", key);
            return false;
        }
        given[found] = v;
    }
    for (int64_t i = 0; i < ni; i++)
        if (!given[i]) {
            PyErr_Format(PyExc_TypeError, "input '%s' is not given", p->args[i].name);
            return false;
        }
    return true;
}

typedef struct CallState {
    PyObject      **given;      /* borrowed */
    PyArrayObject **arrays;     /* inputs then outputs, owned */
    convrt_tensor  *tensors;
    convrt_tensor **argp;
} CallState;

static PyObject *run_call(PipelineObject *self, CallState *s, PyObject *args, PyObject *kwargs)
{
    const convrt_pipeline *p = self->p;
    int64_t ni = p->n_inputs, na = p->n_args;
    if (!bind_inputs(p, args, kwargs, s->given))
        return NULL;
    for (int64_t i = 0; i < ni; i++) {
        PyArrayObject *a = s->arrays[i] = as_input(p, p->args[i].name, s->given[i]);
        if (!a)
            return NULL;
        int nd = PyArray_NDIM(a);
        if (nd > CONVRT_MAX_RANK) {
            /* more than a tensor can hold: the runtime's message for a rank */
            char msg[512];
            snprintf(msg, sizeof msg, "pipeline '%s': input '%s' has rank %d, but the pipeline declares rank %lld",
                     p->name, p->args[i].name, nd, (long long)p->args[i].rank);
            return raise_with_code(pyconvc_RunError, CONVRT_E_RANK, msg);
        }
        s->tensors[i].data = PyArray_DATA(a);
        s->tensors[i].rank = nd;
        for (int j = 0; j < nd; j++)
            s->tensors[i].dims[j] = PyArray_DIM(a, j);
    }
    for (int64_t i = 0; i < na; i++)
        s->argp[i] = &s->tensors[i];

    runtime_messages_clear();
    int rc = convrt_pipeline_output_shapes(p, s->argp);
    /* the outputs' data 64-byte aligned, for streaming stores */
    PyObject *handler = rc == 0 && ni < na ? memory_outputs_begin() : NULL;
    if (rc == 0 && ni < na && !handler)
        return NULL;
    for (int64_t i = ni; rc == 0 && i < na; i++) {
        npy_intp dims[CONVRT_MAX_RANK];
        for (int32_t j = 0; j < s->tensors[i].rank; j++)
            dims[j] = (npy_intp)s->tensors[i].dims[j];
        s->arrays[i] = (PyArrayObject *)PyArray_SimpleNew(s->tensors[i].rank, dims, NPY_FLOAT32);
        if (!s->arrays[i]) {
            memory_outputs_end(handler);
            return NULL;
        }
        s->tensors[i].data = PyArray_DATA(s->arrays[i]);
    }
    memory_outputs_end(handler);
    if (rc == 0) {
        int threads = self->threads;
        Py_BEGIN_ALLOW_THREADS
        int prev = threads ? convrt_set_thread_num_threads(threads) : 0;
        rc = convrt_pipeline_run(p, s->argp);
        if (threads)
            convrt_set_thread_num_threads(prev);
        Py_END_ALLOW_THREADS
    }
    if (rc != 0) {
        Arena scratch;
        arena_init(&scratch);
        raise_run_error(&scratch, &self->c, s->tensors, rc);
        arena_free(&scratch);
        runtime_messages_clear();
        return NULL;
    }
    if (runtime_flush_warnings() != 0)
        return NULL;
    PyObject *out = PyDict_New();
    for (int64_t i = ni; out && i < na; i++)
        if (PyDict_SetItemString(out, p->args[i].name, (PyObject *)s->arrays[i]) != 0)
            Py_CLEAR(out);
    return out;
}

static PyObject *pipeline_call(PipelineObject *self, PyObject *args, PyObject *kwargs)
{
    int64_t na = self->p->n_args;
    CallState s = {
        .given = PyMem_Calloc((size_t)na + 1, sizeof(PyObject *)),
        .arrays = PyMem_Calloc((size_t)na + 1, sizeof(PyArrayObject *)),
        .tensors = PyMem_Calloc((size_t)na + 1, sizeof(convrt_tensor)),
        .argp = PyMem_Calloc((size_t)na + 1, sizeof(convrt_tensor *)),
    };
    PyObject *out = NULL;
    /* Kept alive while the GIL is released, whatever other threads drop. */
    Py_INCREF(self);
    if (!s.given || !s.arrays || !s.tensors || !s.argp)
        PyErr_NoMemory();
    else
        out = run_call(self, &s, args, kwargs);
    for (int64_t i = 0; s.arrays && i < na; i++)
        Py_XDECREF(s.arrays[i]);
    PyMem_Free(s.given);
    PyMem_Free(s.arrays);
    PyMem_Free(s.tensors);
    PyMem_Free(s.argp);
    Py_DECREF(self);
    return out;
}

/* ---- attributes ----------------------------------------------------------------- */

static PyObject *pipeline_check(PipelineObject *self, PyObject *unused)
{
    return check_table(self->arena, &self->c);
}

static PyObject *get_inputs(PipelineObject *self, void *unused)
{
    return PyDict_Copy(self->inputs);
}

static PyObject *get_outputs(PipelineObject *self, void *unused)
{
    return PyDict_Copy(self->outputs);
}

static PyObject *get_name(PipelineObject *self, void *unused)
{
    return PyUnicode_FromString(self->p->name);
}

static PyObject *get_script(PipelineObject *self, void *unused)
{
    return PyUnicode_DecodeFSDefault(self->c.src.filename);
}

static PyObject *get_target_cpu(PipelineObject *self, void *unused)
{
    return PyUnicode_FromString(self->p->target_cpu);
}

static PyObject *get_threads(PipelineObject *self, void *unused)
{
    if (!self->threads)
        Py_RETURN_NONE;
    return PyLong_FromLong(self->threads);
}

static PyObject *pipeline_repr(PipelineObject *self)
{
    return PyUnicode_FromFormat("<convc.Pipeline '%s' from '%s': inputs %R, outputs %R>", self->p->name,
                                self->c.src.filename, self->inputs, self->outputs);
}

static PyMethodDef pipeline_methods[] = {
    {"check", (PyCFunction)pipeline_check, METH_NOARGS,
     "check() -> str\n\nThe stage table `convc check` prints for this pipeline, with the sizes it was "
     "compiled with."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pipeline_getset[] = {
    {"inputs", (getter)get_inputs, NULL,
     "{name: declared shape} of the inputs in script order; a dim is an int or the size expression as a "
     "str, e.g. {'img': ('H', 'W')}", NULL},
    {"outputs", (getter)get_outputs, NULL, "{name: declared shape} of the outputs in script order", NULL},
    {"name", (getter)get_name, NULL, "the pipeline's name in the script", NULL},
    {"script", (getter)get_script, NULL, "the script's path as given to compile()", NULL},
    {"target_cpu", (getter)get_target_cpu, NULL, "the CPU the code was compiled for", NULL},
    {"threads", (getter)get_threads, NULL,
     "threads a call uses (None: CONVRT_NUM_THREADS or all CPUs)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pyconvc_PipelineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "convc.Pipeline",
    .tp_basicsize = sizeof(PipelineObject),
    .tp_dealloc = (destructor)pipeline_dealloc,
    .tp_repr = (reprfunc)pipeline_repr,
    .tp_call = (ternaryfunc)pipeline_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A compiled pipeline (made by convc.compile).\n\n"
              "p(*inputs, **inputs) -> {output name: numpy.ndarray of float32}\n\n"
              "Inputs by name or in script order; float32 C-contiguous arrays are used in place, other "
              "real arrays are converted (a copy).  The GIL is released while the pipeline runs.",
    .tp_methods = pipeline_methods,
    .tp_getset = pipeline_getset,
};
