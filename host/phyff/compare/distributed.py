"""Run many independent training runs at once: serially, on every core, on a Dask cluster.

Why Dask distributed: the benchmark and the sweeps are bags of independent runs
(one method, one task, one seed), and users want them on every core of a PC,
on a cluster when they have one, and on every board of their lab. Dask
already does the scheduling, the worker pool, worker deaths and resources;
this module only turns our runs into Dask tasks and back.

Rules this module keeps:

1. A `Job` is data only (JSON-able fields): what to run, never where. Its
   result depends only on the job (configuration and seed), never on which
   worker ran it or in which order, so `--workers 1` and N workers give the
   same raw results (timings aside, which measure the machine).
2. `workers == 1` and no scheduler: the jobs run in this process, in order,
   without importing Dask at all.
3. Otherwise an embedded `LocalCluster` (one worker *process* per core, one
   thread each, OPENBLAS_NUM_THREADS=1) is started and stopped here, or
   `scheduler="tcp://HOST:8786"` uses an existing cluster.
4. Emulated boards (emu://...) are created inside each job from their URL.
   A job whose board URL is ``pool://`` (any board) or ``pool://MEDIUM`` runs
   only on a worker holding the Dask resource ``board`` (and
   ``medium-MEDIUM``), and uses the board URL in that worker's configuration
   (environment ``PHYFF_BOARD`` or Dask config ``phyff.board``, e.g.
   ``DASK_PHYFF__BOARD``). One board per worker: no two runs share a board.
5. Every finished job is handed to `on_result` as it completes (the caller
   writes it to disk); a failed job is reported with its error and does not
   stop the others; a worker that dies mid-job is reported as such.
6. Before any job runs on a board pool, every pool worker's board is asked
   HELLO; one that does not answer stops the run with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

POOL_SCHEME = "pool://"
BOARD_RESOURCE = "board"
BOARD_ENV = "PHYFF_BOARD"
CONNECT_TIMEOUT_S = 10.0
# Result fields that measure the machine, not the run (excluded when comparing runs).
TIMING_FIELDS = ("wall_s", "board_s", "digital_s")
TIMING_EXTRA = ("twin_s", "job_s")


class ClusterError(ConnectionError):
    """The Dask scheduler or a worker's board cannot be reached; the message says what to do."""


@dataclass(frozen=True, eq=False)
class Job:
    """One independent run: a method of a task on a dataset for one seed.

    kind: "run" (one `run_method` call), "step" or "drift" (one seed of the
    benchmark's adaptability scenario), "field" (one seed of an on-device
    adaptation scenario, `phyff.compare.fieldadapt`). `validation` > 0 carves that fraction
    of the training data as the evaluation set (sweeps: the test set is never
    used); `meta` travels with the result (sweep parameters, labels).
    """

    kind: str
    method: str
    task: dict[str, Any]
    dataset: str
    seed: int
    data_dir: str | None = None
    validation: float = 0.0
    split_seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    cost: float = 1.0  # relative expected run time: the longest are started first

    @property
    def key(self) -> str:
        """Stable content hash: the same job always has the same key (resume by key)."""
        body = {k: v for k, v in asdict(self).items() if k not in ("meta", "cost", "data_dir")}
        text = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        """Short human description for progress and failure lines."""
        what = self.method if self.kind == "run" else f"adapt-{self.kind}"
        return f"{self.task.get('name', self.dataset)} {what} seed {self.seed}"

    @property
    def board_url(self) -> str:
        return str(self.task["url"])

    def resources(self) -> dict[str, float]:
        """Dask resources the job needs (rule 4): none for emulated boards."""
        return pool_resources(self.board_url)


def pool_resources(url: str) -> dict[str, float]:
    """Resources a board URL asks of a worker: {} unless it is a pool URL."""
    if not url.startswith(POOL_SCHEME):
        return {}
    medium = url[len(POOL_SCHEME):].strip("/")
    out = {BOARD_RESOURCE: 1.0}
    if medium:
        out[f"medium-{medium}"] = 1.0
    return out


# ------------------------------------------------------------------ inside a worker
def worker_board_url() -> str | None:
    """The board this process owns (rule 4), or None."""
    url = os.environ.get(BOARD_ENV)
    if url:
        return url
    try:
        import dask

        value = dask.config.get("phyff.board", default=None)
    except ImportError:
        return None
    return str(value) if value else None


