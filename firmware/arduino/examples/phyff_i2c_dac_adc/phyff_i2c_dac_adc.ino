// phyff_i2c_dac_adc: a phyff board whose medium is driven by an external
// 4-channel 12-bit DAC (Microchip MCP4728) and read by an external 4-channel
// 16-bit ADC (TI ADS1115), both on the I2C bus. docs/custom-hardware.md walks
// through it; any Arduino board with I2C works (Uno: SDA = A4, SCL = A5).
//
// Wiring: both chips on 5 V (or 3.3 V) and GND, SDA/SCL to the board's I2C
// pins (the breakout boards carry the pull-ups), MCP4728 LDAC to GND (outputs
// follow each write), ADS1115 ADDR to GND (address 0x48). DAC outputs VA..VD
// drive the medium; the medium's outputs go to ADS1115 AIN0..AIN3, never
// above the supply.
//
// Identity: the unit id is read from EEPROM bytes 0..3 (write it once with
// EEPROM.put(0, (uint32_t)2) from any sketch; an erased EEPROM reads
// 0xFFFFFFFF, taken as "none": unit id 0), so two boards running this same
// sketch report different unit ids and a model trained on one is refused on
// the other. Then, on the host:
//   phyff info --board /dev/ttyACM0
// The serial port belongs to phyff: do not print to Serial in this sketch.

#include <EEPROM.h>
#include <Wire.h>
#include <phyff_arduino.h>

static const uint8_t MCP4728_ADDRESS = 0x60;
static const uint8_t ADS1115_ADDRESS = 0x48;
static const uint16_t CHANNELS = 4;

// MCP4728 "fast write": two bytes per channel A..D, power-down bits 00 and the
// 12-bit code, in one transaction; with LDAC low the outputs update at once.
static int drive_mcp4728(const uint16_t *dac, uint16_t n) {
  Wire.beginTransmission(MCP4728_ADDRESS);
  for (uint16_t ch = 0; ch < CHANNELS; ++ch) {
    const uint16_t code = ch < n ? dac[ch] : 0;  // codes < 2^12 (port.h PORT-R2)
    Wire.write((uint8_t)((code >> 8) & 0x0F));
    Wire.write((uint8_t)(code & 0xFF));
  }
  return Wire.endTransmission() == 0 ? 0 : 1;  // a bus error is a medium fault
}

// ADS1115 single-shot conversion of AINch against GND at +-4.096 V full scale,
// 860 samples/s: start it, poll the "conversion done" bit, read the result.
static int read_ads1115(uint16_t ch, uint16_t *code) {
  const uint16_t config = 0x8000u                        // OS: start a conversion
                          | (uint16_t)((4u + ch) << 12)  // MUX: AINch vs GND
                          | 0x0200u                      // PGA: +-4.096 V
                          | 0x0100u                      // MODE: single shot
                          | 0x00E0u                      // DR: 860 samples/s
                          | 0x0003u;                     // comparator off
  Wire.beginTransmission(ADS1115_ADDRESS);
  Wire.write((uint8_t)0x01);  // config register
  Wire.write((uint8_t)(config >> 8));
  Wire.write((uint8_t)(config & 0xFF));
  if (Wire.endTransmission() != 0) return 1;
  for (uint8_t tries = 0;; ++tries) {  // one conversion takes about 1.2 ms
    if (tries == 20) return 1;
    delayMicroseconds(200);
    if (Wire.requestFrom(ADS1115_ADDRESS, (uint8_t)2) != 2) return 1;
    const uint8_t high = (uint8_t)Wire.read();
    (void)Wire.read();
    if (high & 0x80u) break;  // OS reads 1 when the conversion is done
  }
  Wire.beginTransmission(ADS1115_ADDRESS);
  Wire.write((uint8_t)0x00);  // conversion register
  if (Wire.endTransmission() != 0) return 1;
  if (Wire.requestFrom(ADS1115_ADDRESS, (uint8_t)2) != 2) return 1;
  const uint16_t high = (uint16_t)Wire.read();
  const int16_t value = (int16_t)((high << 8) | (uint16_t)Wire.read());
  *code = value < 0 ? 0 : (uint16_t)value;  // single-ended: 0..32767, 15 bits
  return 0;
}

static int sense_ads1115(uint16_t *adc, uint16_t n) {
  for (uint16_t ch = 0; ch < n && ch < CHANNELS; ++ch) {
    if (read_ads1115(ch, &adc[ch]) != 0) return 1;
  }
  return 0;
}

void setup() {
  Wire.begin();
  Wire.setClock(400000);  // both chips take fast-mode I2C
  uint32_t unit_id = 0;
  EEPROM.get(0, unit_id);
  struct phyff_board_config config = {};
  config.board = "uno-mcp4728";  // at most 16 characters
  config.medium = "rc-ladder";   // name what you wired (at most 16 characters)
  config.unit_id = unit_id == 0xFFFFFFFFu ? 0 : unit_id;
  config.drive = drive_mcp4728;
  config.sense = sense_ads1115;
  config.n_drive = CHANNELS;
  config.n_sense = CHANNELS;
  config.dac_bits = 12;
  config.adc_bits = 15;
  if (phyff_board_begin_with(&config) != 0) {
    pinMode(LED_BUILTIN, OUTPUT);  // refused (phyff_arduino.h A7): blink
    for (;;) {
      digitalWrite(LED_BUILTIN, !digitalRead(LED_BUILTIN));
      delay(200);
    }
  }
}

void loop() {
  phyff_board_poll();
}
