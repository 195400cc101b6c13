"""Amazon Comprehend's rules for training data, checked before a training job is paid for.

``validate_documents`` returns one ``ValidationReport`` listing every problem (with examples),
so a person fixes the data once instead of one rejected job at a time.

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

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from textloop.domain.names import LABEL_DELIMITER, Mode, ModelType
from textloop.domain.predictions import span_tuple

COMPREHEND_MAX_LABELS = {
    Mode.MULTI_CLASS.value: 1000,
    Mode.MULTI_LABEL.value: 100,
    ModelType.ENTITY_RECOGNIZER.value: 25,
}
COMPREHEND_MIN_DOCS_PER_LABEL = {Mode.MULTI_CLASS.value: 50, Mode.MULTI_LABEL.value: 10}
COMPREHEND_MAX_LABEL_LENGTH = 5000
# Plain-text annotations (the documents + annotations CSV format, and what a Ground Truth
# manifest is converted to): "provide at least three annotated input documents and at least 25
# annotations per entity" (Amazon Comprehend Developer Guide, "Annotations", section "Minimum
# number of annotations", https://docs.aws.amazon.com/comprehend/latest/dg/cer-annotation.html,
# checked 2026-12). PDF annotations need 250 documents and 100 per entity; textloop trains on
# plain text only. The same page asks a given test set for at least one annotation of every
# entity type of the request.
COMPREHEND_MIN_ANNOTATIONS_PER_ENTITY_TYPE = 25
COMPREHEND_MIN_ENTITY_DOCUMENTS = 3
COMPREHEND_MAX_ENTITY_DOCUMENT_BYTES = 5000
_ENTITY_TYPE_FORBIDDEN = ("\n", "\r", "\t", " ", ",")
_OTHER_DELIMITERS = ("|", ";", ",", ":", "/")


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


class Problems:
    """Problems found so far, grouped by rule, with a few examples each."""

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


def snippet(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


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
    problems = Problems(rules.max_examples)
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
    problems: Problems,
    check_counts: bool,
) -> None:
    counts: Counter[str] = Counter()
    for document in documents:
        labels = document.get("labels")
        example = {"id": document.get("id"), "text": snippet(document.get("text", ""))}
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
                {"label": snippet(label)},
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
    problems: Problems,
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
    if not per_type:
        problems.add(
            "no-entity-types",
            f"no document annotates an entity; a recogniser is trained on 1 to {limit} entity "
            "types",
        )
    if len(per_type) > limit:
        problems.add(
            "too-many-labels",
            f"{len(per_type)} entity types; the limit is {limit}",
            count=len(per_type),
        )
    if check_counts:
        # Comprehend counts annotated documents: a document without any span teaches only
        # what is not an entity.
        annotated = sum(1 for d in documents if d.get("entities"))
        if annotated < rules.min_entity_documents:
            problems.add(
                "too-few-documents",
                f"an entity recogniser needs at least {rules.min_entity_documents} annotated "
                "documents",
                {"documents": len(documents), "annotated": annotated},
            )
        minimum = rules.min_annotations_per_entity_type
        for kind in sorted(per_type, key=lambda k: (per_type[k], k)):
            if per_type[kind] < minimum:
                problems.add(
                    "too-few-annotations",
                    f"every entity type needs at least {minimum} annotations",
                    {"type": kind, "annotations": per_type[kind]},
                )
