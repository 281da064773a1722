"""The application table of the decision path: equal-length numpy columns by name.

Why not a pandas DataFrame: every column read or added costs a DataFrame tens of microseconds of
bookkeeping, which is most of a single decision's time (one row, a hundred columns). The rules
read columns by name and compute on arrays, so a mapping of arrays serves them as well, and the
DataFrame is built once, only when a caller wants one (a batch file, a report).

The rules accept either: they read ``table[name]`` through ``np.asarray`` and ask ``name in
table.columns`` and ``len(table)`` (rows), which a DataFrame answers the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, KeysView, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


class ColumnTable:
    """Named columns of one length; adding columns returns a new table (the old one is kept).

    Not a ``Mapping``: like a DataFrame, ``len`` counts rows, not columns."""

    __slots__ = ("_columns", "_rows")

    def __init__(self, columns: Mapping[str, Any]) -> None:
        arrays = {name: np.asarray(values) for name, values in columns.items()}
        lengths = {len(values) for values in arrays.values()}
        if len(lengths) > 1:
            raise AssertionError(f"columns of different lengths: {sorted(lengths)}")
        self._columns = arrays
        self._rows = lengths.pop() if lengths else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self) -> Iterator[str]:
        """Column names, as iterating a DataFrame gives."""
        return iter(self._columns)

    def __len__(self) -> int:
        """Rows, as ``len`` of a DataFrame (not the number of columns)."""
        return self._rows

    @property
    def columns(self) -> KeysView[str]:
        """Column names, in order (``in`` is a dictionary lookup)."""
        return self._columns.keys()

    def with_columns(self, added: Mapping[str, Any]) -> ColumnTable:
        """A table with ``added`` columns (replacing any of the same name) after these."""
        return ColumnTable({**self._columns, **added})

    def take(self, rows: Sequence[int] | np.ndarray) -> ColumnTable:
        """The given rows, in the given order."""
        index = np.asarray(rows, dtype=np.int64)
        return ColumnTable({name: values[index] for name, values in self._columns.items()})

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame (no copy of the arrays)."""
        return pd.DataFrame(self._columns, copy=False)
