"""Part 4: where the wall time of one full iteration goes, on LocalStack.

2,000 implicit-feedback records (AG News texts, predicted by the bootstrap model with every
prediction routed to review) are written to feedback/ as the classify function writes them, one
object each. An iteration then runs with review_budget 2000 in batches of 250; a simulated
reviewer answers every batch through the review API from the AG News labels as soon as it
appears. Afterwards the Step Functions execution history (GetExecutionHistory) gives each
state's entered -> exited time, and the functions' REPORT log lines give the handler time of
every Lambda invocation, which together split the wall time into orchestration, Lambda
compute, training and waiting for people.

    .venv/bin/python -m bench.perf.iteration_overhead [--items 2000] [--batch-size 250]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bench.perf.common import REPO, ag_news_rows, machine, save
from bench.perf.http_latency import REPORT
from bench.perf.localstack_stack import SEED_ROWS, Stack, deployed

MODEL_TYPE = "DOCUMENT_CLASSIFIER"


# --------------------------------------------------------------------------- setup


# The consumer's batch size (Terraform's intake_batch_size default).
FILE_RECORDS = 1000


def put_implicit_feedback(stack: Stack, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """One implicit record per text, built by the same code as the classify path and written as
    the intake queue's consumer writes them (files of up to ``FILE_RECORDS`` records)."""
    from textloop.adapters.active_model import (
        ActiveModelPointerStore,
        ActiveModelProvider,
        backend_loader,
        pointer_parameter_name,
    )
    from textloop.adapters.artefacts import ModelArtefactStore
    from textloop.adapters.lake import DataLake
    from textloop.domain import inference, layout

    bucket = stack.outputs["data_lake_bucket"]
    s3, ssm = stack.client("s3"), stack.client("ssm")
    config = stack.client("lambda").get_function_configuration(
        FunctionName=stack.outputs["function_names"]["classify"]
    )
    prefix = config["Environment"]["Variables"]["ACTIVE_MODEL_PARAMETER_PREFIX"]
    provider = ActiveModelProvider(
        ActiveModelPointerStore(ssm, pointer_parameter_name(prefix, MODEL_TYPE)),
        backend_loader(artefact_store=ModelArtefactStore(s3, bucket)),
        # A threshold of 1 routes every prediction: each text becomes an implicit record.
        threshold_override={"default": 1},
    )
    active = provider.current()
    now = datetime.now(UTC)
    records = [
        inference.classify(
            text, active.backend, active.thresholds, now=now, request_id=f"bench-{i}"
        ).record
        for i, (_, text) in enumerate(rows)
    ]
    lake = DataLake(s3, bucket)
    hour = layout.feedback_hour(records[0].observed_at)
    files = [records[i : i + FILE_RECORDS] for i in range(0, len(records), FILE_RECORDS)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda f: lake.put_feedback_file(MODEL_TYPE, hour, f), files))
    written = sum(len(f) for f, result in zip(files, results, strict=True) if result.written)
    return {"records": len(records), "written": written, "put_seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------- run


def run_iteration(stack: Stack, config: dict[str, Any], truth: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    started_at = time.time()
    started = stack.api(
        "POST", "/iterations", {"model_type": MODEL_TYPE, "config": config}, expect=202
    ).json()
    iteration_id = started["iteration_id"]
    answered: dict[str, dict[str, float]] = {}
    api_calls: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, *args, **kwargs):
        start = time.perf_counter()
        response = stack.api(*args, **kwargs)
        api_calls[name].append((time.perf_counter() - start) * 1000)
        return response

    status = "RUNNING"
    deadline = time.monotonic() + 900
    while status == "RUNNING" and time.monotonic() < deadline:
        listed = timed("GET /reviews", "GET", "/reviews", expect=200).json()["reviews"]
        for batch in listed:
            if batch["iteration_id"] != iteration_id or batch["batch_id"] in answered:
                continue
            seen = time.perf_counter() - t0
            task = timed(
                "GET /reviews/{id}", "GET", f"/reviews/{batch['batch_id']}", expect=200
            ).json()
            answers = [
                # The 60-word text of the HTTP benchmark is two Sports articles joined.
                {"item_id": item["item_id"], "labels": [truth.get(item["text"], "Sports")]}
                for item in task["items"]
            ]
            result = timed(
                "POST /reviews/{id}/answers",
                "POST",
                f"/reviews/{batch['batch_id']}/answers",
                {"answers": answers},
                expect=200,
            ).json()
            answered[batch["batch_id"]] = {
                "seen_s": seen,
                "answered_s": time.perf_counter() - t0,
                "items": len(task["items"]),
                "answered": result.get("answered", 0),
            }
        status = timed(
            "GET /iterations/{id}", "GET", f"/iterations/{iteration_id}", expect=200
        ).json()["status"]
        if status == "RUNNING":
            time.sleep(1)
    final = stack.wait_for_iteration(iteration_id, timeout=60)
    wall = time.perf_counter() - t0
    return {
        "iteration_id": iteration_id,
        "execution_arn": started["executionArn"],
        "status": final["status"],
        "audit_status": (final.get("audit") or {}).get("status"),
        "wall_seconds": wall,
        "started_epoch": started_at,
        "batches": answered,
        "api_calls_ms": dict(api_calls),
        "audit": final.get("audit"),
    }


# --------------------------------------------------------------------------- analysis


def _ts(event: dict) -> float:
    return event["timestamp"].timestamp()


def execution_history(stack: Stack, execution_arn: str) -> list[dict]:
    sfn = stack.client("stepfunctions")
    events, kwargs = [], {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def state_spans(events: list[dict]) -> list[dict[str, Any]]:
    """One span per state visit: name, type, entered/exited, and the task events in between.

    Visits are paired through ``previousEventId`` (each Map iteration is its own chain), with a
    first-in-first-out match per state name as the fallback if a chain is broken."""
    by_id = {e["id"]: e for e in events}
    spans, open_by_name = [], defaultdict(list)
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            open_by_name[event["stateEnteredEventDetails"]["name"]].append(event)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            entered, between = None, []
            cursor = by_id.get(event.get("previousEventId"))
            while cursor is not None:
                details = cursor.get("stateEnteredEventDetails") or {}
                if cursor["type"].endswith("StateEntered") and details.get("name") == name:
                    entered = cursor
                    break
                between.append(cursor)
                cursor = by_id.get(cursor.get("previousEventId"))
            if entered is None or entered not in open_by_name[name]:
                entered, between = (open_by_name[name][0] if open_by_name[name] else None), []
            if entered is None:
                continue
            open_by_name[name].remove(entered)
            task = {e["type"]: _ts(e) for e in between if e["type"].startswith("Task")}
            spans.append(
                {
                    "name": name,
                    "type": kind.removesuffix("StateExited"),
                    "entered": _ts(entered),
                    "exited": _ts(event),
                    "seconds": _ts(event) - _ts(entered),
                    "task_events": task,
                }
            )
    return spans


def lambda_reports(stack: Stack, start_ms: int, end_ms: int) -> dict[str, dict[str, Any]]:
    """Per function: invocations, handler seconds and init seconds from its REPORT lines."""
    logs = stack.client("logs")
    out: dict[str, dict[str, Any]] = {}
    for key, name in stack.outputs["function_names"].items():
        kwargs = {
            "logGroupName": f"/aws/lambda/{name}",
            "startTime": start_ms,
            "endTime": end_ms,
            "filterPattern": "REPORT",
        }
        durations, inits = [], []
        try:
            while True:
                page = logs.filter_log_events(**kwargs)
                for event in page.get("events", []):
                    match = REPORT.search(event["message"])
                    if match:
                        init, duration = match.groups()
                        durations.append(float(duration) / 1000)
                        if init:
                            inits.append(float(init) / 1000)
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        except stack.client("logs").exceptions.ResourceNotFoundException:
            continue
        if durations:
            out[key] = {
                "invocations": len(durations),
                "handler_seconds": sum(durations),
                "max_handler_seconds": max(durations),
                "cold_starts": len(inits),
                "init_seconds": sum(inits),
            }
    return out


FUNCTION_ARN = re.compile(r"\$\{(\w+)_function_arn\}")


def state_functions() -> dict[str, str]:
    """Which function each state invokes (terraform output ``function_names`` keys), read from
    the state machine's definition; the other states are not Lambda tasks (Choice, Wait, Pass,
    Map, SNS publish)."""
    found: dict[str, str] = {}

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if state["Type"] == "Map":
                walk((state.get("ItemProcessor") or state["Iterator"])["States"])
            match = FUNCTION_ARN.search(json.dumps(state.get("Parameters") or {}))
            if state["Type"] == "Task" and match:
                found[name] = match.group(1)

    walk(json.loads((REPO / "statemachines" / "iteration.asl.json").read_text())["States"])
    return found


STATE_FUNCTION = state_functions()


def breakdown(spans: list[dict], reports: dict[str, dict], run: dict[str, Any]) -> dict[str, Any]:
    per_state: dict[str, dict[str, Any]] = {}
    for span in spans:
        entry = per_state.setdefault(
            span["name"],
            {
                "type": span["type"],
                "visits": 0,
                "seconds_summed": 0.0,
                "first_entered": span["entered"],
                "last_exited": span["exited"],
                "waiting_seconds_summed": 0.0,
            },
        )
        entry["visits"] += 1
        entry["seconds_summed"] += span["seconds"]
        entry["first_entered"] = min(entry["first_entered"], span["entered"])
        entry["last_exited"] = max(entry["last_exited"], span["exited"])
        task = span["task_events"]
        if "TaskSubmitted" in task and "TaskSucceeded" in task:
            # waitForTaskToken: the Lambda returned at TaskSubmitted; from there on the state
            # waits for the token, i.e. for a person's answers.
            entry["waiting_seconds_summed"] += task["TaskSucceeded"] - task["TaskSubmitted"]
    for name, entry in per_state.items():
        entry["wall_seconds"] = entry["last_exited"] - entry["first_entered"]
        function = STATE_FUNCTION.get(name)
        if function and function in reports:
            entry["function"] = function
            entry["handler_seconds"] = reports[function]["handler_seconds"]
            entry["init_seconds"] = reports[function]["init_seconds"]
            entry["cold_starts"] = reports[function]["cold_starts"]
    execution_wall = max(s["exited"] for s in spans) - min(s["entered"] for s in spans)
    top = [n for n in per_state if n not in ("StartReview", "ReturnToPool")]
    review_wall = per_state.get("Review", {}).get("wall_seconds", 0.0)
    start_review = per_state.get("StartReview", {})
    # Review: the Map's wall time is people (the token waits overlap: batches are reviewed in
    # parallel) plus the StartReview invocations until the last one returned.
    waiting = 0.0
    if run["batches"]:
        first_entered = start_review.get("first_entered", 0.0)
        last_answer = max(b["answered_s"] for b in run["batches"].values()) + run["started_epoch"]
        waiting = max(0.0, last_answer - first_entered)
    train_handler = reports.get("train", {}).get("handler_seconds", 0.0)
    sequential_compute = sum(
        per_state[n].get("handler_seconds", 0.0) for n in top if n not in ("Train",)
    )
    sequential_init = sum(per_state[n].get("init_seconds", 0.0) for n in top)
    review_compute = max(0.0, review_wall - waiting)
    categories = {
        "waiting for people (first StartReview -> last answer posted)": waiting,
        "training (train handler)": train_handler,
        "Lambda compute, other steps (handler Duration, REPORT)": sequential_compute,
        "Lambda cold starts (Init Duration, top-level steps)": sequential_init,
        "review set-up and close (Review Map wall minus waiting)": review_compute,
    }
    accounted = sum(categories.values())
    categories["orchestration and invoke overhead (the rest)"] = max(
        0.0, execution_wall - accounted
    )
    return {
        "execution_wall_seconds": execution_wall,
        "per_state": per_state,
        "categories": categories,
        "functions": reports,
    }


def measure_on(stack: Stack, items: int = 2000, batch_size: int = 250) -> dict[str, Any]:
    rows = ag_news_rows()
    chosen = rows[SEED_ROWS : SEED_ROWS + items]
    truth = {text: label for label, text in rows}
    setup = put_implicit_feedback(stack, chosen)
    config = {
        "review_budget": items,
        "review_batch_size": batch_size,
        "random_share": 0.2,
        "min_new_items": 1,
    }
    run = run_iteration(stack, config, truth)
    time.sleep(3)  # log delivery from the executor to CloudWatch Logs is asynchronous
    events = execution_history(stack, run["execution_arn"])
    spans = state_spans(events)
    start_ms = int(run["started_epoch"] * 1000) - 1000
    end_ms = int((run["started_epoch"] + run["wall_seconds"]) * 1000) + 5000
    reports = lambda_reports(stack, start_ms, end_ms)
    analysis = breakdown(spans, reports, run)
    reviewed = sum(b["answered"] for b in run["batches"].values())
    return {
        "items": items,
        "batch_size": batch_size,
        "config": config,
        "setup": setup,
        "run": {k: v for k, v in run.items() if k != "audit"},
        "audit_excerpt": {
            k: (run.get("audit") or {}).get(k) for k in ("status", "reviewers", "counts")
        },
        "reviewed_items": reviewed,
        "history_events": len(events),
        "spans": spans,
        **analysis,
        "machine": machine(),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| state | type | visits | wall s (first entered -> last exited) | summed s "
        "| handler s (REPORT) | init s (cold) |",
        "|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(result["per_state"].items(), key=lambda kv: kv[1]["first_entered"])
    for name, s in ordered:
        lines.append(
            f"| {name} | {s['type']} | {s['visits']} | {s['wall_seconds']:.2f} | "
            f"{s['seconds_summed']:.2f} | {s.get('handler_seconds', 0):.2f} | "
            f"{s.get('init_seconds', 0):.2f} |"
        )
    lines += ["", "| where the time went | s | share |", "|---|---|---|"]
    wall = result["execution_wall_seconds"]
    for name, seconds in result["categories"].items():
        lines.append(f"| {name} | {seconds:.1f} | {seconds / wall:.0%} |")
    lines.append(f"| **execution wall time** | **{wall:.1f}** | 100% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=250)
    args = parser.parse_args(argv)
    with deployed() as stack:
        result = measure_on(stack, args.items, args.batch_size)
        save("iteration_overhead", result)
        print(table(result), flush=True)
    return result


if __name__ == "__main__":
    main()
