"""Builds, in moto, the pieces of the stack a unit test needs, named as Terraform names them."""

import io
import json
import zipfile

import boto3


def _role() -> str:
    iam = boto3.client("iam")
    try:
        return iam.get_role(RoleName="textloop-test")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(RoleName="textloop-test", AssumeRolePolicyDocument=json.dumps(trust))
        return role["Role"]["Arn"]


def _placeholder_zip() -> bytes:
    # moto stores the code; InProcessLambdas runs the source under functions/ instead.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "")
    return buf.getvalue()


def deploy_function(lambdas, name: str, source: str, environment: dict[str, str]) -> str:
    lambdas.register(name, source)
    response = boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=_role(),
        Handler="app.handler",
        Code={"ZipFile": _placeholder_zip()},
        Environment={"Variables": environment},
        Timeout=30,
    )
    return response["FunctionArn"]


def create_bucket(name: str) -> str:
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def create_registry_table(name: str) -> str:
    """The registry table as Terraform makes it (keys ``pk``/``sk``, on demand)."""
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def create_feedback_queue(name: str = "textloop-test-feedback") -> str:
    """The intake queue (its URL), as Terraform names it: ``<name>-feedback``."""
    return boto3.client("sqs").create_queue(QueueName=name)["QueueUrl"]


def drain_feedback_queue(function_name: str, queue_url: str, *, batch_size: int = 10) -> list:
    """What Lambda's SQS poller does with ReportBatchItemFailures: receive a batch, invoke the
    consumer with it, delete the messages it did not report as failures. Until the queue is
    empty or only failures are left; returns each invocation's answer."""
    from tests.support.events import sqs_event

    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    answers = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=batch_size,
            MessageSystemAttributeNames=["All"],
            VisibilityTimeout=300,
        ).get("Messages", [])
        if not messages:
            return answers
        out = boto3.client("lambda").invoke(
            FunctionName=function_name, Payload=json.dumps(sqs_event(messages, arn))
        )
        answer = json.loads(out["Payload"].read())
        assert "FunctionError" not in out, answer
        answers.append(answer)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def queued_bodies(queue_url: str) -> list[dict]:
    """The records waiting in the queue (received and made visible again at once)."""
    sqs = boto3.client("sqs")
    bodies, handles = [], []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            break
        bodies += [json.loads(m["Body"]) for m in messages]
        handles += [m["ReceiptHandle"] for m in messages]
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return bodies
