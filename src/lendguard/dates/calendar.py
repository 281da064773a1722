"""The China business calendar: which days are business days, and how a date rolls onto one.

Due dates and grace periods move off public holidays, and China moves weekends too: a Saturday
can be a make-up working day (调休) before a long holiday. So a day is a business day when the
data names it a working day, or when it is a Monday-to-Friday that the data does not name a
holiday. The data comes from the ``chinese-calendar`` package (one year at a time, as the State
Council publishes it) and from TOML extension files for years the package does not cover yet.

Outside the covered years every question raises :class:`CalendarRangeError`: a calendar that
guessed from weekends alone would put due dates on the National Day holiday without a word.

An extension file, one per published year (names are free text; the dates below are a format
example, not a statement about any real year)::

    years = [2027]                  # the years this file fully covers

    [[holiday]]
    date = 2027-01-01
    name = "New Year's Day"

    [[workday]]                     # a weekend day that is a working day
    date = 2027-02-07
    name = "Spring Festival make-up day"

Extension files override the package for the dates they name, so a file can also correct a
covered year.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from pathlib import Path

import chinese_calendar

from lendguard.errors import CalendarRangeError, InvalidDateError

business_day_search_days_max = 31
"""Longest run of non-business days a search crosses. China's longest break is 9 days; a longer
run means an extension file marks too much as holiday, so the search stops and says so."""

_EXTENSION_KEYS = frozenset({"years", "holiday", "workday"})
_ENTRY_KEYS = frozenset({"date", "name"})
_SATURDAY = 5


class RollConvention(StrEnum):
    """How a date that is not a business day moves (ISDA 2006 §4.12 business day conventions)."""

    NONE = "none"
    FOLLOWING = "following"
    MODIFIED_FOLLOWING = "modified-following"
    """Following, unless that leaves the month; then preceding. Keeps month-end dates in month."""
    PRECEDING = "preceding"


@dataclass(frozen=True)
class CalendarExtension:
    """One extension file's content, checked: every date inside ``years``, none named twice."""

    source: str
    years: frozenset[int]
    holidays: Mapping[dt.date, str]
    workdays: Mapping[dt.date, str]


