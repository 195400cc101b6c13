"""The classify path's feedback write: in-process cost of one SQS SendMessage.

A prediction routed to review is sent to the intake queue (``FeedbackQueue.send``, one
``SendMessage`` per record) before classify answers. This times that call alone, over
``--sends`` distinct records (a distinct id each: a repeat is answered from memory, not sent),
two ways per endpoint: the CPU time of the sending thread (``time.thread_time``: botocore's
request building, signing, the HTTP exchange's own work and the response's parsing, the
in-process cost, which other processes on a busy machine do not inflate much) and the wall
time (that plus waiting for the endpoint's answer). Endpoints: botocore with a Stubber (no
signing, no HTTP), moto's SQS in this process (moto's emulation runs on the same thread, so
its CPU counts too), and a LocalStack SQS on this host over loopback HTTP, if LocalStack starts
(``--no-localstack`` skips it): the closest to a real send. Against LocalStack it also counts
the TCP connections opened (one client and one kept-alive connection for all sends: an audit
hook on ``socket.connect``) and splits the sending thread's CPU by botocore stage (cProfile
with a thread-CPU timer, own time by module). It also times a send on a background thread
overlapped with building the answer, as classify could do.

    .venv/bin/python -m bench.perf.intake_send [--sends 2000] [--no-localstack]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bench.perf.common import ag_news_rows, fmt_ms, latency_summary, machine, save

# Sent under cProfile against LocalStack for the split by stage (not in the timed figures).
PROFILED_SENDS = 300

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


_CONNECTS = [0]


def _count_connects(event: str, _args: Any) -> None:
    if event == "socket.connect":
        _CONNECTS[0] += 1


# Own CPU time by where it is spent: the first matching fragment of the function's file names
# the stage (botocore's modules, then the HTTP stack); a built-in or stdlib function's time goes
# to the stage of its main caller.
STAGES = (
    ("signing (SigV4)", ("botocore/auth.py", "botocore/signers.py")),
    ("User-Agent header", ("botocore/useragent.py",)),
    ("validation and serialisation", ("botocore/validate.py", "botocore/serialize.py")),
    ("response parsing", ("botocore/parsers.py",)),
    (
        "HTTP (urllib3, http.client, sockets)",
        (
            "urllib3/",
            "http/client.py",
            "socket.py",
            "botocore/httpsession.py",
            "botocore/awsrequest",
        ),
    ),
    ("event hooks, retries and the rest of botocore", ("botocore/", "boto3/")),
    ("the record's JSON body (textloop)", ("textloop/", "json/")),
)
OTHER = "other"


def _stage(filename: str) -> str:
    return next(
        (label for label, parts in STAGES if any(part in filename for part in parts)), OTHER
    )


def cpu_by_stage(queue: Any, batch: list[Any]) -> dict[str, float]:
    """Share of the sending thread's CPU per stage over ``batch`` (cProfile, thread CPU timer;
    profiling inflates small functions, so the shares are indicative, the totals elsewhere)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for record in batch:
        queue.send(record)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    stages: dict[Any, str] = {}

    def stage_of(func: Any, seen: frozenset = frozenset()) -> str:
        # A built-in or a stdlib helper (hmac, email's header parser, threading) counts for the
        # stage of the caller that spent the most time in it.
        if func not in stages:
            stage = _stage(func[0]) if func[0] != "~" else OTHER
            callers = stats[func][4] if func in stats else {}
            if stage == OTHER and callers and func not in seen:
                top = max(callers, key=lambda caller: callers[caller][3])
                stage = stage_of(top, seen | {func})
            stages[func] = stage
        return stages[func]

    shares: dict[str, float] = {name: 0.0 for name, _ in STAGES}
    shares[OTHER] = 0.0
    for func, (_, _, own, _, _) in stats.items():
        shares[stage_of(func)] += own
    total = sum(shares.values()) or 1.0
    return {name: own / total for name, own in shares.items()}


