"""Data sources behind adapters: ask each source only with consent, summarise, label failures.

:func:`fetch_sources` is the pipeline's step: for each of the four sources (credit bureau,
multi-lending feed, the platform's own history, blocklist) it asks the adapter about the rows whose
consent column is true (no consent, no query: the others get status ``no_consent`` and never reach
the adapter), turns the answers into the flat columns of ``docs/underwriting.md`` with the one set
of summarisers (:mod:`.sources_summary`), and labels failures with the configured action of the
:class:`~.sources_config.FailurePolicy`. An adapter that raises, or answers out of contract, turns
into status ``error`` for the rows it was asked about: a batch never crashes on a source.

An adapter is anything with ``name``, ``version`` and ``fetch(requests) -> list[SourceAnswer]``
(:class:`Source`). One that can also produce the columns directly, vectorised
(``summary_columns``, :class:`VectorisedSource`, e.g. the synthetic sources), is used that way.
Adapters here: :class:`FileSource`; :class:`~.sources_http.HttpSource` (httpx);
:class:`~.sources_synthetic.SyntheticSources`.

Module map: records and columns in :mod:`.sources_reports`, the rules in :mod:`.sources_summary`,
configuration in :mod:`.sources_config`, synthetic sources in :mod:`.sources_synthetic`, HTTP in
:mod:`.sources_http`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from lendguard.underwriting.sources_config import (
    FailurePolicy,
    SourceFailurePolicy,
    load_failure_policy,
)
from lendguard.underwriting.sources_reports import (
    ANSWER_STATUSES,
    COLUMN_DTYPES,
    FAILED_STATUSES,
    MISSING_VALUES,
    NO_CONSENT,
    REPORT_TYPES,
    SOURCE_COLUMNS,
    SOURCE_NAMES,
    BlocklistResult,
    BureauAccount,
    BureauInquiry,
    BureauReport,
    MultiLendingReport,
    PlatformHistory,
    Report,
    SourceAnswer,
    SourceConfigError,
    SourceDataError,
    SourceRequest,
    SourceRequestError,
    missing_columns,
    report_from_json,
    report_to_json,
)
from lendguard.underwriting.sources_summary import (
    as_days,
    summarise,
    summarise_blocklist,
    summarise_bureau,
    summarise_multi_lending,
    summarise_platform,
)

__all__ = [
    "MISSING_VALUES",
    "SOURCE_COLUMNS",
    "SOURCE_NAMES",
    "BlocklistResult",
    "BureauAccount",
    "BureauInquiry",
    "BureauReport",
    "FailurePolicy",
    "FileSource",
    "MultiLendingReport",
    "PlatformHistory",
    "Source",
    "SourceAnswer",
    "SourceConfigError",
    "SourceDataError",
    "SourceFailurePolicy",
    "SourceRequest",
    "SourceRequestError",
    "VectorisedSource",
    "fetch_sources",
    "load_failure_policy",
    "report_from_json",
    "report_to_json",
    "source_frame_columns",
    "summarise_blocklist",
    "summarise_bureau",
    "summarise_multi_lending",
    "summarise_platform",
]

FAILURE_ACTIONS = ("", "refer", "decline")
"""``sources_failure_action`` values, least to most strict."""
_FAILED_LABELS = np.array(
    [
        ",".join(name for bit, name in enumerate(SOURCE_NAMES) if mask >> bit & 1)
        for mask in range(1 << len(SOURCE_NAMES))
    ],
    dtype=object,
)
"""``sources_failed`` text for each bit mask of failed sources (bit i = ``SOURCE_NAMES[i]``)."""
_ACTION_LABELS = np.array(FAILURE_ACTIONS, dtype=object)
_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


@runtime_checkable
class Source(Protocol):
    """An adapter: one answer per request, in order. It may raise; the caller copes."""

    name: str
    version: str

    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]: ...


@runtime_checkable
class VectorisedSource(Source, Protocol):
    """An adapter that can also give its columns for a batch at once.

    ``summary_columns`` returns ``<name>_status`` (ok, no_record, timeout, error),
    ``<name>_error`` (str, "" when none) and the source's value columns, one entry per request.
    """

    def summary_columns(self, requests: Sequence[SourceRequest]) -> dict[str, np.ndarray]: ...


# --- file adapter -------------------------------------------------------------------------------


class FileSource:
    """Reads ``<folder>/<applicant_id>.json``: the report dataclass as JSON, validated strictly.

    A missing file is ``no_record``; a file that cannot be read or breaks the schema is ``error``
    with the reason; an applicant id that is not a plain file name (letters, digits and
    ``_ . : -``, not starting with a dot) is ``error``: no path tricks.
    """

    def __init__(
        self,
        name: str,
        folder: Path | str,
        version: str = "file-1",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if name not in SOURCE_NAMES:
            raise SourceConfigError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
        self.name = name
        self.folder = Path(folder)
        self.version = version
        self.clock = clock

    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        """One answer per request, each timed."""
        return [self._answer(request) for request in requests]

    def _answer(self, request: SourceRequest) -> SourceAnswer:
        started = self.clock()
        status, report, error = self._read(request.applicant_id)
        return SourceAnswer(status, report, error, (self.clock() - started) * 1000)

    def _read(self, applicant_id: str) -> tuple[str, Report | None, str | None]:
        if not _SAFE_FILE_NAME.fullmatch(applicant_id):
            return "error", None, f"applicant_id {applicant_id!r} is not a safe file name"
        path = self.folder / f"{applicant_id}.json"
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return "no_record", None, None
        except OSError as exc:
            return "error", None, f"{path}: cannot read: {exc.strerror or exc}"
        try:
            return "ok", report_from_json(self.name, body), None
        except SourceDataError as exc:
            return "error", None, f"{path}: {exc.message}"


# --- the pipeline step --------------------------------------------------------------------------


def source_frame_columns() -> list[str]:
    """The columns :func:`fetch_sources` returns, in order."""
    columns = []
    for name in SOURCE_NAMES:
        columns += [f"{name}_status", *SOURCE_COLUMNS[name]]
        columns += [f"{name}_latency_ms", f"{name}_error"]
    return [*columns, "sources_failed", "sources_failure_action"]


def fetch_sources(
    requests: Sequence[SourceRequest],
    consent: Mapping[str, np.ndarray],
    sources: Mapping[str, Source],
    policy: FailurePolicy,
    clock: Callable[[], float] = time.perf_counter,
) -> pd.DataFrame:
    """All source columns for a batch, one row per request, in order (a fresh RangeIndex);
    :func:`fetch_source_columns` as a DataFrame."""
    columns = fetch_source_columns(requests, consent, sources, policy, clock)
    return pd.DataFrame(columns, copy=False)  # no copy: ten times faster on a large batch


def fetch_source_columns(
    requests: Sequence[SourceRequest],
    consent: Mapping[str, np.ndarray],
    sources: Mapping[str, Source],
    policy: FailurePolicy,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, np.ndarray]:
    """All source columns for a batch as arrays, one row per request, in order.

    ``consent`` holds ``consent_<source>`` bool arrays; only rows with consent are asked. Adds per
    source ``<source>_status`` (ok, no_record, no_consent, timeout, error), ``<source>_latency_ms``
    (NaN when not asked) and ``<source>_error`` (the reason, "" when none); then ``sources_failed``
    (comma-joined names of sources that timed out or failed) and ``sources_failure_action`` ("",
    "refer" or "decline": the strictest ``on_failure`` over the failed sources).
    """
    _check_setup(requests, consent, sources)
    requests = list(requests)
    columns: dict[str, np.ndarray] = {}
    for name in SOURCE_NAMES:
        asked = np.flatnonzero(consent[f"consent_{name}"])
        if len(asked) == len(requests):
            asked_requests = requests
        else:
            asked_requests = [requests[row] for row in asked.tolist()]
        part = _source_part(name, sources[name], asked_requests, clock)
        columns.update(_spread(name, part, asked, len(requests)))
    columns.update(_failure_columns(columns, policy, len(requests)))
    assert list(columns) == source_frame_columns(), "columns in contract order"
    return columns


def _check_setup(
    requests: Sequence[SourceRequest], consent: Mapping[str, np.ndarray], sources: Mapping
) -> None:
    if set(sources) != set(SOURCE_NAMES):
        raise SourceConfigError(
            f"sources must be exactly {', '.join(SOURCE_NAMES)}; got {', '.join(sources)}"
        )
    for request in requests:
        if not isinstance(request, SourceRequest):
            raise SourceRequestError(f"expected SourceRequest, got {type(request).__name__}")
    for name in SOURCE_NAMES:
        column = f"consent_{name}"
        if column not in consent:
            raise SourceConfigError(f"consent has no {column} column (no consent, no query)")
        values = np.asarray(consent[column])
        if values.dtype != np.bool_ or values.shape != (len(requests),):
            raise SourceConfigError(
                f"{column} must be a bool array of {len(requests)} rows, got {values.dtype} "
                f"{values.shape}"
            )


def _source_part(
    name: str, source: Source, requests: list[SourceRequest], clock: Callable[[], float]
) -> dict[str, np.ndarray]:
    """The asked rows' status, error, latency and value columns.

    Whatever the adapter does (raises, answers out of contract) becomes status ``error`` for the
    rows it was asked about; the summarising after it is ours and may not fail silently.
    """
    if not requests:
        return _failed_part(name, 0, "", np.nan)
    started = clock()
    summary_columns = getattr(source, "summary_columns", None)  # isinstance() is slower
    try:
        if callable(summary_columns):
            part = _checked_columns(name, summary_columns(requests), len(requests))
        else:
            answers = _checked_answers(source.fetch(requests), len(requests))
    except Exception as exc:  # an adapter's failure is a status, never a crashed batch
        latency_ms = (clock() - started) * 1000 / len(requests)
        return _failed_part(name, len(requests), f"{type(exc).__name__}: {exc}", latency_ms)
    if callable(summary_columns):
        latency_ms = (clock() - started) * 1000 / len(requests)
        return {**part, f"{name}_latency_ms": np.full(len(requests), latency_ms)}
    applied = as_days([request.applied_on for request in requests])
    return _summarise_answers(name, answers, applied)


def _checked_columns(name: str, part: Mapping[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    expected = [f"{name}_status", f"{name}_error", *SOURCE_COLUMNS[name]]
    missing = [column for column in expected if column not in part]
    if missing:
        raise SourceDataError(f"{name} adapter returned no {', '.join(missing)}")
    checked = {column: np.asarray(part[column], dtype=object) for column in expected[:2]}
    for column in SOURCE_COLUMNS[name]:  # same_kind: a float count is refused, not truncated
        values = np.asarray(part[column])
        checked[column] = values.astype(COLUMN_DTYPES[column], casting="same_kind", copy=False)
    if any(len(values) != rows for values in checked.values()):
        raise SourceDataError(f"{name} adapter returned columns of the wrong length")
    if not np.isin(checked[f"{name}_status"], ANSWER_STATUSES).all():
        raise SourceDataError(f"{name} adapter returned an unknown status")
    return checked


def _checked_answers(answers: object, rows: int) -> list[SourceAnswer]:
    if not isinstance(answers, list) or len(answers) != rows:
        raise SourceDataError(f"adapter returned {type(answers).__name__}, not {rows} answers")
    if not all(isinstance(answer, SourceAnswer) for answer in answers):
        raise SourceDataError("adapter returned something that is not a SourceAnswer")
    return answers


def _summarise_answers(
    name: str, answers: list[SourceAnswer], applied: np.ndarray
) -> dict[str, np.ndarray]:
    answers = [
        _checked_answer(name, answer, day) for answer, day in zip(answers, applied, strict=True)
    ]
    return {
        f"{name}_status": np.array([answer.status for answer in answers], dtype=object),
        f"{name}_error": np.array([answer.error or "" for answer in answers], dtype=object),
        f"{name}_latency_ms": np.array([answer.latency_ms for answer in answers], dtype=float),
        **summarise(name, [answer.report for answer in answers], applied),
    }


def _checked_answer(name: str, answer: SourceAnswer, applied: np.datetime64) -> SourceAnswer:
    """An ``ok`` answer whose report is the wrong type or dated after the application -> error."""
    if answer.report is None:
        return answer
    if not isinstance(answer.report, REPORT_TYPES[name]):
        problem = f"{name} adapter answered a {type(answer.report).__name__}"
        return SourceAnswer("error", None, problem, answer.latency_ms)
    if isinstance(answer.report, BureauReport):
        applied_on: date = applied.item()
        future = [account for account in answer.report.accounts if account.opened_on > applied_on]
        if future:
            problem = f"bureau account opened_on {future[0].opened_on} is after {applied_on}"
            return SourceAnswer("error", None, problem, answer.latency_ms)
    return answer


def _failed_part(name: str, rows: int, error: str, latency_ms: float) -> dict[str, np.ndarray]:
    return {
        f"{name}_status": np.full(rows, "error", dtype=object),
        f"{name}_error": np.full(rows, error, dtype=object),
        f"{name}_latency_ms": np.full(rows, latency_ms),
        **missing_columns(name, rows),
    }


def _spread(
    name: str, part: Mapping[str, np.ndarray], asked: np.ndarray, rows: int
) -> dict[str, np.ndarray]:
    """The asked rows' columns placed into full-length columns; the rest are ``no_consent``.

    In contract order: status, values, latency, error."""
    order = [f"{name}_status", *SOURCE_COLUMNS[name], f"{name}_latency_ms", f"{name}_error"]
    if len(asked) == rows:
        return {column: part[column] for column in order}
    full = {
        f"{name}_status": np.full(rows, NO_CONSENT, dtype=object),
        **missing_columns(name, rows),
        f"{name}_latency_ms": np.full(rows, np.nan),
        f"{name}_error": np.full(rows, "", dtype=object),
    }
    for column in order:
        full[column][asked] = part[column]
    return full


def _failure_columns(
    columns: Mapping[str, np.ndarray], policy: FailurePolicy, rows: int
) -> dict[str, np.ndarray]:
    """``sources_failed`` and ``sources_failure_action`` from the statuses and the policy."""
    failed_mask = np.zeros(rows, dtype=np.int64)
    action = np.zeros(rows, dtype=np.int64)
    for bit, name in enumerate(SOURCE_NAMES):
        status = columns[f"{name}_status"]
        failed = np.logical_or.reduce([status == failure for failure in FAILED_STATUSES])
        failed_mask |= failed << bit
        strictness = FAILURE_ACTIONS.index(policy.for_source(name).on_failure)
        action = np.maximum(action, failed * strictness)
    return {
        "sources_failed": _FAILED_LABELS[failed_mask],
        "sources_failure_action": _ACTION_LABELS[action],
    }
