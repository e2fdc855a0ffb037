/* module.c - the Python module `convc`: its functions and exceptions.
 *
 *   p = convc.compile("sobel.conv", H=512)    a Pipeline (pipeline.c)
 *   out = p(img=array)                         {"mag": float32 array}
 *   convc.check("sobel.conv", H=512)           the stage table, as text
 *   img = convc.load("ascent.pgm")             as `convc run` reads files
 *   convc.save("edges.png", out["mag"])        as `convc run` writes them */
#define PYCONVC_IMPORT_NUMPY
#include "pyconvc.h"

#include <stdlib.h>

PyObject *pyconvc_Error, *pyconvc_CompileError, *pyconvc_CompileWarning, *pyconvc_RunError,
    *pyconvc_FileError;

static PyObject *py_compile(PyObject *mod, PyObject *args, PyObject *kwargs)
{
    Arena *a = malloc(sizeof *a);
    if (!a)
        return PyErr_NoMemory();
    arena_init(a);
    PyCompileRequest r;
    Compiled c;
    Jit *jit = NULL;
    if (options_parse(a, args, kwargs, &r) && compile_script(a, &r, &c, true, &jit))
        return pipeline_new(a, &c, jit, r.threads);
    arena_free(a);
    free(a);
    return NULL;
}

static PyObject *py_check(PyObject *mod, PyObject *args, PyObject *kwargs)
{
    Arena a;
    arena_init(&a);
    PyCompileRequest r;
    Compiled c;
    Jit *jit = NULL;
    PyObject *table = NULL;
    if (options_parse(&a, args, kwargs, &r) && compile_script(&a, &r, &c, false, &jit))
        table = check_table(&a, &c);
    arena_free(&a);
    return table;
}

/* ---- files ------------------------------------------------------------------------ */

static void free_tensor(PyObject *capsule)
{
    convrt_tensor *t = PyCapsule_GetPointer(capsule, "convc.tensor");
    convrt_tensor_free(t);
    free(t);
}

/* The runtime's tensor as an array over the same memory, which the array
 * then owns. */
static PyObject *adopt_tensor(convrt_tensor *t)
{
    npy_intp dims[CONVRT_MAX_RANK];
    for (int32_t j = 0; j < t->rank; j++)
        dims[j] = (npy_intp)t->dims[j];
    PyObject *capsule = PyCapsule_New(t, "convc.tensor", free_tensor);
    if (!capsule) {
        convrt_tensor_free(t);
        free(t);
        return NULL;
    }
    PyObject *arr = PyArray_SimpleNewFromData(t->rank, dims, NPY_FLOAT32, t->data);
    if (!arr || PyArray_SetBaseObject((PyArrayObject *)arr, capsule) != 0) {
        Py_XDECREF(arr);
        Py_DECREF(capsule);
        return NULL;
    }
    return arr;
}

static PyObject *py_load(PyObject *mod, PyObject *args)
{
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&:load", PyUnicode_FSConverter, &path))
        return NULL;
    convrt_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        Py_DECREF(path);
        return PyErr_NoMemory();
    }
    int rc;
    runtime_messages_clear();
    Py_BEGIN_ALLOW_THREADS
    rc = convrt_load(PyBytes_AS_STRING(path), t);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc != 0) {
        free(t);
        return raise_with_code(pyconvc_FileError, rc, runtime_last_error());
    }
    if (runtime_flush_warnings() != 0) {
        convrt_tensor_free(t);
        free(t);
        return NULL;
    }
    return adopt_tensor(t);
}

