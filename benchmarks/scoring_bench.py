"""LendGuard's scorecard against toad, optbinning and scorecardpy: fit time and holdout ranking.

Every library sees the same rows: one stratified 70/30 split per dataset (seed 0, made by
``holdout_split`` as ``lendguard model train`` makes it), written once to Parquet. LendGuard reads
the files back in-process; each peer reads them in its own process under ``.venv-peers``, because
the peers are benchmark tools with their own pins, never runtime dependencies (see
``peers/requirements.txt``). Fit time covers binning, the WoE transform and the regression, not
loading. Holdout AUC and KS are computed here with :mod:`lendguard.scoring.metrics` from each
library's probabilities, so one implementation judges everyone. A peer that fails is a row that
says why; a LendGuard failure stops the run with its traceback.

Datasets: German credit (1,000 rows, 13 categorical and 7 numeric features), a seeded synthetic
book (150,000 x 10 by default: monotone and U-shaped effects, missing values, a -999 special
code, two categoricals, a noise feature, about 10% bad), and any CSV named on the command line.

Back of the envelope: binning 105,000 training rows is a sort per feature (~10 ms) and a pass per
candidate cut; the regression on 105,000 x 10 WoE values is tens of passes over 8 MB, so a fit
well under a second is in reach, while the fastest peer measured here takes seconds (optbinning,
~6 s on the synthetic book; toad's chi-merge over ~100,000 distinct values takes tens of
seconds). Batch scoring is one bin lookup and one add per feature and row: 10M lookups for 1M
rows, tens of milliseconds vectorised against the 1 s budget. One record is ten bin searches in
Python, tens of microseconds against the 1 ms budget.

    python benchmarks/scoring_bench.py
    python benchmarks/scoring_bench.py --datasets german --peers toad,optbinning --repeats 3
    python benchmarks/scoring_bench.py --csv book.csv --target default_flag --bad-value 1 --json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from scipy.optimize import brentq
from scipy.special import expit

from lendguard.scoring.binning import WoEBinner
from lendguard.scoring.metrics import auc, ks
from lendguard.scoring.scorecard import Scorecard
from lendguard.scoring.training import Labelled, holdout_split, labelled, read_table

REPOSITORY = Path(__file__).resolve().parent.parent
GERMAN_CREDIT = REPOSITORY / "src" / "lendguard" / "data" / "german_credit.csv"
PEER_RUNNER = REPOSITORY / "benchmarks" / "peers" / "run_peer.py"
PEER_PYTHON = REPOSITORY / ".venv-peers" / "bin" / "python"
PEERS = ("toad", "optbinning", "scorecardpy")
BUILTIN_DATASETS = ("german", "synthetic")

HOLDOUT_SHARE = 0.3
SYNTHETIC_ROWS = 150_000
SYNTHETIC_BAD_RATE = 0.10
SPECIAL_CODE = -999.0
"""The synthetic book's code for "no revolving line": not a utilization, so it gets its own bin."""
REGION_EFFECTS = {
    "north": -0.3,
    "south": 0.0,
    "east": 0.2,
    "west": 0.4,
    "central": -0.1,
    "isles": 0.6,
}
CHANNEL_EFFECTS = {"branch": -0.4, "online": 0.1, "partner": 0.5, "mobile": 0.2}
"""Log-odds added by each level of the synthetic book's two categoricals."""

FIT_RATIO_MAX = 1 / 3
"""LendGuard's fit time as a share of the fastest peer's, at most."""
AUC_SHORTFALL_MAX = 0.003
"""How far LendGuard's holdout AUC may sit below the best peer's."""
BATCH_ROWS = 1_000_000
BATCH_ROWS_PER_SECOND_MIN = 1_000_000
BATCH_REPEATS = 3
SINGLE_ROW_CALLS = 1_000
SINGLE_ROW_SECONDS_MAX = 0.001
PEER_TIMEOUT_SECONDS = 1_800
"""A peer still fitting after this long is reported as failed (timed out), not waited for."""
ERROR_CHARS_MAX = 120
"""A failed peer's error as the table shows it; the JSON keeps the whole text."""


