"""Physical layers wider than the board: multi-row blocks and superposed labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phyff.perf.trainer import StandInLayer, synthetic_vowels
from phyff.phyll.config import ModelConfig
from phyff.phyll.layout import label_codes, superpose
from phyff.phyll.model import Model, load_model, save_model
from phyff.phyll.rows import MAX_ROWS, make_plan, min_rows
from phyff.training.checkpoint import load_checkpoint
from phyff.training.session import TrainConfig, train

N_TRAIN, N_TEST = 70, 35


class Counting(StandInLayer):
    """A narrow stand-in layer (4 drive / 6 sense) that records every measure() call."""

    def __init__(self, seed: int = 1, n_in: int = 4, n_out: int = 6) -> None:
        super().__init__(n_in, n_out, seed=seed)
        self.sizes: list[int] = []

    def measure(self, drive: np.ndarray) -> np.ndarray:
        assert drive.shape[1] == self.n_in  # the board only ever sees its own width
        self.sizes.append(len(drive))
        return super().measure(drive)


def narrow(n: int = 2, n_in: int = 4) -> list[Counting]:
    return [Counting(seed=k + 1, n_in=n_in) for k in range(n)]


def data() -> Any:
    return synthetic_vowels(0, n_train=N_TRAIN, n_test=N_TEST, spread=0.15)


def config(**overrides: Any) -> TrainConfig:
    settings: dict[str, Any] = {"epochs": 4, "lr": 5e-3, "eval_every": 1}
    settings.update(overrides)
    return TrainConfig.from_preset("acoustic", **settings)


# ------------------------------------------------------------------ the slot map
def test_split_fills_rows_in_order_and_wraps_around_past_the_end() -> None:
    plan = make_plan("split", 6, 4, 2, np.random.default_rng(0))
    assert plan.slots.tolist() == [0, 1, 2, 3, 4, 5, 0, 1]
    drive = np.arange(12.0).reshape(2, 6)
    rows = plan.gather(drive)
    assert rows.tolist() == [[0, 1, 2, 3], [4, 5, 0, 1], [6, 7, 8, 9], [10, 11, 6, 7]]


def test_permute_drives_every_entry_once_per_pass_over_the_inputs() -> None:
    plan = make_plan("permute", 10, 4, 5, np.random.default_rng(0))
    first, second = plan.slots[:10], plan.slots[10:]
    assert sorted(first.tolist()) == list(range(10))
    assert len(set(second.tolist())) == 10 and not np.array_equal(first, second)


def test_too_few_or_too_many_rows_are_refused_naming_the_numbers() -> None:
    with pytest.raises(ValueError, match=r"2 rows are too few .* 12 drive values need at least "
                                         r"ceil\(12 / 4 drive channels\) = 3 rows"):
        make_plan("split", 12, 4, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=f"more than the {MAX_ROWS}"):
        make_plan("split", 12, 4, MAX_ROWS + 1, np.random.default_rng(0))
    assert min_rows(12, 4) == 3 and min_rows(13, 4) == 4


def test_a_label_alone_in_a_row_is_refused() -> None:
    # 7 label slots in order over 4-channel rows: row 0 holds labels only
    cfg = ModelConfig(n_classes=7, n_features=12, labels="slots", row_layout="split")
    with pytest.raises(ValueError, match="label slots alone in row 0"):
        Model.build(cfg, narrow())
    # permute draws until every row with a label has a feature beside it
    model = Model.build(cfg.__class__(**{**cfg.to_dict(), "row_layout": "permute"}), narrow())
    kinds = np.where(np.arange(19) < 7, 1, 2)[model.plans[0].slots].reshape(-1, 4)
    assert ((kinds == 2).any(axis=1)).all()


# ------------------------------------------------------------------ the model
def test_a_problem_wider_than_the_board_takes_the_fewest_rows_and_a_superposed_label() -> None:
    model = Model.build(ModelConfig(n_classes=7, n_features=12), narrow())
    assert model.label_mode == "add" and model.block_rows == [3, 3]
    assert model.config.labels == "add"  # resolved, so the file records it
    assert [s.sensed for s in model.specs] == [18, 18] and model.width == 12
    # a problem that fits keeps the plain single-row layout with label slots
    wide = Model.build(ModelConfig(n_classes=7, n_features=12), narrow(n_in=20))
    assert wide.label_mode == "slots" and wide.block_rows == [1, 1] and wide.width == 20
    assert all(p.is_plain for p in wide.plans)


def test_queries_count_rows_and_one_sample_is_its_rows_in_order() -> None:
    layers = narrow()
    model = Model.build(ModelConfig(n_classes=7, n_features=12, rows=4, inference="goodness"),
                        layers)
    x = np.random.default_rng(0).normal(size=(5, 12))
    before = model.meter.queries
    model.predict(layers, x)
    assert model.meter.queries - before == 5 * 7 * 2 * 4  # samples x labels x blocks x rows
    assert layers[0].sizes[-1] == 5 * 7 * 4


def test_superposed_label_adds_the_class_code_scaled_by_the_overlay_value() -> None:
    codes = label_codes(3, 4, np.random.default_rng(0))
    assert set(np.unique(codes)) <= {-1.0, 1.0} and len({c.tobytes() for c in codes}) == 3
    x = np.array([[0.0, 2.0, -1.0, 0.5]])
    out = superpose(x, codes, np.array([1]), 0, "sample", 0.5)
    np.testing.assert_allclose(out, x + 0.5 * 2.0 * codes[1])
    neutral = superpose(x, codes, None, 0, "sample", 0.5)
    np.testing.assert_allclose(neutral, x + codes.mean(axis=0))


def test_the_slot_map_and_codes_are_saved_with_the_model(tmp_path: Path) -> None:
    layers = narrow()
    model = Model.build(ModelConfig(n_classes=7, n_features=12, rows=5, seed=3,
                                    inference="goodness"), layers)
    x = np.random.default_rng(1).normal(size=(6, 12))
    expected = model.goodness_table(layers, x)
    model.plans[0] = type(model.plans[0])(5, 4, model.plans[0].slots[::-1].copy())
    changed = model.goodness_table(layers, x)
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.block_rows == [5, 5] and loaded.label_mode == "add"
    np.testing.assert_array_equal(loaded.plans[0].slots, model.plans[0].slots)
    np.testing.assert_array_equal(loaded.codes, model.codes)
    np.testing.assert_allclose(loaded.goodness_table(layers, x), changed)
    assert not np.allclose(changed, expected)


# ------------------------------------------------------------------ training above it
@pytest.mark.parametrize("schedule", ["layerwise", "simultaneous"])
def test_training_over_rows_learns_and_its_projected_queries_are_the_measured_ones(
        tmp_path: Path, schedule: str) -> None:
    result = train(config(schedule=schedule, epochs=30), narrow(), data(), tmp_path,
                   progress=False)
    assert result.model.block_rows == [3, 3]
    assert result.test_acc >= 0.8
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    spent = sum(r["queries"] for r in lines)
    assert spent == result.train_queries
    if schedule == "simultaneous":
        assert all(r["queries"] == 2 * N_TRAIN * (3 + 3) for r in lines)
    else:  # each block's cache once: (C + 1 neutral) overlays x rows
        assert spent == N_TRAIN * (7 + 1) * (3 + 3)


def test_a_budget_counts_rows(tmp_path: Path) -> None:
    per_epoch = 2 * N_TRAIN * 6
    result = train(config(schedule="simultaneous", epochs=10, eval_every=None,
                          inference="goodness", max_queries=3 * per_epoch + 10),
                   narrow(), data(), tmp_path, progress=False)
    assert result.epochs == 3 and result.stop_reason


def test_a_multi_row_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    cfg = config(epochs=6, rows=4)
    full = train(cfg, narrow(), data(), tmp_path / "full", progress=False)

    def crash(record: dict[str, Any]) -> None:
        if record["epoch"] == 4:
            raise RuntimeError("power cut")

    run = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="power cut"):
        train(cfg, narrow(), data(), run, progress=False, on_epoch=crash)
    assert load_checkpoint(run / "checkpoint.npz").model.block_rows == [4, 4]
    resumed = train(cfg, narrow(), data(), run, resume=True, progress=False)
    for k in range(2):
        np.testing.assert_array_equal(resumed.model.params[k], full.model.params[k])
    assert resumed.test_acc == full.test_acc


@pytest.mark.parametrize("overrides", [
    {"schedule": "layerwise"},
    {"schedule": "layerwise", "cache_negatives": 2, "remeasure": 3, "epochs": 8},
    {"schedule": "simultaneous", "inference": "goodness", "eval_every": 2},
])
def test_the_run_plan_counts_the_queries_a_run_makes(tmp_path: Path,
                                                     overrides: dict[str, Any]) -> None:
    from phyff.training.loop import new_model
    from phyff.training.plan import plan_run

    cfg = config(**{"eval_every": None, **overrides})
    planned = plan_run(cfg, new_model(cfg, narrow(), data())[0], N_TRAIN, N_TEST)
    result = train(cfg, narrow(), data(), tmp_path, progress=False)
    assert planned.rows == (3, 3)
    assert (planned.train_queries, planned.eval_queries) == (result.train_queries,
                                                             result.eval_queries)


def test_elm_meets_the_same_rows_as_phyll_on_a_narrow_board() -> None:
    from phyff.compare.baselines.elm import Elm, ElmSettings

    layers = narrow()
    d = data()
    elm = Elm(7, 12, layers, ElmSettings(), seed=0)
    assert [p.rows for p in elm.plans] == [3, 3]
    feats = elm.features(layers, d.x_train)
    assert feats.shape == (N_TRAIN, 2 * 3 * 6 + 12)
    assert elm.meter.queries == N_TRAIN * 6


# ------------------------------------------------------------------ the command
UNO = "emu://circuit?seed=1&n_in=4&n_out=6&dac_bits=8&adc_bits=10"


def _csv(tmp_path: Path) -> Path:
    d = data()
    rows = np.column_stack([d.x_train, d.y_train])
    path = tmp_path / "wide.csv"
    header = ",".join([f"f{i}" for i in range(d.x_train.shape[1])] + ["label"])
    np.savetxt(path, rows, delimiter=",", header=header, comments="", fmt="%.6g")
    return path


def test_train_on_an_uno_shaped_board_needs_no_option_and_says_what_the_rows_cost(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from phyff.cli.common import EXIT_OK, EXIT_USAGE
    from phyff.cli.main import main

    csv = _csv(tmp_path)
    code = main(["train", "--board", UNO, "--dataset", f"csv:{csv}", "--epochs", "4",
                 "--run", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == EXIT_OK, err
    assert "3 device rows per sample and block" in err
    assert "on a real Arduino Uno (115,200 baud, settle 50 ms)" in err
    assert load_model(tmp_path / "run" / "model.npz").block_rows == [3, 3]
    code = main(["train", "--board", UNO, "--dataset", f"csv:{csv}", "--epochs", "4",
                 "--rows", "2", "--run", str(tmp_path / "r2"), "--no-progress"])
    assert code == EXIT_USAGE
    assert "2 rows are too few for block 0: its 12 drive values need at least" in \
        capsys.readouterr().err
    code = main(["train", "--board", UNO, "--dataset", f"csv:{csv}", "--rows", "65",
                 "--run", str(tmp_path / "r65"), "--no-progress"])
    assert code == EXIT_USAGE and "from 1 to 64" in capsys.readouterr().err


def test_a_class_code_gain_the_board_cannot_hold_is_refused_before_deploying() -> None:
    from phyff.ondevice.quantise import NotDeployable, check_deployable

    model = Model.build(ModelConfig(n_classes=7, n_features=12, label_gain=5.0), narrow())
    with pytest.raises(NotDeployable, match=r"gain 5\.0 has no on-device form"):
        check_deployable(model)


# ------------------------------------------------------------------ on the board
def test_the_numpy_reference_reads_rows_and_codes_as_the_golden_vectors_do() -> None:
    from phyff.ondevice import reference as ref
    from phyff.protocol.model_image import ModelImage

    doc = json.loads((Path(__file__).parents[1] / "shared" / "vectors" /
                      "model.json").read_text())
    cases = [c for c in doc["infer_sample"] if "rows" in c["in"]["model"]
             or "code" in c["in"]["model"]]
    assert len(cases) >= 15
    for case in cases:
        image = ModelImage.unpack(bytes.fromhex(case["in"]["image"]))
        sensed = iter(case["in"]["sensed"])
        measured: list[list[int]] = []

        def sense(_i: int, k: int, drive: np.ndarray, image: Any = image,
                  measured: list[list[int]] = measured, sensed: Any = sensed) -> np.ndarray:
            measured.append(drive.reshape(-1).tolist())
            return np.array(next(sensed), np.int16).reshape(-1, image.blocks[k].head.n_sense)

        result = ref.run(image, np.array([case["in"]["x"]], np.int16), sense)
        out = case["out"]
        assert measured == out["drives"], case["in"]["model"]
        assert result.scores[0].tolist() == out["scores"] and result.classes[0] == out["class"]
        assert bool(result.saturated[0]) == out["sat"]


def test_a_multi_row_code_label_model_runs_on_the_board_bit_exact(tmp_path: Path) -> None:
    from phyff.board.client import Board
    from phyff.board.layer import board_layers
    from phyff.ondevice.deploy import evaluate
    from phyff.ondevice.quantise import quantise

    d = data()
    url = "emu://circuit?seed=1&shape=uno"
    with Board.open(url) as board:
        layers = board_layers(board, 2)
        result = train(config(epochs=20), layers, d, tmp_path / "run", progress=False)
        model = result.model
        assert model.block_rows == [3, 3] and model.label_mode == "add"
        q = quantise(model, layers, d.x_train, d.y_train, identity=board.identity(),
                     name="rows")
        assert q.image.head.overlay == 1 and [b.head.rows for b in q.image.blocks] == [3, 3]
        board.load_model(q.image.pack())
        on_device = evaluate(board, q.image, d.x_test)
        host = model.predict(layers, d.x_test)
    assert on_device.bit_exact == 1.0
    assert np.mean(on_device.predictions == d.y_test) >= np.mean(host == d.y_test) - 0.05
