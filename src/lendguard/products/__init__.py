"""Products as versioned TOML files: every number a parameter with its source, validated on load."""

from lendguard.products.loader import load_product, load_product_text
from lendguard.products.model import Product

__all__ = ["Product", "load_product", "load_product_text"]
