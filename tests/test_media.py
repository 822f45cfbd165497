"""Tests of the simulated media, their registry and the board's converters (Frontend)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from phyff.media import (
    MEDIA,
    AcousticMedium,
    BaseMedium,
    CircuitMedium,
    Frontend,
    Medium,
    MicrowaveMedium,
    OpticalMedium,
    SlowDrift,
    available_media,
    check_medium,
    load_factory,
    make_medium,
    register_medium,
    unregister_medium,
)
from phyff.media.numerics import (
    ExactMatmul,
    det_cos_sin_turns,
    det_exp,
    det_log1p,
    ordered_contract,
    ordered_sum,
    quantize,
)

NAMES = sorted(MEDIA)
# Smaller structures where the test is about the machinery, not the default size.
SMALL: dict[str, dict[str, int]] = {
    "acoustic": {},
    "microwave": {"n_in": 16, "n_out": 8, "n_env": 4},
    "optical": {},
    "circuit": {},
}
DEFAULT_SHAPES = {
    "acoustic": (20, 20),
    "microwave": (40, 20),
    "optical": (64, 16),
    "circuit": (8, 8),
}


def full(name: str, seed: int = 0, **options: Any) -> BaseMedium:
    medium = make_medium(name, seed=seed, **options)
    assert isinstance(medium, BaseMedium)
    return medium


def small(name: str, seed: int = 0, **options: Any) -> BaseMedium:
    return full(name, seed, **{**SMALL[name], **options})


def drives(medium: Medium, n: int, seed: int = 123, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).random((n, medium.n_in))


# ---- the noise stream ----------------------------------------------------------------


def test_generator_fills_in_row_order() -> None:
    """The noise scheme relies on standard_normal((N, n)) == N draws of (1, n)."""
    whole = np.random.default_rng(7).standard_normal((64, 5))
    rng = np.random.default_rng(7)
    rows = np.vstack([rng.standard_normal((1, 5)) for _ in range(64)])
    rng = np.random.default_rng(7)
    split = np.vstack([rng.standard_normal((40, 5)), rng.standard_normal((24, 5))])
    assert np.array_equal(whole, rows)
    assert np.array_equal(whole, split)


# ---- registry and protocol -------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_registry_defaults(name: str) -> None:
    medium = make_medium(name, seed=0) if name != "microwave" else small(name)
    check_medium(medium)
    assert isinstance(medium, Medium)
    assert medium.name == name and len(name) <= 15 and name.isascii()
    if name != "microwave":
        assert (medium.n_in, medium.n_out) == DEFAULT_SHAPES[name]


def test_microwave_default_shape() -> None:
    medium = MicrowaveMedium()
    assert (medium.n_in, medium.n_out) == (40, 20)
    y = medium.respond(drives(medium, 3))
    assert y.shape == (3, 20) and y.dtype == np.float64


def test_registry_classes() -> None:
    assert MEDIA == {
        "acoustic": AcousticMedium,
        "microwave": MicrowaveMedium,
        "optical": OpticalMedium,
        "circuit": CircuitMedium,
    }


def test_unknown_medium_lists_names() -> None:
    with pytest.raises(ValueError, match="acoustic, circuit, microwave, optical"):
        make_medium("sonar")


# ---- determinism, seeds, batch-split invariance ------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed(name: str) -> None:
    a, b = small(name, 5, noise=0.01, drift=0.01), small(name, 5, noise=0.01, drift=0.01)
    x = drives(a, 20)
    for _ in range(2):
        assert np.array_equal(a.respond(x), b.respond(x))
    assert a.gain == b.gain


@pytest.mark.parametrize("name", NAMES)
def test_seeds_differ(name: str) -> None:
    a, b = small(name, 0, noise=0.0), small(name, 1, noise=0.0)
    x = drives(a, 20)
    assert np.mean(np.abs(a.respond(x) - b.respond(x))) > 1e-3


def test_noise_does_not_change_structure() -> None:
    """Noise draws from its own stream: the ideal medium is the same at any noise level."""
    quiet, loud = AcousticMedium(3, noise=0.0), AcousticMedium(3, noise=0.05)
    x = drives(quiet, 10)
    assert np.array_equal(quiet.ideal(x), loud.ideal(x))
    assert np.std(loud.respond(x) - quiet.respond(x)) == pytest.approx(0.05, rel=0.3)


@pytest.mark.parametrize("name", NAMES)
def test_batch_split_invariance(name: str) -> None:
    make = lambda: full(name, 11, noise=0.01, drift=0.01)  # noqa: E731
    whole, single, split = make(), make(), make()
    x = drives(whole, 64)
    ref = whole.respond(x)
    one_by_one = np.vstack([single.respond(x[i : i + 1]) for i in range(64)])
    forty_24 = np.vstack([split.respond(x[:40]), split.respond(x[40:])])
    assert np.array_equal(ref, one_by_one)
    assert np.array_equal(ref, forty_24)
    assert whole.samples_measured == single.samples_measured == split.samples_measured == 64


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("acoustic", {"n_in": 12, "n_out": 7, "n_freq": 3, "n_membranes": 4}),
        ("microwave", {"n_in": 9, "n_out": 3, "n_env": 0}),
        ("optical", {"n_in": 80, "n_out": 10, "n_cam": 40, "detect": "amplitude"}),
        ("circuit", {"n_in": 3, "n_out": 5}),
        ("circuit", {"n_in": 1, "n_out": 1}),
    ],
)
def test_other_sizes(name: str, options: dict[str, Any]) -> None:
    make = lambda: full(name, 2, noise=0.01, drift=0.01, **options)  # noqa: E731
    a, b = make(), make()
    x = drives(a, 9)
    y = a.respond(x)
    assert y.shape == (9, options["n_out"]) and a.n_in == options["n_in"]
    assert np.array_equal(y, np.vstack([b.respond(x[:4]), b.respond(x[4:])]))
    assert np.std(a.ideal(drives(a, 50)), axis=0).mean() > 0.01


def test_batch_split_invariance_across_drift_knots() -> None:
    """Rows straddling a drift knot (every 1000 samples) stay split-invariant."""
    a, b = AcousticMedium(2, noise=0.01, drift=0.02), AcousticMedium(2, noise=0.01, drift=0.02)
    warm = drives(a, 980, seed=1)
    a.respond(warm)
    b.respond(warm[:500])
    b.respond(warm[500:])
    x = drives(a, 64, seed=2)
    assert np.array_equal(
        a.respond(x), np.vstack([b.respond(x[i : i + 7]) for i in range(0, 64, 7)])
    )


@pytest.mark.parametrize("name", NAMES)
def test_drift_moves_readings_slowly(name: str) -> None:
    drifting = small(name, 4, noise=0.0, drift=0.05)
    steady = small(name, 4, noise=0.0, drift=0.0)
    x = np.repeat(drives(steady, 1), 1500 if name != "microwave" else 1200, axis=0)
    y, z = drifting.respond(x), steady.respond(x)
    assert np.all(z == z[0])  # no drift, no noise: the same reading every time
    assert np.array_equal(y[0], z[0])  # the drift starts from the nominal medium
    assert np.max(np.abs(y[-1] - y[0])) > 1e-4
    assert np.max(np.abs(y[1] - y[0])) < np.max(np.abs(y[-1] - y[0]))  # slow, not a jump


# ---- reset and perturb ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_reset_restores(name: str) -> None:
    medium = small(name, 9, noise=0.01, drift=0.01)
    x = drives(medium, 16)
    first = medium.respond(x)
    medium.respond(drives(medium, 30, seed=5))
    medium.perturb("step")
    assert not np.array_equal(medium.respond(x), first)
    medium.reset()
    assert medium.samples_measured == 0
    assert np.array_equal(medium.respond(x), first)


@pytest.mark.parametrize("name", NAMES)
def test_perturb_changes_and_is_deterministic(name: str) -> None:
    a, b = small(name, 3, noise=0.0), small(name, 3, noise=0.0)
    x = drives(a, 30)
    before = a.ideal(x)
    a.perturb("step", 1.0)
    b.perturb("step", 1.0)
    after = a.ideal(x)
    assert np.mean(np.abs(after - before)) > 2e-3
    assert np.array_equal(after, b.ideal(x))
    a.perturb()
    assert not np.array_equal(a.ideal(x), after)  # the second perturbation is a new one
    b.reset()
    b.perturb("step", 1.0)
    assert np.array_equal(b.ideal(x), after)  # and the sequence replays after reset


@pytest.mark.parametrize("name", NAMES)
def test_perturb_rejects_bad_arguments(name: str) -> None:
    medium = small(name)
    with pytest.raises(ValueError, match="known kinds: step"):
        medium.perturb("earthquake")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="strength"):
            medium.perturb("step", bad)


# ---- validation and output range --------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_validation(name: str) -> None:
    medium = small(name)
    n = medium.n_in
    with pytest.raises(ValueError, match=rf"shape \(N, {n}\), got shape \({n},\)"):
        medium.respond(np.zeros(n))
    with pytest.raises(ValueError, match=rf"shape \(N, {n}\), got shape \(2, {n + 1}\)"):
        medium.respond(np.zeros((2, n + 1)))
    bad = np.zeros((3, n))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="finite, got nan at row 1, column 2"):
        medium.respond(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="finite"):
        medium.respond(bad)
    with pytest.raises(ValueError, match="dtype complex128"):
        medium.respond(np.zeros((1, n), dtype=complex))
    assert medium.samples_measured == 0  # rejected calls measure nothing
    assert medium.respond(np.zeros((0, n))).shape == (0, medium.n_out)


@pytest.mark.parametrize("name", NAMES)
def test_drive_is_clipped(name: str) -> None:
    medium = small(name, noise=0.0)
    x = drives(medium, 4)
    over = x.copy()
    over[:, ::2] = np.where(x[:, ::2] > 0.5, 1.7, -0.3)
    clipped = np.clip(over, 0.0, 1.0)
    assert np.array_equal(medium.ideal(over), medium.ideal(clipped))


@pytest.mark.parametrize("name", NAMES)
def test_output_and_gain_calibration(name: str) -> None:
    medium = small(name, 2, noise=0.0)
    y = medium.respond(drives(medium, 300, seed=77))
    assert y.dtype == np.float64 and y.shape == (300, medium.n_out)
    assert np.all(np.isfinite(y)) and np.all(y >= 0)
    assert 0.6 < np.percentile(y, 99) < 0.9  # calibrated to ~0.75 on other probes
    assert np.std(y, axis=0).mean() > 0.02  # the drive actually matters
    fixed = small(name, 2, noise=0.0, gain=1.0)
    x = drives(medium, 5)
    np.testing.assert_allclose(medium.ideal(x), medium.gain * fixed.ideal(x), rtol=1e-12)


def test_option_validation() -> None:
    for kwargs in ({"noise": -1.0}, {"drift": float("inf")}, {"gain": 0.0}, {"seed": -1}):
        with pytest.raises(ValueError):
            AcousticMedium(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"n_in=0 is outside 1\.\.256"):
        AcousticMedium(n_in=0)
    with pytest.raises(ValueError, match="detect"):
        OpticalMedium(detect="phase")
    with pytest.raises(ValueError, match="multiple of n_out"):
        OpticalMedium(n_out=16, n_cam=40)


# ---- nonlinearity -----------------------------------------------------------------------------


def _linear_fit_residual(medium: BaseMedium, x: np.ndarray) -> float:
    """Relative rms residual of the best affine fit of the readings from the drives."""
    y = medium.ideal(x)
    design = np.hstack([x, np.ones((x.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.std(y - design @ coef) / np.std(y))


@pytest.mark.parametrize("name", NAMES)
def test_not_linear(name: str) -> None:
    medium = small(name, 6, noise=0.0)
    x = drives(medium, 400)
    if name == "microwave":
        x = (x >= 0.5).astype(float)
    assert _linear_fit_residual(medium, x) > 0.15


@pytest.mark.parametrize("name", ["acoustic", "optical", "circuit"])
def test_not_homogeneous(name: str) -> None:
    """f(2x) != 2 f(x): not a linear map followed by |.| (which would be homogeneous)."""
    medium = small(name, 6, noise=0.0)
    x = drives(medium, 100, scale=0.5)
    y1, y2 = medium.ideal(x), medium.ideal(2 * x)
    assert np.mean(np.abs(y2 - 2 * y1)) / np.mean(np.abs(2 * y1)) > 0.05


def test_acoustic_nonlinearity_comes_from_the_membranes() -> None:
    linear = AcousticMedium(6, noise=0.0, nonlinearity=0.0)
    x = drives(linear, 100, scale=0.5)
    # Linear membranes: |p| is the magnitude of a linear field, exactly homogeneous
    # up to the 2**-27 field grid of the exact products.
    assert np.max(np.abs(linear.ideal(2 * x) - 2 * linear.ideal(x))) < 1e-4
    nonlinear = AcousticMedium(6, noise=0.0)
    p1, p2 = nonlinear.field(x), nonlinear.field(2 * x)
    assert np.mean(np.abs(p2 - 2 * p1)) / np.mean(np.abs(2 * p1)) > 0.1


def test_microwave_multiple_scattering() -> None:
    """Switching two groups of elements: the complex changes do not add up."""
    medium = MicrowaveMedium(8, noise=0.0, **SMALL["microwave"])
    base = (drives(medium, 40) >= 0.5).astype(float)
    a, b, ab = base.copy(), base.copy(), base.copy()
    a[:, :3] = 1 - a[:, :3]
    b[:, 8:11] = 1 - b[:, 8:11]
    ab[:, :3], ab[:, 8:11] = a[:, :3], b[:, 8:11]
    t0, ta, tb, tab = (medium.transfer(v) for v in (base, a, b, ab))
    violation = np.abs((tab - t0) - (ta - t0) - (tb - t0))
    assert np.mean(violation) / np.mean(np.abs(tab - t0)) > 0.1


def test_microwave_elements_are_binary() -> None:
    medium = small("microwave", 8, noise=0.0)
    x = drives(medium, 10)
    snapped = np.where(x >= 0.5, 0.5 + 0.5 * x, 0.49 * x)
    assert np.array_equal(medium.ideal(x), medium.ideal(snapped))


def test_optical_phase_range() -> None:
    """With a full 2 pi range, drive 0 and drive 1 are the same phase pattern; the
    default half range keeps them apart (a label slot at full scale stays visible)."""
    wrapping = OpticalMedium(4, noise=0.0, phase_range=1.0)
    x = (drives(wrapping, 6) > 0.5).astype(float)
    np.testing.assert_allclose(wrapping.ideal(x), wrapping.ideal(np.zeros_like(x)), atol=1e-12)
    medium = OpticalMedium(4, noise=0.0)
    assert medium.phase_range == 0.5
    assert not np.allclose(medium.ideal(x), medium.ideal(np.zeros_like(x)))
    with pytest.raises(ValueError, match="phase_range"):
        OpticalMedium(4, phase_range=0.0)
    amplitude = OpticalMedium(4, noise=0.0, detect="amplitude", gain=1.0)
    intensity = OpticalMedium(4, noise=0.0, gain=1.0)
    z = drives(medium, 6)
    assert not np.allclose(amplitude.ideal(z), np.sqrt(intensity.ideal(z)))  # pooled after |.|


def test_circuit_obeys_kirchhoff() -> None:
    medium = CircuitMedium(1, noise=0.0, gain=1.0)
    x = medium.validate_drive(drives(medium, 50))
    volts = medium.solve(x)
    inv_nvt, i_s = medium._diode_params(None, 50)
    source = np.zeros_like(volts)
    source[:, : medium.n_in] = x * 3.3 * medium._g_s
    residual, _ = medium._residual(volts, source, inv_nvt, i_s)
    assert np.max(np.abs(residual)) < 1e-12  # amperes
    assert medium.nonconverged_rows == 0
    assert np.all(volts >= 0) and np.all(volts < 3.3)
    assert np.array_equal(medium.ideal(np.zeros((1, 8))), np.zeros((1, 8)))  # no source, no voltage


# ---- Frontend -----------------------------------------------------------------------------------


class Scripted:
    """A stub medium that records drives and returns scripted readings in order."""

    name = "scripted"

    def __init__(self, n_in: int, n_out: int, readings: list[float] | None = None) -> None:
        self.n_in, self.n_out = n_in, n_out
        self.readings = list(readings or [])
        self.seen: list[np.ndarray] = []

    def respond(self, drive: np.ndarray) -> np.ndarray:
        self.seen.append(np.array(drive))
        n = drive.shape[0] * self.n_out
        out, self.readings = self.readings[:n], self.readings[n:]
        return np.array(out, dtype=np.float64).reshape(drive.shape[0], self.n_out)

    def reset(self) -> None:
        self.seen = []

    def perturb(self, kind: str = "step", strength: float = 1.0) -> None:
        pass


def test_frontend_dac_codes() -> None:
    stub = Scripted(3, 1, [0.0])
    fe = Frontend(stub)
    fe.measure(np.array([[0, 1, 4095]], dtype=np.uint16))
    assert stub.seen[0].tolist() == [[0.0, 1 / 4096, 4095 / 4096]]
    for bad in (np.array([[0, 1, 4096]]), np.array([[0, -1, 2]])):
        with pytest.raises(ValueError, match=r"0\.\.4095"):
            fe.measure(bad)
    with pytest.raises(ValueError, match="integer"):
        fe.measure(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        fe.measure(np.zeros((1, 4), dtype=np.uint16))
    assert Frontend(Scripted(1, 1, [0.0]), dac_bits=16).dac_max == 65535


def test_frontend_adc_rounding_and_clipping() -> None:
    lsb = 1 / 4096
    readings = [
        0.0,  # code 0
        -0.1,  # below zero: clipped to 0
        0.5 * lsb,  # exact tie: rounds half up -> 1
        0.5 * lsb - 1e-12,  # just below the tie -> 0
        2.5 * lsb,  # tie again: up to 3 (not to even)
        4094.5 * lsb,  # tie at the top -> 4095
        4095.5 * lsb,  # would be 4096: saturates at 4095
        1.0,  # full scale: saturates
        7.3,  # far above: saturates
    ]
    fe = Frontend(Scripted(1, len(readings), readings))
    codes = fe.measure(np.zeros((1, 1), dtype=np.uint16))
    assert codes.dtype == np.uint16
    assert codes.tolist() == [[0, 0, 1, 0, 3, 4095, 4095, 4095, 4095]]


def test_frontend_oversample_averaging() -> None:
    lsb = 1 / 1024
    reads = [1, 2, 2, 2, 0, 0, 1, 1, 0, 0, 0, 1, 5, 6, 6, 6]  # codes, in read order
    stub = Scripted(2, 1, [c * lsb for c in reads])
    fe = Frontend(stub, dac_bits=8, adc_bits=10)
    codes = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], dtype=np.uint16)
    out = fe.measure(codes, oversample=4)
    # (sum + k // 2) // k: (7+2)//4 = 2, (2+2)//4 = 1, (1+2)//4 = 0, (23+2)//4 = 6
    assert out.tolist() == [[2], [1], [0], [6]]
    # Row-major: all four reads of row 0, then of row 1, ...
    assert np.array_equal(stub.seen[0], np.repeat(codes / 256, 4, axis=0))
    stub.readings = [1 * lsb, 2 * lsb]
    assert fe.measure(codes[:1], oversample=2).tolist() == [[2]]  # (3 + 1) // 2
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="oversample"):
            fe.measure(codes, oversample=bad)  # type: ignore[arg-type]


def test_frontend_on_a_medium_is_split_invariant() -> None:
    make = lambda: AcousticMedium(5, noise=0.01, drift=0.01)  # noqa: E731
    codes = np.random.default_rng(3).integers(0, 4096, (24, 20)).astype(np.uint16)
    first, manual = make(), make()
    fe1, fe2 = Frontend(first), Frontend(make())
    whole = fe1.measure(codes, oversample=3)
    parts = np.vstack(
        [fe2.measure(codes[:10], oversample=3), fe2.measure(codes[10:], oversample=3)]
    )
    assert np.array_equal(whole, parts)
    readings = manual.respond(np.repeat(codes / 4096, 3, axis=0))
    raw = np.clip(np.floor(readings * 4096 + 0.5), 0, 4095).astype(np.int64)
    expect = (raw.reshape(24, 3, 20).sum(axis=1) + 1) // 3
    assert np.array_equal(whole, expect)
    assert fe1.n_in == 20 and fe1.n_out == 20 and fe1.medium is first
    assert first.samples_measured == 72


def test_frontend_rejects_bad_media_and_bits() -> None:
    for bits in (0, 17):
        with pytest.raises(ValueError, match="dac_bits"):
            Frontend(Scripted(1, 1), dac_bits=bits)
        with pytest.raises(ValueError, match="adc_bits"):
            Frontend(Scripted(1, 1), adc_bits=bits)
    wrong = Scripted(1, 2)
    wrong.respond = lambda drive: np.zeros((drive.shape[0], 3))  # type: ignore[method-assign]
    with pytest.raises(ValueError, match=r"returned shape \(1, 3\), expected \(1, 2\)"):
        Frontend(wrong).measure(np.zeros((1, 1), dtype=np.uint16))
    with pytest.raises(ValueError, match="non-finite"):
        Frontend(Scripted(1, 1, [float("nan")])).measure(np.zeros((1, 1), dtype=np.uint16))


# ---- a user's own medium, by import path ------------------------------------------------


class TinyMedium(BaseMedium):
    """A user's medium: tanh of a seeded random mixing, via the shared machinery."""

    name = "tiny"

    def __init__(self, seed: int = 0, *, width: int = 3, **options: Any) -> None:
        self.width = width
        super().__init__(width, 2, seed=seed, **options)

    def _build(self, rng: np.random.Generator) -> None:
        self.w = rng.standard_normal((self.width, 2))

    def _physics(self, drive: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
        mixed = ordered_contract(drive, self.w)  # row by row, whatever the batch
        return mixed**2 / (1.0 + mixed**2)

    def _perturb_step(self, rng: np.random.Generator, strength: float) -> None:
        self.w = self.w + strength * rng.standard_normal(self.w.shape)


def tiny_factory(seed: int = 0, **options: Any) -> TinyMedium:
    return TinyMedium(seed, **options)


MEDIA_NAMES = ("not", "callable")


class Incomplete:
    name = "incomplete"
    n_in = 2
    n_out = 0

    def perturb(self, kind: str = "step", strength: float = 1.0) -> None:
        pass


def incomplete_factory(seed: int = 0) -> Incomplete:
    return Incomplete()


def test_user_medium_by_factory_and_registration() -> None:
    medium = make_medium(tiny_factory, seed=4, width=5, noise=0.0)
    assert isinstance(medium, TinyMedium)
    assert (medium.seed, medium.n_in, medium.n_out, medium.noise) == (4, 5, 2, 0.0)
    assert Frontend(medium).measure(np.full((2, 5), 100, dtype=np.uint16)).shape == (2, 2)
    # An import path is accepted from Python code: load_factory / register_medium.
    same = make_medium(load_factory(f"{__name__}:TinyMedium"), seed=4, width=5, noise=0.0)
    x = drives(medium, 3)
    assert np.array_equal(medium.respond(x), same.respond(x))
    register_medium("tiny-test", f"{__name__}:tiny_factory")
    try:
        assert "tiny-test" in available_media()
        named = make_medium("tiny-test", seed=4, width=5, noise=0.0)
        assert np.array_equal(named.respond(x), medium.respond(x))
    finally:
        unregister_medium("tiny-test")
    assert "tiny-test" not in available_media()
    # The shared machinery (noise stream, counting) keeps a user's medium split-invariant.
    a, b = (make_medium(tiny_factory, seed=1, noise=0.01) for _ in range(2))
    x = drives(a, 10)
    assert np.array_equal(a.respond(x), np.vstack([b.respond(x[:3]), b.respond(x[3:])]))


def test_import_path_is_never_followed_from_a_name(tmp_path: Any, monkeypatch: Any) -> None:
    """Issue 12 item 8: a medium *name* (what a URL carries) never imports code."""
    marker = tmp_path / "imported"
    (tmp_path / "evilmod.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef f(**kw):\n    raise SystemExit(9)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in ("evilmod:f", "this:x", f"{__name__}:tiny_factory"):
        with pytest.raises(ValueError, match="import path in a URL is not followed"):
            make_medium(spec)
    assert not marker.exists()
    with pytest.raises(ValueError, match="built-in medium and cannot be replaced"):
        register_medium("acoustic", tiny_factory)
    with pytest.raises(ValueError, match="medium name"):
        register_medium("bad name!", tiny_factory)


def test_user_medium_errors() -> None:
    with pytest.raises(TypeError, match=r"missing method\(s\) respond, reset.*'n_out'"):
        make_medium(incomplete_factory)
    with pytest.raises(ValueError, match="cannot import"):
        load_factory("no_such_package_xyz.media:factory")
    with pytest.raises(ValueError, match="has no 'nope'"):
        load_factory(f"{__name__}:nope")
    with pytest.raises(ValueError, match=r"pkg\.module:factory"):
        load_factory(":factory")
    with pytest.raises(ValueError, match="not name a callable"):
        load_factory(f"{__name__}:MEDIA_NAMES")
    with pytest.raises(TypeError, match="name"):
        check_medium(type("Long", (Incomplete,), {"name": "x" * 16, "n_out": 1})())


# ---- deterministic numerics and drift ---------------------------------------------------


def test_deterministic_elementary_functions() -> None:
    x = np.linspace(-700, 700, 20001)
    np.testing.assert_allclose(det_exp(x), np.exp(x), rtol=5e-16)
    t = np.linspace(-3, 3, 20001)
    cos, sin = det_cos_sin_turns(t)
    np.testing.assert_allclose(cos, np.cos(2 * np.pi * t), atol=5e-15)
    np.testing.assert_allclose(sin, np.sin(2 * np.pi * t), atol=5e-15)
    d = np.linspace(-0.5, 0.5, 2001)
    np.testing.assert_allclose(det_log1p(d), np.log1p(d), rtol=1e-15, atol=1e-18)
    # Element-wise: a value gives the same bits alone or inside a long array.
    assert all(det_exp(x[i : i + 1])[0] == det_exp(x)[i] for i in range(0, 20001, 997))


def test_exact_matmul_is_order_independent() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 30))
    mm = ExactMatmul(w, 20, 0)
    x = quantize(rng.random((300, 20)), 20)
    y = mm(x)
    assert np.array_equal(y, np.vstack([mm(x[i : i + 1]) for i in range(300)]))
    assert np.array_equal(y, mm.left(x.T).T)
    assert np.array_equal(y, x @ mm.weights)  # any kernel, same bits
    np.testing.assert_allclose(y, x @ w, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="bits for the weights"):
        ExactMatmul(np.ones((2**12, 2)), 30, 5)


