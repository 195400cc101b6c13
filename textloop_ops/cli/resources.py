"""``textloop resources``: list, prune and remove the resources the loop creates at run time
(found and deleted by ``textloop_ops.resources``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from textloop_ops.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Formatter,
    add_command,
)
from textloop_ops.client import TargetError, UsageError, resolve_target

RESOURCE_COLUMNS = ["kind", "model_type", "id", "version", "status", "created", "active", "cost"]
PLAN_COLUMNS = ["action", "kind", "model_type", "version", "id", "reason"]
RESULT_COLUMNS = ["action", "kind", "model_type", "version", "id", "result", "error"]


def _aws_client(service: str, region: str | None):
    """A boto3 client on AWS (the default credential chain, the stack's region)."""
    import boto3

    return boto3.client(service, region_name=region) if region else boto3.client(service)


def _stack_resources(args: argparse.Namespace):
    """The run-time resources of the stack ``--stack-file`` (AWS) or the LocalStack target
    describes (its Terraform output ``stack``)."""
    from textloop_ops.resources import StackResources, StackScope

    stack_file = getattr(args, "stack_file", None)
    if stack_file:
        try:
            text = sys.stdin.read() if str(stack_file) == "-" else stack_file.read_text()
            data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise CommandError(f"--stack-file {stack_file}: {exc}", EXIT_USAGE) from exc
        if isinstance(data, dict) and isinstance(data.get("stack"), dict):
            # The whole `terraform output -json` map: {"stack": {"value": {...}}}.
            data = data["stack"].get("value", data["stack"])
        try:
            scope = StackScope.from_output(data)
        except ValueError as exc:
            raise CommandError(f"--stack-file {stack_file}: {exc}", EXIT_USAGE) from exc
        return StackResources(scope, lambda service: _aws_client(service, scope.region))
    target = resolve_target(
        state_dir=args.state_dir,
        api_url=args.api_url,
        api_key=args.api_key,
        bucket=args.bucket,
        environ=args.environ,
    )
    if not target.is_localstack:
        raise UsageError(
            "on AWS, name the stack: terraform -chdir=terraform/envs/aws output -json stack "
            "| textloop resources --stack-file - list"
        )
    try:
        scope = StackScope.from_output(target.outputs.get("stack"))
    except ValueError as exc:
        raise TargetError(f"the LocalStack stack has no stack output: {exc}") from exc
    return StackResources(scope, target.client)


def _resource_rows(found) -> list[dict[str, Any]]:
    """Table rows: ``active`` says how (serving an endpoint, active, in use by a running
    iteration); ``--json`` keeps the flags themselves (``active``, ``serves``, ``in_use``)."""
    rows = []
    for resource in found:
        row = resource.to_dict()
        marks = []
        if resource.serves:
            marks.append("serving")
        elif resource.active:
            marks.append("active")
        if resource.in_use:
            marks.append("in use")
        row["active"] = ", ".join(marks) or "no"
        rows.append(row)
    return rows


def cmd_resources_list(args: argparse.Namespace) -> int:
    from textloop.domain.resources import ENDPOINT, ENDPOINT_USD_PER_IU_SECOND, VERSIONS

    stack = _stack_resources(args)
    found = stack.list()
    data = {"stack": stack.scope.stack, "resources": [r.to_dict() for r in found]}
    args.output.table(_resource_rows(found), RESOURCE_COLUMNS, data)
    if not args.output.as_json and found:
        units = sum(r.inference_units or 1 for r in found if r.kind == ENDPOINT)
        versions = sum(1 for r in found if r.kind in VERSIONS)
        args.output.line(
            f"\n{stack.scope.stack}: endpoints {units} IU = "
            f"${units * ENDPOINT_USD_PER_IU_SECOND * 3600:.2f}/h while they exist; "
            f"{versions} model versions (model management per version and month); "
            "clean up: `textloop resources prune --keep N`, `make destroy-aws`"
        )
    return EXIT_OK


def cmd_resources_prune(args: argparse.Namespace) -> int:
    from textloop.domain.resources import plan_prune

    if args.keep < 0:
        raise CommandError("--keep must be 0 or more", EXIT_USAGE)
    stack = _stack_resources(args)
    return _carry_out(args, stack, plan_prune(stack.list(), args.keep))


def cmd_resources_remove(args: argparse.Namespace) -> int:
    from textloop.domain.resources import plan_removal

    if not args.all:
        raise CommandError(
            "remove deletes every run-time resource of the stack: say so with --all "
            "(or prune old versions with `textloop resources prune --keep N`)",
            EXIT_USAGE,
        )
    stack = _stack_resources(args)
    return _carry_out(args, stack, plan_removal(stack.list()))


def _carry_out(args: argparse.Namespace, stack, steps) -> int:
    """Print the plan (``--dry-run``: only that), or carry it out and print what happened;
    exit 1 when a step failed (run the command again once the cause is gone)."""
    plan = [step.to_dict() for step in steps]
    if args.dry_run:
        args.output.table(plan, PLAN_COLUMNS, {"dry_run": True, "plan": plan})
        return EXIT_OK
    results = stack.apply(steps, wait_seconds=args.wait_seconds)
    args.output.table(results, RESULT_COLUMNS, {"dry_run": False, "results": results})
    failed = [r for r in results if r.get("result") == "failed"]
    if failed:
        raise CommandError(
            f"{len(failed)} step(s) failed; run the command again once the cause is gone",
            EXIT_FAILED,
        )
    return EXIT_OK


def _stack_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack-file",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="AWS: the stack's Terraform output (`terraform output -json stack`; - for stdin); "
        "default: the LocalStack stack of --state-dir",
    )


