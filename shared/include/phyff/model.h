/*
 * phyff/model.h - the on-device model: its image format and the integer
 * pipeline that runs it. The board core (firmware) and the host's numpy
 * reference (host/phyff/ondevice/reference.py) implement exactly this; the
 * host builds images (phyff deploy) and checks the board bit for bit.
 *
 * ===========================================================================
 * What runs on the board
 * ===========================================================================
 *
 * A trained PhyLL network is K blocks. Block k takes a real vector h,
 * encodes it into a drive pattern, measures the medium (p = sensed values),
 * and maps z = [p, h] (or [p], or [h]) through a digital affine map
 * y = W z + b; y is the next block's h. Classification is either one-pass
 * (the input with a neutral label overlay goes through once, a linear
 * read-out of the block outputs gives the class scores) or by goodness (the
 * input goes through once per candidate label; the class whose overlay
 * makes the blocks' summed goodness largest wins).
 *
 * Number formats (fixed.h)
 *   M-M1. A vector of reals is stored as int16 q with an exponent e per vector
 *       kind: value = q * 2^(e - 15) (Q15 scaled by 2^e). Sensed values are
 *       plain Q15 (e = 0). Weights of one segment (the columns acting on p,
 *       or on h) share one exponent; the image stores q and the shifts
 *       derived from the exponents, not the exponents themselves, except
 *       where a client needs them (input_exp, score_exp, block exponents).
 *   M-M2. Accumulation (an affine map, the read-out): the exact int64 sum of
 *       the products of each segment (fixed.h FX-F5), multiplied by
 *       2^shift_segment, plus bias * 2^shift_b, all exact in int64 (the
 *       limits below keep |acc| < 2^61 in an affine map and < 2^62.2 in
 *       the read-out, so the half added by the rounding never overflows
 *       int64); then ONE round-and-shift by
 *       shift_out (fixed.h FX-F3: add half, floor; shift_out = 0 leaves acc
 *       as it is) and one saturation (FX-F2) to int16 (block outputs) or int32
 *       (scores). A saturation flags the sample.
 *
 * The pipeline, per sample (x: n_features int16 at input_exp)
 *   M-P1. Layout: h0 = zeros(width); h0[feature_offset + j] = x[j].
 *   M-P2. Overlay value v = min(max_j |h0[j]|, 32767) over the row with the
 *       label slots (0..n_classes-1) at 0. Neutral overlay (one-pass): every
 *       label slot = (v + floor(C / 2)) div C (integer division, C =
 *       n_classes). Label c (goodness): slot c = v, the others 0.
 *   M-P3. Encode h (d_in int16) into n_drive Q15 drive values in [0, 32767]:
 *       amplitude: a = isqrt(sum h_j^2) (fixed.h FX-F7); drive_j =
 *         min(32767, (|h_j| * 32768 + floor(a / 2)) div a); a = 0 -> all 0
 *         (|h_j| exact: |-32768| = 32768).
 *       phase: lo = min h, span = max h - lo; drive_j =
 *         ((h_j - lo) * 32767 + floor(span / 2)) div span; span = 0 -> all 0.
 *       binary2: with d = h_j - lo: msb = 4d > span, lsb = (d > 0 and
 *         4d <= span) or 4d > 3 span; drive[2j] = 32767 * msb, drive[2j+1]
 *         = 32767 * lsb (span = 0 -> all 0).
 *       binary2_uniform: level = min((4d) div span, 3); msb = level >= 2,
 *         lsb = level odd (span = 0 -> all 0).
 *       clip: drive_j = clamp(h_j * 2^in_exp, 0, 32767), the product formed
 *         as a left shift (in_exp > 0) or a round-and-shift (FX-F3, in_exp < 0).
 *   M-P4. Measure (physical blocks): the drive values go through the same
 *       steps as a QUERY sample (wire.h QUERY, CORE-K3, CORE-K4) with the block's
 *       settle_us, oversample and n_drive / n_sense active channels; p =
 *       the n_sense sensed Q15 values; a top code flags the sample.
 *   M-P5. Affine map (M-M2): segments p (columns 0..n_sense-1, shift_p) and h
 *       (the next d_in columns, shift_h) as the block's flags say; y =
 *       sat16(round_shift(acc, shift_out)), exponent out_exp.
 *   M-P6. One-pass: read-out features f_k = |y_k| (sat16: |-32768| -> 32767)
 *       when readout_abs, else y_k; acc_c = sum_k (R_c,k . f_k) *
 *       2^readout_shift_k + rb_c * 2^shift_b; score_c = sat32(round_shift(
 *       acc_c, shift_out)), scaled by 2^(score_exp - 31).
 *       Goodness (cosine only): per block G_k = round((sum_j |y_j| xi_j) /
 *       isqrt(sum_j y_j^2)) as Q15 (division rounds half up, floor((2n +
 *       d) / (2d)); sum of squares 0 -> G = 0); score_c = sum_k G_k for the
 *       overlay of label c (score_exp = 16). Here |y_j| is exact, formed in
 *       32 bits: |-32768| = 32768, unlike the read-out's features above,
 *       which saturate |-32768| to 32767.
 *   Digital blocks (flags without PHYFF_BLOCK_PHYSICAL, so SKIP alone: z =
 *       [h]) skip M-P3 and M-P4: nothing is encoded, driven or sensed, they add
 *       no value to an INFER trace (trace_values counts physical blocks
 *       only) and no medium time; M-P5 onwards is the same.
 *   M-P7. class = the first index of the largest score.
 *
 * Image layout (little-endian, no padding, byte offsets)
 *   struct phyff_model_head (72 bytes), then per block: struct
 *   phyff_block_head (24 bytes), W (d_out x z int16, row-major, columns
 *   [p | h]), b (d_out int16), xi (d_out int16, Q15 goodness direction);
 *   then, for one-pass models only: struct phyff_readout_head (8 bytes),
 *   R (n_classes x n_in int16, row-major, columns block by block), rb
 *   (n_classes int16); then, with overlay 1, the code section (M-L1); then,
 *   optionally, the description section (M-D1). The image ends there: its
 *   size is exactly that.
 *
 * Rules a board checks before a model is put in force (phyff_model_check).
 * M-V1-V5 are checked field by field in image order and the first refused
 * field's offset is reported; a rule on several fields is reported at the
 * field it is listed under below (the scratch rule at the block's d_in, the
 * drive width at n_drive). M-V6 is checked only for an image that passes
 * M-V1-V5, so a structural fault wins over a wrong board:
 *   M-V1. size >= 72; magic == PHYFF_MODEL_MAGIC; version == 1.
 *   M-V2. 1 <= n_blocks <= PHYFF_MODEL_MAX_BLOCKS; inference is 0 or 1;
 *       1 <= n_features; 2 <= n_classes <= limits->max_classes;
 *       n_classes + n_features <= width <= limits->work_values;
 *       feature_offset >= n_classes; feature_offset + n_features <= width
 *       (overlay 1: M-L1 instead); overlay is 0 or 1; readout_abs is 0 or 1;
 *       -32 <= input_exp, score_exp <= 32.
 *   M-V3. Per block: encoder known; flags only PHYFF_BLOCK_PHYSICAL and
 *       PHYFF_BLOCK_SKIP, and z not empty; d_in == width (block 0) or the
 *       previous d_out; in_exp == input_exp (block 0) or the previous
 *       out_exp; -32 <= out_exp <= 32; n_drive == d_in x (2 for binary2*,
 *       else 1) (rows > 0: M-R1 instead); 1 <= d_out;
 *       physical: 1 <= n_drive <= limits->n_drive and 1 <= n_sense <=
 *       limits->n_sense, settle_us <= limits->max_settle_us, 1 <=
 *       oversample <= limits->max_oversample (these four for physical
 *       blocks only: a digital block's n_sense, settle_us and oversample
 *       are neither checked nor used, but its n_drive must still equal
 *       the encoder's width and n_drive and n_sense still count in the
 *       scratch rule below; every other rule of M-V3 holds for every block);
 *       shift_p, shift_h <= 16,
 *       shift_b <= 40, shift_out <= 62, readout_shift <= 16; rows <=
 *       PHYFF_MODEL_MAX_ROWS and 0 unless physical (M-R1); every slot < W
 *       (reported at the slot); the per-sample scratch (d_in + n_drive +
 *       n_sense + d_out values, M-R3 with rows, reported at d_in) fits
 *       limits->work_values (<= 16384, which with these shifts bounds every
 *       accumulator as M-M2 says).
 *   M-V4. One-pass: readout n_in == sum of d_out, n_classes == the head's,
 *       shift_b <= 40, shift_out <= 62, refit_samples <= 511 (level 5:
 *       the samples a board's REFIT used, learn.h RF-Q5; 0 for a read-out
 *       trained on the host; level 4 required 0). (Goodness models use
 *       the cosine goodness: no other kind is stored.)
 *   M-V5. The size equals the layout's exactly, or the layout plus one
 *       description section (M-D1-D3). A size that ends inside the head,
 *       a block head, the read-out head or the code head is refused there
 *       (M-L1's gain, reserved and codes are checked in order); every size
 *       fault reports the image's size. Then the sensed values of one
 *       sample (n_sense summed over physical blocks, times n_classes for
 *       goodness: MODEL_INFO trace_values) fit 65535, else n_blocks (6).
 *   M-V6. train_unit_id == the board's unit_id and train_medium == its
 *       medium name (PHYFF_ERR_WRONG_BOARD).
 *
 * ===========================================================================
 * Blocks wider than the board and the class-code overlay (protocol level 4)
 * ===========================================================================
 *
 * A problem wider than the board's drive channels is driven as R device
 * rows per block, and its label may be a class code added to the features
 * instead of label slots. Both are marked in fields that level 3 required
 * to be 0, so a level-3 board refuses such an image (its M-V2 overlay 0,
 * its M-V3 reserved byte 23 = 0) instead of misreading it. Images without
 * them are unchanged.
 *   M-R1. Block head byte 23 `rows`: 0 = the plain block above (one row,
 *       n_drive == the drive width). 1..PHYFF_MODEL_MAX_ROWS = R rows: the
 *       encoder still writes the drive width W = d_in x (2 for binary2*,
 *       else 1) values; n_drive is then the drive channels of ONE row
 *       (1 <= n_drive <= limits->n_drive), and the block's xi is followed
 *       by its slot map: R x n_drive uint16 (row-major), entry r x n_drive
 *       + j = the drive value (< W) channel j takes in row r.
 *   M-R2. M-P4 with rows: for r = 0..R-1 in order, channel j is driven with
 *       drive[slot[r][j]] and the row is measured as one QUERY sample;
 *       p = the R x n_sense sensed values, row after row. A top code in
 *       any row flags the sample.
 *   M-R3. M-P5 with rows: the p segment has R x n_sense columns (shift_p); z
 *       = [p | h] as before. The scratch of M-V3 counts d_in + W + R x
 *       n_sense + d_out values; trace_values (M-V5) counts R x n_sense per
 *       physical block and pass.
 *   M-L1. Head byte 22 `overlay`: 0 = label slots (M-P2); 1 = class code
 *       (PHYFF_OVERLAY_CODE). With 1, M-V2 reads: n_features <= width,
 *       feature_offset + n_features <= width (no label slots), and the
 *       image ends with the code section: struct phyff_code_head (4
 *       bytes), then n_classes x n_features int8 codes (row-major, each -1
 *       or +1; 0 is refused); gain_q8 <= 1024 (gain = gain_q8 / 256).
 *   M-L2. M-P2 with a code: v as in M-P2 (over the features); a = (v x gain_q8 +
 *       128) >> 8. Label c: h0[feature_offset + j] = sat16(x[j] +
 *       code[c][j] x a). Neutral: s_j = sum over c of code[c][j];
 *       h0[feature_offset + j] = sat16(x[j] + round(v x gain_q8 x s_j /
 *       (256 C))), the division rounding half up (as M-P6's goodness). A
 *       saturation flags the sample.
 *
 * ===========================================================================
 * The description: from raw values to INFER (protocol level 5)
 * ===========================================================================
 *
 * An image may end with a description section that says how raw
 * measurements become the model's int16 inputs, what the features and the
 * classes are called, and how far the training values reached. The board
 * keeps it and serves it (wire.h MODEL_DESCRIBE); nothing in the pipeline
 * reads it. With it, a host that is not phyff reads what it needs from the
 * board, sends raw values scaled as M-D4 says, and names the classes.
 * Images without it are unchanged (a level-4 image is a valid level-5 one).
 *   M-D1. Where: right after the layout of M-V5 (after the read-out of a
 *       one-pass model, after the code section of M-L1). An image whose size
 *       equals its layout has none; bytes after the layout that begin with
 *       PHYFF_DESCRIBE_MAGIC are one, and it ends the image. Bytes after the
 *       layout that do not begin with it (fewer than 4, or another value)
 *       are a size fault of M-V5, reported at the image's size.
 *   M-D2. Layout (little-endian, no padding, offsets from the section's
 *       start): struct phyff_describe_head (16 bytes); scale: n_features
 *       float32 (IEEE 754 binary32); limit: n_features float32; then, when
 *       flags has PHYFF_DESCRIBE_FEATURE_NAMES, n_features feature names in
 *       feature order; then n_classes class names in class order. A name is
 *       UTF-8 text ended by one 0x00 byte (it holds no other 0x00; it may be
 *       empty). The section ends with the last class name's 0x00.
 *   M-D3. The board checks the section's structure only, after M-V1-V5's
 *       layout and before M-V6, first refused field in section order, the
 *       offset reported in the image: fewer than 16 bytes after the layout
 *       -> the image's size; length != the bytes after the layout -> length;
 *       n_features or n_classes != the model head's -> that field; flags
 *       with a bit other than CLIP and FEATURE_NAMES -> flags; reserved != 0
 *       -> reserved; the float arrays reach past the end -> the image's size;
 *       a name whose 0x00 is missing before the end -> the name's first
 *       byte; bytes after the last class name -> the first of them. No float
 *       value, range_q8 or UTF-8 is checked by the board: hosts check them
 *       (M-D5).
 *   M-D4. From a raw row r (n_features reals in the units the model was
 *       trained on) to the INFER features q (int16, Q15 scaled by
 *       2^input_exp, MODEL_INFO input_exp), for every feature j:
 *       s_j = r_j / scale_j, computed in double precision with scale_j
 *       widened exactly from its float32; with CLIP, s_j = min(max(s_j, -1),
 *       1); q_j = sign(s_j) x floor(|s_j| x 2^(15 - input_exp) + 1/2) (round
 *       half away from zero, fixed.h FX-F6), saturated to -32768..32767
 *       (FX-F2). A q_j that saturated does not fit the model's input: hosts
 *       flag the row.
 *   M-D5. Out of range: feature j of a row lies outside what the model was
 *       trained on when |r_j / scale_j| (before clipping) > (range_q8 / 256)
 *       x limit_j, where limit_j is the largest |s_j| over the training split
 *       (in the model's input scale, not in raw units; phyff raises it to
 *       the data's known range where there is one, e.g. 1 for pixels / 255). Hosts flag such rows:
 *       their classes are guesses. A host refuses a description whose scale
 *       is not finite and > 0, whose limit is not finite and >= 0, whose
 *       range_q8 is 0, or whose names are not UTF-8.
 *
 * Code contracts: as wire.h W-P1-P5 and fixed.h FX-F1-F9. Images are read byte
 * by byte (W-W3), so they may sit at any address in RAM or flash.
 *
 * Models compiled into the firmware (phyff export)
 *   M-C1. Every byte of an image is read through phyff_model_byte's rule: a
 *       plain load on targets with one address space; on AVR (where flash
 *       and RAM are separate) an image is in program memory (PROGMEM) and is
 *       read with pgm_read_byte, so an AVR core holds no model in RAM
 *       (phyff_core.h: PHYFF_CORE_MODEL_BYTES is 0 there).
 *   M-C2. A compiled-in image is checked at start-up by exactly the rules a
 *       loaded one is (M-V1-V6: its board identity and channel layout); one
 *       that fails is not served, and the board reports why (phyff_core.h).
 */