@dataclass(frozen=True)
class Dataset:
    """Features and a 0/1 target (1 = bad) under the target column's name, and its special codes."""

    name: str
    data: Labelled
    target_column: str
    special_codes: dict[str, list[float]]


@dataclass(frozen=True)
class SplitFiles:
    """One dataset's split on disk: the files every library reads."""

    train: Path
    test: Path


@dataclass(frozen=True)
class LibraryResult:
    """One library on one dataset: its fit time and holdout ranking, or why it failed."""

    library: str
    version: str
    runtime: str
    """The pandas and scikit-learn the library ran on (the peers' are pinned apart)."""
    status: str
    """``ok`` or ``failed``."""
    error: str | None
    fit_seconds: float | None
    auc: float | None
    ks: float | None


@dataclass(frozen=True)
class Check:
    """A target from the issue: what was measured, the bound, and PASS, MISS or n/a."""

    name: str
    measured: str
    target: str
    verdict: str


def synthetic_credit(rows: int, seed: int) -> Labelled:
    """A seeded consumer book with a known logistic truth, the same for the same seed and rows.

    Effects (risk up means more bads): income down (3% missing, riskier), age U-shaped, revolving
    utilization up with ``-999`` meaning no revolving line (riskier than low utilization, so binning
    it with its numeric neighbours costs ranking), debt-to-income up, months on book down, recent
    inquiries up, past delinquencies up (10% missing: no bureau file), loan amount none at all
    (a noise feature), and per-level effects for region and channel (5% channel missing).
    Values are rounded as a bureau reports them (whole currency units, ratios to 0.001).
    """
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.5, 0.6, rows)
    age = rng.integers(18, 76, rows)
    utilization = rng.beta(2.0, 3.0, rows)
    no_revolving_line = rng.random(rows) < 0.04
    debt_to_income = rng.gamma(2.0, 0.15, rows)
    months_on_book = rng.integers(0, 121, rows)
    inquiries = rng.poisson(1.2, rows)
    delinquencies = rng.poisson(0.3, rows).astype(float)
    loan_amount = rng.lognormal(9.0, 0.8, rows).round(-1)
    region = rng.choice(list(REGION_EFFECTS), rows, p=[0.25, 0.2, 0.2, 0.15, 0.12, 0.08])
    channel = rng.choice(list(CHANNEL_EFFECTS), rows, p=[0.3, 0.35, 0.2, 0.15]).astype(object)
    income_missing = rng.random(rows) < 0.03
    delinquencies_missing = rng.random(rows) < 0.10
    channel_missing = rng.random(rows) < 0.05
    log_odds = (
        -0.8 * (np.log(income) - 8.5) / 0.6
        + 0.3 * income_missing
        + 0.0015 * (age - 45.0) ** 2
        + np.where(no_revolving_line, 1.2, 2.0 * utilization)
        + 1.5 * np.minimum(debt_to_income, 0.8)
        - 0.01 * months_on_book
        + 0.25 * inquiries
        + 0.5 * np.where(delinquencies_missing, 0.6, delinquencies)
        + pd.Series(region).map(REGION_EFFECTS).to_numpy()
        + np.where(channel_missing, 0.3, pd.Series(channel).map(CHANNEL_EFFECTS).to_numpy())
    )
    intercept = brentq(lambda shift: expit(shift + log_odds).mean() - SYNTHETIC_BAD_RATE, -30, 30)
    target = (rng.random(rows) < expit(intercept + log_odds)).astype(np.int8)
    income[income_missing] = np.nan
    delinquencies[delinquencies_missing] = np.nan
    channel[channel_missing] = None
    features = pd.DataFrame(
        {
            "monthly_income": income.round(0),
            "age_years": age,
            "revolving_utilization": np.where(
                no_revolving_line, SPECIAL_CODE, utilization.round(3)
            ),
            "debt_to_income": debt_to_income.round(3),
            "months_on_book": months_on_book,
            "inquiries_6m": inquiries,
            "delinquencies_24m": delinquencies,
            "loan_amount": loan_amount,
            "region": region.astype(object),
            "channel": channel,
        }
    )
    return Labelled(features, target)


