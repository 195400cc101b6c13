"""PromoteCandidate step: make the candidate the active model.

The pointer (SSM, ``<ACTIVE_MODEL_PARAMETER_PREFIX>/active-model/<model_type>``) moves to the
candidate with the thresholds its evaluation tuned (MULTI_LABEL), the Comprehend endpoint is
updated to the candidate's classifier when the back-end is Comprehend, and the registry records
the promotion under the iteration id (``adapters.promotions.move_pointer``). A retried step
finds that record and changes nothing.

Environment: DATA_LAKE_BUCKET, ACTIVE_MODEL_PARAMETER_PREFIX, REGISTRY_TABLE,
COMPREHEND_ENDPOINT_ARN, COMPREHEND_ENDPOINT_INFERENCE_UNITS (comprehend back-end; the endpoint
is created with that many inference units by the first promotion).
AWS: s3:GetObject (models/*), ssm:GetParameter, ssm:PutParameter (the pointer parameter),
dynamodb:GetItem, dynamodb:PutItem (registry table), comprehend:UpdateEndpoint and
comprehend:CreateEndpoint (on COMPREHEND_ENDPOINT_ARN; comprehend back-end only).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from textloop import step_events
from textloop.adapters.active_model import ActiveModelPointer
from textloop.adapters.environment import Stack
from textloop.adapters.promotions import move_pointer, summary_metrics
from textloop.evaluation import threshold_values
from textloop.names import Mode

logger = Logger()
tracer = Tracer()
metrics = Metrics()
stack = Stack()

EVENT_SCHEMA = step_events.step_schema(
    iteration=step_events.ITERATION,
    training=step_events.TRAINING,
    evaluation=step_events.EVALUATION,
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    step_events.check(event, EVENT_SCHEMA, "promote")
    it, training, evaluation = event["iteration"], event["training"], event["evaluation"]
    logger.set_correlation_id(it["execution_arn"])
    if not evaluation["decision"].get("promote"):
        raise ValueError("the gate did not decide to promote this candidate")
    candidate = stack.lake.get_json(evaluation["candidate_key"])
    if candidate is None:
        raise LookupError(f"{evaluation['candidate_key']} is missing")
    job = training["job"]
    thresholds = None
    if it["mode"] == Mode.MULTI_LABEL and threshold_values(candidate):
        thresholds = {"per_label": threshold_values(candidate)}
    if job["backend"] == "local":
        pointer = ActiveModelPointer(
            model_version=training["model_version"],
            backend="local",
            model_type=it["model_type"],
            mode=it["mode"],
            artefact_uri=job["artefact_uri"],
            thresholds=thresholds,
        )
        classifier_arn = None
    else:
        pointer = ActiveModelPointer(
            model_version=training["model_version"],
            backend="comprehend",
            model_type=it["model_type"],
            mode=it["mode"],
            endpoint_arn=stack.required("COMPREHEND_ENDPOINT_ARN"),
            thresholds=thresholds,
        )
        classifier_arn = job["classifier_arn"]
    result = move_pointer(
        registry=stack.registry,
        pointer_store=stack.pointer_store(it["model_type"]),
        comprehend=stack.clients.get("comprehend") if classifier_arn else None,
        event_id=it["iteration_id"],
        kind="promotion",
        pointer=pointer,
        classifier_arn=classifier_arn,
        metrics=summary_metrics(candidate),
        reason=evaluation["decision"].get("reason") or "",
        iteration_id=it["iteration_id"],
        inference_units=int(stack.setting("COMPREHEND_ENDPOINT_INFERENCE_UNITS", "1") or 1),
    )
    metrics.add_metric(name="ModelPromoted", unit=MetricUnit.Count, value=result["changed"])
    logger.info("candidate promoted", extra=result)
    return result
