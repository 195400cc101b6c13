"""The lake's tables (Glue on AWS, DuckDB in ``textloop query``) against the files they read:
the key templates against ``textloop.domain.layout``, the columns against the feedback record
schema and the annotation rows MergeAnswers writes, and ``textloop query`` over a small lake of
real records (a local directory, and S3 through moto) against counts made in Python."""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from textloop.domain import feedback, layout
from textloop.domain.annotations import Answer, added_answers, merge_answers
from textloop.domain.names import ModelType
from textloop.domain.predictions import EntitySpan, LabelScore, Prediction
from textloop.domain.thresholds import Thresholds, route

from tests.support import FUNCTIONS, REPO
from textloop_ops import cli, query

TABLES = query.table_definitions()
ANALYTICS_TF = REPO / "terraform/modules/textloop/analytics.tf"
RECORD_SCHEMA = FUNCTIONS / "shared/textloop/schemas/feedback-record.v1.json"
TEMPLATE_VARIABLE = re.compile(r"\$\{([a-z_]+)\}")


def render(template: str, **values: str) -> str:
    """What Athena does with ``storage.location.template`` for one projected partition."""
    return TEMPLATE_VARIABLE.sub(lambda m: values[m.group(1)], template)


# --------------------------------------------------------------------------- definitions


def test_partition_templates_render_to_the_layouts_keys():
    feedback_table, annotations_table = TABLES["feedback"], TABLES["annotations"]
    assert feedback_table["prefix"] == layout.FEEDBACK_PREFIX
    assert annotations_table["prefix"] == layout.ANNOTATIONS_ADDED_PREFIX
    for model_type in ModelType:
        for day, hour in [("2024-01-01", "00"), ("2026-12-01", "07"), ("2031-02-28", "23")]:
            partition = render(
                feedback_table["location_template"], model_type=model_type, dt=day, hour=hour
            )
            assert partition == layout.feedback_hour_prefix(model_type, f"{day}T{hour}")
            key = layout.feedback_file_key(model_type, f"{day}T{hour}", "0123abcd")
            assert key.startswith(partition) and "/" not in key[len(partition) :]
            assert key.startswith(feedback_table["prefix"])
            assert layout.feedback_file_partition(key) == (model_type, f"{day}T{hour}")

            partition = render(
                annotations_table["location_template"], model_type=model_type, dt=day
            )
            assert partition == layout.annotations_added_day_prefix(model_type, day)
            key = layout.annotations_added_key(model_type, day, "it-1")
            assert key.startswith(partition) and "/" not in key[len(partition) :]


def test_projection_covers_every_partition_the_layout_writes():
    for name, table in TABLES.items():
        projection = table["projection"]
        keys = [p["name"] for p in table["partition_keys"]]
        assert set(TEMPLATE_VARIABLE.findall(table["location_template"])) == set(keys), name
        assert all(p["type"] == "string" for p in table["partition_keys"])
        assert projection["projection.model_type.type"] == "enum"
        assert projection["projection.model_type.values"].split(",") == [m.value for m in ModelType]
        assert projection["projection.dt.type"] == "date"
        assert projection["projection.dt.format"] == "yyyy-MM-dd"
        assert projection["projection.dt.range"] == "2024-01-01,NOW"
        assert {k.split(".")[1] for k in projection} == set(keys), name
    hours = TABLES["feedback"]["projection"]
    assert hours["projection.hour.type"] == "integer"
    assert hours["projection.hour.range"] == "0,23" and hours["projection.hour.digits"] == "2"
    # Every hour the layout can write is one the projection enumerates, as two digits.
    low, high = map(int, hours["projection.hour.range"].split(","))
    stamp = datetime(2026, 12, 1, tzinfo=UTC)
    seen = {
        layout.feedback_hour(f"{stamp + timedelta(hours=h):%Y-%m-%dT%H}:00:00.000Z")[11:]
        for h in range(24)
    }
    assert seen == {f"{h:0{hours['projection.hour.digits']}d}" for h in range(low, high + 1)}


