"""Amazon Comprehend's training data formats, read and written.

* MULTI_CLASS: CSV ``LABEL,text``, no header, RFC 4180 quoting.
* MULTI_LABEL: the same with labels joined by a delimiter (Comprehend's default ``|``).
* ENTITY_RECOGNIZER: a documents file, one document per line, and an annotations CSV with the
  header ``File,Line,Begin Offset,End Offset,Type`` (offsets in characters, end exclusive).

A *document* is a dict ``{key, id, text, labels}`` (classifiers) or ``{key, id, text,
entities}`` (entity recognisers), ``key`` being ``hashing.text_key`` of the text.

Writers replace line breaks inside a text with spaces: one physical line per document is what
the entity format requires, and it keeps classifier CSVs readable by line-oriented tools. Each
``\\r`` or ``\\n`` becomes exactly one space, so entity offsets stay valid.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from textloop.domain.datasets.rules import Problems, snippet
from textloop.domain.hashing import text_key
from textloop.domain.layout import dataset_key
from textloop.domain.names import LABEL_DELIMITER, Mode, ModelType
from textloop.domain.predictions import span_dict, span_tuple

ENTITY_ANNOTATIONS_HEADER = ("File", "Line", "Begin Offset", "End Offset", "Type")
_LINE_END = re.compile(r"\r\n|\r|\n")
FILES = {
    ModelType.DOCUMENT_CLASSIFIER.value: ("train.csv", "test.csv"),
    ModelType.ENTITY_RECOGNIZER.value: (
        "train.txt",
        "train-annotations.csv",
        "test.txt",
        "test-annotations.csv",
    ),
}

# The file a data set's ``train_uri``/``test_uri`` names, per model type (the entity
# annotations sit beside their documents file: ``ENTITY_ANNOTATIONS_OF``).
DOCUMENT_FILES = {
    ModelType.DOCUMENT_CLASSIFIER.value: {"train": "train.csv", "test": "test.csv"},
    ModelType.ENTITY_RECOGNIZER.value: {"train": "train.txt", "test": "test.txt"},
}
ENTITY_ANNOTATIONS_OF = {"train.txt": "train-annotations.csv", "test.txt": "test-annotations.csv"}


# --------------------------------------------------------------------------- parsers


def parse_classifier_csv(
    content: str,
    mode: str,
    *,
    delimiter: str = LABEL_DELIMITER,
    name: str = "train.csv",
    max_examples: int = 5,
) -> list[dict[str, Any]]:
    """Documents from a Comprehend classifier CSV (``LABEL,text``; multi-label ``A|B,text``).

    Labels are kept exactly as written (a blank label from ``A||B`` stays blank for validation
    to report). Rows that are not two columns raise ``DatasetFormatError`` listing them all.
    """
    mode = Mode(mode).value
    documents: list[dict[str, Any]] = []
    problems = Problems(max_examples)
    reader = csv.reader(io.StringIO(content, newline=""))
    line = 1
    for row in reader:
        first_line, line = line, reader.line_num + 1
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line (e.g. a trailing newline pair)
        if len(row) != 2:
            problems.add(
                "malformed-row",
                "rows must have exactly two columns, LABEL and text (quote texts with commas)",
                {"line": first_line, "columns": len(row), "start": snippet(",".join(row), 40)},
            )
            continue
        raw_labels, text = row
        labels = raw_labels.split(delimiter) if mode == Mode.MULTI_LABEL else [raw_labels]
        documents.append(
            {
                "key": text_key(text),
                "id": f"{name}:{first_line}",
                "text": text,
                "labels": labels,
                "origin": "original",
            }
        )
    problems.raise_format_error(f"classifier CSV {name}")
    return documents


def parse_entity_documents(content: str) -> list[str]:
    """The documents of a one-document-per-line file.

    A line ends where Comprehend ends it: at LF, CR or CRLF, and nowhere else ("Each line must
    end with a line feed (LF, \\n), a carriage return (CR, \\r), or both (CRLF, \\r\\n)",
    https://docs.aws.amazon.com/comprehend/latest/dg/api-async-insights.html). A lone CR read
    as part of a document would shift every later line number against the annotations';
    ``str.splitlines`` would do the same the other way, splitting at U+2028 and the like.
    """
    lines = _LINE_END.split(content)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_entity_annotations(content: str, *, max_examples: int = 5) -> list[dict[str, Any]]:
    """Rows of an entity annotations CSV as ``{file, line, begin_offset, end_offset, type}``."""
    reader = csv.reader(io.StringIO(content, newline=""))
    problems = Problems(max_examples)
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != ENTITY_ANNOTATIONS_HEADER:
        problems.add(
            "malformed-header",
            "the first row must be " + ",".join(ENTITY_ANNOTATIONS_HEADER),
            {"header": header},
        )
        problems.raise_format_error("entity annotations CSV")
    rows = []
    for row in reader:
        if not row:
            continue
        try:
            file_name, line, begin, end, kind = row
            rows.append(
                {
                    "file": file_name,
                    "line": int(line),
                    "begin_offset": int(begin),
                    "end_offset": int(end),
                    "type": kind,
                }
            )
        except ValueError:
            problems.add(
                "malformed-row",
                "rows must be File,Line,Begin Offset,End Offset,Type with integer offsets",
                {"line": reader.line_num, "row": row},
            )
    problems.raise_format_error("entity annotations CSV")
    return rows


def parse_entity_files(
    documents_content: str,
    annotations_content: str,
    file_name: str,
    *,
    max_examples: int = 5,
) -> list[dict[str, Any]]:
    """Entity documents (``{key, id, text, entities}``) from a documents file and the rows of an
    annotations CSV whose ``File`` is ``file_name``. Spans are attached as written; ``validate``
    reports spans out of range. Annotations naming a line the file does not have raise.
    """
    texts = parse_entity_documents(documents_content)
    spans: dict[int, list[dict[str, Any]]] = defaultdict(list)
    problems = Problems(max_examples)
    for row in parse_entity_annotations(annotations_content, max_examples=max_examples):
        if row["file"] != file_name:
            continue
        if not 0 <= row["line"] < len(texts):
            problems.add(
                "annotation-line-missing",
                f"annotations name lines that {file_name} (with {len(texts)} lines) does not have",
                {"line": row["line"], "type": row["type"]},
            )
            continue
        spans[row["line"]].append(span_dict(span_tuple(row)))
    problems.raise_format_error(f"entity annotations of {file_name}")
    return [
        {
            "key": text_key(text, ModelType.ENTITY_RECOGNIZER),
            "id": f"{file_name}:{number}",
            "text": text,
            "entities": sorted(spans.get(number, []), key=lambda s: span_tuple(s)),
            "origin": "original",
        }
        for number, text in enumerate(texts)
    ]


def read_entity_part(
    read: Callable[[str], str | None], dataset_version: str, part: str
) -> list[dict[str, Any]]:
    """The entity documents of one part (``train`` or ``test``) of a built data set: its
    documents file and annotations CSV, read with ``read(key)`` (None: missing)."""
    documents_name = DOCUMENT_FILES[ModelType.ENTITY_RECOGNIZER.value][part]
    names = (documents_name, ENTITY_ANNOTATIONS_OF[documents_name])
    contents = [read(dataset_key(dataset_version, name)) for name in names]
    for name, content in zip(names, contents, strict=True):
        if content is None:
            raise LookupError(f"{dataset_key(dataset_version, name)} is missing")
    return parse_entity_files(contents[0] or "", contents[1] or "", documents_name)


# --------------------------------------------------------------------------- writers


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def write_classifier_csv(
    documents: Iterable[Mapping[str, Any]], mode: str, *, delimiter: str = LABEL_DELIMITER
) -> str:
    """Comprehend classifier CSV: ``LABEL,text`` (multi-label: labels joined by ``delimiter``)."""
    mode = Mode(mode).value
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    for document in documents:
        labels = list(document["labels"])
        field_ = delimiter.join(labels) if mode == Mode.MULTI_LABEL else "".join(labels[:1])
        writer.writerow([field_, _one_line(document["text"])])
    return out.getvalue()


def write_entity_files(
    documents: Iterable[Mapping[str, Any]], documents_file_name: str
) -> tuple[str, str]:
    """(documents file, annotations CSV) in Comprehend's entity format; ``File`` names the
    documents file as Comprehend will see it (the object's name)."""
    lines: list[str] = []
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(ENTITY_ANNOTATIONS_HEADER)
    for number, document in enumerate(documents):
        lines.append(_one_line(document["text"]))
        for begin, end, kind in sorted(span_tuple(s) for s in document.get("entities", [])):
            writer.writerow([documents_file_name, number, begin, end, kind])
    return ("".join(line + "\n" for line in lines), out.getvalue())


def write_files(
    model_type: str,
    mode: str | None,
    train: Sequence[Mapping[str, Any]],
    test: Sequence[Mapping[str, Any]],
    delimiter: str,
) -> dict[str, str]:
    if model_type == ModelType.ENTITY_RECOGNIZER:
        train_docs, train_ann = write_entity_files(train, "train.txt")
        test_docs, test_ann = write_entity_files(test, "test.txt")
        return {
            "train.txt": train_docs,
            "train-annotations.csv": train_ann,
            "test.txt": test_docs,
            "test-annotations.csv": test_ann,
        }
    return {
        "train.csv": write_classifier_csv(train, mode, delimiter=delimiter),
        "test.csv": write_classifier_csv(test, mode, delimiter=delimiter),
    }
