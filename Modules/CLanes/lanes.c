// The mppca sparse kernel's passes (FactorSparseKernel's `spread` and `collect`) compiled
// for AVX2 and chosen at run time, so a binary built for baseline x86-64 still runs them
// on 256-bit registers where the processor has them.
//
// The arithmetic is the Swift passes' operation for operation: each lane computes
// slot + value · coefficient (spread) or sum + slot · coefficient (collect) with one
// rounding per multiply and per add. Contraction into fused multiply-adds is off (and the
// FMA extension is not enabled), so both versions give the same bits.
#include "CLanes.h"
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <cpuid.h>

int mixfill_lanes_avx2_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    // OSXSAVE (27) and AVX (28) in ECX of leaf 1.
    if (!((c >> 27) & 1) || !((c >> 28) & 1)) return 0;
    // The OS saves the SSE and AVX registers' upper halves: XCR0 bits 1 and 2.
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & 6) != 6) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1;  // AVX2: EBX bit 5 of leaf 7.
}

#define TARGET __attribute__((target("avx2")))

// Loads and stores through memcpy: no alignment assumed (macros, so that no vector is
// passed by value across a call).
#define LOAD(V, p) ({ V v_; memcpy(&v_, (p), sizeof v_); v_; })
#define STORE(p, v) do { __typeof__(v) s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)

typedef double lanes8 __attribute__((ext_vector_type(8)));
typedef double lanes16 __attribute__((ext_vector_type(16)));

// One definition per width; the
// coefficient lanes of a mixed block as (scale, unit) with coefficient = e·scale + unit,
// which is e in a scaled lane and 1 in a plain one, exactly, as in the Swift passes.
#define PASSES(V, W)                                                                            \
    TARGET static void masks##W(long scaled, V *scale, V *unit) {                               \
        double s[W], u[W];                                                                      \
        for (int l = 0; l < W; l++) { s[l] = l < scaled ? 1 : 0; u[l] = l < scaled ? 0 : 1; }  \
        memcpy(scale, s, sizeof s); memcpy(unit, u, sizeof u);                                  \
    }                                                                                           \
    TARGET static void spread##W(long kind, long scaled, const double *row, const uint16_t *raters, \
                                 const double *residuals, long count, double *base) {          \
        V value = LOAD(V, row);                                                                 \
        if (kind == 0) {                                                                        \
            for (long k = 0; k < count; k++) {                                                  \
                double *slot = base + (long)raters[k] * W;                                      \
                STORE(slot, LOAD(V, slot) + value);                                          \
            }                                                                                   \
        } else if (kind == 1) {                                                                 \
            for (long k = 0; k < count; k++) {                                                  \
                double *slot = base + (long)raters[k] * W;                                      \
                V e = residuals[k];                                                             \
                V product = value * e;                                                          \
                STORE(slot, LOAD(V, slot) + product);                                        \
            }                                                                                   \
        } else {                                                                                \
            V scale, unit;                                                                      \
            masks##W(scaled, &scale, &unit);                                                    \
            for (long k = 0; k < count; k++) {                                                  \
                double *slot = base + (long)raters[k] * W;                                      \
                V e = residuals[k];                                                             \
                V scaledE = e * scale;                                                          \
                V coefficient = scaledE + unit;                                                 \
                V product = value * coefficient;                                                \
                STORE(slot, LOAD(V, slot) + product);                                        \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    TARGET static void collect##W(long kind, long scaled, double *row, const uint16_t *raters,  \
                                  const double *residuals, long count, const double *base) {   \
        V sum = LOAD(V, row);                                                                   \
        if (kind == 0) {                                                                        \
            for (long k = 0; k < count; k++) sum = sum + LOAD(V, base + (long)raters[k] * W);   \
        } else if (kind == 1) {                                                                 \
            for (long k = 0; k < count; k++) {                                                  \
                V e = residuals[k];                                                             \
                V product = LOAD(V, base + (long)raters[k] * W) * e;                            \
                sum = sum + product;                                                            \
            }                                                                                   \
        } else {                                                                                \
            V scale, unit;                                                                      \
            masks##W(scaled, &scale, &unit);                                                    \
            for (long k = 0; k < count; k++) {                                                  \
                V e = residuals[k];                                                             \
                V scaledE = e * scale;                                                          \
                V coefficient = scaledE + unit;                                                 \
                V product = LOAD(V, base + (long)raters[k] * W) * coefficient;                  \
                sum = sum + product;                                                            \
            }                                                                                   \
        }                                                                                       \
        STORE(row, sum);                                                                     \
    }

PASSES(lanes8, 8)
PASSES(lanes16, 16)

TARGET void mixfill_spread_avx2(long width, long kind, long scaled_lanes, const double *row,
                                const uint16_t *raters, const double *residuals, long count, double *base) {
    if (width == 16) spread16(kind, scaled_lanes, row, raters, residuals, count, base);
    else spread8(kind, scaled_lanes, row, raters, residuals, count, base);
}

TARGET void mixfill_collect_avx2(long width, long kind, long scaled_lanes, double *row,
                                 const uint16_t *raters, const double *residuals, long count, const double *base) {
    if (width == 16) collect16(kind, scaled_lanes, row, raters, residuals, count, base);
    else collect8(kind, scaled_lanes, row, raters, residuals, count, base);
}

#else

// Other architectures: never available, so the Swift passes always run.
int mixfill_lanes_avx2_available(void) { return 0; }
void mixfill_spread_avx2(long width, long kind, long scaled_lanes, const double *row,
                         const uint16_t *raters, const double *residuals, long count, double *base) {
    (void)width; (void)kind; (void)scaled_lanes; (void)row; (void)raters; (void)residuals; (void)count; (void)base;
}
void mixfill_collect_avx2(long width, long kind, long scaled_lanes, double *row,
                          const uint16_t *raters, const double *residuals, long count, const double *base) {
    (void)width; (void)kind; (void)scaled_lanes; (void)row; (void)raters; (void)residuals; (void)count; (void)base;
}

#endif
