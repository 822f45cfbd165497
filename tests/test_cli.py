"""The ``phyff`` command as a user runs it: exit codes, messages, files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from phyff.cli.common import EXIT_BOARD, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from phyff.cli.main import main
from phyff.phyll.model import load_model

BOARD = "emu://optical?seed=1&n_in=80&n_out=40&noise=0"
FAST = ["--preset", "optical", "--skip", "--lr", "2e-3", "--batch-size", "256",
        "--no-progress"]


def phyff(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> (
        subprocess.CompletedProcess[str]):
    return subprocess.run([sys.executable, "-m", "phyff.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("train", "eval", "report", "info", "emulate", "emu://acoustic?seed=1"):
        assert word in out
    assert main([]) == EXIT_USAGE


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "emu://acoustic?seed=5", "--json"]) == EXIT_OK
    info = json.loads(capsys.readouterr().out)
    assert info["caps"]["medium"] == "acoustic" and info["caps"]["unit_id"] == 5
    assert info["stats"]["frames_ok"] >= 2


def test_bad_board_url_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "emu://nosuchmedium?seed=1"]) == EXIT_USAGE
    assert "nosuchmedium" in capsys.readouterr().err
    assert main(["info", "/dev/phyff-no-such-port", "--timeout", "0.2"]) == EXIT_BOARD
    assert "emu://" in capsys.readouterr().err


def test_train_eval_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    code = main(["train", "--board", BOARD, "--dataset", "digits", "--epochs", "2",
                 "--eval-every", "2", "--run", str(run), "--json", *FAST])
    assert code == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["test_accuracy"] > 0.5 and summary["device_queries"] > 0
    for name in ("model.npz", "checkpoint.npz", "metrics.jsonl", "goodness.npz", "config.json"):
        assert (run / name).is_file(), name
    meta = load_model(run / "model.npz").metadata
    assert meta["layers"][0]["caps"]["medium"] == "optical"
    assert meta["dataset"]["name"] == "digits" and meta["versions"]["phyff"]

    assert main(["eval", str(run), "--board", BOARD, "--dataset", "digits", "--json"]) == EXIT_OK
    ev = json.loads(capsys.readouterr().out)
    assert ev["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert np.array(ev["confusion"]).sum() == ev["samples"] == 360
    assert main(["eval", str(run), "--board", BOARD, "--dataset", "digits",
                 "--min-accuracy", "0.999"]) == EXIT_FAILED
    capsys.readouterr()

    # Another medium instance (seed) is another physical system: refused.
    other = BOARD.replace("seed=1", "seed=2")
    assert main(["eval", str(run), "--board", other, "--dataset", "digits"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "does not match this board" in err and "unit_id" in err

    assert main(["report", str(run), "--json"]) == EXIT_OK
    figures = json.loads(capsys.readouterr().out)["figures"]
    assert len(figures) == 3 and all(Path(f).stat().st_size > 1000 for f in figures)

    # An existing run is not overwritten without --resume.
    assert main(["train", "--board", BOARD, "--dataset", "digits", "--epochs", "2",
                 "--run", str(run), *FAST]) == EXIT_USAGE


def test_bad_data_leaves_nothing_behind(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("a,b,label\n1,2,0\nnan,3,1\n2,2,0\n3,3,1\n4,4,0\n5,5,1\n")
    run = tmp_path / "run"
    code = main(["train", "--board", BOARD, "--dataset", f"csv:{csv}", "--epochs", "1",
                 "--run", str(run), *FAST])
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "NaN" in err or "finite" in err, err
    assert not run.exists()
    code = main(["train", "--board", BOARD, "--dataset", "vowels7", "--data",
                 str(tmp_path / "nowhere"), "--epochs", "1", "--run", str(run), *FAST])
    assert code == EXIT_USAGE
    assert "PHYFF_DATA_DIR" in capsys.readouterr().err
    assert not run.exists()
    assert main(["eval", str(tmp_path / "missing.npz"), "--board", BOARD, "--dataset",
                 "digits"]) == EXIT_USAGE


def test_too_many_features_for_the_board(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # digits needs 64 features + 10 label slots; a 20-channel medium cannot hold them.
    code = main(["train", "--board", "emu://acoustic?seed=1", "--dataset", "digits",
                 "--epochs", "1", "--run", str(tmp_path / "r"), "--no-progress"])
    assert code == EXIT_USAGE
    assert "20" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def _model_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "__header__"}


def test_killed_then_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    args = ["--board", BOARD, "--dataset", "digits", "--epochs", "4", "--eval-every", "4",
            "--seed", "3", *FAST]
    full = tmp_path / "full"
    assert phyff("train", *args, "--run", str(full)).returncode == 0

    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "phyff.cli.main", "train", *args, "--run",
                             str(part)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (part / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: a power cut
    proc.wait()
    assert (part / "checkpoint.npz").exists(), "no checkpoint was written before the kill"
    assert not (part / "model.npz").exists(), "the run finished before it could be killed"
    leftovers = [p.name for p in part.iterdir() if p.name.startswith(".") or "tmp" in p.name]
    resumed = phyff("train", *args, "--run", str(part), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = _model_arrays(full / "model.npz"), _model_arrays(part / "model.npz")
    assert a.keys() == b.keys()
    # Query counts may differ: a run killed between writing its caches and its checkpoint
    # measures them again on resume.
    head_a, head_b = (json.loads(str(h.pop("header_json"))) for h in (a, b))
    spent_a, spent_b = (h["metadata"].pop("queries") for h in (head_a, head_b))
    assert head_a == head_b and spent_b["training"] >= spent_a["training"]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # Half-written temporary files from the kill may exist only as hidden temps.
    assert all(name.startswith(".") or "tmp" in name for name in leftovers)


def test_emulate_tcp_subprocess() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "phyff.cli.main", "emulate", "--tcp",
                             "127.0.0.1:0", "--medium", "acoustic"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:")
        out = phyff("info", url, "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["caps"]["medium"] == "acoustic"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0
