/* keep.c - memory a thread keeps between calls.
 *
 * A pipeline called in a loop would otherwise map and fault in its
 * scratch buffers, and an FFT stage its work buffers, on every call (the
 * C library returns large blocks to the system when they are freed),
 * which costs as much as a fast kernel's whole run.  Each thread keeps
 * one block per use (enum convrt__keep_use) and hands it to the next call
 * that fits in it; a block past CONVRT__KEEP_MAX is freed after its call,
 * and a thread's blocks are freed when the thread exits.
 *
 * A block goes back with its own size, not the size its call asked for:
 * a thread alternating a call that needs little with one that needs more
 * keeps the larger block (recording the smaller request instead made the
 * larger call free it and fault in a new one every time). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

typedef struct kept {
    void  *block[CONVRT__KEEP_USES];
    size_t size[CONVRT__KEEP_USES];
} kept;

static pthread_key_t keep_key;
static pthread_once_t keep_once = PTHREAD_ONCE_INIT;
static atomic_size_t fresh[CONVRT__KEEP_USES];

static void kept_free(void *v)
{
    kept *k = v;
    if (!k)
        return;
    for (int u = 0; u < CONVRT__KEEP_USES; u++)
        free(k->block[u]);
    free(k);
}

static void keep_init(void) { (void)pthread_key_create(&keep_key, kept_free); }

char *convrt__keep_get(enum convrt__keep_use use, size_t *bytes)
{
    pthread_once(&keep_once, keep_init);
    kept *k = pthread_getspecific(keep_key);
    if (k && k->block[use] && k->size[use] >= *bytes) {
        char *b = k->block[use];
        *bytes = k->size[use];
        k->block[use] = NULL;       /* taken: a nested call gets its own */
        return b;
    }
    atomic_fetch_add(&fresh[use], 1);
    return convrt__aligned_alloc(*bytes, 0);
}

void convrt__keep_put(enum convrt__keep_use use, char *block, size_t bytes)
{
    if (!block)
        return;
    if (bytes > CONVRT__KEEP_MAX) {
        free(block);
        return;
    }
    pthread_once(&keep_once, keep_init);
    kept *k = pthread_getspecific(keep_key);
    if (!k && (k = calloc(1, sizeof *k)) && pthread_setspecific(keep_key, k) != 0) {
        free(k);
        k = NULL;
    }
    if (!k) {
        free(block);
        return;
    }
    if (k->block[use] && k->size[use] >= bytes) {
        free(block);                /* keep the larger one */
        return;
    }
    free(k->block[use]);
    k->block[use] = block;
    k->size[use] = bytes;
}

size_t convrt__keep_fresh(enum convrt__keep_use use) { return atomic_load(&fresh[use]); }
