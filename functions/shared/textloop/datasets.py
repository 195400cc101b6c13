"""Training and test data sets in Amazon Comprehend's formats, built from the annotation pool.

Formats (reading and writing):

* MULTI_CLASS: CSV ``LABEL,text``, no header, RFC 4180 quoting.
* MULTI_LABEL: the same with labels joined by a delimiter (Comprehend's default ``|``).
* ENTITY_RECOGNIZER: a documents file, one document per line, and an annotations CSV with the
  header ``File,Line,Begin Offset,End Offset,Type`` (offsets in characters, end exclusive).

Writers replace line breaks inside a text with spaces: one physical line per document is what
the entity format requires, and it keeps classifier CSVs readable by line-oriented tools. Each
``\\r`` or ``\\n`` becomes exactly one space, so entity offsets stay valid.

A data set is built as follows (``build_datasets``):

1. Documents come from the original training data and from the annotation pool, keyed by
   ``annotations.text_key`` (normalised text). The pool wins over the original data for the
   same text (a person reviewed it more recently); among original documents the first wins.
2. The FROZEN test set: the first build splits every document; the split state it returns holds
   the test documents (text and labels, frozen) and the keys that went to training. Later builds
   keep every frozen test document exactly as frozen (a relabelled copy in the pool is ignored
   and counted in the manifest), keep earlier training documents in training, and split only
   documents never seen before: their test share joins the test set, the rest training. A text
   is in the test set or in training, never both, compared by normalised text (entity keys are
   exact texts, so a new spelling of a known text joins the side that text is on).
3. Splits are stratified: MULTI_CLASS with scikit-learn's ``train_test_split(stratify=...)``
   when every class has two documents (else per class, a class with one document going to
   training); MULTI_LABEL and entity types with iterative stratification (Sechidis, Tsoumakas
   and Vlahavas, 2011), which balances every label's share greedily, rarest label first.
4. Validation against Comprehend's rules (``validate_documents``) on the distinct training
   documents and, without the count rules, on the test set. ``build_datasets`` raises
   ``DatasetValidationError`` whose message lists every problem.
5. Optional random oversampling (seeded) of labels below a minimum count, in training only,
   after validation: copies must not hide that a label lacks real examples.

Comprehend's limits used as defaults (Guidelines and quotas, "Document classification" and
"Entity recognition", https://docs.aws.amazon.com/comprehend/latest/dg/guidelines-and-limits.html;
``DocumentClassificationConfig.Labels`` and ``EntityRecognitionConfig.EntityTypes`` in the API
reference): at most 1,000 classes (multi-class) or 100 (multi-label), class names up to 5,000
characters, at least 50 training documents per class (multi-class) or 10 (multi-label); entity
recognisers: 1-25 entity types, documents of at most 5,000 bytes of UTF-8, at least 3
documents and 25 annotations per entity type; entity type names without line breaks, tabs,
spaces or commas.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from textloop.annotations import (
    PoolVersion,
    annotations_as_documents,
    content_hash,
    normalise_text,
    span_dict,
    span_tuple,
    text_key,
)
from textloop.names import LABEL_DELIMITER, Mode, ModelType

SPLIT_STATE_SCHEMA_VERSION = 1
MANIFEST_SCHEMA_VERSION = 1
VERSION_LENGTH = 16
ENTITY_ANNOTATIONS_HEADER = ("File", "Line", "Begin Offset", "End Offset", "Type")

COMPREHEND_MAX_LABELS = {
    Mode.MULTI_CLASS.value: 1000,
    Mode.MULTI_LABEL.value: 100,
    ModelType.ENTITY_RECOGNIZER.value: 25,
}
COMPREHEND_MIN_DOCS_PER_LABEL = {Mode.MULTI_CLASS.value: 50, Mode.MULTI_LABEL.value: 10}
COMPREHEND_MAX_LABEL_LENGTH = 5000
COMPREHEND_MIN_ANNOTATIONS_PER_ENTITY_TYPE = 25
COMPREHEND_MIN_ENTITY_DOCUMENTS = 3
COMPREHEND_MAX_ENTITY_DOCUMENT_BYTES = 5000
_ENTITY_TYPE_FORBIDDEN = ("\n", "\r", "\t", " ", ",")
_OTHER_DELIMITERS = ("|", ";", ",", ":", "/")

FILES = {
    ModelType.DOCUMENT_CLASSIFIER.value: ("train.csv", "test.csv"),
    ModelType.ENTITY_RECOGNIZER.value: (
        "train.txt",
        "train-annotations.csv",
        "test.txt",
        "test-annotations.csv",
    ),
}


# --------------------------------------------------------------------------- validation report


@dataclass(frozen=True)
class Problem:
    rule: str
    detail: str
    count: int
    examples: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "detail": self.detail,
            "count": self.count,
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class ValidationReport:
    subject: str
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        if self.ok:
            return f"{self.subject}: valid"
        lines = [f"{self.subject} is invalid ({len(self.problems)} problem(s)):"]
        for p in self.problems:
            lines.append(f"- [{p.rule}] {p.detail}")
            for example in p.examples:
                lines.append(f"    e.g. {_example_text(example)}")
        return "\n".join(lines)

    def raise_if_invalid(self) -> None:
        if not self.ok:
            raise DatasetValidationError(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
        }

    def combined(self, other: ValidationReport, subject: str | None = None) -> ValidationReport:
        problems = [replace(p, detail=f"{self.subject}: {p.detail}") for p in self.problems]
        problems += [replace(p, detail=f"{other.subject}: {p.detail}") for p in other.problems]
        return ValidationReport(subject or self.subject, tuple(problems))


def _example_text(example: Any) -> str:
    if isinstance(example, Mapping):
        return ", ".join(f"{k}={v!r}" for k, v in example.items())
    return repr(example)


class DatasetValidationError(ValueError):
    """A data set Comprehend would reject, or a file that cannot be read; ``str()`` lists all."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.render())


