"""The trained model is the whole pipeline: raw values in, class names out.

Every model phyff writes records its input transform (per-feature scaling fitted
on the training split, feature and class names, the training range); classify
and predict take raw CSV rows, match columns by header, name classes, stream per
batch and flag rows outside the training range; bad CSV input names line and
column and exits 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phyff.api import PhyLLClassifier
from phyff.cli.main import main
from phyff.datasets import load_dataset
from phyff.datasets.base import robust_scale
from phyff.phyll.model import load_model, save_model
from phyff.phyll.transform import InputTransform, from_metadata

BOARD = "emu://acoustic?seed=4"
UNITS = np.array([1, 10, 100, 1000, 0.01, 5, 50, 2])  # raw sensor units per feature
CLASSES = ["low", "mid", "high", "off"]


def _raw_blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four separable classes, 8 features in very different raw units."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-1, 1, (4, 8))
    y = np.repeat(np.arange(4), 60)
    x = (centers[y] + 0.15 * rng.standard_normal((len(y), 8))) * UNITS
    return x, y


def _write_csv(path: Path, x: np.ndarray, y: np.ndarray | None = None,
               names: list[str] | None = None) -> Path:
    names = names or [f"volt{j}" for j in range(x.shape[1])]
    lines = [",".join(names) + ("" if y is None else ",label")]
    for k, row in enumerate(x):
        cells = ",".join(f"{v:.9g}" for v in row)
        lines.append(cells if y is None else f"{cells},{CLASSES[int(y[k])]}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def raw_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("pipeline")
    x, y = _raw_blobs()
    data = f"csv:{_write_csv(root / 'raw.csv', x, y)}"
    run = root / "run"
    assert main(["train", "--board", BOARD, "--dataset", data, "--run", str(run),
                 "--epochs", "20", "--no-progress"]) == 0
    return run, data


# ---- 1. the model file carries its input transform ------------------------------------


def test_a_train_run_records_scaling_names_and_range(raw_run: tuple[Path, str]) -> None:
    run, data = raw_run
    transform = from_metadata(load_model(run / "model.npz").metadata)
    assert transform is not None
    ds = load_dataset(data, seed=0)
    assert ds.input_scale is not None
    # the scale the dataset was divided by, fitted on the training split only
    assert np.allclose(transform.scale, ds.input_scale)
    assert transform.clip is True
    assert transform.feature_names == tuple(f"volt{j}" for j in range(8))
    assert transform.class_names == ds.class_names
    # raw training rows through the transform are exactly the features trained on
    x, _ = _raw_blobs()
    scaled = transform.apply(x)
    for row in ds.x_train[:20]:
        assert np.isclose(scaled, row, atol=1e-12).all(axis=1).any()


def test_the_range_covers_the_training_split_and_flags_10x() -> None:
    x = np.array([[1.0, -4.0], [0.5, 2.0], [-2.0, 1.0]])
    fit = robust_scale(x)
    t = InputTransform.fit(fit.scale, np.clip(x / fit.scale, -1, 1), clip=True,
                           class_names=["a", "b"])
    assert not t.out_of_range(t.unclipped(x)).any()
    far = t.out_of_range(t.unclipped(np.array([[20.0, 1.0], [1.0, -4000.0]])))
    assert far.tolist() == [[True, False], [False, True]]


def test_classifier_save_records_the_transform(tmp_path: Path) -> None:
    x, y = _raw_blobs()
    names = np.array(CLASSES)[y]
    clf = PhyLLClassifier(BOARD, epochs=2, eval_every=1).fit(x, names)
    path = clf.save(tmp_path / "clf.npz")
    transform = from_metadata(load_model(path).metadata)
    assert transform is not None
    assert transform.class_names == tuple(sorted(CLASSES))
    assert np.allclose(transform.scale, clf.scaler_.scale)
    assert PhyLLClassifier.load(path).input_transform_ == transform


def test_a_model_written_before_the_transform_still_loads(raw_run: tuple[Path, str],
                                                           tmp_path: Path) -> None:
    run, _ = raw_run
    model = load_model(run / "model.npz")
    old = {k: v for k, v in model.metadata.items() if k != "input"}
    save_model(tmp_path / "old.npz", model, old)
    again = load_model(tmp_path / "old.npz")
    assert from_metadata(again.metadata) is None
    assert json.dumps(again.metadata)  # nothing else lost
