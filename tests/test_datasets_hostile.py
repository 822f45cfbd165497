"""Hostile and broken inputs to phyff.datasets, and the one registry of names.

Each test builds the bad file the way a careless export or a hostile user would,
and checks the exact kind of answer: a DatasetError (a ValueError, exit 2 in the
CLI) that names the file and says what to do, or a load that succeeds with a
DatasetWarning -- never another exception, a hang or a huge allocation.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

import phyff.datasets.base as base
import phyff.datasets.registry as registry
import phyff.datasets.userfiles as userfiles
from phyff.datasets import (
    MAX_CLASSES,
    Dataset,
    DatasetError,
    DatasetRequest,
    DatasetWarning,
    available_datasets,
    load_dataset,
)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _error(spec: str, **kwargs: object) -> str:
    """The DatasetError message for ``spec``; fails if anything else happens."""
    with pytest.raises(DatasetError) as info:
        load_dataset(spec, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert len(message) < 1000, f"error message of {len(message)} characters"
    return message


@pytest.fixture
def no_warnings() -> Iterator[None]:
    """Fail the test on any DatasetWarning (well-behaved data must load silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)
        yield


# --------------------------------------------------------------------------- registry


def test_listing_loading_and_unknown_error_come_from_one_registry() -> None:
    listed = [name for name, _ in available_datasets()]
    assert listed == [s.listing for s in registry.sources()]
    assert len(listed) == len(set(listed))
    message = _error("mnist")
    for name in listed:  # the unknown-name error names every registered source
        assert name in message
    assert "phyff datasets" in message
    assert "did you mean 'digits'" in _error("digitz")


def test_registering_a_source_is_all_it_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_SOURCES", list(registry.sources()))
    seen: list[DatasetRequest] = []

    def loader(request: DatasetRequest) -> Dataset:
        seen.append(request)
        return Dataset(
            name=request.name,
            x_train=np.array([[0.0], [1.0]]), y_train=np.array([0, 1]),
            x_test=np.array([[0.5]]), y_test=np.array([1]),
            class_names=("a", "b"), feature_names=None,
            source=f"made by the test, size {request.match.group('size')}", image_shape=None,
        )  # fmt: skip

    registry.register("toy:SIZE", "a toy for the test", loader, pattern=r"toy:(?P<size>[0-9]+)")
    assert ("toy:SIZE", "a toy for the test") in available_datasets()
    ds = load_dataset("toy:12", seed=3, data_dir="somewhere")
    assert ds.source.endswith("size 12")
    assert seen[0].seed == 3 and seen[0].data_dir == "somewhere"
    assert "toy:SIZE" in _error("toy:x")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("toy:SIZE", "again", loader)
    with pytest.raises(ValueError, match="one non-empty line"):
        registry.register("toy2", "two\nlines", loader)