class DatasetFormatError(DatasetValidationError):
    """An input file that does not follow its format (raised by the parsers)."""


class _Problems:
    def __init__(self, max_examples: int):
        self.max_examples = max_examples
        self.found: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []

    def add(self, rule: str, detail: str, example: Any = None, *, count: int = 1) -> None:
        entry = self.found.get(rule)
        if entry is None:
            entry = {"detail": detail, "count": 0, "examples": []}
            self.found[rule] = entry
            self.order.append(rule)
        entry["count"] += count
        if example is not None and len(entry["examples"]) < self.max_examples:
            entry["examples"].append(example)

    def raise_format_error(self, subject: str) -> None:
        if self.found:
            raise DatasetFormatError(self.report(subject))

    def report(self, subject: str, details: Mapping[str, str] | None = None) -> ValidationReport:
        problems = []
        for rule in self.order:
            entry = self.found[rule]
            detail = entry["detail"]
            if details and rule in details:
                detail = details[rule].format(count=entry["count"])
            problems.append(Problem(rule, detail, entry["count"], tuple(entry["examples"])))
        return ValidationReport(subject, tuple(problems))


def _snippet(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


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
    problems = _Problems(max_examples)
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
                {"line": first_line, "columns": len(row), "start": _snippet(",".join(row), 40)},
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
    """The documents of a one-document-per-line file (``\\n`` or ``\\r\\n`` line ends).

    Only ``\\n`` ends a line (``str.splitlines`` would also split on characters such as U+2028
    inside a document and shift every later line number).
    """
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_entity_annotations(content: str, *, max_examples: int = 5) -> list[dict[str, Any]]:
    """Rows of an entity annotations CSV as ``{file, line, begin_offset, end_offset, type}``."""
    reader = csv.reader(io.StringIO(content, newline=""))
    problems = _Problems(max_examples)
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
    problems = _Problems(max_examples)
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


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class ValidationRules:
    """Comprehend's rules; ``None`` means Comprehend's documented value for the mode."""

    min_docs_per_label: int | None = None
    max_labels: int | None = None
    max_label_length: int = COMPREHEND_MAX_LABEL_LENGTH
    min_annotations_per_entity_type: int = COMPREHEND_MIN_ANNOTATIONS_PER_ENTITY_TYPE
    min_entity_documents: int = COMPREHEND_MIN_ENTITY_DOCUMENTS
    max_entity_document_bytes: int = COMPREHEND_MAX_ENTITY_DOCUMENT_BYTES
    label_delimiter: str = LABEL_DELIMITER
    max_examples: int = 5

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ValidationRules:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown validation rules: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def validate_documents(
    documents: Sequence[Mapping[str, Any]],
    *,
    model_type: str,
    mode: str | None = None,
    rules: ValidationRules | None = None,
    check_counts: bool = True,
    subject: str = "data set",
) -> ValidationReport:
    """Every problem Comprehend would reject ``documents`` for, as one report.

    ``check_counts=False`` skips the minimum-count rules (for a test set, which Comprehend
    does not require to cover every label in quantity).
    """
    rules = rules or ValidationRules()
    model_type = ModelType(model_type).value
    problems = _Problems(rules.max_examples)
    if not documents:
        problems.add("empty-data-set", "the data set has no documents")
        return problems.report(subject)
    for document in documents:
        if not document.get("text", "").strip():
            problems.add(
                "empty-text", "documents must have text", {"id": document.get("id")}, count=1
            )
    if model_type == ModelType.ENTITY_RECOGNIZER:
        _validate_entities(documents, rules, problems, check_counts)
    else:
        _validate_classifier(documents, Mode(mode).value, rules, problems, check_counts)
    return problems.report(
        subject,
        {
            "empty-text": "{count} document(s) have no text",
            "unlabelled": "{count} document(s) have no label; Comprehend needs every document "
            "labelled",
            "blank-label": "{count} document(s) have a blank label (as from 'A||B', a trailing "
            "delimiter or a wrong label delimiter)",
            "multiple-labels": "{count} document(s) have more than one label in MULTI_CLASS mode",
            "document-too-large": "{count} document(s) are larger than "
            f"{rules.max_entity_document_bytes:,} bytes of UTF-8",
            "span-out-of-range": "{count} span(s) are outside their document (0 <= begin < end "
            "<= length)",
            "overlapping-spans": "{count} span(s) overlap another span of the same document",
        },
    )


def _validate_classifier(
    documents: Sequence[Mapping[str, Any]],
    mode: str,
    rules: ValidationRules,
    problems: _Problems,
    check_counts: bool,
) -> None:
    counts: Counter[str] = Counter()
    for document in documents:
        labels = document.get("labels")
        example = {"id": document.get("id"), "text": _snippet(document.get("text", ""))}
        if isinstance(labels, str) or labels is None:
            problems.add("labels-not-a-list", "labels must be a list", example)
            continue
        if not labels:
            problems.add("unlabelled", "", example)
            continue
        if any(not str(label).strip() for label in labels):
            problems.add("blank-label", "", {**example, "labels": list(labels)})
        if mode == Mode.MULTI_CLASS and len(labels) > 1:
            problems.add("multiple-labels", "", {**example, "labels": list(labels)})
        for label in dict.fromkeys(str(x) for x in labels if str(x).strip()):
            counts[label] += 1
    for label in sorted(counts):
        if mode == Mode.MULTI_LABEL and rules.label_delimiter in label:
            problems.add(
                "delimiter-in-label",
                f"labels must not contain the label delimiter {rules.label_delimiter!r}",
                {"label": label},
            )
        if len(label) > rules.max_label_length:
            problems.add(
                "label-too-long",
                f"labels must be at most {rules.max_label_length:,} characters",
                {"label": _snippet(label)},
            )
        for other in _OTHER_DELIMITERS:
            parts = [p.strip() for p in label.split(other)]
            if (
                other != rules.label_delimiter
                and len(parts) > 1
                and all(p in counts for p in parts)
            ):
                problems.add(
                    "suspect-delimiter",
                    f"labels look like several known labels joined by another delimiter than "
                    f"{rules.label_delimiter!r}",
                    {"label": label, "delimiter": other},
                )
    limit = rules.max_labels or COMPREHEND_MAX_LABELS[mode]
    if len(counts) > limit:
        problems.add(
            "too-many-labels",
            f"{len(counts)} labels; the limit for {mode} is {limit}",
            count=len(counts),
        )
    if check_counts:
        minimum = rules.min_docs_per_label or COMPREHEND_MIN_DOCS_PER_LABEL[mode]
        for label in sorted(counts, key=lambda lb: (counts[lb], lb)):
            if counts[label] < minimum:
                problems.add(
                    "too-few-documents",
                    f"every label needs at least {minimum} training documents ({mode})",
                    {"label": label, "documents": counts[label]},
                )


def _validate_entities(
    documents: Sequence[Mapping[str, Any]],
    rules: ValidationRules,
    problems: _Problems,
    check_counts: bool,
) -> None:
    per_type: Counter[str] = Counter()
    for document in documents:
        text = document.get("text", "")
        size = len(text.encode())
        example_id = document.get("id")
        if size > rules.max_entity_document_bytes:
            problems.add("document-too-large", "", {"id": example_id, "bytes": size})
        spans = []
        for raw in document.get("entities", []):
            begin, end, kind = span_tuple(raw)
            if not (0 <= begin < end <= len(text)):
                problems.add(
                    "span-out-of-range",
                    "",
                    {"id": example_id, "span": [begin, end, kind], "length": len(text)},
                )
                continue
            spans.append((begin, end, kind))
            per_type[kind] += 1
        spans.sort()
        # Compare with the furthest-reaching earlier span, so a long span that covers several
        # later ones is caught against each of them, not only its neighbour.
        reach: tuple[int, int, str] | None = None
        for span in spans:
            if reach is not None and span[0] < reach[1]:
                problems.add(
                    "overlapping-spans",
                    "",
                    {"id": example_id, "spans": [list(reach), list(span)]},
                )
            if reach is None or span[1] > reach[1]:
                reach = span
    for kind in sorted(per_type):
        if not kind or any(ch in kind for ch in _ENTITY_TYPE_FORBIDDEN):
            problems.add(
                "invalid-entity-type",
                "entity types must be non-empty, without line breaks, tabs, spaces or commas",
                {"type": kind},
            )
    limit = rules.max_labels or COMPREHEND_MAX_LABELS[ModelType.ENTITY_RECOGNIZER]
    if len(per_type) > limit:
        problems.add(
            "too-many-labels",
            f"{len(per_type)} entity types; the limit is {limit}",
            count=len(per_type),
        )
    if check_counts:
        if len(documents) < rules.min_entity_documents:
            problems.add(
                "too-few-documents",
                f"an entity recogniser needs at least {rules.min_entity_documents} documents",
                {"documents": len(documents)},
            )
        minimum = rules.min_annotations_per_entity_type
        for kind in sorted(per_type, key=lambda k: (per_type[k], k)):
            if per_type[kind] < minimum:
                problems.add(
                    "too-few-annotations",
                    f"every entity type needs at least {minimum} annotations",
                    {"type": kind, "annotations": per_type[kind]},
                )


# --------------------------------------------------------------------------- splitting


def _rng(seed: int | str) -> np.random.Generator:
    return np.random.default_rng(_seed_int(seed))


def _seed_int(seed: int | str) -> int:
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**32:
        return seed
    return int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:4], "big")


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _split_multi_class(
    documents: Sequence[Mapping[str, Any]], share: float, seed: int | str
) -> tuple[set[int], str]:
    """Indices of the test part, and the method used."""
    n = len(documents)
    n_test = _round_half_up(n * share)
    if n_test == 0:
        return set(), "none (too few new documents for a test share)"
    strata = ["|".join(sorted(d["labels"])) for d in documents]
    counts = Counter(strata)
    if min(counts.values()) >= 2 and len(counts) <= n_test <= n - len(counts):
        from sklearn.model_selection import train_test_split

        _, test = train_test_split(
            list(range(n)), test_size=n_test, stratify=strata, random_state=_seed_int(seed)
        )
        return set(test), "train_test_split(stratify)"
    # Per class: a class with a single new document goes to training, where it teaches something.
    rng = _rng(seed)
    test: set[int] = set()
    by_stratum: dict[str, list[int]] = defaultdict(list)
    for index, stratum in enumerate(strata):
        by_stratum[stratum].append(index)
    for stratum in sorted(by_stratum):
        members = by_stratum[stratum]
        take = _round_half_up(len(members) * share) if len(members) > 1 else 0
        test.update(members[j] for j in rng.permutation(len(members))[:take])
    return test, "per-class"


