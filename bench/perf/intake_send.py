"""The classify path's feedback write: in-process cost of one SQS SendMessage.

A prediction routed to review is sent to the intake queue (``FeedbackQueue.send``, one
``SendMessage`` per record) before classify answers. This times that call alone, over
``--sends`` distinct records (a distinct id each: a repeat is answered from memory, not sent),
against moto's SQS in this process (botocore's request building, signing and parsing: the
in-process cost) and against a LocalStack SQS on this host (the same plus an HTTP round trip
over loopback), if LocalStack starts (``--no-localstack`` skips it). It also times a send on a
background thread overlapped with building the answer, as classify could do.

    .venv/bin/python -m bench.perf.intake_send [--sends 2000] [--no-localstack]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bench.perf.common import ag_news_rows, fmt_ms, latency_summary, machine, save

ENV = {
    # Fake credentials: moto and LocalStack take any; nothing can reach an account.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def records(n: int) -> list[Any]:
    """``n`` implicit records of AG News texts (cycled; a counter keeps their ids distinct)."""
    from textloop.domain.feedback import build_implicit_record
    from textloop.domain.predictions import LabelScore, Prediction
    from textloop.domain.thresholds import Thresholds, route

    rows = ag_news_rows()
    now = datetime.now(UTC)
    thresholds = Thresholds(default=1)  # every prediction routed, as on the routed path
    out = []
    for i in range(n):
        label, text = rows[i % len(rows)]
        others = [x for x in ("World", "Sports", "Business", "SciTech") if x != label]
        prediction = Prediction(
            model_type="DOCUMENT_CLASSIFIER",
            model_version="bench-1",
            mode="MULTI_CLASS",
            labels=(LabelScore(label, 0.4), *(LabelScore(x, 0.2) for x in others)),
        )
        out.append(
            build_implicit_record(
                text=f"{text} ({i})",
                prediction=prediction,
                decision=route(prediction, thresholds),
                thresholds=thresholds,
                observed_at=now,
                request_id=f"bench-{i}",
                application_id="bench",
            )
        )
    return out


def time_sends(queue: Any, batch: list[Any], cpu: list[float] | None = None) -> list[float]:
    """Wall ms per send; ``cpu`` gets this thread's CPU ms per send (what a loaded machine's
    other processes cannot inflate)."""
    samples = []
    for record in batch:
        start, start_cpu = time.perf_counter(), time.thread_time()
        queue.send(record)
        samples.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - start_cpu) * 1000)
    return samples


def stubbed(batch: list[Any]) -> dict[str, Any]:
    """botocore alone: the request validated, serialised and answered by a Stubber (no signing,
    no HTTP), the client-side floor of a send."""
    import boto3
    from botocore.stub import Stubber
    from textloop.adapters.feedback_queue import FeedbackQueue

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/bench-feedback"
    # SendMessage's answer as in AWS's example,
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
    answer = {
        "MD5OfMessageBody": "fafb00f5732ab283681e124bf8747ed1",
        "MessageId": "5fea7756-0ea4-451a-a703-a558b933e274",
    }
    cpu: list[float] = []
    with Stubber(sqs) as stub:
        for _ in batch:
            stub.add_response("send_message", answer)
        samples = time_sends(FeedbackQueue(sqs, url), batch, cpu)
    return {"send": latency_summary(samples), "cpu": latency_summary(cpu)}


def time_overlapped(queue: Any, batch: list[Any]) -> list[float]:
    """The send on a worker thread while the answer is built, joined before returning (a Lambda
    is frozen once it answers, so the send must finish first; only the overlap can be saved)."""
    from textloop.domain.hashing import canonical_json

    samples = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for record in batch:
            start = time.perf_counter()
            future = pool.submit(queue.send, record)
            canonical_json({"prediction": record.prediction.to_dict(), "request_id": "r"})
            future.result()
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def against(sqs: Any, batch: list[Any]) -> dict[str, Any]:
    from textloop.adapters.feedback_queue import FeedbackQueue

    url = sqs.create_queue(QueueName=f"bench-feedback-{os.getpid()}-{time.time_ns()}")["QueueUrl"]
    half = len(batch) // 2
    # Warm-up: the first call builds botocore's service model and connection.
    FeedbackQueue(sqs, url).send(batch[0])
    cpu: list[float] = []
    sync = time_sends(FeedbackQueue(sqs, url), batch[1 : half + 1], cpu)
    overlapped = time_overlapped(FeedbackQueue(sqs, url), batch[half + 1 :])
    queued = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    return {
        "send": latency_summary(sync),
        "cpu": latency_summary(cpu),
        "overlapped": latency_summary(overlapped),
        "queued": queued,
        "sent": len(batch),
    }


def measure(sends: int, localstack: bool) -> dict[str, Any]:
    os.environ.update(ENV)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    import boto3
    from moto import mock_aws

    batch = records(2 * sends + 1)
    result: dict[str, Any] = {"sends": sends, "machine": machine()}
    result["stubbed"] = stubbed(batch[:sends])
    with mock_aws():
        result["moto"] = against(boto3.client("sqs"), batch)
    if localstack:
        result["localstack"] = localstack_run(batch)
    return result


def localstack_run(batch: list[Any]) -> dict[str, Any] | str:
    import boto3

    from textloop_ops import localstack

    with tempfile.TemporaryDirectory(prefix="textloop-bench-sqs-") as state:
        started = time.perf_counter()
        try:
            info = localstack.start(state, services="sqs")
        except localstack.LocalStackError as exc:
            return f"LocalStack did not start: {exc}"
        try:
            sqs = boto3.client("sqs", endpoint_url=info["endpoint"])
            out = against(sqs, batch)
            out["localstack_start_s"] = time.perf_counter() - started
            return out
        finally:
            localstack.stop(state)


def table(result: dict[str, Any]) -> str:
    lines = [
        "| SQS | how | n | mean ms | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for where in ("stubbed", "moto", "localstack"):
        part = result.get(where)
        if not isinstance(part, dict):
            continue
        for how, key in (
            ("SendMessage, wall", "send"),
            ("SendMessage, CPU of the thread", "cpu"),
            ("overlapped with the answer, wall", "overlapped"),
        ):
            if key not in part:
                continue
            s = part[key]
            lines.append(
                f"| {where} | {how} | {s['n']} | {fmt_ms(s['mean_ms'])} | {fmt_ms(s['p50_ms'])} "
                f"| {fmt_ms(s['p95_ms'])} | {fmt_ms(s['p99_ms'])} | {fmt_ms(s['max_ms'])} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--no-localstack", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.sends, not args.no_localstack)
    save("intake_send", result)
    print(table(result))
    return result


if __name__ == "__main__":
    main()