def test_terraform_builds_the_tables_from_the_definitions():
    text = ANALYTICS_TF.read_text()
    assert 'jsondecode(file("${path.module}/analytics/tables.json"))' in text
    assert '"org.openx.data.jsonserde.JsonSerDe"' in text
    assert (
        '"storage.location.template" = "s3://${module.data_lake.bucket_name}/'
        '${local.lake_tables[each.key].location_template}"'
    ) in text
    assert '"projection.enabled" = "true"' in text
    assert 'toset(["feedback", "annotations"])' in text and set(TABLES) == {
        "feedback",
        "annotations",
    }


def test_the_athena_named_query_answers_with_the_columns_of_its_duckdb_twin():
    athena = (ANALYTICS_TF.parent / "analytics/feedback_per_label_per_day.sql").read_text()
    assert (
        'file("${path.module}/analytics/feedback_per_label_per_day.sql")'
        in ANALYTICS_TF.read_text()
    )

    def select(sql: str) -> str:
        return next(line for line in sql.splitlines() if line.startswith("SELECT"))

    assert select(athena) == select(query.named("feedback-per-label-per-day"))
    assert "FROM feedback" in athena and "GROUP BY model_type, dt, label_source, label" in athena


def test_feedback_columns_are_the_record_schemas_fields():
    schema = json.loads(RECORD_SCHEMA.read_text())
    columns = [c["name"] for c in TABLES["feedback"]["columns"]]
    partitions = [p["name"] for p in TABLES["feedback"]["partition_keys"]]
    assert len(columns) == len(set(columns))
    # model_type is the partition (Glue allows no column of the same name); dt and hour are
    # where the file landed.
    assert set(columns) == set(schema["properties"]) - {"model_type"}
    assert set(partitions) == {"model_type", "dt", "hour"}
    # Nested objects of one shape are structs with the schema's fields.
    types = {c["name"]: c["type"] for c in TABLES["feedback"]["columns"]}
    defs = schema["$defs"]
    for field in ("submitter", "origin"):
        assert _struct_fields(types[field]) == set(defs[field]["properties"])
    assert _struct_fields(types["prediction"]) == set(defs["prediction"]["properties"])


def _struct_fields(hive: str) -> set[str]:
    """Top-level field names of a Hive struct type."""
    body, depth, fields, current = hive[len("struct<") : -1], 0, set(), ""
    for ch in body + ",":
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            fields.add(current.split(":", 1)[0])
            current = ""
        else:
            current += ch
    return fields


def test_annotation_columns_are_what_merge_answers_writes():
    columns = {c["name"] for c in TABLES["annotations"]["columns"]}
    written = set()
    for model_type, answer in [
        ("DOCUMENT_CLASSIFIER", {"labels": ["Sports"]}),
        ("ENTITY_RECOGNIZER", {"entities": [{"begin_offset": 0, "end_offset": 4, "type": "ORG"}]}),
    ]:
        pool = merge_answers(
            None,
            [
                Answer.from_dict(
                    {
                        "item_id": "i1",
                        "text": "Acme wins the cup",
                        "reviewer_id": "r1",
                        "answered_at": "2026-12-01T10:00:00.000Z",
                        "source": "review",
                        **answer,
                    },
                    model_type,
                )
            ],
            model_type=model_type,
        )
        (row,) = added_answers(None, pool, iteration_id="it-1")
        written |= set(row)
    assert written == columns


def test_every_column_type_has_a_duckdb_type():
    assert query.duckdb_type("array<struct<begin_offset:int,type:string>>") == (
        'STRUCT("begin_offset" INTEGER, "type" VARCHAR)[]'
    )
    assert query.duckdb_type("map<string,double>") == "MAP(VARCHAR, DOUBLE)"
    for table in TABLES.values():
        for column in table["columns"]:
            assert query.duckdb_type(column["type"])
    for broken in ("struct<a:int", "array<>", "varchar", "array<int>>"):
        with pytest.raises(ValueError):
            query.duckdb_type(broken)


# --------------------------------------------------------------------------- a small lake


