"""AWS's own published examples of what Comprehend, A2I and EventBridge answer or write, the only
shapes the tests hand to textloop's code where it reads an AWS response, event or file.

Each example is one JSON file under ``tests/fixtures/aws/`` (``<service>/<cli-command>.json`` for
API responses, ``files/<name>.json`` for events and files) holding the published ``body``
verbatim, the ``source`` URL it was copied from, the ``example`` on that page, and a
``page_note`` where the page itself had to be read (a missing quote, a member name given on
another page). Comprehend's bodies are the "Output::" blocks of the AWS CLI example pages,
which the aws/aws-cli repository keeps as ``awscli/examples/comprehend/<command>.rst``.

A test takes an example and changes only what must match its own requests (ids, ARNs, names,
texts, statuses, scores): ``response(name, **changes)`` merges the changes into a copy of the
body, turns its timestamps into datetimes (what botocore hands the code) and validates the
result against botocore's output shape of the operation, as botocore's Stubber does for
``add_response``. ``tests/unit/test_aws_examples.py`` checks every example, unchanged, against
its operation's output shape (or, for events and files, against the code that reads them) and
that each names its source.
"""

from __future__ import annotations

import copy
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore.utils import parse_timestamp
from botocore.validate import ParamValidator

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "aws"
# Drops a key from a published body (a field the test's situation does not have).
DROP = object()

# A flywheel iteration that has not ended has none of describe-flywheel-iteration's results
# (the published example is a COMPLETED one): the fields to DROP from it.
FLYWHEEL_ITERATION_NOT_ENDED = {
    key: DROP
    for key in (
        "EndTime",
        "Message",
        "EvaluatedModelArn",
        "EvaluatedModelMetrics",
        "TrainedModelArn",
        "TrainedModelMetrics",
        "EvaluationManifestS3Prefix",
    )
}


@dataclass(frozen=True)
class Example:
    name: str  # "<service>/<command>" or "files/<name>"
    source: str
    example: str
    page_note: str
    body: Any
    service: str | None = None
    operation: str | None = None
    member: str | None = None  # the file inside an output.tar.gz

    def copy(self) -> Any:
        return copy.deepcopy(self.body)


@cache
def examples() -> dict[str, Example]:
    found = {}
    for path in sorted(ROOT.rglob("*.json")):
        doc = json.loads(path.read_text())
        name = path.relative_to(ROOT).with_suffix("").as_posix()
        found[name] = Example(
            name=name,
            source=doc["source"],
            example=doc.get("example", ""),
            page_note=doc.get("page_note", ""),
            body=doc["body"],
            service=doc.get("service"),
            operation=doc.get("operation"),
            member=doc.get("member"),
        )
    return found


def example(name: str) -> Example:
    return examples()[name]


@cache
def _service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


def output_shape(service: str, operation: str):
    return _service_model(service).operation_model(operation).output_shape


def validate_response(service: str, operation: str, body: Mapping[str, Any]) -> None:
    """Raise AssertionError unless ``body`` fits the operation's output shape in botocore's
    service model: the check Stubber.add_response makes, for responses a test hands over
    some other way (a fake, a recorded file)."""
    shape = output_shape(service, operation)
    body = {k: v for k, v in body.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, shape)
    if report.has_errors():
        raise AssertionError(f"{service} {operation} response: {report.generate_report()}")


