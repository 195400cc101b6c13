"""Batch feedback files under hostile input (issue 11), through the S3-triggered handler: every
hostile line is a per-line error with its line number (or item index), the good lines are kept,
and the function never fails (a failure would make S3 retry the whole file)."""

from __future__ import annotations

import gzip
import json

import boto3

from tests.support.events import s3_put_event
from tests.support.hostile import DEEP, VERY_DEEP, ZERO_WIDTH, invoke, nested

from .test_inference_handlers import BUCKET, deployed, feedback_objects, object_lines  # noqa: F401

NAME = "textloop-batch-feedback"


def upload(key: str, body: bytes) -> dict:
    s3 = boto3.client("s3")
    put = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    event = s3_put_event(BUCKET, key, etag=put["ETag"].strip('"'), version_id=put.get("VersionId"))
    result = invoke(NAME, event)["uploads"][0]
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=result["errors_key"])["Body"].read())
    return report


def errors_by_position(report: dict, position: str) -> dict[int, list[tuple[str, str]]]:
    return {
        e[position]: [(x["field"], x["message"]) for x in e["errors"]] for e in report["errors"]
    }


def stored_records() -> list[dict]:
    return [json.loads(line) for obj in feedback_objects() for line in object_lines(obj["Key"])]


def good(text: str, label: str = "Business") -> bytes:
    return json.dumps({"text": text, "corrected_labels": [label]}).encode()


def test_jsonl_hostile_lines_are_errors_of_their_line_and_good_lines_stay(deployed):  # noqa: F811
    lines = [
        good("Stocks rally on rate cut"),  # 1
        b'{"text": "deep", "corrected_labels": ' + nested(DEEP).encode() + b"}",  # 2
        # 3: a RecursionError failed the whole upload (deep enough for json, under the line limit)
        nested(100_000).encode(),
        b'{"text": "nan", "corrected_labels": ["World"], "user_id": NaN}',  # 4
        b'{"text": "surrogate", "user_id": "u\\ud800"}',  # 5
        b'{"text": "label surrogate", "corrected_labels": ["Sp\\udc00orts"]}',  # 6
        good("Unknown label", "Weather"),  # 7
        json.dumps({"text": ZERO_WIDTH}).encode(),  # 8
        b'{"text": "one", "text": "two"}',  # 9
        b'{"text": "big", "corrected_labels": ["World"], "user_id": ' + b"7" * 5000 + b"}",  # 10
        b'{"text": "inf", "corrected_labels": [1e400]}',  # 11
        json.dumps({"text": "invisible user", "user_id": "\u2060"}).encode(),  # 12
        b'{"text": "\\ud83d\\ude00 emoji is fine", "corrected_labels": ["World"]}',  # 13
        good("The striker scored twice", "Sports"),  # 14
    ]
    report = upload("uploads/feedback/DOCUMENT_CLASSIFIER/partner/hostile.jsonl", b"\n".join(lines))
    found = errors_by_position(report, "line")
    assert sorted(found) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert found[2] == [("corrected_labels", "is nested deeper than 32 levels")]
    assert found[3] == [("$", "is nested deeper than 32 levels")]
    assert found[4][0][0] == "user_id" and found[4][0][1].startswith("must be a finite")
    assert found[5] == [("user_id", "must be valid UTF-8 (invalid code point at character 1)")]
    assert found[6][0][0] == "corrected_labels[0]"
    assert found[7][0][0] == "corrected_labels[0]"
    assert found[7][0][1].startswith("is not a label of the model (Business, SciTech")
    assert found[8] == [("text", "must not be empty or whitespace only")]
    assert found[9] == [("text", "is given more than once")]
    assert found[10][0][0] == "user_id"
    assert found[11][0][0] == "corrected_labels[0]"
    assert found[12] == [("user_id", "must not be empty or whitespace only")]
    assert report["accepted"] == 3 and report["status"] == "completed_with_errors"
    assert sorted(r["origin"]["line"] for r in stored_records()) == [1, 13, 14]


def test_csv_short_rows_bad_bytes_and_unknown_labels_are_errors_of_their_row(deployed):  # noqa: F811
    body = (
        b"text,corrected_labels,user_id\r\n"  # 1
        b"Stocks rally,Business,u-1\r\n"  # 2
        b"Too few,World\r\n"  # 3: was stored as a correction without its user
        b"Too,many,fields,here\r\n"  # 4
        b"Bad user bytes,World,\xff\xfe\r\n"  # 5: was a UnicodeEncodeError for the file
        b"Unknown label,Weather,u-2\r\n"  # 6
        b"\xe2\x80\x8b\xe2\x81\xa0,World,u-3\r\n"  # 7: zero-width only
        b"Label bytes,Wor\xffld,u-4\r\n"  # 8
        b"Only text\r\n"  # 9
        b"The striker scored twice,Sports,u-5\r\n"  # 10
        b"Hidden joiner,World,u\xe2\x80\x8d6\r\n"  # 11: "u\u200d6" looks like "u6"
    )
    report = upload("uploads/feedback/DOCUMENT_CLASSIFIER/partner/hostile.csv", body)
    found = errors_by_position(report, "line")
    assert found == {
        3: [("$", "has 2 fields; the header has 3")],
        4: [("$", "has 4 fields; the header has 3")],
        5: [("user_id", "must be valid UTF-8 (invalid code point at character 0)")],
        6: [
            (
                "corrected_labels[0]",
                "is not a label of the model (Business, SciTech, Sports, World)",
            )
        ],
        7: [("text", "must not be empty or whitespace only")],
        8: [("corrected_labels[0]", "must be valid UTF-8 (invalid code point at character 3)")],
        9: [("$", "has 1 fields; the header has 3")],
        11: [("user_id", "must not contain invisible or control characters (character 1)")],
    }
    assert sorted(r["origin"]["line"] for r in stored_records()) == [2, 10]