def _classifier_prediction(top: str, score: float) -> Prediction:
    others = [label for label in ("World", "Sports", "Business", "SciTech") if label != top]
    rest = (1 - score) / 3
    return Prediction(
        model_type="DOCUMENT_CLASSIFIER",
        model_version="v7",
        mode="MULTI_CLASS",
        labels=(LabelScore(top, score), *(LabelScore(o, rest) for o in others)),
    )


def _records(start: datetime) -> list[feedback.FeedbackRecord]:
    """Real records of both model types and every source, over two days."""
    thresholds = Thresholds()
    out = []
    for n, (top, score) in enumerate(
        [("World", 0.41), ("Sports", 0.38), ("World", 0.45), ("SciTech", 0.3), ("Sports", 0.49)]
    ):
        prediction = _classifier_prediction(top, score)
        out.append(
            feedback.build_implicit_record(
                text=f"headline number {n} about {top}",
                prediction=prediction,
                decision=route(prediction, thresholds),
                thresholds=thresholds,
                observed_at=start + timedelta(hours=7 * n),
            )
        )
    for n, label in enumerate(["Business", "World", "Business"]):
        out.append(
            feedback.build_batch_record(
                text=f"corrected headline {n}",
                corrected_labels=[label],
                model_type="DOCUMENT_CLASSIFIER",
                mode="MULTI_CLASS",
                submitter={"application_id": "news-app"},
                origin={"bucket": "lake", "key": "uploads/feedback/x.jsonl", "line": n + 1},
                observed_at=start + timedelta(hours=20 + n),
                created_at=start + timedelta(hours=20 + n),
            )
        )
    out.append(  # a bare review request: neither a prediction nor a correction
        feedback.build_batch_record(
            text="please review this",
            corrected_labels=None,
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            submitter={"application_id": "news-app"},
            origin={"bucket": "lake", "key": "uploads/feedback/x.jsonl", "line": 9},
            observed_at=start,
            created_at=start,
        )
    )
    text = "Acme hired Ada Lovelace in London"
    entities = Prediction(
        model_type="ENTITY_RECOGNIZER",
        model_version="ner-3",
        mode=None,
        entities=(
            EntitySpan(0, 4, "ORG", 0.42),
            EntitySpan(11, 23, "PERSON", 0.9),
            EntitySpan(27, 33, "LOCATION", 0.35),
        ),
    )
    out.append(
        feedback.build_implicit_record(
            text=text,
            prediction=entities,
            decision=route(entities, thresholds),
            thresholds=thresholds,
            observed_at=start + timedelta(hours=30),
        )
    )
    out.append(
        feedback.build_batch_record(
            text=text,
            corrected_labels=[
                {"begin_offset": 0, "end_offset": 4, "type": "ORG"},
                {"begin_offset": 11, "end_offset": 23, "type": "PERSON"},
                {"begin_offset": 27, "end_offset": 33, "type": "PERSON"},
            ],
            model_type="ENTITY_RECOGNIZER",
            mode=None,
            submitter={"user_id": "ana"},
            origin={"bucket": "lake", "key": "uploads/feedback/y.jsonl", "line": 1},
            observed_at=start + timedelta(hours=31),
            created_at=start + timedelta(hours=31),
        )
    )
    for record in out:
        assert feedback.validate_record(record) == []
    return out


def _write_lake(records: list[feedback.FeedbackRecord], put) -> None:
    """Files as the buffered intake writes them: one per (model type, hour), gzipped JSON Lines;
    the first hour's file delivered twice under two names (a record in two files counts once)."""
    groups = defaultdict(list)
    for record in records:
        groups[(record.model_type, layout.feedback_hour(record.observed_at))].append(record)
    for n, ((model_type, hour), group) in enumerate(sorted(groups.items())):
        body = gzip.compress(b"".join(r.to_json() for r in group), mtime=0)
        put(layout.feedback_file_key(model_type, hour, f"file{n:03d}"), body)
        if n == 0:
            put(layout.feedback_file_key(model_type, hour, "redelivered"), body)