class BusinessCalendar:
    """Business days for China over a contiguous range of covered years.

    Build it with :meth:`load` for real use; the constructor takes in-memory data so tests can
    describe a tiny calendar. ``holidays`` are named days off (a weekday or weekend day inside a
    holiday block); ``workdays`` are named working days (make-up weekend days).
    """

    def __init__(
        self,
        *,
        holidays: Mapping[dt.date, str],
        workdays: Mapping[dt.date, str],
        covered_years: range,
        sources: tuple[str, ...],
    ) -> None:
        _check_years_contiguous(covered_years, sources)
        _check_no_overlap(holidays, workdays, ", ".join(sources))
        _check_dates_inside(holidays.keys() | workdays.keys(), covered_years, ", ".join(sources))
        self._holidays = dict(holidays)
        self._workdays = dict(workdays)
        self._covered_years = covered_years
        self._sources = sources

    @classmethod
    def load(cls, paths: Iterable[Path] = ()) -> BusinessCalendar:
        """The ``chinese-calendar`` data, overridden by the extension files in ``paths``."""
        extensions = [read_extension(Path(path)) for path in paths]
        holidays, workdays = _overridden(_merge_extensions(extensions))
        package_years = _package_years()
        years = set(package_years).union(*(extension.years for extension in extensions))
        sources = (_package_source(package_years), *(extension.source for extension in extensions))
        return cls(
            holidays=holidays,
            workdays=workdays,
            covered_years=_covered_range(years, sources),
            sources=sources,
        )

    @property
    def covered_years(self) -> range:
        """The years this calendar can answer for."""
        return self._covered_years

    @property
    def sources(self) -> tuple[str, ...]:
        """Where the data came from: the package and version, then each extension file."""
        return self._sources

    def is_business_day(self, day: dt.date) -> bool:
        """True on a named working day, or on a weekday that is not a named holiday."""
        self._check_covered(day)
        if day in self._workdays:
            return True
        return day.weekday() < _SATURDAY and day not in self._holidays

    def is_holiday(self, day: dt.date) -> bool:
        """True on a named public-holiday day off; an ordinary weekend is not a holiday."""
        self._check_covered(day)
        return day in self._holidays

    def next_business_day(self, day: dt.date) -> dt.date:
        """The first business day strictly after ``day``."""
        return self._search(day, step_days=1)

    def previous_business_day(self, day: dt.date) -> dt.date:
        """The last business day strictly before ``day``."""
        return self._search(day, step_days=-1)

    def roll(self, day: dt.date, convention: RollConvention) -> dt.date:
        """``day`` moved onto a business day by ``convention``; a business day stays put."""
        convention = RollConvention(convention)
        self._check_covered(day)
        if convention is RollConvention.NONE or self.is_business_day(day):
            return day
        if convention is RollConvention.PRECEDING:
            return self.previous_business_day(day)
        following = self.next_business_day(day)
        if convention is RollConvention.MODIFIED_FOLLOWING and following.month != day.month:
            return self.previous_business_day(day)
        return following

    def _search(self, day: dt.date, step_days: int) -> dt.date:
        """Walk one day at a time; bounded so a corrupt extension cannot hide as a long holiday."""
        self._check_covered(day)
        candidate = day
        for _ in range(business_day_search_days_max):
            candidate += dt.timedelta(days=step_days)
            if self.is_business_day(candidate):
                return candidate
        raise InvalidDateError(
            f"no business day within {business_day_search_days_max} days of {day}; "
            f"check the holidays in: {', '.join(self._sources)}"
        )

    def _check_covered(self, day: dt.date) -> None:
        """Refuse any date outside the data rather than guess from weekends."""
        if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise TypeError(f"expected a datetime.date, got {type(day).__name__}: {day!r}")
        if day.year not in self._covered_years:
            raise CalendarRangeError(_uncovered_message(day.year, self._covered_years))


def read_extension(path: Path) -> CalendarExtension:
    """Read and check one extension file; every error names the file."""
    document = _read_toml(path)
    unknown_keys = document.keys() - _EXTENSION_KEYS
    if unknown_keys:
        raise InvalidDateError(
            f"{path}: unknown keys {sorted(unknown_keys)}; expected years, [[holiday]], [[workday]]"
        )
    years = _read_years(document.get("years"), path)
    holidays = _read_entries(document.get("holiday", []), "holiday", path)
    workdays = _read_entries(document.get("workday", []), "workday", path)
    _check_no_overlap(holidays, workdays, str(path))
    _check_dates_inside(holidays.keys() | workdays.keys(), years, str(path))
    return CalendarExtension(str(path), frozenset(years), holidays, workdays)


