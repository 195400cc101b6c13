"""Streaming batch feedback files: the real sample, bad lines, line numbers, chunks, memory."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from datetime import UTC, datetime

import pytest
from textloop.domain import feedback, feedback_files, layout

from .conftest import data_file

UPLOADED = datetime(2025, 11, 23, 2, 0, tzinfo=UTC)
NOW = datetime(2025, 11, 23, 2, 1, tzinfo=UTC)


def context(key: str, *, model_type="DOCUMENT_CLASSIFIER", mode="MULTI_CLASS", **kwargs):
    values = {
        "bucket": "lake-bucket",
        "key": key,
        "model_type": model_type,
        "mode": mode,
        "submitter": {"application_id": "news-app"},
        "observed_at": UPLOADED,
        "created_at": NOW,
        "etag": "9b2cf535f27731c974343645a3985328",
    }
    values.update(kwargs)
    return feedback_files.BatchContext(**values)


def parse(data: bytes, key: str, **kwargs) -> list:
    return list(feedback_files.BatchReader(io.BytesIO(data), context(key, **kwargs)))


def outcome(items) -> tuple[list, list]:
    records = [i for i in items if isinstance(i, feedback_files.BatchRecord)]
    errors = [i for i in items if isinstance(i, feedback_files.BatchError)]
    return records, errors


def errors_by_line(errors) -> dict[int | None, list[tuple[str, str]]]:
    return {e.line: [fe.as_tuple() for fe in e.errors] for e in errors}


# --------------------------------------------------------------------------- the seed's format


def test_the_real_sample_file():
    path = data_file("ag_news", "sample-batch-feedback.json")
    ctx = context("uploads/feedback/news-app/sample-batch-feedback.json")
    written: dict[str, bytes] = {}
    with path.open("rb") as handle:
        summary = feedback_files.process_batch(handle, ctx, written.__setitem__)
    assert summary["status"] == "completed"
    assert (summary["accepted"], summary["rejected"]) == (2, 0)
    assert summary["declared_model"] == "news-classifier-demo"
    assert summary["feedback_keys"] == list(written)
    (key,) = written
    # A file of the buffered lake, in the partition of the upload's model type and event hour.
    assert key.startswith("feedback/model_type=DOCUMENT_CLASSIFIER/dt=2025-11-23/hour=02/batch-")
    assert key.endswith("-00000.jsonl.gz")
    records = [json.loads(line) for line in gzip.decompress(written[key]).splitlines()]
    assert [r["origin"]["item_index"] for r in records] == [0, 1]
    assert records[0]["text"].startswith("US music firms take legal action")
    assert {r["reason"] for r in records} == {"review_requested"}
    assert all(feedback.validate_record(r) == [] for r in records)


def test_json_items_may_be_objects_with_corrected_labels():
    data = json.dumps(
        {
            "sentences": [
                "plain text to review",
                {"text": "Stocks rally", "corrected_labels": ["Business"], "user_id": "bob"},
                {"text": "Stocks fall", "corrected_labels": ["Business", "World"]},
                42,
            ],
            "classifier": "news",
        }
    ).encode()
    records, errors = outcome(parse(data, "uploads/a.json"))
    assert [r.item_index for r in records] == [0, 1]
    assert records[1].record.to_dict()["submitter"] == {
        "application_id": "news-app",
        "user_id": "bob",
    }
    assert records[1].record.reason == "correction"
    assert [(e.item_index, [fe.as_tuple() for fe in e.errors]) for e in errors] == [
        (2, [("corrected_labels", "must name exactly one label for a MULTI_CLASS model")]),
        (3, [("sentences[3]", "must be a string or an object")]),
    ]


def test_malformed_json_keeps_the_items_before_it():
    data = b'{"classifier": "x", "sentences": ["first", "second", oops, "never"]}'
    records, errors = outcome(parse(data, "uploads/a.json"))
    assert [r.record.text for r in records] == ["first", "second"]
    (fatal,) = errors
    assert fatal.fatal and fatal.errors[0].field == "$"
    assert "after item 1" in fatal.errors[0].message


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b'["a", "b"]', "$"),
        (b'{"sentences": "a"}', "sentences"),
        (b'{"classifier": "x"}', "sentences"),
    ],
)
def test_json_file_level_problems(data, field):
    (error,) = parse(data, "uploads/a.json")
    assert error.fatal and error.errors[0].field == field


def test_unknown_top_level_key_is_reported_but_items_go_on():
    items = parse(b'{"clasifier": "x", "sentences": ["t"]}', "uploads/a.json")
    records, errors = outcome(items)
    assert len(records) == 1
    assert [(e.fatal, e.errors[0].as_tuple()) for e in errors] == [
        (False, ("clasifier", "is not allowed"))
    ]


# --------------------------------------------------------------------------- JSON Lines


def test_jsonl_bad_lines_have_their_physical_line_numbers_and_good_lines_go_on():
    lines = [
        b'{"text": "Stocks rally on rate cut", "corrected_labels": ["Business"]}',  # 1
        b"",  # 2 blank: skipped, still counted
        b'{"text": "  "}',  # 3
        b"not json",  # 4
        b'{"text": "Match report", "corrected_labels": ["Sports", "World"]}',  # 5
        b'["an", "array"]',  # 6
        b'{"text": "caf\xe9"}',  # 7 Latin-1 byte
        b'{"text": "ok", "colour": "red"}',  # 8
        b'{"txt": "typo"}',  # 9
        b'{"text": "lone \\udc80 surrogate"}',  # 10
        b'{"text": "' + b"x" * 10_001 + b'"}',  # 11
        b'{"text": "Elections held", "user_id": "carol"}\r',  # 12 CRLF
        b'{"text": "Pipe", "corrected_labels": ["A|B"]}',  # 13
    ]
    records, errors = outcome(parse(b"\n".join(lines) + b"\n", "uploads/f.jsonl"))
    assert [(r.line, r.record.text) for r in records] == [
        (1, "Stocks rally on rate cut"),
        (12, "Elections held"),
    ]
    assert records[1].record.to_dict()["submitter"] == {
        "application_id": "news-app",
        "user_id": "carol",
    }
    found = errors_by_line(errors)
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    assert found[3] == [("text", "must not be empty or whitespace only")]
    assert found[4][0][0] == "$" and found[4][0][1].startswith("is not valid JSON")
    assert found[5] == [("corrected_labels", "must name exactly one label for a MULTI_CLASS model")]
    assert found[6] == [("$", "must be a JSON object")]
    assert found[7] == [("$", "is not valid UTF-8 (byte 13)")]
    assert found[8] == [("colour", "is not allowed")]
    assert found[9] == [("txt", "is not allowed"), ("text", "is required")] or found[9] == [
        ("text", "is required"),
        ("txt", "is not allowed"),
    ]
    assert found[10] == [("text", "must be valid UTF-8 (invalid code point at character 5)")]
    assert found[11] == [("text", "is 10001 bytes of UTF-8; the model accepts at most 10000")]
    assert found[13][0][0] == "corrected_labels[0]"


def test_every_batch_record_matches_the_record_schema():
    data = (
        b'{"text": "a", "corrected_labels": ["Business"], "user_id": "u",'
        b' "application_id": "news-app"}\n'
        b'{"text": "b"}\n'
    )
    records, errors = outcome(parse(data, "uploads/f.jsonl", version_id="3HL4kqtJlcpXroDTDmJ"))
    assert errors == []
    for r in records:
        assert feedback.validate_record(r.record) == []
        assert r.record.to_dict()["origin"]["version_id"] == "3HL4kqtJlcpXroDTDmJ"
        assert r.record.to_dict()["origin"]["line"] == r.line


def test_entity_lines_carry_spans():
    data = (
        b'{"text": "Amazon S3 update", "corrected_labels": '
        b'[{"begin_offset": 0, "end_offset": 9, "type": "SERVICE"}]}\n'
        b'{"text": "Amazon S3 update", "corrected_labels": ["SERVICE"]}\n'
        b'{"text": "Amazon S3", "corrected_labels": '
        b'[{"begin_offset": 0, "end_offset": 10, "type": "SERVICE"}]}\n'
    )
    records, errors = outcome(
        parse(data, "uploads/ner.jsonl", model_type="ENTITY_RECOGNIZER", mode=None)
    )
    assert [r.line for r in records] == [1]
    assert feedback.validate_record(records[0].record) == []
    assert errors_by_line(errors) == {
        2: [("corrected_labels[0]", "must be an entity span for ENTITY_RECOGNIZER")],
        3: [("corrected_labels[0].end_offset", "must be <= 9 (the length of text)")],
    }


def test_a_line_needs_a_submitter_when_the_upload_has_none():
    data = b'{"text": "a"}\n{"text": "b", "user_id": "dave"}\n'
    records, errors = outcome(parse(data, "uploads/f.jsonl", submitter={}))
    assert [r.line for r in records] == [2]
    assert errors_by_line(errors)[1][0][0] == "user_id"


def test_over_long_lines_are_skipped_unbuffered_across_chunk_boundaries(monkeypatch):
    monkeypatch.setattr(feedback_files, "MAX_LINE_BYTES", 64)
    monkeypatch.setattr(feedback_files, "READ_CHUNK_BYTES", 7)  # lines straddle many reads
    data = (
        b'{"text": "short one"}\n'
        + b'{"text": "'
        + b"y" * 200
        + b'"}\n'
        + b'{"text": "short two"}\n'
        + b'{"text": "no newline at the end"}'
    )
    records, errors = outcome(parse(data, "uploads/f.jsonl"))
    assert [(r.line, r.record.text) for r in records] == [
        (1, "short one"),
        (3, "short two"),
        (4, "no newline at the end"),
    ]
    assert errors_by_line(errors) == {2: [("$", "line is longer than 64 bytes")]}


def test_gzipped_jsonl():
    data = gzip.compress(b'{"text": "zipped", "corrected_labels": ["World"]}\n')
    records, errors = outcome(parse(data, "uploads/f.jsonl.gz"))
    assert errors == [] and records[0].record.text == "zipped"


# --------------------------------------------------------------------------- CSV


def test_csv_with_multiline_quoted_text_reports_the_first_line_of_each_row():
    data = (
        b"text,corrected_labels,user_id\r\n"  # 1
        b'"Stocks ""rally""\non rate cut",Business,\r\n'  # 2-3
        b"Match report,Sports|World,erin\r\n"  # 4
        b"\r\n"  # 5
        b'"Elections,\nheld\nagain",World,frank\r\n'  # 6-8
        b",World,\r\n"  # 9
        b"Too,many,fields,here\r\n"  # 10
        b"Blank label,Business||World,\r\n"  # 11
        b"No label to review,,\r\n"  # 12
        b"Too few fields,World\r\n"  # 13
    )
    records, errors = outcome(parse(data, "uploads/f.csv"))
    assert [
        (r.line, r.record.text, r.record.to_dict().get("corrected_labels")) for r in records
    ] == [
        (2, 'Stocks "rally"\non rate cut', ["Business"]),
        (6, "Elections,\nheld\nagain", ["World"]),
        (12, "No label to review", None),
    ]
    assert records[1].record.to_dict()["submitter"]["user_id"] == "frank"
    assert errors_by_line(errors) == {
        4: [("corrected_labels", "must name exactly one label for a MULTI_CLASS model")],
        9: [("text", "must not be empty or whitespace only")],
        10: [("$", "has 4 fields; the header has 3")],
        11: [("corrected_labels", "contains an empty label (labels are joined by '|')")],
        13: [("$", "has 2 fields; the header has 3")],
    }


def test_csv_multi_label():
    data = b"corrected_labels,text\ntoxic|insult,you are a fool\n,have a nice day\n"
    records, errors = outcome(parse(data, "uploads/t.csv", mode="MULTI_LABEL"))
    assert errors == []
    assert records[0].record.to_dict()["corrected_labels"] == ["toxic", "insult"]
    assert records[1].record.reason == "review_requested"
    assert all(feedback.validate_record(r.record) == [] for r in records)


def test_csv_invalid_utf8_is_an_error_of_that_row_only():
    data = b"text\ncaf\xe9\ngood\n"
    records, errors = outcome(parse(data, "uploads/f.csv"))
    assert [r.line for r in records] == [3]
    assert errors_by_line(errors)[2][0][1].startswith("must be valid UTF-8")


@pytest.mark.parametrize(
    "header", [b"label,text", b"text,text", b"corrected_labels", b"", b"Text,Corrected_Labels,id"]
)
def test_csv_header_must_name_known_columns(header):
    items = parse(header + b"\nWorld,something\n", "uploads/f.csv")
    assert len(items) == 1 and items[0].fatal


def test_csv_is_refused_for_entity_recognisers():
    (error,) = parse(b"text\nx\n", "uploads/f.csv", model_type="ENTITY_RECOGNIZER", mode=None)
    assert error.fatal


# --------------------------------------------------------------------------- output


def test_process_batch_chunks_deterministically_and_summarises():
    data = (
        b"".join(
            json.dumps({"text": f"story {i}", "corrected_labels": ["World"]}).encode() + b"\n"
            for i in range(5)
        )
        + b'{"text": ""}\n'
    )
    ctx = context("uploads/feedback/news-app/f.jsonl")
    first: dict[str, bytes] = {}
    summary = feedback_files.process_batch(io.BytesIO(data), ctx, first.__setitem__, max_records=2)
    again: dict[str, bytes] = {}
    feedback_files.process_batch(io.BytesIO(data), ctx, again.__setitem__, max_records=2)
    assert first == again  # a re-delivered event rewrites identical chunks
    assert [k.rsplit("-", 1)[1] for k in first] == [
        "00000.jsonl.gz",
        "00001.jsonl.gz",
        "00002.jsonl.gz",
    ]
    assert [gzip.decompress(v).count(b"\n") for v in first.values()] == [2, 2, 1]
    assert summary["status"] == "completed_with_errors"
    assert (summary["items_total"], summary["accepted"], summary["rejected"]) == (6, 5, 1)
    assert summary["errors"] == [
        {
            "line": 6,
            "errors": [{"field": "text", "message": "must not be empty or whitespace only"}],
        }
    ]
    assert summary["errors_truncated"] is False
    other = context("uploads/feedback/news-app/f.jsonl", etag="another-version")
    assert feedback_files.chunk_key(other, 0) != feedback_files.chunk_key(ctx, 0)


def test_errors_object_lists_a_bounded_number_of_errors():
    data = b'{"text": ""}\n' * 50
    summary = feedback_files.process_batch(
        io.BytesIO(data), context("uploads/f.jsonl"), lambda k, v: None, max_listed_errors=10
    )
    assert summary["rejected"] == 50 and len(summary["errors"]) == 10
    assert summary["errors_truncated"] is True
    assert summary["feedback_keys"] == []


def test_keys_and_formats():
    assert feedback_files.detect_format("uploads/a/b.JSONL") == ("jsonl", False)
    assert feedback_files.detect_format("uploads/a/b.ndjson.gz") == ("jsonl", True)
    assert feedback_files.detect_format("uploads/b.csv") == ("csv", False)
    with pytest.raises(feedback_files.UnsupportedFormat):
        feedback_files.detect_format("uploads/b.xlsx")
    assert layout.upload_errors_key("uploads/feedback/app/f.csv") == (
        "uploads/errors/feedback/app/f.csv.errors.json"
    )
    assert feedback_files.is_batch_upload("uploads/feedback/app/f.json")
    assert not feedback_files.is_batch_upload(
        layout.upload_errors_key("uploads/feedback/app/f.json")
    )
    assert not feedback_files.is_batch_upload("feedback/x.json")
    assert not feedback_files.is_batch_upload("uploads/notes.txt")


class GeneratedJsonl(io.RawIOBase):
    """A JSON Lines stream produced on the fly: the file never exists in memory."""

    def __init__(self, lines: int):
        self._lines = iter(range(lines))
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while len(self._buffer) < size:
            i = next(self._lines, None)
            if i is None:
                break
            self._buffer += (
                b'{"text": "story %d about markets", "corrected_labels": ["Business"]}\n' % i
            )
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


def test_memory_does_not_grow_with_the_file(monkeypatch):
    monkeypatch.setattr(feedback_files, "READ_CHUNK_BYTES", 4 * 1024)

    def peak(lines: int) -> int:
        tracemalloc.start()
        try:
            counts = feedback_files.count_items(GeneratedJsonl(lines), context("uploads/big.jsonl"))
            assert counts.accepted == lines
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(10)  # first use compiles the validators; keep that out of the comparison
    small, large = peak(200), peak(1_600)  # 14 KB and 110 KB of JSON Lines
    # Eight times the lines, about the same peak: bounded by the read chunk, not the file.
    assert large < small * 1.2


def test_byte_order_marks_are_tolerated_in_every_format():
    bom = b"\xef\xbb\xbf"
    for key, data in [
        ("uploads/a.json", bom + b'{"sentences": ["x"]}'),
        ("uploads/a.jsonl", bom + b'{"text": "x"}\n'),
        ("uploads/a.csv", bom + b"text\nx\n"),
    ]:
        records, errors = outcome(parse(data, key))
        assert errors == [] and [r.record.text for r in records] == ["x"], key


def test_upload_target_from_the_suggested_layout():
    assert layout.feedback_upload_target(
        "uploads/feedback/DOCUMENT_CLASSIFIER/news-app/2025/f.csv"
    ) == (
        "DOCUMENT_CLASSIFIER",
        "news-app",
    )
    assert layout.feedback_upload_target("uploads/feedback/ENTITY_RECOGNIZER/ops/f.jsonl") == (
        "ENTITY_RECOGNIZER",
        "ops",
    )
    for key in [
        "uploads/feedback/SENTIMENT/app/f.csv",
        "uploads/feedback/DOCUMENT_CLASSIFIER/f.csv",
        "uploads/other/DOCUMENT_CLASSIFIER/app/f.csv",
        "uploads/feedback/DOCUMENT_CLASSIFIER/app/",
    ]:
        assert layout.feedback_upload_target(key) is None, key
