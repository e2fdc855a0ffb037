/* pipeline.c - argument validation, size-symbol binding, scratch
 * allocation and invocation of compiled pipelines (see convrt_abi.h).
 *
 * Everything that can be wrong with a call is checked before the body
 * runs, so a failing call reports once and leaves every output's data
 * untouched. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convrt_abi.h"
#include "internal.h"

#define PFX "pipeline '%s': "
#define LOCAL_SLOTS 64

static const char *pname(const convrt_pipeline *p)
{
    return p->name ? p->name : "(unnamed)";
}

static const char *aname(const convrt_arg *a)
{
    return a->name ? a->name : "(unnamed)";
}

static const char *akind(const convrt_arg *a)
{
    return a->is_output ? "output" : "input";
}

/* ------------------------------------------------------------ CPU bits */

static const char *const feature_names[] = {
    "sse4.2", "avx", "avx2", "fma", "bmi2", "f16c",
    "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd",
};
#define N_FEATURES ((int)(sizeof feature_names / sizeof feature_names[0]))

/* Bits of the CONVRT_CPU_* mask this CPU supports.  __builtin_cpu_supports
 * needs literal names, hence one line per feature. */
static int64_t cpu_supported(void)
{
    int64_t m = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))   m |= CONVRT_CPU_SSE42;
    if (__builtin_cpu_supports("avx"))      m |= CONVRT_CPU_AVX;
    if (__builtin_cpu_supports("avx2"))     m |= CONVRT_CPU_AVX2;
    if (__builtin_cpu_supports("fma"))      m |= CONVRT_CPU_FMA;
    if (__builtin_cpu_supports("bmi2"))     m |= CONVRT_CPU_BMI2;
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
    if (__builtin_cpu_supports("f16c"))     m |= CONVRT_CPU_F16C;
#endif
    if (__builtin_cpu_supports("avx512f"))  m |= CONVRT_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) m |= CONVRT_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512dq")) m |= CONVRT_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vl")) m |= CONVRT_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512cd")) m |= CONVRT_CPU_AVX512CD;
#endif
    return m;
}

static int check_cpu(const convrt_pipeline *p)
{
    uint64_t missing = (uint64_t)p->cpu_features & ~(uint64_t)cpu_supported();
    if (!missing)
        return 0;
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int bit = 0; bit < 64; bit++) {
        if (!(missing & ((uint64_t)1 << bit)) || len >= sizeof list - 1)
            continue;
        int w = bit < N_FEATURES
                    ? snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", feature_names[bit])
                    : snprintf(list + len, sizeof list - len, "%sunknown feature bit %d", len ? ", " : "", bit);
        if (w > 0)
            len += (size_t)w < sizeof list - len ? (size_t)w : sizeof list - 1 - len;
    }
    return convrt_report(CONVRT_E_CPU,
                         PFX "compiled for CPU '%s', but this CPU lacks: %s (recompile for this machine)",
                         pname(p), p->target_cpu ? p->target_cpu : "?", list);
}

/* ------------------------------------------------- descriptor sanity */

static int bad_abi(const convrt_pipeline *p, const char *what)
{
    return convrt_report(CONVRT_E_ABI, PFX "malformed descriptor: %s", pname(p), what);
}

static int slots_ok(const convrt_pipeline *p, int64_t rank, const int64_t *slots)
{
    if (rank < 0 || (rank > 0 && !slots))
        return 0;
    for (int64_t j = 0; j < rank; j++)
        if (slots[j] < 0 || slots[j] >= p->n_slots)
            return 0;
    return 1;
}

