"""Tests for phyff.datasets: real-data facts, splits, normalisation, fingerprints, errors.

The vowel tests read the research data through PHYFF_DATA_DIR (never a copy in the
repository) and skip, saying why, when it is not set. Everything else builds its
own small files in tmp_path, so the IDX, CSV and NPZ readers are tested without
any download.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import os
import struct
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from phyff import datasets
from phyff.datasets import (
    Dataset,
    DatasetError,
    DatasetWarning,
    available_datasets,
    load_dataset,
    read_idx,
)

VOWELS7_CSV = "vowels7/vowels7_pat_split.csv"
VOWDATA = "hillenbrand1995/vowdata.dat"
HZ_COLUMNS = [
    f"F{f}_{t}_hz" for t in ("ss", "20", "50", "80") for f in (1, 2, 3)
]  # the 12 formant columns in file order
VOWDATA_COLUMNS = [3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15]


# --------------------------------------------------------------------------- fixtures


def _data_root() -> Path:
    value = os.environ.get("PHYFF_DATA_DIR", "").strip()
    if not value:
        pytest.skip("PHYFF_DATA_DIR is not set: the vowel data tests need the research data")
    return Path(value)


@pytest.fixture(scope="module")
def vowels7_rows() -> list[dict[str, str]]:
    """The published vowels7 CSV, read independently of phyff."""
    path = _data_root() / VOWELS7_CSV
    if not path.is_file():
        pytest.skip(f"PHYFF_DATA_DIR has no {VOWELS7_CSV}")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def vowdata_rows() -> list[list[str]]:
    """The Hillenbrand tokens (header of 30 lines skipped), read independently of phyff."""
    path = _data_root() / VOWDATA
    if not path.is_file():
        pytest.skip(f"PHYFF_DATA_DIR has no {VOWDATA}")
    lines = path.read_text(encoding="latin-1").splitlines()[30:]
    return [line.split() for line in lines if line.strip()]


@pytest.fixture(autouse=True)
def _no_system_fashion(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests must not depend on whether Debian's Fashion-MNIST happens to be installed."""
    monkeypatch.setattr(datasets.fashion, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "no-system-dir")


