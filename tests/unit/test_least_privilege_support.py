"""The IAM evaluator behind tests/integration/test_least_privilege.py."""

import pytest

from tests.support.iam import Need, UnknownOperation, allows, required

LAKE = "textloop-dev-data-000000000000-us-east-1"


def _call(service, operation, iam_prefix=None, **params):
    return {
        "function": "f",
        "service": service,
        "iam_prefix": iam_prefix or service,
        "operation": operation,
        "region": "us-east-1",
        "params": params,
    }


def _needs(call, **kw):
    return required(call, account="000000000000", **kw)


def test_s3_object_and_bucket_operations_map_to_their_iam_actions():
    assert _needs(_call("s3", "HeadObject", Bucket=LAKE, Key="audit/x.json")) == [
        Need("s3:GetObject", f"arn:aws:s3:::{LAKE}/audit/x.json")
    ]
    assert _needs(_call("s3", "ListObjectsV2", Bucket=LAKE, Prefix="feedback/")) == [
        Need("s3:ListBucket", f"arn:aws:s3:::{LAKE}")
    ]
    assert _needs(_call("s3", "GetObject", Bucket=LAKE, Key="k", VersionId="v1")) == [
        Need("s3:GetObjectVersion", f"arn:aws:s3:::{LAKE}/k")
    ]


def test_copy_object_needs_read_on_the_source_and_write_on_the_target():
    call = _call("s3", "CopyObject", Bucket=LAKE, Key="b/1", CopySource=f"{LAKE}/a%201?versionId=9")
    assert _needs(call) == [
        Need("s3:GetObject", f"arn:aws:s3:::{LAKE}/a 1"),
        Need("s3:PutObject", f"arn:aws:s3:::{LAKE}/b/1"),
    ]


def test_arns_of_other_services():
    assert _needs(_call("ssm", "GetParameter", Name="/textloop-dev/active-model/x")) == [
        Need(
            "ssm:GetParameter",
            "arn:aws:ssm:us-east-1:000000000000:parameter/textloop-dev/active-model/x",
        )
    ]
    assert _needs(_call("dynamodb", "GetItem", TableName="t")) == [
        Need("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:000000000000:table/t")
    ]
    assert _needs(_call("stepfunctions", "SendTaskSuccess", iam_prefix="states")) == [
        Need("states:SendTaskSuccess", "*")
    ]
    key = "arn:aws:kms:us-east-1:000000000000:key/1234"
    assert _needs(
        _call("kms", "GetPublicKey", KeyId="alias/x"), resolve_kms_key={"alias/x": key}.get
    ) == [Need("kms:GetPublicKey", key)]


def test_an_operation_without_a_mapping_fails_instead_of_passing():
    with pytest.raises(UnknownOperation):
        _needs(_call("s3", "PutBucketPolicy", Bucket=LAKE))
    with pytest.raises(UnknownOperation):
        _needs(_call("glue", "GetTable", Name="t"))


def test_allows_matches_resources_with_wildcards_and_lets_deny_win():
    statements = [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{LAKE}/reviews/*"],
        },
        {"Effect": "Allow", "Action": "s3:Put*", "Resource": f"arn:aws:s3:::{LAKE}/audit/*"},
        {
            "Effect": "Deny",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{LAKE}/audit/locked/*",
        },
    ]
    assert allows(statements, Need("s3:GetObject", f"arn:aws:s3:::{LAKE}/reviews/a/b.json"))
    assert not allows(statements, Need("s3:GetObject", f"arn:aws:s3:::{LAKE}/feedback/a.json"))
    assert not allows(statements, Need("s3:PutObject", f"arn:aws:s3:::{LAKE}/reviews/a.json"))
    assert allows(statements, Need("S3:putobject", f"arn:aws:s3:::{LAKE}/audit/x"))
    assert not allows(statements, Need("s3:PutObject", f"arn:aws:s3:::{LAKE}/audit/locked/x"))
    # A bucket statement does not cover its objects, nor the reverse.
    bucket_only = [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{LAKE}"}
    ]
    assert not allows(bucket_only, Need("s3:ListBucket", f"arn:aws:s3:::{LAKE}/x"))
