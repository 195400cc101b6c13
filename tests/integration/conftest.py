"""The integration suite runs against the session's LocalStack (fixtures in tests/conftest.py),
as a client application (the API key) and as people (bearer tokens of the stack's issuer)."""

import csv
import os

import pytest
import requests
from textloop.domain.identity import TokenIssuer

from tests.support import DATA, people
from tests.support.client_api import REVIEWER

# Who calls a route by default: a client application on client routes, else a person.
_CALLER = {"classify": "client", "feedback": "client", "reviews": "reviewer"}


@pytest.fixture(autouse=True)
def _localstack_credentials(monkeypatch):
    # The top-level fixture sets moto's fake credentials; LocalStack wants its own account's.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    assert "4566" not in os.environ.get("AWS_ENDPOINT_URL", "")


# Modules out of alphabetical order: the schedule test first (the scheduled iteration must meet
# the session's data lake as deployed, empty, to end as a recorded no-op rather than select the
# feedback the other tests leave and wait on its reviews); the entity loop after the classifier
# loop (whose classifier it then finds serving beside its recogniser, and whose iterations
# count the classifier's feedback alone); the incremental iterations after the classifier loop
# (they leave unanswered feedback in the carry-over); the tfidf+embeddings iteration after those
# (it promotes a classifier the others do not expect); the least-privilege check last
# (tests/conftest.py).
_ORDER = {
    "test_schedule": 0,
    "test_incremental": 1.5,
    "test_entities": 2,
    "test_embeddings": 2.5,
    "test_least_privilege": 3,
}


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: _ORDER.get(item.module.__name__.rsplit(".", 1)[-1], 1))


@pytest.fixture(scope="session")
def ag_news():
    """(label, text) rows of data/ag_news/train.csv: the texts every module's classifier
    traffic is drawn from, so a simulated reviewer of any module knows each one's label."""
    with (DATA / "ag_news" / "train.csv").open(encoding="utf-8", newline="") as handle:
        return [(row[0], row[1]) for row in csv.reader(handle)]


@pytest.fixture(scope="module")
def tokens(stack, aws_client):
    """One person per group, with tokens of the stack's own issuer (kms:Sign as the operator)."""
    issuer = TokenIssuer(**stack["people_token_issuer"])
    kms = aws_client("kms")

    def mint(user, *groups):
        return people.token(
            stack["people_token_key_arn"], user, *groups, issuer=issuer, kms=kms, minutes=120
        )

    return {
        "operator": mint("integration-operator", "operators"),
        "reviewer": mint(REVIEWER, "reviewers"),
        "approver": mint("integration-approver", "approvers"),
    }


@pytest.fixture(scope="module")
def api(stack, tokens):
    base = stack["api_url"]

    def call(method, path, body=None, expect=None, timeout=120, caller="default"):
        """``caller``: "client" (the API key), "operator", "reviewer", "approver", or None
        (no credential); by default the route's own kind of caller."""
        if caller == "default":
            caller = _CALLER.get(path.lstrip("/").split("/")[0].split("?")[0], "operator")
        headers = (
            {"x-api-key": stack["api_key"]}
            if caller == "client"
            else people.bearer(tokens[caller])
            if caller
            else {}
        )
        response = requests.request(
            method, f"{base}{path.lstrip('/')}", json=body, headers=headers, timeout=timeout
        )
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code, response.text)
        return response

    return call
