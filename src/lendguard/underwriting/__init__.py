"""Underwriting (贷前审查): decide loan applications with affordability at the centre.

An application is validated once at the edge (:mod:`.application`), flattened into a table of
applications, checked for the consent each data source needs (:mod:`.consent`: no consent, no
query), enriched from the data sources, then run through affordability, policy rules, the score,
the limit and the price. Every rule works on the whole table at once, so one decision and a batch of
many share the same code; ``docs/underwriting.md`` holds the design and the column contract.
"""
