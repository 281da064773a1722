"""Loan applications as they arrive: validated models, identity checks and the intake columns.

**The one input form** (a JSON object, or a Python dict of the same shape)::

    {"application_id": "APP-2026-000123", "applied_on": "2026-03-02",
     "product_id": "jiebei-standard", "requested_amount": "20000.00", "requested_term_months": 12,
     "applicant": {"applicant_id": "P-88120", "name": "王芳", "id_number": "11010519491231002X",
                   "phone": "13912345678", "birth_date": "1949-12-31", "region": "beijing",
                   "monthly_income": "12000.00", "income_verified": true, "employment": "employed",
                   "employment_months": 36, "monthly_obligations": "1500.00", "dependants": 1},
     "consents": [{"source": "bureau", "purpose": "loan_application", "form": "written",
                   "granted_on": "2026-03-02", "withdrawn_on": null}]}

Money is yuan (CNY) written as a decimal string with at most two decimals (``"20000.00"``), read by
:func:`lendguard.money.parse_minor` into integer fen; JSON numbers are refused for money because a
float cannot hold every amount. In Python the amounts are the ``*_minor`` attributes
(``requested_amount_minor``); ``model_dump`` writes the string form back. Dates are ISO strings
(``"2026-03-02"``). Integers and booleans must be JSON integers and booleans, not strings. Unknown
keys are errors, so a misspelt field never falls back to a default.

**What is not a parse error.** An applicant under 18, an amount above the product maximum and an
identity number whose checksum or birth date does not match are policy outcomes: the application
parses, and the rules decline on ``age_years``, ``requested_amount_minor`` and ``id_number_valid``.

**Batch layout** (:func:`parse_application_rows`, one application per row of a CSV or Parquet file):
the top-level fields keep their names (``application_id``, ``applied_on``, ``product_id``,
``requested_amount``, ``requested_term_months``); each applicant field ``f`` is the column
``applicant_f`` (``applicant_name``, ``applicant_id_number``, ``applicant_monthly_income`` ...),
except ``applicant_id``, which already has the prefix; each consent is four columns per source
``consent_<source>_form``, ``consent_<source>_purpose``, ``consent_<source>_granted_on`` and
``consent_<source>_withdrawn_on`` (source: bureau, multi_lending, platform, blocklist, sensitive),
at most one consent per source per row, empty cells meaning no consent. Read a CSV with
``dtype=str`` so amounts stay exact; integer and boolean cells may then be text (``"24"``,
``"true"``). Errors name the flat column.

**Personal information.** Name, identity number and phone never appear in an error message (no
error echoes any input value), in ``repr`` or in the intake frame, which holds only derived
columns; use :func:`masked_id_number` and :func:`masked_phone` for logs and audit records.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from lendguard import limits
from lendguard.errors import InvalidAmountError, LendGuardError
from lendguard.money import format_minor, parse_minor

CURRENCY = "CNY"
"""Applications are in yuan: the products underwriting serves lend in CNY."""

DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2199, 12, 31)
"""Dates outside this range are typos, not applications."""

EMPLOYMENT_MONTHS_MAX = 1200
DEPENDANTS_MAX = 30
CONSENTS_PER_APPLICATION_MAX = 50
PROBLEMS_REPORTED_MAX = 50
"""Bounds on one application: a value beyond them is a typo or an attack (limits habit)."""

DATA = resources.files("lendguard.underwriting") / "data"

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]")


class ApplicationError(LendGuardError):
    """An application that cannot be read: every problem is named by its field path.

    ``problems`` holds ``(field, message)`` pairs; messages never repeat the input value, so the
    error can be logged without leaking personal information.
    """

    code = "invalid_application"

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems) or (("(application)", message),)

    @classmethod
    def from_problems(cls, problems: Sequence[tuple[str, str]]) -> ApplicationError:
        """One error for several problems, the message listing them as ``field: message``."""
        return cls("; ".join(f"{field}: {message}" for field, message in problems), problems)

    @property
    def fields(self) -> tuple[str, ...]:
        """The field paths (or flat column names) that were wrong, in order."""
        return tuple(field for field, _ in self.problems)


class Employment(StrEnum):
    """Declared employment; policy and affordability treat income by it."""

    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    STUDENT = "student"
    RETIRED = "retired"
    UNEMPLOYED = "unemployed"


class ConsentSource(StrEnum):
    """What a consent authorises: one data source, or ``sensitive`` personal information."""

    BUREAU = "bureau"
    MULTI_LENDING = "multi_lending"
    PLATFORM = "platform"
    BLOCKLIST = "blocklist"
    SENSITIVE = "sensitive"


class ConsentForm(StrEnum):
    """How a consent was given; each source accepts only some forms (``data/consent.toml``)."""

    WRITTEN = "written"
    ELECTRONIC = "electronic"
    ORAL = "oral"


def _parse_yuan(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError('must be a decimal string in yuan such as "1234.56" (numbers are refused)')
    try:
        return parse_minor(value, CURRENCY)
    except InvalidAmountError:
        raise ValueError(
            'must be a plain decimal amount in yuan such as "1234.56", at most 2 decimals'
        ) from None


def _format_yuan(amount_minor: int) -> str:
    return format_minor(amount_minor, CURRENCY)


def _iso_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError("must be a date such as 2026-01-15, not a date and time")
    if isinstance(value, dt.date):
        day = value
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a real date in the form 2026-01-15") from None
    else:
        raise ValueError("must be an ISO date such as 2026-01-15")
    if not DATE_MIN <= day <= DATE_MAX:
        raise ValueError(f"must be between {DATE_MIN} and {DATE_MAX}")
    return day


def _optional_iso_date(value: object) -> dt.date | None:
    return None if value is None else _iso_date(value)


def _id_number(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string of 18 characters")
    if len(value) != 18:
        raise ValueError("must be 18 characters (GB 11643-1999)")
    value = value.upper()
    if not _ID_FORMAT.fullmatch(value):
        raise ValueError("must be 17 digits followed by a digit or X")
    return value


Yuan = Annotated[int, BeforeValidator(_parse_yuan), PlainSerializer(_format_yuan, return_type=str)]
"""An amount read from a yuan decimal string, held as integer fen, written back as a string."""

IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
"""A date written ``YYYY-MM-DD`` (a ``date`` in Python), from ``DATE_MIN`` to ``DATE_MAX``."""

OptionalIsoDate = Annotated[dt.date | None, BeforeValidator(_optional_iso_date)]
Identifier = Annotated[
    str, Field(strict=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
IdNumber = Annotated[str, BeforeValidator(_id_number), Field(repr=False)]
"""A resident identity number (GB 11643-1999): 17 digits and a check character (lower x allowed)."""

Phone = Annotated[str, Field(strict=True, pattern=r"^1[0-9]{10}$", repr=False)]
"""A mainland mobile number: 11 digits starting with 1, no country code or separators."""

PurposeCode = Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class _Strict(BaseModel):
    """Base: unknown keys are errors; models are immutable; dumps use the input names."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)


