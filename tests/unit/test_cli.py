"""The operator CLI without a stack: argument handling, target selection, exit codes, and the
review server's proxy rules (against a local fake of the REST API)."""

import base64
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import pytest
from textloop.adapters.people import kms_verifier
from textloop.domain.identity import Principal

from tests.support import people as people_support
from textloop_ops import cli, client
from textloop_ops.cli.import_dataset import load_dataset
from textloop_ops.cli.iterations import parse_config
from textloop_ops.cli.reviews import read_answers
from textloop_ops.client import Api, UsageError, resolve_target
from textloop_ops.review_server import ReviewServer, allowed

CLIENT_ROUTES = ("/local/classify", "/local/feedback")


class FakeRestApi(BaseHTTPRequestHandler):
    """Answers like API Gateway + the Lambdas for a few routes; records what it got. Client
    routes need the API key; people routes a person's bearer token (401 without)."""

    seen: ClassVar[list] = []
    routes: ClassVar[dict] = {}

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        client_route = self.path.startswith(CLIENT_ROUTES)
        credential = (
            self.headers.get("x-api-key") if client_route else self.headers.get("authorization")
        )
        FakeRestApi.seen.append((self.command, self.path, credential, body))
        if client_route and credential != "k3y":
            status, payload = 403, {"message": "Forbidden"}
        elif not client_route and credential != "Bearer t0k":
            status, payload = 401, {"message": "sign in required: no Authorization header"}
        else:
            status, payload = FakeRestApi.routes.get(
                (self.command, self.path), (404, {"message": "not found"})
            )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def rest_api():
    FakeRestApi.seen = []
    FakeRestApi.routes = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRestApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/local/", FakeRestApi
    server.shutdown()
    server.server_close()


def run(argv, url=None, capsys=None, token="t0k"):
    env = {"TEXTLOOP_API_URL": url, "TEXTLOOP_API_KEY": "k3y"} if url else {}
    if url and token:
        env["TEXTLOOP_TOKEN"] = token
    return cli.main(argv, environ=env)


# ---------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["iterations", "--help"],
        ["iterations", "start", "--help"],
        ["iterations", "list", "--help"],
        ["iterations", "show", "--help"],
        ["iterations", "approve", "--help"],
        ["audit", "--help"],
        ["reviews", "list", "--help"],
        ["reviews", "answer", "--help"],
        ["models", "active", "--help"],
        ["models", "history", "--help"],
        ["models", "rollback", "--help"],
        ["models", "promote", "--help"],
        ["import-dataset", "--help"],
        ["classify", "--help"],
        ["review-page", "--help"],
        ["resources", "--help"],
        ["resources", "list", "--help"],
        ["resources", "prune", "--help"],
        ["resources", "remove", "--help"],
    ],
)
def test_every_command_has_help(argv, capsys):
    assert cli.main(argv, environ={}) == 0
    assert "usage: textloop" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["iterations"],
        ["reviews", "answer", "b-1"],  # --file and --reviewer missing
        ["import-dataset", "x.csv", "--format", "xml"],
        ["models", "rollback", "v1"],  # --reason missing
        ["iterations", "approve", "it-1", "--comment", "a"],  # neither --approve nor --reject
        ["resources", "prune"],  # --keep missing
        ["resources", "remove", "--everything"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv, environ={}) == cli.EXIT_USAGE


def test_parse_config_merges_json_and_settings():
    config = parse_config(
        '{"review_budget": 10}',
        [
            "min_new_items=0",
            "random_share=0.2",
            "selection_strategy=entropy",
            "manual_approval=true",
            "review_budget=20",
        ],
    )
    assert config == {
        "review_budget": 20,
        "min_new_items": 0,
        "random_share": 0.2,
        "selection_strategy": "entropy",
        "manual_approval": True,
    }


@pytest.mark.parametrize(
    ("config", "settings"), [("{bad", []), ("[1]", []), (None, ["novalue"]), (None, ["=3"])]
)
def test_parse_config_rejects_bad_input(config, settings):
    with pytest.raises(cli.CommandError) as info:
        parse_config(config, settings)
    assert info.value.code == cli.EXIT_USAGE


