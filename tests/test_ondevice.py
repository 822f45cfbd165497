"""On-device inference: the board runs the trained network itself (wire.h level 3, model.h).

What is checked here, on the emulated board (the firmware core compiled for
the host): the core's integer pipeline equals the numpy reference bit for bit
for every encoder and both inference kinds (from the board's trace, and from
the medium itself, drives included); deploy / eval --on-device / classify end
to end through the CLI; the model survives a power cycle where the board has
storage; and every bad input named in the issue gets a clear refusal that
leaves the model in force untouched. The QEMU and MicroPython boards run the
same checks in hil/test_inference.py and tests/test_micropython.py.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phyff.board.client import Board, ModelTooLarge
from phyff.board.link import BoardError
from phyff.cli.main import main
from phyff.datasets import load_dataset
from phyff.emulator import EmulatedDevice
from phyff.ondevice import reference as ref
from phyff.ondevice.deploy import deploy
from phyff.ondevice.quantise import NotDeployable, check_deployable, quantise
from phyff.ondevice.random_images import random_image
from phyff.phyll.config import ModelConfig
from phyff.phyll.model import Model, load_model, save_model
from phyff.protocol import wire
from phyff.protocol.model_image import (
    ENCODERS,
    INFERENCE_GOODNESS,
    INFERENCE_ONEPASS,
    ModelHead,
    ModelImage,
)
from phyff.training.identity import trained_identity

Status = wire.Status


@pytest.mark.parametrize("inference", [INFERENCE_ONEPASS, INFERENCE_GOODNESS])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_board_scores_equal_the_numpy_reference(encoder: str, inference: int) -> None:
    """Replayed from the board's own trace: classes, every int32 score, saturation flags."""
    rng = np.random.default_rng([ENCODERS[encoder], inference])
    with Board.open("emu://optical?seed=3&n_in=24&n_out=10") as board:
        image = random_image(rng, board.caps, encoder=encoder, inference=inference)
        info = board.load_model(image.pack())
        x = rng.integers(-32768, 32768, (40, 6)).astype(np.int16)
        x[0] = 0  # a constant row: spans and norms of 0
        x[1] = -32768  # the most negative value everywhere
        got = board.infer(x, trace=True, info=info)
        top = ref.sense_top(board.caps.adc_bits)
    expected = ref.run(image, x, ref.replay(image, got.trace), top)
    assert np.array_equal(expected.scores, got.scores)
    assert np.array_equal(expected.classes, got.classes)
    assert np.array_equal(expected.saturated, got.saturated)


@pytest.mark.parametrize("encoder", ["amplitude", "binary2", "phase"])
def test_reference_predicts_the_drives_through_the_medium(encoder: str) -> None:
    """Without the trace: the reference's drives, through the (noise-free) medium, give
    exactly the board's scores, so the drive values match too."""
    rng = np.random.default_rng(7)
    url = "emu://optical?seed=5&n_in=24&n_out=10&noise=0&drift=0"
    with Board.open(url) as board:
        image = random_image(rng, board.caps, encoder=encoder, inference=INFERENCE_ONEPASS,
                             scale=4000)
        board.load_model(image.pack())
        x = rng.integers(-20000, 20000, (25, 6)).astype(np.int16)
        got = board.infer(x)
        device = board.oracle()
        shift_in = 15 - board.caps.dac_bits
        shift_out = 15 - board.caps.adc_bits

        def sense(_index: int, _k: int, drive: np.ndarray) -> np.ndarray:
            codes = np.zeros((len(drive), board.caps.n_drive), np.uint16)
            codes[:, :drive.shape[1]] = drive.astype(np.uint16) >> shift_in
            adc = device.frontend.measure(codes, 1)[:, :board.caps.n_sense]
            return (adc.astype(np.int32) << shift_out).astype(np.int16)

        expected = ref.run(image, x, sense)
    assert np.array_equal(expected.scores, got.scores)


# ---- deploy, eval --on-device, classify through the CLI --------------------------------


