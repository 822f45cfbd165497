"""phyff's local PlatformIO platform for QEMU Cortex-M machines.

It exists so `pio run -e qemu` works without the PlatformIO registry: it
declares no packages (the compiler is the system's arm-none-eabi-gcc) and
needs no platform logic beyond PlatformIO's defaults.
"""

from platformio.public import PlatformBase


class PhyffqemuPlatform(PlatformBase):
    """No packages to install, nothing to configure (PlatformIO derives the class
    name from the platform name "phyff-qemu")."""