def resolve_board(url: str) -> str:
    """The URL a job opens: its own, or for pool:// the worker's board."""
    if not url.startswith(POOL_SCHEME):
        return url
    owned = worker_board_url()
    if owned is None:
        raise ClusterError(
            f"{url} needs a board from the pool, but this worker owns none: start the worker "
            f"with {BOARD_ENV}=URL (or DASK_PHYFF__BOARD=URL) and "
            f"`--resources {BOARD_RESOURCE}=1` (see docs/scaling.md)")
    return owned


def check_board(url: str | None = None) -> str:
    """Open the board (default: this worker's) and ask HELLO; returns its description."""
    from phyff.board.client import Board

    url = url or worker_board_url()
    if not url:
        raise ClusterError("no board configured on this worker")
    with Board.open(url, timeout=2.0, retries=1) as board:
        caps = board.hello()
        return f"{url}: {caps}"


@lru_cache(maxsize=8)
def _dataset(name: str, data_dir: str | None, validation: float, split_seed: int) -> Any:
    """Datasets are loaded once per worker process, where the job runs (no data shipping)."""
    from phyff.datasets import load_dataset

    data = load_dataset(name, data_dir=data_dir, seed=0)
    return validation_split(data, validation, split_seed) if validation > 0 else data


def validation_split(data: Any, fraction: float, seed: int) -> Any:
    """A dataset whose test set is a stratified `fraction` of `data`'s training set.

    Why: a sweep chooses among configurations, so it must score them on data
    the final evaluation does not use; the held-out rows come from the training
    set only and the test set is dropped.
    """
    import numpy as np

    from phyff.datasets import Dataset

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    y = np.asarray(data.y_train)
    rng = np.random.default_rng([seed, 7])
    held = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = round(fraction * len(idx))
        n = min(max(n, 1), len(idx) - 1) if len(idx) > 1 else 0
        held[rng.permutation(idx)[:n]] = True
    if not held.any() or held.all():
        raise ValueError(f"{data.name}: too few training samples for a {fraction:.0%} "
                         "validation split")
    x = np.asarray(data.x_train)
    return Dataset(f"{data.name}:validation", x[~held], y[~held], x[held], y[held],
                   data.class_names, data.feature_names, data.source, data.image_shape)


