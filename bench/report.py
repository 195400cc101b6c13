"""Aggregation over seeds, the Markdown report and the learning-curve plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Curve:
    """One strategy on one task: a metric at each label count, one row per seed."""

    strategy: str
    labels: np.ndarray  # (points,)
    values: np.ndarray  # (seeds, points)

    @property
    def mean(self) -> np.ndarray:
        return self.values.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        # Sample std (ddof=1): the seeds are a sample of possible runs; 0 for a single seed.
        if self.values.shape[0] < 2:
            return np.zeros(self.values.shape[1])
        return self.values.std(axis=0, ddof=1)

    def at(self, n: int) -> np.ndarray | None:
        """Per-seed values at exactly ``n`` labels, or None when the schedule skips ``n``."""
        hits = np.flatnonzero(self.labels == n)
        return self.values[:, hits[0]] if hits.size else None

    def first_reaching(self, target: float) -> tuple[int | None, list[int | None]]:
        """Labels at which the mean curve, and each seed, first reaches ``target``."""

        def first(row: np.ndarray) -> int | None:
            hits = np.flatnonzero(row >= target - 1e-12)
            return int(self.labels[hits[0]]) if hits.size else None

        return first(self.mean), [first(row) for row in self.values]


def curves(runs: Sequence[Mapping[str, Any]], metric: str) -> dict[str, Curve]:
    """Curves by strategy name, strategies in the order of ``runs``."""
    out: dict[str, Curve] = {}
    names = list(dict.fromkeys(r["strategy"] for r in runs))
    for name in names:
        mine = sorted((r for r in runs if r["strategy"] == name), key=lambda r: r["seed"])
        lengths = {len(r["points"]) for r in mine}
        if len(lengths) != 1:
            # Every run follows the same schedule; a shorter one means the pool ran dry.
            raise ValueError(f"{name}: runs of different lengths {sorted(lengths)}")
        labels = np.array([p["labels"] for p in mine[0]["points"]])
        for r in mine[1:]:
            if [p["labels"] for p in r["points"]] != labels.tolist():
                raise ValueError(f"{name}: runs with different label counts")
        values = np.array([[p[metric] for p in r["points"]] for r in mine], dtype=float)
        out[name] = Curve(name, labels, values)
    return out


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def mean_std(values: np.ndarray | None) -> str:
    if values is None:
        return "n/a"
    if values.size < 2:
        return f"{100 * values.mean():.1f}"
    return f"{100 * values.mean():.1f} ± {100 * values.std(ddof=1):.1f}"


def checkpoint_table(
    by_strategy: Mapping[str, Curve], checkpoints: Sequence[int], title: str
) -> list[str]:
    header = f"| {title} | " + " | ".join(f"{n:,} labels" for n in checkpoints) + " |"
    lines = [header, "|---|" + "---:|" * len(checkpoints)]
    for name, curve in by_strategy.items():
        cells = [mean_std(curve.at(n)) for n in checkpoints]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def reach_lines(by_strategy: Mapping[str, Curve], target: float, cap: int) -> list[str]:
    lines = [
        "| strategy | labels to reach it (mean curve) | per seed |",
        "|---|---:|---|",
    ]
    for name, curve in by_strategy.items():
        mean_hit, seed_hits = curve.first_reaching(target)
        shown = f"{mean_hit:,}" if mean_hit is not None else f"not reached within {cap:,}"
        per_seed = ", ".join(f"{h:,}" if h is not None else "—" for h in seed_hits)
        lines.append(f"| {name} | {shown} | {per_seed} |")
    return lines


def plot(
    by_strategy: Mapping[str, Curve],
    *,
    path: Path,
    title: str,
    ylabel: str,
    reference: float | None,
    reference_label: str,
    vertical: tuple[float, str] | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = ["tab:blue", "tab:orange", "tab:grey", "tab:green"]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for colour, (name, curve) in zip(colours, by_strategy.items(), strict=False):
        mean, std = 100 * curve.mean, 100 * curve.std
        ax.plot(curve.labels, mean, color=colour, label=name, linewidth=1.8)
        ax.fill_between(curve.labels, mean - std, mean + std, color=colour, alpha=0.2)
    if reference is not None:
        ax.axhline(
            100 * reference, color="black", linestyle="--", linewidth=1, label=reference_label
        )
    if vertical is not None:
        ax.axvline(vertical[0], color="black", linestyle=":", linewidth=1, label=vertical[1])
    seeds = next(iter(by_strategy.values())).values.shape[0]
    ax.set_title(f"{title} (mean ± std over {seeds} seed{'s' if seeds != 1 else ''})")
    ax.set_xlabel("labelled documents")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    # Zoom on the part where the strategies differ: the seed-set model (first point) is far
    # below the rest and would squash every curve into the top fifth of the plot.
    rest = [100 * (c.mean - c.std)[1:] for c in by_strategy.values() if len(c.labels) > 1]
    first = min(100 * c.mean[0] for c in by_strategy.values())
    bottom = max(0.0, min(r.min() for r in rest) - 2) if rest else 0.0
    top = max(100 * (c.mean + c.std).max() for c in by_strategy.values())
    if reference is not None:
        top = max(top, 100 * reference)
    ax.set_ylim(bottom, min(100.0, top + 2))
    if first < bottom:
        n0 = int(next(iter(by_strategy.values())).labels[0])
        ax.annotate(
            f"seed-set model ({n0} labels): {first:.1f}, below the axis",
            xy=(0.99, 0.01),
            xycoords="axes fraction",
            ha="right",
            fontsize=8,
            color="dimgrey",
        )
    ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def window_gain(curve: Curve, baseline: Curve, low: int, high: int) -> np.ndarray | None:
    """Per seed, the mean paired difference over the points with ``low <= labels <= high``:
    a steadier read of "better at about N labels" than the single point at N."""
    if curve.labels.tolist() != baseline.labels.tolist():
        return None
    inside = (curve.labels >= low) & (curve.labels <= high)
    if not inside.any():
        return None
    return (curve.values[:, inside] - baseline.values[:, inside]).mean(axis=1)


def savings_lines(
    by_strategy: Mapping[str, Curve], baseline: str, checkpoints: Sequence[int], metric: str
) -> list[str]:
    """Labels each strategy needs (mean curve) to match the baseline's mean at a checkpoint."""
    base = by_strategy[baseline]
    shown = [n for n in checkpoints if base.at(n) is not None]
    lines = [
        "| strategy | "
        + " | ".join(f"{baseline} at {n:,} ({pct(base.at(n).mean())})" for n in shown)
        + " |",
        "|---|" + "---:|" * len(shown),
    ]
    for name, curve in by_strategy.items():
        if name == baseline:
            continue
        cells = []
        for n in shown:
            hit, _ = curve.first_reaching(float(base.at(n).mean()))
            if hit is None:
                cells.append("not reached")
            elif hit > n:
                cells.append(f"{hit:,} ({100 * (hit / n - 1):.0f} % more)")
            else:
                cells.append(f"{hit:,} ({100 * (1 - hit / n):.0f} % fewer)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
