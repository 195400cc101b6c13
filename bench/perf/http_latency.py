"""Part 2: classify latency over HTTP through LocalStack (API Gateway REST -> Lambda).

The stack is deployed with Terraform (terraform/envs/local) on a LocalStack of its own, a first
model is trained and promoted by a bootstrap iteration, then POST /classify is called with a
``requests.Session`` (keep-alive), one request at a time. The first request (which starts the
function's host process: a cold start) is reported apart. The handler's own duration per call is
read back from the function's REPORT log lines, which separates function time from the
gateway + executor path.

Then ``--concurrency`` (8 and 32) clients call it at once, each with a session of its own,
``--requests-per-client`` requests each: throughput (requests answered per second of wall time),
p50/p99 and every failure (a status other than 200, or no answer within the timeout). Every
request counts: nothing is retried by the clients. Beside the figures: the classify function's
reserved concurrency (each request in flight holds one execution environment, so more clients
than that are throttled) and, for failures, the reason LocalStack's API Gateway logged for each
5xx it made (e.g. ``TooManyRequestsException``: Lambda throttled the invocation).

    .venv/bin/python -m bench.perf.http_latency [--requests 300] [--concurrency 8,32]
        [--requests-per-client 50]
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.perf.classify_latency import sixty_word_text
from bench.perf.common import ag_news_rows, latency_summary, machine, save
from bench.perf.localstack_stack import SEED_ROWS, Stack, deployed

# Issue 14's concurrent clients; classify's reserved concurrency must cover the largest
# (tests/unit/test_capacity.py), or the extra requests are throttled.
CLIENTS = (8, 32)
# classify's reserved concurrency before issue 14's fix, rerun for comparison.
FORMER_CLASSIFY_RESERVED = 10

REPORT = re.compile(
    r"REPORT RequestId: \S+\t(?:Init Duration: ([\d.]+) ms\t)?Duration: ([\d.]+) ms"
)


def report_durations(stack: Stack, function_key: str, since_ms: int) -> list[dict[str, float]]:
    """Handler durations (and init durations, on cold starts) from the function's REPORT lines
    in CloudWatch Logs. Log delivery is asynchronous: wait until the count stops growing."""
    logs = stack.client("logs")
    group = f"/aws/lambda/{stack.outputs['function_names'][function_key]}"
    found: list[dict[str, float]] = []
    previous, stable = -1, 0
    while stable < 3:
        found = []
        kwargs = {"logGroupName": group, "startTime": since_ms, "filterPattern": "REPORT"}
        while True:
            page = logs.filter_log_events(**kwargs)
            for event in page.get("events", []):
                match = REPORT.search(event["message"])
                if match:
                    init, duration = match.groups()
                    found.append(
                        {
                            "duration_ms": float(duration),
                            "init_ms": float(init) if init else 0,
                            # The executor's REPORT line of an invocation it stopped at the
                            # function's timeout (the runtime never wrote one).
                            "timeout": "Status: timeout" in event["message"],
                        }
                    )
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        stable = stable + 1 if len(found) == previous else 0
        previous = len(found)
        time.sleep(0.5)
    return found


def measure_on(stack: Stack, n: int = 300) -> dict[str, Any]:
    rows = ag_news_rows()
    text = sixty_word_text(rows[SEED_ROWS:])
    since_ms = int(time.time() * 1000) - 1000
    url = f"{stack.base}classify"
    samples, statuses, routed = [], {}, 0
    t0 = time.perf_counter()
    first = stack.session.post(url, json={"text": text}, timeout=120)
    cold_ms = (time.perf_counter() - t0) * 1000
    if first.status_code != 200:
        raise RuntimeError(f"classify answered {first.status_code}: {first.text[:300]}")
    for _ in range(n):
        start = time.perf_counter()
        response = stack.session.post(url, json={"text": text}, timeout=120)
        samples.append((time.perf_counter() - start) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        routed += bool(response.ok and response.json().get("routed_to_review"))
    reports = report_durations(stack, "classify", since_ms)
    handler = [r["duration_ms"] for r in reports]
    inits = [r["init_ms"] for r in reports if r["init_ms"]]
    return {
        "requests": n,
        "text_words": len(text.split()),
        "cold_first_request_ms": cold_ms,
        "first_answer": first.json(),
        "http": latency_summary(samples),
        "http_samples_ms": samples,
        "statuses": statuses,
        "routed_to_review": routed,
        # The first REPORT is the cold call; the rest pair up with the timed requests.
        "handler_reports": len(reports),
        "handler": latency_summary(handler[1:]) if len(handler) > 1 else None,
        "handler_cold_ms": handler[0] if handler else None,
        "init_durations_ms": inits,
        "deploy_timings": stack.timings,
        "stage": stack.outputs["stage"],
        "machine": machine(),
    }


# LocalStack's AWS_PROXY integration logs this (WARN) for every invocation error it turns into
# a 5xx (localstack/services/apigateway/next_gen/execute_api/integrations/aws.py).
GATEWAY_ERROR = re.compile(
    r"(?:Unexpected exception|Exception) during integration invocation: (.*)"
)
ERROR_CODE = re.compile(r"An error occurred \((\w+)\)")


def reserved_concurrency(stack: Stack) -> int | None:
    """The classify function's reserved concurrency (None: it draws on the account's pool)."""
    name = stack.outputs["function_names"]["classify"]
    answer = stack.client("lambda").get_function_concurrency(FunctionName=name)
    return answer.get("ReservedConcurrentExecutions")


def _log_size(stack: Stack) -> int:
    path = getattr(stack, "localstack_log", None)
    return path.stat().st_size if path and path.exists() else 0


def gateway_errors(stack: Stack, offset: int) -> dict[str, int]:
    """Why LocalStack's API Gateway failed requests since ``offset`` of its log, by error code."""
    path = getattr(stack, "localstack_log", None)
    if not path or not path.exists():
        return {}
    with open(path, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", "replace")
    reasons: dict[str, int] = {}
    for line in text.splitlines():
        match = GATEWAY_ERROR.search(line)
        if match:
            code = ERROR_CODE.search(match.group(1))
            reason = code.group(1) if code else match.group(1)[:120]
            reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def measure_concurrent(stack: Stack, clients: int, per_client: int) -> dict[str, Any]:
    """``clients`` callers at once, ``per_client`` classify requests each, after a barrier so
    they start together; latency of every answered request, failures counted by kind, and the
    gateway's reason for each failure it made."""
    text = sixty_word_text(ag_news_rows()[SEED_ROWS:])
    url = f"{stack.base}classify"
    barrier = threading.Barrier(clients)
    reserved = reserved_concurrency(stack)
    function_timeout = stack.client("lambda").get_function_configuration(
        FunctionName=stack.outputs["function_names"]["classify"]
    )["Timeout"]
    log_offset = _log_size(stack)
    since_ms = int(time.time() * 1000)

    def caller(_: int) -> tuple[list[float], dict[str, int]]:
        session = requests.Session()
        session.headers.update(stack.session.headers)
        session.trust_env = False
        latencies, outcomes = [], {}
        barrier.wait()
        for _ in range(per_client):
            start = time.perf_counter()
            try:
                response = session.post(url, json={"text": text}, timeout=120)
                kind = str(response.status_code)
            except requests.RequestException as exc:
                kind = type(exc).__name__
            latencies.append((time.perf_counter() - start) * 1000)
            outcomes[kind] = outcomes.get(kind, 0) + 1
        return latencies, outcomes

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        parts = list(pool.map(caller, range(clients)))
    wall = time.perf_counter() - t0
    samples = [ms for latencies, _ in parts for ms in latencies]
    outcomes: dict[str, int] = {}
    for _, counted in parts:
        for kind, n in counted.items():
            outcomes[kind] = outcomes.get(kind, 0) + n
    ok = outcomes.get("200", 0)
    # Where the tail comes from: environments started for this run, and the handler's own time.
    reports = report_durations(stack, "classify", since_ms)
    inits = [r["init_ms"] for r in reports if r["init_ms"]]
    return {
        "clients": clients,
        "requests": len(samples),
        "ok": ok,
        "failed": len(samples) - ok,
        "outcomes": outcomes,
        "classify_reserved_concurrency": reserved,
        "gateway_errors": gateway_errors(stack, log_offset),
        "handler_reports": len(reports),
        "handler": latency_summary([r["duration_ms"] for r in reports]) if reports else None,
        "timeouts": sum(r["timeout"] for r in reports),
        "function_timeout_s": function_timeout,
        "cold_starts": len(inits),
        "init_max_ms": max(inits, default=None),
        "wall_seconds": wall,
        "throughput_rps": ok / wall,
        "latency": latency_summary(samples),
        "machine": machine(),
    }


def concurrent_table(runs: list[dict[str, Any]]) -> str:
    from bench.perf.common import fmt_ms

    lines = [
        "| concurrent clients | classify reserved concurrency | requests | answered 200 | failed "
        "| throughput req/s | p50 ms | p99 ms | max ms | load average (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        s = r["latency"]
        # Runs saved before the column existed did not record it.
        reserved = r.get("classify_reserved_concurrency", "?")
        lines.append(
            f"| {r['clients']} | {'none' if reserved is None else reserved} | "
            f"{r['requests']:,} | {r['ok']:,} | {r['failed']:,} | "
            f"{r['throughput_rps']:.1f} | {fmt_ms(s['p50_ms'])} | {fmt_ms(s['p99_ms'])} | "
            f"{fmt_ms(s['max_ms'])} | {r['machine']['loadavg'][0]:.1f} |"
        )
    return "\n".join(lines)


def failure_notes(runs: list[dict[str, Any]]) -> str:
    """One sentence per run with failures: what the clients saw and why the gateway made it."""
    notes = []
    for r in runs:
        if not r["failed"]:
            continue
        seen = ", ".join(f"{n:,} x {k}" for k, n in sorted(r["outcomes"].items()) if k != "200")
        reasons = r.get("gateway_errors") or {}
        if "gateway_errors" not in r:
            why = "the gateway's reasons were not recorded by this run"
        elif reasons:
            why = "LocalStack's API Gateway logged " + ", ".join(
                f"{n:,} x {k}" for k, n in sorted(reasons.items())
            )
        else:
            why = "no gateway error logged"
        notes.append(f"{r['clients']} clients: {seen} ({why}).")
        if r.get("timeouts"):
            load = r["machine"]["loadavg"][0]
            notes.append(
                f"{r['timeouts']:,} invocations ran into classify's {r['function_timeout_s']} s "
                f"timeout (REPORT lines with Status: timeout; the gateway answers a function "
                f"error 502 without logging it): {r['cold_starts']} environments started during "
                f"the run, and a new environment's first request loads the model, CPU work "
                f"that {r['clients']} clients starting together share with everything else on "
                f"{r['machine']['nproc']} cores (load average {load:.1f}): the machine's load, "
                "not a limit of the deployment."
            )
        reserved = r.get("classify_reserved_concurrency")
        if "TooManyRequestsException" in reasons and reserved is not None:
            notes.append(
                f"Lambda throttled invocations beyond classify's reserved concurrency "
                f"({reserved}) with {r['clients']} requests in flight; LocalStack's gateway "
                "retries a throttled invoke 4 times and then answers 502 (AWS's answers 500 "
                "at once)."
            )
    return " ".join(notes)


def concurrent_section(result: dict[str, Any]) -> list[str]:
    """Report lines: the concurrent runs (and the reserved-concurrency comparison, if run),
    then why any request failed."""
    runs = result["concurrent"]
    comparison = result.get("reserved_comparison") or []
    lines = [concurrent_table(runs + comparison), ""]
    if comparison:
        c = comparison[0]
        lines += [
            f"Last row: the same {c['clients']} clients right after, on the same stack, with "
            f"classify's reserved concurrency set to {c['classify_reserved_concurrency']} (the "
            "default before issue 14's fix) by `PutFunctionConcurrency`.",
            "",
        ]
    lines += [failure_notes(runs + comparison) or "No request failed.", ""]
    tails = [
        f"{r['clients']} clients (reserved {r.get('classify_reserved_concurrency')}): "
        f"{r['cold_starts']} new environments (Init Duration up to "
        f"{r['init_max_ms'] / 1000:.1f} s), handler Duration p50 {r['handler']['p50_ms']:.0f} ms,"
        f" p99 {r['handler']['p99_ms']:.0f} ms, max {r['handler']['max_ms'] / 1000:.1f} s"
        for r in runs + comparison
        if r.get("handler") and r.get("init_max_ms")
    ]
    if tails:
        lines += [
            "Where the tail comes from (the function's REPORT lines during each run; a new "
            "environment's first request also loads the model): " + "; ".join(tails) + ".",
            "",
        ]
    return lines


def table(result: dict[str, Any]) -> str:
    from bench.perf.common import fmt_ms

    lines = [
        "| what | n | mean ms | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [("HTTP round trip (client -> API Gateway -> Lambda -> client)", result["http"])]
    if result.get("handler"):
        rows.append(("of which: handler Duration (REPORT line)", result["handler"]))
    for name, s in rows:
        lines.append(
            f"| {name} | {s['n']} | {fmt_ms(s['mean_ms'])} | {fmt_ms(s['p50_ms'])} | "
            f"{fmt_ms(s['p95_ms'])} | {fmt_ms(s['p99_ms'])} | {fmt_ms(s['max_ms'])} |"
        )
    init = result["init_durations_ms"][0] if result["init_durations_ms"] else None
    cold = f"{fmt_ms(result['cold_first_request_ms'])}"
    lines.append(
        f"| cold: first request (new host process; Init Duration "
        f"{fmt_ms(init) if init else '?'} ms, handler {fmt_ms(result['handler_cold_ms'] or 0)} ms)"
        f" | 1 | {cold} | | | | |"
    )
    return "\n".join(lines)


def measure_with_reserved(
    stack: Stack, clients: int, per_client: int, reserved: int
) -> dict[str, Any]:
    """``measure_concurrent`` with classify's reserved concurrency set to ``reserved`` (e.g. the
    former default, 10) on the same stack, then put back: the before and after of one change
    under the same load."""
    lam = stack.client("lambda")
    name = stack.outputs["function_names"]["classify"]
    deployed_value = reserved_concurrency(stack)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    try:
        return measure_concurrent(stack, clients, per_client)
    finally:
        if deployed_value is None:
            lam.delete_function_concurrency(FunctionName=name)
        else:
            lam.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=deployed_value
            )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--concurrency",
        default=",".join(map(str, CLIENTS)),
        help="comma-separated client counts",
    )
    parser.add_argument("--requests-per-client", type=int, default=50)
    parser.add_argument(
        "--compare-reserved",
        type=int,
        help="then the largest client count again with classify's reserved concurrency at this",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="LocalStack and Terraform state here (kept afterwards) instead of a temp dir",
    )
    parser.add_argument(
        "--local-model",
        default="tfidf",
        help="the active model's local_model kind (results of another kind than tfidf are "
        "saved as http_latency_<kind>)",
    )
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with deployed(
        args.workdir.resolve() if args.workdir else None,
        bootstrap={"local_model": args.local_model},
    ) as stack:
        result = measure_on(stack, args.requests)
        result["local_model"] = args.local_model
        print(table(result), flush=True)
        result["concurrent"] = [
            measure_concurrent(stack, int(c), args.requests_per_client)
            for c in args.concurrency.split(",")
            if c
        ]
        if args.compare_reserved is not None:
            clients = max(r["clients"] for r in result["concurrent"])
            result["reserved_comparison"] = [
                measure_with_reserved(
                    stack, clients, args.requests_per_client, args.compare_reserved
                )
            ]
        name = "http_latency"
        if args.local_model != "tfidf":
            name += "_" + args.local_model.replace("+", "_")
        save(name, result)
        runs = result["concurrent"] + result.get("reserved_comparison", [])
        print(concurrent_table(runs), flush=True)
        if notes := failure_notes(runs):
            print(notes, flush=True)
    return result


if __name__ == "__main__":
    main()
