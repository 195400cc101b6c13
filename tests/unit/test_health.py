"""The walking skeleton: the health function behind the API and inside the state machine."""

import json

import boto3
import pytest

from tests.support import STATEMACHINES
from tests.support.events import rest_event
from tests.support.stack import create_bucket, deploy_function, deploy_state_machine, run_execution
from tests.support.templates import render_definition, template_variables

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


def _deploy_iteration(lambdas, bucket_env=BUCKET):
    arn = deploy_function(lambdas, "textloop-health", "health", _env(bucket_env))
    return deploy_state_machine(
        "textloop-iteration",
        "iteration.asl.json",
        {"health_function_arn": arn, "data_lake_bucket": BUCKET},
    )


def test_state_machine_succeeds_and_leaves_a_heartbeat(lambdas):
    create_bucket(BUCKET)
    sm = _deploy_iteration(lambdas)
    result = run_execution(sm, "run-1", {})
    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["health"]["status"] == "ok"
    key = output["health"]["heartbeat_key"]
    assert key == "audit/heartbeats/run-1.json"
    heartbeat = json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert heartbeat["execution_id"].endswith(":run-1")
    assert heartbeat["checks"] == {"data_lake": "ok"}


def test_state_machine_fails_clearly_when_the_data_lake_is_missing(lambdas):
    sm = _deploy_iteration(lambdas, bucket_env="no-such-bucket")
    result = run_execution(sm, "run-2", {})
    assert result["status"] == "FAILED"
    assert result.get("error") == "Textloop.Unhealthy"


def test_direct_invocation_rejects_a_malformed_event(lambdas):
    create_bucket(BUCKET)
    deploy_function(lambdas, "textloop-health", "health", _env())
    out = boto3.client("lambda").invoke(
        FunctionName="textloop-health", Payload=json.dumps({"execution": 1})
    )
    error = json.loads(out["Payload"].read())
    assert "FunctionError" in out
    assert error["errorType"] == "ValueError"
    assert "execution_id" in error["errorMessage"]
    assert "'execution': 1" not in error["errorMessage"]


def test_templates_name_only_variables_terraform_passes():
    # The Terraform module passes exactly these; a new ${...} in the ASL must be wired there too.
    assert template_variables(STATEMACHINES / "iteration.asl.json") <= {
        "health_function_arn",
        "data_lake_bucket",
    }
    with pytest.raises(KeyError, match="health_function_arn"):
        render_definition(STATEMACHINES / "iteration.asl.json", {})
