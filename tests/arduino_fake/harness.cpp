/* Runs the custom-hardware example's setup() on the host with simulated I2C
 * chips, then drives and senses through the functions it registered, and
 * prints what the chips saw as one JSON line for the test to check. */
#include <stdio.h>
#include <stdlib.h>

#include "Arduino.h"
#include "EEPROM.h"
#include "Wire.h"
#include "phyff_arduino.h"

uint8_t fake_eeprom[1024];
FakeEeprom EEPROM;
TwoWire Wire;

/* ---- the chips ---- */
static uint16_t dac_codes[4];        /* MCP4728 channel registers */
static int dac_writes;
static int16_t adc_inputs[4];         /* ADS1115 conversion results per channel */
static uint16_t adc_config;
static uint8_t adc_pointer;
static int adc_busy_polls;            /* polls that still read "converting" */
static bool adc_missing;              /* the ADC does not acknowledge */
static uint8_t tx_address, tx[64], rx[8];
static size_t tx_len, rx_len, rx_at;
static uint32_t clock_hz;

void TwoWire::begin() {}
void TwoWire::setClock(uint32_t hz) { clock_hz = hz; }
void TwoWire::beginTransmission(uint8_t address) { tx_address = address; tx_len = 0; }
size_t TwoWire::write(uint8_t byte) {
    if (tx_len < sizeof tx) tx[tx_len++] = byte;
    return 1;
}
uint8_t TwoWire::endTransmission() {
    if (tx_address == 0x60) {                      /* MCP4728 fast write: 4 x 2 bytes */
        if (tx_len != 8) return 4;
        for (int ch = 0; ch < 4; ++ch) {
            if (tx[2 * ch] & 0xF0) return 4;       /* command 00, power-down 00 */
            dac_codes[ch] = (uint16_t)(((tx[2 * ch] & 0x0F) << 8) | tx[2 * ch + 1]);
        }
        ++dac_writes;
        return 0;
    }
    if (tx_address == 0x48 && !adc_missing) {
        adc_pointer = tx[0];
        if (tx_len == 3 && adc_pointer == 0x01) {
            adc_config = (uint16_t)((tx[1] << 8) | tx[2]);
            adc_busy_polls = 2;
        }
        return 0;
    }
    return 2;                                      /* address not acknowledged */
}
uint8_t TwoWire::requestFrom(uint8_t address, uint8_t count) {
    rx_len = rx_at = 0;
    if (address != 0x48 || adc_missing || count != 2) return 0;
    uint16_t value;
    if (adc_pointer == 0x01) {
        value = (uint16_t)(adc_config & 0x7FFFu);
        if (adc_busy_polls-- <= 0) value |= 0x8000u; /* OS: done */
    } else {
        const unsigned mux = (adc_config >> 12) & 7u; /* 4..7: AIN0..3 vs GND */
        value = (uint16_t)adc_inputs[mux - 4u];
    }
    rx[0] = (uint8_t)(value >> 8);
    rx[1] = (uint8_t)value;
    rx_len = 2;
    return 2;
}
int TwoWire::read() { return rx_at < rx_len ? rx[rx_at++] : -1; }

void pinMode(uint8_t, uint8_t) {}
void digitalWrite(uint8_t, uint8_t) {}
int digitalRead(uint8_t) { return 0; }
void delay(unsigned long) {}
void delayMicroseconds(unsigned int) {}

/* ---- the library call the sketch makes ---- */
static struct phyff_board_config seen;
static int begun;
extern "C" int phyff_board_begin_with(const struct phyff_board_config *config) {
    seen = *config;
    begun = 1;
    return 0;
}
extern "C" void phyff_board_poll(void) {}
extern "C" void phyff_board_begin(void) {}

void setup();

int main(int argc, char **argv) {
    memset(fake_eeprom, 0xFF, sizeof fake_eeprom);
    if (argc > 1) {                                /* a unit id stored on the board */
        const uint32_t id = (uint32_t)strtoul(argv[1], NULL, 0);
        memcpy(fake_eeprom, &id, sizeof id);
    }
    setup();
    const uint16_t drive[4] = {0, 1, 2048, 4095};
    const int drive_status = seen.drive(drive, 4);
    adc_inputs[0] = 0; adc_inputs[1] = 12345; adc_inputs[2] = 32767; adc_inputs[3] = -7;
    uint16_t sensed[4] = {0, 0, 0, 0};
    const int sense_status = seen.sense(sensed, 4);
    const uint16_t last_config = adc_config;
    adc_missing = true;
    uint16_t again[4];
    const int missing_status = seen.sense(again, 4);
    printf("{\"begun\": %d, \"board\": \"%s\", \"medium\": \"%s\", \"unit_id\": %lu, "
           "\"n_drive\": %u, \"n_sense\": %u, \"dac_bits\": %u, \"adc_bits\": %u, "
           "\"clock_hz\": %lu, \"drive_status\": %d, \"dac\": [%u, %u, %u, %u], "
           "\"dac_writes\": %d, \"sense_status\": %d, \"adc\": [%u, %u, %u, %u], "
           "\"last_config\": %u, \"missing_status\": %d}\n",
           begun, seen.board, seen.medium, (unsigned long)seen.unit_id, seen.n_drive,
           seen.n_sense, seen.dac_bits, seen.adc_bits, (unsigned long)clock_hz, drive_status,
           dac_codes[0], dac_codes[1], dac_codes[2], dac_codes[3], dac_writes, sense_status,
           sensed[0], sensed[1], sensed[2], sensed[3], last_config, missing_status);
    return 0;
}