def _blobs_csv(path: Path, seed: int = 0) -> Path:
    """A small separable 4-class task with 8 features, as a CSV (label last)."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-1, 1, (4, 8))
    y = np.repeat(np.arange(4), 60)
    x = centers[y] + 0.15 * rng.standard_normal((len(y), 8))
    rows = [",".join(f"{v:.5f}" for v in xs) + f",{c}" for xs, c in zip(x, y, strict=True)]
    header = ",".join(f"f{j}" for j in range(8)) + ",label"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    root = tmp_path_factory.mktemp("ondevice")
    data = f"csv:{_blobs_csv(root / 'blobs.csv')}"
    run = root / "run"
    board = "emu://acoustic?seed=4"
    assert main(["train", "--board", board, "--dataset", data, "--run", str(run),
                 "--epochs", "40", "--no-progress"]) == 0
    return run, data, board


def test_deploy_then_eval_on_device_then_classify(
        trained_run: tuple[Path, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    run, data, board = trained_run
    url = f"{board}&model_file={tmp_path / 'board.model'}"
    capsys.readouterr()
    assert main(["deploy", str(run), "--board", url, "--dataset", data, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["check_bit_exact"] == 1.0 and report["check_samples"] > 0
    assert report["persistent"] is True
    assert all(layer["relative_error"] < 0.01 for layer in report["layers"])
    assert (run / "device-model.bin").stat().st_size == report["image_bytes"]

    # a new process-worth of board: the model came back from its storage
    assert main(["eval", str(run), "--board", url, "--dataset", data, "--on-device",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bit_exact"] == 1.0
    assert result["on_device_accuracy"] >= result["host_float"]["accuracy"] - 0.05
    assert sum(map(sum, result["confusion"])) == result["samples"]

    rows = tmp_path / "rows.csv"
    features = np.loadtxt(_blobs_csv(tmp_path / "again.csv"), delimiter=",",
                          skiprows=1)[:5, :8]
    rows.write_text("\n".join(",".join(str(v) for v in r) for r in features) + "\n")
    assert main(["classify", str(rows), "--board", url, "--model", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["indices"]) == 5 and all(0 <= c < 4 for c in out["indices"])
    assert main(["classify", str(rows), "--board", url, "--model", str(run), "--scores",
                 "--indices"]) == 0
    lines = capsys.readouterr().out.split()
    assert [int(line.split(",")[0]) for line in lines] == out["indices"]
    assert all(len(line.split(",")) == 5 for line in lines)
    # without --model: the board's own description (model.h M-D1-D5) scales and names
    assert report["described"] is True
    assert main(["classify", str(rows), "--board", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == out["classes"]
    far = tmp_path / "far.csv"
    far.write_text(",".join(f"f{j}" for j in range(8)) + "\n"
                   + ",".join(str(v) for v in features[0] * 1000) + "\n")
    assert main(["classify", str(far), "--board", url, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["out_of_range"] == [True]
    assert "1 of 1 rows" in captured.err and "'f0'" in captured.err
    swapped = [features[0][1], features[0][0], *features[0][2:]]
    far.write_text("f1,f0,f2,f3,f4,f5,f6,f7\n" + ",".join(str(v) for v in swapped) + "\n")
    assert main(["classify", str(far), "--board", url]) == 0  # columns matched by name
    assert capsys.readouterr().out.split() == out["classes"][:1]
    far.write_text("g0,f1,f2,f3,f4,f5,f6,f7\n" + ",".join(str(v) for v in swapped) + "\n")
    assert main(["classify", str(far), "--board", url]) == 2
    assert "g0" in capsys.readouterr().err
    assert main(["info", "--board", url, "--json"]) == 0
    described = json.loads(capsys.readouterr().out)["description"]
    assert described["feature_names"] == [f"f{j}" for j in range(8)]
    assert len(described["class_names"]) == 4 and described["range_factor"] == 1.5
    assert main(["info", "--board", url]) == 0
    assert "features 'f0', 'f1'" in capsys.readouterr().out


def test_a_model_file_without_scaling_deploys_without_a_description(
        trained_run: tuple[Path, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An old model file (no input transform) still deploys; its image has no description,
    and classify without --model says what to do."""
    run, data, board = trained_run
    model = load_model(run / "model.npz")
    old = tmp_path / "old"
    save_model(old / "model.npz", model, {k: v for k, v in model.metadata.items()
                                          if k != "input"})
    url = f"{board}&model_file={tmp_path / 'board.model'}"
    capsys.readouterr()
    assert main(["deploy", str(old), "--board", url, "--dataset", data, "--check", "4"]) == 0
    assert "records no input scaling" in capsys.readouterr().err
    with Board.open(url) as b:
        assert b.describe() is None
    rows = tmp_path / "rows.csv"
    rows.write_text("0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8\n")
    assert main(["classify", str(rows), "--board", url]) == 2
    err = capsys.readouterr().err
    assert "carries no description" in err and "--model RUN" in err and "--scaled" in err
    assert main(["classify", str(rows), "--board", url, "--scaled"]) == 0
    assert capsys.readouterr().out.strip().isdigit()
    assert main(["info", "--board", url]) == 0
    assert "no description in the model's image" in capsys.readouterr().out


