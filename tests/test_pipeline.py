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
from phyff.cli.ondevice import ANSWER_BATCH
from phyff.datasets import load_dataset
from phyff.datasets.base import robust_scale
from phyff.phyll.model import load_model, save_model
from phyff.phyll.transform import InputTransform, from_metadata
from phyff.protocol.model_image import ModelImage

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


# ---- 2. classify takes raw values, names classes, streams, flags -----------------------


@pytest.fixture(scope="module")
def deployed(raw_run: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, str, str]:
    run, data = raw_run
    url = f"{BOARD}&model_file={tmp_path_factory.mktemp('board') / 'board.model'}"
    assert main(["deploy", str(run), "--board", url, "--check", "0"]) == 0
    return run, data, url


def _test_split(data: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The raw test rows of the run's dataset (scaled test rows times the scale)."""
    ds = load_dataset(data, seed=0)
    assert ds.input_scale is not None
    return ds.x_test * np.asarray(ds.input_scale), ds.y_test, ds.class_names


def test_raw_rows_classify_as_eval_on_device(deployed: tuple[Path, str, str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    run, data, url = deployed
    x, y, names = _test_split(data)
    capsys.readouterr()
    assert main(["eval", str(run), "--board", url, "--dataset", data, "--on-device",
                 "--no-host", "--json"]) == 0
    on_device = json.loads(capsys.readouterr().out)["on_device_accuracy"]
    # the columns in another order: matched by the header
    order = [3, 1, 0, 2, 7, 6, 5, 4]
    csv = _write_csv(tmp_path / "raw.csv", x[:, order], names=[f"volt{j}" for j in order])
    assert main(["classify", str(csv), "--board", url, "--model", str(run)]) == 0
    printed = capsys.readouterr().out.split()
    assert set(printed) <= set(names)
    accuracy = np.mean(np.array(printed) == np.array(names)[y])
    assert abs(accuracy - on_device) <= 0.01
    assert main(["classify", str(csv), "--board", url, "--model", str(run), "--indices"]) == 0
    assert [names[int(c)] for c in capsys.readouterr().out.split()] == printed


def test_rows_far_outside_the_training_range_are_flagged(
        deployed: tuple[Path, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    run, data, url = deployed
    x, _, _ = _test_split(data)
    far = np.vstack([x[:3], x[3:4] * 10, x[4:5] * 1000])
    csv = _write_csv(tmp_path / "far.csv", far)
    capsys.readouterr()
    assert main(["classify", str(csv), "--board", url, "--model", str(run), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["out_of_range"] == [False, False, False, True, True]
    assert out["flagged"] == 2
    assert "2 of 5 rows lie outside the training range" in captured.err
    assert "line 5" in captured.err  # the 10x row, after the header
    assert main(["classify", str(csv), "--board", url, "--model", str(run), "--strict"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--strict" in captured.err
    # pre-scaled rows that do not fit the board's Q15 input saturate
    scaled = tmp_path / "scaled.csv"
    scaled.write_text("0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1\n4,0,0,0,0,0,0,0\n"
                      "1000,0,0,0,0,0,0,0\n")
    assert main(["classify", str(scaled), "--board", url, "--model", str(run), "--scaled",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["saturated"] == [False, True, True]
    assert out["out_of_range"] == [False, True, True]


@pytest.mark.parametrize(("text", "message"), [
    ("volt0,volt1,volt2,volt3,volt4,volt5,volt6,voltX\n" + "1," * 7 + "1\n",
     "line 1: the header does not match the model's features (missing 'volt7'; "
     "not a feature of the model: column 8 'voltX')"),
    ("1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7\n", "line 2 has 7 values; line 1 has 8"),
    ("1,2,3,4,5,6,7,8\n1,2,3,x,5,6,7,8\n", "line 2 column 4: 'x' is not a number"),
    ("1,2,3,4,5,6,7,8\n1,2,3,,5,6,7,8,9\n", "line 2 has 9 values"),
    ("1,2,3,4,5,6,7,8\n1,2,3,,5,6,7,8\n", "line 2 column 4 is empty"),
    ("volt0,volt1,volt2,volt3,volt4,volt5,volt6,volt7\n1,2,3,4,,6,7,8\n",
     "line 2 column 5 ('volt4') is empty"),
])
def test_bad_csv_names_line_and_column(deployed: tuple[Path, str, str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str], text: str,
                                       message: str) -> None:
    run, _, url = deployed
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    capsys.readouterr()
    assert main(["classify", str(csv), "--board", url, "--model", str(run)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_an_empty_cell_never_shifts_the_row(deployed: tuple[Path, str, str], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22 finding 10: 13 fields with one empty were read as 12 features."""
    run, _, url = deployed
    csv = tmp_path / "gap.csv"
    csv.write_text("0.1,0.2,0.3,,0.5,0.6,0.7,0.8,0.9\n")  # 9 fields, one empty: not 8
    assert main(["classify", str(csv), "--board", url, "--model", str(run), "--scaled"]) == 2
    assert "line 1 has 9 values; the model takes 8" in capsys.readouterr().err


def test_a_utf8_bom_csv_is_read(deployed: tuple[Path, str, str], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22 finding 16: what Excel writes (a BOM before the header) was refused."""
    run, data, url = deployed
    x, _, _ = _test_split(data)
    plain = _write_csv(tmp_path / "plain.csv", x[:6])
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    capsys.readouterr()
    assert main(["classify", str(plain), "--board", url, "--model", str(run)]) == 0
    want = capsys.readouterr().out
    assert main(["classify", str(bom), "--board", url, "--model", str(run)]) == 0
    assert capsys.readouterr().out == want
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(plain.read_bytes().replace(b"volt3", b"volt\xe93"))
    assert main(["classify", str(bad), "--board", url, "--model", str(run)]) == 2
    assert "line 1: not UTF-8" in capsys.readouterr().err


def test_closed_stdin_is_bad_input(deployed: tuple[Path, str, str]) -> None:
    """Issue 22 finding 11: closed stdin on classify was 'a bug in phyff' (exit 1)."""
    import os
    import subprocess
    import sys

    run, _, url = deployed
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "host")}
    proc = subprocess.run(
        [sys.executable, "-m", "phyff.cli.main", "classify", "--board", url, "--model",
         str(run)], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
        preexec_fn=lambda: os.close(0), check=False)
    assert proc.returncode == 2, proc.stderr
    assert "stdin is closed" in proc.stderr


def test_classify_prints_each_batch_as_it_returns(
        deployed: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22 finding 13: a board that stops half-way lost every answer already given."""
    from phyff.board.client import Board
    from phyff.board.link import LinkError

    run, data, url = deployed
    x, _, _ = _test_split(data)
    csv = _write_csv(tmp_path / "many.csv", np.vstack([x] * 20))
    real = Board.infer
    calls = []

    def failing(self: Board, *args: object, **kw: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise LinkError("no reply from the board (test: it stopped)")
        return real(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Board, "infer", failing)
    capsys.readouterr()
    assert main(["classify", str(csv), "--board", url, "--model", str(run)]) == 3
    captured = capsys.readouterr()
    assert len(captured.out.split()) == ANSWER_BATCH < len(x) * 20
    assert "stopped" in captured.err


# ---- 3. predict: the same through the host path ----------------------------------------


def test_predict_answers_like_eval_on_the_host(raw_run: tuple[Path, str], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    run, data = raw_run
    x, y, names = _test_split(data)
    csv = _write_csv(tmp_path / "raw.csv", x)
    capsys.readouterr()
    assert main(["eval", str(run), "--board", BOARD, "--dataset", data, "--json"]) == 0
    host = json.loads(capsys.readouterr().out)["accuracy"]
    assert main(["predict", str(run), "--board", BOARD, str(csv)]) == 0  # the CSV last
    printed = capsys.readouterr().out.split()
    assert abs(np.mean(np.array(printed) == np.array(names)[y]) - host) <= 0.01
    far = _write_csv(tmp_path / "far.csv", x[:2] * 1000)
    assert main(["predict", str(run), str(far), "--board", BOARD, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["out_of_range"] == [True, True]
    assert "2 of 2 rows" in captured.err
    assert main(["predict", str(run), str(far), "--board", "emu://acoustic?seed=5"]) == 2
    assert "different board" in capsys.readouterr().err


def test_predict_on_a_model_without_scaling_says_so(raw_run: tuple[Path, str], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    run, data = raw_run
    model = load_model(run / "model.npz")
    old = tmp_path / "old"
    save_model(old / "model.npz", model, {k: v for k, v in model.metadata.items()
                                          if k != "input"})
    x, _, _ = _test_split(data)
    csv = _write_csv(tmp_path / "raw.csv", x[:4])
    capsys.readouterr()
    assert main(["predict", str(old), str(csv), "--board", BOARD]) == 2
    assert "records no input scaling" in capsys.readouterr().err
    ds = load_dataset(data, seed=0)
    scaled = _write_csv(tmp_path / "scaled.csv", ds.x_test[:4])
    assert main(["predict", str(old), str(scaled), "--board", BOARD, "--scaled"]) == 0
    assert all(c.isdigit() for c in capsys.readouterr().out.split())


# ---- 7. the classifier deploys and exports itself; names follow the model --------------


def test_dir_phyff_lists_the_lazy_public_names() -> None:
    import phyff

    assert {"PhyLLClassifier", "open_board", "__version__"} <= set(dir(phyff))


def test_classifier_deploy_uses_its_own_scaler_and_names(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    from phyff.board.client import Board
    from phyff.ondevice.deploy import features_q15, transform_of

    x, y = _raw_blobs()
    labels = np.array(CLASSES)[y]
    clf = PhyLLClassifier(BOARD, epochs=6, eval_every=3, inference="onepass").fit(x, labels)
    url = f"{BOARD}&model_file={tmp_path / 'board.model'}"
    with Board.open(url) as board:
        result = clf.deploy(x, labels, board, name="blobs-clf")
        assert result.check_agreement == 1.0 and result.info.name == "blobs-clf"
        described = board.describe()  # the classifier's own scaler and names (model.h M-D2)
        assert described is not None and described.class_names == tuple(clf.classes_)
        x_q = features_q15(transform_of(described).apply(x[:40]), result.info.input_exp)
        answered = np.array(described.class_names)[board.infer(x_q).classes]
        assert np.mean(answered == labels[:40]) >= 0.9
    # the saved classifier deploys through the CLI with the dataset's raw values and its
    # own scaler; the image is named after the file and written beside it, not in the cwd
    models = tmp_path / "models"
    path = clf.save(models / "vowelish.npz")
    raw = _write_csv(tmp_path / "raw.csv", x, y)
    capsys.readouterr()
    assert main(["deploy", str(path), "--board", url, "--dataset", f"csv:{raw}",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["name"] == "vowelish"
    assert report["image_file"] == str(models / "vowelish.device-model.bin")
    assert (models / "vowelish.device-model.json").is_file()
    assert main(["classify", str(_write_csv(tmp_path / "rows.csv", x[:40])), "--board", url,
                 "--model", str(path)]) == 0
    printed = capsys.readouterr().out.split()
    assert np.mean(np.array(printed) == labels[:40]) >= 0.9


def test_export_writes_a_header_with_the_image_and_the_transform(
        raw_run: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    from phyff.protocol.wire import crc32

    run = tmp_path / "run"  # a copy: export keeps its image beside the model
    shutil.copytree(raw_run[0], run)
    header = tmp_path / "model.h"
    assert main(["export", str(run), "--board", BOARD, "--header", str(header)]) == 0
    text = header.read_text()
    size = int(text.split("#define PHYFF_MODEL_IMAGE_SIZE ")[1].split("u")[0])
    body = text.split("phyff_model_image[PHYFF_MODEL_IMAGE_SIZE] PHYFF_MODEL_ROM = {")[1]
    image = bytes(int(b, 16) for b in body.split("};")[0].replace(",", " ").split())
    assert len(image) == size
    assert f"PHYFF_MODEL_IMAGE_CRC32 0x{crc32(image):08X}u" in text
    assert '"volt0"' in text and "phyff_model_scale" in text and "PROGMEM" in text
    # the image is also kept beside the model, for classify --model against the board
    assert (run / "device-model.bin").read_bytes() == image
    # the header compiles warning-free (C11), as a sketch's or a host's code includes it
    use = tmp_path / "use.c"
    use.write_text('#include "model.h"\nunsigned first(void) { return phyff_model_image[0] + '
                   '(unsigned)phyff_model_scale[0] + (unsigned)*phyff_model_classes[0]; }\n')
    import subprocess

    done = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-c", str(use),
                           "-o", str(tmp_path / "use.o")], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert main(["export", str(run), "--board", "emu://acoustic?seed=5", "--header",
                 str(header)]) == 2


# ---- 4. board limits a host can see ------------------------------------------------------


def _c_check(image: bytes, caps: object) -> tuple[int, int]:
    """The board's own check (model.h M-V1-V6) with the limits a board of these caps uses."""
    from phyff._native import ffi, lib

    buf = ffi.new("uint8_t[]", image)
    limits = ffi.new("struct phyff_model_limits *")
    limits.unit_id = caps.unit_id  # type: ignore[attr-defined]
    ffi.memmove(limits.medium, caps.medium.encode().ljust(16, b"\0"), 16)  # type: ignore[attr-defined]
    for name in ("n_drive", "n_sense", "max_oversample", "max_settle_us", "max_classes"):
        setattr(limits, name, getattr(caps, name))
    limits.work_values = caps.infer_work  # type: ignore[attr-defined]
    view = ffi.new("struct phyff_model_view *")
    bad = ffi.new("uint32_t *")
    return int(lib.phyff_model_check(buf, len(image), limits, view, bad)), int(bad[0])


def test_caps_advertise_the_model_limits() -> None:
    from phyff._native import lib
    from phyff.board.client import Board

    with Board.open(BOARD) as board:
        caps = board.caps
    assert caps.max_classes == lib.PHYFF_CORE_MAX_CLASSES
    assert caps.infer_work == lib.PHYFF_CORE_INFER_WORK - caps.n_drive


@pytest.mark.parametrize("limit", ["max_classes", "infer_work", "width"])
def test_every_limit_is_named_where_the_board_refuses(limit: str) -> None:
    """The host names the limit, at the very byte offset the board's own check refuses."""
    from dataclasses import replace

    from phyff.ondevice.limits import DoesNotFit, check_fits, explain_refusal
    from phyff.protocol.model_image import INFERENCE_ONEPASS
    from phyff.protocol.wire import Caps, Status
    from tests.test_ondevice import random_image

    qemu_like = Caps(level=4, features=0, firmware_version=0, unit_id=7, max_batch=1,
                     max_payload=1024, n_drive=20, n_sense=20, dac_bits=12, adc_bits=12,
                     max_oversample=64, board="qemu-mps2-an385", medium="acoustic",
                     max_settle_us=0, model_capacity=4352, max_classes=32, infer_work=236)
    image = random_image(np.random.default_rng(0), qemu_like, encoder="amplitude",
                         inference=INFERENCE_ONEPASS, n_classes=4)
    assert _c_check(image.pack(), qemu_like)[0] == 0
    check_fits(image, qemu_like)
    caps = {"max_classes": replace(qemu_like, max_classes=3),
            "infer_work": replace(qemu_like, infer_work=40),
            "width": replace(qemu_like, infer_work=19)}[limit]
    status, offset = _c_check(image.pack(), caps)
    assert status == Status.BAD_MODEL
    why = explain_refusal(image, caps, offset)
    assert why is not None and f"caps.{limit if limit != 'width' else 'infer_work'}" in why
    with pytest.raises(DoesNotFit, match="the board allows at most"):
        check_fits(image, caps)


def _multi_row_image(d_outs: tuple[int, int]) -> ModelImage:
    """A vowels7-shaped image for a 4-drive / 6-sense board: 12 features under a class
    code (model.h M-L1), two physical blocks of 3 device rows each (M-R1)."""
    from phyff.protocol.model_image import (
        BLOCK_PHYSICAL,
        BLOCK_SKIP,
        ENCODERS,
        INFERENCE_ONEPASS,
        MAGIC,
        OVERLAY_CODE,
        VERSION,
        Block,
        BlockHead,
        CodeHead,
        CodeOverlay,
        ModelHead,
        Readout,
        ReadoutHead,
    )

    rng = np.random.default_rng(0)
    head = ModelHead(MAGIC, VERSION, 2, INFERENCE_ONEPASS, 12, 7, 12, 0, 0, 0, 4,
                     OVERLAY_CODE, 1, "rows", "uno", "unknown")
    blocks, d_in = [], 12
    for d_out in d_outs:
        bh = BlockHead(ENCODERS["amplitude"], BLOCK_PHYSICAL | BLOCK_SKIP, d_in, 4, 6, d_out,
                       0, 0, 0, 0, 12, 16, 0, 1, 0, 3)
        blocks.append(Block(bh, rng.integers(-900, 900, (d_out, 18 + d_in)).astype(np.int16),
                            rng.integers(-900, 900, d_out).astype(np.int16),
                            rng.integers(-900, 900, d_out).astype(np.int16),
                            rng.permutation(d_in).reshape(3, 4).astype(np.uint16)))
        d_in = d_out
    n_in = sum(d_outs)
    readout = Readout(ReadoutHead(n_in, 7, 12, 8),
                      rng.integers(-900, 900, (7, n_in)).astype(np.int16),
                      rng.integers(-900, 900, 7).astype(np.int16))
    code = CodeOverlay(CodeHead(256), rng.choice([-1, 1], (7, 12)).astype(np.int8))
    return ModelImage(head, blocks, readout, code)


def test_a_multi_row_blocks_scratch_is_counted_as_the_board_counts_it() -> None:
    """M-R3: with device rows a block's scratch is d_in + the encoder's drive width + rows x
    n_sense + d_out (vowels7 on an Uno: 12 + 12 + 18 + 12 = 54, as its caps.infer_work of
    60 admits); the host refuses exactly where the board's own check does, past the
    slot map of the block before."""
    from dataclasses import replace

    from phyff.ondevice.limits import DoesNotFit, block_work, check_fits, explain_refusal
    from phyff.protocol.wire import Caps, Status

    uno = Caps(level=4, features=0, firmware_version=0, unit_id=0, max_batch=15,
               max_payload=192, n_drive=4, n_sense=6, dac_bits=8, adc_bits=10,
               max_oversample=64, board="uno", medium="unknown", max_settle_us=1000000,
               model_capacity=0, max_classes=8, infer_work=60)
    image = _multi_row_image((12, 16))
    assert [block_work(image, k) for k in range(2)] == [54, 58]
    assert _c_check(image.pack(), uno) == (0, 0)
    check_fits(image, uno)
    for limit, block in ((57, 1), (53, 0)):
        caps = replace(uno, infer_work=limit)
        status, offset = _c_check(image.pack(), caps)
        assert status == Status.BAD_MODEL
        why = explain_refusal(image, caps, offset)
        assert why is not None and f"block {block}'s scratch" in why and "infer_work" in why
        with pytest.raises(DoesNotFit, match=f"block {block}'s scratch"):
            check_fits(image, caps)


def test_deploy_refuses_before_loading(raw_run: tuple[Path, str], tmp_path: Path) -> None:
    from dataclasses import replace

    from phyff.board.client import Board
    from phyff.ondevice.deploy import deploy
    from phyff.ondevice.limits import DoesNotFit

    run, data = raw_run
    model = load_model(run / "model.npz")
    ds = load_dataset(data, seed=0)
    with Board.open(f"{BOARD}&model_file={tmp_path / 'm'}") as board:
        board.caps = replace(board.caps, max_classes=3)
        before = board.stats().samples_served
        with pytest.raises(DoesNotFit, match=r"4 classes.*at most 3 \(caps.max_classes\)"):
            deploy(model, board, ds.x_train, ds.y_train, name="x")
        assert board.stats().samples_served == before  # refused before calibrating
        board.caps = replace(board.caps, max_classes=32, infer_work=30)
        with pytest.raises(DoesNotFit, match=r"caps.infer_work"):
            deploy(model, board, ds.x_train, ds.y_train, name="x")
        assert board.model_info() is None  # nothing was loaded


def test_an_arduino_export_for_the_stock_uno_checks_the_compiled_model_limits(
        tmp_path: Path) -> None:
    """The stock Uno image has no model memory and advertises no model limits; the
    sketch phyff export writes is built with CFG-C6's (8 classes, 64 scratch values less
    the 4 drive pins), so export checks those before writing anything."""
    from dataclasses import replace

    from phyff.ondevice.export import COMPILED_LIMITS, compiled_caps, write_arduino_sketch
    from phyff.ondevice.limits import DoesNotFit
    from phyff.protocol.wire import Caps

    stock = Caps(level=5, features=0, firmware_version=0, unit_id=0, max_batch=15,
                 max_payload=192, n_drive=4, n_sense=6, dac_bits=8, adc_bits=10,
                 max_oversample=64, board="uno", medium="unknown", max_settle_us=1000000,
                 model_capacity=0, max_classes=0, infer_work=0)
    assert COMPILED_LIMITS["uno"] == (8, 64)  # tests/test_arduino_config.py: CFG-C6
    assert (compiled_caps(stock).max_classes, compiled_caps(stock).infer_work) == (8, 60)
    image = _multi_row_image((12, 16))
    image = replace(image, head=replace(image.head, train_board="uno"))
    sketch = write_arduino_sketch(tmp_path / "fits", image.pack(), stock, None)
    assert (sketch / "fits.ino").exists()
    wide = _multi_row_image((12, 20))  # block 1: 12 + 12 + 18 + 20 = 62 values > 60
    wide = replace(wide, head=replace(wide.head, train_board="uno"))
    with pytest.raises(DoesNotFit, match=r"CFG-C6.*block 1.s scratch .* is 62"):
        write_arduino_sketch(tmp_path / "wide", wide.pack(), stock, None)
    assert not (tmp_path / "wide").exists()  # refused before writing anything
