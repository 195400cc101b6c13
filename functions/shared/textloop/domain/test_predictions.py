"""A model's predictions for every document of a test set, made by a batch job.

A Comprehend candidate has no endpoint while it is evaluated, so the iteration asks Comprehend
for its predictions with an asynchronous classification job (StartDocumentClassificationJob)
over the test set, and does the same for an active Comprehend model, so both are judged on the
same documents by the same code (``evaluation.evaluate``).

The job reads ``ONE_DOC_PER_LINE`` text: line *i* is document *i* of ``test.csv``. A document's
own line breaks become spaces (``documents_text``); everything else is kept. The job writes
``output.tar.gz`` holding ``predictions.jsonl``: one JSON object per input line, ``{"File",
"Line", "Classes": [{"Name", "Score"}, ...]}`` (multi-class, the top classes) or ``{..., "Labels":
[...]}`` (multi-label). ``parse_output`` turns it back into one ``Prediction`` per document and
refuses an output that does not answer every document exactly once: a metric computed over a
silently shorter test set would not be comparable with the other model's.

An entity recogniser's job (StartEntitiesDetectionJob) writes, per input line, ``{"File",
"Line", "Entities": [{"BeginOffset", "EndOffset", "Score", "Text", "Type"}, ...]}``: the layout
of AWS's "Outputs for asynchronous analysis jobs" page for custom entity recognition
(https://docs.aws.amazon.com/comprehend/latest/dg/outputs-cer-async.html, "Outputs for text
inputs", checked 2026-12). ``parse_entity_output`` reads it with the same rule: every document
answered exactly once, or the evaluation does not happen. That page does not name the file
inside ``output.tar.gz``; the AWS CLI's start-entities-detection-job example calls it
``output.txt`` (classification jobs name theirs ``predictions.jsonl``), so ``output_lines``
reads every regular file of the archive. The tests' outputs are those published examples
(``tests/fixtures/aws/files/``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Sequence
from typing import Any

from textloop.domain.names import Mode, ModelType
from textloop.domain.predictions import EntitySpan, LabelScore, Prediction

# Job names: Comprehend allows [\p{L}\p{Z}\p{N}_.:/=+\-%@]{1,256}.
_JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.:=+\-%@]+")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85]+")


class PredictionOutputError(ValueError):
    """The job's output does not answer every test document exactly once."""


def documents_text(texts: Sequence[str]) -> str:
    """The job's input: one document per line, in test-set order."""
    return "".join(_LINE_BREAKS.sub(" ", text) + "\n" for text in texts)


def job_name(model_version: str, dataset_version: str) -> str:
    """A readable, valid job name; the ClientRequestToken, not the name, makes a start
    idempotent (Comprehend does not require job names to be unique)."""
    return _JOB_NAME_UNSAFE.sub("-", f"textloop-{model_version}-{dataset_version}")[:256]


def request_token(model_version: str, dataset_version: str) -> str:
    """The job's ClientRequestToken: one job per model version and data set version."""
    return hashlib.sha256(f"{model_version}/{dataset_version}".encode()).hexdigest()[:64]


def prediction_lines(archive: bytes) -> list[str]:
    """The JSON lines of every ``*.jsonl`` member of ``output.tar.gz``."""
    lines: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        for member in members:
            if not member.name.endswith(".jsonl"):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            lines += [line for line in handle.read().decode("utf-8").splitlines() if line.strip()]
    return lines


def output_lines(archive: bytes) -> list[str]:
    """The non-blank lines of every regular file of ``output.tar.gz``, members by name."""
    lines: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
            handle = tar.extractfile(member)
            if handle is not None:
                text = handle.read().decode("utf-8")
                lines += [line for line in text.splitlines() if line.strip()]
    return lines