#ifndef PHYFF_MODEL_H
#define PHYFF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phyff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PHYFF_MODEL_MAGIC 0x4D594850u /* "PHYM" little-endian */
#define PHYFF_MODEL_VERSION 1u
#define PHYFF_MODEL_MAX_BLOCKS 8u
#define PHYFF_MODEL_MAX_ROWS 64u    /* M-R1: device rows per block and sample */
#define PHYFF_OVERLAY_SLOTS 0u      /* head.overlay: label slots (M-P2) */
#define PHYFF_OVERLAY_CODE 1u       /* head.overlay: class code (M-L1, M-L2) */
#define PHYFF_CODE_GAIN_MAX 1024u   /* M-L1: gain_q8 <= 4.0 */

enum phyff_inference {
    PHYFF_INFERENCE_ONEPASS = 0, /* neutral overlay once, linear read-out */
    PHYFF_INFERENCE_GOODNESS = 1 /* one pass per label, summed cosine goodness */
};

enum phyff_encoder {
    PHYFF_ENC_AMPLITUDE = 0,
    PHYFF_ENC_BINARY2 = 1,
    PHYFF_ENC_BINARY2_UNIFORM = 2,
    PHYFF_ENC_PHASE = 3,
    PHYFF_ENC_CLIP = 4
};

