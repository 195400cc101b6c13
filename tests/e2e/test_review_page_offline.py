"""The review page in headless Chromium against an in-process fake of the review API: the
paths a live stack rarely produces (multi-label batches, a 400 naming a field, a 409, a token
the API refuses)."""

import base64
import json

import pytest
from playwright.sync_api import expect

from textloop_ops.review_server import ReviewServer

OPTIONS = ["Business", "SciTech", "Sports", "World"]
TEXTS = [
    "Oil prices rose again as traders worried about supply.",
    "The striker scored twice as the home side won the title.",
    "A new chip design promises phones with longer battery life.",
]


def fake_token(name, *, expired=False):
    """A JWT's shape with ``name`` in it. The page only reads the name and the expiry (the real
    API verifies the signature; this fake accepts the tokens it is told to)."""

    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    exp = 946_684_800 if expired else 4_102_444_800  # 2000 or 2100
    claims = {"cognito:username": name, "exp": exp, "token_use": "id"}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeReviewApi:
    """Answers like the review API for one batch; ``reply`` decides the POST's answer. Only the
    ``accepted`` tokens pass (401 otherwise, as the API answers)."""

    def __init__(self, mode, reply, accepted=None):
        self.mode, self.reply, self.posted = mode, reply, []
        self.accepted = set(accepted or [fake_token("offline-reviewer")])
        self.tokens = []

    def request(self, method, path, body=None, raw=None, token=None, **_):
        self.tokens.append(token)
        if token not in self.accepted:
            return 401, {"message": "sign in required: token expired"}
        if (method, path) == ("GET", "/reviews"):
            batch = {
                "batch_id": "b-1",
                "iteration_id": "doc-1",
                "items": len(TEXTS),
                "created_at": "2025-01-01T00:00:00Z",
                "deadline": "2099-01-01T00:00:00Z",
            }
            return 200, {"reviews": [batch], "count": 1}
        if (method, path) == ("GET", "/reviews/b-1"):
            items = [
                {
                    "item_id": f"i{n}",
                    "text": text,
                    "suggestion": {
                        "labels": ["Business", "World"],
                        "confidence": 0.55,
                        "scores": {"Business": 0.6, "World": 0.55, "SciTech": 0.2, "Sports": 0.1},
                    },
                }
                for n, text in enumerate(TEXTS)
            ]
            return 200, {
                "batch_id": "b-1",
                "iteration_id": "doc-1",
                "mode": self.mode,
                "options": OPTIONS,
                "items": items,
                "status": "pending",
            }
        if (method, path) == ("POST", "/reviews/b-1/answers"):
            self.posted.append(json.loads(raw))
            return self.reply
        return 404, {"message": "no such route"}


def open_batch(page, server, name="offline-reviewer"):
    page.goto(server.url)
    page.locator("#token-input").fill(fake_token(name))
    page.keyboard.press("Enter")
    expect(page.locator("#reviewer-name")).to_have_text(name)
    expect(page.locator(".queue-item")).to_have_count(1)
    page.keyboard.press("1")  # the first batch in the queue
    expect(page.locator("#progress")).to_have_text(f"1 / {len(TEXTS)}")