static int check_descriptor(const convrt_pipeline *p)
{
    if (p->n_inputs < 0 || p->n_args < p->n_inputs || (p->n_args > 0 && !p->args))
        return bad_abi(p, "argument counts");
    if (p->n_slots < 0 || (p->n_slots > 0 && !p->slots))
        return bad_abi(p, "dims table");
    if (p->n_checks < 0 || (p->n_checks > 0 && !p->checks))
        return bad_abi(p, "checks");
    if (p->n_buffers < p->n_args || (p->n_buffers > 0 && !p->buffers))
        return bad_abi(p, "buffers");
    if (!p->body)
        return bad_abi(p, "no body");
    for (int64_t i = 0; i < p->n_args; i++) {
        const convrt_arg *a = &p->args[i];
        if (a->is_output != (i >= p->n_inputs))
            return bad_abi(p, "argument order (inputs, then outputs)");
        if (a->rank < 0 || a->rank > CONVRT_MAX_RANK || !slots_ok(p, a->rank, a->dim_slots) ||
            (a->rank > 0 && !a->dim_names))
            return bad_abi(p, "argument rank or dim slots");
    }
    for (int64_t s = 0; s < p->n_slots; s++) {
        const convrt_dim_expr *e = &p->slots[s];
        switch (e->op) {
        case CONVRT_DIM_CONST:
            break;
        case CONVRT_DIM_ARG:
            if (e->a < 0 || e->a >= p->n_inputs || e->b < 0 || e->b >= p->args[e->a].rank)
                return bad_abi(p, "dims slot refers to a missing input dim");
            break;
        case CONVRT_DIM_ADD: case CONVRT_DIM_SUB: case CONVRT_DIM_MUL:
        case CONVRT_DIM_FLOORDIV: case CONVRT_DIM_CEILDIV:
        case CONVRT_DIM_MIN: case CONVRT_DIM_MAX:
            if (e->a < 0 || e->a >= s || e->b < 0 || e->b >= s)
                return bad_abi(p, "dims slot operand is not an earlier slot");
            break;
        default:
            return bad_abi(p, "unknown dims slot operation");
        }
    }
    for (int64_t c = 0; c < p->n_checks; c++) {
        const convrt_check *k = &p->checks[c];
        if (k->kind < CONVRT_CHECK_EQ || k->kind > CONVRT_CHECK_NONNEG || k->a < 0 || k->a >= p->n_slots ||
            (k->kind == CONVRT_CHECK_EQ && (k->b < 0 || k->b >= p->n_slots)))
            return bad_abi(p, "check");
    }
    for (int64_t b = 0; b < p->n_buffers; b++) {
        const convrt_buffer *buf = &p->buffers[b];
        if (!slots_ok(p, buf->rank, buf->dim_slots))
            return bad_abi(p, "buffer rank or dim slots");
        if (b < p->n_args && buf->rank != p->args[b].rank)
            return bad_abi(p, "argument buffer rank differs from the argument");
        if (buf->first_stage < 0 || buf->last_stage < buf->first_stage)
            return bad_abi(p, "buffer stage range");
    }
    return 0;
}

/* ------------------------------------------------------- dims table */

static int eval_slots(const convrt_pipeline *p, convrt_tensor *const *args, int64_t *d)
{
    static const char *const opname[] = {"", "", "+", "-", "*", "//", "ceildiv", "min", "max"};
    for (int64_t s = 0; s < p->n_slots; s++) {
        const convrt_dim_expr *e = &p->slots[s];
        int64_t x = 0, y = 0, r = 0;
        int ovf = 0;
        if (e->op >= CONVRT_DIM_ADD) {
            x = d[e->a];
            y = d[e->b];
        }
        switch (e->op) {
        case CONVRT_DIM_CONST: r = e->a; break;
        case CONVRT_DIM_ARG:   r = args[e->a]->dims[e->b]; break;
        case CONVRT_DIM_ADD:   ovf = __builtin_add_overflow(x, y, &r); break;
        case CONVRT_DIM_SUB:   ovf = __builtin_sub_overflow(x, y, &r); break;
        case CONVRT_DIM_MUL:   ovf = __builtin_mul_overflow(x, y, &r); break;
        case CONVRT_DIM_FLOORDIV:
        case CONVRT_DIM_CEILDIV:
            if (y <= 0)
                return convrt_report(CONVRT_E_SHAPE,
                                     PFX "dims slot %lld: division of %lld by %lld (the divisor must be at least 1)",
                                     pname(p), (long long)s, (long long)x, (long long)y);
            r = x / y;   /* y >= 1, so no INT64_MIN / -1 */
            if (e->op == CONVRT_DIM_FLOORDIV && x % y < 0)
                r--;
            if (e->op == CONVRT_DIM_CEILDIV && x % y > 0)
                r++;
            break;
        case CONVRT_DIM_MIN: r = x < y ? x : y; break;
        case CONVRT_DIM_MAX: r = x > y ? x : y; break;
        }
        if (ovf)
            return convrt_report(CONVRT_E_OVERFLOW,
                                 PFX "size computation overflows: dims slot %lld = %lld %s %lld",
                                 pname(p), (long long)s, (long long)x, opname[e->op], (long long)y);
        d[s] = r;
    }
    return 0;
}

