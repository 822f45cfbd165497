"""End-to-end backpropagation through physical layers: physics-aware training and its ideal.

The natural architecture for a backpropagation method on the same hardware as
PhyLL: K blocks of encode -> physical layer -> digital affine map over
z = [p, h] (the same skip path as PhyLL; [p] without it), then a linear
softmax head (C classes) on the last block's output, trained end to end on
the cross-entropy with Adam (`phyff.phyll.optim.Adam`). Inputs use PhyLL's layout
(`phyff.phyll.layout.lay_out`) with the label slots left at zero, so every method
drives the same channels with the same features; widths follow the physical
layers exactly as `phyff.phyll.model.Model.build` does.

Forward passes always go through the board (one query per row per block per
step: the weights change every step, so nothing can be reused). The backward
pass needs d readings / d drive of blocks 2..K (block 1's input is data, no
parameter sits before its physical layer); a `LayerGradient` supplies it:

- physics-aware training (PAT, Wright et al. 2022): a digital twin fitted to
  recorded queries (`phyff.compare.baselines.twin`), evaluated at the drive sent;
- ideal backpropagation: the emulator's exact medium (`ExactGradient`), the
  upper bound of any gradient-based training on this hardware, as the only
  difference from PAT is the quality of the backward pass.

The encoders' derivatives are included (`Encoder.vjp` in `phyff.phyll.encoders`; a
straight-through estimator for the binary encoder). Every multiply is
counted into `meter` (see `phyff.phyll.accounting`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from phyff.compare.baselines.jacobian import LayerGradient
from phyff.phyll.accounting import Meter
from phyff.phyll.encoders import get_encoder
from phyff.phyll.layout import lay_out, resolve_offset
from phyff.phyll.model import PhysicalLayer
from phyff.phyll.optim import Adam


@dataclass(frozen=True)
class BackpropSettings:
    """Training settings of the backpropagation baselines."""

    epochs: int = 100
    batch_size: int | None = 32
    lr: float = 5e-3
    n_blocks: int = 2
    encoder: str = "amplitude"
    skip: bool = True
    hidden: int | None = None


class BackpropNet:
    """Blocks of encode -> physical -> affine, a softmax head; weights and Adam state."""

    def __init__(self, n_classes: int, n_features: int, encoders: Sequence[str],
                 layers: Sequence[PhysicalLayer], *, skip: bool, hidden: int | None,
                 lr: float, seed: int) -> None:
        self.encoders = tuple(encoders)
        self.skip = skip
        self.n_classes = n_classes
        self.d_in = [get_encoder(e).input_width(int(lay.n_in)) for e, lay in zip(encoders, layers,
                                                                      strict=True)]
        self.n_sense = [int(lay.n_out) for lay in layers]
        self.d_out = [*self.d_in[1:], hidden or self.d_in[-1]]
        self.width = self.d_in[0]
        self.offset = resolve_offset(self.width, n_features, n_classes, None)
        rng = np.random.default_rng([seed, 0])
        self.params: list[np.ndarray] = []
        for k in range(len(self.encoders)):
            fan_in = self.n_sense[k] + (self.d_in[k] if skip else 0)
            self.params.append(_uniform(rng, self.d_out[k], fan_in))
        self.params.append(_uniform(rng, n_classes, self.d_out[-1]))  # the head
        self.adams = [Adam(p.shape, lr) for p in self.params]
        self.meter = Meter()

    @property
    def n_blocks(self) -> int:
        return len(self.encoders)

    def layout(self, features: np.ndarray) -> np.ndarray:
        """Features placed in PhyLL's input layout (label slots zero)."""
        return lay_out(np.asarray(features, dtype=np.float64), self.width, self.offset)

    def _measure(self, layer: PhysicalLayer, drive: np.ndarray) -> np.ndarray:
        p = np.asarray(layer.measure(np.ascontiguousarray(drive)), dtype=np.float64)
        self.meter.queries += len(drive)
        self.meter.measure_calls += 1
        return p

    def forward(self, layers: Sequence[PhysicalLayer], x: np.ndarray
                ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Logits (M, C) and per block (h, drive, za) for the backward pass."""
        cache = []
        h = x
        for k in range(self.n_blocks):
            drive, macs = get_encoder(self.encoders[k]).encode(h)
            p = self._measure(layers[k], drive)
            parts = [p, h] if self.skip else [p]
            za = np.concatenate([*parts, np.ones((len(h), 1))], axis=1)
            cache.append((h, drive, za))
            h = za @ self.params[k].T
            self.meter.macs += macs + h.size * za.shape[1]
        head = self.params[-1]
        logits = h @ head[:, :-1].T + head[:, -1]
        self.meter.macs += logits.size * h.shape[1]
        cache.append((h, h, h))
        return logits, cache

    def predict(self, layers: Sequence[PhysicalLayer], features: np.ndarray) -> np.ndarray:
        """Class predictions for raw features."""
        logits, _ = self.forward(layers, self.layout(features))
        return logits.argmax(axis=1)

    def gradients(self, layers: Sequence[PhysicalLayer], x: np.ndarray, y: np.ndarray,
                  grad_source: LayerGradient) -> tuple[float, list[np.ndarray], int, int]:
        """(mean cross-entropy, gradient of every parameter array, MACs, oracle evaluations).

        The forward pass's MACs and queries go into `meter`; the backward pass's
        MACs are returned (step() adds them with the update's).
        """
        logits, cache = self.forward(layers, x)
        m, c = logits.shape
        z = logits - logits.max(axis=1, keepdims=True)
        prob = np.exp(z)
        prob /= prob.sum(axis=1, keepdims=True)  # m*c
        loss = float(-np.mean(np.log(prob[np.arange(m), y] + 1e-300)))
        g = prob
        g[np.arange(m), y] -= 1.0
        g /= m  # m*c
        macs = 2 * m * c
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        h_last = cache[-1][0]
        head = self.params[-1]
        grads[-1] = np.concatenate([g.T @ h_last, g.sum(axis=0)[:, None]], axis=1)
        gh = g @ head[:, :-1]
        macs += 2 * m * c * h_last.shape[1]
        evals = 0
        for k in range(self.n_blocks - 1, -1, -1):
            h, drive, za = cache[k]
            w = self.params[k]
            grads[k] = gh.T @ za
            macs += gh.shape[1] * za.size
            if k == 0:
                break  # block 1's input is data: nothing before it to train
            gz = gh @ w[:, :-1]
            macs += gh.size * (w.shape[1] - 1)
            ns = self.n_sense[k]
            g_drive, vjp_macs, vjp_evals = grad_source.vjp(drive, za[:, :ns], gz[:, :ns])
            g_h, enc_macs = get_encoder(self.encoders[k]).vjp(h, g_drive)
            macs += vjp_macs + enc_macs
            evals += vjp_evals
            gh = g_h + gz[:, ns : ns + h.shape[1]] if self.skip else g_h
        return loss, grads, macs, evals

    def step(self, layers: Sequence[PhysicalLayer], x: np.ndarray, y: np.ndarray,
             grad_source: LayerGradient) -> tuple[float, int]:
        """One Adam step on a batch; returns (cross-entropy loss, oracle evaluations)."""
        loss, grads, macs, evals = self.gradients(layers, x, y, grad_source)
        for p, gr, adam in zip(self.params, grads, self.adams, strict=True):
            macs += adam.step(p, gr)
        self.meter.macs += macs
        return loss, evals


def train_backprop(
    net: BackpropNet,
    layers: Sequence[PhysicalLayer],
    x_train: np.ndarray,
    y_train: np.ndarray,
    settings: BackpropSettings,
    grad_source: LayerGradient,
    rng: np.random.Generator,
    on_epoch: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Train for settings.epochs; returns {"loss": last epoch's mean, "oracle_evals": n}."""
    x = net.layout(x_train)
    y = np.asarray(y_train, dtype=np.int64)
    n = len(x)
    size = n if settings.batch_size is None else settings.batch_size
    evals = 0
    loss = float("nan")
    for epoch in range(1, settings.epochs + 1):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, size):
            idx = order[start : start + size]
            batch_loss, batch_evals = net.step(layers, x[idx], y[idx], grad_source)
            total += batch_loss * len(idx)
            evals += batch_evals
        loss = total / n
        if on_epoch is not None:
            on_epoch(epoch)
    return {"loss": loss, "oracle_evals": float(evals)}


def _uniform(rng: np.random.Generator, rows: int, fan_in: int) -> np.ndarray:
    """[W | b] with PhyLL's initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=(rows, fan_in + 1))
