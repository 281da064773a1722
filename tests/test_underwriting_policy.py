"""Policy rules: the evaluator's operators and precedence, rule-set loading, the packaged rules."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.errors import LendGuardError
from lendguard.underwriting.policy import (
    CHALLENGER_RULESET_PATH,
    STANDARD_RULESET_PATH,
    PolicyColumnError,
    PolicyConfigError,
    RuleSet,
    UnknownReasonCodeError,
    evaluate,
    load_reason_catalogue,
    load_ruleset,
    reason_text,
)

HEADER = '[ruleset]\nid = "test"\nversion = "1"\nsource = "tests"\n'


def rule_toml(
    rule_id: str, when: str, outcome: str = "decline", reason: str = "BLOCKLIST_HIT"
) -> str:
    return (
        f'\n[[rule]]\nid = "{rule_id}"\noutcome = "{outcome}"\nreason = "{reason}"\n'
        f'source = "tests"\nwhen = [{when}]\n'
    )


def ruleset_from(tmp_path: Path, *rules: str, header: str = HEADER) -> RuleSet:
    path = tmp_path / "rules.toml"
    path.write_text(header + "".join(rules), encoding="utf-8")
    return load_ruleset(path)


def load_error(tmp_path: Path, *rules: str, header: str = HEADER) -> str:
    with pytest.raises(PolicyConfigError) as caught:
        ruleset_from(tmp_path, *rules, header=header)
    return caught.value.message


OPERAND_FRAME = pd.DataFrame(
    {
        "amount": np.array([1, 2, 3], dtype=np.int64),
        "other": np.array([2, 2, 2], dtype=np.int64),
        "ratio": np.array([0.5, np.nan, 1.5]),
        "status": np.array(["ok", "timeout", "no_record"], dtype=object),
        "flag": np.array([True, False, True]),
    }
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('{ column = "amount", op = "<", value = 2 }', [True, False, False]),
        ('{ column = "amount", op = "<=", value = 2 }', [True, True, False]),
        ('{ column = "amount", op = ">", value = 2 }', [False, False, True]),
        ('{ column = "amount", op = ">=", value = 2 }', [False, True, True]),
        ('{ column = "amount", op = "==", value = 2 }', [False, True, False]),
        ('{ column = "amount", op = "!=", value = 2 }', [True, False, True]),
        ('{ column = "amount", op = "in", value = [1, 3] }', [True, False, True]),
        ('{ column = "amount", op = "not_in", value = [1, 3] }', [False, True, False]),
        ('{ column = "ratio", op = ">", value = 1 }', [False, False, True]),
        ('{ column = "ratio", op = "<=", value = 0.5 }', [True, False, False]),
        ('{ column = "status", op = "==", value = "ok" }', [True, False, False]),
        ('{ column = "status", op = "!=", value = "ok" }', [False, True, True]),
        ('{ column = "status", op = "in", value = ["timeout", "no_record"] }', [False, True, True]),
        ('{ column = "status", op = "not_in", value = ["ok"] }', [False, True, True]),
        ('{ column = "flag", op = "is_true" }', [True, False, True]),
        ('{ column = "flag", op = "is_false" }', [False, True, False]),
        ('{ column = "flag", op = "==", value = false }', [False, True, False]),
        ('{ column = "amount", op = ">", value = { column = "other" } }', [False, False, True]),
        ('{ column = "amount", op = "==", value = { column = "other" } }', [False, True, False]),
    ],
)
def test_each_operator_matches_the_rows_it_should(
    tmp_path: Path, condition: str, expected: list[bool]
) -> None:
    ruleset = ruleset_from(tmp_path, rule_toml("only", condition))
    outcome, reasons = evaluate(OPERAND_FRAME, ruleset)
    assert list(outcome) == ["decline" if hit else "pass" for hit in expected]
    assert reasons == [["BLOCKLIST_HIT"] if hit else [] for hit in expected]


def test_conditions_of_a_rule_are_all_required(tmp_path: Path) -> None:
    when = '{ column = "flag", op = "is_true" }, { column = "amount", op = ">=", value = 2 }'
    outcome, _ = evaluate(OPERAND_FRAME, ruleset_from(tmp_path, rule_toml("both", when)))
    assert list(outcome) == ["pass", "pass", "decline"]


def test_decline_beats_refer_beats_pass_and_reasons_follow_rule_order(tmp_path: Path) -> None:
    ruleset = ruleset_from(
        tmp_path,
        rule_toml(
            "refer-first", '{ column = "amount", op = ">=", value = 2 }', "refer", "THIN_FILE"
        ),
        rule_toml("decline-later", '{ column = "amount", op = "==", value = 3 }'),
        rule_toml(
            "refer-last", '{ column = "amount", op = "==", value = 1 }', "refer", "BUREAU_ERROR"
        ),
    )
    outcome, reasons = evaluate(OPERAND_FRAME, ruleset)
    assert list(outcome) == ["refer", "refer", "decline"]
    assert reasons == [["BUREAU_ERROR"], ["THIN_FILE"], ["THIN_FILE", "BLOCKLIST_HIT"]]


def test_two_rules_with_one_reason_list_it_once(tmp_path: Path) -> None:
    ruleset = ruleset_from(
        tmp_path,
        rule_toml("first", '{ column = "amount", op = ">", value = 0 }'),
        rule_toml("second", '{ column = "flag", op = "is_true" }'),
    )
    _, reasons = evaluate(OPERAND_FRAME, ruleset)
    assert reasons == [["BLOCKLIST_HIT"], ["BLOCKLIST_HIT"], ["BLOCKLIST_HIT"]]


def test_reason_lists_are_independent_per_row(tmp_path: Path) -> None:
    ruleset = ruleset_from(
        tmp_path, rule_toml("never", '{ column = "amount", op = ">", value = 9 }')
    )
    _, reasons = evaluate(OPERAND_FRAME, ruleset)
    reasons[0].append("X")
    assert reasons[1] == []


def test_an_empty_frame_gives_empty_results(tmp_path: Path) -> None:
    ruleset = ruleset_from(tmp_path, rule_toml("any", '{ column = "amount", op = ">", value = 0 }'))
    outcome, reasons = evaluate(OPERAND_FRAME.iloc[:0], ruleset)
    assert len(outcome) == 0
    assert reasons == []


# --- load errors ---------------------------------------------------------------------------------


def test_unknown_reason_code_is_refused_naming_the_rule(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, rule_toml("odd", '{ column = "amount", op = ">", value = 0 }', reason="NO_SUCH")
    )
    assert "'odd'" in message
    assert "NO_SUCH" in message


def test_bad_operator_is_refused_naming_the_rule(tmp_path: Path) -> None:
    message = load_error(tmp_path, rule_toml("typo", '{ column = "amount", op = "lt", value = 0 }'))
    assert "rule 'typo'" in message
    assert "op" in message


def test_duplicate_rule_id_is_refused(tmp_path: Path) -> None:
    rule = rule_toml("twice", '{ column = "amount", op = ">", value = 0 }')
    message = load_error(tmp_path, rule, rule)
    assert "rule 'twice' is defined twice" in message


def test_unknown_keys_are_refused_in_rule_condition_and_header(tmp_path: Path) -> None:
    in_rule = rule_toml("extra", '{ column = "amount", op = ">", value = 0 }') + "colour = 1\n"
    assert "rule 'extra' colour" in load_error(tmp_path, in_rule)
    in_condition = rule_toml("cond", '{ column = "amount", op = ">", value = 0, weight = 2 }')
    assert "rule 'cond' when.0.weight" in load_error(tmp_path, in_condition)
    header = HEADER + 'owner = "me"\n'
    rule = rule_toml("fine", '{ column = "amount", op = ">", value = 0 }')
    assert "ruleset.owner" in load_error(tmp_path, rule, header=header)


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ('{ column = "amount", op = "in", value = 3 }', "non-empty list"),
        ('{ column = "amount", op = "in", value = [] }', "non-empty list"),
        ('{ column = "amount", op = "in", value = [1, "a"] }', "mixes"),
        ('{ column = "flag", op = "is_true", value = true }', "takes no value"),
        ('{ column = "status", op = "<", value = "ok" }', "needs a number"),
        ('{ column = "amount", op = "==" }', "needs one value"),
    ],
)
def test_values_that_do_not_suit_the_operator_are_refused(
    tmp_path: Path, condition: str, words: str
) -> None:
    message = load_error(tmp_path, rule_toml("shape", condition))
    assert "rule 'shape'" in message
    assert words in message


def test_rule_without_source_or_conditions_is_refused(tmp_path: Path) -> None:
    no_source = '\n[[rule]]\nid = "bare"\noutcome = "refer"\nreason = "THIN_FILE"\nwhen = []\n'
    message = load_error(tmp_path, no_source)
    assert "rule 'bare' source" in message
    assert "rule 'bare' when" in message


def test_unreadable_and_malformed_files_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="cannot read"):
        load_ruleset(tmp_path / "absent.toml")
    (tmp_path / "broken.toml").write_text("[ruleset\n", encoding="utf-8")
    with pytest.raises(PolicyConfigError, match="not valid TOML"):
        load_ruleset(tmp_path / "broken.toml")


# --- evaluation-time checks ---------------------------------------------------------------------


def test_unknown_column_at_evaluation_names_rule_and_column(tmp_path: Path) -> None:
    ruleset = ruleset_from(
        tmp_path,
        rule_toml("known", '{ column = "amount", op = ">", value = 0 }'),
        rule_toml("missing", '{ column = "amount", op = ">", value = { column = "ghost" } }'),
    )
    with pytest.raises(PolicyColumnError) as caught:
        evaluate(OPERAND_FRAME, ruleset)
    assert "rule 'missing'" in caught.value.message
    assert "'ghost'" in caught.value.message
    assert isinstance(caught.value, LendGuardError)


@pytest.mark.parametrize(
    "condition",
    [
        '{ column = "status", op = ">", value = 1 }',
        '{ column = "amount", op = "is_true" }',
        '{ column = "flag", op = "==", value = "yes" }',
        '{ column = "status", op = "in", value = [1, 2] }',
        '{ column = "amount", op = ">", value = { column = "status" } }',
    ],
)
def test_type_mismatch_at_evaluation_names_rule_and_column(tmp_path: Path, condition: str) -> None:
    ruleset = ruleset_from(tmp_path, rule_toml("mistyped", condition))
    with pytest.raises(PolicyColumnError, match="rule 'mistyped': column '"):
        evaluate(OPERAND_FRAME, ruleset)


# --- the reason catalogue -----------------------------------------------------------------------

ENGINE_CODES = [
    "SCORE_BELOW_CUTOFF",
    "SCORE_REVIEW_BAND",
    "LIMIT_BELOW_MINIMUM",
    "AMOUNT_REDUCED_TO_AFFORDABLE",
    "BUREAU_TIMEOUT",
    "BUREAU_ERROR",
    "SOURCE_FAILED_REFER",
    "SOURCE_FAILED_DECLINE",
    "NO_BUREAU_CONSENT",
    "NO_SENSITIVE_CONSENT",
    "THIN_FILE",
    "AMOUNT_ABOVE_PRODUCT_MAX",
    "TERM_NOT_OFFERED",
    "CONTESTED_BY_APPLICANT",
    "HUMAN_APPROVED",
    "HUMAN_DECLINED",
    "CHALLENGER_POLICY",
]


@pytest.mark.parametrize("code", ENGINE_CODES)
def test_codes_the_engine_uses_have_chinese_and_english_text(code: str) -> None:
    text = reason_text(code)
    assert text["code"] == code
    assert text["zh"]
    assert text["en"]
    assert text["zh"] != text["en"]


def test_unknown_reason_code_raises() -> None:
    with pytest.raises(UnknownReasonCodeError, match="NOT_A_CODE"):
        reason_text("NOT_A_CODE")


def test_catalogue_with_a_bad_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reasons.toml"
    path.write_text(
        '[catalogue]\nversion = "1"\nsource = "t"\n[reasons.lower_case]\nzh = "a"\nen = "b"\n',
        encoding="utf-8",
    )
    with pytest.raises(PolicyConfigError, match="lower_case"):
        load_reason_catalogue(path)


# --- the packaged rule sets ---------------------------------------------------------------------


def clean_applications(rows: int = 1) -> pd.DataFrame:
    """Applications that pass every packaged rule: all sources answered, nothing adverse."""
    ok = np.full(rows, "ok", dtype=object)
    zero = np.zeros(rows, dtype=np.int64)

    def ints(value: int) -> np.ndarray:
        return np.full(rows, value, dtype=np.int64)

    def flags(value: bool) -> np.ndarray:
        return np.full(rows, value)

    return pd.DataFrame(
        {
            "application_id": [f"app-{row}" for row in range(rows)],
            "requested_amount_minor": ints(1_000_000),
            "requested_term_months": ints(12),
            "age_years": ints(35),
            "id_number_valid": flags(True),
            "region": np.full(rows, "beijing", dtype=object),
            "monthly_income_minor": ints(1_200_000),
            "income_verified": flags(True),
            "employment": np.full(rows, "employed", dtype=object),
            "employment_months": ints(48),
            "monthly_obligations_minor": zero,
            "dependants": zero,
            "consent_bureau": flags(True),
            "consent_multi_lending": flags(True),
            "consent_platform": flags(True),
            "consent_blocklist": flags(True),
            "consent_sensitive": flags(True),
            "bureau_status": ok,
            "bureau_identity_matches": flags(True),
            "bureau_accounts": ints(3),
            "bureau_history_months": ints(60),
            "bureau_overdue_months_24m": zero,
            "bureau_worst_status_24m": zero,
            "bureau_worst_status_12m": zero,
            "bureau_current_overdue_minor": zero,
            "bureau_monthly_repayment_minor": zero,
            "bureau_utilisation": np.full(rows, 0.3),
            "bureau_inquiries_1m": zero,
            "bureau_inquiries_3m": zero,
            "bureau_inquiries_6m": zero,
            "multi_lending_status": ok,
            "multi_lenders_7d": zero,
            "multi_lenders_30d": zero,
            "multi_lenders_90d": zero,
            "multi_applications_7d": zero,
            "multi_applications_30d": zero,
            "multi_applications_90d": zero,
            "platform_status": ok,
            "platform_accounts": ints(1),
            "platform_max_past_due_days": zero,
            "platform_written_off": flags(False),
            "blocklist_status": ok,
            "blocklist_hit": flags(False),
            "product_amount_max_minor": ints(5_000_000),
            "term_offered": flags(True),
            "sources_failure_action": np.full(rows, "", dtype=object),
        }
    )


@pytest.fixture(scope="module")
def champion() -> RuleSet:
    return load_ruleset(STANDARD_RULESET_PATH)


@pytest.fixture(scope="module")
def challenger() -> RuleSet:
    return load_ruleset(CHALLENGER_RULESET_PATH)


TRIGGERS = [
    ({"consent_bureau": False}, "decline", "NO_BUREAU_CONSENT"),
    ({"sources_failure_action": "decline"}, "decline", "SOURCE_FAILED_DECLINE"),
    ({"age_years": 17}, "decline", "AGE_UNDER_MIN"),
    ({"id_number_valid": False}, "decline", "ID_NUMBER_INVALID"),
    ({"bureau_identity_matches": False}, "decline", "BUREAU_IDENTITY_MISMATCH"),
    ({"blocklist_hit": True}, "decline", "BLOCKLIST_HIT"),
    (
        {"employment": "unemployed", "monthly_income_minor": 0},
        "decline",
        "UNEMPLOYED_NO_INCOME",
    ),
    ({"requested_amount_minor": 5_000_100}, "decline", "AMOUNT_ABOVE_PRODUCT_MAX"),
    ({"term_offered": False}, "decline", "TERM_NOT_OFFERED"),
    ({"bureau_worst_status_12m": 3}, "decline", "BUREAU_SEVERE_OVERDUE_12M"),
    ({"bureau_current_overdue_minor": 1}, "decline", "BUREAU_CURRENT_OVERDUE"),
    ({"multi_lenders_30d": 5}, "decline", "MULTI_LENDERS_30D_HIGH"),
    ({"platform_written_off": True}, "decline", "PLATFORM_WRITTEN_OFF"),
    ({"platform_max_past_due_days": 91}, "decline", "PLATFORM_SEVERE_PAST_DUE"),
    ({"consent_sensitive": False}, "refer", "NO_SENSITIVE_CONSENT"),
    ({"sources_failure_action": "refer"}, "refer", "SOURCE_FAILED_REFER"),
    ({"bureau_status": "no_record"}, "refer", "THIN_FILE"),
    ({"age_years": 61}, "refer", "AGE_ABOVE_REVIEW_AGE"),
    ({"bureau_overdue_months_24m": 6}, "refer", "BUREAU_FREQUENT_OVERDUE_24M"),
    ({"multi_applications_7d": 4}, "refer", "MULTI_APPLICATIONS_7D_HIGH"),
    ({"bureau_inquiries_1m": 6}, "refer", "BUREAU_INQUIRIES_1M_HIGH"),
]

NEAR_MISSES = [
    {"age_years": 18},
    {"age_years": 60},
    {"requested_amount_minor": 5_000_000},
    {"bureau_worst_status_12m": 2},
    {"bureau_worst_status_24m": 5},
    {"bureau_overdue_months_24m": 5},
    {"multi_lenders_30d": 4},
    {"multi_applications_7d": 3},
    {"bureau_inquiries_1m": 5},
    {"platform_max_past_due_days": 90},
    {"employment": "unemployed", "monthly_income_minor": 1},
    {"employment": "student", "monthly_income_minor": 0},
]


def with_changes(changes: dict[str, object]) -> pd.DataFrame:
    frame = clean_applications()
    for column, value in changes.items():
        frame[column] = pd.Series([value], dtype=frame[column].dtype)
    return frame


def test_a_clean_application_passes_both_packaged_rule_sets(
    champion: RuleSet, challenger: RuleSet
) -> None:
    for ruleset in (champion, challenger):
        outcome, reasons = evaluate(clean_applications(3), ruleset)
        assert list(outcome) == ["pass"] * 3
        assert reasons == [[], [], []]


@pytest.mark.parametrize(("changes", "expected", "code"), TRIGGERS)
def test_each_champion_rule_fires_on_its_trigger(
    champion: RuleSet, changes: dict[str, object], expected: str, code: str
) -> None:
    outcome, reasons = evaluate(with_changes(changes), champion)
    assert outcome[0] == expected
    assert reasons[0] == [code]


@pytest.mark.parametrize("changes", NEAR_MISSES)
def test_champion_thresholds_are_exact(champion: RuleSet, changes: dict[str, object]) -> None:
    outcome, _ = evaluate(with_changes(changes), champion)
    assert outcome[0] == "pass"


@pytest.mark.parametrize(
    "changes",
    [
        {"bureau_status": "timeout", "bureau_identity_matches": False},
        {"bureau_status": "no_consent", "bureau_current_overdue_minor": 500},
        {"blocklist_status": "error", "blocklist_hit": True},
        {"platform_status": "no_record", "platform_written_off": True},
        {"multi_lending_status": "timeout", "multi_lenders_30d": 9},
    ],
)
def test_data_of_a_source_that_did_not_answer_is_not_read(
    champion: RuleSet, changes: dict[str, object]
) -> None:
    outcome, reasons = evaluate(with_changes(changes), champion)
    assert outcome[0] == "pass"
    assert reasons[0] == []


def test_every_code_of_the_packaged_rule_sets_is_in_the_catalogue(
    champion: RuleSet, challenger: RuleSet
) -> None:
    catalogue = load_reason_catalogue()
    for ruleset in (champion, challenger):
        assert {rule.reason for rule in ruleset.rules} <= set(catalogue)
        assert all(rule.source for rule in ruleset.rules)


def test_challenger_is_stricter_on_multi_lending_and_looser_on_age(
    champion: RuleSet, challenger: RuleSet
) -> None:
    cases = [
        ({"multi_lenders_30d": 4}, "pass", "decline"),
        ({"multi_applications_7d": 3}, "pass", "refer"),
        ({"age_years": 63}, "refer", "pass"),
        ({"age_years": 66}, "refer", "refer"),
    ]
    for changes, champion_outcome, challenger_outcome in cases:
        assert evaluate(with_changes(changes), champion)[0][0] == champion_outcome
        assert evaluate(with_changes(changes), challenger)[0][0] == challenger_outcome
    assert (champion.id, challenger.id) == ("policy-standard", "policy-challenger")


def test_digest_is_the_sha256_of_the_file(champion: RuleSet, challenger: RuleSet) -> None:
    assert champion.digest == hashlib.sha256(STANDARD_RULESET_PATH.read_bytes()).hexdigest()
    assert champion.digest != challenger.digest
    assert champion.version == "2026.1"


# --- properties and speed -----------------------------------------------------------------------

THRESHOLD_RULES = [
    ("low-a", "a", "<", "refer"),
    ("high-b", "b", ">=", "decline"),
    ("equal-a", "a", "==", "refer"),
    ("not-b", "b", "!=", "decline"),
]
PYTHON_OPS = {
    "<": lambda x, y: x < y,
    ">=": lambda x, y: x >= y,
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
}


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(st.integers(-5, 5), min_size=1, max_size=30),
    thresholds=st.lists(st.integers(-5, 5), min_size=4, max_size=4),
    offset=st.integers(0, 3),
)
def test_outcomes_and_reasons_match_a_row_by_row_reference(
    tmp_path_factory: pytest.TempPathFactory, a: list[int], thresholds: list[int], offset: int
) -> None:
    tmp_path = tmp_path_factory.mktemp("prop")
    b = [(value * 7 + offset) % 11 - 5 for value in a]
    codes = ["THIN_FILE", "BLOCKLIST_HIT", "BUREAU_ERROR", "TERM_NOT_OFFERED"]
    rules = [
        rule_toml(
            rule_id, f'{{ column = "{column}", op = "{op}", value = {limit} }}', outcome, code
        )
        for (rule_id, column, op, outcome), limit, code in zip(
            THRESHOLD_RULES, thresholds, codes, strict=True
        )
    ]
    ruleset = ruleset_from(tmp_path, *rules)
    frame = pd.DataFrame({"a": np.array(a, dtype=np.int64), "b": np.array(b, dtype=np.int64)})
    outcome, reasons = evaluate(frame, ruleset)
    for row, (value_a, value_b) in enumerate(zip(a, b, strict=True)):
        values = {"a": value_a, "b": value_b}
        fired = [
            (rule_outcome, code)
            for (_, column, op, rule_outcome), limit, code in zip(
                THRESHOLD_RULES, thresholds, codes, strict=True
            )
            if PYTHON_OPS[op](values[column], limit)
        ]
        expected = "pass"
        if any(kind == "refer" for kind, _ in fired):
            expected = "refer"
        if any(kind == "decline" for kind, _ in fired):
            expected = "decline"
        assert outcome[row] == expected
        assert reasons[row] == [code for _, code in fired]


def test_champion_evaluates_100k_rows_well_within_a_second(champion: RuleSet) -> None:
    frame = clean_applications(100_000)
    rng = np.random.default_rng(5)
    frame["multi_lenders_30d"] = rng.integers(0, 7, len(frame))
    frame["age_years"] = rng.integers(16, 70, len(frame))
    started = time.perf_counter()
    outcome, reasons = evaluate(frame, champion)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.3f} s for 100k rows"
    assert (outcome == "decline").sum() == (
        (frame.age_years < 18) | (frame.multi_lenders_30d >= 5)
    ).sum()
    assert len(reasons) == len(frame)
