"""The benchmark's methods by name, each run the same way on the same board and data.

`run_method(name, task, data, seed)` opens a fresh board from the task's URL
(so every method meets an identical medium), trains, evaluates on the test
set and returns a `RunResult`. Methods:

- ``phyll``, ``phyll-nophys``, ``phyll-noskip``, ``phyll-ffv1``: the product's
  trainer and its ablations (`phyff.compare.baselines.phyll`);
- ``pat``: physics-aware training, twin recorded and fitted on this board;
- ``backprop``: ideal backpropagation through the emulator's exact medium;
- ``elm``: fixed random physical blocks + ridge read-out;
- ``logreg``, ``mlp``, ``digital-elm``, ``ridge-lsq``: digital models with no
  device query at all (`phyff.compare.baselines.digital`).

`hook(epoch, ctx)` is called after every training epoch of the iterative
methods, after that epoch's evaluation (to perturb the medium part-way, say;
when it returns True the test accuracy on the changed medium is measured at
once, as extra["acc_after_change"]); `curve=True` records the test accuracy
after every epoch. Neither is charged to training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phyff.compare.baselines.backprop import BackpropNet, BackpropSettings, train_backprop
from phyff.compare.baselines.common import BenchContext, RunResult, accuracy
from phyff.compare.baselines.digital import (
    DIGITAL_METHODS,
    DigitalModel,
    mlp_width,
    phyll_inference_macs,
)
from phyff.compare.baselines.elm import Elm, ElmSettings
from phyff.compare.baselines.jacobian import ExactGradient, LayerGradient
from phyff.compare.baselines.phyll import (
    AS_CONFIGURED,
    VARIANTS,
    epoch_loop,
    train_once,
    variant_config,
)
from phyff.compare.baselines.twin import Twin, TwinSettings, record_pairs
from phyff.training.config import TrainConfig
from phyff.training.loop import Dataset

# Called after every epoch; returns True when it changed the medium, so the
# accuracy right after the change (before any retraining) is measured too.
Hook = Callable[[int, BenchContext], bool]

# The benchmark's methods (AS_CONFIGURED, the settings unchanged, is a sweep's method:
# the benchmark names its schedule instead).
METHODS: tuple[str, ...] = (*(v for v in VARIANTS if v != AS_CONFIGURED),
                            "pat", "backprop", "elm", *DIGITAL_METHODS)
# Methods that run only on the tasks that name them in Task.only (the drift scenario).
TASK_ONLY: tuple[str, ...] = ("phyll-frugal-r10",)

DESCRIPTIONS: dict[str, str] = {
    AS_CONFIGURED: "PhyLL with the settings exactly as given: what `phyff train` runs "
                   "(by default the layer-wise cached schedule with one-pass inference)",
    "phyll": "PhyLL, the paper's schedule: every batch measured afresh through every block, "
             "goodness-argmax inference (C x K queries per test sample)",
    "phyll-frugal": "query-frugal PhyLL (this product's default): blocks trained one after "
                    "another on measurements cached once per block, one-pass inference "
                    "(K queries per test sample)",
    "phyll-frugal-r10": "query-frugal PhyLL re-measuring its cache every 10 epochs "
                        "(for drifting media)",
    "phyll-frugal-nophys": "query-frugal PhyLL with the physical layers removed (digital "
                           "blocks only; same schedule, epochs and inference)",
    "phyll-frugal-noskip": "query-frugal PhyLL without the skip path (z = [p]; same "
                           "schedule, epochs and inference)",
    "phyll-nophys": "PhyLL with the physical layers removed (digital blocks only)",
    "phyll-noskip": "PhyLL without the skip path (z = [p] instead of [p, h])",
    "phyll-ffv1": "PhyLL with the forward-forward v1 goodness (mean of squares, threshold)",
    "pat": "physics-aware training: board forward, digital-twin backward (twin data counted)",
    "backprop": "ideal backpropagation: board forward, exact medium Jacobian backward "
                "(emulator only: PAT with a perfect twin)",
    "elm": "extreme learning machine: fixed random physical blocks, ridge read-out",
    "logreg": "logistic regression on standardised features (scikit-learn; no device)",
    "mlp": "one-hidden-layer MLP (scikit-learn) no larger per inference than the product's "
           "PhyLL in digital multiply-adds (no device)",
    "digital-elm": "digital extreme learning machine: as many fixed random tanh features as "
                   "the physical layers give readings, ridge read-out (no device)",
    "ridge-lsq": "least-squares ridge classifier on the raw features (one-hot targets; "
                 "no device)",
}


@dataclass(frozen=True)
class Task:
    """One cell of the benchmark matrix: a board, a dataset and every method's settings."""

    name: str
    url: str
    dataset: str
    phyll: TrainConfig
    backprop: BackpropSettings
    twin: TwinSettings = field(default_factory=TwinSettings)
    elm: ElmSettings = field(default_factory=ElmSettings)
    ffv1_lr: float | None = None  # learning rate of phyll-ffv1 (None: PhyLL's)
    only: tuple[str, ...] | None = None  # methods this task is for (None: all)
    # wrong labels cached per sample by the query-frugal variants (None: all C - 1),
    # chosen on validation splits of the training data (see compare/tasks.py)
    frugal_negatives: int | None = None
    seeds: int | None = None  # seeds of this task (None: the benchmark's --seeds)


