"""The AWS side of ``textloop resources``: find the run-time resources of one stack by its
``textloop:stack`` tag, read what marks a version as active or in use, and carry out the plans
``textloop.domain.resources`` makes (prune, remove). It runs from the operator's machine only,
with the operator's credentials, never in a Lambda.

Comprehend: ListEndpoints, ListDocumentClassifiers, ListEntityRecognizers, ListFlywheels,
ListDatasets, ListFlywheelIterationHistory (the versions a flywheel trained, which Comprehend
made and may not have tagged), ListTagsForResource (each resource's tags: the list calls do not
return them);
DeleteEndpoint and DescribeEndpoint (until it is gone), StopTrainingDocumentClassifier /
StopTrainingEntityRecognizer, DescribeDocumentClassifier / DescribeEntityRecognizer,
DeleteDocumentClassifier / DeleteEntityRecognizer, DeleteFlywheel. S3 (the data lake):
ListObjectsV2 under ``models/`` and DeleteObjects (batch outputs). SSM GetParameter (the
active-model pointers), DynamoDB GetItem and Query (the registry's lock and history).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from textloop.adapters.active_model import (
    ActiveModelPointerStore,
    pointer_parameter_name,
    registry_model_arn,
)
from textloop.adapters.registry import Registry
from textloop.domain import layout
from textloop.domain.iteration import candidate_version_prefix
from textloop.domain.names import ModelType
from textloop.domain.resources import (
    BATCH_OUTPUT,
    CLASSIFIER_VERSION,
    DATASET,
    DELETABLE_VERSION,
    ENDPOINT,
    FLYWHEEL,
    MODEL_TYPE_TAG,
    RECOGNIZER_VERSION,
    STACK_TAG,
    VERSION_KINDS,
    Facts,
    Resource,
    Step,
    annotate,
)
from textloop.domain.timestamps import format_timestamp

MODEL_TYPES = tuple(m.value for m in ModelType)


class ResourcesError(RuntimeError):
    """A plan could not finish (an endpoint still deleting when the wait ran out)."""


@dataclass(frozen=True)
class StackScope:
    """One deployed stack, as its Terraform output ``stack`` describes it."""

    stack: str
    data_lake_bucket: str
    registry_table: str | None = None
    active_model_parameter_prefix: str | None = None
    region: str | None = None

    @classmethod
    def from_output(cls, value: Any) -> StackScope:
        if (
            not isinstance(value, dict)
            or not value.get("name")
            or not value.get("data_lake_bucket")
        ):
            raise ValueError(
                "the stack output needs name and data_lake_bucket (`terraform output -json stack`)"
            )
        return cls(
            stack=value["name"],
            data_lake_bucket=value["data_lake_bucket"],
            registry_table=value.get("registry_table"),
            active_model_parameter_prefix=value.get("active_model_parameter_prefix"),
            region=value.get("region"),
        )


# Per version kind: the list call, its result list, the ARN field, and the delete/stop/describe
# calls with their parameter name.
_VERSION_CALLS = {
    CLASSIFIER_VERSION: {
        "list": ("list_document_classifiers", "DocumentClassifierPropertiesList"),
        "arn": "DocumentClassifierArn",
        "delete": "delete_document_classifier",
        "stop": "stop_training_document_classifier",
        "describe": ("describe_document_classifier", "DocumentClassifierProperties"),
    },
    RECOGNIZER_VERSION: {
        "list": ("list_entity_recognizers", "EntityRecognizerPropertiesList"),
        "arn": "EntityRecognizerArn",
        "delete": "delete_entity_recognizer",
        "stop": "stop_training_entity_recognizer",
        "describe": ("describe_entity_recognizer", "EntityRecognizerProperties"),
    },
}


class StackResources:
    """``client(service)`` makes a boto3 client (the CLI's target decides the endpoint and the
    credentials); ``sleep`` and ``clock`` are the waits' (tests pass instant ones)."""

    def __init__(
        self,
        scope: StackScope,
        client: Callable[[str], Any],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.scope = scope
        self._client = client
        self._clients: dict[str, Any] = {}
        self.sleep = sleep
        self.clock = clock
        # Versions the stack's flywheels trained or hold: theirs even without the stack's tag
        # (Comprehend makes a flywheel's versions itself; ``flywheels`` fills this first).
        self._flywheel_models: set[str] = set()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._client(service)
        return self._clients[service]

    # ------------------------------------------------------------------ listing

    def list(self) -> list[Resource]:
        """Every run-time resource of the stack, ``annotate``-d (active, serving, in use)."""
        found = [*self.endpoints(), *self.flywheels(), *self.versions()]
        found += self.batch_outputs(found)
        return annotate(found, self.facts())

    def _tags(self, arn: str) -> dict[str, str] | None:
        """The resource's tags; None when it is gone (deleted since it was listed)."""
        try:
            tags = self.client("comprehend").list_tags_for_resource(ResourceArn=arn)["Tags"]
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise
        return {tag["Key"]: tag.get("Value", "") for tag in tags}

    def _ours(self, arn: str) -> tuple[bool, str | None]:
        """``(belongs to this stack, its model type tag)``: tagged with the stack, or an
        untagged version one of the stack's flywheels trained."""
        tags = self._tags(arn)
        if tags is None:
            return False, None
        if tags.get(STACK_TAG) == self.scope.stack:
            return True, tags.get(MODEL_TYPE_TAG)
        return STACK_TAG not in tags and arn in self._flywheel_models, None

    def endpoints(self) -> list[Resource]:
        found = []
        for props in self._pages("list_endpoints", "EndpointPropertiesList"):
            ours, model_type = self._ours(props["EndpointArn"])
            if not ours:
                continue
            found.append(
                Resource(
                    ENDPOINT,
                    props["EndpointArn"],
                    model_type=model_type or _endpoint_model_type(props["EndpointArn"]),
                    status=props.get("Status"),
                    created=_time(props.get("CreationTime")),
                    model_arn=props.get("ModelArn"),
                    desired_model_arn=props.get("DesiredModelArn"),
                    inference_units=props.get("CurrentInferenceUnits")
                    or props.get("DesiredInferenceUnits"),
                )
            )
        return found

    def versions(self) -> list[Resource]:
        found = []
        for model_type, kind in VERSION_KINDS.items():
            calls = _VERSION_CALLS[kind]
            for props in self._pages(*calls["list"]):
                arn = props[calls["arn"]]
                ours, _ = self._ours(arn)
                if not ours:
                    continue
                found.append(
                    Resource(
                        kind,
                        arn,
                        model_type=model_type,
                        status=props.get("Status"),
                        created=_time(props.get("SubmitTime")),
                        version=props.get("VersionName"),
                    )
                )
        return found

    def flywheels(self) -> list[Resource]:
        """The stack's flywheels, each followed by its data sets."""
        found = []
        for summary in self._token_pages("list_flywheels", "FlywheelSummaryList"):
            arn = summary["FlywheelArn"]
            ours, model_type = self._ours(arn)
            if not ours:
                continue
            model_type = model_type or summary.get("ModelType")
            if summary.get("ActiveModelArn"):
                self._flywheel_models.add(summary["ActiveModelArn"])
            self._flywheel_models.update(self._trained_by(arn))
            found.append(
                Resource(
                    FLYWHEEL,
                    arn,
                    model_type=model_type,
                    status=summary.get("Status"),
                    created=_time(summary.get("CreationTime")),
                    model_arn=summary.get("ActiveModelArn"),
                )
            )
            try:
                datasets = list(
                    self._token_pages("list_datasets", "DatasetPropertiesList", FlywheelArn=arn)
                )
            except ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
                datasets = []
            found.extend(
                Resource(
                    DATASET,
                    props["DatasetArn"],
                    model_type=model_type,
                    status=props.get("Status"),
                    created=_time(props.get("CreationTime")),
                    version=props.get("DatasetName"),
                    parent=arn,
                )
                for props in datasets
            )
        return found

    def _trained_by(self, flywheel_arn: str) -> set[str]:
        """The versions a flywheel's iterations trained and evaluated."""
        models: set[str] = set()
        try:
            for iteration in self._token_pages(
                "list_flywheel_iteration_history",
                "FlywheelIterationPropertiesList",
                FlywheelArn=flywheel_arn,
            ):
                models.update(
                    iteration[field]
                    for field in ("TrainedModelArn", "EvaluatedModelArn")
                    if iteration.get(field)
                )
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
        return models

    def batch_outputs(self, resources: Sequence[Resource]) -> list[Resource]:
        """The batch jobs' outputs in the data lake (``layout.test_predictions_root`` of each
        model version that has one), with their size; the model type is the version's."""
        types = {r.version: r.model_type for r in resources if r.is_version and r.version}
        sizes: dict[str, int] = {}
        oldest: dict[str, datetime] = {}
        for obj in self._objects(layout.MODELS_PREFIX):
            parsed = layout.test_predictions_of(obj["Key"])
            if parsed is None:
                continue
            version = parsed[0]
            sizes[version] = sizes.get(version, 0) + int(obj.get("Size", 0))
            modified = obj.get("LastModified")
            if modified is not None and (version not in oldest or modified < oldest[version]):
                oldest[version] = modified
        return [
            Resource(
                BATCH_OUTPUT,
                layout.test_predictions_root(version),
                model_type=types.get(version),
                created=_time(oldest.get(version)),
                version=version,
                size_bytes=size,
            )
            for version, size in sorted(sizes.items())
        ]

    def facts(self) -> Facts:
        """The active versions (pointer, registry) and the running iterations (locks)."""
        active_versions: dict[str, str] = {}
        active_arns: set[str] = set()
        locks: dict[str, dict[str, Any]] = {}
        prefix = self.scope.active_model_parameter_prefix
        registry = (
            Registry(self.client("dynamodb"), self.scope.registry_table)
            if self.scope.registry_table
            else None
        )
        for model_type in MODEL_TYPES:
            if prefix:
                pointer = ActiveModelPointerStore(
                    self.client("ssm"),
                    pointer_parameter_name(prefix, model_type),
                    max_age_seconds=0,
                ).current()
                if pointer is not None:
                    active_versions[model_type] = pointer.model_version
            if registry is None:
                continue
            history = registry.history(model_type)
            if history and registry_model_arn(history[-1]):
                active_arns.add(str(registry_model_arn(history[-1])))
            holder = registry.lock_holder(model_type)
            if holder:
                locks[model_type] = {
                    **holder,
                    "candidate_prefix": candidate_version_prefix(holder["iteration_id"]),
                }
        return Facts(
            active_versions=active_versions, active_arns=frozenset(active_arns), locks=locks
        )

    # ------------------------------------------------------------------ carrying out a plan

    def apply(
        self, steps: Sequence[Step], *, wait_seconds: float = 900, poll_seconds: float = 15
    ) -> list[dict[str, Any]]:
        """Carry out ``steps`` in their order; one result per step (``done``: deleted,
        stopped, already gone, kept; ``failed`` with the service's message). Deleted
        endpoints are waited for (at most ``wait_seconds``) before anything after them, since
        Comprehend keeps a model an endpoint still serves; so is a stopped training."""
        results: list[dict[str, Any]] = []
        pending_endpoints: list[str] = []
        for step in steps:
            r = step.resource
            if pending_endpoints and r.kind != ENDPOINT:
                if not self._waited(pending_endpoints, wait_seconds, poll_seconds, results):
                    return results  # nothing after the endpoints can go while they exist
                pending_endpoints = []
            outcome = {**step.to_dict()}
            try:
                if step.action == "keep" and r.kind == ENDPOINT and r.status == "DELETING":
                    outcome["result"] = "already being deleted"
                    pending_endpoints.append(r.id)  # still serving its model until gone
                elif step.action == "keep":
                    outcome["result"] = "kept"
                elif step.action == "stop":
                    outcome["result"] = self._stop(r, wait_seconds, poll_seconds)
                elif r.kind == ENDPOINT:
                    outcome["result"] = self._delete("delete_endpoint", EndpointArn=r.id)
                    if outcome["result"] == "deleted":
                        pending_endpoints.append(r.id)
                elif r.kind == FLYWHEEL:
                    outcome["result"] = self._delete("delete_flywheel", FlywheelArn=r.id)
                elif r.is_version:
                    calls = _VERSION_CALLS[r.kind]
                    outcome["result"] = self._delete(calls["delete"], **{calls["arn"]: r.id})
                elif r.kind == BATCH_OUTPUT:
                    count = self._delete_prefix(r.id)
                    outcome["result"] = f"deleted {count} objects" if count else "already gone"
                else:
                    outcome["result"] = "kept"
            except ClientError as exc:
                outcome["result"] = "failed"
                outcome["error"] = f"{_code(exc)}: {exc.response.get('Error', {}).get('Message')}"
            except ResourcesError as exc:
                outcome["result"] = "failed"
                outcome["error"] = str(exc)
            results.append(outcome)
        if pending_endpoints:
            self._waited(pending_endpoints, wait_seconds, poll_seconds, results)
        return results

    def _waited(
        self,
        endpoints: list[str],
        wait_seconds: float,
        poll_seconds: float,
        results: list[dict[str, Any]],
    ) -> bool:
        """Wait for deleted endpoints to be gone; False (and a failed result) if they outlive
        the wait."""
        try:
            self._wait_gone(endpoints, wait_seconds, poll_seconds)
        except ResourcesError as exc:
            results.append(
                {
                    "action": "wait",
                    "kind": ENDPOINT,
                    "id": None,
                    "result": "failed",
                    "error": str(exc),
                }
            )
            return False
        return True

    def _delete(self, operation: str, **arn: str) -> str:
        try:
            getattr(self.client("comprehend"), operation)(**arn)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return "already gone"
            raise
        return "deleted"

    def _stop(self, version: Resource, wait_seconds: float, poll_seconds: float) -> str:
        calls = _VERSION_CALLS[version.kind]
        comprehend = self.client("comprehend")
        try:
            getattr(comprehend, calls["stop"])(**{calls["arn"]: version.id})
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return "already gone"
            raise
        operation, field = calls["describe"]
        deadline = self.clock() + wait_seconds
        while True:
            status = getattr(comprehend, operation)(**{calls["arn"]: version.id})[field]["Status"]
            if status in DELETABLE_VERSION:
                return f"stopped ({status})"
            if self.clock() >= deadline:
                raise ResourcesError(
                    f"{version.id} still {status} after {wait_seconds:.0f} s; run again later"
                )
            self.sleep(poll_seconds)

    def _wait_gone(self, endpoints: list[str], wait_seconds: float, poll_seconds: float) -> None:
        deadline = self.clock() + wait_seconds
        remaining = list(endpoints)
        while remaining:
            still = []
            for arn in remaining:
                try:
                    self.client("comprehend").describe_endpoint(EndpointArn=arn)
                    still.append(arn)
                except ClientError as exc:
                    if _code(exc) != "ResourceNotFoundException":
                        raise
            remaining = still
            if not remaining:
                return
            if self.clock() >= deadline:
                raise ResourcesError(
                    f"endpoints still deleting after {wait_seconds:.0f} s: "
                    f"{', '.join(remaining)}; run `textloop resources remove --all` again"
                )
            self.sleep(poll_seconds)

    def _delete_prefix(self, prefix: str) -> int:
        """Delete the current objects under ``prefix`` (the bucket's lifecycle expires the
        noncurrent versions the delete leaves)."""
        s3 = self.client("s3")
        keys = [obj["Key"] for obj in self._objects(prefix)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            chunk = keys[start : start + 1000]
            answer = s3.delete_objects(
                Bucket=self.scope.data_lake_bucket,
                Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True},
            )
            if answer.get("Errors"):
                error = answer["Errors"][0]
                raise ClientError(
                    {"Error": {"Code": error.get("Code"), "Message": error.get("Message")}},
                    "DeleteObjects",
                )
        return len(keys)

    # ------------------------------------------------------------------ paging

    def _pages(self, operation: str, field: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client("comprehend").get_paginator(operation)
        for page in paginator.paginate(**kwargs):
            yield from page.get(field, [])

    def _token_pages(self, operation: str, field: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Calls botocore has no paginator for (ListFlywheels, ListDatasets)."""
        call = getattr(self.client("comprehend"), operation)
        while True:
            page = call(**kwargs)
            yield from page.get(field, [])
            if not page.get("NextToken"):
                return
            kwargs = {**kwargs, "NextToken": page["NextToken"]}

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client("s3").get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.scope.data_lake_bucket, Prefix=prefix):
            yield from page.get("Contents", [])


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _time(value: Any) -> str | None:
    return format_timestamp(value) if value is not None else None


def _endpoint_model_type(arn: str) -> str | None:
    """An endpoint's ARN says what it serves (``document-classifier-endpoint/...``)."""
    if ":entity-recognizer-endpoint/" in arn:
        return ModelType.ENTITY_RECOGNIZER.value
    if ":document-classifier-endpoint/" in arn:
        return ModelType.DOCUMENT_CLASSIFIER.value
    return None
