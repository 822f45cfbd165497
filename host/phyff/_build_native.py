"""cffi (API mode) build of ``phyff._native`` from the project's shared C.

The host compiles the very same C files as the firmware: ``shared/`` (fixed
point and wire format) and, for the emulated board, the firmware's core. The
declarations below name functions, structs and enum members only; every value
(enum numbers, sizes, the protocol level) comes from the C headers at compile
time through cffi's ``...`` placeholders, so no number is copied into Python.
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"
FIRMWARE = ROOT / "firmware"

SOURCES = [
    SHARED / "src" / "fixed.c",
    SHARED / "src" / "wire.c",
    FIRMWARE / "src" / "core" / "phyff_core.c",
    FIRMWARE / "ports" / "host" / "host_port.c",
]
INCLUDE_DIRS = [
    SHARED / "include",
    FIRMWARE / "src",
    FIRMWARE / "src" / "core",
    FIRMWARE / "ports" / "host",
]
# The emulated board is a roomy microcontroller: large frames (fewer round
# trips in process) and media with many channels (optics).
DEFINES = [
    ("PHYFF_CORE_MAX_PAYLOAD", "65535u"),
    ("PHYFF_CORE_MAX_CHANNELS", "1024u"),
    ("PHYFF_CORE_MAX_DRIVE_STAGE", "1024u"),
]

CDEF = """
// ---- fixed.h ----
int16_t phyff_sat_q15(int32_t x);
int32_t phyff_sat_q31(int64_t x);
int16_t phyff_q15_add(int16_t a, int16_t b);
int16_t phyff_q15_sub(int16_t a, int16_t b);
int16_t phyff_q15_mul(int16_t a, int16_t b);
int32_t phyff_q31_add(int32_t a, int32_t b);
int32_t phyff_q31_sub(int32_t a, int32_t b);
int32_t phyff_q31_mul(int32_t a, int32_t b);
int32_t phyff_q15_to_q31(int16_t v);
int16_t phyff_q31_to_q15(int32_t v);
int16_t phyff_q15_from_double(double x);
double phyff_q15_to_double(int16_t v);
uint16_t phyff_isqrt_u32(uint32_t x);
uint32_t phyff_isqrt_u64(uint64_t x);
int64_t phyff_dot_q15_acc64(const int16_t *a, const int16_t *b, size_t n);
int32_t phyff_dot_q15_acc32(const int16_t *a, const int16_t *b, size_t n);
int16_t phyff_dot_q15(const int16_t *a, const int16_t *b, size_t n);
void phyff_matvec_q15(const int16_t *w, size_t rows, size_t cols,
                      const int16_t *x, int16_t *y);
void phyff_matvec_q15_acc64(const int16_t *w, size_t rows, size_t cols,
                            const int16_t *x, int64_t *acc);
void phyff_matmul_q15(const int16_t *w, size_t rows, size_t cols,
                      const int16_t *x, size_t batch, int16_t *y);
void phyff_q15_from_double_array(const double *x, int16_t *out, size_t n);
void phyff_q15_to_double_array(const int16_t *v, double *out, size_t n);

// ---- wire.h ----
#define PHYFF_PROTOCOL_LEVEL ...
#define PHYFF_HEADER_SIZE ...
#define PHYFF_CRC_SIZE ...
#define PHYFF_MAX_PAYLOAD_LIMIT ...
#define PHYFF_NAME_SIZE ...
#define PHYFF_CRC_INIT ...
#define PHYFF_ERROR_SIZE ...
#define PHYFF_EVENT_SIZE ...
#define PHYFF_CAPS_SIZE ...
#define PHYFF_CONFIG_SIZE ...
#define PHYFF_QUERY_HEAD_SIZE ...
#define PHYFF_STATS_SIZE ...

