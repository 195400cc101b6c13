"""Building one data set version: the seed data and the annotation pool, split around the frozen
test set, checked against Comprehend's rules, written in Comprehend's formats, with a manifest.

``build_datasets``:

1. Documents come from the original training data and from the annotation pool, keyed by
   ``hashing.text_key`` (normalised text). The pool wins over the original data for the same
   text (a person reviewed it more recently); among original documents the first wins.
2. ``split.split_documents`` keeps the frozen test set and splits only new documents.
3. ``rules.validate_documents`` checks the distinct training documents and, without the count
   rules, the test set; ``strict`` builds raise ``DatasetValidationError`` listing every problem.
4. Optional random oversampling (seeded) of labels below a minimum count, in training only,
   after validation: copies must not hide that a label lacks real examples.
5. ``formats.write_files`` writes the files; the version is the hash of their contents.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from textloop.domain.annotations import PoolVersion, annotations_as_documents
from textloop.domain.datasets.formats import write_files
from textloop.domain.datasets.rules import ValidationReport, ValidationRules, validate_documents
from textloop.domain.datasets.split import (
    document_content,
    label_set,
    seeded_rng,
    split_documents,
)
from textloop.domain.hashing import content_hash, text_key
from textloop.domain.names import LABEL_DELIMITER, Mode, ModelType
from textloop.domain.predictions import span_tuple

MANIFEST_SCHEMA_VERSION = 1
VERSION_LENGTH = 16


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

    documents: dict[str, dict[str, Any]] = {}
    original_conflicts = 0
    for raw in original_documents:
        document = _with_key({**raw, "origin": raw.get("origin", "original")}, model_type)
        kept = documents.get(document["key"])
        if kept is None:
            documents[document["key"]] = document
        elif document_content(kept) != document_content(document):
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

    split = split_documents(
        documents,
        split_state,
        model_type=model_type,
        mode=mode,
        test_share=config.test_share,
        seed=config.seed,
    )
    train, test = split.train, split.test

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

    files = write_files(model_type, mode, train_rows, test, config.label_delimiter)
    file_hashes = {name: hashlib.sha256(body.encode()).hexdigest() for name, body in files.items()}
    full_hash = content_hash(
        {
            "model_type": model_type,
            "mode": mode,
            "label_delimiter": config.label_delimiter,
            "files": file_hashes,
        }
    )
    train_name, test_name = ("train.txt", "test.txt") if entity else ("train.csv", "test.csv")
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "dataset_version": full_hash[:VERSION_LENGTH],
        "content_hash": full_hash,
        "model_type": model_type,
        "mode": mode,
        "label_delimiter": None if entity else config.label_delimiter,
        "labels": sorted({lb for d in [*train, *test] for lb in label_set(d)}),
        "source_pool_version": pool.pool_version if pool is not None else None,
        "test_set_hash": split.test_set_hash,
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
        "split": split.summary,
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
            "frozen_test_relabels_ignored": split.frozen_relabels_ignored,
            "frozen_test_missing_from_sources": split.frozen_missing_from_sources,
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
        split_state=split.state,
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


def _oversample(
    documents: list[dict[str, Any]], min_count: int, seed: int | str
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Random oversampling (seeded) until every label that has documents reaches ``min_count``.

    Rarest label first; copies of multi-label documents also count for their other labels.
    """
    rng = seeded_rng(f"oversample:{seed}")
    result = list(documents)
    added: dict[str, int] = {}
    labels = sorted({label for d in documents for label in label_set(d)})
    while True:
        counts = Counter(label for d in result for label in set(label_set(d)))
        short = [lb for lb in labels if counts[lb] < min_count and lb not in added]
        if not short:
            break
        label = min(short, key=lambda lb: (counts[lb], lb))
        holders = [d for d in documents if label in label_set(d)]
        need = min_count - counts[label]
        picks = rng.integers(0, len(holders), size=need)
        result.extend(holders[int(p)] for p in picks)
        added[label] = need
    return result, added


def read_test_documents(build_or_state: DatasetBuild | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The frozen test documents (``{key, id, text, labels | entities}``) to evaluate on."""
    if isinstance(build_or_state, DatasetBuild):
        return [dict(d) for d in build_or_state.test]
    return [dict(d) for d in build_or_state["test"]]
