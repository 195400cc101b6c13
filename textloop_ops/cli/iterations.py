"""``textloop iterations`` (start, follow, list, show, approve) and ``textloop audit``: the
active-learning iterations of the stack and their audit records."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from textloop_ops.cli.common import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    MODEL_TYPES,
    CommandError,
    add_command,
    add_model_type,
    cell,
    person_api,
)
from textloop_ops.client import Target

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def parse_config(config_json: str | None, settings: Sequence[str]) -> dict[str, Any]:
    """The iteration's ``config`` from ``--config JSON`` then ``--set key=value`` overrides.

    A ``--set`` value is read as JSON when it parses (``5``, ``0.2``, ``true``, ``null``) and as
    a string otherwise (``selection_strategy=entropy``). The API validates the result against
    the iteration-input schema and names any bad field.
    """
    config: dict[str, Any] = {}
    if config_json:
        try:
            config = json.loads(config_json)
        except ValueError as exc:
            raise CommandError(f"--config is not valid JSON: {exc}", EXIT_USAGE) from exc
        if not isinstance(config, dict):
            raise CommandError("--config must be a JSON object", EXIT_USAGE)
    for setting in settings:
        key, sep, raw = setting.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--set {setting!r}: expected key=value", EXIT_USAGE)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        config[key.strip()] = value
    return config


def cmd_iterations_start(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"model_type": args.model_type}
    config = parse_config(args.config, args.set or [])
    if config:
        body["config"] = config
    started = person_api(args).call("POST", "/iterations", body)
    if args.output.as_json and not args.follow:
        args.output.json(started)
        return EXIT_OK
    args.output.line(f"started {started['iteration_id']}")
    if not args.follow:
        return EXIT_OK
    return follow(args, started["iteration_id"], started.get("executionArn"))


def follow(args: argparse.Namespace, iteration_id: str, execution_arn: str | None) -> int:
    """Print each state as it completes until the iteration stops; exit 1 unless SUCCEEDED.

    On LocalStack the execution history names every state; on AWS the REST API's status is
    what an operator key can read, so only status changes are printed.
    """
    api = person_api(args)
    history = HistoryReader(args.target, execution_arn) if args.target.is_localstack else None
    deadline = time.monotonic() + args.follow_timeout
    last_status = None
    while True:
        body = api.call("GET", f"/iterations/{iteration_id}")
        if history is not None:
            for line in history.new_lines():
                args.output.line(f"  {line}")
        if body["status"] != last_status:
            last_status = body["status"]
            if history is None or last_status in TERMINAL:
                args.output.line(f"{iteration_id}: {last_status}")
        if last_status in TERMINAL:
            break
        if time.monotonic() > deadline:
            raise CommandError(
                f"{iteration_id} still {last_status} after {args.follow_timeout:.0f} s "
                "(it keeps running; follow it again with `textloop iterations show`)",
                EXIT_FAILED,
            )
        time.sleep(args.poll_seconds)
    audit = body.get("audit") or {}
    if audit:
        args.output.line(
            f"audit: status={audit.get('status')} decision={cell(audit.get('decision'))[:300]}"
        )
    if last_status != "SUCCEEDED":
        error = body.get("error") or audit.get("error") or ""
        raise CommandError(f"iteration {iteration_id} {last_status} {error}".strip(), EXIT_FAILED)
    return EXIT_OK


class HistoryReader:
    """The states an execution has left, from GetExecutionHistory, each reported once."""

    def __init__(self, target: Target, execution_arn: str | None):
        self.sfn = target.client("stepfunctions")
        self.arn = execution_arn
        self.seen: set[int] = set()

    def new_lines(self) -> list[str]:
        if not self.arn:
            return []
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self.arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        lines = []
        for event in events:
            if event["id"] in self.seen:
                continue
            details = event.get("stateExitedEventDetails")
            if event["type"].endswith("StateExited") and details:
                self.seen.add(event["id"])
                lines.append(f"{event['timestamp']:%H:%M:%S} {details['name']}")
            elif (
                event["type"].endswith("StateEntered")
                and event.get("stateEnteredEventDetails", {}).get("name") == "Review"
                # An empty Review (a bootstrap) exits at once: there is nothing to wait for.
                and not any(
                    e.get("stateExitedEventDetails", {}).get("name") == "Review" for e in events
                )
            ):
                self.seen.add(event["id"])
                lines.append(
                    "waiting for reviews: `textloop reviews list` or `textloop review-page`"
                )
        return lines


def cmd_iterations_list(args: argparse.Namespace) -> int:
    query = {"model_type": args.model_type} if args.model_type else None
    data = person_api(args).call("GET", "/iterations", query=query)
    rows = data.get("iterations", [])
    columns = ["iteration_id", "model_type", "status", "started_at", "stopped_at"]
    args.output.table(rows, columns, data)
    return EXIT_OK


def cmd_iterations_show(args: argparse.Namespace) -> int:
    args.output.json(person_api(args).call("GET", f"/iterations/{args.iteration_id}"))
    return EXIT_OK


def cmd_iterations_approve(args: argparse.Namespace) -> int:
    # The approver is the token's person: the API records them, not a name sent here.
    body: dict[str, Any] = {"approved": args.decision == "approve"}
    if args.comment:
        body["comment"] = args.comment
    result = person_api(args).call("POST", f"/approvals/{args.iteration_id}", body)
    if args.output.as_json:
        args.output.json(result)
    else:
        verb = "approved" if result["approved"] else "rejected"
        note = " (already answered the same way)" if result.get("duplicate") else ""
        args.output.line(f"{args.iteration_id}: {verb}{note}")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    body = person_api(args).call("GET", f"/iterations/{args.iteration_id}")
    if not body.get("audit"):
        raise CommandError(
            f"no audit record for {args.iteration_id} yet (status {body.get('status')}): it is "
            "written when the iteration finishes",
            EXIT_NOT_FOUND,
        )
    args.output.json(body["audit"])
    return EXIT_OK


def add_parsers(commands) -> None:
    iterations = commands.add_parser(
        "iterations",
        help="start, list and show active-learning iterations",
        description="Start, list and show active-learning iterations (Step Functions executions).",
    )
    its = iterations.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    start = add_command(
        its,
        "start",
        cmd_iterations_start,
        "start an iteration (exit 4 if one is running)",
        "Start an iteration. The config is validated by the API (a misspelt key is a 400, "
        "exit 2). Example: textloop iterations start --set min_new_items=0 --follow",
    )
    add_model_type(start)
    start.add_argument(
        "--config", metavar="JSON", help="iteration config, e.g. '{\"min_new_items\": 0}'"
    )
    start.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="one config setting (repeatable; the value is JSON if it parses, else a string)",
    )
    start.add_argument(
        "--follow",
        action="store_true",
        help="print each state as it completes; exit 1 unless the iteration SUCCEEDED",
    )
    start.add_argument(
        "--follow-timeout",
        type=float,
        default=6 * 3600,
        metavar="SECONDS",
        help="stop following after this long (exit 1; the iteration keeps running)",
    )
    start.add_argument("--poll-seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    listing = add_command(its, "list", cmd_iterations_list, "recent iterations, newest first")
    listing.add_argument(
        "--model-type", choices=MODEL_TYPES, help="only this model's (default: every model)"
    )
    show = add_command(its, "show", cmd_iterations_show, "status and audit record of one iteration")
    show.add_argument("iteration_id")
    approve = add_command(
        its,
        "approve",
        cmd_iterations_approve,
        "approve or reject a candidate waiting for manual approval",
    )
    approve.add_argument("iteration_id")
    decision = approve.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", dest="decision", action="store_const", const="approve")
    decision.add_argument("--reject", dest="decision", action="store_const", const="reject")
    approve.add_argument("--comment")

    audit = add_command(
        commands, "audit", cmd_audit, "print an iteration's audit record (exit 3 if none)"
    )
    audit.add_argument("iteration_id")