/* ------------------------------------------------------- validation */

static int check_inputs_raw(const convrt_pipeline *p, convrt_tensor *const *args)
{
    for (int64_t i = 0; i < p->n_args; i++)
        if (!args || !args[i])
            return convrt_report(CONVRT_E_NULL_ARG, PFX "%s '%s' is NULL", pname(p),
                                 akind(&p->args[i]), aname(&p->args[i]));
    for (int64_t i = 0; i < p->n_inputs; i++) {
        const convrt_arg *a = &p->args[i];
        const convrt_tensor *t = args[i];
        if (t->rank != a->rank)
            return convrt_report(CONVRT_E_RANK, PFX "input '%s' has rank %d, but the pipeline declares rank %lld",
                                 pname(p), aname(a), (int)t->rank, (long long)a->rank);
        int empty = 0;
        for (int64_t j = 0; j < a->rank; j++)
            if (t->dims[j] <= 0)
                empty = 1;
        if (!t->data && !empty)
            return convrt_report(CONVRT_E_NULL_DATA, PFX "input '%s' has NULL data", pname(p), aname(a));
        for (int64_t j = 0; j < a->rank; j++)
            if (t->dims[j] < 1)
                return convrt_report(CONVRT_E_DIM, PFX "input '%s' dim %lld is %lld, but dims must be at least 1",
                                     pname(p), aname(a), (long long)j, (long long)t->dims[j]);
    }
    return 0;
}

static int check_bindings(const convrt_pipeline *p, convrt_tensor *const *args, const int64_t *d)
{
    for (int64_t i = 0; i < p->n_inputs; i++) {
        const convrt_arg *a = &p->args[i];
        for (int64_t j = 0; j < a->rank; j++) {
            int64_t slot = a->dim_slots[j];
            int64_t got = args[i]->dims[j], want = d[slot];
            if (got == want)
                continue;
            const char *sym = a->dim_names[j];
            if (!sym)
                return convrt_report(CONVRT_E_DIM, PFX "input '%s' dim %lld is %lld, but the pipeline declares %lld",
                                     pname(p), aname(a), (long long)j, (long long)got, (long long)want);
            const convrt_dim_expr *e = &p->slots[slot];
            if (e->op == CONVRT_DIM_ARG)
                return convrt_report(CONVRT_E_SYMBOL,
                                     PFX "input '%s' dim %lld (%s) is %lld, but %s = %lld was bound by input '%s' dim %lld",
                                     pname(p), aname(a), (long long)j, sym, (long long)got, sym,
                                     (long long)want, aname(&p->args[e->a]), (long long)e->b);
            return convrt_report(CONVRT_E_SYMBOL,
                                 PFX "input '%s' dim %lld (%s) is %lld, but the other inputs require %s = %lld",
                                 pname(p), aname(a), (long long)j, sym, (long long)got, sym, (long long)want);
        }
    }
    return 0;
}

/* " (H = 2, W = 9)": the size symbols a failed check depends on, with the
 * values this call bound them to, found by walking the dims table from the
 * check's slots down to the argument dims; "" when it depends on none. */
