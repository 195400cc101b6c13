"""People's identity: the claim rules (domain.identity), real signatures from moto's Cognito and
KMS (adapters.people), and every people API refusing the wrong person (401/403) and recording
the token's person, never a body's."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
from pathlib import Path

import boto3
import moto.cognitoidp
import pytest
from textloop.adapters.people import (
    cognito_jwks_url,
    cognito_verifier,
    kms_verifier,
    mint_local_token,
    verifier_from_env,
)
from textloop.domain import identity, reviews
from textloop.domain.identity import (
    Forbidden,
    Principal,
    TokenIssuer,
    Unauthenticated,
    bearer_token,
    local_claims,
    principal_from_claims,
)
from textloop.domain.validation import InvalidInput

from tests.support import REPO, people
from tests.support.events import rest_event
from tests.support.iteration_data import put_feedback, put_seed
from tests.support.iteration_stack import BUCKET, deploy_iteration_stack

ISSUER = TokenIssuer("textloop:test", "client-1")
NOW = 1_800_000_000
YESTERDAY = int(time.time()) - 86_400


def claims(**changes):
    base = {
        "iss": "textloop:test",
        "aud": "client-1",
        "token_use": "id",
        "cognito:username": "alice",
        "sub": "0f6e-sub",
        "cognito:groups": ["reviewers"],
        "iat": NOW - 10,
        "exp": NOW + 600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


# --------------------------------------------------------------------------- domain


def test_valid_claims_name_the_user_and_groups():
    principal = principal_from_claims(claims(), ISSUER, now=NOW)
    assert principal == Principal("alice", frozenset({"reviewers"}))
    assert principal.require("reviewers") is principal


def test_an_access_token_is_checked_against_client_id_and_names_username():
    access = claims(aud=None, token_use="access", client_id="client-1", username="bob")
    access.pop("cognito:username")
    assert principal_from_claims(access, ISSUER, now=NOW).id == "bob"
    with pytest.raises(Unauthenticated, match="another client"):
        principal_from_claims({**access, "client_id": "client-2"}, ISSUER, now=NOW)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "client-2"}, "another client"),
        ({"token_use": "refresh"}, "token_use"),
        ({"token_use": None}, "token_use"),
        ({"exp": NOW - 61}, "expired"),
        ({"exp": None}, "exp must be a number"),
        ({"exp": True}, "exp must be a number"),
        ({"exp": "tomorrow"}, "exp must be a number"),
        ({"nbf": NOW + 120}, "not valid yet"),
        ({"iat": NOW + 120}, "not valid yet"),
        ({"cognito:username": None, "sub": None}, "names no user"),
        ({"cognito:username": "  ", "sub": None}, "names no user"),
        ({"cognito:groups": "reviewers"}, "list of group names"),
        ({"cognito:groups": [1]}, "list of group names"),
    ],
)
def test_claims_that_do_not_hold_are_refused(changes, reason):
    with pytest.raises(Unauthenticated, match=reason):
        principal_from_claims(claims(**changes), ISSUER, now=NOW)


def test_leeway_tolerates_small_clock_skew_only():
    assert principal_from_claims(claims(exp=NOW - 59), ISSUER, now=NOW).id == "alice"
    assert principal_from_claims(claims(nbf=NOW + 59), ISSUER, now=NOW).id == "alice"


def test_no_groups_claim_means_no_group():
    principal = principal_from_claims(claims(**{"cognito:groups": None}), ISSUER, now=NOW)
    with pytest.raises(Forbidden, match="alice is not in the operators group"):
        principal.require("operators")
    with pytest.raises(ValueError, match="unknown group"):
        principal.require("admins")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no Authorization header"),
        ("", "no Authorization header"),
        ("Basic dXNlcjpwYXNz", "must be Bearer"),
        ("Bearer", "must be Bearer"),
        ("Bearer   ", "must be Bearer"),
    ],
)
def test_bearer_header_is_required(header, reason):
    with pytest.raises(Unauthenticated, match=reason):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive():
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


def test_local_claims_refuse_unknown_groups_and_long_lives():
    with pytest.raises(ValueError, match="unknown group"):
        local_claims(user="a", groups=["admins"], issuer=ISSUER, now=NOW, minutes=5, token_id="x")
    with pytest.raises(ValueError, match="minutes"):
        local_claims(
            user="a",
            groups=["reviewers"],
            issuer=ISSUER,
            now=NOW,
            minutes=identity.MAX_LOCAL_TOKEN_MINUTES + 1,
            token_id="x",
        )


def test_every_people_route_in_terraform_names_its_group():
    """ROUTE_GROUPS is the route table's people half: no people route without a group."""
    api_tf = (REPO / "terraform/modules/textloop/api.tf").read_text()
    routes = dict(re.findall(r'"((?:GET|POST) /[^"]*)"\s*=\s*"(\w+)"', api_tf))
    people_routes = {
        r for r, f in routes.items() if f in {"reviews", "approvals", "iterations", "models"}
    }
    assert people_routes == set(identity.ROUTE_GROUPS)
    for route, group in identity.ROUTE_GROUPS.items():
        module = routes[route]
        source = (REPO / f"functions/shared/textloop/api/{module}.py").read_text()
        assert f"person(app, {group.upper()})" in source, (route, group)


