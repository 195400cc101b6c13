"""The AWS resources textloop creates at run time (Comprehend model versions, endpoints,
flywheels and their data sets, batch jobs) and the tags that tie each one to its stack.

Terraform tags what it creates itself; these resources appear later, made by the loop's
Lambdas, so Terraform neither knows nor destroys them. The tags let ``textloop resources`` find
every one of them by stack (listing, pruning old versions, removal before ``terraform
destroy``) and let the bill be split by stack and model type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

STACK_TAG = "textloop:stack"
MODEL_TYPE_TAG = "textloop:model-type"
# The tag value when a deployment names no stack (unit tests, a hand-run function).
DEFAULT_STACK = "textloop"


def run_time_tags(stack: str, model_type: str) -> list[dict[str, str]]:
    """The ``Tags`` parameter of a Comprehend create/start call: ``[{"Key", "Value"}]``."""
    return [
        {"Key": STACK_TAG, "Value": stack},
        {"Key": MODEL_TYPE_TAG, "Value": str(model_type)},
    ]


def tags_parameter(tags: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """The ``Tags`` keyword of a create/start call, or no keyword at all when there are no tags
    (a caller that names none sends what it sent before tags existed)."""
    return {"Tags": [dict(tag) for tag in tags]} if tags else {}
