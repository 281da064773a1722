"""``lendguard underwrite`` and ``lendguard review`` from the command line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.underwriting.application import application_rows
from lendguard.underwriting.sample_applications import synthetic_applications

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "applications"


def run(*arguments: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(argument) for argument in arguments])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'book.sqlite'}"


def test_underwrite_prints_the_documented_json(db: str) -> None:
    code, stdout, stderr = run(
        "underwrite", "--application", EXAMPLES / "approve-clean.json", "--db", db, "--json"
    )
    assert code == 0, stderr
    decision = json.loads(stdout)
    assert {"decision", "limit", "daily_rate", "apr", "grade", "score", "reasons"} <= set(decision)
    assert decision["decision"] == "approve"
    assert float(decision["limit"]) > 0 and float(decision["apr"]) <= 24


def test_a_malformed_application_exits_2_naming_the_field(db: str, tmp_path: Path) -> None:
    data = json.loads((EXAMPLES / "approve-clean.json").read_text())
    data["requested_term_months"] = -3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    code, stdout, stderr = run("underwrite", "--application", path, "--db", db, "--json")
    assert code == 2 and stdout == ""
    assert "error[invalid_application]" in stderr and "requested_term_months" in stderr


def test_referral_goes_through_review_from_the_command_line(db: str) -> None:
    code, stdout, _ = run(
        "underwrite", "--application", EXAMPLES / "thin-file-young.json", "--db", db, "--json"
    )
    application_id = json.loads(stdout)["application_id"]
    code, stdout, stderr = run("review", "list", "--db", db, "--json")
    assert code == 0, stderr
    assert json.loads(stdout.splitlines()[0])["application_id"] == application_id
    code, stdout, stderr = run(
        "review",
        "decide",
        application_id,
        "--outcome",
        "decline",
        "--reviewer",
        "r-1",
        "--reason",
        "income not evidenced",
        "--date",
        "2026-03-03",
        "--db",
        db,
    )
    assert code == 0, stderr
    assert json.loads(stdout)["decision"] == "decline"
    code, stdout, _ = run("review", "list", "--db", db, "--json")
    assert stdout == ""
    code, _, stderr = run(
        "review",
        "contest",
        application_id,
        "--statement",
        "x",
        "--date",
        "2026-03-04",
        "--db",
        db,
    )
    assert code == 2 and "last decided by a person" in stderr


def test_batch_mode_writes_decisions_with_their_versions(tmp_path: Path) -> None:
    applications = synthetic_applications(400, 5, dt.date(2026, 11, 29))
    frame = application_rows(applications)
    frame.loc[3, "requested_amount"] = "lots"
    source = tmp_path / "applications.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "decisions.parquet"
    code, stdout, stderr = run("underwrite", "--batch", source, "--out", out, "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert (summary["decided"], summary["rejected_rows"]) == (399, 1)
    assert summary["row_errors"][0]["row"] == 3
    table = pq.read_table(out)
    assert table.num_rows == 399
    assert b"lendguard.versions" in table.schema.metadata
    decisions = table.column("decision").to_pylist()
    assert summary["approve"] == decisions.count("approve")
    assert not any(path.name.endswith(".partial") for path in tmp_path.iterdir())


def test_exactly_one_input_is_required() -> None:
    code, _, stderr = run("underwrite")
    assert code == 2 and "exactly one" in stderr
