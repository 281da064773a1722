"""The decision engine: from validated applications to approve / decline / refer, vectorised.

Every step works on a table of applications (see ``docs/underwriting.md`` for the columns), so one
application and a batch of a hundred thousand run the same code: intake and consent columns, the
data sources (queried only with consent), affordability, the policy rule set (champion or
challenger by a stable hash of the application id), the application score and its grade, then
limit and price. Each decision carries its reasons in Chinese and English, the versions of every
rule set, model and configuration that made it, and per-step timings.

The decision rule, in order of precedence:
1. any policy decline, a score below ``score.decline_below``, or a limit below the product's
   smallest draw -> **decline**;
2. else any policy referral or a score below ``score.refer_below`` -> **refer** (human review);
3. else **approve** with limit = min(affordable limit, grade limit, product limit), floored to
   whole currency units, at the grade's daily rate with its APR disclosed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lendguard.money import parse_minor
from lendguard.products.loader import ProductFile
from lendguard.scoring.registry import SavedModel
from lendguard.underwriting.affordability import AffordabilityConfig, affordability_columns
from lendguard.underwriting.application import (
    Application,
    ApplicationError,
    application_columns,
    application_frame,
)
from lendguard.underwriting.config import Grade, UnderwritingConfig
from lendguard.underwriting.consent import consent_arrays
from lendguard.underwriting.policy import RuleSet, evaluate, reason_text
from lendguard.underwriting.pricing import Quote, quote
from lendguard.underwriting.sources import (
    FailurePolicy,
    Source,
    SourceRequest,
    fetch_source_columns,
)
from lendguard.underwriting.table import ColumnTable

CONSENT_COLUMNS = (
    "consent_bureau",
    "consent_multi_lending",
    "consent_platform",
    "consent_blocklist",
)
WHOLE_UNIT_MINOR = 100
"""Limits are whole yuan: 100 fen."""

ROUTE_BUCKETS = 10_000
"""Resolution of champion/challenger routing: shares are honoured to 0.01%."""


@dataclass(frozen=True)
class Parts:
    """Everything a decision depends on; its versions go into every audit record."""

    config: UnderwritingConfig
    products: Mapping[str, ProductFile]
    model: SavedModel | None
    champion: RuleSet
    challenger: RuleSet
    affordability: AffordabilityConfig
    sources: Mapping[str, Source]
    failure_policy: FailurePolicy

    def versions(self) -> dict[str, Any]:
        """What an auditor needs to reproduce a decision."""
        return {
            "config": {
                "id": self.config.underwriting.id,
                "version": self.config.underwriting.version,
                "sha256": self.config.sha256,
            },
            "model": None
            if self.model is None
            else {
                "name": self.model.name,
                "version": self.model.version,
                "sha256": self.model.sha256,
            },
            "champion_policy": _ruleset_version(self.champion),
            "challenger_policy": _ruleset_version(self.challenger),
            "products": {
                product_id: {"version": product.version, "sha256": product.sha256}
                for product_id, product in self.products.items()
            },
            "sources": {name: source.version for name, source in self.sources.items()},
        }


@dataclass(frozen=True)
class Decision:
    """One application's outcome, as the CLI prints it and the audit record stores it."""

    application_id: str
    decision: str
    limit_minor: int
    proposed_limit_minor: int
    daily_rate_percent: str | None
    apr_percent: str | None
    apr_convention: str | None
    grade: str | None
    score: float | None
    route: str
    reasons: list[dict[str, str]]
    inputs: dict[str, Any]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The fields a caller sees: ``decision``, ``limit``, ``daily_rate``, ``apr`` ..."""
        return {
            "application_id": self.application_id,
            "decision": self.decision,
            "limit": f"{self.limit_minor // 100}.{self.limit_minor % 100:02d}",
            "limit_minor": self.limit_minor,
            "proposed_limit_minor": self.proposed_limit_minor,
            "daily_rate": self.daily_rate_percent,
            "apr": self.apr_percent,
            "apr_convention": self.apr_convention,
            "grade": self.grade,
            "score": self.score,
            "route": self.route,
            "reasons": self.reasons,
        }


class Underwriter:
    """Decides batches of applications with one set of :class:`Parts`."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.versions = parts.versions()
        self._features = [] if parts.model is None else parts.model.features
        self._product_facts = _product_facts(parts.products)

    def decide(self, application: Application) -> Decision:
        """One application: a batch of one."""
        return self.decide_batch([application]).decisions()[0]

    def decide_batch(self, applications: Sequence[Application]) -> DecisionBatch:
        """Decide every application; rows keep the input order."""
        self.check_products(applications)
        assert self.parts.model is not None, "deciding needs an application score model"
        timings: dict[str, float] = {}
        frame = self._table(applications, timings)
        started = time.perf_counter()
        outputs = self._outputs(frame)
        timings["decide"] = time.perf_counter() - started
        rows = max(len(applications), 1)
        return DecisionBatch(
            inputs=frame,
            outputs=outputs,
            timings_ms={step: seconds * 1000 / rows for step, seconds in timings.items()},
        )

    def features(
        self, applications: Sequence[Application], timings: dict[str, float] | None = None
    ) -> pd.DataFrame:
        """The application table every rule reads: intake, consent, sources, affordability."""
        if not applications:
            return application_frame(applications)
        return self._table(applications, timings).to_frame()

    def _table(
        self, applications: Sequence[Application], timings: dict[str, float] | None = None
    ) -> ColumnTable:
        """:meth:`features` as arrays (:mod:`.table`): the decision path's own table."""
        clock = _StepClock(timings if timings is not None else {})
        with clock("intake"):
            columns = application_columns(applications)
            columns |= consent_arrays(applications)
            columns |= self._product_columns(columns)
        with clock("sources"):
            requests = [_source_request(application) for application in applications]
            consent = {column: columns[column] for column in CONSENT_COLUMNS}
            columns |= fetch_source_columns(
                requests, consent, self.parts.sources, self.parts.failure_policy
            )
            table = ColumnTable(columns)
        with clock("affordability"):
            factors = self._instalment_factors(table)
            added = affordability_columns(table, self.parts.affordability, factors)
            table = table.with_columns(added)
        return table

    def _product_columns(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each row's product limits and whether it offers the requested term."""
        facts = self._product_facts
        product_ids = columns["product_id"]
        terms = columns["requested_term_months"]
        offered = np.array([int(t) in facts[p][2] for p, t in zip(product_ids, terms, strict=True)])
        longest = np.array([facts[p][3] for p in product_ids], dtype=np.int64)
        return {
            "product_amount_max_minor": np.array(
                [facts[p][0] for p in product_ids], dtype=np.int64
            ),
            "product_draw_min_minor": np.array([facts[p][1] for p in product_ids], dtype=np.int64),
            "term_offered": offered.astype(bool),
            "pricing_term_months": np.where(offered, terms, longest),
        }

    def check_products(self, applications: Sequence[Application]) -> None:
        """Refuse applications for products this engine does not underwrite."""
        unknown = sorted({a.product_id for a in applications} - set(self.parts.products))
        if unknown:
            raise ApplicationError(
                f"no underwriting configured for product(s): {', '.join(unknown)}"
            )

    def _instalment_factors(self, frame: ColumnTable) -> np.ndarray:
        """Payment per unit lent at the highest grade rate: affordability errs on the safe side.

        Priced once per distinct (product, term, application date), not once per row.
        """
        highest_rate = max(self.parts.config.grade, key=lambda grade: grade.daily_rate)
        codes, uniques = _factorize(
            zip(
                frame["product_id"],
                frame["pricing_term_months"],
                frame["applied_on"],
                strict=True,
            )
        )
        factors = np.array(
            [
                self._quote(
                    product_id, highest_rate.daily_rate_percent, term, applied_on
                ).instalment_per_unit
                for product_id, term, applied_on in uniques
            ]
        )
        return factors[codes]

    def _quote(self, product_id: str, rate_percent: str, term: int, applied_on: Any) -> Quote:
        pricing = self.parts.config.pricing
        return quote(
            self.parts.products[product_id],
            rate_percent,
            int(term),
            pd.Timestamp(applied_on).date(),
            pricing.method,
            self.parts.config.amount_minor(pricing.reference_principal),
        )

    def _outputs(self, frame: ColumnTable) -> pd.DataFrame:
        """The decision columns: decision, limit, grade, score, price, route and reason codes."""
        config = self.parts.config
        challenger = _routed_to_challenger(frame["application_id"], config)
        policy_outcome, policy_reasons = self._policy(frame, challenger)
        model = self.parts.model
        assert model is not None
        score = np.asarray(model.model.credit_score({name: frame[name] for name in self._features}))
        grade_index = _grade_index(score, config)
        limit_minor = self._limits(frame, grade_index)
        too_small = limit_minor < frame["product_draw_min_minor"]
        decline = (policy_outcome == "decline") | (score < config.score.decline_below) | too_small
        refer = ~decline & ((policy_outcome == "refer") | (score < config.score.refer_below))
        decision = np.where(decline, "decline", np.where(refer, "refer", "approve"))
        grades = [config.grade[index] for index in grade_index]
        outputs = {
            "application_id": frame["application_id"],
            "decision": decision,
            "limit_minor": np.where(decision == "approve", limit_minor, 0),
            "proposed_limit_minor": limit_minor,
            "grade": [grade.name for grade in grades],
            "score": np.round(score, 2),
            "route": np.where(challenger, "challenger", "champion"),
        }
        outputs |= self._price(frame, decision, grades)
        outputs["reason_codes"] = _reason_codes(
            policy_reasons, score, too_small, decision, challenger, limit_minor, frame, config
        )
        return pd.DataFrame(outputs)

    def _price(
        self, frame: ColumnTable, decision: np.ndarray, grades: list[Grade]
    ) -> dict[str, np.ndarray]:
        """The grade's daily rate and its APR, quoted once per distinct price, for every row.

        A referral gets the price it would have if a reviewer approves; a decline gets none.
        """
        rates = [grade.daily_rate_percent for grade in grades]
        codes, uniques = _factorize(
            zip(
                frame["product_id"],
                rates,
                frame["pricing_term_months"],
                frame["applied_on"],
                strict=True,
            )
        )
        quotes = [self._quote(p, rate, term, on) for p, rate, term, on in uniques]
        priced = decision != "decline"
        return {
            "daily_rate": np.where(priced, rates, None),
            "apr": np.where(priced, [quotes[code].apr_percent for code in codes], None),
            "apr_convention": np.where(
                priced, [quotes[code].apr.convention for code in codes], None
            ),
        }

    def _policy(
        self, frame: ColumnTable, challenger: np.ndarray
    ) -> tuple[np.ndarray, list[list[str]]]:
        outcome = np.full(len(frame), "pass", dtype=object)
        reasons: list[list[str]] = [[] for _ in range(len(frame))]
        for mask, ruleset in (
            (~challenger, self.parts.champion),
            (challenger, self.parts.challenger),
        ):
            if not mask.any():
                continue
            rows = np.flatnonzero(mask)
            part = frame if len(rows) == len(frame) else frame.take(rows)
            part_outcome, part_reasons = evaluate(part, ruleset)
            outcome[rows] = part_outcome
            for row, row_reasons in zip(rows, part_reasons, strict=True):
                reasons[row] = list(row_reasons)
        return outcome, reasons

    def _limits(self, frame: ColumnTable, grade_index: np.ndarray) -> np.ndarray:
        grade_limits = np.array(self.parts.config.grade_limits_minor(), dtype=np.int64)
        limit = np.minimum.reduce(
            [
                frame["affordable_limit_minor"].astype(np.int64, copy=False),
                grade_limits[grade_index],
                frame["product_amount_max_minor"].astype(np.int64, copy=False),
            ]
        )
        return np.maximum(limit // WHOLE_UNIT_MINOR * WHOLE_UNIT_MINOR, 0)


class _StepClock:
    """Adds the wall time of each named step to a timings mapping."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self._name = ""
        self._started = 0.0

    def __call__(self, name: str) -> _StepClock:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._started
        self.timings[self._name] = self.timings.get(self._name, 0.0) + elapsed


def _product_facts(
    products: Mapping[str, ProductFile],
) -> dict[str, tuple[int, int, frozenset[int], int]]:
    """Per cash-loan product: largest amount, smallest draw, terms offered, longest term."""
    return {
        product_id: (
            parse_minor(loan.credit_limit, product.product.product.currency),
            parse_minor(loan.draw_min, product.product.product.currency),
            frozenset(loan.terms),
            max(loan.terms),
        )
        for product_id, product in products.items()
        if (loan := product.product.cash_loan) is not None
    }


def _factorize(keys: Iterable[tuple[Any, ...]]) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Codes into the distinct keys, in first-seen order: price each distinct key once."""
    positions: dict[tuple[Any, ...], int] = {}
    codes = [positions.setdefault(key, len(positions)) for key in keys]
    return np.array(codes, dtype=np.int64), list(positions)


def _reason_codes(
    policy_reasons: list[list[str]],
    score: np.ndarray,
    too_small: np.ndarray,
    decision: np.ndarray,
    challenger: np.ndarray,
    limit_minor: np.ndarray,
    frame: ColumnTable,
    config: UnderwritingConfig,
) -> list[list[str]]:
    """Each row's codes: the policy's, then the score band's, the limit's and the route's."""
    reduced = (decision == "approve") & (limit_minor < frame["requested_amount_minor"])
    low = score < config.score.decline_below
    review = ~low & (score < config.score.refer_below)
    extra = [
        (low, "SCORE_BELOW_CUTOFF"),
        (review, "SCORE_REVIEW_BAND"),
        (too_small, "LIMIT_BELOW_MINIMUM"),
        (reduced, "AMOUNT_REDUCED_TO_AFFORDABLE"),
        (challenger, "CHALLENGER_POLICY"),
    ]
    codes = [list(reasons) for reasons in policy_reasons]
    for mask, code in extra:
        for row in np.flatnonzero(mask):
            codes[row].append(code)
    return [list(dict.fromkeys(row)) for row in codes]


@dataclass(frozen=True)
class DecisionBatch:
    """A decided batch: the input table, the decision columns, and per-row step timings."""

    inputs: ColumnTable
    outputs: pd.DataFrame
    timings_ms: dict[str, float]

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The input table as a DataFrame, built on first use (a single decision never needs
        it)."""
        return self.inputs.to_frame()

    def decisions(self) -> list[Decision]:
        """One :class:`Decision` per row, with its inputs (for the audit record)."""
        outputs = {name: self.outputs[name].tolist() for name in self.outputs.columns}
        columns = [str(name) for name in self.inputs.columns]
        values = list(zip(*(self.inputs[name].tolist() for name in columns), strict=True))
        return [
            Decision(
                application_id=str(outputs["application_id"][row]),
                decision=outputs["decision"][row],
                limit_minor=int(outputs["limit_minor"][row]),
                proposed_limit_minor=int(outputs["proposed_limit_minor"][row]),
                daily_rate_percent=outputs["daily_rate"][row],
                apr_percent=outputs["apr"][row],
                apr_convention=outputs["apr_convention"][row],
                grade=outputs["grade"][row],
                score=float(outputs["score"][row]),
                route=outputs["route"][row],
                reasons=[reason_text(code) for code in outputs["reason_codes"][row]],
                inputs={
                    name: _plain(value) for name, value in zip(columns, values[row], strict=True)
                },
                timings_ms=self.timings_ms,
            )
            for row in range(len(self.outputs))
        ]

    def table(self) -> pd.DataFrame:
        """Outputs and inputs side by side, reasons as JSON text: what batch mode writes."""
        outputs = self.outputs.drop(columns=["reason_codes"]).assign(
            reasons=[json.dumps(codes) for codes in self.outputs["reason_codes"]]
        )
        inputs = self.frame.drop(columns=["application_id"]).add_prefix("input_")
        return pd.concat([outputs, inputs.set_index(outputs.index)], axis=1)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _routed_to_challenger(application_ids: pd.Series, config: UnderwritingConfig) -> np.ndarray:
    """A stable share of applications by a hash of their id (the same id always routes alike)."""
    threshold = int(config.challenger_share * ROUTE_BUCKETS)
    buckets = np.array(
        [
            int.from_bytes(hashlib.blake2b(str(value).encode(), digest_size=8).digest(), "big")
            % ROUTE_BUCKETS
            for value in application_ids
        ]
    )
    return buckets < threshold


def _grade_index(score: np.ndarray, config: UnderwritingConfig) -> np.ndarray:
    """Index of the first grade (best first) whose ``score_min`` the score reaches."""
    minimums = np.array([grade.score_min for grade in config.grade])
    reached = score[:, None] >= minimums[None, :]
    return np.where(reached.any(axis=1), reached.argmax(axis=1), len(minimums) - 1)


def _source_request(application: Application) -> SourceRequest:
    applicant = application.applicant
    return SourceRequest(
        application_id=application.application_id,
        applicant_id=applicant.applicant_id,
        applied_on=application.applied_on,
        id_number=applicant.id_number,
        name=applicant.name,
        phone=applicant.phone,
    )


def _ruleset_version(ruleset: RuleSet) -> dict[str, str]:
    return {"id": ruleset.id, "version": ruleset.version, "sha256": ruleset.digest}
