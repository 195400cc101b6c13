"""``textloop``: the operator's command line for one deployed stack (LocalStack or AWS); this
module holds its entry point (``main``, ``build_parser``), each command group its own module.

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
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from textloop_ops.cli import (
    classify,
    import_dataset,
    iterations,
    models,
    query,
    resources,
    review_page,
    reviews,
    users,
)
from textloop_ops.cli.common import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    CommandError,
    Formatter,
    Output,
    exit_code_for_status,
)
from textloop_ops.client import (
    DEFAULT_STATE_DIR,
    ApiError,
    TargetError,
    UsageError,
    describe_error,
    resolve_target,
)
from textloop_ops.people import UnknownUser

# Each registers its commands with add_parsers(commands), in the order `textloop --help` lists.
COMMAND_GROUPS = (
    iterations,
    reviews,
    models,
    import_dataset,
    classify,
    resources,
    users,
    query,
    review_page,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textloop",
        description="Operate a textloop stack: iterations, reviews, models, data.\n\n"
        "Target: LocalStack from --state-dir (default .localstack), or an AWS deployment with "
        "--api-url/--api-key (env TEXTLOOP_API_URL, TEXTLOOP_API_KEY).",
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=Formatter,
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

    for group in COMMAND_GROUPS:
        group.add_parsers(commands)
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
        needs_target = args.needs_target
        if callable(needs_target):
            needs_target = needs_target(args)
        if needs_target:
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
