"""Every A2I worker template of the stack (terraform/modules/textloop/templates/*.liquid.html),
rendered with a Liquid engine (python-liquid) against the input textloop sends A2I for a real
batch (``reviews.a2i_input_content`` of a task built by ``reviews.build_task``), and the HTML
read back with the standard library's parser, as a browser reads attributes. A template error
(a misspelt variable, a filter A2I lacks, a broken attribute) fails here, not in front of a
worker.

A2I's Liquid (https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-custom-templates.html, "Use
Variable Filters") HTML-escapes every output by default, ``escape`` being the same escaping made
explicit, and adds ``to_json``, ``skip_autoescape``, ``grant_read_access`` and ``escape_once``.
python-liquid has autoescape and ``escape``/``escape_once``; the three it lacks are registered
below as small filters written for this test, behaving as that page's examples show (``to_json``
output is not escaped again: the example prints its quotes as they are).
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from liquid import Environment
from liquid.exceptions import UndefinedError
from liquid.undefined import Undefined
from markupsafe import Markup
from textloop.domain import reviews

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "terraform" / "modules" / "textloop" / "templates"
LOOP_TF = ROOT / "terraform" / "modules" / "textloop" / "loop.tf"
NOW = datetime(2025, 11, 23, 2, 30, tzinfo=UTC)


class PrintedUndefined(Undefined):
    """Liquid's nil may be tested (``{% if item.suggestion.from == ... %}`` on a suggestion
    without ``from``), but printing or looping over a variable that does not exist is a
    template error here (A2I would print nothing and show the worker a blank)."""

    def __str__(self) -> str:
        raise UndefinedError(f"{self.name} is undefined", token=self.token)

    def __iter__(self):
        raise UndefinedError(f"{self.name} is undefined", token=self.token)


def a2i_environment() -> Environment:
    env = Environment(autoescape=True, undefined=PrintedUndefined)
    # Written for this test: A2I's filters that python-liquid does not have.
    env.filters["to_json"] = lambda value: Markup(json.dumps(value, ensure_ascii=False))
    env.filters["skip_autoescape"] = lambda value: Markup(str(value))
    env.filters["grant_read_access"] = lambda uri: (
        "https://s3.amazonaws.com/" + str(uri).removeprefix("s3://") + "?X-Amz-Signature=test"
    )
    return env


def render(template: str, task: dict) -> str:
    source = (TEMPLATES / f"{template}.liquid.html").read_text(encoding="utf-8")
    content = json.loads(reviews.a2i_input_content(task))
    return a2i_environment().from_string(source).render(task={"input": content})


class Page(HTMLParser):
    """Elements with their (unescaped) attributes, and the text of the page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.texts.append(data)

    def all(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.elements
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.texts))


# ----------------------------------------------------------------------- real task inputs

HOSTILE = 'He said "S3 <b>rocks</b>" & it\'s true'


