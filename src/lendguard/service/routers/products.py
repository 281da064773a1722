"""Products: the versioned TOML files accounts are opened under.

A product is registered as its TOML text (the exact text is stored and hashed, so an account keeps
replaying with the words it was opened under); the same text again changes nothing, different
text under a stored version is refused with 409: bump the version instead.
"""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status
from pydantic import BaseModel

from lendguard.errors import UnknownProductError
from lendguard.products.loader import ProductFile, load_product_text
from lendguard.service.deps import PageDep, Services, audit_event, get_services, require
from lendguard.service.errors import ProblemError
from lendguard.service.security import Principal
from lendguard.store import ProductRecord

router = APIRouter(prefix="/products", tags=["products"])

product_text_bytes_max = 64 * 1024
"""Largest product file accepted: the shipped ones are about 4 KB."""

PRODUCT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"

PRODUCT_TEXT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": product_text_bytes_max}
"""The body is the file's text, sent as ``application/toml`` or ``text/plain``."""

ServicesDep = Annotated[Services, Depends(get_services)]
ProductIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=PRODUCT_ID_PATTERN)]


class ProductPublic(BaseModel):
    """A stored product version, without its text."""

    product_id: str
    version: str
    kind: str
    sha256: str


class ProductDetail(ProductPublic):
    """A stored product version with the exact TOML text it was registered with."""

    source_text: str


def _public(record: ProductRecord) -> ProductPublic:
    return ProductPublic(
        product_id=record.product_id,
        version=record.version,
        kind=record.kind,
        sha256=record.sha256,
    )


def _record(product_file: ProductFile) -> ProductRecord:
    return ProductRecord(
        product_file.product_id,
        product_file.version,
        product_file.product.kind.value,
        product_file.sha256,
        product_file.source_text,
    )


@router.get("", response_model=list[ProductPublic], summary="List stored product versions")
def list_products(
    services: ServicesDep,
    _principal: Annotated[Principal, Depends(require("products:read"))],
    page: PageDep,
) -> list[ProductPublic]:
    """Every stored product version, oldest first, one page at a time."""
    records = services.store.list_products()
    return [_public(record) for record in records[page.offset : page.offset + page.limit]]


@router.post(
    "",
    response_model=ProductPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Register a product version from its TOML text",
    responses={200: {"model": ProductPublic, "description": "The same text was already stored"}},
    openapi_extra={"requestBody": {"content": {"text/plain": {"schema": PRODUCT_TEXT_SCHEMA}}}},
)
def register_product(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("products:write"))],
    response: Response,
    text: Annotated[
        str,
        Body(
            media_type="application/toml",
            min_length=1,
            max_length=product_text_bytes_max,
            description="The product file (TOML), as `products/*.toml` in the repository.",
        ),
    ],
) -> ProductPublic:
    """Validate the text and store it under its id and version (admins only)."""
    product_file = load_product_text(text, origin="request body")
    record = _record(product_file)
    already = _stored_sha256(services, record.product_id, record.version)
    if already == record.sha256:
        response.status_code = status.HTTP_200_OK
    elif already is not None:
        raise ProblemError(
            409,
            "product_version_conflict",
            f"product {record.product_id} version {record.version} is stored with other text; "
            "bump the version",
        )
    else:
        services.store.save_product(record)
        target = f"product/{record.product_id}@{record.version}"
        audit_event(services, principal, "products.register", target, {"sha256": record.sha256})
    return _public(record)


def _stored_sha256(services: Services, product_id: str, version: str) -> str | None:
    """The digest stored under this id and version, or ``None`` when the version is new."""
    try:
        return services.store.get_product(product_id, version).sha256
    except UnknownProductError:
        return None


@router.get("/{product_id}", response_model=ProductDetail, summary="One product version")
def get_product(
    services: ServicesDep,
    _principal: Annotated[Principal, Depends(require("products:read"))],
    product_id: ProductIdPath,
    version: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> ProductDetail:
    """The latest stored version of a product (or ``?version=``), with its TOML text."""
    record = services.store.get_product(product_id, version)
    return ProductDetail(**_public(record).model_dump(), source_text=record.source_text)
