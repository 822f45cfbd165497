/*
 * phyff/fixed.h - the fixed-point formats shared by the host and the board.
 *
 * Formats
 *   Q15: int16_t v stands for v / 2^15, range [-1, 1 - 2^-15].
 *   Q31: int32_t v stands for v / 2^31, range [-1, 1 - 2^-31].
 *   Drive and sense vectors travel on the wire as Q15 (see wire.h).
 *
 * Contracts (numbered so tests and reviews can cite them)
 *   FX-F1. Every operation is total: any input bit pattern gives a defined
 *       result. Nothing here traps, allocates or touches global state.
 *   FX-F2. Saturation: a result outside the format's range is clamped to the
 *       nearest end (INT16_MIN/INT16_MAX, INT32_MIN/INT32_MAX).
 *   FX-F3. Rounding of products and narrowing shifts: round to nearest, ties
 *       toward +infinity ("add half, arithmetic shift right"). Example:
 *       q15_mul(1, 16384) = round(0.5) = 1, q15_mul(-1, 16384) = round(-0.5) = 0.
 *       The rule is the same in every function below that drops bits.
 *   FX-F4. Products are formed exactly (int32 for Q15, int64 for Q31), rounded
 *       once (FX-F3), then saturated (FX-F2). q15_mul(-32768, -32768) = 32767.
 *   FX-F5. Accumulating kernels (dot, matvec) form the exact int64 sum of the
 *       exact products, then round once (FX-F3) and saturate once (FX-F2). The
 *       int32 "acc32" variant instead saturates after every addition, as an
 *       MCU MAC unit with a 32-bit accumulator would; it is order dependent
 *       and the order is j = 0, 1, ..., n-1.
 *   FX-F6. float -> Q15: x is scaled by 2^15 in double precision (exact), rounded
 *       to nearest with ties AWAY from zero (the usual rule for converters),
 *       then saturated. NaN gives 0. +inf and x >= 1 give 32767; -inf and
 *       x <= -1 give -32768. Q15 -> float is exact: v / 32768.
 *   FX-F7. Integer square root returns floor(sqrt(x)).
 *   FX-F8. Lengths are size_t; a length of 0 is valid and gives the empty sum 0.
 *   FX-F9. Vector kernels accept unaligned-free, non-overlapping arrays (output
 *       must not alias an input).
 *
 * Everything is static inline except the vector kernels, so the compiler
 * inlines the scalar helpers into callers on every target (see fixed.c).
 * Needs only <stdint.h> and <stddef.h>: freestanding-friendly.
 */
#ifndef PHYFF_FIXED_H
#define PHYFF_FIXED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PHYFF_Q15_ONE_SHIFT 15
#define PHYFF_Q31_ONE_SHIFT 31
#define PHYFF_Q15_MAX INT16_MAX
#define PHYFF_Q15_MIN INT16_MIN
#define PHYFF_Q31_MAX INT32_MAX
#define PHYFF_Q31_MIN INT32_MIN

/* Saturate an int32 to the Q15 range (FX-F2). */
static inline int16_t phyff_sat_q15(int32_t x) {
    if (x > INT16_MAX) return INT16_MAX;
    if (x < INT16_MIN) return INT16_MIN;
    return (int16_t)x;
}

/* Saturate an int64 to the Q31 range (FX-F2). */
static inline int32_t phyff_sat_q31(int64_t x) {
    if (x > INT32_MAX) return INT32_MAX;
    if (x < INT32_MIN) return INT32_MIN;
    return (int32_t)x;
}

/* Arithmetic right shift of an int64 by s (1..62) with rounding FX-F3.
 * Written with a division-free form that is defined for negative values. */
static inline int64_t phyff_round_shift_s64(int64_t x, unsigned s) {
    /* floor((x + 2^(s-1)) / 2^s); the add cannot overflow for |x| < 2^62. */
    int64_t biased = x + ((int64_t)1 << (s - 1u));
    /* >> on negative signed values is implementation-defined in C11; build
     * floor division from unsigned arithmetic instead. */
    if (biased >= 0) return (int64_t)((uint64_t)biased >> s);
    return -(int64_t)((((uint64_t)(-(biased + 1))) >> s) + 1u);
}

static inline int16_t phyff_q15_add(int16_t a, int16_t b) {
    return phyff_sat_q15((int32_t)a + (int32_t)b);
}

static inline int16_t phyff_q15_sub(int16_t a, int16_t b) {
    return phyff_sat_q15((int32_t)a - (int32_t)b);
}

/* Q15 product, FX-F3 + FX-F4. */
static inline int16_t phyff_q15_mul(int16_t a, int16_t b) {
    return phyff_sat_q15((int32_t)phyff_round_shift_s64((int64_t)a * (int64_t)b, 15));
}

