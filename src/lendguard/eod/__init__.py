"""Close of business for the whole book: the servicing core's nightly rules over every account.

Engines (embedded, Spark) only partition accounts and schedule partitions; every rule is the
ledger's own (:func:`lendguard.ledger.close.close_through`), applied by :mod:`.kernel`.
"""