def builtin_dataset(name: str, synthetic_rows: int, seed: int, german_path: Path) -> Dataset:
    """German credit (bad = ``"bad"``) or the synthetic book, with their special codes."""
    if name == "german":
        data = labelled(read_table(german_path), "creditability", "bad")
        return Dataset("german credit", data, "creditability", {})
    data = synthetic_credit(synthetic_rows, seed)
    name = f"synthetic {synthetic_rows:,} x {data.features.shape[1]}"
    return Dataset(name, data, "bad", {"revolving_utilization": [SPECIAL_CODE]})


def csv_dataset(path: Path, target_column: str, bad_value: str | None, codes: str) -> Dataset:
    """A CSV from the command line, its target mapped as ``lendguard model train`` maps it."""
    data = labelled(read_table(path), target_column, bad_value)
    return Dataset(path.name, data, target_column, json.loads(codes))


def write_split(dataset: Dataset, seed: int, folder: Path) -> SplitFiles:
    """Split once (stratified, ``HOLDOUT_SHARE`` held out) and write both parts as Parquet."""
    train, test = holdout_split(dataset.data, HOLDOUT_SHARE, seed)
    files = SplitFiles(folder / "train.parquet", folder / "test.parquet")
    for part, path in ((train, files.train), (test, files.test)):
        table = part.features.assign(**{dataset.target_column: part.target.astype(np.int64)})
        table.to_parquet(path, index=False)
    return files


def read_split(path: Path, target_column: str) -> Labelled:
    """One part of a written split, as LendGuard sees it (the peers read the same file)."""
    return labelled(read_table(path), target_column, None)


def lendguard_scorecard(special_codes: dict[str, list[float]]) -> Scorecard:
    """The LendGuard model the benchmark fits: change its settings here and nowhere else."""
    return Scorecard(binner=WoEBinner(special_codes=special_codes))


def fit_lendguard(
    dataset: Dataset, files: SplitFiles, repeats: int
) -> tuple[Scorecard, LibraryResult]:
    """Fit LendGuard's scorecard on the training file, fastest of ``repeats`` fits.

    A LendGuard failure is not caught: it is the library under test, and its error should stop
    the run with a traceback rather than become a row in a table.
    """
    train = read_split(files.train, dataset.target_column)
    test = read_split(files.test, dataset.target_column)
    fit_seconds = []
    for _ in range(repeats):
        model = lendguard_scorecard(dataset.special_codes)
        started = time.perf_counter()
        model.fit(train.features, train.target)
        fit_seconds.append(time.perf_counter() - started)
    probability_bad = model.predict_proba(test.features)[:, 1]
    result = LibraryResult(
        library="lendguard",
        version=metadata.version("lendguard"),
        runtime=f"pandas {metadata.version('pandas')}, "
        f"scikit-learn {metadata.version('scikit-learn')}",
        status="ok",
        error=None,
        fit_seconds=min(fit_seconds),
        auc=auc(test.target, probability_bad),
        ks=ks(test.target, probability_bad),
    )
    return model, result


def run_peer(
    peer: str,
    dataset: Dataset,
    files: SplitFiles,
    python: Path,
    repeats: int,
    timeout_seconds: float = PEER_TIMEOUT_SECONDS,
) -> LibraryResult:
    """Fit one peer in its own process and judge its holdout probabilities here."""
    if not python.exists():
        return _failed(peer, f"no peer environment at {python} (make bench creates it)")
    out = files.train.parent / f"{peer}.json"
    command = [
        str(python),
        str(PEER_RUNNER),
        f"--peer={peer}",
        f"--train={files.train}",
        f"--test={files.test}",
        f"--target={dataset.target_column}",
        f"--out={out}",
        f"--special-codes={json.dumps(dataset.special_codes)}",
        f"--repeats={repeats}",
    ]
    try:
        finished = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=timeout_seconds
        )
    except subprocess.TimeoutExpired:
        return _failed(peer, f"timed out after {timeout_seconds:g} s")
    if not out.exists():
        last_line = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        return _failed(peer, f"exited {finished.returncode}: {last_line}")
    return _peer_result(json.loads(out.read_text()), read_split(files.test, dataset.target_column))


