"""On-device adaptation: the medium changes after deployment, the board re-learns by itself.

The benchmark's other adaptability scenario (`phyff.compare.adapt`) keeps a
host in the loop and trains through the change. This one is the field case:
a model is trained with the product's default method (``phyll-frugal``),
deployed, and then the medium changes under it, either by a step (an object
moves; `perturb("step", strength)`) or by slow drift while the board is in use
(the medium's drift clock run on by `age` rows). Per seed, every accuracy
below is the board's own INFER answer on the test split:

- ``deployed``: the model on the medium it was trained on;
- ``no adaptation``: the same model after the change;
- ``board refit``: after LEARN of at most `per_class` labelled training
  samples per class and REFIT, both on the board (learn.h: the board
  measures the samples itself, accumulates integer statistics and solves the
  ridge system in fixed point; the host only sends features and labels);
- ``host ridge refit``: the host's float ridge (`phyll.readout.fit_ridge`,
  same penalty) on the same samples' read-out features, recomputed from a
  traced INFER of them through the same board just before the LEARN (the
  same medium state; only the medium's measurement noise differs between the
  two readings), scored on the test split's features;
- ``host retraining``: `phyff train` from scratch on the changed medium with
  the whole training split, deployed: what a host would have to do without
  on-device learning, and the device rows it costs.

That the board's refit equals `phyff.ondevice.refit` bit for bit on the same
measurements is checked by the test and HIL suites, not by a
benchmark figure. Device rows are counted from the emulated medium's own
measurement counter.

Each seed uses its own cavity (medium seed 1 + seed) and training seed, so
the perturbation, the model and the picked samples all vary over seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phyff._text import plural
from phyff.board.client import Board
from phyff.compare.baselines.common import BenchContext
from phyff.compare.baselines.methods import Task
from phyff.compare.baselines.phyll import train_once, variant_config
from phyff.ondevice import reference as ref
from phyff.ondevice import refit as rf
from phyff.ondevice.deploy import deploy, features_q15
from phyff.phyll.readout import fit_ridge
from phyff.protocol.model_image import ModelImage

METHOD = "phyll-frugal"  # the product's default: what a user deploys
FIELD_TASK = "vowels7/acoustic"  # the benchmark task the scenarios run on


@dataclass(frozen=True)
class FieldSettings:
    """One field scenario: the change, the samples the board learns from, the penalty."""

    kind: str = "step"  # "step" or "drift"
    strength: float = 1.0  # step perturbation strength
    drift: float = 0.005  # drift: relative rate per 10,000 rows (medium option; slower
    # than the training scenario's 0.02, which already spoils a model during its training)
    age: int = 2_000_000  # drift: rows of field use between deployment and adaptation
    per_class: int = 10  # labelled samples per class the board learns from
    lambda_shift: int = 10  # ridge penalty 2^-lambda_shift (learn.h RF-S1)
    retrain: bool = True  # also retrain on the host (the costly alternative)

    def title(self) -> str:
        if self.kind == "step":
            return f"step perturbation, strength {self.strength:g}"
        return (f"slow drift ({self.drift:g} per 10,000 rows) over "
                f"{self.age:,} rows of use")


def seed_url(url: str, seed: int, settings: FieldSettings) -> str:
    """The task's board with its own cavity per seed (and the drift option)."""
    base, _, query = url.partition("?")
    options = [o for o in query.split("&") if o and not o.startswith(("seed=", "drift="))]
    options.insert(0, f"seed={1 + seed}")
    if settings.kind == "drift":
        options.append(f"drift={settings.drift}")
    return f"{base}?{'&'.join(options)}"


def pick_per_class(y: NDArray[np.int64], per_class: int, seed: int) -> NDArray[np.int64]:
    """Indices of the first `per_class` samples of each class in a seeded shuffle."""
    order = np.random.default_rng([seed, 7]).permutation(len(y))
    chosen = [i for c in np.unique(y) for i in order[y[order] == c][:per_class]]
    return np.sort(np.asarray(chosen, dtype=np.int64))


@dataclass
class Measured:
    """Read-out features (N, F) of samples through the board (learn.h RF-A1), and the
    board's own classes of them."""

    features: NDArray[np.int64]
    classes: NDArray[np.int64]


