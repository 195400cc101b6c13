"""Train: start training the candidate through the configured model back-end.

* ``model_backend=local``: in this Lambda, on the data set's training part: document
  classifiers with scikit-learn (``local_model.fit``, train.csv), entity recognisers with a CRF
  (``entity_model.fit``, train.txt + train-annotations.csv; ~0.5 s CPU on the 151 AWS-service
  gold documents); a classifier of the iteration's ``local_model`` kind: ``tfidf``, or
  ``tfidf+embeddings`` with the deployment's sentence encoder (``Stack.sentence_encoder``) and
  the embeddings of the training texts from the embedding cache, only texts no earlier run
  embedded being encoded (``adapters.embedding_cache``); artefacts under
  ``layout.model_key(<model_version>, ...)`` (``ModelArtefactStore``); status TRAINED at once.
  A retried step finds the stored version and does not train again.
* ``model_backend=comprehend``: CreateDocumentClassifier (VersionName = the model version,
  COMPREHEND_CSV with the data set's train.csv and test.csv), or for an entity recogniser
  CreateEntityRecognizer (COMPREHEND_CSV annotations: the data set's documents files and
  annotations CSVs, train and frozen test, EntityTypes from its manifest); status SUBMITTED,
  then the DescribeTraining step polls.
* ``model_backend=comprehend`` with ``comprehend_training=flywheel``: the model type's flywheel
  (``adapters.comprehend_flywheel``), found by name (ListFlywheels) or created once
  (CreateFlywheel: from the active model's version when a Comprehend endpoint serves one, else
  ModelType and TaskConfig; the data lake at ``layout.flywheel_data_lake_prefix``, the stack's
  KMS key, the run-time tags), given only the documents it does not hold yet
  (``datasets.flywheel``: the ledger, reconciled with ListDatasets) as a TRAIN data set, and the
  new test items as a TEST one (files and manifest under ``layout.flywheel_dataset_key``), then
  StartFlywheelIteration once the flywheel and its data sets are ready; DescribeTraining takes
  the job on from wherever this step left it.

The model version is derived from the iteration and the data set, so a retry names the same one.

Environment: DATA_LAKE_BUCKET; local tfidf+embeddings: SENTENCE_ENCODER_NAME,
SENTENCE_ENCODER_SHA256; comprehend: COMPREHEND_DATA_ACCESS_ROLE_ARN, STACK_NAME,
COMPREHEND_CLASSIFIER_NAME (default textloop-document-classifier), COMPREHEND_RECOGNIZER_NAME
(default textloop-entity-recognizer), COMPREHEND_LANGUAGE_CODE (default en); flywheel:
COMPREHEND_FLYWHEEL_ROLE_ARN, COMPREHEND_KMS_KEY_ARN, COMPREHEND_CLASSIFIER_FLYWHEEL_NAME,
COMPREHEND_RECOGNIZER_FLYWHEEL_NAME, COMPREHEND_CLASSIFIER_ENDPOINT_ARN /
COMPREHEND_RECOGNIZER_ENDPOINT_ARN, ACTIVE_MODEL_PARAMETER_PREFIX, STACK_NAME.
AWS: local: s3:GetObject (datasets/*, models/*), s3:PutObject (models/*); tfidf+embeddings:
s3:GetObject (the encoder, models/encoders/*), s3:ListBucket, s3:GetObject and s3:PutObject (its
embedding cache, models/encoders/<name>/<sha256>/cache/*). comprehend:
comprehend:CreateDocumentClassifier, comprehend:ListDocumentClassifiers (classifiers),
s3:GetObject (datasets/*, the manifest), comprehend:CreateEntityRecognizer,
comprehend:ListEntityRecognizers (recognisers), comprehend:TagResource (the version is created
with the stack's tags, ``Stack.resource_tags``), iam:PassRole on
COMPREHEND_DATA_ACCESS_ROLE_ARN (condition iam:PassedToService comprehend.amazonaws.com).
flywheel: ssm:GetParameter (the pointer), comprehend:DescribeEndpoint (the active model),
comprehend:DescribeDocumentClassifier or comprehend:DescribeEntityRecognizer (the data of the
version a new flywheel begins from; s3:GetObject on datasets/*),
comprehend:ListFlywheels, comprehend:CreateFlywheel, comprehend:DescribeFlywheel,
comprehend:ListDatasets, comprehend:CreateDataset, comprehend:DescribeDataset,
comprehend:StartFlywheelIteration, comprehend:DescribeFlywheelIteration, comprehend:TagResource,
s3:GetObject and s3:PutObject (datasets/flywheel/*), iam:PassRole on
COMPREHEND_FLYWHEEL_ROLE_ARN.
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.comprehend_flywheel import (
    ComprehendFlywheel,
    dataset_input,
    flywheel_name,
    task_config,
)
from textloop.adapters.comprehend_predictions import ComprehendTestPredictions
from textloop.adapters.comprehend_training import (
    ENDPOINT_SETTINGS,
    ComprehendRecognizerTraining,
    ComprehendTraining,
    model_name,
)
from textloop.adapters.embedding_cache import EmbeddingCache
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.datasets import flywheel as ledgers
from textloop.domain.datasets.formats import (
    parse_classifier_csv,
    parse_entity_files,
    read_entity_part,
    write_files,
)
from textloop.domain.iteration import Iteration
from textloop.domain.names import LABEL_DELIMITER, LocalModelKind, Mode, ModelType
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
        texts = [d["text"] for d in documents]
        kind = it.config.local_model
        encoder = embeddings = None
        if kind == LocalModelKind.TFIDF_EMBEDDINGS:
            encoder = ctx.sentence_encoder
            embeddings, cache = EmbeddingCache(ctx.lake, encoder).embeddings(
                texts, segment=model_version
            )
            ctx.count("TextsEmbedded", cache["embedded"])
            ctx.logger.info("training embeddings", extra={"embedding_cache": cache})
        model = local_model.fit(
            texts,
            labels,
            it.mode,
            model_version=model_version,
            # The iteration's start, not the wall clock: a retry then writes identical bytes.
            now=parse_timestamp(it.started_at),
            kind=kind,
            encoder=encoder,
            embeddings=embeddings,
        )
        model.metadata["dataset_version"] = dataset["dataset_version"]
        model.metadata["iteration_id"] = it.iteration_id
        uri = store.put(model_version, local_model.save(model), model.metadata)
        metadata = model.metadata
    return {
        "model_version": model_version,
        "status": "TRAINED",
        "polls": 0,
        "job": {
            "backend": "local",
            "artefact_uri": uri,
            "n_documents": metadata["n_documents"],
            # Entity recognisers have one local model (and no local_model in their metadata).
            "local_model": metadata.get("local_model"),
        },
    }


def train_comprehend(
    ctx: Stack, it: Iteration, dataset: dict[str, Any], model_version: str
) -> dict[str, Any]:
    if it.config.comprehend_training == "flywheel":
        status, job = train_flywheel(ctx, it, dataset, model_version)
        return {"model_version": model_version, "status": status, "polls": 0, "job": job}
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


def train_flywheel(
    ctx: Stack, it: Iteration, dataset: dict[str, Any], model_version: str
) -> tuple[str, dict[str, Any]]:
    """The flywheel iteration's job, as far as ``ComprehendFlywheel.advance`` could take it."""
    model_type = it.model_type
    flywheel = ComprehendFlywheel(ctx.clients.get("comprehend"))
    tags = ctx.resource_tags(model_type)
    manifest_key = layout.flywheel_dataset_key(model_type, model_version, "manifest.json")
    manifest = ctx.lake.get_json(manifest_key)
    ledger_key = layout.flywheel_ledger_key(model_type)
    ledger = ctx.lake.get_json(ledger_key) or ledgers.empty_ledger(model_type)
    parts = None
    if manifest is None:
        parts = _dataset_parts(ctx, it, dataset)
    name = flywheel_name(ctx.setting, model_type)
    flywheel_arn, created, origin = flywheel.find(name), False, None
    if flywheel_arn is None:
        origin = _active_model_arn(ctx, model_type)
        flywheel_arn, created = flywheel.create(
            name,
            model_type=model_type,
            active_model_arn=origin,
            task=task_config(
                model_type,
                labels=_labels(ctx, dataset),
                mode=it.mode,
                language_code=ctx.setting("COMPREHEND_LANGUAGE_CODE", "en") or "en",
            ),
            data_lake_uri=ctx.lake.uri(layout.flywheel_data_lake_prefix(model_type)),
            role_arn=ctx.required("COMPREHEND_FLYWHEEL_ROLE_ARN"),
            kms_key_arn=ctx.setting("COMPREHEND_KMS_KEY_ARN"),
            tags=tags,
        )
    if ledger.get("flywheel_arn") != flywheel_arn:
        # A flywheel the ledger does not describe yet (new, or the old one was removed): it
        # holds none of textloop's documents, unless it began from a model version, whose
        # training and test data Comprehend copied into it.
        ledger = ledgers.empty_ledger(model_type)
        if not created:
            origin = flywheel.active_model_arn(flywheel_arn)
        if origin:
            ledger = _with_model_data(ctx, it, flywheel, flywheel_arn, origin, ledger)
    if manifest is None:
        if ledger["iterations"] and not created:
            ledger = ledgers.reconciled(ledger, flywheel.held_datasets(flywheel_arn))
        manifest = _write_increment(ctx, it, model_version, flywheel_arn, parts or {}, ledger)
        ctx.lake.put_json(manifest_key, manifest, once=True)
    # Again on a retry: the ledger may not have been written when the first try stopped.
    ctx.lake.put_json(
        ledger_key,
        ledgers.with_iteration(
            ledger,
            flywheel_arn=flywheel_arn,
            model_version=model_version,
            entries=manifest["documents"],
            dataset_names=[d["name"] for d in manifest["datasets"]],
            manifest_key=manifest_key,
        ),
    )
    job = {
        "backend": "comprehend",
        "model_type": model_type,
        "training": "flywheel",
        "flywheel_arn": flywheel_arn,
        "flywheel_created": created,
        "model_version": model_version,
        "manifest_key": manifest_key,
        "datasets": manifest["datasets"],
        "new_documents": {part: manifest[part]["documents"] for part in ledgers.PARTS},
        "relabelled_not_sent": len(manifest["relabelled"]),
    }
    return flywheel.advance(job, tags)