class OutsideClient:
    """A host that is not phyff: frames through the wire codec, records parsed by hand
    from wire.h's layouts, raw values scaled as model.h M-D4 says. Nothing of phyff's
    board, model or transform classes."""

    def __init__(self, device: EmulatedDevice) -> None:
        self.device = device
        self.seq = 0
        device.read_all()  # the reset event (W-E1)

    def request(self, cmd: int, payload: bytes = b"") -> bytes:
        self.seq = self.seq % 255 + 1
        self.device.write(wire.encode_frame(wire.Header(cmd=cmd, seq=self.seq), payload))
        header, reply = wire.decode_frame(self.device.read_all().split(b"\x00")[0])
        assert header.seq == self.seq and not header.flags & wire.Flag.ERROR, reply.hex()
        return reply

    def describe(self) -> bytes:
        """MODEL_DESCRIBE in pieces of at most 64 bytes: the whole section."""
        section = b""
        while True:
            reply = self.request(0x16, struct.pack("<IHH", len(section), 64, 0))
            size, offset = struct.unpack_from("<II", reply)
            assert offset == len(section)
            section += reply[8:]
            if len(section) == size:
                return section


def parse_description(section: bytes) -> dict[str, Any]:
    """model.h M-D2, by hand."""
    magic, length, nf, nc, flags, reserved, range_q8 = struct.unpack_from("<IIHHBBH", section)
    assert magic == 0x44594850 and length == len(section) and reserved == 0
    floats = struct.unpack_from(f"<{2 * nf}f", section, 16)
    names = section[16 + 8 * nf:].split(b"\x00")[:-1]
    features = [n.decode() for n in names[:nf]] if flags & 2 else None
    return {"scale": np.array(floats[:nf]), "limit": np.array(floats[nf:]),
            "clip": bool(flags & 1), "range": range_q8 / 256, "features": features,
            "classes": [n.decode() for n in names[len(names) - nc:]]}