def measure(board: Board, image: ModelImage, x_q: NDArray[np.int16]) -> Measured:
    """The samples through the board with a trace, their read-out features recomputed
    from it by the reference (the features LEARN would accumulate, bit for bit)."""
    result = board.infer(x_q, trace=True)
    assert result.trace is not None
    run = ref.run(image, x_q, ref.replay(image, result.trace))
    if not (run.classes == result.classes).all():
        raise RuntimeError("the board's classes differ from the reference's: not the "
                           "deployed model?")
    return Measured(rf.readout_features(image, run.outputs[0]),
                    np.asarray(result.classes, np.int64))


def _accuracy(classes: NDArray[np.int64], y: NDArray[np.int64]) -> float:
    return float((np.asarray(classes) == y).mean())


def run_seed(task: Task, data: Any, seed: int, settings: FieldSettings) -> dict[str, Any]:
    """One seed of a field scenario; the figures of the module docstring."""
    config = variant_config(task.phyll, METHOD, seed)
    if task.frugal_negatives is not None:
        config = config.with_changes(cache_negatives=task.frugal_negatives)
    y_train = np.asarray(data.y_train, np.int64)
    y_test = np.asarray(data.y_test, np.int64)
    url = seed_url(task.url, seed, settings)
    with BenchContext(url) as ctx:
        device = ctx.device
        if device is None:
            raise ValueError(f"{url}: the field scenario changes the medium, which only an "
                             "emulated board (emu://) allows")
        board, layers = ctx.board, [ctx.layer] * config.n_blocks
        model = train_once(config, layers, data).model
        deployed = deploy(model, board, data.x_train, y_train, name=f"field{seed}", seed=seed)
        image = deployed.quantised.image
        x_test = features_q15(data.x_test, image.head.input_exp)
        before = _accuracy(board.infer(x_test).classes, y_test)

        if settings.kind == "step":
            device.perturb("step", settings.strength)
        else:
            device.age(settings.age)
        test = measure(board, image, x_test)
        no_adapt = _accuracy(test.classes, y_test)

        idx = pick_per_class(y_train, settings.per_class, seed)
        x_learn = features_q15(data.x_train[idx], image.head.input_exp)
        f_learn = measure(board, image, x_learn).features

        rows0 = device.medium.samples_measured
        board.forget()
        board.learn(x_learn, y_train[idx])
        refit = board.refit(settings.lambda_shift)
        learn_rows = device.medium.samples_measured - rows0
        after = _accuracy(board.infer(x_test).classes, y_test)
        info = board.model_info()
        assert info is not None

        w, _ = fit_ridge(rf.real_features(image, f_learn), y_train[idx], image.head.n_classes,
                         2.0 ** -settings.lambda_shift)
        scores = rf.real_features(image, test.features) @ w[:-1] + w[-1]
        host_ridge = _accuracy(scores.argmax(axis=1), y_test)

        out: dict[str, Any] = {
            "seed": seed, "url": url, "settings": asdict(settings),
            "deployed": before, "no_adapt": no_adapt, "board_refit": after,
            "host_ridge": host_ridge, "samples": len(idx),
            "learn_rows": int(learn_rows), "conditioning": int(refit.conditioning),
            "readout_origin": int(info.readout_origin),
            "readout_samples": int(info.readout_samples),
            "board_crc": f"0x{info.crc32:08x}",
        }
        if settings.retrain:
            rows0 = device.medium.samples_measured
            outcome = train_once(config, layers, data)
            again = deploy(outcome.model, board, data.x_train, y_train, name=f"field{seed}r",
                           seed=seed)
            out["retrain"] = _accuracy(board.infer(x_test).classes, y_test)
            out["retrain_rows"] = int(device.medium.samples_measured - rows0)
            out["retrain_image_bytes"] = len(again.image)
    return out


