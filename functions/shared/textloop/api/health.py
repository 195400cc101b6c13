"""``GET /health``: can this deployment reach its data lake? Read-only, for probes and operators.

200 ``{status: ok, ...}``, or 503 with ``status: degraded`` and the failed check's AWS error
code (never data).

Environment: DATA_LAKE_BUCKET, STAGE.
AWS: s3:ListBucket (HeadBucket on the data lake).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response
from botocore.exceptions import BotoCoreError, ClientError

from textloop.api.http import ctx, json_response, resolver

app = resolver()


@app.get("/health")
def get_health() -> Response:
    stack = ctx(app)
    bucket = stack.required("DATA_LAKE_BUCKET")
    checks = {}
    try:
        stack.clients.get("s3").head_bucket(Bucket=bucket)
        checks["data_lake"] = "ok"
    except (ClientError, BotoCoreError) as exc:
        # The reason is an AWS error code, never data, so it is safe to return and log.
        checks["data_lake"] = f"unreachable: {type(exc).__name__}"
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    stack.logger.info("health checked", extra={"status": status, "checks": checks})
    stack.count("HealthCheckFailed", status != "ok")
    report = {
        "status": status,
        "service": stack.setting("POWERTOOLS_SERVICE_NAME", "textloop"),
        "stage": stack.setting("STAGE", "unknown"),
        "data_lake_bucket": bucket,
        "checks": checks,
        "checked_at": datetime.now(UTC).isoformat(),
    }
    return json_response(200 if status == "ok" else 503, report)