def iterative_stratification(
    label_sets: Sequence[Iterable[str]], share: float, seed: int | str
) -> set[int]:
    """Indices of a test part holding about ``share`` of the examples *and* of every label.

    Sechidis, Tsoumakas and Vlahavas, "On the stratification of multi-label data" (2011), for
    two folds: repeatedly take the label with the fewest unassigned examples and give each of its
    examples to the fold that most lacks that label (ties: the fold that most lacks examples,
    then a seeded coin). Examples without labels fill the folds' remaining sizes.
    """
    sets = [frozenset(s) for s in label_sets]
    n = len(sets)
    rng = _rng(seed)
    ratios = (share, 1.0 - share)
    desired_size = [r * n for r in ratios]
    totals = Counter(label for s in sets for label in s)
    desired = {label: [r * count for r in ratios] for label, count in totals.items()}
    fold_of: dict[int, int] = {}
    remaining = {label: [i for i in range(n) if label in sets[i]] for label in totals}

    def choose(scores: Sequence[float]) -> int:
        best = max(scores)
        tied = [f for f in (0, 1) if math.isclose(scores[f], best)]
        if len(tied) == 1:
            return tied[0]
        sizes = [desired_size[f] for f in tied]
        tied = [f for f, s in zip(tied, sizes, strict=True) if math.isclose(s, max(sizes))]
        return tied[0] if len(tied) == 1 else int(tied[rng.integers(len(tied))])

    while True:
        open_labels = {
            label: [i for i in members if i not in fold_of] for label, members in remaining.items()
        }
        open_labels = {label: members for label, members in open_labels.items() if members}
        if not open_labels:
            break
        label = min(open_labels, key=lambda lb: (len(open_labels[lb]), lb))
        members = open_labels[label]
        for j in rng.permutation(len(members)):
            index = members[j]
            fold = choose(desired[label])
            fold_of[index] = fold
            desired_size[fold] -= 1
            for other in sets[index]:
                desired[other][fold] -= 1
        remaining.pop(label)
    unlabelled = [i for i in range(n) if i not in fold_of]
    for j in rng.permutation(len(unlabelled)):
        fold = choose(desired_size)
        fold_of[unlabelled[j]] = fold
        desired_size[fold] -= 1
    return {i for i, fold in fold_of.items() if fold == 0}


