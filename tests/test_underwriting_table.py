"""The decision path's column table answers the rules as a DataFrame would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lendguard.underwriting.table import ColumnTable


def test_a_table_reads_like_a_frame() -> None:
    table = ColumnTable({"a": [1, 2, 3], "b": np.array(["x", "y", "z"], dtype=object)})
    frame = table.to_frame()
    assert len(table) == len(frame) == 3
    assert list(table.columns) == list(frame.columns) == ["a", "b"]
    assert "a" in table and "c" not in table
    assert np.array_equal(table["a"], frame["a"].to_numpy())
    picked = table.take([2, 0])
    assert picked["b"].tolist() == ["z", "x"] and len(picked) == 2
    wider = table.with_columns({"c": [0.5, 1.5, 2.5], "a": [9, 9, 9]})
    assert list(wider.columns) == ["a", "b", "c"] and wider["a"].tolist() == [9, 9, 9]
    assert table["a"].tolist() == [1, 2, 3]  # the original is unchanged
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(AssertionError, match="different lengths"):
        ColumnTable({"a": [1, 2], "b": [1]})
