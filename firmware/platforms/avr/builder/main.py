"""SCons build of an AVR image with the Arduino AVR core, all from the system.

PlatformIO runs this for environments on the local "avr" platform. The
compiler is the system's avr-gcc; the Arduino core (cores/arduino and the
board's variant) is Debian's arduino-core-avr, or the folder named by
`board_build.arduino_avr` / $PHYFF_ARDUINO_AVR. The flags are those of the
Arduino AVR core's platform.txt, kept in the board manifest (build.*), where
phyff.emulator.simavr's direct build reads them too: one definition for both
ways of building. Sources, include paths and warnings of the project come
from platformio.ini, as for every environment.

The core is compiled with warnings off (-w, as the Arduino IDE does) and one
fix: its WString.cpp uses DECIMAL_DIG, which avr-gcc 5.4's C++ headers do
not define; 9 is the value for the AVR's 32-bit double.
"""

import os

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment  # type: ignore

env = DefaultEnvironment()
board = env.BoardConfig()
mcu = board.get("build.mcu", "atmega328p")
avr_dir = os.environ.get("PHYFF_ARDUINO_AVR") or board.get(
    "build.arduino_avr", "/usr/share/arduino/hardware/arduino/avr")
core_dir = os.path.join(avr_dir, "cores", board.get("build.core", "arduino"))
variant_dir = os.path.join(avr_dir, "variants", board.get("build.variant", "standard"))
if not os.path.isfile(os.path.join(core_dir, "Arduino.h")):
    raise SystemExit(
        f"error: no Arduino AVR core at {avr_dir}: install Debian's arduino-core-avr "
        "(apt-get install --no-install-recommends arduino-core-avr gcc-avr avr-libc) or set "
        "PHYFF_ARDUINO_AVR to a folder holding cores/arduino and variants/")

env.Replace(
    AR="avr-gcc-ar",
    AS="avr-gcc",
    CC="avr-gcc",
    CXX="avr-g++",
    OBJCOPY="avr-objcopy",
    RANLIB="avr-gcc-ranlib",
    SIZETOOL="avr-size",
    ARFLAGS=["rcs"],
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.bootloader)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL --mcu=$BOARD_MCU -C $SOURCES",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
)

mcu_flag = [f"-mmcu={mcu}"]
env.Append(
    ASFLAGS=mcu_flag + list(board.get("build.asflags", [])),
    CCFLAGS=mcu_flag + list(board.get("build.ccflags", [])),
    CFLAGS=list(board.get("build.cflags", [])),
    CXXFLAGS=list(board.get("build.cxxflags", [])),
    CPPDEFINES=[
        ("F_CPU", board.get("build.f_cpu", "16000000L")),
        ("ARDUINO", board.get("build.arduino_version", "10819")),
        "ARDUINO_" + board.get("build.board", "AVR_UNO"),
        "ARDUINO_ARCH_AVR",
    ],
    CPPPATH=[core_dir, variant_dir],
    LINKFLAGS=mcu_flag + list(board.get("build.linkflags", [])),
    LIBS=["m"],
)

# The Arduino core as a library archive (only what the program uses is linked).
# Objects are named after the whole file name: the core has both
# wiring_pulse.c and wiring_pulse.S.
framework = env.Clone()
framework.Append(CCFLAGS=list(board.get("build.framework_flags", [])),
                 CXXFLAGS=["-D" + d for d in board.get("build.framework_cxx_defines", [])])
core_objects = [
    framework.Object(os.path.join("$BUILD_DIR", "FrameworkArduino", name + ".o"),
                     os.path.join(core_dir, name))
    for name in sorted(os.listdir(core_dir)) if name.endswith((".c", ".cpp", ".S"))
]
env.Prepend(LIBS=[framework.StaticLibrary("$BUILD_DIR/libFrameworkArduino", core_objects)])

target_elf = env.BuildProgram()
target_hex = env.Command(
    "$BUILD_DIR/${PROGNAME}.hex", target_elf,
    "$OBJCOPY -O ihex -R .eeprom $SOURCES $TARGET")
env.Depends(target_hex, target_elf)

target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Program size"))
AlwaysBuild(target_size)

# Flash a real Uno with Debian's avrdude (the bootloader's protocol, 115200 baud).
upload = env.Alias(
    "upload", target_hex,
    [
        env.VerboseAction(env.AutodetectUploadPort, "Looking for upload port..."),
        env.VerboseAction(
            f"avrdude -p {mcu} -c {board.get('upload.protocol', 'arduino')} "
            f"-b {board.get('upload.speed', 115200)} -P $UPLOAD_PORT -D -U flash:w:$SOURCE:i",
            "Uploading $SOURCE"),
    ])
AlwaysBuild(upload)

Default([target_elf, target_hex])