enum phyff_cmd {
    PHYFF_CMD_NONE, PHYFF_CMD_HELLO, PHYFF_CMD_CONFIGURE, PHYFF_CMD_QUERY,
    PHYFF_CMD_STATS, PHYFF_CMD_RESET, PHYFF_CMD_INFER_FIRST, PHYFF_CMD_INFER_LAST,
    PHYFF_CMD_EVENT, ...
};
enum phyff_flag { PHYFF_FLAG_REPLY, PHYFF_FLAG_ERROR, PHYFF_FLAG_EVENT, ... };
enum phyff_event_id { PHYFF_EVENT_RESET, ... };
enum phyff_status {
    PHYFF_OK, PHYFF_ERR_BAD_CRC, PHYFF_ERR_TRUNCATED, PHYFF_ERR_TOO_LONG,
    PHYFF_ERR_BAD_COBS, PHYFF_ERR_BAD_LEVEL, PHYFF_ERR_NO_SPACE, PHYFF_ERR_EMPTY,
    PHYFF_ERR_UNKNOWN_COMMAND, PHYFF_ERR_BAD_PAYLOAD, PHYFF_ERR_BATCH_TOO_LARGE,
    PHYFF_ERR_BAD_CHANNELS, PHYFF_ERR_BAD_CONFIG, PHYFF_ERR_OVERRUN, PHYFF_ERR_MEDIUM,
    PHYFF_ERR_NOT_A_REQUEST, ...
};
enum phyff_feature {
    PHYFF_FEAT_SATURATION_FLAGS, PHYFF_FEAT_SETTLE, PHYFF_FEAT_OVERSAMPLE,
    PHYFF_FEAT_CHANNEL_SELECT, PHYFF_FEAT_EMULATED, ...
};

struct phyff_header { uint8_t level; uint8_t seq; uint8_t cmd; uint8_t flags;
                      uint16_t length; uint16_t aux; };
struct phyff_error { uint16_t status; uint16_t arg; };
struct phyff_event { uint16_t event; uint16_t arg; };
struct phyff_caps { uint8_t level; uint8_t reserved0; uint16_t features;
                    uint32_t firmware_version; uint32_t unit_id; uint16_t max_batch;
                    uint16_t max_payload; uint16_t n_drive; uint16_t n_sense;
                    uint8_t dac_bits; uint8_t adc_bits; uint16_t max_oversample;
                    char board[]; char medium[]; uint32_t max_settle_us; ...; };
struct phyff_config { uint32_t settle_us; uint16_t oversample; uint16_t n_drive_active;
                      uint16_t n_sense_active; uint16_t reserved; };
struct phyff_query_head { uint16_t n_samples; uint16_t n_channels; };
struct phyff_stats { uint32_t frames_ok; uint32_t crc_errors; uint32_t framing_errors;
                     uint32_t bad_commands; uint32_t overruns; uint32_t samples_served;
                     uint32_t error_replies; uint32_t uptime_ms; };

uint16_t phyff_crc16(uint16_t crc, const uint8_t *data, size_t n);
enum phyff_status phyff_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst,
                                    size_t cap, size_t *out_len);
enum phyff_status phyff_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst,
                                    size_t cap, size_t *out_len);
enum phyff_status phyff_frame_encode(const struct phyff_header *hdr, const uint8_t *payload,
                                     size_t payload_len, uint8_t *out, size_t cap,
                                     size_t *out_len);
enum phyff_status phyff_frame_decode(uint8_t *buf, size_t n, size_t max_payload,
                                     struct phyff_header *hdr, const uint8_t **payload,
                                     size_t *payload_len);
