"""Helpers shared by the benchmarks: data, percentiles, machine facts, result files."""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from textloop_ops.data import AG_NEWS

REPO = Path(__file__).resolve().parents[2]
# Raw results of each part, so run.py can rebuild the report from a partial run.
RESULTS = Path(__file__).resolve().parent / "results"


def commit() -> str | None:
    """The measured code's commit (with ``+`` when tracked files have changes), or None
    outside a git checkout."""
    git = ["/usr/bin/git", "-C", str(REPO)]
    head = subprocess.run(  # noqa: S603 - fixed argv
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return None
    dirty = subprocess.run(  # noqa: S603 - fixed argv
        [*git, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return head.stdout.strip() + ("+" if dirty else "")


def ag_news_rows() -> list[tuple[str, str]]:
    """(label, text) pairs of AG News in file order."""
    with AG_NEWS.open(encoding="utf-8", newline="") as handle:
        return [(row[0], row[1]) for row in csv.reader(handle)]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of already sorted values: no interpolation, so
    p99 of 1,000 samples is the 990th value, a latency some call really had."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "n": len(ordered),
        "mean_ms": statistics.fmean(ordered),
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1],
        "min_ms": ordered[0],
    }


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    uptime = subprocess.run(
        ["/usr/bin/uptime"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": mem_gib,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "uptime": uptime,
        "loadavg": load_average(),
        "at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"
