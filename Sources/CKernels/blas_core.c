/* OpenBLAS kernel selection for CPUs its runtime detection does not know.
 *
 * Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH: at load time it reads CPUID and picks a
 * kernel set. For Intel models newer than it knows (measured: Emerald Rapids, family 6 model
 * 207) it falls back to "Prescott", an SSE3 kernel set: single-thread sgemm 33-39 GFLOP/s
 * instead of 95-103 with the AVX-512 "SkylakeX" kernels on the same machine, and products that
 * round differently from every AVX machine. This constructor runs when the program is loaded,
 * after OpenBLAS's own constructor and before main or any thread: when the user has not chosen a
 * kernel set (OPENBLAS_CORETYPE unset) and OpenBLAS fell back to a pre-AVX set on a CPU that has
 * AVX-512 or AVX2+FMA, it sets OPENBLAS_CORETYPE (so child processes, mpirun's ranks included,
 * choose the same) and restarts OpenBLAS with gotoblas_quit/gotoblas_init, the pair OpenBLAS
 * itself uses around fork. The OpenBLAS symbols are weak so that this file links without it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "CKernels.h"

extern char *openblas_get_corename(void) __attribute__((weak));
extern void gotoblas_quit(void) __attribute__((weak));
extern void gotoblas_init(void) __attribute__((weak));

static char mf_blas_fallback[32] = "";

static int is_generic_core(const char *name) {
    static const char *generic[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "katmai",
                                    "coppermine", "northwood", "banias", "atom", "unknown"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        if (strcasecmp(name, generic[i]) == 0) return 1;
    return 0;
}

static const char *best_core(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

__attribute__((constructor)) static void mf_blas_select_core(void) {
    if (!openblas_get_corename || !gotoblas_quit || !gotoblas_init) return;
    if (getenv("OPENBLAS_CORETYPE") != NULL) return;
    const char *detected = openblas_get_corename();
    if (detected == NULL || !is_generic_core(detected)) return;
    const char *core = best_core();
    if (core == NULL) return;
    strncpy(mf_blas_fallback, detected, sizeof mf_blas_fallback - 1);
    setenv("OPENBLAS_CORETYPE", core, 1);
    gotoblas_quit();
    gotoblas_init();
}

const char *mf_blas_core_name(void) {
    return openblas_get_corename ? openblas_get_corename() : "unknown";
}

const char *mf_blas_replaced_core(void) { return mf_blas_fallback; }