def _match_rows(
    ds: Dataset, raw: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Map every dataset row back to its raw row without trusting phyff's bookkeeping.

    Both splits are the raw rows divided by one unknown positive per-feature scale.
    Trying each raw row as the partner of train row 0 gives a candidate scale; the
    right one turns every row of both splits into a raw row. Returns the raw indices
    of the train and test rows and the scale.
    """
    keys = {tuple(np.round(row, 6)): i for i, row in enumerate(raw)}
    assert len(keys) == len(raw), "raw rows must be distinct for matching"

    def lookup(x: npt.NDArray[np.float64]) -> npt.NDArray[np.intp] | None:
        found = []
        for row in x:
            index = keys.get(tuple(np.round(row, 6)))
            if index is None:
                return None
            found.append(index)
        return np.array(found, dtype=np.intp)

    for candidate in raw:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = candidate / ds.x_train[0]
        if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            continue
        train = lookup(ds.x_train * scale)
        test = None if train is None else lookup(ds.x_test * scale)
        if train is not None and test is not None:
            assert len(set(train.tolist()) | set(test.tolist())) == len(train) + len(test)
            return train, test, scale
    pytest.fail("dataset rows do not match the raw rows under any common scaling")


def _vowels7_raw(rows: list[dict[str, str]]) -> tuple[npt.NDArray[np.float64], list[str]]:
    hz = np.array([[float(r[c]) for c in HZ_COLUMNS] for r in rows])
    return hz, [r["hillenbrand_file"] for r in rows]


def _vowdata_raw(rows: list[list[str]]) -> tuple[npt.NDArray[np.float64], list[str]]:
    kept = [r for r in rows if all(int(r[c]) != 0 for c in VOWDATA_COLUMNS)]
    hz = np.array([[float(r[c]) for c in VOWDATA_COLUMNS] for r in kept])
    return hz, [r[0] for r in kept]


# --------------------------------------------------------------------------- vowels7


def test_vowels7_counts_and_balance(vowels7_rows: list[dict[str, str]]) -> None:
    ds = load_dataset("vowels7")
    assert len(vowels7_rows) == 259
    assert ds.class_names == ("ae", "ah", "aw", "uw", "er", "iy", "ih")
    assert ds.n_classes == 7 and ds.n_features == 12
    assert ds.feature_names is not None and len(ds.feature_names) == 12
    assert ds.image_shape is None
    # the published split: 210 train / 49 test tokens
    assert ds.x_train.shape == (210, 12) and ds.x_test.shape == (49, 12)
    assert Counter(r["split"] for r in vowels7_rows) == {"train": 210, "test": 49}
    all_labels = np.concatenate([ds.y_train, ds.y_test])
    assert np.bincount(all_labels).tolist() == [37] * 7
    expected_train = Counter(int(r["label"]) for r in vowels7_rows if r["split"] == "train")
    assert np.bincount(ds.y_train).tolist() == [expected_train[c] for c in range(7)]
    assert np.bincount(ds.y_train).tolist() == [29, 30, 31, 28, 33, 29, 30]
    for arr, dtype in ((ds.x_train, np.float64), (ds.y_train, np.int64)):
        assert arr.dtype == dtype and arr.flags.c_contiguous


def test_vowels7_normalisation_fitted_on_train_only(vowels7_rows: list[dict[str, str]]) -> None:
    ds = load_dataset("vowels7")
    train = [r for r in vowels7_rows if r["split"] == "train"]
    test = [r for r in vowels7_rows if r["split"] == "test"]
    hz_train = np.array([[float(r[c]) for c in HZ_COLUMNS] for r in train])
    hz_test = np.array([[float(r[c]) for c in HZ_COLUMNS] for r in test])
    maxima = hz_train.max(axis=0)  # expected scale: training split only
    np.testing.assert_allclose(ds.x_train, hz_train / maxima, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ds.x_test, hz_test / maxima, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ds.x_train.max(axis=0), np.ones(12))
    # Some test formants exceed the training maxima: proof that test data were not used,
    # and that the result differs from the file's *_norm columns (scaled over all 259).
    assert ds.x_test.max() > 1.0
    norm_cols = [c.replace("_hz", "_norm") for c in HZ_COLUMNS]
    leaky = np.array([[float(r[c]) for c in norm_cols] for r in test])
    assert not np.allclose(ds.x_test, leaky, atol=1e-5)


def test_vowels7_speaker_split_is_talker_disjoint(vowels7_rows: list[dict[str, str]]) -> None:
    hz, files = _vowels7_raw(vowels7_rows)
    ds = load_dataset("vowels7:speaker", seed=0)
    train, test, scale = _match_rows(ds, hz)
    np.testing.assert_allclose(scale, hz[train].max(axis=0))  # fitted on train only
    train_files, test_files = [files[i] for i in train], [files[i] for i in test]
    assert len(train_files) + len(test_files) == 259
    train_talkers = {f[1:3] for f in train_files}
    test_talkers = {f[1:3] for f in test_files}
    assert not train_talkers & test_talkers
    assert len(train_talkers | test_talkers) == 48
    assert len(test_talkers) == 10  # round(20 % of 48)
    assert np.bincount(ds.y_train, minlength=7).min() > 0
    # the published split, by contrast, shares talkers between train and test
    pat_train = {r["hillenbrand_file"][1:3] for r in vowels7_rows if r["split"] == "train"}
    pat_test = {r["hillenbrand_file"][1:3] for r in vowels7_rows if r["split"] == "test"}
    assert pat_train & pat_test


def test_vowels7_speaker_split_is_seeded(vowels7_rows: list[dict[str, str]]) -> None:
    del vowels7_rows  # only for the skip
    a, b = load_dataset("vowels7:speaker", seed=3), load_dataset("vowels7:speaker", seed=3)
    c = load_dataset("vowels7:speaker", seed=4)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_vowels7_loads_fast(vowels7_rows: list[dict[str, str]]) -> None:
    del vowels7_rows
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        load_dataset("vowels7")
        best = min(best, time.perf_counter() - start)
    assert best < 0.05 * 5  # target 50 ms; 5x headroom for a loaded CI machine


def test_vowels7_explicit_data_dir_beats_environment(
    vowels7_rows: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    del vowels7_rows
    root = _data_root()
    monkeypatch.setenv("PHYFF_DATA_DIR", str(tmp_path))  # an empty folder
    with pytest.raises(DatasetError):
        load_dataset("vowels7")
    assert load_dataset("vowels7", data_dir=root).x_train.shape == (210, 12)


# --------------------------------------------------------------------------- hillenbrand12


def test_hillenbrand12_counts(vowdata_rows: list[list[str]]) -> None:
    talkers = {r[0][:3] for r in vowdata_rows}
    assert len(vowdata_rows) == 1668
    assert len(talkers) == 139
    assert Counter(t[0] for t in talkers) == {"m": 45, "w": 48, "b": 27, "g": 19}
    dropped = sum(1 for r in vowdata_rows if any(int(r[c]) == 0 for c in VOWDATA_COLUMNS))
    assert dropped == 71
    ds = load_dataset("hillenbrand12")
    assert ds.n_classes == 12 and ds.n_features == 12
    assert ds.class_names[:7] == load_dataset("vowels7").class_names
    assert len(ds.y_train) + len(ds.y_test) == 1668 - dropped == 1597
    assert "71 of 1668 tokens dropped" in ds.source
    np.testing.assert_array_equal(ds.x_train.max(axis=0), np.ones(12))


def test_hillenbrand12_speaker_disjoint_and_stratified(vowdata_rows: list[list[str]]) -> None:
    ds = load_dataset("hillenbrand12", seed=1)
    hz, files = _vowdata_raw(vowdata_rows)
    train, test, scale = _match_rows(ds, hz)
    np.testing.assert_allclose(scale, hz[train].max(axis=0))
    train_files, test_files = [files[i] for i in train], [files[i] for i in test]
    train_talkers = {f[:3] for f in train_files}
    test_talkers = {f[:3] for f in test_files}
    assert not train_talkers & test_talkers
    assert len(train_talkers | test_talkers) == 139  # no talker lost every token
    assert {t[0] for t in train_talkers} == {t[0] for t in test_talkers} == set("mwbg")
    assert Counter(t[0] for t in test_talkers) == {"m": 9, "w": 10, "b": 5, "g": 4}
    # labels agree with the vowel code in the file name
    for files, labels in ((train_files, ds.y_train), (test_files, ds.y_test)):
        assert [ds.class_names[y] for y in labels] == [f[3:] for f in files]
    assert load_dataset("hillenbrand12", seed=2).fingerprint() != ds.fingerprint()


# --------------------------------------------------------------------------- digits


def test_digits_shapes_scaling_and_split() -> None:
    start = time.perf_counter()
    ds = load_dataset("digits", seed=0)
    elapsed = time.perf_counter() - start
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.image_shape == (8, 8) and ds.n_classes == 10
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    expected_test = counts * 360 / counts.sum()
    assert np.all(np.abs(np.bincount(ds.y_test) - expected_test) < 1.0)  # stratified
    assert elapsed < 0.5 * 4  # target 0.5 s, headroom for CI

    from sklearn.datasets import load_digits

    bunch = load_digits()
    ours = np.concatenate([ds.x_train, ds.x_test]) * 16
    ours_y = np.concatenate([ds.y_train, ds.y_test])
    order_a = np.lexsort(np.column_stack([bunch.data, bunch.target]).T)
    order_b = np.lexsort(np.column_stack([ours, ours_y]).T)
    np.testing.assert_array_equal(ours[order_b], bunch.data[order_a])
    np.testing.assert_array_equal(ours_y[order_b], bunch.target[order_a])

    assert load_dataset("digits", seed=0).fingerprint() == ds.fingerprint()
    assert load_dataset("digits", seed=1).fingerprint() != ds.fingerprint()


# --------------------------------------------------------------------------- Dataset


def _tiny(**changes: object) -> Dataset:
    fields: dict[str, object] = {
        "name": "tiny",
        "x_train": np.array([[0.0, 1.0], [1.0, 0.5], [0.5, 0.5]]),
        "y_train": np.array([0, 1, 1]),
        "x_test": np.array([[0.2, 0.3]]),
        "y_test": np.array([0]),
        "class_names": ("a", "b"),
        "feature_names": ("f0", "f1"),
        "source": "made by the test",
        "image_shape": None,
    }
    fields.update(changes)
    return Dataset(**fields)  # type: ignore[arg-type]


def test_fingerprint_stable_and_sensitive() -> None:
    ds = _tiny()
    fp = ds.fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert _tiny().fingerprint() == fp
    changed = ds.x_train.copy()
    changed[2, 1] = np.nextafter(changed[2, 1], 1.0)  # one value, by one ulp
    assert dataclasses.replace(ds, x_train=changed).fingerprint() != fp
    assert dataclasses.replace(ds, y_test=np.array([1])).fingerprint() != fp
    assert dataclasses.replace(ds, class_names=("a", "c")).fingerprint() != fp
    assert dataclasses.replace(ds, name="tiny2").fingerprint() != fp
    # the split boundary is part of it: moving a row from train to test (same values
    # in the same order overall) must change the fingerprint
    moved = dataclasses.replace(
        ds,
        x_train=ds.x_train[:2],
        y_train=ds.y_train[:2],
        x_test=np.concatenate([ds.x_train[2:], ds.x_test]),
        y_test=np.concatenate([ds.y_train[2:], ds.y_test]),
    )
    assert moved.fingerprint() != fp
    # the source text is provenance, not data
    assert dataclasses.replace(ds, source="other words").fingerprint() == fp


def test_dataset_copies_and_protects_arrays() -> None:
    x = np.array([[0.0, 1.0], [1.0, 0.5], [0.5, 0.5]])
    ds = _tiny(x_train=x)
    x[0, 0] = 99.0  # the caller's array stays theirs
    assert ds.x_train[0, 0] == 0.0
    assert x.flags.writeable
    with pytest.raises(ValueError):
        ds.x_train[0, 0] = 1.0
    fortran = np.asfortranarray(np.array([[0.0, 1.0], [1.0, 0.5], [0.5, 0.5]], dtype=np.float32))
    ds2 = _tiny(x_train=fortran, y_train=[0, 1, 1])
    assert ds2.x_train.dtype == np.float64 and ds2.x_train.flags.c_contiguous
    assert ds2.y_train.dtype == np.int64
    assert "train=(3, 2)" in repr(ds2)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"x_train": np.array([[0.0, np.nan], [1.0, 0.5], [0.5, np.inf]])}, "row 0 column 'f1'"),
        ({"y_train": np.array([0, 1, 2])}, "out of range"),
        ({"y_train": np.array([0, -1, 1])}, "out of range"),
        ({"y_train": np.array([0.0, 1.5, 1.0])}, "integers"),
        ({"y_train": np.array([0, 1])}, "mismatched lengths"),
        ({"x_test": np.zeros((0, 2)), "y_test": np.zeros(0, dtype=int)}, "test split is empty"),
        ({"y_train": np.array([1, 1, 1])}, "class 0 ('a') has no sample in the training"),
        ({"x_test": np.zeros((1, 3))}, "features"),
        ({"image_shape": (3, 3)}, "image_shape"),
    ],
)
def test_dataset_validation_errors(changes: dict[str, object], message: str) -> None:
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _tiny(**changes)
    assert issubclass(DatasetError, ValueError)


# --------------------------------------------------------------------------- CSV


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_csv_round_trip_seeded_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(50, 3)) * [1.0, 10.0, 100.0]
    labels = np.repeat(["cat", "dog"], 25)
    path = tmp_path / "data.csv"
    rows = [[f"id{i}", labels[i], *x[i]] for i in range(50)]
    _write_csv(path, ["id", "label", "a", "b", "c"], rows)
    ds = load_dataset(f"csv:{path}", seed=5)
    assert ds.class_names == ("cat", "dog")
    assert ds.feature_names == ("a", "b", "c")  # the text column 'id' is ignored
    assert ds.x_train.shape == (40, 3) and ds.x_test.shape == (10, 3)
    assert np.bincount(ds.y_test).tolist() == [5, 5]  # stratified
    train, test, scale = _match_rows(ds, x)
    assert sorted([*train, *test]) == list(range(50))
    np.testing.assert_allclose(scale, np.abs(x[train]).max(axis=0))  # training rows only
    assert [ds.class_names[k] for k in ds.y_train] == labels[train].tolist()
    assert [ds.class_names[k] for k in ds.y_test] == labels[test].tolist()
    again = load_dataset(f"csv:{path}", seed=5)
    assert again.fingerprint() == ds.fingerprint()
    assert load_dataset(f"csv:{path}", seed=6).fingerprint() != ds.fingerprint()
    assert np.abs(ds.x_train).max(axis=0).tolist() == [1.0, 1.0, 1.0]


def test_csv_split_column_and_label_choice(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    rows = [
        [0, "train", 2.0, -4.0, 9],
        [1, "train", 1.0, 2.0, 9],
        [1, "TEST", 4.0, 1.0, 9],
        [2, "train", -1.0, 1.0, 9],
        [0, "test", 0.5, 0.0, 9],
    ]
    _write_csv(path, ["target", "split", "u", "v", "label"], rows)
    constant = r"1 of 3 feature column\(s\) are constant.*'label' = 9"
    with pytest.warns(DatasetWarning, match=constant):
        ds = load_dataset(f"csv:{path}#label=target")
    assert ds.class_names == ("0", "1", "2")
    assert ds.feature_names == ("u", "v", "label")
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2])
    np.testing.assert_array_equal(ds.y_test, [1, 0])
    train_max = np.array([2.0, 4.0, 9.0])  # fitted on the three training rows only
    np.testing.assert_allclose(
        ds.x_train, np.array([[2, -4, 9], [1, 2, 9], [-1, 1, 9]]) / train_max
    )
    # test values beyond the training range saturate at 1 (4 / 2 would be 2)
    np.testing.assert_allclose(ds.x_test, np.array([[2, 1, 9], [0.5, 0, 9]]) / train_max)
    assert ds.name == f"csv:{path}#label=target"


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["label", "a"], [[0, 1], [1, "nan"], [0, 2], [1, 3], [1, 4]], "line 3 column 'a'"),
        (["label", "a"], [[0, 1], [1, ""], [0, 2], [1, 3], [1, 4]], "non-finite"),
        (["label", "a"], [[0, 1], [1, "inf"], [0, 2], [1, 3], [1, 4]], "non-finite"),
        (["label", "a"], [[0, 1], [1.5, 2], [0, 2], [1, 3]], "non-integer"),
        (["label", "a", "split"], [[0, 1, "train"], [1, 2, "train"]], "test split is empty"),
        (
            ["label", "a", "split"],
            [[0, 1, "train"], [0, 2, "train"], [1, 3, "test"]],
            "class 1 ('1') has no sample in the training",
        ),
        (["label", "a", "split"], [[0, 1, "train"], [1, 2, "dev"]], "split must be train or test"),
        (["y", "a"], [[0, 1], [1, 2]], "no label column 'label'"),
        (["label", "a"], [[0, 1], [1, "x"], [1, 2]], "mixes numbers and text"),
        (["label", "name"], [[0, "x"], [1, "y"]], "no numeric feature column"),
    ],
)
def test_csv_errors(
    tmp_path: Path, header: list[str], rows: list[list[object]], message: str
) -> None:
    path = tmp_path / "bad.csv"
    _write_csv(path, header, rows)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(f"csv:{path}")


# --------------------------------------------------------------------------- NPZ


def test_npz_round_trip_with_given_split(tmp_path: Path) -> None:
    x_train = np.array([[1.0, -2.0], [3.0, 4.0], [0.5, 1.0]])
    x_test = np.array([[6.0, 1.0]])
    path = tmp_path / "given.npz"
    np.savez(
        path,
        x_train=x_train,
        y_train=np.array([0, 1, 2]),
        x_test=x_test,
        y_test=np.array([2]),
        class_names=np.array(["r", "g", "b"]),
        feature_names=np.array(["p", "q"]),
    )
    ds = load_dataset(f"npz:{path}")
    np.testing.assert_allclose(ds.x_train, x_train / [3.0, 4.0])
    np.testing.assert_allclose(ds.x_test, [[1.0, 0.25]])  # 6 / 3 saturates at 1
    assert ds.class_names == ("r", "g", "b") and ds.feature_names == ("p", "q")
    assert x_train[0, 0] == 1.0  # input untouched


def test_npz_images_are_split_and_scaled_by_255(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 4, 5), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 10)
    path = tmp_path / "img.npz"
    np.savez_compressed(path, x=images, y=labels)
    ds = load_dataset(f"npz:{path}", seed=2)
    assert ds.image_shape == (4, 5) and ds.n_features == 20
    assert ds.x_train.shape == (24, 20) and ds.x_test.shape == (6, 20)
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2]
    flat = images.reshape(30, -1).astype(np.float64) / 255.0
    all_rows = {row.tobytes() for row in flat}
    assert all(row.tobytes() in all_rows for row in np.concatenate([ds.x_train, ds.x_test]))


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": np.ones((3, 2)), "y_train": np.array([0, 1]), "x_test": np.ones((1, 2)),
          "y_test": np.array([0])}, "mismatched lengths"),
        ({"x": np.array([[1.0], [np.inf], [1.0], [2.0], [3.0]]), "y": np.array([0, 1, 0, 1, 1])},
         "row 1 column 0"),
        ({"x": np.ones((4, 2)), "y": np.array([0, 1, 7, 1]), "class_names": np.array(["a", "b"])},
         "out of range"),
        ({"x": np.ones((4, 2)), "y": np.array([0.0, 1.0, 0.25, 1.0])}, "non-integer"),
        ({"features": np.ones((4, 2))}, "expected arrays x_train"),
    ],
)  # fmt: skip
def test_npz_errors(
    tmp_path: Path, arrays: dict[str, npt.NDArray[np.generic]], message: str
) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match=message):
        load_dataset(f"npz:{path}")


# --------------------------------------------------------------------------- IDX


def _write_idx(path: Path, arr: npt.NDArray[np.generic], *, compress: bool) -> None:
    """An IDX writer written from the format description, independent of phyff."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f8"): 0x0E}
    big = arr.astype(arr.dtype.newbyteorder(">"))
    payload = struct.pack(">BBBB", 0, 0, codes[big.dtype], arr.ndim)
    payload += struct.pack(f">{arr.ndim}I", *arr.shape) + big.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64])