def test_read_answers_accepts_an_object_or_json_lines(tmp_path):
    whole = tmp_path / "a.json"
    whole.write_text(json.dumps({"answers": [{"item_id": "i1", "labels": ["A"]}]}))
    lines = tmp_path / "a.jsonl"
    lines.write_text('{"item_id": "i1", "labels": ["A"]}\n\n{"item_id": "i2", "labels": []}\n')
    assert read_answers(whole) == [{"item_id": "i1", "labels": ["A"]}]
    assert [a["item_id"] for a in read_answers(lines)] == ["i1", "i2"]
    spans = tmp_path / "spans.jsonl"
    spans.write_text(
        '{"item_id": "i1", "entities": [{"begin_offset": 0, "end_offset": 9, "type": "SERVICE"}]}'
        '\n{"item_id": "i2", "entities": []}\n'
    )
    assert [a["entities"] for a in read_answers(spans)][1] == []


@pytest.mark.parametrize(
    "content", ["", "{broken\n", '{"answers": 3}', '{"item_id": "i1"}\n', '{"labels": []}']
)
def test_read_answers_rejects_bad_files(tmp_path, content):
    path = tmp_path / "a.jsonl"
    path.write_text(content)
    with pytest.raises(cli.CommandError) as info:
        read_answers(path)
    assert info.value.code == cli.EXIT_USAGE


# ---------------------------------------------------------------------- targets


def test_target_from_the_environment_or_options():
    target = resolve_target(
        environ={"TEXTLOOP_API_URL": "https://x/prod/", "TEXTLOOP_API_KEY": "k"}
    )
    assert (target.api_url, target.api_key, target.is_localstack) == ("https://x/prod/", "k", False)
    with pytest.raises(UsageError):
        resolve_target(api_url="https://x/", environ={})
    with pytest.raises(UsageError):
        resolve_target(api_key="k", environ={})


def test_localstack_target_reads_the_state_dir(tmp_path):
    (tmp_path / "endpoint").write_text("http://127.0.0.1:4999\n")
    outputs = {
        "api_url": {"value": "http://u/"},
        "api_key": {"value": "k"},
        "data_lake_bucket": {"value": "lake"},
    }
    (tmp_path / "terraform.tfstate").write_text(json.dumps({"version": 4, "outputs": outputs}))
    target = resolve_target(state_dir=tmp_path, environ={})
    assert target.is_localstack
    assert (target.api_url, target.endpoint, target.data_lake_bucket()) == (
        "http://u/",
        "http://127.0.0.1:4999",
        "lake",
    )


def test_no_localstack_running_exits_1(tmp_path, capsys):
    assert cli.main(["--state-dir", str(tmp_path), "reviews", "list"], environ={}) == 1
    assert "localstack-up" in capsys.readouterr().err


def test_promote_is_always_refused(capsys):
    assert cli.main(["models", "promote", "v1"], environ={}) == cli.EXIT_FAILED
    assert "rollback" in capsys.readouterr().err


# ---------------------------------------------------------------------- API status -> exit code


@pytest.mark.parametrize(
    ("status", "code"), [(400, 2), (404, 3), (409, 4), (500, 1), (403, 1), (503, 1)]
)
def test_api_statuses_map_to_exit_codes(rest_api, status, code, capsys):
    url, fake = rest_api
    fake.routes[("POST", "/local/iterations")] = (
        status,
        {"message": "nope", "errors": [{"field": "config.review_budget", "message": "too big"}]},
    )
    assert run(["iterations", "start", "--set", "review_budget=99999"], url) == code
    assert "nope" in capsys.readouterr().err


def test_iterations_start_sends_the_config_with_the_token(rest_api, capsys):
    url, fake = rest_api
    fake.routes[("POST", "/local/iterations")] = (
        202,
        {"iteration_id": "doc-1", "executionArn": "a"},
    )
    assert run(["iterations", "start", "--set", "min_new_items=0"], url) == 0
    method, path, credential, body = fake.seen[-1]
    assert (method, path, credential) == ("POST", "/local/iterations", "Bearer t0k")
    assert json.loads(body) == {"model_type": "DOCUMENT_CLASSIFIER", "config": {"min_new_items": 0}}
    assert "doc-1" in capsys.readouterr().out


