"""BuildDatasets step: train and test sets in Comprehend's CSV format from the seed data and the
annotation pool, with the test set frozen across iterations (``datasets.build_datasets``).

Inputs: ``datasets/seed/<model_type>/train.csv`` (the original labelled data, imported by the
CLI), the pool version of this iteration and ``datasets/split-state/<model_type>.json`` (the
previous build's split). Outputs, each written once: ``datasets/<dataset_version>/train.csv``,
``test.csv`` and ``manifest.json``; then the new split state. A data set that breaks a
Comprehend rule fails the step with ``Textloop.DatasetInvalid``; the report (every problem, with
examples) is written to ``datasets/<dataset_version>/validation-report.json``.

Environment: DATA_LAKE_BUCKET.
AWS: s3:GetObject (datasets/*, annotations/*), s3:PutObject (datasets/*).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import iteration, step_events
from textloop.adapters.environment import Stack
from textloop.datasets import BuildConfig, ValidationRules, build_datasets, parse_classifier_csv

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(iteration=step_events.ITERATION, pool=step_events.POOL)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "build_datasets")
    it = event["iteration"]
    logger.set_correlation_id(it["execution_arn"])
    model_type, mode, config = it["model_type"], it["mode"], it["config"]
    seed_text = stack.lake.get_text(iteration.seed_key(model_type))
    seed = parse_classifier_csv(seed_text, mode, name="seed train.csv") if seed_text else []
    pool_version = event["pool"]["pool_version"]
    pool = stack.pools.get(pool_version) if pool_version else None
    state_key = iteration.split_state_key(model_type)
    build = build_datasets(
        model_type=model_type,
        mode=mode,
        pool=pool,
        original_documents=seed,
        split_state=stack.lake.get_json(state_key),
        config=BuildConfig(
            test_share=config["test_share"],
            # The model type, not the iteration: the same documents must split the same way
            # whichever iteration first sees them.
            seed=model_type,
            rules=ValidationRules(min_docs_per_label=config["min_docs_per_label"]),
        ),
        strict=False,
    )
    version = build.dataset_version
    if not build.report.ok:
        report_key = iteration.dataset_key(version, "validation-report.json")
        stack.lake.put_json(
            report_key, {**build.report.to_dict(), "rendered": build.report.render()}
        )
        metrics.add_metric(name="DatasetInvalid", unit=MetricUnit.Count, value=1)
        raise iteration.DatasetInvalid(
            f"{build.report.render()}\n(report: {stack.lake.uri(report_key)})"
        )
    for name, body in build.files.items():
        stack.lake.put_text(iteration.dataset_key(version, name), body, "text/csv", once=True)
    manifest_key = iteration.dataset_key(version, "manifest.json")
    stack.lake.put_json(manifest_key, build.manifest, once=True)
    stack.lake.put_json(state_key, build.split_state)
    counts = {
        "train": build.manifest["train"]["documents"],
        "test": build.manifest["test"]["documents"],
        "labels": len(build.manifest["labels"]),
    }
    logger.info("data set built", extra={"dataset_version": version, "counts": counts})
    return {
        "dataset_version": version,
        "manifest_key": manifest_key,
        "train_uri": stack.lake.uri(iteration.dataset_key(version, "train.csv")),
        "test_uri": stack.lake.uri(iteration.dataset_key(version, "test.csv")),
        "test_set_hash": build.test_set_hash,
        "counts": counts,
    }
