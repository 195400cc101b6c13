"""``textloop``: the operator's command line for one deployed stack (LocalStack or AWS).

Every command talks to the stack's REST API (the same calls a client or the review page makes);
only ``import-dataset`` (S3), ``users`` (the local directory in SSM and tokens signed with KMS, or
Cognito on AWS), ``iterations start --follow`` on LocalStack (the execution history) and
``resources`` (Comprehend, S3, SSM, DynamoDB: ``textloop_ops.resources``) use AWS APIs directly.

People commands (iterations, approvals, reviews, models) send a person's bearer token:
``--token`` / ``TEXTLOOP_TOKEN``, or on LocalStack ``--as NAME``, which mints one for a user
``users add`` created. ``classify`` sends the API key.

Exit codes, stable for scripts:

  0  success
  1  the operation failed (an iteration FAILED/TIMED_OUT/ABORTED, a refused promotion, the
     API or the stack unreachable, an unexpected API error)
  2  usage or bad input (argparse errors, an invalid file or data set, a 400 from the API)
  3  not found (404: no such iteration, batch, active model or audit record; no such user)
  4  conflict (409: an iteration is already running, a batch already answered or expired,
     a rollback target that cannot serve)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from textloop_ops.client import (
    DEFAULT_STATE_DIR,
    ApiError,
    Target,
    TargetError,
    UsageError,
    describe_error,
    resolve_target,
)
from textloop_ops.people import UnknownUser

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4

MODEL_TYPES = ("DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER")
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class CommandError(Exception):
    """A failure with the exit code it means; main() prints it to stderr."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def exit_code_for_status(status: int) -> int:
    if status in (400, 413, 415, 422):
        return EXIT_USAGE
    if status == 404:
        return EXIT_NOT_FOUND
    if status == 409:
        return EXIT_CONFLICT
    return EXIT_FAILED


# --------------------------------------------------------------------------- output


