"""Deterministic synthetic data sources for tests, the benchmark and the demo.

A synthetic credit bureau, multi-lending feed, platform history and blocklist, all driven by one
latent risk per applicant (:func:`latent_risk`, standard normal from a keyed hash of the applicant
id and the seed): riskier applicants have shorter histories, more overdue episodes that roll
further, higher utilisation, more inquiries and more multi-lending, and hit the blocklist more
often. About 8% are thin files (no bureau record, unknown to the multi-lending feed) and about 1%
hit the blocklist; every number is in ``data/sources.toml`` (``[synthetic]``) with its source.

One set of draws (:mod:`.sources_synthetic_draws`) feeds two generators:
:meth:`SyntheticSources.summary_columns` turns them straight into the flat source columns,
vectorised over the batch (the path the pipeline uses), and :meth:`SyntheticSources.report_for` /
``fetch`` build the raw PBOC-style reports from the same draws, which the one set of summarisers
(:mod:`.sources_summary`) then reads. A test proves the two agree, so the fast path cannot drift
from the rules.

Fault injection for tests: ``failure_rates={"bureau": {"timeout": 0.02, "error": 0.01}}`` makes
that share of applicants' lookups fail (deterministically, by applicant).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path

import numpy as np

from lendguard.underwriting.sources_config import SyntheticCalibration, load_synthetic_calibration
from lendguard.underwriting.sources_reports import (
    ANSWER_STATUSES,
    SOURCE_NAMES,
    SourceAnswer,
    SourceConfigError,
    SourceRequest,
    report_to_json,
)
from lendguard.underwriting.sources_synthetic_draws import (
    DRAWS,
    ERROR,
    TIMEOUT,
    Batch,
    Draws,
    Lanes,
    Tables,
    applicant_keys,
    risk_from_keys,
    uniform,
)

FAULTS = ("timeout", "error")
_STATUS_TEXT = np.array(ANSWER_STATUSES, dtype=object)


def latent_risk(applicant_ids: Sequence[str], seed: int) -> np.ndarray:
    """Each applicant's latent risk, standard normal, from a seeded hash of the applicant id
    (FNV-1a and SplitMix64, :func:`~.sources_synthetic_draws.applicant_keys`)."""
    return risk_from_keys(applicant_keys(applicant_ids, seed))


class SyntheticSources:
    """A deterministic synthetic bureau, multi-lending feed, platform history and blocklist.

    ``failure_rates`` injects faults: ``{"bureau": {"timeout": 0.02, "error": 0.01}}``. Not
    thread-safe (it remembers the last batch's applicants).
    """

    def __init__(
        self,
        seed: int,
        failure_rates: Mapping[str, Mapping[str, float]] | None = None,
        calibration: SyntheticCalibration | None = None,
    ) -> None:
        applicant_keys([], seed)  # checks the seed
        self.seed = seed
        self.failure_rates = _checked_rates(failure_rates or {})
        self.calibration = calibration or load_synthetic_calibration()
        self.tables = Tables.build(self.calibration)
        self.version = f"synthetic-{self.calibration.version}-seed-{seed}"
        nobody = np.zeros(0)
        self._last_people: tuple[list[str], np.ndarray, np.ndarray, np.ndarray] = (
            [],
            nobody,
            nobody,
            nobody,
        )

    def summary_columns(self, requests: Sequence[SourceRequest]) -> dict[str, np.ndarray]:
        """Every source's ``<source>_status``, ``<source>_error`` and value columns, vectorised."""
        batch = self._batch(requests)
        columns: dict[str, np.ndarray] = {}
        for name in SOURCE_NAMES:
            columns.update(self._columns(name, batch))
        return columns

    def source_columns(self, name: str, requests: Sequence[SourceRequest]) -> dict[str, np.ndarray]:
        """One source's status, error and value columns for a batch, vectorised."""
        return self._columns(name, self._batch(requests))

    def answers(self, name: str, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        """One source's raw answers (reports built from the same draws as the columns)."""
        draws = self._draws(name, self._batch(requests))
        return [_answer(name, draws, row) for row in range(len(requests))]

    def report_for(self, request: SourceRequest) -> dict[str, SourceAnswer]:
        """All four raw answers about one applicant, by source name."""
        return {name: self.answers(name, [request])[0] for name in SOURCE_NAMES}

    def sources(self) -> dict[str, SyntheticSource]:
        """One adapter per source, for :func:`~.sources.fetch_sources`."""
        return {name: SyntheticSource(self, name) for name in SOURCE_NAMES}

    def latent_risk(self, requests: Sequence[SourceRequest]) -> np.ndarray:
        """The latent risk of each request's applicant."""
        return self._batch(requests).risk

    def export_reports(self, requests: Sequence[SourceRequest], folder: Path) -> None:
        """Write each ``ok`` report to ``<folder>/<source>/<applicant_id>.json``, the layout
        :class:`~.sources.FileSource` reads (demo data, file-adapter tests)."""
        for name in SOURCE_NAMES:
            (folder / name).mkdir(parents=True, exist_ok=True)
            for request, answer in zip(requests, self.answers(name, requests), strict=True):
                if answer.report is not None:
                    path = folder / name / f"{request.applicant_id}.json"
                    path.write_bytes(report_to_json(name, answer.report))

    def _batch(self, requests: Sequence[SourceRequest]) -> Batch:
        """The batch's keys, risks and thin files; the four sources of one batch share them."""
        applicant_ids = [request.applicant_id for request in requests]
        if applicant_ids != self._last_people[0]:
            keys = applicant_keys(applicant_ids, self.seed)
            person = uniform(Lanes(keys, "person").fields(1)[0])
            thin = person < self.calibration.thin_file_share
            self._last_people = (applicant_ids, keys, risk_from_keys(keys), thin)
        _, keys, risk, thin = self._last_people
        return Batch(requests, self.tables, keys, risk, thin)

    def _draws(self, name: str, batch: Batch) -> Draws:
        return DRAWS[name](batch, self.failure_rates.get(name, {}))

    def _columns(self, name: str, batch: Batch) -> dict[str, np.ndarray]:
        draws = self._draws(name, batch)
        error = np.full(len(batch.keys), "", dtype=object)
        error[(draws.status == TIMEOUT) | (draws.status == ERROR)] = f"synthetic {name} fault"
        return {
            f"{name}_status": _STATUS_TEXT[draws.status],
            f"{name}_error": error,
            **draws.columns(),
        }


def _answer(name: str, draws: Draws, row: int) -> SourceAnswer:
    status = ANSWER_STATUSES[int(draws.status[row])]
    if status == "ok":
        return SourceAnswer("ok", draws.report(row))
    error = f"synthetic {name} fault" if status in FAULTS else None
    return SourceAnswer(status, None, error)


def _checked_rates(rates: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    for name, faults in rates.items():
        if name not in SOURCE_NAMES or not set(faults) <= set(FAULTS):
            raise SourceConfigError(
                f"failure_rates: {name!r}: {dict(faults)} (sources {SOURCE_NAMES}, faults {FAULTS})"
            )
        if any(not 0 <= rate <= 1 for rate in faults.values()) or sum(faults.values()) > 1:
            raise SourceConfigError(f"failure_rates: {name}: rates must be in [0, 1], sum <= 1")
    return {name: dict(faults) for name, faults in rates.items()}


class SyntheticSource:
    """One synthetic source as an adapter: ``fetch`` builds raw reports, ``summary_columns`` is the
    vectorised path :func:`~.sources.fetch_sources` prefers."""

    def __init__(
        self,
        parent: SyntheticSources,
        name: str,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if name not in SOURCE_NAMES:
            raise SourceConfigError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
        self.parent = parent
        self.name = name
        self.version = parent.version
        self.clock = clock

    def fetch(self, requests: Sequence[SourceRequest]) -> list[SourceAnswer]:
        """Raw answers; the latency is the batch's generation time shared out per request."""
        started = self.clock()
        answers = self.parent.answers(self.name, requests)
        latency_ms = (self.clock() - started) * 1000 / max(1, len(requests))
        return [
            SourceAnswer(answer.status, answer.report, answer.error, latency_ms)
            for answer in answers
        ]

    def summary_columns(self, requests: Sequence[SourceRequest]) -> dict[str, np.ndarray]:
        """This source's status, error and value columns, vectorised."""
        return self.parent.source_columns(self.name, requests)


def request_batch(count: int, applied_on: date, prefix: str = "applicant") -> list[SourceRequest]:
    """``count`` distinct synthetic requests on one date (tests, benchmark, demo)."""
    return [
        SourceRequest(
            application_id=f"application-{index:08d}",
            applicant_id=f"{prefix}-{index:08d}",
            applied_on=applied_on,
            id_number="11010519491231002X",
            name="synthetic",
            phone="13800000000",
        )
        for index in range(count)
    ]