def _label_set(document: Mapping[str, Any]) -> list[str]:
    if "entities" in document:
        return sorted({span_tuple(s)[2] for s in document["entities"]})
    return list(document["labels"])


def _oversample(
    documents: list[dict[str, Any]], min_count: int, seed: int | str
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Random oversampling (seeded) until every label that has documents reaches ``min_count``.

    Rarest label first; copies of multi-label documents also count for their other labels.
    """
    rng = _rng(f"oversample:{seed}")
    result = list(documents)
    added: dict[str, int] = {}
    labels = sorted({label for d in documents for label in _label_set(d)})
    while True:
        counts = Counter(label for d in result for label in set(_label_set(d)))
        short = [lb for lb in labels if counts[lb] < min_count and lb not in added]
        if not short:
            break
        label = min(short, key=lambda lb: (counts[lb], lb))
        holders = [d for d in documents if label in _label_set(d)]
        need = min_count - counts[label]
        picks = rng.integers(0, len(holders), size=need)
        result.extend(holders[int(p)] for p in picks)
        added[label] = need
    return result, added


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class BuildConfig:
    test_share: float = 0.2
    seed: int | str = 0
    label_delimiter: str = LABEL_DELIMITER
    # Oversample training labels with fewer documents (entity types: fewer documents holding
    # the type) up to this count; None: no oversampling.
    oversample_min_count: int | None = None
    # MULTI_LABEL: the label given to documents with no label (Jigsaw's many rows without one
    # become "clean"); None keeps them unlabelled, which validation rejects as Comprehend does.
    label_for_no_labels: str | None = None
    rules: ValidationRules = field(default_factory=ValidationRules)

    def __post_init__(self) -> None:
        if not 0 < self.test_share < 1:
            raise ValueError(f"test_share must be in (0, 1), got {self.test_share!r}")
        if self.label_delimiter != self.rules.label_delimiter:
            object.__setattr__(
                self, "rules", replace(self.rules, label_delimiter=self.label_delimiter)
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> BuildConfig:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown data set settings: {sorted(unknown)}")
        if isinstance(data.get("rules"), Mapping):
            data["rules"] = ValidationRules.from_dict(data["rules"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_share": self.test_share,
            "seed": self.seed,
            "label_delimiter": self.label_delimiter,
            "oversample_min_count": self.oversample_min_count,
            "label_for_no_labels": self.label_for_no_labels,
            "rules": self.rules.to_dict(),
        }


@dataclass(frozen=True)
class DatasetBuild:
    """``train`` is what the training file holds (oversampled copies included); ``test`` the
    test set to evaluate on; ``split_state`` is passed to the next build."""

    dataset_version: str
    files: dict[str, str]
    manifest: dict[str, Any]
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    split_state: dict[str, Any]
    report: ValidationReport

    @property
    def test_set_hash(self) -> str:
        return self.manifest["test_set_hash"]


def _content(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a document *is* for hashing and freezing (not where it came from)."""
    out: dict[str, Any] = {"key": document["key"], "text": document["text"]}
    if "entities" in document:
        out["entities"] = [
            span_dict(s) for s in sorted(span_tuple(x) for x in document["entities"])
        ]
    else:
        out["labels"] = sorted(document["labels"])
    return out


def hash_test_set(documents: Iterable[Mapping[str, Any]]) -> str:
    """Content hash of a test set: independent of order, ids, origin and file formatting."""
    return content_hash(sorted((_content(d) for d in documents), key=lambda c: c["key"]))


def _with_key(document: Mapping[str, Any], model_type: str) -> dict[str, Any]:
    out = dict(document)
    out.setdefault("key", text_key(out["text"], model_type))
    out.setdefault("id", out["key"])
    if model_type == ModelType.ENTITY_RECOGNIZER:
        out.setdefault("entities", [])
    elif isinstance(out.get("labels"), str):
        # A bare string would silently become a list of characters further on.
        raise ValueError(f"document {out['id']!r}: labels must be a list, not a string")
    return out


def build_datasets(
    *,
    model_type: str,
    mode: str | None = None,
    pool: PoolVersion | Mapping[str, Any] | None = None,
    original_documents: Iterable[Mapping[str, Any]] = (),
    split_state: Mapping[str, Any] | None = None,
    config: BuildConfig | Mapping[str, Any] | None = None,
    strict: bool = True,
) -> DatasetBuild:
    """Train and test sets in Comprehend's formats (see the module docstring for the rules).

    ``split_state``: the ``split_state`` of the previous build (``None`` on the first), which
    carries the frozen test set. ``strict``: raise ``DatasetValidationError`` when a rule fails
    (otherwise the report is in ``build.report`` and the manifest).
    """
    model_type = ModelType(model_type).value
    entity = model_type == ModelType.ENTITY_RECOGNIZER
    mode = None if entity else Mode(mode).value
    if not isinstance(config, BuildConfig):
        config = BuildConfig.from_dict(config)
    if isinstance(pool, Mapping):
        pool = PoolVersion.from_dict(pool)
    if pool is not None and pool.model_type != model_type:
        raise ValueError(f"the pool holds {pool.model_type}, not {model_type}")
    if split_state is not None:
        _check_split_state(split_state, model_type, mode)

    documents: dict[str, dict[str, Any]] = {}
    original_conflicts = 0
    for raw in original_documents:
        document = _with_key({**raw, "origin": raw.get("origin", "original")}, model_type)
        kept = documents.get(document["key"])
        if kept is None:
            documents[document["key"]] = document
        elif _content(kept) != _content(document):
            original_conflicts += 1
    original_count = len(documents)
    pool_documents = annotations_as_documents(pool) if pool is not None else []
    pool_overrides = sum(1 for d in pool_documents if d["key"] in documents)
    for document in pool_documents:
        documents[document["key"]] = document
    if config.label_for_no_labels and mode == Mode.MULTI_LABEL:
        for key, document in documents.items():
            if not document.get("labels"):
                documents[key] = {**document, "labels": [config.label_for_no_labels]}

    frozen = {d["key"]: dict(d) for d in (split_state or {}).get("test", [])}
    train_keys = set((split_state or {}).get("train_keys", []))
    relabels_ignored = sum(
        1
        for key, d in frozen.items()
        if key in documents and _content(documents[key]) != _content(d)
    )
    missing_from_sources = sum(1 for key in frozen if key not in documents)
    old_train = [documents[k] for k in sorted(documents) if k in train_keys and k not in frozen]
    new = [documents[k] for k in sorted(documents) if k not in train_keys and k not in frozen]

    # Entity keys are exact texts (offsets need them), so one text spelt two ways is two keys.
    # The normalised text decides which side it belongs to, as for classifiers (where keys are
    # normalised and all of this is a no-op): a new spelling of a test text joins the test set,
    # of a training text joins training, and only genuinely new texts are split.
    test_texts = {normalise_text(d["text"]) for d in frozen.values()}
    train_texts = {normalise_text(d["text"]) for d in old_train}
    joins_test = [d for d in new if normalise_text(d["text"]) in test_texts]
    joins_train = [
        d
        for d in new
        if normalise_text(d["text"]) in train_texts and normalise_text(d["text"]) not in test_texts
    ]
    to_split = [d for d in new if normalise_text(d["text"]) not in test_texts | train_texts]
    if entity or mode == Mode.MULTI_LABEL:
        test_index = iterative_stratification(
            [_label_set(d) for d in to_split], config.test_share, config.seed
        )
        method = "iterative-stratification"
    else:
        test_index, method = _split_multi_class(to_split, config.test_share, config.seed)
    new_test = [d for i, d in enumerate(to_split) if i in test_index]
    new_train = [d for i, d in enumerate(to_split) if i not in test_index]
    # Two new spellings of one text split apart: keep them together, on the test side.
    split_texts = {normalise_text(d["text"]) for d in new_test}
    moved = [d for d in new_train if normalise_text(d["text"]) in split_texts]
    new_test += moved
    new_train = [d for d in new_train if normalise_text(d["text"]) not in split_texts]
    new_test += joins_test
    new_train += joins_train
    test = sorted([*frozen.values(), *new_test], key=lambda d: d["key"])
    train = sorted([*old_train, *new_train], key=lambda d: d["key"])

    rules = config.rules
    report = validate_documents(
        train, model_type=model_type, mode=mode, rules=rules, subject="training set"
    ).combined(
        validate_documents(
            test,
            model_type=model_type,
            mode=mode,
            rules=rules,
            check_counts=False,
            subject="test set",
        ),
        subject=f"{model_type} {mode or ''} data set".replace("  ", " "),
    )
    if strict:
        report.raise_if_invalid()

    oversampled: dict[str, int] = {}
    train_rows = train
    if config.oversample_min_count:
        train_rows, oversampled = _oversample(train, config.oversample_min_count, config.seed)

    files = _write_files(model_type, mode, train_rows, test, config.label_delimiter)
    file_hashes = {name: hashlib.sha256(body.encode()).hexdigest() for name, body in files.items()}
    full_hash = content_hash(
        {
            "model_type": model_type,
            "mode": mode,
            "label_delimiter": config.label_delimiter,
            "files": file_hashes,
        }
    )
    new_test_hash = hash_test_set(test)
    state = {
        "schema_version": SPLIT_STATE_SCHEMA_VERSION,
        "model_type": model_type,
        "mode": mode,
        "test_set_hash": new_test_hash,
        "test": [_content(d) | {"id": d.get("id", d["key"])} for d in test],
        "train_keys": sorted({d["key"] for d in train} | (train_keys - set(frozen))),
    }
    train_name, test_name = ("train.txt", "test.txt") if entity else ("train.csv", "test.csv")
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "dataset_version": full_hash[:VERSION_LENGTH],
        "content_hash": full_hash,
        "model_type": model_type,
        "mode": mode,
        "label_delimiter": None if entity else config.label_delimiter,
        "labels": sorted({lb for d in [*train, *test] for lb in _label_set(d)}),
        "source_pool_version": pool.pool_version if pool is not None else None,
        "test_set_hash": new_test_hash,
        "previous_test_set_hash": (split_state or {}).get("test_set_hash"),
        "files": {
            name: {"sha256": file_hashes[name], "bytes": len(body.encode())}
            for name, body in files.items()
        },
        "train": {
            "file": train_name,
            "sha256": file_hashes[train_name],
            "documents": len(train_rows),
            "distinct_documents": len(train),
            "per_label": _per_label(train_rows),
            **_annotations_file(files, file_hashes, "train", entity),
        },
        "test": {
            "file": test_name,
            "sha256": file_hashes[test_name],
            "documents": len(test),
            "per_label": _per_label(test),
            **_annotations_file(files, file_hashes, "test", entity),
        },
        "split": {
            "method": method,
            "test_share": config.test_share,
            "seed": config.seed,
            "frozen_test_documents": len(frozen),
            "earlier_train_documents": len(old_train),
            "new_documents": len(new),
            "new_to_test": len(new_test),
            "new_to_train": len(new_train),
            "new_joining_a_known_text": len(joins_test) + len(joins_train) + len(moved),
        },
        "oversampling": (
            {"min_count": config.oversample_min_count, "added": oversampled}
            if config.oversample_min_count
            else None
        ),
        "sources": {
            "original_documents": original_count,
            "original_conflicting_duplicates": original_conflicts,
            "pool_annotations": len(pool_documents),
            "pool_overrides_original": pool_overrides,
            "frozen_test_relabels_ignored": relabels_ignored,
            "frozen_test_missing_from_sources": missing_from_sources,
        },
        "config": config.to_dict(),
        "validation": report.to_dict(),
    }
    return DatasetBuild(
        dataset_version=manifest["dataset_version"],
        files=files,
        manifest=manifest,
        train=train_rows,
        test=test,
        split_state=state,
        report=report,
    )


