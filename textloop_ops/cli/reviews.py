"""``textloop reviews``: pending review batches, and answering one from a file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from textloop_ops.cli.common import EXIT_OK, EXIT_USAGE, CommandError, add_command, person_api


def read_answers(path: Path) -> list[dict[str, Any]]:
    """Answers from ``{"answers": [...]}`` or JSON Lines of ``{item_id, labels}`` (an entity
    recogniser's: ``{item_id, entities: [{begin_offset, end_offset, type}]}``)."""
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from exc
    stripped = content.strip()
    if not stripped:
        raise CommandError(f"{path} is empty", EXIT_USAGE)
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and "answers" not in whole and "item_id" in whole:
        answers = [whole]  # JSON Lines with a single line parses as one object
    elif isinstance(whole, dict):
        answers = whole.get("answers")
        if not isinstance(answers, list):
            raise CommandError(f'{path}: expected {{"answers": [...]}}', EXIT_USAGE)
    elif isinstance(whole, list):
        answers = whole
    else:
        answers = []
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                answers.append(json.loads(line))
            except ValueError as exc:
                raise CommandError(f"{path}:{number}: not JSON: {exc}", EXIT_USAGE) from exc
    for number, answer in enumerate(answers, start=1):
        if (
            not isinstance(answer, dict)
            or "item_id" not in answer
            or not ("labels" in answer or "entities" in answer)
        ):
            raise CommandError(
                f"{path}: answer {number} must be an object with item_id and labels (or entities)",
                EXIT_USAGE,
            )
    return answers


def cmd_reviews_list(args: argparse.Namespace) -> int:
    data = person_api(args).call("GET", "/reviews")
    columns = ["batch_id", "iteration_id", "items", "created_at", "deadline"]
    args.output.table(data.get("reviews", []), columns, data)
    return EXIT_OK


def cmd_reviews_show(args: argparse.Namespace) -> int:
    args.output.json(person_api(args).call("GET", f"/reviews/{args.batch_id}"))
    return EXIT_OK


def cmd_reviews_answer(args: argparse.Namespace) -> int:
    answers = read_answers(args.file)
    # The reviewer is the token's person: the API records them, not a name sent here.
    body = {"answers": answers}
    result = person_api(args).call("POST", f"/reviews/{args.batch_id}/answers", body)
    if args.output.as_json:
        args.output.json(result)
    else:
        note = " (duplicate: already recorded)" if result.get("duplicate") else ""
        args.output.line(
            f"{result['batch_id']}: {result['status']}, {result['answered']} answered{note}"
        )
    return EXIT_OK


def add_parsers(commands) -> None:
    reviews = commands.add_parser(
        "reviews",
        help="pending review batches; answer one from a file",
        description="Pending review batches, and answering one from a file (the review page "
        "does the same interactively: `textloop review-page`).",
    )
    rev = reviews.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    add_command(rev, "list", cmd_reviews_list, "open review batches, oldest first")
    rshow = add_command(rev, "show", cmd_reviews_show, "one batch: items, suggestions, options")
    rshow.add_argument("batch_id")
    answer = add_command(
        rev,
        "answer",
        cmd_reviews_answer,
        "post a batch's answers (completes its task)",
        'Post answers for a batch. FILE holds {"answers": [{"item_id", "labels": [...]}]} or '
        "JSON Lines of {item_id, labels}; for an entity recogniser's batch entities: "
        "[{begin_offset, end_offset, type}] instead of labels ([] for no entities). "
        "Unanswered items go back to the pool. Exit 2 when the "
        "API names a bad field, 4 when the batch was answered differently or expired.",
    )
    answer.add_argument("batch_id")
    answer.add_argument("--file", type=Path, required=True, help="answers file")