enum phyff_block_flag {
    PHYFF_BLOCK_PHYSICAL = 0x01, /* z starts with the sensed values p */
    PHYFF_BLOCK_SKIP = 0x02      /* z ends with the block input h */
};

struct phyff_model_head {
    uint32_t magic;          /* PHYFF_MODEL_MAGIC */
    uint16_t version;        /* PHYFF_MODEL_VERSION */
    uint8_t n_blocks;
    uint8_t inference;       /* enum phyff_inference */
    uint16_t n_features;
    uint16_t n_classes;
    uint16_t width;          /* first block's input width */
    uint16_t feature_offset; /* where the features start in it */
    uint32_t train_unit_id;
    int8_t input_exp;
    int8_t score_exp;
    uint8_t overlay;         /* PHYFF_OVERLAY_SLOTS or _CODE (M-L1); per-sample value */
    uint8_t readout_abs;     /* 1: read-out of |y|; 0: of y */
    char name[PHYFF_NAME_SIZE];
    char train_board[PHYFF_NAME_SIZE];
    char train_medium[PHYFF_NAME_SIZE];
};

struct phyff_block_head {
    uint8_t encoder;     /* enum phyff_encoder */
    uint8_t flags;       /* enum phyff_block_flag */
    uint16_t d_in;
    uint16_t n_drive;
    uint16_t n_sense;
    uint16_t d_out;
    int8_t in_exp;
    int8_t out_exp;
    uint8_t shift_p;
    uint8_t shift_h;
    uint8_t shift_b;
    uint8_t shift_out;
    uint32_t settle_us;
    uint16_t oversample;
    uint8_t readout_shift; /* this block's segment of the read-out */
    uint8_t rows;          /* M-R1: 0 plain, else device rows per sample (level 4) */
};

