"""The Spark close-of-business engine: the kernel on executors, the store behind the driver.

Why Spark: the embedded engine is bounded by one machine's cores. Here the same kernel
(:func:`.kernel.close_arrow_batch`, its rules built once per task from broadcast product texts)
runs on a cluster's executors through ``DataFrame.mapInArrow``, so states cross between the JVM
and Python as Arrow batches, never as rows of Python objects.

A run goes wave by wave; a wave is a few partitions, so the driver holds a bounded number of
states whatever the book's size, and Spark runs one wave while the driver commits the last:

1. load: the driver loads each partition as the embedded engine does
   (:func:`.local.load_partition`: snapshot plus later events), or reads it from a Parquet dataset
   of ``INPUT_SCHEMA`` in account id order (``input_path``: yesterday's columnar snapshot), and
   settles what needs no rule with :func:`.local.close_loaded` (unreadable states quarantined,
   accounts closed already skipped and their rows replayed from the log);
2. rules: the states still behind the last business date go to Spark as one DataFrame of
   ``INPUT_SCHEMA``; executors close them through that date and return ``OUTPUT_SCHEMA``;
3. write: per partition, the driver replays each account's new events over the state it loaded
   (keeping each night's snapshot row, and checking that the fold ends on the kernel's own state),
   then commits events, journal lines and snapshots in one group commit and records quarantine;
4. outputs: the partition's Parquet parts, with the embedded engine's own writer.

So the store rows and Parquet parts are the embedded engine's, partition for partition; only where
the rules ran differs (``tests/test_eod_spark.py`` holds the two engines equal). A partition whose
accounts moved between load and commit is reloaded from the store and run again in a later wave.
The Python that executors start is this interpreter (``PYSPARK_PYTHON``), so on a cluster every
node needs the same environment with ``lendguard`` installed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice, pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from pyspark import Broadcast
from pyspark.sql import SparkSession

from lendguard.eod.engine import (
    STEPS,
    InvalidEodRunError,
    Parallelism,
    PartitionResult,
    ProgressCallback,
    Quarantined,
    RunSummary,
    Tally,
)
from lendguard.eod.kernel import (
    INPUT_SCHEMA,
    OUTPUT_SCHEMA,
    close_arrow_batch,
    close_states,
    product_key,
    rules_table,
)
from lendguard.eod.local import (
    Closing,
    Fresh,
    Loaded,
    PartitionTask,
    close_loaded,
    load_partition,
    partition_attempts_max,
    partition_tasks,
    product_facts,
    publish_changes,
    timed,
    write_parts,
)
from lendguard.eod.outputs import prune_parts, snapshot_row
from lendguard.ledger.book import to_records
from lendguard.ledger.events import Event, EventKind
from lendguard.ledger.rules import ProductRules
from lendguard.ledger.snapshot import dumps, loads, state_from_text, state_to_data, state_to_text
from lendguard.ledger.state import AccountState, apply
from lendguard.store import Append, ConcurrentUpdateError, Store, open_store

ENGINE = "spark"

DEFAULT_MASTER = "local[2]"

SHUFFLE_PARTITIONS = 4
"""The run never shuffles; Spark's default of 200 only costs empty tasks if something does."""

DRIVER_MEMORY = "2g"
"""The JVM driver only relays Arrow batches; the states live in the Python driver."""

partitions_per_wave_max = 8
"""Partitions one wave sends to Spark. Two waves are in flight (one committing, one on Spark),
so the driver holds at most twice this many partitions' states."""

_UNREADABLE = (ValueError, KeyError, TypeError, AssertionError)
"""What a corrupted snapshot raises while being parsed (the kernel's and local engine's set)."""

_SPARK_TYPES = {pa.string(): "string", pa.int64(): "bigint"}

KernelTask = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]
"""What ``mapInArrow`` runs on an executor: one task's batches of ``INPUT_SCHEMA`` in, of
``OUTPUT_SCHEMA`` out."""

KernelFactory = Callable[[Broadcast[dict[str, str]], dt.date], KernelTask]
"""Builds the task for a run from the broadcast product texts and the last business date."""


@dataclass
class Loading:
    """A partition on the driver: settled where no rule was needed, the rest waiting for Spark."""

    task: PartitionTask
    rules: dict[str, ProductRules]
    closing: Closing
    fresh: dict[str, AccountState]
    """States the kernel closes, as loaded (the driver replays the kernel's events onto them)."""
    timings_seconds: dict[str, float]
    attempt: int
    snapshot_data: dict[str, dict] = field(default_factory=dict)
    """Each closed account's new snapshot, as the store keeps it."""


# --- the session and the executor side -----------------------------------------------------------


