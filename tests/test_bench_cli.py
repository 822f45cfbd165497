"""`phyff bench` from the command line: the quick check by default, the user's own
datasets as tasks, and nothing written for a refused run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phyff.cli.bench import options_from_args
from phyff.cli.main import build_parser, main


def test_no_flags_is_the_quick_check() -> None:
    assert options_from_args(build_parser().parse_args(["bench"])).preset == "quick"
    assert options_from_args(build_parser().parse_args(["bench", "--full"])).preset == "full"


def test_a_csv_dataset_is_a_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    x = np.abs(rng.normal(size=(3, 5))[y] + 0.3 * rng.normal(size=(90, 5)))
    data = tmp_path / "mine.csv"
    data.write_text("a,b,c,d,e,label\n" + "".join(
        ",".join(f"{v:.4f}" for v in row) + f",{label}\n" for row, label in zip(x, y,
                                                                                strict=True)))
    out = tmp_path / "bench"
    code = main(["bench", "--tasks", f"csv:{data}", "--methods", "phyll-frugal,ridge-lsq",
                 "--seeds", "1", "--no-adapt", "--no-speed", "--workers", "1", "--out",
                 str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert {r["method"] for r in summary} == {"phyll-frugal", "ridge-lsq"}
    assert {r["task"] for r in summary} == {f"csv:{data} (acoustic)"}
    assert not (out / "failures.jsonl").exists()  # nothing failed: no failures file


def test_refused_bench_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "--tasks", "no-such-task", "--out", str(out)]) == 2
    assert "unknown tasks" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setenv("PHYFF_DATA_DIR", str(tmp_path / "empty"))
    assert main(["bench", "--quick", "--no-speed", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "vowels7_pat_split.csv" in err and "--tasks digits/optical" in err
    assert not out.exists()
