"""Training through a Comprehend flywheel (iteration setting ``comprehend_training=flywheel``):
one flywheel per model type, created once, given each iteration's new documents as data sets,
then asked for a flywheel iteration, whose trained model version is textloop's candidate.

The job a flywheel iteration is (``$.training.job``) moves through Comprehend's stages, each
waited for by the DescribeTraining poll rather than in a Lambda: the flywheel becomes ACTIVE,
each data set COMPLETED, then StartFlywheelIteration, then the iteration COMPLETED. ``advance``
takes the job as far as Comprehend allows and says where it is; Train calls it once, each
DescribeTraining poll once more. Every create and start carries a ClientRequestToken derived
from the flywheel and the model version, so a retried step makes nothing new.

A trained version is tagged (TagResource) like the flywheel and its data sets.

Statuses for the state machine: TRAINED (the iteration COMPLETED with a TrainedModelArn),
IN_ERROR (the flywheel, a data set or the iteration FAILED; or COMPLETED without a trained
model), STOPPED, else Comprehend's running status (CREATING, TRAINING, EVALUATING,
STOP_REQUESTED).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.domain.names import LABEL_DELIMITER, Mode, ModelType

# Each model type's flywheel, by setting (Terraform sets ``<name>-classifier`` and
# ``<name>-recognizer``).
FLYWHEEL_NAME_SETTINGS = {
    ModelType.DOCUMENT_CLASSIFIER.value: (
        "COMPREHEND_CLASSIFIER_FLYWHEEL_NAME",
        "textloop-document-classifier",
    ),
    ModelType.ENTITY_RECOGNIZER.value: (
        "COMPREHEND_RECOGNIZER_FLYWHEEL_NAME",
        "textloop-entity-recognizer",
    ),
}
# FlywheelModelEvaluationMetrics, as DescribeFlywheelIteration names them.
METRIC_NAMES = ("AverageF1Score", "AveragePrecision", "AverageRecall", "AverageAccuracy")


def flywheel_name(setting: Any, model_type: str) -> str:
    """The model type's flywheel name (``setting`` is ``Stack.setting``)."""
    name, default = FLYWHEEL_NAME_SETTINGS[ModelType(model_type).value]
    return setting(name, default) or default


def request_token(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:64]


def task_config(
    model_type: str, *, labels: Sequence[str], mode: str | None, language_code: str
) -> dict[str, Any]:
    """CreateFlywheel's TaskConfig for a flywheel with no model yet."""
    config: dict[str, Any] = {"LanguageCode": language_code}
    if model_type == ModelType.ENTITY_RECOGNIZER:
        config["EntityRecognitionConfig"] = {"EntityTypes": [{"Type": t} for t in labels]}
    else:
        config["DocumentClassificationConfig"] = {"Mode": Mode(mode).value, "Labels": list(labels)}
    return config


def dataset_input(model_type: str, mode: str | None, files: Mapping[str, str]) -> dict[str, Any]:
    """CreateDataset's InputDataConfig for files in Comprehend's CSV formats (``files``:
    ``{"documents": uri, "annotations": uri}`` for entities, ``{"documents": uri}`` else)."""
    if model_type == ModelType.ENTITY_RECOGNIZER:
        return {
            "DataFormat": "COMPREHEND_CSV",
            "EntityRecognizerInputDataConfig": {
                "Documents": {"S3Uri": files["documents"], "InputFormat": "ONE_DOC_PER_LINE"},
                "Annotations": {"S3Uri": files["annotations"]},
            },
        }
    config: dict[str, Any] = {"S3Uri": files["documents"]}
    if mode == Mode.MULTI_LABEL:
        config["LabelDelimiter"] = LABEL_DELIMITER
    return {"DataFormat": "COMPREHEND_CSV", "DocumentClassifierInputDataConfig": config}


def metrics(value: Mapping[str, Any] | None) -> dict[str, float] | None:
    if not value:
        return None
    return {name: float(value[name]) for name in METRIC_NAMES if name in value}


def _pages(call: Any, **params: Any) -> Any:
    """Every page of a NextToken listing (botocore has no paginator for the flywheel calls)."""
    while True:
        page = call(**params)
        yield page
        if not page.get("NextToken"):
            return
        params = {**params, "NextToken": page["NextToken"]}