# --------------------------------------------------------------------------- Cognito (moto)


def moto_jwks(url: str) -> dict:
    """moto signs Cognito tokens with the key pair it ships; this is its public half."""
    assert url.startswith("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_")
    path = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-public.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


@pytest.fixture
def cognito(aws):
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    pool = idp.create_user_pool(PoolName="textloop-test")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="people", ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"]
    )["UserPoolClient"]["ClientId"]
    for group in identity.GROUPS:
        idp.create_group(UserPoolId=pool, GroupName=group)

    def sign_in(user: str, *groups: str, client_id: str = client) -> dict:
        idp.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS")
        idp.admin_set_user_password(
            UserPoolId=pool, Username=user, Password="Correct-horse-1", Permanent=True
        )
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=pool, Username=user, GroupName=group)
        return idp.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=client_id,
            AuthFlow="ADMIN_NO_SRP_AUTH",
            AuthParameters={"USERNAME": user, "PASSWORD": "Correct-horse-1"},
        )["AuthenticationResult"]

    return idp, pool, client, sign_in


def test_moto_cognito_id_and_access_tokens_verify(cognito):
    _, pool, client, sign_in = cognito
    fetched = []

    def fetch(url):
        fetched.append(url)
        return moto_jwks(url)

    verifier = cognito_verifier("us-east-1", pool, client, fetch=fetch)
    tokens = sign_in("carol", "reviewers", "approvers")
    for name in ("IdToken", "AccessToken"):
        principal = verifier.verify(tokens[name])
        assert principal == Principal("carol", frozenset({"reviewers", "approvers"}))
    # Fetched once per verifier (= per Lambda instance), from the pool's well-known URL.
    assert fetched == [cognito_jwks_url("us-east-1", pool)]


def test_cognito_token_for_another_client_or_pool_is_refused(cognito):
    idp, pool, client, sign_in = cognito
    other = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="other", ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"]
    )["UserPoolClient"]["ClientId"]
    tokens = sign_in("dave", "operators", client_id=other)
    verifier = cognito_verifier("us-east-1", pool, client, fetch=moto_jwks)
    with pytest.raises(Unauthenticated, match="another client"):
        verifier.verify(tokens["IdToken"])
    other_pool = idp.create_user_pool(PoolName="elsewhere")["UserPool"]["Id"]
    stranger = cognito_verifier("us-east-1", other_pool, client, fetch=moto_jwks)
    with pytest.raises(Unauthenticated, match="issuer"):
        stranger.verify(sign_in("erin", "operators")["IdToken"])


def test_a_tampered_cognito_token_is_refused(cognito):
    _, pool, client, sign_in = cognito
    verifier = cognito_verifier("us-east-1", pool, client, fetch=moto_jwks)
    token = sign_in("frank", "reviewers")["IdToken"]
    header, payload, signature = token.split(".")
    claims_ = json.loads(_unb64(payload))
    claims_["cognito:groups"] = ["reviewers", "operators"]
    forged = ".".join([header, _b64(json.dumps(claims_).encode()), signature])
    with pytest.raises(Unauthenticated, match="signature or format"):
        verifier.verify(forged)
    # "alg": "none" with no signature must not pass either.
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    with pytest.raises(Unauthenticated, match="signature or format"):
        verifier.verify(f"{none_header}.{payload}.")
    for junk in ("", "abc", "a.b.c", "x" * 20_000):
        with pytest.raises(Unauthenticated):
            verifier.verify(junk)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_environment_chooses_the_issuer(aws):
    cognito_env = {"COGNITO_USER_POOL_ID": "eu-west-1_AbC", "COGNITO_CLIENT_ID": "c1"}
    assert verifier_from_env(cognito_env, None).issuer == TokenIssuer(
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC", "c1"
    )
    key = people.create_signing_key()

    class Clients:
        def get(self, name):
            return boto3.client(name)

    local = verifier_from_env(people.people_env(key), Clients())
    assert local.issuer == people.ISSUER
    with pytest.raises(RuntimeError, match="no people token issuer"):
        verifier_from_env({}, Clients())