def test_read_idx_round_trip(tmp_path: Path, compress: bool, dtype: type[np.generic]) -> None:
    rng = np.random.default_rng(1)
    arr = (rng.integers(0, 200, size=(5, 3, 4)) * (1.5 if dtype is np.float64 else 1)).astype(dtype)
    path = tmp_path / "a.idx"
    _write_idx(path, arr, compress=compress)
    back = read_idx(path)
    np.testing.assert_array_equal(back, arr)
    assert back.dtype.isnative


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short.idx"
    short.write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + b"\x00" * 4)
    with pytest.raises(DatasetError, match="shape"):
        read_idx(short)


def test_idx_user_files(tmp_path: Path) -> None:
    images = np.arange(20 * 2 * 3, dtype=np.uint8).reshape(20, 2, 3)
    labels = np.repeat(np.arange(2, dtype=np.uint8), 10)
    _write_idx(tmp_path / "im.idx", images, compress=True)
    _write_idx(tmp_path / "lb.idx", labels, compress=False)
    ds = load_dataset(f"idx:{tmp_path / 'im.idx'},{tmp_path / 'lb.idx'}", seed=0)
    assert ds.image_shape == (2, 3) and ds.class_names == ("0", "1")
    assert ds.x_train.shape == (16, 6) and ds.x_test.shape == (4, 6)
    assert np.isclose(ds.x_test.sum() + ds.x_train.sum(), images.sum() / 255.0)
    _write_idx(tmp_path / "short.idx", labels[:19], compress=False)
    with pytest.raises(DatasetError, match="mismatched lengths"):
        load_dataset(f"idx:{tmp_path / 'im.idx'},{tmp_path / 'short.idx'}")


