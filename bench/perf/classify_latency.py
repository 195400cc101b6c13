"""Part 1: latency of the classify handler called in-process, local scikit-learn back-end.

The real ``functions/classify/app.py`` handler is loaded and called directly with an API
Gateway REST event; S3 and SSM are moto's in-memory fakes. What is timed is ``handler(event,
context)`` only: no Lambda invoke, no HTTP. The first call after import (which reads the pointer
from SSM and loads the model artefact from S3) is reported apart as the cold call; the import
itself is the Lambda init phase and is reported too.

    .venv/bin/python -m bench.perf.classify_latency [--calls 1000] [--train-rows 1600]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import runpy
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.perf.common import REPO, ag_news_rows, latency_summary, machine, save

FUNCTION_DIR = REPO / "functions" / "classify"
BUCKET = "textloop-bench-data-lake"
PREFIX = "/textloop/bench"

ENV = {
    # Fake credentials: moto intercepts every call, nothing can reach an account.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "textloop",
    "POWERTOOLS_METRICS_NAMESPACE": "textloop",
    # No X-Ray daemon here; on AWS the tracer adds its own (small, async UDP) cost.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "textloop-bench-classify",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "DATA_LAKE_BUCKET": BUCKET,
    "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
    "STAGE": "bench",
}


def sixty_word_text(rows: list[tuple[str, str]]) -> str:
    """An AG News text of about 60 words: two consecutive articles of one label joined, cut to
    60 words (AG News items are 25-45 words, shorter than a typical request)."""
    for (label_a, a), (label_b, b) in itertools.pairwise(rows):
        if label_a == label_b == "Sports":
            words = f"{a} {b}".split()
            if len(words) >= 60:
                return " ".join(words[:60])
    raise RuntimeError("no pair of Sports articles with 60 words")


def _load_handler():
    """The function's handler as the Lambda runtime loads it: its app.py run once (a new Lambda
    instance, with its own Stack, each time)."""
    return runpy.run_path(str(FUNCTION_DIR / "app.py"))["handler"]


@contextlib.contextmanager
def _quiet_stdout():
    """powertools writes one JSON log line and one EMF metrics line per call to stdout (as on
    Lambda, where CloudWatch collects them). They are still formatted and written, but to a
    null sink, so the terminal does not slow the loop down."""
    saved = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - closed in finally
    try:
        yield
    finally:
        sys.stdout.close()
        sys.stdout = saved


def measure(calls: int = 1000, train_rows: int = 1600, routed_calls: int = 200) -> dict[str, Any]:
    os.environ.update(ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    import boto3
    from moto import mock_aws
    from textloop.adapters.active_model import (
        ActiveModelPointer,
        ActiveModelPointerStore,
        pointer_parameter_name,
    )
    from textloop.adapters.artefacts import ModelArtefactStore
    from textloop.domain import local_model

    from tests.support.events import rest_event
    from tests.support.lambdas import Context

    rows = ag_news_rows()
    train = rows[:train_rows]
    t0 = time.perf_counter()
    model = local_model.fit(
        [t for _, t in train],
        [label for label, _ in train],
        "MULTI_CLASS",
        model_version="agnews-bench-1",
        now=datetime(2025, 11, 1, tzinfo=UTC),
    )
    fit_s = time.perf_counter() - t0
    artefact = local_model.save(model)
    text = sixty_word_text(rows[train_rows:])
    body = {"text": text}

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        # Routed predictions are sent to the intake queue, as Terraform wires classify.
        os.environ["FEEDBACK_QUEUE_URL"] = boto3.client("sqs").create_queue(
            QueueName="textloop-bench-feedback"
        )["QueueUrl"]
        uri = ModelArtefactStore(s3, BUCKET).put(model.model_version, artefact, model.metadata)
        ActiveModelPointerStore(
            boto3.client("ssm"), pointer_parameter_name(PREFIX, "DOCUMENT_CLASSIFIER")
        ).put(
            ActiveModelPointer(
                model_version=model.model_version,
                backend="local",
                model_type="DOCUMENT_CLASSIFIER",
                mode="MULTI_CLASS",
                artefact_uri=uri,
            )
        )

        # The Logger binds sys.stdout when app.py is loaded, so the null sink must be in place
        # before the import, not only around the calls.
        quiet = _quiet_stdout()
        quiet.__enter__()
        t0 = time.perf_counter()
        handler = _load_handler()
        import_ms = (time.perf_counter() - t0) * 1000

        def context() -> Context:
            return Context(
                function_name=ENV["AWS_LAMBDA_FUNCTION_NAME"],
                function_version="$LATEST",
                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench",
                memory_limit_in_mb=1024,
                timeout_seconds=30,
            )

        def one_call(request_body: dict) -> tuple[float, dict]:
            # Event and context are built outside the timed region: API Gateway and the Lambda
            # runtime build them, not the function.
            event, ctx = rest_event("/classify", "POST", request_body), context()
            start = time.perf_counter()
            answer = handler(event, ctx)
            return (time.perf_counter() - start) * 1000, answer

        try:
            cold_ms, cold_answer = one_call(body)
            assert cold_answer["statusCode"] == 200, cold_answer
            samples = []
            routed = 0
            # No GC pauses were disabled: a Lambda runs with the collector on, too.
            for _ in range(calls):
                ms, answer = one_call(body)
                samples.append(ms)
                routed += '"routed_to_review":true' in answer["body"].replace(" ", "")

            # The routed path: every prediction below a threshold of 1 sends an implicit
            # feedback record (SQS SendMessage to moto). Same code, one more variable.
            os.environ["THRESHOLD_OVERRIDE"] = '{"default": 1}'
            handler = _load_handler()
            routed_samples = []
            one_call(body)  # cold, not counted
            for i in range(routed_calls):
                # A different text each call: the record id is a content hash, and an
                # identical record would be answered from memory (a duplicate), not sent.
                ms, answer = one_call({"text": f"{text} ({i})"})
                routed_samples.append(ms)
        finally:
            quiet.__exit__(None, None, None)
            os.environ.pop("THRESHOLD_OVERRIDE", None)
        gc.collect()

    return {
        "calls": calls,
        "train_rows": train_rows,
        "fit_seconds": fit_s,
        "artefact_bytes": len(artefact),
        "text_words": len(text.split()),
        "text": text,
        "import_ms": import_ms,
        "cold_call_ms": cold_ms,
        "first_answer": cold_answer["body"],
        "warm": latency_summary(samples),
        "warm_samples_ms": samples,
        "routed_in_warm_loop": routed,
        "routed_path": latency_summary(routed_samples),
        "machine": machine(),
    }


def table(result: dict[str, Any]) -> str:
    from bench.perf.common import fmt_ms

    warm, routed = result["warm"], result["routed_path"]
    lines = [
        "| path | n | mean ms | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in [
        ("warm, not routed (the measured target)", warm),
        ("warm, routed to review (sends a feedback record to SQS/moto)", routed),
    ]:
        lines.append(
            f"| {name} | {s['n']} | {fmt_ms(s['mean_ms'])} | {fmt_ms(s['p50_ms'])} | "
            f"{fmt_ms(s['p95_ms'])} | {fmt_ms(s['p99_ms'])} | {fmt_ms(s['max_ms'])} |"
        )
    lines.append(
        f"| cold: first call after import (SSM pointer + S3 artefact load) | 1 | "
        f"{fmt_ms(result['cold_call_ms'])} | | | | |"
    )
    lines.append(
        f"| init: import of app.py (Lambda init phase) | 1 | {fmt_ms(result['import_ms'])}"
        " | | | | |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--train-rows", type=int, default=1600)
    parser.add_argument("--routed-calls", type=int, default=200)
    args = parser.parse_args(argv)
    result = measure(args.calls, args.train_rows, args.routed_calls)
    save(f"classify_latency_{args.train_rows}", result)
    print(table(result))
    return result


if __name__ == "__main__":
    main()
