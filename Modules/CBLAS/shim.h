// The C surface MixFill uses: OpenBLAS's CBLAS (dgemm/sgemm/dgemv and
// openblas_set_num_threads) and LAPACKE. Only Sources/MixFill/Kernels imports it.
#ifndef MIXFILL_CBLAS_SHIM_H
#define MIXFILL_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