def _peer_result(report: dict[str, Any], test: Labelled) -> LibraryResult:
    peer = report["peer"]
    versions = report["versions"]
    runtime = f"pandas {versions['pandas']}, scikit-learn {versions['scikit-learn']}"
    if report["status"] != "ok":
        return _failed(peer, report["error"], versions[peer], runtime)
    probability_bad = np.asarray(report["probability_bad"])
    return LibraryResult(
        library=peer,
        version=versions[peer],
        runtime=runtime,
        status="ok",
        error=None,
        fit_seconds=report["fit_seconds"],
        auc=auc(test.target, probability_bad),
        ks=ks(test.target, probability_bad),
    )


def _failed(library: str, error: str, version: str = "?", runtime: str = "?") -> LibraryResult:
    return LibraryResult(library, version, runtime, "failed", error, None, None, None)


def dataset_checks(lendguard: LibraryResult, peers: list[LibraryResult]) -> list[Check]:
    """Fit time against the fastest peer and AUC against the best, among peers that ran."""
    ran = [peer for peer in peers if peer.status == "ok"]
    assert lendguard.fit_seconds is not None and lendguard.auc is not None
    if not ran:
        return [
            Check("fit time", f"{lendguard.fit_seconds:.3f} s", "no peer ran", "n/a"),
            Check("holdout AUC", f"{lendguard.auc:.4f}", "no peer ran", "n/a"),
        ]
    fastest = min(ran, key=lambda peer: peer.fit_seconds or 0.0)
    best = max(ran, key=lambda peer: peer.auc or 0.0)
    assert fastest.fit_seconds is not None and best.auc is not None
    fit_bound = fastest.fit_seconds * FIT_RATIO_MAX
    auc_bound = best.auc - AUC_SHORTFALL_MAX
    return [
        Check(
            "fit time",
            f"{lendguard.fit_seconds:.3f} s",
            f"<= {fit_bound:.3f} s (1/3 of {fastest.library})",
            _verdict(lendguard.fit_seconds <= fit_bound),
        ),
        Check(
            "holdout AUC",
            f"{lendguard.auc:.4f}",
            f">= {auc_bound:.4f} ({best.library} - {AUC_SHORTFALL_MAX})",
            _verdict(lendguard.auc >= auc_bound),
        ),
    ]


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def scoring_speed(model: Scorecard, features: pd.DataFrame, seed: int) -> dict[str, Any]:
    """Batch rows per second on ``BATCH_ROWS`` resampled rows, and single-record latency.

    The single-record scores are compared with the batch scores of the same rows: a fast path that
    disagrees with the model would make its timing meaningless.
    """
    batch = features.sample(n=BATCH_ROWS, replace=True, random_state=seed).reset_index(drop=True)
    batch_seconds = []
    for _ in range(BATCH_REPEATS):
        started = time.perf_counter()
        model.credit_score(batch)
        batch_seconds.append(time.perf_counter() - started)
    sample = features.iloc[:SINGLE_ROW_CALLS]
    records = sample.to_dict("records")
    single_seconds = []
    single_scores = []
    for record in records:
        started = time.perf_counter()
        single_scores.append(model.score_record(record))
        single_seconds.append(time.perf_counter() - started)
    difference = np.abs(np.asarray(single_scores) - model.credit_score(sample)).max()
    return {
        "batch_rows": BATCH_ROWS,
        "batch_rows_per_second": BATCH_ROWS / min(batch_seconds),
        "single_row_calls": len(records),
        "single_row_median_ms": float(np.median(single_seconds)) * 1_000,
        "single_row_p99_ms": float(np.percentile(single_seconds, 99)) * 1_000,
        "single_row_max_difference_from_batch": float(difference),
    }


