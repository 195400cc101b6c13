"""Train: start training the candidate through the configured model back-end.

* ``model_backend=local``: in this Lambda, on the data set's training part: document
  classifiers with scikit-learn (``local_model.fit``, train.csv), entity recognisers with a CRF
  (``entity_model.fit``, train.txt + train-annotations.csv; ~0.5 s CPU on the 151 AWS-service
  gold documents); artefacts under ``layout.model_key(<model_version>, ...)``
  (``ModelArtefactStore``); status TRAINED at once. A retried step finds the stored version and
  does not train again.
* ``model_backend=comprehend``: CreateDocumentClassifier (VersionName = the model version,
  COMPREHEND_CSV with the data set's train.csv and test.csv), or for an entity recogniser
  CreateEntityRecognizer (COMPREHEND_CSV annotations: the data set's documents files and
  annotations CSVs, train and frozen test, EntityTypes from its manifest); status SUBMITTED,
  then the DescribeTraining step polls.

The model version is derived from the iteration and the data set, so a retry names the same one.

Environment: DATA_LAKE_BUCKET; comprehend: COMPREHEND_DATA_ACCESS_ROLE_ARN, STACK_NAME,
COMPREHEND_CLASSIFIER_NAME (default textloop-document-classifier), COMPREHEND_RECOGNIZER_NAME
(default textloop-entity-recognizer), COMPREHEND_LANGUAGE_CODE (default en).
AWS: local: s3:GetObject (datasets/*, models/*), s3:PutObject (models/*). comprehend:
comprehend:CreateDocumentClassifier, comprehend:ListDocumentClassifiers (classifiers),
s3:GetObject (datasets/*, the manifest), comprehend:CreateEntityRecognizer,
comprehend:ListEntityRecognizers (recognisers), comprehend:TagResource (the version is created
with the stack's tags, ``Stack.resource_tags``), iam:PassRole on
COMPREHEND_DATA_ACCESS_ROLE_ARN (condition iam:PassedToService comprehend.amazonaws.com).
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.comprehend_training import (
    ComprehendRecognizerTraining,
    ComprehendTraining,
    model_name,
)
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.datasets.formats import parse_classifier_csv, read_entity_part
from textloop.domain.iteration import Iteration
from textloop.domain.names import Mode, ModelType
from textloop.domain.timestamps import parse_timestamp
from textloop.steps.payloads import DATASET, ITERATION, step_schema

EVENT = step_schema(iteration=ITERATION, dataset=DATASET)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it, dataset = Iteration.from_dict(event["iteration"]), event["dataset"]
    model_version = it.candidate_version(dataset["dataset_version"])
    backend = it.config.model_backend
    if backend == "local":
        result = train_local(ctx, it, dataset, model_version)
    elif backend == "comprehend":
        result = train_comprehend(ctx, it, dataset, model_version)
    else:
        raise ValueError(f"unknown model_backend {backend!r}")
    ctx.count("TrainingStarted")
    ctx.logger.info("training started", extra=result)
    return result


def train_local(
    ctx: Stack, it: Iteration, dataset: dict[str, Any], model_version: str
) -> dict[str, Any]:
    store = ctx.artefacts
    uri = store.artefact_uri(model_version)
    if ctx.lake.exists(layout.metadata_key(model_version)):
        ctx.logger.info("model version already trained", extra={"model_version": model_version})
        metadata = store.get_metadata(model_version)
    elif it.model_type == ModelType.ENTITY_RECOGNIZER:
        from textloop.domain import entity_model

        documents = read_entity_part(ctx.lake.get_text, dataset["dataset_version"], "train")
        model = entity_model.fit(
            documents, model_version=model_version, now=parse_timestamp(it.started_at)
        )
        model.metadata["dataset_version"] = dataset["dataset_version"]
        model.metadata["iteration_id"] = it.iteration_id
        uri = store.put(model_version, entity_model.save(model), model.metadata)
        metadata = model.metadata
    else:
        from textloop.domain import local_model

        text = ctx.lake.get_text(ctx.lake.key_of(dataset["train_uri"]))
        if text is None:
            raise LookupError(f"{dataset['train_uri']} is missing")
        documents = parse_classifier_csv(text, it.mode, name="train.csv")
        labels = [d["labels"][0] if it.mode == Mode.MULTI_CLASS else d["labels"] for d in documents]
        model = local_model.fit(
            [d["text"] for d in documents],
            labels,
            it.mode,
            model_version=model_version,
            # The iteration's start, not the wall clock: a retry then writes identical bytes.
            now=parse_timestamp(it.started_at),
        )
        model.metadata["dataset_version"] = dataset["dataset_version"]
        model.metadata["iteration_id"] = it.iteration_id
        uri = store.put(model_version, local_model.save(model), model.metadata)
        metadata = model.metadata
    return {
        "model_version": model_version,
        "status": "TRAINED",
        "polls": 0,
        "job": {"backend": "local", "artefact_uri": uri, "n_documents": metadata["n_documents"]},
    }


def train_comprehend(
    ctx: Stack, it: Iteration, dataset: dict[str, Any], model_version: str
) -> dict[str, Any]:
    if it.model_type == ModelType.ENTITY_RECOGNIZER:
        job = train_comprehend_recognizer(ctx, dataset, model_version)
        return {"model_version": model_version, "status": "SUBMITTED", "polls": 0, "job": job}
    job = ComprehendTraining(ctx.clients.get("comprehend")).start(
        classifier_name=model_name(ctx.setting, ModelType.DOCUMENT_CLASSIFIER),
        model_version=model_version,
        mode=it.mode,
        train_uri=dataset["train_uri"],
        test_uri=dataset["test_uri"],
        output_uri=ctx.lake.uri(layout.comprehend_output_prefix(model_version)),
        role_arn=ctx.required("COMPREHEND_DATA_ACCESS_ROLE_ARN"),
        language_code=ctx.setting("COMPREHEND_LANGUAGE_CODE", "en"),
        tags=ctx.resource_tags(ModelType.DOCUMENT_CLASSIFIER),
    )
    return {"model_version": model_version, "status": "SUBMITTED", "polls": 0, "job": job}


def train_comprehend_recognizer(
    ctx: Stack, dataset: dict[str, Any], model_version: str
) -> dict[str, Any]:
    """CreateEntityRecognizer on the data set's files, named by its manifest."""
    manifest = ctx.lake.get_json(dataset["manifest_key"])
    if manifest is None:
        raise LookupError(f"{dataset['manifest_key']} is missing")
    version = dataset["dataset_version"]

    def uri(part: str, field: str) -> str | None:
        name = (manifest.get(part) or {}).get(field)
        return ctx.lake.uri(layout.dataset_key(version, name)) if name else None

    documents, annotations = uri("train", "file"), uri("train", "annotations_file")
    if documents is None or annotations is None:
        raise ValueError(f"{dataset['manifest_key']} names no entity train files")
    return ComprehendRecognizerTraining(ctx.clients.get("comprehend")).start(
        recognizer_name=model_name(ctx.setting, ModelType.ENTITY_RECOGNIZER),
        model_version=model_version,
        entity_types=manifest["labels"],
        documents_uri=documents,
        annotations_uri=annotations,
        test_documents_uri=uri("test", "file"),
        test_annotations_uri=uri("test", "annotations_file"),
        role_arn=ctx.required("COMPREHEND_DATA_ACCESS_ROLE_ARN"),
        language_code=ctx.setting("COMPREHEND_LANGUAGE_CODE", "en"),
        tags=ctx.resource_tags(ModelType.ENTITY_RECOGNIZER),
    )
