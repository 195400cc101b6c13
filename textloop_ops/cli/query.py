"""``textloop query``: SQL over the data lake's feedback and annotations tables (DuckDB, run by
``textloop_ops.query``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from textloop_ops.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    MODEL_TYPES,
    CommandError,
    add_command,
    cell,
)
from textloop_ops.client import resolve_target


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
            [cell(v) if isinstance(v, (dict, list)) else v for v in row] for row in rows
        )
    else:
        args.output.table(
            [dict(zip(columns, row, strict=True)) for row in rows], columns, data=None
        )


def _day(value: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day YYYY-MM-DD: {value!r}") from None


def add_parsers(commands) -> None:
    query = add_command(
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
