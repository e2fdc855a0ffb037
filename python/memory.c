/* memory.c - the memory of the arrays a call returns: NumPy arrays that
 * own their data, as any other, whose data starts on a 64-byte boundary.
 *
 * The generated code writes a large pipeline output (kernels.h,
 * kl_stream_output) with streaming stores, which need vector-aligned
 * addresses; NumPy's own allocator gives 16-byte alignment, so an output
 * it allocated was written through the caches.  While a call allocates its
 * outputs it sets this allocator as NumPy's handler (NEP 49); each array
 * keeps the handler that allocated it and frees its data through it.
 * Allocations are reported to tracemalloc in NumPy's domain, as NumPy
 * reports its own. */
#include "pyconvc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { ALIGN = 64, NUMPY_TRACE_DOMAIN = 389047 };

/* Before the aligned block: the size asked for and what malloc returned. */
typedef struct Header {
    size_t size;
    void  *raw;
} Header;

static void *aligned_alloc_zero(size_t size, bool zero)
{
    if (size > SIZE_MAX - ALIGN - sizeof(Header))
        return NULL;
    void *raw = zero ? calloc(1, size + ALIGN + sizeof(Header)) : malloc(size + ALIGN + sizeof(Header));
    if (!raw)
        return NULL;
    uintptr_t at = ((uintptr_t)raw + sizeof(Header) + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    Header *h = (Header *)at - 1;
    h->size = size;
    h->raw = raw;
    PyTraceMalloc_Track(NUMPY_TRACE_DOMAIN, at, size);
    return (void *)at;
}

static void *h_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return aligned_alloc_zero(size, false);
}

static void *h_calloc(void *ctx, size_t n, size_t each)
{
    (void)ctx;
    if (each && n > SIZE_MAX / each)
        return NULL;
    return aligned_alloc_zero(n * each, true);
}

static void h_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    if (!p)
        return;
    PyTraceMalloc_Untrack(NUMPY_TRACE_DOMAIN, (uintptr_t)p);
    free(((Header *)p - 1)->raw);
}

static void *h_realloc(void *ctx, void *p, size_t size)
{
    if (!p)
        return h_malloc(ctx, size);
    void *q = h_malloc(ctx, size);
    if (!q)
        return NULL;
    size_t old = ((Header *)p - 1)->size;
    memcpy(q, p, old < size ? old : size);
    h_free(ctx, p, old);
    return q;
}

static PyDataMem_Handler handler = {
    "convc_aligned_64", 1, { NULL, h_malloc, h_calloc, h_realloc, h_free },
};

static PyObject *handler_capsule;

PyObject *memory_outputs_begin(void)
{
    if (!handler_capsule && !(handler_capsule = PyCapsule_New(&handler, "mem_handler", NULL)))
        return NULL;
    return PyDataMem_SetHandler(handler_capsule);
}

void memory_outputs_end(PyObject *previous)
{
    if (!previous)
        return;
    PyObject *ours = PyDataMem_SetHandler(previous);
    Py_XDECREF(ours);
    Py_DECREF(previous);
}
