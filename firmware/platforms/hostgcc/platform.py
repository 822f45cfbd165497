"""phyff's local PlatformIO platform for programs that run on the build machine.

The official "native" platform comes from the PlatformIO registry; this one
needs nothing but the system's gcc, so `pio test -e native` works offline.
It declares no uploader, so PlatformIO runs test programs directly.
"""

from platformio.public import PlatformBase


class PhyffhostgccPlatform(PlatformBase):
    """No packages to install, nothing to configure (PlatformIO derives the class
    name from the platform name "phyff-hostgcc")."""