static void symbol_values(const convrt_pipeline *p, const convrt_check *k, const int64_t *d, char *out,
                          size_t size)
{
    out[0] = '\0';
    char *seen = calloc((size_t)p->n_slots, 1);
    int64_t *stack = malloc((size_t)p->n_slots * sizeof *stack);
    if (!seen || !stack) {
        free(seen);
        free(stack);
        return;
    }
    int64_t n = 0;
    int64_t roots[2] = { k->a, k->kind == CONVRT_CHECK_EQ ? k->b : k->a };
    for (int r = 0; r < 2; r++)
        if (!seen[roots[r]]) {
            seen[roots[r]] = 1;
            stack[n++] = roots[r];
        }
    while (n) {
        const convrt_dim_expr *e = &p->slots[stack[--n]];
        if (e->op < CONVRT_DIM_ADD)
            continue;
        int64_t kids[2] = { e->a, e->b };
        for (int j = 0; j < 2; j++)
            if (!seen[kids[j]]) {
                seen[kids[j]] = 1;
                stack[n++] = kids[j];
            }
    }
    /* in slot order, which is the order the symbols were bound in */
    size_t len = 0;
    int count = 0;
    for (int64_t s = 0; s < p->n_slots && len + 1 < size; s++) {
        const convrt_dim_expr *e = &p->slots[s];
        if (!seen[s] || e->op != CONVRT_DIM_ARG)
            continue;
        const char *name = p->args[e->a].dim_names[e->b];
        if (!name)
            continue;
        int w = snprintf(out + len, size - len, "%s%s = %lld", count ? ", " : " (", name, (long long)d[s]);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
        count++;
    }
    if (count && len + 2 <= size - 1)
        memcpy(out + len, ")", 2);
    else
        out[0] = '\0';     /* nothing, or no room to say it whole */
    free(seen);
    free(stack);
}

static int run_checks(const convrt_pipeline *p, const int64_t *d)
{
    char syms[256];
    for (int64_t c = 0; c < p->n_checks; c++) {
        const convrt_check *k = &p->checks[c];
        const char *what = k->what ? k->what : "size condition";
        int64_t x = d[k->a];
        switch (k->kind) {
        case CONVRT_CHECK_EQ:
            if (x != d[k->b]) {
                symbol_values(p, k, d, syms, sizeof syms);
                return convrt_report(CONVRT_E_SYMBOL, PFX "%s: %lld != %lld%s", pname(p), what,
                                     (long long)x, (long long)d[k->b], syms);
            }
            break;
        case CONVRT_CHECK_POSITIVE:
            if (x < 1) {
                symbol_values(p, k, d, syms, sizeof syms);
                return convrt_report(CONVRT_E_SHAPE, PFX "%s = %lld is below 1%s", pname(p), what,
                                     (long long)x, syms);
            }
            break;
        case CONVRT_CHECK_NONNEG:
            if (x < 0) {
                symbol_values(p, k, d, syms, sizeof syms);
                return convrt_report(CONVRT_E_SHAPE, PFX "%s = %lld is negative%s", pname(p), what,
                                     (long long)x, syms);
            }
            break;
        }
    }
    return 0;
}

/* Name of buffer b for messages. */
static void buffer_label(const convrt_pipeline *p, int64_t b, char *buf, size_t size)
{
    if (b < p->n_args)
        snprintf(buf, size, "%s '%s'", akind(&p->args[b]), aname(&p->args[b]));
    else
        snprintf(buf, size, "scratch buffer %lld", (long long)b);
}

static int check_sizes(const convrt_pipeline *p, const int64_t *d, int64_t *numel)
{
    char label[160];
    for (int64_t b = 0; b < p->n_buffers; b++) {
        const convrt_buffer *buf = &p->buffers[b];
        int64_t n = 1;
        for (int64_t j = 0; j < buf->rank; j++) {
            int64_t v = d[buf->dim_slots[j]];
            if (v < 0) {
                buffer_label(p, b, label, sizeof label);
                return convrt_report(CONVRT_E_SHAPE, PFX "%s dim %lld would be %lld, which is negative",
                                     pname(p), label, (long long)j, (long long)v);
            }
            if (__builtin_mul_overflow(n, v, &n))
                n = -1;
            if (n < 0)
                break;
        }
        int64_t bytes;
        if (n < 0 || __builtin_mul_overflow(n, (int64_t)sizeof(float), &bytes) || (uint64_t)bytes > SIZE_MAX) {
            buffer_label(p, b, label, sizeof label);
            return convrt_report(CONVRT_E_OVERFLOW, PFX "%s is too large: its size in bytes overflows",
                                 pname(p), label);
        }
        if (numel)
            numel[b] = n;
    }
    return 0;
}

