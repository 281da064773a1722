"""Five-category loan classification (五级分类) and IFRS 9 / CAS 22 staging from days past due.

Both are regulatory mappings whose day counts differ by rule book, so the thresholds are data
with a named source: the credit-card rules (the stricter default for Huabei-like lines,
DOMAIN 4b) or the 2023 risk-classification rules (DOMAIN 4a, 9). Day counts only give the
minimum category; judgement and restructuring can push a loan lower, which ``floor`` expresses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

from lendguard.delinquency.buckets import check_days_past_due
from lendguard.errors import ProductConfigError


class FiveCategory(StrEnum):
    """The five categories, declared from best to worst; compare with :attr:`severity`."""

    NORMAL = "normal"
    SPECIAL_MENTION = "special-mention"
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"

    @property
    def severity(self) -> int:
        """0 for normal up to 4 for loss; string order would put doubtful before normal."""
        return list(FiveCategory).index(self)

    @property
    def label_zh(self) -> str:
        """The name regulators and reports use."""
        return _LABELS_ZH[self]


_LABELS_ZH = {
    FiveCategory.NORMAL: "正常",
    FiveCategory.SPECIAL_MENTION: "关注",
    FiveCategory.SUBSTANDARD: "次级",
    FiveCategory.DOUBTFUL: "可疑",
    FiveCategory.LOSS: "损失",
}


def non_performing(category: FiveCategory) -> bool:
    """Substandard, doubtful and loss are non-performing (不良; DOMAIN 4a)."""
    return category.severity >= FiveCategory.SUBSTANDARD.severity


@dataclass(frozen=True)
class ClassificationThresholds:
    """The first day past due of each category below normal; 0 days past due is normal.

    The defaults are the credit-card bands (关注 1-90, 次级 91-120, 可疑 121-180, 损失 >180).
    A ≤7-day technical-delay exclusion (DOMAIN 4.1, unverified) would be
    ``special_mention_days_min=8``.
    """

    special_mention_days_min: int = 1
    substandard_days_min: int = 91
    doubtful_days_min: int = 121
    loss_days_min: int = 181
    source: str = "商业银行信用卡业务监督管理办法 Art. 92 (DOMAIN 4b, 9)"

    def __post_init__(self) -> None:
        days = (
            self.special_mention_days_min,
            self.substandard_days_min,
            self.doubtful_days_min,
            self.loss_days_min,
        )
        if days[0] < 1 or any(low >= high for low, high in itertools.pairwise(days)):
            raise ProductConfigError(
                f"classification thresholds ({self.source}) must start at 1 day or later and "
                f"strictly increase, got special-mention {days[0]}, substandard {days[1]}, "
                f"doubtful {days[2]}, loss {days[3]}"
            )

    @classmethod
    def risk_classification_2023(cls) -> ClassificationThresholds:
        """Overdue at all, >90, >270, >360 days (金融资产风险分类办法 2023; DOMAIN 4a, 9)."""
        return cls(
            special_mention_days_min=1,
            substandard_days_min=91,
            doubtful_days_min=271,
            loss_days_min=361,
            source="商业银行金融资产风险分类办法 (2023) (DOMAIN 4a, 9)",
        )


def classify_five(
    days_past_due: int,
    thresholds: ClassificationThresholds,
    *,
    floor: FiveCategory | None = None,
) -> FiveCategory:
    """The category ``days_past_due`` requires, or ``floor`` when that is worse."""
    check_days_past_due(days_past_due)
    by_days = _category_by_days(days_past_due, thresholds)
    if floor is None or by_days.severity >= floor.severity:
        return by_days
    return floor


def _category_by_days(days_past_due: int, thresholds: ClassificationThresholds) -> FiveCategory:
    if days_past_due >= thresholds.loss_days_min:
        return FiveCategory.LOSS
    if days_past_due >= thresholds.doubtful_days_min:
        return FiveCategory.DOUBTFUL
    if days_past_due >= thresholds.substandard_days_min:
        return FiveCategory.SUBSTANDARD
    if days_past_due >= thresholds.special_mention_days_min:
        return FiveCategory.SPECIAL_MENTION
    return FiveCategory.NORMAL


@dataclass(frozen=True)
class Ifrs9Thresholds:
    """Days-past-due backstops for stage 2 (more than 30) and stage 3 (more than 90).

    Both are rebuttable presumptions in IFRS 9, so a lender with evidence may configure others.
    """

    stage2_days_min: int = 31
    stage3_days_min: int = 91
    source: str = "IFRS 9 5.5.11 / B5.5.37 backstops (DOMAIN 4.13-4.14)"

    def __post_init__(self) -> None:
        if not 1 <= self.stage2_days_min < self.stage3_days_min:
            raise ProductConfigError(
                f"IFRS 9 thresholds ({self.source}) need 1 <= stage 2 < stage 3 days, got "
                f"stage 2 {self.stage2_days_min}, stage 3 {self.stage3_days_min}"
            )


def ifrs9_stage(
    days_past_due: int, thresholds: Ifrs9Thresholds, *, written_off: bool = False
) -> int:
    """Stage 1, 2 or 3 by days past due; a written-off asset is credit-impaired, so stage 3."""
    check_days_past_due(days_past_due)
    if written_off or days_past_due >= thresholds.stage3_days_min:
        return 3
    if days_past_due >= thresholds.stage2_days_min:
        return 2
    return 1
