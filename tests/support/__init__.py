"""Test support shared by the unit and integration suites."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
STATEMACHINES = REPO / "statemachines"
# CI clones the repository with shared/ beside it, as on a developer's machine.
SHARED_DATA = REPO.parent / "shared" / "data"
