"""Each deployed function's role allows exactly the AWS calls its code makes.

Runs last (tests/conftest.py orders it): by then the integration and browser tests have driven
every route, a full iteration, reviews, approvals, rollback and batch uploads through the
deployed stack, and the host Lambda executor has recorded each function's AWS calls. The roles
are read back from LocalStack's IAM as Terraform applied them.

* Every recorded call is allowed by its function's role (what AWS would otherwise deny).
* Every action a role allows for the code was used by that function in this session, unless
  listed in ``NOT_DRIVEN`` with the reason this suite cannot drive it.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tests.conftest import EXISTING_STACK
from tests.support.iam import Need, UnknownOperation, allows, required, statement_matches

ACCOUNT = "000000000000"  # LocalStack's default account

# Statements the Lambda service uses on the function's behalf (logs, traces, the DLQ, the
# environment's key), not calls of the code (terraform/modules/lambda_function).
# Used by Lambda itself with the function's role, not by our code: logs, traces, the DLQ, the
# function key, and the SQS event source mapping's poller (ReceiveFeedback: write_feedback).
RUNTIME_SIDS = {
    "WriteOwnLogs",
    "XRayWrite",
    "SendToDeadLetterQueue",
    "UseFunctionKey",
    "ReceiveFeedback",
}

# Functions this suite cannot invoke, and why (their calls are driven in the unit suite).
NOT_DRIVEN_FUNCTIONS = {
    "a2i_callback": "A2I is not in LocalStack's free edition; tests/unit drives it with Stubber",
}
# (function key, action) allowed by a role but not exercised here, and why (with the unit test
# that drives the call with moto, where there is one).
_EXPIRY = (
    "a review batch expires unanswered (test_unanswered_review_times_out_and_its_items_come_back)"
)
_WITHDRAWN = (
    "an answer stored as the wait ended is withdrawn "
    "(test_answers_stored_as_the_wait_ends_are_withdrawn_unless_it_still_runs)"
)
_CONTENDED = (
    "another execution holds the lock "
    "(test_second_iteration_is_refused_while_the_first_waits_and_duplicates_change_nothing)"
)
NOT_DRIVEN: dict[tuple[str, str], str] = {
    ("iterations", "dynamodb:DeleteItem"): "StartExecution fails after the lock was taken "
    "(not driven anywhere: neither moto nor LocalStack fails it on demand)",
    ("prepare", "dynamodb:GetItem"): _CONTENDED,
    ("prepare", "states:DescribeExecution"): _CONTENDED,
    ("reviews", "s3:DeleteObject"): _WITHDRAWN,
    ("approvals", "s3:DeleteObject"): _WITHDRAWN,
    ("return_to_pool", "s3:GetObject"): _EXPIRY,
    ("return_to_pool", "s3:PutObject"): _EXPIRY,
    ("return_to_pool", "s3:ListBucket"): _EXPIRY,
    ("batch_feedback", "s3:GetObject"): "an S3 event without a versionId (re-driven by hand); "
    "the data lake is versioned, so S3 sends one",
}


def _with_list_for_reads(needs):
    """The function's needs plus s3:ListBucket on each bucket it reads objects from: without
    it S3 answers a missing key with 403 instead of 404, and the code relies on the 404 (an
    absent object is ``None``, not an error)."""
    needs = set(needs)
    for need in list(needs):
        if need.action in ("s3:GetObject", "s3:GetObjectVersion"):
            bucket = need.resource.split("/", 1)[0]
            needs.add(Need("s3:ListBucket", bucket))
    return needs


def _function_policies(stack, aws_client) -> dict[str, list[dict]]:
    lam, iam = aws_client("lambda"), aws_client("iam")
    policies: dict[str, list[dict]] = {}
    for key, name in stack["function_names"].items():
        role = lam.get_function_configuration(FunctionName=name)["Role"].rsplit("/", 1)[-1]
        statements: list[dict] = []
        for policy_name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
            if isinstance(document, str):
                document = json.loads(document)
            listed = document["Statement"]
            statements += [listed] if isinstance(listed, dict) else listed
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)
            listed = document["PolicyVersion"]["Document"]["Statement"]
            statements += [listed] if isinstance(listed, dict) else listed
        policies[key] = statements
    return policies


@pytest.fixture(scope="module")
def observed(stack, aws_client, aws_call_log):
    if EXISTING_STACK:
        pytest.skip("a reused stack (TEXTLOOP_TEST_STATE_DIR) records no AWS calls")
    kms = aws_client("kms")
    keys: dict[str, str] = {}

    def resolve_kms_key(key_id: str) -> str:
        if key_id not in keys:
            keys[key_id] = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        return keys[key_id]

    by_name = {name: key for key, name in stack["function_names"].items()}
    needs: dict[str, set[Need]] = defaultdict(set)
    unknown = []
    for line in aws_call_log.read_text().splitlines():
        call = json.loads(line)
        key = by_name.get(call["function"])
        if key is None:
            continue  # a function of another stack in this LocalStack
        try:
            needs[key].update(required(call, account=ACCOUNT, resolve_kms_key=resolve_kms_key))
        except UnknownOperation as exc:
            unknown.append(f"{key}: {exc}")
    assert not unknown, "calls tests/support/iam.py cannot map to IAM:\n" + "\n".join(unknown)
    return needs, _function_policies(stack, aws_client)


def test_the_suite_recorded_calls_of_the_loop_and_the_apis(observed):
    needs, _ = observed
    # A recorder that silently stopped would make the two checks below pass vacuously.
    for key in (
        "classify",
        "feedback",
        "write_feedback",
        "prepare",
        "merge_answers",
        "promote_candidate",
        "reviews",
    ):
        assert needs.get(key), f"no AWS calls recorded for {key}"


def test_every_call_a_function_made_is_allowed_by_its_role(observed):
    needs, policies = observed
    denied = sorted(
        f"{key}: {need.action} on {need.resource}"
        for key, function_needs in needs.items()
        for need in function_needs
        if not allows(policies[key], need)
    )
    assert not denied, "AWS would deny these calls:\n" + "\n".join(denied)


def test_every_action_a_role_allows_was_used_by_its_function(observed):
    needs, policies = observed
    unused = []
    for key, statements in policies.items():
        for statement in statements:
            if statement.get("Effect") != "Allow" or statement.get("Sid") in RUNTIME_SIDS:
                continue
            if key in NOT_DRIVEN_FUNCTIONS:
                continue
            if "kms:ViaService" in json.dumps(statement.get("Condition", {})):
                continue  # S3 or SNS uses the key for the function; the code never calls KMS
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                used = any(
                    need.action.lower() == action.lower()
                    and statement_matches({**statement, "Action": action}, need)
                    for need in _with_list_for_reads(needs.get(key, ()))
                )
                if not used and (key, action) not in NOT_DRIVEN:
                    unused.append(f"{key}: {statement.get('Sid')} {action}")
    assert not unused, "allowed but never used (drop them, or drive them here):\n" + "\n".join(
        sorted(unused)
    )
