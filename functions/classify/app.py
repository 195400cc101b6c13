"""POST /classify: label(s) and confidence for a text from the active model.

A prediction the model is unsure of becomes an implicit feedback record in the data lake.
Its id is a content hash and the write is conditional, so a retried request changes nothing.
"""

import base64
import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from textloop import inference
from textloop.adapters.active_model import (
    ActiveModelPointerStore,
    ActiveModelProvider,
    backend_loader,
    pointer_parameter_name,
)
from textloop.adapters.artefacts import ModelArtefactStore
from textloop.adapters.feedback_writer import S3FeedbackWriter
from textloop.backends import comprehend
from textloop.backends.base import BackendThrottled, BackendUnavailable
from textloop.thresholds import parse_override
from textloop.validation import InvalidInput, error_body, http_status

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()

BUCKET = os.environ["DATA_LAKE_BUCKET"]
POINTER_PREFIX = os.environ["ACTIVE_MODEL_PARAMETER_PREFIX"]
POINTER_MAX_AGE_SECONDS = float(os.environ.get("ACTIVE_MODEL_MAX_AGE_SECONDS", "30"))
THRESHOLD_OVERRIDE = parse_override(os.environ.get("THRESHOLD_OVERRIDE") or None)

_s3 = boto3.client("s3")
_ssm = boto3.client("ssm")
_writer = S3FeedbackWriter(_s3, BUCKET)
# One provider per model type for the life of the process: the model is loaded once and
# reloaded only when the active-model pointer moves.
_providers: dict[str, ActiveModelProvider] = {}


def provider(model_type: str) -> ActiveModelProvider:
    if model_type not in _providers:
        store = ActiveModelPointerStore(
            _ssm,
            pointer_parameter_name(POINTER_PREFIX, model_type),
            max_age_seconds=POINTER_MAX_AGE_SECONDS,
        )
        loader = backend_loader(
            artefact_store=ModelArtefactStore(_s3, BUCKET),
            comprehend_client=boto3.client("comprehend", config=comprehend.client_config()),
        )
        _providers[model_type] = ActiveModelProvider(
            store, loader, threshold_override=THRESHOLD_OVERRIDE
        )
    return _providers[model_type]


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _raw_body() -> str | bytes | None:
    event = app.current_event
    if event.is_base64_encoded and event.body is not None:
        # Keep the bytes: a non-UTF-8 text must be reported, not silently replaced.
        return base64.b64decode(event.body)
    return event.body


@app.post("/classify")
@tracer.capture_method
def classify() -> Response:
    request_id = app.current_event.request_context.request_id
    request, errors = inference.parse_classify_request(_raw_body())
    if errors:
        metrics.add_metric(name="ClassifyRejected", unit=MetricUnit.Count, value=1)
        return _json(http_status(errors), error_body(errors))
    model_type = request["model_type"]
    try:
        active = provider(model_type).current()
        outcome = inference.classify(
            request["text"],
            active.backend,
            active.thresholds,
            now=datetime.now(UTC),
            request_id=request_id,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return _json(
                503,
                {
                    "message": f"no active model for {model_type}: train and promote one first",
                    "model_type": model_type,
                },
            )
        raise
    except InvalidInput as exc:
        return _json(http_status(exc.errors), error_body(exc.errors))
    except BackendThrottled:
        return _json(429, {"message": "the model back-end is throttling; retry with backoff"})
    except BackendUnavailable as exc:
        logger.exception("model back-end unavailable")
        return _json(503, {"message": f"the model back-end is unavailable: {exc}"})

    body = inference.classify_response(outcome)
    body["request_id"] = request_id
    body["routed_to_review"] = outcome.decision.routed
    if outcome.record is not None:
        written = _writer.write(outcome.record)
        metrics.add_metric(name="ImplicitFeedback", unit=MetricUnit.Count, value=1)
        logger.info(
            "implicit feedback recorded",
            extra={"feedback_id": outcome.record["id"], "duplicate": not written.written},
        )
    metrics.add_metric(name="Classified", unit=MetricUnit.Count, value=1)
    logger.info(
        "classified",
        extra={
            "model_version": body["model_version"],
            "routed_to_review": outcome.decision.routed,
        },
    )
    return _json(200, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
