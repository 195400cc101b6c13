"""Performance benchmarks of textloop: each module runs alone (``python -m bench.perf.<name>``)
and ``python -m bench.perf.run --out reports`` runs them all and writes reports/performance.md.

Speed is measured here and reported with figures; it is never asserted by the test suites.
"""
