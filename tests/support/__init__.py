"""Test support shared by the unit and integration suites."""

from pathlib import Path

from textloop_ops.data import DATA_DIR as DATA

__all__ = ["DATA", "FUNCTIONS", "REPO", "STATEMACHINES"]

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
STATEMACHINES = REPO / "statemachines"
