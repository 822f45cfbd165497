"""The small-board benchmark tasks and their targets, computed from summaries."""

from __future__ import annotations

from phyff.compare.smallboard import real_board_seconds, small_board_targets
from phyff.compare.summary import Summary
from phyff.compare.tasks import full_tasks


def summary(method: str, acc: float, std: float, queries: float = 0.0) -> Summary:
    return Summary("vowels7/uno", method, "circuit", "vowels7", 10, acc, std, queries, 0.0,
                   0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 200)


def test_small_board_tasks_run_on_board_shaped_emulators() -> None:
    tasks = full_tasks()
    assert "shape=uno" in tasks["vowels7/uno"].url and "shape=esp32" in tasks["vowels7/esp32"].url
    assert tasks["digits/uno"].frugal_negatives == 1
    only = tasks["vowels7/uno"].only or ()
    # the ablation runs the product's schedule, and the strong digital models sit beside it
    assert {"phyll-frugal", "phyll-frugal-nophys", "logreg", "mlp", "digital-elm",
            "ridge-lsq"} <= set(only) and "phyll-nophys" not in only


def test_a_real_uno_waits_the_settle_time_of_every_row() -> None:
    seconds, title = real_board_seconds(10_000, "uno")
    assert title == "Arduino Uno" and 10_000 * 0.05 < seconds < 10_000 * 0.06


def test_targets_give_accuracy_time_and_an_honest_physics_verdict() -> None:
    rows = [summary("phyll-frugal", 0.96, 0.01, 10_080), summary("phyll-frugal-nophys", 0.95, 0.01),
            summary("elm", 0.90, 0.02), summary("ridge-lsq", 0.94, 0.0)]
    (_, acc_met, acc_detail), (_, phys_met, detail) = \
        small_board_targets(rows, ["vowels7/uno"])
    assert acc_met and "96.0 ± 1.0 %" in acc_detail and "real Arduino Uno" in acc_detail
    # +1 point over the digital blocks is within 2 x spread (2 points): not shown
    assert phys_met is False and "margin +1.0 points vs 2 x spread 2.0 (not shown)" in detail
    assert "vs elm 90.0 %: margin +6.0 points vs 2 x spread 4.0 (physics helps)" in detail
    assert "ridge-lsq (ridge on the raw features) 94.0 %" in detail
    slow = [summary("phyll-frugal", 0.96, 0.01, 20_000)]
    assert small_board_targets(slow, ["vowels7/uno"])[0][1] is False  # over 10 min
