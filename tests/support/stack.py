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
