# phyff: one entry point for building, testing and benchmarking.
#   make install   Python package (compiles the shared C through cffi)
#   make test      everything CI runs: C vector tests under ASan/UBSan,
#                  the ARM cross-compile, ruff, mypy, pytest
#   make demo      the main job: a training session on the emulated board
#   make bench     performance figures (benchmarks print numbers; tests never time)

PYTHON ?= python3
CC ?= gcc
ARM_CC ?= arm-none-eabi-gcc
BUILD ?= build
# Real measurements used by some tests live outside the repository; point
# PHYFF_DATA_DIR at them. The default is the handout folder next to a checkout.
PHYFF_DATA_DIR ?= $(abspath $(wildcard ../shared/data))
export PHYFF_DATA_DIR

# this checkout's Python package, whether or not it is the one installed
PHYFF_PY := PYTHONPATH=$(CURDIR)/host$${PYTHONPATH:+:$$PYTHONPATH} $(PYTHON)

CSTD := -std=c11 -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
SHARED_SRC := shared/src/fixed.c shared/src/wire.c shared/src/model.c shared/src/learn.c
SHARED_INC := -Ishared/include

.PHONY: install test test-c test-py cross lint demo bench vectors enums typecheck clean ci \
	firmware firmware-test hil bench-firmware benchmarks uno uno-direct arduino-example \
	hil-simavr hil-simavr-boot bench-uno bench-uno-model bench-autoreset cross-boards bench-ondevice
HIL_TARGET ?= emu