class ComprehendFlywheel:
    def __init__(self, client: Any):
        self.client = client

    # ------------------------------------------------------------------ the flywheel

    def find(self, name: str) -> str | None:
        """The ARN of the flywheel named ``name`` (ListFlywheels answers ARNs, not names)."""
        suffix = f":flywheel/{name}"
        for page in _pages(self.client.list_flywheels):
            for summary in page.get("FlywheelSummaryList", []):
                if summary.get("FlywheelArn", "").endswith(suffix):
                    return summary["FlywheelArn"]
        return None

    def create(
        self,
        name: str,
        *,
        model_type: str,
        active_model_arn: str | None,
        task: Mapping[str, Any] | None,
        data_lake_uri: str,
        role_arn: str,
        kms_key_arn: str | None,
        tags: list[dict[str, str]],
    ) -> tuple[str, bool]:
        """``(flywheel ARN, created)``: CreateFlywheel ``name`` from ``active_model_arn`` (a
        Comprehend model version of the model type) when given, else from ``ModelType`` and
        ``task`` (``task_config``); the flywheel a retry made if it exists already. Call it
        when ``find`` found none."""
        params: dict[str, Any] = {
            "FlywheelName": name,
            "DataAccessRoleArn": role_arn,
            "DataLakeS3Uri": data_lake_uri,
            "ClientRequestToken": request_token("flywheel", name),
            "Tags": tags,
        }
        # Comprehend refuses TaskConfig and ModelType beside an ActiveModelArn.
        if active_model_arn:
            params["ActiveModelArn"] = active_model_arn
        else:
            params["ModelType"] = ModelType(model_type).value
            params["TaskConfig"] = dict(task or {})
        if kms_key_arn:
            params["DataSecurityConfig"] = {
                "ModelKmsKeyId": kms_key_arn,
                "VolumeKmsKeyId": kms_key_arn,
                "DataLakeKmsKeyId": kms_key_arn,
            }
        try:
            return self.client.create_flywheel(**params)["FlywheelArn"], True
        except ClientError as exc:
            # Made a moment ago by a retry with the same token, and not listed yet.
            if error_code(exc) != "ResourceInUseException":
                raise
            arn = self.find(name)
            if arn is None:
                raise
            return arn, False

    def held_datasets(self, flywheel_arn: str) -> set[str]:
        """Names of the flywheel's data sets that are, or are becoming, part of it."""
        names = set()
        for page in _pages(self.client.list_datasets, FlywheelArn=flywheel_arn):
            for props in page.get("DatasetPropertiesList", []):
                if props.get("Status") != "FAILED":
                    names.add(props["DatasetName"])
        return names

    def active_model_arn(self, flywheel_arn: str) -> str | None:
        props = self.client.describe_flywheel(FlywheelArn=flywheel_arn)["FlywheelProperties"]
        return props.get("ActiveModelArn")

    def training_data(self, model_arn: str) -> dict[str, dict[str, str]]:
        """Where a model version's training and test data are (``{part: {"documents",
        "annotations"?}}``): what Comprehend copies into a flywheel created from it."""
        if ":entity-recognizer/" in model_arn:
            props = self.client.describe_entity_recognizer(EntityRecognizerArn=model_arn)[
                "EntityRecognizerProperties"
            ]
            config = props.get("InputDataConfig") or {}
            documents, annotations = config.get("Documents") or {}, config.get("Annotations") or {}
            out = {}
            for part, field in (("train", "S3Uri"), ("test", "TestS3Uri")):
                if documents.get(field) and annotations.get(field):
                    out[part] = {"documents": documents[field], "annotations": annotations[field]}
            return out
        props = self.client.describe_document_classifier(DocumentClassifierArn=model_arn)[
            "DocumentClassifierProperties"
        ]
        config = props.get("InputDataConfig") or {}
        return {
            part: {"documents": config[field]}
            for part, field in (("train", "S3Uri"), ("test", "TestS3Uri"))
            if config.get(field)
        }

    # ------------------------------------------------------------------ one iteration's job

    def advance(self, job: dict[str, Any], tags: list[dict[str, str]]) -> tuple[str, dict]:
        """``(status, job)``: ``job`` taken as far as Comprehend allows (see the module)."""
        job = dict(job)
        flywheel_arn = job["flywheel_arn"]
        if job.get("flywheel_iteration_id"):
            return self._describe_iteration(job, tags)
        datasets = [dict(d) for d in job.get("datasets", [])]
        # Once every data set exists, the flywheel was ACTIVE: no need to ask again.
        if not datasets or any(not d.get("arn") for d in datasets):
            props = self.client.describe_flywheel(FlywheelArn=flywheel_arn)["FlywheelProperties"]
            status = props.get("Status")
            if status == "FAILED":
                return "IN_ERROR", {**job, "message": f"flywheel: {props.get('Message', status)}"}
            if status != "ACTIVE":
                return status or "CREATING", job
        for dataset in datasets:
            if not dataset.get("arn"):
                dataset["arn"] = self._create_dataset(flywheel_arn, dataset, tags)
        job["datasets"] = datasets
        for dataset in datasets:
            if dataset.get("status") == "COMPLETED":
                continue
            described = self.client.describe_dataset(DatasetArn=dataset["arn"])
            dataset["status"] = described["DatasetProperties"].get("Status")
            if dataset["status"] == "FAILED":
                message = described["DatasetProperties"].get("Message", "FAILED")
                return "IN_ERROR", {**job, "message": f"data set {dataset['name']}: {message}"}
        if any(d["status"] != "COMPLETED" for d in datasets):
            return "CREATING", job
        for dataset in datasets:
            job[f"{dataset['type'].lower()}_dataset_arn"] = dataset["arn"]
        started = self.client.start_flywheel_iteration(
            FlywheelArn=flywheel_arn,
            ClientRequestToken=request_token(flywheel_arn, "iteration", job["model_version"]),
        )
        job["flywheel_iteration_id"] = started["FlywheelIterationId"]
        return self._describe_iteration(job, tags)

    def _create_dataset(self, flywheel_arn: str, dataset: Mapping[str, Any], tags: list) -> str:
        try:
            return self.client.create_dataset(
                FlywheelArn=flywheel_arn,
                DatasetName=dataset["name"],
                DatasetType=dataset["type"],
                InputDataConfig=dataset["input"],
                ClientRequestToken=request_token(flywheel_arn, dataset["name"]),
                Tags=tags,
            )["DatasetArn"]
        except ClientError as exc:
            # A data set of that name exists: a retried step made it before it stopped.
            if error_code(exc) != "ResourceInUseException":
                raise
            for page in _pages(self.client.list_datasets, FlywheelArn=flywheel_arn):
                for props in page.get("DatasetPropertiesList", []):
                    if props.get("DatasetName") == dataset["name"]:
                        return props["DatasetArn"]
            raise

    def _describe_iteration(self, job: dict[str, Any], tags: list) -> tuple[str, dict]:
        props = self.client.describe_flywheel_iteration(
            FlywheelArn=job["flywheel_arn"], FlywheelIterationId=job["flywheel_iteration_id"]
        )["FlywheelIterationProperties"]
        raw = props.get("Status", "TRAINING")
        job = {**job, "comprehend_status": raw}
        if props.get("Message"):
            job["message"] = props["Message"]
        job["flywheel_metrics"] = {
            "evaluated_model_arn": props.get("EvaluatedModelArn"),
            "evaluated_model_metrics": metrics(props.get("EvaluatedModelMetrics")),
            "trained_model_arn": props.get("TrainedModelArn"),
            "trained_model_metrics": metrics(props.get("TrainedModelMetrics")),
            "evaluation_manifest_s3_prefix": props.get("EvaluationManifestS3Prefix"),
        }
        if raw == "COMPLETED":
            trained = props.get("TrainedModelArn")
            if not trained:
                return "IN_ERROR", {
                    **job,
                    "message": f"the flywheel iteration trained no model: {props.get('Message')}",
                }
            # Comprehend names and makes the version itself (no Tags on the start): tag it like
            # every version textloop trains, so it is found by stack.
            self.client.tag_resource(ResourceArn=trained, Tags=tags)
            field = (
                "recognizer_arn"
                if job["model_type"] == ModelType.ENTITY_RECOGNIZER
                else "classifier_arn"
            )
            return "TRAINED", {**job, field: trained}
        if raw == "FAILED":
            return "IN_ERROR", job
        return raw, job
