"""Tests of the benchmark baselines: derivatives, twin, ELM, accounting, PhyLL loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phyff.compare.adapt import before_change, recovery_epochs
from phyff.compare.baselines.backprop import BackpropNet, BackpropSettings, train_backprop
from phyff.compare.baselines.common import BenchContext
from phyff.compare.baselines.elm import Elm, ElmSettings
from phyff.compare.baselines.jacobian import ExactGradient
from phyff.compare.baselines.methods import Task, run_method
from phyff.compare.baselines.phyll import epoch_loop, train_once
from phyff.compare.baselines.twin import Twin, TwinSettings, record_pairs
from phyff.media import make_medium
from phyff.phyll.encoders import get_encoder
from phyff.phyll.standin import StandInLayer, synthetic_vowels
from phyff.training.session import TrainConfig


def numeric_vjp(f: Any, x: np.ndarray, g: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d<g, f(x)>/dx by central differences, entry by entry."""
    out = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        out[idx] = (np.sum(g * f(xp)) - np.sum(g * f(xm))) / (2 * eps)
    return out


class IdealOf:
    """Wraps a deterministic layer as a 'medium' with ideal(), for ExactGradient."""

    def __init__(self, layer: StandInLayer) -> None:
        self.layer = layer

    def ideal(self, drive: np.ndarray) -> np.ndarray:
        return self.layer.measure(np.clip(drive, 0.0, 1.0))


@pytest.mark.parametrize("encoder", ["amplitude", "phase", "clip"])
def test_encoder_backward_matches_finite_differences(encoder: str) -> None:
    rng = np.random.default_rng(0)
    h = rng.uniform(-1, 1, (4, 6)) if encoder != "clip" else rng.uniform(0.05, 0.95, (4, 6))
    g = rng.standard_normal((4, 6))
    got, macs = get_encoder(encoder).vjp(h, g)
    want = numeric_vjp(lambda v: get_encoder(encoder).encode(v)[0], h, g)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert macs >= 0


def test_binary_encoder_uses_a_straight_through_estimator() -> None:
    rng = np.random.default_rng(1)
    h = rng.uniform(-1, 1, (3, 5))
    g = rng.standard_normal((3, 10))
    got, _ = get_encoder("binary2").vjp(h, g)
    # Both bits of an entry pass their gradient to the min-max scaled entry.
    want, _ = get_encoder("phase").vjp(h, g[:, 0::2] + g[:, 1::2])
    np.testing.assert_allclose(got, want)


def test_exact_gradient_of_a_linear_medium_is_its_matrix() -> None:
    a = np.random.default_rng(2).standard_normal((5, 3))

    class Linear:
        def ideal(self, d: np.ndarray) -> np.ndarray:
            return d @ a

    drive = np.random.default_rng(3).uniform(0.1, 0.9, (4, 5))
    jac, evals = ExactGradient(Linear()).jacobian(drive)
    assert evals == 2 * 4 * 5
    np.testing.assert_allclose(jac, np.broadcast_to(a.T, (4, 3, 5)), atol=1e-9)
    # At the drive limits the difference is one-sided, still exact for a linear map.
    edge = np.zeros((1, 5))
    np.testing.assert_allclose(ExactGradient(Linear()).jacobian(edge)[0][0], a.T, atol=1e-9)
    # Binary drives: the derivative of a switch is the change its flip causes.
    bits = np.array([[1.0, 0.0, 1.0, 0.0, 0.0]])
    jb, _ = ExactGradient(Linear(), binary=True).jacobian(bits)
    np.testing.assert_allclose(jb[0], a.T, atol=1e-12)


def test_optical_jacobian_is_analytic_and_matches_finite_differences() -> None:
    med = make_medium("optical", seed=4, n_in=12, n_out=6, noise=0.0)
    drive = np.random.default_rng(5).uniform(0.1, 0.9, (3, 12))
    jac, evals = ExactGradient(med).jacobian(drive)
    assert evals == 0  # analytic: no evaluation of the medium

    class Fd:
        ideal = med.ideal

    fd, _ = ExactGradient(Fd()).jacobian(drive)
    np.testing.assert_allclose(jac, fd, atol=2e-3 * np.abs(fd).max())
    np.testing.assert_allclose(med.jacobian(drive), jac)


