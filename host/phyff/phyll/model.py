"""A PhyLL network: physical layers used forwards only, trained digital maps after them.

Block k: encode(h) -> drive -> p = measure(drive) -> z = [p, h] -> y = W z + b.
Each block is trained by its own local loss (see `phyff.phyll.goodness`); no error
signal crosses blocks and no derivative of the physics is ever needed, so a
physical layer is just an object with a `measure()` method (`PhysicalLayer`).

Device queries are the scarce resource: per batch, every block measures its
positive and negative inputs together in ONE call (2N rows) and reuses them for
all T inner Adam steps; at inference the C label overlays of a batch go
through each block in ONE call (C*N rows).

Every multiply is counted into `Model.meter` (see `phyff.phyll.accounting`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from phyff.phyll.accounting import Meter
from phyff.phyll.config import INFERENCE_KINDS, BlockSpec, ModelConfig
from phyff.phyll.encoders import get_encoder
from phyff.phyll.goodness import LocalLoss, goodness
from phyff.phyll.layout import (
    hybrid_negatives,
    label_codes,
    lay_out,
    overlay,
    resolve_offset,
    superpose,
)
from phyff.phyll.npzio import read_npz, write_npz_atomic
from phyff.phyll.optim import Adam
from phyff.phyll.readout import fit_ridge, readout_scores
from phyff.phyll.rows import RowPlan, check_rows, make_plan, min_rows

MODEL_FORMAT = "phyff-model"
MODEL_FORMAT_VERSION = 1
INFERENCE_ROWS = 65_536  # largest measure() call at inference (C overlays x samples)


class PhysicalLayer(Protocol):
    """What the trainer needs from a physical layer: shapes, an identity, measure().

    The attributes are read-only properties here so that a layer may compute
    them (BoardLayer reads them from the board) or store them plainly.
    """

    @property
    def n_in(self) -> int: ...

    @property
    def n_out(self) -> int: ...

    @property
    def identity(self) -> dict[str, Any]: ...

    def measure(self, drive: np.ndarray) -> np.ndarray:
        """drive: (N, n_in) in [0, 1] -> readings (N, n_out), roughly in [0, 1]."""
        ...


@dataclass
class BatchStats:
    """Per-block loss and goodness separation (mean G+ - G-), averaged over inner steps."""

    loss: np.ndarray
    separation: np.ndarray


def resolve_labels(config: ModelConfig, specs: Sequence[BlockSpec]) -> str:
    """The label mode of a model: config.labels, with "auto" decided by the block shapes
    (label slots when the first block is one row wide enough for them, else a code)."""
    if config.labels != "auto":
        return config.labels
    first = specs[0]
    fits = first.rows == 1 and config.n_classes + config.n_features <= first.d_in
    return "slots" if fits else "add"


class Model:
    """Weights, goodness directions and optimiser state of a PhyLL network."""

    def __init__(self, config: ModelConfig, specs: Sequence[BlockSpec]) -> None:
        if len(specs) != config.n_blocks:
            raise ValueError(f"{len(specs)} block specs for {config.n_blocks} encoders")
        self.config = config
        self.specs = tuple(specs)
        self.width = self.specs[0].d_in
        self.label_mode = resolve_labels(config, self.specs)
        self.offset = resolve_offset(
            self.width, config.n_features, self.label_slots, config.feature_offset
        )
        self.codes = (label_codes(config.n_classes, config.n_features,
                                  np.random.default_rng([config.seed, 3]))
                      if self.label_mode == "add" else None)
        self.plans = [self._plan(k, spec) for k, spec in enumerate(self.specs)]
        self.dtype = np.dtype(config.dtype)
        init = np.random.default_rng([config.seed, 0])
        self.params: list[np.ndarray] = []
        self.xis: list[np.ndarray] = []
        for spec in self.specs:
            fan_in = spec.z_width(config.physical, config.skip)
            bound = 1.0 / np.sqrt(fan_in)
            param = init.uniform(-bound, bound, size=(spec.d_out, fan_in + 1))
            self.params.append(param.astype(self.dtype))
            xi = init.standard_normal(spec.d_out)
            self.xis.append(xi / np.linalg.norm(xi))
        self.readout: np.ndarray | None = None
        self.metadata: dict[str, Any] = {}
        self.meter = Meter()
        self._reset_training_state()

    def _reset_training_state(self) -> None:
        cfg = self.config
        self.adams = [
            Adam(p.shape, cfg.lr, cfg.betas, cfg.adam_eps, self.dtype) for p in self.params
        ]
        self.losses = [LocalLoss(cfg.goodness_spec(), xi) for xi in self.xis]
        self._grads = [np.empty_like(p) for p in self.params]

    @property
    def label_slots(self) -> int:
        """Input entries the label takes: C with label slots, 0 with a superposed label."""
        return self.config.n_classes if self.label_mode == "slots" else 0

    @property
    def block_rows(self) -> list[int]:
        """Device rows per sample of every block (1 for a block that fits the board)."""
        return [spec.rows for spec in self.specs]

    def _plan(self, k: int, spec: BlockSpec) -> RowPlan:
        """Block k's slot map (phyff.phyll.rows), seeded by the model's seed."""
        bits = get_encoder(spec.encoder).bits
        width = bits * spec.d_in
        if spec.rows == 1 and width == spec.n_drive:
            return RowPlan(1, spec.n_drive, np.arange(spec.n_drive))
        kinds = None
        if k == 0 and self.label_mode == "slots":
            entry = np.arange(width) // bits
            kinds = np.where(entry < self.config.n_classes, 1, 0)
            features = (entry >= self.offset) & (entry < self.offset + self.config.n_features)
            kinds = np.where(features, 2, kinds)
        return make_plan(self.config.row_layout, width, spec.n_drive, spec.rows,
                         np.random.default_rng([self.config.seed, 4, k]), kinds)

    def overlay(self, x: np.ndarray, labels: np.ndarray, out: np.ndarray | None = None,
                batch_max: float | None = None) -> np.ndarray:
        """Laid-out rows x with `labels` overlaid (label slots or superposed code)."""
        cfg = self.config
        if self.label_mode == "slots":
            return overlay(x, labels, cfg.n_classes, cfg.overlay, out, batch_max)
        return superpose(x, self.codes, labels, self.offset, cfg.overlay, cfg.label_gain,
                         out, batch_max)

    @classmethod
    def build(cls, config: ModelConfig, layers: Sequence[PhysicalLayer]) -> Model:
        """A freshly initialised model whose block widths follow the physical layers.

        A problem that fits one device row (label slots + features <= the first
        layer's inputs, rows unset or 1) gets the plain layout: every block as
        wide as its layer. Otherwise every block takes the problem's width (its
        features, plus C label slots with labels=slots) and is driven as rows
        (phyff.phyll.rows): `config.rows` of them, or the fewest that fit.
        """
        if not config.is_sized:
            raise ValueError(
                "the model configuration has no data dimensions yet: use "
                "config.sized(n_classes, n_features)"
            )
        if len(layers) != config.n_blocks:
            raise ValueError(
                f"{len(layers)} physical layers for {config.n_blocks} blocks; pass one layer "
                "per block (the same layer object may be repeated)"
            )
        pairs = list(zip(config.encoders, layers, strict=True))
        d_in = [get_encoder(enc).input_width(int(lay.n_in)) for enc, lay in pairs]
        c, f = config.n_classes, config.n_features
        fits = config.rows in (None, 1) and c + f <= d_in[0]
        labels = config.labels if config.labels != "auto" else ("slots" if fits else "add")
        rows = [1] * len(pairs)
        if not (fits or (labels == "add" and config.rows in (None, 1) and f <= d_in[0])):
            width = f + (c if labels == "slots" else 0)
            d_in = [width] * len(pairs)
            for k, (enc, lay) in enumerate(pairs):
                drive = get_encoder(enc).bits * width
                rows[k] = config.rows or min_rows(drive, int(lay.n_in))
                check_rows(rows[k], drive, int(lay.n_in), f"block {k}")
        d_out = [*d_in[1:], config.hidden or d_in[-1]]
        specs = [
            BlockSpec(enc, d_in[k], int(lay.n_in), int(lay.n_out), d_out[k], rows[k])
            for k, (enc, lay) in enumerate(pairs)
        ]
        return cls(replace(config, labels=labels), specs)

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.specs)

    def weights(self, k: int) -> np.ndarray:
        """W_k (d_out, z width), a view into the block's parameters."""
        return self.params[k][:, :-1]

    def bias(self, k: int) -> np.ndarray:
        """b_k (d_out,), a view into the block's parameters."""
        return self.params[k][:, -1]

    # ----------------------------------------------------------------- inputs
    def prepare(self, features: np.ndarray) -> np.ndarray:
        """Validate raw features (N, n_features) and place them in the input layout."""
        x = np.asarray(features, dtype=np.float64)
        f = self.config.n_features
        if x.ndim != 2 or x.shape[1] != f:
            raise ValueError(
                f"expected features of shape (samples, {f}) for this model's input layout, "
                f"got shape {x.shape}; pass the same feature columns the model was built for"
            )
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            raise ValueError(
                f"features contain NaN or inf in {int(bad.sum())} samples (first: index "
                f"{int(np.argmax(bad))}); clean or drop those samples before using them"
            )
        return lay_out(x, self.width, self.offset)

    def check_labels(self, labels: np.ndarray, n: int) -> np.ndarray:
        """Validate class labels for n samples; returns them as int64."""
        y = np.asarray(labels)
        c = self.config.n_classes
        if y.shape != (n,) or (y.size and not np.issubdtype(y.dtype, np.integer)):
            raise ValueError(
                f"expected {n} integer labels (one per sample), got dtype {y.dtype} and "
                f"shape {y.shape}"
            )
        if y.size and (y.min() < 0 or y.max() >= c):
            raise ValueError(
                f"labels must lie in [0, {c}) for {c} classes, found values {int(y.min())}.."
                f"{int(y.max())}; remap the labels or set n_classes accordingly"
            )
        return y.astype(np.int64)

    def check_layers(self, layers: Sequence[PhysicalLayer] | None) -> None:
        """Check the physical layers match the block shapes (skipped when physical=False)."""
        if not self.config.physical:
            return
        if layers is None or len(layers) != self.n_blocks:
            got = "none" if layers is None else str(len(layers))
            raise ValueError(f"this model needs {self.n_blocks} physical layers, got {got}")
        for k, (spec, lay) in enumerate(zip(self.specs, layers, strict=True)):
            if (lay.n_in, lay.n_out) != (spec.n_drive, spec.n_sense):
                raise ValueError(
                    f"physical layer {k} has {lay.n_in} drive / {lay.n_out} sense channels; "
                    f"block {k} was built for {spec.n_drive} / {spec.n_sense}"
                )

    # ---------------------------------------------------------------- physics
    def _measure(self, k: int, layer: PhysicalLayer, drive: np.ndarray) -> np.ndarray:
        drive = np.ascontiguousarray(drive, dtype=np.float64)
        start = time.perf_counter()
        raw = layer.measure(drive)
        self.meter.physical_s += time.perf_counter() - start
        self.meter.queries += len(drive)
        self.meter.measure_calls += 1
        p = np.asarray(raw, dtype=np.float64)
        expected = (len(drive), self.specs[k].n_sense)
        if p.shape != expected:
            raise ValueError(
                f"physical layer {k} returned shape {p.shape}, expected {expected} "
                "(one row of n_out readings per drive row); check the layer adapter"
            )
        if not np.isfinite(p).all():
            raise ValueError(
                f"physical layer {k} returned NaN or inf readings; check the device "
                "connection and the adapter's scaling"
            )
        return p

    def block_input(
        self, k: int, layers: Sequence[PhysicalLayer] | None, h: np.ndarray
    ) -> np.ndarray:
        """za = [p, h, 1] (or [p, 1], [h, 1]) for block k, with ONE measure() call."""
        spec, cfg = self.specs[k], self.config
        za = np.empty((len(h), self.params[k].shape[1]), self.dtype)
        col = 0
        if cfg.physical:
            if layers is None:
                raise ValueError(f"block {k} needs its physical layer (physical=True)")
            drive, macs = get_encoder(spec.encoder).encode(h)
            self.meter.macs += macs
            plan = self.plans[k]
            if not plan.is_plain:
                drive = plan.gather(drive)
            za[:, : spec.sensed] = plan.sensed(self._measure(k, layers[k], drive), len(h))
            col = spec.sensed
        if cfg.skip or not cfg.physical:
            za[:, col : col + spec.d_in] = h
        za[:, -1] = 1.0
        return za

    # --------------------------------------------------------------- training
    def train_batch(
        self,
        layers: Sequence[PhysicalLayer] | None,
        x: np.ndarray,
        labels: np.ndarray,
        neg_labels: np.ndarray,
    ) -> BatchStats:
        """Supervised step on laid-out inputs x (N, width) from prepare().

        The positives carry `labels`, the negatives (same samples) `neg_labels`.
        """
        self.check_layers(layers)
        n = len(x)
        labels = self.check_labels(labels, n)
        neg_labels = self.check_labels(neg_labels, n)
        h = np.empty((2 * n, self.width), self.dtype)
        self.overlay(x, labels, out=h[:n])
        self.overlay(x, neg_labels, out=h[n:])
        return self._train_pairs(layers, h)

    def train_batch_unsupervised(
        self, layers: Sequence[PhysicalLayer] | None, x: np.ndarray, rng: np.random.Generator
    ) -> BatchStats:
        """Label-free step on laid-out inputs x: real samples vs hybrid negatives from rng."""
        self.check_layers(layers)
        stop = self.offset + self.config.n_features
        neg, macs = hybrid_negatives(x, self.offset, stop, rng, self.config.hybrid_blur)
        self.meter.macs += macs
        return self._train_pairs(layers, np.concatenate([x, neg], dtype=self.dtype))

    def _train_pairs(self, layers: Sequence[PhysicalLayer] | None, h: np.ndarray) -> BatchStats:
        """Train all blocks on rows [positives; negatives]; block k+1 sees block k's update."""
        loss = np.zeros(self.n_blocks)
        sep = np.zeros(self.n_blocks)
        for k in range(self.n_blocks):
            za = self.block_input(k, layers, h)
            loss[k], sep[k] = self.train_block(k, za)
            if k + 1 < self.n_blocks:
                h = self.block_output(k, za)
        return BatchStats(loss, sep)

    def train_block(self, k: int, za: np.ndarray) -> tuple[float, float]:
        """T inner Adam steps of block k on block inputs za = [positives; negatives].

        za comes from `block_input` (fresh measurements) or from a cache of
        earlier ones (the layer-wise schedule): this step itself never touches
        the device. Returns (mean loss, mean goodness separation) over the steps.
        """
        param, grad = self.params[k], self._grads[k]
        loss_fn, adam = self.losses[k], self.adams[k]
        macs = 0
        for _ in range(self.config.inner_steps):
            macs += loss_fn(za, param, grad) + adam.step(param, grad)
        self.meter.macs += macs
        loss, sep = loss_fn.take_stats()
        return float(loss), float(sep)

    def block_output(self, k: int, za: np.ndarray) -> np.ndarray:
        """y = [W | b] za of block k (the next block's input), MACs counted."""
        y = za @ self.params[k].T
        self.meter.macs += y.size * za.shape[1]
        return y

    def block_goodness(self, k: int, y: np.ndarray) -> np.ndarray:
        """Goodness of block k's outputs y (rows), MACs counted."""
        good, macs = goodness(self.config.goodness_spec(), y, self.xis[k])
        self.meter.macs += macs
        return good

    def neutral(self, x: np.ndarray, batch_max: float | None = None) -> np.ndarray:
        """Laid-out rows with the neutral label overlay: every label slot at 1/C of the value.

        Hinton's one-pass inference: the overlay value is the one a label would
        get (per-sample or batch max|x|), spread evenly over the C slots, so the
        input scale matches training while favouring no class.
        """
        c, mode = self.config.n_classes, self.config.overlay
        if self.label_mode == "add":
            return superpose(np.asarray(x, dtype=self.dtype), self.codes, None, self.offset,
                             mode, self.config.label_gain, batch_max=batch_max)
        out = np.array(x, dtype=self.dtype, copy=True)
        out[:, :c] = 0.0
        if mode == "sample":
            value = np.abs(out).max(axis=1)
        else:
            value = np.full(len(out), np.abs(out).max(initial=0.0) if batch_max is None
                            else batch_max)
        out[:, :c] = (value / c)[:, None]
        return out

    @property
    def uses_readout(self) -> bool:
        """True when predictions come from the linear read-out (one-pass or unsupervised)."""
        return self.config.unsupervised or self.config.inference == "onepass"

    # -------------------------------------------------------------- inference
    def run_blocks(
        self, layers: Sequence[PhysicalLayer] | None, h: np.ndarray
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Outputs y_k of every block and their goodness (K, rows) for laid-out rows h."""
        spec = self.config.goodness_spec()
        outputs: list[np.ndarray] = []
        good = np.empty((self.n_blocks, len(h)))
        for k in range(self.n_blocks):
            za = self.block_input(k, layers, h)
            h = za @ self.params[k].T
            good[k], macs = goodness(spec, h, self.xis[k])
            self.meter.macs += macs + h.size * za.shape[1]
            outputs.append(h)
        return outputs, good

    def goodness_table(
        self, layers: Sequence[PhysicalLayer] | None, features: np.ndarray
    ) -> np.ndarray:
        """Goodness (K, N, C) of every sample under every candidate label overlay.

        All C overlays of a chunk of samples go through each block in one
        measure() call; chunks keep a call below INFERENCE_ROWS rows.
        """
        self.check_layers(layers)
        x = self.prepare(features)
        n, c = len(x), self.config.n_classes
        batch_max = float(np.abs(x).max(initial=0.0)) if self.config.overlay == "batch" else None
        table = np.empty((self.n_blocks, n, c))
        step = max(1, INFERENCE_ROWS // c)
        for start in range(0, n, step):
            chunk = x[start : start + step]
            m = len(chunk)
            h = np.empty((c * m, self.width), self.dtype)
            for label in range(c):
                rows = h[label * m : (label + 1) * m]
                self.overlay(chunk, np.full(m, label), rows, batch_max)
            _, good = self.run_blocks(layers, h)
            table[:, start : start + m] = good.reshape(self.n_blocks, c, m).transpose(0, 2, 1)
        return table

    def embed(self, layers: Sequence[PhysicalLayer] | None, features: np.ndarray) -> np.ndarray:
        """Concatenated block outputs (|y| or y) of unlabelled inputs, for the read-out.

        A supervised model sees its inputs with the neutral label overlay (one
        pass, K queries per sample); an unsupervised one never had labels.
        """
        self.check_layers(layers)
        x = self.prepare(features)
        if not self.config.unsupervised:
            batch_max = float(np.abs(x).max(initial=0.0))
            x = self.neutral(x, batch_max)
        parts = []
        for start in range(0, len(x), INFERENCE_ROWS):
            outputs, _ = self.run_blocks(layers, x[start : start + INFERENCE_ROWS])
            parts.append(np.concatenate(outputs, axis=1))
        return self.readout_input(np.concatenate(parts))

    def readout_input(self, outputs: np.ndarray) -> np.ndarray:
        """Concatenated block outputs -> the read-out's features (|y| or y)."""
        return np.abs(outputs) if self.config.readout_features == "abs" else outputs

    def fit_readout(
        self, layers: Sequence[PhysicalLayer] | None, features: np.ndarray, labels: np.ndarray
    ) -> np.ndarray:
        """Fit the ridge read-out of an unsupervised model on labelled data.

        Returns the fitted read-out's predictions on that same data, which
        saves a second pass through the device when they are wanted anyway.
        """
        y = self.check_labels(labels, len(features))
        return self.fit_readout_on(self.embed(layers, features), y)

    def fit_readout_on(self, feats: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Fit the ridge read-out on read-out features (from `embed` or a cache of them).

        Returns the read-out's predictions on those features.
        """
        self.readout, macs = fit_ridge(feats, labels, self.config.n_classes, self.config.ridge)
        scores, score_macs = readout_scores(self.readout, feats)
        self.meter.macs += macs + score_macs
        return scores.argmax(axis=1)

    @property
    def own_inference(self) -> str:
        """The inference the model was trained for (an unsupervised one has only its read-out)."""
        return "onepass" if self.config.unsupervised else self.config.inference

    def check_inference(self, inference: str | None = None) -> str:
        """The inference to use (default: the model's own), refused when it cannot work."""
        kind = self.own_inference if inference is None else inference
        if kind not in INFERENCE_KINDS:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE_KINDS)}, "
                             f"got {kind!r}")
        if kind == "goodness" and self.config.unsupervised:
            raise ValueError(
                "this model was trained without labels (unsupervised): its goodness says "
                "nothing about classes, so goodness inference cannot classify; use its "
                "one-pass read-out (--inference onepass)")
        if (kind == "onepass" or self.config.unsupervised) and self.readout is None:
            raise ValueError(
                "this model has no fitted read-out, so one-pass inference cannot classify "
                "with it: it was trained for goodness inference (use --inference goodness) "
                "or fit_readout() was never called")
        return kind

    def scores(self, layers: Sequence[PhysicalLayer] | None, features: np.ndarray,
               inference: str | None = None) -> np.ndarray:
        """Class scores (N, C) by `inference` (default: the model's own); MACs counted.

        The one place that knows how each inference scores a class, so every
        caller (predictions, the estimator's probabilities) agrees with it:
        goodness: the goodness summed over blocks under each of the C label
        overlays (C x K device queries per sample); onepass: the neutral
        overlay once through the blocks, then the linear read-out (K per sample).
        """
        kind = self.check_inference(inference)
        if kind == "onepass":
            assert self.readout is not None
            scores, macs = readout_scores(self.readout, self.embed(layers, features))
            self.meter.macs += macs
            return np.asarray(scores, dtype=np.float64)
        return self.goodness_table(layers, features).sum(axis=0)

    def logit_scale(self, inference: str | None = None) -> float:
        """What turns `scores` into logits of "this label is the right one".

        Summed cosine goodness is trained by softplus(-theta (G+ - G-)), so theta
        times it is a logit; Hinton's ff_v1 goodness is a logit as it stands
        (g - threshold), and so are the ridge read-out's scores.
        """
        kind = self.check_inference(inference)
        if kind == "goodness" and self.config.goodness == "cosine":
            return float(self.config.theta)
        return 1.0

    def predict(self, layers: Sequence[PhysicalLayer] | None, features: np.ndarray,
                inference: str | None = None) -> np.ndarray:
        """Class predictions by `inference` (default: the model's own): argmax of `scores`."""
        return self.scores(layers, features, inference).argmax(axis=1)

    # ----------------------------------------------------------- persistence
    def arrays(self) -> dict[str, np.ndarray]:
        """Learned and fixed arrays, by name (for model files and checkpoints)."""
        out: dict[str, np.ndarray] = {}
        for k in range(self.n_blocks):
            out[f"W{k}"] = self.weights(k)
            out[f"b{k}"] = self.bias(k)
            out[f"xi{k}"] = self.xis[k]
            if not self.plans[k].is_plain:
                out[f"slots{k}"] = self.plans[k].slots
        if self.codes is not None:
            out["label_code"] = self.codes
        if self.readout is not None:
            out["readout"] = self.readout
        return out

    def header(self) -> dict[str, Any]:
        """JSON-able description: hyperparameters and block shapes."""
        return {
            "config": self.config.to_dict(),
            "blocks": [s.to_dict() for s in self.specs],
        }

    @classmethod
    def from_parts(cls, header: Any, arrays: dict[str, np.ndarray]) -> Model:
        """Rebuild a model from header() and arrays() output.

        ``header`` is whatever a file held (so typed Any): anything but the
        shape header() writes is refused.

        Everything is checked before it is used (ValueError naming what is wrong):
        the block sizes are whole numbers within :data:`MAX_BLOCK_WIDTH` (so a
        header cannot make the constructor allocate gigabytes), and every array
        is real, finite and exactly the shape the header's sizes give it (numpy
        would broadcast a single row into every row, or drop an imaginary part).
        """
        try:
            if not isinstance(header, dict) or not isinstance(header.get("config"), dict) \
                    or not isinstance(header.get("blocks"), list):
                raise ValueError("the model header needs a `config` object and a `blocks` "
                                 "list")
            saved = dict(header["config"])
            # Files from before one-pass inference existed classified by goodness.
            saved.setdefault("inference", "goodness")
            config = ModelConfig.from_dict(saved)
            specs = [_block_spec(b, k) for k, b in enumerate(header["blocks"])]
            model = cls(config, specs)
            for k in range(model.n_blocks):
                d_out, width = model.params[k].shape
                model.params[k][:, :-1] = _real_array(arrays, f"W{k}", (d_out, width - 1))
                model.params[k][:, -1] = _real_array(arrays, f"b{k}", (d_out,))
                model.xis[k][:] = _real_array(arrays, f"xi{k}", (d_out,))
                if f"slots{k}" in arrays:
                    plan = model.plans[k]
                    slots = _real_array(arrays, f"slots{k}", plan.slots.shape)
                    drive_width = get_encoder(model.specs[k].encoder).bits * model.specs[k].d_in
                    if slots.dtype.kind not in "iu" or slots.min(initial=0) < 0 or \
                            slots.max(initial=0) >= drive_width:
                        raise ValueError(f"slot map of block {k} holds entries outside "
                                         f"0..{drive_width - 1}, the block's drive width")
                    model.plans[k] = RowPlan(plan.rows, plan.channels, slots.astype(np.int64))
            if "label_code" in arrays:
                if model.codes is None:
                    raise ValueError("the file holds class codes but its model uses label slots")
                model.codes = _real_array(arrays, "label_code", model.codes.shape).astype(
                    np.float64)
            if "readout" in arrays:
                rows = sum(spec.d_out for spec in model.specs) + 1
                model.readout = _real_array(arrays, "readout", (rows, config.n_classes))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"model data is incomplete or inconsistent: {err}") from err
        model._reset_training_state()
        return model


