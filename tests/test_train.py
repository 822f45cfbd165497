"""Tests of the training loop: learning, metrics, checkpoints, resume, files, report."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import phyff.phyll.schedule as schedule_module
import phyff.training.session as train_module
from phyff.phyll.model import load_model
from phyff.phyll.standin import StandInLayer, SyntheticData, synthetic_vowels
from phyff.training.checkpoint import load_checkpoint
from phyff.training.goodnessfile import read_goodness_file
from phyff.training.plots import make_report
from phyff.training.session import TrainConfig, TrainingInterrupted, train

N_TRAIN = 84


def easy_data(seed: int = 0) -> SyntheticData:
    """Well-separated clusters: any working trainer should classify them."""
    return synthetic_vowels(seed, n_train=N_TRAIN, n_test=42, spread=0.15)


def layers(n: int = 2, n_in: int = 20) -> list[StandInLayer]:
    return [StandInLayer(n_in, 20, seed=k + 1) for k in range(n)]


def quick(**overrides: Any) -> TrainConfig:
    """The paper's schedule and inference, evaluated every epoch (tests/test_budget.py has
    the query-frugal defaults)."""
    settings: dict[str, Any] = {"epochs": 6, "lr": 5e-3, "schedule": "simultaneous",
                                "inference": "goodness", "eval_every": 1}
    settings.update(overrides)
    return TrainConfig.from_preset("acoustic", **settings)


def read_lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_reaches_high_accuracy_on_a_separable_task(tmp_path: Path) -> None:
    result = train(quick(epochs=60), layers(), easy_data(), tmp_path, progress=False)
    assert result.test_acc >= 0.9 and result.train_acc >= 0.9
    first, last = result.history[0], result.history[-1]
    assert last["loss"] < first["loss"] and last["separation"] > first["separation"]


def test_metrics_count_queries_and_work_per_epoch(tmp_path: Path) -> None:
    train(quick(epochs=3), layers(), easy_data(), tmp_path, progress=False)
    lines = read_lines(tmp_path)
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    for r in lines:
        assert r["queries"] == 2 * N_TRAIN * 2 and r["measure_calls"] == 2  # one per block
        assert r["eval_queries"] == 7 * (N_TRAIN + 42) * 2
        assert r["macs"] > 0 and r["digital_s"] > 0 and r["physical_s"] > 0
        assert 0 <= r["train_acc"] <= 1 and len(r["loss_blocks"]) == 2
    assert lines[-1]["total_queries"] == 3 * (2 * N_TRAIN * 2 + 7 * (N_TRAIN + 42) * 2)


def test_minibatches_and_eval_every(tmp_path: Path) -> None:
    config = quick(epochs=4, batch_size=32, eval_every=3)
    result = train(config, layers(), easy_data(), tmp_path, progress=False)
    lines = read_lines(tmp_path)
    assert [r["measure_calls"] for r in lines] == [2 * 3] * 4  # 32 + 32 + 20 rows
    assert [r["train_acc"] is not None for r in lines] == [False, False, True, True]
    assert result.epochs == 4


def test_negatives_are_wrong_and_redrawn_every_epoch(tmp_path: Path, monkeypatch: Any) -> None:
    drawn: list[np.ndarray] = []
    original = schedule_module.wrong_labels

    def recording(labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
        out = original(labels, n_classes, rng)
        drawn.append(out)
        return out

    monkeypatch.setattr(schedule_module, "wrong_labels", recording)
    drives: list[np.ndarray] = []
    first = StandInLayer(20, 20, seed=1)
    measure = first.measure

    def spy(drive: np.ndarray) -> np.ndarray:
        drives.append(drive.copy())
        return measure(drive)

    first.measure = spy  # type: ignore[method-assign]
    data = easy_data()
    train(quick(epochs=3), [first, StandInLayer(seed=2)], data, tmp_path, progress=False)
    assert len(drawn) == 3
    for neg in drawn:
        assert (neg != data.y_train).all()
    assert not np.array_equal(drawn[0], drawn[1]) and not np.array_equal(drawn[1], drawn[2])
    training = [d for d in drives if len(d) == 2 * N_TRAIN]
    assert len(training) == 3
    for d in training:  # the label slot is the only non-zero one among the first 7 entries
        pos, neg = d[:N_TRAIN, :7].argmax(1), d[N_TRAIN:, :7].argmax(1)
        assert (pos != neg).all()
        np.testing.assert_array_equal(np.sort(pos), np.sort(data.y_train))


def test_resumed_run_ends_with_exactly_the_same_weights(tmp_path: Path) -> None:
    config = quick(epochs=6)
    full = train(config, layers(), easy_data(), tmp_path / "full", progress=False)

    def crash(record: dict[str, Any]) -> None:
        if record["epoch"] == 3:
            raise RuntimeError("power cut")

    run = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="power cut"):
        train(config, layers(), easy_data(), run, progress=False, on_epoch=crash)
    assert load_checkpoint(run / "checkpoint.npz").epoch == 3
    with open(run / "metrics.jsonl", "a") as handle:  # a line the checkpoint never saw
        handle.write(json.dumps({"epoch": 4, "loss": 0.0}) + "\n")
    resumed = train(config, layers(), easy_data(), run, resume=True, progress=False)
    for k in range(2):
        assert np.array_equal(resumed.model.params[k], full.model.params[k])
        assert np.array_equal(resumed.model.adams[k].m, full.model.adams[k].m)
        assert np.array_equal(resumed.model.adams[k].v, full.model.adams[k].v)
    assert [r["epoch"] for r in read_lines(run)] == [1, 2, 3, 4, 5, 6]
    assert resumed.test_acc == full.test_acc
    totals = [read_lines(d)[-1]["total_queries"] for d in (run, tmp_path / "full")]
    assert totals[0] == totals[1]


def test_ctrl_c_stops_cleanly_and_can_be_resumed(tmp_path: Path) -> None:
    def interrupt(record: dict[str, Any]) -> None:
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    config = quick(epochs=4)
    stopped = "stopped at epoch 2; resume with --resume"
    with pytest.raises(TrainingInterrupted, match=stopped) as info:
        train(config, layers(), easy_data(), tmp_path, progress=False, on_epoch=interrupt)
    assert info.value.epoch == 2 and isinstance(info.value, KeyboardInterrupt)
    assert [r["epoch"] for r in read_lines(tmp_path)] == [1, 2]
    assert not (tmp_path / "model.npz").exists()
    result = train(config, layers(), easy_data(), tmp_path, resume=True, progress=False)
    assert result.epochs == 4 and (tmp_path / "model.npz").is_file()


def test_ctrl_c_while_saving_waits_for_the_checkpoint(tmp_path: Path, monkeypatch: Any) -> None:
    original = train_module.save_checkpoint

    def save_then_signal(*args: Any, **kwargs: Any) -> Path:
        if kwargs["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of saving
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_signal)
    with pytest.raises(TrainingInterrupted) as info:
        train(quick(epochs=4), layers(), easy_data(), tmp_path, progress=False)
    assert info.value.epoch == 2 and load_checkpoint(tmp_path / "checkpoint.npz").epoch == 2
    assert [r["epoch"] for r in read_lines(tmp_path)] == [1, 2]


def test_resume_at_an_epoch_without_evaluation_still_reports_accuracy(tmp_path: Path) -> None:
    def stop(record: dict[str, Any]) -> None:
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(quick(epochs=10, eval_every=5), layers(), easy_data(), tmp_path, progress=False,
              on_epoch=stop)
    result = train(quick(epochs=3, eval_every=5), layers(), easy_data(), tmp_path, resume=True,
                   progress=False)
    assert result.history[-1]["train_acc"] is None and 0 <= result.test_acc <= 1


def test_resume_guards(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(quick(), layers(), easy_data(), tmp_path, resume=True, progress=False)
    train(quick(epochs=2), layers(), easy_data(), tmp_path, progress=False)
    with pytest.raises(ValueError, match="already holds run files"):
        train(quick(epochs=2), layers(), easy_data(), tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"changed: \['lr'\]"):
        train(quick(epochs=3, lr=1e-3), layers(), easy_data(), tmp_path, resume=True,
              progress=False)
    with pytest.raises(ValueError, match="fingerprint mismatch"):
        train(quick(epochs=3), layers(), easy_data(seed=5), tmp_path, resume=True,
              progress=False)
    longer = train(quick(epochs=3), layers(), easy_data(), tmp_path, resume=True, progress=False)
    assert longer.epochs == 3 and len(longer.history) == 3


def test_run_directory_files(tmp_path: Path) -> None:
    data = easy_data()
    result = train(quick(epochs=3), layers(), data, tmp_path, progress=False)
    model = load_model(tmp_path / "model.npz")
    meta = model.metadata
    assert meta["layers"][0]["board"] == "stand-in" and meta["dataset"]["name"] == "synthetic"
    assert len(meta["dataset"]["fingerprint"]) == 16 and "numpy" in meta["versions"]
    assert meta["train_config"]["epochs"] == 3
    np.testing.assert_array_equal(model.predict(layers(), data.x_test),
                                  result.model.predict(layers(), data.x_test))
    header, arrays = read_goodness_file(tmp_path / "goodness.npz")
    assert header["kind"] == "supervised" and arrays["confusion"].sum() == 42
    assert np.trace(arrays["confusion"]) / 42 == pytest.approx(result.test_acc)
    assert arrays["pos"].shape == arrays["neg"].shape == (42,)
    assert TrainConfig.from_json((tmp_path / "config.json").read_text()) == quick(epochs=3)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_digital_only_training_makes_no_device_queries(tmp_path: Path) -> None:
    result = train(quick(epochs=20, physical=False), layers(), easy_data(), tmp_path,
                   progress=False)
    assert all(r["queries"] == 0 and r["eval_queries"] == 0 for r in result.history)
    assert result.test_acc >= 0.8


def test_microwave_preset_with_binary_drive(tmp_path: Path) -> None:
    config = TrainConfig.from_preset("microwave", epochs=3)
    assert config.n_blocks == 3 and config.model.encoders == ("binary2",) * 3
    result = train(config, layers(3, n_in=40), easy_data(), tmp_path, progress=False)
    assert result.model.params[0].shape == (20, 20 + 20 + 1)


def test_unsupervised_training_beats_chance(tmp_path: Path) -> None:
    config = quick(epochs=30, unsupervised=True)
    result = train(config, layers(), easy_data(), tmp_path, progress=False)
    assert result.test_acc > 0.6  # chance is 1/7
    header, arrays = read_goodness_file(tmp_path / "goodness.npz")
    assert header["kind"] == "unsupervised" and arrays["pos"].mean() > arrays["neg"].mean()
    assert load_model(tmp_path / "model.npz").readout is not None


def test_config_json_and_presets() -> None:
    config = TrainConfig.from_preset("optical", encoder=["phase", "clip"])
    assert config.to_dict()["model"]["encoders"] == ["phase", "clip"]
    assert TrainConfig.from_json(config.to_json()) == config
    m = config.model
    assert (m.lr, m.inner_steps, m.theta, m.skip) == (5e-5, 20, 5.0, False)
    acoustic = TrainConfig()
    assert (acoustic.model.lr, acoustic.model.inner_steps, acoustic.epochs,
            acoustic.batch_size) == (5e-4, 10, 200, None)
    assert TrainConfig.from_preset("microwave").model.lr == 2.5e-4
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.from_dict({"learning_rate": 1.0})
    with pytest.raises(ValueError, match="give one encoder per block"):
        TrainConfig.from_preset("optical", encoder=["phase", "clip"], n_blocks=3)


def test_config_reads_the_older_flat_form() -> None:
    """config.json and checkpoints written before the model settings were nested."""
    old = {"preset": "microwave", "n_blocks": 3, "encoder": "binary2", "lr": 2.5e-4,
           "beta1": 0.8, "beta2": 0.99, "epochs": 100, "batch_size": None, "eval_every": 1,
           "seed": 4}
    config = TrainConfig.from_dict(old)
    assert config.model.encoders == ("binary2",) * 3 and config.model.betas == (0.8, 0.99)
    assert (config.seed, config.epochs) == (4, 100)


def test_report_draws_pngs_and_rejects_non_runs(tmp_path: Path) -> None:
    train(quick(epochs=2), layers(), easy_data(), tmp_path / "run", progress=False)
    paths = make_report(tmp_path / "run")
    assert [p.name for p in paths] == ["curves.png", "confusion.png", "goodness.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    with pytest.raises(ValueError, match="not a phyff run directory"):
        make_report(tmp_path)


def test_bad_data_is_rejected_before_training(tmp_path: Path) -> None:
    data = easy_data()
    data.x_train = data.x_train.copy()
    data.x_train[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        train(quick(), layers(), data, tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()  # nothing written for a run that cannot start
    data = easy_data()
    data.y_test = data.y_test + 7
    with pytest.raises(ValueError, match="labels must lie"):
        train(quick(), layers(), data, tmp_path / "b", progress=False)


class Identified(StandInLayer):
    """A stand-in layer that claims to be a particular board."""

    def __init__(self, unit_id: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.identity = {"caps": {"board": "emu", "medium": "acoustic", "unit_id": unit_id,
                                  "n_drive": 20, "n_sense": 20, "dac_bits": 12,
                                  "adc_bits": 12, "level": 1}}


def test_resume_refuses_another_board(tmp_path: Path) -> None:
    board1 = [Identified(1, seed=1), Identified(1, seed=2)]
    train(quick(epochs=2), board1, easy_data(), tmp_path, progress=False)
    board2 = [Identified(2, seed=1), Identified(2, seed=2)]
    with pytest.raises(ValueError, match="unit_id: model 1, board 2"):
        train(quick(epochs=3), board2, easy_data(), tmp_path, resume=True, progress=False)
    assert len(load_checkpoint(tmp_path / "checkpoint.npz").model.params) == 2


def test_nothing_a_previous_run_left_is_overwritten(tmp_path: Path) -> None:
    only_model = tmp_path / "kept"
    only_model.mkdir()
    (only_model / "model.npz").write_bytes(b"precious")
    with pytest.raises(ValueError, match=r"model.npz.*--overwrite"):
        train(quick(epochs=1), layers(), easy_data(), only_model, progress=False)
    assert (only_model / "model.npz").read_bytes() == b"precious"
    (only_model / "notes.txt").write_text("mine")
    train(quick(epochs=1), layers(), easy_data(), only_model, overwrite=True, progress=False)
    assert (only_model / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="choose one"):
        train(quick(epochs=1), layers(), easy_data(), only_model, resume=True, overwrite=True)


@pytest.mark.parametrize("bad", ["", "."])
def test_an_empty_run_name_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="run directory name is empty"):
        train(quick(epochs=1), layers(), easy_data(), bad, progress=False)


def test_a_file_as_run_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        train(quick(epochs=1), layers(), easy_data(), target, progress=False)


def test_a_locked_run_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    from phyff.training.runfiles import RunInUse, run_lock

    tmp_path.mkdir(exist_ok=True)
    with run_lock(tmp_path), pytest.raises(RunInUse, match=f"pid {os.getpid()}"):
        train(quick(epochs=1), layers(), easy_data(), tmp_path, progress=False)
    assert not (tmp_path / "metrics.jsonl").exists()


def test_resume_removes_temporaries_of_a_killed_save(tmp_path: Path) -> None:
    train(quick(epochs=2), layers(), easy_data(), tmp_path, progress=False)
    stale = tmp_path / ".checkpoint.npz.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    train(quick(epochs=3), layers(), easy_data(), tmp_path, resume=True, progress=False)
    assert not stale.exists()


def test_resume_after_metrics_were_deleted(tmp_path: Path) -> None:
    train(quick(epochs=2), layers(), easy_data(), tmp_path, progress=False)
    (tmp_path / "metrics.jsonl").unlink()
    result = train(quick(epochs=2), layers(), easy_data(), tmp_path, resume=True, progress=False)
    assert result.epochs == 2 and 0 <= result.test_acc <= 1


def test_run_files_share_the_umask_permissions(tmp_path: Path) -> None:
    train(quick(epochs=1), layers(), easy_data(), tmp_path, progress=False)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()
             if not p.name.startswith(".")}
    assert len(set(modes.values())) == 1, modes