def test_json_items_too_deep_too_big_or_repeated_are_errors_of_their_item(deployed):  # noqa: F811
    items = [
        b'"Stocks rally on rate cut"',  # 0
        nested(VERY_DEEP).encode(),  # 1: yajl reads it; building it is bounded
        b'{"text": "deep", "x": ' + nested(DEEP).encode() + b"}",  # 2
        b'{"text": "a", "text": "b"}',  # 3
        b'{"text": "huge", "corrected_labels": [' + b",".join([b'"World"'] * 20_000) + b"]}",  # 4
        json.dumps({"text": "Unknown", "corrected_labels": ["Weather"]}).encode(),  # 5
        json.dumps({"text": ZERO_WIDTH}).encode(),  # 6
        b"12",  # 7
        json.dumps({"text": "The striker scored twice", "corrected_labels": ["Sports"]}).encode(),
    ]
    body = b'{"classifier": "news", "sentences": [' + b", ".join(items) + b"]}"
    report = upload(
        "uploads/feedback/DOCUMENT_CLASSIFIER/partner/hostile.json.gz", gzip.compress(body)
    )
    found = errors_by_position(report, "item_index")
    assert sorted(found) == [1, 2, 3, 4, 5, 6, 7]
    assert found[1] == [("[0]", "is nested deeper than 32 levels")]
    assert found[2] == [("x", "is nested deeper than 32 levels")]
    assert found[3] == [("text", "is given more than once")]
    assert found[4] == [("corrected_labels", "holds more than 10000 values")]
    assert found[5][0][0] == "corrected_labels[0]"
    assert found[6] == [("text", "must not be empty or whitespace only")]
    assert found[7] == [("sentences[7]", "must be a string or an object")]
    assert sorted(r["origin"]["item_index"] for r in stored_records()) == [0, 8]


def test_json_file_level_hostility_is_reported_not_raised(deployed):  # noqa: F811
    body = (
        b'{"sentences": ["Stocks rally on rate cut"], "\\ud800": 1, "junk": '
        + nested(VERY_DEEP).encode()
        + b', "sentences": ["again"], "classifier": {"a": 1}}'
    )
    report = upload("uploads/feedback/DOCUMENT_CLASSIFIER/partner/top.json", body)
    messages = [(e["field"], e["message"]) for f in report["file_errors"] for e in f["errors"]]
    assert ("junk", "is not allowed") in messages
    assert ("sentences", "is given more than once") in messages
    assert ("classifier", "must be a string") in messages
    # yajl turns a lone surrogate escape into "?": still a key that is not allowed.
    assert any(m == "is not allowed" and f != "junk" for f, m in messages)
    assert report["accepted"] == 1 and report["status"] == "completed_with_errors"


def test_a_number_yajl_cannot_hold_ends_the_file_with_a_short_reason(deployed):  # noqa: F811
    body = b'{"sentences": ["Stocks rally on rate cut", {"text": "x", "n": 1e400}, "later"]}'
    report = upload("uploads/feedback/DOCUMENT_CLASSIFIER/partner/overflow.json", body)
    [fatal] = report["file_errors"]
    [error] = fatal["errors"]
    assert fatal["fatal"] is True and error["field"] == "$"
    assert error["message"] == (
        "is not valid JSON after item 0 (parse error: numeric (floating point) overflow); "
        "the rest of the file is unread"
    )
    assert report["accepted"] == 1


def test_a_line_naming_a_model_version_is_an_error_of_its_line(deployed):  # noqa: F811
    # A batch line is judged against the active model (its labels); it cannot claim another
    # model version, known or not: the field is refused, the line reported, the others kept.
    lines = [
        good("Stocks rally on rate cut"),  # 1
        json.dumps(
            {"text": "Unknown version", "corrected_labels": ["World"], "model_version": "nope-9"}
        ).encode(),  # 2
        json.dumps(
            {"text": "Served", "corrected_labels": ["World"], "model_version": "agnews-test-1"}
        ).encode(),  # 3
        good("The striker scored twice", "Sports"),  # 4
    ]
    report = upload(
        "uploads/feedback/DOCUMENT_CLASSIFIER/partner/versions.jsonl", b"\n".join(lines)
    )
    assert errors_by_position(report, "line") == {
        2: [("model_version", "is not allowed")],
        3: [("model_version", "is not allowed")],
    }
    records = stored_records()
    assert sorted(r["origin"]["line"] for r in records) == [1, 4]
    assert not any("model_version" in r for r in records)
    # A CSV file with a model_version column is refused whole, naming the column.
    report = upload(
        "uploads/feedback/DOCUMENT_CLASSIFIER/partner/versions.csv",
        b"text,corrected_labels,model_version\r\nOil prices rose,Business,nope-9\r\n",
    )
    [fatal] = report["file_errors"]
    [error] = fatal["errors"]
    assert fatal["fatal"] is True and error["field"] == "header"
    assert error["message"].endswith("got text, corrected_labels, model_version")
    assert report["accepted"] == 0 and len(stored_records()) == 2
