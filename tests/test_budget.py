"""The query budget: layer-wise cached schedule, one-pass inference, --max-queries, costs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phyff.board.cost import (
    BoardFacts,
    LinkModel,
    MeasuredRate,
    project,
    reply_bytes,
    request_bytes,
)
from phyff.cli.common import EXIT_OK, EXIT_USAGE
from phyff.cli.main import main
from phyff.phyll.model import MODEL_FORMAT, MODEL_FORMAT_VERSION, Model, PhysicalLayer, load_model
from phyff.phyll.npzio import read_npz, write_npz_atomic
from phyff.phyll.schedule import SCHEDULES, EpochStats, Schedule, make_schedule
from phyff.phyll.standin import StandInLayer, SyntheticData, synthetic_vowels
from phyff.training.config import TrainConfig
from phyff.training.goodnessfile import read_goodness_file, write_goodness_file
from phyff.training.session import train

N, C, K = 42, 7, 2
BOARD = "emu://acoustic?seed=1"


def data() -> SyntheticData:
    return synthetic_vowels(0, n_train=N, n_test=21, spread=0.15)


def layers() -> list[StandInLayer]:
    return [StandInLayer(20, 20, seed=k + 1) for k in range(K)]


def frugal(**overrides: Any) -> TrainConfig:
    settings: dict[str, Any] = {"epochs": 20, "lr": 5e-3, "schedule": "layerwise",
                                "inference": "onepass"}
    settings.update(overrides)
    return TrainConfig.from_preset("acoustic", **settings)


def lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(t) for t in (run / "metrics.jsonl").read_text().splitlines()]


# ---- the layer-wise schedule ----------------------------------------------------

@pytest.mark.parametrize("inference, rows", [("goodness", C), ("onepass", C + 1)])
def test_each_block_is_measured_once_in_one_call(tmp_path: Path, inference: str,
                                                 rows: int) -> None:
    result = train(frugal(inference=inference), layers(), data(), tmp_path, progress=False)
    hist = result.history
    measured = [r for r in hist if r["queries"]]
    # Block 0 at epoch 1, block 1 at epoch 11: N x rows each, in one measure() call.
    assert [r["epoch"] for r in measured] == [1, 11]
    assert all(r["queries"] == N * rows and r["measure_calls"] == 1 for r in measured)
    assert [r["block"] for r in hist] == [0] * 10 + [1] * 10
    assert result.train_queries == K * N * rows
    # Evaluation: only the final one, on the test set (train accuracy from the cache).
    per_sample = K if inference == "onepass" else C * K
    assert result.eval_queries == 21 * per_sample
    assert hist[-1]["cached_train_acc"] == result.train_acc
    assert result.test_acc >= 0.8 and result.train_acc >= 0.8
    assert hist[0]["loss_blocks"][1] is None and hist[-1]["loss_blocks"][0] is None
    _, arrays = read_goodness_file(tmp_path / "goodness.npz")  # by the model's own inference
    assert np.trace(arrays["confusion"]) / 21 == pytest.approx(result.test_acc)


def test_the_goodness_file_predicts_with_the_models_own_inference(tmp_path: Path) -> None:
    model = train(frugal(epochs=2), layers(), data(), tmp_path, progress=False).model
    assert model.readout is not None
    model.readout = np.zeros_like(model.readout)
    model.readout[-1, 3] = 1.0  # a read-out that always answers class 3
    write_goodness_file(tmp_path / "g.npz", model, layers(), data().x_test, data().y_test)
    _, arrays = read_goodness_file(tmp_path / "g.npz")
    assert (arrays["pred"] == 3).all() and arrays["confusion"][:, 3].sum() == 21
    assert arrays["table"].shape == (K, 21, C)  # the goodness itself is still all there


@pytest.mark.parametrize("inference", ["goodness", "onepass"])
def test_cached_negatives_measure_w_plus_one_overlays(tmp_path: Path, inference: str) -> None:
    rows = 1 + 2 + (inference == "onepass")
    cfg = frugal(inference=inference, cache_negatives=2)
    result = train(cfg, layers(), data(), tmp_path, progress=False)
    assert [r["queries"] for r in result.history if r["queries"]] == [N * rows] * K
    assert result.train_queries == K * N * rows
    assert result.test_acc >= 0.8
    from phyff.phyll.schedule import LayerWise

    schedule = LayerWise(20, negatives=2)
    y = data().y_train
    labels = schedule.row_labels(result.model, y)
    assert labels.shape == (rows, N)
    assert np.array_equal(labels[0], y)  # row 0: the true label
    wrong = labels[1:3]
    assert (wrong != y).all() and (wrong[0] != wrong[1]).all()  # two distinct wrong labels
    assert np.array_equal(labels, schedule.row_labels(result.model, y))  # drawn once, seeded
    if inference == "onepass":
        assert (labels[-1] == -1).all()


def test_cached_negatives_resume_with_their_labels(tmp_path: Path) -> None:
    cfg = frugal(inference="goodness", cache_negatives=1, max_queries=2 * N + 10)
    stopped = train(cfg, layers(), data(), tmp_path, progress=False)
    assert stopped.epochs == 10 and stopped.train_queries == 2 * N
    done = train(cfg.with_changes(max_queries=None), layers(), data(), tmp_path, resume=True,
                 progress=False)
    whole = train(cfg.with_changes(max_queries=None), layers(), data(), tmp_path / "w",
                  progress=False)
    assert done.train_queries == whole.train_queries == 2 * 2 * N
    for a, b in zip(done.model.params, whole.model.params, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_cached_negatives_must_be_a_positive_count(value: Any) -> None:
    with pytest.raises(ValueError, match="cache_negatives"):
        frugal(cache_negatives=value)


def test_remeasure_and_repeats_multiply_the_queries(tmp_path: Path) -> None:
    cfg = frugal(epochs=6, remeasure=2, repeats=3, repeat_mode="augment", inference="goodness")
    result = train(cfg, layers(), data(), tmp_path, progress=False)
    # Epochs 1-3 block 0 (measured at 1 and 3), 4-6 block 1 (measured at 4, and at 6
    # together with block 0's cache, so its inputs follow the medium).
    one = 3 * N * C
    assert [r["queries"] for r in result.history] == [one, 0, one, one, 0, 2 * one]
    mean = train(cfg.with_changes(repeat_mode="mean"), layers(), data(), tmp_path / "m",
                 progress=False)
    assert mean.train_queries == result.train_queries


def test_subset_evaluation_costs_only_the_subset(tmp_path: Path) -> None:
    cfg = frugal(epochs=4, eval_subset=5, inference="goodness")
    result = train(cfg, layers(), data(), tmp_path, progress=False)
    between = result.history[:-1]
    assert all(r["subset_acc"] is not None and r["eval_queries"] == 5 * C * K
               for r in between)
    assert result.history[-1]["subset_acc"] is None  # the full evaluation instead


# ---- one-pass inference ---------------------------------------------------------

def test_model_file_records_inference_and_both_can_be_asked(tmp_path: Path) -> None:
    d = data()
    result = train(frugal(), layers(), d, tmp_path, progress=False)
    model = load_model(tmp_path / "model.npz")
    assert model.config.inference == "onepass" and model.readout is not None
    assert model.metadata["queries"] == {"training": result.train_queries,
                                         "evaluation": result.eval_queries,
                                         "max_queries": None, "stopped": None}
    before = model.meter.copy()
    one = model.predict(layers(), d.x_test)
    assert model.meter.since(before).queries == len(d.x_test) * K
    assert np.mean(one == d.y_test) == result.test_acc
    before = model.meter.copy()
    good = model.predict(layers(), d.x_test, "goodness")
    assert model.meter.since(before).queries == len(d.x_test) * C * K
    assert np.mean(good == d.y_test) >= 0.8


def test_old_model_files_load_as_goodness_models(tmp_path: Path) -> None:
    train(frugal(inference="goodness", epochs=2), layers(), data(), tmp_path, progress=False)
    header, arrays = read_npz(tmp_path / "model.npz", MODEL_FORMAT, MODEL_FORMAT_VERSION)
    del header["model"]["config"]["inference"]  # as written before one-pass inference
    write_npz_atomic(tmp_path / "old.npz", arrays, header)
    old = load_model(tmp_path / "old.npz")
    assert old.config.inference == "goodness"
    with pytest.raises(ValueError, match="no fitted read-out"):
        old.predict(layers(), data().x_test, "onepass")


# ---- the budget -----------------------------------------------------------------

def test_max_queries_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    cfg = frugal(inference="goodness", max_queries=N * C + 10)
    stopped = train(cfg, layers(), data(), tmp_path, progress=False)
    assert stopped.epochs == 10 and "budget" in (stopped.stop_reason or "")
    assert (tmp_path / "model.npz").is_file()
    assert stopped.train_queries == N * C
    # Resumed with a larger budget: block 0's cache comes from cache.npz, block 1's is
    # measured; the weights equal an uninterrupted run's (a deterministic medium).
    assert (tmp_path / "cache.npz").is_file()
    done = train(cfg.with_changes(max_queries=10 * N * C), layers(), data(), tmp_path,
                 resume=True, progress=False)
    assert done.epochs == 20 and done.stop_reason is None
    assert done.train_queries == 2 * N * C
    whole = train(cfg.with_changes(max_queries=None), layers(), data(), tmp_path / "w",
                  progress=False)
    for a, b in zip(done.model.params, whole.model.params, strict=True):
        np.testing.assert_array_equal(a, b)


class FullBatchOnly(Schedule):
    """A schedule written as a user would: one class, registered by name, nothing else."""

    name = "fullbatch"

    def train_epoch(self, model: Model, layers: Sequence[PhysicalLayer], xl: np.ndarray,
                    y: np.ndarray, rng: np.random.Generator, batch_size: int | None,
                    epoch: int) -> EpochStats:
        stats = model.train_batch(layers, xl, y, (y + 1) % model.config.n_classes)
        return EpochStats(stats.loss, stats.separation)

    def epoch_queries(self, model: Model, n: int, epoch: int) -> int:
        return 2 * n * model.n_blocks


def test_a_schedule_is_one_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SCHEDULES, FullBatchOnly.name, FullBatchOnly)
    cfg = frugal(schedule="fullbatch", epochs=3, inference="goodness")
    result = train(cfg, layers(), data(), tmp_path, progress=False)
    assert [r["block"] for r in result.history] == [None] * 3
    assert [r["queries"] for r in result.history] == [2 * N * K] * 3
    assert result.history[-1]["cached_train_acc"] is None  # no cache: the defaults say so
    assert not (tmp_path / "cache.npz").exists()


@pytest.mark.parametrize("changes, message", [
    ({"epochs": 1}, "needs epochs >= blocks"),
    ({"unsupervised": True}, "unsupervised training needs --schedule simultaneous"),
])
def test_layerwise_checks_the_whole_configuration_when_built(changes: dict[str, Any],
                                                             message: str) -> None:
    cfg = frugal(**changes)  # a configuration may still become a paper-schedule one
    with pytest.raises(ValueError, match=message):
        make_schedule(cfg.schedule_options())
    paper = cfg.with_changes(schedule="simultaneous")
    assert isinstance(make_schedule(paper.schedule_options()), Schedule)


@pytest.mark.parametrize("changes, message", [
    ({"repeats": 0}, "repeats must be an integer in 1..100"),
    ({"remeasure": 0}, "remeasure must be a positive integer"),
    ({"cache_negatives": 0}, "cache_negatives must be a positive number"),
    ({"repeat_mode": "median"}, "repeat_mode must be one of"),
    ({"schedule": "nightly"}, "unknown schedule 'nightly'"),
])
def test_schedule_options_fail_when_the_configuration_is_made(changes: dict[str, Any],
                                                              message: str) -> None:
    with pytest.raises(ValueError, match=message):
        frugal(**changes)


def test_resume_without_the_cache_file_measures_again(tmp_path: Path) -> None:
    cfg = frugal(inference="goodness", max_queries=N * C + 10)
    train(cfg, layers(), data(), tmp_path, progress=False)
    (tmp_path / "cache.npz").unlink()
    done = train(cfg.with_changes(max_queries=None), layers(), data(), tmp_path, resume=True,
                 progress=False)
    assert done.train_queries == 3 * N * C  # block 0's cache again, then block 1's


def test_budget_below_one_epoch_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="below what one epoch needs"):
        train(frugal(max_queries=10), layers(), data(), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, message", [
    (["--max-queries", "5"], "one epoch needs"),
    (["--repeats", "0"], "repeats"),
    (["--remeasure", "0"], "remeasure"),
    (["--remeasure", "1.5"], "invalid int value"),
])
def test_bad_budget_flags_exit_2_and_write_nothing(tmp_path: Path, flags: list[str],
                                                   message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "d.csv"
    rows = [f"{i % 3},{(i * 7) % 5},{i % 2}" for i in range(12)]
    csv.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    try:
        code = main(["train", "--board", BOARD, "--dataset", f"csv:{csv}", "--epochs", "2",
                     "--run", str(run), "--no-progress", *flags])
    except SystemExit as parse_error:  # argparse's own usage errors exit 2 too
        code = int(parse_error.code or 0)
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not run.exists()


def test_eval_refuses_an_inference_the_model_cannot_do(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    csv = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{y}" for y in (0, 1) for a, b in rng.random((10, 2)) + y]
    csv.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["train", "--board", BOARD, "--dataset", f"csv:{csv}", "--epochs", "2",
                 "--run", str(run), "--no-progress", "--inference", "goodness"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "device queries" in out and "115,200-baud" in out
    assert main(["eval", str(run), "--board", BOARD, "--dataset", f"csv:{csv}",
                 "--inference", "onepass"]) == EXIT_USAGE
    assert "read-out" in capsys.readouterr().err
    assert main(["eval", str(run), "--board", BOARD, "--dataset", f"csv:{csv}",
                 "--inference", "goodness", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["inference"] == "goodness"


# ---- what a run costs --------------------------------------------------------------

def test_frame_sizes_follow_the_protocol() -> None:
    # header 8 + query head 4 + 20 x int16 + CRC 2 = 54 bytes, + COBS code + delimiter.
    assert request_bytes(1, 20) == 56
    assert reply_bytes(1, 20) == 57  # + one bitmap byte
    facts = BoardFacts(20, 20, 64, 4096, settle_us=1000, oversample=4)
    one = project(1, 1, facts, LinkModel.uart(115_200))
    assert one.frames == 1 and one.bytes == 56 + 57
    assert one.link_s == pytest.approx(one.bytes * 10 / 115_200)
    assert one.board_s == pytest.approx(1e-3 + 4 * 10e-6)
    many = project(6400, 2, facts, LinkModel.uart(921_600))
    assert many.frames == 102  # 100 full frames + at most one partial frame per call
    assert many.link_s < 6400 * one.link_s / 8  # batching amortises the overhead


def test_measured_model_projects_from_turnaround_and_sample_time() -> None:
    facts = BoardFacts(20, 20, 100, 65535, settle_us=0, oversample=1)
    rate = MeasuredRate(turnaround_s=2e-3, sample_s=1e-3, batch=100)
    p = project(1000, 10, facts, LinkModel.measured(rate))
    assert p.seconds == pytest.approx(p.frames * 2e-3 + 1000 * 1e-3)
    assert rate.samples_per_s == pytest.approx(100 / 0.102)


def test_configurations_from_before_the_budget_keep_the_paper_schedule() -> None:
    today = TrainConfig()
    assert today.schedule == "layerwise" and today.model.inference == "onepass"
    old = today.to_dict()
    del old["schedule"], old["model"]["inference"]
    read = TrainConfig.from_dict(old)
    assert read.schedule == "simultaneous" and read.model.inference == "goodness"
    assert TrainConfig.from_dict(today.to_dict()) == today