def spark_session(master: str = DEFAULT_MASTER) -> SparkSession:
    """A session for close of business: no UI, Arrow on, executors on this Python.

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


def spark_schema(schema: pa.Schema) -> str:
    """An Arrow schema of strings and 64-bit integers as a Spark DDL string."""
    return ", ".join(f"{field.name} {_SPARK_TYPES[field.type]}" for field in schema)


def kernel_task(product_texts: Broadcast[dict[str, str]], through: dt.date) -> KernelTask:
    """What ``mapInArrow`` runs per task: the rules built once, then the kernel on each batch."""

    def close(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rules = rules_table(product_texts.value)
        for batch in batches:
            yield close_arrow_batch(batch, rules, through)

    return close


# --- the runner ----------------------------------------------------------------------------------


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
    kernel: KernelFactory = kernel_task,
) -> RunSummary:
    """Close ``business_dates`` for every serviced account on Spark (an ``EngineRunner``).

    ``parallelism`` is the Spark master URL (a number ``n`` means ``local[n]``). Without
    ``session`` the run starts its own and stops it at the end; a caller's session stays up.
    With ``input_path`` the states come from that Parquet dataset instead of the store.
    ``kernel`` is :func:`kernel_task` but for the benchmark's I/O floor, which runs no rule.
    """
    started = time.perf_counter()
    active = session or spark_session(_master(parallelism))
    store = open_store(store_url)
    tally = Tally()
    try:
        texts = {product_key(p.product_id, p.version): p.source_text for p in store.list_products()}
        product_texts = active.sparkContext.broadcast(texts)
        try:
            task = PartitionTask(store_url, run_id, 0, (), tuple(business_dates), out_dir)
            expected, loadings = _loadings(store, task, partition_size, input_path, texts)
            wave_size = min(partitions_per_wave_max, 2 * active.sparkContext.defaultParallelism)
            closer = kernel(product_texts, business_dates[-1])
            for result in _waves(active, closer, store, loadings, wave_size):
                tally.add(result)
                progress(tally.partitions, max(expected, tally.partitions))
        finally:
            product_texts.destroy()
    finally:
        store.close()
        if session is None:
            active.stop()
    prune_parts(out_dir, business_dates, tally.partitions)
    return tally.summary(run_id, ENGINE, business_dates, time.perf_counter() - started)


def _loadings(
    store: Store,
    template: PartitionTask,
    partition_size: int,
    input_path: Path | None,
    product_texts: dict[str, str],
) -> tuple[int, Iterator[Loading]]:
    """How many partitions to expect, and the partitions loaded lazily, from the store or the
    dataset at ``input_path``; ``template`` carries the run's fields of every task."""
    dates, out_dir = template.business_dates, template.out_dir
    if input_path is None:
        expected = -(-store.open_account_count() // partition_size)
        tasks = partition_tasks(
            store, template.store_url, template.run_id, dates, out_dir, partition_size
        )
        return expected, (_load(store, task, attempt=1) for task in tasks)
    dataset = ds.dataset(input_path, format="parquet")
    expected = -(-dataset.count_rows() // partition_size)
    rules = rules_table(product_texts)
    chunks = _dataset_chunks(dataset, partition_size)
    loadings = (
        _load_rows(store, replace(template, partition_number=number, account_ids=ids), texts, rules)
        for number, (ids, texts) in enumerate(chunks)
    )
    return expected, loadings


def _master(parallelism: Parallelism) -> str:
    """The Spark master URL of a run's parallelism (the command line passes ``--master``)."""
    return parallelism if isinstance(parallelism, str) else f"local[{parallelism}]"


def _waves(
    session: SparkSession,
    closer: KernelTask,
    store: Store,
    loadings: Iterator[Loading],
    wave_size: int,
) -> Iterator[PartitionResult]:
    """Send partitions to Spark ``wave_size`` at a time and commit each one as it comes back.

    Pipelined: while the driver commits one wave, Spark already runs the next (a thread waits on
    it; the executors are other processes). A partition refused at commit (a request moved one of
    its accounts) is reloaded from the store and joins a later wave, up to
    ``partition_attempts_max`` tries, as in the embedded engine.
    """
    retries: list[Loading] = []
    with ThreadPoolExecutor(1, thread_name_prefix="spark-wave") as spark_thread:
        wave = _take(retries, loadings, wave_size)
        running = spark_thread.submit(_run_kernel, session, closer, wave)
        while wave:
            following = _take(retries, loadings, wave_size)
            outputs = running.result()
            running = spark_thread.submit(_run_kernel, session, closer, following)
            for loading in wave:
                try:
                    yield _commit(store, loading, outputs)
                except ConcurrentUpdateError:
                    if loading.attempt == partition_attempts_max:
                        raise
                    retries.append(_load(store, loading.task, loading.attempt + 1))
            if not following and retries:
                running.result()
                following = _take(retries, loadings, wave_size)
                running = spark_thread.submit(_run_kernel, session, closer, following)
            wave = following


def _take(retries: list[Loading], loadings: Iterator[Loading], wave_size: int) -> list[Loading]:
    """The next wave: partitions to retry first (removed from ``retries``), then new ones."""
    wave = retries[:wave_size]
    del retries[:wave_size]
    return wave + list(islice(loadings, wave_size - len(wave)))


def _run_kernel(session: SparkSession, closer: KernelTask, wave: list[Loading]) -> dict[str, dict]:
    """The wave's states through the kernel on Spark: ``OUTPUT_SCHEMA`` rows by account id.

    The wall time is shared out over the wave's partitions as their ``rules`` step.
    """
    started = time.perf_counter()
    ids = [account_id for loading in wave for account_id in loading.fresh]
    texts = [state_to_text(state) for loading in wave for state in loading.fresh.values()]
    outputs = {}
    if ids:
        frame = session.createDataFrame(pa.table([ids, texts], schema=INPUT_SCHEMA))
        closed = frame.mapInArrow(closer, spark_schema(OUTPUT_SCHEMA))
        outputs = {row["account_id"]: row for row in closed.toArrow().to_pylist()}
    if sorted(outputs) != sorted(ids):
        raise AssertionError(f"Spark returned {len(outputs)} accounts for {len(ids)} sent")
    for loading in wave:
        loading.timings_seconds["rules"] += (time.perf_counter() - started) / len(wave)
    return outputs


# --- load ----------------------------------------------------------------------------------------


def _load(store: Store, task: PartitionTask, attempt: int) -> Loading:
    """A partition from the store, exactly as the embedded engine loads it."""
    timings_seconds = dict.fromkeys(STEPS, 0.0)
    with timed(timings_seconds, "load"):
        loaded = load_partition(store, task.account_ids, task.business_dates[0])
        return _settle(task, loaded, timings_seconds, attempt)


def _dataset_chunks(
    dataset: ds.Dataset, partition_size: int
) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """``(account ids, state texts)`` of each partition of an ``INPUT_SCHEMA`` dataset, files
    by name. Ids must rise strictly, so part numbers do not depend on how the files are read."""
    ids: list[str] = []
    texts: list[str] = []
    for fragment in sorted(dataset.get_fragments(), key=lambda fragment: fragment.path):
        for batch in fragment.to_batches(columns=INPUT_SCHEMA.names):
            batch_ids = batch.column("account_id").to_pylist()
            if any(a >= b for a, b in pairwise(ids[-1:] + batch_ids)):
                raise InvalidEodRunError("the input dataset is not in strictly rising id order")
            ids.extend(batch_ids)
            texts.extend(batch.column("state").to_pylist())
            while len(ids) >= partition_size:
                yield tuple(ids[:partition_size]), texts[:partition_size]
                ids, texts = ids[partition_size:], texts[partition_size:]
    if ids:
        yield tuple(ids), texts


def _load_rows(
    store: Store, task: PartitionTask, texts: list[str], rules: dict[str, ProductRules]
) -> Loading:
    """A partition from snapshot texts: as :func:`.local.load_partition`, with the states taken
    from the dataset instead of the store (closed accounts are left out, as the store's pages
    leave them out)."""
    timings_seconds = dict.fromkeys(STEPS, 0.0)
    with timed(timings_seconds, "load"):
        states, errors = {}, {}
        for account_id, text in zip(task.account_ids, texts, strict=True):
            state, error = _parse_state(text)
            if state is None:
                errors[account_id] = error
            elif state.status != "closed":
                states[account_id] = state
        first_date = task.business_dates[0]
        replayed = [i for i, state in states.items() if state.closed_through >= first_date]
        histories = store.load_events_after(dict.fromkeys(replayed, 0)) if replayed else {}
        return _settle(task, Loaded(states, histories, rules, errors), timings_seconds, attempt=1)


def _parse_state(text: str | None) -> tuple[AccountState | None, str]:
    """A state from snapshot JSON, or why it cannot be read (the kernel's wording)."""
    try:
        state = state_from_text(text or "")
    except _UNREADABLE as error:
        return None, f"unreadable snapshot: {type(error).__name__}: {error}"
    if state is None:
        return None, "snapshot of another layout version"
    return state, ""


def _settle(
    task: PartitionTask, loaded: Loaded, timings_seconds: dict[str, float], attempt: int
) -> Loading:
    """What needs no rule, settled by the embedded engine's own code; the rest is fresh.

    :func:`.local.close_loaded` sees only the accounts already closed through the last date, so
    it quarantines the unreadable, skips the closed and replays their rows, and runs no kernel.
    """
    last_date = task.business_dates[-1]
    done = {i: state for i, state in loaded.states.items() if state.closed_through >= last_date}
    settled = Loaded(done, loaded.histories, loaded.rules, loaded.errors)
    closing = close_loaded(settled, task.business_dates)
    fresh = {
        account_id: state
        for account_id, state in loaded.states.items()
        if account_id not in done and account_id not in closing.quarantined
    }
    return Loading(task, loaded.rules, closing, fresh, timings_seconds, attempt)


# --- write ---------------------------------------------------------------------------------------


def _commit(store: Store, loading: Loading, outputs: Mapping[str, dict]) -> PartitionResult:
    """Replay the kernel's events, then commit and publish the partition like the local engine."""
    closing, timings_seconds = loading.closing, loading.timings_seconds
    with timed(timings_seconds, "rules"):
        for account_id, state in loading.fresh.items():
            _take_output(loading, state, outputs[account_id])
        for rows in closing.snapshots.values():  # as the embedded engine: none of a quarantined
            rows[:] = [row for row in rows if row["account_id"] not in closing.quarantined]
        for rows in (*closing.snapshots.values(), *closing.changes.values()):
            rows.sort(key=lambda row: (row["account_id"], row.get("sequence", 0)))
    with timed(timings_seconds, "write"):
        appends = _appends(loading)
        if appends:
            store.append_many(appends)
        entries = [(q.business_date, q.account_id, q.error) for q in closing.quarantined.values()]
        store.save_quarantine(loading.task.run_id, entries)
    with timed(timings_seconds, "outputs"):
        write_parts(loading.task, closing)
    return PartitionResult(
        loading.task.partition_number,
        len(closing.fresh),
        closing.skipped,
        sum(len(append.events) for append in appends),
        tuple(sorted(closing.quarantined.values(), key=lambda q: q.account_id)),
        timings_seconds,
    )


def _take_output(loading: Loading, state: AccountState, output: Mapping[str, object]) -> None:
    """One account's kernel result into the partition's closing.

    The events are applied to the loaded state, keeping the snapshot row of each night of the
    run; the fold must end exactly on the state the kernel returned (checked, always on).
    """
    account_id, closing = state.account_id, loading.closing
    if output["error"] is not None:
        closing.quarantined[account_id] = _failure(state, loading.rules, loading.task, output)
        return
    if output["sequence_before"] != state.sequence:
        raise AssertionError(f"account {account_id}: the kernel closed another sequence")
    kind, current_bucket = product_facts(loading.rules, state)
    fresh = Fresh(state.sequence, state.delinquency.bucket, _events(str(output["events"])))
    dates = loading.task.business_dates
    for event in fresh.events:
        apply(state, event)
        if event.kind is EventKind.DAY_CLOSED and event.business_date in closing.snapshots:
            closing.snapshots[event.business_date].append(snapshot_row(state, kind))
    data = state_to_data(state)
    text = output["state"]
    if dumps(data) != text and not (isinstance(text, str) and loads(text) == data):
        # compared by value when the texts differ: an executor may write without orjson
        raise AssertionError(f"account {account_id}: its events do not fold to the kernel's state")
    closing.fresh[account_id] = fresh
    loading.snapshot_data[account_id] = data
    publish_changes(closing, account_id, fresh, current_bucket, dates)


def _appends(loading: Loading) -> list[Append]:
    """Each closed account's events, journal lines and snapshot, guarded by its loaded head (the
    embedded engine's appends, with the snapshot data already built for the fold check)."""
    appends = []
    for account_id, fresh in loading.closing.fresh.items():
        state = loading.fresh[account_id]
        first_sequence = fresh.sequence_before + 1
        records, lines = to_records(account_id, first_sequence, fresh.events, state.currency)
        snapshot = loading.snapshot_data[account_id]
        appends.append(
            Append(
                account_id,
                fresh.sequence_before,
                records,
                lines,
                snapshot=snapshot,
                status=state.status,
            )
        )
    return appends


def _events(text: str) -> list[Event]:
    """The night's events as the kernel ships them (system events: no request id)."""
    return [
        Event(
            EventKind(event["kind"]), dt.date.fromisoformat(event["business_date"]), event["data"]
        )
        for event in loads(text)
    ]


def _failure(
    state: AccountState,
    rules: Mapping[str, ProductRules],
    task: PartitionTask,
    output: Mapping[str, object],
) -> Quarantined:
    """The date and error the embedded engine records: the kernel again, here, date by date.

    The executor closed every date in one call, so its error does not say which night failed.
    Quarantine is rare, so the driver reruns the kernel on this one account to find out.
    """
    for day in task.business_dates:
        if state.closed_through >= day:
            continue
        (outcome,) = close_states([state], rules, day)
        if outcome.error is not None:
            return Quarantined(day, state.account_id, outcome.error)
    raise AssertionError(
        f"account {state.account_id} failed on Spark ({output['error']}) but closes on the driver"
    )
