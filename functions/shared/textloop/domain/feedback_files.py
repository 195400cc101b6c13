"""Batch feedback files: streaming parsers for the uploaded files, and the summary written
beside each (its errors object).

Formats, chosen by the key's suffix (``.gz`` may follow any of them):

* ``.jsonl`` / ``.ndjson``: one JSON object per line, shaped by
  ``schemas/batch-feedback-line.v1.json``: ``{"text", "corrected_labels"?, "user_id"?,
  "application_id"?}``. Blank lines are skipped. Errors carry the physical line number.
* ``.csv``: RFC 4180 with a REQUIRED header naming the columns, in any order: ``text``
  (required), ``corrected_labels`` (labels joined by ``|``; an empty cell means "review this
  text"), ``user_id``, ``application_id``. Other columns reject the file (a misspelt
  ``label`` column would otherwise silently drop every label). Quoted fields may span lines;
  errors carry the row's first physical line. Document classifiers only (spans need JSON).
* ``.manifest``: a SageMaker Ground Truth NER output manifest (``datasets.ground_truth``), one
  labelled text per line: each line becomes a correction whose spans are the line's entities
  (none: "no entity in this text"). Entity recognisers only. Errors carry the physical line
  number and name the manifest's own fields (``<job>.annotations.entities[0].endOffset``).
* ``.json``: the seed's format ``{"classifier": "<name>", "sentences": [...]}``; an item is a
  bare string (a text sent for review) or an object shaped like a JSON Lines line. Parsed
  incrementally with ijson; errors carry the item index (ijson reports no line numbers).

Every item becomes a feedback record (source explicit-batch) or a ``BatchError``; good items go
on regardless of bad ones. Memory stays bounded whatever the file size: the stream is read in
chunks, lines longer than ``MAX_LINE_BYTES`` are rejected unread, output records leave in chunks
of ``max_records`` and the errors object lists at most ``max_listed_errors`` errors.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, BinaryIO

import orjson
from isal import igzip

from textloop.domain import layout
from textloop.domain.datasets.ground_truth import parse_manifest_line
from textloop.domain.feedback import BatchRecords, FeedbackRecord, check_corrected_labels
from textloop.domain.names import DEFAULT_MAX_TEXT_BYTES, LABEL_DELIMITER, ModelType
from textloop.domain.timestamps import format_timestamp
from textloop.domain.validation import (
    BATCH_FEEDBACK_LINE,
    MAX_JSON_DEPTH,
    FieldError,
    check_string,
    check_text,
    load_schema,
    loads,
    schema_regex,
    validator,
)

FORMAT_JSON = "json"
FORMAT_JSONL = "jsonl"
FORMAT_CSV = "csv"
FORMAT_MANIFEST = "manifest"
_SUFFIXES = {
    ".jsonl": FORMAT_JSONL,
    ".ndjson": FORMAT_JSONL,
    ".json": FORMAT_JSON,
    ".csv": FORMAT_CSV,
    ".manifest": FORMAT_MANIFEST,
}

CSV_COLUMNS = ("text", "corrected_labels", "user_id", "application_id")
JSON_TOP_LEVEL_KEYS = ("classifier", "sentences")

# A line holds one text of at most 10,000 UTF-8 bytes; even fully \u-escaped that stays far
# below 256 KiB, so a longer line is an error and is skipped without being kept in memory.
MAX_LINE_BYTES = 256 * 1024
READ_CHUNK_BYTES = 1024 * 1024
ERRORS_OBJECT_VERSION = 1


class UnsupportedFormat(ValueError):
    pass


@dataclass(frozen=True)
class BatchContext:
    """What the handler knows about the uploaded object and the active model."""

    bucket: str
    key: str
    model_type: str
    mode: str | None
    # The upload's submitter (the application its key names); a line may add a user_id, and
    # may repeat the application_id but not name another one.
    submitter: Mapping[str, str]
    # The upload time (S3 event eventTime or LastModified): stable across re-delivered events,
    # so it decides the records' date partition.
    observed_at: datetime
    created_at: datetime
    etag: str | None = None
    version_id: str | None = None
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
    known_labels: frozenset[str] | None = None
    # Whether the uploading application is trusted: its corrections skip review.
    trusted: bool = False


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """An accepted item: ``body`` is its record's stored JSON line (``FeedbackRecord.to_json``),
    made once; ``record`` reads it back."""

    body: bytes
    line: int | None
    item_index: int | None

    @property
    def record(self) -> FeedbackRecord:
        return FeedbackRecord.from_json(self.body)


@dataclass(frozen=True, slots=True)
class BatchError:
    """A rejected item (``line``/``item_index`` set) or a file-level problem (both None).

    ``fatal``: parsing could not go on (malformed JSON, bad CSV header); the rest is unread.
    """

    line: int | None
    item_index: int | None
    errors: tuple[FieldError, ...]
    fatal: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.line is not None:
            out["line"] = self.line
        if self.item_index is not None:
            out["item_index"] = self.item_index
        out["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        if self.fatal:
            out["fatal"] = True
        return out


BatchItem = BatchRecord | BatchError


# --------------------------------------------------------------------------- keys


def detect_format(key: str) -> tuple[str, bool]:
    """``(format, gzipped)`` from the key's suffix; ``UnsupportedFormat`` otherwise."""
    lowered = key.lower()
    gzipped = lowered.endswith(".gz")
    if gzipped:
        lowered = lowered[:-3]
    for suffix, fmt in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt, gzipped
    raise UnsupportedFormat(
        f"cannot tell the format of {key!r}: use .jsonl, .ndjson, .json, .csv or .manifest "
        "(optionally .gz)"
    )