class Region(_Strict):
    """One province: its name, its identity-number prefix and its income level."""

    name_zh: str = Field(min_length=1)
    division_prefix: str = Field(pattern=r"^[1-9][0-9]$")
    annual_disposable_income_minor: Yuan = Field(alias="annual_disposable_income", gt=0)


class RegionTable(_Strict):
    """The known regions (``data/regions.toml``) with the sources of their codes and figures."""

    source: str = Field(min_length=1)
    income_source: str = Field(min_length=1)
    regions: dict[Annotated[str, Field(pattern=r"^[a-z]+$")], Region] = Field(min_length=1)

    @model_validator(mode="after")
    def _prefixes_unique(self) -> RegionTable:
        prefixes = [region.division_prefix for region in self.regions.values()]
        assert len(set(prefixes)) == len(prefixes), "regions.toml: division prefixes repeat"
        return self


@cache
def known_regions() -> RegionTable:
    """The packaged region table; a broken packaged file is a bug, so it raises plainly."""
    return RegionTable.model_validate(tomllib.loads((DATA / "regions.toml").read_text("utf-8")))


class Consent(_Strict):
    """One consent record: what it authorises, for which purpose, in which form, and when."""

    source: ConsentSource
    purpose: PurposeCode
    form: ConsentForm
    granted_on: IsoDate
    withdrawn_on: OptionalIsoDate = None


