"""``textloop query``: SQL over the data lake's files with DuckDB, the local twin of Athena.

The tables are the Glue tables of ``terraform/modules/textloop/analytics/tables.json`` (Terraform
reads the same file): ``feedback`` (every feedback record) and ``annotations`` (the answers each
iteration's merge added to the pool), with the same columns and the same Hive-style partition
columns (``model_type``, ``dt``, ``hour``: strings, as in Glue). Each is a DuckDB view over
``read_json(..., hive_partitioning=true)`` of a directory laid out like the bucket.

The directory is either a local mirror (``--lake DIR``: tests, the benchmark, a copy made with
``aws s3 sync``) or a temporary one this module fills from the stack's bucket with boto3, one
day partition after another, limited to ``--since``/``--until`` and the model types asked
for. DuckDB could read S3 itself through its httpfs extension, but DuckDB downloads extensions
at run time, which an offline machine (and LocalStack's CI) cannot; the partitions a query
needs are small next to the lake, because they are days, not the whole history.

The named queries (``NAMED``) are the README's examples; ``feedback-per-label-per-day`` is the
DuckDB spelling of the Athena named query of ``analytics/feedback_per_label_per_day.sql``.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

TABLES_FILE = (
    Path(__file__).resolve().parents[1] / "terraform/modules/textloop/analytics/tables.json"
)
TABLES = ("feedback", "annotations")
DEFAULT_DAYS = 7

NAMED = {
    "feedback-per-label-per-day": """
-- Feedback per label, day and model type: the labels a person gave (corrected_labels: label
-- names, or spans whose type is the label), else the model's prediction (a classifier's top
-- label, a recogniser's entity types).
SELECT model_type, dt, label_source, label, count(DISTINCT id) AS records
FROM (
  SELECT
    id, model_type, dt,
    IF(corrected_labels IS NULL, 'predicted', 'corrected') AS label_source,
    CASE
      WHEN corrected_labels IS NOT NULL AND model_type = 'DOCUMENT_CLASSIFIER'
        THEN CAST(corrected_labels::JSON AS VARCHAR[])
      WHEN corrected_labels IS NOT NULL
        THEN list_transform(CAST(corrected_labels::JSON AS JSON[]),
                            lambda s: json_extract_string(s, '$.type'))
      WHEN model_type = 'DOCUMENT_CLASSIFIER'
        THEN list_transform(prediction.labels, lambda l: l.label)[1:1]
      ELSE list_transform(prediction.entities, lambda e: e.type)
    END AS labels
  FROM feedback
) AS labelled, unnest(labels) AS t(label)
GROUP BY ALL
ORDER BY dt, model_type, label_source, label
""",
    "review-share-per-model-version": """
-- Of the predictions recorded (implicit feedback), the share routed to review, per model version.
SELECT model_type, model_version, count(*) AS predictions,
       avg(CASE WHEN prediction.routed_to_review THEN 1 ELSE 0 END) AS routed_share
FROM feedback
WHERE prediction IS NOT NULL
GROUP BY ALL
ORDER BY model_type, model_version
""",
    "reviewer-agreement": """
-- Per reviewer: answers given, and the share that agree with the pool's merged annotation.
SELECT model_type, reviewer_id, count(*) AS answers,
       avg(CASE WHEN model_type = 'ENTITY_RECOGNIZER' THEN (entities = pool_entities)::INT
                ELSE (list_sort(labels) = list_sort(pool_labels))::INT END) AS agreement