class Output:
    """Where results go: JSON for scripts (``--json``), short tables for people."""

    def __init__(self, as_json: bool, stream: TextIO | None = None):
        self.as_json = as_json
        self.stream = stream or sys.stdout

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def json(self, data: Any) -> None:
        self.line(json.dumps(data, indent=2, sort_keys=False, default=str))

    def table(self, rows: Sequence[dict[str, Any]], columns: Sequence[str], data: Any) -> None:
        if self.as_json:
            self.json(data)
            return
        if not rows:
            self.line("(none)")
            return
        cells = [[_cell(row.get(c)) for c in columns] for row in rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        self.line("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
        for r in cells:
            self.line("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# --------------------------------------------------------------------------- parsing helpers


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


# --------------------------------------------------------------------------- datasets


CLASSIFIER_FORMATS = ("comprehend-csv", "batch-json", "jsonl")
ENTITY_FORMATS = ("groundtruth", "comprehend")


def load_dataset(
    path: Path,
    fmt: str,
    model_type: str,
    mode: str | None,
    *,
    annotations: Path | None = None,
    documents_name: str | None = None,
    label_attribute: str | None = None,
    skip_invalid_lines: bool = False,
    warn: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Documents (``text``, ``labels``; entity recognisers: ``text``, ``entities``) from a seed
    file, before validation.

    Document classifiers:

    * ``comprehend-csv``: Comprehend's ``LABEL,text`` (multi-label ``A|B,text``).
    * ``jsonl``: one ``{"text", "labels"}`` (or ``corrected_labels``, as in batch feedback
      files) per line.
    * ``batch-json``: the batch-feedback JSON ``{"classifier", "sentences": [...]}`` whose
      items carry ``corrected_labels`` (a bare string has no label and is reported).

    Entity recognisers:

    * ``groundtruth``: a SageMaker Ground Truth NER output manifest; refused lines are listed
      with their line numbers (and, with ``skip_invalid_lines``, left out while the others
      are imported).
    * ``comprehend``: Comprehend's documents file (``path``, one document per line) and its
      annotations CSV (``annotations``); rows whose ``File`` is ``documents_name`` (default:
      the documents file's name) are read.
    """
    from textloop.domain.datasets.formats import parse_classifier_csv
    from textloop.domain.datasets.rules import DatasetFormatError
    from textloop.domain.hashing import text_key

    if model_type == "ENTITY_RECOGNIZER":
        if fmt not in ENTITY_FORMATS:
            raise CommandError(
                f"--format {fmt} is for DOCUMENT_CLASSIFIER; entity recognisers import "
                f"{' or '.join(ENTITY_FORMATS)}",
                EXIT_USAGE,
            )
        return _load_entities(
            path,
            fmt,
            annotations=annotations,
            documents_name=documents_name,
            label_attribute=label_attribute,
            skip_invalid_lines=skip_invalid_lines,
            warn=warn,
        )
    if fmt not in CLASSIFIER_FORMATS:
        raise CommandError(
            f"--format {fmt} is for ENTITY_RECOGNIZER (add --model-type ENTITY_RECOGNIZER); "
            f"document classifiers import {', '.join(CLASSIFIER_FORMATS)}",
            EXIT_USAGE,
        )
    try:
        content = path.read_text(encoding="utf-8-sig")  # tolerate a BOM from spreadsheets
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}", EXIT_USAGE) from exc
    if fmt == "comprehend-csv":
        try:
            return parse_classifier_csv(content, mode, name=path.name)
        except DatasetFormatError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
    if fmt == "jsonl":
        items = []
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((number, json.loads(line)))
            except ValueError as exc:
                raise CommandError(f"{path}:{number}: not JSON: {exc}", EXIT_USAGE) from exc
    elif fmt == "batch-json":
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise CommandError(f"{path}: not JSON: {exc}", EXIT_USAGE) from exc
        if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
            raise CommandError(f'{path}: expected {{"classifier", "sentences": [...]}}', EXIT_USAGE)
        items = list(enumerate(data["sentences"], start=1))
    else:  # argparse restricts the choices; kept for direct callers
        raise CommandError(f"unknown format {fmt!r}", EXIT_USAGE)
    documents = []
    for number, item in items:
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise CommandError(f"{path}: item {number} needs a text", EXIT_USAGE)
        labels = item.get("labels", item.get("corrected_labels")) or []
        if isinstance(labels, str):
            labels = [labels]
        documents.append(
            {
                "key": text_key(item["text"]),
                "id": f"{path.name}:{number}",
                "text": item["text"],
                "labels": [str(label) for label in labels],
                "origin": "original",
            }
        )
    return documents


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # tolerate a BOM from spreadsheets
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}", EXIT_USAGE) from exc


def _load_entities(
    path: Path,
    fmt: str,
    *,
    annotations: Path | None,
    documents_name: str | None,
    label_attribute: str | None,
    skip_invalid_lines: bool,
    warn: Callable[[str], None] | None,
) -> list[dict[str, Any]]:
    from textloop.domain.datasets.formats import parse_entity_files
    from textloop.domain.datasets.ground_truth import read_manifest
    from textloop.domain.datasets.rules import DatasetFormatError

    if fmt == "comprehend":
        if annotations is None:
            raise CommandError(
                "--format comprehend needs --annotations FILE (the annotations CSV)", EXIT_USAGE
            )
        try:
            return parse_entity_files(
                _read_text(path), _read_text(annotations), documents_name or path.name
            )
        except DatasetFormatError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
    manifest = read_manifest(_read_text(path), name=path.name, label_attribute=label_attribute)
    if manifest.rejected:
        message = f"{path}: {manifest.render_rejected()}"
        if not skip_invalid_lines:
            raise CommandError(
                message + "\n(fix them, or import the other lines with --skip-invalid-lines)",
                EXIT_USAGE,
            )
        if warn is not None:
            warn(message + "\n(skipped: --skip-invalid-lines)")
    return manifest.documents


# --------------------------------------------------------------------------- commands


def _api(args: argparse.Namespace):
    """The API as the person the options name (people routes)."""
    return args.target.api(timeout=args.timeout, token=_person_token(args))


def _person_token(args: argparse.Namespace) -> str | None:
    """``--token`` / TEXTLOOP_TOKEN, or a token minted for ``--as NAME`` (once per command)."""
    if getattr(args, "person_token", None) is None:
        if args.as_user:
            args.person_token = _local_people(args).token(args.as_user)
        else:
            args.person_token = args.token or args.environ.get("TEXTLOOP_TOKEN") or ""
    return args.person_token or None


def _local_people(args: argparse.Namespace):
    from textloop_ops.people import LocalPeople

    if not args.target.is_localstack:
        raise UsageError(
            "--as and local users need the stack's KMS signing key (LocalStack); on AWS sign "
            "in with Cognito: `textloop users token NAME --client-id ...`, then --token"
        )
    return LocalPeople(args.target)


def _people_directory(args: argparse.Namespace):
    """The users of the target: the local directory, or Cognito on AWS."""
    if args.target.is_localstack:
        return _local_people(args)
    from textloop_ops.people import CognitoPeople

    return CognitoPeople(
        args.target,
        args.user_pool_id or args.environ.get("TEXTLOOP_COGNITO_USER_POOL_ID"),
        args.client_id or args.environ.get("TEXTLOOP_COGNITO_CLIENT_ID"),
    )


def cmd_iterations_start(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"model_type": args.model_type}
    config = parse_config(args.config, args.set or [])
    if config:
        body["config"] = config
    started = _api(args).call("POST", "/iterations", body)
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
    api = _api(args)
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
            f"audit: status={audit.get('status')} decision={_cell(audit.get('decision'))[:300]}"
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
    data = _api(args).call("GET", "/iterations", query=query)
    rows = data.get("iterations", [])
    columns = ["iteration_id", "model_type", "status", "started_at", "stopped_at"]
    args.output.table(rows, columns, data)
    return EXIT_OK


def cmd_iterations_show(args: argparse.Namespace) -> int:
    args.output.json(_api(args).call("GET", f"/iterations/{args.iteration_id}"))
    return EXIT_OK


def cmd_iterations_approve(args: argparse.Namespace) -> int:
    # The approver is the token's person: the API records them, not a name sent here.
    body: dict[str, Any] = {"approved": args.decision == "approve"}
    if args.comment:
        body["comment"] = args.comment
    result = _api(args).call("POST", f"/approvals/{args.iteration_id}", body)
    if args.output.as_json:
        args.output.json(result)
    else:
        verb = "approved" if result["approved"] else "rejected"
        note = " (already answered the same way)" if result.get("duplicate") else ""
        args.output.line(f"{args.iteration_id}: {verb}{note}")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    body = _api(args).call("GET", f"/iterations/{args.iteration_id}")
    if not body.get("audit"):
        raise CommandError(
            f"no audit record for {args.iteration_id} yet (status {body.get('status')}): it is "
            "written when the iteration finishes",
            EXIT_NOT_FOUND,
        )
    args.output.json(body["audit"])
    return EXIT_OK


def cmd_reviews_list(args: argparse.Namespace) -> int:
    data = _api(args).call("GET", "/reviews")
    columns = ["batch_id", "iteration_id", "items", "created_at", "deadline"]
    args.output.table(data.get("reviews", []), columns, data)
    return EXIT_OK


def cmd_reviews_show(args: argparse.Namespace) -> int:
    args.output.json(_api(args).call("GET", f"/reviews/{args.batch_id}"))
    return EXIT_OK


def cmd_reviews_answer(args: argparse.Namespace) -> int:
    answers = read_answers(args.file)
    # The reviewer is the token's person: the API records them, not a name sent here.
    body = {"answers": answers}
    result = _api(args).call("POST", f"/reviews/{args.batch_id}/answers", body)
    if args.output.as_json:
        args.output.json(result)
    else:
        note = " (duplicate: already recorded)" if result.get("duplicate") else ""
        args.output.line(
            f"{result['batch_id']}: {result['status']}, {result['answered']} answered{note}"
        )
    return EXIT_OK


def cmd_models_active(args: argparse.Namespace) -> int:
    query = {"model_type": args.model_type}
    args.output.json(_api(args).call("GET", "/models/active", query=query))
    return EXIT_OK


def cmd_models_history(args: argparse.Namespace) -> int:
    data = _api(args).call("GET", "/models", query={"model_type": args.model_type})
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
    result = _api(args).call("POST", "/models/rollback", body)
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


def cmd_classify(args: argparse.Namespace) -> int:
    body = {"text": args.text, "model_type": args.model_type}
    # A client route: the API key, never a person's token.
    result = args.target.api(timeout=args.timeout).call("POST", "/classify", body)
    if args.output.as_json:
        args.output.json(result)
        return EXIT_OK
    labels = ", ".join(result.get("predicted_labels") or []) or "(none)"
    args.output.line(f"{labels}  (model {result.get('model_version')})")
    for item in (result.get("prediction") or {}).get("labels", []):
        args.output.line(f"  {item['label']:<24} {float(item['score']):.3f}")
    if result.get("routed_to_review"):
        args.output.line("routed to review: the model is unsure of this text")
    return EXIT_OK


def cmd_users_add(args: argparse.Namespace) -> int:
    directory = _people_directory(args)
    if args.target.is_localstack:
        user = directory.add(args.name, args.group)
    else:
        user = directory.add(args.name, args.group, email=args.email)
    if args.output.as_json:
        args.output.json(user.to_dict())
    else:
        args.output.line(f"{user.name}: {', '.join(user.groups)}")
    return EXIT_OK


def cmd_users_remove(args: argparse.Namespace) -> int:
    if not _people_directory(args).remove(args.name):
        raise CommandError(f"no user {args.name!r}", EXIT_NOT_FOUND)
    args.output.line(
        f"{args.name} removed (tokens already issued stay valid until they expire)"
        if not args.output.as_json
        else json.dumps({"removed": args.name})
    )
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    users = [u.to_dict() for u in _people_directory(args).list()]
    args.output.table(users, ["name", "groups"], {"users": users})
    return EXIT_OK


def cmd_users_token(args: argparse.Namespace) -> int:
    """Only the token on stdout, so ``TEXTLOOP_TOKEN=$(textloop users token NAME)`` works."""
    directory = _people_directory(args)
    if args.target.is_localstack:
        token = directory.token(args.name, args.minutes)
    else:
        import getpass

        token = directory.token(args.name, getpass.getpass)
    args.output.line(json.dumps({"token": token}) if args.output.as_json else token)
    return EXIT_OK


def cmd_import_dataset(args: argparse.Namespace) -> int:
    from textloop.domain.datasets.rules import validate_documents
    from textloop.domain.datasets.seed import distinct_documents, seed_files, seed_labels

    mode = args.mode if args.model_type == "DOCUMENT_CLASSIFIER" else None
    documents = load_dataset(
        args.file,
        args.format,
        args.model_type,
        mode,
        annotations=args.annotations,
        documents_name=args.documents_name,
        label_attribute=args.label_attribute,
        skip_invalid_lines=args.skip_invalid_lines,
        warn=lambda message: print(message, file=sys.stderr, flush=True),
    )
    documents, repeats = distinct_documents(documents)
    if repeats:
        print(
            f"{repeats} document(s) repeating an earlier one (same text and annotations) kept once",
            file=sys.stderr,
            flush=True,
        )
    report = validate_documents(
        documents, model_type=args.model_type, mode=mode, subject=str(args.file)
    )
    if not report.ok:
        if args.output.as_json:
            args.output.json(report.to_dict())
        raise CommandError(report.render(), EXIT_USAGE)
    files = {
        key: body.encode("utf-8")
        for key, body in seed_files(args.model_type, mode, documents).items()
    }
    labels = seed_labels(documents)
    summary: dict[str, Any] = {
        "model_type": args.model_type,
        "documents": len(documents),
        "repeats_dropped": repeats,
        "labels": labels,
        "keys": list(files),
        "key": next(iter(files)),
        "bytes": sum(len(body) for body in files.values()),
    }
    if args.model_type == "ENTITY_RECOGNIZER":
        summary["annotations"] = {
            kind: sum(1 for d in documents for s in d["entities"] if s["type"] == kind)
            for kind in labels
        }
    if args.dry_run:
        summary["dry_run"] = True
    else:
        bucket = args.target.data_lake_bucket()
        s3 = args.target.client("s3")
        # The documents before the annotations: a reader never sees annotations naming lines
        # of documents not yet written (seed.seed_documents refuses a half-written seed).
        for key, body in files.items():
            content_type = "text/csv" if key.endswith(".csv") else "text/plain"
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        summary["bucket"] = bucket
    if args.output.as_json:
        args.output.json(summary)
    else:
        where = (
            "(dry run, nothing written)"
            if args.dry_run
            else ", ".join(f"s3://{summary['bucket']}/{key}" for key in files)
        )
        noun = "entity types" if args.model_type == "ENTITY_RECOGNIZER" else "labels"
        args.output.line(
            f"{len(documents)} documents, {len(labels)} {noun} ({', '.join(labels)}) -> {where}"
        )
    return EXIT_OK


def cmd_review_page(args: argparse.Namespace) -> int:
    from textloop_ops.client import Api
    from textloop_ops.review_server import ReviewHTTPServer

    # The server holds no credential: it forwards the reviewer's own token from the browser.
    api = Api(args.target.api_url, None, args.timeout)
    try:
        server = ReviewHTTPServer(api, port=args.port, verbose=args.verbose)
    except OSError as exc:
        raise CommandError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from exc
    url = server.url
    # Only when asked on this command line (not from TEXTLOOP_TOKEN, which may be an
    # operator's own token): whoever opens the printed URL acts as that person.
    token = _person_token(args) if (args.as_user or args.token) else None
    if token:
        # In the fragment: browsers never send it to a server; the page moves it into this
        # tab's session storage and removes it from the address bar.
        url += f"#token={token}"
    args.output.line(f"review page: {url}  (Ctrl+C stops it)")
    if not token:
        args.output.line("reviewers sign in with their token (`textloop users token NAME`)")
    if args.open:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


# --------------------------------------------------------------------------- resources

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


def cmd_query(args: argparse.Namespace) -> int:
    """SQL over the lake's ``feedback`` and ``annotations`` tables (``textloop_ops.query``)."""
    import datetime as dt

    from textloop_ops import query

    if (args.sql is None) == (args.named is None):
        raise CommandError("give either SQL or --named NAME", EXIT_USAGE)
    sql = args.sql if args.sql is not None else _named_query(args.named)
    model_types = args.model_type or list(MODEL_TYPES)
    since, until = args.since, args.until
    try:
        if args.lake is not None:
            where = query.partition_filter(since, until, args.model_type)
            columns, rows = query.run(args.lake, sql, where)
        else:
            until = until or dt.datetime.now(dt.UTC).date()
            since = since or until - dt.timedelta(days=query.DEFAULT_DAYS - 1)
            s3, bucket = _lake_client(args)
            prefixes = list(query.partition_prefixes(model_types, query.days(since, until)))
            with query.s3_mirror(s3, bucket, prefixes) as (lake, stats):
                # Said on stderr: the query saw these days only, not the whole lake.
                print(
                    f"textloop: read {stats['files']} files ({stats['bytes']} bytes) of "
                    f"s3://{bucket} for {since}..{until}, {', '.join(model_types)}",
                    file=sys.stderr,
                    flush=True,
                )
                columns, rows = query.run(lake, sql)
    except query.QueryError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    _print_rows(args, columns, rows)
    return EXIT_OK


def _named_query(name: str) -> str:
    from textloop_ops import query

    try:
        return query.named(name)
    except query.QueryError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def _lake_client(args: argparse.Namespace) -> tuple[Any, str]:
    """The data lake bucket and an S3 client: --bucket (or TEXTLOOP_DATA_LAKE_BUCKET) with the
    default credential chain, else the LocalStack stack of --state-dir."""
    bucket = args.bucket or args.environ.get("TEXTLOOP_DATA_LAKE_BUCKET")
    if bucket and not args.state_dir:
        import boto3

        return boto3.client("s3"), bucket
    target = resolve_target(state_dir=args.state_dir, bucket=bucket, environ=args.environ)
    return target.client("s3"), target.data_lake_bucket()


def _print_rows(args: argparse.Namespace, columns: list[str], rows: list[tuple]) -> None:
    import csv

    if args.output.as_json:
        args.output.json([dict(zip(columns, row, strict=True)) for row in rows])
    elif args.csv:
        writer = csv.writer(args.output.stream, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(
            [_cell(v) if isinstance(v, (dict, list)) else v for v in row] for row in rows
        )
    else:
        args.output.table(
            [dict(zip(columns, row, strict=True)) for row in rows], columns, data=None
        )


# --------------------------------------------------------------------------- parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _add(
    sub,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    help_: str,
    description: str | None = None,
    needs_target: bool = True,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name, help=help_, description=description or help_, formatter_class=_Formatter
    )
    parser.set_defaults(handler=handler, needs_target=needs_target)
    return parser


def _stack_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack-file",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="AWS: the stack's Terraform output (`terraform output -json stack`; - for stdin); "
        "default: the LocalStack stack of --state-dir",
    )


def _model_type(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-type",
        choices=MODEL_TYPES,
        default="DOCUMENT_CLASSIFIER",
        help="which model (default: %(default)s)",
    )


def _day(value: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day YYYY-MM-DD: {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textloop",
        description="Operate a textloop stack: iterations, reviews, models, data.\n\n"
        "Target: LocalStack from --state-dir (default .localstack), or an AWS deployment with "
        "--api-url/--api-key (env TEXTLOOP_API_URL, TEXTLOOP_API_KEY).",
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=_Formatter,
    )
    target = parser.add_argument_group("target")
    target.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"LocalStack state dir with endpoint and terraform.tfstate (default "
        f"{DEFAULT_STATE_DIR})",
    )
    target.add_argument("--api-url", help="REST API base URL (terraform output api_url)")
    target.add_argument("--api-key", help="API key (terraform output api_key)")
    target.add_argument("--bucket", help="data lake bucket on AWS (env TEXTLOOP_DATA_LAKE_BUCKET)")
    person = parser.add_argument_group("person (people commands: iterations, reviews, models)")
    person.add_argument("--token", help="your bearer token (env TEXTLOOP_TOKEN)")
    person.add_argument(
        "--as",
        dest="as_user",
        metavar="NAME",
        help="LocalStack: mint a token for this user of `users add` (kms:Sign as you)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per HTTP request (default 120)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # iterations ----------------------------------------------------------------
    iterations = commands.add_parser(
        "iterations",
        help="start, list and show active-learning iterations",
        description="Start, list and show active-learning iterations (Step Functions executions).",
    )
    its = iterations.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    start = _add(
        its,
        "start",
        cmd_iterations_start,
        "start an iteration (exit 4 if one is running)",
        "Start an iteration. The config is validated by the API (a misspelt key is a 400, "
        "exit 2). Example: textloop iterations start --set min_new_items=0 --follow",
    )
    _model_type(start)
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
    listing = _add(its, "list", cmd_iterations_list, "recent iterations, newest first")
    listing.add_argument(
        "--model-type", choices=MODEL_TYPES, help="only this model's (default: every model)"
    )
    show = _add(its, "show", cmd_iterations_show, "status and audit record of one iteration")
    show.add_argument("iteration_id")
    approve = _add(
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

    audit = _add(commands, "audit", cmd_audit, "print an iteration's audit record (exit 3 if none)")
    audit.add_argument("iteration_id")

    # reviews -------------------------------------------------------------------
    reviews = commands.add_parser(
        "reviews",
        help="pending review batches; answer one from a file",
        description="Pending review batches, and answering one from a file (the review page "
        "does the same interactively: `textloop review-page`).",
    )
    rev = reviews.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    _add(rev, "list", cmd_reviews_list, "open review batches, oldest first")
    rshow = _add(rev, "show", cmd_reviews_show, "one batch: items, suggestions, options")
    rshow.add_argument("batch_id")
    answer = _add(
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

    # models --------------------------------------------------------------------
    models = commands.add_parser(
        "models",
        help="active model, history, rollback",
        description="The active model, its history, and rollback. Models are promoted only "
        "by an iteration's evaluation gate; rollback returns to an earlier promoted version.",
    )
    mods = models.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    _model_type(_add(mods, "active", cmd_models_active, "the active model and its metrics"))
    _model_type(_add(mods, "history", cmd_models_history, "promotions and rollbacks, oldest first"))
    rollback = _add(
        mods,
        "rollback",
        cmd_models_rollback,
        "point back to an earlier promoted version",
        "Point the active model back to an earlier promoted version (without VERSION: the one "
        "promoted before the active one). Exit 4 when the target cannot serve.",
    )
    rollback.add_argument("version", nargs="?", help="model version (default: the previous one)")
    rollback.add_argument("--reason", required=True, help="why (recorded in the registry)")
    _model_type(rollback)
    promote = _add(
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

    # data, inference, review page --------------------------------------------------
    imp = _add(
        commands,
        "import-dataset",
        cmd_import_dataset,
        "validate a seed training data set and upload it in Comprehend's format",
        "Validate a seed training data set against Comprehend's rules and upload it as the "
        "seed data set a bootstrap iteration trains on (in the data lake under "
        "datasets/seed/<model_type>/: train.csv for a classifier; train.txt and "
        "train-annotations.csv for an entity recogniser). Exit 2 with every problem listed "
        "when it is invalid. Entity recognisers (--model-type ENTITY_RECOGNIZER) import a "
        "SageMaker Ground Truth NER output manifest (--format groundtruth) or Comprehend's "
        "documents file with its annotations CSV (--format comprehend --annotations FILE).",
    )
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--format",
        required=True,
        choices=(*CLASSIFIER_FORMATS, *ENTITY_FORMATS),
        help="classifiers: comprehend-csv (LABEL,text), jsonl ({text, labels}), batch-json "
        '({"classifier", "sentences": [{text, corrected_labels}]}); entity recognisers: '
        "groundtruth (an output.manifest), comprehend (documents file + --annotations)",
    )
    _model_type(imp)
    imp.add_argument(
        "--mode",
        choices=("MULTI_CLASS", "MULTI_LABEL"),
        default="MULTI_CLASS",
        help="classifier mode (default: %(default)s)",
    )
    imp.add_argument(
        "--annotations",
        type=Path,
        help="--format comprehend: the annotations CSV (File,Line,Begin Offset,End Offset,Type)",
    )
    imp.add_argument(
        "--documents-name",
        help="--format comprehend: the File value of the documents' rows in the annotations "
        "CSV (default: the documents file's name)",
    )
    imp.add_argument(
        "--label-attribute",
        help="--format groundtruth: the labelling job's attribute to read (default: found on "
        "each line)",
    )
    imp.add_argument(
        "--skip-invalid-lines",
        action="store_true",
        help="--format groundtruth: import the good lines and list the refused ones",
    )
    imp.add_argument("--dry-run", action="store_true", help="validate only; upload nothing")

    classify = _add(commands, "classify", cmd_classify, "classify a text with the active model")
    classify.add_argument("text")
    _model_type(classify)

    # resources ----------------------------------------------------------------
    resources = commands.add_parser(
        "resources",
        help="run-time AWS resources (endpoints, model versions, flywheels, batch outputs): "
        "list, prune, remove",
        description="The resources the loop creates at run time, which Terraform does not "
        "know: Comprehend endpoints, classifier and recogniser versions, flywheels and their "
        "data sets, batch jobs' outputs in the data lake. Found by their textloop:stack tag. "
        "Without a subcommand: list. On AWS: terraform -chdir=terraform/envs/aws output -json "
        "stack | textloop resources --stack-file - list",
        formatter_class=_Formatter,
    )
    resources.set_defaults(handler=cmd_resources_list, needs_target=False)
    _stack_file(resources)
    res = resources.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    _stack_file(
        _add(
            res,
            "list",
            cmd_resources_list,
            "every run-time resource: kind, model type, ARN/key, status, created, active, cost",
            needs_target=False,
        )
    )
    prune = _add(
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
    remove = _add(
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

    # users --------------------------------------------------------------------
    users = commands.add_parser(
        "users",
        help="people who may sign in (reviewers, operators, approvers) and their tokens",
        description="People who may sign in and their groups: on LocalStack the stack's local "
        "directory (SSM) and tokens signed with its KMS key; on AWS its Cognito user pool "
        "(--user-pool-id, --client-id or env TEXTLOOP_COGNITO_USER_POOL_ID, "
        "TEXTLOOP_COGNITO_CLIENT_ID).",
    )
    usr = users.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    add = _add(usr, "add", cmd_users_add, "add a person (again: set their groups)")
    add.add_argument("name")
    add.add_argument(
        "--group",
        action="append",
        required=True,
        choices=("reviewers", "operators", "approvers"),
        help="repeatable",
    )
    add.add_argument("--email", help="AWS: Cognito e-mails the temporary password there")
    remove = _add(usr, "remove", cmd_users_remove, "remove a person (issued tokens expire)")
    remove.add_argument("name")
    _add(usr, "list", cmd_users_list, "people and their groups")
    token = _add(
        usr,
        "token",
        cmd_users_token,
        "print a bearer token for a person",
        "LocalStack: a token for NAME signed with the stack's KMS key (your kms:Sign). AWS: "
        "sign in to Cognito as NAME (asks for the password) and print the ID token.",
    )
    token.add_argument("name")
    token.add_argument(
        "--minutes", type=int, default=60, help="LocalStack: lifetime (default 60, max 720)"
    )
    for sub in (add, remove, token, usr.choices["list"]):
        sub.add_argument("--user-pool-id", help="AWS: the people user pool")
        sub.add_argument("--client-id", help="AWS: the people app client")

    query = _add(
        commands,
        "query",
        cmd_query,
        "SQL over the data lake's feedback and annotations (DuckDB)",
        "Run SQL over the lake's tables `feedback` and `annotations` (the columns of the Glue "
        "tables Athena queries on AWS) with DuckDB. --lake DIR reads a local copy laid out like "
        "the bucket; otherwise the day partitions of --since..--until (default: the last 7 "
        "days) are first downloaded from the stack's bucket into a temporary directory. "
        "Example: textloop query --named feedback-per-label-per-day --lake ./lake",
        needs_target=False,
    )
    query.add_argument("sql", nargs="?", help="the SQL (tables: feedback, annotations)")
    query.add_argument(
        "--named",
        metavar="NAME",
        help="a named query: feedback-per-label-per-day, review-share-per-model-version, "
        "reviewer-agreement",
    )
    query.add_argument("--lake", type=Path, metavar="DIR", help="a local copy of the lake")
    query.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="first day (dt) to read")
    query.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="last day (dt) to read")
    query.add_argument(
        "--model-type",
        action="append",
        choices=MODEL_TYPES,
        help="only this model type's partitions (repeatable; default: both)",
    )
    query.add_argument("--csv", action="store_true", help="CSV output")
    # SUPPRESS: absent, it leaves the global --json (given before the command) as it was.
    query.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON rows")

    page = _add(
        commands,
        "review-page",
        cmd_review_page,
        "serve the review page on 127.0.0.1 (reviewers sign in with their own token)",
        "Serve the review page on 127.0.0.1. The server holds no credential: each reviewer "
        "signs in with their token. With --as NAME (LocalStack) the printed URL carries a "
        "token for NAME, for the operator who reviews on this machine.",
    )
    page.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    page.add_argument("--open", action="store_true", help="open it in the default browser")
    page.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for usage errors, 0 for --help
        return int(exc.code or 0)
    args.output = Output(args.json)
    args.environ = dict(os.environ) if environ is None else environ
    try:
        if args.needs_target:
            args.target = resolve_target(
                state_dir=args.state_dir,
                api_url=args.api_url,
                api_key=args.api_key,
                bucket=args.bucket,
                environ=args.environ,
            )
        return args.handler(args)
    except CommandError as exc:
        print(f"textloop: {exc}", file=sys.stderr)
        return exc.code
    except UnknownUser as exc:
        print(
            f"textloop: no user {exc}: add one with `textloop users add NAME --group ...`",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    except UsageError as exc:
        print(f"textloop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TargetError as exc:
        print(f"textloop: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ApiError as exc:
        print(
            f"textloop: {exc.method} {exc.path}: HTTP {exc.status}: {describe_error(exc.body)}",
            file=sys.stderr,
        )
        return exit_code_for_status(exc.status)
    except OSError as exc:  # connection refused, DNS, timeouts (urllib.error.URLError too)
        print(f"textloop: cannot reach the API: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        # S3 / Step Functions errors (botocore is imported lazily, so match by module).
        if type(exc).__module__.startswith("botocore"):
            print(f"textloop: AWS call failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise


if __name__ == "__main__":
    sys.exit(main())
