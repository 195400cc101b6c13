"""How the loop's selection default was chosen, without the benchmark's test set.

Run from the repository root (not part of ``make bench``: ~40 min on a busy 2-core machine)::

    .venv/bin/python -m bench.selection_study --out reports
    .venv/bin/python -m bench.selection_study --out /tmp/study --quick   # smoke run (<1 min)

``bench.label_efficiency`` judges the loop on a held-out test set with seeds 0-4; choosing the
default on those numbers would tune on the test set. This study splits the benchmark's AG News
*pool* once more (stratified, 20 %) into a development pool and a development test set, so the
benchmark's test set is never read, and uses other seeds (100 onwards). Each run is
``bench.simulation.run``: textloop's own selection, training and evaluation code.

Near-duplicate detection is off here (exact duplicates are still dropped): it is the costliest
part of a selection and removed 0-3 items per 2,450-label run in the benchmark.

Writes ``<out>/selection-study.json``, ``<out>/selection-study.md`` and
``<out>/figures/selection-study.png``; ``bench.label_efficiency`` quotes the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import report
from bench.simulation import RANDOM, Schedule, Strategy, execute, full_pool, run

DEV_SHARE = 0.2
DEV_SPLIT_SEED = 7
FIRST_SEED = 100
CHECKPOINTS = (200, 500, 1000, 1500)
# Overrides of backends.local.HYPERPARAMETERS, per model variant.
MODELS: dict[str, dict[str, Any]] = {
    "current": {},
    # Before: n-grams in one training document only were dropped from 50 documents on.
    "min_df 2 from 50 documents (before)": {"min_df_documents": 50},
}


@dataclass(frozen=True)
class Variant:
    key: str
    model: str
    strategy: Strategy


def _loop(name: str, share: float, half_life: float | None = None) -> Strategy:
    return Strategy(name, share, half_life, near_duplicate_similarity=None)


BEFORE = "min_df 2 from 50 documents (before)"
VARIANTS = (
    Variant("random", "current", RANDOM),
    Variant(
        "half-life 250", "current", _loop("random_share 0.2, half-life 250 (default)", 0.2, 250)
    ),
    Variant("half-life 500", "current", _loop("random_share 0.2, half-life 500", 0.2, 500)),
    Variant("constant 0.2", "current", _loop("random_share 0.2, constant (old default)", 0.2)),
    Variant("constant 0.1", "current", _loop("random_share 0.1, constant", 0.1)),
    Variant("uncertainty only", "current", _loop("random_share 0 (uncertainty only)", 0.0)),
    Variant("before: random", BEFORE, RANDOM),
    Variant("before: constant 0.2", BEFORE, _loop("random_share 0.2, constant (old default)", 0.2)),
)
BY_KEY = {v.key: v for v in VARIANTS}


@functools.cache
def dev_task():
    """The benchmark's AG News pool, split into a development pool and test set."""
    from sklearn.model_selection import train_test_split

    from bench.data import load_ag_news

    task = load_ag_news()
    indices = list(range(len(task.pool_texts)))
    pool, test = train_test_split(
        indices,
        test_size=DEV_SHARE,
        stratify=list(task.pool_labels),
        random_state=DEV_SPLIT_SEED,
    )
    return replace(
        task,
        name="ag_news_dev",
        pool_texts=tuple(task.pool_texts[i] for i in pool),
        pool_labels=tuple(task.pool_labels[i] for i in pool),
        test_texts=tuple(task.pool_texts[i] for i in test),
        test_labels=tuple(task.pool_labels[i] for i in test),
        split=f"the benchmark pool, train_test_split(stratify, test_size={DEV_SHARE}, "
        f"random_state={DEV_SPLIT_SEED})",
    )


@contextlib.contextmanager
def _model(name: str):
    from textloop.domain import local_model

    saved = dict(local_model.HYPERPARAMETERS)
    local_model.HYPERPARAMETERS.update(MODELS[name])
    try:
        yield
    finally:
        local_model.HYPERPARAMETERS.clear()
        local_model.HYPERPARAMETERS.update(saved)