def speed_checks(speed: dict[str, Any]) -> list[Check]:
    """The issue's scoring targets: rows per second in batch, milliseconds for one record."""
    return [
        Check(
            "batch scoring",
            f"{speed['batch_rows_per_second']:,.0f} rows/s",
            f">= {BATCH_ROWS_PER_SECOND_MIN:,} rows/s",
            _verdict(speed["batch_rows_per_second"] >= BATCH_ROWS_PER_SECOND_MIN),
        ),
        Check(
            "single-row score",
            f"{speed['single_row_median_ms']:.3f} ms median",
            f"<= {SINGLE_ROW_SECONDS_MAX * 1_000:g} ms",
            _verdict(speed["single_row_median_ms"] <= SINGLE_ROW_SECONDS_MAX * 1_000),
        ),
        Check(
            "single row = batch",
            f"max |difference| {speed['single_row_max_difference_from_batch']:.2g}",
            "0",
            _verdict(speed["single_row_max_difference_from_batch"] == 0.0),
        ),
    ]


def bench_dataset(
    dataset: Dataset, arguments: argparse.Namespace, folder: Path
) -> tuple[dict[str, Any], Scorecard, pd.DataFrame]:
    """Split, fit LendGuard and every peer, and check the targets, for one dataset."""
    files = write_split(dataset, arguments.seed, folder)
    model, lendguard = fit_lendguard(dataset, files, arguments.repeats)
    peers = [
        run_peer(peer, dataset, files, arguments.peer_python, arguments.repeats)
        for peer in arguments.peers
    ]
    target = dataset.data.target
    report = {
        "dataset": dataset.name,
        "rows": len(target),
        "features": dataset.data.features.shape[1],
        "bad_rate": float(target.mean()),
        "holdout_share": HOLDOUT_SHARE,
        "seed": arguments.seed,
        "results": [asdict(result) for result in (lendguard, *peers)],
        "checks": [asdict(check) for check in dataset_checks(lendguard, peers)],
    }
    return report, model, read_split(files.test, dataset.target_column).features


def print_dataset(console: Console, report: dict[str, Any]) -> None:
    title = (
        f"{report['dataset']}: {report['rows']:,} rows, {report['features']} features, "
        f"{report['bad_rate']:.1%} bad, {1 - report['holdout_share']:.0%}/"
        f"{report['holdout_share']:.0%} stratified split (seed {report['seed']})"
    )
    libraries_by_runtime: dict[str, list[str]] = {}
    for result in report["results"]:
        libraries_by_runtime.setdefault(result["runtime"], []).append(result["library"])
    caption = "; ".join(
        f"{', '.join(names)} on {runtime}" for runtime, names in libraries_by_runtime.items()
    )
    table = Table(title=title, caption=caption)
    for column in ("library", "version", "fit s", "x LendGuard", "AUC", "KS", "status"):
        table.add_column(column, justify="left" if column in {"library", "status"} else "right")
    lendguard_seconds = report["results"][0]["fit_seconds"]
    for result in report["results"]:
        ran = result["status"] == "ok"
        first_line = next(iter((result["error"] or "").splitlines()), "")
        status = "ok" if ran else f"failed: {first_line[:ERROR_CHARS_MAX]}"
        table.add_row(
            result["library"],
            result["version"],
            f"{result['fit_seconds']:.3f}" if ran else "-",
            f"{result['fit_seconds'] / lendguard_seconds:.1f}" if ran else "-",
            f"{result['auc']:.4f}" if ran else "-",
            f"{result['ks']:.4f}" if ran else "-",
            status,
        )
    console.print(table)
    print_checks(console, report["checks"], f"targets on {report['dataset']}")