# --------------------------------------------------------------------------- Fashion-MNIST


def _fake_fashion(folder: Path, n_train: int = 60, n_test: int = 20) -> dict[str, np.ndarray]:
    """Small IDX files with the real names and layout (28x28 uint8, labels 0..9)."""
    rng = np.random.default_rng(4)
    folder.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for i, (stem, arr) in enumerate(arrays.items()):
        gz = i % 2 == 0  # mix compressed and plain files
        _write_idx(folder / (stem + (".gz" if gz else "")), arr, compress=gz)
    return arrays


def test_fashion_mnist_pooling_and_subset(tmp_path: Path) -> None:
    raw = _fake_fashion(tmp_path / "fashion-mnist")
    full = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert full.image_shape == (28, 28) and full.x_train.shape == (60, 784)
    assert full.class_names[0] == "T-shirt/top" and full.n_classes == 10
    np.testing.assert_array_equal(
        full.x_train, raw["train-images-idx3-ubyte"].reshape(60, -1) / 255.0
    )

    p14 = load_dataset("fashion-mnist-14", data_dir=tmp_path)
    img = raw["t10k-images-idx3-ubyte"][3].astype(np.float64)
    expected = np.array(
        [[img[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean() for j in range(14)] for i in range(14)]
    )
    assert p14.image_shape == (14, 14)
    np.testing.assert_allclose(p14.x_test[3].reshape(14, 14), expected / 255.0)

    p7 = load_dataset("fashion-mnist-7:30", data_dir=tmp_path, seed=1)
    assert p7.image_shape == (7, 7) and p7.x_train.shape == (30, 49)
    assert np.bincount(p7.y_train).tolist() == [3] * 10
    assert p7.x_test.shape == (20, 49)  # test set stays whole
    assert load_dataset("fashion-mnist-7:30", data_dir=tmp_path, seed=1).fingerprint() == (
        p7.fingerprint()
    )
    assert load_dataset("fashion-mnist-7:30", data_dir=tmp_path, seed=2).fingerprint() != (
        p7.fingerprint()
    )
    with pytest.raises(DatasetError, match="subset size"):
        load_dataset("fashion-mnist:61", data_dir=tmp_path)


def test_fashion_mnist_found_through_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_fashion(tmp_path / "fashion-mnist")
    monkeypatch.setenv("PHYFF_DATA_DIR", str(tmp_path))
    assert load_dataset("fashion-mnist-14").x_train.shape == (60, 196)


def test_fashion_mnist_missing_names_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHYFF_DATA_DIR", raising=False)
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist-14", data_dir=tmp_path)
    message = str(info.value)
    assert "dataset-fashion-mnist" in message
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):  # fmt: skip
        assert stem in message
    assert str(tmp_path / "fashion-mnist") in message
    assert "--data" in message and "PHYFF_DATA_DIR" in message