class Applicant(_Strict):
    """The person applying, as declared (income and obligations are monthly, in fen)."""

    applicant_id: Identifier
    name: str = Field(strict=True, min_length=1, max_length=100, repr=False)
    id_number: IdNumber
    phone: Phone
    birth_date: IsoDate
    region: str = Field(strict=True)
    monthly_income_minor: Yuan = Field(alias="monthly_income", ge=0)
    income_verified: StrictBool
    employment: Employment
    employment_months: StrictInt = Field(ge=0, le=EMPLOYMENT_MONTHS_MAX)
    monthly_obligations_minor: Yuan = Field(alias="monthly_obligations", ge=0)
    dependants: StrictInt = Field(ge=0, le=DEPENDANTS_MAX)

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        if region not in known_regions().regions:
            raise ValueError(
                "unknown region: use a lower-case pinyin province code such as beijing or "
                "guangdong (underwriting/data/regions.toml)"
            )
        return region


Location = tuple[str | int, ...]
"""A field path as pydantic reports it: ``("applicant", "phone")``, ``("consents", 0, "form")``."""


class _CrossFieldError(ValueError):
    """Problems found by comparing fields, each with the path of the field to blame."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        super().__init__("inconsistent fields")
        self.problems = problems


class Application(_Strict):
    """A loan application: who asks, for how much and how long, and which consents they gave."""

    application_id: Identifier
    applied_on: IsoDate
    product_id: Identifier
    requested_amount_minor: Yuan = Field(alias="requested_amount", gt=0)
    requested_term_months: StrictInt = Field(gt=0, le=limits.term_periods_max)
    applicant: Applicant
    consents: tuple[Consent, ...] = Field(default=(), max_length=CONSENTS_PER_APPLICATION_MAX)

    @model_validator(mode="after")
    def _consistent(self) -> Application:
        problems = _cross_field_problems(self)
        if problems:
            raise _CrossFieldError(problems)
        return self


def _cross_field_problems(application: Application) -> list[tuple[Location, str]]:
    """Dates that contradict each other; each problem names the later field of the pair."""
    problems: list[tuple[Location, str]] = []
    if application.applicant.birth_date > application.applied_on:
        problems.append((("applicant", "birth_date"), "is after applied_on"))
    for index, consent in enumerate(application.consents):
        if consent.withdrawn_on is not None and consent.withdrawn_on < consent.granted_on:
            problems.append((("consents", index, "withdrawn_on"), "is before granted_on"))
    return problems


def _dotted(location: Location) -> str:
    return ".".join(str(part) for part in location) or "(application)"


def _problems(exc: ValidationError, name: Callable[[Location], str]) -> list[tuple[str, str]]:
    """Pydantic's errors as ``(field, message)``, without the input values they carry."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False, include_input=False):
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, _CrossFieldError):
            problems.extend((name(location), message) for location, message in cause.problems)
        else:
            problems.append((name(error["loc"]), error["msg"].removeprefix("Value error, ")))
    return problems[:PROBLEMS_REPORTED_MAX]


def parse_application(data: dict[str, Any] | str | bytes) -> Application:
    """Validate one application (JSON text or a dict); every bad field is named in the error."""
    try:
        if isinstance(data, str | bytes):
            return Application.model_validate_json(data)
        if isinstance(data, dict):
            return Application.model_validate(data)
    except ValidationError as exc:
        raise ApplicationError.from_problems(_problems(exc, _dotted)) from None
    raise ApplicationError.from_problems([("(application)", "must be a JSON object")])


# --- Identity -----------------------------------------------------------------------------------

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
"""GB 11643-1999 weights 2^(17-i) mod 11 for the 17 body digits (ISO 7064 MOD 11-2)."""

_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
"""The check character for each weighted sum mod 11."""

