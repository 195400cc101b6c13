"""Client applications on LocalStack: each has its own API key and usage plan, the functions know
which application called from the key API Gateway checked, and each may upload only under its
own prefix (tests/conftest.py names the session's applications)."""

import json
import time

import pytest

from tests.support.client_api import FEEDBACK, post


@pytest.mark.parametrize("path", ["classify", "feedback"])
@pytest.mark.parametrize("key", [None, "not-a-key-of-this-stack"])
def test_client_routes_refuse_requests_without_a_valid_key(stack, path, key):
    body = {"text": "hello"} if path == "classify" else FEEDBACK
    assert post(stack, path, body, key).status_code == 403


def test_every_application_has_its_own_key_and_usage_plan(stack, aws_client):
    apps = stack["client_applications"]
    assert set(apps) == {"demo", "partner", "support-desk", "e2e-desk"}
    assert stack["api_key"] == stack["api_keys"]["demo"]
    assert len(set(stack["api_keys"].values())) == len(apps)
    apigateway = aws_client("apigateway")
    for app_id, app in apps.items():
        keys = apigateway.get_usage_plan_keys(usagePlanId=app["usage_plan_id"])["items"]
        assert [k["id"] for k in keys] == [app["api_key_id"]], app_id
    partner = apigateway.get_usage_plan(usagePlanId=apps["partner"]["usage_plan_id"])
    assert partner["quota"]["limit"] == 5000
    assert apps["support-desk"]["trusted"] is True and apps["partner"]["trusted"] is False


def test_each_upload_role_may_write_only_under_its_own_prefixes(stack, aws_client):
    iam = aws_client("iam")
    bucket_arn = f"arn:aws:s3:::{stack['data_lake_bucket']}"
    for app_id, app in stack["client_applications"].items():
        assert app["upload_prefixes"] == [
            f"uploads/feedback/DOCUMENT_CLASSIFIER/{app_id}/",
            f"uploads/feedback/ENTITY_RECOGNIZER/{app_id}/",
        ]
        role_name = app["upload_role_arn"].rsplit("/", 1)[1]
        policy = iam.get_role_policy(RoleName=role_name, PolicyName="own-upload-prefix")
        document = policy["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        statements = {s["Sid"]: s for s in document["Statement"]}
        put = statements["PutOwnUploads"]
        assert put["Effect"] == "Allow" and put["Action"] == "s3:PutObject"
        assert sorted(put["Resource"]) == sorted(
            f"{bucket_arn}/{prefix}*" for prefix in app["upload_prefixes"]
        )
        writes = [
            s
            for s in document["Statement"]
            if any(a.startswith("s3:Put") for a in _actions(s)) and s["Sid"] != "PutOwnUploads"
        ]
        assert writes == []


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_an_upload_under_an_unknown_application_is_refused_with_a_reason(stack, aws_client):
    bucket = stack["data_lake_bucket"]
    key = "uploads/feedback/DOCUMENT_CLASSIFIER/stranger/corrections.jsonl"
    s3 = aws_client("s3")
    line = json.dumps({"text": "Oil prices rose again.", "corrected_labels": ["Business"]})
    s3.put_object(Bucket=bucket, Key=key, Body=line.encode())
    errors_key = (
        "uploads/errors/feedback/DOCUMENT_CLASSIFIER/stranger/corrections.jsonl.errors.json"
    )
    deadline = time.monotonic() + 120
    report = None
    while time.monotonic() < deadline and report is None:
        try:
            report = json.loads(s3.get_object(Bucket=bucket, Key=errors_key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            time.sleep(2)
    assert report is not None, "the S3 notification never ran the batch-feedback function"
    assert report["status"] == "failed" and report["accepted"] == 0
    assert "not a client application" in report["file_errors"][0]["errors"][0]["message"]
