"""Time for the ledger: day-count conventions, month arithmetic that keeps month ends, and the
business calendar. Nothing here reads the wall clock: every date is an argument."""
