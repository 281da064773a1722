"""Batch underwriting: a CSV or Parquet file of applications in, a Parquet file of decisions out.

Rows are parsed one by one (a malformed row is reported with its position and skipped, never
decided half-way), decided together through the same vectorised engine as a single application,
and written with their inputs and reasons. The file's metadata carries the versions of every rule
set, model and configuration, so the Parquet file is the batch's audit record. It is written to a
temporary name and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lendguard import limits
from lendguard.errors import LendGuardError
from lendguard.underwriting.application import parse_application_rows
from lendguard.underwriting.engine import Underwriter

ROW_ERRORS_SHOWN_MAX = 20


class BatchFileError(LendGuardError):
    """A batch file that cannot be read as a whole (missing, wrong format, too many rows)."""

    code = "invalid_batch"


def read_batch(path: Path) -> pd.DataFrame:
    """The batch file as text columns (CSV) or as stored (Parquet)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            raise BatchFileError(f"{path}: expected a .csv or .parquet file")
    except FileNotFoundError:
        raise BatchFileError(f"{path}: no such file") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise BatchFileError(f"{path}: cannot read it: {exc}") from None
    if len(frame) > limits.applications_per_batch_max:
        raise BatchFileError(
            f"{path} has {len(frame)} rows; at most {limits.applications_per_batch_max} per batch"
        )
    return frame


def decide_file(path: Path, out: Path, underwriter: Underwriter) -> dict[str, Any]:
    """Decide every good row of ``path`` into ``out``; returns a summary with the row errors."""
    started = time.perf_counter()
    applications, errors = parse_application_rows(read_batch(path))
    parsed_seconds = time.perf_counter() - started
    table = underwriter.decide_batch(applications).table() if applications else pd.DataFrame()
    decided_seconds = time.perf_counter() - started - parsed_seconds
    _write(table, out, underwriter.versions)
    counts = table["decision"].value_counts().to_dict() if len(table) else {}
    return {
        "applications": len(applications) + len(errors),
        "decided": len(applications),
        "rejected_rows": len(errors),
        "approve": int(counts.get("approve", 0)),
        "refer": int(counts.get("refer", 0)),
        "decline": int(counts.get("decline", 0)),
        "parse_seconds": round(parsed_seconds, 3),
        "decide_seconds": round(decided_seconds, 3),
        "row_errors": [
            {"row": row, "error": error.message} for row, error in errors[:ROW_ERRORS_SHOWN_MAX]
        ],
    }


def _write(table: pd.DataFrame, out: Path, versions: dict[str, Any]) -> None:
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    metadata = {**(arrow.schema.metadata or {}), b"lendguard.versions": json.dumps(versions)}
    temporary = out.with_name(f".{out.name}.partial")
    pq.write_table(arrow.replace_schema_metadata(metadata), temporary)
    temporary.replace(out)
