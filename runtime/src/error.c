/* error.c - result codes, the error handlers (process-wide, and per
 * thread ahead of it), the warning handler and reporting. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

const char *convrt_strerror(int code)
{
    switch (code) {
    case CONVRT_OK:             return "success";
    case CONVRT_E_NULL_ARG:     return "null argument";
    case CONVRT_E_NULL_DATA:    return "tensor data is NULL";
    case CONVRT_E_RANK:         return "wrong tensor rank";
    case CONVRT_E_DIM:          return "dimension differs from the declaration";
    case CONVRT_E_SYMBOL:       return "size symbols disagree";
    case CONVRT_E_SHAPE:        return "derived size is out of range";
    case CONVRT_E_OUTPUT_SHAPE: return "output shape differs from the pipeline's";
    case CONVRT_E_OVERFLOW:     return "size overflow";
    case CONVRT_E_NOMEM:        return "out of memory";
    case CONVRT_E_CPU:          return "CPU lacks required features";
    case CONVRT_E_ABI:          return "incompatible or malformed pipeline descriptor";
    case CONVRT_E_IO:           return "input/output error";
    case CONVRT_E_FORMAT:       return "malformed or unsupported file";
    case CONVRT_E_INVALID:      return "invalid argument";
    case CONVRT_E_ALIAS:        return "an output overlaps another argument in memory";
    default:                    return "unknown error code";
    }
}

static void default_handler(void *user, int code, const char *message)
{
    (void)user;
    (void)code;
    fprintf(stderr, "convrt: error: %s\n", message);
}

/* The handler and its user pointer change together, so they are read and
 * written as a pair under a mutex; the handler itself runs unlocked so it
 * may call back into the runtime. */
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static convrt_error_handler handler = default_handler;
static void *handler_user;

/* A thread's own handler (convrt_set_thread_error_handler), ahead of the
 * process-wide one. */
static _Thread_local convrt_error_handler thread_handler;
static _Thread_local void *thread_user;

void convrt_set_thread_error_handler(convrt_error_handler h, void *user)
{
    thread_handler = h;
    thread_user = h ? user : NULL;
}

void convrt_set_error_handler(convrt_error_handler h, void *user)
{
    pthread_mutex_lock(&handler_lock);
    handler = h ? h : default_handler;
    handler_user = h ? user : NULL;
    pthread_mutex_unlock(&handler_lock);
}

int convrt_report(int code, const char *fmt, ...)
{
    char small[512];
    char *msg = small;
    char *heap = NULL;
    va_list ap;

    if (!fmt)
        fmt = "(no message)";
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0) {
        msg = "(unformattable message)";
    } else if ((size_t)len >= sizeof small) {
        heap = malloc((size_t)len + 1);
        if (heap) {
            va_start(ap, fmt);
            vsnprintf(heap, (size_t)len + 1, fmt, ap);
            va_end(ap);
            msg = heap;
        } /* else: the truncated message in small is still useful */
    }

    convrt_error_handler h = thread_handler;
    void *user = thread_user;
    if (!h) {
        pthread_mutex_lock(&handler_lock);
        h = handler;
        user = handler_user;
        pthread_mutex_unlock(&handler_lock);
    }
    h(user, code, msg);
    free(heap);
    return code;
}

static void default_warning_handler(void *user, int code, const char *message)
{
    (void)user;
    (void)code;
    fprintf(stderr, "convrt: warning: %s\n", message);
}

static convrt_error_handler warning_handler = default_warning_handler;
static void *warning_user;

void convrt_set_warning_handler(convrt_error_handler h, void *user)
{
    pthread_mutex_lock(&handler_lock);
    warning_handler = h ? h : default_warning_handler;
    warning_user = h ? user : NULL;
    pthread_mutex_unlock(&handler_lock);
}

void convrt__warn(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&handler_lock);
    convrt_error_handler h = warning_handler;
    void *user = warning_user;
    pthread_mutex_unlock(&handler_lock);
    h(user, code, msg);
}
