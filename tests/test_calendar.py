"""The China business calendar: package data, extension files, coverage limits and rolling."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lendguard.dates.calendar import BusinessCalendar, RollConvention, read_extension
from lendguard.errors import CalendarRangeError, InvalidDateError

EXTENSION_2027 = """\
years = [2027]

[[holiday]]
date = 2027-01-01
name = "New Year's Day (test data)"

[[workday]]
date = 2027-01-02
name = "make-up day (test data)"
"""


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.load()


def write(tmp_path: Path, text: str, name: str = "ext.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_package_years_are_covered(calendar: BusinessCalendar) -> None:
    assert calendar.covered_years == range(2004, 2027)
    assert calendar.sources[0].startswith("chinese-calendar ")


def test_national_day_is_a_holiday(calendar: BusinessCalendar) -> None:
    assert calendar.is_holiday(dt.date(2026, 10, 1))
    assert not calendar.is_business_day(dt.date(2026, 10, 1))


def test_spring_festival_saturday_make_up_day_is_a_business_day(
    calendar: BusinessCalendar,
) -> None:
    saturday = dt.date(2026, 2, 14)
    assert saturday.weekday() == 5
    assert calendar.is_business_day(saturday)
    assert not calendar.is_holiday(saturday)


def test_ordinary_weekend_is_not_a_business_day_and_not_a_holiday(
    calendar: BusinessCalendar,
) -> None:
    sunday = dt.date(2026, 3, 1)
    assert not calendar.is_business_day(sunday)
    assert not calendar.is_holiday(sunday)


def test_next_business_day_crosses_the_spring_festival(calendar: BusinessCalendar) -> None:
    assert calendar.next_business_day(dt.date(2026, 2, 14)) == dt.date(2026, 2, 24)
    assert calendar.previous_business_day(dt.date(2026, 2, 24)) == dt.date(2026, 2, 14)


@pytest.mark.parametrize(
    ("day", "convention", "expected"),
    [
        (dt.date(2026, 10, 1), RollConvention.NONE, dt.date(2026, 10, 1)),
        (dt.date(2026, 10, 1), RollConvention.FOLLOWING, dt.date(2026, 10, 8)),
        (dt.date(2026, 10, 1), RollConvention.MODIFIED_FOLLOWING, dt.date(2026, 10, 8)),
        (dt.date(2026, 10, 1), RollConvention.PRECEDING, dt.date(2026, 9, 30)),
        # Sunday 31 May: following is 1 June, so modified-following stays in May.
        (dt.date(2026, 5, 31), RollConvention.FOLLOWING, dt.date(2026, 6, 1)),
        (dt.date(2026, 5, 31), RollConvention.MODIFIED_FOLLOWING, dt.date(2026, 5, 29)),
        (dt.date(2026, 1, 31), RollConvention.MODIFIED_FOLLOWING, dt.date(2026, 1, 30)),
        (dt.date(2026, 9, 30), RollConvention.FOLLOWING, dt.date(2026, 9, 30)),
    ],
)
def test_roll(
    calendar: BusinessCalendar, day: dt.date, convention: RollConvention, expected: dt.date
) -> None:
    assert calendar.roll(day, convention) == expected


def test_roll_accepts_the_config_spelling(calendar: BusinessCalendar) -> None:
    assert calendar.roll(dt.date(2026, 5, 31), "modified-following") == dt.date(2026, 5, 29)


def test_uncovered_year_raises_with_range_and_how_to_extend(calendar: BusinessCalendar) -> None:
    with pytest.raises(CalendarRangeError) as caught:
        calendar.is_business_day(dt.date(2027, 1, 4))
    message = caught.value.message
    assert "2027" in message
    assert "2004..2026" in message
    assert "years = [2027]" in message


@pytest.mark.parametrize(
    "ask",
    [
        lambda c: c.is_business_day(dt.date(2003, 12, 31)),
        lambda c: c.is_holiday(dt.date(2027, 6, 1)),
        lambda c: c.next_business_day(dt.date(2026, 12, 31)),
        lambda c: c.previous_business_day(dt.date(2004, 1, 1)),
        lambda c: c.roll(dt.date(2027, 1, 1), RollConvention.NONE),
    ],
)
def test_every_question_past_the_edge_raises(calendar: BusinessCalendar, ask) -> None:
    with pytest.raises(CalendarRangeError):
        ask(calendar)


def test_datetime_is_refused(calendar: BusinessCalendar) -> None:
    with pytest.raises(TypeError):
        calendar.is_business_day(dt.datetime(2026, 10, 1, 9, 0))  # noqa: DTZ001


def test_extension_file_makes_2027_answerable(tmp_path: Path) -> None:
    calendar = BusinessCalendar.load([write(tmp_path, EXTENSION_2027)])
    assert calendar.covered_years == range(2004, 2028)
    assert calendar.is_holiday(dt.date(2027, 1, 1))
    assert calendar.is_business_day(dt.date(2027, 1, 2))  # a Saturday named a workday
    assert not calendar.is_business_day(dt.date(2027, 1, 3))  # an ordinary Sunday
    assert calendar.is_business_day(dt.date(2027, 1, 4))
    assert calendar.next_business_day(dt.date(2026, 12, 31)) == dt.date(2027, 1, 2)
    assert str(tmp_path / "ext.toml") in calendar.sources


def test_extension_overrides_the_package_for_dates_it_names(tmp_path: Path) -> None:
    text = 'years = [2026]\n[[holiday]]\ndate = 2026-02-14\nname = "corrected"\n'
    calendar = BusinessCalendar.load([write(tmp_path, text)])
    assert calendar.is_holiday(dt.date(2026, 2, 14))
    assert not calendar.is_business_day(dt.date(2026, 2, 14))
    assert calendar.is_holiday(dt.date(2026, 10, 1))  # the package's other dates remain


def test_extensions_leaving_a_year_uncovered_are_refused(tmp_path: Path) -> None:
    text = 'years = [2028]\n[[holiday]]\ndate = 2028-01-03\nname = "x"\n'
    with pytest.raises(CalendarRangeError, match=r"2027"):
        BusinessCalendar.load([write(tmp_path, text)])


def test_two_files_disagreeing_on_a_date_are_refused(tmp_path: Path) -> None:
    first = write(tmp_path, EXTENSION_2027, "a.toml")
    second = write(
        tmp_path, 'years = [2027]\n[[holiday]]\ndate = 2027-01-02\nname = "x"\n', "b.toml"
    )
    with pytest.raises(InvalidDateError, match=r"2027-01-02.*a\.toml.*b\.toml"):
        BusinessCalendar.load([first, second])


@pytest.mark.parametrize(
    ("text", "error", "pattern"),
    [
        ("years = [2027", InvalidDateError, "not valid TOML"),
        ('[[holiday]]\ndate = 2027-01-01\nname = "x"\n', InvalidDateError, "years"),
        ("years = []\n", InvalidDateError, "years"),
        ('years = ["2027"]\n', InvalidDateError, "whole years"),
        ("years = [2027, 2027]\n", InvalidDateError, "twice"),
        ("years = [2027]\nholidays = []\n", InvalidDateError, "unknown keys"),
        (
            'years = [2027]\n[[holiday]]\ndate = "2027-01-01"\nname = "x"\n',
            InvalidDateError,
            "TOML date",
        ),
        (
            'years = [2027]\n[[holiday]]\ndate = 2027-01-01T00:00:00\nname = "x"\n',
            InvalidDateError,
            "TOML date",
        ),
        ("years = [2027]\n[[holiday]]\ndate = 2027-01-01\n", InvalidDateError, "date` and `name"),
        (
            'years = [2027]\n[[holiday]]\ndate = 2027-01-01\nname = ""\n',
            InvalidDateError,
            "non-empty",
        ),
        ("years = [2027]\nholiday = 3\n", InvalidDateError, "array of tables"),
        (
            'years = [2027]\n[[holiday]]\ndate = 2027-01-01\nname = "a"\n'
            '[[holiday]]\ndate = 2027-01-01\nname = "b"\n',
            InvalidDateError,
            "listed twice",
        ),
        (
            'years = [2027]\n[[holiday]]\ndate = 2027-01-01\nname = "a"\n'
            '[[workday]]\ndate = 2027-01-01\nname = "b"\n',
            InvalidDateError,
            "both holiday and workday",
        ),
        (
            'years = [2027]\n[[holiday]]\ndate = 2028-01-01\nname = "a"\n',
            CalendarRangeError,
            "outside the declared years",
        ),
    ],
)
def test_bad_extension_files_are_refused_naming_the_file(
    tmp_path: Path, text: str, error: type[Exception], pattern: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(error, match=pattern) as caught:
        read_extension(path)
    assert str(path) in str(caught.value)


def test_missing_extension_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidDateError, match=r"missing\.toml"):
        BusinessCalendar.load([tmp_path / "missing.toml"])


def test_in_memory_calendar() -> None:
    calendar = BusinessCalendar(
        holidays={dt.date(2030, 1, 1): "New Year"},
        workdays={dt.date(2030, 1, 5): "make-up"},
        covered_years=range(2030, 2031),
        sources=("test",),
    )
    assert calendar.roll(dt.date(2030, 1, 1), RollConvention.FOLLOWING) == dt.date(2030, 1, 2)
    assert calendar.next_business_day(dt.date(2030, 1, 4)) == dt.date(2030, 1, 5)
    with pytest.raises(CalendarRangeError, match="2029"):
        calendar.previous_business_day(dt.date(2030, 1, 1))


def test_in_memory_calendar_rejects_dates_outside_its_years() -> None:
    with pytest.raises(CalendarRangeError, match="2031-01-01"):
        BusinessCalendar(
            holidays={dt.date(2031, 1, 1): "x"},
            workdays={},
            covered_years=range(2030, 2031),
            sources=("test",),
        )


def test_long_run_of_holidays_stops_the_search() -> None:
    start = dt.date(2030, 1, 1)
    forty_days = {start + dt.timedelta(days=offset): "x" for offset in range(40)}
    calendar = BusinessCalendar(
        holidays=forty_days, workdays={}, covered_years=range(2030, 2031), sources=("test",)
    )
    with pytest.raises(InvalidDateError, match="no business day within"):
        calendar.next_business_day(start)


covered_days = st.dates(min_value=dt.date(2004, 1, 8), max_value=dt.date(2026, 12, 24))


@given(day=covered_days)
def test_following_and_preceding_land_on_the_nearest_business_day(day: dt.date) -> None:
    calendar = BusinessCalendar.load()
    following = calendar.roll(day, RollConvention.FOLLOWING)
    preceding = calendar.roll(day, RollConvention.PRECEDING)
    assert preceding <= day <= following
    assert calendar.is_business_day(following)
    assert calendar.is_business_day(preceding)
    for offset in range(1, (following - preceding).days):
        between = preceding + dt.timedelta(days=offset)
        assert between == day or not calendar.is_business_day(between)


@given(day=covered_days)
def test_modified_following_stays_in_the_month(day: dt.date) -> None:
    calendar = BusinessCalendar.load()
    rolled = calendar.roll(day, RollConvention.MODIFIED_FOLLOWING)
    assert rolled.month == day.month
    assert calendar.is_business_day(rolled)
