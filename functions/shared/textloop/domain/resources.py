"""The AWS resources textloop creates at run time (Comprehend model versions, endpoints,
flywheels and their data sets, batch jobs) and the tags that tie each one to its stack.

Terraform tags what it creates itself; these resources appear later, made by the loop's
Lambdas, so Terraform neither knows nor destroys them. The tags let ``textloop resources`` find
every one of them by stack (listing, pruning old versions, removal before ``terraform
destroy``) and let the bill be split by stack and model type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from textloop.domain.timestamps import parse_timestamp

STACK_TAG = "textloop:stack"
MODEL_TYPE_TAG = "textloop:model-type"
# The tag value when a deployment names no stack (unit tests, a hand-run function).
DEFAULT_STACK = "textloop"


def run_time_tags(stack: str, model_type: str) -> list[dict[str, str]]:
    """The ``Tags`` parameter of a Comprehend create/start call: ``[{"Key", "Value"}]``."""
    return [
        {"Key": STACK_TAG, "Value": stack},
        {"Key": MODEL_TYPE_TAG, "Value": str(model_type)},
    ]


def tags_parameter(tags: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """The ``Tags`` keyword of a create/start call, or no keyword at all when there are no tags
    (a caller that names none sends what it sent before tags existed)."""
    return {"Tags": [dict(tag) for tag in tags]} if tags else {}


# --------------------------------------------------------------------------- what exists
#
# ``textloop resources`` (textloop_ops.resources reads AWS, textloop_ops.cli prints) describes
# each run-time resource as one ``Resource``; the decisions below (what is active or in use,
# what ``prune`` and ``remove`` delete, and in which order) are made here, on those records
# alone, so they are tested without AWS.

ENDPOINT = "endpoint"
CLASSIFIER_VERSION = "classifier-version"
RECOGNIZER_VERSION = "recognizer-version"
FLYWHEEL = "flywheel"
DATASET = "dataset"
BATCH_OUTPUT = "batch-output"

VERSION_KINDS = {
    "DOCUMENT_CLASSIFIER": CLASSIFIER_VERSION,
    "ENTITY_RECOGNIZER": RECOGNIZER_VERSION,
}
VERSIONS = frozenset(VERSION_KINDS.values())

# Comprehend's ModelStatus: a version can be deleted only once training is over; one still
# training is stopped first (remove) or left alone (prune: it is a running iteration's).
DELETABLE_VERSION = frozenset({"TRAINED", "TRAINED_WITH_WARNING", "IN_ERROR", "STOPPED"})
TRAINING_VERSION = frozenset({"SUBMITTED", "TRAINING"})

# The order ``remove --all`` deletes in. Endpoints first: Comprehend refuses to delete a model
# an endpoint still serves ("All endpoints must be deleted in order for the model to be
# deleted", AWS CLI delete-endpoint example). Flywheels before the versions, so nothing names a
# version when it goes (DeleteFlywheel keeps the flywheel's models and data lake). Batch
# outputs last: plain S3 objects nothing depends on. A flywheel's data sets go with it (there is
# no DeleteDataset); their documents stay in the data lake with the bucket.
REMOVAL_ORDER = (ENDPOINT, FLYWHEEL, RECOGNIZER_VERSION, CLASSIFIER_VERSION, BATCH_OUTPUT)

# What each kind costs while it exists. Figures: Amazon Comprehend pricing page
# (https://aws.amazon.com/comprehend/pricing/, read 2026-12-01; the page names no region), and
# the endpoint's per-IU-second price as quoted from that page by a third-party transcription
# (README "What it costs and how to stop paying" says which figure comes from where).
ENDPOINT_USD_PER_IU_SECOND = 0.0005
MODEL_MANAGEMENT_USD_PER_MONTH = 0.50


@dataclass(frozen=True)
class Resource:
    """One run-time resource of the stack. ``id``: the ARN, or for a batch output its S3 key
    prefix in the data lake."""

    kind: str
    id: str
    model_type: str | None = None
    status: str | None = None
    created: str | None = None
    # versions: the VersionName (textloop's model version); batch outputs: whose output.
    version: str | None = None
    # endpoints: the model served and the one being moved to; flywheels: the active model.
    model_arn: str | None = None
    desired_model_arn: str | None = None
    inference_units: int | None = None
    # data sets: their flywheel.
    parent: str | None = None
    size_bytes: int | None = None
    # Filled by ``annotate``.
    active: bool = False
    serves: tuple[str, ...] = ()
    in_use: bool = False

    @property
    def is_version(self) -> bool:
        return self.kind in VERSIONS

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["serves"] = list(self.serves)
        out["cost"] = cost(self)
        return out


def cost(resource: Resource) -> str:
    """What ``resource`` costs while it exists (the pricing dimension, with the list price)."""
    if resource.kind == ENDPOINT:
        units = resource.inference_units or 1
        hourly = units * ENDPOINT_USD_PER_IU_SECOND * 3600
        return (
            f"{units} IU x ${ENDPOINT_USD_PER_IU_SECOND}/IU-s = ${hourly:.2f}/h while "
            "provisioned, with or without traffic"
        )
    if resource.is_version:
        return f"${MODEL_MANAGEMENT_USD_PER_MONTH:.2f}/month model management"
    if resource.kind == FLYWHEEL:
        return "nothing itself; its iterations train (per hour) and its data lake is S3"
    if resource.kind == DATASET:
        return "S3 storage of its documents"
    if resource.kind == BATCH_OUTPUT:
        return f"S3 storage ({_size(resource.size_bytes)})"
    return "-"


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size = size / 1024
    return f"{size:.1f} GiB"


@dataclass(frozen=True)
class Facts:
    """What marks a version as not to be deleted, read from the stack besides Comprehend.

    ``active_versions``: per model type, the model version the active-model pointer names;
    ``active_arns``: the Comprehend versions the registry's latest promotion or rollback served;
    ``locks``: per model type, the running iteration holding the lock (``iteration_id``,
    ``acquired_at``) and ``candidate_prefix``, what its candidate's version name starts with
    (``iteration.candidate_version_prefix``)."""

    active_versions: Mapping[str, str] = field(default_factory=dict)
    active_arns: frozenset[str] = frozenset()
    locks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def annotate(resources: Sequence[Resource], facts: Facts) -> list[Resource]:
    """``resources`` with ``active``, ``serves`` and ``in_use`` filled in.

    A version is active when the pointer names it, the registry's latest event served it, an
    endpoint serves it or is being moved to it (``ModelArn``/``DesiredModelArn``), or a
    flywheel has it as ``ActiveModelArn``. It is in use when a running iteration of its model
    type is training it: its name has the lock holder's candidate prefix, it was created after
    the lock was taken, or it is still training. A batch output shares its version's marks."""
    serving: dict[str, list[str]] = {}
    named: set[str] = set(facts.active_arns)
    for r in resources:
        if r.kind == ENDPOINT:
            for arn in {r.model_arn, r.desired_model_arn} - {None}:
                serving.setdefault(str(arn), []).append(r.id)
        if r.kind == FLYWHEEL and r.model_arn:
            named.add(r.model_arn)
    versions: list[Resource] = []
    for r in resources:
        if r.is_version:
            serves = tuple(sorted(serving.get(r.id, ())))
            pointed = r.version is not None and (
                facts.active_versions.get(r.model_type or "") == r.version
            )
            active = r.id in named or bool(serves) or pointed
            r = replace(r, active=active, serves=serves, in_use=_in_flight(r, facts))
        versions.append(r)
    # Version names are iteration-derived, so one name is one version whatever its model type.
    marks = {r.version: (r.active, r.in_use) for r in versions if r.is_version and r.version}
    prefixes = [
        str(lock["candidate_prefix"])
        for lock in facts.locks.values()
        if lock.get("candidate_prefix")
    ]
    result = []
    for r in versions:
        if r.kind == BATCH_OUTPUT and r.version:
            active, in_use = marks.get(r.version, (False, False))
            active = active or r.version in facts.active_versions.values()
            in_use = in_use or any(r.version.startswith(p) for p in prefixes)
            r = replace(r, active=active, in_use=in_use)
        result.append(r)
    return result