/* M-V4: the most samples a refitted read-out records (learn.h RF-A4's cap). */
#define PHYFF_MODEL_MAX_REFIT_SAMPLES 511u

struct phyff_readout_head {
    uint16_t n_in;
    uint16_t n_classes;
    uint8_t shift_b;
    uint8_t shift_out;
    uint16_t refit_samples; /* M-V4: 0, or the samples a board's refit used (<= 511) */
};

/* M-D1-D2: the optional description section at the very end of an image. */
#define PHYFF_DESCRIBE_MAGIC 0x44594850u /* "PHYD" little-endian */
#define PHYFF_DESCRIBE_HEAD_SIZE 16u
#define PHYFF_DESCRIBE_RANGE_Q8 384u     /* the range factor phyff writes: 1.5 x 256 */

enum phyff_describe_flag {
    PHYFF_DESCRIBE_CLIP = 0x01,         /* scaled values are clipped to [-1, 1] (M-D4) */
    PHYFF_DESCRIBE_FEATURE_NAMES = 0x02 /* the section names the features (M-D2) */
};

struct phyff_describe_head {
    uint32_t magic;      /* PHYFF_DESCRIBE_MAGIC */
    uint32_t length;     /* bytes of the whole section, this head included */
    uint16_t n_features; /* == the model head's */
    uint16_t n_classes;  /* == the model head's */
    uint8_t flags;       /* enum phyff_describe_flag bits */
    uint8_t reserved;    /* 0 */
    uint16_t range_q8;   /* out-of-range factor x 256 (M-D5) */
};