_DATE_PLACES = 10 ** np.arange(7, -1, -1, dtype=np.int64)


def id_check_characters(bodies: np.ndarray) -> np.ndarray:
    """The check character (as an ASCII code) for each row of 17 body digits (ints 0-9)."""
    return _ID_CHECK[(bodies @ _ID_WEIGHTS) % 11]


def id_numbers_valid(id_numbers: Sequence[str], birth_yyyymmdd: np.ndarray) -> np.ndarray:
    """Checksum right and digits 7-14 equal to the birth date, for many well-formed numbers."""
    codes = np.array(id_numbers, dtype="S18").view(np.uint8).reshape(len(id_numbers), 18)
    digits = codes[:, :17].astype(np.int64) - ord("0")
    checksum_ok = id_check_characters(digits) == codes[:, 17]
    return checksum_ok & (digits[:, 6:14] @ _DATE_PLACES == birth_yyyymmdd)


def id_number_valid(id_number: str, birth_date: dt.date) -> bool:
    """Whether an identity number (check character ``X`` in upper case) is well formed, its
    checksum right (ISO 7064 MOD 11-2) and its digits 7-14 equal to ``birth_date``."""
    if not _ID_FORMAT.fullmatch(id_number):
        return False
    return bool(id_numbers_valid([id_number], np.array([_yyyymmdd(birth_date)]))[0])


def masked_id_number(id_number: str) -> str:
    """The first 6 and last 4 characters (division code and sequence), the birth date hidden."""
    if len(id_number) != 18:
        return "*" * len(id_number)
    return f"{id_number[:6]}{'*' * 8}{id_number[-4:]}"


def masked_phone(phone: str) -> str:
    """The first 3 and last 4 digits of a mobile number (``139****5678``)."""
    if len(phone) != 11:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def _yyyymmdd(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def ages_years(birth_yyyymmdd: np.ndarray, on_yyyymmdd: np.ndarray) -> np.ndarray:
    """Whole years between two dates written as YYYYMMDD integers.

    The convention: a person is a year older on the birthday itself, and someone born on
    29 February is a year older on 1 March in a year without that day (28 February is still
    before the birthday). A policy that wants "from the day after the birthday" moves its age
    threshold, not this count.
    """
    return (on_yyyymmdd - birth_yyyymmdd) // 10000


# --- The intake frame ---------------------------------------------------------------------------

INTAKE_COLUMNS: dict[str, str] = {
    "application_id": "object",
    "applicant_id": "object",
    "applied_on": "object",
    "product_id": "object",
    "requested_amount_minor": "int64",
    "requested_term_months": "int64",
    "age_years": "int64",
    "id_number_valid": "bool",
    "region": "object",
    "monthly_income_minor": "int64",
    "income_verified": "bool",
    "employment": "object",
    "employment_months": "int64",
    "monthly_obligations_minor": "int64",
    "dependants": "int64",
}
"""The intake columns of docs/underwriting.md with their dtypes (``applied_on`` holds dates)."""


def _intake_row(application: Application) -> tuple[Any, ...]:
    applicant = application.applicant
    return (
        application.application_id,
        applicant.applicant_id,
        application.applied_on,
        application.product_id,
        application.requested_amount_minor,
        application.requested_term_months,
        applicant.region,
        applicant.monthly_income_minor,
        applicant.income_verified,
        str(applicant.employment),
        applicant.employment_months,
        applicant.monthly_obligations_minor,
        applicant.dependants,
        _yyyymmdd(application.applied_on),
        _yyyymmdd(applicant.birth_date),
        applicant.id_number,
    )


def application_frame(applications: Sequence[Application]) -> pd.DataFrame:
    """The intake columns for a batch, one row per application in order; no personal data."""
    if not applications:
        return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in INTAKE_COLUMNS.items()})
    return pd.DataFrame(application_columns(applications), copy=False)


