/*
 * phyff/learn.h - on-device learning of the one-pass read-out: the
 * statistics a board accumulates from labelled samples, and the fixed-point
 * ridge solve that turns them into a new read-out record (model.h). The board
 * (shared/src/learn.c) and the host's numpy reference
 * (host/phyff/ondevice/refit.py) implement exactly this, so the host can
 * predict the refitted read-out bit for bit from the same features.
 *
 * ===========================================================================
 * What is learnt, and why this way
 * ===========================================================================
 *
 * A one-pass model (model.h M-P6) scores a sample with a linear read-out of
 * its blocks' outputs. The host fits that read-out by ridge regression onto
 * one-hot targets with an unpenalised bias (host/phyff/phyll/readout.py).
 * The board does the same from sufficient statistics: the Gram matrix of the
 * read-out's features augmented by a constant 1 (the bias feature) and, per
 * class, the sum of the features of that class's samples. The penalty on
 * the features and none on the bias give exactly the centred ridge solution
 * of the host. The statistics need O(F^2) memory whatever the number of
 * samples, and the samples themselves are never stored.
 *
 * Notation: F = the read-out's width (model.h: sum of the blocks' d_out),
 * n = F + 1 (the augmented width, index F is the bias), C = n_classes,
 * Q = PHYFF_LEARN_Q (24). bitlen(m) for m >= 0 is the number of bits of m
 * (bitlen(0) = 0); clog2(m) = bitlen(m - 1) for m >= 1 (the smallest e with
 * m <= 2^e). round_shift(v, s) is fixed.h FX-F3 (add 2^(s-1), floor-divide by
 * 2^s; s = 0 leaves v; s > 62 gives 0 for the |v| < 2^61 it is used on).
 * div_round(a, d) for d > 0 is a / d rounded half up: floor((2a + d) / (2d)),
 * the division model.h's goodness uses; every one below is formed in
 * exact integer arithmetic (|a| < 2^62; a board computes it as q =
 * floor(a / d), then q + 1 when 2 (a - q d) >= d, which never overflows).
 *
 * Accumulation (LEARN), per labelled sample
 *   RF-A1. The features are those the read-out consumes (model.h M-P6): each
 *       block's output y through the one-pass pipeline (M-P1-P5 with the
 *       neutral overlay), |y| with |-32768| -> 32767 when readout_abs,
 *       block by block: f_0 .. f_{F-1}, each int16.
 *   RF-A2. Each feature is reduced to 12 bits: g_i = round_shift(f_i,
 *       PHYFF_LEARN_FEATURE_SHIFT = 4), so |g_i| <= 2048; g_F = 1 (bias).
 *       The statistics below are exact sums of the reduced features; the
 *       reduction (an error of at most 8 of the 32768 Q15 units) is what
 *       lets them fit in int32 (docs/ondevice.md measures what it costs).
 *   RF-A3. For label c (0 <= c < C): G_ij += g_i g_j for 0 <= i <= j < n
 *       (the upper triangle, bias row included: G_iF = sum of g_i, G_FF =
 *       the number of samples N); S_ci += g_i for i < F; count_c += 1.
 *   RF-A4. Bounds: |g_i g_j| <= 2^22 and N <= PHYFF_LEARN_MAX_SAMPLES (511),
 *       so |G_ij| <= 511 * 2^22 < 2^31 (int32), |S_ci| <= 511 * 2048 < 2^20
 *       (stored in 3 bytes), count_c <= 511 (uint16). A sample beyond the cap
 *       is refused (PHYFF_LEARN_FULL) and the statistics stay as they were.
 *   RF-A5. The statistics belong to one model's read-out: their holder (the
 *       board core) clears them whenever the model in force changes, and a
 *       refit consumes them (RF-S3, RF-E1).
 *
 * Storage (the "area": an int32 array of ceil(phyff_learn_area_size(F, C) / 4)
 * words, never sent anywhere, so int32 and uint16 are in the machine's byte
 * order; the sums and counts are reached byte by byte)
 *   RF-M1. G: n (n + 1) / 2 int32, the upper triangle row by row (G_ij,
 *       i <= j, at index i n - i (i - 1) / 2 + j - i); then S: C x F values
 *       of 3 bytes, two's complement, little-endian, row c at c F; then
 *       count: C uint16. A vowels7 model (F = 40, C = 7): 3,444 + 840 + 14
 *       = 4,298 bytes. A cleared area is all zero bytes.
 *
 * The solve (REFIT), in order; lambda_shift L gives the ridge penalty
 * lambda = 2^-L on the real features of model.h (value = f 2^(e_k - 15),
 * e_k the out_exp of the feature's block), as the host's ridge penalty.
 *   RF-S1. Preconditions (refused before anything is changed): a one-pass
 *       model (PHYFF_LEARN_NO_READOUT); 2 <= N;
 *       count_c >= 1 for every class (PHYFF_LEARN_TOO_FEW); 1 <= F <=
 *       PHYFF_LEARN_MAX_WIDTH (PHYFF_LEARN_TOO_WIDE); L <= 60 and, for every
 *       block, p_k = 53 - 2 e_k - L <= 61 (PHYFF_LEARN_BAD_LAMBDA).
 *   RF-S2. The regularised system in integers: Abar_ij = G_ij 2^31, plus, on
 *       the diagonal of a feature i of block k, 2^p_k when p_k >= 0 (that is
 *       lambda in the units of g: 2^-L (2^(11 - e_k))^2, times 2^31; a p_k < 0
 *       adds nothing). |Abar_ij| < 2^62 + 2^61. A zero diagonal Abar_ii is a
 *       singular system (PHYFF_LEARN_SINGULAR).
 *   RF-S3. Diagonal scaling by powers of two: u_i = ceil((bitlen(Abar_ii) -
 *       Q) / 2), so Abar_ii 2^(-2 u_i) lies in [2^(Q-2), 2^Q); A'_ij =
 *       Abar_ij 2^-(u_i + u_j), a left shift when u_i + u_j < 0, else
 *       round_shift by u_i + u_j. |A'_ij| <= 2^Q (Abar is positive
 *       semi-definite). A' overwrites G in place: from here on the statistics
 *       are gone, and whatever the outcome the area ends cleared (RF-E1).
 *   RF-S4. Cholesky in place, column by column, j = 0 .. n-1 (L lower
 *       triangular, integer, L L^T = A' 2^Q):
 *         d_j = A'_jj 2^Q - sum_{k<j} L_jk^2; d_j < 2^Q (a pivot below 2^-Q of
 *         the scaled diagonal) is PHYFF_LEARN_SINGULAR; L_jj = isqrt(d_j)
 *         (fixed.h FX-F7);
 *         L_ij = div_round(A'_ij 2^Q - sum_{k<j} L_ik L_jk, L_jj) for i > j;
 *         |L_ij| > 2^Q is PHYFF_LEARN_OVERFLOW (exact arithmetic gives
 *         |L_ij| <= 2^Q; only rounding could).
 *       With |L| <= 2^Q and n <= 128 every sum stays below 2^62.
 *       The conditioning figure is bitlen(max_j d_j) - bitlen(min_j d_j):
 *       log2 of the spread of the pivots, within one of log2 of their ratio
 *       (0 for a perfectly conditioned system; the pivot rule refuses
 *       anything beyond 2Q = 48).
 *   RF-S5. Per class c, the right-hand side B_ic = S_ci (i < F), B_Fc =
 *       count_c, scaled: r_c = max_i (bitlen(|B_ic|) + 31 - u_i) - Q over
 *       the i with B_ic != 0, then b_i = B_ic 2^(31 - u_i - r_c) (a left shift
 *       or a round_shift, as in RF-S3), so |b_i| <= 2^Q.
 *       Forward: y_i = div_round(b_i 2^Q - sum_{k<i} L_ik y_k, L_ii), i =
 *       0 .. n-1; back: w_i = div_round(y_i 2^Q - sum_{k>i} L_ki w_k, L_ii),
 *       i = n-1 .. 0. A |y_i| or |w_i| above 2^31 - 1 restarts the class with
 *       r_c + 8 (PHYFF_LEARN_RESCALE), at most twice; a third overflow is
 *       PHYFF_LEARN_OVERFLOW. Then w_i 2^(x_ic) is the ridge weight of
 *       feature i in score units per unit of f (x_ic = r_c - u_i - Q - 4),
 *       and w_F 2^(r_c - u_F - Q) the bias of class c.
 *
 * Quantisation into the read-out record (model.h M-M1, M-M2, M-P6). U_s =
 * score_exp - 31 is the unit of the model's scores.
 *   RF-Q1. Segment k (block k's features): omega_k = the largest x_ic +
 *       clog2(|w_ic|) over its features i and all classes with w_ic != 0
 *       (the smallest exponent whose Q15 holds every weight); unit U_k =
 *       omega_k - 15. A segment whose weights are all 0 takes U_k = U_s.
 *   RF-Q2. Spread: with V = max_k U_k, every U_k < V - 16 becomes V - 16
 *       (model.h readout_shift <= 16). U = min_k U_k. The model's score_exp
 *       is kept (scores stay on the scale clients know) unless U > U_s (the
 *       new weights are coarser than its scores' unit): then score_exp
 *       becomes U + 31 (> 32 is PHYFF_LEARN_OVERFLOW, model.h M-V2) and U_s
 *       = U. shift_k = U_k - U (each block's readout_shift), shift_out = U_s
 *       - U (<= 62, else PHYFF_LEARN_OVERFLOW).
 *   RF-Q3. Bias: beta = max(U + 15, max over classes with w_Fc != 0 of
 *       (r_c - u_F - Q + clog2(|w_Fc|))); shift_b = beta - 15 - U (<= 40, else
 *       PHYFF_LEARN_OVERFLOW).
 *   RF-Q4. R_ci = sat16(scale(w_ic, x_ic + 15 - (U_k + 15))) for feature i of
 *       segment k, rb_c = sat16(scale(w_Fc, r_c - u_F - Q + 15 - beta)), where
 *       scale(v, s) = v 2^s for s >= 0 (exact: the exponents above make it
 *       <= 2^15) and round_shift(v, -s) for s < 0; sat16 is fixed.h FX-F2
 *       (a weight of exactly 2^omega becomes 32767).
 *   RF-Q5. The record is written only when the whole solve and RF-Q1-Q3
 *       succeeded (the solve is run twice: once to choose the exponents, once
 *       to write): the model head's score_exp, the read-out head's shift_b,
 *       shift_out and refit_samples (= N, the samples solved, so the image
 *       itself says its read-out was refitted and from how many samples:
 *       model.h M-V4), every block head's readout_shift, R and rb. Nothing
 *       else in the image changes.
 *       The limits of model.h M-V3/M-V4 hold by construction, so the
 *       accumulator bounds of M-M2 hold for the new read-out.
 *
 * Refusals
 *   RF-E1. A refused LEARN sample (label >= C, the cap of RF-A4) changes
 *       nothing. A refusal of RF-S1 changes nothing. A refusal from RF-S2 on
 *       leaves the read-out in force, untouched, and the statistics cleared
 *       (the solve works in their place from RF-S3 on, so a board clears
 *       them on every outcome past RF-S1).
 *
 * Code contracts: as wire.h W-P1-P5 and fixed.h FX-F1-F9; no allocation; the
 * solve uses the caller's scratch of 2 n int32 and a few hundred bytes of
 * stack.
 */
