"""Client applications: the CLIENT_APPLICATIONS map, parsed strictly, and the id rule it shares
with the upload layout."""

import json
import re

import pytest
from textloop.domain import layout
from textloop.domain.applications import (
    Application,
    InvalidApplications,
    is_application_id,
    parse_applications,
)


def test_the_map_is_read_by_key_id_and_by_application_id():
    apps = parse_applications(
        json.dumps(
            {
                "a1b2c3": {"application_id": "news-app", "trusted": True},
                "d4e5f6": {"application_id": "partner"},
            }
        )
    )
    assert len(apps) == 2
    assert apps.for_key("a1b2c3") == Application("news-app", trusted=True)
    # Untrusted unless the deployment says otherwise.
    assert apps.for_key("d4e5f6") == Application("partner", trusted=False)
    assert apps.by_id("partner") == Application("partner", trusted=False)
    assert apps.for_key("unknown") is None
    assert apps.for_key(None) is None and apps.for_key("") is None
    assert apps.by_id("nobody") is None


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_no_map_means_no_application(raw):
    assert len(parse_applications(raw)) == 0
    assert parse_applications(raw).for_key("anything") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "is not JSON"),
        ('["news-app"]', "must be a JSON object"),
        ('{"k": "news-app"}', "must be an object"),
        ('{"k": {}}', "application_id is required"),
        ('{"k": {"application_id": "news-app", "admin": true}}', "unknown fields"),
        ('{"k": {"application_id": "news-app", "trusted": "yes"}}', "trusted must be"),
        ('{"k": {"application_id": "../other"}}', "application_id must match"),
        ('{"k": {"application_id": "news app"}}', "application_id must match"),
        (
            '{"k": {"application_id": "news-app"}, "j": {"application_id": "news-app"}}',
            "has two API keys",
        ),
        ('{"": {"application_id": "news-app"}}', "empty API key id"),
    ],
)
def test_a_malformed_map_is_refused_naming_the_entry(raw, message):
    with pytest.raises(InvalidApplications, match=message):
        parse_applications(raw)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("demo", True),
        ("support-desk", True),
        ("a", True),
        ("a" * 24, True),
        ("a" * 25, False),
        ("..", False),
        ("../x", False),
        ("a.b", False),
        ("a_b", False),
        ("news app", False),
        ("News", False),
        ("-lead", False),
        ("trail-", False),
        ("", False),
        (None, False),
    ],
)
def test_application_ids_are_the_upload_prefix_segments_layout_accepts(value, valid):
    assert is_application_id(value) is valid
    key = f"uploads/feedback/DOCUMENT_CLASSIFIER/{value}/f.jsonl"
    assert (layout.feedback_upload_target(key) is not None) is valid
    if valid:
        assert layout.feedback_upload_target(key) == ("DOCUMENT_CLASSIFIER", value)
        assert layout.feedback_upload_prefixes(value) == [
            f"uploads/feedback/DOCUMENT_CLASSIFIER/{value}/",
            f"uploads/feedback/ENTITY_RECOGNIZER/{value}/",
        ]
    else:
        with pytest.raises((ValueError, TypeError)):
            layout.feedback_upload_key("DOCUMENT_CLASSIFIER", value, "f.jsonl")


def test_terraform_accepts_exactly_the_application_ids_layout_does():
    from tests.support import REPO

    variables = (REPO / "terraform" / "modules" / "textloop" / "variables.tf").read_text()
    block = variables.split('variable "client_applications"', 1)[1].split("\nvariable ", 1)[0]
    patterns = re.findall(r'can\(regex\("([^"]+)", id\)\)', block)
    assert patterns == [layout.APPLICATION_ID.pattern]
