"""Amazon Augmented AI (A2I) human loops for review batches.

The human-loop name is the batch id (``selection.batch_id`` makes ids that satisfy
``^[a-z0-9](-*[a-z0-9])*$`` and 63 characters). StartHumanLoop answers ``ConflictException`` for
a name that exists: a retried step finds its loop already started.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.domain.errors import ReviewInputTooLarge
from textloop.domain.reviews import A2I_MAX_INPUT_CHARS

HUMAN_LOOP_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")


class HumanLoops:
    def __init__(self, a2i_runtime_client: Any):
        self.client = a2i_runtime_client

    def start(self, name: str, flow_definition_arn: str, input_content: str) -> dict[str, Any]:
        if len(name) > 63 or not HUMAN_LOOP_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid human-loop name")
        if len(input_content) > A2I_MAX_INPUT_CHARS:
            raise ReviewInputTooLarge(
                f"review batch {name} is {len(input_content)} characters of A2I input; the limit "
                f"is {A2I_MAX_INPUT_CHARS}. Lower review_batch_size so each batch fits."
            )
        try:
            response = self.client.start_human_loop(
                HumanLoopName=name,
                FlowDefinitionArn=flow_definition_arn,
                HumanLoopInput={"InputContent": input_content},
            )
        except ClientError as exc:
            if error_code(exc) == "ConflictException":
                return {"human_loop_name": name, "started": False}
            raise
        return {"human_loop_name": name, "started": True, "arn": response.get("HumanLoopArn")}


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise ValueError(f"not an S3 object URI: {uri!r}")
    return bucket, key
