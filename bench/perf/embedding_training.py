"""The Train step on ``local_model = "tfidf+embeddings"`` at 10^4 and 5x10^4 documents, with a
cold and a warm embedding cache; and in-process classify latency of both local model kinds.

The real ``textloop.steps.train.run`` against moto's in-memory S3, with the real encoder
(``make setup`` builds it). The training sets cycle AG News's 6,160 texts (the only labelled
texts of that size in data/): a repeated text is embedded once, so the cold run embeds the
6,160 distinct texts and the cold figure for N distinct texts is extrapolated from its
measured per-text rate (``embed_ms_per_text`` x N + the warm run's time). Warm: a second
iteration on the same texts, every embedding in the cache.

    .venv/bin/python -m bench.perf.embedding_training [--sizes 10000 50000] [--calls 300]

Not part of ``make bench``: the cold run alone is minutes of CPU. The result, with its command
and commit, goes to ``bench/perf/results/embedding_training.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

from bench.perf.common import REPO, ag_news_rows, commit, latency_summary, machine, save

sys.path.insert(0, str(REPO / "functions" / "shared"))
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ.setdefault(name, value)

BUCKET = "textloop-bench-embeddings"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)

    import boto3
    from moto import mock_aws
    from textloop.adapters.encoder_store import EncoderStore
    from textloop.adapters.stack import Stack
    from textloop.domain import layout, local_model
    from textloop.domain.datasets.formats import write_files
    from textloop.domain.iteration import Iteration, IterationConfig
    from textloop.steps import train

    from textloop_ops.encoder import built_artefact

    rows = ag_news_rows()
    out: dict[str, Any] = {
        "command": "python -m bench.perf.embedding_training --sizes "
        + " ".join(str(n) for n in args.sizes)
        + f" --calls {args.calls}",
        "commit": commit(),
        "machine": machine(),
        "train": [],
        "classify": {},
    }
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        key = EncoderStore(s3, BUCKET).put("all-MiniLM-L6-v2", built_artefact().read_bytes())
        ctx = Stack(
            {
                "DATA_LAKE_BUCKET": BUCKET,
                "SENTENCE_ENCODER_SHA256": layout.encoder_artefact_sha256(key),
            }
        )
        started = time.perf_counter()
        encoder = ctx.sentence_encoder
        out["encoder_load_s"] = round(time.perf_counter() - started, 2)
        out["rss_after_encoder_mb"] = round(peak_rss_mb())

        def run(iteration_id: str, n: int) -> dict[str, Any]:
            docs = [{"text": t, "labels": [y]} for y, t in (rows * (n // len(rows) + 1))[:n]]
            version = f"ds-{n}"
            files = write_files("DOCUMENT_CLASSIFIER", "MULTI_CLASS", docs, [], "|")
            ctx.lake.put_text(
                layout.dataset_key(version, "train.csv"), files["train.csv"], "text/csv"
            )
            it = Iteration(
                iteration_id=iteration_id,
                execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:x:{iteration_id}",
                started_at="2026-12-01T10:00:00.000Z",
                model_type="DOCUMENT_CLASSIFIER",
                mode="MULTI_CLASS",
                config=IterationConfig(local_model="tfidf+embeddings"),
                lock={},
            )
            dataset = {
                "dataset_version": version,
                "train_uri": ctx.lake.uri(layout.dataset_key(version, "train.csv")),
            }
            embedded_before = _cached(ctx, encoder)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = train.run(ctx, {"iteration": it.to_dict(), "dataset": dataset})
            seconds = time.perf_counter() - started
            # On a shared machine the wall time is mostly waiting for a core: the CPU time is
            # what a Lambda with a vCPU of its own would spend.
            cpu_seconds = time.process_time() - cpu_started
            metadata = ctx.artefacts.get_metadata(result["model_version"])
            row = {
                "documents": n,
                "distinct_texts": len({d["text"] for d in docs}),
                "embedded": _cached(ctx, encoder) - embedded_before,
                "seconds": round(seconds, 1),
                "cpu_seconds": round(cpu_seconds, 1),
                "weight": metadata["embedding_weight"]["weight"],
                "peak_rss_mb": round(peak_rss_mb()),
                "load": os.getloadavg()[0],
            }
            print(json.dumps(row), flush=True)
            return row

        for i, n in enumerate(args.sizes):
            cold = run(f"cold-{n}", n) if i == 0 else None
            warm = run(f"warm-{n}", n)
            entry = {"documents": n, "warm": warm}
            if cold is not None:
                entry["cold"] = cold
                # Cold minus warm is what embedding cost (the fit is the same work both times).
                out["embed_ms_per_text"] = round(
                    1000 * (cold["seconds"] - warm["seconds"]) / cold["embedded"], 1
                )
                out["embed_cpu_ms_per_text"] = round(
                    1000 * (cold["cpu_seconds"] - warm["cpu_seconds"]) / cold["embedded"], 1
                )
            out["train"].append(entry)
        for entry in out["train"]:
            entry["cold_distinct_estimate_s"] = round(
                entry["warm"]["seconds"] + out["embed_ms_per_text"] * entry["documents"] / 1000
            )
            entry["cold_distinct_estimate_cpu_s"] = round(
                entry["warm"]["cpu_seconds"]
                + out["embed_cpu_ms_per_text"] * entry["documents"] / 1000
            )

        train_rows = rows[:1600]
        texts, labels = [t for _, t in train_rows], [y for y, _ in train_rows]
        probe = rows[-1][1]
        for kind in ("tfidf", "tfidf+embeddings"):
            model = local_model.fit(
                texts,
                labels,
                "MULTI_CLASS",
                kind=kind,
                encoder=encoder if kind != "tfidf" else None,
            )
            backend = local_model.LocalBackend(model)
            backend.predict([probe])
            samples = []
            for _ in range(args.calls):
                started = time.perf_counter()
                backend.predict([probe])
                samples.append((time.perf_counter() - started) * 1000)
            out["classify"][kind] = {
                **latency_summary(samples),
                "artefact_bytes": len(local_model.save(model)),
                "load": os.getloadavg()[0],
            }
            print(kind, json.dumps(out["classify"][kind]), flush=True)
    out["peak_rss_mb"] = round(peak_rss_mb())
    out["machine_at_end"] = machine()
    save("embedding_training", out)
    print(json.dumps(out, indent=2))
    return 0


def _cached(ctx: Any, encoder: Any) -> int:
    from textloop.adapters.embedding_cache import EmbeddingCache

    table, _ = EmbeddingCache(ctx.lake, encoder).table()
    return len(table)


if __name__ == "__main__":
    sys.exit(main())