def _expected_per_label_per_day(records: list[feedback.FeedbackRecord]) -> list[dict]:
    """The named query's answer, computed from the records."""
    ids = defaultdict(set)
    for r in records:
        if r.corrected_labels is not None:
            source = "corrected"
            labels = [c if isinstance(c, str) else c.type for c in r.corrected_labels]
        elif r.prediction is not None:
            source = "predicted"
            if r.model_type == "DOCUMENT_CLASSIFIER":
                labels = [r.prediction.labels[0].label]
            else:
                labels = [e.type for e in r.prediction.entities]
        else:
            continue
        for label in labels:
            ids[(r.model_type, r.observed_at[:10], source, label)].add(r.id)
    return [
        {"model_type": k[0], "dt": k[1], "label_source": k[2], "label": k[3], "records": len(v)}
        for k, v in ids.items()
    ]


def _ordered(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["dt"], r["model_type"], r["label_source"], r["label"]))


@pytest.fixture
def lake(tmp_path) -> tuple[Path, list[feedback.FeedbackRecord]]:
    records = _records(datetime(2026, 11, 29, 1, 15, tzinfo=UTC))

    def put(key: str, body: bytes) -> None:
        path = tmp_path / "lake" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    _write_lake(records, put)
    return tmp_path / "lake", records


def _run(capsys, *argv: str) -> list[dict]:
    assert cli.main(["--json", "query", *argv], environ={}) == 0
    return json.loads(capsys.readouterr().out)


def test_feedback_per_label_per_day_counts_what_python_counts(lake, capsys):
    root, records = lake
    expected = _ordered(_expected_per_label_per_day(records))
    assert {r["dt"] for r in expected} == {"2026-11-29", "2026-11-30"}
    assert {r["label_source"] for r in expected} == {"corrected", "predicted"}
    rows = _run(capsys, "--named", "feedback-per-label-per-day", "--lake", str(root))
    assert rows == expected
    # --json after the command works as before it.
    assert (
        cli.main(
            ["query", "--named", "feedback-per-label-per-day", "--lake", str(root), "--json"],
            environ={},
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == expected
    # The same files through plain SQL: one row per distinct record, every record but none twice.
    (count,) = _run(
        capsys,
        "SELECT count(DISTINCT id) AS n, count(*) AS rows FROM feedback",
        "--lake",
        str(root),
    )
    assert count["n"] == len(records) and count["rows"] > len(records)


def test_partition_filters_and_columns(lake, capsys):
    root, records = lake
    rows = _run(
        capsys,
        "SELECT model_type, dt, hour, model_version, prediction.routed_to_review AS routed, "
        "submitter.application_id AS app, origin.line AS line, corrected_labels FROM feedback "
        "ORDER BY dt, hour, id",
        "--lake",
        str(root),
        "--since",
        "2026-11-30",
        "--model-type",
        "ENTITY_RECOGNIZER",
    )
    wanted = [
        r for r in records if r.model_type == "ENTITY_RECOGNIZER" and r.observed_at >= "2026-11-30"
    ]
    assert len(rows) == len(wanted) == 2
    assert {r["hour"] for r in rows} == {r.observed_at[11:13] for r in wanted}
    corrected = next(r for r in rows if r["corrected_labels"] is not None)
    assert json.loads(corrected["corrected_labels"])[2] == {
        "begin_offset": 27,
        "end_offset": 33,
        "type": "PERSON",
    }
    assert corrected["line"] == 1 and corrected["model_version"] is None
    implicit = next(r for r in rows if r["corrected_labels"] is None)
    assert implicit["routed"] is True and implicit["model_version"] == "ner-3"


def test_annotations_table_and_reviewer_agreement(tmp_path, capsys):
    answers = [
        {"item_id": "a", "text": "Stocks rally", "reviewer_id": "r1", "labels": ["Business"]},
        {"item_id": "a", "text": "Stocks rally", "reviewer_id": "r2", "labels": ["Business"]},
        {"item_id": "a", "text": "Stocks rally", "reviewer_id": "r3", "labels": ["World"]},
        {"item_id": "b", "text": "Cup final tonight", "reviewer_id": "r3", "labels": ["Sports"]},
    ]
    pool = merge_answers(
        None,
        [
            {**a, "answered_at": f"2026-12-01T10:00:0{n}.000Z", "source": "review"}
            for n, a in enumerate(answers)
        ],
        model_type="DOCUMENT_CLASSIFIER",
    )
    rows = added_answers(None, pool, iteration_id="it-7")
    key = layout.annotations_added_key("DOCUMENT_CLASSIFIER", "2026-12-01", "it-7")
    path = tmp_path / key
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))

    got = _run(capsys, "--named", "reviewer-agreement", "--lake", str(tmp_path))
    assert got == [
        {"model_type": "DOCUMENT_CLASSIFIER", "reviewer_id": "r1", "answers": 1, "agreement": 1.0},
        {"model_type": "DOCUMENT_CLASSIFIER", "reviewer_id": "r2", "answers": 1, "agreement": 1.0},
        {"model_type": "DOCUMENT_CLASSIFIER", "reviewer_id": "r3", "answers": 2, "agreement": 0.5},
    ]
    (row,) = _run(
        capsys,
        "SELECT dt, iteration_id, pool_version, count(*) AS n FROM annotations GROUP BY ALL",
        "--lake",
        str(tmp_path),
    )
    assert row == {
        "dt": "2026-12-01",
        "iteration_id": "it-7",
        "pool_version": pool.pool_version,
        "n": 4,
    }
    # No feedback files: the table is empty, with its columns.
    (empty,) = _run(
        capsys,
        "SELECT count(*) AS n, max(prediction.routed_to_review) AS r FROM feedback",
        "--lake",
        str(tmp_path),
    )
    assert empty == {"n": 0, "r": None}


