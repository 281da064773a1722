"""The servicing ledger: an append-only event log per account, state as a pure fold over it, and a
balanced double-entry journal derived from every event.

Reading order: ``events`` (what can happen) -> ``state`` (what an account holds, and ``apply``)
-> ``journal`` (the postings of each event) -> ``waterfall`` (allocation) -> ``commands``
(deciding external events) -> ``close`` (deciding the events of a business day) -> ``book``
(the service: idempotency, persistence).
"""
