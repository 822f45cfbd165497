"""Board-shaped emulated boards: real boards' channels and converters, and their cost."""

from __future__ import annotations

import pytest

from phyff.board.client import Board
from phyff.board.cost import BoardFacts, projections
from phyff.emulator.device import parse_emu_url, shape_of_url
from phyff.emulator.shapes import SHAPES


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_shaped_board_has_the_real_boards_channels_and_converters(name: str) -> None:
    shape = SHAPES[name]
    with Board.open(f"emu://circuit?seed=1&shape={name}") as board:
        caps = board.caps
        assert (caps.n_drive, caps.n_sense) == (shape.n_drive, shape.n_sense)
        assert (caps.dac_bits, caps.adc_bits) == (shape.dac_bits, shape.adc_bits)
        assert caps.medium == "circuit"


def test_the_url_round_trips_and_the_medium_defaults_to_the_circuit() -> None:
    spec = parse_emu_url("emu://?seed=3&shape=uno")
    assert spec.medium == "circuit" and spec.url() == "emu://circuit?seed=3&shape=uno"
    assert parse_emu_url(spec.url()) == spec


def test_a_url_contradicting_its_shape_is_refused_naming_both_values() -> None:
    with pytest.raises(ValueError, match="shape=uno has dac_bits=8, the URL says dac_bits=12"):
        parse_emu_url("emu://circuit?shape=uno&dac_bits=12")
    with pytest.raises(ValueError, match="unknown board shape 'mega'"):
        parse_emu_url("emu://circuit?shape=mega")


def test_spelled_out_channels_are_recognised_as_the_board_they_describe() -> None:
    url = "emu://circuit?seed=1&n_in=4&n_out=6&dac_bits=8&adc_bits=10"
    assert shape_of_url(url) is SHAPES["uno"]
    assert shape_of_url("emu://circuit?seed=1&n_in=4&n_out=6") is None
    assert shape_of_url("/dev/ttyACM0") is None


def test_the_real_board_projection_waits_the_settle_time_of_every_row() -> None:
    uno = SHAPES["uno"]
    facts = BoardFacts(4, 6, 64, 1024, 0, 1)
    (proj,) = projections(1000, 10, facts, baud=None, emulated=True, shape=uno)
    assert "Uno" in proj.name and proj.board_s >= 1000 * uno.settle_us * 1e-6
    assert proj.link_s > 0