def execute(job: Job) -> dict[str, Any]:
    """Run one job where it is called (a worker, or this process); JSON-able result.

    BLAS runs on one thread whatever the process was started with: a
    multi-threaded BLAS sums in another order (float32 twins differ in the 8th
    digit), and rule 1 promises the same numbers serially and on any cluster.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _execute(job)


def _execute(job: Job) -> dict[str, Any]:
    from dataclasses import replace

    from phyff.compare.baselines.methods import run_method
    from phyff.compare.rawio import task_from_dict

    started = time.perf_counter()
    task = task_from_dict(job.task)
    task = replace(task, url=resolve_board(task.url))
    data = _dataset(job.dataset, job.data_dir, job.validation, job.split_seed)
    if job.kind == "run":
        result = run_method(job.method, task, data, job.seed)
        result.extra["task"] = task.name
        result.extra["n_val" if job.validation > 0 else "n_test"] = len(data.y_test)
        # The whole run where it ran: loading the data, opening the board, writing the
        # run files and the final evaluation, not only the training epochs (wall_s).
        result.extra["job_s"] = time.perf_counter() - started
        out = result.as_dict()
        if job.validation > 0:  # scored on the held-out part of the training data
            out["val_acc"] = out.pop("test_acc")
        return out
    if job.kind in ("step", "drift"):
        from phyff.compare.adapt import AdaptSettings, run_drift, run_step

        settings = AdaptSettings(**job.settings)
        runner = run_step if job.kind == "step" else run_drift
        scenario = runner(task, data, [job.seed], settings)
        return {"kind": scenario.kind, "settings": asdict(scenario.settings),
                "runs": {m: [r.as_dict() for r in runs] for m, runs in scenario.runs.items()}}
    if job.kind == "field":
        from phyff.compare.fieldadapt import FieldSettings, run_seed

        return run_seed(task, data, job.seed, FieldSettings(**job.settings))
    raise ValueError(f"unknown job kind {job.kind!r}")


def _timed(job: Job) -> tuple[dict[str, Any], float]:
    """execute(job) and its wall time where it ran (job durations for docs/scaling.md)."""
    t0 = time.perf_counter()
    result = execute(job)
    return result, time.perf_counter() - t0


# ------------------------------------------------------------------ the client side
@dataclass(frozen=True)
class Execution:
    """Where jobs run: `workers` processes (None: one per core; 1: serially, in this
    process) of an embedded LocalCluster, or an existing cluster at `scheduler`."""

    workers: int | None = 1
    scheduler: str | None = None

    @property
    def serial(self) -> bool:
        return self.scheduler is None and self.n_workers == 1

    @property
    def n_workers(self) -> int:
        return self.workers if self.workers is not None else (os.cpu_count() or 1)

    def describe(self) -> str:
        if self.scheduler:
            return f"Dask cluster at {self.scheduler}"
        if self.serial:
            return "serially in this process"
        return f"local Dask cluster of {self.n_workers} worker processes"


@dataclass
class Failure:
    """A job that did not produce a result, and why."""

    key: str
    label: str
    error: str


# on_result(job, result, seconds the job took where it ran)
OnResult = Callable[[Job, dict[str, Any], float], None]
OnFailure = Callable[[Job, Failure], None]


def run_jobs(jobs: Sequence[Job], execution: Execution, on_result: OnResult,
             on_failure: OnFailure | None = None, *, bar: bool = True,
             desc: str = "runs") -> list[Failure]:
    """Run every job; `on_result(job, result, seconds)` as each completes. Returns the
    failures."""
    failures: list[Failure] = []

    def failed(job: Job, error: str) -> None:
        f = Failure(job.key, job.label, error)
        failures.append(f)
        if on_failure is not None:
            on_failure(job, f)

    if not jobs:
        return failures
    with _progress(len(jobs), bar, desc) as tick:
        if execution.serial:
            for job in jobs:
                try:
                    result, seconds = _timed(job)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:
                    failed(job, _describe_error(exc))
                else:
                    on_result(job, result, seconds)
                tick(len(failures))
            return failures
        with _client(execution) as client:
            _preflight(client, jobs)
            _run_on_cluster(client, jobs, on_result, failed, lambda: tick(len(failures)))
    return failures


def _describe_error(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return ("the worker running it died (out of memory, killed, or crashed in native "
                f"code) on every attempt: {exc}")
    return f"{name}: {exc}"


@contextmanager
def _progress(total: int, bar: bool, desc: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar over jobs with ETA; tick(failures) after each finished job."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="run", disable=not bar, dynamic_ncols=True,
              smoothing=0.1) as pbar:

        def tick(n_failed: int) -> None:
            if n_failed:
                pbar.set_postfix(failed=n_failed, refresh=False)
            pbar.update(1)

        yield tick


MAX_HANDSHAKE = 1 << 20  # bytes a Dask scheduler's first message may announce


def probe_scheduler(address: str, deadline: float) -> None:
    """Check, within `deadline` seconds in all, that a Dask scheduler answers at a
    ``tcp://`` address, before Dask's client is let near it.

    Why: Dask's client waits without a deadline for the first message of the
    server it connects to, so a listener that accepts and never answers hung
    it for good; and it allocates whatever size the first eight bytes announce,
    so an HTTP server's reply asked for exabytes. A Dask scheduler speaks first:
    on every connection it sends its handshake, a message whose first eight
    bytes are its length (little-endian). So: connect, read eight bytes,
    check the length is a handshake's, close. Other schemes (tls://, ucx://)
    are left to Dask. ClusterError (exit 3) names the address and what
    happened.
    """
    import socket
    import struct
    import time
    import urllib.parse

    scheme, _, rest = address.partition("://")
    if scheme != "tcp":
        return
    try:
        parts = urllib.parse.urlsplit(f"tcp://{rest}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise ClusterError(f"--scheduler {address!r}: expected tcp://HOST:PORT")
    end = time.monotonic() + deadline
    hint = ("start one with `dask scheduler` and workers with `dask worker ADDRESS`, or drop "
            "--scheduler to use this machine's cores")
    try:
        sock = socket.create_connection((host, port), timeout=deadline)
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({reason}); "
                           f"{hint}") from None
    head = b""
    try:
        while len(head) < 8:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = sock.recv(8 - len(head))
            if not chunk:
                break
            head += chunk
    except (TimeoutError, OSError):
        pass
    finally:
        sock.close()
    if len(head) < 8:
        raise ClusterError(f"{address} accepted the connection but did not answer as a Dask "
                           f"scheduler within {deadline:g} s (a scheduler speaks first); is it "
                           f"the scheduler's address? {hint}")
    (length,) = struct.unpack("<Q", head)
    if not 0 < length <= MAX_HANDSHAKE:
        raise ClusterError(f"{address} answered, but not as a Dask scheduler (its first bytes "
                           f"{head!r} are no Dask message); check the address and port")


@contextmanager
def _client(execution: Execution) -> Iterator[Any]:
    """A Dask client on the embedded LocalCluster or the given scheduler; always closed."""
    import logging

    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterError("running on several workers needs Dask: pip install "
                           "'phyff[sweep]' (or use --workers 1)") from exc
    if execution.scheduler:
        address = execution.scheduler
        probe_scheduler(address, CONNECT_TIMEOUT_S)
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S:.0f} "
                f"s ({exc}); start one with `dask scheduler` and workers with `dask worker "
                f"{address}`, or drop --scheduler to use this machine's cores") from exc
        try:
            yield client
        finally:
            client.close()
        return
    n = execution.n_workers
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536, so glibc hands every freed block
    # above 64 KiB back to the OS and each run page-faults its numpy arrays in again:
    # measured on a vowels7 slice, kernel time rose from 2.9 s (serial) to 21 s on two
    # workers and ate the whole speed-up. Runs here allocate and free the same sizes
    # epoch after epoch, so keep the memory (1 GiB threshold).
    # (The setting must hold while the nannies spawn, which happens after the
    # constructor returns: keep it for the cluster's life.)
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_":
                          1 << 30}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR,
                               env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        try:
            client = Client(cluster, set_as_default=False)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()


def _preflight(client: Any, jobs: Sequence[Job]) -> None:
    """Rule 6: every job's resources exist on some worker; every pool board answers."""
    needed = {name for job in jobs for name in job.resources()}
    if not needed:
        return
    workers = client.scheduler_info().get("workers", {})
    have: dict[str, list[str]] = {}
    for addr, info in workers.items():
        for name, amount in (info.get("resources") or {}).items():
            if amount > 0:
                have.setdefault(name, []).append(addr)
    missing = sorted(needed - set(have))
    if missing:
        raise ClusterError(
            f"no worker offers {', '.join(missing)}: start a worker per board with "
            f"`{BOARD_ENV}=URL dask worker SCHEDULER --nthreads 1 --resources "
            f"\"{','.join(f'{m}=1' for m in missing)}\"` (see docs/scaling.md)")
    pool = have.get(BOARD_RESOURCE, [])
    answers = client.run(_check_worker_board, workers=pool, on_error="return")
    bad = {addr: str(res) for addr, res in answers.items()
           if isinstance(res, BaseException) or (isinstance(res, str) and
                                                 res.startswith("error:"))}
    if bad:
        lines = "; ".join(f"worker {a}: {e.removeprefix('error:').strip()}"
                          for a, e in sorted(bad.items()))
        raise ClusterError(f"a board in the pool does not answer ({lines}); reconnect it or "
                           "restart that worker without board resources, then rerun "
                           "(completed runs are kept)")