def is_batch_upload(key: str) -> bool:
    """Whether an S3 key is a batch file to parse; never our own errors objects."""
    if not layout.is_upload(key):
        return False
    try:
        detect_format(key)
    except UnsupportedFormat:
        return False
    return True


def upload_digest(context: BatchContext) -> str:
    """Names the output chunks of one version of one upload: a re-delivered S3 event gives the
    same chunk keys (so the conditional put makes the rerun a no-op); a changed file gives new
    ones."""
    identity = "\n".join([context.bucket, context.key, context.version_id or context.etag or ""])
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:20]


# --------------------------------------------------------------------------- reader


class BatchReader:
    """Iterate over the items of one uploaded file: ``BatchRecord`` or ``BatchError``.

    ``declared_model`` holds the JSON format's ``classifier`` once read. ``fast=False`` sends
    every item by the reference path (see "plain lines" below): the tests compare the two, and
    the benchmark measures both.
    """

    def __init__(
        self,
        stream: BinaryIO,
        context: BatchContext,
        *,
        fmt: str | None = None,
        fast: bool = True,
    ):
        detected, gzipped = detect_format(context.key)
        self.format = fmt or detected
        self.context = context
        self.declared_model: str | None = None
        self.fast = fast
        self._stream: BinaryIO = gzip.GzipFile(fileobj=stream, mode="rb") if gzipped else stream
        self._line_validator = validator(BATCH_FEEDBACK_LINE)
        self._records = BatchRecords(
            model_type=context.model_type,
            mode=context.mode,
            observed_at=format_timestamp(context.observed_at),
            created_at=format_timestamp(context.created_at),
            trusted=context.trusted,
        )
        origin: dict[str, Any] = {"bucket": context.bucket, "key": context.key}
        if context.version_id:
            origin["version_id"] = context.version_id
        if context.etag:
            origin["etag"] = context.etag
        self._origin = origin

    def __iter__(self) -> Iterator[BatchItem]:
        if self.format == FORMAT_JSONL:
            return self._iter_jsonl()
        if self.format == FORMAT_CSV:
            return self._iter_csv()
        if self.format == FORMAT_JSON:
            return self._iter_json()
        if self.format == FORMAT_MANIFEST:
            return self._iter_manifest()
        raise UnsupportedFormat(self.format)

    # -- shared item handling

    def _item(
        self, data: Any, line: int | None, item_index: int | None, *, plain: bool = False
    ) -> BatchItem:
        """``plain``: ``data`` passed ``plainly_valid``, so the schema holds without asking it."""
        ctx = self.context
        schema_holds = (
            plain or (self.fast and plainly_valid(data)) or self._line_validator.is_valid(data)
        )
        if not schema_holds:
            return BatchError(line, item_index, tuple(self._line_validator.errors(data)))
        text = data["text"]
        errors = check_text(text, max_bytes=ctx.max_text_bytes)
        corrected = data.get("corrected_labels")
        # The schema's patterns cannot see lone surrogates (a CSV cell of bad bytes) or
        # invisible-only names; a record holding one could not be encoded.
        for name in ("user_id", "application_id"):
            if name in data:
                errors += check_string(data[name], name)
        if corrected is not None:
            for i, label in enumerate(corrected):
                if isinstance(label, str):
                    errors += check_string(label, f"corrected_labels[{i}]")
        if errors:
            return BatchError(line, item_index, tuple(errors))
        if corrected is not None:
            errors += check_corrected_labels(
                corrected,
                model_type=ctx.model_type,
                mode=ctx.mode,
                text=text,
                known_labels=ctx.known_labels,
            )
        submitter = dict(ctx.submitter)
        if "user_id" in data:
            submitter["user_id"] = data["user_id"]
        # The upload's application is the one its key (and so its upload role) names; a line
        # cannot speak for another one.
        upload_app = ctx.submitter.get("application_id")
        if "application_id" in data:
            if upload_app is None:
                submitter["application_id"] = data["application_id"]
            elif data["application_id"] != upload_app:
                errors.append(
                    FieldError(
                        "application_id",
                        f"must be the upload's application ({upload_app}) or left out",
                    )
                )
        if not submitter:
            errors.append(
                FieldError(
                    "user_id", "is required: the upload names no submitter and the line none"
                )
            )
        if errors:
            return BatchError(line, item_index, tuple(errors))
        origin = dict(self._origin)
        if line is not None:
            origin["line"] = line
        if item_index is not None:
            origin["item_index"] = item_index
        return BatchRecord(self._records.line(text, corrected, submitter, origin), line, item_index)

    # -- JSON Lines

    def _lines(self) -> Iterator[tuple[int, bytes | BatchError]]:
        """The file's non-blank lines by number, without CR or the first line's BOM; a line
        over ``MAX_LINE_BYTES`` comes as its error (JSON Lines and manifests alike)."""
        for line_no, raw in _iter_lines(self._stream, MAX_LINE_BYTES):
            if raw is None:
                too_long = FieldError("$", f"line is longer than {MAX_LINE_BYTES} bytes")
                yield line_no, BatchError(line_no, None, (too_long,))
                continue
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if raw and not raw.isspace():
                yield line_no, raw

    def _iter_jsonl(self) -> Iterator[BatchItem]:
        for line_no, raw in self._lines():
            if isinstance(raw, BatchError):
                yield raw
                continue
            plain = plain_jsonl_line(raw) if self.fast else None
            if plain is not None:
                yield self._item(plain, line_no, None, plain=True)
                continue
            # Anything else, hostile or merely unusual, takes the reference path: the strict
            # UTF-8 decode and ``validation.loads``, with the errors they have always given.
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BatchError(
                    line_no, None, (FieldError("$", f"is not valid UTF-8 (byte {exc.start})"),)
                )
                continue
            data, errors = loads(raw, field="$")
            if errors:
                yield BatchError(line_no, None, tuple(errors))
                continue
            if not isinstance(data, dict):
                yield BatchError(line_no, None, (FieldError("$", "must be a JSON object"),))
                continue
            yield self._item(data, line_no, None)

    # -- Ground Truth output manifests

    def _iter_manifest(self) -> Iterator[BatchItem]:
        ctx = self.context
        if ctx.model_type != ModelType.ENTITY_RECOGNIZER:
            yield _fatal(
                "$",
                "Ground Truth manifests hold entity spans: upload them under "
                f"{layout.FEEDBACK_UPLOADS_PREFIX}{ModelType.ENTITY_RECOGNIZER.value}/",
            )
            return
        for line_no, raw in self._lines():
            if isinstance(raw, BatchError):
                yield raw
                continue
            entry = parse_manifest_line(
                raw,
                line=line_no,
                name=ctx.key,
                known_types=ctx.known_labels,
                max_text_bytes=ctx.max_text_bytes,
            )
            if entry.document is None:
                yield BatchError(line_no, None, entry.errors)
                continue
            document = entry.document
            yield self._item(
                {"text": document["text"], "corrected_labels": list(document["entities"])},
                line_no,
                None,
            )

    # -- CSV

    def _iter_csv(self) -> Iterator[BatchItem]:
        if self.context.model_type == ModelType.ENTITY_RECOGNIZER:
            yield _fatal(
                "$", "CSV batch files are for DOCUMENT_CLASSIFIER models; send spans as JSON Lines"
            )
            return
        too_long: list[int] = []

        def text_lines() -> Iterator[str]:
            for line_no, raw in _iter_lines(self._stream, MAX_LINE_BYTES):
                if raw is None:
                    too_long.append(line_no)
                    return
                if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                # surrogateescape keeps bad bytes visible to check_text instead of failing the
                # whole reader; "\n" is restored so quoted fields keep their line breaks.
                yield raw.decode("utf-8", "surrogateescape") + "\n"

        reader = csv.reader(text_lines(), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            yield _fatal("$", f"header line is not valid CSV ({exc})")
            return
        if header is None:
            if too_long:
                yield _fatal("$", f"line {too_long[0]} is longer than {MAX_LINE_BYTES} bytes")
            else:
                yield _fatal("$", "the file is empty; a header line is required")
            return
        columns = [name.strip().lower() for name in header]
        unknown = [c for c in columns if c not in CSV_COLUMNS]
        if unknown or "text" not in columns or len(set(columns)) != len(columns):
            yield _fatal(
                "header",
                f"columns must be distinct names among {', '.join(CSV_COLUMNS)} with text "
                f"required; got {', '.join(columns) or 'nothing'}",
            )
            return
        width = len(columns)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield BatchError(start, None, (FieldError("$", f"is not valid CSV ({exc})"),))
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                # A short row is as wrong as a long one: its cells would land in the wrong
                # columns' places, or a correction silently become a review request.
                yield BatchError(
                    start,
                    None,
                    (FieldError("$", f"has {len(row)} fields; the header has {width}"),),
                )
                continue
            data: dict[str, Any] = {}
            for name, cell in zip(columns, row, strict=True):
                if name == "text":
                    data["text"] = cell
                elif cell.strip():
                    data[name] = cell.strip()
            errors: list[FieldError] = []
            if "corrected_labels" in data:
                labels = [part.strip() for part in data["corrected_labels"].split(LABEL_DELIMITER)]
                if any(not label for label in labels):
                    errors.append(
                        FieldError(
                            "corrected_labels",
                            f"contains an empty label (labels are joined by '{LABEL_DELIMITER}')",
                        )
                    )
                data["corrected_labels"] = labels
            if errors:
                yield BatchError(start, None, tuple(errors))
            else:
                yield self._item(data, start, None)
        if too_long:
            yield _fatal("$", f"line {too_long[0]} is longer than {MAX_LINE_BYTES} bytes")

    # -- JSON (the seed's {"classifier", "sentences"} files)

    def _iter_json(self) -> Iterator[BatchItem]:
        import ijson  # only this format needs it; keeps the other paths importable without

        index = -1
        seen_keys: set[str] = set()
        try:
            # basic_parse, not parse: parse builds a prefix string per event, which for deeply
            # nested input is quadratic work before any check can run.
            events = ijson.basic_parse(_without_bom(self._stream), use_float=True)
            first = next(events, None)
            if first is None or first[0] != "start_map":
                yield _fatal("$", 'must be a JSON object with a "sentences" array')
                return
            for event, key in events:
                if event == "end_map":
                    break
                event, value = next(events)
                name = _printable(key)
                if key in seen_keys:
                    yield BatchError(None, None, (FieldError(name, "is given more than once"),))
                    _skip_value(events, event)
                    continue
                seen_keys.add(key)
                if key == "sentences":
                    if event != "start_array":
                        yield _fatal("sentences", "must be an array")
                        return
                    for item in _array_items(events):
                        index += 1
                        yield self._json_item(item, index)
                elif key == "classifier":
                    if event == "string":
                        self.declared_model = value
                    else:
                        yield BatchError(
                            None, None, (FieldError("classifier", "must be a string"),)
                        )
                        _skip_value(events, event)
                else:
                    yield BatchError(None, None, (FieldError(name, "is not allowed"),))
                    _skip_value(events, event)
        except UnicodeDecodeError:
            # Invalid UTF-8 bytes, or a \\u escape of a lone surrogate (yajl writes it as
            # CESU-8 bytes that ijson then cannot decode): the parser cannot resume after it.
            where = f" after item {index}" if index >= 0 else ""
            yield _fatal(
                "$",
                f"is not valid UTF-8 (or escapes a lone surrogate){where}; "
                "the rest of the file is unread",
            )
            return
        except ijson.JSONError as exc:
            where = f" after item {index}" if index >= 0 else ""
            # yajl's message quotes the file around the fault: keep its first line only.
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            yield _fatal(
                "$", f"is not valid JSON{where} ({reason}); the rest of the file is unread"
            )
            return
        if "sentences" not in seen_keys:
            yield BatchError(None, None, (FieldError("sentences", "is required"),), fatal=True)

    def _json_item(self, value: Any, index: int) -> BatchItem:
        if isinstance(value, _Invalid):
            return BatchError(None, index, value.errors)
        if isinstance(value, str):
            return self._item({"text": value}, None, index)
        if isinstance(value, dict):
            return self._item(value, None, index)
        return BatchError(
            None, index, (FieldError(f"sentences[{index}]", "must be a string or an object"),)
        )


# --------------------------------------------------------------------------- plain lines
#
# Almost every line of a real upload is a flat object of strings: a text, maybe labels, maybe a
# user. Such a line is read by orjson and checked by ``plainly_valid`` (a few comparisons)
# instead of the stdlib parser with its hooks and the compiled schema validator, which together
# cost most of a line's time. Whatever is not plainly such a line takes the reference path, so
# the outcome of every line is what it was: the fast path only ever accepts lines the reference
# path accepts, with the same value (a differential test and a property test check both).


@cache
def _plain_rules() -> tuple[frozenset[str], Any, int, Any, int]:
    """The batch line schema's rules as ``plainly_valid`` checks them, read from the schema
    itself (a unit test pins the schema's shape this relies on)."""
    schema = load_schema(BATCH_FEEDBACK_LINE)
    defs = schema["$defs"]
    label, identity = defs["label"], defs["identity"]
    return (
        frozenset(schema["properties"]),
        schema_regex(label["pattern"]).match,
        label["maxLength"],
        schema_regex(identity["pattern"]).match,
        identity["maxLength"],
    )


def plainly_valid(data: Any) -> bool:
    """True only for an item the batch line schema accepts, checked without the validator: an
    object of known fields whose text is a string with a non-space character, whose labels are
    a list of label strings and whose user and application ids are identity strings. False
    says nothing (spans, other types, unknown fields): the schema decides those."""
    if type(data) is not dict:
        return False
    fields, label_ok, label_max, identity_ok, identity_max = _plain_rules()
    if not fields.issuperset(data):
        return False
    text = data.get("text")
    # str.isspace and the schema's \S agree on every code point (a unit test enumerates them).
    if type(text) is not str or not text or text.isspace():
        return False
    if "corrected_labels" in data:
        labels = data["corrected_labels"]
        if type(labels) is not list:
            return False
        for label in labels:
            if type(label) is not str or not 0 < len(label) <= label_max or not label_ok(label):
                return False
    for name in ("user_id", "application_id"):
        if name in data:
            value = data[name]
            if type(value) is not str or not 0 < len(value) <= identity_max:
                return False
            if not identity_ok(value):
                return False
    return True


def plain_jsonl_line(raw: bytes) -> dict[str, Any] | None:
    """The object of a plain JSON Lines line (see ``plainly_valid``), or None: take the
    reference path.

    orjson differs from the stdlib parser on hostile input, and each difference ends here in
    None: it refuses invalid UTF-8, lone surrogates (escaped or as bytes), NaN, Infinity,
    numbers that overflow to them and nesting beyond 1,024 levels (the reference path then
    names the field); it would turn an integer beyond 64 bits into a float and keep the last of
    repeated keys, but a plain line holds no number, and ``_keys_once`` sees a repeated key.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not plainly_valid(data) or not _keys_once(raw, data):
        return None
    return data


def _keys_once(raw: bytes, data: dict[str, Any]) -> bool:
    """Whether the JSON text ``raw`` of the plain object ``data`` names each key once.

    In JSON a colon outside strings separates a key from its value, and a ``:`` byte is never
    part of a longer UTF-8 sequence. So ``raw`` holds one colon per key it names (more if a
    repeated key's dropped value was an object) plus the literal colons inside its strings: a
    repeated key shows as more colons than ``len(data)`` plus the colons of ``data``'s strings,
    as long as each of those was literal in ``raw`` (no ``\\u003a`` escape).
    """
    colons = raw.count(b":")
    if colons == len(data):
        return True  # the common line: no colon in any string
    if b"\\u003a" in raw or b"\\u003A" in raw:
        return False
    inside = 0
    for value in data.values():
        if type(value) is str:
            inside += value.count(":")
        else:
            for label in value:
                inside += label.count(":")
    return colons == len(data) + inside


# One item of a JSON file is a text and a few labels: far fewer values than this. A bigger one
# (a huge array) is skipped unbuilt, so memory stays bounded.
MAX_ITEM_VALUES = 10_000
_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})


@dataclass(frozen=True, slots=True)
class _Invalid:
    """An item of a JSON file rejected while it was read (too deep, too big, repeated keys)."""

    errors: tuple[FieldError, ...]


def _skip_value(events: Iterator[tuple[str, Any]], first: str) -> None:
    """Consume the rest of a value whose first event was ``first``, building nothing."""
    depth = 1 if first in _OPEN else 0
    while depth:
        event, _ = next(events)
        if event in _OPEN:
            depth += 1
        elif event in _CLOSE:
            depth -= 1


def _array_items(events: Iterator[tuple[str, Any]]) -> Iterator[Any]:
    """The items of the array whose ``start_array`` was just read, each built with bounds:
    nesting up to ``MAX_JSON_DEPTH``, at most ``MAX_ITEM_VALUES`` values, no repeated keys;
    an item breaking them comes out as ``_Invalid``."""
    for event, value in events:
        if event == "end_array":
            return
        if event not in _OPEN:
            yield value
            continue
        yield _build(events, event)


def _build(events: Iterator[tuple[str, Any]], first: str) -> Any:
    root: Any = {} if first == "start_map" else []
    # (container, key path from the item) per open container; keys of maps are tracked so a
    # repeated one is named.
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    pending_key: Any = None
    problem: FieldError | None = None
    count = 1
    depth = 1
    for event, value in events:
        count += 1
        if event in _CLOSE:
            depth -= 1
            if problem is None:
                stack.pop()
            if depth == 0:
                break
            continue
        if event in _OPEN:
            depth += 1
        if problem is not None:
            continue
        container, path = stack[-1]
        if event == "map_key":
            if value in container:
                problem = FieldError(_field_name((*path, value)), "is given more than once")
            pending_key = value
            continue
        if count > MAX_ITEM_VALUES:
            problem = FieldError(_field_name(path), f"holds more than {MAX_ITEM_VALUES} values")
            continue
        if depth > MAX_JSON_DEPTH:
            problem = FieldError(
                _field_name(path[:1]), f"is nested deeper than {MAX_JSON_DEPTH} levels"
            )
            continue
        item: Any = {} if event == "start_map" else [] if event == "start_array" else value
        if isinstance(container, dict):
            container[pending_key] = item
            where = (*path, pending_key)
        else:
            where = (*path, len(container))
            container.append(item)
        if event in _OPEN:
            stack.append((item, where))
    if problem is not None:
        return _Invalid((problem,))
    return root


def _field_name(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _printable(part)
    return out or "$"


def _printable(name: Any) -> str:
    # A key with a lone surrogate cannot be written as is into the UTF-8 errors object.
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8")


class _Prefixed:
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if size < 0:
            out, self._head = self._head + self._stream.read(), b""
            return out
        out, self._head = self._head[:size], self._head[size:]
        return out


def _without_bom(stream: BinaryIO) -> Any:
    # Editors on Windows save JSON with a UTF-8 byte order mark, which yajl rejects.
    head = stream.read(3)
    return _Prefixed(b"" if head == b"\xef\xbb\xbf" else head, stream)


def _fatal(field_name: str, message: str) -> BatchError:
    return BatchError(None, None, (FieldError(field_name, message),), fatal=True)


def _iter_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes without "\\n")`` from a binary stream read in chunks; a line
    longer than ``max_line_bytes`` comes out once as ``None`` and is skipped, not buffered."""
    line_no = 0
    pending = b""
    skipping = False
    while True:
        chunk = stream.read(READ_CHUNK_BYTES)
        if not chunk:
            break
        parts = (pending + chunk).split(b"\n")
        pending = parts.pop()
        for part in parts:
            line_no += 1
            if skipping:
                skipping = False
                continue
            yield line_no, (part if len(part) <= max_line_bytes else None)
        if len(pending) > max_line_bytes:
            if not skipping:
                yield line_no + 1, None
                skipping = True
            pending = b""
    if pending and not skipping:
        yield line_no + 1, (pending if len(pending) <= max_line_bytes else None)


# --------------------------------------------------------------------------- output


class BatchSummary:
    """Counts and (capped) error list of one upload: the errors object written beside it."""

    def __init__(self, context: BatchContext, *, fmt: str, max_listed_errors: int = 1000):
        self.context = context
        self.format = fmt
        self.max_listed_errors = max_listed_errors
        self.accepted = 0
        self.rejected = 0
        self.file_errors: list[dict[str, Any]] = []
        self.item_errors: list[dict[str, Any]] = []
        self.fatal = False
        self.feedback_keys: list[str] = []
        self.declared_model: str | None = None

    def add(self, item: BatchItem) -> None:
        if isinstance(item, BatchRecord):
            self.accepted += 1
            return
        if item.line is None and item.item_index is None:
            self.fatal = self.fatal or item.fatal
            if len(self.file_errors) < self.max_listed_errors:
                self.file_errors.append(item.to_dict())
            return
        self.rejected += 1
        if len(self.item_errors) < self.max_listed_errors:
            self.item_errors.append(item.to_dict())

    def to_dict(self) -> dict[str, Any]:
        ctx = self.context
        if self.fatal:
            status = "failed"
        elif self.rejected or self.file_errors:
            status = "completed_with_errors"
        else:
            status = "completed"
        out: dict[str, Any] = {
            "errors_object_version": ERRORS_OBJECT_VERSION,
            "bucket": ctx.bucket,
            "key": ctx.key,
            "format": self.format,
            "status": status,
            "items_total": self.accepted + self.rejected,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "file_errors": self.file_errors,
            "errors": self.item_errors,
            "errors_truncated": self.rejected > len(self.item_errors),
            "feedback_keys": self.feedback_keys,
        }
        if ctx.version_id:
            out["version_id"] = ctx.version_id
        if ctx.etag:
            out["etag"] = ctx.etag
        if self.declared_model is not None:
            out["declared_model"] = self.declared_model
        return out


def chunk_key(context: BatchContext, part: int) -> str:
    """The key of chunk ``part`` of an upload's records: a file of the buffered lake
    (``batch-<upload digest>-<part>``) in the partition of the upload's model type and the
    hour of its S3 event (``observed_at``), the hour readers list for new feedback."""
    return layout.feedback_file_key(
        context.model_type,
        layout.feedback_hour(format_timestamp(context.observed_at)),
        f"batch-{upload_digest(context)}-{part:05d}",
    )


def process_batch(
    stream: BinaryIO,
    context: BatchContext,
    write: Callable[[str, bytes], Any],
    *,
    max_records: int = 10_000,
    max_listed_errors: int = 1000,
    fast: bool = True,
) -> dict[str, Any]:
    """Parse one upload, hand each chunk of records to ``write(key, gzipped_jsonl_bytes)`` and
    return the errors object (write it at ``layout.upload_errors_key(context.key)``).
    ``fast``: see ``BatchReader``.

    Chunks rather than one object per record: a million PUTs would outlast the Lambda. The keys
    are deterministic (``chunk_key``) and so are the bytes (gzip without a timestamp), so a
    re-delivered event rewrites the same chunks.
    """
    reader = BatchReader(stream, context, fast=fast)
    summary = BatchSummary(context, fmt=reader.format, max_listed_errors=max_listed_errors)
    buffer: list[bytes] = []
    part = 0

    def flush() -> None:
        nonlocal part, buffer
        key = chunk_key(context, part)
        # ISA-L's gzip (level 2 of its 0-3): a tenth of zlib's level 6 CPU, which took a third
        # of an upload's time, for files about 6 % bigger; any gzip reader reads them.
        write(key, igzip.compress(b"".join(buffer), compresslevel=2, mtime=0))
        summary.feedback_keys.append(key)
        part += 1
        buffer = []

    for item in reader:
        summary.add(item)
        if isinstance(item, BatchRecord):
            buffer.append(item.body)
            if len(buffer) >= max_records:
                flush()
    if buffer:
        flush()
    summary.declared_model = reader.declared_model
    return summary.to_dict()


@dataclass
class BatchCounts:
    """Handy for benchmarks and tests: counts of a parse without writing anything."""

    accepted: int = 0
    rejected: int = 0
    file_errors: list[BatchError] = field(default_factory=list)


def count_items(stream: BinaryIO, context: BatchContext) -> BatchCounts:
    counts = BatchCounts()
    for item in BatchReader(stream, context):
        if isinstance(item, BatchRecord):
            counts.accepted += 1
        elif item.line is None and item.item_index is None:
            counts.file_errors.append(item)
        else:
            counts.rejected += 1
    return counts


def misplaced_upload_summary(bucket: str, key: str, message: str | None = None) -> dict[str, Any]:
    """The errors object of an upload whose key does not follow ``layout.FEEDBACK_UPLOAD_LAYOUT``
    (never a silent drop: the uploader finds why beside the file). ``message``: another reason
    the key is refused (an application the deployment does not know)."""
    return {
        "errors_object_version": ERRORS_OBJECT_VERSION,
        "bucket": bucket,
        "key": key,
        "status": "failed",
        "items_total": 0,
        "accepted": 0,
        "rejected": 0,
        "file_errors": [
            {
                "errors": [
                    {
                        "field": "key",
                        "message": message
                        or f"uploads must follow {layout.FEEDBACK_UPLOAD_LAYOUT}",
                    }
                ],
                "fatal": True,
            }
        ],
        "errors": [],
        "errors_truncated": False,
        "feedback_keys": [],
    }
