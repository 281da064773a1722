"""Every bound the platform enforces at its edges, in one place (TigerBeetle habit).

Each limit is a named ``*_max`` constant so a reader can find what stops a runaway input.
"""

amount_minor_max = 10**15
"""Largest single amount in minor units (10 trillion yuan): far above any consumer loan."""

term_periods_max = 360
"""Longest schedule, in periods: consumer plans stop at 60 (DOMAIN 5.1); 360 admits mortgages."""

events_per_account_max = 1_000_000
"""An account with more events than this is a bug or an attack."""

events_per_request_max = 10_000
"""Events one library call or CLI invocation may post at once."""

page_size_max = 1_000
"""Rows one listing may return."""

annual_rate_percent_max = 1_000
"""A rate above 1000% a year is a typo, not a product; caps (DOMAIN 6a) are far lower."""

appends_per_transaction_max = 10_000
"""Account outcomes one group commit may write: bounds a transaction's size and lock time."""

close_days_per_write_max = 366
"""Business days one close-of-business write covers: a delinquent account posts a few events a
day, so a year stays far below ``events_per_request_max``."""

accounts_per_partition_max = 10_000
"""Accounts one close-of-business partition loads, closes and commits together: bounds a worker's
memory (a few hundred KB of state per delinquent account) and fits one group commit
(``appends_per_transaction_max``)."""

business_dates_per_run_max = close_days_per_write_max
"""Business dates one close-of-business run may catch up: each account's days of a run are one
append, so the run inherits the bound on one close-of-business write."""

application_bytes_max = 64 * 1024
"""Largest application document accepted: a real one is about 1 KB."""

applications_per_batch_max = 1_000_000
"""Applications one batch run may decide; a bigger file is split by the caller."""
