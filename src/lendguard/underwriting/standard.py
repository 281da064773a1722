"""The packaged underwriting setup: configuration, rule sets, products, model and sources.

``standard_underwriter()`` is what ``lendguard underwrite`` and the demo use: the files under
``lendguard/underwriting/data``, the sample products, the application scorecard shipped under
``lendguard/data/models``, and the deterministic synthetic sources (a real deployment passes its
own bureau and data adapters instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from lendguard.products.loader import APR_PROBE_START, ProductFile, load_product
from lendguard.scoring.registry import ModelRegistry, SavedModel
from lendguard.underwriting.affordability import load_affordability_config
from lendguard.underwriting.config import UnderwritingConfig, load_config
from lendguard.underwriting.engine import Parts, Underwriter
from lendguard.underwriting.policy import DATA_DIR, load_ruleset
from lendguard.underwriting.pricing import check_price_caps
from lendguard.underwriting.sources import Source
from lendguard.underwriting.sources_config import load_failure_policy
from lendguard.underwriting.sources_synthetic import SyntheticSources

PACKAGE_DATA = resources.files("lendguard") / "data"
SYNTHETIC_SEED = 0


def packaged_products(config: UnderwritingConfig) -> dict[str, ProductFile]:
    """The configured products from the sample product files shipped with the package."""
    folder = Path(str(PACKAGE_DATA / "products"))
    return {
        product_id: load_product(folder / f"{product_id}.toml")
        for product_id in config.underwriting.products
    }


def packaged_model(config: UnderwritingConfig) -> SavedModel:
    """The latest version of the configured application model shipped with the package."""
    return ModelRegistry(Path(str(PACKAGE_DATA / "models"))).load(config.underwriting.model)


def standard_parts(
    sources: Mapping[str, Source] | None = None,
    model: SavedModel | None = None,
    config_path: Path | None = None,
) -> Parts:
    """Every part of the standard setup; ``sources`` default to the synthetic ones."""
    config = load_config(config_path)
    products = packaged_products(config)
    for product in products.values():
        check_price_caps(
            product,
            [grade.daily_rate_percent for grade in config.grade],
            config.pricing.method,
            config.amount_minor(config.pricing.reference_principal),
            APR_PROBE_START,
        )
    return Parts(
        config=config,
        products=products,
        model=model,
        champion=load_ruleset(DATA_DIR / config.underwriting.champion_policy),
        challenger=load_ruleset(DATA_DIR / config.underwriting.challenger_policy),
        affordability=load_affordability_config(),
        sources=sources if sources is not None else SyntheticSources(SYNTHETIC_SEED).sources(),
        failure_policy=load_failure_policy(),
    )


def standard_underwriter(sources: Mapping[str, Source] | None = None) -> Underwriter:
    """The standard underwriter with the packaged application scorecard."""
    parts = standard_parts(sources)
    return Underwriter(Parts(**{**parts.__dict__, "model": packaged_model(parts.config)}))
