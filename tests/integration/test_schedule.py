"""The EventBridge schedule starts a real iteration on LocalStack, and its audit record says so.

The session's stack carries a schedule rule and target per model type exactly as Terraform makes
them, from ``iteration_schedules`` with ``rate(1 minute)`` and ``enabled = false``
(tests/conftest.py): an armed rule would start iterations that take the per-model lock while the
other tests start theirs. This test enables the classifier's rule, waits for the iteration it
starts, and disarms it again; the recogniser's rule is checked as deployed (its own input). It
runs first in the session (tests/integration/conftest.py), so the data lake is empty and the
scheduled iteration is a recorded no-op: the rule fired, the target's input passed Prepare, the
lock was freed, and the audit record names the schedule as what started the iteration.

LocalStack (2026.3) runs schedule rules from one loop that wakes about every 60 s, and arms a
rule's job only when targets are put on an enabled rule; it ignores EnableRule/DisableRule
afterwards. So the test re-puts the rule's own target (unchanged) after enabling it, and removes
it at the end: that is what stops LocalStack firing. On AWS, EnableRule alone would do.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import SCHEDULE_EXPRESSION

# LocalStack's schedule loop wakes every ~60 s; an iteration that ends as a no-op takes seconds.
FIRST_RUN_TIMEOUT = 90
ITERATION_TIMEOUT = 90


def _rule_name(stack: dict, short: str = "doc") -> str:
    # terraform/modules/textloop/loop.tf: "${local.name}-iteration-schedule-<doc|ner>"
    return stack["state_machine_arn"].rsplit(":", 1)[-1].removesuffix("-iteration") + (
        f"-iteration-schedule-{short}"
    )


def test_each_model_type_has_its_own_schedule(stack, aws_client):
    events = aws_client("events")
    for short, model_type in (("doc", "DOCUMENT_CLASSIFIER"), ("ner", "ENTITY_RECOGNIZER")):
        rule = events.describe_rule(Name=_rule_name(stack, short))
        assert rule["ScheduleExpression"] == SCHEDULE_EXPRESSION
        assert rule["State"] == "DISABLED"
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"] == stack["state_machine_arn"]
        assert json.loads(target["Input"]) == {"model_type": model_type, "trigger": "schedule"}


@pytest.fixture
def armed_schedule(stack, aws_client):
    events = aws_client("events")
    rule = _rule_name(stack)
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    listed = aws_client("stepfunctions").list_executions(stateMachineArn=stack["state_machine_arn"])
    earlier = {e["executionArn"] for e in listed["executions"]}
    events.enable_rule(Name=rule)
    events.put_targets(Rule=rule, Targets=[target])
    armed_at = time.monotonic()
    try:
        yield {"rule": rule, "target": target, "armed_at": armed_at, "earlier": earlier}
    finally:
        events.disable_rule(Name=rule)
        events.remove_targets(Rule=rule, Ids=[target["Id"]])


def _first_execution(sfn, state_machine_arn: str, earlier: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        executions = [e for e in listed if e["executionArn"] not in earlier]
        if executions:
            return min(executions, key=lambda e: e["startDate"])
        time.sleep(2)
    pytest.fail(f"the schedule rule started no iteration within {timeout} s")


def test_the_schedule_starts_an_iteration_that_ends_audited(stack, aws_client, armed_schedule):
    sfn, s3, events = aws_client("stepfunctions"), aws_client("s3"), aws_client("events")
    rule, target = armed_schedule["rule"], armed_schedule["target"]
    assert events.describe_rule(Name=rule)["ScheduleExpression"] == SCHEDULE_EXPRESSION
    assert target["Arn"] == stack["state_machine_arn"]
    assert json.loads(target["Input"]) == {
        "model_type": "DOCUMENT_CLASSIFIER",
        "trigger": "schedule",
    }

    execution = _first_execution(
        sfn, stack["state_machine_arn"], armed_schedule["earlier"], FIRST_RUN_TIMEOUT
    )
    fired_after = time.monotonic() - armed_schedule["armed_at"]
    deadline = time.monotonic() + ITERATION_TIMEOUT
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(2)
        described = sfn.describe_execution(executionArn=execution["executionArn"])
    ended_after = time.monotonic() - armed_schedule["armed_at"]
    print(f"\nscheduled run started {fired_after:.0f} s after arming, ended at {ended_after:.0f} s")
    assert json.loads(described["input"]) == json.loads(target["Input"])
    assert described["status"] == "SUCCEEDED", described

    output = json.loads(described["output"])
    assert output["iteration"]["trigger"] == "schedule"
    assert output["lock_released"] == {"released": True}
    key = f"audit/iterations/{execution['name']}.json"
    audit = json.loads(s3.get_object(Bucket=stack["data_lake_bucket"], Key=key)["Body"].read())
    assert audit["iteration_id"] == execution["name"]
    assert audit["execution_arn"] == execution["executionArn"]
    assert audit["status"] == "NO_DECISION"
    assert audit["inputs"]["outcome"] == "NO_OP"
    assert audit["inputs"]["trigger"] == "schedule"
    assert audit["inputs"]["new_items"]["count"] == 0