static inline int32_t phyff_q31_add(int32_t a, int32_t b) {
    return phyff_sat_q31((int64_t)a + (int64_t)b);
}

static inline int32_t phyff_q31_sub(int32_t a, int32_t b) {
    return phyff_sat_q31((int64_t)a - (int64_t)b);
}

/* Q31 product, FX-F3 + FX-F4 (the exact product fits int64 except -2^31*-2^31,
 * which is exactly 2^62 and still fits). */
static inline int32_t phyff_q31_mul(int32_t a, int32_t b) {
    return phyff_sat_q31(phyff_round_shift_s64((int64_t)a * (int64_t)b, 31));
}

/* Q15 -> Q31 is exact (shift left by 16). */
static inline int32_t phyff_q15_to_q31(int16_t v) {
    return (int32_t)((uint32_t)(int32_t)v << 16);
}

/* Q31 -> Q15 drops 16 bits: rounding FX-F3, saturation FX-F2
 * (0x7FFF8000 and above round up to 2^15 and saturate to 32767). */
static inline int16_t phyff_q31_to_q15(int32_t v) {
    return phyff_sat_q15((int32_t)phyff_round_shift_s64((int64_t)v, 16));
}

/* double -> Q15, rule FX-F6. */
static inline int16_t phyff_q15_from_double(double x) {
    if (x != x) return 0; /* NaN */
    if (x >= 1.0) return INT16_MAX;
    if (x <= -1.0) return INT16_MIN;
    const double scaled = x * 32768.0; /* exact: power-of-two scaling */
    const double mag = scaled >= 0.0 ? scaled : -scaled;
    /* Not (int32_t)(mag + 0.5): for mag = 0.5 - 2^-54 that sum rounds up to
     * 1.0 in double. Truncate, then compare the exact fractional part. */
    int32_t r = (int32_t)mag;
    if (mag - (double)r >= 0.5) r += 1;
    return phyff_sat_q15(scaled < 0.0 ? -r : r);
}

/* Q15 -> double, exact (FX-F6). */
static inline double phyff_q15_to_double(int16_t v) {
    return (double)v / 32768.0;
}

/* floor(sqrt(x)) for 32- and 64-bit unsigned inputs (FX-F7). Bitwise method:
 * no division, no floating point, constant iteration count. */
static inline uint16_t phyff_isqrt_u32(uint32_t x) {
    uint32_t res = 0;
    uint32_t bit = (uint32_t)1 << 30;
    while (bit > x) bit >>= 2;
    while (bit != 0) {
        if (x >= res + bit) {
            x -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint16_t)res;
}

static inline uint32_t phyff_isqrt_u64(uint64_t x) {
    uint64_t res = 0;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > x) bit >>= 2;
    while (bit != 0) {
        if (x >= res + bit) {
            x -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
}

/* ---- Vector kernels (fixed.c) ------------------------------------------ */

/* Exact sum of a[j]*b[j], j < n (FX-F5). Exact for n < 2^33. */
int64_t phyff_dot_q15_acc64(const int16_t *a, const int16_t *b, size_t n);

/* Sum of a[j]*b[j] in a 32-bit accumulator saturating after every add (FX-F5). */
int32_t phyff_dot_q15_acc32(const int16_t *a, const int16_t *b, size_t n);

/* Q15 dot product: round(acc64 / 2^15), saturated to Q15 (FX-F3, FX-F5). */
int16_t phyff_dot_q15(const int16_t *a, const int16_t *b, size_t n);

/* y[i] = Q15 dot of row i of the row-major rows x cols matrix w with x
 * (each output rounded and saturated once, FX-F5). y must not alias w or x. */
void phyff_matvec_q15(const int16_t *w, size_t rows, size_t cols,
                      const int16_t *x, int16_t *y);

/* acc[i] = exact int64 sum of w[i, j] * x[j]: the raw accumulators, for
 * callers that keep more precision than Q15 (and for comparing with an
 * integer matmul). */
void phyff_matvec_q15_acc64(const int16_t *w, size_t rows, size_t cols,
                            const int16_t *x, int64_t *acc);

/* Batched form: Y[b, i] = Q15 dot(W[i, :], X[b, :]) for b < batch. */
void phyff_matmul_q15(const int16_t *w, size_t rows, size_t cols,
                      const int16_t *x, size_t batch, int16_t *y);

/* Element-wise conversions over arrays (FX-F6). */
void phyff_q15_from_double_array(const double *x, int16_t *out, size_t n);
void phyff_q15_to_double_array(const int16_t *v, double *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* PHYFF_FIXED_H */
