"""The CLI's one exception boundary: every failure has its documented exit code and a
message naming what to fix; no traceback unless --debug."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from phyff.board.link import LinkError
from phyff.cli.common import EXIT_BOARD, EXIT_FAILED, EXIT_USAGE, exit_code_for, run
from phyff.cli.main import main
from phyff.training.plots import make_report
from phyff.training.runfiles import GOODNESS_FILE, METRICS_FILE

BOARD = "emu://optical?seed=1&n_in=80&n_out=40&noise=0"
SHORT_RUN = ["--board", BOARD, "--dataset", "digits", "--epochs", "2", "--no-progress",
             "--batch-size", "512"]


@pytest.mark.parametrize("exc, code, words", [
    (PermissionError(errno.EACCES, "Permission denied", "/ro/run"), EXIT_USAGE,
     ["/ro/run", "permission denied"]),
    (OSError(errno.ENOSPC, "No space left on device"), EXIT_USAGE, ["disk is full"]),
    (OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300), EXIT_USAGE,
     ["name is too long"]),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro"), EXIT_USAGE, ["read-only"]),
    (OSError(errno.EIO, "Input/output error"), EXIT_BOARD, ["board or link"]),
    (LinkError("no reply"), EXIT_BOARD, ["no reply"]),
    (ValueError("bad"), EXIT_USAGE, ["bad"]),
    (OverflowError("big"), EXIT_USAGE, ["big"]),
    (RuntimeError("oops"), EXIT_FAILED, ["--debug", "bug"]),
    (KeyboardInterrupt(), 130, ["interrupted"]),
])
def test_every_error_class_has_its_exit_code(exc: BaseException, code: int,
                                              words: list[str]) -> None:
    got, message = exit_code_for(exc)
    assert got == code
    for word in words:
        assert word in message


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    def boom(args: argparse.Namespace) -> int:
        raise RuntimeError("kaboom")

    assert run(boom, argparse.Namespace(debug=False)) == EXIT_FAILED
    assert "Traceback" not in capsys.readouterr().err
    assert run(boom, argparse.Namespace(debug=True)) == EXIT_FAILED
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-1", "soon"])
def test_timeouts_must_be_finite_and_positive(timeout: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["info", "emu://acoustic?seed=1", "--timeout", timeout])
    assert exit_.value.code == EXIT_USAGE
    assert "seconds" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["50", "nan", "-0.1"])
def test_min_accuracy_is_a_fraction(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "runs/x", "--dataset", "digits", "--min-accuracy", value])
    assert exit_.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "fraction" in err and ("0.5" in err if value == "50" else True)


def test_empty_or_file_run_names_are_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *SHORT_RUN, "--run", ""]) == EXIT_USAGE
    assert "empty" in capsys.readouterr().err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["train", *SHORT_RUN, "--run", str(afile)]) == EXIT_USAGE
    assert "is a file" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert main(["train", *SHORT_RUN, "--run", str(ro / "run")]) == EXIT_USAGE
    assert str(ro) in capsys.readouterr().err


def test_too_long_run_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *SHORT_RUN, "--run", str(tmp_path / ("x" * 300))]) == EXIT_USAGE
    assert "too long" in capsys.readouterr().err


def test_overwrite_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.npz").write_bytes(b"keep me")
    assert main(["train", *SHORT_RUN, "--run", str(run)]) == EXIT_USAGE
    assert "--overwrite" in capsys.readouterr().err
    assert (run / "model.npz").read_bytes() == b"keep me"
    assert main(["train", *SHORT_RUN, "--run", str(run), "--overwrite"]) == 0
    assert (run / "model.npz").read_bytes() != b"keep me"


def test_a_problem_wider_than_its_label_slots_allow_says_how_it_is_laid_out(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # digits: 10 label slots + 64 pixels = 74 inputs on 64 drive channels: the label
    # becomes a class code on the pixels, which fit one row
    code = main(["train", "--board", "emu://optical?seed=1", "--dataset", "digits",
                 "--epochs", "2", "--run", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "64 features + a superposed class code = 64 inputs over 64 drive channels: 1 " \
           "device rows per sample" in err
    # on an Uno's 4 drive pins, 10 label slots in order fill rows 0-1 with labels only
    code = main(["train", "--board", "emu://circuit?seed=1&shape=uno", "--dataset", "digits",
                 "--labels", "slots", "--row-layout", "split", "--epochs", "2",
                 "--run", str(tmp_path / "s"), "--no-progress"])
    assert code == EXIT_USAGE
    assert "label slots alone in row 0" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_report_on_a_torn_metrics_line(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", *SHORT_RUN, "--run", str(run)]) == 0
    capsys.readouterr()
    with open(run / METRICS_FILE, "a") as handle:
        handle.write('{"epoch": 3, "loss"')
    assert main(["report", str(run)]) == 0
    assert "last epoch 2" in capsys.readouterr().out


def test_report_with_many_classes(tmp_path: Path) -> None:
    """The confusion figure stays bounded (no per-cell text) for 150 classes."""
    from phyff.phyll.npzio import write_npz_atomic
    from phyff.training.goodnessfile import GOODNESS_FORMAT

    run = tmp_path / "run"
    run.mkdir()
    (run / METRICS_FILE).write_text(json.dumps(
        {"epoch": 1, "loss": 0.5, "separation": 0.1, "train_acc": 0.5, "test_acc": 0.4}) + "\n")
    rng = np.random.default_rng(0)
    confusion = rng.integers(0, 5, (150, 150))
    write_npz_atomic(run / GOODNESS_FILE, {
        "confusion": confusion, "pos": rng.normal(size=300), "neg": rng.normal(size=300)},
        {"format": GOODNESS_FORMAT, "format_version": 1, "kind": "supervised",
         "n_blocks": 2, "goodness": "cosine"})
    paths = make_report(run)
    assert len(paths) == 3 and all(p.stat().st_size < 2_000_000 for p in paths)


def test_link_lost_mid_training_says_how_to_resume(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from phyff.board import layer as layer_module

    calls = {"n": 0}
    original = layer_module.BoardLayer.measure

    def flaky(self: layer_module.BoardLayer, drive: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] > 6:
            raise LinkError("no valid reply from the board after 3 tries")
        return original(self, drive)

    monkeypatch.setattr(layer_module.BoardLayer, "measure", flaky)
    run = tmp_path / "run"
    code = main(["train", "--board", BOARD, "--dataset", "digits", "--epochs", "5",
                 "--batch-size", "2000", "--eval-every", "5", "--run", str(run),
                 "--schedule", "simultaneous", "--no-progress"])
    assert code == EXIT_BOARD
    err = capsys.readouterr().err
    assert "--resume" in err and str(run) in err