def _read_toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidDateError(f"cannot read calendar extension {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidDateError(f"{path}: not valid TOML: {exc}") from exc


def _read_years(value: object, path: Path) -> set[int]:
    """The declared years: the promise that makes every unnamed weekday a business day."""
    if not isinstance(value, list) or not value:
        raise InvalidDateError(f"{path}: needs `years = [...]`, the years this file fully covers")
    if not all(isinstance(year, int) and not isinstance(year, bool) for year in value):
        raise InvalidDateError(f"{path}: `years` must list whole years, got {value!r}")
    if len(set(value)) != len(value):
        raise InvalidDateError(f"{path}: `years` lists a year twice: {value!r}")
    return set(value)


def _read_entries(value: object, kind: str, path: Path) -> dict[dt.date, str]:
    if not isinstance(value, list):
        raise InvalidDateError(f"{path}: `{kind}` must be an array of tables ([[{kind}]])")
    entries: dict[dt.date, str] = {}
    for index, entry in enumerate(value, start=1):
        date, name = _read_entry(entry, f"{path}: [[{kind}]] #{index}")
        if date in entries:
            raise InvalidDateError(f"{path}: {kind} {date} is listed twice")
        entries[date] = name
    return entries


def _read_entry(entry: object, where: str) -> tuple[dt.date, str]:
    if not isinstance(entry, dict) or entry.keys() != _ENTRY_KEYS:
        raise InvalidDateError(f"{where}: needs exactly `date` and `name`, got {entry!r}")
    date, name = entry["date"], entry["name"]
    if isinstance(date, dt.datetime) or not isinstance(date, dt.date):
        raise InvalidDateError(f"{where}: date must be a TOML date like 2027-01-01, got {date!r}")
    if not isinstance(name, str) or not name.strip():
        raise InvalidDateError(f"{where}: name must be a non-empty string, got {name!r}")
    return date, name


def _merge_extensions(extensions: Iterable[CalendarExtension]) -> dict[dt.date, tuple[bool, str]]:
    """Each named date as (is_holiday, name); two files that disagree on a date are refused."""
    merged: dict[dt.date, tuple[bool, str]] = {}
    named_by: dict[dt.date, str] = {}
    for extension in extensions:
        for is_holiday, entries in ((True, extension.holidays), (False, extension.workdays)):
            for date, name in entries.items():
                if date in merged and merged[date][0] != is_holiday:
                    raise InvalidDateError(
                        f"{date} is a holiday in one file and a workday in the other: "
                        f"{named_by[date]}, {extension.source}"
                    )
                merged[date] = (is_holiday, name)
                named_by[date] = extension.source
    return merged


def _overridden(
    overrides: Mapping[dt.date, tuple[bool, str]],
) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    """The package's holidays and workdays with each overridden date moved to its new kind."""
    holidays = dict(chinese_calendar.holidays)
    workdays = dict(chinese_calendar.workdays)
    for date, (is_holiday, name) in overrides.items():
        holidays.pop(date, None)
        workdays.pop(date, None)
        target = holidays if is_holiday else workdays
        target[date] = name
    return holidays, workdays


def _check_no_overlap(
    holidays: Mapping[dt.date, str], workdays: Mapping[dt.date, str], source: str
) -> None:
    both = sorted(holidays.keys() & workdays.keys())
    if both:
        dates = ", ".join(str(date) for date in both)
        raise InvalidDateError(f"{source}: named both holiday and workday: {dates}")


def _check_dates_inside(dates: Iterable[dt.date], years: Iterable[int], source: str) -> None:
    year_set = set(years)
    outside = sorted(date for date in dates if date.year not in year_set)
    if outside:
        raise CalendarRangeError(
            f"{source}: {outside[0]} is outside the declared years {sorted(year_set)}; "
            f"add {outside[0].year} to `years` only if the file lists all of that year's holidays"
        )


def _check_years_contiguous(years: range, sources: tuple[str, ...]) -> None:
    if len(years) == 0 or years.step != 1:
        raise CalendarRangeError(
            f"covered years must be a non-empty run of consecutive years, got {years!r} "
            f"from: {', '.join(sources)}"
        )


def _covered_range(years: set[int], sources: tuple[str, ...]) -> range:
    """Coverage is one run of years, so no question can fall silently into an unlisted year."""
    covered = range(min(years), max(years) + 1)
    missing = sorted(set(covered) - years)
    if missing:
        raise CalendarRangeError(
            f"calendar years must be consecutive, but no file covers {missing} "
            f"(sources: {', '.join(sources)}); add an extension file with `years = {missing}`"
        )
    return covered


def _uncovered_message(year: int, covered_years: range) -> str:
    return (
        f"the business calendar has no data for {year}: it covers "
        f"{covered_years.start}..{covered_years.stop - 1}. To extend it, load a TOML extension "
        f"file with `years = [{year}]` and that year's [[holiday]] and [[workday]] dates "
        f"(BusinessCalendar.load(paths)), or upgrade the chinese-calendar package"
    )


def _package_years() -> range:
    """The package's own coverage, computed as the package computes it (first..last holiday)."""
    first, last = min(chinese_calendar.holidays), max(chinese_calendar.holidays)
    return range(first.year, last.year + 1)


def _package_source(years: range) -> str:
    version = metadata.version("chinese-calendar")
    return f"chinese-calendar {version} ({years.start}..{years.stop - 1})"
