"""Part 2: classify latency over HTTP through LocalStack (API Gateway REST -> Lambda).

The stack is deployed with Terraform (terraform/envs/local) on a LocalStack of its own, a first
model is trained and promoted by a bootstrap iteration, then POST /classify is called with a
``requests.Session`` (keep-alive), one request at a time. The first request (which starts the
function's host process: a cold start) is reported apart. The handler's own duration per call is
read back from the function's REPORT log lines, which separates function time from the
gateway + executor path.

    .venv/bin/python -m bench.perf.http_latency [--requests 300]
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from bench.perf.classify_latency import sixty_word_text
from bench.perf.common import ag_news_rows, latency_summary, machine, save
from bench.perf.localstack_stack import SEED_ROWS, Stack, deployed

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
                        {"duration_ms": float(duration), "init_ms": float(init) if init else 0}
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    with deployed() as stack:
        result = measure_on(stack, args.requests)
        save("http_latency", result)
        print(table(result), flush=True)
    return result


if __name__ == "__main__":
    main()
