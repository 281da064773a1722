"""German credit (the shared public dataset) as features and a 0/1 target, for scoring tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

GERMAN_CREDIT = (
    Path(__file__).resolve().parents[1] / "src" / "lendguard" / "data" / "german_credit.csv"
)
"""A copy of ../shared/data/german_credit.csv shipped with the package, so a fresh clone has it."""
TARGET = "creditability"


@cache
def german_credit() -> tuple[pd.DataFrame, np.ndarray]:
    """Features and target (1 = bad) of the 1,000-row German credit table."""
    frame = pd.read_csv(GERMAN_CREDIT)
    target = (frame[TARGET] == "bad").to_numpy(dtype=np.int8)
    return frame.drop(columns=[TARGET]), target
