"""Benchmarks of textloop that run outside the deployed stack (see ``label_efficiency``)."""