def run_method(name: str, task: Task, data: Dataset, seed: int, *, curve: bool = False,
               hook: Hook | None = None) -> RunResult:
    """Train and test one method once; see the module docstring."""
    if name not in METHODS and name not in VARIANTS:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    with BenchContext(task.url) as ctx:
        result = RunResult(name, ctx.medium_name, task.dataset, seed, test_acc=float("nan"))
        if name in VARIANTS:
            _run_phyll(name, task, data, seed, ctx, result, curve, hook)
        elif name in ("pat", "backprop"):
            _run_backprop(name, task, data, seed, ctx, result, curve, hook)
        elif name in DIGITAL_METHODS:
            _run_digital(name, task, data, seed, ctx, result)
        else:
            _run_elm(task, data, seed, ctx, result)
    return result


def _after_epoch(epoch: int, ctx: BenchContext, result: RunResult, curve: bool,
                 hook: Hook | None, evaluate: Callable[[], float]) -> None:
    """Per-epoch evaluation, then the hook (and a second evaluation if it changed things)."""
    if curve:
        result.curve.append((epoch, evaluate()))
    if hook is not None and hook(epoch, ctx):
        result.extra["acc_after_change"] = evaluate()


# ------------------------------------------------------------------------ PhyLL
def _run_phyll(name: str, task: Task, data: Dataset, seed: int, ctx: BenchContext,
               result: RunResult, curve: bool, hook: Hook | None) -> None:
    config = variant_config(task.phyll, name, seed)
    if name == "phyll-ffv1" and task.ffv1_lr is not None:
        config = config.with_changes(lr=task.ffv1_lr)
    if name.startswith("phyll-frugal") and task.frugal_negatives is not None:
        config = config.with_changes(cache_negatives=task.frugal_negatives)
    layers = [ctx.layer] * config.n_blocks
    result.epochs = config.epochs
    if not curve and hook is None:
        outcome = train_once(config, layers, data)
        history = outcome.history
        result.train_macs = int(sum(r["macs"] for r in history))
        result.train_queries = int(sum(r["queries"] for r in history))
        result.board_s = float(sum(r["physical_s"] for r in history))
        result.wall_s = float(sum(r["digital_s"] + r["physical_s"] for r in history))
        result.train_acc = outcome.train_acc
        _test_cost(outcome.model, lambda: outcome.model.predict(layers, data.x_test), result)
        result.test_acc = outcome.test_acc  # the trainer's own final evaluation
        if outcome.model.config.inference == "onepass":
            # The same model by goodness argmax (C x K queries per sample), for the
            # one-pass-vs-goodness comparison; not charged to the method.
            result.extra["acc_goodness"] = accuracy(
                outcome.model.predict(layers, data.x_test, "goodness"), data.y_test)
        return
    loop = epoch_loop(config, layers, data)
    model = loop.model
    probe = _TestProbe(model, layers, data)

    def after(epoch: int, model: Any, record: dict[str, Any]) -> None:
        with ctx.paused():
            _after_epoch(epoch, ctx, result, curve, hook, probe)

    with ctx.training():
        before = model.meter.copy()
        loop.run(0, [after])
        result.train_macs = model.meter.since(before).macs - probe.macs
    result.train_queries = ctx.queries
    result.wall_s, result.board_s = ctx.wall_s, ctx.board_s
    result.test_acc = _test_cost(model, lambda: model.predict(layers, data.x_test), result,
                                 data.y_test)


class _TestProbe:
    """Test accuracy of a model between epochs, its MACs kept apart from training's."""

    def __init__(self, model: Any, layers: list[Any], data: Dataset) -> None:
        self.model, self.layers, self.data = model, layers, data
        self.macs = 0

    def __call__(self) -> float:
        before = self.model.meter.copy()
        acc = accuracy(self.model.predict(self.layers, self.data.x_test), self.data.y_test)
        self.macs += self.model.meter.since(before).macs
        return acc


def _test_cost(model: Any, predict: Callable[[], np.ndarray], result: RunResult,
               labels: np.ndarray | None = None) -> float:
    """Run test-set inference, charge its cost to result.eval_*; accuracy if labels given."""
    before = model.meter.copy()
    pred = predict()
    spent = model.meter.since(before)
    result.eval_macs, result.eval_queries = spent.macs, spent.queries
    return float("nan") if labels is None else accuracy(pred, labels)


