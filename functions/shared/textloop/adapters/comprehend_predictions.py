"""Amazon Comprehend batch jobs over a test set: StartDocumentClassificationJob for a classifier
version, StartEntitiesDetectionJob for a recogniser version (``model_type`` says which; the
job's output is parsed by ``domain.test_predictions``).

``ClientRequestToken`` is derived from the model version and the data set version: a retried
start returns the job already started instead of paying for a second one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textloop.domain.names import ModelType
from textloop.domain.resources import tags_parameter
from textloop.domain.test_predictions import job_name, request_token

# DescribeDocumentClassificationJob statuses, mapped to what the state machine's Choice knows.
_DONE = {"COMPLETED": "COMPLETED"}
_FAILED = {"FAILED": "FAILED", "STOPPED": "FAILED", "STOP_REQUESTED": "FAILED"}


class ComprehendTestPredictions:
    def __init__(self, client: Any):
        self.client = client

    def start(
        self,
        *,
        model_arn: str,
        model_version: str,
        dataset_version: str,
        input_uri: str,
        output_uri: str,
        role_arn: str,
        model_type: str = ModelType.DOCUMENT_CLASSIFIER.value,
        language_code: str = "en",
        tags: Sequence[Mapping[str, str]] = (),
    ) -> dict[str, Any]:
        """Start the job of ``model_arn`` (a classifier or recogniser version) over the test
        documents at ``input_uri`` (one per line), tagged with ``tags`` (the stack's run-time
        tags)."""
        common = {
            "JobName": job_name(model_version, dataset_version),
            "InputDataConfig": {"S3Uri": input_uri, "InputFormat": "ONE_DOC_PER_LINE"},
            "OutputDataConfig": {"S3Uri": output_uri},
            "DataAccessRoleArn": role_arn,
            "ClientRequestToken": request_token(model_version, dataset_version),
            **tags_parameter(tags),
        }
        if model_type == ModelType.ENTITY_RECOGNIZER:
            # Required by the API; with a custom recogniser it must be the model's language.
            response = self.client.start_entities_detection_job(
                **common, EntityRecognizerArn=model_arn, LanguageCode=language_code
            )
            arn_field = "recognizer_arn"
        else:
            response = self.client.start_document_classification_job(
                **common, DocumentClassifierArn=model_arn
            )
            arn_field = "classifier_arn"
        return {
            "kind": "batch_job",
            "backend": "comprehend",
            "model_type": ModelType(model_type).value,
            "model_version": model_version,
            arn_field: model_arn,
            "job_id": response["JobId"],
            "job_arn": response.get("JobArn"),
            "status": _status(response.get("JobStatus") or "SUBMITTED"),
            "comprehend_status": response.get("JobStatus") or "SUBMITTED",
        }

    def describe(self, job: dict[str, Any]) -> dict[str, Any]:
        """``job`` updated: status COMPLETED (with ``output_uri``, the output.tar.gz), FAILED
        (with Comprehend's ``message``), or the running status as Comprehend says it."""
        if job.get("model_type") == ModelType.ENTITY_RECOGNIZER:
            props = self.client.describe_entities_detection_job(JobId=job["job_id"])[
                "EntitiesDetectionJobProperties"
            ]
        else:
            props = self.client.describe_document_classification_job(JobId=job["job_id"])[
                "DocumentClassificationJobProperties"
            ]
        raw = props["JobStatus"]
        out = {**job, "status": _status(raw), "comprehend_status": raw}
        if props.get("Message"):
            out["message"] = props["Message"]
        if raw == "COMPLETED":
            out["output_uri"] = props["OutputDataConfig"]["S3Uri"]
        return out

    def poll(self, jobs: dict[str, Any]) -> dict[str, Any]:
        """``jobs`` (by role) with every batch job still running described again."""
        return {
            role: self.describe(job)
            if job is not None and job["kind"] == "batch_job" and job["status"] != "COMPLETED"
            else job
            for role, job in jobs.items()
        }

    def endpoint_model_arn(self, endpoint_arn: str) -> str:
        """The model version (classifier or recogniser) an endpoint serves now."""
        props = self.client.describe_endpoint(EndpointArn=endpoint_arn)["EndpointProperties"]
        return props["ModelArn"]


def _status(raw: str) -> str:
    return _DONE.get(raw) or _FAILED.get(raw) or raw