MAX_BLOCK_WIDTH = 1 << 16  # any width of a block a model file may declare
# The arrays a model file holds (checkpoints add the optimiser's): what load_model reads.
MODEL_ARRAYS = r"(W|b|xi|slots)\d{1,3}|readout|label_code"


def _block_spec(raw: Any, k: int) -> BlockSpec:
    """One block of a model header, its sizes checked before anything is allocated."""
    if not isinstance(raw, dict):
        raise ValueError(f"block {k} of the header is not an object")
    spec = BlockSpec(**raw)
    for name in ("d_in", "n_drive", "n_sense", "d_out"):
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 1 <= value <= MAX_BLOCK_WIDTH:
            raise ValueError(f"block {k}: {name}={value!r} must be a whole number in "
                             f"1..{MAX_BLOCK_WIDTH}")
    return spec


def _real_array(arrays: dict[str, np.ndarray], name: str,
                shape: tuple[int, ...]) -> np.ndarray:
    """arrays[name], refused unless real numbers, finite, of exactly `shape`."""
    if name not in arrays:
        raise ValueError(f"array {name} is missing")
    arr = np.asarray(arrays[name])
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"array {name} holds {arr.dtype} values; model arrays hold real "
                         f"numbers")
    if arr.shape != shape:
        raise ValueError(f"array {name} has shape {arr.shape}; the header's block sizes give "
                         f"{shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"array {name} holds {int(bad.sum())} NaN or infinite values (the "
                         f"first at index {first}): the model is damaged or its training "
                         f"diverged; train it again")
    return arr


def save_model(
    path: str | os.PathLike[str], model: Model, metadata: dict[str, Any] | None = None
) -> Path:
    """Write the model and caller metadata (JSON-able) to one .npz file, atomically."""
    header = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "model": model.header(),
        "metadata": metadata or {},
    }
    return write_npz_atomic(path, model.arrays(), header)