def test_a_host_that_is_not_phyff_reads_the_description_and_sends_raw_values(
        trained_run: tuple[Path, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """model.h M-D1-D5, wire.h MODEL_DESCRIBE: raw rows in, the accuracy of eval --on-device."""
    run, data, board = trained_run
    url = f"{board}&model_file={tmp_path / 'board.model'}"
    assert main(["deploy", str(run), "--board", url, "--dataset", data, "--check", "0"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--board", url, "--dataset", data, "--on-device",
                 "--no-host", "--json"]) == 0
    on_device = json.loads(capsys.readouterr().out)

    ds = load_dataset(data, seed=0)
    raw = np.asarray(ds.x_test) * np.asarray(ds.input_scale)  # the test rows in raw units
    client = OutsideClient(EmulatedDevice(url))  # the same board, its model from storage
    info = client.request(0x13)  # MODEL_INFO: n_features @12, max_batch @16, input_exp @22
    nf, nc, max_batch = struct.unpack_from("<HHH", info, 12)
    input_exp = struct.unpack_from("<b", info, 22)[0]
    d = parse_description(client.describe())
    assert d["features"] == [f"f{j}" for j in range(8)] and d["classes"] == list(ds.class_names)
    assert len(d["classes"]) == nc
    s = raw / d["scale"].astype(np.float64)  # M-D4
    if d["clip"]:
        s = np.clip(s, -1.0, 1.0)
    q = np.sign(s) * np.floor(np.abs(s) * 2.0 ** (15 - input_exp) + 0.5)
    x_q = np.clip(q, -32768, 32767).astype("<i2")
    classes = []
    for at in range(0, len(x_q), max_batch):
        batch = x_q[at:at + max_batch]
        reply = client.request(0x14, struct.pack("<HHHH", len(batch), nf, 0, 0)
                               + batch.tobytes())
        classes += struct.unpack_from(f"<{len(batch)}H", reply, 8)
    accuracy = float(np.mean(np.array(classes) == ds.y_test))
    assert accuracy == pytest.approx(on_device["on_device_accuracy"], abs=1 / len(classes))
    # the same rows through phyff classify without --model: the board's description suffices
    rows = tmp_path / "raw.csv"
    rows.write_text(",".join(f"f{j}" for j in range(8)) + "\n"
                    + "\n".join(",".join(repr(float(v)) for v in r) for r in raw) + "\n")
    assert main(["classify", str(rows), "--board", url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["classes"] == [d["classes"][c] for c in classes]


def test_deploy_counts_the_description_against_the_model_memory(
        trained_run: tuple[Path, str, str]) -> None:
    run, data, url = trained_run
    model = load_model(run / "model.npz")
    ds = load_dataset(data, seed=0)
    with Board.open(url) as board:
        board.configure_like(trained_identity(model.metadata))
        first = deploy(model, board, ds.x_train, ds.y_train, name="fits", check=0)
        section = first.quantised.image.description
        assert section is not None and len(first.image) == len(
            first.quantised.image.pack()) and len(section.pack()) > 0
        board.caps = dataclasses.replace(board.caps, model_capacity=len(first.image) - 1)
        with pytest.raises(ModelTooLarge, match=f"{len(section.pack())} of them its "
                                                f"description"):
            deploy(model, board, ds.x_train, ds.y_train, name="fits", check=0)


def test_classify_refuses_bad_rows_with_the_numbers(
        trained_run: tuple[Path, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    run, data, board = trained_run
    url = f"{board}&model_file={tmp_path / 'board.model'}"
    rows = tmp_path / "rows.csv"
    rows.write_text("1,2,3\n")
    assert main(["classify", str(rows), "--board", url]) == 2
    assert "holds no model" in capsys.readouterr().err
    assert main(["deploy", str(run), "--board", url, "--dataset", data, "--check", "0"]) == 0
    capsys.readouterr()
    assert main(["classify", str(rows), "--board", url, "--scaled"]) == 2
    err = capsys.readouterr().err
    assert "3 values" in err and "takes 8" in err
    rows.write_text("0,0,0,0,0,0,0,nan\n")
    assert main(["classify", str(rows), "--board", url, "--scaled"]) == 2
    assert "nan" in capsys.readouterr().err.lower()
    rows.write_text("0,0,0,0,0,0,0,0\n1,2\n")
    assert main(["classify", str(rows), "--board", url, "--scaled"]) == 2
    assert "line 2 has 2 values" in capsys.readouterr().err


def test_deploy_refuses_another_board(trained_run: tuple[Path, str, str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run, data, _ = trained_run
    assert main(["deploy", str(run), "--board", "emu://acoustic?seed=5", "--dataset",
                 data]) == 2
    err = capsys.readouterr().err
    assert "unit_id: model 4, board 5" in err
    # forced past the host's check, the board itself refuses (WRONG_BOARD: exit 3)
    assert main(["deploy", str(run), "--board", "emu://acoustic?seed=5", "--dataset", data,
                 "--force"]) == 3
    assert "another board" in capsys.readouterr().err


def test_eval_on_device_refuses_a_board_holding_another_model(
        trained_run: tuple[Path, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    run, data, board = trained_run
    url = f"{board}&model_file={tmp_path / 'board.model'}"
    assert main(["deploy", str(run), "--board", url, "--dataset", data, "--check", "0"]) == 0
    with Board.open(url) as b:
        b.erase_model()
    capsys.readouterr()
    assert main(["eval", str(run), "--board", url, "--dataset", data, "--on-device"]) == 2
    assert "holds no model" in capsys.readouterr().err


# ---- the board keeps the previous model through every failed load ---------------------


@pytest.fixture()
def loaded() -> tuple[Board, ModelImage, wire.ModelInfo]:
    board = Board.open("emu://acoustic?seed=1")
    image = random_image(np.random.default_rng(1), board.caps, encoder="amplitude",
                         inference=INFERENCE_ONEPASS)
    info = board.load_model(image.pack())
    yield board, image, info
    board.close()


def _still_in_force(board: Board, info: wire.ModelInfo) -> None:
    now = board.model_info()
    assert now is not None and now.crc32 == info.crc32
    assert board.hello().model_crc == info.crc32


def test_corrupted_and_truncated_loads_leave_the_model_in_force(loaded) -> None:  # type: ignore[no-untyped-def]
    board, image, info = loaded
    other = random_image(np.random.default_rng(2), board.caps, encoder="phase",
                         inference=INFERENCE_GOODNESS).pack()
    # CRC mismatch: a bit flipped in transit
    board._request(wire.Cmd.MODEL_BEGIN, wire.ModelBegin(len(other), wire.crc32(other)).pack())
    flipped = bytes([other[0] ^ 1]) + other[1:]
    board._request(wire.Cmd.MODEL_CHUNK, wire.ChunkHead(0).pack() + flipped)
    with pytest.raises(BoardError) as exc:
        board._request(wire.Cmd.MODEL_COMMIT)
    assert exc.value.status == Status.MODEL_CRC
    _still_in_force(board, info)
    # truncated: the link dropped the last chunk
    board._request(wire.Cmd.MODEL_BEGIN, wire.ModelBegin(len(other), wire.crc32(other)).pack())
    board._request(wire.Cmd.MODEL_CHUNK, wire.ChunkHead(0).pack() + other[:100])
    with pytest.raises(BoardError) as exc:
        board._request(wire.Cmd.MODEL_COMMIT)
    assert exc.value.status == Status.LOAD_RANGE and exc.value.arg == 100
    _still_in_force(board, info)
    # a gap: a chunk lost in the middle
    board._request(wire.Cmd.MODEL_BEGIN, wire.ModelBegin(len(other), wire.crc32(other)).pack())
    with pytest.raises(BoardError) as exc:
        board._request(wire.Cmd.MODEL_CHUNK, wire.ChunkHead(10).pack() + other[10:20])
    assert exc.value.status == Status.LOAD_RANGE and exc.value.arg == 0
    with pytest.raises(BoardError) as exc:  # the load is still short: the commit ends it
        board._request(wire.Cmd.MODEL_COMMIT)
    assert exc.value.status == Status.LOAD_RANGE and exc.value.arg == 0
    with pytest.raises(BoardError) as exc:  # so a second commit finds no load begun
        board._request(wire.Cmd.MODEL_COMMIT)
    assert exc.value.status == Status.NO_LOAD
    _still_in_force(board, info)
    x = np.random.default_rng(4).integers(-9000, 9000, (3, 6)).astype(np.int16)
    got = board.infer(x, trace=True)  # the model in force still classifies as before
    assert np.array_equal(got.scores, ref.run(image, x, ref.replay(image, got.trace)).scores)


def test_refusals_carry_the_numbers_and_change_nothing(loaded) -> None:  # type: ignore[no-untyped-def]
    board, _image, info = loaded
    capacity = board.caps.model_capacity
    with pytest.raises(ModelTooLarge, match=f"{capacity:,}"):
        board.load_model(b"\0" * (capacity + 1))
    with pytest.raises(BoardError) as exc:
        board._request(wire.Cmd.MODEL_BEGIN, wire.ModelBegin(capacity + 1, 0).pack())
    assert exc.value.status == Status.MODEL_TOO_LARGE and exc.value.arg == min(capacity, 65535)
    # a model trained on another unit: the board checks M-V6 itself
    foreign = random_image(np.random.default_rng(3), board.caps, encoder="amplitude",
                           inference=INFERENCE_ONEPASS)
    values = {f: getattr(foreign.head, f) for f in foreign.head.__dataclass_fields__}
    values["train_unit_id"] = board.caps.unit_id + 1
    foreign.head = ModelHead(**values)
    with pytest.raises(BoardError) as exc:
        board.load_model(foreign.pack())
    assert exc.value.status == Status.WRONG_BOARD and exc.value.arg == 16
    # a model the board cannot run: more sense channels than it has (rule M-V3)
    values["train_unit_id"] = board.caps.unit_id
    foreign.head = ModelHead(**values)
    broken = foreign.pack()
    at = 72 + 6  # block 0's n_sense
    broken = broken[:at] + (board.caps.n_sense + 1).to_bytes(2, "little") + broken[at + 2:]
    with pytest.raises(BoardError) as exc:
        board.load_model(broken)
    assert exc.value.status == Status.BAD_MODEL and exc.value.arg == at
    _still_in_force(board, info)
    # INFER with the wrong width, then no model
    with pytest.raises(BoardError) as exc:
        board._request(wire.Cmd.INFER, wire.InferHead(1, 5).pack() + b"\0" * 10)
    assert exc.value.status == Status.BAD_CHANNELS and exc.value.arg == 6
    board.erase_model()
    assert board.model_info() is None and board.caps.model_loaded == 0
    with pytest.raises(BoardError) as exc:
        board._request(wire.Cmd.INFER, wire.InferHead(1, 6).pack() + b"\0" * 12)
    assert exc.value.status == Status.NO_MODEL


def test_the_model_survives_a_power_cycle_and_reset(loaded) -> None:  # type: ignore[no-untyped-def]
    """The emulated board stores its model (HOST-H4, PORT-R6) and restores it at start-up."""
    board, _image, info = loaded
    board.reset()
    _still_in_force(board, info)
    board.oracle().power_cycle()
    board.caps = board.hello()
    _still_in_force(board, info)


# ---- models the board cannot run are refused before anything is sent -----------------


class _FixedLayer:
    """A noise-free stand-in physical layer: a fixed random linear map, squashed."""

    def __init__(self, n_in: int, n_out: int, seed: int = 0) -> None:
        self.n_in, self.n_out = n_in, n_out
        self.identity = {"caps": {"unit_id": 1, "board": "emulator", "medium": "acoustic"},
                         "config": {"settle_us": 0, "oversample": 1}}
        self._m = np.random.default_rng(seed).uniform(0, 1, (n_in, n_out)) / n_in

    def measure(self, drive: np.ndarray) -> np.ndarray:
        return np.rint(np.clip(drive @ self._m, 0, 0.999) * 32768) / 32768


def _small_model(**over: object) -> tuple[Model, list[_FixedLayer]]:
    cfg = ModelConfig(encoders=("amplitude", "amplitude"), **over).sized(3, 5)  # type: ignore[arg-type]
    layers = [_FixedLayer(12, 8, 0), _FixedLayer(12, 8, 1)]
    return Model.build(cfg, layers), layers


def test_unrunnable_models_are_refused_with_the_reason() -> None:
    with pytest.raises(NotDeployable, match="unsupervised"):
        check_deployable(_small_model(unsupervised=True, inference="onepass")[0])
    with pytest.raises(NotDeployable, match="overlay sample"):
        check_deployable(_small_model(overlay="batch", inference="goodness")[0])
    with pytest.raises(NotDeployable, match="cosine"):
        check_deployable(_small_model(goodness="ff_v1", inference="goodness")[0])
    model, _ = _small_model(inference="goodness")
    model.params[0][0, 0] = np.nan
    with pytest.raises(NotDeployable, match="NaN"):
        check_deployable(model)


def test_a_model_that_loses_its_weights_in_q15_is_refused_with_the_errors() -> None:
    model, layers = _small_model(inference="goodness")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (40, 5))
    y = rng.integers(0, 3, 40)
    ok = quantise(model, layers, x, y, identity=layers[0].identity, name="ok")
    assert all(r.relative_error < 1e-3 for r in ok.layers)
    # one huge weight in the input segment: the others fall below its 16 bits
    model.params[1][0, -2] = 1e6
    with pytest.raises(NotDeployable, match=r"block 1's outputs by .* %.*calibration rows"):
        quantise(model, layers, x, y, identity=layers[0].identity, name="bad")


# ---- phyff adapt: the read-out refitted on the board (wire.h W-N1-N8) -------------------


def test_adapt_refits_the_read_out_on_the_board_and_it_persists(
        trained_run: tuple[Path, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    run, data, board = trained_run
    url = f"{board}&model_file={tmp_path / 'board.model'}"
    assert main(["deploy", str(run), "--board", url, "--dataset", data, "--check", "0"]) == 0
    labelled = _blobs_csv(tmp_path / "labelled.csv", seed=0)
    lines = labelled.read_text().splitlines()
    subset = tmp_path / "subset.csv"
    subset.write_text("\n".join(lines[:1] + lines[1::2]) + "\n")  # header + 120 rows
    capsys.readouterr()
    assert main(["adapt", str(subset), "--board", url, "--model", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == out["rows"] == 120
    assert sorted(out["per_class"].values()) == [30, 30, 30, 30]
    assert out["provenance"] == "refitted on the board from 120 samples"
    assert 0.0 <= out["accuracy_before"] <= 1.0 and out["accuracy_after"] >= 0.9
    # the board stored the refitted image: a new board on the same storage serves it
    with Board.open(url) as again:
        info = again.model_info()
        assert info is not None and f"0x{info.crc32:08x}" == out["crc32"]
        assert again.caps.model_crc == info.crc32
    # classify --model accepts the run's model with a refitted read-out
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(line.split(",")[:8]) for line in lines[1:4]) + "\n")
    assert main(["classify", str(rows), "--board", url, "--model", str(run), "--indices"]) == 0
    assert len(capsys.readouterr().out.split()) == 3
    # eval --on-device evaluates the refitted board, saying its scores cannot be checked
    assert main(["eval", str(run), "--board", url, "--dataset", data, "--on-device",
                 "--no-host", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["refit_samples"] == 120 and report["bit_exact"] is None
    assert report["on_device_accuracy"] >= 0.9
    # and adapt again on top of it (text output)
    assert main(["adapt", str(subset), "--board", url, "--model", str(run)]) == 0
    text = capsys.readouterr().out
    assert "learnt 120 samples" in text and "refitted on the board from 120 samples" in text
    assert "before" in text and "after" in text


def test_adapt_refuses_bad_rows_and_boards_that_cannot_learn(
        trained_run: tuple[Path, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    run, data, board = trained_run
    url = f"{board}&model_file={tmp_path / 'board.model'}"
    rows = tmp_path / "rows.csv"
    rows.write_text("0,0,0,0,0,0,0,0,1\n")
    assert main(["adapt", str(rows), "--board", url, "--scaled"]) == 2
    assert "holds no model" in capsys.readouterr().err
    assert main(["deploy", str(run), "--board", url, "--dataset", data, "--check", "0"]) == 0
    capsys.readouterr()
    # without --model the rows are scaled by the description the deployed image carries
    # (model.h M-D1-D5): the row is read, and one class alone is too few to refit
    assert main(["adapt", str(rows), "--board", url]) == 3
    assert "class 0 has no samples" in capsys.readouterr().err
    rows.write_text("0,0,0,0,0,0,0,0,9\n")
    assert main(["adapt", str(rows), "--board", url, "--model", str(run)]) == 2
    assert "label" in capsys.readouterr().err
    rows.write_text("0,0,0,0,0,0,0,0,cat\n")
    assert main(["adapt", str(rows), "--board", url, "--model", str(run)]) == 2
    assert "'cat'" in capsys.readouterr().err
    rows.write_text("\n".join("0,0,0,0,0,0,0,0,1" for _ in range(512)) + "\n")
    assert main(["adapt", str(rows), "--board", url, "--model", str(run)]) == 2
    assert "511" in capsys.readouterr().err
    # one class only: the board refuses the refit (TOO_FEW), the read-out stays
    before = Board.open(url)
    crc = before.caps.model_crc
    before.close()
    rows.write_text("0,0,0,0,0,0,0,0,1\n0.1,0,0,0,0,0,0,0,1\n")
    assert main(["adapt", str(rows), "--board", url, "--model", str(run)]) == 3
    assert "class 0 has no samples" in capsys.readouterr().err
    with Board.open(url) as after:
        assert after.caps.model_crc == crc