def test_multi_label_numbers_toggle_and_enter_confirms(page):
    api = FakeReviewApi(
        "MULTI_LABEL",
        (200, {"batch_id": "b-1", "status": "answered", "answered": 3, "duplicate": False}),
    )
    with ReviewServer(api) as server:
        open_batch(page, server)
        # The suggestion (Business, World) is preselected; 4 removes World, 3 adds Sports.
        page.keyboard.press("4")
        page.keyboard.press("3")
        expect(page.locator('.option[aria-pressed="true"]')).to_have_count(2)
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_have_text(f"2 / {len(TEXTS)}")
        page.keyboard.press("a")  # accept the suggestion as is
        expect(page.locator("#progress")).to_have_text(f"3 / {len(TEXTS)}")
        page.keyboard.press("2")
        page.keyboard.press("Enter")  # Business, World + SciTech
        expect(page.locator("#progress")).to_have_text(f"{len(TEXTS)} / {len(TEXTS)} answered")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#toast")).to_contain_text("Submitted 3 answers")
    # No reviewer id in the body: the API records the token's person.
    assert api.posted == [
        {
            "answers": [
                {"item_id": "i0", "labels": ["Business", "Sports"]},
                {"item_id": "i1", "labels": ["Business", "World"]},
                {"item_id": "i2", "labels": ["Business", "SciTech", "World"]},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (
            (
                400,
                {
                    "message": "request rejected",
                    "errors": [
                        {"field": "answers[1].labels", "message": "['X'] not among the options"}
                    ],
                },
            ),
            ["The API refused these answers", "answers[1].labels", "item 2"],
        ),
        (
            (409, {"message": "batch b-1 is expired", "batch_id": "b-1", "status": "expired"}),
            ["This batch is closed", "batch b-1 is expired", "draft is kept"],
        ),
    ],
)
def test_api_errors_are_shown_and_the_draft_survives(page, reply, shown):
    api = FakeReviewApi("MULTI_CLASS", reply)
    with ReviewServer(api) as server:
        open_batch(page, server)
        for _ in TEXTS:
            page.keyboard.press("a")
            page.wait_for_timeout(250)
        expect(page.locator("#progress")).to_have_text(f"{len(TEXTS)} / {len(TEXTS)} answered")
        page.keyboard.press("Enter")
        alert = page.locator("#alert")
        expect(alert).to_be_visible()
        for text in shown:
            expect(alert).to_contain_text(text)
        # Still on the batch with every answer: nothing was lost.
        expect(page.locator("#batch-view")).to_be_visible()
        page.reload()
        expect(page.locator(".queue-item")).to_contain_text(f"{len(TEXTS)} / {len(TEXTS)} done")


class CorrectionReviewApi(FakeReviewApi):
    """The batch's first item is an untrusted application's correction under review."""

    def request(self, method, path, body=None, raw=None, **kwargs):
        status, answer = super().request(method, path, body=body, raw=raw, **kwargs)
        if (method, path) == ("GET", "/reviews/b-1"):
            model = answer["items"][0]["suggestion"]
            answer["items"][0]["suggestion"] = {
                "from": "correction",
                "labels": ["Sports"],
                "submitted_by": "partner",
                "source": "explicit-api",
                "scores": model["scores"],
                "model": model,
            }
        return status, answer


def test_an_untrusted_correction_is_shown_as_a_claim_to_check(page):
    api = CorrectionReviewApi(
        "MULTI_CLASS",
        (200, {"batch_id": "b-1", "status": "answered", "answered": 1, "duplicate": False}),
    )
    with ReviewServer(api) as server:
        open_batch(page, server)
        box = page.locator("#suggestion")
        expect(box).to_contain_text("Correction from partner suggests")
        expect(box).to_contain_text("Sports")
        expect(box).not_to_contain_text("confident")
        # The correction's label is the one proposed, not the model's.
        expect(page.locator(".option.proposed .option-label")).to_have_text(["Sports"])
        page.keyboard.press("a")  # the reviewer agrees with the correction
        expect(page.locator("#progress")).to_have_text(f"2 / {len(TEXTS)}")
        # The next item is the model's suggestion, shown as before.
        expect(box).to_contain_text("Model suggests")
        expect(box).to_contain_text("confident")


def test_sign_in_forwards_the_token_and_a_refused_token_asks_again(page):
    good, stale = fake_token("offline-reviewer"), fake_token("offline-reviewer", expired=True)
    api = FakeReviewApi("MULTI_CLASS", (200, {}), accepted=[good])
    with ReviewServer(api) as server:
        page.goto(server.url)
        dialog = page.locator("#signin-dialog")
        expect(dialog).to_be_visible()
        assert api.tokens == []  # nothing is asked of the API before signing in
        page.locator("#token-input").fill("not a token")
        page.keyboard.press("Enter")
        expect(page.locator("#signin-message")).to_contain_text("not a token")
        page.locator("#token-input").fill(stale)
        page.keyboard.press("Enter")
        expect(page.locator("#signin-message")).to_contain_text("expired")
        page.locator("#token-input").fill(good)
        page.keyboard.press("Enter")
        expect(dialog).to_be_hidden()
        expect(page.locator(".queue-item")).to_have_count(1)
        assert set(api.tokens) == {good}  # the server forwarded the page's token, nothing else

        # The API stops accepting it (revoked, or expired while the page was open).
        api.accepted.clear()
        page.keyboard.press("r")
        expect(dialog).to_be_visible()
        expect(page.locator("#signin-message")).to_contain_text("sign in required")
        expect(page.locator("#reviewer-name")).to_have_text("—")

        # A token handed over in the URL's fragment signs in and leaves the address bar.
        api.accepted.add(good)
        page.goto(f"{server.url}#token={good}")
        expect(page.locator("#reviewer-name")).to_have_text("offline-reviewer")
        assert "token" not in page.url