def load_model(path: str | os.PathLike[str]) -> Model:
    """Load a model written by save_model; its metadata is in `model.metadata`."""
    header, arrays = read_npz(path, MODEL_FORMAT, MODEL_FORMAT_VERSION, members=MODEL_ARRAYS)
    try:
        model = Model.from_parts(header.get("model"), arrays)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    model.metadata = _checked_metadata(header.get("metadata", {}), path)
    return model


# The measuring settings a trained model records for each physical layer.
LAYER_CONFIG_KEYS = ("settle_us", "oversample", "n_drive_active", "n_sense_active")


def _checked_metadata(metadata: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata's part phyff acts on, checked for its kind (ValueError naming the
    file): ``layers``, a list of objects whose ``caps`` and ``config`` are objects and
    whose config values are whole numbers. The rest is the caller's (save_model)."""
    def bad(what: str) -> ValueError:
        return ValueError(f"{path}: its metadata is damaged ({what}); train the model again "
                          f"or restore the file")

    if not isinstance(metadata, dict):
        raise bad(f"a JSON {type(metadata).__name__}, not an object")
    layers = metadata.get("layers", [])
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise bad("`layers` is not a list of objects")
    for k, layer in enumerate(layers):
        for part in ("caps", "config"):
            if part in layer and not isinstance(layer[part], dict):
                raise bad(f"layer {k}: `{part}` is not an object")
        config = layer.get("config")
        if config is not None:
            for key in LAYER_CONFIG_KEYS:
                value = config.get(key)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise bad(f"layer {k}: config {key}={value!r} is not a whole number")
    return metadata
