"""Which local model: ``tfidf`` or ``tfidf+embeddings``, measured side by side.

Run from the repository root::

    .venv/bin/python -m bench.local_models --out reports            # full run
    .venv/bin/python -m bench.local_models --out /tmp/lm --quick    # smoke run (a few minutes)

For AG News (multi-class) and Jigsaw toxic comments (multi-label), on the same splits as
``bench.label_efficiency``, and for each ``local_model`` kind:

* label efficiency: the loop's selection and random picks (``bench.simulation``, textloop's own
  selection, training and evaluation code), several seeds, test metric at 200, 500, 1,000 and
  2,000 labels; the schedule is coarser than ``bench.label_efficiency``'s (fewer retrains: the
  ``tfidf+embeddings`` kind cross-validates its weight at every one);
* the model trained on the whole pool: its test metric, training time (embeddings from the
  table: what a warm embedding cache costs) and artefact size;
* embedding every pool and test text once with the real encoder (texts/s: a cold cache);
* classify latency in-process, one text per call, as ``POST /classify`` calls the back-end: the
  encoder runs on every text (no cache on that path), p50/p99 over AG News test texts;
* sizes: the encoder artefact (``make setup``) and the most recently built Lambda layer.

Writes ``<out>/local-models.md``, ``<out>/local-models.json`` and
``<out>/figures/local-models-*.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import report
from bench.data import DATA_DIR, TASKS
from bench.label_efficiency import machine
from bench.perf.common import commit
from bench.simulation import (
    EMBEDDINGS_FILE,
    LOOP,
    RANDOM,
    STRATEGIES,
    TFIDF,
    Schedule,
    execute,
    full_pool_job,
    run_job,
)

EMBEDDINGS = "tfidf+embeddings"
KINDS = (TFIDF, EMBEDDINGS)
CHECKPOINTS = (200, 500, 1000, 2000)
LATENCY_CALLS = 300


@dataclass(frozen=True)
class Plan:
    task: str
    metric: str  # the headline test metric
    schedule: Schedule


def plans(quick: bool) -> list[Plan]:
    if quick:
        return [
            Plan("ag_news", "accuracy", Schedule.stepped(50, [(150, 200)])),
            Plan("jigsaw_toxic", "micro_f1", Schedule.stepped(100, [(100, 200)])),
        ]
    return [
        # The loop's review budget (50) to 500 labels, then wider steps to 2,000.
        Plan("ag_news", "accuracy", Schedule.stepped(50, [(50, 500), (100, 1000), (250, 2000)])),
        Plan("jigsaw_toxic", "micro_f1", Schedule.stepped(100, [(100, 1000), (250, 2000)])),
    ]


def embed_everything(tasks: Sequence[str], path: Path) -> dict[str, Any]:
    """Every pool and test text embedded once with the real encoder, saved for the workers."""
    from textloop.domain.embedding_cache import EmbeddingTable, segment_bytes
    from textloop.domain.sentence_encoder import SentenceEncoder

    from textloop_ops.encoder import built_artefact

    artefact = built_artefact()
    loaded = time.perf_counter()
    encoder = SentenceEncoder.from_artefact(artefact.read_bytes())
    load_seconds = time.perf_counter() - loaded
    table = EmbeddingTable(encoder.dimension)
    texts: list[str] = []
    for name in tasks:
        task = TASKS[name]()
        texts += list(task.pool_texts) + list(task.test_texts)
    digests, missing = table.missing(texts)
    started, cpu = time.perf_counter(), time.process_time()
    vectors = encoder.encode(missing)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    table.add(digests, vectors)
    path.write_bytes(segment_bytes(digests, vectors))
    return {
        "encoder": {"name": encoder.name, "sha256": encoder.sha256},
        "encoder_artefact": str(artefact.name),
        "encoder_artefact_bytes": artefact.stat().st_size,
        "encoder_load_seconds": load_seconds,
        "texts": len(missing),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "texts_per_second": len(missing) / seconds if seconds else None,
        "mean_characters": float(np.mean([len(t) for t in missing])) if missing else 0.0,
    }


def classify_latency(calls: int) -> dict[str, Any]:
    """In-process latency of ``LocalBackend.predict([text])``, both kinds, AG News test texts;
    each model trained on 1,000 pool documents; a fresh encoder (no table) as classify has."""
    from textloop.domain import local_model
    from textloop.domain.sentence_encoder import SentenceEncoder

    from bench.simulation import TRAINED_AT
    from textloop_ops.encoder import built_artefact

    task = TASKS["ag_news"]()
    encoder = SentenceEncoder.from_artefact(built_artefact().read_bytes())
    texts, labels = list(task.pool_texts[:1000]), list(task.pool_labels[:1000])
    out: dict[str, Any] = {}
    for kind in KINDS:
        model = local_model.fit(
            texts,
            labels,
            task.mode,
            now=TRAINED_AT,
            kind=kind,
            encoder=None if kind == TFIDF else encoder,
        )
        backend = local_model.LocalBackend(model)
        backend.predict([task.test_texts[0]])  # first call: lazy imports, BLAS set-up
        samples = []
        for text in task.test_texts[:calls]:
            started = time.perf_counter()
            backend.predict([text])
            samples.append(1000 * (time.perf_counter() - started))
        arr = np.asarray(samples)
        out[kind] = {
            "calls": len(samples),
            "p50_ms": float(np.percentile(arr, 50)),
            "p99_ms": float(np.percentile(arr, 99)),
            "mean_ms": float(arr.mean()),
        }
    return out


def layer_size() -> dict[str, Any] | None:
    """The unzipped size of the most recently built shared layer, if one was built here."""
    folder = Path(
        os.environ.get("TEXTLOOP_BUILD_CACHE")
        or Path(os.environ.get("TEXTLOOP_CACHE") or Path.home() / ".cache" / "textloop") / "build"
    )
    zips = sorted(folder.glob("*-shared-*.zip"), key=lambda p: p.stat().st_mtime)
    if not zips:
        return None
    with zipfile.ZipFile(zips[-1]) as z:
        unzipped = sum(i.file_size for i in z.infolist())
    return {"file": zips[-1].name, "zip_bytes": zips[-1].stat().st_size, "unzipped": unzipped}


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def write_report(out: Path, results: dict[str, Any]) -> Path:
    figures = out / "figures"
    suffix = "-quick" if results["quick"] else ""
    md: list[str] = ["# Local models: `tfidf` against `tfidf+embeddings`", ""]
    if results["quick"]:
        md += ["> **QUICK (smoke) RUN**: tiny budgets, one seed. Do not quote these numbers.", ""]
    m = results["machine"]
    md += [
        f"Generated {results['finished_at']} by `{results['command']}` in "
        f"**{results['wall_seconds'] / 60:.1f} min** on commit `{results.get('commit')}` "
        f"({results['workers']} worker process(es), "
        f"{results['seeds']} seed(s); {m['usable_cpus']} usable CPUs, {m['cpu_model']}; "
        f"load average {m['load_average']} at the start, {results['load_average_end']} at the "
        "end). Raw results: `local-models.json`.",
        "",
        "Both kinds are trained by `textloop.domain.local_model.fit` (the Train step's code) and "
        "scored by `LocalBackend`; selection is the loop's default (`select_for_review`, margin, "
        "random share 0.2 halving every 250 labels) or uniform random picks, paired by seed "
        "(same seed set, same test set). `tfidf+embeddings` reads every text's embedding from a "
        "table filled once by the real encoder, as the Train step reads the lake's embedding "
        "cache.",
        "",
    ]
    full = {(f["task"], f["kind"]): f for f in results["full_pool"]}
    for plan in results["plans"]:
        task, metric = plan["task"], plan["metric"]
        label = "accuracy" if metric == "accuracy" else "micro-F1 at each label's 0.5 threshold"
        md += [
            f"## {plan['title']}",
            "",
            f"Pool {plan['pool']:,} documents, test set {plan['test']:,}. Schedule: "
            f"{plan['schedule']}. Test {label} (%), mean ± std over seeds:",
            "",
            "| local_model | selection | "
            + " | ".join(f"{c:,} labels" for c in plan["checkpoints"])
            + " | whole pool |",
            "|---|---|" + "---:|" * (len(plan["checkpoints"]) + 1),
        ]
        plotted: dict[str, report.Curve] = {}
        for kind in KINDS:
            runs = [r for r in results["runs"] if r["task"] == task and r["kind"] == kind]
            curves = report.curves(runs, metric)
            for strategy in (LOOP.name, RANDOM.name):
                curve = curves.get(strategy)
                if curve is None:
                    continue
                short = "loop" if strategy == LOOP.name else "random"
                plotted[f"{kind}, {short}"] = curve
                cells = [report.mean_std(curve.at(c)) for c in plan["checkpoints"]]
                whole = report.pct(full[(task, kind)][metric])
                md.append(f"| `{kind}` | {short} | " + " | ".join(cells) + f" | {whole} |")
        md.append("")
        gains = []
        for strategy in (LOOP.name, RANDOM.name):
            a = report.curves(
                [r for r in results["runs"] if r["task"] == task and r["kind"] == TFIDF], metric
            ).get(strategy)
            b = report.curves(
                [r for r in results["runs"] if r["task"] == task and r["kind"] == EMBEDDINGS],
                metric,
            ).get(strategy)
            if a is None or b is None:
                continue
            parts = []
            for c in plan["checkpoints"]:
                x, y = a.at(c), b.at(c)
                if x is not None and y is not None:
                    d = 100 * (y - x)
                    parts.append(f"{c:,}: {d.mean():+.1f}")
            short = "loop" if strategy == LOOP.name else "random"
            gains.append(
                f"- {short} selection, `tfidf+embeddings` minus `tfidf` (points, mean "
                "of paired seeds): " + "; ".join(parts)
            )
        md += [*gains, ""]
        png = figures / f"local-models-{task.replace('_', '-')}{suffix}.png"
        report.plot(
            plotted,
            path=png,
            title=f"{plan['title']}: test {metric.replace('_', '-')} vs labels",
            ylabel=f"{metric.replace('_', '-')} (%)",
            reference=full[(task, EMBEDDINGS)][metric],
            reference_label="tfidf+embeddings, whole pool",
        )
        md += [f"![{plan['title']}](figures/{png.name})", ""]

    md += [
        "## Cost",
        "",
        "| task | local_model | train on the whole pool, s (CPU s) | artefact | weight chosen |",
        "|---|---|---:|---:|---|",
    ]
    for f in results["full_pool"]:
        weight = (f.get("metadata") or {}).get("embedding_weight") or {}
        chosen = weight.get("weight", "—") if weight else "—"
        md.append(
            f"| {f['task']} | `{f['kind']}` | {f['train_seconds']:.1f} "
            f"({f['train_cpu_seconds']:.1f}) | {_mib(f['artefact_bytes'])} | {chosen} |"
        )
    e = results["embedding"]
    md += [
        "",
        f"Embedding with the encoder (`{e['encoder']['name']}`, artefact "
        f"{_mib(e['encoder_artefact_bytes'])}, loaded from its bytes in "
        f"{e['encoder_load_seconds']:.2f} s): {e['texts']:,} texts (mean "
        f"{e['mean_characters']:.0f} characters) in {e['seconds']:.1f} s, "
        f"**{e['texts_per_second']:.0f} texts/s** ({e['cpu_seconds']:.1f} CPU s, one BLAS "
        "thread): what an iteration pays once per new text (the embedding cache keeps it).",
        "",
        f"Classify in-process, one text per call, {LATENCY_CALLS} AG News test texts, model "
        "trained on 1,000 documents (the encoder runs on every text):",
        "",
        "| local_model | p50 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|",
    ]
    for kind, lat in results["latency"].items():
        md.append(
            f"| `{kind}` | {lat['p50_ms']:.1f} | {lat['p99_ms']:.1f} | {lat['mean_ms']:.1f} |"
        )
    layer = results.get("layer")
    if layer:
        md += [
            "",
            f"Lambda layer (`{layer['file']}`, the shared package and requirements/layer.txt: "
            f"numpy, scipy, scikit-learn, tokenizers, safetensors, ...): "
            f"{_mib(layer['zip_bytes'])} zipped, **{_mib(layer['unzipped'])} unzipped** "
            "(Lambda's limit: 250 MiB for a function and its layers). The encoder's weights are "
            "not in the layer: they are a model artefact in the data lake, loaded once per "
            "Lambda sandbox.",
        ]
    md.append("")
    path = out / f"local-models{suffix}.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path


TITLES = {"ag_news": "AG News (multi-class, 4 topics)", "jigsaw_toxic": "Jigsaw (multi-label)"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, tiny budgets")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 3)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    if not DATA_DIR.is_dir():
        parser.error(f"data folder {DATA_DIR} is missing (see its README.md)")
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    started = time.perf_counter()
    info = machine()
    task_plans = plans(args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "embeddings.npz"
        print("embedding every pool and test text once...", file=sys.stderr, flush=True)
        embedding = embed_everything([p.task for p in task_plans], table)
        os.environ[EMBEDDINGS_FILE] = str(table)
        jobs = [
            (p.task, key, seed, p.schedule, kind)
            for p in task_plans
            for kind in KINDS
            for key in ("loop", "random")
            for seed in range(seeds)
        ]
        # The slow ones (embeddings, selection) first, so the workers finish together.
        jobs.sort(key=lambda j: (j[4] == TFIDF, STRATEGIES[j[1]].is_random, -j[3].max_labels))
        print(f"{len(jobs)} runs on {args.jobs} worker(s)...", file=sys.stderr, flush=True)
        runs, full = execute(
            run_job,
            jobs,
            full_pool_job,
            [(p.task, kind) for p in task_plans for kind in KINDS],
            args.jobs,
        )
        latency = classify_latency(30 if args.quick else LATENCY_CALLS)
    results: dict[str, Any] = {
        "quick": args.quick,
        "commit": commit(),
        "command": "python -m bench.local_models " + " ".join(argv or sys.argv[1:]),
        "machine": info,
        "workers": args.jobs,
        "seeds": seeds,
        "plans": [],
        "runs": runs,
        "full_pool": full,
        "embedding": embedding,
        "latency": latency,
        "layer": layer_size(),
    }
    for p in task_plans:
        task = TASKS[p.task]()
        counts = [p.schedule.seed_size]
        for b in p.schedule.budgets:
            counts.append(counts[-1] + b)
        results["plans"].append(
            {
                "task": p.task,
                "title": TITLES[p.task],
                "metric": p.metric,
                "pool": len(task.pool_texts),
                "test": len(task.test_texts),
                "schedule": p.schedule.describe(),
                "checkpoints": [c for c in CHECKPOINTS if c in counts],
            }
        )
    results["finished_at"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    results["wall_seconds"] = time.perf_counter() - started
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (args.out / f"local-models{suffix}.json").write_text(
        json.dumps(results, indent=1, default=str), encoding="utf-8"
    )
    path = write_report(args.out, results)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
