"""Property tests: whatever the name or the bytes, loading ends in a Dataset or a DatasetError.

Why: the user's files and names come from anywhere, and the CLI maps DatasetError
(a ValueError) to exit 2 with its message; any other exception would be a traceback.
Random and mutated names, CSV, NPZ and IDX files are thrown at :func:`load_dataset`;
numpy warnings are errors here too (an overflow or a division by zero means
arithmetic on unchecked data). ``PHYFF_FUZZ_EXAMPLES`` raises the example count for a
longer, randomised local run (the default keeps the suite quick and deterministic).
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import phyff.datasets.fashion as fashion
from phyff.datasets import DatasetError, DatasetWarning, load_dataset, read_idx

EXAMPLES = int(os.environ.get("PHYFF_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="PHYFF_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_WORKDIR = Path(tempfile.mkdtemp(prefix="phyff-fuzz-"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Relative paths land in an empty folder; no system Fashion-MNIST; strict warnings."""
    monkeypatch.chdir(_WORKDIR)
    monkeypatch.setattr(fashion, "FASHION_MNIST_SYSTEM_DIR", _WORKDIR / "no-system-dir")
    monkeypatch.delenv("PHYFF_DATA_DIR", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DatasetWarning)
        yield


def _load_or_refuse(spec: str) -> None:
    """The property: a Dataset or a DatasetError with a short message, nothing else."""
    try:
        ds = load_dataset(spec, data_dir=_WORKDIR / "no-data", seed=1)
    except DatasetError as exc:
        assert 0 < len(str(exc)) < 2000
        return
    assert ds.n_classes >= 2 and np.all(np.isfinite(ds.x_train))
    assert np.all(np.abs(ds.x_test) <= 1.0) or ds.name in ("digits",) or ds.image_shape


def _write(data: bytes, suffix: str) -> Path:
    path = _WORKDIR / f"fuzz{suffix}"
    path.write_bytes(data)
    return path


@st.composite
def _mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few byte flips, a cut, an insertion or a spliced copy."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "splice", "set"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, ord("\n"), ord(",")]))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            end = draw(st.integers(at, len(data)))
            data[at:at] = data[at:end]
    return bytes(data)


# --------------------------------------------------------------------------- names

_PREFIXES = ["", "csv:", "npz:", "idx:", "fashion-mnist", "fashion-mnist-14:", "vowels7",
             "digits", "hillenbrand12", "csv:/", "npz:~", "idx:,", "csv:#label="]  # fmt: skip


@FUZZ
@given(prefix=st.sampled_from(_PREFIXES), rest=st.text(max_size=60))
@example(prefix="npz:~", rest="\x00")  # found by this test: expanduser raised ValueError
def test_any_name_loads_or_is_refused(prefix: str, rest: str) -> None:
    _load_or_refuse(prefix + rest)


@FUZZ
@given(seed=st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.booleans()))
def test_any_seed_loads_or_is_refused(seed: object) -> None:
    try:
        load_dataset("csv:absent.csv", seed=seed)  # type: ignore[arg-type]
    except DatasetError:
        pass


# --------------------------------------------------------------------------- CSV

_CSV_ALPHABET = st.sampled_from(list(',\n\r"0123456789.-+eE abcnaifNI#;\t\x00\xff\u00e9label'))


def _valid_csv() -> bytes:
    rng = np.random.default_rng(0)
    lines = ["a,b,label,split"]
    for i in range(12):
        split = "test" if i % 4 else "train"
        lines.append(f"{rng.normal():.3f},{rng.integers(0, 9)},{i % 3},{split}")
    return ("\n".join(lines) + "\n").encode()


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_as_csv(data: bytes) -> None:
    _load_or_refuse(f"csv:{_write(data, '.csv')}")


@FUZZ
@given(text=st.text(alphabet=_CSV_ALPHABET, max_size=300))
def test_csv_like_text(text: str) -> None:
    data = ("label,a\n" + text).encode("utf-8", "surrogatepass")
    _load_or_refuse(f"csv:{_write(data, '.csv')}")


@FUZZ
@given(data=_mutated(_valid_csv()))
def test_mutated_csv(data: bytes) -> None:
    _load_or_refuse(f"csv:{_write(data, '.csv')}")


# --------------------------------------------------------------------------- NPZ


def _valid_npz(compressed: bool, split: bool) -> bytes:
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    if split:
        save(buffer, x_train=rng.normal(size=(9, 2)), y_train=np.arange(9) % 3,
             x_test=rng.normal(size=(3, 2)), y_test=np.arange(3),
             class_names=np.array(["a", "b", "c"]))  # fmt: skip
    else:
        save(buffer, x=rng.integers(0, 255, size=(12, 2, 2)).astype(np.uint8), y=np.arange(12) % 2)
    return buffer.getvalue()


_NPZ_SEEDS = [_valid_npz(c, s) for c in (False, True) for s in (False, True)]


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_as_npz(data: bytes) -> None:
    _load_or_refuse(f"npz:{_write(b'PK' + data, '.npz')}")


@FUZZ
@given(data=st.sampled_from(range(len(_NPZ_SEEDS))).flatmap(lambda i: _mutated(_NPZ_SEEDS[i])))
def test_mutated_npz(data: bytes) -> None:
    _load_or_refuse(f"npz:{_write(data, '.npz')}")


# --------------------------------------------------------------------------- IDX


def _idx(arr: np.ndarray, code: int) -> bytes:
    big = arr.astype(arr.dtype.newbyteorder(">"))
    shape = b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return bytes([0, 0, code, arr.ndim]) + shape + big.tobytes()


_IDX_IMAGES = _idx(np.arange(40, dtype=np.uint8).reshape(10, 2, 2), 0x08)
_IDX_LABELS = _idx(np.arange(10, dtype=np.uint8) % 2, 0x08)


@FUZZ
@given(
    images=st.one_of(_mutated(_IDX_IMAGES), _mutated(gzip.compress(_IDX_IMAGES, mtime=0))),
    labels=st.one_of(st.just(_IDX_LABELS), _mutated(_IDX_LABELS)),
)
def test_mutated_idx_pair(images: bytes, labels: bytes) -> None:
    images_path = _write(images, "-images.idx")
    labels_path = _write(labels, "-labels.idx")
    _load_or_refuse(f"idx:{images_path},{labels_path}")


@FUZZ
@given(data=st.binary(max_size=64))
def test_read_idx_random_bytes(data: bytes) -> None:
    try:
        read_idx(_write(data, ".idx"))
    except DatasetError:
        pass
