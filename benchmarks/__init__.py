"""Benchmarks: run with ``make bench``; figures are printed side by side with their floors."""
