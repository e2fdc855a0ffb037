/* npy_convert.c - NumPy's numeric dtypes to float32, as astype(float32)
 * does it, and Fortran order to C order.
 *
 * The reader (npy.c) hands over raw items in the file's byte order; this
 * file swaps, converts, and keeps count of the values float32 cannot hold
 * exactly, so that the loss is reported once per file rather than hidden. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"

static uint16_t get16(const unsigned char *p, int swap)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swap ? __builtin_bswap16(v) : v;
}

static uint32_t get32(const unsigned char *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static uint64_t get64(const unsigned char *p, int swap)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return swap ? __builtin_bswap64(v) : v;
}

/* IEEE 754 binary16 to binary32: every half is exactly a float. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {                  /* infinity or NaN (payload kept) */
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp != 0) {              /* normal */
        bits = sign | (exp + 112) << 23 | man << 13;
    } else if (man == 0) {              /* signed zero */
        bits = sign;
    } else {                            /* subnormal: man * 2^-24 */
        float f = (float)man * 0x1p-24f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Rounding to nearest, as NumPy does, also beyond the float range: up to
 * FLT_MAX plus half its last step a value rounds to FLT_MAX, from there
 * (ties to even) to infinity.  In C an out-of-range conversion is
 * undefined, so that case is spelt out. */
static float to_float(double d)
{
    if (!(fabs(d) > FLT_MAX))   /* NaN too */
        return (float)d;
    float big = fabs(d) < 0x1.ffffffp127 ? FLT_MAX : INFINITY;
    return d < 0 ? -big : big;
}

/* Does float32 hold the integer with magnitude m exactly?  Yes when its
 * significant bits, from the highest set one to the lowest, fit in 24. */
static int u64_exact(uint64_t m)
{
    if (m < (1u << 24))
        return 1;
    int span = 64 - __builtin_clzll(m) - __builtin_ctzll(m);
    return span <= 24;
}

static void note_int(convrt__npy_loss *loss, float f, uint64_t mag, int negative)
{
    if (u64_exact(mag))
        return;
    loss->count++;
    double want = negative ? -(double)mag : (double)mag;
    double d = fabs((double)f - want);
    if (d > loss->max_change)
        loss->max_change = d;
}

void convrt__npy_convert(const unsigned char *raw, size_t n, convrt__npy_dtype dt, float *dst,
                         convrt__npy_loss *loss)
{
    int swap = dt.swap;
    switch (dt.kind) {
    case 'b':
        for (size_t i = 0; i < n; i++)
            dst[i] = raw[i] != 0;
        return;
    case 'i':
        for (size_t i = 0; i < n; i++) {
            const unsigned char *p = raw + i * (size_t)dt.size;
            int64_t v = dt.size == 1 ? (int8_t)p[0]
                      : dt.size == 2 ? (int16_t)get16(p, swap)
                      : dt.size == 4 ? (int32_t)get32(p, swap)
                                     : (int64_t)get64(p, swap);
            dst[i] = (float)v;
            if (dt.size >= 4) {
                uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
                note_int(loss, dst[i], mag, v < 0);
            }
        }
        return;
    case 'u':
        for (size_t i = 0; i < n; i++) {
            const unsigned char *p = raw + i * (size_t)dt.size;
            uint64_t v = dt.size == 1 ? p[0]
                       : dt.size == 2 ? get16(p, swap)
                       : dt.size == 4 ? get32(p, swap)
                                      : get64(p, swap);
            dst[i] = (float)v;
            if (dt.size >= 4)
                note_int(loss, dst[i], v, 0);
        }
        return;
    case 'f':
        if (dt.size == 2) {
            for (size_t i = 0; i < n; i++)
                dst[i] = half_to_float(get16(raw + 2 * i, swap));
        } else if (dt.size == 4) {
            for (size_t i = 0; i < n; i++) {
                uint32_t b = get32(raw + 4 * i, swap);
                memcpy(&dst[i], &b, 4);
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                uint64_t b = get64(raw + 8 * i, swap);
                double d;
                memcpy(&d, &b, 8);
                float f = to_float(d);
                dst[i] = f;
                if ((double)f != d && d == d) {
                    loss->count++;
                    double c = isinf(f) ? INFINITY : fabs((double)f - d);
                    if (c > loss->max_change)
                        loss->max_change = c;
                }
            }
        }
        return;
    }
}

/* A Fortran-ordered array of dims is, read in C order, the array with the
 * dims reversed: out[i0, .., ik] = src[ik, .., i0].  Walk out in C order,
 * keeping the offset into src. */
void convrt__npy_fortran_to_c(const float *src, float *out, int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int k = 0; k < rank; k++)
        n *= dims[k];
    if (n == 0)
        return;
    int64_t stride[CONVRT_MAX_RANK], idx[CONVRT_MAX_RANK] = {0};
    int64_t s = 1;
    for (int k = 0; k < rank; k++) {    /* in src, dim 0 varies fastest */
        stride[k] = s;
        s *= dims[k];
    }
    int64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        out[i] = src[off];
        for (int k = rank - 1; k >= 0; k--) {   /* the C odometer */
            if (++idx[k] < dims[k]) {
                off += stride[k];
                break;
            }
            off -= (dims[k] - 1) * stride[k];
            idx[k] = 0;
        }
    }
}

void convrt__npy_report_loss(const char *name, const char *descr, const convrt__npy_loss *loss, int64_t n)
{
    if (loss->count == 0)
        return;
    convrt__warn(CONVRT_W_PRECISION,
                 "'%s': %lld of %lld values of dtype '%s' are not exactly float32 and were rounded "
                 "(largest change %.6g)",
                 name, (long long)loss->count, (long long)n, descr, loss->max_change);
}
