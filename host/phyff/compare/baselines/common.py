"""What every benchmarked method shares: the board it runs on, its result record, timing.

Why a common record: the benchmark compares methods that train in very
different ways (local losses, backpropagation through a twin or through the
exact medium, a closed-form read-out). A user choosing between them cares
about the same few currencies for all of them, so every method reports one
`RunResult`: accuracy, device queries (training, twin data, evaluation),
digital multiply-adds counted by the code that performs them (see
`phyff.phyll.accounting`), and wall time split into board time and digital time.

Every run opens its own board from the same URL, so each method meets an
identical medium (same seed, same noise stream, same perturbation history).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from phyff.board.client import Board
from phyff.board.layer import BoardLayer

EpochHook = Callable[[int, "BenchContext"], None]


@dataclass
class RunResult:
    """One training run of one method on one (medium, dataset, seed).

    Costs are for training unless named otherwise: `twin_queries` are the
    device queries spent recording a digital twin's data (PAT), `oracle_evals`
    the evaluations of the emulator's exact medium model (ideal backprop; not
    device queries, as no real board offers them). `eval_*` cost the final
    evaluation on the test set only. `curve` holds (epoch, test accuracy)
    pairs when per-epoch evaluation was asked for.
    """

    method: str
    medium: str
    dataset: str
    seed: int
    test_acc: float
    train_acc: float | None = None
    epochs: int = 0
    train_queries: int = 0
    twin_queries: int = 0
    oracle_evals: int = 0
    train_macs: int = 0
    twin_macs: int = 0
    eval_queries: int = 0
    eval_macs: int = 0
    wall_s: float = 0.0
    board_s: float = 0.0
    curve: list[tuple[int, float]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def digital_s(self) -> float:
        """Training wall time outside the board (wall minus board time)."""
        return max(0.0, self.wall_s - self.board_s)

    @property
    def queries(self) -> int:
        """All device queries the training needed (its own plus the twin's data)."""
        return self.train_queries + self.twin_queries

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (for the CSV and the raw results file)."""
        out = asdict(self)
        out["digital_s"] = self.digital_s
        out["curve"] = [list(p) for p in self.curve]
        return out


class BenchContext:
    """One method's view of its board during a run: the layer, the device, the clock.

    `device` is the in-process emulated device behind an ``emu://`` URL (None
    for a real board); methods that need the exact medium or a perturbation
    reach it through here. `seconds` is wall time of the training phase only:
    the method brackets training with `training()` so that loading data and
    the final evaluation are not charged to it.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.board = Board.open(url)
        self.layer = BoardLayer(self.board)
        self.device = self.board.oracle()
        self.wall_s = 0.0
        self.board_s = 0.0
        self.queries = 0
        self._paused = [0.0, 0.0, 0.0]  # wall s, board s, queries inside paused()

    @property
    def medium_name(self) -> str:
        """The medium the board reports (acoustic, optical, ...)."""
        return str(self.board.caps.medium)

    def medium(self) -> Any:
        """The emulator's medium object (for exact Jacobians); refuses real boards."""
        if self.device is None:
            raise ValueError(
                f"{self.url}: the exact medium model exists only on an emulated board "
                "(emu://...); ideal backpropagation cannot run on real hardware"
            )
        return self.device.medium

    @contextmanager
    def training(self) -> Iterator[None]:
        """Charge the enclosed wall time, board time and queries to training.

        Work done inside `paused()` (per-epoch evaluation, a perturbation) is
        left out, so a learning curve costs nothing in the training figures.
        """
        t0, b0, q0 = time.perf_counter(), self.layer.seconds, self.layer.queries
        p0 = list(self._paused)
        try:
            yield
        finally:
            self.wall_s += time.perf_counter() - t0 - (self._paused[0] - p0[0])
            self.board_s += self.layer.seconds - b0 - (self._paused[1] - p0[1])
            self.queries += self.layer.queries - q0 - int(self._paused[2] - p0[2])

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Exclude the enclosed work from the surrounding `training()` figures."""
        t0, b0, q0 = time.perf_counter(), self.layer.seconds, self.layer.queries
        try:
            yield
        finally:
            self._paused[0] += time.perf_counter() - t0
            self._paused[1] += self.layer.seconds - b0
            self._paused[2] += self.layer.queries - q0

    def close(self) -> None:
        """Close the board."""
        self.board.close()

    def __enter__(self) -> BenchContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of correct predictions."""
    return float(np.mean(np.asarray(pred) == np.asarray(labels)))
