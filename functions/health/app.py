"""Health of a deployment: can this stack reach and write its data lake?

Two callers share one check: `GET /health` on the REST API (read-only), and the state machine,
which also records a heartbeat in the data lake so a run leaves evidence an auditor can read.
"""

import json
import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate
from botocore.exceptions import BotoCoreError, ClientError

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()

HEARTBEAT_EVENT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["execution_id"],
    "properties": {"execution_id": {"type": "string", "minLength": 1, "maxLength": 2048}},
    "additionalProperties": False,
}

_s3 = None


def s3():
    global _s3
    if _s3 is None:
        _s3 = boto3.client("s3")
    return _s3


@tracer.capture_method
def check() -> dict:
    bucket = os.environ["DATA_LAKE_BUCKET"]
    checks = {}
    try:
        s3().head_bucket(Bucket=bucket)
        checks["data_lake"] = "ok"
    except (ClientError, BotoCoreError) as exc:
        # The reason is an AWS error code, never data, so it is safe to return and log.
        checks["data_lake"] = f"unreachable: {type(exc).__name__}"
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    logger.info("health checked", extra={"status": status, "checks": checks})
    metrics.add_metric(name="HealthCheckFailed", unit=MetricUnit.Count, value=status != "ok")
    return {
        "status": status,
        "service": os.environ.get("POWERTOOLS_SERVICE_NAME", "textloop"),
        "stage": os.environ.get("STAGE", "unknown"),
        "data_lake_bucket": bucket,
        "checks": checks,
        "checked_at": datetime.now(UTC).isoformat(),
    }


@app.get("/health")
@tracer.capture_method
def get_health() -> Response:
    report = check()
    return Response(
        status_code=200 if report["status"] == "ok" else 503,
        content_type=content_types.APPLICATION_JSON,
        body=report,
    )


@tracer.capture_method
def record_heartbeat(execution_id: str) -> dict:
    report = check()
    # One object per execution: a retried task overwrites the same key, never adds another.
    execution_name = execution_id.rsplit(":", 1)[-1]
    key = f"audit/heartbeats/{execution_name}.json"
    report["execution_id"] = execution_id
    if report["status"] == "ok":
        s3().put_object(
            Bucket=report["data_lake_bucket"],
            Key=key,
            Body=json.dumps(report, sort_keys=True).encode(),
            ContentType="application/json",
        )
        report["heartbeat_key"] = key
    return report


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    if "httpMethod" in event:
        return app.resolve(event, context)
    try:
        validate(event=event, schema=HEARTBEAT_EVENT_SCHEMA)
    except SchemaValidationError as exc:
        # Step Functions sees errorType "ValueError"; the message names the field, not the data.
        raise ValueError(f"invalid health-check event: {exc.validation_message}") from None
    logger.set_correlation_id(event["execution_id"])
    return record_heartbeat(event["execution_id"])
