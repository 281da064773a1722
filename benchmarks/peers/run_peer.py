"""Fit one peer library's standard scorecard on a training file and score a holdout file.

Runs under the peers' own virtual environment (``.venv-peers``, pinned in ``requirements.txt``
beside this file), never LendGuard's: they bring their own pins and solvers (scorecardpy needs
pandas 2, optbinning pulls in OR-Tools and cvxpy) and are benchmark tools, not dependencies.
``scoring_bench.py`` starts this script once per peer and dataset and reads the JSON it writes:

    {"peer": "toad", "versions": {...}, "status": "ok" | "failed", "error": str | null,
     "fit_seconds": float | null, "probability_bad": [float, ...] | null}

Fit seconds cover what a modeller waits for: binning, the WoE transform of the training data and
the logistic regression, timed with ``time.perf_counter``; loading the files and scoring the
holdout are left out. Any exception (including an import error or a peer that rejects the pandas
it runs on) becomes ``status: failed`` with its text, so one broken peer never hides the others.

    .venv-peers/bin/python benchmarks/peers/run_peer.py --peer toad \\
        --train train.parquet --test test.parquet --target bad --out toad.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

ERROR_CHARS_MAX = 500
"""A peer's error text is cut here: some quote a whole column in their message."""

TRACEBACK_CHARS_MAX = 4_000
"""How much of a failure's traceback the result keeps (the status line shows only the error)."""

REGRESSION_ITERATIONS_MAX = 1_000
"""The same logistic regression for every peer, so differences come from the binning."""


def load_table(path: Path) -> pd.DataFrame:
    """Read a split written by ``scoring_bench.py``: Parquet, or CSV by the file's suffix.

    Parquet gives a missing text value back as ``None``, CSV as ``NaN``; every peer gets ``NaN``,
    pandas' usual marker, because scorecardpy's ``woebin_ply`` maps only ``NaN`` to its missing
    bin (a ``None`` comes out with no WoE at all and the regression refuses it).
    """
    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    for name in categorical_columns(frame):
        frame[name] = frame[name].where(frame[name].notna(), np.nan)
    return frame


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that are not numeric (object, or pandas 3's ``str`` dtype)."""
    return [name for name in frame.columns if not pd.api.types.is_numeric_dtype(frame[name])]


def regression() -> LogisticRegression:
    """The logistic regression every peer's WoE columns are fitted with."""
    return LogisticRegression(max_iter=REGRESSION_ITERATIONS_MAX)


def fit_toad(
    train: pd.DataFrame, target: str, special_codes: dict[str, list[float]]
) -> Callable[[pd.DataFrame], np.ndarray]:
    """Chi-merge binning (at least 5% of rows a bin), WoE and a logistic regression.

    toad has no notion of special codes: they are binned as ordinary values, as a toad user gets.
    """
    del special_codes
    import toad  # noqa: PLC0415 - the peer is imported only in the peers' environment

    features = train.drop(columns=[target])
    combiner = toad.transform.Combiner()
    combiner.fit(features, train[target], method="chi", min_samples=0.05)
    encoder = toad.transform.WOETransformer()
    woe = encoder.fit_transform(combiner.transform(features), train[target])
    model = regression().fit(woe, train[target])

    def predict(test: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(encoder.transform(combiner.transform(test[features.columns])))

    return predict


def fit_optbinning(
    train: pd.DataFrame, target: str, special_codes: dict[str, list[float]]
) -> Callable[[pd.DataFrame], np.ndarray]:
    """``BinningProcess`` (optimal binning of every feature) inside optbinning's ``Scorecard``."""
    from optbinning import BinningProcess, Scorecard  # noqa: PLC0415

    features = train.drop(columns=[target])
    process = BinningProcess(
        variable_names=list(features.columns),
        categorical_variables=categorical_columns(features),
        binning_fit_params={
            name: {"special_codes": codes} for name, codes in special_codes.items()
        },
    )
    scorecard = Scorecard(
        binning_process=process,
        estimator=regression(),
        scaling_method="min_max",
        scaling_method_params={"min": 300, "max": 850},
    )
    scorecard.fit(features, train[target])
    return lambda test: scorecard.predict_proba(test[features.columns])


def fit_scorecardpy(
    train: pd.DataFrame, target: str, special_codes: dict[str, list[float]]
) -> Callable[[pd.DataFrame], np.ndarray]:
    """``woebin`` (tree binning, its defaults), ``woebin_ply`` and a logistic regression."""
    import scorecardpy  # noqa: PLC0415

    bins = scorecardpy.woebin(train, y=target, special_values=special_codes or None)
    woe = scorecardpy.woebin_ply(train, bins).drop(columns=[target])
    model = regression().fit(woe, train[target])

    def predict(test: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(scorecardpy.woebin_ply(test, bins)[woe.columns])

    return predict


PEERS: dict[str, Callable[..., Callable[[pd.DataFrame], np.ndarray]]] = {
    "toad": fit_toad,
    "optbinning": fit_optbinning,
    "scorecardpy": fit_scorecardpy,
}
"""Each peer's standard pipeline: fit on the training split, return the holdout predictor."""


def versions(peer: str) -> dict[str, str]:
    """The versions that decide a peer's behaviour, or ``missing`` where one is not installed."""
    found = {}
    for package in (peer, "pandas", "numpy", "scikit-learn"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "missing"
    return found


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    """Load the splits, fit and time the peer, score the holdout; failures become a result.

    With ``--repeats`` above 1 the peer is fitted that many times and the fastest fit is reported
    (as ``timeit`` does: the slower runs measure the machine's other work, not the library).
    """
    result: dict[str, Any] = {
        "peer": arguments.peer,
        "versions": versions(arguments.peer),
        "status": "failed",
        "error": None,
        "fit_seconds": None,
        "probability_bad": None,
    }
    try:
        train = load_table(arguments.train)
        test = load_table(arguments.test)
        special_codes = json.loads(arguments.special_codes)
        fit_seconds = []
        for _ in range(arguments.repeats):
            started = time.perf_counter()
            predict = PEERS[arguments.peer](train, arguments.target, special_codes)
            fit_seconds.append(time.perf_counter() - started)
        result["fit_seconds"] = min(fit_seconds)
        probability_bad = np.asarray(predict(test))[:, 1]
        if probability_bad.shape != (len(test),) or not np.isfinite(probability_bad).all():
            raise ValueError(f"{arguments.peer} returned unusable holdout probabilities")
        result["probability_bad"] = probability_bad.tolist()
        result["status"] = "ok"
    except Exception as error:  # every failure is the peer's result, reported
        result["error"] = f"{type(error).__name__}: {error}"[:ERROR_CHARS_MAX]
        result["traceback"] = traceback.format_exc()[-TRACEBACK_CHARS_MAX:]
    return result


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, choices=sorted(PEERS))
    parser.add_argument("--train", required=True, type=Path)
    parser.add_argument("--test", required=True, type=Path)
    parser.add_argument("--target", required=True, help="the 0/1 target column (1 = bad)")
    parser.add_argument("--out", required=True, type=Path, help="where the JSON result goes")
    parser.add_argument("--special-codes", default="{}", help='JSON, e.g. {"utilization": [-999]}')
    parser.add_argument("--repeats", type=positive_int, default=1, help="fits; the fastest counts")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Write the result; exit 0 when the peer ran, 1 when it failed (the JSON says why)."""
    arguments = parse_arguments(argv)
    result = run(arguments)
    arguments.out.write_text(json.dumps(result))
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
