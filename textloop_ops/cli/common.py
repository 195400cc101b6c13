"""What every ``textloop`` command module shares: exit codes and ``CommandError``, the output
(JSON or tables), the API as the person the options name, and the parser helpers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from textloop_ops.client import UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4

MODEL_TYPES = ("DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER")


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
        cells = [[cell(row.get(c)) for c in columns] for row in rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        self.line("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
        for r in cells:
            self.line("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# --------------------------------------------------------------------------- the person


def person_api(args: argparse.Namespace):
    """The API as the person the options name (people routes)."""
    return args.target.api(timeout=args.timeout, token=person_token(args))


def person_token(args: argparse.Namespace) -> str | None:
    """``--token`` / TEXTLOOP_TOKEN, or a token minted for ``--as NAME`` (once per command)."""
    if getattr(args, "person_token", None) is None:
        if args.as_user:
            args.person_token = local_people(args).token(args.as_user)
        else:
            args.person_token = args.token or args.environ.get("TEXTLOOP_TOKEN") or ""
    return args.person_token or None


def local_people(args: argparse.Namespace):
    from textloop_ops.people import LocalPeople

    if not args.target.is_localstack:
        raise UsageError(
            "--as and local users need the stack's KMS signing key (LocalStack); on AWS sign "
            "in with Cognito: `textloop users token NAME --client-id ...`, then --token"
        )
    return LocalPeople(args.target)


# --------------------------------------------------------------------------- parser helpers


class Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def add_command(
    sub,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    help_: str,
    description: str | None = None,
    needs_target: bool | Callable[[argparse.Namespace], bool] = True,
) -> argparse.ArgumentParser:
    """``needs_target``: whether ``main`` resolves the API target before ``handler`` runs (a
    function of the parsed arguments when that depends on them)."""
    parser = sub.add_parser(
        name, help=help_, description=description or help_, formatter_class=Formatter
    )
    parser.set_defaults(handler=handler, needs_target=needs_target)
    return parser


def add_model_type(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-type",
        choices=MODEL_TYPES,
        default="DOCUMENT_CLASSIFIER",
        help="which model (default: %(default)s)",
    )
