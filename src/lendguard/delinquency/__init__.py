"""Delinquency: days past due clocks, buckets, classification, staging."""
