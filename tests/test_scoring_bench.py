"""The scoring benchmark's own machinery: its synthetic book, its one split, its verdicts.

The benchmark is only fair if every library gets the same rows, so the split is tested for
being identical run to run, complete and stratified; the synthetic book for being the same for a
seed and for carrying the effects it claims. None of this needs the peer libraries installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.scoring.metrics import auc
from lendguard.scoring.training import Labelled

# The benchmarks are scripts beside the package, not part of it: import them from the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import scoring_bench as bench

RUN_PEER = Path(bench.__file__).resolve().parent / "peers" / "run_peer.py"


@given(rows=st.integers(min_value=200, max_value=3_000), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=15, deadline=None)
def test_synthetic_book_is_the_same_for_the_same_seed(rows: int, seed: int) -> None:
    first = bench.synthetic_credit(rows, seed)
    second = bench.synthetic_credit(rows, seed)
    pd.testing.assert_frame_equal(first.features, second.features)
    np.testing.assert_array_equal(first.target, second.target)
    assert first.features.shape == (rows, 10)
    assert set(np.unique(first.target)) <= {0, 1}


def test_synthetic_book_changes_with_the_seed() -> None:
    first = bench.synthetic_credit(1_000, 0)
    other = bench.synthetic_credit(1_000, 1)
    assert not first.features.equals(other.features)


@pytest.fixture(scope="module")
def synthetic_book() -> Labelled:
    return bench.synthetic_credit(bench.SYNTHETIC_ROWS, 0)


def test_synthetic_book_has_the_promised_shape_and_gaps(synthetic_book: Labelled) -> None:
    features = synthetic_book.features
    assert features.shape == (150_000, 10)
    assert 0.095 <= synthetic_book.target.mean() <= 0.105
    special_share = (features["revolving_utilization"] == bench.SPECIAL_CODE).mean()
    assert 0.03 <= special_share <= 0.05
    for column, share in (("monthly_income", 0.03), ("delinquencies_24m", 0.10), ("channel", 0.05)):
        assert abs(features[column].isna().mean() - share) < 0.005, column
    assert features[["region", "channel"]].dtypes.eq(object).all()
    assert (
        not features.drop(columns=["monthly_income", "delinquencies_24m", "channel"])
        .isna()
        .any()
        .any()
    )


def test_synthetic_book_carries_its_effects(synthetic_book: Labelled) -> None:
    """Each designed effect shows up in the data; the noise feature ranks nobody."""
    features, target = synthetic_book.features, synthetic_book.target
    utilization = features["revolving_utilization"]
    regular = utilization != bench.SPECIAL_CODE
    assert auc(target[regular], utilization[regular]) > 0.58
    assert target[~regular].mean() > target[regular & (utilization < 0.3)].mean()
    assert auc(target, -features["months_on_book"]) > 0.55
    assert abs(auc(target, features["loan_amount"]) - 0.5) < 0.01
    age = features["age_years"]
    middle_rate = target[(age >= 40) & (age <= 50)].mean()
    assert target[age < 25].mean() > middle_rate
    assert target[age > 68].mean() > middle_rate
    region_rates = pd.Series(target).groupby(features["region"]).mean()
    assert region_rates.idxmax() == "isles" and region_rates.idxmin() == "north"


def numbered_dataset(rows: int, bad_every: int) -> bench.Dataset:
    """Rows carry their own number, so a split can be checked row by row."""
    numbers = np.arange(rows)
    features = pd.DataFrame({"row_number": numbers, "grade": np.where(numbers % 3, "a", "b")})
    target = (numbers % bad_every == 0).astype(np.int8)
    return bench.Dataset("numbered", Labelled(features, target), "bad", {})


def test_split_is_identical_run_to_run_and_complete(tmp_path: Path) -> None:
    dataset = numbered_dataset(1_000, bad_every=7)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = bench.write_split(dataset, 0, tmp_path / "one")
    second = bench.write_split(dataset, 0, tmp_path / "two")
    for part in ("train", "test"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(getattr(first, part)), pd.read_parquet(getattr(second, part))
        )
    train = bench.read_split(first.train, "bad")
    test = bench.read_split(first.test, "bad")
    assert len(test.target) == 300
    numbers = np.concatenate([train.features["row_number"], test.features["row_number"]])
    np.testing.assert_array_equal(np.sort(numbers), np.arange(1_000))
    for part in (train, test):
        expected = (part.features["row_number"] % 7 == 0).to_numpy(dtype=np.int8)
        np.testing.assert_array_equal(part.target, expected)


@given(rows=st.integers(min_value=100, max_value=2_000), bad_every=st.integers(2, 15))
@settings(max_examples=15, deadline=None)
def test_split_keeps_the_bad_rate_in_both_parts(rows: int, bad_every: int) -> None:
    dataset = numbered_dataset(rows, bad_every)
    train, test = bench.holdout_split(dataset.data, bench.HOLDOUT_SHARE, 0)
    bad_count = int(dataset.data.target.sum())
    expected_test_bads = bad_count * len(test.target) / rows
    assert abs(int(test.target.sum()) - expected_test_bads) <= 1
    assert int(train.target.sum()) + int(test.target.sum()) == bad_count


def test_split_file_holds_the_target_as_zero_one_integers(tmp_path: Path) -> None:
    files = bench.write_split(numbered_dataset(200, bad_every=4), 0, tmp_path)
    table = pd.read_parquet(files.train)
    assert table["bad"].dtype == np.int64
    assert set(table["bad"]) == {0, 1}
    assert list(table.columns) == ["row_number", "grade", "bad"]


def test_csv_target_is_mapped_like_model_train(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    pd.DataFrame({"dti": [0.1, -999, 0.5, 0.7], "flag": ["Y", "N", "N", "Y"]}).to_csv(path)
    dataset = bench.csv_dataset(path, "flag", "Y", '{"dti": [-999]}')
    np.testing.assert_array_equal(dataset.data.target, [1, 0, 0, 1])
    assert "flag" not in dataset.data.features.columns
    assert dataset.special_codes == {"dti": [-999]}


def result(library: str, fit_seconds: float | None, auc_value: float | None) -> bench.LibraryResult:
    status = "ok" if fit_seconds is not None else "failed"
    error = None if status == "ok" else "ImportError: no"
    return bench.LibraryResult(library, "1", "pandas", status, error, fit_seconds, auc_value, 0.4)


def test_checks_compare_with_the_fastest_and_the_best_peer_that_ran() -> None:
    peers = [result("slow", 9.0, 0.80), result("fast", 3.0, 0.70), result("broken", None, None)]
    fit_check, auc_check = bench.dataset_checks(result("lendguard", 0.9, 0.798), peers)
    assert (fit_check.verdict, auc_check.verdict) == ("PASS", "PASS")
    assert "fast" in fit_check.target and "slow" in auc_check.target
    fit_check, auc_check = bench.dataset_checks(result("lendguard", 1.1, 0.796), peers)
    assert (fit_check.verdict, auc_check.verdict) == ("MISS", "MISS")


def test_checks_say_n_a_when_no_peer_ran() -> None:
    checks = bench.dataset_checks(result("lendguard", 1.0, 0.8), [result("broken", None, None)])
    assert [check.verdict for check in checks] == ["n/a", "n/a"]


def test_speed_checks_hold_the_issue_targets() -> None:
    speed = {
        "batch_rows_per_second": 1_200_000.0,
        "single_row_median_ms": 1.2,
        "single_row_max_difference_from_batch": 0.0,
    }
    verdicts = [check.verdict for check in bench.speed_checks(speed)]
    assert verdicts == ["PASS", "MISS", "PASS"]


def test_a_missing_peer_environment_is_reported_not_raised(tmp_path: Path) -> None:
    files = bench.write_split(numbered_dataset(100, bad_every=4), 0, tmp_path)
    dataset = numbered_dataset(100, bad_every=4)
    outcome = bench.run_peer("toad", dataset, files, tmp_path / "no-such-python", repeats=1)
    assert outcome.status == "failed"
    assert "no-such-python" in (outcome.error or "")


def test_a_peer_that_cannot_read_its_data_reports_why(tmp_path: Path) -> None:
    """The runner itself, under this interpreter: the failure lands in its JSON, exit code 1."""
    out = tmp_path / "result.json"
    arguments = ["--peer=toad", f"--train={tmp_path / 'absent.parquet'}", f"--test={out}"]
    finished = subprocess.run(
        [sys.executable, str(RUN_PEER), *arguments, "--target=bad", f"--out={out}"],
        check=False,
        capture_output=True,
        text=True,
    )
    report = json.loads(out.read_text())
    assert finished.returncode == 1
    assert report["status"] == "failed"
    assert "absent.parquet" in report["error"]
    assert report["probability_bad"] is None


def test_command_line_refuses_incomplete_requests() -> None:
    with pytest.raises(SystemExit):
        bench.parse_arguments(["--csv", "book.csv"])
    with pytest.raises(SystemExit):
        bench.parse_arguments(["--peers", "toad,sas"])
    with pytest.raises(SystemExit):
        bench.parse_arguments(["--datasets", ""])
    arguments = bench.parse_arguments(["--peers", "toad", "--datasets", "german"])
    assert arguments.peers == ("toad",) and arguments.datasets == ("german",)