def test_follow_exits_1_when_the_iteration_fails(rest_api, capsys):
    url, fake = rest_api
    fake.routes[("POST", "/local/iterations")] = (
        202,
        {"iteration_id": "doc-1", "executionArn": "a"},
    )
    fake.routes[("GET", "/local/iterations/doc-1")] = (
        200,
        {"iteration_id": "doc-1", "status": "FAILED", "error": "States.TaskFailed", "audit": None},
    )
    assert run(["iterations", "start", "--follow", "--poll-seconds", "0"], url) == 1
    assert "FAILED" in capsys.readouterr().err


def test_audit_without_a_record_is_not_found(rest_api):
    url, fake = rest_api
    fake.routes[("GET", "/local/iterations/doc-1")] = (200, {"status": "RUNNING", "audit": None})
    assert run(["audit", "doc-1"], url) == cli.EXIT_NOT_FOUND


def test_reviews_answer_posts_the_file(rest_api, tmp_path, capsys):
    url, fake = rest_api
    fake.routes[("POST", "/local/reviews/b-1/answers")] = (
        200,
        {"batch_id": "b-1", "status": "answered", "answered": 1, "duplicate": False},
    )
    answers = tmp_path / "a.jsonl"
    answers.write_text('{"item_id": "i1", "labels": ["Sports"]}\n')
    assert (
        run(
            ["--json", "reviews", "answer", "b-1", "--file", str(answers)],
            url,
        )
        == 0
    )
    # No reviewer id: the API records the token's person.
    assert json.loads(fake.seen[-1][3]) == {
        "answers": [{"item_id": "i1", "labels": ["Sports"]}],
    }
    assert fake.seen[-1][2] == "Bearer t0k"
    assert json.loads(capsys.readouterr().out)["answered"] == 1


def test_unreachable_api_exits_1(capsys):
    env = {"TEXTLOOP_API_URL": "http://127.0.0.1:9/", "TEXTLOOP_API_KEY": "k"}
    assert cli.main(["--timeout", "5", "reviews", "list"], environ=env) == 1
    assert "cannot reach" in capsys.readouterr().err


# ---------------------------------------------------------------------- import-dataset


def _csv(tmp_path, rows):
    path = tmp_path / "train.csv"
    path.write_text("".join(f"{label},{text}\n" for label, text in rows))
    return path


def test_import_dataset_dry_run_validates(tmp_path, capsys):
    rows = [("Sports" if n % 2 else "World", f"text number {n}") for n in range(120)]
    argv = [
        "--api-url",
        "http://x/",
        "--api-key",
        "k",
        "import-dataset",
        str(_csv(tmp_path, rows)),
        "--format",
        "comprehend-csv",
        "--dry-run",
    ]
    assert cli.main(argv, environ={}) == 0
    assert "120 documents, 2 labels" in capsys.readouterr().out


def test_import_dataset_reports_every_problem_with_exit_2(tmp_path, capsys):
    rows = [("Sports", f"text {n}") for n in range(3)] + [("", "no label")]
    argv = [
        "--api-url",
        "http://x/",
        "--api-key",
        "k",
        "import-dataset",
        str(_csv(tmp_path, rows)),
        "--format",
        "comprehend-csv",
        "--dry-run",
    ]
    assert cli.main(argv, environ={}) == cli.EXIT_USAGE
    assert "invalid" in capsys.readouterr().err


def test_import_dataset_reads_jsonl_and_batch_json(tmp_path):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "labels": ["X"]}\n{"text": "b", "corrected_labels": ["Y"]}\n')
    batch = tmp_path / "d.json"
    batch.write_text(
        json.dumps(
            {
                "classifier": "c",
                "sentences": [{"text": "a", "corrected_labels": ["X"]}, "unlabelled"],
            }
        )
    )
    docs = load_dataset(jsonl, "jsonl", "DOCUMENT_CLASSIFIER", "MULTI_CLASS")
    assert [(d["text"], d["labels"]) for d in docs] == [("a", ["X"]), ("b", ["Y"])]
    docs = load_dataset(batch, "batch-json", "DOCUMENT_CLASSIFIER", "MULTI_CLASS")
    assert [(d["text"], d["labels"]) for d in docs] == [("a", ["X"]), ("unlabelled", [])]


# ---------------------------------------------------------------------- review server


def test_the_proxy_forwards_only_review_routes():
    assert allowed("GET", "/reviews")
    assert allowed("GET", "/reviews/doc-20250101T000000-abc-b000")
    assert allowed("POST", "/reviews/b-1/answers")
    assert not allowed("POST", "/iterations")
    assert not allowed("POST", "/models/rollback")
    assert not allowed("GET", "/reviews/../models/active")