def _with_model_data(
    ctx: Stack,
    it: Iteration,
    flywheel: ComprehendFlywheel,
    flywheel_arn: str,
    model_arn: str,
    ledger: dict[str, Any],
) -> dict[str, Any]:
    """The ledger with the documents of the model version the flywheel began from (when its
    data is in the lake: a version textloop trained), so they are not given a second time."""
    parts: dict[str, list[dict[str, Any]]] = {}
    for part, uris in flywheel.training_data(model_arn).items():
        # Only a data set textloop built can be read here (a flywheel's own versions keep their
        # data in its data lake, which only Comprehend reads).
        if not all(uri.startswith(ctx.lake.uri(layout.DATASETS_PREFIX)) for uri in uris.values()):
            ctx.logger.warning(
                "the active model's data is not a textloop data set", extra={"part": part}
            )
            continue
        texts = {field: ctx.lake.get_text(ctx.lake.key_of(uri)) for field, uri in uris.items()}
        if any(text is None for text in texts.values()):
            raise LookupError(f"{model_arn}'s {part} data is missing from the lake")
        if it.model_type == ModelType.ENTITY_RECOGNIZER:
            name = uris["documents"].rsplit("/", 1)[-1]
            parts[part] = parse_entity_files(
                texts["documents"] or "", texts["annotations"] or "", name
            )
        else:
            parts[part] = parse_classifier_csv(texts["documents"] or "", it.mode, name=part)
    inc = ledgers.increment(it.model_type, parts, ledger)
    label = f"origin-{model_arn.rsplit('/', 1)[-1]}"
    return ledgers.with_iteration(
        ledger,
        flywheel_arn=flywheel_arn,
        model_version=label,
        entries=ledgers.manifest_entries(it.model_type, inc, label),
        dataset_names=[],
        manifest_key=model_arn,
    )


