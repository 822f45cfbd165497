/* Host stand-in for the Arduino EEPROM library: 1 KiB, erased (0xFF) unless the
 * harness writes it. */
#ifndef FAKE_EEPROM_H
#define FAKE_EEPROM_H
#include <stdint.h>
#include <string.h>

extern uint8_t fake_eeprom[1024];
struct FakeEeprom {
    template <typename T> T &get(int at, T &value) {
        memcpy(&value, fake_eeprom + at, sizeof value);
        return value;
    }
};
extern FakeEeprom EEPROM;
#endif
