"""Repayment plans: the one interest rule, amortisation schedules, flat-fee instalment plans and
their APR (IRR) for disclosure and cap checks.

Every amount is integer minor units; every rate is a ``Decimal`` fraction. Interest is computed
only by :mod:`lendguard.plans.interest`, so the ledger, the nightly batch and the schedules agree.
"""
