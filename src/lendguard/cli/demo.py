"""``lendguard demo`` and ``lendguard simulate``: run the book simulator and write its report.

The simulation lives in :mod:`lendguard.simulation`; this module parses options, checks them (a
bad scenario or an unwritable folder fails before any work), shows progress and prints. The
report's path is always the last line printed, so a script can take it with ``tail -1``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from lendguard.cli.errors import bad_input_exits
from lendguard.simulation import calibration
from lendguard.simulation.portfolio import headline, load_run
from lendguard.simulation.report import write_comparison, write_pdf, write_report
from lendguard.simulation.runner import check_output_folder, partition_days, simulate
from lendguard.simulation.scenario import Scenario, accounts_max, load_scenario, months_max

REPORT_NAME = "report.html"
PDF_NAME = "report.pdf"
COMPARISON_NAME = "comparison.html"

AccountsOption = Annotated[
    int | None,
    typer.Option(min=1, max=accounts_max, help="Accounts to book (default: the scenario's)."),
]
MonthsOption = Annotated[
    int | None, typer.Option(min=1, max=months_max, help="Months to run (default: the scenario's).")
]
SeedOption = Annotated[
    int | None, typer.Option(min=0, help="Seed: same seed, same book (default: the scenario's).")
]


def demo_command(
    accounts: AccountsOption = None,
    months: MonthsOption = None,
    seed: SeedOption = None,
    out: Annotated[
        Path, typer.Option(help="Folder for the store, snapshots and report (replaced).")
    ] = Path("demo-out"),
    pdf: Annotated[bool, typer.Option(help="Also render the report as PDF.")] = True,
) -> None:
    """Simulate the baseline book through the real platform and write its risk report."""
    with bad_input_exits():
        scenario = load_scenario("baseline").with_overrides(
            accounts=accounts, months=months, seed=seed
        )
        check_output_folder(out)
    report = _run_and_report(scenario, out, pdf=pdf)
    Console().print(str(report))


def simulate_command(
    scenario_file: Annotated[
        str,
        typer.Option(
            "--scenario", help="Scenario TOML file, or a packaged name: baseline, stress ..."
        ),
    ] = "baseline",
    against: Annotated[
        str | None,
        typer.Option(help="A second scenario to run on the same seed and compare side by side."),
    ] = None,
    accounts: AccountsOption = None,
    months: MonthsOption = None,
    seed: SeedOption = None,
    out: Annotated[Path, typer.Option(help="Folder for the run(s) and reports.")] = Path(
        "simulation-out"
    ),
    pdf: Annotated[bool, typer.Option(help="Also render each report as PDF.")] = False,
) -> None:
    """Run a scenario (and optionally a second one) and write the report(s)."""
    with bad_input_exits():
        first = load_scenario(scenario_file).with_overrides(
            accounts=accounts, months=months, seed=seed
        )
        second = None
        if against is not None:
            second = load_scenario(against).with_overrides(
                accounts=first.run.accounts, months=first.run.months, seed=first.run.seed
            )
        check_output_folder(out)
    if second is None:
        Console().print(str(_run_and_report(first, out, pdf=pdf)))
        return
    names = _run_names(first, second)
    runs = {}
    for name, scenario in zip(names, (first, second), strict=True):
        _run_and_report(scenario, out / name, pdf=pdf)
        runs[name] = load_run(out / name)
    comparison = write_comparison(runs, out / COMPARISON_NAME, f"{names[0]} vs {names[1]}")
    Console().print(str(comparison))


def _run_names(first: Scenario, second: Scenario) -> tuple[str, str]:
    """Folder names of two runs: the scenario names, told apart if they are the same."""
    if first.run.name != second.run.name:
        return first.run.name, second.run.name
    return f"{first.run.name}-1", f"{second.run.name}-2"


def _run_and_report(scenario: Scenario, out: Path, *, pdf: bool) -> Path:
    """Simulate with a progress bar, write the report(s), print the headline figures."""
    console = Console(stderr=True)
    started = time.perf_counter()
    columns = (
        TextColumn(f"simulating {scenario.run.name}"),
        BarColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("days", total=partition_days(scenario))
        outcome = simulate(scenario, out, lambda days: progress.advance(task, days))
    simulated_s = time.perf_counter() - started
    run = load_run(out)
    title = f"LendGuard book simulation: {scenario.run.name}"
    checks = calibration.check(run)
    rows = [asdict(check) | {"inside": check.inside} for check in checks]
    report = write_report(run, out / "report.html", title, _scenario_table(scenario), rows)
    if pdf:
        write_pdf(run, out / PDF_NAME, title)
    figures = headline(run)
    (out / "headline.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    (out / "calibration.json").write_text(json.dumps(rows, indent=2) + "\n")
    _print_headline(scenario, figures, outcome.applications)
    _print_calibration(checks)
    if outcome.refused:
        refused = ", ".join(f"{what} x{count}" for what, count in outcome.refused.most_common())
        Console().print(f"requests the ledger refused (counted, not retried): {refused}")
    Console().print(
        f"simulated in {simulated_s:.1f} s, with reports {time.perf_counter() - started:.1f} s"
    )
    return report


def _scenario_table(scenario: Scenario) -> dict[str, Any]:
    """The scenario as flat ``section.key -> value`` rows for the report's last table."""
    rows: dict[str, Any] = {}
    for section, values in scenario.model_dump(mode="json").items():
        if isinstance(values, dict):
            rows |= {f"{section}.{key}": value for key, value in values.items()}
        elif isinstance(values, list):
            for index, shock in enumerate(values):
                rows |= {f"{section}.{index}.{key}": value for key, value in shock.items()}
    rows["sha256"] = scenario.sha256
    return rows


def _print_headline(scenario: Scenario, figures: dict[str, float], applications: int) -> None:
    console = Console()
    table = Table(title=f"{scenario.run.name}: {scenario.run.start} to {scenario.end}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name.replace("_", " "), _shown(name, value))
    table.add_row("applications decided", f"{applications:,}")
    console.print(table)


def _print_calibration(checks: list[calibration.Check]) -> None:
    """Each calibrated measure against its target range (docs/simulation.md gives sources)."""
    table = Table(title="calibration (targets from public figures, docs/simulation.md)")
    for column in ("measure", "value", "range", ""):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for item in checks:
        verdict = "inside" if item.inside else "OUTSIDE"
        shown = _shown(item.measure, item.value)
        table.add_row(item.measure, shown, f"{item.low:.2%} - {item.high:.2%}", verdict)
    Console().print(table)


def _shown(name: str, value: float) -> str:
    """A headline figure as a risk manager reads it: yuan, a count, or a percentage."""
    if name.endswith("_minor"):
        return f"{value / 100:,.2f}"
    if name.endswith("accounts"):
        return f"{value:,.0f}"
    return "n/a" if math.isnan(value) else f"{value:.2%}"