/* Steps shared by both entry points: descriptor, arguments, dims table,
 * bindings, checks, sizes.  On success *dims_out is the table (either
 * local or malloc'ed; the caller frees it when it differs from local). */
static int validate(const convrt_pipeline *p, convrt_tensor *const *args, int64_t *local,
                    int64_t **dims_out)
{
    *dims_out = local;
    if (!p)
        return convrt_report(CONVRT_E_ABI, "pipeline descriptor is NULL");
    if (p->abi_version != CONVRT_ABI_VERSION)
        return convrt_report(CONVRT_E_ABI,
                             "pipeline '%s': compiled for runtime ABI version %lld, but this runtime implements version %d",
                             p->name ? p->name : "(unnamed)", (long long)p->abi_version, CONVRT_ABI_VERSION);
    int rc;
    if ((rc = check_cpu(p)) != 0 || (rc = check_descriptor(p)) != 0 || (rc = check_inputs_raw(p, args)) != 0)
        return rc;
    int64_t *d = local;
    if (p->n_slots > LOCAL_SLOTS) {
        d = malloc((size_t)p->n_slots * sizeof *d);
        if (!d)
            return convrt_report(CONVRT_E_NOMEM, PFX "out of memory for the dims table", pname(p));
    }
    if ((rc = eval_slots(p, args, d)) != 0 || (rc = check_bindings(p, args, d)) != 0 ||
        (rc = run_checks(p, d)) != 0 || (rc = check_sizes(p, d, NULL)) != 0) {
        if (d != local)
            free(d);
        return rc;
    }
    *dims_out = d;
    return 0;
}

CONVRT_API int convrt_pipeline_output_shapes(const convrt_pipeline *p, convrt_tensor *const *args)
{
    int64_t local[LOCAL_SLOTS];
    int64_t *d;
    int rc = validate(p, args, local, &d);
    if (rc != 0)
        return rc;
    for (int64_t i = p->n_inputs; i < p->n_args; i++) {
        const convrt_arg *a = &p->args[i];
        args[i]->rank = (int32_t)a->rank;
        for (int64_t j = 0; j < a->rank; j++)
            args[i]->dims[j] = d[a->dim_slots[j]];
        for (int64_t j = a->rank; j < CONVRT_MAX_RANK; j++)
            args[i]->dims[j] = 0;
    }
    if (d != local)
        free(d);
    return 0;
}

static int check_outputs(const convrt_pipeline *p, convrt_tensor *const *args, const int64_t *d)
{
    for (int64_t i = p->n_inputs; i < p->n_args; i++) {
        const convrt_arg *a = &p->args[i];
        const convrt_tensor *t = args[i];
        if (t->rank != a->rank)
            return convrt_report(CONVRT_E_OUTPUT_SHAPE,
                                 PFX "output '%s' has rank %d, but the pipeline produces rank %lld",
                                 pname(p), aname(a), (int)t->rank, (long long)a->rank);
        int empty = 0;
        for (int64_t j = 0; j < a->rank; j++) {
            int64_t want = d[a->dim_slots[j]];
            if (t->dims[j] != want)
                return convrt_report(CONVRT_E_OUTPUT_SHAPE,
                                     PFX "output '%s' dim %lld is %lld, but the pipeline produces %lld",
                                     pname(p), aname(a), (long long)j, (long long)t->dims[j], (long long)want);
            if (want == 0)
                empty = 1;
        }
        if (!t->data && !empty)
            return convrt_report(CONVRT_E_NULL_DATA, PFX "output '%s' has NULL data", pname(p), aname(a));
    }
    return 0;
}

