"""A short PhyLL training run through the target: the whole stack, end to end.

Two blocks share the target's medium through phyff.board.layer.BoardLayer, on a
small well-separated synthetic task that any working board and trainer
learn in a few epochs. On a target that simulates its medium the run must
also come out exactly like the same run on the in-process emulator: same
replies, so the same weights and accuracies.
"""

from __future__ import annotations

from pathlib import Path

from targets import Target

from phyff.board.client import Board
from phyff.board.layer import BoardLayer
from phyff.emulator import parse_emu_url
from phyff.perf.trainer import synthetic_vowels
from phyff.training.session import TrainConfig, TrainResult, train

TRAIN_SPEC = "emu://acoustic?seed=1"
EPOCHS = 5


def short_run(board: Board, run_dir: Path) -> TrainResult:
    # 7 label slots + 12 features need 19 drive channels; a narrow board (the
    # Uno has 4) gets the same kind of task with 2 classes and what fits.
    if board.n_drive >= 19:
        data = synthetic_vowels(0, n_train=42, n_test=21, spread=0.15)
    else:
        data = synthetic_vowels(0, n_train=42, n_test=21, n_classes=2,
                                n_features=board.n_drive - 2, spread=0.15)
    config = TrainConfig.from_preset("acoustic", epochs=EPOCHS, lr=5e-3, eval_every=EPOCHS)
    return train(config, [BoardLayer(board), BoardLayer(board)], data, run_dir, progress=False)


def test_short_training_run_learns(target: Target, tmp_path: Path) -> None:
    spec = parse_emu_url(TRAIN_SPEC)
    with target.open(spec) as url, Board.open(url, timeout=3.0) as board:
        result = short_run(board, tmp_path / "target")
        errors = board.stats().error_replies
    print(f"\n[{target.name}] {EPOCHS} epochs: train accuracy {result.train_acc:.3f}, "
          f"test accuracy {result.test_acc:.3f}, {board.samples} samples")
    assert errors == 0
    assert result.test_acc >= 0.8 and result.train_acc >= 0.8  # chance is 1/7 (1/2)
    if target.emulated:
        with Board.open(target.fit(spec).url()) as reference:
            expected = short_run(reference, tmp_path / "emulator")
        assert (result.train_acc, result.test_acc) == (expected.train_acc, expected.test_acc)
        assert [r["loss"] for r in result.history] == [r["loss"] for r in expected.history]
