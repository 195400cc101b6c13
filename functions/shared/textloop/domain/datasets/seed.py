"""The seed data set of a model type: the original labelled data a bootstrap iteration trains on,
imported by ``textloop import-dataset`` into ``layout.seed_keys(model_type)``.

One reader for both model types, so SelectForReview (which counts the seed's labels and offers
its label set to reviewers) and BuildDatasets (which trains on it) can never read it apart:

* DOCUMENT_CLASSIFIER: ``train.csv``, Comprehend's ``LABEL,text`` CSV.
* ENTITY_RECOGNIZER: ``train.txt`` (one document per line) and ``train-annotations.csv``
  (``File,Line,Begin Offset,End Offset,Type`` with ``File`` = ``train.txt``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from textloop.domain import layout
from textloop.domain.datasets.formats import (
    parse_classifier_csv,
    parse_entity_files,
    write_classifier_csv,
    write_entity_files,
)
from textloop.domain.datasets.rules import Problems
from textloop.domain.hashing import canonical_json
from textloop.domain.names import LABEL_DELIMITER, ModelType
from textloop.domain.predictions import span_tuple


def seed_documents(
    model_type: str,
    mode: str | None,
    read: Callable[[str], str | None] | Mapping[str, str | None],
    *,
    delimiter: str = LABEL_DELIMITER,
) -> list[dict[str, Any]]:
    """The seed documents of ``model_type`` (``{key, id, text, labels}`` or ``{key, id, text,
    entities}``); [] when no seed was imported.

    ``read``: ``read(key) -> text or None`` (e.g. ``DataLake.get_text``), or a mapping from the
    keys of ``layout.seed_keys`` (or their file names) to the objects' texts. An entity seed
    with documents but no annotations file (or the reverse) is a broken import and raises
    ``DatasetFormatError`` rather than training on unlabelled text.
    """
    kind = ModelType(model_type)
    keys = layout.seed_keys(kind)
    texts = {name: _read(read, name, key) for name, key in keys.items()}
    if kind == ModelType.DOCUMENT_CLASSIFIER:
        content = texts[layout.SEED_CLASSIFIER_FILE]
        if content is None:
            return []
        return parse_classifier_csv(content, mode, delimiter=delimiter, name="seed train.csv")
    documents = texts[layout.SEED_ENTITY_DOCUMENTS]
    annotations = texts[layout.SEED_ENTITY_ANNOTATIONS]
    if documents is None and annotations is None:
        return []
    if documents is None or annotations is None:
        problems = Problems(1)
        missing = keys[
            layout.SEED_ENTITY_DOCUMENTS if documents is None else layout.SEED_ENTITY_ANNOTATIONS
        ]
        problems.add(
            "seed-incomplete",
            f"the entity seed needs both {layout.SEED_ENTITY_DOCUMENTS} and "
            f"{layout.SEED_ENTITY_ANNOTATIONS}; import it again",
            {"missing": missing},
        )
        problems.raise_format_error("entity seed data set")
    return parse_entity_files(documents or "", annotations or "", layout.SEED_ENTITY_DOCUMENTS)


def _read(
    read: Callable[[str], str | None] | Mapping[str, str | None], name: str, key: str
) -> str | None:
    if isinstance(read, Mapping):
        return read.get(key, read.get(name))
    return read(key)


def seed_files(
    model_type: str,
    mode: str | None,
    documents: Iterable[Mapping[str, Any]],
    *,
    delimiter: str = LABEL_DELIMITER,
) -> dict[str, str]:
    """The seed objects to write for ``documents``: key -> text (what ``seed_documents`` reads
    back)."""
    kind = ModelType(model_type)
    keys = layout.seed_keys(kind)
    if kind == ModelType.DOCUMENT_CLASSIFIER:
        body = write_classifier_csv(documents, mode, delimiter=delimiter)
        return {keys[layout.SEED_CLASSIFIER_FILE]: body}
    texts, annotations = write_entity_files(documents, layout.SEED_ENTITY_DOCUMENTS)
    return {
        keys[layout.SEED_ENTITY_DOCUMENTS]: texts,
        keys[layout.SEED_ENTITY_ANNOTATIONS]: annotations,
    }


def document_labels(document: Mapping[str, Any]) -> list[str]:
    """What a labelled document says, as names: a classifier document's labels, an entity
    document's entity types (each once, in order of first appearance)."""
    if "entities" in document:
        return list(dict.fromkeys(span_tuple(s)[2] for s in document["entities"]))
    return list(document.get("labels") or ())


def seed_labels(documents: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every label (entity type) of the seed documents, sorted, blanks left out."""
    labels: set[str] = set()
    for document in documents:
        labels.update(document_labels(document))
    return sorted(label for label in labels if label)


def distinct_documents(
    documents: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], int]:
    """``(documents, repeats)``: each document that repeats an earlier one exactly (the same
    text and the same labels or spans) kept once, in order, and how many were dropped.

    Labelling tools export a text once per time it was queued (the sample Ground Truth manifest
    holds one text 32 times); a seed with the copies would weigh that text 32-fold in a
    Comprehend training job. A text repeated with other annotations is kept: which answer is
    right is a person's call, and BuildDatasets reports such conflicts."""
    seen: set[bytes] = set()
    kept: list[Mapping[str, Any]] = []
    for document in documents:
        if "entities" in document:
            answer: Any = sorted(span_tuple(s) for s in document["entities"])
        else:
            answer = sorted(document.get("labels") or ())
        identity = canonical_json([document["text"], answer])
        if identity not in seen:
            seen.add(identity)
            kept.append(document)
    return kept, len(documents) - len(kept)