def run_job(key: str, seed: int, schedule: Schedule) -> dict[str, Any]:
    variant = BY_KEY[key]
    cpu = time.process_time()
    with _model(variant.model):
        out = run(dev_task(), variant.strategy, seed, schedule)
    return {**out, "variant": key, "model": variant.model, "cpu_seconds": time.process_time() - cpu}


def full_job(model: str) -> dict[str, Any]:
    with _model(model):
        return {"model": model, **full_pool(dev_task())}


# --------------------------------------------------------------------------- summary


def summarise(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per variant: mean accuracy and paired gain over its model's random baseline."""
    runs = results["runs"]
    full = {f["model"]: f["accuracy"] for f in results["full_pool"]}
    half = results["pool"] // 2
    rows = []
    for variant in results["variants"]:
        mine = [r for r in runs if r["variant"] == variant["key"]]
        if not mine:
            continue
        base_key = "random" if variant["model"] == "current" else "before: random"
        base = report.curves([r for r in runs if r["variant"] == base_key], "accuracy")
        curve = report.curves(mine, "accuracy")[variant["name"]]
        base_curve = next(iter(base.values()))
        cells = {}
        for n in results["checkpoints"]:
            values, reference = curve.at(n), base_curve.at(n)
            if values is None or reference is None:
                continue
            diff = values - reference
            se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else 0.0
            cells[str(n)] = {
                "accuracy": float(values.mean()),
                "gain": float(diff.mean()),
                "gain_se": float(se),
            }
        window = report.window_gain(curve, base_curve, 750, 1250)
        hit, _ = curve.first_reaching(full[variant["model"]])
        rows.append(
            {
                **variant,
                "seeds": len(mine),
                "checkpoints": cells,
                "window_gain": None if window is None else float(window.mean()),
                "reach": hit,
                "reach_met": hit is not None and hit <= half,
                "full_pool_accuracy": full[variant["model"]],
            }
        )
    return rows


def summary_table(rows: Sequence[dict[str, Any]], checkpoints: Sequence[int]) -> list[str]:
    head = "| model | selection | " + " | ".join(f"{n:,} labels" for n in checkpoints)
    lines = [
        head + " | gain 750-1,250 | full-pool accuracy reached at |",
        "|---|---|" + "---:|" * (len(checkpoints) + 2),
    ]
    for row in rows:
        cells = []
        for n in checkpoints:
            cell = row["checkpoints"].get(str(n))
            if cell is None:
                cells.append("n/a")
            elif row["is_random"]:
                cells.append(f"{100 * cell['accuracy']:.1f}")
            else:
                cells.append(
                    f"{100 * cell['accuracy']:.1f} ({100 * cell['gain']:+.2f} ± "
                    f"{100 * cell['gain_se']:.2f})"
                )
        window = "" if row["window_gain"] is None else f"{100 * row['window_gain']:+.2f}"
        reach = "not reached" if row["reach"] is None else f"{row['reach']:,}"
        model = "now" if row["model"] == "current" else row["model"]
        lines.append(
            f"| {model} | {row['name']} | " + " | ".join(cells) + f" | {window} | {reach} |"
        )
    return lines


def write_report(out: Path, results: dict[str, Any]) -> Path:
    figures = out / "figures"
    suffix = "-quick" if results["quick"] else ""
    rows = summarise(results)
    results["summary"] = rows
    png = figures / f"selection-study{suffix}.png"
    _plot_gains(results, png)
    full = {f["model"]: f["accuracy"] for f in results["full_pool"]}
    md = [
        "# How the loop's selection default was chosen",
        "",
    ]
    if results["quick"]:
        md += ["> **QUICK (smoke) RUN**: do not quote these numbers.", ""]
    md += [
        f"Generated {results['finished_at']} by `{results['command']}` in "
        f"{results['wall_seconds'] / 60:.1f} min ({results['workers']} worker process(es)).",
        "",
        "The benchmark's test set is never read here. The AG News benchmark pool is split "
        f"again: {results['split']}, giving a development pool of {results['pool']:,} and a "
        f"development test set of {results['test']:,} documents. Seeds "
        f"{results['seed_list'][0]}-{results['seed_list'][-1]} (the benchmark uses 0-4). "
        f"Schedule: {results['schedule']}. Every run is `bench.simulation.run` (textloop's "
        "selection, `backends.local.fit`, `evaluation.evaluate`), near-duplicate detection off.",
        "",
        "Development-test accuracy (%), mean over seeds; in brackets the mean paired gain over "
        "random selection with the same model and seed, ± its standard error, in points. "
        f"Half the development pool is {results['pool'] // 2:,} labels. Full-pool accuracy: "
        + "; ".join(f"{m}: {100 * a:.2f} %" for m, a in full.items())
        + ".",
        "",
        *summary_table(rows, results["checkpoints"]),
        "",
        f"![gain over random]({png.relative_to(out).as_posix()})",
        "",
        *_reading(rows, results["pool"] // 2),
    ]
    path = out / f"selection-study{suffix}.md"
    path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return path


def _reading(rows: Sequence[dict[str, Any]], half: int) -> list[str]:
    by_key = {row["key"]: row for row in rows}
    needed = ("constant 0.2", "before: constant 0.2", "half-life 250", "uncertainty only")
    if any(k not in by_key for k in needed):
        return []

    def gain(key: str, n: int) -> str:
        cell = by_key[key]["checkpoints"].get(str(n))
        if cell is None:
            return "n/a"
        return f"{100 * cell['gain']:+.2f} ± {100 * cell['gain_se']:.2f}"

    def reach(key: str) -> str:
        hit = by_key[key]["reach"]
        return "never reached it" if hit is None else f"reached it at {hit:,} labels"

    return [
        "## Reading",
        "",
        "- The model held the loop back more than the ranking did. With n-grams seen in only "
        "one training document dropped (`min_df` 2 from 50 documents, the rows marked before), "
        f"the old default gained {gain('before: constant 0.2', 1000)} points over random at "
        "1,000 labels and its mean curve "
        f"{reach('before: constant 0.2')} (the full-pool accuracy); with every n-gram kept, the "
        f"same setting gains {gain('constant 0.2', 1000)} and {reach('constant 0.2')}. A text "
        "picked "
        "because the model is unsure of it is usually unusual, and what it teaches beyond its "
        "label is mostly n-grams no other labelled text has: exactly what `min_df` 2 dropped.",
        "- With the model fixed, the random-share settings differ by at most half a point at "
        "1,000 labels, one to two standard errors. A share of 0.2 halving every 250 labels "
        f"gains {gain('half-life 250', 1000)} at 1,000 labels and {reach('half-life 250')} "
        f"(half the development pool: {half:,}); the constant 0.2 "
        f"{reach('constant 0.2')}, uncertainty only {reach('uncertainty only')}: late "
        "iterations give the budget to the uncertain cases. The decay pays for that early: "
        f"at 500 labels it gains {gain('half-life 250', 500)} against "
        f"{gain('constant 0.2', 500)} for the constant 0.2.",
        "- The rule for the default, written down before these runs: the largest mean gain at "
        "1,000 labels (the benchmark's checkpoint) among settings that keep a random share, "
        "provided the mean curve reaches the full-pool accuracy within half the development "
        "pool. The candidate `random_share` 0.2 with `random_share_half_life` 250 came from the "
        "exploratory runs below (same split, same seeds); these runs, with the project's own "
        "code, confirm it under the rule. The benchmark was then run once with it.",
        "- Also tried during development, with a throw-away re-implementation of the ranking "
        "on the model's probabilities, before the model change, on this split with 10-20 of "
        "these seeds (gain at 1,000 labels, against +1.2 for margin alone): entropy instead of "
        "margin (+1.2; ahead from 1,500 labels), the most uncertain text per k-means cluster "
        "among the 200 most uncertain (+1.2), round-robin over predicted label pairs (+0.8), a "
        "random share falling as 200/labels (+1.1); and, on random labels, `C` from 0.5 to 100 "
        "(4 is within 0.3 points of the best from 500 labels on, 0.8 behind `C` 1 at 200). "
        "None moved the gain by more than its standard error (0.3-0.5 points), so none is in "
        "the code. Keeping every n-gram did: margin alone +1.7 instead of +1.2. With it, the "
        "exploratory runs compared constant shares of 0, 0.1 and 0.2, half-lives of 250 and "
        "500 labels, and a floor of one random item or of 5 % under the decay; the table "
        "repeats the contenders (the half-life rows have the one-item floor).",
        "",
    ]


def _plot_gains(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for variant in results["variants"]:
        if variant["is_random"]:
            continue
        base_key = "random" if variant["model"] == "current" else "before: random"
        mine = report.curves([r for r in runs if r["variant"] == variant["key"]], "accuracy")
        base = report.curves([r for r in runs if r["variant"] == base_key], "accuracy")
        if not mine or not base:
            continue
        curve, reference = next(iter(mine.values())), next(iter(base.values()))
        gain = 100 * (curve.values - reference.values).mean(axis=0)
        style = "--" if variant["model"] != "current" else "-"
        label = variant["name"] + ("" if variant["model"] == "current" else " [before]")
        ax.plot(curve.labels, gain, style, label=label, linewidth=1.6)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhline(1.5, color="grey", linewidth=0.8, linestyle=":", label="target at 1,000 (+1.5)")
    ax.set_title("Development split: accuracy gain over random selection (mean over seeds)")
    ax.set_xlabel("labelled documents")
    ax.set_ylabel("points over random")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 300 labels")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per variant (default 20)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the report and plot from <out>/selection-study[-quick].json, no runs",
    )
    args = parser.parse_args(argv)
    saved = args.out / f"selection-study{'-quick' if args.quick else ''}.json"
    if args.render_only:
        results = json.loads(saved.read_text(encoding="utf-8"))
        results.pop("summary", None)
        path = write_report(args.out, results)
        saved.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"re-rendered {path} from {saved}", file=sys.stderr)
        return 0
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 20)
    if seeds < 1:
        parser.error("--seeds must be >= 1")
    started = time.perf_counter()
    schedule = Schedule.stepped(50, [(50, 300 if args.quick else 2000)])
    seed_list = list(range(FIRST_SEED, FIRST_SEED + seeds))
    jobs = [(v.key, s, schedule) for v in VARIANTS for s in seed_list]
    jobs.sort(key=lambda j: BY_KEY[j[0]].strategy.is_random)  # selection runs first
    print(f"{len(jobs)} runs on {args.jobs} worker(s)...", file=sys.stderr, flush=True)
    runs, full = execute(run_job, jobs, full_job, [(m,) for m in MODELS], args.jobs)
    task = dev_task()
    given = list(argv) if argv is not None else sys.argv[1:]
    results: dict[str, Any] = {
        "quick": args.quick,
        "command": " ".join([".venv/bin/python -m bench.selection_study", *given]),
        "workers": args.jobs,
        "seed_list": seed_list,
        "split": task.split,
        "pool": len(task.pool_texts),
        "test": len(task.test_texts),
        "schedule": schedule.describe(),
        "checkpoints": [n for n in CHECKPOINTS if n <= schedule.max_labels],
        "models": MODELS,
        "variants": [
            {
                "key": v.key,
                "model": v.model,
                "name": v.strategy.name,
                "is_random": v.strategy.is_random,
                "random_share": v.strategy.random_share,
                "random_share_half_life": v.strategy.random_share_half_life,
            }
            for v in VARIANTS
        ],
        "full_pool": full,
        "runs": runs,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": time.perf_counter() - started,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = write_report(args.out, results)
    saved.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path} in {results['wall_seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
