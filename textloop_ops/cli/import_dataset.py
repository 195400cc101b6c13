"""``textloop import-dataset``: a seed training data set read from its file format, checked
against Comprehend's rules and uploaded as the seed a bootstrap iteration trains on."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textloop_ops.cli.common import EXIT_OK, EXIT_USAGE, CommandError, add_command, add_model_type

CLASSIFIER_FORMATS = ("comprehend-csv", "batch-json", "jsonl")
ENTITY_FORMATS = ("groundtruth", "comprehend")


def load_dataset(
    path: Path,
    fmt: str,
    model_type: str,
    mode: str | None,
    *,
    annotations: Path | None = None,
    documents_name: str | None = None,
    label_attribute: str | None = None,
    skip_invalid_lines: bool = False,
    warn: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Documents (``text``, ``labels``; entity recognisers: ``text``, ``entities``) from a seed
    file, before validation.

    Document classifiers:

    * ``comprehend-csv``: Comprehend's ``LABEL,text`` (multi-label ``A|B,text``).
    * ``jsonl``: one ``{"text", "labels"}`` (or ``corrected_labels``, as in batch feedback
      files) per line.
    * ``batch-json``: the batch-feedback JSON ``{"classifier", "sentences": [...]}`` whose
      items carry ``corrected_labels`` (a bare string has no label and is reported).

    Entity recognisers:

    * ``groundtruth``: a SageMaker Ground Truth NER output manifest; refused lines are listed
      with their line numbers (and, with ``skip_invalid_lines``, left out while the others
      are imported).
    * ``comprehend``: Comprehend's documents file (``path``, one document per line) and its
      annotations CSV (``annotations``); rows whose ``File`` is ``documents_name`` (default:
      the documents file's name) are read.
    """
    from textloop.domain.datasets.formats import parse_classifier_csv
    from textloop.domain.datasets.rules import DatasetFormatError
    from textloop.domain.hashing import text_key

    if model_type == "ENTITY_RECOGNIZER":
        if fmt not in ENTITY_FORMATS:
            raise CommandError(
                f"--format {fmt} is for DOCUMENT_CLASSIFIER; entity recognisers import "
                f"{' or '.join(ENTITY_FORMATS)}",
                EXIT_USAGE,
            )
        return _load_entities(
            path,
            fmt,
            annotations=annotations,
            documents_name=documents_name,
            label_attribute=label_attribute,
            skip_invalid_lines=skip_invalid_lines,
            warn=warn,
        )
    if fmt not in CLASSIFIER_FORMATS:
        raise CommandError(
            f"--format {fmt} is for ENTITY_RECOGNIZER (add --model-type ENTITY_RECOGNIZER); "
            f"document classifiers import {', '.join(CLASSIFIER_FORMATS)}",
            EXIT_USAGE,
        )
    try:
        content = path.read_text(encoding="utf-8-sig")  # tolerate a BOM from spreadsheets
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}", EXIT_USAGE) from exc
    if fmt == "comprehend-csv":
        try:
            return parse_classifier_csv(content, mode, name=path.name)
        except DatasetFormatError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
    if fmt == "jsonl":
        items = []
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((number, json.loads(line)))
            except ValueError as exc:
                raise CommandError(f"{path}:{number}: not JSON: {exc}", EXIT_USAGE) from exc
    elif fmt == "batch-json":
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise CommandError(f"{path}: not JSON: {exc}", EXIT_USAGE) from exc
        if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
            raise CommandError(f'{path}: expected {{"classifier", "sentences": [...]}}', EXIT_USAGE)
        items = list(enumerate(data["sentences"], start=1))
    else:  # argparse restricts the choices; kept for direct callers
        raise CommandError(f"unknown format {fmt!r}", EXIT_USAGE)
    documents = []
    for number, item in items:
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise CommandError(f"{path}: item {number} needs a text", EXIT_USAGE)
        labels = item.get("labels", item.get("corrected_labels")) or []
        if isinstance(labels, str):
            labels = [labels]
        documents.append(
            {
                "key": text_key(item["text"]),
                "id": f"{path.name}:{number}",
                "text": item["text"],
                "labels": [str(label) for label in labels],
                "origin": "original",
            }
        )
    return documents


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # tolerate a BOM from spreadsheets
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}", EXIT_USAGE) from exc


def _load_entities(
    path: Path,
    fmt: str,
    *,
    annotations: Path | None,
    documents_name: str | None,
    label_attribute: str | None,
    skip_invalid_lines: bool,
    warn: Callable[[str], None] | None,
) -> list[dict[str, Any]]:
    from textloop.domain.datasets.formats import parse_entity_files
    from textloop.domain.datasets.ground_truth import read_manifest
    from textloop.domain.datasets.rules import DatasetFormatError

    if fmt == "comprehend":
        if annotations is None:
            raise CommandError(
                "--format comprehend needs --annotations FILE (the annotations CSV)", EXIT_USAGE
            )
        try:
            return parse_entity_files(
                _read_text(path), _read_text(annotations), documents_name or path.name
            )
        except DatasetFormatError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
    manifest = read_manifest(_read_text(path), name=path.name, label_attribute=label_attribute)
    if manifest.rejected:
        message = f"{path}: {manifest.render_rejected()}"
        if not skip_invalid_lines:
            raise CommandError(
                message + "\n(fix them, or import the other lines with --skip-invalid-lines)",
                EXIT_USAGE,
            )
        if warn is not None:
            warn(message + "\n(skipped: --skip-invalid-lines)")
    return manifest.documents


