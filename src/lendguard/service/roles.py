"""Who may do what: the role x permission matrix as data, and the one function that reads it.

Policy is data: each permission lists the roles that hold it, so the matrix the docs show
(:func:`matrix_markdown`) is the matrix the service enforces. Routes ask for a permission, never a
role, so moving a duty between roles is an edit here and nowhere else.

Least privilege decides the assignments. Unmasked personal data goes only to the roles whose job
cannot be done without it: an ``operator`` verifying a caller's identity and a ``collector`` who
has to phone the borrower by name (``admin`` holds every permission). The ``auditor`` checks the
trail and the books, which masked values serve; an auditor who must see an ID number asks an
admin, and that read is itself audited. The ``service`` role (a lender's app or checkout flow)
sent the personal data in, so it never needs it back.
"""

from __future__ import annotations

from collections.abc import Mapping

ROLES: tuple[str, ...] = (
    "admin",
    "risk_analyst",
    "operator",
    "collector",
    "auditor",
    "service",
)
"""Every role an API key can hold."""

ROLE_PURPOSES: Mapping[str, str] = {
    "admin": "runs the platform: every permission, including issuing keys",
    "risk_analyst": "owns credit policy: reads the book, reviews referrals, scores models",
    "operator": "back office: opens and services accounts, moves money, runs close of business",
    "collector": "works delinquent accounts: reads them and contacts the borrower",
    "auditor": "checks the books and the audit trail: reads everything, changes nothing",
    "service": "a lender's app or checkout flow: opens accounts, moves money, asks for decisions",
}

_EVERYONE = frozenset(ROLES)

PERMISSIONS: Mapping[str, frozenset[str]] = {
    "products:read": _EVERYONE,
    "products:write": frozenset({"admin"}),
    "accounts:read": _EVERYONE,
    "accounts:write": frozenset({"admin", "operator", "service"}),
    "money:write": frozenset({"admin", "operator", "service"}),
    "delinquency:read": frozenset({"admin", "risk_analyst", "operator", "collector", "auditor"}),
    "applications:decide": frozenset({"admin", "service"}),
    "applications:read": frozenset({"admin", "risk_analyst", "operator", "auditor", "service"}),
    "applications:review": frozenset({"admin", "risk_analyst"}),
    "personal_data:read_unmasked": frozenset({"admin", "operator", "collector"}),
    "eod:run": frozenset({"admin", "operator"}),
    "eod:read": frozenset({"admin", "risk_analyst", "operator", "auditor"}),
    "models:score": frozenset({"admin", "risk_analyst", "service"}),
    "audit:read": frozenset({"admin", "auditor"}),
    "keys:manage": frozenset({"admin"}),
}
"""Each permission and the roles that hold it."""

PERMISSION_PURPOSES: Mapping[str, str] = {
    "products:read": "list and read product definitions",
    "products:write": "store a new product version",
    "accounts:read": "read an account's state, schedule, statements, journal and history",
    "accounts:write": "open an account",
    "money:write": "purchases and draws, repayments, refunds, reversals",
    "delinquency:read": "read delinquency status and buckets",
    "applications:decide": "submit an application for an automated decision",
    "applications:read": "read a decision and its reasons",
    "applications:review": "list the review queue and record a reviewer's decision",
    "personal_data:read_unmasked": "see names, ID numbers and phones unmasked (each read audited)",
    "eod:run": "trigger close of business",
    "eod:read": "read close-of-business runs",
    "models:score": "score rows with a registered model",
    "audit:read": "read the audit log",
    "keys:manage": "issue, list and revoke API keys",
}


def _check_matrix() -> None:
    """The matrix names only known roles, gives admin everything, and documents each entry.

    Run at import: a typo in the policy must stop the service from starting, not deny at random.
    """
    for permission, roles in PERMISSIONS.items():
        unknown = roles - _EVERYONE
        if unknown:
            raise AssertionError(f"{permission} names unknown roles {sorted(unknown)}")
        if "admin" not in roles:
            raise AssertionError(f"admin must hold {permission}")
    if set(PERMISSION_PURPOSES) != set(PERMISSIONS) or set(ROLE_PURPOSES) != _EVERYONE:
        raise AssertionError("every role and permission needs a documented purpose")


_check_matrix()


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` holds ``permission``.

    An unknown permission is a programmer error (a route asking for a typo) and raises; an unknown
    role is data (a key stored under a role since removed) and is simply denied.
    """
    if permission not in PERMISSIONS:
        raise AssertionError(f"unknown permission {permission!r}")
    return role in PERMISSIONS[permission]


def permissions_of(role: str) -> list[str]:
    """The permissions ``role`` holds, in matrix order (empty for an unknown role)."""
    return [permission for permission, roles in PERMISSIONS.items() if role in roles]


def matrix_markdown() -> str:
    """The role x permission matrix as a Markdown table, for the service docs.

    Generated rather than hand-written so the documentation cannot drift from what is enforced.
    """
    header = "| permission | " + " | ".join(ROLES) + " | what it allows |"
    rule = "|---|" + "---|" * len(ROLES) + "---|"
    rows = [
        f"| `{permission}` | "
        + " | ".join("yes" if role in roles else "" for role in ROLES)
        + f" | {PERMISSION_PURPOSES[permission]} |"
        for permission, roles in PERMISSIONS.items()
    ]
    return "\n".join([header, rule, *rows]) + "\n"
