"""What a new user reads first says what the code does: the install lines, the split
of a user's file, the preset a new medium gets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from phyff.cli.main import main
from phyff.cli.train import default_preset
from phyff.datasets import TEST_FRACTION, available_datasets
from phyff.media import register_medium, unregister_medium
from phyff.media.acoustic import AcousticMedium

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_installs_avrdude_where_it_uploads_to_an_uno() -> None:
    fence = re.search(r"```sh\n(.*?pio run -e uno -t upload.*?)```", README, re.S)
    assert fence and re.search(r"apt-get install[^\n]*\bavrdude\b", fence.group(1))


def test_the_default_split_of_user_files_is_documented() -> None:
    held = round(100 * TEST_FRACTION)
    split = f"{100 - held}/{held}"
    described = dict(available_datasets())
    for name in ("csv:PATH[#label=COL]", "npz:PATH", "idx:IMAGES,LABELS"):
        assert split in described[name], name
    assert f"split {split}, stratified by class, with seed 0" in README


class _Named(AcousticMedium):
    training_preset = "optical"


def test_a_new_medium_gets_the_acoustic_preset_and_is_told(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert default_preset("optical") == ("optical", None)
    assert default_preset("acoustic") == ("acoustic", None)
    for medium in ("unknown", "circuit"):
        preset, why = default_preset(medium)
        assert preset == "acoustic" and why and "--preset" in why and repr(medium) in why
    register_medium("named-plugin", _Named)
    try:
        assert default_preset("named-plugin") == ("optical", None)
    finally:
        unregister_medium("named-plugin")
    data = tmp_path / "two.csv"  # 2 classes + 3 features fit the circuit's 8 inputs
    data.write_text("a,b,c,label\n" + "".join(
        f"{0.1 * (i % 7)},{0.2 + 0.1 * (i % 2)},{0.05 * (i % 5)},{i % 2}\n" for i in range(40)))
    code = main(["train", "--board", "emu://circuit?seed=1", "--dataset", f"csv:{data}",
                 "--epochs", "2", "--run", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    assert "medium 'circuit' names no training preset" in capsys.readouterr().err
    code = main(["train", "--board", "emu://circuit?seed=1", "--dataset", f"csv:{data}",
                 "--epochs", "2", "--run", str(tmp_path / "run2"), "--no-progress",
                 "--preset", "acoustic"])
    assert code == 0 and "names no training preset" not in capsys.readouterr().err
