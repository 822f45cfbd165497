"""Reliability, round 3: model files, on-device storage, sweeps and the cluster under
attack. Each test names the hostile input and checks the documented outcome: exit 2
(input) or 3 (board/link) with a message naming the file, value or address; nothing a
user owns overwritten or deleted; no hang; no silent wrong result."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from silent import silent_port
from test_emulator_servers import emulator

from phyff.board import Board
from phyff.board.link import BoardBusy, LinkError
from phyff.cli.main import main
from phyff.emulator.device import EmulatedDevice
from phyff.media import register_medium, unregister_medium
from phyff.media.optical import OpticalMedium
from phyff.phyll.model import load_model
from phyff.protocol import model_image

BOARD = "emu://acoustic?seed=4"


# ---- 1-3: the emulated board's model storage holds only model images ----------------


def _model_image() -> bytes:
    """A stored model as the board writes it (magic first)."""
    return model_image.MAGIC.to_bytes(4, "little") + bytes(96)


def test_model_file_refuses_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("\\documentclass{article}\n")
    with pytest.raises(ValueError, match=r"thesis\.tex.*not a phyff model image"):
        EmulatedDevice(f"{BOARD}&model_file={thesis}")
    assert thesis.read_text() == "\\documentclass{article}\n"


def test_model_file_swapped_for_a_user_file_is_neither_erased_nor_overwritten(
        tmp_path: Path) -> None:
    path = tmp_path / "board.model"
    device = EmulatedDevice(f"{BOARD}&model_file={path}")
    device.store_model(_model_image())
    assert path.read_bytes() == _model_image()
    path.write_text("my notes\n")  # replaced behind the board's back
    with pytest.raises(ValueError, match="not a phyff model image"):
        device.store_model(b"")
    with pytest.raises(ValueError, match="not a phyff model image"):
        device.store_model(_model_image())
    assert path.read_text() == "my notes\n"


def test_model_file_erase_over_the_link_keeps_a_user_file(tmp_path: Path) -> None:
    path = tmp_path / "board.model"
    with Board.open(f"{BOARD}&model_file={path}") as board:
        path.write_text("precious\n")
        with pytest.raises(Exception, match="not a phyff model image"):
            board.erase_model()
    assert path.read_text() == "precious\n"


def test_model_file_write_does_not_follow_a_planted_temporary_symlink(tmp_path: Path) -> None:
    path = tmp_path / "board.model"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    for pid in range(os.getpid() - 2, os.getpid() + 3):  # the names used to be predictable
        (tmp_path / f"board.model.tmp{pid}").symlink_to(victim)
    EmulatedDevice(f"{BOARD}&model_file={path}").store_model(_model_image())
    assert victim.read_text() == "keep me\n"
    assert path.read_bytes() == _model_image() and not path.is_symlink()


def test_model_file_failed_write_leaves_no_temporary_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "board.model"
    device = EmulatedDevice(f"{BOARD}&model_file={path}")
    device.store_model(_model_image())

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"board\.model"):
        device.store_model(_model_image() + b"\x01")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.model"]
    assert path.read_bytes() == _model_image()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_model_file_must_be_a_regular_file(tmp_path: Path, kind: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "store"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(main(["info", f"{BOARD}&model_file={path}"])),
        daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader so the test process can end
        if kind == "fifo":
            with open(path, "wb"):
                pass
        pytest.fail("phyff info blocked on a non-regular model_file")
    assert result == [2]
    err = capsys.readouterr().err
    assert "store" in err and "not a regular file" in err
    assert stat.S_ISFIFO(path.stat().st_mode) if kind == "fifo" else path.is_dir()


# ---- 12: a medium fault says what failed ----------------------------------------------


class _FailingMedium(OpticalMedium):
    """A plugin medium whose respond raises once the board serves it."""

    armed = False

    def respond(self, drive: np.ndarray) -> np.ndarray:
        if _FailingMedium.armed:
            raise RuntimeError("the laser driver is unplugged (plugin's own words)")
        return super().respond(drive)


def test_plugin_medium_exception_reaches_the_user(capsys: pytest.CaptureFixture[str]) -> None:
    register_medium("failing-test-medium", _FailingMedium)
    try:
        with Board.open("emu://failing-test-medium?seed=1&n_in=8&n_out=4") as board:
            _FailingMedium.armed = True
            with pytest.raises(LinkError, match="laser driver is unplugged") as info:
                board.query_float(np.zeros((2, 8)))
            assert "check the wiring" not in str(info.value)
    finally:
        _FailingMedium.armed = False
        unregister_medium("failing-test-medium")


def test_unwritable_model_file_is_reported_with_its_cause(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "board.model"
    path.write_bytes(_model_image())
    with Board.open(f"{BOARD}&model_file={path}") as board:
        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(os, "unlink", refuse)  # a read-only folder, also for root
        with pytest.raises(LinkError, match=r"PermissionError.*Permission denied") as info:
            board.erase_model()
        monkeypatch.undo()
        assert "check the wiring" not in str(info.value)
    assert path.read_bytes() == _model_image()


def test_emulate_logs_the_fault_cause(tmp_path: Path) -> None:
    path = tmp_path / "board.model"
    with emulator("--tcp", "127.0.0.1:0", "--url", f"{BOARD}&model_file={path}") as (proc, url):
        with Board.open(url, timeout=5) as board:
            path.write_text("precious\n")
            with pytest.raises(LinkError):
                board.erase_model()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "not a phyff model image" in err
    assert path.read_text() == "precious\n"


# ---- 14: an idle host does not hold the board forever ---------------------------------


def test_idle_tcp_client_yields_the_board_to_the_next_host() -> None:
    with emulator("--tcp", "127.0.0.1:0", "--idle-timeout", "1") as (_, url):
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        squatter = socket.create_connection((host, int(port)), timeout=5)
        try:
            time.sleep(0.3)
            with pytest.raises(BoardBusy):  # not idle long enough yet
                Board.open(url, timeout=2, retries=0).close()
            time.sleep(1.2)
            with Board.open(url, timeout=5) as board:
                assert board.caps.n_drive > 0
        finally:
            squatter.close()


# ---- 16: --tcp [::1]:0 -----------------------------------------------------------------


def test_emulate_on_an_ipv6_address() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("IPv6 loopback unavailable")
    with emulator("--tcp", "[::1]:0") as (_, url):
        assert url.startswith("socket://[::1]:")
        with Board.open(url, timeout=5) as board:
            assert board.caps.n_drive > 0


# ---- 5: URL option ranges are checked before anything is built ------------------------


@pytest.mark.parametrize("url, words", [
    ("emu://acoustic?seed=1&n_in=2000", ["n_in=2000", "1..1024"]),  # the board's limit
    ("emu://acoustic?seed=1&n_in=20000", ["n_in=20000", "1..1024"]),
    ("emu://circuit?seed=1&n_in=3000", ["n_in=3000", "1..1024"]),
    ("emu://optical?seed=1&n_out=100000", ["n_out=100000", "1..1024"]),
    ("emu://circuit?seed=1&n_in=500", ["n_in=500", "1..64"]),  # the medium's own
    ("emu://acoustic?seed=1&n_out=1000", ["n_out=1000", "1..256"]),
    ("emu://acoustic?seed=1&n_freq=100000000", ["n_freq=100000000", "1..64"]),
    ("emu://acoustic?seed=1&n_membranes=10000000", ["n_membranes=10000000", "1..256"]),
    ("emu://microwave?seed=1&n_env=10000000", ["n_env=10000000", "0..256"]),
    ("emu://optical?seed=1&n_out=4&n_cam=100000000", ["n_cam=100000000", "1..4096"]),
    ("emu://acoustic?seed=1&n_in=2.5", ["n_in=2.5", "whole number"]),
])
def test_url_sizes_are_refused_before_the_medium_is_built(
        url: str, words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    assert main(["info", url]) == 2
    assert time.monotonic() - t0 < 5
    err = capsys.readouterr().err
    for word in words:
        assert word in err


@pytest.mark.parametrize("medium, options, limit", [
    ("circuit", {"n_in": 3000}, "1..64"),
    ("acoustic", {"n_in": 2000}, "1..256"),
    ("microwave", {"n_out": 5000}, "1..128"),
])
def test_media_refuse_sizes_beyond_their_limit(medium: str, options: dict[str, int],
                                               limit: str) -> None:
    from phyff.media import make_medium

    t0 = time.monotonic()
    with pytest.raises(ValueError, match=limit):
        make_medium(medium, seed=1, **options)
    assert time.monotonic() - t0 < 5


# ---- model files: 7 zip bombs, 8 non-finite weights, 9 identity and shapes, 11, 16 -----

MODEL_BOARD = "emu://optical?seed=1&n_in=80&n_out=40&noise=0"


@pytest.fixture(scope="module")
def model_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("model") / "run"
    assert main(["train", "--board", MODEL_BOARD, "--dataset", "digits", "--epochs", "2",
                 "--no-progress", "--batch-size", "512", "--run", str(run)]) == 0
    return run / "model.npz"


def _parts(path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header_json"][()]))
        return header, {k: data[k] for k in data.files if k != "header_json"}


def _rewrite(src: Path, dst: Path, header: Any = None, header_text: str | None = None,
             **arrays: np.ndarray | None) -> Path:
    """A copy of a model file with its header or some arrays replaced (None: removed)."""
    old_header, old = _parts(src)
    text = header_text if header_text is not None else json.dumps(
        old_header if header is None else header)
    merged = {**old, **arrays}
    np.savez(dst, header_json=np.array(text), **{k: v for k, v in merged.items()
                                                 if v is not None})
    return dst


def _npy_member(zf: zipfile.ZipFile, name: str, shape: tuple[int, ...], data: bytes,
                compress: bool = False) -> None:
    """A .npy member whose header declares `shape` (float64), followed by `data`."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": shape})
    zf.writestr(zipfile.ZipInfo(f"{name}.npy"), head.getvalue() + data,
                compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)


