// The sparse kernels' vector passes (FactorSparseKernel's `spread` and `collect`,
// SparseKernel's `distances` and `accumulate`) compiled for AVX2 and chosen at run time, so
// a binary built for baseline x86-64 still runs them on 256-bit registers where the
// processor has them.
//
// The arithmetic is the Swift passes' operation for operation, lane by lane: slot +
// value · coefficient (spread), sum + slot · coefficient (collect), sum + (μ − x)²
// (distances), slot + w · x and slot + w (accumulate), each multiply, subtraction and add
// rounded on its own. Contraction into fused multiply-adds is off (and the FMA extension
// is not enabled), so both versions give the same bits.
//
// A width or a kind the kernels never pass stops the process (__builtin_trap) rather than
// reading out of bounds; on other architectures every entry point but the check traps, as
// the Swift side never calls them there.
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
    // The OS saves the SSE state (XCR0 bit 1) and the upper halves of the AVX registers
    // (bit 2) on a context switch.
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

// One definition per width. A mixed block's coefficient lanes are (scale, unit) with
// coefficient = e·scale + unit, which is e in a scaled lane and 1 in a plain one, as in
// the Swift passes.
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
    if (kind < 0 || kind > 2) __builtin_trap();
    if (width == 16) spread16(kind, scaled_lanes, row, raters, residuals, count, base);
    else if (width == 8) spread8(kind, scaled_lanes, row, raters, residuals, count, base);
    else __builtin_trap();
}

TARGET void mixfill_collect_avx2(long width, long kind, long scaled_lanes, double *row,
                                 const uint16_t *raters, const double *residuals, long count, const double *base) {
    if (kind < 0 || kind > 2) __builtin_trap();
    if (width == 16) collect16(kind, scaled_lanes, row, raters, residuals, count, base);
    else if (width == 8) collect8(kind, scaled_lanes, row, raters, residuals, count, base);
    else __builtin_trap();
}

// The course kernel's passes: a group of 4, 8, 12 or 16 components is `parts` vectors of 4
// lanes (one 256-bit register each), which gives the same lane-by-lane arithmetic as the
// Swift passes' SIMD4, SIMD8, SIMD16 and 8 + 4 pair. The body is inlined into one function
// per (parts, index width, rating storage), so each is a loop with constant bounds.
typedef double lanes4 __attribute__((ext_vector_type(4)));

TARGET __attribute__((always_inline)) static inline void course_distances(
    const int parts, const int wide, const int coded, const void *items, const double *palette,
    const uint8_t *codes, const double *values, long start, long end, const double *means, long padded, double *out) {
    lanes4 sum[4] = {0, 0, 0, 0};
    for (long position = start; position < end; position++) {
        long item = wide ? (long)((const uint32_t *)items)[position] : (long)((const uint16_t *)items)[position];
        double x = coded ? palette[codes[position]] : values[position];
        const double *row = means + item * padded;
        for (int p = 0; p < parts; p++) {
            lanes4 difference = LOAD(lanes4, row + 4 * p) - x;
            lanes4 square = difference * difference;
            sum[p] = sum[p] + square;
        }
    }
    for (int p = 0; p < parts; p++) STORE(out + 4 * p, sum[p]);
}

TARGET __attribute__((always_inline)) static inline void course_accumulate(
    const int parts, const int wide, const int coded, const void *items, const double *palette,
    const uint8_t *codes, const double *values, long start, long end, const double *weights, double *sums, long padded) {
    lanes4 weight[4];
    for (int p = 0; p < parts; p++) weight[p] = LOAD(lanes4, weights + 4 * p);
    long stride = 2 * padded;
    for (long position = start; position < end; position++) {
        long item = wide ? (long)((const uint32_t *)items)[position] : (long)((const uint16_t *)items)[position];
        double x = coded ? palette[codes[position]] : values[position];
        double *slot = sums + item * stride;
        for (int p = 0; p < parts; p++) {
            lanes4 product = weight[p] * x;
            STORE(slot + 4 * p, LOAD(lanes4, slot + 4 * p) + product);
        }
        for (int p = 0; p < parts; p++) {
            STORE(slot + padded + 4 * p, LOAD(lanes4, slot + padded + 4 * p) + weight[p]);
        }
    }
}

