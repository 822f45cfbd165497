"""phyff's local PlatformIO platform for AVR boards built against Debian's Arduino core.

It exists so `pio run -e uno_sim` works without the PlatformIO registry: the
compiler is the system's avr-gcc (Debian: gcc-avr, avr-libc) and the
Arduino AVR core comes from Debian's arduino-core-avr, so the platform
declares no packages and needs no logic beyond PlatformIO's defaults.
"""

from platformio.public import PlatformBase


class PhyffavrPlatform(PlatformBase):
    """No packages to install, nothing to configure (PlatformIO derives the class
    name from the platform name "phyff-avr")."""