def _eval(model: Path, *extra: str) -> int:
    return main(["eval", str(model), "--board", MODEL_BOARD, "--dataset", "digits", *extra])


def test_model_with_an_unused_bomb_member_is_read_without_it(
        model_npz: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "model.npz"
    bomb.write_bytes(model_npz.read_bytes())
    with zipfile.ZipFile(bomb, "a") as zf:
        _npy_member(zf, "junk", (64 << 20,), bytes(8 * (64 << 20)), compress=True)
        _npy_member(zf, "huge", (100000, 100000), b"")
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        model = load_model(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak / 1e6:.0f} MB allocated: the unused member was read"
    assert model.n_blocks == 2


@pytest.mark.parametrize("declared", [(100000, 100000), (80, 40, 10**9)])
def test_model_member_declaring_a_huge_shape_is_refused_by_name(
        model_npz: Path, tmp_path: Path, declared: tuple[int, ...],
        capsys: pytest.CaptureFixture[str]) -> None:
    header, arrays = _parts(model_npz)
    bad = tmp_path / "model.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("header_json.npy", _npy_bytes(np.array(json.dumps(header))))
        for name, arr in arrays.items():
            if name == "W0":
                _npy_member(zf, "W0", declared, arr.tobytes())
            else:
                zf.writestr(f"{name}.npy", _npy_bytes(arr))
    assert _eval(bad) == 2
    err = capsys.readouterr().err
    assert "model.npz" in err and "W0" in err and "MemoryError" not in err


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["readout", "xi0", "W1", "b0"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_model_with_non_finite_weights_is_refused(
        model_npz: Path, tmp_path: Path, name: str, value: float,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, arrays = _parts(model_npz)
    arr = arrays[name].copy()
    arr.flat[3] = value
    bad = _rewrite(model_npz, tmp_path / "model.npz", **{name: arr})
    assert _eval(bad) == 2
    err = capsys.readouterr().err
    assert name in err and "model.npz" in err and ("nan" in err.lower() or "inf" in err)
    with pytest.raises(ValueError, match=name):
        load_model(bad)


def test_model_without_board_identity_needs_force(model_npz: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    header, _ = _parts(model_npz)
    del header["metadata"]
    bare = _rewrite(model_npz, tmp_path / "model.npz", header=header)
    assert _eval(bare) == 2
    err = capsys.readouterr().err
    assert "board" in err and "--force" in err
    assert _eval(bare, "--force") == 0


@pytest.mark.parametrize("change", ["n_classes", "readout_rows", "d_out", "huge_width"])
def test_model_header_must_agree_with_its_arrays(model_npz: Path, tmp_path: Path, change: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    header, arrays = _parts(model_npz)
    extra: dict[str, np.ndarray] = {}
    if change == "n_classes":
        header["model"]["config"]["n_classes"] = 6  # the read-out has 10 columns
    elif change == "readout_rows":
        extra["readout"] = arrays["readout"][:-1]
    elif change == "d_out":
        extra["W1"] = arrays["W1"][:1]  # broadcasts into every row if not checked
        extra["b1"] = arrays["b1"][:1]
        extra["xi1"] = arrays["xi1"][:1]
    else:
        header["model"]["blocks"][0]["d_out"] = 10**12  # would allocate terabytes
    bad = _rewrite(model_npz, tmp_path / "model.npz", header=header, **extra)
    assert _eval(bad) == 2
    assert "model.npz" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["[1, 2, 3]", "42", '"model"', "null", "[" * 100000,
                                  '{"format": "phyff-model", "format_version": true}',
                                  '{"format": "phyff-model", "format_version": 1.0}'],
                         ids=["list", "number", "string", "null", "deep", "version-true",
                              "version-float"])
def test_model_header_that_is_not_a_phyff_header(model_npz: Path, tmp_path: Path, text: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = _rewrite(model_npz, tmp_path / "model.npz", header_text=text)
    assert _eval(bad) == 2
    err = capsys.readouterr().err
    assert "model.npz" in err and "bug in phyff" not in err


@pytest.mark.parametrize("kind", ["3-D", "complex", "1-D", "text"])
def test_model_weights_of_the_wrong_kind(model_npz: Path, tmp_path: Path, kind: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, arrays = _parts(model_npz)
    w0 = arrays["W0"]
    bad_w0 = {"3-D": w0[None, :, :], "complex": w0 + 1j * w0, "1-D": w0.ravel(),
              "text": w0.astype(str)}[kind]
    bad = _rewrite(model_npz, tmp_path / "model.npz", W0=bad_w0)
    assert _eval(bad) == 2
    err = capsys.readouterr().err
    assert "W0" in err and "model.npz" in err


# ---- 8: training that diverges stops and saves nothing as final ----------------------


def test_training_that_diverges_stops_with_exit_1(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    code = main(["train", "--board", MODEL_BOARD, "--dataset", "digits", "--epochs", "4",
                 "--no-progress", "--batch-size", "512", "--lr", "1e300", "--run", str(run)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "training diverged at epoch" in err and "--lr" in err
    assert not (run / "model.npz").exists()


# ---- 11/16: training settings of the wrong kind or size -------------------------------


@pytest.mark.parametrize("args, words", [
    (["--repeats", "100000"], ["repeats must be an integer in 1..100", "100000"]),
])
def test_train_settings_out_of_range(tmp_path: Path, args: list[str], words: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--board", MODEL_BOARD, "--dataset", "digits", "--no-progress",
                 "--run", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    for word in words:
        assert word in err


@pytest.mark.parametrize("setting, words", [
    ("epochs=1.5", ["epochs=1.5", "whole number"]),
    ("repeats=100000", ["repeats must be an integer in 1..100", "100000"]),
    ("batch_size=true", ["batch_size=True", "whole number"]),
])
def test_sweep_settings_of_the_wrong_kind_are_refused_before_running(
        tmp_path: Path, setting: str, words: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    code = main(["sweep", "--dataset", "digits", "--board", MODEL_BOARD, "--set", setting,
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    for word in words:
        assert word in err
    assert not (out / "results.jsonl").exists()


# ---- 6: a sweep's size is counted before anything is expanded -------------------------


@pytest.mark.parametrize("seeds, words", [(1000000, "1,000,000 seeds"),
                                          (1000, "1,000,000 runs")])
def test_absurd_sweep_is_refused_before_expansion(tmp_path: Path, seeds: int, words: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "huge.json"
    spec.write_text(json.dumps({
        "datasets": ["digits"], "boards": [MODEL_BOARD], "seeds": seeds,
        "grid": {"lr": [1e-4 * i for i in range(1, 11)],
                 "theta": [float(i) for i in range(1, 11)],
                 "inner_steps": list(range(1, 11))}}))
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        code = main(["sweep", str(spec), "--out", str(tmp_path / "out")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and "100,000" in err
    assert time.monotonic() - t0 < 10 and peak < 200 << 20


@pytest.mark.parametrize("seeds", [10**12, 2**63])
def test_sweep_seed_count_is_bounded(tmp_path: Path, seeds: int,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--dataset", "digits", "--board", MODEL_BOARD, "--seeds",
                 str(seeds), "--out", str(tmp_path / "out")]) == 2
    assert "100,000" in capsys.readouterr().err


# ---- 11/15: results.jsonl and metrics.jsonl read back ---------------------------------


@pytest.mark.parametrize("result, words", [
    ('{"test_acc": NaN}', ["test_acc", "nan"]),
    ('{"test_acc": 5.0}', ["test_acc", "5.0", "[0, 1]"]),
    ('{"test_acc": -0.1}', ["test_acc", "-0.1"]),
    ('{"test_acc": "high"}', ["test_acc", "high"]),
    ('{"test_acc": 0.5, "train_acc": Infinity}', ["train_acc"]),
    ('[' * 100000, ["nested too deeply"]),
    ('"just text"', ["object"]),
], ids=["nan", "five", "negative", "text", "train-inf", "deep", "string"])
def test_resumed_sweep_refuses_edited_results(tmp_path: Path, result: str, words: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    out.mkdir()
    line = (result if result.startswith("[") else
            f'{{"key": "k1", "label": "x", "result": {result}}}')
    (out / "results.jsonl").write_text('{"key": "k0", "label": "x", "result": '
                                       '{"test_acc": 0.5}}\n' + line + "\n")
    code = main(["sweep", "--dataset", "digits", "--board", MODEL_BOARD, "--set", "epochs=2",
                 "--out", str(out), "--resume"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "results.jsonl" in err and "line 2" in err
    for word in words:
        assert word in err


def test_report_on_deeply_nested_metrics(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"epoch": 1, "test_acc": 0.5}\n' + "[" * 100000 + "\n")
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "metrics.jsonl" in err and "nested too deeply" in err


# ---- 15: writes that fail leave the previous file and name the path -------------------


def test_sweep_outputs_survive_a_full_disk(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from phyff.compare.sweep import ConfigScore, parse_spec, write_outputs

    spec = parse_spec({"datasets": ["digits"], "boards": [MODEL_BOARD]})
    scores = [ConfigScore("digits", MODEL_BOARD, 0, {}, [0.5, 0.6], [0.7], 1.0)]
    out = tmp_path / "sweep"
    write_outputs(spec, scores, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        write_outputs(spec, [ConfigScore("digits", MODEL_BOARD, 0, {}, [0.9], [], 1.0)], out)
    monkeypatch.undo()
    assert info.value.filename is not None and str(out) in info.value.filename
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no 0-byte best.json


def test_train_on_a_full_disk_names_the_path_and_leaves_no_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    code = main(["train", "--board", MODEL_BOARD, "--dataset", "digits", "--epochs", "2",
                 "--no-progress", "--batch-size", "512", "--run", str(run)])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 2, err
    assert "disk is full" in err and str(run) in err
    assert not (run / ".lock").exists()
    assert not list(run.glob(".*.tmp"))


# ---- 4/11: --scheduler at something that is not a Dask scheduler ---------------------


@pytest.fixture()
def silent_listener() -> Any:
    """A TCP port that accepts connections and never says a word."""
    with silent_port() as port:
        yield f"tcp://127.0.0.1:{port}"


@pytest.fixture()
def http_server() -> Any:
    import http.server

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.SimpleHTTPRequestHandler)
    worker = threading.Thread(target=server.serve_forever, daemon=True)
    worker.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _sweep_on(scheduler: str, out: Path) -> int:
    return main(["sweep", "--dataset", "digits", "--board", MODEL_BOARD, "--set", "epochs=2",
                 "--scheduler", scheduler, "--out", str(out)])


def test_scheduler_that_never_answers_is_given_up_on_time(
        silent_listener: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from phyff.compare import distributed

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1.0)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(
        _sweep_on(silent_listener, tmp_path / "out")), daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(30)
    assert result, "still waiting for the scheduler after 30 s"
    assert result == [3] and time.monotonic() - t0 < 15
    err = capsys.readouterr().err
    assert silent_listener in err and "did not answer" in err


def test_scheduler_address_of_an_http_server(http_server: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from phyff.compare import distributed

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1.0)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(
        _sweep_on(http_server, tmp_path / "out")), daemon=True)
    worker.start()
    worker.join(30)
    assert result == [3]
    err = capsys.readouterr().err
    assert http_server in err and "Traceback" not in err and "allocate" not in err


# ---- 7: dataset npz bombs --------------------------------------------------------------


def test_dataset_npz_with_an_unused_bomb_member(tmp_path: Path) -> None:
    from phyff.datasets import load_dataset

    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", _npy_bytes(rng.random((60, 4))))
        zf.writestr("y.npy", _npy_bytes(np.arange(60) % 3))
        _npy_member(zf, "junk", (64 << 20,), bytes(8 * (64 << 20)), compress=True)
        _npy_member(zf, "huge", (100000, 100000), b"")
    tracemalloc.start()
    try:
        data = load_dataset(f"npz:{path}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20 and data.n_classes == 3


def test_dataset_npz_member_declaring_a_huge_shape(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w") as zf:
        _npy_member(zf, "x", (100000, 100000), b"")
        zf.writestr("y.npy", _npy_bytes(np.arange(60) % 3))
    assert main(["train", "--board", MODEL_BOARD, "--dataset", f"npz:{path}", "--run",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "data.npz" in err and "MemoryError" not in err


def test_dataset_npz_whose_x_is_a_zip_bomb(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.npz"
    n = 20 << 20  # 160 MB of zeros in well under 1 MB
    with zipfile.ZipFile(path, "w") as zf:
        _npy_member(zf, "x", (n // 4, 4), bytes(8 * n), compress=True)
        _npy_member(zf, "y", (n // 4,), bytes(2 * n), compress=True)
    assert path.stat().st_size < 8 << 20
    tracemalloc.start()
    try:
        code = main(["train", "--board", MODEL_BOARD, "--dataset", f"npz:{path}", "--run",
                     str(tmp_path / "run")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2 and peak < 200 << 20
    assert "zip bomb" in capsys.readouterr().err


# ---- fresh attack: fuzzers over the same surfaces (seconds each) ----------------------

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def model_bytes(model_npz: Path) -> bytes:
    return model_npz.read_bytes()


def _load_or_refuse(path: Path) -> None:
    """load_model either returns a usable model or raises ValueError: nothing else."""
    try:
        model = load_model(path)
    except ValueError:
        return
    for k in range(model.n_blocks):
        assert np.isfinite(model.params[k]).all() and np.isfinite(model.xis[k]).all()
    assert model.readout is None or np.isfinite(model.readout).all()


@FUZZ
@given(data=st.data())
def test_fuzz_damaged_model_files_are_refused_or_sound(model_bytes: bytes, tmp_path: Path,
                                                       data: st.DataObject) -> None:
    raw = bytearray(model_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(raw) // 2, len(raw)))
    path = tmp_path / "model.npz"
    path.write_bytes(bytes(raw[:cut]))
    _load_or_refuse(path)


@FUZZ
@given(data=st.data())
def test_fuzz_model_headers_are_refused_or_sound(model_npz: Path, tmp_path: Path,
                                                 data: st.DataObject) -> None:
    header, _ = _parts(model_npz)
    section = data.draw(st.sampled_from(["config", "blocks", "metadata", "top"]))
    value = data.draw(JSON)
    if section == "top":
        header[data.draw(st.sampled_from(["model", "metadata", "format_version"]))] = value
    elif section == "blocks":
        block = header["model"]["blocks"][data.draw(st.integers(0, 1))]
        block[data.draw(st.sampled_from(sorted(block)))] = value
    elif section == "config":
        config = header["model"]["config"]
        config[data.draw(st.sampled_from(sorted(config)))] = value
    else:
        header["metadata"] = value
    _load_or_refuse(_rewrite(model_npz, tmp_path / "model.npz", header=header))


@FUZZ
@given(record=JSON)
def test_fuzz_results_lines_are_refused_or_sound(tmp_path: Path, record: Any) -> None:
    from phyff.compare.rawio import ResultStore

    out = tmp_path / "store"
    out.mkdir(exist_ok=True)
    line = json.dumps({"key": "k", "label": "x", "result": record})
    (out / "results.jsonl").write_text(line + "\n")
    try:
        done = ResultStore(out, resume=True).done
    except ValueError as exc:
        assert "results.jsonl line 1" in str(exc)
        return
    for result in done.values():
        for name in ("test_acc", "train_acc"):
            value = result.get(name)
            assert value is None or 0.0 <= value <= 1.0


@FUZZ
@given(text=st.text(alphabet="[]:0123456789abcdef.x-", max_size=24))
def test_fuzz_tcp_addresses(text: str) -> None:
    import argparse

    from phyff.cli.boards import tcp_address

    try:
        host, port = tcp_address(text)
    except argparse.ArgumentTypeError:
        return
    assert 0 <= port <= 65535 and host and "[" not in host and "]" not in host


@FUZZ
@given(medium=st.sampled_from(["acoustic", "optical", "microwave", "circuit"]),
       key=st.sampled_from(["n_in", "n_out", "n_freq", "n_membranes", "n_env", "n_cam"]),
       value=st.one_of(st.integers(-10, 10**12), st.floats(allow_nan=True),
                       st.sampled_from(["x", "true", ""])))
def test_fuzz_medium_sizes_are_refused_fast(medium: str, key: str, value: Any) -> None:
    """A size outside the medium's limits is refused at once; one inside is not refused by
    the size check (building it is left out: a valid circuit of 64 nodes takes seconds)."""
    from phyff.media import BUILTIN, make_medium

    cls = BUILTIN[medium]
    limits = cls.size_limits
    inside = (key in limits and not isinstance(value, bool) and isinstance(value, int)
              and limits[key][0] <= value <= limits[key][1])
    if inside:
        cls._check_sizes(**{key: value})
        return
    t0 = time.monotonic()
    with pytest.raises((ValueError, TypeError)):
        make_medium(medium, seed=1, **{key: value})
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("metadata", [
    5, {"layers": 5}, {"layers": [5]}, {"layers": [{"caps": 5}]},
    {"layers": [{"config": {"settle_us": "x"}}]}, {"layers": [{"config": {}}]},
], ids=["number", "layers-int", "layers-of-int", "caps-int", "config-text", "config-empty"])
def test_model_metadata_of_the_wrong_kind_is_refused_on_load(
        model_npz: Path, tmp_path: Path, metadata: Any) -> None:
    header, _ = _parts(model_npz)
    header["metadata"] = metadata
    bad = _rewrite(model_npz, tmp_path / "model.npz", header=header)
    with pytest.raises(ValueError, match=r"model\.npz.*metadata"):
        load_model(bad)


def test_eval_of_a_model_whose_dataset_record_is_not_phyffs(
        model_npz: Path, tmp_path: Path) -> None:
    header, _ = _parts(model_npz)
    header["metadata"]["dataset"] = "toy"  # caller metadata (save_model) may say anything
    other = _rewrite(model_npz, tmp_path / "model.npz", header=header)
    assert _eval(other) == 0


@pytest.mark.parametrize("name, text", [("deep.json", "[" * 100000),
                                        ("deep.toml", "a = " + "[" * 100000)])
def test_deeply_nested_sweep_file(tmp_path: Path, name: str, text: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert name in err and "bug in phyff" not in err


@pytest.mark.parametrize("value", ["NaN", '"x"', "5.0", "-1", "true"])
def test_report_refuses_edited_accuracies(tmp_path: Path, value: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        f'{{"epoch": 1, "loss": 1.0, "separation": 0.1, "train_acc": 0.5, "test_acc": {value}}}'
        "\n")
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "metrics.jsonl line 1" in err and "test_acc" in err