def application_columns(applications: Sequence[Application]) -> dict[str, np.ndarray]:
    """The intake columns as arrays (what :func:`application_frame` holds), for a non-empty
    batch: the decision path builds its table from arrays, not a DataFrame."""
    assert applications, "an empty batch has no intake columns to build"
    columns = list(zip(*map(_intake_row, applications), strict=True))
    applied, born = np.array(columns[13], np.int64), np.array(columns[14], np.int64)
    return {
        "application_id": np.array(columns[0], object),
        "applicant_id": np.array(columns[1], object),
        "applied_on": np.array(columns[2], object),
        "product_id": np.array(columns[3], object),
        "requested_amount_minor": np.array(columns[4], np.int64),
        "requested_term_months": np.array(columns[5], np.int64),
        "age_years": ages_years(born, applied),
        "id_number_valid": id_numbers_valid(columns[15], born),
        "region": np.array(columns[6], object),
        "monthly_income_minor": np.array(columns[7], np.int64),
        "income_verified": np.array(columns[8], bool),
        "employment": np.array(columns[9], object),
        "employment_months": np.array(columns[10], np.int64),
        "monthly_obligations_minor": np.array(columns[11], np.int64),
        "dependants": np.array(columns[12], np.int64),
    }


# --- Batch rows ---------------------------------------------------------------------------------

_TOP_COLUMNS = (
    "application_id",
    "applied_on",
    "product_id",
    "requested_amount",
    "requested_term_months",
)
_APPLICANT_FIELDS = (
    "applicant_id",
    "name",
    "id_number",
    "phone",
    "birth_date",
    "region",
    "monthly_income",
    "income_verified",
    "employment",
    "employment_months",
    "monthly_obligations",
    "dependants",
)
_CONSENT_FIELDS = ("form", "purpose", "granted_on", "withdrawn_on")
_INTEGER_COLUMNS = frozenset(
    {"requested_term_months", "applicant_employment_months", "applicant_dependants"}
)
_BOOLEAN_COLUMNS = frozenset({"applicant_income_verified"})
_BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False}
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,18}")
_ABSENT = object()
"""An empty cell: the field is left out, so the model's default or "Field required" applies."""


def _applicant_column(field: str) -> str:
    return field if field == "applicant_id" else f"applicant_{field}"


def _consent_column(source: ConsentSource | str, field: str) -> str:
    return f"consent_{source}_{field}"


ROW_COLUMNS_REQUIRED = _TOP_COLUMNS + tuple(map(_applicant_column, _APPLICANT_FIELDS))
ROW_COLUMNS_OPTIONAL = tuple(
    _consent_column(source, field) for source in ConsentSource for field in _CONSENT_FIELDS
)
"""The flat batch layout: required columns, then the optional consent columns."""


def _integer_cell(cell: object) -> object:
    """Integers as CSV text (``"24"``) or as floats from a column pandas widened for a gap."""
    if isinstance(cell, np.generic):
        cell = cell.item()
    if isinstance(cell, str) and _INTEGER_TEXT.fullmatch(cell):
        return int(cell)
    if isinstance(cell, float) and cell.is_integer():
        return int(cell)
    return cell


def _boolean_cell(cell: object) -> object:
    if isinstance(cell, np.generic):
        cell = cell.item()
    return _BOOLEAN_TEXT.get(cell.lower(), cell) if isinstance(cell, str) else cell


def _date_cell(cell: object) -> object:
    """Parquet dates may arrive as midnight timestamps; anything else is left to validation."""
    if isinstance(cell, dt.datetime) and cell.time() == dt.time() and cell.tzinfo is None:
        return cell.date()
    return cell


def _converter(column: str) -> Callable[[object], object] | None:
    if column in _INTEGER_COLUMNS:
        return _integer_cell
    if column in _BOOLEAN_COLUMNS:
        return _boolean_cell
    if column.endswith(("_on", "_date")):
        return _date_cell
    return None


def _column_cells(column: str, series: pd.Series) -> list[object]:
    """One column's cells as the JSON form has them, ``_ABSENT`` where the cell is empty."""
    values = series.to_numpy(dtype=object)
    absent = (pd.isna(values) | (values == "")).tolist()
    cells = values.tolist()
    convert = _converter(column)
    if convert is not None:
        cells = [convert(cell) for cell in cells]
    return [_ABSENT if gone else cell for cell, gone in zip(cells, absent, strict=True)]


