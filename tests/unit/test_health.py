"""GET /health: the deployment reports whether its data lake is reachable."""

import json

import boto3

from tests.support.events import rest_event
from tests.support.stack import create_bucket, deploy_function

BUCKET = "textloop-test-data-lake"


def _env(bucket=BUCKET):
    return {"DATA_LAKE_BUCKET": bucket, "STAGE": "test", "POWERTOOLS_SERVICE_NAME": "textloop"}


def test_api_reports_ok_when_the_data_lake_is_reachable(lambdas):
    create_bucket(BUCKET)
    deploy_function(lambdas, "textloop-health", "health", _env())
    out = boto3.client("lambda").invoke(
        FunctionName="textloop-health", Payload=json.dumps(rest_event("/health"))
    )
    response = json.loads(out["Payload"].read())
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["status"] == "ok"
    assert body["checks"] == {"data_lake": "ok"}
    assert body["stage"] == "test"


def test_api_reports_503_when_the_data_lake_is_missing(lambdas):
    deploy_function(lambdas, "textloop-health", "health", _env("no-such-bucket"))
    out = boto3.client("lambda").invoke(
        FunctionName="textloop-health", Payload=json.dumps(rest_event("/health"))
    )
    response = json.loads(out["Payload"].read())
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["checks"]["data_lake"].startswith("unreachable")


def test_unknown_route_is_404(lambdas):
    create_bucket(BUCKET)
    deploy_function(lambdas, "textloop-health", "health", _env())
    out = boto3.client("lambda").invoke(
        FunctionName="textloop-health", Payload=json.dumps(rest_event("/nope"))
    )
    assert json.loads(out["Payload"].read())["statusCode"] == 404
