#ifndef MIXFILL_CLANES_H
#define MIXFILL_CLANES_H

#include <stdint.h>

/// 1 when this processor and its operating system run AVX2 code (CPUID and XGETBV), else 0.
int mixfill_lanes_avx2_available(void);

/// The mppca sparse kernel's two passes over one item and one block of `width` (8 or 16)
/// columns, compiled for AVX2. `kind`: 0 plain (coefficient 1), 1 scaled (coefficient e),
/// 2 mixed (the first `scaled_lanes` lanes scaled, the rest plain).
///
/// spread:  for each rater k, base[raters[k]·width + l] += row[l] · coefficient(k, l)
/// collect: row[l] += Σ_k base[raters[k]·width + l] · coefficient(k, l), summed in k order
///
/// Call only when `mixfill_lanes_avx2_available()` returned 1.
void mixfill_spread_avx2(long width, long kind, long scaled_lanes, const double *row,
                         const uint16_t *raters, const double *residuals, long count, double *base);
void mixfill_collect_avx2(long width, long kind, long scaled_lanes, double *row,
                          const uint16_t *raters, const double *residuals, long count, const double *base);

/// The course sparse kernel's two passes over one user's ratings (SparseKernel's
/// `distances` and `accumulate`) for one group of `width` (4, 8, 12 or 16) components,
/// compiled for AVX2. The ratings at positions start ..< end: items[position] (16-bit
/// indices, or 32-bit when `wide_items`), rating palette[codes[position]] when `codes` is
/// not null, else values[position].
///
/// distances:  out[l] = Σ_position (means[item·padded + l] − x)²
/// accumulate: sums[item·2·padded + l] += weights[l]·x, sums[item·2·padded + padded + l] += weights[l]
///
/// Call only when `mixfill_lanes_avx2_available()` returned 1.
void mixfill_course_distances_avx2(long width, int wide_items, const void *items, const double *palette,
                                   const uint8_t *codes, const double *values, long start, long end,
                                   const double *means, long padded, double *out);
void mixfill_course_accumulate_avx2(long width, int wide_items, const void *items, const double *palette,
                                    const uint8_t *codes, const double *values, long start, long end,
                                    const double *weights, double *sums, long padded);

/// SmallMatrixLanes' `cholesky` and `inverseByTriangle` on four m × m matrices side by side
/// (entry (r, c) of the four at a + 4·(r·m + c)), compiled for AVX2. `mixfill_cholesky4_avx2`
/// returns a bit per lane, set where every pivot was positive and finite.
///
/// Call only when `mixfill_lanes_avx2_available()` returned 1.
int mixfill_cholesky4_avx2(double *a, long m);
void mixfill_inverse_by_triangle4_avx2(const double *u, long m, double *inverse, double *triangle);

#endif