def test_backprop_gradients_match_finite_differences_of_the_loss() -> None:
    layers = [StandInLayer(8, 6, seed=1), StandInLayer(8, 6, seed=2)]
    data = synthetic_vowels(0, n_train=10, n_test=2, n_features=4, n_classes=3)
    net = BackpropNet(3, 4, ["amplitude", "amplitude"], layers, skip=True, hidden=None,
                      lr=1e-2, seed=0)
    grad_source = ExactGradient(IdealOf(layers[1]), step=1e-6)
    x, y = net.layout(data.x_train), data.y_train
    _, grads, macs, evals = net.gradients(layers, x, y, grad_source)
    assert macs > 0 and evals == 2 * len(x) * 8

    def loss_at() -> float:
        logits, _ = net.forward(layers, x)
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-np.mean(logp[np.arange(len(y)), y]))

    rng = np.random.default_rng(6)
    for k, param in enumerate(net.params):
        for _ in range(4):
            idx = tuple(rng.integers(0, n) for n in param.shape)
            old = param[idx]
            param[idx] = old + 1e-6
            up = loss_at()
            param[idx] = old - 1e-6
            down = loss_at()
            param[idx] = old
            assert grads[k][idx] == pytest.approx((up - down) / 2e-6, rel=1e-3, abs=1e-7)