FROM annotations
GROUP BY ALL
ORDER BY model_type, reviewer_id
""",
}


class QueryError(Exception):
    """Bad SQL, an unknown named query, or a lake directory that is not one."""


def table_definitions(path: Path = TABLES_FILE) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    return {name: data[name] for name in TABLES}


# --------------------------------------------------------------------------- Hive -> DuckDB types

_SCALARS = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
}
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|[<>,:])")


def duckdb_type(hive: str) -> str:
    """The DuckDB type of a Glue (Hive) column type: ``array<struct<a:int>>`` ->
    ``STRUCT("a" INTEGER)[]``. Written by hand: a recursive descent over the few Hive types
    tables.json uses; anything else is an error, not a guess."""
    tokens = [m.group(1) for m in _TOKEN.finditer(hive)]
    if "".join(tokens) != re.sub(r"\s", "", hive):
        raise ValueError(f"not a Hive type: {hive!r}")
    out, rest = _parse(tokens)
    if rest:
        raise ValueError(f"not a Hive type: {hive!r}")
    return out


def _expect(tokens: list[str], token: str) -> list[str]:
    if not tokens or tokens[0] != token:
        raise ValueError(f"expected {token!r} in a Hive type, got {tokens[:1]}")
    return tokens[1:]


def _parse(tokens: list[str]) -> tuple[str, list[str]]:
    if not tokens:
        raise ValueError("a Hive type ended early")
    head, rest = tokens[0].lower(), tokens[1:]
    if head in _SCALARS:
        return _SCALARS[head], rest
    if head == "array":
        inner, rest = _parse(_expect(rest, "<"))
        return f"{inner}[]", _expect(rest, ">")
    if head == "map":
        key, rest = _parse(_expect(rest, "<"))
        value, rest = _parse(_expect(rest, ","))
        return f"MAP({key}, {value})", _expect(rest, ">")
    if head == "struct":
        rest = _expect(rest, "<")
        fields = []
        while True:
            name, rest = rest[0], _expect(rest[1:], ":")
            kind, rest = _parse(rest)
            fields.append(f'"{name}" {kind}')
            if rest and rest[0] == ",":
                rest = rest[1:]
                continue
            return f"STRUCT({', '.join(fields)})", _expect(rest, ">")
    raise ValueError(f"unsupported Hive type {head!r}")


# --------------------------------------------------------------------------- the views


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def view_sql(name: str, table: dict[str, Any], lake: Path, where: str = "") -> str:
    """``CREATE VIEW`` of one table over the files under ``lake`` (its Hive-style layout),
    limited by ``where`` (a condition on the partition columns, or nothing)."""
    columns = [(c["name"], duckdb_type(c["type"])) for c in table["columns"]]
    partitions = [p["name"] for p in table["partition_keys"]]
    selected = ", ".join(f'"{n}"' for n, _ in columns + [(p, "") for p in partitions])
    root = lake / table["prefix"]
    # One directory level per partition key; the file name is the layout's, nothing else.
    pattern = str(root / ("*/" * len(partitions)) / "*.jsonl.gz")
    if not any(root.glob("/".join(["*"] * len(partitions) + ["*.jsonl.gz"]))):
        # read_json refuses a glob that matches nothing: an empty table keeps its columns.
        typed = [f'CAST(NULL AS {t}) AS "{n}"' for n, t in columns] + [
            f'CAST(NULL AS VARCHAR) AS "{p}"' for p in partitions
        ]
        return f"CREATE VIEW {name} AS SELECT {', '.join(typed)} WHERE false"
    column_map = "{" + ", ".join(f"{_sql_string(n)}: {_sql_string(t)}" for n, t in columns) + "}"
    hive_types = "{" + ", ".join(f"{_sql_string(p)}: 'VARCHAR'" for p in partitions) + "}"
    source = (
        f"read_json({_sql_string(pattern)}, format='newline_delimited', compression='gzip', "
        f"hive_partitioning=true, union_by_name=true, columns={column_map}, "
        f"hive_types={hive_types})"
    )
    # Names and types come from tables.json, values are quoted by _sql_string (and the SQL that
    # runs over the views is the operator's own anyway).
    condition = f" WHERE {where}" if where else ""
    return f"CREATE VIEW {name} AS SELECT {selected} FROM {source}{condition}"  # noqa: S608


def partition_filter(
    since: date | None, until: date | None, model_types: Sequence[str] | None
) -> str:
    """The views' condition on the partition columns (dt is a ``YYYY-MM-DD`` string, so string
    order is day order)."""
    conditions = []
    if since is not None:
        conditions.append(f"dt >= {_sql_string(since.isoformat())}")
    if until is not None:
        conditions.append(f"dt <= {_sql_string(until.isoformat())}")
    if model_types:
        conditions.append(f"model_type IN ({', '.join(_sql_string(m) for m in model_types)})")
    return " AND ".join(conditions)


def connect(lake: Path, where: str = "", tables: dict[str, dict[str, Any]] | None = None):
    """A DuckDB connection with the views ``feedback`` and ``annotations`` over ``lake``."""
    import duckdb

    if not lake.is_dir():
        raise QueryError(f"{lake} is not a directory")
    connection = duckdb.connect()
    for name, table in (tables or table_definitions()).items():
        connection.execute(view_sql(name, table, lake, where))
    return connection


def run(lake: Path, sql: str, where: str = "") -> tuple[list[str], list[tuple[Any, ...]]]:
    """``sql`` over the lake's views: the column names and the rows."""
    import duckdb

    connection = connect(lake, where)
    try:
        result = connection.execute(sql)
        columns = [d[0] for d in result.description or ()]
        return columns, result.fetchall()
    except duckdb.Error as exc:
        raise QueryError(str(exc).splitlines()[0]) from None
    finally:
        connection.close()


def named(name: str) -> str:
    try:
        return NAMED[name]
    except KeyError:
        raise QueryError(f"no named query {name!r}; named queries: {', '.join(NAMED)}") from None


# --------------------------------------------------------------------------- from S3


def days(since: date, until: date) -> list[str]:
    if until < since:
        raise QueryError(f"--until {until} is before --since {since}")
    return [(since + timedelta(days=n)).isoformat() for n in range((until - since).days + 1)]


def partition_prefixes(model_types: Iterable[str], day_list: Sequence[str]) -> Iterator[str]:
    """The day partitions of both tables a query over ``model_types`` and ``day_list`` reads."""
    from textloop.domain import layout

    for model_type in model_types:
        for day in day_list:
            yield layout.feedback_day_prefix(model_type, day)
            yield layout.annotations_added_day_prefix(model_type, day)


def download(s3: Any, bucket: str, prefixes: Iterable[str], into: Path) -> dict[str, int]:
    """Copy the table files under ``prefixes`` from ``bucket`` to the same keys under ``into``;
    the number of files and bytes."""
    from textloop.domain import layout

    files = size = 0
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith(layout.FEEDBACK_FILE_SUFFIX) or ".." in key.split("/"):
                    continue
                target = into / key
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, key, str(target))
                files += 1
                size += item.get("Size", 0)
    return {"files": files, "bytes": size}


@contextmanager
def s3_mirror(s3: Any, bucket: str, prefixes: Iterable[str]) -> Iterator[tuple[Path, dict]]:
    """A temporary lake directory with the partitions ``prefixes`` name, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="textloop-query-") as tmp:
        stats = download(s3, bucket, prefixes, Path(tmp))
        yield Path(tmp), stats
