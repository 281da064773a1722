"""JSON text for the platform's hot paths: orjson's speed with the standard library's values.

Snapshots, event payloads and the store's JSON columns are written every night for every account,
so the codec matters (orjson is about 6x faster to write and 2x to read). Anything orjson refuses
goes to ``json``, which writes it or raises exactly as before; only whitespace differs, so texts
from either codec read back to the same values (tested in ``tests/test_ledger_snapshot.py``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
"""Dates and dataclasses are not JSON values to ``json`` (it raises), so orjson must not write
them either: passed through with no ``default``, they raise ``TypeError`` and reach ``json``."""


def dumps(data: Any) -> str:
    """``data`` as JSON text (orjson's compact form: the same values as ``json``).

    Anything orjson refuses (an integer past 64 bits, a non-string key, a date) is left to
    ``json``, which writes it or raises as it always did. Not for floats that may be NaN (orjson
    writes ``null``): snapshot and event data hold integers, strings, booleans and ``None``.
    """
    try:
        return orjson.dumps(data, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(data)


def loads(text: str) -> Any:
    """The values of JSON ``text``; what orjson cannot read goes to ``json``, so a bad text raises
    exactly the standard library's error (the quarantine records its message).

    One difference, outside what a state can hold: orjson reads an integer past 64 bits as a
    float (the engines' Arrow and Parquet columns are 64-bit integers already).
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
