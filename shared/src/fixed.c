/*
 * fixed.c - vector kernels of phyff/fixed.h.
 *
 * The scalar helpers are static inline in the header; only loops live here.
 * The inner loops accumulate exact products in int64 (FX-F5), which compilers
 * vectorise on hosts (SSE/AVX/NEON) and turn into SMLAL on Cortex-M.
 */
#include "phyff/fixed.h"

int64_t phyff_dot_q15_acc64(const int16_t *a, const int16_t *b, size_t n) {
    int64_t acc = 0;
    /* Blocks of 32768 products fit an int32 partial sum exactly only when
     * every product is < 2^30 in magnitude; (-32768)^2 = 2^30 would overflow
     * after two terms, so sum in int64 throughout. */
    for (size_t j = 0; j < n; ++j) {
        acc += (int32_t)a[j] * (int32_t)b[j];
    }
    return acc;
}

int32_t phyff_dot_q15_acc32(const int16_t *a, const int16_t *b, size_t n) {
    int32_t acc = 0;
    for (size_t j = 0; j < n; ++j) {
        acc = phyff_sat_q31((int64_t)acc + (int64_t)((int32_t)a[j] * (int32_t)b[j]));
    }
    return acc;
}

static inline int16_t acc_to_q15(int64_t acc) {
    /* |acc| < 2^62 for any realistic n (n < 2^32), so the rounding add cannot
     * overflow; saturate afterwards (FX-F3, FX-F5). */
    int64_t r = phyff_round_shift_s64(acc, 15);
    if (r > INT16_MAX) return INT16_MAX;
    if (r < INT16_MIN) return INT16_MIN;
    return (int16_t)r;
}

int16_t phyff_dot_q15(const int16_t *a, const int16_t *b, size_t n) {
    return acc_to_q15(phyff_dot_q15_acc64(a, b, n));
}

void phyff_matvec_q15_acc64(const int16_t *w, size_t rows, size_t cols,
                            const int16_t *x, int64_t *acc) {
    for (size_t i = 0; i < rows; ++i) {
        acc[i] = phyff_dot_q15_acc64(w + i * cols, x, cols);
    }
}

void phyff_matvec_q15(const int16_t *w, size_t rows, size_t cols,
                      const int16_t *x, int16_t *y) {
    for (size_t i = 0; i < rows; ++i) {
        y[i] = acc_to_q15(phyff_dot_q15_acc64(w + i * cols, x, cols));
    }
}

void phyff_matmul_q15(const int16_t *w, size_t rows, size_t cols,
                      const int16_t *x, size_t batch, int16_t *y) {
    for (size_t s = 0; s < batch; ++s) {
        phyff_matvec_q15(w, rows, cols, x + s * cols, y + s * rows);
    }
}

void phyff_q15_from_double_array(const double *x, int16_t *out, size_t n) {
    for (size_t j = 0; j < n; ++j) out[j] = phyff_q15_from_double(x[j]);
}

void phyff_q15_to_double_array(const int16_t *v, double *out, size_t n) {
    for (size_t j = 0; j < n; ++j) out[j] = phyff_q15_to_double(v[j]);
}
