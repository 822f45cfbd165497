"""The on-device adaptation scenario of the benchmark (compare/fieldadapt.py): its pieces."""

from __future__ import annotations

import numpy as np

from phyff.compare.fieldadapt import (
    FieldScenario,
    FieldSettings,
    field_table,
    field_targets,
    pick_per_class,
    seed_url,
)


def test_each_seed_has_its_own_cavity_and_only_drift_drifts() -> None:
    step = FieldSettings("step", 3.0)
    drift = FieldSettings("drift", drift=0.005)
    assert seed_url("emu://acoustic?seed=1", 0, step) == "emu://acoustic?seed=1"
    assert seed_url("emu://acoustic?seed=1&noise=0.01", 4, step) == \
        "emu://acoustic?seed=5&noise=0.01"
    assert seed_url("emu://acoustic?drift=0.1&seed=1", 2, drift) == \
        "emu://acoustic?seed=3&drift=0.005"


def test_at_most_per_class_samples_of_each_class_are_picked_the_same_way_every_time() -> None:
    y = np.repeat(np.arange(4), [30, 5, 12, 20])
    idx = pick_per_class(y, 10, seed=3)
    counts = np.bincount(y[idx], minlength=4)
    assert counts.tolist() == [10, 5, 10, 10] and len(set(idx.tolist())) == len(idx)
    assert np.array_equal(idx, pick_per_class(y, 10, seed=3))
    assert not np.array_equal(idx, pick_per_class(y, 10, seed=4))


def seed_result(seed: int, board: float, host: float, no_adapt: float = 0.2) -> dict:
    return {"seed": seed, "deployed": 0.98, "no_adapt": no_adapt, "board_refit": board,
            "host_ridge": host, "retrain": 0.97, "samples": 70, "learn_rows": 140,
            "retrain_rows": 3628, "readout_origin": 1, "readout_samples": 70}


def test_the_row_and_targets_are_computed_from_the_seeds() -> None:
    good = FieldScenario(FieldSettings("step", 1.0),
                         [seed_result(0, 0.96, 0.97), seed_result(1, 0.98, 0.97)])
    row = good.row()
    assert row["seeds"] == 2 and abs(row["board_refit"] - 0.97) < 1e-12
    assert abs(row["recovered"] - (0.97 - 0.2) / (0.98 - 0.2)) < 1e-12
    table = field_table([good])
    assert "step perturbation, strength 1" in table and "140 / 3,628" in table
    assert "2 of 2" in table  # MODEL_INFO reports the refitted read-out on every seed
    (name, met, detail), = field_targets([good])
    assert met is True and "within 2 points" in name and "+0.0 points" in detail
    # 3 points behind the host's ridge refit: not met, whatever it recovered
    behind = FieldScenario(FieldSettings("drift"),
                           [seed_result(0, 0.93, 0.96), seed_result(1, 0.93, 0.96)])
    assert field_targets([behind])[0][1] is False
    # recovering less than half of what the change took: not met
    weak = FieldScenario(FieldSettings("step", 3.0),
                         [seed_result(0, 0.5, 0.5), seed_result(1, 0.5, 0.5)])
    assert field_targets([weak])[0][1] is False
    # one seed has no spread to judge by
    assert field_targets([FieldScenario(FieldSettings(), [seed_result(0, 0.97, 0.97)])]
                         )[0][1] is False


def test_ageing_runs_the_drift_clock_without_measuring() -> None:
    import pytest

    from phyff.board.client import Board

    with Board.open("emu://acoustic?seed=1&drift=0.02&noise=0") as board:
        device = board.oracle()
        assert device is not None
        x = np.full((1, board.caps.n_drive), 0.5)
        fresh = device.medium.respond(x)
        device.age(500_000)
        assert device.medium.samples_measured == 500_001
        assert not np.allclose(device.medium.respond(x), fresh)  # the medium drifted
        with pytest.raises(ValueError, match="count of samples"):
            device.age(-1)
