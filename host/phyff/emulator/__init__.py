"""The emulated board: the firmware's C core, compiled for the host, driving a
simulated medium.

Three ways in: :class:`EmulatedDevice` in process, the pyserial URL
``emu://<medium>?seed=N`` (any code that opens ports with
``serial.serial_for_url`` gets an emulated board), and a pty or TCP server
(``phyff emulate``) for programs in other processes or languages.
"""

from phyff.emulator.device import EmulatedDevice, EmulatorSpec, parse_emu_url

__all__ = ["EmulatedDevice", "EmulatorSpec", "parse_emu_url"]