def test_real_fashion_mnist_if_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # use the real system location for this one test
    system = datasets.fashion.FASHION_MNIST_SYSTEM_DIR
    if not (system / "train-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"Debian package dataset-fashion-mnist not installed ({system.name} absent)")
    monkeypatch.delenv("PHYFF_DATA_DIR", raising=False)
    ds = load_dataset("fashion-mnist-7:1000")
    assert ds.x_train.shape == (1000, 49) and ds.x_test.shape == (10000, 49)
    assert np.bincount(ds.y_train).tolist() == [100] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10


# --------------------------------------------------------------------------- names, misc


def test_missing_vowel_file_explains_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHYFF_DATA_DIR", raising=False)
    for name, file in (("vowels7", VOWELS7_CSV), ("hillenbrand12", VOWDATA)):
        with pytest.raises(DatasetError) as info:
            load_dataset(name, data_dir=tmp_path)
        message = str(info.value)
        assert file in message and str(tmp_path / file) in message
        assert "--data PATH" in message and "PHYFF_DATA_DIR" in message
        assert "Hillenbrand et al. (1995)" in message and "Wright et al." in message
    with pytest.raises(DatasetError, match="the default, as neither --data nor") as info:
        load_dataset("vowels7:speaker")
    home = Path(os.environ["XDG_DATA_HOME"]) / "phyff" / VOWELS7_CSV
    assert str(home) in str(info.value) and "vowels7/ and hillenbrand1995/" in str(info.value)


def test_vowels_are_found_in_the_default_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`phyff train --dataset vowels7` outside make: the user data folder is the default."""
    real = os.environ.get("PHYFF_DATA_DIR", "").strip()
    if not real or not (Path(real) / VOWELS7_CSV).is_file():
        pytest.skip("PHYFF_DATA_DIR with the vowel data is needed to fill the folder")
    monkeypatch.delenv("PHYFF_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert datasets.default_data_dir() == tmp_path / "phyff"
    (tmp_path / "phyff" / "vowels7").mkdir(parents=True)
    (tmp_path / "phyff" / VOWELS7_CSV).write_bytes((Path(real) / VOWELS7_CSV).read_bytes())
    assert load_dataset("vowels7").x_train.shape == (210, 12)


def test_unknown_names_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset 'mnist'.*vowels7"):
        load_dataset("mnist")
    with pytest.raises(DatasetError, match="file not found"):
        load_dataset(f"csv:{tmp_path / 'absent.csv'}")
    with pytest.raises(DatasetError, match="seed"):
        load_dataset("digits", seed=-1)


def test_available_datasets_lists_every_builtin() -> None:
    listing = available_datasets()
    names = [name for name, _ in listing]
    assert len(names) == len(set(names))
    assert all(description.strip() for _, description in listing)
    for name in ("vowels7", "vowels7:speaker", "hillenbrand12", "digits", "fashion-mnist-14"):
        assert name in names
    assert any(name.startswith("csv:") for name in names)


def test_interference_is_seeded_nonlinear_and_checks_its_size() -> None:
    a, b = load_dataset("interference:400"), load_dataset("interference:400")
    assert a.fingerprint() == b.fingerprint() and a.n_classes == 4 and a.n_features == 16
    assert len(a.y_test) == 80 and load_dataset("interference:400", seed=1).fingerprint() \
        != a.fingerprint()
    # Not linearly separable: a least-squares linear classifier on the phases stays below
    # 70 % (the task's own pairwise-phase features give 90 %, see phyff.compare.tasks).
    big = load_dataset("interference")
    x = np.c_[big.x_train, np.ones(len(big.x_train))]
    w = np.linalg.lstsq(x, np.eye(4)[big.y_train], rcond=None)[0]
    linear = np.mean((np.c_[big.x_test, np.ones(len(big.x_test))] @ w).argmax(1) == big.y_test)
    assert linear < 0.7
    with pytest.raises(DatasetError, match="between"):
        load_dataset("interference:3")