#ifndef PHYFF_LEARN_H
#define PHYFF_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "phyff/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PHYFF_LEARN_FEATURE_SHIFT 4u
#define PHYFF_LEARN_MAX_SAMPLES 511u
#define PHYFF_LEARN_MAX_WIDTH 127u /* n = F + 1 <= 128 */
#define PHYFF_LEARN_Q 24u
#define PHYFF_LEARN_RESCALE 8u
#define PHYFF_LEARN_RETRIES 2u
#define PHYFF_LEARN_MAX_LAMBDA_SHIFT 60u

enum phyff_learn_status {
    PHYFF_LEARN_OK = 0,
    PHYFF_LEARN_FULL = 1,       /* RF-A4: the sample cap is reached */
    PHYFF_LEARN_BAD_LABEL = 2,  /* label >= n_classes */
    PHYFF_LEARN_TOO_FEW = 3,    /* RF-S1: N < 2 or a class without samples */
    PHYFF_LEARN_TOO_WIDE = 4,   /* RF-S1: F out of 1..PHYFF_LEARN_MAX_WIDTH */
    PHYFF_LEARN_BAD_LAMBDA = 5, /* RF-S1 */
    PHYFF_LEARN_SINGULAR = 6,   /* RF-S2, RF-S4 */
    PHYFF_LEARN_OVERFLOW = 7,   /* RF-S4, RF-S5, RF-Q2, RF-Q3 */
    PHYFF_LEARN_NO_READOUT = 8  /* RF-S1: a goodness model has no read-out */
};

