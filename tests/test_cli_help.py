"""`--help` shows what will run: the preset's values, each default once, and the
board URLs only under commands that take a board."""

from __future__ import annotations

import argparse
import re

import pytest

from phyff.cli import main as cli_main
from phyff.cli.settings import help_with_default


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli_main.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _option_help(text: str, option: str) -> str:
    """The help paragraph of one option in a --help text, joined into one line."""
    match = re.search(rf"^  {re.escape(option)}\b.*?(?=^  -|^\S|\Z)", text, re.M | re.S)
    assert match, f"{option} not in the help"
    return " ".join(match.group(0).split())


def test_train_help_shows_every_presets_value() -> None:
    text = _subparsers()["train"].format_help()
    for option, optical in (("--inner-steps", "optical 20"), ("--theta", "optical 5.0"),
                            ("--encoder", "optical phase,phase"), ("--epochs", "optical 350"),
                            ("--skip", "optical off")):
        shown = _option_help(text, option)
        assert optical in shown and "acoustic" in shown, shown
    assert "(default: onepass)" in _option_help(text, "--inference")


def test_each_default_is_said_once() -> None:
    text = _subparsers()["train"].format_help()
    for option in ("--batch-size", "--eval-every", "--remeasure", "--cache-negatives",
                   "--feature-offset", "--hidden", "--max-queries", "--lr"):
        shown = _option_help(text, option)
        assert shown.count("default") == 1, shown
        assert "default none)" not in shown or option == "--max-queries", shown
    assert "full training set, microwave the full training set, optical 10000" in \
        _option_help(text, "--batch-size")


def test_help_with_default_keeps_the_rest_of_the_note() -> None:
    assert help_with_default("x every N (default: never; for drift)", {"a": None, "b": None}) \
        == "x every N (for drift) (default: never)"
    assert help_with_default("flag", {"a": True, "b": False}) == \
        "flag (default from the preset: a on, b off)"


def test_board_urls_only_under_commands_that_take_a_board() -> None:
    for name, sub in _subparsers().items():
        text = sub.format_help()
        takes_board = any(o in ("--board", "board") for a in sub._actions
                          for o in (*a.option_strings, a.dest)) and name != "install-micropython"
        assert ("boards are named by URL" in text) == (takes_board and name != "sweep"), name
        assert text.count("examples:") <= 1, name
        for line in text.splitlines():
            if line.strip().startswith("phyff ") and "example" not in line:
                assert line.split()[1] == name, (name, line)


def test_info_takes_the_board_as_board_option_or_positional(
        capsys: pytest.CaptureFixture[str]) -> None:
    url = "emu://acoustic?seed=3"
    for argv in (["info", "--board", url, "--json"], ["info", url, "--json"]):
        assert cli_main.main(argv) == 0
        assert '"unit_id": 3' in capsys.readouterr().out
    assert cli_main.main(["info", url, "--board", "emu://acoustic?seed=4"]) == 2
    assert "two boards given" in capsys.readouterr().err