static PyObject *py_save(PyObject *mod, PyObject *args)
{
    PyObject *path = NULL, *obj;
    if (!PyArg_ParseTuple(args, "O&O:save", PyUnicode_FSConverter, &path, &obj))
        return NULL;
    PyArrayObject *arr = (PyArrayObject *)PyArray_FROM_O(obj);
    char kind = arr ? PyArray_DESCR(arr)->kind : 0;
    if (arr && kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
        PyErr_Format(PyExc_TypeError, "save: an array of %S cannot be converted to float32",
                     (PyObject *)PyArray_DESCR(arr));
        Py_CLEAR(arr);
    }
    PyArrayObject *f = arr ? (PyArrayObject *)PyArray_FROM_OTF((PyObject *)arr, NPY_FLOAT32,
                                                              NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST)
                           : NULL;
    Py_XDECREF(arr);
    if (f && PyArray_NDIM(f) > CONVRT_MAX_RANK) {
        PyErr_Format(PyExc_ValueError, "save: rank %d is more than %d", PyArray_NDIM(f), CONVRT_MAX_RANK);
        Py_CLEAR(f);
    }
    if (!f) {
        Py_DECREF(path);
        return NULL;
    }
    convrt_tensor t = { .data = PyArray_DATA(f), .rank = PyArray_NDIM(f) };
    for (int32_t j = 0; j < t.rank; j++)
        t.dims[j] = PyArray_DIM(f, j);
    int rc;
    runtime_messages_clear();
    Py_BEGIN_ALLOW_THREADS
    rc = convrt_save(PyBytes_AS_STRING(path), &t);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    Py_DECREF(f);
    if (rc != 0)
        return raise_with_code(pyconvc_FileError, rc, runtime_last_error());
    if (runtime_flush_warnings() != 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- the module ------------------------------------------------------------------- */

static PyMethodDef convc_methods[] = {
    {"compile", (PyCFunction)(void (*)(void))py_compile, METH_VARARGS | METH_KEYWORDS,
     "compile(script, *, target_cpu='native', threads=None, method='script', opt_level=3,\n"
     "        no_kernels=False, sizes=None, **symbols) -> Pipeline\n\n"
     "JIT-compile a .conv script.  Size symbols may be bound as keywords (H=512) or in sizes=.\n"
     "threads: threads a call uses (default: CONVRT_NUM_THREADS or all CPUs).  Raises\n"
     "CompileError with the diagnostics `convc` prints; warnings become CompileWarning."},
    {"check", (PyCFunction)(void (*)(void))py_check, METH_VARARGS | METH_KEYWORDS,
     "check(script, **options) -> str\n\n"
     "Parse and check a script: the stage table `convc check` prints.  Options as for compile()."},
    {"load", (PyCFunction)py_load, METH_VARARGS,
     "load(path) -> numpy.ndarray\n\n"
     "Read a .npy (float32 or float64) or an image (.png, .pgm, .ppm, .pnm) as `convc run` does:\n"
     "gray as [H, W], colour as [3, H, W], in [0, 1].  float32.  Raises FileError."},
    {"save", (PyCFunction)py_save, METH_VARARGS,
     "save(path, array)\n\n"
     "Write an array as `convc run` writes an output, by the extension; the file is replaced\n"
     "whole or not at all.  Raises FileError."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef convc_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "convc",
    .m_doc = "convc: JIT-compile convolution pipelines (.conv scripts) and run them on NumPy arrays.",
    .m_size = -1,
    .m_methods = convc_methods,
};

static int add_exception(PyObject *m, PyObject **slot, const char *name, const char *doc, PyObject *base)
{
    *slot = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    return *slot ? PyModule_AddObjectRef(m, name + sizeof "convc." - 1, *slot) : -1;
}

PyMODINIT_FUNC PyInit_convc(void)
{
    import_array();
    if (PyType_Ready(&pyconvc_PipelineType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&convc_module);
    if (!m)
        return NULL;
    PyObject *file_bases = NULL;
    if (add_exception(m, &pyconvc_Error, "convc.Error", "Base of convc's exceptions.", NULL) < 0 ||
        add_exception(m, &pyconvc_CompileError, "convc.CompileError",
                      "A script did not compile; the text is the diagnostics `convc` prints "
                      "(FILE:LINE:COL: error: ..., the source line and a caret).",
                      pyconvc_Error) < 0 ||
        add_exception(m, &pyconvc_RunError, "convc.RunError",
                      "The runtime refused or failed a call; .code is the CONVRT_E_* value.",
                      pyconvc_Error) < 0 ||
        !(file_bases = Py_BuildValue("(OO)", pyconvc_Error, PyExc_OSError)) ||
        add_exception(m, &pyconvc_FileError, "convc.FileError",
                      "load() or save() failed; .code is the CONVRT_E_* value.", file_bases) < 0 ||
        add_exception(m, &pyconvc_CompileWarning, "convc.CompileWarning",
                      "A script compiled with warnings; the text is the diagnostics.", PyExc_UserWarning) < 0 ||
        PyModule_AddObjectRef(m, "Pipeline", (PyObject *)&pyconvc_PipelineType) < 0 ||
        PyModule_AddStringConstant(m, "__version__", CONVC_VERSION) < 0) {
        Py_XDECREF(file_bases);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(file_bases);
    runtime_messages_install();
    return m;
}