def test_package_keeps_its_public_names() -> None:
    import phyff.datasets as datasets

    for name in ("load_dataset", "available_datasets", "Dataset", "DatasetError", "read_idx",
                 "DATA_DIR_ENV", "FASHION_MNIST_SYSTEM_DIR", "DatasetWarning"):  # fmt: skip
        assert hasattr(datasets, name), name
    assert datasets.DATA_DIR_ENV == "PHYFF_DATA_DIR"
    assert issubclass(DatasetError, ValueError) and issubclass(DatasetWarning, UserWarning)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "no dataset name given"),
        ("   ", "no dataset name given"),
        ("x" * 10_000, "at most 4,096 characters"),
        ("csv:", "no file path given"),
        ("csv:a\x00b.csv", "cannot use path"),
        ("npz:~\x00", "cannot use path"),
        ("npz:" + "d" * 300, "File name too long"),
        ("idx:only-one-path", "expected idx:IMAGES_PATH,LABELS_PATH"),
        ("csv:data.csv#label=", "empty column name"),
        ("fashion-mnist:" + "9" * 40, "Fashion-MNIST not found"),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_bad_names_get_a_clear_error(name: str, message: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("phyff.datasets.fashion.FASHION_MNIST_SYSTEM_DIR", tmp_path / "none")
    assert message in _error(name, data_dir=tmp_path)


def test_name_must_be_a_string() -> None:
    with pytest.raises(DatasetError, match="must be a string"):
        load_dataset(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- 1: labels


@pytest.mark.parametrize("big", [10**6, 10**12])
def test_huge_label_values_are_remapped(tmp_path: Path, big: int, no_warnings: None) -> None:
    # Before: 10**12 built 10**12 class names (all memory); 10**6 an 18.8 MB error.
    rows = [[i, (i * 7) % 5, big if i % 2 else 0] for i in range(20)]
    path = _write_csv(tmp_path / "labels.csv", ["a", "b", "label"], rows)
    start = time.perf_counter()
    ds = load_dataset(f"csv:{path}")
    assert time.perf_counter() - start < 2.0
    assert ds.class_names == ("0", str(big))
    labels = np.concatenate([ds.y_train, ds.y_test])
    assert sorted(set(labels.tolist())) == [0, 1] and np.bincount(labels).tolist() == [10, 10]


def test_labels_keep_their_meaning_when_dense_and_sort_numerically(tmp_path: Path) -> None:
    rows = [[i, lab] for i, lab in enumerate([2, 0, 1, 10, -1] * 4)]
    ds = load_dataset(f"csv:{_write_csv(tmp_path / 'l.csv', ['a', 'label'], rows)}")
    assert ds.class_names == ("-1", "0", "1", "2", "10")  # numeric order, not text order
    path = _write_csv(tmp_path / "dense.csv", ["a", "label"], [[i, i % 3] for i in range(15)])
    ds = load_dataset(f"csv:{path}")
    assert ds.class_names == ("0", "1", "2")


def test_a_label_only_in_the_test_split_is_named_briefly(tmp_path: Path) -> None:
    rows = [[i, 0, "train"] for i in range(3)] + [[i, 10**6, "train"] for i in range(3)]
    rows += [[1, 7, "test"]]
    path = _write_csv(tmp_path / "gap.csv", ["a", "label", "split"], rows)
    message = _error(f"csv:{path}")
    assert "class 1 ('7') has no sample in the training split" in message


@pytest.mark.parametrize("text", [False, True])
def test_too_many_classes_names_the_limit(tmp_path: Path, text: bool) -> None:
    rows = [[i, f"id{i}" if text else i] for i in range(5000)]
    path = _write_csv(tmp_path / "ids.csv", ["a", "label"], rows)
    message = _error(f"csv:{path}")
    assert "ids.csv: 5,000 distinct labels" in message
    assert f"at most {MAX_CLASSES:,} classes" in message
    assert "csv:PATH#label=COLUMN" in message


def test_npz_labels_are_remapped_and_capped(tmp_path: Path) -> None:
    path = tmp_path / "big.npz"
    np.savez(path, x=np.arange(20.0).reshape(10, 2), y=np.array([0, 10**12] * 5, dtype=np.int64))
    assert load_dataset(f"npz:{path}").class_names == ("0", "1000000000000")
    np.savez(path, x=np.ones((2000, 1)), y=np.arange(2000))
    assert "2,000 distinct labels" in _error(f"npz:{path}")
    np.savez(path, x=np.ones((4, 1)), y=np.arange(4), class_names=np.arange(2000).astype(str))
    assert "2,000 class_names" in _error(f"npz:{path}")


def test_dataset_messages_stay_short_with_many_classes() -> None:
    names = tuple(str(i) for i in range(MAX_CLASSES))
    with pytest.raises(DatasetError) as info:
        Dataset(
            name="many", x_train=np.ones((2, 1)), y_train=np.array([0, 1]),
            x_test=np.ones((1, 1)), y_test=np.array([0]), class_names=names,
            feature_names=None, source="test", image_shape=None,
        )  # fmt: skip
    assert "(998 in all) has no sample" in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(DatasetError, match="at most 1,000"):
        Dataset(
            name="too many", x_train=np.ones((2, 1)), y_train=np.array([0, 1]),
            x_test=np.ones((1, 1)), y_test=np.array([0]), class_names=(*names, "x"),
            feature_names=None, source="test", image_shape=None,
        )  # fmt: skip


# --------------------------------------------------------------------------- 2: CSV text


def test_csv_field_over_the_csv_limit(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("a,label\n1,0\n" + "x" * 200_000 + ",1\n")
    message = _error(f"csv:{path}")
    assert "long.csv line 3: not valid CSV: a field is longer than 131,072 characters" in message
    assert str(path) in message


def test_csv_unclosed_quote_is_the_same_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('a,label\n"1,0\n' + "2,1\n" * 40_000)
    assert "field is longer than 131,072" in _error(f"csv:{path}")


def test_csv_not_utf8_names_file_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("a,label\n1,x\n2,caf\xe9\n3,x\n".encode("latin-1"))
    message = _error(f"csv:{path}")
    assert message.startswith("latin.csv line 3: not UTF-8 text (byte 0xe9")
    assert "save the file as UTF-8" in message and str(path) in message


def test_csv_with_byte_order_mark_and_old_mac_newlines(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    rows = b"".join(b"%d,%d\r" % (i, i % 2) for i in range(10))
    path.write_bytes(b"\xef\xbb\xbfa,label\r" + rows)
    ds = load_dataset(f"csv:{path}")
    assert ds.feature_names == ("a",) and ds.x_train.shape[0] + ds.x_test.shape[0] == 10


def test_csv_directory_device_and_missing_paths(tmp_path: Path) -> None:
    assert "is a directory, not a file" in _error(f"csv:{tmp_path}")
    assert "is not a regular file" in _error("csv:/dev/null")
    assert "file not found" in _error(f"csv:{tmp_path / 'absent.csv'}")
    (tmp_path / "f").write_text("x")
    assert "a folder on the way is a file" in _error(f"npz:{tmp_path / 'f' / 'x.npz'}")


def test_csv_line_and_size_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userfiles, "MAX_CSV_LINE_BYTES", 100)
    path = _write_csv(tmp_path / "wide.csv", ["a", "label"], [["1" * 200, 0]])
    assert "wide.csv line 2: longer than 100 bytes" in _error(f"csv:{path}")
    monkeypatch.setattr(userfiles, "MAX_CSV_LINE_BYTES", 10**6)
    monkeypatch.setattr(userfiles, "MAX_CSV_VALUES", 50)
    rows = [[i, i, i % 2] for i in range(30)]
    path = _write_csv(tmp_path / "many.csv", ["a", "b", "label"], rows)
    message = _error(f"csv:{path}")
    assert "more than 50 feature values" in message and "npz:PATH" in message


def test_csv_messages_list_only_a_few_items(tmp_path: Path) -> None:
    header = [f"c{i}" for i in range(5000)]
    path = _write_csv(tmp_path / "nolabel.csv", header, [list(range(5000))])
    message = _error(f"csv:{path}")
    assert "no label column 'label'" in message and "(5,000 in all)" in message
    rows = [[i % 2, "x" if i % 3 else i] for i in range(3000)]
    path = _write_csv(tmp_path / "mixed.csv", ["label", "a"], rows)
    message = _error(f"csv:{path}")
    assert "column 'a' mixes numbers and text" in message and "(2,000 in all)" in message


# --------------------------------------------------------------------------- 3: NPZ


def _npz_bytes(compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    rng = np.random.default_rng(0)
    save(buffer, x=rng.normal(size=(12, 3)), y=np.arange(12) % 3)
    return buffer.getvalue()


def test_npz_empty_truncated_and_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    path.write_bytes(b"")
    assert "d.npz: the file is empty" in _error(f"npz:{path}")
    good = _npz_bytes()
    for cut in (10, len(good) // 2, len(good) - 1):
        path.write_bytes(good[:cut])
        message = _error(f"npz:{path}")
        assert message.startswith("d.npz: corrupt or truncated .npz archive"), message
        assert "numpy.savez" in message
    path.write_bytes(b"label,a\n0,1\n")
    assert "not an .npz archive" in _error(f"npz:{path}")
    buffer = io.BytesIO()
    np.save(buffer, np.ones(3))
    path.write_bytes(buffer.getvalue())
    assert "a single .npy array, not an .npz archive" in _error(f"npz:{path}")


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_every_single_byte_flip_is_a_dataset_error_or_loads(
    tmp_path: Path, compressed: bool
) -> None:
    good = _npz_bytes(compressed)
    path = tmp_path / "flip.npz"
    outcomes = {"error": 0, "loaded": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        for position in range(len(good)):
            damaged = bytearray(good)
            damaged[position] ^= 0xFF
            path.write_bytes(bytes(damaged))
            try:
                load_dataset(f"npz:{path}")
                outcomes["loaded"] += 1
            except DatasetError as exc:
                assert "flip.npz" in str(exc)
                outcomes["error"] += 1
    assert outcomes["error"] > len(good) // 2  # most damage is detected (CRC, headers)


def _npz_with_header(path: Path, shape: tuple[int, ...], data: bytes, descr: str = "<f8") -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    labels = io.BytesIO()
    np.save(labels, np.array([0, 1]))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + data)
        archive.writestr("y.npy", labels.getvalue())


def test_npz_claiming_a_huge_shape_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "huge.npz"
    _npz_with_header(path, (10**6, 10**6), b"\0" * 64)
    message = _error(f"npz:{path}")
    assert "entry 'x.npy' claims shape (1000000, 1000000) of float64" in message
    assert "holds 64 bytes" in message and "corrupt or truncated" in message


def test_npz_too_large_for_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.npz"
    np.savez(path, x=np.ones((1000, 10)), y=np.arange(1000) % 2)
    monkeypatch.setattr(base, "physical_memory", lambda: 100_000)
    message = _error(f"npz:{path}")
    assert "big.npz: 11,000 values need about 352.0 kB" in message
    assert "this machine has 100.0 kB" in message


def test_npz_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "pickled.npz"
    np.savez(path, x=np.array([[1.0], [2.0]], dtype=object), y=np.array([0, 1]))
    message = _error(f"npz:{path}")
    assert "entry 'x.npy' holds Python objects" in message and "never loads pickled" in message


# --------------------------------------------------------------------------- 4: scaling


def _table(rng: np.random.Generator, n: int) -> list[list[object]]:
    return [[f"{rng.normal():.6f}", f"{rng.normal() * 100:.6f}", i % 2] for i in range(n)]


def test_one_huge_value_no_longer_flattens_the_column(tmp_path: Path) -> None:
    rows = _table(np.random.default_rng(1), 100)
    rows[7][0] = "1e308"
    path = _write_csv(tmp_path / "outlier.csv", ["a", "b", "label"], [*rows])
    with pytest.warns(DatasetWarning, match=r"outlier.csv: 1 feature column\(s\) hold values"
                      r" more than 10 times .*'a' \(largest \|x\| 1e\+308"):  # fmt: skip
        ds = load_dataset(f"csv:{path}", seed=0)
    column = np.concatenate([ds.x_train[:, 0], ds.x_test[:, 0]])
    assert column.max() == 1.0  # the outlier saturates
    ordinary = np.sort(np.abs(column))[:-1]
    assert ordinary.max() > 0.05  # before: every other value was about 1e-308
    assert np.all(np.abs(ds.x_train) <= 1.0) and np.all(np.abs(ds.x_test) <= 1.0)


def test_outlier_only_in_the_test_split_is_clipped_and_reported(tmp_path: Path) -> None:
    rows = [[*row, "train"] for row in _table(np.random.default_rng(2), 20)]
    rows += [["1e308", "1", 0, "test"], ["0.5", "1", 1, "test"]]
    path = _write_csv(tmp_path / "t.csv", ["a", "b", "label", "split"], rows)
    with pytest.warns(DatasetWarning, match=r"1 test value\(s\) lie more than 10 times beyond"):
        ds = load_dataset(f"csv:{path}")
    assert ds.x_test[0, 0] == 1.0 and np.all(np.isfinite(ds.x_test))


def test_constant_columns_are_reported(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "c.csv", ["a", "b", "label"], [[5, 5, i % 2] for i in range(20)])
    with pytest.warns(DatasetWarning, match="every feature is constant over the training split"):
        load_dataset(f"csv:{path}")
    rows = [[i, 3, i % 2] for i in range(20)]
    path = _write_csv(tmp_path / "d.csv", ["a", "k", "label"], rows)
    with pytest.warns(DatasetWarning, match=r"1 of 2 feature column\(s\) are constant.*'k' = 3"):
        load_dataset(f"csv:{path}")


def test_well_behaved_data_scale_exactly_by_max_abs_without_warning(
    tmp_path: Path, no_warnings: None
) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3)) * [1.0, 1e-3, 1e4]
    indicator = (np.arange(200) % 50 == 0).astype(float)  # 98 % zeros: not an outlier column
    x = np.column_stack([x, indicator * 7])
    path = tmp_path / "ok.npz"
    np.savez(path, x_train=x[:150], y_train=np.arange(150) % 2, x_test=x[150:],
             y_test=np.arange(50) % 2)  # fmt: skip
    ds = load_dataset(f"npz:{path}")
    scale = np.abs(x[:150]).max(axis=0)
    np.testing.assert_allclose(ds.x_train, x[:150] / scale, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ds.x_test, np.clip(x[150:] / scale, -1, 1), rtol=0, atol=1e-15)


def test_robust_scale_guards_only_outlier_columns() -> None:
    x = np.column_stack([np.linspace(1, 2, 101), np.r_[np.linspace(1, 2, 100), 1e6]])
    fit = base.robust_scale(x)
    assert fit.dominated.tolist() == [False, True]
    assert fit.scale[0] == 2.0  # max-abs
    assert fit.scale[1] == 10 * fit.bulk[1] and 1.9 < fit.bulk[1] <= 2.0


def test_curated_datasets_load_without_warnings(no_warnings: None) -> None:
    ds = load_dataset("digits")
    assert ds.x_train.max() == 1.0


def test_pixel_data_warn_only_when_every_pixel_is_constant(tmp_path: Path) -> None:
    images = np.zeros((20, 4, 4), dtype=np.uint8)
    images[:, 1:3, 1:3] = np.arange(20, dtype=np.uint8)[:, None, None]  # blank border
    path = tmp_path / "img.npz"
    np.savez(path, x=images, y=np.arange(20) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)
        load_dataset(f"npz:{path}")
    np.savez(path, x=np.zeros((20, 4, 4), dtype=np.uint8), y=np.arange(20) % 2)
    with pytest.warns(DatasetWarning, match="every feature is constant"):
        load_dataset(f"npz:{path}")


# --------------------------------------------------------------------------- 5: wide CSV


def test_ten_thousand_column_csv_loads(tmp_path: Path, no_warnings: None) -> None:
    rng = np.random.default_rng(5)
    x = rng.random((40, 10_000))
    header = [f"f{j}" for j in range(10_000)] + ["label"]
    path = _write_csv(tmp_path / "wide.csv", header,
                      [[*row.round(4).tolist(), i % 2] for i, row in enumerate(x)])  # fmt: skip
    start = time.perf_counter()
    ds = load_dataset(f"csv:{path}")
    assert time.perf_counter() - start < 10.0
    assert ds.n_features == 10_000 and ds.x_train.shape[0] + ds.x_test.shape[0] == 40


# --------------------------------------------------------------------------- IDX


def test_idx_header_claiming_more_than_the_file_holds(tmp_path: Path) -> None:
    import gzip

    from phyff.datasets import read_idx

    header = bytes([0, 0, 8, 3]) + (10**6).to_bytes(4, "big") * 3
    path = tmp_path / "bomb.idx.gz"
    path.write_bytes(gzip.compress(header + b"\0" * 100))
    with pytest.raises(DatasetError, match=r"bomb.idx.gz: 1,000,000,000,000,000,000 values need"):
        read_idx(path)
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9]) + b"\0" * 4))
    with pytest.raises(DatasetError, match="the compressed stream holds 4"):
        read_idx(path)
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9]) + b"\0" * 9)[:-6])
    with pytest.raises(DatasetError, match="broken gzip data"):
        read_idx(path)


def test_dataset_source_records_are_frozen() -> None:
    source = registry.sources()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.listing = "other"  # type: ignore[misc]