def print_checks(console: Console, checks: list[dict[str, str]], title: str) -> None:
    table = Table(title=title)
    for column in ("check", "measured", "target", "verdict"):
        table.add_column(column)
    for check in checks:
        table.add_row(check["name"], check["measured"], check["target"], check["verdict"])
    console.print(table)


def datasets(arguments: argparse.Namespace) -> list[Dataset]:
    """The built-in datasets asked for, then the CSV if one was given."""
    chosen = [
        builtin_dataset(name, arguments.rows, arguments.seed, arguments.german)
        for name in arguments.datasets
    ]
    if arguments.csv is not None:
        chosen.append(
            csv_dataset(
                arguments.csv, arguments.target, arguments.bad_value, arguments.special_codes
            )
        )
    return chosen


def run(
    arguments: argparse.Namespace, show: Callable[[dict[str, Any]], None] = lambda _: None
) -> dict[str, Any]:
    """Every dataset side by side, then scoring speed on the model with the largest holdout.

    ``show`` gets each dataset's report as soon as it is done: a run takes minutes (toad's
    chi-merge on 105,000 distinct values alone takes a few), and a crash late in it should not
    take the finished tables with it.
    """
    reports = []
    fitted: list[tuple[str, Scorecard, pd.DataFrame]] = []
    with tempfile.TemporaryDirectory(prefix="scoring-bench-") as temporary:
        for index, dataset in enumerate(datasets(arguments)):
            folder = Path(temporary) / str(index)
            folder.mkdir()
            report, model, test_features = bench_dataset(dataset, arguments, folder)
            show(report)
            reports.append(report)
            fitted.append((dataset.name, model, test_features))
    speed_dataset, model, test_features = max(fitted, key=lambda item: len(item[2]))
    speed = scoring_speed(model, test_features, seed=arguments.seed)
    return {
        "datasets": reports,
        "scoring": {"dataset": speed_dataset, **speed},
        "scoring_checks": [asdict(check) for check in speed_checks(speed)],
    }


def dataset_names(text: str) -> tuple[str, ...]:
    names = tuple(name for name in text.split(",") if name)
    unknown = sorted(set(names) - set(BUILTIN_DATASETS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown dataset {', '.join(unknown)}")
    return names


def peer_names(text: str) -> tuple[str, ...]:
    names = tuple(name for name in text.split(",") if name)
    unknown = sorted(set(names) - set(PEERS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peer {', '.join(unknown)}")
    return names


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, help="another dataset to benchmark")
    parser.add_argument("--target", help="the CSV's target column")
    parser.add_argument("--bad-value", help="the target's value that means bad (else 0/1)")
    parser.add_argument("--special-codes", default="{}", help='the CSV\'s, e.g. {"dti": [-999]}')
    parser.add_argument("--rows", type=positive_int, default=SYNTHETIC_ROWS)
    parser.add_argument("--datasets", type=dataset_names, default=BUILTIN_DATASETS)
    parser.add_argument("--peers", type=peer_names, default=PEERS)
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument("--german", type=Path, default=GERMAN_CREDIT)
    parser.add_argument("--seed", type=int, default=0, help="the split's (and synthetic book's)")
    parser.add_argument("--repeats", type=positive_int, default=1, help="fits per library; fastest")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    arguments = parser.parse_args(argv)
    if arguments.csv is not None and arguments.target is None:
        parser.error("--csv needs --target")
    if arguments.csv is None and not arguments.datasets:
        parser.error("nothing to benchmark: name --datasets or a --csv")
    return arguments


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.json:
        print(json.dumps(run(arguments), indent=2))
        return 0
    console = Console()
    report = run(arguments, show=lambda dataset_report: print_dataset(console, dataset_report))
    speed = report["scoring"]
    print_checks(
        console,
        report["scoring_checks"],
        f"LendGuard scoring on the {speed['dataset']} model "
        f"({speed['batch_rows']:,}-row batch, {speed['single_row_calls']:,} single records)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
