"""Training Amazon Comprehend custom classifiers (CreateDocumentClassifier and its polling).

The candidate is one *version* of a classifier (``VersionName`` = the model version) under a
fixed ``DocumentClassifierName``, so the versions of one model line up in the console.
``ClientRequestToken`` is derived from the version: a retried start returns the same job.
"""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.domain.names import LABEL_DELIMITER, Mode

# DescribeDocumentClassifier statuses, mapped to what the state machine's Choice understands.
_DONE = {"TRAINED": "TRAINED", "TRAINED_WITH_WARNINGS": "TRAINED"}
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
    ) -> dict[str, Any]:
        input_config: dict[str, Any] = {
            "DataFormat": "COMPREHEND_CSV",
            "S3Uri": train_uri,
            "TestS3Uri": test_uri,
        }
        if mode == Mode.MULTI_LABEL:
            input_config["LabelDelimiter"] = LABEL_DELIMITER
        token = hashlib.sha256(f"{classifier_name}/{model_version}".encode()).hexdigest()[:64]
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
        raw = props["Status"]
        status = _DONE.get(raw) or _FAILED.get(raw) or raw
        out: dict[str, Any] = {"status": status, "comprehend_status": raw}
        if props.get("Message"):
            out["message"] = props["Message"]
        return out
