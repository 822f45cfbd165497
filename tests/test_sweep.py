"""Tests of the job layer (serial, LocalCluster, a real `dask scheduler` + `dask worker`
cluster with board resources) and of `phyff sweep`.

Every run here is tiny (a 120-sample synthetic dataset, a few epochs on the
emulated acoustic board: well under a second), so the cluster machinery, not
the training, sets the time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phyff.cli.main import main
from phyff.compare.distributed import (
    ClusterError,
    Execution,
    run_jobs,
    strip_timing,
    validation_split,
)
from phyff.compare.rawio import ResultStore
from phyff.compare.runner import IncompleteRun, run_jobs_stored
from phyff.compare.sweep import (
    best_per_dataset,
    configurations,
    load_spec,
    parse_spec,
    score,
    sweep_jobs,
)

pytest.importorskip("distributed")

BOARD = "emu://acoustic?seed=1"
KILLER = "phyff_test_killer"


def raw(tiny: str, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "datasets": [tiny], "boards": [BOARD], "preset": "acoustic", "seeds": [0, 1],
        "base": {"epochs": 3}, "grid": {"lr": [1e-3, 5e-3]},
    }
    out.update(changes)
    return out


def normalised(done: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: strip_timing(v) for k, v in done.items()}


# ------------------------------------------------------------------ the sweep file
def test_sweep_file_errors_name_the_key(tiny: str, tmp_path: Path) -> None:
    bad = [
        ({"colour": "red"}, "unknown keys ['colour']"),
        ({"grid": {"lrr": [1e-3]}}, "unknown training settings ['lrr']"),
        ({"grid": {"lr": []}}, "[grid] lr is empty"),
        ({"grid": {"seed": [1, 2]}}, "`seed` is not a sweep setting"),
        ({"grid": {"lr": 1e-3}}, "a fixed value goes in [base]"),
        ({"seeds": []}, "`seeds` must hold at least one"),
        ({"boards": []}, "`boards` is empty"),
        ({"validation": 1.0}, "strictly between 0 and 1"),
        ({"random": {"samples": 2, "lr": {"log": [1e-2, 1e-4]}}},
         "range [0.01, 0.0001] is empty"),
        ({"random": {"samples": 2, "lr": {"log": []}}}, "log range is empty"),
        ({"random": {"lr": {"log": [1e-4, 1e-2]}}}, "`samples`"),
        ({"random": {"samples": 1, "lr": {"normal": [0, 1]}}}, "unknown range kind"),
        ({"grid": {"batch_size": [0]}}, "the trainer rejects the settings"),
        ({"method": "pat"}, "not tuned by training settings"),
    ]
    for change, message in bad:
        with pytest.raises(ValueError) as info:
            parse_spec(raw(tiny, **change))
        assert message in str(info.value), (change, str(info.value))
    path = tmp_path / "s.toml"
    path.write_text('datasets = ["digits"]\nboards = ["emu://optical"]\n[grid]\nlr = [\n')
    with pytest.raises(ValueError, match=r"s\.toml: not valid TOML"):
        load_spec(path)


def test_grid_and_random_configurations(tiny: str, tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f"""
datasets = ["{tiny}"]
boards = ["{BOARD}", "emu://acoustic?seed=2"]
seeds = 2
preset = "acoustic"
[base]
epochs = 2
[grid]
lr = [1e-3, 2e-3]
[random]
samples = 3
inner_steps = {{ int = [2, 6] }}
theta = {{ uniform = [2.0, 5.0] }}
batch_size = {{ choice = [16, 32] }}
""")
    spec = load_spec(path)
    configs = configurations(spec)
    assert len(configs) == 2 * 3 and configs == configurations(load_spec(path))  # seeded
    assert all(2 <= c["inner_steps"] <= 6 and 2.0 <= c["theta"] <= 5.0 for c in configs)
    assert {c["batch_size"] for c in configs} <= {16, 32}
    jobs = sweep_jobs(spec)
    assert len(jobs) == 6 * 2 * 2  # configurations x boards x seeds
    assert len({j.key for j in jobs}) == len(jobs)
    assert all(j.task["phyll"]["epochs"] == 2 for j in jobs)


def test_validation_split_comes_from_training_data_only(tiny: str) -> None:
    from phyff.datasets import load_dataset

    data = load_dataset(tiny)
    val = validation_split(data, 0.25, seed=0)
    assert len(val.y_train) + len(val.y_test) == len(data.y_train)
    train_rows = {r.tobytes() for r in data.x_train}
    assert all(r.tobytes() in train_rows for r in val.x_test)
    test_rows = {r.tobytes() for r in data.x_test}
    assert not any(r.tobytes() in test_rows for r in val.x_test)
    counts = np.bincount(val.y_test)
    assert counts.min() >= 1 and counts.max() - counts.min() <= 1  # stratified
    again = validation_split(data, 0.25, seed=0)
    assert np.array_equal(again.x_test, val.x_test)


# ------------------------------------------------------------------ execution
@pytest.fixture(scope="module")
def serial(tiny: str) -> dict[str, dict[str, Any]]:
    spec = parse_spec(raw(tiny))
    return run_jobs_stored(sweep_jobs(spec), Execution(workers=1), None)


def test_serial_and_two_workers_give_identical_results(tiny: str,
                                                       serial: dict[str, Any]) -> None:
    spec = parse_spec(raw(tiny))
    jobs = sweep_jobs(spec)
    two = run_jobs_stored(jobs, Execution(workers=2), None)
    assert set(two) == {j.key for j in jobs} == set(serial)
    assert normalised(two) == normalised(serial)
    scores = score(jobs, serial)
    assert len(scores) == 2 and all(len(s.accs) == 2 for s in scores)
    best = best_per_dataset(scores)[tiny]
    assert best.mean == max(s.mean for s in scores)


def test_rerun_skips_completed_and_failures_do_not_stop_others(tiny: str, tmp_path: Path,
                                                                 serial: dict[str, Any]) -> None:
    spec = parse_spec(raw(tiny, boards=[BOARD, "emu://no-such-medium?seed=1"]))
    jobs = sweep_jobs(spec)
    store = ResultStore(tmp_path, resume=False)
    with pytest.raises(IncompleteRun) as info:
        run_jobs_stored(jobs, Execution(workers=1), store)
    assert len(info.value.failures) == 4 and "unknown medium" in info.value.failures[0].error
    assert "--resume" in str(info.value)
    good = {j.key for j in jobs if "no-such" not in j.board_url}
    assert set(store.done) == good
    assert normalised({k: store.done[k] for k in serial}) == normalised(serial)
    lines = (tmp_path / "failures.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "no-such-medium" in json.loads(lines[0])["error"]
    # A crash mid-line leaves a partial record: ignored, that run runs again.
    with (tmp_path / "results.jsonl").open("a") as fh:
        fh.write('{"key": "abc", "res')
    with pytest.raises(ValueError, match="--resume"):
        ResultStore(tmp_path, resume=False)
    again = ResultStore(tmp_path, resume=True)
    assert set(again.done) == good
    ran: list[str] = []
    ok = [j for j in jobs if j.key in good]
    run_jobs_stored(ok, Execution(workers=1), again,
                    progress=ran.append)
    assert ran == [f"resuming: {len(ok)} of {len(ok)} runs already done, 0 to run "
                   "serially in this process"]


def test_worker_dying_mid_run_is_reported_and_others_complete(
        tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dask

    # A medium plugin that kills the process building it, installed the way a third
    # party's is (an entry point in the group phyff.media) for the worker processes.
    (tmp_path / f"{KILLER}.py").write_text(
        "import os\n\ndef make(seed=0, **options):\n    os._exit(17)\n")
    info_dir = tmp_path / f"{KILLER}-0.dist-info"
    info_dir.mkdir()
    (info_dir / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {KILLER}\nVersion: 0\n")
    (info_dir / "entry_points.txt").write_text(f"[phyff.media]\n{KILLER} = {KILLER}:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # workers start with this process's path
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path),
                                                      os.environ.get("PYTHONPATH", "")]))
    spec = parse_spec(raw(tiny, boards=[BOARD, f"emu://{KILLER}?seed=1"], seeds=[0],
                          grid={"lr": [1e-3]}))
    jobs = sweep_jobs(spec)
    store = ResultStore(tmp_path / "out", resume=False)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            pytest.raises(IncompleteRun) as info:
        run_jobs_stored(jobs, Execution(workers=2), store)
    (failure,) = info.value.failures
    assert "worker running it died" in failure.error and KILLER in failure.label
    assert set(store.done) == {jobs[0].key}


def test_pool_board_that_does_not_answer_stops_before_running(tiny: str,
                                                              tmp_path: Path) -> None:
    from distributed import LocalCluster

    spec = parse_spec(raw(tiny, boards=["pool://acoustic"], seeds=[0], grid={"lr": [1e-3]}))
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None,
                      resources={"board": 1, "medium-acoustic": 1},
                      env={"PHYFF_BOARD": f"socket://127.0.0.1:{free_port()}"}) as cluster:
        store = ResultStore(tmp_path, resume=False)
        with pytest.raises(ClusterError, match=r"does not answer.*completed runs are kept"):
            run_jobs_stored(sweep_jobs(spec), Execution(scheduler=cluster.scheduler_address),
                            store)
    spec = parse_spec(raw(tiny, boards=["pool://optical"], seeds=[0], grid={"lr": [1e-3]}))
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster, \
            pytest.raises(ClusterError, match=r"no worker offers.*medium-optical"):
        run_jobs(sweep_jobs(spec), Execution(scheduler=cluster.scheduler_address),
                 lambda job, result, seconds: None, bar=False)


def test_unreachable_scheduler_is_a_clear_error(tiny: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    code = main(["sweep", "--dataset", tiny, "--board", BOARD, "--set", "epochs=1",
                 "--scheduler", address, "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3 and f"cannot reach the Dask scheduler at {address}" in err
    assert "dask scheduler" in err and time.monotonic() - t0 < 30


# ------------------------------------------------------------------ a real cluster
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_workers(address: str, n: int, procs: list[subprocess.Popen[bytes]],
                      deadline_s: float = 60.0) -> None:
    from distributed import Client

    end = time.monotonic() + deadline_s
    with Client(address, timeout=deadline_s, set_as_default=False) as client:
        while len(client.scheduler_info()["workers"]) < n:
            dead = [p.args for p in procs if p.poll() is not None]
            if dead or time.monotonic() > end:
                raise RuntimeError(f"cluster did not start: exited {dead}")
            time.sleep(0.2)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, each worker owning
    one (emulated acoustic) board: resources board=1, medium-acoustic=1. Always killed."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_cmd = [sys.executable, "-m", "dask"]
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        log = (tmp_path / "scheduler.log").open("wb")
        logs.append(log)
        procs.append(subprocess.Popen(
            [*dask_cmd, "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True))
        for i in range(2):
            log = (tmp_path / f"worker{i}.log").open("wb")
            logs.append(log)
            procs.append(subprocess.Popen(
                [*dask_cmd, "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--host", "127.0.0.1", "--name", f"board{i}",
                 "--resources", "board=1,medium-acoustic=1"],
                stdout=log, stderr=subprocess.STDOUT,
                env=dict(env, PHYFF_BOARD=BOARD, OPENBLAS_NUM_THREADS="1"),
                start_new_session=True))
        _wait_for_workers(address, 2, procs)
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        for log in logs:
            log.close()


def test_sweep_on_a_real_cluster_with_a_board_pool_equals_the_serial_run(
        tiny: str, tmp_path: Path, dask_cluster: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps(raw(tiny, boards=["pool://acoustic"])))
    code = main(["sweep", str(sweep), "--scheduler", dask_cluster, "--out",
                 str(tmp_path / "cluster"), "--json"])
    assert code == 0
    on_cluster = json.loads(capsys.readouterr().out)
    assert on_cluster["completed"] == on_cluster["runs"] == 4 and not on_cluster["failed"]
    assert Path(on_cluster["files"]["plot"]).stat().st_size > 1000
    monkeypatch.setenv("PHYFF_BOARD", BOARD)  # this process owns the same board model
    code = main(["sweep", str(sweep), "--workers", "1", "--out", str(tmp_path / "serial"),
                 "--json"])
    assert code == 0
    serial = json.loads(capsys.readouterr().out)
    assert normalised(on_cluster["results"]) == normalised(serial["results"])
    assert on_cluster["best"] == serial["best"]
    # Resume through the cluster: nothing left to run.
    code = main(["sweep", str(sweep), "--scheduler", dask_cluster, "--out",
                 str(tmp_path / "cluster"), "--resume", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["results"] == on_cluster["results"]