# --------------------------------------------------------------- PAT / backprop
def _run_backprop(name: str, task: Task, data: Dataset, seed: int, ctx: BenchContext,
                  result: RunResult, curve: bool, hook: Hook | None) -> None:
    s = task.backprop
    layers = [ctx.layer] * s.n_blocks
    net = BackpropNet(data.n_classes, data.x_train.shape[1], [s.encoder] * s.n_blocks, layers,
                      skip=s.skip, hidden=s.hidden, lr=s.lr, seed=seed)
    rng = np.random.default_rng([seed, 1])
    probe = _TestProbe(net, layers, data)

    def after(epoch: int) -> None:
        with ctx.paused():
            _after_epoch(epoch, ctx, result, curve, hook, probe)

    grad: LayerGradient
    with ctx.training():
        if name == "pat":
            t0 = time.perf_counter()
            twin, result.twin_macs = _fit_twin(task.twin, ctx, s.encoder,
                                               net.layout(data.x_train), seed)
            result.twin_queries = ctx.layer.queries
            result.extra["twin_rel_error"] = twin.rel_error
            result.extra["twin_s"] = time.perf_counter() - t0
            grad = twin
        else:
            grad = ExactGradient(ctx.medium(), binary=s.encoder.startswith("binary2"))
        stats = train_backprop(net, layers, data.x_train, data.y_train, s, grad, rng, after)
    result.epochs = s.epochs
    result.oracle_evals = int(stats["oracle_evals"])
    result.train_macs = net.meter.macs - probe.macs + result.twin_macs
    result.train_queries = int(ctx.queries) - result.twin_queries
    result.wall_s, result.board_s = ctx.wall_s, ctx.board_s
    result.extra["final_loss"] = stats["loss"]
    result.test_acc = _test_cost(net, lambda: net.predict(layers, data.x_test), result,
                                 data.y_test)


def _fit_twin(settings: TwinSettings, ctx: BenchContext, encoder: str, x_layout: np.ndarray,
              seed: int) -> tuple[Twin, int]:
    """Record settings.n_pairs queries on this board and fit the twin; returns (twin, MACs)."""
    rng = np.random.default_rng([seed, 2])
    drives, readings, macs = record_pairs(ctx.layer, encoder, x_layout, settings.n_pairs, rng)
    twin = Twin(ctx.layer.n_in, ctx.layer.n_out, settings.hidden, seed, settings.dtype)
    macs += twin.fit(drives, readings, settings, rng)
    return twin, macs


# ------------------------------------------------------------------------- ELM
def _run_elm(task: Task, data: Dataset, seed: int, ctx: BenchContext,
             result: RunResult) -> None:
    s = task.elm
    layers = [ctx.layer] * s.n_blocks
    elm = Elm(data.n_classes, data.x_train.shape[1], layers, s, seed)
    with ctx.training():
        elm.fit(layers, data.x_train, data.y_train, np.random.default_rng([seed, 1]))
    result.train_macs, result.train_queries = elm.meter.macs, int(ctx.queries)
    result.wall_s, result.board_s = ctx.wall_s, ctx.board_s
    result.extra["ridge"] = elm.alpha
    result.test_acc = _test_cost(elm, lambda: elm.predict(layers, data.x_test), result,
                                 data.y_test)


# ------------------------------------------------------------ digital baselines
def _run_digital(name: str, task: Task, data: Dataset, seed: int, ctx: BenchContext,
                 result: RunResult) -> None:
    """A digital baseline: the board is opened for its widths only, never queried."""
    n_in, n_out = int(ctx.layer.n_in), int(ctx.layer.n_out)
    d = int(data.x_train.shape[1])
    hidden = width = 0
    if name == "mlp":
        budget = phyll_inference_macs(variant_config(task.phyll, "phyll-frugal", seed),
                                      n_in, n_out, data)
        hidden = mlp_width(budget, d, int(data.n_classes))
        result.extra["phyll_inference_macs"] = budget
    elif name == "digital-elm":
        width = task.phyll.n_blocks * n_out
    model = DigitalModel(name, int(data.n_classes), seed, hidden=hidden, width=width,
                         alphas=task.elm.alphas, holdout=task.elm.holdout)
    with ctx.training():
        model.fit(data.x_train, data.y_train)
    result.train_macs, result.train_queries = model.meter.macs, int(ctx.queries)
    result.wall_s, result.board_s = ctx.wall_s, ctx.board_s
    result.extra.update(model.extra)
    result.test_acc = _test_cost(model, lambda: model.predict(data.x_test), result,
                                 data.y_test)