def test_ordered_sum() -> None:
    x = np.random.default_rng(1).standard_normal((7, 13, 5))
    for axis in (0, 1, 2, -1):
        np.testing.assert_allclose(ordered_sum(x, axis), np.sum(x, axis), rtol=1e-13)
    assert np.array_equal(ordered_sum(x, 1)[3], ordered_sum(x[3:4], 1)[0])
    assert ordered_sum(np.zeros((4, 0)), -1).shape == (4,)


def test_slow_drift() -> None:
    make = lambda: SlowDrift(0.01, 1000, np.random.default_rng(5))  # noqa: E731
    a, b = make(), make()
    idx = np.arange(0, 30_000, 37)
    whole = a.at(idx)
    pieces = np.vstack([b.at(idx[i : i + 333]) for i in range(0, idx.size, 333)])
    assert np.array_equal(whole, pieces)
    assert np.all(whole[0] == 0)
    step = make().at(np.array([0, 10_000]))
    assert np.std(step[1] - step[0]) == pytest.approx(0.01, rel=0.1)


def test_media_from_entry_points_and_the_python_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed plugins (group phyff.media) are selectable by name in a URL."""
    from importlib.metadata import EntryPoint

    from phyff.emulator import EmulatedDevice
    from phyff.media import registry

    plugin = EntryPoint(name="tinyplug", value=f"{__name__}:tiny_factory",
                        group=registry.ENTRY_POINT_GROUP)
    broken = EntryPoint(name="brokenplug", value="no_such_package_xyz:factory",
                        group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "_entry_points",
                        lambda: {"tinyplug": plugin, "brokenplug": broken})
    assert {"tinyplug", "brokenplug", "acoustic"} <= set(available_media())
    device = EmulatedDevice("emu://tinyplug?seed=3&width=4")
    assert isinstance(device.medium, TinyMedium) and device.medium.n_in == 4
    with pytest.raises(ValueError, match=r"plugin .* failed to load"):
        make_medium("brokenplug")
    # Python code may hand over a factory directly; the URL's name is then unused.
    direct = EmulatedDevice("emu://anything?seed=3&width=4", medium_factory=tiny_factory)
    x = drives(direct.medium, 2)
    assert np.array_equal(direct.medium.respond(x), device.medium.respond(x))


def test_unknown_medium_option_names_the_medium_and_keys() -> None:
    with pytest.raises(ValueError, match=r"medium 'acoustic' refused its options \(bogus\)"):
        make_medium("acoustic", seed=1, bogus=1)
