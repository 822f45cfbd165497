"""The medium protocol and the machinery every simulated medium shares.

A medium is what sits between a board's DAC outputs and its ADC inputs. The
board (real, emulated, or under QEMU) only ever calls `respond`, `reset` and
`perturb`, so anything with those methods and the three attributes below can be
plugged in, including a user's own model (see `phyff.media.make_medium`).

`BaseMedium` implements what must behave identically in every simulated medium,
so that each medium module only writes its physics:

- seeding: the structure (geometry, transmission matrix...) is drawn from
  ``np.random.default_rng(seed)``; noise, drift, calibration probes and each
  perturbation draw from their own child streams of the same seed
  (``SeedSequence(seed, spawn_key=(k,))``), so e.g. turning the noise up never
  changes the geometry;
- gain calibration: the ideal (noise- and drift-free) medium is probed with
  seeded uniform random drives and scaled so the 99th percentile of its readings
  sits at 0.75 of full scale, i.e. it uses the ADC range without clipping much;
- slow drift: a deterministic function of the number of samples measured so far;
- noise: additive Gaussian, drawn in row order;
- validation and clipping of the drive, and quantisation of the drive to
  2**-20 of full scale (see `numerics.DRIVE_GRID_BITS`).

Batch-split invariance is the central promise: a reading depends only on the
seed and on the sequence of drive rows (and perturbations) since construction
or reset, never on how the rows were grouped into calls. The noise is drawn in
C order (``standard_normal((N, n))`` equals N draws of ``(1, n)``), the drift is
evaluated per row from that row's sample index, and the physics of every medium
computes each row with per-row deterministic arithmetic (see `numerics`).
"""

from __future__ import annotations

import operator
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from phyff.media.numerics import DRIVE_GRID_BITS, quantize

MAX_CHANNELS = 256  # drive and sense channels of a simulated medium, unless it says fewer

#: Target of the automatic gain: the 99th percentile of ideal readings.
GAIN_TARGET = 0.75
#: Number of seeded uniform random drives used to calibrate the gain.
CALIBRATION_PROBES = 512
#: Longest medium name the wire protocol can carry (16-byte field, NUL-padded).
NAME_MAX = 15

# Child-stream keys of the seed (the structure uses the root stream itself).
_NOISE_STREAM = 1
_DRIFT_STREAM = 2
_CALIBRATION_STREAM = 3
_PERTURB_STREAM = 4