def _annotations_file(
    files: Mapping[str, str], hashes: Mapping[str, str], part: str, entity: bool
) -> dict[str, Any]:
    if not entity:
        return {}
    name = f"{part}-annotations.csv"
    return {"annotations_file": name, "annotations_sha256": hashes[name]}


def _per_label(documents: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Documents per label; for entity recognisers, annotations per entity type."""
    counts: Counter[str] = Counter()
    for document in documents:
        if "entities" in document:
            counts.update(span_tuple(s)[2] for s in document["entities"])
        else:
            counts.update(set(document["labels"]))
    return dict(sorted(counts.items()))


def _write_files(
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


def _check_split_state(state: Mapping[str, Any], model_type: str, mode: str | None) -> None:
    if state.get("schema_version") != SPLIT_STATE_SCHEMA_VERSION:
        raise ValueError(f"unsupported split state version {state.get('schema_version')!r}")
    if state.get("model_type") != model_type or state.get("mode") != mode:
        raise ValueError(
            f"the split state is for {state.get('model_type')} {state.get('mode')}, "
            f"not {model_type} {mode}"
        )
    recomputed = hash_test_set(state.get("test", []))
    if recomputed != state.get("test_set_hash"):
        # The frozen test set is the yardstick of every promotion: never accept an edited one.
        raise ValueError(
            "the frozen test set does not match its hash "
            f"(stored {str(state.get('test_set_hash'))[:12]}, recomputed {recomputed[:12]})"
        )


def read_test_documents(build_or_state: DatasetBuild | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The frozen test documents (``{key, id, text, labels | entities}``) to evaluate on."""
    if isinstance(build_or_state, DatasetBuild):
        return [dict(d) for d in build_or_state.test]
    return [dict(d) for d in build_or_state["test"]]
