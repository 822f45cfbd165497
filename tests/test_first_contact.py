"""First contact with a board that resets when its port is opened (an Arduino Uno).

A scripted Uno: its bootloader takes the host's first bytes (answering
STK500's INSYNC OK when they happen to look like a command), then the
application starts and announces itself. The handshake must come through
with no error, drop the bootloader's bytes as no frame, recognise the
start-up event, and flush before asking again. Host-only; the simulated Uno
(tests/test_simavr_boot.py) checks the same against the real optiboot.
"""

from __future__ import annotations

from scripted import ScriptedTransport

from phyff.board.bootloader import BootloaderReply, probeable
from phyff.board.client import Board
from phyff.board.link import Link
from phyff.protocol import wire
from phyff.protocol.wire import Caps, Cmd, Event, EventId, Flag, Header

CAPS = Caps(level=wire.PROTOCOL_LEVEL, features=0x000F, firmware_version=0x000200, unit_id=7,
            max_batch=20, max_payload=256, n_drive=4, n_sense=6, dac_bits=8, adc_bits=10,
            max_oversample=64, board="uno", medium="unknown")


class AutoResetUno(ScriptedTransport):
    """The first write reaches the bootloader; the application answers the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.writes.append(data)
        if len(self.writes) == 1:  # optiboot: junk in, INSYNC OK out, then the sketch starts
            event = Event(event=EventId.RESET, arg=wire.PROTOCOL_LEVEL).pack()
            self._out += bytes([0x14, 0x10]) + wire.encode_frame(
                Header(cmd=Cmd.EVENT, seq=0, flags=Flag.EVENT), event)
            return len(data)
        for body in wire.Deframer().feed(data):
            header, _ = wire.decode_frame(body)
            payload = CAPS.pack() if header.cmd == Cmd.HELLO else wire.Config(0, 1, 4, 6).pack()
            self._out += wire.encode_frame(
                Header(cmd=header.cmd, seq=header.seq, flags=Flag.REPLY), payload)
        return len(data)


def test_the_handshake_waits_out_the_bootloader() -> None:
    uno = AutoResetUno()
    board = Board(Link(uno, timeout=0.5, retries=1), url="scripted://uno")  # type: ignore[arg-type]
    assert board.caps.board == "uno" and board.caps.unit_id == 7
    stats = board.link.stats
    assert stats.resets_seen == 1 and stats.events == [EventId.RESET]
    assert stats.bad_frames == 1  # the bootloader's 0x14 0x10, dropped
    assert stats.timeouts == 0 and stats.retries == 0
    assert uno.writes[0].startswith(wire.DELIMITER)
    assert uno.writes[1].startswith(wire.DELIMITER)  # flushed again after the restart


def test_only_lines_are_probed_for_a_bootloader() -> None:
    assert probeable("/dev/ttyACM0") and probeable("socket://127.0.0.1:5000")
    assert not probeable("emu://acoustic?seed=1")
    uno = BootloaderReply(bytes.fromhex("1e950f"))
    assert uno.mcu == "ATmega328P" and uno.env == "uno"
    assert BootloaderReply(bytes.fromhex("1e9999")).env is None
