"""Reproductions of the papers' long-lag experiments as named recipes, run as sweeps and reported against the
papers' numbers (recipes, report, submit)."""
