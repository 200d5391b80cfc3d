#ifndef MAMFUSION_COPENBLAS_SHIM_H
#define MAMFUSION_COPENBLAS_SHIM_H
#include <cblas.h>

/// OpenBLAS thread control, re-exported under stable names (the prototypes live in cblas.h of
/// the openblas-pthread flavour; wrapping them keeps callers independent of the flavour).
static inline int mf_blas_get_num_threads(void) { return openblas_get_num_threads(); }
static inline void mf_blas_set_num_threads(int n) { openblas_set_num_threads(n); }
static inline const char *mf_blas_config(void) { return openblas_get_config(); }
#endif
