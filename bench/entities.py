"""Entity recogniser benchmarks: the local CRF (``domain/entity_model.py``) on the AWS-service
gold documents of ``data/aws_service_ner``.

Run from the repository root::

    .venv/bin/python -m bench.entities --out reports          # full run (~2 min on 2 cores)
    .venv/bin/python -m bench.entities --out /tmp/ent --quick # smoke run (~20 s)

Gold: the annotated lines of ``comprehend/train.csv`` (``annotations.csv``), one per text
(``hashing.text_key``, first wins: the file repeats some texts, and a text must not be in
training and test at once): 151 documents, 560 spans (SERVICE, VERSION). Its unannotated lines
(and ``test.csv``) are not known to be entity-free, so they are in neither part.

Two measurements, both scored with ``evaluation.evaluate_entities`` (exact span and type):

1. **Held-out F1**: for each of ``--seeds`` seeds, a seeded shuffle holds out a quarter of the
   gold documents; the CRF trains on the rest. Per type and micro F1, mean and spread over the
   seeds; CPU seconds of ``fit`` and the artefact's size. The *ceiling* is the F1 of the gold
   spans sent through the tokeniser and back (``bio_tags`` then ``spans_of``): spans with blanks
   at an end or ending inside a word cannot be hit exactly by any token model.
2. **Label efficiency**: per seed, one split (``SPLIT_SEED + seed``) frozen for the whole
   curve: the held-out quarter is the test set, the rest the pool (a single 38-document test
   set favoured one strategy or the other depending on which documents it held, so the split
   varies with the seed, as the seed set does). From a random seed set of ``SEED_SET``
   documents, iterations of ``BUDGET`` picks each: ``loop`` picks with
   ``selection.select_for_review`` and the loop's defaults (least-confident entity,
   ``1 - min score``: the raw score, not its distance from the threshold, as
   ``domain/selection.py`` ranks it; a document where the model found nothing counts as most
   uncertain; near-duplicates removed; a random share of 0.2 halving every 250 labels),
   ``uncertainty`` the same without the random share, ``random`` uniformly. The simulated
   reviewer answers with the gold spans. Micro F1 on the test set after every retraining, over
   ``--seeds`` seeds.

Writes ``<out>/entity-recogniser.md``, ``<out>/entity-recogniser.json`` and
``<out>/figures/entity-label-efficiency.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from textloop.domain import entity_model
from textloop.domain.evaluation import evaluate_entities
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.hashing import text_key
from textloop.domain.names import ModelType
from textloop.domain.selection import SelectionConfig, select_for_review

from bench import report
from bench.simulation import NEAR_DUPLICATE_SIMILARITY, RANDOM_SHARE, RANDOM_SHARE_HALF_LIFE
from textloop_ops.entity_gold import comprehend_gold_documents

TEST_SHARE = 0.25
SPLIT_SEED = 20240601
SEED_SET = 10
BUDGET = 10
ITERATIONS = 7
TRAINED_AT = datetime(2024, 1, 1, tzinfo=UTC)
OBSERVED_AT = "2024-01-01T00:00:00.000Z"
TYPES = ("SERVICE", "VERSION")
STRATEGIES = {
    "loop": {"random_share": RANDOM_SHARE, "random_share_half_life": RANDOM_SHARE_HALF_LIFE},
    "uncertainty": {"random_share": 0.0, "random_share_half_life": None},
    "random": None,
}


def split(
    documents: Sequence[dict[str, Any]], seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, test)``: a seeded shuffle, the first ``TEST_SHARE`` held out."""
    order = np.random.default_rng(seed).permutation(len(documents))
    shuffled = [documents[int(i)] for i in order]
    n_test = round(len(shuffled) * TEST_SHARE)
    return shuffled[n_test:], shuffled[:n_test]


def score(model: entity_model.EntityModel, test: Sequence[dict[str, Any]]) -> dict[str, Any]:
    predictions = entity_model.EntityBackend(model).predict([d["text"] for d in test])
    return evaluate_entities(
        [d["entities"] for d in test], [p.entities for p in predictions], types=TYPES
    )


