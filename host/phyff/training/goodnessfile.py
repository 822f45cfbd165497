"""The end-of-run test-set analysis: per-sample goodness and the confusion matrix.

Accuracy alone hides how confidently a model separates right from wrong. The
goodness file keeps, for every test sample, the summed goodness of its true
label (or of the real sample, unsupervised) and of a wrong label (or of a
hybrid negative), plus the confusion matrix, so reports can show both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from phyff.phyll.layout import hybrid_negatives, wrong_labels
from phyff.phyll.model import Model, PhysicalLayer
from phyff.phyll.npzio import read_npz, write_npz_atomic

GOODNESS_FORMAT = "phyff-goodness"
GOODNESS_FORMAT_VERSION = 1


def write_goodness_file(
    path: str | os.PathLike[str],
    model: Model,
    layers: Sequence[PhysicalLayer] | None,
    x_test: np.ndarray,
    y_test: np.ndarray,
) -> Path:
    """Evaluate the test set once more and store goodness and confusion arrays.

    Arrays: pos, neg (N,) summed goodness of positives and negatives; labels,
    pred (N,) by the model's own inference (the header's ``inference``: what
    `phyff train` reports and `phyff eval` runs); confusion (C, C) of those
    predictions with rows = true class, columns = predicted; supervised models
    also store neg_best (N,), the best wrong label's goodness, table (K, N, C),
    the goodness of every block under every label, and pred_goodness (N,), the
    goodness-argmax prediction read off that table.
    """
    cfg = model.config
    y = model.check_labels(y_test, len(x_test))
    rng = np.random.default_rng([cfg.seed, 2])  # fixed, so reruns give the same file
    n = len(y)
    rows = np.arange(n)
    arrays: dict[str, np.ndarray] = {"labels": y}
    if cfg.unsupervised:
        xl = model.prepare(x_test)
        stop = model.offset + cfg.n_features
        neg, _ = hybrid_negatives(xl, model.offset, stop, rng, cfg.hybrid_blur)
        _, good = model.run_blocks(layers, np.concatenate([xl, neg]))
        total = good.sum(axis=0)
        arrays.update(pos=total[:n], neg=total[n:], pred=model.predict(layers, x_test))
        inference = "onepass"
    else:
        table = model.goodness_table(layers, x_test)
        total = table.sum(axis=0)
        wrong = wrong_labels(y, cfg.n_classes, rng)
        others = total.copy()
        others[rows, y] = -np.inf
        inference = cfg.inference
        by_goodness = total.argmax(axis=1)
        arrays.update(
            table=table,
            pos=total[rows, y],
            neg=total[rows, wrong],
            neg_best=others.max(axis=1),
            pred_goodness=by_goodness,
            pred=by_goodness if inference == "goodness" else model.predict(layers, x_test),
        )
    confusion = np.zeros((cfg.n_classes, cfg.n_classes), dtype=np.int64)
    np.add.at(confusion, (y, arrays["pred"]), 1)
    arrays["confusion"] = confusion
    header = {
        "format": GOODNESS_FORMAT,
        "format_version": GOODNESS_FORMAT_VERSION,
        "kind": "unsupervised" if cfg.unsupervised else "supervised",
        "goodness": cfg.goodness,
        "n_blocks": model.n_blocks,
        "inference": inference,
    }
    return write_npz_atomic(path, arrays, header)


def read_goodness_file(path: str | os.PathLike[str]) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of a goodness file."""
    return read_npz(path, GOODNESS_FORMAT, GOODNESS_FORMAT_VERSION)