/* M-L1: the class-code section at the end of an image with overlay == 1. */
struct phyff_code_head {
    uint16_t gain_q8;  /* code amplitude relative to the overlay value, / 256 */
    uint16_t reserved; /* 0 */
};

#define PHYFF_CODE_HEAD_SIZE 4u
#define PHYFF_MODEL_HEAD_SIZE 72u
#define PHYFF_BLOCK_HEAD_SIZE 24u
#define PHYFF_READOUT_HEAD_SIZE 8u

PHYFF_STATIC_ASSERT(sizeof(struct phyff_model_head) == PHYFF_MODEL_HEAD_SIZE, "model head layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_model_head, train_unit_id) == 16, "head.unit offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_model_head, name) == 24, "head.name offset");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_model_head, train_medium) == 56, "head.medium offset");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_block_head) == PHYFF_BLOCK_HEAD_SIZE, "block head layout");
PHYFF_STATIC_ASSERT(offsetof(struct phyff_block_head, settle_us) == 16, "block.settle offset");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_readout_head) == PHYFF_READOUT_HEAD_SIZE, "readout layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_code_head) == PHYFF_CODE_HEAD_SIZE, "code head layout");
PHYFF_STATIC_ASSERT(sizeof(struct phyff_describe_head) == PHYFF_DESCRIBE_HEAD_SIZE,
                    "describe head layout");

