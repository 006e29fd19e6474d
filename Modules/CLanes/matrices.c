// SmallMatrixLanes' Cholesky factorisation and inverse (four small symmetric matrices side
// by side, entry (r, c) of the four at doubles 4·(r·m + c) … 4·(r·m + c) + 3) compiled for
// AVX2 and chosen at run time, as the passes in lanes.c are.
//
// Each lane does the Swift routine's operations in its order: the same divisions, square
// roots, multiplies and subtractions, each rounded on its own (no contraction into fused
// multiply-adds, and the FMA extension is not enabled), so the bits are the same.
#include "CLanes.h"
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2")))

typedef double lanes4 __attribute__((ext_vector_type(4)));
typedef long long mask4 __attribute__((ext_vector_type(4)));

// Loads and stores through memcpy: the Swift side promises no alignment beyond a Double's.
TARGET static inline lanes4 load4(const double *p) { lanes4 v; memcpy(&v, p, sizeof v); return v; }
TARGET static inline void store4(double *p, lanes4 v) { memcpy(p, &v, sizeof v); }

TARGET int mixfill_cholesky4_avx2(double *a, long m) {
    mask4 factored = {-1, -1, -1, -1};
    const lanes4 zero = {0, 0, 0, 0};
    for (long j = 0; j < m; j++) {
        double *row = a + 4 * j * m;
        lanes4 diagonal = load4(row + 4 * j);
        // x − x is 0 exactly when x is finite.
        factored &= (mask4)(diagonal > zero) & (mask4)((diagonal - diagonal) == zero);
        lanes4 pivot = (lanes4)_mm256_sqrt_pd((__m256d)diagonal);
        store4(row + 4 * j, pivot);
        for (long c = j + 1; c < m; c++) store4(row + 4 * c, load4(row + 4 * c) / pivot);
        for (long r = j + 1; r < m; r++) {
            lanes4 factor = load4(row + 4 * r);
            double *target = a + 4 * r * m;
            for (long c = r; c < m; c++) store4(target + 4 * c, load4(target + 4 * c) - factor * load4(row + 4 * c));
        }
    }
    int bits = 0;
    for (int l = 0; l < 4; l++) bits |= (factored[l] != 0) << l;
    return bits;
}

TARGET static void invert_triangle4(const double *u, long m, double *v) {
    const lanes4 zero = {0, 0, 0, 0};
    const lanes4 one = {1, 1, 1, 1};
    for (long r = m - 1; r >= 0; r--) {
        double *row = v + 4 * r * m;
        lanes4 diagonal = load4(u + 4 * (r * m + r));
        store4(row + 4 * r, one / diagonal);
        for (long c = r + 1; c < m; c++) store4(row + 4 * c, zero);
        for (long k = r + 1; k < m; k++) {
            lanes4 factor = load4(u + 4 * (r * m + k));
            const double *below = v + 4 * k * m;
            for (long c = k; c < m; c++) store4(row + 4 * c, load4(row + 4 * c) + factor * load4(below + 4 * c));
        }
        for (long c = r + 1; c < m; c++) store4(row + 4 * c, -load4(row + 4 * c) / diagonal);
    }
}

TARGET void mixfill_inverse_by_triangle4_avx2(const double *u, long m, double *inverse, double *triangle) {
    const lanes4 zero = {0, 0, 0, 0};
    invert_triangle4(u, m, triangle);
    for (long k = 0; k < m; k++)
        for (long c = 0; c < k; c++) store4(triangle + 4 * (k * m + c), load4(triangle + 4 * (c * m + k)));
    for (long r = 0; r < m; r++) {
        double *out = inverse + 4 * r * m;
        for (long c = r; c < m; c++) store4(out + 4 * c, zero);
        for (long k = r; k < m; k++) {
            lanes4 factor = load4(triangle + 4 * (r * m + k));
            const double *column = triangle + 4 * k * m;
            for (long c = r; c <= k; c++) store4(out + 4 * c, load4(out + 4 * c) + factor * load4(column + 4 * c));
        }
        for (long c = r + 1; c < m; c++) store4(inverse + 4 * (c * m + r), load4(out + 4 * c));
    }
}

#else

// Other architectures: AVX2 is never available, so these are never called.
int mixfill_cholesky4_avx2(double *a, long m) {
    (void)a; (void)m;
    __builtin_trap();
}
void mixfill_inverse_by_triangle4_avx2(const double *u, long m, double *inverse, double *triangle) {
    (void)u; (void)m; (void)inverse; (void)triangle;
    __builtin_trap();
}

#endif
