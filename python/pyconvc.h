/* pyconvc.h - what the parts of the Python module `convc` share.
 *
 *   module.c    the module: its functions (compile, check, load, save)
 *               and exceptions
 *   options.c   compile()'s and check()'s keyword arguments as the
 *               compiler's CompileOptions
 *   pipeline.c  the Pipeline type: a JIT-compiled pipeline called with
 *               NumPy arrays
 *   messages.c  the compiler's diagnostics and the runtime's errors as
 *               the text of Python exceptions
 *   memory.c    the memory of the arrays a call returns (64-byte aligned)
 *
 * Built on the compiler library (compiler/driver.h, compiler/jit.h) and
 * the runtime (convrt.h, convrt_abi.h), as the convc command is. */
#ifndef PYCONVC_H
#define PYCONVC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* One NumPy C-API table for the whole module, imported in module.c. */
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL convc_numpy_api
#ifndef PYCONVC_IMPORT_NUMPY
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include <stdbool.h>
#include <stdio.h>

#include "convrt_abi.h"
#include "driver.h"
#include "jit.h"

/* ---- module.c ---------------------------------------------------------- */

extern PyObject *pyconvc_Error;          /* convc.Error: the base of the others */
extern PyObject *pyconvc_CompileError;   /* diagnostics of a script that failed */
extern PyObject *pyconvc_CompileWarning; /* diagnostics of a script that compiled */
extern PyObject *pyconvc_RunError;       /* a run refused or failed by the runtime */
extern PyObject *pyconvc_FileError;      /* load() and save() (also an OSError) */

/* ---- options.c ----------------------------------------------------------- */

/* compile(script, **options) as the compiler wants it.  Everything lives
 * in the arena given to options_parse. */
typedef struct PyCompileRequest {
    CompileOptions co;
    int            threads;     /* 0: the process-wide count */
} PyCompileRequest;

/* Parse the script path and the keyword arguments; false with a Python
 * exception set. */
bool options_parse(Arena *a, PyObject *args, PyObject *kwargs, PyCompileRequest *r);

/* Run the compiler's front end (and, when want_module, the back end and
 * the JIT) on r with the GIL released and one compilation at a time.
 * Diagnostics go to a memory stream: on failure a CompileError carrying
 * them is set and false returned; warnings of a successful compilation
 * become a CompileWarning.  *jit is NULL unless want_module. */
bool compile_script(Arena *a, PyCompileRequest *r, Compiled *c, bool want_module, Jit **jit);

/* The stage table `convc check` prints, as a str. */
PyObject *check_table(Arena *a, const Compiled *c);

/* ---- pipeline.c ---------------------------------------------------------- */

extern PyTypeObject pyconvc_PipelineType;

/* A Pipeline owning arena (malloc'ed: the compiler keeps its address in
 * what it made), c and jit; they are freed if it cannot be made. */
PyObject *pipeline_new(Arena *arena, const Compiled *c, Jit *jit, int threads);

/* ---- messages.c ---------------------------------------------------------- */

/* A memory stream the compiler writes its messages to. */
typedef struct MsgBuf {
    FILE  *f;
    char  *text;
    size_t len;
} MsgBuf;

bool   msgbuf_open(MsgBuf *m);
/* The text so far, without trailing newlines ("" when none). */
const char *msgbuf_text(MsgBuf *m);
void   msgbuf_close(MsgBuf *m);

/* Route the runtime's errors and warnings into the calling thread's own
 * record, once at import.  The module links the runtime statically, so
 * the handlers are its own. */
void runtime_messages_install(void);
/* Forget the calling thread's last error and warnings. */
void runtime_messages_clear(void);
/* The calling thread's last runtime error ("" when none). */
const char *runtime_last_error(void);
/* Issue the calling thread's pending runtime warnings as Python
 * RuntimeWarnings; -1 when a warning became an exception. */
int    runtime_flush_warnings(void);

/* Set exc with message and a `code` attribute (a CONVRT_E_* value);
 * returns NULL. */
PyObject *raise_with_code(PyObject *exc, int code, const char *message);

/* Set a RunError for code after a failed output_shapes or run of c's
 * pipeline: a failed check on the script is said at the stage's line as
 * the checker would say it, and a failure about the inputs' shapes is
 * followed by each input's shape and declaration (as `convc run` does
 * with files).  Returns NULL. */
PyObject *raise_run_error(Arena *a, const Compiled *c, const convrt_tensor *inputs, int code);

/* ---- memory.c ------------------------------------------------------------ */

/* NumPy arrays allocated between these two own 64-byte-aligned data (for
 * the streaming stores of large outputs).  begin returns the previous
 * handler (NULL with a Python exception set), which end restores. */
PyObject *memory_outputs_begin(void);
void memory_outputs_end(PyObject *previous);

#endif