def cmd_import_dataset(args: argparse.Namespace) -> int:
    from textloop.domain.datasets.rules import validate_documents
    from textloop.domain.datasets.seed import distinct_documents, seed_files, seed_labels

    mode = args.mode if args.model_type == "DOCUMENT_CLASSIFIER" else None
    documents = load_dataset(
        args.file,
        args.format,
        args.model_type,
        mode,
        annotations=args.annotations,
        documents_name=args.documents_name,
        label_attribute=args.label_attribute,
        skip_invalid_lines=args.skip_invalid_lines,
        warn=lambda message: print(message, file=sys.stderr, flush=True),
    )
    documents, repeats = distinct_documents(documents)
    if repeats:
        print(
            f"{repeats} document(s) repeating an earlier one (same text and annotations) kept once",
            file=sys.stderr,
            flush=True,
        )
    report = validate_documents(
        documents, model_type=args.model_type, mode=mode, subject=str(args.file)
    )
    if not report.ok:
        if args.output.as_json:
            args.output.json(report.to_dict())
        raise CommandError(report.render(), EXIT_USAGE)
    files = {
        key: body.encode("utf-8")
        for key, body in seed_files(args.model_type, mode, documents).items()
    }
    labels = seed_labels(documents)
    summary: dict[str, Any] = {
        "model_type": args.model_type,
        "documents": len(documents),
        "repeats_dropped": repeats,
        "labels": labels,
        "keys": list(files),
        "key": next(iter(files)),
        "bytes": sum(len(body) for body in files.values()),
    }
    if args.model_type == "ENTITY_RECOGNIZER":
        summary["annotations"] = {
            kind: sum(1 for d in documents for s in d["entities"] if s["type"] == kind)
            for kind in labels
        }
    if args.dry_run:
        summary["dry_run"] = True
    else:
        bucket = args.target.data_lake_bucket()
        s3 = args.target.client("s3")
        # The documents before the annotations: a reader never sees annotations naming lines
        # of documents not yet written (seed.seed_documents refuses a half-written seed).
        for key, body in files.items():
            content_type = "text/csv" if key.endswith(".csv") else "text/plain"
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        summary["bucket"] = bucket
    if args.output.as_json:
        args.output.json(summary)
    else:
        where = (
            "(dry run, nothing written)"
            if args.dry_run
            else ", ".join(f"s3://{summary['bucket']}/{key}" for key in files)
        )
        noun = "entity types" if args.model_type == "ENTITY_RECOGNIZER" else "labels"
        args.output.line(
            f"{len(documents)} documents, {len(labels)} {noun} ({', '.join(labels)}) -> {where}"
        )
    return EXIT_OK


def add_parsers(commands) -> None:
    imp = add_command(
        commands,
        "import-dataset",
        cmd_import_dataset,
        "validate a seed training data set and upload it in Comprehend's format",
        "Validate a seed training data set against Comprehend's rules and upload it as the "
        "seed data set a bootstrap iteration trains on (in the data lake under "
        "datasets/seed/<model_type>/: train.csv for a classifier; train.txt and "
        "train-annotations.csv for an entity recogniser). Exit 2 with every problem listed "
        "when it is invalid. Entity recognisers (--model-type ENTITY_RECOGNIZER) import a "
        "SageMaker Ground Truth NER output manifest (--format groundtruth) or Comprehend's "
        "documents file with its annotations CSV (--format comprehend --annotations FILE).",
    )
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--format",
        required=True,
        choices=(*CLASSIFIER_FORMATS, *ENTITY_FORMATS),
        help="classifiers: comprehend-csv (LABEL,text), jsonl ({text, labels}), batch-json "
        '({"classifier", "sentences": [{text, corrected_labels}]}); entity recognisers: '
        "groundtruth (an output.manifest), comprehend (documents file + --annotations)",
    )
    add_model_type(imp)
    imp.add_argument(
        "--mode",
        choices=("MULTI_CLASS", "MULTI_LABEL"),
        default="MULTI_CLASS",
        help="classifier mode (default: %(default)s)",
    )
    imp.add_argument(
        "--annotations",
        type=Path,
        help="--format comprehend: the annotations CSV (File,Line,Begin Offset,End Offset,Type)",
    )
    imp.add_argument(
        "--documents-name",
        help="--format comprehend: the File value of the documents' rows in the annotations "
        "CSV (default: the documents file's name)",
    )
    imp.add_argument(
        "--label-attribute",
        help="--format groundtruth: the labelling job's attribute to read (default: found on "
        "each line)",
    )
    imp.add_argument(
        "--skip-invalid-lines",
        action="store_true",
        help="--format groundtruth: import the good lines and list the refused ones",
    )
    imp.add_argument("--dry-run", action="store_true", help="validate only; upload nothing")
