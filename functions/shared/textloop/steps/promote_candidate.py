"""PromoteCandidate: make the candidate the active model.

The pointer (SSM, ``<ACTIVE_MODEL_PARAMETER_PREFIX>/active-model/<model_type>``) moves to the
candidate with the thresholds its evaluation tuned (MULTI_LABEL), the model type's Comprehend
endpoint is updated to the candidate's classifier or recogniser version when the back-end is
Comprehend (UpdateEndpoint DesiredModelArn), and the registry records
the promotion under the iteration id (``adapters.active_model.move_pointer``). A retried step
finds that record and changes nothing. A candidate a flywheel trained also becomes the
flywheel's active model (UpdateFlywheel ActiveModelArn; the same value again on a retry).

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX, REGISTRY_TABLE, STACK_NAME,
COMPREHEND_CLASSIFIER_ENDPOINT_ARN or COMPREHEND_RECOGNIZER_ENDPOINT_ARN (by model type),
COMPREHEND_ENDPOINT_INFERENCE_UNITS (comprehend back-end; the endpoint is created with that many
inference units by the first promotion), COMPREHEND_DATA_ACCESS_ROLE_ARN (flywheel versions).
AWS: s3:GetObject (models/*), ssm:GetParameter, ssm:PutParameter (the pointer parameter),
dynamodb:GetItem, dynamodb:PutItem (registry table), comprehend:UpdateEndpoint and
comprehend:CreateEndpoint with comprehend:TagResource (the endpoint is created with the stack's
tags; on the model type's endpoint; comprehend back-end only),
comprehend:UpdateFlywheel (the model type's flywheel; flywheel training only) and iam:PassRole
on COMPREHEND_DATA_ACCESS_ROLE_ARN (the endpoint reads the flywheel's encrypted version with it).
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.active_model import ActiveModelPointer, move_pointer
from textloop.adapters.comprehend_training import ENDPOINT_SETTINGS, model_arn
from textloop.adapters.stack import Stack
from textloop.domain.evaluation import summary_metrics, threshold_values
from textloop.domain.iteration import Iteration
from textloop.domain.names import Mode
from textloop.steps.payloads import EVALUATION, ITERATION, TRAINING, step_schema

EVENT = step_schema(iteration=ITERATION, training=TRAINING, evaluation=EVALUATION)


def run(ctx: Stack, event: dict[str, Any]) -> dict[str, Any]:
    it = Iteration.from_dict(event["iteration"])
    training, evaluation = event["training"], event["evaluation"]
    if not evaluation["decision"].get("promote"):
        raise ValueError("the gate did not decide to promote this candidate")
    candidate = ctx.lake.get_json(evaluation["candidate_key"])
    if candidate is None:
        raise LookupError(f"{evaluation['candidate_key']} is missing")
    job = training["job"]
    thresholds = None
    if it.mode == Mode.MULTI_LABEL and threshold_values(candidate):
        thresholds = {"per_label": threshold_values(candidate)}
    if job["backend"] == "local":
        pointer = ActiveModelPointer(
            model_version=training["model_version"],
            backend="local",
            model_type=it.model_type,
            mode=it.mode,
            artefact_uri=job["artefact_uri"],
            thresholds=thresholds,
        )
        served = None
    else:
        pointer = ActiveModelPointer(
            model_version=training["model_version"],
            backend="comprehend",
            model_type=it.model_type,
            mode=it.mode,
            endpoint_arn=ctx.required(ENDPOINT_SETTINGS[it.model_type]),
            thresholds=thresholds,
        )
        served = model_arn(job)
    flywheel_arn = job.get("flywheel_arn") if job.get("training") == "flywheel" else None
    result = move_pointer(
        registry=ctx.registry,
        pointer_store=ctx.pointer_store(it.model_type),
        comprehend=ctx.clients.get("comprehend") if served else None,
        event_id=it.iteration_id,
        kind="promotion",
        pointer=pointer,
        model_arn=served,
        metrics=summary_metrics(candidate),
        reason=evaluation["decision"].get("reason") or "",
        iteration_id=it.iteration_id,
        inference_units=int(ctx.setting("COMPREHEND_ENDPOINT_INFERENCE_UNITS", "1") or 1),
        tags=ctx.resource_tags(it.model_type),
        # A flywheel's versions are encrypted with the stack's key (COMPREHEND_KMS_KEY_ARN).
        data_access_role_arn=(
            ctx.required("COMPREHEND_DATA_ACCESS_ROLE_ARN") if flywheel_arn else None
        ),
        flywheel_arn=flywheel_arn,
    )
    ctx.count("ModelPromoted", result["changed"])
    ctx.logger.info("candidate promoted", extra=result)
    return result