def _merge(base: Any, changes: Mapping[str, Any]) -> Any:
    for key, value in changes.items():
        if value is DROP:
            base.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _timestamps(value: Any, shape) -> Any:
    """The body with its timestamp members parsed, as botocore's parser hands them to code."""
    if shape is None or value is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        return {
            k: _timestamps(v, shape.members.get(k)) if k in shape.members else v
            for k, v in value.items()
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [_timestamps(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _timestamps(v, shape.value) for k, v in value.items()}
    if shape.type_name == "timestamp" and isinstance(value, str):
        return parse_timestamp(value)
    return value


def response(name: str, /, **changes: Any) -> dict[str, Any]:
    """The published response ``name`` (e.g. "comprehend/describe-entity-recognizer") with
    ``changes`` merged in (nested dicts merge, other values replace, ``DROP`` removes),
    timestamps as datetimes, validated against the operation's output shape."""
    ex = example(name)
    if ex.service is None or ex.operation is None:
        raise ValueError(f"{name} is not an API response")
    body = _timestamps(_merge(ex.copy(), changes), output_shape(ex.service, ex.operation))
    validate_response(ex.service, ex.operation, body)
    return body


def properties(name: str, /, **changes: Any) -> dict[str, Any]:
    """The one member of a Describe/List example's wrapper (``...Properties``, or the first
    item of ``...PropertiesList``) with ``changes``: what a list of versions is made of."""
    body = response(name)
    (wrapper,) = body.values()
    item = wrapper[0] if isinstance(wrapper, list) else wrapper
    return _merge(item, changes)


# --------------------------------------------------------------------------- Comprehend's jobs


def classification_output_record(
    line: int | str,
    classes: Iterable[tuple[str, float]],
    *,
    file: str = "file1.txt",
    key: str = "Classes",
) -> dict[str, Any]:
    """One line of a classification job's output (outputs-class-async): the published record
    with the test's line number and (name, score) pairs; ``key="Labels"`` for multi-label."""
    record = example("files/classification-job-output").copy()[0]
    record.pop("Classes")
    record.update({"File": file, "Line": str(line)})
    record[key] = [{"Name": name, "Score": score} for name, score in classes]
    return record


def entity_output_record(
    line: int,
    text: str,
    spans: Iterable[tuple[int, int, str, float]],
    *,
    file: str = "SampleFeedback1.txt",
) -> dict[str, Any]:
    """One line of an entities detection job's output (output.txt of the CLI's custom
    recogniser example): the test's line, and its spans (begin, end, type, score) over
    ``text`` (EndOffset is exclusive there: "AnyPhone" is 17-25)."""
    record = example("files/entities-job-output").copy()[0]
    template = record["Entities"][0]
    record.update({"File": file, "Line": line})
    record["Entities"] = [
        {**template, "BeginOffset": b, "EndOffset": e, "Score": s, "Text": text[b:e], "Type": t}
        for b, e, t, s in spans
    ]
    return record


def output_archive(records: Iterable[Mapping[str, Any] | str], member: str) -> bytes:
    """An output.tar.gz as the job writes it: ``member`` holding one JSON record per line
    (``predictions.jsonl`` for classification jobs, ``output.txt`` for entities detection)."""
    body = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


CLASSIFICATION_MEMBER = "predictions.jsonl"
ENTITIES_MEMBER = "output.txt"


# --------------------------------------------------------------------------- A2I


def human_answer(answer_content: Any, *, worker_id: Any = None) -> dict[str, Any]:
    """One ``humanAnswers`` item of the published custom-task output.json, with this worker
    template's ``answerContent`` (and, if given, another ``workerId``)."""
    (human,) = example("files/a2i-output-custom-task").copy()["humanAnswers"]
    human["answerContent"] = answer_content
    if worker_id is not None:
        human["workerId"] = worker_id
    return human


def a2i_output(
    *humans: Mapping[str, Any], loop: str, flow_definition_arn: str, input_content: Any
) -> dict[str, Any]:
    """A human loop's output.json (a2i-output-data.html, custom task types): the loop's name,
    its flow definition, the InputContent it was started with (a JSON object there) and the
    workers' answers."""
    output = example("files/a2i-output-custom-task").copy()
    output.update(
        {
            "flowDefinitionArn": flow_definition_arn,
            "humanLoopName": loop,
            "inputContent": input_content,
            "humanAnswers": [dict(h) for h in humans],
        }
    )
    return output


def answers_field(answers: Any) -> dict[str, str]:
    """The classifier templates' answerContent: a crowd-form submits its fields as strings (the
    published custom-task answer is {"transcription": "<text>"}); the templates put the
    answers list, as JSON, in their hidden ``answers`` field."""
    return {"answers": json.dumps(answers, separators=(",", ":"))}


def entity_annotation(entities: Any, element: str = "crowd-entity-annotation") -> dict[str, Any]:
    """answerContent of a crowd-entity-annotation element named ``element`` (the published
    "Sample Element Outputs", keyed by the element's name)."""
    (published,) = example("files/crowd-entity-annotation-output").copy().values()
    published["entities"] = entities
    return {element: published}


def a2i_status_change(
    loop: str,
    status: str = "Completed",
    *,
    flow_definition_arn: str,
    output_uri: str | None = None,
    region: str = "us-east-1",
    account: str = "123456789012",
) -> dict[str, Any]:
    """The published "SageMaker A2I HumanLoop Status Change" event for the test's loop:
    ``output_uri=None`` leaves out humanLoopOutput (a loop that ended without output)."""
    event = example("files/a2i-humanloop-status-change").copy()
    loop_arn = f"arn:aws:sagemaker:{region}:{account}:human-loop/{loop}"
    event.update({"account": account, "region": region, "resources": [loop_arn]})
    detail = event["detail"]
    detail.update(
        {
            "flowDefinitionArn": flow_definition_arn,
            "humanLoopArn": loop_arn,
            "humanLoopName": loop,
            "humanLoopStatus": status,
        }
    )
    if output_uri is None:
        detail.pop("humanLoopOutput")
    else:
        detail["humanLoopOutput"] = {"outputS3Uri": output_uri}
    return event


# --------------------------------------------------------------------------- requests


def request_problems(shape, value: Any, path: str = "") -> list[str]:
    """Where ``value`` breaks the constraints botocore's model states but its client-side
    validation does not check (string patterns, maximum lengths and sizes): AWS refuses such
    a request with a ValidationException, a Stubber does not."""
    import regex  # the model's patterns use \p{L} classes, which re does not know

    problems: list[str] = []
    meta = shape.metadata
    if shape.type_name == "structure" and isinstance(value, Mapping):
        for key, item in value.items():
            if key in shape.members:
                problems += request_problems(shape.members[key], item, f"{path}.{key}".lstrip("."))
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} items, at most {meta['max']}")
        for i, item in enumerate(value):
            problems += request_problems(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            problems += request_problems(shape.key, key, f"{path} key")
            problems += request_problems(shape.value, item, f"{path}.{key}")
    elif shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} characters, at most {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            problems.append(f"{path}: {len(value)} characters, at least {meta['min']}")
        if "pattern" in meta and not regex.search(meta["pattern"], value):
            problems.append(f"{path}: {value[:80]!r} does not match {meta['pattern']}")
    elif shape.type_name in ("integer", "long") and isinstance(value, int):
        if "max" in meta and value > meta["max"]:
            problems.append(f"{path}: {value} > {meta['max']}")
        if "min" in meta and value < meta["min"]:
            problems.append(f"{path}: {value} < {meta['min']}")
    return problems


def check_requests(client: Any) -> Any:
    """``client`` with every request checked against its operation's input constraints
    (``request_problems``) before it is sent or stubbed; returns the client."""

    def check(params, model, **_):
        problems = request_problems(model.input_shape, params) if model.input_shape else []
        if problems:
            raise AssertionError(f"{model.name} request AWS would refuse: " + "; ".join(problems))

    client.meta.events.register_first("before-parameter-build.*.*", check)
    return client


def stubber(client: Any):
    """A botocore Stubber on ``client`` (responses validated against the output shapes when
    added) whose requests are also checked against the input constraints."""
    from botocore.stub import Stubber

    return Stubber(check_requests(client))