@dataclass
class FieldScenario:
    """Every seed of one field scenario."""

    settings: FieldSettings
    seeds: list[dict[str, Any]]

    def row(self) -> dict[str, Any]:
        """Means (and spreads) over seeds, the recovered share and the worst gap."""
        s = self.seeds

        def mean(key: str) -> float:
            values = [r[key] for r in s if key in r]
            return statistics.fmean(values) if values else float("nan")

        def std(key: str) -> float:
            values = [r[key] for r in s if key in r]
            return statistics.pstdev(values) if len(values) > 1 else 0.0

        lost = mean("deployed") - mean("no_adapt")
        return {
            "scenario": self.settings.title(), "seeds": len(s),
            **{k: mean(k) for k in ("deployed", "no_adapt", "board_refit", "host_ridge",
                                    "retrain", "learn_rows", "retrain_rows", "samples")},
            "board_refit_std": std("board_refit"), "host_ridge_std": std("host_ridge"),
            "gap_to_host_ridge": mean("board_refit") - mean("host_ridge"),
            "recovered": (mean("board_refit") - mean("no_adapt")) / lost if lost > 0
            else float("nan"),
            "readout_origin_board": sum(int(r["readout_origin"]) == 1 for r in s),
        }


def from_results(settings: FieldSettings, results: Sequence[dict[str, Any]]) -> FieldScenario:
    return FieldScenario(settings, sorted(results, key=lambda r: int(r["seed"])))


def _pct(v: float) -> str:
    return "-" if v != v else f"{100 * v:.1f} %"


def field_table(scenarios: Sequence[FieldScenario]) -> str:
    """Markdown: one row per scenario, means over seeds (the board's own answers)."""
    lines = ["| change | seeds | deployed | no adaptation | board refit (LEARN + REFIT) | "
             "host ridge refit, same samples | host retraining | lost accuracy recovered | "
             "rows: board learning / host retraining | MODEL_INFO says refitted |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for sc in scenarios:
        r = sc.row()
        exact = f"{r['readout_origin_board']} of {r['seeds']}"
        retrain_rows = "-" if r["retrain_rows"] != r["retrain_rows"] else \
            f"{r['retrain_rows']:,.0f}"
        lines.append(
            f"| {r['scenario']} | {r['seeds']} | {_pct(r['deployed'])} | {_pct(r['no_adapt'])} | "
            f"{_pct(r['board_refit'])} ± {100 * r['board_refit_std']:.1f} | "
            f"{_pct(r['host_ridge'])} ± {100 * r['host_ridge_std']:.1f} | "
            f"{_pct(r['retrain'])} | {_pct(r['recovered'])} | "
            f"{r['learn_rows']:,.0f} / {retrain_rows} | {exact} |")
    return "\n".join(lines)


def field_targets(scenarios: Sequence[FieldScenario]) -> list[tuple[str, bool | None, str]]:
    """Per scenario: within 2 points of the host's ridge refit, and half the loss recovered."""
    out: list[tuple[str, bool | None, str]] = []
    for sc in scenarios:
        r = sc.row()
        gap = 100 * r["gap_to_host_ridge"]
        met = abs(gap) <= 2.0 and r["recovered"] >= 0.5 and r["seeds"] >= 2
        out.append((
            f"on-device adaptation, {r['scenario']}: the board's refit from "
            f"{sc.settings.per_class} samples per class is within 2 points of the host's "
            "ridge refit and recovers at least half of the lost accuracy",
            met,
            f"board {_pct(r['board_refit'])} vs host ridge {_pct(r['host_ridge'])} "
            f"({gap:+.1f} points); deployed {_pct(r['deployed'])}, no adaptation "
            f"{_pct(r['no_adapt'])}, recovered {_pct(r['recovered'])} of the loss; "
            + plural(r["seeds"], "seed")))
    return out


FIELD_TEXT = """A model trained with the product's default (`phyll-frugal`) is deployed, then
the medium changes under it: a step perturbation, or slow drift while the board is in use.
The board then learns a new read-out by itself: LEARN of at most 10 labelled training
samples per class (the board measures each through its own physical blocks) and REFIT
(a fixed-point ridge solve on the board, learn.h). Every accuracy is the board's own INFER
answer on the test split. Beside it: the host's float ridge fit of the same samples'
read-out features (from a traced INFER of them just before the LEARN: the same medium,
another draw of its measurement noise), and retraining
from scratch on the host with the whole training split (what a board that cannot learn
needs, and the device rows it costs). Each seed has its own cavity and training seed."""
