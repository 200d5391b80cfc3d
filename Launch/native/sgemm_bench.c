/* The same cblas_sgemm call that `mamfusion bench sgemm` makes, from plain C: the baseline the
 * Swift binding is compared against (Launch/compare-sgemm). Row-major C = A·B, A m×k, B k×n,
 * timing identical to the Swift side: repeat calls for ≥ 50 ms, per-call time, median of R. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s M N K [REPEATS]\n", argv[0]); return 2; }
    int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]);
    int repeats = argc > 4 ? atoi(argv[4]) : 7;
    float *a = aligned_alloc(64, ((size_t)m * k * 4 + 63) / 64 * 64);
    float *b = aligned_alloc(64, ((size_t)k * n * 4 + 63) / 64 * 64);
    float *c = aligned_alloc(64, ((size_t)m * n * 4 + 63) / 64 * 64);
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = 0.5f;
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = 0.25f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    double *times = malloc(sizeof(double) * repeats);
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        int runs = 0;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
            runs++;
        } while (now() - t0 < 0.05);
        times[r] = (now() - t0) / runs;
    }
    qsort(times, repeats, sizeof(double), cmp);
    double t = repeats % 2 ? times[repeats / 2] : 0.5 * (times[repeats / 2 - 1] + times[repeats / 2]);
    printf("%.2f\n", 2.0 * m * n * k / t / 1e9);
    free(a); free(b); free(c); free(times);
    return 0;
}
