"""Extreme learning machine: fixed physical layers, a trained linear read-out.

The same group's earlier fixed-cavity work (arXiv 2304.08380) trained only a
linear read-out on the readings of an untrained reverberant cavity. Here the
physical part is PhyLL's block chain with its weights left at their random
initialisation: block k encodes h_k, the board measures p_k, and
h_{k+1} = W_k [p_k, h_k, 1] with a fixed random W_k (PhyLL's initialisation).
A ridge regression onto one-hot labels (`phyff.phyll.readout.fit_ridge`, closed
form, MACs counted) is fitted on the features [p_1, ..., p_K, x]. The ridge
penalty is chosen from a small grid on a held-out fifth of the training set
(no extra device queries: the features are measured once), then refitted on
all of it.

On a board narrower than the features (more features + label slots than
drive channels) the blocks are as wide as the features and driven as the
fewest device rows that fit (`phyff.phyll.rows`, the ``permute`` layout,
as PhyLL lays them out by default), so both meet the same rows.

The same read-out on x alone is the benchmark's ``ridge-lsq``, and random
digital features in place of the physical blocks its ``digital-elm``
(`phyff.compare.baselines.digital`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from phyff.phyll.accounting import Meter
from phyff.phyll.encoders import get_encoder
from phyff.phyll.layout import lay_out, resolve_offset
from phyff.phyll.model import PhysicalLayer
from phyff.phyll.readout import fit_ridge_held_out, readout_scores
from phyff.phyll.rows import RowPlan, make_plan, min_rows


@dataclass(frozen=True)
class ElmSettings:
    """Blocks, encoder and the ridge grid of the extreme learning machine."""

    n_blocks: int = 2
    encoder: str = "amplitude"
    alphas: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    holdout: float = 0.2


class Elm:
    """Random fixed physical blocks + ridge read-out."""

    def __init__(self, n_classes: int, n_features: int, layers: Sequence[PhysicalLayer],
                 settings: ElmSettings, seed: int) -> None:
        self.settings = settings
        self.n_classes = n_classes
        enc = settings.encoder
        self.d_in = [get_encoder(enc).input_width(int(lay.n_in)) for lay in layers]
        bits = get_encoder(enc).bits
        self.plans = [RowPlan(1, int(lay.n_in), np.arange(int(lay.n_in))) for lay in layers]
        if n_classes + n_features > self.d_in[0]:  # narrow board: feature-wide blocks in rows
            self.d_in = [n_features] * len(layers)
            self.plans = [make_plan("permute", bits * n_features, int(lay.n_in),
                                    min_rows(bits * n_features, int(lay.n_in)),
                                    np.random.default_rng([seed, 4, k]))
                          for k, lay in enumerate(layers)]
            self.width, self.offset = n_features, 0
        else:
            self.width = self.d_in[0]
            self.offset = resolve_offset(self.width, n_features, n_classes, None)
        rng = np.random.default_rng([seed, 0])
        self.maps: list[np.ndarray] = []
        for k in range(len(layers) - 1):
            fan_in = self.plans[k].rows * int(layers[k].n_out) + self.d_in[k]
            bound = 1.0 / np.sqrt(fan_in)
            self.maps.append(rng.uniform(-bound, bound, (self.d_in[k + 1], fan_in + 1)))
        self.readout: np.ndarray | None = None
        self.alpha = float("nan")
        self.meter = Meter()

    def features(self, layers: Sequence[PhysicalLayer], x: np.ndarray) -> np.ndarray:
        """[p_1, ..., p_K, x] for raw features x."""
        x = np.asarray(x, dtype=np.float64)
        h = lay_out(x, self.width, self.offset)
        parts = []
        for k, layer in enumerate(layers):
            drive, macs = get_encoder(self.settings.encoder).encode(h)
            plan = self.plans[k]
            if not plan.is_plain:
                drive = plan.gather(drive)
            p = np.asarray(layer.measure(np.ascontiguousarray(drive)), dtype=np.float64)
            p = plan.sensed(p, len(h))
            self.meter.queries += len(drive)
            self.meter.measure_calls += 1
            self.meter.macs += macs
            parts.append(p)
            if k < len(self.maps):
                za = np.concatenate([p, h, np.ones((len(h), 1))], axis=1)
                h = za @ self.maps[k].T
                self.meter.macs += h.size * za.shape[1]
        return np.concatenate([*parts, x], axis=1)

    def fit(self, layers: Sequence[PhysicalLayer], x: np.ndarray, y: np.ndarray,
            rng: np.random.Generator) -> None:
        """Measure the training features once, pick the penalty on a hold-out, refit."""
        feats = self.features(layers, x)
        y = np.asarray(y, dtype=np.int64)
        self.readout, self.alpha, macs = fit_ridge_held_out(
            feats, y, self.n_classes, self.settings.alphas, self.settings.holdout,
            rng.permutation(len(y)))
        self.meter.macs += macs

    def predict(self, layers: Sequence[PhysicalLayer], x: np.ndarray) -> np.ndarray:
        """Class predictions for raw features."""
        if self.readout is None:
            raise ValueError("fit() the read-out before predict()")
        scores, macs = readout_scores(self.readout, self.features(layers, x))
        self.meter.macs += macs
        return scores.argmax(axis=1)