@runtime_checkable
class Medium(Protocol):
    """What a board needs from a medium.

    ``respond(drive)``: drive is float64 (N, n_in), each value in [0, 1] as a
    fraction of DAC full scale; returns float64 (N, n_out), the reading as a
    fraction of ADC full scale, noise and drift included. Typical readings lie
    well inside [0, 1); larger values are allowed (the ADC clips them).
    ``reset()``: back to the freshly constructed state (same seed).
    ``perturb(kind, strength)``: an abrupt physical change; kind "step" is
    supported by every built-in medium.
    """

    name: str
    n_in: int
    n_out: int

    def respond(self, drive: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...

    def perturb(self, kind: str = "step", strength: float = 1.0) -> None: ...


def check_medium(obj: object, origin: str = "object") -> None:
    """Raise TypeError naming every way `obj` fails the `Medium` protocol.

    Why explicit checks rather than ``isinstance(obj, Medium)``: a runtime
    Protocol check only says yes or no, while a user plugging in their own model
    needs to know which member is missing or malformed.
    """
    problems: list[str] = []
    missing = [m for m in ("respond", "reset", "perturb") if not callable(getattr(obj, m, None))]
    if missing:
        problems.append("missing method(s) " + ", ".join(missing))
    name = getattr(obj, "name", None)
    if not isinstance(name, str):
        problems.append(f"attribute 'name' must be a str (got {type(name).__name__})")
    elif not (1 <= len(name) <= NAME_MAX and name.isascii()):
        problems.append(f"attribute 'name' must be 1..{NAME_MAX} ASCII characters (got {name!r})")
    for attr in ("n_in", "n_out"):
        value = getattr(obj, attr, None)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            problems.append(f"attribute {attr!r} must be a positive int (got {value!r})")
    if problems:
        raise TypeError(
            f"{origin} ({type(obj).__name__}) does not satisfy the Medium protocol: "
            + "; ".join(problems)
        )


def _child_rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


class SlowDrift:
    """A slow, bounded random wander of `channels` relative parameters.

    delta(t) is an Ornstein-Uhlenbeck process sampled at knots every
    KNOT_SPACING samples and linearly interpolated in between:

        x_0 = 0,  x_{j+1} = rho x_j + sigma xi_j,   rho = exp(-KNOT_SPACING / RELAXATION)
        sigma = rate * sqrt(KNOT_SPACING / 10_000)

    so over 10,000 samples delta moves by about `rate` (standard deviation),
    while the mean reversion over RELAXATION samples keeps it within about
    +-7 rate for ever (a room's temperature wanders around its set point rather
    than running away). The knots come from their own seeded stream and are
    generated lazily in order, so delta(t) depends only on the seed and t.
    """

    KNOT_SPACING = 1000
    RELAXATION = 1_000_000
    _BLOCK = 256

    def __init__(self, rate: float, channels: int, rng: np.random.Generator) -> None:
        self.rate = float(rate)
        self.channels = int(channels)
        self._rng = rng
        self._rho = float(np.exp(-self.KNOT_SPACING / self.RELAXATION))
        self._sigma = self.rate * float(np.sqrt(self.KNOT_SPACING / 10_000))
        self._knots = np.zeros((1, self.channels))

    def _extend(self, n_knots: int) -> None:
        while self._knots.shape[0] < n_knots:
            steps = self._rng.standard_normal((self._BLOCK, self.channels))
            new = np.empty_like(steps)
            last = self._knots[-1]
            for j in range(self._BLOCK):
                last = self._rho * last + self._sigma * steps[j]
                new[j] = last
            self._knots = np.concatenate([self._knots, new], axis=0)

    def at(self, index: np.ndarray) -> np.ndarray:
        """delta at sample indices `index` (int64, any shape (N,)): array (N, channels)."""
        idx = np.asarray(index, dtype=np.int64)
        j = idx // self.KNOT_SPACING
        if idx.size:
            self._extend(int(j.max()) + 2)
        frac = ((idx - j * self.KNOT_SPACING) / self.KNOT_SPACING)[:, None]
        lo, hi = self._knots[j], self._knots[j + 1]
        return lo + frac * (hi - lo)


class BaseMedium:
    """Shared machinery of the simulated media; subclasses write only their physics.

    Subclasses set the class attributes `name` and `drift_channels`, and implement

    - ``_build(rng)``: draw the structure from `rng` (called at construction and by
      reset(); must be deterministic given the rng);
    - ``_physics(drive, delta)``: the ideal reading before gain, (N, n_out), for a
      drive already validated, clipped and quantised; `delta` is (N, drift_channels)
      per-row relative drift or None when drift is off. Each row must be computed
      independently of the others (batch-split invariance);
    - ``_perturb_step(rng, strength)``: apply one "step" perturbation.

    Common options (keyword arguments of every built-in medium):

    - seed: int >= 0, the medium's identity (reported as the board's unit id);
    - noise: standard deviation of additive Gaussian read noise, as a fraction of
      full scale (default 0.002, a few ADC codes at 12 bits);
    - drift: relative rate of slow parameter drift per 10,000 samples measured
      (default 0: parameters fixed); see `SlowDrift` and each medium's docstring
      for which parameters drift;
    - gain: multiplier from the ideal reading to the fraction of full scale; None
      (default) calibrates it so the 99th percentile of readings for uniform random
      drives is 0.75.
    """

    name: str = "base"
    # Options that size the simulation, with their allowed range (inclusive): checked
    # before anything is built (_check_sizes), since the cost of building grows with
    # them (an acoustic medium with n_in=2000 took 83 s and 1.3 GB). Subclasses
    # extend it with their own sizes.
    size_limits: ClassVar[dict[str, tuple[int, int]]] = {"n_in": (1, MAX_CHANNELS),
                                                         "n_out": (1, MAX_CHANNELS)}
    # The paper's training preset that suits this medium (a name in
    # phyff.training.config.PRESETS): what `phyff train` starts from on a board
    # whose medium this is, unless --preset says otherwise.
    training_preset: str = "acoustic"
    drift_channels: int = 1
    perturb_kinds: tuple[str, ...] = ("step",)
    calibration_probes: int = CALIBRATION_PROBES

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        seed: int = 0,
        noise: float = 0.002,
        drift: float = 0.0,
        gain: float | None = None,
    ) -> None:
        self._check_sizes(n_in=n_in, n_out=n_out)
        self.n_in = _positive_int("n_in", n_in)
        self.n_out = _positive_int("n_out", n_out)
        if isinstance(seed, bool):
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        try:
            seed = operator.index(seed)
        except TypeError:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}") from None
        if seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}")
        self.seed = seed
        self.noise = _non_negative("noise", noise)
        self.drift = _non_negative("drift", drift)
        if gain is not None:
            gain = float(gain)
            if not (np.isfinite(gain) and gain > 0):
                raise ValueError(f"gain must be a positive finite number or None, got {gain!r}")
        self._fresh_state()
        self.gain = gain if gain is not None else self._calibrate_gain()

    # ---- state -------------------------------------------------------------------

    def _fresh_state(self) -> None:
        self._build(np.random.default_rng(self.seed))
        self._samples = 0
        self._n_perturbations = 0
        self._noise_rng = _child_rng(self.seed, _NOISE_STREAM)
        self._drift = (
            SlowDrift(self.drift, self.drift_channels, _child_rng(self.seed, _DRIFT_STREAM))
            if self.drift > 0
            else None
        )

    def probe_drives(self, n: int | None = None) -> np.ndarray:
        """The seeded uniform random drives used for calibration (same every call)."""
        n = self.calibration_probes if n is None else n
        rng = _child_rng(self.seed, _CALIBRATION_STREAM)
        return quantize(rng.random((n, self.n_in)), DRIVE_GRID_BITS)

    def _calibrate_gain(self) -> float:
        readings = self._physics(self.probe_drives(), None)
        p99 = float(np.percentile(readings, 99))
        if not (np.isfinite(p99) and p99 > 0):
            return 1.0
        return GAIN_TARGET / p99

    @property
    def samples_measured(self) -> int:
        """Number of rows measured since construction or the last reset()."""
        return self._samples

    # ---- protocol ----------------------------------------------------------------

    def respond(self, drive: np.ndarray) -> np.ndarray:
        """Measure the medium for each drive row; see `Medium`."""
        x = self.validate_drive(drive)
        n = x.shape[0]
        if n == 0:
            return np.zeros((0, self.n_out))
        delta = None
        if self._drift is not None:
            delta = self._drift.at(self._samples + np.arange(n, dtype=np.int64))
        y = self._physics(x, delta) * self.gain
        if self.noise > 0:
            y = y + self.noise * self._noise_rng.standard_normal((n, self.n_out))
        self._samples += n
        return y

    def ideal(self, drive: np.ndarray) -> np.ndarray:
        """The noise- and drift-free reading (gain applied); does not count samples.

        For analysis and tests: it shows the physics without disturbing the
        medium's measurement history.
        """
        x = self.validate_drive(drive)
        if x.shape[0] == 0:
            return np.zeros((0, self.n_out))
        return self._physics(x, None) * self.gain

    def age(self, samples: int) -> None:
        """Let the medium's clock run on by `samples` rows without measuring them.

        Drift is clocked by rows measured (a proxy for time in use); a board
        that classifies in the field for a while ages its medium the same
        way. This skips the measurements themselves, which only cost time.
        """
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 0:
            raise ValueError(f"age takes a count of samples >= 0, got {samples!r}")
        self._samples += int(samples)

    def reset(self) -> None:
        """Back to the freshly constructed state: structure, drift, noise stream."""
        self._fresh_state()

    def perturb(self, kind: str = "step", strength: float = 1.0) -> None:
        """Apply an abrupt physical change (see each medium for what "step" means).

        Perturbation number j (counted since construction or reset) draws from its
        own seeded stream, so the same sequence of perturbations always produces the
        same medium.
        """
        if kind not in self.perturb_kinds:
            raise ValueError(
                f"unknown perturbation kind {kind!r} for medium {self.name!r}; "
                f"known kinds: {', '.join(self.perturb_kinds)}"
            )
        strength = float(strength)
        if not (np.isfinite(strength) and strength > 0):
            raise ValueError(f"perturbation strength must be positive and finite, got {strength}")
        rng = _child_rng(self.seed, _PERTURB_STREAM, self._n_perturbations)
        self._n_perturbations += 1
        self._perturb_step(rng, strength)

    def validate_drive(self, drive: np.ndarray) -> np.ndarray:
        """Check shape and values, clip to [0, 1], quantise to the drive grid."""
        arr = np.asarray(drive)
        if arr.dtype.kind not in "biuf":
            raise ValueError(
                f"{self.name}: drive must be a real numeric array of shape (N, {self.n_in}), "
                f"got dtype {arr.dtype}"
            )
        if arr.ndim != 2 or arr.shape[1] != self.n_in:
            raise ValueError(
                f"{self.name}: drive must have shape (N, {self.n_in}), got shape {arr.shape}"
            )
        x = arr.astype(np.float64)
        finite = np.isfinite(x)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise ValueError(
                f"{self.name}: drive must be finite, got {x[row, col]} at row {row}, "
                f"column {col} ({int((~finite).sum())} non-finite value(s))"
            )
        return quantize(np.clip(x, 0.0, 1.0), DRIVE_GRID_BITS)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_in={self.n_in}, n_out={self.n_out}, seed={self.seed}, "
            f"noise={self.noise}, drift={self.drift}, gain={self.gain:.6g})"
        )

    # ---- for subclasses ----------------------------------------------------------

    def _build(self, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _physics(self, drive: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _perturb_step(self, rng: np.random.Generator, strength: float) -> None:
        raise NotImplementedError


    @classmethod
    def _check_sizes(cls, **values: object) -> None:
        """Each size option (:attr:`size_limits`) a whole number within its range; None
        (the medium's default) passes. ValueError names the option and the range."""
        for key, value in values.items():
            lo, hi = cls.size_limits[key]
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{cls.name}: {key}={value!r} must be a whole number in "
                                 f"{lo}..{hi}")
            if not lo <= int(value) <= hi:
                raise ValueError(f"{cls.name}: {key}={value} is outside {lo}..{hi}, the "
                                 f"{cls.name} medium's limit (the simulation's cost grows "
                                 f"with it)")


def _positive_int(label: str, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{label} must be a positive int, got {value!r}")
    try:
        n = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{label} must be a positive int, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{label} must be a positive int, got {n}")
    return n


def _non_negative(label: str, value: float) -> float:
    v = float(value)
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"{label} must be a non-negative finite number, got {value!r}")
    return v
