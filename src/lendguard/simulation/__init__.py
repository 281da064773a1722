"""Simulated borrowers driving the real platform.

The book simulator (:mod:`.runner`, behind ``lendguard demo`` and ``lendguard simulate``) runs a
scenario (:mod:`.scenario`) day by day through underwriting, the ledger and close of business, and
reports on the book (:mod:`.portfolio`, :mod:`.report`). :mod:`.sample_book` is a quicker,
account-by-account sample book for ledger, close-of-business and feature tests and benchmarks.
"""