def against(sqs: Any, batch: list[Any], profiled: list[Any] | None = None) -> dict[str, Any]:
    """Sends ``batch``: the first record warms up, half of the rest is timed one send at a
    time, the other half overlapped; ``profiled`` records, if any, are sent under cProfile."""
    from textloop.adapters.feedback_queue import FeedbackQueue

    url = sqs.create_queue(QueueName=f"bench-feedback-{os.getpid()}-{time.time_ns()}")["QueueUrl"]
    half = len(batch) // 2
    queue = FeedbackQueue(sqs, url)
    # Warm-up: the first call builds botocore's service model and connection.
    queue.send(batch[0])
    cpu: list[float] = []
    connects = _CONNECTS[0]
    sync = time_sends(queue, batch[1 : half + 1], cpu)
    connects = _CONNECTS[0] - connects
    overlapped = time_overlapped(queue, batch[half + 1 :])
    stages = cpu_by_stage(queue, profiled) if profiled else None
    queued = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    out = {
        "send": latency_summary(sync),
        "cpu": latency_summary(cpu),
        "overlapped": latency_summary(overlapped),
        "queued": queued,
        "sent": len(batch) + len(profiled or ()),
        "connections_opened_while_timed": connects,
    }
    if stages:
        out["cpu_by_stage"] = stages
    return out


def measure(sends: int, localstack: bool) -> dict[str, Any]:
    os.environ.update(ENV)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    import boto3
    from moto import mock_aws

    sys.addaudithook(_count_connects)
    batch = records(2 * sends + 1 + PROFILED_SENDS)
    profiled, batch = batch[:PROFILED_SENDS], batch[PROFILED_SENDS:]
    result: dict[str, Any] = {"sends": sends, "machine": machine()}
    result["stubbed"] = stubbed(batch[:sends])
    with mock_aws():
        result["moto"] = against(boto3.client("sqs"), batch)
    if localstack:
        result["localstack"] = localstack_run(batch, profiled)
    result["machine_after"] = machine()
    return result


def localstack_run(batch: list[Any], profiled: list[Any]) -> dict[str, Any] | str:
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
            out = against(sqs, batch, profiled)
            out["endpoint"] = info["endpoint"]
            out["localstack_start_s"] = time.perf_counter() - started
            return out
        finally:
            localstack.stop(state)


ENDPOINTS = {
    "stubbed": "botocore Stubber (no signing, no HTTP)",
    "moto": "moto in this process (its emulation on the same thread)",
    "localstack": "LocalStack SQS over loopback HTTP",
}


def table(result: dict[str, Any]) -> str:
    lines = [
        "| endpoint | what is timed | n | mean ms | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for where in ("stubbed", "moto", "localstack"):
        part = result.get(where)
        if not isinstance(part, dict):
            continue
        endpoint = ENDPOINTS[where]
        if part.get("endpoint"):
            endpoint += f" (`{part['endpoint']}`)"
        for how, key in (
            ("SendMessage, wall time", "send"),
            ("SendMessage, CPU time of the sending thread", "cpu"),
            ("send on a thread overlapped with the answer, wall time", "overlapped"),
        ):
            if key not in part:
                continue
            s = part[key]
            lines.append(
                f"| {endpoint} | {how} | {s['n']} | {fmt_ms(s['mean_ms'])} | {fmt_ms(s['p50_ms'])} "
                f"| {fmt_ms(s['p95_ms'])} | {fmt_ms(s['p99_ms'])} | {fmt_ms(s['max_ms'])} |"
            )
    return "\n".join(lines)


def stage_table(result: dict[str, Any]) -> str:
    """Where the sending thread's CPU goes against LocalStack, by stage."""
    part = result.get("localstack")
    if not isinstance(part, dict) or "cpu_by_stage" not in part:
        return ""
    lines = ["| stage of a send | share of the thread's CPU |", "|---|---|"]
    for name, share in sorted(part["cpu_by_stage"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {share:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--no-localstack", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.sends, not args.no_localstack)
    save("intake_send", result)
    print(table(result))
    print(stage_table(result))
    return result


if __name__ == "__main__":
    main()