/* ---------------------------------------------------------------- scratch */

typedef struct scratch_slot {
    int64_t b, first, last;
    size_t  bytes, off;
} scratch_slot;

static int by_first_stage(const void *x, const void *y)
{
    const scratch_slot *a = x, *b = y;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

/* Offsets for n scratch buffers of s[i].bytes (multiples of CRT_ALIGN)
 * used by stages s[i].first..s[i].last: in order of their first stage,
 * each goes into the lowest gap, among the buffers still in use then,
 * that holds it.  Two buffers whose stage ranges overlap never overlap in
 * memory.  The block's size; s is left sorted by first stage. */
static size_t place_scratch(scratch_slot *s, int64_t n, int64_t *live)
{
    qsort(s, (size_t)n, sizeof *s, by_first_stage);
    size_t total = 0;
    int64_t nlive = 0;      /* indices into s, by offset */
    for (int64_t i = 0; i < n; i++) {
        int64_t k = 0;
        for (int64_t j = 0; j < nlive; j++)
            if (s[live[j]].last >= s[i].first)
                live[k++] = live[j];
        nlive = k;
        size_t at = 0;
        int64_t pos = 0;
        for (; pos < nlive; pos++) {
            const scratch_slot *o = &s[live[pos]];
            if (o->off >= at && o->off - at >= s[i].bytes)
                break;
            if (o->off + o->bytes > at)
                at = o->off + o->bytes;
        }
        s[i].off = at;
        memmove(live + pos + 1, live + pos, (size_t)(nlive - pos) * sizeof *live);
        live[pos] = i;
        nlive++;
        if (at + s[i].bytes > total)
            total = at + s[i].bytes;
    }
    return total;
}

/* Byte range [lo, hi) of argument i's data; empty for a tensor without
 * elements.  The dims were validated, but a caller's pointer plus its size
 * may still pass the end of the address space: clamp rather than wrap. */
static void arg_bytes(const convrt_tensor *t, int64_t rank, uintptr_t *lo, uintptr_t *hi)
{
    int64_t n = 1;
    for (int64_t j = 0; j < rank; j++)
        n *= t->dims[j];                  /* fits: check_sizes passed */
    *lo = (uintptr_t)t->data;
    if (n <= 0 || !t->data || __builtin_add_overflow(*lo, (uintptr_t)n * sizeof(float), hi))
        *hi = n <= 0 || !t->data ? *lo : UINTPTR_MAX;
}

/* The body reads the inputs while it writes the outputs, and the code
 * generator marks every buffer noalias, so an output that shares a byte
 * with an input or another output would silently give wrong numbers.
 * Inputs are only read and may overlap each other. */
static int check_alias(const convrt_pipeline *p, convrt_tensor *const *args)
{
    for (int64_t o = p->n_inputs; o < p->n_args; o++) {
        uintptr_t olo, ohi;
        arg_bytes(args[o], p->args[o].rank, &olo, &ohi);
        for (int64_t i = 0; i < o; i++) {
            uintptr_t ilo, ihi;
            arg_bytes(args[i], p->args[i].rank, &ilo, &ihi);
            uintptr_t lo = olo > ilo ? olo : ilo, hi = ohi < ihi ? ohi : ihi;
            if (lo < hi)
                return convrt_report(CONVRT_E_ALIAS,
                                     PFX "output '%s' overlaps %s '%s' in memory (%llu bytes in common); "
                                     "the pipeline reads its inputs while it writes its outputs, so every "
                                     "output needs memory of its own",
                                     pname(p), aname(&p->args[o]), akind(&p->args[i]), aname(&p->args[i]),
                                     (unsigned long long)(hi - lo));
        }
    }
    return 0;
}

/* The runs in progress on this thread, and the first failure a runtime
 * function called by the innermost one's body reported. */
static _Thread_local int run_depth, run_rc;

void convrt__run_fail(int rc)
{
    if (run_depth && !run_rc)
        run_rc = rc;
}

static int pipeline_run(const convrt_pipeline *p, convrt_tensor *const *args);

CONVRT_API int convrt_pipeline_run(const convrt_pipeline *p, convrt_tensor *const *args)
{
    convrt__pool_call_begin();
    int rc = pipeline_run(p, args);
    convrt__pool_call_end();
    return rc;
}

static int pipeline_run(const convrt_pipeline *p, convrt_tensor *const *args)
{
    int64_t local[LOCAL_SLOTS];
    int64_t *d;
    int rc = validate(p, args, local, &d);
    if (rc != 0)
        return rc;
    float **bufs = NULL;
    int64_t *numel = NULL, *live = NULL;
    scratch_slot *slots = NULL;
    int64_t nb = p->n_buffers;
    if ((rc = check_outputs(p, args, d)) != 0)
        goto done;
    bufs = calloc(nb ? (size_t)nb : 1, sizeof *bufs);
    numel = calloc(nb ? (size_t)nb : 1, sizeof *numel);
    if (!bufs || !numel) {
        rc = convrt_report(CONVRT_E_NOMEM, PFX "out of memory", pname(p));
        goto done;
    }
    (void)check_sizes(p, d, numel);   /* passed in validate; fills numel */
    for (int64_t b = 0; b < p->n_args; b++)
        bufs[b] = args[b]->data;
    /* every scratch buffer in one block, each at a 64-byte boundary;
     * buffers of stages that do not overlap share memory */
    size_t total = 0;
    int64_t ns = nb - p->n_args;
    if (ns > 0) {
        slots = calloc((size_t)ns, sizeof *slots);
        live = calloc((size_t)ns, sizeof *live);
        if (!slots || !live) {
            rc = convrt_report(CONVRT_E_NOMEM, PFX "out of memory", pname(p));
            goto done;
        }
    }
    for (int64_t b = p->n_args; b < nb; b++) {
        size_t bytes = ((size_t)numel[b] * sizeof(float) + CRT_ALIGN - 1) & ~(size_t)(CRT_ALIGN - 1);
        if (bytes > SIZE_MAX - total) {
            rc = convrt_report(CONVRT_E_NOMEM, PFX "scratch buffers too large", pname(p));
            goto done;
        }
        total += bytes;     /* the block without sharing: a bound for the offsets */
        slots[b - p->n_args] = (scratch_slot){ b, p->buffers[b].first_stage, p->buffers[b].last_stage,
                                               bytes, 0 };
    }
    if (ns > 0)
        total = place_scratch(slots, ns, live);
    char *block = NULL;
    size_t size = total;    /* the block's size: total or more */
    if (nb > p->n_args && !(block = convrt__keep_get(CONVRT__KEEP_SCRATCH, &size))) {
        int64_t big = p->n_args;
        for (int64_t b = p->n_args; b < nb; b++)
            if (numel[b] > numel[big])
                big = b;
        rc = convrt_report(CONVRT_E_NOMEM,
                           PFX "cannot allocate %zu bytes of scratch memory (scratch buffer %lld "
                               "alone is %lld floats)",
                           pname(p), total, (long long)big, (long long)numel[big]);
        goto done;
    }
    for (int64_t i = 0; i < ns; i++)
        bufs[slots[i].b] = (float *)(block + slots[i].off);
    if ((rc = check_alias(p, args)) != 0) {
        if (block)
            convrt__keep_put(CONVRT__KEEP_SCRATCH, block, size);
        goto done;
    }
    int outer_depth = run_depth, outer_rc = run_rc;
    run_depth = outer_depth + 1;
    run_rc = 0;
    p->body(bufs, d);
    if (run_rc)
        rc = run_rc;
    run_depth = outer_depth;
    run_rc = outer_rc;
    if (block)
        convrt__keep_put(CONVRT__KEEP_SCRATCH, block, size);

done:
    free(bufs);
    free(numel);
    free(slots);
    free(live);
    if (d != local)
        free(d);
    return rc;
}