install:
	$(PYTHON) -m pip install -q -e '.[test]'

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/test_vectors: tests/c/test_vectors.c tests/c/json_min.c $(SHARED_SRC) shared/include/phyff/*.h | $(BUILD)
	$(CC) $(CSTD) $(SAN) $(SHARED_INC) -Itests/c tests/c/test_vectors.c tests/c/json_min.c $(SHARED_SRC) -o $@

CORE_SRC := firmware/src/core/phyff_core.c
CORE_INC := -Ifirmware/src -Ifirmware/src/core

$(BUILD)/test_core: tests/c/test_core.c $(CORE_SRC) $(SHARED_SRC) firmware/src/*.h firmware/src/core/*.h shared/include/phyff/*.h | $(BUILD)
	$(CC) $(CSTD) $(SAN) $(SHARED_INC) $(CORE_INC) tests/c/test_core.c $(CORE_SRC) $(SHARED_SRC) -o $@

# the same tests on a core with on-device inference (two 4 KiB model slots)
$(BUILD)/test_core_model: tests/c/test_core.c $(CORE_SRC) $(SHARED_SRC) firmware/src/*.h firmware/src/core/*.h shared/include/phyff/*.h | $(BUILD)
	$(CC) $(CSTD) $(SAN) -DPHYFF_CORE_MODEL_BYTES=4096u $(SHARED_INC) $(CORE_INC) tests/c/test_core.c $(CORE_SRC) $(SHARED_SRC) -o $@

# the same tests on a core serving a model compiled into the firmware (no model memory)
$(BUILD)/test_core_compiled: tests/c/test_core.c $(CORE_SRC) $(SHARED_SRC) firmware/src/*.h firmware/src/core/*.h shared/include/phyff/*.h | $(BUILD)
	$(CC) $(CSTD) $(SAN) -DPHYFF_CORE_COMPILED_MODEL=1 $(SHARED_INC) $(CORE_INC) tests/c/test_core.c $(CORE_SRC) $(SHARED_SRC) -o $@

# the same tests on a core with both (model memory and a compiled-in model, as the
# emulated board): learning refuses the read-only compiled-in model (wire.h W-N5)
$(BUILD)/test_core_both: tests/c/test_core.c $(CORE_SRC) $(SHARED_SRC) firmware/src/*.h firmware/src/core/*.h shared/include/phyff/*.h | $(BUILD)
	$(CC) $(CSTD) $(SAN) -DPHYFF_CORE_MODEL_BYTES=4096u -DPHYFF_CORE_COMPILED_MODEL=1 $(SHARED_INC) $(CORE_INC) tests/c/test_core.c $(CORE_SRC) $(SHARED_SRC) -o $@

# C tests under sanitizers: golden vectors, then the board core (unit tests +
# 100,000 random and mutated frames), built without and with on-device
# inference, with a compiled-in model, and with both.
test-c: $(BUILD)/test_vectors $(BUILD)/test_core $(BUILD)/test_core_model $(BUILD)/test_core_compiled $(BUILD)/test_core_both
	$(BUILD)/test_vectors shared/vectors/fixed.json shared/vectors/wire.json shared/vectors/model.json shared/vectors/learn.json
	$(BUILD)/test_core 100000
	$(BUILD)/test_core_model 100000
	$(BUILD)/test_core_compiled 100000
	$(BUILD)/test_core_both 100000

# The shared code must compile warning-free for a Cortex-M3 (freestanding-friendly).
cross: | $(BUILD)
	@command -v $(ARM_CC) >/dev/null || { echo "cross: $(ARM_CC) not found; install gcc-arm-none-eabi"; exit 1; }
	for f in $(SHARED_SRC) $(CORE_SRC); do \
	  $(ARM_CC) $(CSTD) -mcpu=cortex-m3 -mthumb -Os -ffreestanding $(SHARED_INC) $(CORE_INC) -c $$f -o $(BUILD)/$$(basename $$f .c).arm.o || exit 1; \
	done
	# the core with on-device inference compiled in (two 4 KiB model slots)
	$(ARM_CC) $(CSTD) -mcpu=cortex-m3 -mthumb -Os -ffreestanding -DPHYFF_CORE_MODEL_BYTES=4096u \
	  $(SHARED_INC) $(CORE_INC) -c $(CORE_SRC) -o $(BUILD)/phyff_core_infer.arm.o
	arm-none-eabi-size $(BUILD)/*.arm.o

# The core and shared code for the other boards' CPUs (no Arduino core for
# them is packaged here, so their port is not compiled): RP2040 (Cortex-M0+)
# and STM32L476 (Cortex-M4F), with on-device inference on as their
# PlatformIO envs build it (PHYFF_CORE_MODEL_BYTES: two 16 KiB model slots;
# see docs/boards.md). The ESP32's Xtensa LX6 compiler is not packaged.
BOARD_MODEL_BYTES := 16384u
cross-boards: | $(BUILD)
	@command -v $(ARM_CC) >/dev/null || { echo "cross-boards: $(ARM_CC) not found; install gcc-arm-none-eabi"; exit 1; }
	for cpu in "cortex-m0plus" "cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16"; do \
	  for f in $(SHARED_SRC) $(CORE_SRC); do \
	    $(ARM_CC) $(CSTD) -mcpu=$$cpu -mthumb -Os -ffreestanding $(SHARED_INC) $(CORE_INC) \
	      -DPHYFF_CORE_MODEL_BYTES=$(BOARD_MODEL_BYTES) -c $$f \
	      -o $(BUILD)/$$(basename $$f .c).$$(echo $$cpu | cut -d' ' -f1).o || exit 1; \
	  done; \
	done
	arm-none-eabi-size $(BUILD)/*.cortex-m0plus.o $(BUILD)/*.cortex-m4.o
	@for cpu in cortex-m0plus cortex-m4; do \
	  arm-none-eabi-nm $(BUILD)/phyff_core.$$cpu.o | grep -q ' T phyff_model_check\| U phyff_model_check' \
	    || { echo "cross-boards: the $$cpu core was built without on-device inference"; exit 1; }; \
	done

vectors:
	$(PYTHON) shared/vectors/generate.py

# the protocol's enums as classes type checkers can read (after a header adds
# or removes a name; tests/test_native_surface.py says when)
enums:
	$(PHYFF_PY) -m phyff.protocol._enumgen

lint:
	$(PYTHON) -m ruff check host tests hil shared/vectors firmware/micropython firmware/platforms firmware/test

test-py:
	$(PYTHON) -m pytest -q

typecheck:
	$(PYTHON) -m mypy

test: test-c cross lint typecheck test-py

# QEMU image via PlatformIO, offline (registers pip's SCons first)
firmware:
	firmware/tools/pio-offline.sh
	cd firmware && pio run -e qemu

# the core's unit tests through PlatformIO (same test source as test-c)
firmware-test:
	firmware/tools/pio-offline.sh
	cd firmware && pio test -e native

# hardware-in-the-loop suite: HIL_TARGET=emu|pty|qemu|micropython|simavr|/dev/ttyACM0
hil:
	$(PYTHON) -m pytest hil -s --target $(HIL_TARGET)

# The Arduino Uno image, offline: PlatformIO's uno_sim env (the uno env's
# sources and flags, Debian's Arduino AVR core and avr-gcc), the simavr
# harness that runs it (needs libsimavr-dev) and the Uno's bootloader (optiboot).
uno:
	firmware/tools/pio-offline.sh
	cd firmware && pio run -e uno_sim
	$(PHYFF_PY) -m phyff.emulator.simavr harness
	$(PHYFF_PY) -m phyff.emulator.simavr bootloader

# the same image without PlatformIO (avr-gcc from the same definition)
uno-direct:
	$(PHYFF_PY) -m phyff.emulator.simavr build --direct

# The Arduino library (build/arduino/phyff and phyff-arduino.zip) and its
# example sketch compiled for the Uno, as arduino-cli would and, when
# arduino-builder is installed, by the Arduino IDE's own builder.
arduino-example:
	$(PHYFF_PY) -m phyff.emulator.simavr example

# the HIL suite against the Uno image in simavr; -boot: booting through optiboot
# and reset on every connection, as a real Uno
hil-simavr: uno
	$(MAKE) hil HIL_TARGET=simavr

hil-simavr-boot: uno
	$(MAKE) hil HIL_TARGET=simavr-boot

# the simulated Uno (optiboot, reset on open) opened and closed 100 times:
# handshakes and time to the first HELLO
bench-autoreset:
	$(PHYFF_PY) -m phyff.perf.autoreset

bench-uno:
	$(PHYFF_PY) -m phyff.perf.uno

# a vowels7 network compiled into the Uno image (trained through the simulated
# Uno, exported, built, run in simavr): flash, RAM with the stack peak, accuracy
# vs the host's, bit-exactness (~1 min; needs the vowel data, PHYFF_DATA_DIR)
bench-uno-model:
	$(PHYFF_PY) -m phyff.perf.uno_model

# on-device inference: the board's accuracy vs the host's (10 seeds, two tasks, ~3 min)
bench-ondevice:
	$(PHYFF_PY) -m phyff.perf.ondevice

# Everything CI runs: unit tests, the firmware through PlatformIO, and the HIL
# suite against the emulator, the real firmware image in QEMU, MicroPython and
# the Uno image in simavr; the Arduino library's example; the other boards' CPUs.
ci: test firmware firmware-test uno arduino-example cross-boards
	$(MAKE) hil HIL_TARGET=emu
	$(MAKE) hil HIL_TARGET=qemu
	$(MAKE) hil HIL_TARGET=micropython
	$(MAKE) hil HIL_TARGET=simavr
	$(MAKE) hil HIL_TARGET=simavr-boot
	$(MAKE) bench-firmware
	$(MAKE) bench-uno

bench-firmware:
	$(PHYFF_PY) -m phyff.perf.firmware

# PhyLL vs physics-aware training, ideal backprop, an ELM and ablations on the
# emulated boards, plus the trainer's figures; regenerates docs/benchmarks.md,
# docs/benchmarks*.csv and docs/adaptability.png (794 runs: 18 min on 2 idle cores; `--resume`
# continues an interrupted run).
# Re-render without re-running:
#   phyff bench --from-raw runs/benchmarks/raw.json --doc docs/benchmarks.md
benchmarks:
	rm -rf runs/benchmarks
	phyff bench --full --doc docs/benchmarks.md --out runs/benchmarks

# The main job: scikit-learn's 8x8 digits (no download) on an emulated optical
# medium (80 SLM pixels: 64 for the image, 10 label slots; 40 pooled camera
# readings), two PhyLL blocks, in well under a minute.
DEMO_BOARD ?= emu://optical?seed=1&n_in=80&n_out=40
demo:
	rm -rf runs/demo
	phyff train --board '$(DEMO_BOARD)' --dataset digits --preset optical --skip \
	  --lr 2e-3 --batch-size 128 --epochs 12 --eval-every 4 --run runs/demo
	phyff report runs/demo
	phyff deploy runs/demo --board '$(DEMO_BOARD)&model_file=runs/demo/board.model'
	phyff eval runs/demo --board '$(DEMO_BOARD)&model_file=runs/demo/board.model' \
	  --dataset digits --on-device --no-host | head -1

bench:
	$(PYTHON) -m phyff.perf.native
	$(PYTHON) -m phyff.perf.board
	$(PYTHON) -m phyff.perf.media
	$(PYTHON) -m phyff.perf.trainer
	$(PYTHON) -m phyff.perf.micropython

clean:
	rm -rf $(BUILD) runs/demo
