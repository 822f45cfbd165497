"""Every `phyff ...` example in the README, docs/ and `--help` parses, and those that
need no hardware run.

Examples are collected from fenced code blocks of README.md and docs/*.md and from
the help epilogs. An example runs (in a scratch folder, training cut to two epochs, one per block)
when its board is emulated in process; one that names a real port, a socket or
`auto`, or that starts a long-lived service (emulate, bench, install-micropython),
is checked by the argument parser only, which is all a machine without that
hardware can check.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from pathlib import Path

import pytest

from phyff.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"emulate", "bench", "install-micropython", "ports", "sweep"}
HARDWARE = re.compile(r"/dev/|COM\d|socket://|rfc2217://|(^|\s)auto(\s|$)")


def _from_markdown(path: Path) -> list[str]:
    out, fenced, pending = [], False, ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced, pending = not fenced, ""
            continue
        text = line.split(" # ")[0].strip()
        if fenced and (pending or text.startswith("phyff ")):
            pending = f"{pending} {text.rstrip(chr(92)).strip()}".strip()
            if not text.endswith(chr(92)):
                out.append(pending)
                pending = ""
    return out


def _from_help() -> list[str]:
    out, pending = [], ""
    for line in cli_main.EPILOG.splitlines():
        text = line.strip()
        if pending:
            pending += " " + text.rstrip("\\").strip()
            if not text.endswith("\\"):
                out.append(pending)
                pending = ""
        elif text.startswith("phyff "):
            if text.endswith("\\"):
                pending = text.rstrip("\\").strip()
            else:
                out.append(text)
    return out


def _from_sketches() -> list[str]:
    """`phyff ...` commands in the comments of the Arduino example sketches."""
    out = []
    for path in sorted((ROOT / "firmware").rglob("*.ino")):
        for line in path.read_text(encoding="utf-8").splitlines():
            found = re.search(r"//\s*(phyff \S.*?)(?:\s{2,}.*)?$", line)
            if found:
                out.append(found.group(1).strip())
    return out


def examples() -> list[str]:
    found = _from_help() + _from_markdown(ROOT / "README.md") + _from_sketches()
    for doc in [*sorted((ROOT / "docs").glob("*.md")),
                *sorted((ROOT / "firmware").rglob("*.md"))]:
        found += _from_markdown(doc)
    return list(dict.fromkeys(found))


def _board(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--board" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def test_examples_are_found() -> None:
    found = examples()
    assert any(e.startswith("phyff train") for e in found) and len(found) >= 8
    assert any(e.startswith("phyff info --board") for e in _from_sketches())


@pytest.mark.parametrize("example", examples())
def test_example_parses(example: str) -> None:
    argv = shlex.split(example)[1:]
    parser = cli_main.build_parser()
    try:
        parser.parse_args(argv)
    except SystemExit as exit_:
        raise AssertionError(f"the documented example does not parse: {example}") from exit_


@pytest.mark.parametrize("example", [e for e in examples()
                                     if shlex.split(e)[1] not in SERVICES
                                     and not HARDWARE.search(e)])
def test_example_runs(example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = shlex.split(example)[1:]
    command = argv[0]
    if command in ("train", "eval") and "vowels" in example and not os.environ.get(
            "PHYFF_DATA_DIR"):
        pytest.skip("the vowel data need PHYFF_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    if command == "train":
        argv = _short(argv)
        if "--resume" in argv:  # a run to continue: start it first
            fresh = [a for a in argv if a != "--resume"]
            assert cli_main.main([*fresh, "--no-progress"]) == 0
            argv = [*argv[:argv.index("--epochs") + 1], "3",
                    *argv[argv.index("--epochs") + 2:]]
    elif command in ("eval", "report"):
        _make_runs_named_in(argv)
    code = cli_main.main([*argv, *(["--no-progress"] if command == "train" else [])])
    assert code == 0, f"documented example failed with exit {code}: {example}"


def _short(argv: list[str]) -> list[str]:
    argv = list(argv)
    if "--epochs" in argv:
        argv[argv.index("--epochs") + 1] = "2"
    else:
        argv += ["--epochs", "2"]
    if "--run" not in argv:
        argv += ["--run", "runs/example"]
    return argv


def _make_runs_named_in(argv: list[str]) -> None:
    """eval/report examples name a run: train a two-epoch one where they expect it."""
    target = Path(argv[1])
    run = target.parent if target.suffix == ".npz" else target
    board = _board(argv) or "emu://optical?seed=1&n_in=80&n_out=40"
    dataset = argv[argv.index("--dataset") + 1] if "--dataset" in argv else "digits"
    code = cli_main.main(["train", "--board", board, "--dataset", dataset, "--epochs", "2",
                          "--run", str(run), "--no-progress"])
    assert code == 0, f"could not prepare {run} for the example"


def test_help_of_every_command_builds() -> None:
    parser = cli_main.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert sub.format_help(), name