def _in_flight(version: Resource, facts: Facts) -> bool:
    if version.status in TRAINING_VERSION or version.status == "STOP_REQUESTED":
        return True
    lock = facts.locks.get(version.model_type or "")
    if not lock:
        return False
    prefix = lock.get("candidate_prefix")
    if prefix and version.version and version.version.startswith(prefix):
        return True
    acquired = lock.get("acquired_at")
    # A flywheel names its versions itself: the lock's time is what ties one to the iteration.
    return bool(acquired and version.created and _after(version.created, acquired))


def _after(created: str, acquired: str) -> bool:
    return parse_timestamp(created) >= parse_timestamp(acquired)


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Step:
    """One thing a plan does to one resource: ``delete``, ``stop`` (training, before the
    delete) or ``keep`` (with the reason)."""

    action: str
    resource: Resource
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.resource.kind,
            "model_type": self.resource.model_type,
            "id": self.resource.id,
            "version": self.resource.version,
            "reason": self.reason,
        }


def plan_prune(resources: Sequence[Resource], keep: int) -> list[Step]:
    """Delete the versions of each model type beyond the newest ``keep`` (by creation time),
    except the active ones and those a running iteration is using, each followed by its batch
    outputs. ``resources`` must be ``annotate``-d. Kept versions past ``keep`` are listed with
    their reason; endpoints, flywheels and data sets are never touched."""
    if keep < 0:
        raise ValueError("keep must be 0 or more")
    steps: list[Step] = []
    outputs = [r for r in resources if r.kind == BATCH_OUTPUT]
    for model_type, kind in VERSION_KINDS.items():
        versions = sorted(
            (r for r in resources if r.kind == kind),
            key=lambda r: (r.created or "", r.version or "", r.id),
            reverse=True,
        )
        for r in versions[keep:]:
            if r.active:
                where = f" (endpoint {', '.join(r.serves)})" if r.serves else ""
                steps.append(Step("keep", r, f"active{where}"))
            elif r.in_use:
                steps.append(Step("keep", r, "a running iteration is using it"))
            elif r.status not in DELETABLE_VERSION:
                steps.append(Step("keep", r, f"status {r.status}: not deletable yet"))
            else:
                steps.append(Step("delete", r, f"older than the newest {keep} {model_type}"))
                steps.extend(
                    Step("delete", o, f"batch output of {r.version}")
                    for o in outputs
                    if o.version == r.version and o.model_type in (model_type, None)
                )
    return steps


def plan_removal(resources: Sequence[Resource]) -> list[Step]:
    """Everything the stack created at run time, in ``REMOVAL_ORDER``; a version still training
    is stopped first. Data sets are not deleted on their own (they go with their flywheel)."""
    steps: list[Step] = []
    for kind in REMOVAL_ORDER:
        for r in sorted((r for r in resources if r.kind == kind), key=lambda r: r.id):
            if r.is_version and r.status in TRAINING_VERSION:
                steps.append(Step("stop", r, "still training"))
            if r.status == "DELETING":
                steps.append(Step("keep", r, "already being deleted"))
                continue
            steps.append(Step("delete", r, "remove --all"))
    return steps
