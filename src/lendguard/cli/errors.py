"""How the CLI reports a refused input: one line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from sqlalchemy.exc import ArgumentError, OperationalError

from lendguard.errors import LendGuardError

EXIT_BAD_INPUT = 2


@contextmanager
def bad_input_exits() -> Iterator[None]:
    """Turn a :class:`LendGuardError` into ``error[code]: message`` on stderr and exit 2."""
    try:
        yield
    except LendGuardError as exc:
        print(f"error[{exc.code}]: {exc.message}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def fail(message: str, code: str = "bad_input") -> NoReturn:
    """Exit 2 with one line, for CLI-level checks that have no library error."""
    print(f"error[{code}]: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """A database that cannot be opened (a bad URL, a server that is down) is one line and
    exit 2, like other bad input."""
    try:
        yield
    except (ArgumentError, OperationalError) as error:
        first_line = str(error).splitlines()[0]
        fail(f"cannot open database {url!r}: {first_line}", "bad_database")
