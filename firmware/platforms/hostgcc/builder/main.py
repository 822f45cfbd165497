"""SCons build of a host program with the system's gcc (CC and CXX may override).

Used by the "native" environment: the firmware core and its unit tests,
compiled for the machine that runs `pio test`, so the core's checks run
without a board and without the PlatformIO registry.
"""

import os

from SCons.Script import Default, DefaultEnvironment  # type: ignore

env = DefaultEnvironment()

env.Replace(
    AR="ar",
    AS="as",
    CC=os.environ.get("CC", "gcc"),
    CXX=os.environ.get("CXX", "g++"),
    RANLIB="ranlib",
    PROGSUFFIX="",
    SIZETOOL="size",
    SIZEPRINTCMD="$SIZETOOL $SOURCES",
)
env.Append(CFLAGS=["-std=c11"], CCFLAGS=["-O1", "-g"])

Default([env.BuildProgram()])