def _dataset_parts(
    ctx: Stack, it: Iteration, dataset: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """The built data set's training and test documents."""
    if it.model_type == ModelType.ENTITY_RECOGNIZER:
        version = dataset["dataset_version"]
        return {p: read_entity_part(ctx.lake.get_text, version, p) for p in ledgers.PARTS}
    out = {}
    for part in ledgers.PARTS:
        text = ctx.lake.get_text(ctx.lake.key_of(dataset[f"{part}_uri"]))
        if text is None:
            raise LookupError(f"{dataset[f'{part}_uri']} is missing")
        out[part] = parse_classifier_csv(text, it.mode, name=f"{part}.csv")
    return out


def _write_increment(
    ctx: Stack,
    it: Iteration,
    model_version: str,
    flywheel_arn: str,
    parts: dict[str, list[dict[str, Any]]],
    ledger: dict[str, Any],
) -> dict[str, Any]:
    """The increment's files (only parts with documents) and its manifest."""
    model_type = it.model_type
    inc = ledgers.increment(model_type, parts, ledger)
    files = write_files(model_type, it.mode, inc.train, inc.test, LABEL_DELIMITER)
    for name, body in files.items():
        key = layout.flywheel_dataset_key(model_type, model_version, name)
        ctx.lake.put_text(key, body, "text/csv", once=True)

    def uri(name: str) -> str:
        return ctx.lake.uri(layout.flywheel_dataset_key(model_type, model_version, name))

    datasets = []
    for part in ledgers.PARTS:
        if not inc.documents(part):
            continue
        if model_type == ModelType.ENTITY_RECOGNIZER:
            given = {"documents": uri(f"{part}.txt"), "annotations": uri(f"{part}-annotations.csv")}
        else:
            given = {"documents": uri(f"{part}.csv")}
        datasets.append(
            {
                "name": f"{model_version}-{part}",
                "type": part.upper(),
                "input": dataset_input(model_type, it.mode, given),
            }
        )
    return {
        "model_type": model_type,
        "model_version": model_version,
        "iteration_id": it.iteration_id,
        "flywheel_arn": flywheel_arn,
        "datasets": datasets,
        "train": {"documents": len(inc.train)},
        "test": {"documents": len(inc.test)},
        "relabelled": inc.relabelled,
        "documents": ledgers.manifest_entries(model_type, inc, model_version),
    }


def _active_model_arn(ctx: Stack, model_type: str) -> str | None:
    """The Comprehend version serving the model type (what a new flywheel starts from)."""
    pointer = ctx.pointer_store(model_type).current()
    if pointer is None or pointer.backend != "comprehend" or not pointer.endpoint_arn:
        return None
    endpoint = ctx.setting(ENDPOINT_SETTINGS[model_type]) or pointer.endpoint_arn
    return ComprehendTestPredictions(ctx.clients.get("comprehend")).endpoint_model_arn(endpoint)


def _labels(ctx: Stack, dataset: dict[str, Any]) -> list[str]:
    manifest = ctx.lake.get_json(dataset["manifest_key"])
    if manifest is None:
        raise LookupError(f"{dataset['manifest_key']} is missing")
    return list(manifest["labels"])
