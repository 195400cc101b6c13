"""Events as AWS delivers them to the handlers (API Gateway REST proxy, S3 notifications)."""

import base64
import json
import uuid
from datetime import UTC, datetime

# The client applications every test deployment knows (the Lambdas' CLIENT_APPLICATIONS), by the
# id of their API key: what API Gateway puts in requestContext.identity.apiKeyId.
APPLICATIONS = {
    "key-id-1": {"application_id": "test-app", "trusted": False},
    "key-id-partner": {"application_id": "partner", "trusted": False},
    "key-id-app-7": {"application_id": "app-7", "trusted": False},
    "key-id-support-team": {"application_id": "support-team", "trusted": True},
    "key-id-seed": {"application_id": "seed", "trusted": True},
}
CLIENT_APPLICATIONS = json.dumps(APPLICATIONS)


def rest_event(
    path: str,
    method: str = "GET",
    body=None,
    *,
    api_key_id: str | None = "key-id-1",
    raw: bytes | None = None,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """An API Gateway REST (v1) proxy event; ``raw`` sends a body as base64 bytes."""
    if raw is not None:
        payload, encoded = base64.b64encode(raw).decode(), True
    elif body is None or isinstance(body, str):
        payload, encoded = body, False
    else:
        payload, encoded = json.dumps(body), False
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": request_id or str(uuid.uuid4()),
            "resourcePath": path,
            "httpMethod": method,
            "stage": "test",
            "path": f"/test{path}",
            # API Gateway sends null for a route that takes no API key.
            "identity": {"sourceIp": "127.0.0.1", "apiKeyId": api_key_id},
        },
        "body": payload,
        "isBase64Encoded": encoded,
    }


def s3_put_event(bucket: str, key: str, *, etag: str, version_id: str | None = None) -> dict:
    obj = {"key": key, "size": 1, "eTag": etag, "sequencer": "0A1B2C3D4E5F678901"}
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": obj,
                },
            }
        ]
    }


def sqs_event(messages: list[dict], queue_arn: str) -> dict:
    """The event Lambda's SQS poller sends for ``messages`` (ReceiveMessage's answer with
    ``MessageSystemAttributeNames=["All"]``); shape as in AWS's example,
    https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html ("Example Amazon SQS message
    event (standard queue)")."""
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }
