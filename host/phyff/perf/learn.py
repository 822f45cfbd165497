"""On-device read-out refit (learn.h) on vowels7 after a step perturbation of the medium.

Run: ``python -m phyff.perf.learn RUN --board URL`` with RUN a run directory
written by ``phyff train`` and ``phyff deploy`` (it holds device-model.bin)
and URL the emulated board it was trained on (``emu://acoustic?seed=1``).

Per perturbation strength (0 = none, then "step" perturbations of the
simulated medium) on a fresh board holding the deployed model:

1. the board classifies the test split (its own classes: no adaptation);
2. ``--per-class`` training samples per class (the first ones of each class
   in a seeded shuffle) go through the board with a trace, and their
   read-out features are recomputed from it (reference.py, bit-exact with
   the board, so they are the features the board's LEARN would accumulate);
3. the board's refit is predicted with refit.py (learn.h; bit for bit the
   C core's, tests/test_refit.py) and applied to the test split's traces
   (the blocks and so the measurements do not change with the read-out);
4. the same samples' float features (the board's integer features scaled to
   reals) are fitted with the host's float ridge (phyll/readout.py) with the
   same penalty, and scored on the same test features.

Printed: test accuracy before the perturbation, after it without
adaptation, after the board's refit, after the float ridge refit, and the
fraction of the lost accuracy the refit recovered. A logistic regression on
the raw features (the strong digital model) is printed beside them.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from phyff.board.client import Board
from phyff.compare.fieldadapt import measure
from phyff.datasets import load_dataset
from phyff.ondevice import refit as rf
from phyff.ondevice.deploy import features_q15, load_deployment
from phyff.phyll.readout import fit_ridge
from phyff.protocol.model_image import ModelImage


def readout_accuracy(image: ModelImage, f: NDArray[np.int64], y: NDArray[np.int64]) -> float:
    """model.h M-P6-P7 on read-out features f."""
    scores = rf.readout_scores(image, f)
    return float((scores.argmax(axis=1) == y).mean())


def pick(y: NDArray[np.int64], per_class: int, seed: int) -> NDArray[np.int64]:
    order = np.random.default_rng(seed).permutation(len(y))
    return np.sort(np.concatenate([order[y[order] == c][:per_class]
                                   for c in range(int(y.max()) + 1)]))


def refit_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The arguments of the read-out refit benchmarks: a trained run, the board it
    is deployed on, the dataset and how many samples per class the refit sees."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--board", required=True)
    ap.add_argument("--dataset", default="vowels7")
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--lambda-shift", type=int, default=10)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = refit_arguments(__doc__)
    ap.add_argument("--strengths", default="0,1,3")
    ap.add_argument("--picks", type=int, default=10, help="sample selections per strength")
    args = ap.parse_args(argv)
    image = load_deployment(args.run)
    data = load_dataset(args.dataset, seed=0)
    y_train = np.asarray(data.y_train, np.int64)
    y_test = np.asarray(data.y_test, np.int64)
    logreg = LogisticRegression(max_iter=5000).fit(data.x_train, y_train)
    print(f"{args.dataset}: logistic regression on the raw features (digital baseline): "
          f"{100 * logreg.score(data.x_test, y_test):.1f} %")
    print(f"refit: {args.per_class} samples per class, lambda 2^-{args.lambda_shift}, "
          f"{args.picks} sample selections per strength")
    print(f"{'strength':>8} {'before':>7} {'no adapt':>9} {'board refit':>12} "
          f"{'float ridge':>12} {'diff':>6} {'recovered':>10} {'cond bits':>10}")
    before = None
    for strength in (float(s) for s in args.strengths.split(",")):
        with Board.open(args.board) as board:
            if strength > 0:
                board.link.transport.device.perturb("step", strength)  # type: ignore[attr-defined]
            train = measure(board, image, features_q15(data.x_train, image.head.input_exp))
            test = measure(board, image, features_q15(data.x_test, image.head.input_exp))
        plain = float((test.classes == y_test).mean())
        if before is None:
            before = plain
        board_acc, float_acc, conds = [], [], []
        for p in range(args.picks):
            idx = pick(y_train, args.per_class, p)
            stats = rf.Statistics.empty(train.features.shape[1], image.head.n_classes)
            stats.add(train.features[idx], y_train[idx])
            result = rf.refit(image, stats, args.lambda_shift)
            conds.append(result.cond_bits)
            board_acc.append(readout_accuracy(result.image, test.features, y_test))
            w, _ = fit_ridge(rf.real_features(image, train.features[idx]), y_train[idx],
                             image.head.n_classes, 2.0 ** -args.lambda_shift)
            scores = rf.real_features(image, test.features) @ w[:-1] + w[-1]
            float_acc.append(float((scores.argmax(axis=1) == y_test).mean()))
        b, f = statistics.mean(board_acc), statistics.mean(float_acc)
        lost = before - plain
        recovered = (b - plain) / lost if lost > 0 else float("nan")
        print(f"{strength:>8g} {100 * before:>6.1f}% {100 * plain:>8.1f}% "
              f"{100 * b:>6.1f}+-{100 * statistics.pstdev(board_acc):>3.1f}% "
              f"{100 * f:>6.1f}+-{100 * statistics.pstdev(float_acc):>3.1f}% "
              f"{100 * (b - f):>+5.1f} {recovered:>10.2f} {max(conds):>10d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