enum phyff_status phyff_check_level(const struct phyff_header *hdr);
void phyff_caps_pack(const struct phyff_caps *c, uint8_t *out);
void phyff_caps_unpack(const uint8_t *in, struct phyff_caps *c);
void phyff_config_pack(const struct phyff_config *c, uint8_t *out);
void phyff_config_unpack(const uint8_t *in, struct phyff_config *c);
void phyff_stats_pack(const struct phyff_stats *s, uint8_t *out);
void phyff_stats_unpack(const uint8_t *in, struct phyff_stats *s);
void phyff_error_pack(const struct phyff_error *e, uint8_t *out);
void phyff_error_unpack(const uint8_t *in, struct phyff_error *e);
void phyff_event_pack(const struct phyff_event *e, uint8_t *out);
void phyff_event_unpack(const uint8_t *in, struct phyff_event *e);
void phyff_query_head_pack(const struct phyff_query_head *q, uint8_t *out);
void phyff_query_head_unpack(const uint8_t *in, struct phyff_query_head *q);
void phyff_header_pack(const struct phyff_header *h, uint8_t *out);
void phyff_header_unpack(const uint8_t *in, struct phyff_header *h);
void phyff_samples_pack(const int16_t *v, size_t n, uint8_t *out);
void phyff_samples_unpack(const uint8_t *in, size_t n, int16_t *v);
const char *phyff_status_name(int status);

// ---- medium_link.h ----
#define PHYFF_MEDIUM_DESC_SIZE ...
#define PHYFF_MEASURE_HEAD_SIZE ...
enum phyff_medium_cmd { PHYFF_MEDIUM_DESCRIBE, PHYFF_MEDIUM_MEASURE, ... };
struct phyff_medium_desc { uint16_t n_drive; uint16_t n_sense; uint8_t dac_bits;
                           uint8_t adc_bits; uint16_t reserved; uint32_t unit_id;
                           char medium[]; ...; };
struct phyff_measure_head { uint16_t n_samples; uint16_t n_drive; uint16_t n_sense;
                            uint16_t oversample; };
void phyff_medium_desc_pack(const struct phyff_medium_desc *d, uint8_t *out);
void phyff_medium_desc_unpack(const uint8_t *in, struct phyff_medium_desc *d);
void phyff_measure_head_pack(const struct phyff_measure_head *m, uint8_t *out);
void phyff_measure_head_unpack(const uint8_t *in, struct phyff_measure_head *m);

// ---- firmware core + host port (the emulated board) ----
#define PHYFF_FIRMWARE_VERSION ...
#define PHYFF_CORE_MAX_PAYLOAD ...
#define PHYFF_CORE_MAX_CHANNELS ...
struct phyff_board_desc {
    const char *board; const char *medium; uint32_t unit_id; uint16_t features;
    uint16_t n_drive; uint16_t n_sense; uint8_t dac_bits; uint8_t adc_bits;
    uint16_t max_oversample;
};
struct phyff_core { struct phyff_caps caps; struct phyff_config config;
                    struct phyff_stats stats; ...; };
struct phyff_host_board { struct phyff_core core; size_t out_len; size_t out_dropped;
                          uint64_t virtual_us; uint32_t us_per_sample; ...; };
uint16_t phyff_core_max_batch(uint16_t n_drive, uint16_t n_sense);
enum phyff_status phyff_host_init(struct phyff_host_board *b, void *handle, uint8_t *out,
                                  size_t out_cap, int batch,
                                  const struct phyff_board_desc *desc);
void phyff_host_receive(struct phyff_host_board *b, const uint8_t *data, size_t n);
void phyff_host_announce(struct phyff_host_board *b);
extern "Python+C" int phyff_host_measure(void *handle, const uint16_t *dac,
                                         uint16_t n_samples, uint16_t n_drive, uint16_t *adc,
                                         uint16_t n_sense, uint16_t oversample);
"""

SOURCE_PRELUDE = """
#include "phyff/fixed.h"
#include "phyff/wire.h"
#include "phyff/medium_link.h"
#include "phyff_core.h"
#include "host_port.h"
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "phyff._native",
    SOURCE_PRELUDE,
    sources=[str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in SOURCES],
    include_dirs=[str(p) for p in INCLUDE_DIRS],
    define_macros=DEFINES,
    extra_compile_args=["-std=c11", "-O3", "-fno-semantic-interposition", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