def test_twin_fits_a_smooth_layer_and_its_backward_is_its_derivative() -> None:
    layer = StandInLayer(6, 4, seed=3)
    x = np.random.default_rng(7).uniform(0, 1, (50, 6))
    drives, readings, _ = record_pairs(layer, "clip", x, 3000, np.random.default_rng(8))
    assert drives.shape == (3000, 6) and readings.shape == (3000, 4) and layer.rows == 3000
    twin = Twin(6, 4, (32, 32), seed=0, dtype="float64")
    fit_macs = twin.fit(drives, readings, TwinSettings(epochs=40, batch_size=64, lr=3e-3),
                        np.random.default_rng(9))
    # Adam over 40 epochs of 2,700 rows through a 6-32-32-4 MLP: ~3x the forward work.
    per_row = 6 * 32 + 32 * 32 + 32 * 4
    assert fit_macs > 40 * 2700 * 2 * per_row
    assert twin.rel_error < 0.2
    d = np.random.default_rng(10).uniform(0.2, 0.8, (3, 6))
    g = np.random.default_rng(11).standard_normal((3, 4))
    got, vjp_macs, evals = twin.vjp(d, None, g)
    want = numeric_vjp(lambda v: twin.predict(v)[0], d, g, eps=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert vjp_macs > 2 * 3 * per_row and evals == 0


def test_backprop_learns_a_separable_task_through_a_physical_layer() -> None:
    layers = [StandInLayer(20, 20, seed=1)] * 2
    data = synthetic_vowels(0, n_train=84, n_test=42, spread=0.15)
    net = BackpropNet(7, 12, ["amplitude"] * 2, layers, skip=True, hidden=None, lr=1e-2, seed=0)
    settings = BackpropSettings(epochs=30, batch_size=32, lr=1e-2)
    train_backprop(net, layers, data.x_train, data.y_train, settings,
                   ExactGradient(IdealOf(layers[0])), np.random.default_rng(0))
    assert np.mean(net.predict(layers, data.x_test) == data.y_test) >= 0.9
    # one forward query per row per block per epoch, plus the prediction
    assert net.meter.queries == 30 * 84 * 2 + 42 * 2


def test_elm_uses_one_pass_per_block_and_beats_chance() -> None:
    layers = [StandInLayer(20, 20, seed=1)] * 2
    data = synthetic_vowels(0, n_train=84, n_test=42, spread=0.3)
    elm = Elm(7, 12, layers, ElmSettings(), seed=0)
    elm.fit(layers, data.x_train, data.y_train, np.random.default_rng(0))
    assert elm.meter.queries == 84 * 2 and elm.meter.macs > 0
    assert np.mean(elm.predict(layers, data.x_test) == data.y_test) >= 0.8


def test_bench_loop_is_the_product_loop(tmp_path: Path) -> None:
    """The benchmark's hooked loop (no evaluation, no files) ends with train()'s weights."""
    data = synthetic_vowels(0, n_train=40, n_test=10)
    config = TrainConfig.from_preset("acoustic", epochs=3, lr=5e-3, batch_size=16)
    a = train_once(config, [StandInLayer(seed=1), StandInLayer(seed=2)], data)
    loop = epoch_loop(config, [StandInLayer(seed=1), StandInLayer(seed=2)], data)
    seen: list[int] = []
    assert loop.run(0, [lambda epoch, model, record: seen.append(epoch)]) == 3
    assert seen == [1, 2, 3]
    for p, q in zip(a.model.params, loop.model.params, strict=True):
        np.testing.assert_array_equal(p, q)


def test_bench_context_leaves_paused_work_out_of_training() -> None:
    with BenchContext("emu://acoustic?seed=1") as ctx:
        with ctx.training():
            ctx.layer.measure(np.full((5, 20), 0.5))
            with ctx.paused():
                ctx.layer.measure(np.full((7, 20), 0.5))
        assert ctx.queries == 5 and ctx.layer.queries == 12
        assert 0 <= ctx.board_s <= ctx.wall_s
        assert ctx.medium().name == "acoustic"


TINY = Task(
    "tiny", "emu://acoustic?seed=1", "synthetic",
    TrainConfig.from_preset("acoustic", epochs=3, lr=5e-3),
    BackpropSettings(epochs=2, batch_size=32, lr=1e-2),
    TwinSettings(n_pairs=300, epochs=2),
)


@pytest.mark.parametrize("method", ["phyll", "phyll-nophys", "pat", "backprop", "elm",
                                    "ridge-lsq", "logreg", "mlp", "digital-elm"])
def test_every_method_counts_its_queries_exactly(method: str) -> None:
    data = synthetic_vowels(0, n_train=40, n_test=10)
    r = run_method(method, TINY, data, seed=0)
    assert 0.0 <= r.test_acc <= 1.0 and r.medium == "acoustic"
    expected_train = {"phyll": 3 * 2 * 40 * 2, "phyll-nophys": 0, "pat": 2 * 40 * 2,
                      "backprop": 2 * 40 * 2, "elm": 40 * 2}.get(method, 0)
    assert r.train_queries == expected_train
    assert r.twin_queries == (300 if method == "pat" else 0)
    assert r.train_macs > 0
    assert r.eval_queries == {"phyll": 7 * 2 * 10, "pat": 2 * 10, "backprop": 2 * 10,
                              "elm": 2 * 10}.get(method, 0)
    assert r.wall_s >= r.board_s >= 0.0
    if method == "pat":
        assert r.twin_macs > 0 and r.train_macs > r.twin_macs
    if method == "backprop":
        assert r.oracle_evals == 2 * 40 * 2 * 20  # central differences, 20 drive channels


def test_learning_curve_and_perturbation_hook_are_not_charged_to_training() -> None:
    data = synthetic_vowels(0, n_train=40, n_test=10)
    seen: list[int] = []

    def hook(epoch: int, ctx: BenchContext) -> bool:
        seen.append(epoch)
        if epoch == 2:
            assert ctx.device is not None
            ctx.device.perturb("step", 1.0)
            return True
        return False

    plain = run_method("phyll", TINY, data, seed=0)
    r = run_method("phyll", TINY, data, seed=0, curve=True, hook=hook)
    assert seen == [1, 2, 3] and [e for e, _ in r.curve] == [1, 2, 3]
    assert "acc_after_change" in r.extra
    assert r.train_queries == plain.train_queries and r.train_macs == plain.train_macs


def test_recovery_epochs() -> None:
    curve = [(e, 0.9) for e in range(1, 11)] + [(11, 0.5), (12, 0.8)] + \
        [(e, 0.89) for e in range(13, 25)]
    assert before_change(curve, 10) == pytest.approx(0.9)
    assert recovery_epochs(curve, 10, 0.02) == 3
    assert recovery_epochs([*curve[:12], *[(e, 0.6) for e in range(13, 25)]], 10, 0.02) is None


# ------------------------------------------------------------ digital baselines
def test_digital_baselines_make_no_query_and_count_inference_macs() -> None:
    from phyff.compare.baselines.digital import DigitalModel

    data = synthetic_vowels(0, n_train=84, n_test=42, spread=0.3)
    d, c = 12, 7
    expected = {"logreg": d * c, "ridge-lsq": d * c, "mlp": d * 30 + 30 * c,
                "digital-elm": d * 40 + (40 + d) * c}
    for method, per_sample in expected.items():
        model = DigitalModel(method, c, seed=0, hidden=30, width=40)
        model.fit(data.x_train, data.y_train)
        assert model.meter.queries == 0 and model.meter.macs > 0
        before = model.meter.macs
        pred = model.predict(data.x_test)
        assert model.meter.macs - before == 42 * per_sample
        assert np.mean(pred == data.y_test) >= 0.7, method


def test_mlp_is_sized_to_phyll_digital_work_per_prediction() -> None:
    """The MLP's budget is what a one-pass PhyLL run of the task measures, to the MAC."""
    from phyff.compare.baselines.digital import mlp_width, phyll_inference_macs
    from phyff.compare.baselines.phyll import variant_config

    data = synthetic_vowels(0, n_train=40, n_test=10)
    frugal = run_method("phyll-frugal", TINY, data, seed=0)
    budget = phyll_inference_macs(variant_config(TINY.phyll, "phyll-frugal", 0), 20, 20, data)
    assert budget == frugal.eval_macs / 10
    mlp = run_method("mlp", TINY, data, seed=0)
    assert mlp.extra["phyll_inference_macs"] == budget
    assert mlp.eval_macs / 10 <= budget < mlp.eval_macs / 10 + 12 + 7
    assert mlp.extra["hidden"] == mlp_width(budget, 12, 7)
    elm = run_method("digital-elm", TINY, data, seed=0)
    assert elm.extra["width"] == TINY.phyll.n_blocks * 20  # as wide as the physical readings


@pytest.mark.parametrize("ablation", ["nophys", "noskip"])
def test_ablations_run_the_schedule_of_the_phyll_they_ablate(ablation: str) -> None:
    """phyll-frugal-X is phyll-frugal with one setting changed, through the same trainer."""
    from phyff.compare.baselines.phyll import variant_config
    from phyff.compare.tasks import full_tasks

    field = {"nophys": "physical", "noskip": "skip"}[ablation]
    for task in full_tasks().values():
        for method in ("phyll", "phyll-frugal"):
            base = variant_config(task.phyll, method, 3).flat()
            changed = variant_config(task.phyll, f"{method}-{ablation}", 3).flat()
            assert {k for k in base if base[k] != changed[k]} == {field}
            assert changed["schedule"] == ("layerwise" if "frugal" in method else "simultaneous")
    # Run through the product loop: the layer-wise schedule's caches and one-pass inference.
    data = synthetic_vowels(0, n_train=40, n_test=10)
    plain = run_method("phyll-frugal", TINY, data, seed=0)
    r = run_method(f"phyll-frugal-{ablation}", TINY, data, seed=0)
    assert r.epochs == plain.epochs == 2 * TINY.phyll.epochs
    if ablation == "noskip":
        assert r.train_queries == plain.train_queries  # the same cached measurements
        assert r.eval_queries == plain.eval_queries == 2 * 10  # one pass per block
    else:
        assert r.train_queries == r.eval_queries == 0


def _summary(task: str, method: str, acc: float, std: float, macs: float,
             queries: float = 0.0, seeds: int = 10) -> Any:
    from phyff.compare.summary import Summary

    return Summary(task, method, "m", "d", seeds, acc, std, queries, 0.0, 0.0, 1e6, 0.0,
                   0.0, 0.0, 0.0, 2.0 if queries else 0.0, macs, 10)


def test_verdict_compares_with_the_best_digital_model_at_no_more_macs() -> None:
    from phyff.compare.verdict import HELPS, HURTS, UNCLEAR, physics_helps_target, verdicts

    rows = [
        _summary("a", "phyll-frugal", 0.90, 0.01, 2000, queries=5000),
        _summary("a", "phyll", 0.95, 0.01, 9000, queries=50000),
        _summary("a", "logreg", 0.80, 0.0, 100),
        _summary("a", "mlp", 0.99, 0.0, 2500),  # more MACs than PhyLL: not eligible
        _summary("a", "digital-elm", 0.85, 0.02, 1500),
        _summary("a", "elm", 0.99, 0.0, 500, queries=100),  # uses the device: not digital
        _summary("b", "phyll-frugal", 0.90, 0.02, 2000, queries=5000),
        _summary("b", "mlp", 0.99, 0.01, 1900),
        _summary("c", "phyll-frugal", 0.90, 0.03, 2000, queries=5000),
        _summary("c", "my-plugin-model", 0.88, 0.01, 10),  # any digital method counts
    ]
    got = {v.task: v for v in verdicts(rows, [], ["a", "b", "c", "absent"])}
    assert list(got) == ["a", "b", "c"]
    a, b, c = got["a"], got["b"], got["c"]
    assert a.phyll.method == "phyll-frugal" and a.best is not None
    assert a.best.method == "digital-elm" and a.answer == HELPS
    assert a.margin == pytest.approx(0.05) and a.spread == pytest.approx(0.02)
    assert b.answer == HURTS and c.answer == UNCLEAR
    name, met, detail = physics_helps_target(list(got.values()))
    assert name.startswith("PhyLL beats")
    assert met is True and "a: helps" in detail
    from phyff.compare.verdict import plain_words

    words = plain_words(list(got.values()))
    assert "on 1 (b) a digital model" in words and "on 1 (a) PhyLL is more accurate" in words
    few = verdicts([_summary("a", "phyll", 0.9, 0.0, 10, 5, seeds=3),
                    _summary("a", "logreg", 0.5, 0.0, 10, seeds=3)], [], ["a"])
    assert few[0].answer == HELPS and physics_helps_target(few)[1] is False  # < 10 seeds
