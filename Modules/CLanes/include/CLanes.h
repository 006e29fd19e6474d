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

#endif
