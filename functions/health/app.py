"""GET /health: can this deployment reach its data lake? Read-only, for probes and operators."""

import os
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()

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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
