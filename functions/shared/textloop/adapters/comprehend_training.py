"""Training Amazon Comprehend custom models and polling them: classifiers
(CreateDocumentClassifier) and entity recognisers (CreateEntityRecognizer).

The candidate is one *version* of a model (``VersionName`` = the model version) under a fixed
name per stack (``DocumentClassifierName`` / ``RecognizerName``), so the versions of one model
line up in the console. ``ClientRequestToken`` is derived from the name and the version: a
retried start returns the same model; one started by a retry with another token is found by
listing the name's versions (ResourceInUseException).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.domain.names import LABEL_DELIMITER, Mode, ModelType
from textloop.domain.resources import tags_parameter

# DescribeDocumentClassifier / DescribeEntityRecognizer statuses (the same enum in botocore's
# model), mapped to what the state machine's Choice understands. The warning status is spelled
# TRAINED_WITH_WARNING (singular) by the API; this map said TRAINED_WITH_WARNINGS before, so a
# classifier trained with a warning was polled until training_max_polls ran out.
_DONE = {"TRAINED": "TRAINED", "TRAINED_WITH_WARNING": "TRAINED"}
_FAILED = {"IN_ERROR": "IN_ERROR", "STOPPED": "STOPPED", "DELETING": "IN_ERROR"}


class ComprehendTraining:
    def __init__(self, client: Any):
        self.client = client

    def start(
        self,
        *,
        classifier_name: str,
        model_version: str,
        mode: str,
        train_uri: str,
        test_uri: str,
        output_uri: str,
        role_arn: str,
        language_code: str = "en",
        tags: Sequence[Mapping[str, str]] = (),
    ) -> dict[str, Any]:
        """``tags``: the stack's run-time tags (``Stack.resource_tags``), set on the version as
        it is created (tag-on-create: the caller also needs comprehend:TagResource)."""
        input_config: dict[str, Any] = {
            "DataFormat": "COMPREHEND_CSV",
            "S3Uri": train_uri,
            "TestS3Uri": test_uri,
        }
        if mode == Mode.MULTI_LABEL:
            input_config["LabelDelimiter"] = LABEL_DELIMITER
        token = _request_token(classifier_name, model_version)
        try:
            arn = self.client.create_document_classifier(
                DocumentClassifierName=classifier_name,
                VersionName=model_version,
                DataAccessRoleArn=role_arn,
                InputDataConfig=input_config,
                OutputDataConfig={"S3Uri": output_uri},
                LanguageCode=language_code,
                Mode=mode,
                ClientRequestToken=token,
                **tags_parameter(tags),
            )["DocumentClassifierArn"]
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
            arn = self._existing_arn(classifier_name, model_version)
            if arn is None:
                raise
        return {
            "backend": "comprehend",
            "classifier_arn": arn,
            "classifier_name": classifier_name,
            "version_name": model_version,
        }

    def _existing_arn(self, classifier_name: str, model_version: str) -> str | None:
        paginator = self.client.get_paginator("list_document_classifiers")
        for page in paginator.paginate(Filter={"DocumentClassifierName": classifier_name}):
            for props in page.get("DocumentClassifierPropertiesList", []):
                if props.get("VersionName") == model_version:
                    return props["DocumentClassifierArn"]
        return None

    def describe(self, classifier_arn: str) -> dict[str, Any]:
        """``{status, comprehend_status, message}``; status is TRAINED, IN_ERROR, STOPPED or
        the running status itself (SUBMITTED, TRAINING, STOP_REQUESTED)."""
        props = self.client.describe_document_classifier(DocumentClassifierArn=classifier_arn)[
            "DocumentClassifierProperties"
        ]
        return _described(props)


class ComprehendRecognizerTraining:
    """CreateEntityRecognizer from a data set in Comprehend's entity format (a documents file,
    one document per line, and an annotations CSV; the frozen test set as TestS3Uri)."""

    def __init__(self, client: Any):
        self.client = client

    def start(
        self,
        *,
        recognizer_name: str,
        model_version: str,
        entity_types: Sequence[str],
        documents_uri: str,
        annotations_uri: str,
        test_documents_uri: str | None,
        test_annotations_uri: str | None,
        role_arn: str,
        language_code: str = "en",
        tags: Sequence[Mapping[str, str]] = (),
    ) -> dict[str, Any]:
        documents: dict[str, Any] = {"S3Uri": documents_uri, "InputFormat": "ONE_DOC_PER_LINE"}
        annotations: dict[str, Any] = {"S3Uri": annotations_uri}
        # Comprehend takes a test set only as a pair: documents and their annotations.
        if test_documents_uri and test_annotations_uri:
            documents["TestS3Uri"] = test_documents_uri
            annotations["TestS3Uri"] = test_annotations_uri
        try:
            arn = self.client.create_entity_recognizer(
                RecognizerName=recognizer_name,
                VersionName=model_version,
                DataAccessRoleArn=role_arn,
                InputDataConfig={
                    "DataFormat": "COMPREHEND_CSV",
                    "EntityTypes": [{"Type": t} for t in entity_types],
                    "Documents": documents,
                    "Annotations": annotations,
                },
                LanguageCode=language_code,
                ClientRequestToken=_request_token(recognizer_name, model_version),
                **tags_parameter(tags),
            )["EntityRecognizerArn"]
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
            arn = self._existing_arn(recognizer_name, model_version)
            if arn is None:
                raise
        return {
            "backend": "comprehend",
            "model_type": ModelType.ENTITY_RECOGNIZER.value,
            "recognizer_arn": arn,
            "recognizer_name": recognizer_name,
            "version_name": model_version,
        }

    def _existing_arn(self, recognizer_name: str, model_version: str) -> str | None:
        paginator = self.client.get_paginator("list_entity_recognizers")
        for page in paginator.paginate(Filter={"RecognizerName": recognizer_name}):
            for props in page.get("EntityRecognizerPropertiesList", []):
                if props.get("VersionName") == model_version:
                    return props["EntityRecognizerArn"]
        return None

    def describe(self, recognizer_arn: str) -> dict[str, Any]:
        """``{status, comprehend_status, message}``, as ``ComprehendTraining.describe``."""
        props = self.client.describe_entity_recognizer(EntityRecognizerArn=recognizer_arn)[
            "EntityRecognizerProperties"
        ]
        return _described(props)


# Each model type's Comprehend resources, by setting (Terraform sets them per stack): the model
# name its versions live under, and the endpoint that serves the active version.
MODEL_NAME_SETTINGS = {
    ModelType.DOCUMENT_CLASSIFIER.value: (
        "COMPREHEND_CLASSIFIER_NAME",
        "textloop-document-classifier",
    ),
    ModelType.ENTITY_RECOGNIZER.value: ("COMPREHEND_RECOGNIZER_NAME", "textloop-entity-recognizer"),
}
ENDPOINT_SETTINGS = {
    ModelType.DOCUMENT_CLASSIFIER.value: "COMPREHEND_CLASSIFIER_ENDPOINT_ARN",
    ModelType.ENTITY_RECOGNIZER.value: "COMPREHEND_RECOGNIZER_ENDPOINT_ARN",
}


def model_name(setting: Callable[[str, str], str | None], model_type: str) -> str:
    """The name the model type's versions are trained under (``setting`` is ``Stack.setting``)."""
    name, default = MODEL_NAME_SETTINGS[ModelType(model_type).value]
    return setting(name, default) or default


def model_arn(job: dict[str, Any]) -> str:
    """The Comprehend model version a training job made (what an endpoint's ModelArn names)."""
    return job.get("recognizer_arn") or job["classifier_arn"]


def describe_job(client: Any, job: dict[str, Any]) -> dict[str, Any]:
    """One poll of a Comprehend training job, whichever the model type."""
    if job.get("model_type") == ModelType.ENTITY_RECOGNIZER:
        return ComprehendRecognizerTraining(client).describe(job["recognizer_arn"])
    return ComprehendTraining(client).describe(job["classifier_arn"])


def _request_token(name: str, model_version: str) -> str:
    return hashlib.sha256(f"{name}/{model_version}".encode()).hexdigest()[:64]


def _described(props: dict[str, Any]) -> dict[str, Any]:
    raw = props["Status"]
    status = _DONE.get(raw) or _FAILED.get(raw) or raw
    out: dict[str, Any] = {"status": status, "comprehend_status": raw}
    if props.get("Message"):
        out["message"] = props["Message"]
    return out
