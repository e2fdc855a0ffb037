/* arena.h - bump allocation for everything whose lifetime is one compilation.
 *
 * The AST, the stage graph and the loop IR all live in arenas.  Nothing in
 * them is freed individually; the owner frees the arena when the phase that
 * needs them is over.  Allocation failure ends convc with a message and
 * exit status 1: a compiler that cannot get a few MB has nothing sensible
 * left to do, and no output file is open while it compiles. */
#ifndef CONVC_ARENA_H
#define CONVC_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct ArenaBlock ArenaBlock;

typedef struct Arena {
    ArenaBlock *head;
    size_t      used_total;
} Arena;

/* "convc: error: out of memory while compiling" and exit status 1; for
 * every allocation of the compiler that cannot fail gracefully. */
void  arena_out_of_memory(size_t n) __attribute__((noreturn));

void  arena_init(Arena *a);
void  arena_free(Arena *a);
/* Move everything from into a (which then lives as long as a); from is
 * left empty. */
void  arena_adopt(Arena *a, Arena *from);
/* Zeroed, 16-byte aligned memory; never returns NULL. */
void *arena_alloc(Arena *a, size_t size);
/* n elements of size each, with the multiplication checked. */
void *arena_array(Arena *a, size_t n, size_t size);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A growable array of pointers, backed by the arena (old storage is simply
 * abandoned when it grows). */
typedef struct PtrVec {
    void  **items;
    int32_t len, cap;
} PtrVec;

void ptrvec_push(Arena *a, PtrVec *v, void *item);

#endif