void phyff_model_head_pack(const struct phyff_model_head *h, uint8_t out[PHYFF_MODEL_HEAD_SIZE]);
void phyff_model_head_unpack(const uint8_t in[PHYFF_MODEL_HEAD_SIZE], struct phyff_model_head *h);
void phyff_block_head_pack(const struct phyff_block_head *b, uint8_t out[PHYFF_BLOCK_HEAD_SIZE]);
void phyff_block_head_unpack(const uint8_t in[PHYFF_BLOCK_HEAD_SIZE], struct phyff_block_head *b);
void phyff_readout_head_pack(const struct phyff_readout_head *r,
                             uint8_t out[PHYFF_READOUT_HEAD_SIZE]);
void phyff_readout_head_unpack(const uint8_t in[PHYFF_READOUT_HEAD_SIZE],
                               struct phyff_readout_head *r);
void phyff_code_head_pack(const struct phyff_code_head *c, uint8_t out[PHYFF_CODE_HEAD_SIZE]);
void phyff_code_head_unpack(const uint8_t in[PHYFF_CODE_HEAD_SIZE], struct phyff_code_head *c);
void phyff_describe_head_pack(const struct phyff_describe_head *d,
                              uint8_t out[PHYFF_DESCRIBE_HEAD_SIZE]);
void phyff_describe_head_unpack(const uint8_t in[PHYFF_DESCRIBE_HEAD_SIZE],
                                struct phyff_describe_head *d);

/* What the board allows (from its caps and its core's buffers). */
struct phyff_model_limits {
    uint32_t unit_id;
    char medium[PHYFF_NAME_SIZE];
    uint16_t n_drive;
    uint16_t n_sense;
    uint16_t max_oversample;
    uint32_t max_settle_us;
    uint16_t max_classes;
    uint32_t work_values; /* int16 scratch values per sample */
};

