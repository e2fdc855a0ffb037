/* factor.c - the rank-1 test of factor.h. */
#include "factor.h"

#include <math.h>

double kernel_rank1(const float *k, int64_t kh, int64_t kw, float *u, float *v)
{
    int64_t i0 = 0, j0 = 0;
    double big = 0;
    for (int64_t i = 0; i < kh; i++)
        for (int64_t j = 0; j < kw; j++)
            if (fabs((double)k[i * kw + j]) > big) {
                big = fabs((double)k[i * kw + j]);
                i0 = i;
                j0 = j;
            }
    double pivot = big > 0 ? (double)k[i0 * kw + j0] : 1;
    double worst = 0;
    for (int64_t i = 0; i < kh; i++) {
        double ui = big > 0 ? (double)k[i * kw + j0] : 0;
        if (u)
            u[i] = (float)ui;
        for (int64_t j = 0; j < kw; j++) {
            double vj = big > 0 ? (double)k[i0 * kw + j] / pivot : 0;
            if (v && i == 0)
                v[j] = (float)vj;
            /* against the factors as they will be used: in float32 */
            double fit = (double)(float)ui * (double)(float)vj;
            double err = fabs((double)k[i * kw + j] - fit);
            if (err > worst)
                worst = err;
        }
    }
    return big > 0 ? worst / big : 0;
}
