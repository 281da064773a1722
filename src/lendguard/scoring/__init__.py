"""Credit scoring: binning, scorecards, gradient boosting, metrics, monitoring and feature builders.

The same toolkit makes the application score (A-card, underwriting), the behaviour score (B-card,
early warning) and the collection score (C-card, probability of cure). Estimators follow the
scikit-learn contract (``__init__`` stores parameters, ``fit`` validates and returns ``self``,
learned attributes end in ``_``), and saved models are JSON plus LightGBM's text format, never
pickle, so loading a model a user received runs no code from it.

One sign convention everywhere: ``WoE = ln(share of bads in the bin / share of goods in the bin)``,
so a positive WoE means riskier than average and a scorecard's coefficients come out positive.
"""