def test_review_share_per_model_version_and_csv(lake, capsys):
    root, records = lake
    assert (
        cli.main(
            ["query", "--named", "review-share-per-model-version", "--lake", str(root), "--csv"],
            environ={},
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model_type,model_version,predictions,routed_share"
    predicted = defaultdict(int)
    for r in records:
        if r.prediction is not None:
            predicted[(r.model_type, r.model_version)] += 1
    # Each record once per file it is in: the re-delivered file's records count twice here, as
    # they would in Athena (only count(DISTINCT id) collapses them).
    assert {tuple(line.split(",")[:2]) for line in lines[1:]} == set(predicted)


def test_bad_sql_and_usage_exit_2(lake, capsys):
    root, _ = lake
    assert cli.main(["query", "SELECT nope FROM feedback", "--lake", str(root)], environ={}) == 2
    assert "nope" in capsys.readouterr().err
    assert cli.main(["query", "--named", "nothing", "--lake", str(root)], environ={}) == 2
    assert cli.main(["query", "--lake", str(root)], environ={}) == 2
    assert cli.main(["query", "SELECT 1", "--since", "yesterday"], environ={}) == 2


def test_s3_reads_only_the_partitions_of_the_days_asked(aws, capsys):
    bucket = "lake-query-test"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    records = _records(datetime(2026, 11, 29, 1, 15, tzinfo=UTC))
    _write_lake(records, lambda key, body: s3.put_object(Bucket=bucket, Key=key, Body=body))
    env = {"TEXTLOOP_DATA_LAKE_BUCKET": bucket}
    argv = [
        "--json",
        "query",
        "--named",
        "feedback-per-label-per-day",
        "--since",
        "2026-11-30",
        "--until",
        "2026-11-30",
    ]
    assert cli.main(argv, environ=env) == 0
    out = capsys.readouterr()
    later = [r for r in records if r.observed_at.startswith("2026-11-30")]
    assert json.loads(out.out) == _ordered(_expected_per_label_per_day(later))
    files = {k["Key"] for k in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    day_files = [k for k in files if "/dt=2026-11-30/" in k]
    assert 0 < len(day_files) < len(files)
    assert f"read {len(day_files)} files" in out.err and "2026-11-30..2026-11-30" in out.err