# --------------------------------------------------------------------------- local (moto KMS)


def test_kms_minted_tokens_verify_with_the_public_key(aws):
    kms = boto3.client("kms")
    key = people.create_signing_key(kms)
    reads = []

    class CountingKms:
        def get_public_key(self, **kwargs):
            reads.append(kwargs)
            return kms.get_public_key(**kwargs)

    verifier = kms_verifier(CountingKms(), key, people.ISSUER)
    for user in ("ann", "ben"):
        principal = verifier.verify(people.token(key, user, "operators"))
        assert principal == Principal(user, frozenset({"operators"}))
    assert len(reads) == 1  # once per instance

    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(people.token(key, "ann", "operators", minutes=1, now=YESTERDAY))
    other_key = people.create_signing_key(kms)
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.verify(people.token(other_key, "ann", "operators"))
    stranger = TokenIssuer("textloop:other-stage", people.ISSUER.audience)
    with pytest.raises(Unauthenticated, match="issuer"):
        verifier.verify(people.token(key, "ann", "operators", issuer=stranger))


def test_minted_token_is_a_standard_rs256_jwt(aws):
    kms = boto3.client("kms")
    key = people.create_signing_key(kms)
    claims_ = local_claims(
        user="ann", groups=["reviewers"], issuer=people.ISSUER, now=NOW, minutes=5, token_id="t1"
    )
    header, payload, signature = mint_local_token(kms, key, claims_).split(".")
    assert json.loads(_unb64(header))["alg"] == "RS256"
    assert json.loads(_unb64(payload)) == claims_
    assert len(_unb64(signature)) == 256  # RSA_2048


# --------------------------------------------------------------------------- the APIs


@pytest.fixture
def stack(lambdas, ag_news_rows):
    stack = deploy_iteration_stack(lambdas, defaults={"manual_approval": True})
    put_seed(BUCKET, ag_news_rows[:400])
    return stack


PEOPLE_ROUTES = [
    ("reviews", "/reviews", "GET", None),
    ("reviews", "/reviews/b-1", "GET", None),
    ("reviews", "/reviews/b-1/answers", "POST", {"answers": []}),
    ("approvals", "/approvals/it-1", "POST", {"approved": True}),
    ("iterations", "/iterations", "POST", {}),
    ("iterations", "/iterations", "GET", None),
    ("iterations", "/iterations/it-1", "GET", None),
    ("models", "/models", "GET", None),
    ("models", "/models/active", "GET", None),
    ("models", "/models/rollback", "POST", {"reason": "x"}),
]
GROUP_OF = {"reviews": "reviewers", "approvals": "approvers"}


def test_every_people_route_needs_a_valid_token_of_its_group(stack, capsys):
    key = stack.environment["PEOPLE_TOKEN_KEY_ID"]
    expired = people.token(key, "rev-1", *identity.GROUPS, minutes=1, now=YESTERDAY)
    forged = people.token(people.create_signing_key(), "rev-1", *identity.GROUPS)
    for api, path, method, body in PEOPLE_ROUTES:
        needs = GROUP_OF.get(api, "operators")
        for token in (None, "not-a-jwt", expired, forged):
            response = stack.invoke(
                api,
                people_event(path, method, body, token),
            )
            assert response["statusCode"] == 401, (api, path, token)
            # A REST (v1) proxy response carries its headers as lists.
            (challenge,) = response["multiValueHeaders"]["WWW-Authenticate"]
            assert challenge.startswith('Bearer realm="textloop"')
            assert ("invalid_token" in challenge) is (token is not None)
        others = [g for g in identity.GROUPS if g != needs]
        status, answer = stack.api(api, path, method, body, token=stack.token("mallory", *others))
        assert status == 403 and answer["group"] == needs, (api, path, answer)
    # No token text reaches the logs, not even the refused ones.
    logged = capsys.readouterr()
    for token in (expired, forged):
        for part in token.split("."):
            assert part not in logged.out and part not in logged.err


def people_event(path, method, body, token):
    return rest_event(path, method, body, headers=people.bearer(token) if token else None)


