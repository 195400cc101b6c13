"""The published AWS examples the tests use (tests/support/aws_examples.py, tests/fixtures/aws/):
each names its source, each API response fits botocore's model of its operation, and each event
or file is read by the code that reads the real one."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import botocore.session
import jsonschema
import pytest
from textloop.domain import reviews
from textloop.domain.test_predictions import (
    output_lines,
    parse_entity_output,
    parse_output,
    prediction_lines,
)
from textloop.events import a2i_callback

from tests.support import aws_examples
from tests.support.aws_examples import examples

API = sorted(name for name, ex in examples().items() if ex.operation)
CLI_PAGE = re.compile(
    r"^https://docs\.aws\.amazon\.com/cli/latest/reference/([a-z0-9-]+)/([a-z-]+)\.html$"
)


def test_the_examples_are_found():
    # Every response shape the code reads from Comprehend and A2I has its example.
    assert set(API) >= {
        "comprehend/classify-document",
        "comprehend/detect-entities",
        "comprehend/create-document-classifier",
        "comprehend/describe-document-classifier",
        "comprehend/list-document-classifiers",
        "comprehend/create-entity-recognizer",
        "comprehend/describe-entity-recognizer",
        "comprehend/list-entity-recognizers",
        "comprehend/start-document-classification-job",
        "comprehend/describe-document-classification-job",
        "comprehend/start-entities-detection-job",
        "comprehend/describe-entities-detection-job",
        "comprehend/create-endpoint",
        "comprehend/update-endpoint",
        "comprehend/describe-endpoint",
        # Flywheel mode, and the stack's resources found by tag (textloop resources).
        "comprehend/create-flywheel",
        "comprehend/describe-flywheel",
        "comprehend/list-flywheels",
        "comprehend/update-flywheel",
        "comprehend/create-dataset",
        "comprehend/describe-dataset",
        "comprehend/list-datasets",
        "comprehend/start-flywheel-iteration",
        "comprehend/describe-flywheel-iteration",
        "comprehend/list-flywheel-iteration-history",
        "comprehend/list-tags-for-resource",
        "comprehend/tag-resource",
        "comprehend/delete-endpoint",
        "comprehend/delete-flywheel",
        "comprehend/delete-document-classifier",
        "comprehend/delete-entity-recognizer",
        "comprehend/stop-training-document-classifier",
        "comprehend/stop-training-entity-recognizer",
        "sagemaker-a2i-runtime/start-human-loop",
    }
    assert {
        "files/a2i-humanloop-status-change",
        "files/a2i-output-custom-task",
        "files/crowd-entity-annotation-output",
        "files/classification-job-output",
        "files/entities-job-output",
    } <= set(examples())


@pytest.mark.parametrize("name", sorted(examples()))
def test_each_example_names_its_published_source(name):
    ex = examples()[name]
    assert ex.source.startswith("https://docs.aws.amazon.com/"), ex.source
    assert ex.example, f"{name}: which example of the page"
    page = CLI_PAGE.match(ex.source)
    if page and ex.operation:  # a CLI example page's response: named after its command
        assert f"{page.group(1)}/{page.group(2)}" == name


@pytest.mark.parametrize("name", API)
def test_each_api_example_fits_botocore_s_output_shape(name):
    ex = examples()[name]
    # Unchanged, as published; and as the tests hand it over (timestamps parsed).
    aws_examples.validate_response(ex.service, ex.operation, ex.body)
    aws_examples.validate_response(ex.service, ex.operation, aws_examples.response(name))
    operation = (
        botocore.session.get_session().get_service_model(ex.service).operation_model(ex.operation)
    )
    assert operation.name == ex.operation


def test_the_validator_refuses_what_botocore_s_model_does_not_allow():
    with pytest.raises(AssertionError, match="Status"):
        aws_examples.response(
            "comprehend/describe-entity-recognizer",
            EntityRecognizerProperties={"Status": ["TRAINED"]},
        )
    with pytest.raises(AssertionError, match="Unknown parameter"):
        aws_examples.response("comprehend/create-endpoint", EndpointName="not in the output")


def test_responses_carry_datetimes_where_botocore_parses_them():
    props = aws_examples.response("comprehend/describe-entities-detection-job")[
        "EntitiesDetectionJobProperties"
    ]
    assert isinstance(props["SubmitTime"], datetime) and props["SubmitTime"].year == 2023
    changed = aws_examples.response(
        "comprehend/describe-entities-detection-job",
        EntitiesDetectionJobProperties={"JobStatus": "FAILED", "EndTime": aws_examples.DROP},
    )["EntitiesDetectionJobProperties"]
    assert changed["JobStatus"] == "FAILED" and "EndTime" not in changed
    assert changed["JobId"] == props["JobId"]  # everything else as published


def test_the_published_status_change_event_passes_the_callback_s_schema():
    event = examples()["files/a2i-humanloop-status-change"].copy()
    jsonschema.validate(event, a2i_callback.EVENT)
    assert a2i_callback.correlation_id(event) == "humanloop-nov-14-1"
    assert event["detail"]["humanLoopOutput"]["outputS3Uri"].endswith("/output.json")
    for status in ("Completed", "Failed", "Stopped"):
        jsonschema.validate(
            aws_examples.a2i_status_change("b-1", status, flow_definition_arn="arn:f"),
            a2i_callback.EVENT,
        )


def test_the_published_output_json_is_read_one_submission_per_worker():
    published = examples()["files/a2i-output-custom-task"].copy()
    (worker,) = published["humanAnswers"]
    # The custom task's answer is whatever the template's form submits: the classifier
    # templates' hidden "answers" field, the entity template's crowd-entity-annotation.
    output = aws_examples.a2i_output(
        aws_examples.human_answer(
            aws_examples.answers_field([{"item_id": "item-1", "labels": ["Business"]}])
        ),
        loop="b-1",
        flow_definition_arn=published["flowDefinitionArn"],
        input_content=published["inputContent"],
    )
    (submission,) = reviews.submissions_from_a2i_output(output)
    assert submission.reviewer_id == worker["workerId"]
    assert submission.answers == (("item-1", ("Business",)),)
    # What the code does not read is kept as published.
    assert {k: v for k, v in output["humanAnswers"][0].items() if k != "answerContent"} == {
        k: v for k, v in worker.items() if k != "answerContent"
    }


def test_the_published_entity_annotation_output_is_read_as_spans():
    (published,) = examples()["files/crowd-entity-annotation-output"].copy().values()
    last = max(e["endOffset"] for e in published["entities"])
    text = "x" * (last + 10)
    task = {
        "batch_id": "b-1",
        "model_type": "ENTITY_RECOGNIZER",
        "options": sorted({e["label"] for e in published["entities"]}),
        "items": [{"item_id": "item-1", "text": text, "suggestion": None}],
    }
    output = aws_examples.a2i_output(
        aws_examples.human_answer(aws_examples.entity_annotation(published["entities"])),
        loop="b-1",
        flow_definition_arn="arn:f",
        input_content=reviews.a2i_entity_input(task),
    )
    (submission,) = reviews.submissions_from_a2i_output(output, task)
    ((item_id, spans),) = submission.answers
    assert item_id == "item-1"
    assert sorted(spans) == sorted(
        (e["startOffset"], e["endOffset"], e["label"]) for e in published["entities"]
    )


def test_the_published_classification_output_is_parsed():
    ex = examples()["files/classification-job-output"]
    archive = aws_examples.output_archive(ex.body, ex.member)
    predictions = parse_output(
        prediction_lines(archive), n_documents=4, mode="MULTI_CLASS", model_version="v"
    )
    assert [p.top.label for p in predictions] == [
        "Documentary",
        "Science_Fiction",
        "Documentary",
        "Serious_Drama",
    ]
    assert predictions[0].score_of("Other") == pytest.approx(0.0381)


# The three documents of the CLI page's custom entity detection example (SampleFeedback1-3.txt).
FEEDBACK = [
    "I've been on the AnyPhone app have had issues for 24 hours when trying to pay bill. Cannot"
    " make payment. Sigh. | Oh man! Lets get that app up and running. DM me, and we can get to"
    " work!",
    "Hi, I have a discrepancy with my new bill. Could we get it sorted out? A rep added stuff I"
    " didn't sign up for when I did my AnyPhone 10 upgrade. | We can absolutely get this sorted!",
    "Is the by 1 get 1 free AnySmartPhone promo still going on? | Hi Christian! It ended"
    " yesterday, send us a DM if you have any questions and we can take a look at your options!",
]


def test_the_published_entities_output_is_parsed():
    ex = examples()["files/entities-job-output"]
    # Each of the page's input files is one document on line 0: each is its own test set here.
    for record, text in zip(ex.body, FEEDBACK, strict=True):
        archive = aws_examples.output_archive([record], ex.member)
        (prediction,) = parse_entity_output(output_lines(archive), texts=[text], model_version="v")
        assert [(e.begin_offset, e.end_offset, e.type) for e in prediction.entities] == [
            (e["BeginOffset"], e["EndOffset"], e["Type"]) for e in record["Entities"]
        ]
    first = ex.body[0]["Entities"][0]
    assert FEEDBACK[0][first["BeginOffset"] : first["EndOffset"]] == first["Text"]


def test_records_built_from_the_examples_keep_the_published_layout():
    record = aws_examples.entity_output_record(3, "Amazon S3", [(0, 9, "SERVICE", 0.5)])
    assert set(record) == set(examples()["files/entities-job-output"].body[0])
    assert record["Entities"][0]["Text"] == "Amazon S3" and record["Line"] == 3
    line = aws_examples.classification_output_record(2, [("World", 0.9)])
    assert set(line) == set(examples()["files/classification-job-output"].body[0])
    assert line["Line"] == "2"  # a string, as published
    assert json.loads(json.dumps(line)) == line


def test_requests_are_checked_against_the_model_s_constraints():
    model = botocore.session.get_session().get_service_model("comprehend")
    create = model.operation_model("CreateEndpoint").input_shape
    ok = {"EndpointName": "textloop-prod-classifier", "DesiredInferenceUnits": 1}
    assert aws_examples.request_problems(create, ok) == []
    too_long = {**ok, "EndpointName": "x" * 41}
    assert aws_examples.request_problems(create, too_long) == [
        "EndpointName: 41 characters, at most 40"
    ]
    job = model.operation_model("StartEntitiesDetectionJob").input_shape
    (problem,) = aws_examples.request_problems(job, {"JobName": "a b#c", "LanguageCode": "en"})
    assert problem.startswith("JobName: 'a b#c' does not match")


REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "terraform" / "modules" / "textloop"


def _longest(variable: str) -> int:
    """The longest value the module's validation of ``variable`` allows (its regex's
    ``^[first][rest]{m,n}$``: 1 + n characters)."""
    text = (MODULE / "variables.tf").read_text()
    block = text[text.index(f'variable "{variable}"') :]
    bound = re.search(r'regex\("\^\[[^\]]+\]\[[^\]]+\]\{\d+,(\d+)\}\$"', block)
    assert bound, f"no length-bounding validation on {variable}"
    return 1 + int(bound.group(1))


def test_endpoint_names_the_module_derives_fit_create_endpoint_or_are_refused_at_plan():
    """CreateEndpoint's EndpointName is at most 40 characters (botocore's model); the module
    names endpoints ``<name_prefix>-<stage>-classifier`` / ``-recognizer``, which its variables
    allow up to 42 characters. AWS would refuse the first promotion's CreateEndpoint, after a
    model has trained and the state machine has run; the module refuses such names at plan."""
    model = botocore.session.get_session().get_service_model("comprehend")
    limit = (
        model.operation_model("CreateEndpoint").input_shape.members["EndpointName"].metadata["max"]
    )
    longest_name = _longest("name_prefix") + 1 + _longest("stage")
    loop = (MODULE / "loop.tf").read_text()
    suffixes = re.findall(r"-endpoint/\$\{local\.name\}(-[a-z]+)\"", loop)
    assert sorted(suffixes) == ["-classifier", "-recognizer"]
    if longest_name + max(len(s) for s in suffixes) <= limit:
        return
    contracts = (MODULE / "contracts.tf").read_text()
    assert f"<= {limit}" in contracts and "comprehend_endpoint_arns" in contracts
