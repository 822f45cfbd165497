"""SCons build of a bare-metal Cortex-M image with the system's arm-none-eabi-gcc.

PlatformIO runs this for environments on the local "qemu" platform. It only
sets the cross toolchain and the machine flags (from the board manifest);
sources, include paths and warnings come from platformio.ini, and the
linker script from `board_build.ldscript`. The image is the firmware.elf
that QEMU loads with -kernel; firmware.bin is the same image as flat bytes.
"""

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment  # type: ignore

env = DefaultEnvironment()
board = env.BoardConfig()
cpu = board.get("build.cpu", "cortex-m3")

env.Replace(
    AR="arm-none-eabi-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.rodata|\.ARM\.exidx)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
)

# The compiler and linker flags live in the board manifest (build.ccflags,
# build.cflags, build.linkflags), where phyff.emulator.qemu's direct-gcc fallback
# reads them too: one definition for both ways of building.
cpu_flag = [f"-mcpu={cpu}"]
env.Append(
    ASFLAGS=[*cpu_flag, "-mthumb"],
    CCFLAGS=cpu_flag + list(board.get("build.ccflags", [])),
    CFLAGS=list(board.get("build.cflags", [])),
    LINKFLAGS=cpu_flag + list(board.get("build.linkflags", [])),
)

target_elf = env.BuildProgram()
target_bin = env.Command(
    "$BUILD_DIR/${PROGNAME}.bin", target_elf, "$OBJCOPY -O binary $SOURCES $TARGET"
)
env.Depends(target_bin, target_elf)

target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Program size"))
AlwaysBuild(target_size)

# Nothing to flash: QEMU loads the ELF. `upload` says how to run it instead.
upload = env.Alias(
    "upload",
    target_elf,
    env.VerboseAction(
        "@echo QEMU has nothing to flash. Run the image with its simulated medium: "
        "phyff emulate --qemu 'emu://acoustic?seed=1'",
        "",
    ),
)
AlwaysBuild(upload)

Default([target_elf, target_bin])