def ceiling(test: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The gold spans as a token model sees them: tokenised, tagged and read back."""
    back = []
    for document in test:
        tokens = entity_model.tokenize(document["text"])
        tags = entity_model.bio_tags(tokens, document["entities"])
        back.append(entity_model.spans_of(tokens, tags, [1.0] * len(tokens)))
    return evaluate_entities([d["entities"] for d in test], back, types=TYPES)


def _figures(result: dict[str, Any]) -> dict[str, float]:
    out = {"micro_f1": result["MicroF1Score"]}
    for kind in TYPES:
        out[f"{kind}_f1"] = result["per_label"][kind]["F1Score"]
    return out


def held_out(gold: Sequence[dict[str, Any]], seeds: Sequence[int]) -> dict[str, Any]:
    runs = []
    for seed in seeds:
        train, test = split(gold, seed)
        started = time.process_time()
        model = entity_model.fit(train, model_version=f"bench-{seed}", now=TRAINED_AT)
        cpu = time.process_time() - started
        runs.append(
            {
                "seed": seed,
                "train": len(train),
                "test": len(test),
                "test_spans": sum(len(d["entities"]) for d in test),
                **_figures(score(model, test)),
                "ceiling_micro_f1": ceiling(test)["MicroF1Score"],
                "fit_cpu_seconds": cpu,
                "artefact_bytes": len(entity_model.save(model)),
            }
        )
    return {"runs": runs}


def _record(index: int, text: str, prediction: Any, thresholds: dict[str, Any]) -> FeedbackRecord:
    """What the classify path would store for a routed document (implicit feedback)."""
    return FeedbackRecord.from_dict(
        {
            "id": f"pool-{index:06d}",
            "source": "implicit",
            "reason": "below_threshold",
            "text": text,
            "model_type": ModelType.ENTITY_RECOGNIZER.value,
            "model_version": prediction.model_version,
            "prediction": prediction.prediction_dict(routed_to_review=True),
            "thresholds": thresholds,
            "created_at": OBSERVED_AT,
            "observed_at": OBSERVED_AT,
        }
    )


def learning_curve(
    pool: Sequence[dict[str, Any]],
    test: Sequence[dict[str, Any]],
    strategy: str,
    seed: int,
    iterations: int,
) -> dict[str, Any]:
    # Two streams per seed: the seed set (0) and the random strategy's picks (1).
    labelled = sorted(
        int(i) for i in np.random.default_rng([seed, 0]).choice(len(pool), SEED_SET, False)
    )
    picks_rng = np.random.default_rng([seed, 1])
    keys = [text_key(d["text"], ModelType.ENTITY_RECOGNIZER) for d in pool]
    points = []
    for iteration in range(iterations + 1):
        model = entity_model.fit(
            [pool[i] for i in labelled], model_version=f"bench-{seed}-{iteration}", now=TRAINED_AT
        )
        points.append({"labels": len(labelled), **_figures(score(model, test))})
        if iteration == iterations:
            break
        taken = {keys[i] for i in labelled}
        candidates = [i for i in range(len(pool)) if keys[i] not in taken]
        settings = STRATEGIES[strategy]
        if settings is None:
            picks = [candidates[int(j)] for j in picks_rng.permutation(len(candidates))[:BUDGET]]
        else:
            backend = entity_model.EntityBackend(model)
            predictions = backend.predict([pool[i]["text"] for i in candidates])
            records = [
                _record(i, pool[i]["text"], p, backend.thresholds)
                for i, p in zip(candidates, predictions, strict=True)
            ]
            selection = select_for_review(
                records,
                SelectionConfig(
                    budget=BUDGET,
                    seed=f"bench-entities-{seed}-{iteration}",
                    near_duplicate_similarity=NEAR_DUPLICATE_SIMILARITY,
                    **settings,
                ),
                annotated_keys=taken,
                labelled=len(labelled),
            )
            picks = [int(item.removeprefix("pool-")) for item in selection.item_ids]
        labelled += picks
    return {"strategy": strategy, "seed": seed, "points": points}


def label_efficiency(
    gold: Sequence[dict[str, Any]], seeds: Sequence[int], iterations: int
) -> dict[str, Any]:
    runs, full, spans = [], [], []
    for seed in seeds:
        pool, test = split(gold, SPLIT_SEED + seed)
        runs += [learning_curve(pool, test, strategy, seed, iterations) for strategy in STRATEGIES]
        model = entity_model.fit(pool, model_version=f"bench-full-{seed}", now=TRAINED_AT)
        full.append({"seed": seed, "labels": len(pool), **_figures(score(model, test))})
        spans.append(sum(len(d["entities"]) for d in test))
    return {
        "pool": len(pool),
        "test": len(test),
        "test_spans": spans,
        "runs": runs,
        "full_pool": {
            "labels": len(pool),
            "micro_f1": statistics.fmean(f["micro_f1"] for f in full),
            "per_seed": full,
        },
    }


def _mean_spread(values: Sequence[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{100 * mean:.1f}"
    return (
        f"{100 * mean:.1f} ± {100 * statistics.stdev(values):.1f} "
        f"({100 * min(values):.1f} to {100 * max(values):.1f})"
    )


def write_report(results: dict[str, Any], out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "entity-recogniser.json").write_text(json.dumps(results, indent=2) + "\n")
    runs = results["held_out"]["runs"]
    efficiency = results["label_efficiency"]
    by_strategy = report.curves(efficiency["runs"], "micro_f1")
    checkpoints = [int(n) for n in next(iter(by_strategy.values())).labels]
    figure = out / "figures" / "entity-label-efficiency.png"
    report.plot(
        by_strategy,
        path=figure,
        title="AWS-service entities: micro F1 (exact span and type)",
        ylabel="micro F1 (%)",
        reference=efficiency["full_pool"]["micro_f1"],
        reference_label=f"every pool label ({efficiency['full_pool']['labels']})",
    )
    loop, rnd = by_strategy["loop"], by_strategy["random"]
    gains = [f"{n}: {100 * (loop.at(n) - rnd.at(n)).mean():+.1f}" for n in checkpoints[1:]]
    lines = [
        "# Entity recogniser: the local CRF on the AWS-service documents",
        "",
        f"Produced by `{command}` ({results['seconds']:.0f} s on {results['machine']}). "
        "Method: `bench/entities.py` docstring. Scores are exact span and type "
        "(`evaluation.evaluate_entities`), in %.",
        "",
        f"Gold: {results['gold_documents']} documents, {results['gold_spans']} spans.",
        "",
        f"## Held-out F1 ({len(runs)} seeded splits, {runs[0]['train']} training and "
        f"{runs[0]['test']} test documents each)",
        "",
        "| | F1 (mean ± std (min to max)) |",
        "|---|---|",
        f"| SERVICE | {_mean_spread([r['SERVICE_f1'] for r in runs])} |",
        f"| VERSION | {_mean_spread([r['VERSION_f1'] for r in runs])} |",
        f"| micro | {_mean_spread([r['micro_f1'] for r in runs])} |",
        f"| ceiling (gold spans through the tokeniser) | "
        f"{_mean_spread([r['ceiling_micro_f1'] for r in runs])} |",
        "",
        f"`fit`: {statistics.fmean(r['fit_cpu_seconds'] for r in runs):.2f} s CPU on "
        f"{runs[0]['train']} documents; artefact "
        f"{statistics.fmean(r['artefact_bytes'] for r in runs) / 1024:.0f} KiB.",
        "",
        f"## Label efficiency (pool {efficiency['pool']}, test set {efficiency['test']} "
        f"documents ({min(efficiency['test_spans'])} to {max(efficiency['test_spans'])} spans), "
        f"frozen per seed, {len({r['seed'] for r in efficiency['runs']})} seeds)",
        "",
        f"Seed set {SEED_SET}, then {BUDGET} picks per iteration. Micro F1, mean ± std:",
        "",
        *report.checkpoint_table(by_strategy, checkpoints, "strategy"),
        "",
        f"Every pool label ({efficiency['full_pool']['labels']}), mean over the seeds' splits: "
        f"{report.pct(efficiency['full_pool']['micro_f1'])}. Loop minus random, by labels: "
        + ", ".join(gains)
        + ".",
        "",
        f"![learning curves](figures/{figure.name})",
        "",
    ]
    (out / "entity-recogniser.md").write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 3 iterations")
    args = parser.parse_args(argv)
    seeds = list(range(2 if args.quick else args.seeds))
    iterations = 3 if args.quick else ITERATIONS
    started = time.perf_counter()
    gold = comprehend_gold_documents()
    results: dict[str, Any] = {
        "gold_documents": len(gold),
        "gold_spans": sum(len(d["entities"]) for d in gold),
        "held_out": held_out(gold, seeds),
        "label_efficiency": label_efficiency(gold, seeds, iterations),
        "hyperparameters": entity_model.HYPERPARAMETERS,
        "crfsuite_version": entity_model.crfsuite_version(),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }
    results["seconds"] = time.perf_counter() - started
    command = "python -m bench.entities --out " + str(args.out) + (" --quick" if args.quick else "")
    write_report(results, args.out, command)
    print((args.out / "entity-recogniser.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