def add_parsers(commands) -> None:
    resources = commands.add_parser(
        "resources",
        help="run-time AWS resources (endpoints, model versions, flywheels, batch outputs): "
        "list, prune, remove",
        description="The resources the loop creates at run time, which Terraform does not "
        "know: Comprehend endpoints, classifier and recogniser versions, flywheels and their "
        "data sets, batch jobs' outputs in the data lake. Found by their textloop:stack tag. "
        "Without a subcommand: list. On AWS: terraform -chdir=terraform/envs/aws output -json "
        "stack | textloop resources --stack-file - list",
        formatter_class=Formatter,
    )
    resources.set_defaults(handler=cmd_resources_list, needs_target=False)
    _stack_file(resources)
    res = resources.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    _stack_file(
        add_command(
            res,
            "list",
            cmd_resources_list,
            "every run-time resource: kind, model type, ARN/key, status, created, active, cost",
            needs_target=False,
        )
    )
    prune = add_command(
        res,
        "prune",
        cmd_resources_prune,
        "delete model versions older than the newest N per model type, with their batch outputs",
        "Delete the classifier and recogniser versions beyond the newest N of each model type, "
        "and their batch outputs. Never the active version (pointer, registry, an endpoint's "
        "ModelArn or DesiredModelArn, a flywheel's ActiveModelArn) nor one a running "
        "iteration is using. Exit 1 when a delete failed (e.g. a job still uses the version).",
        needs_target=False,
    )
    prune.add_argument("--keep", type=int, required=True, metavar="N", help="versions to keep")
    remove = add_command(
        res,
        "remove",
        cmd_resources_remove,
        "delete every run-time resource (before terraform destroy)",
        "Delete every run-time resource of the stack, the active model and its endpoint "
        "included (this is for taking the stack down): endpoints (waiting until they are "
        "gone), flywheels, every version (training stopped first), batch outputs. Idempotent: "
        "a resource already gone is fine, and a second run finds nothing. `make destroy-aws` "
        "runs it before `terraform destroy`.",
        needs_target=False,
    )
    remove.add_argument("--all", action="store_true", help="required: yes, everything")
    for sub in (prune, remove):
        _stack_file(sub)
        sub.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
        sub.add_argument(
            "--wait-seconds",
            type=float,
            default=900,
            help="how long to wait for deleted endpoints and stopped training (default 900)",
        )