/* A checked image: its head, and where each block and the read-out start. */
struct phyff_model_view {
    const uint8_t *image;
    uint32_t size;
    struct phyff_model_head head;
    struct phyff_block_head blocks[PHYFF_MODEL_MAX_BLOCKS];
    uint32_t block_at[PHYFF_MODEL_MAX_BLOCKS]; /* offset of W of block k */
    struct phyff_readout_head readout;
    uint32_t readout_at;    /* offset of R (one-pass) */
    uint16_t trace_values;  /* sensed values per sample (all passes) */
    uint16_t readout_width; /* sum of d_out */
    uint32_t slots_at[PHYFF_MODEL_MAX_BLOCKS]; /* M-R1: offset of block k's slot map (0: none) */
    struct phyff_code_head code; /* M-L1 (overlay == 1) */
    uint32_t code_at;            /* offset of the codes (0: label slots) */
    uint32_t describe_at;        /* M-D1: offset of the description section (0: none) */
};

/* M-R1: device rows per sample of block k (1 for a plain block). */
uint16_t phyff_block_rows(const struct phyff_block_head *b);

/* M-R1: drive width W the encoder of block k writes. */
uint16_t phyff_block_drive_width(const struct phyff_block_head *b);

/* M-R1: the drive value channel j takes in row r of block k. */
uint16_t phyff_infer_slot(const struct phyff_model_view *view, unsigned k, uint16_t r,
                          uint16_t j);

/* Check image[0..size) against M-V1-V6 and fill *view. Returns PHYFF_OK,
 * PHYFF_ERR_BAD_MODEL or PHYFF_ERR_WRONG_BOARD with *bad_offset = the
 * byte offset of the refused field (M-V5: the image's size). */
PHYFF_NODISCARD
enum phyff_status phyff_model_check(const uint8_t *image, uint32_t size,
                                    const struct phyff_model_limits *limits,
                                    struct phyff_model_view *view, uint32_t *bad_offset);

/* Scratch values (int16) the pipeline needs per sample for this model. */
uint32_t phyff_model_work_values(const struct phyff_model_view *view);

/* M-P1-P2: h (width values) from features x (n_features) and label (-1:
 * neutral overlay). Returns true when the overlay value saturated. */
bool phyff_infer_layout(const struct phyff_model_view *view, const int16_t *x, int label,
                        int16_t *h);

/* M-P3: drive (the drive width W of Q15 values, M-R1) of block k from its input h (d_in). */
void phyff_infer_encode(const struct phyff_model_view *view, unsigned k, const int16_t *h,
                        int16_t *drive);

/* M-P5: y (d_out) of block k from p (R x n_sense, ignored unless physical) and h
 * (d_in). Returns true when an output saturated. y must not alias p or h. */
bool phyff_infer_affine(const struct phyff_model_view *view, unsigned k, const int16_t *p,
                        const int16_t *h, int16_t *y);

/* M-P6 one-pass: add block k's read-out segment of y to acc (n_classes). */
void phyff_infer_readout_add(const struct phyff_model_view *view, unsigned k, const int16_t *y,
                             int64_t *acc);

/* M-P6 one-pass: scores from acc (the bias is added here). Returns true when a
 * score saturated. */
bool phyff_infer_readout_finish(const struct phyff_model_view *view, const int64_t *acc,
                                int32_t *scores);

/* M-P6 goodness: G_k of block k's output y, Q15. */
int32_t phyff_infer_goodness(const struct phyff_model_view *view, unsigned k, const int16_t *y);

/* M-D1: bytes of the checked image's description section (0: it has none). */
uint32_t phyff_model_describe_size(const struct phyff_model_view *view);

/* M-C1: byte `at` of an image (in program memory on AVR). */
uint8_t phyff_model_byte(const uint8_t *image, uint32_t at);

/* M-P7: first index of the largest of n scores (n >= 1). */
uint16_t phyff_argmax_s32(const int32_t *scores, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* PHYFF_MODEL_H */