class _RowReader:
    """Assembles the nested form of each row from cleaned columns."""

    def __init__(self, frame: pd.DataFrame) -> None:
        cells = {str(name): _column_cells(str(name), frame[name]) for name in frame.columns}
        self.top = [(name, cells[name]) for name in _TOP_COLUMNS]
        self.applicant = [(field, cells[_applicant_column(field)]) for field in _APPLICANT_FIELDS]
        self.consents = []
        for source in ConsentSource:
            group = [
                (field, cells[column])
                for field in _CONSENT_FIELDS
                if (column := _consent_column(source, field)) in cells
            ]
            if group:
                self.consents.append((source, group))

    def row(self, position: int) -> tuple[dict[str, Any], list[ConsentSource]]:
        """The nested form of one row, and the source of each consent in the order given."""
        data: dict[str, Any] = {
            name: column[position] for name, column in self.top if column[position] is not _ABSENT
        }
        data["applicant"] = {
            field: column[position]
            for field, column in self.applicant
            if column[position] is not _ABSENT
        }
        consents, sources = [], []
        for source, group in self.consents:
            consent = {
                field: column[position]
                for field, column in group
                if column[position] is not _ABSENT
            }
            if consent:
                consents.append({"source": str(source), **consent})
                sources.append(source)
        data["consents"] = consents
        return data, sources


def _flat_name(location: Location, sources: list[ConsentSource]) -> str:
    """The flat column a nested field path came from."""
    if len(location) >= 2 and location[0] == "applicant":
        return _applicant_column(str(location[1]))
    if len(location) >= 3 and location[0] == "consents" and isinstance(location[1], int):
        return _consent_column(sources[location[1]], str(location[2]))
    return _dotted(location)


def _check_row_columns(columns: Sequence[str]) -> None:
    known = set(ROW_COLUMNS_REQUIRED) | set(ROW_COLUMNS_OPTIONAL)
    problems = [(name, "unknown column") for name in columns if name not in known]
    problems += [(name, "column missing") for name in ROW_COLUMNS_REQUIRED if name not in columns]
    if problems:
        raise ApplicationError.from_problems(problems)


def parse_application_rows(
    frame: pd.DataFrame,
) -> tuple[list[Application], list[tuple[int, ApplicationError]]]:
    """Validate each row of a flat batch; a bad row is reported and never stops the others.

    Returns the good applications in row order and ``(row position, error)`` for the bad rows
    (0-based positions). Unknown or missing columns fail the whole batch at once, since every
    row would fail alike.
    """
    _check_row_columns([str(name) for name in frame.columns])
    reader = _RowReader(frame)
    applications: list[Application] = []
    failures: list[tuple[int, ApplicationError]] = []
    for position in range(len(frame)):
        data, sources = reader.row(position)
        try:
            applications.append(Application.model_validate(data))
        except ValidationError as exc:
            problems = _problems(exc, lambda location, s=sources: _flat_name(location, s))
            failures.append((position, ApplicationError.from_problems(problems)))
    return applications, failures


def application_rows(applications: Sequence[Application]) -> pd.DataFrame:
    """Applications in the flat batch layout (yuan strings, ISO dates): the inverse of
    :func:`parse_application_rows`, for writing sample CSV or Parquet files."""
    columns = list(ROW_COLUMNS_REQUIRED + ROW_COLUMNS_OPTIONAL)
    return pd.DataFrame.from_records([_flat_row(item) for item in applications], columns=columns)


def _flat_row(application: Application) -> dict[str, object]:
    data = application.model_dump(mode="json")
    applicant, consents = data.pop("applicant"), data.pop("consents")
    row = data | {_applicant_column(field): value for field, value in applicant.items()}
    for consent in consents:
        source = consent.pop("source")
        if _consent_column(source, "form") in row:
            raise ApplicationError.from_problems(
                [("consents", f"more than one {source} consent: the flat layout holds one")]
            )
        row |= {_consent_column(source, field): value for field, value in consent.items()}
    return row