def test_a_reviewer_answers_reviews_but_cannot_approve_start_or_roll_back(
    stack, ag_news_rows, capsys
):
    truth = {text: label for label, text in ag_news_rows}
    put_feedback(BUCKET, [text for _, text in ag_news_rows[3000:3006]])
    arn = stack.start("it-people")
    (task,) = stack.wait_for_tasks("it-people")
    reviewer = stack.token("rev-7", "reviewers")

    for api, path, method, body in [
        ("approvals", "/approvals/it-people", "POST", {"approved": True}),
        ("models", "/models/rollback", "POST", {"reason": "because"}),
        ("iterations", "/iterations", "POST", {}),
    ]:
        status, answer = stack.api(api, path, method, body, token=reviewer)
        assert status == 403, (api, answer)

    answers = [
        {"item_id": item["item_id"], "labels": [truth[item["text"]]]} for item in task["items"]
    ]
    status, body = stack.api(
        "reviews",
        f"/reviews/{task['batch_id']}/answers",
        "POST",
        {"reviewer_id": "somebody-else", "answers": answers},
        token=reviewer,
    )
    assert status == 200 and body["status"] == "answered"
    stored = stack.get_json(f"reviews/it-people/batches/{task['batch_id']}/answers.json")
    assert stored["reviewers"] == ["rev-7"]
    assert {a["reviewer_id"] for a in stored["answers"]} == {"rev-7"}

    stack.wait_for(
        lambda: stack.get_json("reviews/it-people/approval.json"), "the approval request"
    )
    approver = stack.token("lead", "approvers")
    status, body = stack.api(
        "approvals",
        "/approvals/it-people",
        "POST",
        {"approver": "the-ceo", "approved": True, "comment": "ok"},
        token=approver,
    )
    assert status == 200 and body["approved"] is True
    assert stack.get_json("reviews/it-people/approval-response.json")["approver"] == "lead"
    assert stack.wait(arn)["status"] == "SUCCEEDED"
    audit = stack.get_json("audit/iterations/it-people.json")
    assert audit["reviewers"] == ["rev-7"]
    assert audit["inputs"]["approval"]["approver"] == "lead"
    assert "somebody-else" not in json.dumps(audit) and "the-ceo" not in json.dumps(audit)

    # An operator can roll back (the route answers past the identity check).
    status, body = stack.api(
        "models", "/models/rollback", "POST", {"reason": "x"}, token=stack.token("op", "operators")
    )
    assert status in (200, 409), body
    logged = capsys.readouterr().out
    assert reviewer.split(".")[2] not in logged and approver.split(".")[2] not in logged


def test_a_submission_is_the_verified_reviewers_whatever_the_body_says():
    body = {"reviewer_id": "forged", "answers": [{"item_id": "a", "labels": ["Sports"]}]}
    assert reviews.parse_submission(body, reviewer_id="rev-7").reviewer_id == "rev-7"
    del body["reviewer_id"]
    assert reviews.parse_submission(body, reviewer_id="rev-7").reviewer_id == "rev-7"
    # Without a verified identity (an A2I worker's answer) the body must name the reviewer.
    with pytest.raises(InvalidInput) as caught:
        reviews.parse_submission(body)
    assert [(e.field, e.message) for e in caught.value.errors] == [("reviewer_id", "is required")]
    with pytest.raises(InvalidInput) as caught:
        reviews.parse_submission({**body, "reviewer_id": "   "})
    assert caught.value.errors[0].field == "reviewer_id"


def test_rotated_cognito_keys_are_fetched_again_but_not_on_every_unknown_key_id():
    from joserfc import jwt
    from joserfc.jwk import RSAKey
    from textloop.adapters.people import KEY_REFRESH_SECONDS, cognito_verifier

    old, new = (RSAKey.generate_key(2048, parameters={"kid": kid}) for kid in ("old", "new"))
    published = [old]
    fetched = []

    def fetch(url):
        fetched.append(url)
        return {"keys": [k.as_dict(private=False) for k in published]}

    now = [1_700_000_000.0]
    verifier = cognito_verifier(
        "eu-west-1", "eu-west-1_pool", "client-1", fetch=fetch, clock=lambda: now[0]
    )
    issuer = verifier.issuer

    def token(key):
        claims = {
            "iss": issuer.issuer,
            "aud": "client-1",
            "token_use": "id",
            "cognito:username": "ana",
            "cognito:groups": ["reviewers"],
            "iat": int(now[0]),
            "exp": int(now[0]) + 3600,
        }
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    assert verifier.verify(token(old)).id == "ana"
    published.append(new)  # Cognito rotates: tokens signed with the new key appear
    # Just fetched: an unknown key id does not fetch again yet (made-up ids cost nothing).
    with pytest.raises(Unauthenticated):
        verifier.verify(token(new))
    assert len(fetched) == 1
    now[0] += KEY_REFRESH_SECONDS
    assert verifier.verify(token(new)).id == "ana"
    assert verifier.verify(token(old)).id == "ana"
    assert len(fetched) == 2
