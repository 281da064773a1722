"""The Spark close-of-business engine: whole partitions on executors, the driver only plans.

Why Spark: the embedded engine is bounded by one machine's cores. Here each partition of
accounts is a Spark task, and an executor runs on it exactly what an embedded worker runs
(:func:`.local.close_partition`): load its accounts from the store (snapshot plus later events),
or from a Parquet dataset of ``INPUT_SCHEMA`` (``input_path``: yesterday's columnar states, read
by id range so a task reads only its own row groups), close them with the kernel date by date,
commit their events, journal lines and snapshots in one group commit, record quarantine, and
write the partition's Parquet parts. So the store rows and parts are the embedded engine's,
partition for partition (``tests/test_eod_spark.py`` holds the two engines equal).

The driver pages account ids into tasks, runs them as Spark jobs of a few partitions (waves; two
in flight, so the next wave fills the cores the last one's stragglers leave idle, and the driver
holds a bounded number of tasks whatever the book's size) and adds up their results. No state
crosses the driver: that was the old design's limit (one Python process loading, replaying and
committing every account, ~1.25 ms each, serial).

Safety is the embedded engine's: a partition commits all or nothing, guarded per account by the
sequence it was loaded at, so a killed run or a retried Spark task reruns it without a second
accrual, and a partition moved by a request meanwhile is reloaded from the store. The Python
that executors start is this interpreter (``PYSPARK_PYTHON``), so on a cluster every node needs
the same environment with ``lendguard`` installed and a store URL they can all reach
(PostgreSQL; a SQLite file only in local mode).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice, pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from pyspark import SparkContext
from pyspark.errors import PythonException
from pyspark.sql import SparkSession

from lendguard.eod.engine import (
    InvalidEodRunError,
    Parallelism,
    PartitionResult,
    ProgressCallback,
    RunSummary,
    Tally,
)
from lendguard.eod.kernel import INPUT_SCHEMA
from lendguard.eod.local import PartitionTask, close_partition, partition_tasks
from lendguard.eod.outputs import prune_parts
from lendguard.errors import LendGuardError
from lendguard.store import Store, open_store

ENGINE = "spark"

DEFAULT_MASTER = "local[2]"

SHUFFLE_PARTITIONS = 4
"""The run never shuffles; Spark's default of 200 only costs empty tasks if something does."""

DRIVER_MEMORY = "2g"
"""The JVM driver only schedules tasks and relays their small results."""

waves_in_flight = 2
"""Spark jobs running at once: one finishing while the next already uses the freed cores."""

partitions_per_core = 2
"""Partitions in one wave per core of the cluster (``defaultParallelism``)."""

_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")
"""A traceback's last line: ``module.ExceptionClass: message``."""

PartitionJob = Callable[[PartitionTask], PartitionResult]
"""What an executor runs on one partition: :func:`.local.close_partition` (or, for the
benchmark's I/O floor, the same load and write with no rule)."""


class SparkTaskError(LendGuardError):
    """A partition's task failed on Spark. Unlike other refusals, partitions that finished
    before it are committed (each all or nothing): a rerun of the same dates resumes after them.
    """

    code = "spark_task_failed"


def spark_session(master: str = DEFAULT_MASTER) -> SparkSession:
    """A session for close of business: no UI, executors on this Python.

    A ``local`` master is bound to the loopback interface, so a run needs no network at all.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("lendguard-eod")
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
        "spark.driver.memory": DRIVER_MEMORY,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
    }
    if master.startswith("local"):
        settings |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def run_spark(
    store_url: str,
    business_dates: Sequence[dt.date],
    out_dir: Path,
    partition_size: int,
    parallelism: Parallelism,
    progress: ProgressCallback,
    run_id: str,
    *,
    input_path: Path | None = None,
    session: SparkSession | None = None,
    job: PartitionJob = close_partition,
) -> RunSummary:
    """Close ``business_dates`` for every serviced account on Spark (an ``EngineRunner``).

    ``parallelism`` is the Spark master URL (a number ``n`` means ``local[n]``). Without
    ``session`` the run starts its own and stops it at the end; a caller's session stays up.
    With ``input_path`` the states come from that Parquet dataset instead of the store.
    """
    started = time.perf_counter()
    active = session or spark_session(_master(parallelism))
    store = open_store(store_url)
    tally = Tally()
    try:
        expected, tasks = _tasks(
            store, store_url, run_id, tuple(business_dates), out_dir, partition_size, input_path
        )
        wave_size = partitions_per_core * active.sparkContext.defaultParallelism
        for result in _waves(active.sparkContext, job, tasks, wave_size):
            tally.add(result)
            progress(tally.partitions, max(expected, tally.partitions))
    finally:
        store.close()
        if session is None:
            active.stop()
    prune_parts(out_dir, business_dates, tally.partitions)
    return tally.summary(run_id, ENGINE, business_dates, time.perf_counter() - started)


def _master(parallelism: Parallelism) -> str:
    """The Spark master URL of a run's parallelism (the command line passes ``--master``)."""
    return parallelism if isinstance(parallelism, str) else f"local[{parallelism}]"