def _check_worker_board() -> str:
    try:
        return check_board()
    except Exception as exc:
        return f"error: {exc}"


def _run_on_cluster(client: Any, jobs: Sequence[Job], on_result: OnResult,
                    failed: Callable[[Job, str], None], tick: Callable[[], None]) -> None:
    from distributed import as_completed

    by_key: dict[str, Job] = {}
    futures = []
    # Longest first: idle workers take the first submissions at once, before later,
    # higher-priority ones arrive, so the order of submission must already be right.
    # (Order changes when a job runs, never its result: rule 1.)
    for job in sorted(jobs, key=lambda j: -j.cost):
        fut = client.submit(_timed, job, key=f"phyff-{job.key}", pure=False,
                            resources=job.resources() or None, priority=int(job.cost),
                            retries=0)
        by_key[fut.key] = job
        futures.append(fut)
    try:
        for fut in as_completed(futures, loop=client.loop):
            job = by_key[fut.key]
            if fut.status == "finished":
                try:
                    result, seconds = fut.result()
                except Exception as exc:  # lost between completion and transfer
                    failed(job, _describe_error(exc))
                else:
                    on_result(job, result, seconds)
            else:
                error = fut.exception()
                failed(job, _describe_error(error) if error is not None
                       else f"cancelled ({fut.status})")
            fut.release()
            tick()
    finally:
        client.cancel([f for f in futures if not f.done()])


def same_results(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal runs, timings aside (rule 1): what the run computed, not how fast."""
    return strip_timing(a) == strip_timing(b)


def strip_timing(result: dict[str, Any]) -> dict[str, Any]:
    """A result without the fields that measure the machine (recursively for scenarios)."""
    if "runs" in result:
        return {**result, "runs": {m: [strip_timing(r) for r in rs]
                                   for m, rs in result["runs"].items()}}
    out = {k: v for k, v in result.items() if k not in TIMING_FIELDS}
    if isinstance(out.get("extra"), dict):
        out["extra"] = {k: v for k, v in out["extra"].items() if k not in TIMING_EXTRA}
    return out
