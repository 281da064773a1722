"""The sample products shipped in ``lendguard/data/products``, registered in a book by kind.

Both simulators (the scripted sample book and the book simulator) lend on these two products: a
Huabei-shaped credit line and a Jiebei-shaped cash loan.
"""

from __future__ import annotations

from importlib import resources

from lendguard.ledger.book import Book
from lendguard.products.loader import ProductFile
from lendguard.products.model import ProductKind

SAMPLE_PRODUCT_FILES = {
    ProductKind.CREDIT_LINE: "huabei-standard.toml",
    ProductKind.CASH_LOAN: "jiebei-standard.toml",
}


def register_sample_products(book: Book) -> dict[str, ProductFile]:
    """Register the sample products in ``book``; their files by kind (``credit-line``,
    ``cash-loan``), the credit line first."""
    folder = resources.files("lendguard") / "data" / "products"
    products = {}
    for kind, name in SAMPLE_PRODUCT_FILES.items():
        with resources.as_file(folder / name) as path:
            products[kind.value] = book.register_product(str(path))
    return products