/* Bytes of the statistics of a read-out of `width` features and n_classes
 * classes (RF-M1); the area is ceil(bytes / 4) int32 words. */
size_t phyff_learn_area_size(uint16_t width, uint16_t n_classes);

/* Clear the statistics (RF-M1: all zero bytes). */
void phyff_learn_clear(int32_t *area, uint16_t width, uint16_t n_classes);

/* Samples accumulated so far (G_FF). */
uint32_t phyff_learn_samples(const int32_t *area, uint16_t width);

/* Samples of class c accumulated so far (count_c). */
uint16_t phyff_learn_class_samples(const int32_t *area, uint16_t width,
                                   uint16_t n_classes, uint16_t c);

/* RF-A1: the read-out feature of block output value y (|y| when abs). */
int16_t phyff_learn_feature(int16_t y, bool readout_abs);

/* RF-A2-A4: add one sample of read-out features f (width values) with its
 * label. Returns PHYFF_LEARN_OK, PHYFF_LEARN_BAD_LABEL, PHYFF_LEARN_FULL or
 * PHYFF_LEARN_TOO_WIDE (width > PHYFF_LEARN_MAX_WIDTH). */
PHYFF_NODISCARD
enum phyff_learn_status phyff_learn_add(int32_t *area, uint16_t width, uint16_t n_classes,
                                        const int16_t *f, uint16_t label);

/* RF-S1-Q5: solve and write the new read-out into image (the bytes view was
 * checked from; the caller re-checks the image afterwards to refresh view).
 * scratch: 2 (width + 1) int32. *cond_bits receives the conditioning figure
 * (RF-S4) of a successful refit, else 0. */
PHYFF_NODISCARD
enum phyff_learn_status phyff_learn_refit(int32_t *area, const struct phyff_model_view *view,
                                          uint8_t *image, uint8_t lambda_shift,
                                          int32_t *scratch, uint8_t *cond_bits);

#ifdef __cplusplus
}
#endif

#endif /* PHYFF_LEARN_H */
