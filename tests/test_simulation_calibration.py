"""The default scenario stays inside its calibration ranges, and a stress scenario is worse.

Runs the default scenario at half its default size (the ranges are wide enough for that book's
noise; docs/simulation.md gives the figures of the full-size run), and the stress scenario on the
same seed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lendguard.simulation.calibration import MEASURES, check, load_targets, measures
from lendguard.simulation.portfolio import load_run
from lendguard.simulation.runner import simulate
from lendguard.simulation.scenario import load_scenario

CALIBRATION_ACCOUNTS = 1_000


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("baseline")
    simulate(load_scenario("baseline").with_overrides(accounts=CALIBRATION_ACCOUNTS), out)
    return out


def test_targets_name_known_measures_and_their_sources() -> None:
    targets = load_targets()
    assert {t.measure for t in targets.target} == set(MEASURES)
    for target in targets.target:
        assert 0 <= target.low < target.high <= 1, target
        assert len(target.source) > 20, target


def test_the_default_scenario_lands_inside_every_calibration_range(baseline: Path) -> None:
    checks = check(load_run(baseline))
    outside = [(c.measure, round(c.value, 4), c.low, c.high) for c in checks if not c.inside]
    assert not outside, outside


def test_a_stress_scenario_on_the_same_seed_is_worse(baseline: Path, tmp_path: Path) -> None:
    stress = load_scenario("stress").with_overrides(accounts=CALIBRATION_ACCOUNTS)
    simulate(stress, tmp_path)
    months = load_targets().months_pooled
    calm = measures(load_run(baseline), months)
    shocked = measures(load_run(tmp_path), months)
    assert shocked["past_due_30_plus"] > calm["past_due_30_plus"]
    assert shocked["past_due_1_plus"] > calm["past_due_1_plus"]
