"""LendGuard's REST service: a thin FastAPI layer over the ledger, underwriting and scoring.

Routes translate HTTP into typed domain calls; the domain imports no web framework. Build an app
with :func:`lendguard.service.app.create_app`; the design is in ``docs/service.md``.
"""