def _tasks(
    store: Store,
    store_url: str,
    run_id: str,
    business_dates: tuple[dt.date, ...],
    out_dir: Path,
    partition_size: int,
    input_path: Path | None,
) -> tuple[int, Iterator[PartitionTask]]:
    """How many partitions to expect, and the tasks paged lazily (``store`` stays open while
    they are taken): the store's serviced accounts, or the accounts of the dataset at
    ``input_path``."""
    if input_path is None:
        expected = math.ceil(store.open_account_count() / partition_size)
        tasks = partition_tasks(store, store_url, run_id, business_dates, out_dir, partition_size)
        return expected, tasks
    dataset = open_input(input_path)
    expected = math.ceil(dataset.count_rows() / partition_size)
    tasks = (
        PartitionTask(store_url, run_id, number, ids, business_dates, out_dir, input_path)
        for number, ids in enumerate(_dataset_ids(dataset, partition_size))
    )
    return expected, tasks


def open_input(input_path: Path) -> ds.Dataset:
    """The ``INPUT_SCHEMA`` dataset at ``input_path``, every part's footer read and its columns
    checked before any task starts, so a truncated or foreign file stops the run with nothing
    written."""
    try:
        dataset = ds.dataset(input_path, format="parquet")
        for fragment in dataset.get_fragments():
            fragment.ensure_complete_metadata()
            _check_input_schema(fragment.physical_schema, fragment.path)
    except (pa.ArrowException, OSError) as error:
        raise InvalidEodRunError(f"the input dataset {input_path} is unreadable: {error}") from None
    return dataset


def _check_input_schema(schema: pa.Schema, path: str) -> None:
    for wanted in INPUT_SCHEMA:
        if wanted.name not in schema.names or schema.field(wanted.name).type != wanted.type:
            raise InvalidEodRunError(
                f"input part {path} needs a {wanted.type} column {wanted.name!r}; it has {schema}"
            )


def _dataset_ids(dataset: ds.Dataset, partition_size: int) -> Iterator[tuple[str, ...]]:
    """The account ids of each partition of an ``INPUT_SCHEMA`` dataset, files by name. Ids must
    rise strictly, so part numbers do not depend on how the files are read and each task finds
    its rows by id range."""
    ids: list[str] = []
    for fragment in sorted(dataset.get_fragments(), key=lambda fragment: fragment.path):
        for batch in _id_batches(fragment):
            batch_ids = batch.column("account_id").to_pylist()
            if any(a >= b for a, b in pairwise(ids[-1:] + batch_ids)):
                raise InvalidEodRunError("the input dataset is not in strictly rising id order")
            ids.extend(batch_ids)
            while len(ids) >= partition_size:
                yield tuple(ids[:partition_size])
                del ids[:partition_size]
    if ids:
        yield tuple(ids)


def _id_batches(fragment: ds.Fragment) -> Iterator[pa.RecordBatch]:
    try:
        yield from fragment.to_batches(columns=["account_id"])
    except (pa.ArrowException, OSError) as error:
        raise InvalidEodRunError(f"input part {fragment.path} is unreadable: {error}") from None


def _waves(
    context: SparkContext, job: PartitionJob, tasks: Iterator[PartitionTask], wave_size: int
) -> Iterator[PartitionResult]:
    """Every task's result, run as Spark jobs of ``wave_size`` partitions, a few in flight.

    A job is submitted from a thread (Spark schedules concurrent jobs from one context), so the
    driver waits on the oldest wave while younger ones already run. The first failure stops the
    run: waves not yet submitted never start, and those in flight finish (each partition is all
    or nothing).
    """
    running: deque[Future[list[PartitionResult]]] = deque()
    with ThreadPoolExecutor(waves_in_flight, thread_name_prefix="spark-wave") as threads:
        while wave := list(islice(tasks, wave_size)):
            running.append(threads.submit(_run_wave, context, job, wave))
            if len(running) == waves_in_flight:
                yield from running.popleft().result()
        while running:
            yield from running.popleft().result()


def _run_wave(
    context: SparkContext, job: PartitionJob, wave: list[PartitionTask]
) -> list[PartitionResult]:
    """One Spark job: a task per partition, each run by ``job`` on an executor. A failed task
    is reported by its own exception line, not Spark's page of JVM stack."""
    try:
        return context.parallelize(wave, len(wave)).map(job).collect()
    except PythonException as error:
        lines = [line for line in str(error).splitlines() if _EXCEPTION_LINE.match(line)]
        cause = lines[-1] if lines else type(error).__name__
        raise SparkTaskError(f"a partition failed on Spark: {cause}") from error
