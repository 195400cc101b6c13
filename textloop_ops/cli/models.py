"""``textloop models``: the active model, its history, rollback (and why promotion is not a
command)."""

from __future__ import annotations

import argparse
from typing import Any

from textloop_ops.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_command,
    add_model_type,
    person_api,
)


def cmd_models_active(args: argparse.Namespace) -> int:
    query = {"model_type": args.model_type}
    args.output.json(person_api(args).call("GET", "/models/active", query=query))
    return EXIT_OK


def cmd_models_history(args: argparse.Namespace) -> int:
    data = person_api(args).call("GET", "/models", query={"model_type": args.model_type})
    rows = data.get("history", [])
    for row in rows:  # the columns people compare; --json has everything
        row.setdefault("at", row.get("recorded_at") or row.get("promoted_at"))
    columns = ["kind", "model_version", "previous_model_version", "iteration_id", "reason", "at"]
    args.output.table(rows, columns, data)
    return EXIT_OK


def cmd_models_rollback(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason, "model_type": args.model_type}
    if args.version:
        body["model_version"] = args.version
    result = person_api(args).call("POST", "/models/rollback", body)
    if args.output.as_json:
        args.output.json(result)
    elif result.get("changed"):
        args.output.line(
            f"active model: {result['model_version']} (was {result.get('previous_model_version')})"
        )
    else:
        args.output.line(f"{result.get('model_version')} is already active: nothing changed")
    return EXIT_OK


def cmd_models_promote(args: argparse.Namespace) -> int:
    # Deliberately not an API call: a model becomes active only after an iteration evaluated it
    # against the active model on the frozen test set (and, if configured, a person approved).
    raise CommandError(
        f"refused: {args.version} cannot be promoted by hand. Promotion happens only through an "
        "iteration's evaluation gate (`textloop iterations start`, with "
        "--set manual_approval=true for a human decision). To return to a model that was "
        "promoted before, use `textloop models rollback VERSION --reason TEXT`.",
        EXIT_FAILED,
    )


def add_parsers(commands) -> None:
    models = commands.add_parser(
        "models",
        help="active model, history, rollback",
        description="The active model, its history, and rollback. Models are promoted only "
        "by an iteration's evaluation gate; rollback returns to an earlier promoted version.",
    )
    mods = models.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    add_model_type(
        add_command(mods, "active", cmd_models_active, "the active model and its metrics")
    )
    add_model_type(
        add_command(mods, "history", cmd_models_history, "promotions and rollbacks, oldest first")
    )
    rollback = add_command(
        mods,
        "rollback",
        cmd_models_rollback,
        "point back to an earlier promoted version",
        "Point the active model back to an earlier promoted version (without VERSION: the one "
        "promoted before the active one). Exit 4 when the target cannot serve.",
    )
    rollback.add_argument("version", nargs="?", help="model version (default: the previous one)")
    rollback.add_argument("--reason", required=True, help="why (recorded in the registry)")
    add_model_type(rollback)
    promote = add_command(
        mods,
        "promote",
        cmd_models_promote,
        "always refused: promotion happens only through an iteration's gate",
        "Promotion is not a manual operation: a candidate becomes active only after an "
        "iteration evaluated it against the active model on the frozen test set (optionally "
        "with manual approval: `iterations approve`). This command explains that and exits 1. "
        "Use `models rollback VERSION` to return to an earlier promoted model.",
        needs_target=False,
    )
    promote.add_argument("version")