def _fetch(url, method="GET", body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def test_review_server_serves_the_page_and_forwards_the_reviewers_token(rest_api):
    url, fake = rest_api
    fake.routes[("GET", "/local/reviews")] = (200, {"reviews": [], "count": 0})
    with ReviewServer(Api(url, None)) as server:
        status, body, headers = _fetch(server.url)
        assert status == 200 and b"app.js" in body
        assert "default-src 'self'" in headers["content-security-policy"]
        signed_in = {"authorization": "Bearer t0k"}
        status, body, _ = _fetch(server.url + "api/reviews", headers=signed_in)
        assert (status, json.loads(body)) == (200, {"reviews": [], "count": 0})
        assert fake.seen[-1][2] == "Bearer t0k"  # the browser's token, forwarded
        # The server adds no credential of its own: without a token the API says 401.
        status, body, _ = _fetch(server.url + "api/reviews")
        assert status == 401 and fake.seen[-1][2] is None
        status, _, _ = _fetch(server.url + "api/reviews", headers={"authorization": "Basic eA=="})
        assert status == 401 and fake.seen[-1][2] is None  # only a bearer token is forwarded
        assert _fetch(server.url + "api/iterations", "POST", b"{}", signed_in)[0] == 404
        hostile = {"origin": "http://evil.example", **signed_in}
        assert _fetch(server.url + "api/reviews/b-1/answers", "POST", b"{}", hostile)[0] == 403
        port = server.httpd.server_address[1]
        assert _fetch(server.url, headers={"host": f"evil.example:{port}"})[0] == 421
    assert len(fake.seen) == 3  # refused requests never reached the API


def test_people_commands_send_the_token_and_classify_the_key(rest_api, capsys):
    url, fake = rest_api
    fake.routes[("POST", "/local/classify")] = (200, {"predicted_labels": ["Sports"]})
    fake.routes[("POST", "/local/approvals/it-1")] = (
        200,
        {"iteration_id": "it-1", "approved": True, "duplicate": False},
    )
    assert run(["classify", "goal!"], url) == 0
    assert fake.seen[-1][2] == "k3y"
    assert run(["iterations", "approve", "it-1", "--approve"], url) == 0
    assert fake.seen[-1][2] == "Bearer t0k"
    assert json.loads(fake.seen[-1][3]) == {"approved": True}  # no approver: the token's person
    assert run(["iterations", "approve", "it-1", "--approve"], url, token=None) == 1
    assert "sign in required" in capsys.readouterr().err


def test_as_needs_the_local_signing_key(rest_api, capsys):
    url, _ = rest_api
    assert run(["--as", "ann", "iterations", "list"], url) == cli.EXIT_USAGE
    assert "Cognito" in capsys.readouterr().err


# ---------------------------------------------------------------------- users


@pytest.fixture
def local_stack_target(aws, tmp_path, monkeypatch, rest_api):
    """A LocalStack-shaped target whose AWS is moto: the outputs a local stack has."""
    url, fake = rest_api
    key = people_support.create_signing_key()
    outputs = {
        "api_url": url,
        "api_key": "k3y",
        "people_token_key_arn": key,
        "people_token_issuer": {
            "issuer": people_support.ISSUER.issuer,
            "audience": people_support.ISSUER.audience,
        },
        "people_directory_prefix": "/textloop-local/people/",
    }

    def resolve(**_):
        target = client.Target(url, "k3y", endpoint="moto", outputs=outputs)
        monkeypatch.setattr(target, "client", lambda service: boto3.client(service))
        return target

    monkeypatch.setattr(cli, "resolve_target", resolve)
    return key, fake


def test_users_add_list_token_remove_locally(local_stack_target, capsys):
    import boto3

    key, _ = local_stack_target
    assert cli.main(["users", "add", "ann", "--group", "reviewers", "--group", "approvers"]) == 0
    assert cli.main(["users", "add", "bob", "--group", "operators"]) == 0
    assert cli.main(["users", "add", "bob", "--group", "reviewers"]) == 0  # again: sets groups
    capsys.readouterr()
    assert cli.main(["--json", "users", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "users": [
            {"name": "ann", "groups": ["approvers", "reviewers"]},
            {"name": "bob", "groups": ["reviewers"]},
        ]
    }
    assert cli.main(["users", "token", "ann", "--minutes", "5"]) == 0
    token = capsys.readouterr().out.strip()
    verifier = kms_verifier(boto3.client("kms"), key, people_support.ISSUER)
    assert verifier.verify(token) == Principal("ann", frozenset({"reviewers", "approvers"}))
    assert cli.main(["users", "token", "nobody"]) == cli.EXIT_NOT_FOUND
    assert "users add" in capsys.readouterr().err
    assert cli.main(["users", "token", "ann", "--minutes", "100000"]) == cli.EXIT_USAGE
    assert cli.main(["users", "add", "bad name", "--group", "reviewers"]) == cli.EXIT_USAGE
    assert cli.main(["users", "remove", "ann"]) == 0
    assert cli.main(["users", "remove", "ann"]) == cli.EXIT_NOT_FOUND
    assert cli.main(["users", "token", "ann"]) == cli.EXIT_NOT_FOUND


def test_as_mints_a_token_for_a_local_user(local_stack_target, capsys):
    _, fake = local_stack_target
    fake.routes[("GET", "/local/iterations")] = (200, {"iterations": []})
    assert cli.main(["users", "add", "op", "--group", "operators"]) == 0
    # The fake API accepts only "Bearer t0k": a minted token is refused there, but it is sent.
    assert cli.main(["--as", "op", "iterations", "list"]) == 1
    sent = fake.seen[-1][2]
    assert sent.startswith("Bearer ey") and sent.count(".") == 2
    assert cli.main(["--as", "ghost", "iterations", "list"]) == cli.EXIT_NOT_FOUND


def test_users_on_aws_use_the_cognito_pool(aws, rest_api, monkeypatch, capsys):
    url, _ = rest_api
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="people")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="people", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    for group in ("reviewers", "operators", "approvers"):
        idp.create_group(UserPoolId=pool, GroupName=group)
    env = {
        "TEXTLOOP_API_URL": url,
        "TEXTLOOP_API_KEY": "k3y",
        "TEXTLOOP_COGNITO_USER_POOL_ID": pool,
        "TEXTLOOP_COGNITO_CLIENT_ID": client_id,
    }
    assert cli.main(["users", "add", "carol", "--group", "approvers"], environ=env) == 0
    idp.admin_set_user_password(
        UserPoolId=pool, Username="carol", Password="Correct-horse-1", Permanent=True
    )
    capsys.readouterr()
    assert cli.main(["--json", "users", "list"], environ=env) == 0
    assert json.loads(capsys.readouterr().out) == {
        "users": [{"name": "carol", "groups": ["approvers"]}]
    }
    monkeypatch.setattr("getpass.getpass", lambda prompt: "Correct-horse-1")
    assert cli.main(["users", "token", "carol"], environ=env) == 0
    token = capsys.readouterr().out.strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["cognito:username"] == "carol" and claims["cognito:groups"] == ["approvers"]
    assert cli.main(["users", "add", "carol", "--group", "reviewers"], environ=env) == 0
    capsys.readouterr()
    assert cli.main(["--json", "users", "list"], environ=env) == 0
    assert json.loads(capsys.readouterr().out) == {
        "users": [{"name": "carol", "groups": ["reviewers"]}]
    }
    # A reviewer signs in on their own machine with the app client alone, as the README's
    # "Security model" shows; managing users still needs the pool.
    # No API URL or key either: signing in calls Cognito only, so a reviewer is not handed a
    # client application's key for it.
    # Nor AWS credentials: InitiateAuth on the public app client is not signed.
    reviewer_env: dict[str, str] = {}
    with monkeypatch.context() as reviewer:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            reviewer.delenv(name, raising=False)
        reviewer.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        reviewer.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
        reviewer.setenv("AWS_EC2_METADATA_DISABLED", "true")
        reviewer.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found
        assert cli.main(["users", "token", "carol", "--client-id", client_id], reviewer_env) == 0
    token = capsys.readouterr().out.strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["cognito:username"] == "carol" and claims["cognito:groups"] == ["reviewers"]
    assert cli.main(["users", "list", "--client-id", client_id], reviewer_env) == cli.EXIT_USAGE
    assert "--user-pool-id" in capsys.readouterr().err
