"""``lendguard demo`` and ``lendguard simulate`` end to end on small books."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.eod.outputs import SNAPSHOTS, read_feed
from lendguard.scoring.features import build_features, label_outcomes
from lendguard.store import open_store

SMALL = ("--accounts", "40", "--months", "4")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "out"
    code, stdout, stderr = invoke("demo", *SMALL, "--out", str(out))
    assert code == 0, stderr
    return out, stdout


def test_demo_writes_store_snapshots_and_reports_and_prints_the_path_last(
    demo_out: tuple[Path, str],
) -> None:
    out, stdout = demo_out
    assert stdout.strip().splitlines()[-1] == str(out / "report.html")
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 8 and "Vintage" in html and "Roll" in html
    assert "<script" not in html
    assert "Calibration against public figures" in html
    calibration = json.loads((out / "calibration.json").read_text())
    assert {row["measure"] for row in calibration} >= {"past_due_30_plus", "m1_to_m2_roll"}
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert len(list((out / "snapshots").glob("business_date=*"))) == 120
    assert not list(out.glob("*.partition-*"))  # shards merged and removed
    headline = json.loads((out / "headline.json").read_text())
    assert headline["accounts"] == 40
    assert 0 <= headline["balance_share_90_plus"] <= headline["balance_share_30_plus"] <= 1


def test_the_demo_book_is_balanced(demo_out: tuple[Path, str]) -> None:
    out, _ = demo_out
    store = open_store(f"sqlite:///{out / 'lendguard.sqlite'}")
    try:
        assert store.journal_total_by_currency() == {"CNY": 0}
        assert store.open_account_count() > 0
        assert store.closed_through_min() is not None
    finally:
        store.close()


def test_the_same_seed_gives_the_same_headline(demo_out: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = demo_out
    code, _, stderr = invoke("demo", *SMALL, "--out", str(tmp_path), "--no-pdf")
    assert code == 0, stderr
    assert (tmp_path / "headline.json").read_text() == (out / "headline.json").read_text()
    assert not (tmp_path / "report.pdf").exists()


def test_an_output_path_that_is_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    code, _, stderr = invoke("demo", *SMALL, "--out", str(blocker))
    assert code == 2
    assert "error[invalid_scenario]" in stderr and "not a folder" in stderr
    assert blocker.read_text() == "a file"


def test_a_bad_scenario_is_refused_before_any_work(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text('[run]\nname = "x"\nmonths = 0\n')
    out = tmp_path / "out"
    code, _, stderr = invoke("simulate", "--scenario", str(scenario), "--out", str(out))
    assert code == 2
    assert "run.months" in stderr
    assert not out.exists()


def test_simulate_compares_two_scenarios_on_the_same_seed(tmp_path: Path) -> None:
    code, stdout, stderr = invoke(
        "simulate", "--scenario", "baseline", "--against", "stress", *SMALL, "--out", str(tmp_path)
    )
    assert code == 0, stderr
    comparison = tmp_path / "comparison.html"
    assert stdout.strip().splitlines()[-1] == str(comparison)
    text = comparison.read_text()
    assert "baseline" in text and "stress" in text
    for name in ("baseline", "stress"):
        assert (tmp_path / name / "report.html").exists()
    baseline = json.loads((tmp_path / "baseline" / "headline.json").read_text())
    stress = json.loads((tmp_path / "stress" / "headline.json").read_text())
    assert baseline["accounts"] == stress["accounts"] == 40


def test_behaviour_features_from_the_demo_feed_train_a_model(
    demo_out: tuple[Path, str], tmp_path: Path
) -> None:
    """The B-card loop on the simulated book: nightly snapshots -> point-in-time features with
    their outcome -> a model trained on the features alone (ids and dates excluded)."""
    out, _ = demo_out
    snapshots = read_feed(out, SNAPSHOTS)
    first = snapshots.column("business_date").to_pylist()[0]
    dates = [str(first + dt.timedelta(days=days)) for days in (30, 45, 60)]
    table_path = tmp_path / "bcard.parquet"
    observed = [arg for day in dates for arg in ("--on", day)]
    code, stdout, stderr = invoke(
        "model", "features", "--feed", str(out), *observed, "--out", str(table_path),
        "--horizon-days", "30", "--bad-days", "1",
    )  # fmt: skip
    assert code == 0, stderr
    table = pd.read_parquet(table_path)
    assert f"{len(table)} rows of behaviour features" in stdout
    expected = build_features(snapshots, dates).merge(
        label_outcomes(snapshots, dates, horizon_days=30, bad_past_due_days=1),
        on=["account_id", "observation_date"],
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert set(table["bad"]) == {0, 1}
    code, stdout, stderr = invoke(
        "model", "train", "--data", str(table_path), "--target", "bad", "--kind", "scorecard",
        "--exclude", "account_id,observation_date,snapshot_date",
        "--out", str(tmp_path / "models"), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert 0 <= json.loads(stdout)["auc"] <= 1


def test_features_refuse_a_folder_without_snapshots_and_an_unknown_outcome(
    demo_out: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = demo_out
    code, _, stderr = invoke(
        "model", "features", "--feed", str(tmp_path), "--on", "2026-01-31",
        "--out", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert code == 2 and "holds no snapshots/ folder" in stderr
    last = read_feed(out, SNAPSHOTS).column("business_date").to_pylist()[-1]
    code, _, stderr = invoke(
        "model", "features", "--feed", str(out), "--on", str(last),
        "--out", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert code == 2 and "its label is not known yet" in stderr
    assert not (tmp_path / "x.parquet").exists()
