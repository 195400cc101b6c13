"""The deployment itself: API key enforcement, the health route, a hardened bucket, logs."""

import json
import time

import requests


def test_health_without_api_key_is_forbidden(stack):
    response = requests.get(f"{stack['api_url']}health", timeout=30)
    assert response.status_code == 403


def test_health_with_a_wrong_api_key_is_forbidden(stack):
    response = requests.get(
        f"{stack['api_url']}health", headers={"x-api-key": "not-the-key"}, timeout=30
    )
    assert response.status_code == 403


def test_health_with_the_api_key_answers_from_the_lambda(stack):
    response = requests.get(
        f"{stack['api_url']}health", headers={"x-api-key": stack["api_key"]}, timeout=60
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"data_lake": "ok"}
    assert body["data_lake_bucket"] == stack["data_lake_bucket"]


def test_data_lake_bucket_is_hardened(stack, aws_client):
    s3 = aws_client("s3")
    bucket = stack["data_lake_bucket"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    denies_plain_http = [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert denies_plain_http


def test_lambda_logs_reach_cloudwatch(stack, aws_client):
    requests.get(f"{stack['api_url']}health", headers={"x-api-key": stack["api_key"]}, timeout=60)
    logs = aws_client("logs")
    group = f"/aws/lambda/{stack['health_function_name']}"
    deadline = time.monotonic() + 30
    messages = []
    while time.monotonic() < deadline and not messages:
        events = logs.filter_log_events(logGroupName=group).get("events", [])
        messages = [e["message"] for e in events if '"correlation_id"' in e["message"]]
        time.sleep(1)
    assert messages, f"no structured powertools log lines in {group}"
    assert json.loads(messages[-1])["service"] == "textloop"
