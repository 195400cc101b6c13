"""Least privilege, checked: the AWS calls a function made against what its IAM role allows.

The host Lambda executor records every AWS API call a deployed function makes (service,
operation and the parameters naming its resource; ``runtime_bootstrap._record_aws_calls``).
``required`` turns a call into the IAM actions and resource ARNs AWS would authorise it
against; ``allows`` evaluates a role's policy statements for one of them.

Written by hand, on purpose small: moto's IAM enforcement authorises most non-S3 calls against
resource ``*`` (so any resource-scoped statement denies) and LocalStack's enforcement is not in
its free edition. The operation → action table covers the operations textloop's code makes; an
operation missing from it fails the check (``UnknownOperation``) instead of passing silently.
Conditions are not evaluated: the ones textloop's roles use (``kms:ViaService``) only narrow
service-mediated KMS use, which a function never calls itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote, urlparse


class UnknownOperation(LookupError):
    """A recorded call whose IAM action or resource this module does not know."""


@dataclass(frozen=True)
class Need:
    """One IAM authorisation a call needs: ``action`` on ``resource``."""

    action: str
    resource: str


# S3 operations whose IAM action is not their own name (Service Authorization Reference,
# "Actions defined by Amazon S3"); ``None``: the bucket, else the object.
_S3 = {
    "GetObject": ("s3:GetObject", "object"),
    "HeadObject": ("s3:GetObject", "object"),
    "PutObject": ("s3:PutObject", "object"),
    "CreateMultipartUpload": ("s3:PutObject", "object"),
    "UploadPart": ("s3:PutObject", "object"),
    "CompleteMultipartUpload": ("s3:PutObject", "object"),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", "object"),
    "DeleteObject": ("s3:DeleteObject", "object"),
    "GetObjectTagging": ("s3:GetObjectTagging", "object"),
    "PutObjectTagging": ("s3:PutObjectTagging", "object"),
    "ListObjects": ("s3:ListBucket", "bucket"),
    "ListObjectsV2": ("s3:ListBucket", "bucket"),
    "ListObjectVersions": ("s3:ListBucketVersions", "bucket"),
    "HeadBucket": ("s3:ListBucket", "bucket"),
    "GetBucketLocation": ("s3:GetBucketLocation", "bucket"),
}

# Operations that name no resource in IAM (the action supports only "*").
_NO_RESOURCE = {
    ("states", "SendTaskSuccess"),
    ("states", "SendTaskFailure"),
    ("states", "SendTaskHeartbeat"),
    ("sts", "GetCallerIdentity"),
    ("cloudwatch", "PutMetricData"),
    ("xray", "PutTraceSegments"),
    ("comprehend", "ListDocumentClassifiers"),
    ("comprehend", "ListEntityRecognizers"),
}

# service -> (resource parameter, ARN template); {v} is the parameter's value.
_ARN_PARAMS: dict[str, tuple[str, str]] = {
    "dynamodb": ("TableName", "arn:{p}:dynamodb:{r}:{a}:table/{v}"),
    "sns": ("TopicArn", "{v}"),
    "firehose": ("DeliveryStreamName", "arn:{p}:firehose:{r}:{a}:deliverystream/{v}"),
    "lambda": ("FunctionName", "arn:{p}:lambda:{r}:{a}:function:{v}"),
}

_STATES_PARAMS = ("executionArn", "stateMachineArn")


def required(
    call: dict[str, Any],
    *,
    account: str,
    partition: str = "aws",
    resolve_kms_key: Callable[[str], str] | None = None,
) -> list[Need]:
    """The authorisations AWS checks for one recorded call."""
    service, operation = call["service"], call["operation"]
    params = call.get("params") or {}
    prefix = call.get("iam_prefix") or service
    prefix = {"monitoring": "cloudwatch"}.get(prefix, prefix)  # signing name ≠ IAM prefix
    region = call.get("region") or "us-east-1"
    fmt = {"p": partition, "r": region, "a": account}
    if (prefix, operation) in _NO_RESOURCE:
        return [Need(f"{prefix}:{operation}", "*")]
    if service == "s3":
        if operation == "CopyObject":
            source = unquote(str(params["CopySource"]).split("?", 1)[0]).lstrip("/")
            return [
                Need("s3:GetObject", f"arn:{partition}:s3:::{source}"),
                Need("s3:PutObject", f"arn:{partition}:s3:::{params['Bucket']}/{params['Key']}"),
            ]
        if operation not in _S3:
            raise UnknownOperation(f"s3:{operation}")
        action, kind = _S3[operation]
        if action == "s3:GetObject" and params.get("VersionId"):
            action = "s3:GetObjectVersion"
        bucket = f"arn:{partition}:s3:::{params['Bucket']}"
        return [Need(action, bucket if kind == "bucket" else f"{bucket}/{params['Key']}")]
    if service == "ssm":
        name = params.get("Name") or params.get("Path")
        if name is None:
            raise UnknownOperation(f"ssm:{operation} without Name")
        path = name if name.startswith("/") else f"/{name}"
        return [
            Need(f"ssm:{operation}", "arn:{p}:ssm:{r}:{a}:parameter{path}".format(**fmt, path=path))
        ]
    if service == "stepfunctions":
        for key in _STATES_PARAMS:
            if key in params:
                return [Need(f"states:{operation}", params[key])]
        raise UnknownOperation(f"states:{operation}")
    if service == "kms":
        key = params.get("KeyId")
        if key is None:
            raise UnknownOperation(f"kms:{operation} without KeyId")
        if not key.startswith("arn:"):
            if resolve_kms_key is None:
                raise UnknownOperation(f"kms:{operation} names key {key!r}; pass resolve_kms_key")
            key = resolve_kms_key(key)
        return [Need(f"kms:{operation}", key)]
    if service == "sqs":
        url = params.get("QueueUrl")
        if url is None:
            raise UnknownOperation(f"sqs:{operation} without QueueUrl")
        owner, name = urlparse(url).path.strip("/").split("/")[-2:]
        return [Need(f"sqs:{operation}", f"arn:{partition}:sqs:{region}:{owner}:{name}")]
    if service in _ARN_PARAMS:
        param, template = _ARN_PARAMS[service]
        value = params.get(param)
        if value is None:
            raise UnknownOperation(f"{prefix}:{operation} without {param}")
        if value.startswith("arn:"):
            return [Need(f"{prefix}:{operation}", value)]
        return [Need(f"{prefix}:{operation}", template.format(**fmt, v=value))]
    raise UnknownOperation(f"{prefix}:{operation}")


@cache
def _pattern(glob: str, *, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: * any run of characters (across ':' and '/'), ? one character.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def _listed(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def statement_matches(statement: dict[str, Any], need: Need) -> bool:
    """Does this statement (Allow or Deny) apply to ``need``? Conditions are not evaluated."""
    actions = _listed(statement.get("Action"))
    if "NotAction" in statement:
        if any(
            _pattern(a, ignore_case=True).fullmatch(need.action)
            for a in _listed(statement["NotAction"])
        ):
            return False
    elif not any(_pattern(a, ignore_case=True).fullmatch(need.action) for a in actions):
        return False
    if "NotResource" in statement:
        return not any(
            _pattern(r, ignore_case=False).fullmatch(need.resource)
            for r in _listed(statement["NotResource"])
        )
    return any(
        _pattern(r, ignore_case=False).fullmatch(need.resource)
        for r in _listed(statement.get("Resource"))
    )


def allows(statements: Iterable[dict[str, Any]], need: Need) -> bool:
    """IAM's evaluation for one identity policy: an explicit Deny wins, else any Allow."""
    matching = [s for s in statements if statement_matches(s, need)]
    if any(s.get("Effect") == "Deny" for s in matching):
        return False
    return any(s.get("Effect") == "Allow" for s in matching)


def statement_actions(statement: dict[str, Any]) -> list[str]:
    return _listed(statement.get("Action"))