#define COURSE_CASES(PASS, ...)                                                          \
    switch ((parts - 1) * 4 + (wide_items ? 2 : 0) + (codes ? 1 : 0)) {                 \
    case 0: PASS(1, 0, 0, __VA_ARGS__); break;  case 1: PASS(1, 0, 1, __VA_ARGS__); break; \
    case 2: PASS(1, 1, 0, __VA_ARGS__); break;  case 3: PASS(1, 1, 1, __VA_ARGS__); break; \
    case 4: PASS(2, 0, 0, __VA_ARGS__); break;  case 5: PASS(2, 0, 1, __VA_ARGS__); break; \
    case 6: PASS(2, 1, 0, __VA_ARGS__); break;  case 7: PASS(2, 1, 1, __VA_ARGS__); break; \
    case 8: PASS(3, 0, 0, __VA_ARGS__); break;  case 9: PASS(3, 0, 1, __VA_ARGS__); break; \
    case 10: PASS(3, 1, 0, __VA_ARGS__); break; case 11: PASS(3, 1, 1, __VA_ARGS__); break; \
    case 12: PASS(4, 0, 0, __VA_ARGS__); break; case 13: PASS(4, 0, 1, __VA_ARGS__); break; \
    case 14: PASS(4, 1, 0, __VA_ARGS__); break; case 15: PASS(4, 1, 1, __VA_ARGS__); break; \
    default: __builtin_trap();                                                           \
    }

TARGET void mixfill_course_distances_avx2(long width, int wide_items, const void *items, const double *palette,
                                          const uint8_t *codes, const double *values, long start, long end,
                                          const double *means, long padded, double *out) {
    if (width % 4 != 0 || width < 4 || width > 16) __builtin_trap();
    long parts = width / 4;
#define DISTANCES(P, W, C, ...) course_distances(P, W, C, __VA_ARGS__)
    COURSE_CASES(DISTANCES, items, palette, codes, values, start, end, means, padded, out)
#undef DISTANCES
}

TARGET void mixfill_course_accumulate_avx2(long width, int wide_items, const void *items, const double *palette,
                                           const uint8_t *codes, const double *values, long start, long end,
                                           const double *weights, double *sums, long padded) {
    if (width % 4 != 0 || width < 4 || width > 16) __builtin_trap();
    long parts = width / 4;
#define ACCUMULATE(P, W, C, ...) course_accumulate(P, W, C, __VA_ARGS__)
    COURSE_CASES(ACCUMULATE, items, palette, codes, values, start, end, weights, sums, padded)
#undef ACCUMULATE
}

#else

// Other architectures: never available, so the Swift passes always run and these are never called.
int mixfill_lanes_avx2_available(void) { return 0; }
void mixfill_spread_avx2(long width, long kind, long scaled_lanes, const double *row,
                         const uint16_t *raters, const double *residuals, long count, double *base) {
    (void)width; (void)kind; (void)scaled_lanes; (void)row; (void)raters; (void)residuals; (void)count; (void)base;
    __builtin_trap();
}
void mixfill_collect_avx2(long width, long kind, long scaled_lanes, double *row,
                          const uint16_t *raters, const double *residuals, long count, const double *base) {
    (void)width; (void)kind; (void)scaled_lanes; (void)row; (void)raters; (void)residuals; (void)count; (void)base;
    __builtin_trap();
}
void mixfill_course_distances_avx2(long width, int wide_items, const void *items, const double *palette,
                                   const uint8_t *codes, const double *values, long start, long end,
                                   const double *means, long padded, double *out) {
    (void)width; (void)wide_items; (void)items; (void)palette; (void)codes; (void)values; (void)start; (void)end;
    (void)means; (void)padded; (void)out;
    __builtin_trap();
}
void mixfill_course_accumulate_avx2(long width, int wide_items, const void *items, const double *palette,
                                    const uint8_t *codes, const double *values, long start, long end,
                                    const double *weights, double *sums, long padded) {
    (void)width; (void)wide_items; (void)items; (void)palette; (void)codes; (void)values; (void)start; (void)end;
    (void)weights; (void)sums; (void)padded;
    __builtin_trap();
}

#endif
