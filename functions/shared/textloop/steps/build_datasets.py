"""BuildDatasets: train and test sets in Comprehend's CSV format from the seed data and the
annotation pool, with the test set frozen across iterations (``datasets.build``).

Inputs: the seed data (``layout.seed_keys``, read by ``datasets.seed.seed_documents``: the
original labelled data, imported by the CLI),
the pool version of this iteration and the previous build's split (``layout.split_state_key``).
Outputs, each written once under ``layout.dataset_key(<dataset_version>, ...)``: ``train.csv``,
``test.csv`` and ``manifest.json``; then the new split state. A data set that breaks a
Comprehend rule fails the step with ``Textloop.DatasetInvalid``; the report (every problem, with
examples) is written beside it as ``validation-report.json``.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject (datasets/*, annotations/*), s3:PutObject (datasets/*).
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.datasets.build import build_datasets
from textloop.domain.datasets.formats import DOCUMENT_FILES
from textloop.domain.datasets.seed import seed_documents
from textloop.domain.errors import DatasetInvalid
from textloop.domain.iteration import Iteration
from textloop.steps.payloads import ITERATION, POOL, step_schema

EVENT = step_schema(iteration=ITERATION, pool=POOL)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it = Iteration.from_dict(event["iteration"])
    seed = seed_documents(it.model_type, it.mode, ctx.lake.get_text)
    pool_version = event["pool"]["pool_version"]
    pool = ctx.pools.get(pool_version) if pool_version else None
    state_key = layout.split_state_key(it.model_type)
    build = build_datasets(
        model_type=it.model_type,
        mode=it.mode,
        pool=pool,
        original_documents=seed,
        split_state=ctx.lake.get_json(state_key),
        config=it.datasets,
        strict=False,
    )
    version = build.dataset_version
    if not build.report.ok:
        report_key = layout.dataset_key(version, "validation-report.json")
        ctx.lake.put_json(report_key, {**build.report.to_dict(), "rendered": build.report.render()})
        ctx.count("DatasetInvalid")
        raise DatasetInvalid(f"{build.report.render()}\n(report: {ctx.lake.uri(report_key)})")
    for name, body in build.files.items():
        ctx.lake.put_text(layout.dataset_key(version, name), body, "text/csv", once=True)
    manifest_key = layout.dataset_key(version, "manifest.json")
    ctx.lake.put_json(manifest_key, build.manifest, once=True)
    ctx.lake.put_json(state_key, build.split_state)
    counts = {
        "train": build.manifest["train"]["documents"],
        "test": build.manifest["test"]["documents"],
        "labels": len(build.manifest["labels"]),
    }
    ctx.logger.info("data set built", extra={"dataset_version": version, "counts": counts})
    # Entity recognisers: the documents files (train.txt, test.txt), annotations beside them.
    files = DOCUMENT_FILES[it.model_type]
    return {
        "dataset_version": version,
        "manifest_key": manifest_key,
        "train_uri": ctx.lake.uri(layout.dataset_key(version, files["train"])),
        "test_uri": ctx.lake.uri(layout.dataset_key(version, files["test"])),
        "test_set_hash": build.test_set_hash,
        "counts": counts,
    }