def ag_news_texts(n: int) -> list[str]:
    with (ROOT / "data" / "ag_news" / "train.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return [row[-1] for row in rows[1 : n + 1]]


def classifier_task(mode: str) -> dict:
    texts = [*ag_news_texts(2), HOSTILE]
    scores = [
        {"label": "Business", "score": 0.62},
        {"label": "World", "score": 0.55},
        {"label": "SciTech", "score": 0.2},
        {"label": "Sports", "score": 0.05},
    ]
    items = [
        {
            "id": f"item-{n}",
            "text": text,
            "reason": "uncertain",
            "uncertainty": 0.4,
            "prediction": {"routed_to_review": True, "labels": scores},
        }
        for n, text in enumerate(texts)
    ]
    items[1]["correction"] = {
        "labels": ["Sports"],
        "submitted_by": "partner",
        "source": "explicit-api",
    }
    return reviews.build_task(
        batch={"batch_id": "it-1-0000-0123456789ab", "items": items},
        iteration_id="it-1",
        model_type="DOCUMENT_CLASSIFIER",
        mode=mode,
        options=["World", "Sports", "Business", "SciTech"],
        task_token="token",
        created_at=NOW,
        deadline=NOW + timedelta(hours=1),
        review_backend="a2i",
    )


def ground_truth_documents(n: int) -> list[tuple[str, list[dict]]]:
    """The first documents of the AWS-service Ground Truth manifest with their gold spans."""
    path = ROOT / "data" / "aws_service_ner" / "groundtruth" / "output.manifest"
    documents = []
    for line in path.read_text(encoding="utf-8").splitlines()[:n]:
        record = json.loads(line)
        (job,) = [k for k in record if k != "source" and not k.endswith("-metadata")]
        spans = [
            {"begin_offset": e["startOffset"], "end_offset": e["endOffset"], "type": e["label"]}
            for e in record[job]["annotations"]["entities"]
        ]
        documents.append((record["source"], spans))
    return documents


def entity_task() -> dict:
    (text_1, gold_1), (text_2, gold_2) = ground_truth_documents(2)
    scored = [{**span, "score": 0.97 - 0.3 * i} for i, span in enumerate(gold_1)]
    items = [
        {
            "id": "item-1",
            "text": text_1,
            "reason": "uncertain",
            "uncertainty": 0.5,
            "prediction": {"routed_to_review": True, "entities": scored},
        },
        {
            "id": "item-2",
            "text": text_2,
            "reason": "uncertain",
            "uncertainty": 0.3,
            "prediction": {"routed_to_review": True, "entities": []},
            "correction": {"labels": gold_2, "submitted_by": "partner", "source": "explicit-api"},
        },
        {
            "id": "item-3",
            "text": HOSTILE,
            "reason": "random",
            "uncertainty": 0.1,
            "prediction": {"routed_to_review": False, "entities": []},
        },
    ]
    return reviews.build_task(
        batch={"batch_id": "it-ner-0000-0123456789ab", "items": items},
        iteration_id="it-ner",
        model_type="ENTITY_RECOGNIZER",
        mode=None,
        options=["SERVICE", "VERSION"],
        task_token="token",
        created_at=NOW,
        deadline=NOW + timedelta(hours=1),
        review_backend="a2i",
    )


# ----------------------------------------------------------------------- the templates

TASKS = {
    "single-label": lambda: classifier_task("MULTI_CLASS"),
    "multi-label": lambda: classifier_task("MULTI_LABEL"),
    "entity": entity_task,
}


def test_every_template_of_the_stack_is_rendered_here_and_wired_in_terraform():
    on_disk = {p.name.removesuffix(".liquid.html") for p in TEMPLATES.glob("*.liquid.html")}
    assert on_disk == set(TASKS)
    loop = LOOP_TF.read_text(encoding="utf-8")
    for name in on_disk:
        assert f'"{name}"' in loop, f"templates/{name}.liquid.html is not used by loop.tf"


@pytest.mark.parametrize("template", sorted(TASKS))
def test_every_template_renders_its_real_input(template):
    page = Page(render(template, TASKS[template]()))
    assert page.all("script", src="https://assets.crowd.aws/crowd-html-elements.js")
    # The hostile text is shown as text (its "<b>" is not an element), never as markup: on the
    # page, or as the entity widget's text attribute.
    widget_texts = [a.get("text") or "" for a in page.all("crowd-entity-annotation")]
    assert HOSTILE in page.text or any(HOSTILE in t for t in widget_texts)


@pytest.mark.parametrize(
    ("template", "kind"), [("single-label", "radio"), ("multi-label", "checkbox")]
)
def test_classifier_templates_offer_every_label_with_the_suggestion_ticked(template, kind):
    task = TASKS[template]()
    page = Page(render(template, task))
    assert len(page.all("crowd-form")) == 1
    sections = page.all("section", **{"class": "item"})
    assert [s["data-item-id"] for s in sections] == [i["item_id"] for i in task["items"]]
    inputs = page.all("input", type=kind)
    assert [i["value"] for i in inputs] == task["options"] * len(task["items"])
    ticked = [i["value"] for i in inputs if "checked" in i]
    if kind == "radio":
        # Business for the model's items, Sports for the correction under review.
        assert ticked == ["Business", "Sports", "Business"]
        assert "Model suggests Business (62% confident)" in page.text
    else:
        assert ticked == ["Business", "World", "Sports", "Business", "World"]
        assert "Model suggests Business, World" in page.text
    assert "A client's correction (not yet trusted) suggests Sports" in page.text
    for item in task["items"]:
        assert item["text"] in page.text
    assert page.all("input", type="hidden", name="answers")


def test_the_entity_template_prefills_the_models_spans_in_one_widget():
    task = entity_task()
    content = reviews.a2i_entity_input(task)
    page = Page(render("entity", task))
    # A self-contained widget: never inside a crowd-form (AWS's element reference).
    assert page.all("crowd-form") == []
    (widget,) = page.all("crowd-entity-annotation")
    assert widget["name"] == reviews.A2I_ENTITY_ELEMENT
    assert widget["text"] == content["text"]
    assert [t["text"] for t in task["items"]] == content["text"].split(reviews.A2I_TEXT_SEPARATOR)
    assert json.loads(widget["labels"]) == [
        {"label": "SERVICE", "shortDisplayName": "SERV"},
        {"label": "VERSION", "shortDisplayName": "VERS"},
    ]
    initial = json.loads(widget["initial-value"])
    assert initial == content["initial_value"] and initial
    # Each pre-filled span covers the words the model (or the correction) marked.
    marked = [widget["text"][s["startOffset"] : s["endOffset"]] for s in initial]
    expected = [
        item["text"][e["begin_offset"] : e["end_offset"]]
        for item in task["items"]
        for e in (item["suggestion"] or {}).get("entities", [])
    ]
    assert marked == expected and "AWS X-Ray" in marked
    # The scores are visible beside the widget; the correction is shown as a claim to check.
    first = task["items"][0]["suggestion"]["entities"]
    assert f"AWS X-Ray SERVICE ({round(first[0]['score'] * 100)}% confident)" in page.text
    assert "A client's correction (not yet trusted) proposes" in page.text
    assert "The model found no entity." in page.text
    listed = page.all("li")
    assert [li.get("data-item-id") for li in listed if li.get("data-item-id")] == [
        "item-1",
        "item-2",
        "item-3",
    ]


def test_a_carriage_return_keeps_every_offset():
    task = entity_task()
    task["items"][0]["text"] = "AWS X-Ray\r\nnow " + task["items"][0]["text"][9:]
    widget = Page(render("entity", task)).all("crowd-entity-annotation")[0]
    content = reviews.a2i_entity_input(task)
    assert "\r" not in widget["text"] and len(widget["text"]) == len(content["text"])
    start = content["items"][1]["begin_offset"]
    assert widget["text"][start:].startswith(task["items"][1]["text"][:20])