def parse_entity_output(
    lines: Sequence[str],
    *,
    texts: Sequence[str],
    model_version: str,
) -> list[Prediction]:
    """One entity ``Prediction`` per test document (``texts``, in test-set order).

    A line without ``Entities`` (e.g. ``ErrorCode`` and ``ErrorMessage`` for a document the job
    could not read), a span outside its document, a line answered twice or not at all: each is
    reported with its output line number, and the whole output is refused.
    """
    n_documents = len(texts)
    by_line: dict[int, Prediction] = {}
    problems: list[str] = []
    for number, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw)
            index = int(record["Line"])
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"output line {number}: not an entity prediction ({exc!s})")
            continue
        items = record.get("Entities")
        if not isinstance(items, list):
            error = record.get("ErrorCode") or "no Entities"
            detail = f": {record['ErrorMessage']}" if record.get("ErrorMessage") else ""
            problems.append(f"output line {number}: Line {index} failed ({error}{detail})")
            continue
        if not 0 <= index < n_documents:
            problems.append(f"output line {number}: Line {index} is outside the test set")
            continue
        if index in by_line:
            problems.append(f"output line {number}: Line {index} answered twice")
            continue
        try:
            entities = tuple(
                EntitySpan(
                    int(e["BeginOffset"]), int(e["EndOffset"]), str(e["Type"]), float(e["Score"])
                )
                for e in items
            )
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"output line {number}: not an entity prediction ({exc!s})")
            continue
        length = len(texts[index])
        outside = [e for e in entities if not 0 <= e.begin_offset < e.end_offset <= length]
        if outside:
            problems.append(
                f"output line {number}: Line {index} has spans outside its {length} characters"
                f" ({outside[0].begin_offset}-{outside[0].end_offset})"
            )
            continue
        by_line[index] = Prediction(
            model_type=ModelType.ENTITY_RECOGNIZER.value,
            model_version=model_version,
            mode=None,
            entities=entities,
        )
    _raise_if_incomplete(problems, by_line, n_documents, model_version)
    return [by_line[i] for i in range(n_documents)]


def _raise_if_incomplete(
    problems: list[str], by_line: dict[int, Prediction], n_documents: int, model_version: str
) -> None:
    missing = [i for i in range(n_documents) if i not in by_line]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        problems.append(f"{len(missing)} test documents have no prediction (Line {shown}{more})")
    if problems:
        raise PredictionOutputError(f"predictions of {model_version}: " + "; ".join(problems[:20]))


def parse_output(
    lines: Sequence[str], *, n_documents: int, mode: str, model_version: str
) -> list[Prediction]:
    """One ``Prediction`` per test document, in test-set order."""
    key = "Labels" if Mode(mode) == Mode.MULTI_LABEL else "Classes"
    by_line: dict[int, Prediction] = {}
    problems: list[str] = []
    for number, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw)
            index = int(record["Line"])
            items = record.get(key)
            if not isinstance(items, list):
                raise KeyError(key)
            labels = tuple(LabelScore(str(i["Name"]), float(i["Score"])) for i in items)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"output line {number}: not a {mode} prediction ({exc!s})")
            continue
        if not 0 <= index < n_documents:
            problems.append(f"output line {number}: Line {index} is outside the test set")
        elif index in by_line:
            problems.append(f"output line {number}: Line {index} answered twice")
        else:
            by_line[index] = Prediction(
                model_type=ModelType.DOCUMENT_CLASSIFIER.value,
                model_version=model_version,
                mode=Mode(mode).value,
                labels=labels,
            )
    _raise_if_incomplete(problems, by_line, n_documents, model_version)
    return [by_line[i] for i in range(n_documents)]


def combined_status(jobs: dict[str, Any]) -> str:
    """COMPLETED when every job is, FAILED as soon as one failed, else RUNNING."""
    statuses = [job["status"] for job in jobs.values() if job is not None]
    if any(status == "FAILED" for status in statuses):
        return "FAILED"
    if all(status == "COMPLETED" for status in statuses):
        return "COMPLETED"
    return "RUNNING"


def progress(jobs: dict[str, Any], polls: int) -> dict[str, Any]:
    """The PredictTestSet / DescribeTestPredictions result: the combined status, the polls made
    so far (bounded by ``test_predictions_max_polls``) and each model's job."""
    return {"status": combined_status(jobs), "polls": polls, "jobs": jobs}


def jobs_summary(jobs: dict[str, Any]) -> dict[str, Any]:
    """What to log of each model's job (no URIs, no thresholds)."""
    return {
        role: {k: job.get(k) for k in ("kind", "model_version", "job_id", "status")}
        for role, job in jobs.items()
        if job is not None
    }
