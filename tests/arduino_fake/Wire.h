/* Host stand-in for the Arduino Wire library: a bus with a simulated MCP4728
 * DAC at 0x60 and ADS1115 ADC at 0x48 (fake_chips.cpp). */
#ifndef FAKE_WIRE_H
#define FAKE_WIRE_H
#include <stddef.h>
#include <stdint.h>

class TwoWire {
  public:
    void begin();
    void setClock(uint32_t hz);
    void beginTransmission(uint8_t address);
    size_t write(uint8_t byte);
    uint8_t endTransmission();
    uint8_t requestFrom(uint8_t address, uint8_t count);
    int read();
};
extern TwoWire Wire;
#endif
