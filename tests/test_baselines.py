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
    linear = Elm(7, 12, layers, ElmSettings(), seed=0, physics=False)
    linear.fit(layers, data.x_train, data.y_train, np.random.default_rng(0))
    assert linear.meter.queries == 0


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


@pytest.mark.parametrize("method", ["phyll", "phyll-nophys", "pat", "backprop", "elm", "linear"])
def test_every_method_counts_its_queries_exactly(method: str) -> None:
    data = synthetic_vowels(0, n_train=40, n_test=10)
    r = run_method(method, TINY, data, seed=0)
    assert 0.0 <= r.test_acc <= 1.0 and r.medium == "acoustic"
    expected_train = {"phyll": 3 * 2 * 40 * 2, "phyll-nophys": 0, "pat": 2 * 40 * 2,
                      "backprop": 2 * 40 * 2, "elm": 40 * 2, "linear": 0}[method]
    assert r.train_queries == expected_train
    assert r.twin_queries == (300 if method == "pat" else 0)
    assert r.train_macs > 0
    assert r.eval_queries == {"phyll": 7 * 2 * 10, "phyll-nophys": 0, "linear": 0}.get(
        method, 2 * 10)
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
