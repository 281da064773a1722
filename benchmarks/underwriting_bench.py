"""Underwriting throughput: single-decision latency and batch applications per second.

In process, with the deterministic synthetic sources, on the packaged standard setup. Targets from
the issue: a single decision p99 <= 10 ms, a batch >= 20,000 applications/s. Each step's share of
the time is printed beside the totals, so the slowest resource is visible in the same run.

    python benchmarks/underwriting_bench.py [--batch 20000] [--singles 500] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lendguard.underwriting.application import application_rows
from lendguard.underwriting.batch import decide_file
from lendguard.underwriting.sample_applications import synthetic_applications
from lendguard.underwriting.standard import standard_underwriter

SINGLE_P99_TARGET_MS = 10.0
BATCH_TARGET_PER_S = 20_000
DAY = dt.date(2026, 11, 29)


def measure(batch_size: int, singles: int) -> dict[str, float]:
    """Time one warm batch and ``singles`` warm one-application decisions."""
    underwriter = standard_underwriter()
    applications = synthetic_applications(batch_size + singles, 1, DAY)
    underwriter.decide_batch(applications[:200])  # warm caches (quotes, catalogue)
    started = time.perf_counter()
    decided = underwriter.decide_batch(applications[:batch_size])
    batch_seconds = time.perf_counter() - started
    latencies_ms = []
    for application in applications[batch_size:]:
        started = time.perf_counter()
        underwriter.decide(application)
        latencies_ms.append((time.perf_counter() - started) * 1000)
    file_seconds = _file_seconds(underwriter, applications[:batch_size])
    return {
        "file_per_s": batch_size / file_seconds,
        "batch_applications": batch_size,
        "batch_seconds": batch_seconds,
        "batch_per_s": batch_size / batch_seconds,
        "batch_step_ms_per_1000": {
            step: value * 1000 for step, value in decided.timings_ms.items()
        },
        "single_p50_ms": float(np.percentile(latencies_ms, 50)),
        "single_p99_ms": float(np.percentile(latencies_ms, 99)),
        "approve_share": float((decided.outputs["decision"] == "approve").mean()),
        "refer_share": float((decided.outputs["decision"] == "refer").mean()),
    }


def _file_seconds(underwriter: Any, applications: list) -> float:
    """Parse a CSV of the applications, decide them and write the Parquet decisions file."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "applications.csv"
        application_rows(applications).to_csv(source, index=False)
        started = time.perf_counter()
        decide_file(source, Path(folder) / "decisions.parquet", underwriter)
        return time.perf_counter() - started


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    figures = measure(arguments.batch, arguments.singles)
    if arguments.json:
        print(json.dumps(figures))
        return
    table = Table(title="Underwriting, in process, synthetic sources (2-core machine)")
    for column in ("measure", "figure", "target", "verdict"):
        table.add_column(column)
    table.add_row(
        "batch",
        f"{figures['batch_per_s']:,.0f} applications/s",
        f">= {BATCH_TARGET_PER_S:,}/s",
        verdict(figures["batch_per_s"] >= BATCH_TARGET_PER_S),
    )
    table.add_row(
        "single decision p99",
        f"{figures['single_p99_ms']:.2f} ms (p50 {figures['single_p50_ms']:.2f})",
        f"<= {SINGLE_P99_TARGET_MS} ms",
        verdict(figures["single_p99_ms"] <= SINGLE_P99_TARGET_MS),
    )
    table.add_row(
        "batch from CSV (parse + decide + write Parquet)",
        f"{figures['file_per_s']:,.0f} applications/s",
        f">= {BATCH_TARGET_PER_S:,}/s",
        verdict(figures["file_per_s"] >= BATCH_TARGET_PER_S),
    )
    for step, value in figures["batch_step_ms_per_1000"].items():
        table.add_row(f"  batch step: {step}", f"{value:.1f} ms per 1,000", "", "")
    table.add_row(
        "outcome mix",
        f"approve {figures['approve_share']:.1%}, refer {figures['refer_share']:.1%}",
        "",
        "",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
