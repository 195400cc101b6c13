"""The review page editing entity spans in headless Chromium, against an in-process fake of the
review API (as test_review_page_offline): the model's spans arrive pre-filled with their
scores; the reviewer removes one, changes a type, adds one by selecting text with the mouse and
pressing a number key, and the API receives exactly those spans."""

import json
import os
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.test_review_page_offline import fake_token
from textloop_ops.review_server import ReviewServer

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = (
    REPO / "reports" / "figures" / "review-page-entities.png"
    if os.environ.get("TEXTLOOP_UPDATE_SCREENSHOT") == "1"
    else REPO / "build" / "e2e" / "review-page-entities.png"
)
TYPES = ["SERVICE", "VERSION"]
TEXTS = [
    "Amazon S3 now supports Glacier Deep Archive.",
    "🚀 Upgrade to Python 3.13 on AWS Lambda today.",
    "Nothing worth marking here.",
]


def span(begin, end, kind, score=None):
    out = {"begin_offset": begin, "end_offset": end, "type": kind}
    if score is not None:
        out["score"] = score
    return out


# What the model proposed for each text (the task's shape: domain/reviews.py).
PROPOSED = [
    # "Amazon S3" right; "supports" wrong; "Glacier Deep Archive" with the wrong type.
    [span(0, 9, "SERVICE", 0.97), span(14, 22, "VERSION", 0.31), span(23, 43, "VERSION", 0.58)],
    [span(13, 24, "VERSION", 0.42)],
    [],
]


class FakeEntityReviewApi:
    """Answers like the review API for one entity batch; records what is posted."""

    def __init__(self):
        self.posted = []
        self.token = fake_token("span-reviewer")

    def request(self, method, path, body=None, raw=None, token=None, **_):
        if token != self.token:
            return 401, {"message": "sign in required"}
        if (method, path) == ("GET", "/reviews"):
            batch = {
                "batch_id": "b-ner",
                "iteration_id": "ner-1",
                "items": len(TEXTS),
                "created_at": "2025-01-01T00:00:00Z",
                "deadline": "2099-01-01T00:00:00Z",
            }
            return 200, {"reviews": [batch], "count": 1}
        if (method, path) == ("GET", "/reviews/b-ner"):
            items = [
                {
                    "item_id": f"i{n}",
                    "text": text,
                    "suggestion": {
                        "entities": proposed,
                        "confidence": min((s["score"] for s in proposed), default=None),
                    },
                }
                for n, (text, proposed) in enumerate(zip(TEXTS, PROPOSED, strict=True))
            ]
            return 200, {
                "batch_id": "b-ner",
                "iteration_id": "ner-1",
                "model_type": "ENTITY_RECOGNIZER",
                "mode": None,
                "options": TYPES,
                "entity_types": TYPES,
                "items": items,
                "status": "pending",
            }
        if (method, path) == ("POST", "/reviews/b-ner/answers"):
            self.posted.append(json.loads(raw))
            return 200, {
                "batch_id": "b-ner",
                "status": "answered",
                "answered": 3,
                "duplicate": False,
            }
        return 404, {"message": "no such route"}


def drag_over(page, words):
    """Select ``words`` of the item's text with the mouse: press at its first character, move
    to its last, release (the page reads the browser's selection)."""
    box = page.evaluate(
        """(words) => {
            const text = document.querySelector('#item-text');
            const at = text.textContent.indexOf(words);
            // The text node and offset of the i-th character of the item's text (marks split
            // the text into several nodes).
            const point = (i) => {
              const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
              for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                if (i < node.textContent.length) return [node, i];
                i -= node.textContent.length;
              }
            };
            const rect = (i) => {
              const [node, offset] = point(i);
              const range = document.createRange();
              range.setStart(node, offset);
              range.setEnd(node, offset + 1);
              return range.getBoundingClientRect();
            };
            const first = rect(at), last = rect(at + words.length - 1);
            return {x0: first.left + 1, x1: last.right - 1, y: (first.top + first.bottom) / 2};
        }""",
        words,
    )
    page.mouse.move(box["x0"], box["y"])
    page.mouse.down()
    page.mouse.move(box["x1"], box["y"], steps=8)
    page.mouse.up()


def marks(page):
    return page.locator("#item-text mark.entity")


def test_spans_are_removed_retyped_added_by_selection_and_submitted(page):
    api = FakeEntityReviewApi()
    with ReviewServer(api) as server:
        page.goto(server.url)
        page.locator("#token-input").fill(api.token)
        page.keyboard.press("Enter")
        expect(page.locator(".queue-item")).to_have_count(1)
        page.keyboard.press("1")
        expect(page.locator("#progress")).to_have_text(f"1 / {len(TEXTS)}")

        # The model's spans arrive pre-filled, focusable, with their type and score shown.
        expect(marks(page)).to_have_text(["Amazon S3", "supports", "Glacier Deep Archive"])
        first = marks(page).first
        expect(first).to_have_attribute("tabindex", "0")
        expect(first).to_have_attribute(
            "aria-label",
            "“Amazon S3”: SERVICE, model 97% confident. "
            "Number keys change its type, Delete removes it.",
        )
        drawn = first.evaluate("m => getComputedStyle(m, '::after').content")
        assert drawn == '"SERVICE 97%"'
        expect(page.locator("#legend")).to_contain_text("SERVICE")
        expect(page.locator("#legend kbd").first).to_have_text("1")
        expect(page.locator("#suggestion")).to_contain_text("least confident 31%")

        # Click a proposed span, Tab to the next, remove it with Delete.
        first.click()
        expect(first).to_be_focused()
        page.keyboard.press("Tab")
        expect(marks(page).nth(1)).to_be_focused()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        page.keyboard.press("Delete")
        expect(marks(page)).to_have_text(["Amazon S3", "Glacier Deep Archive"])
        # The focus moved on to the next span: a number key changes its type.
        expect(marks(page).nth(1)).to_be_focused()
        page.keyboard.press("1")
        expect(marks(page).nth(1)).to_have_attribute("data-type", "SERVICE")
        expect(marks(page).nth(1)).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_have_text(f"2 / {len(TEXTS)}")

        # Add a span: select "AWS Lambda" with the mouse, then press 1 (SERVICE). The text starts
        # with an emoji (two UTF-16 units, one code point): offsets count code points, as the
        # API does.
        expect(marks(page)).to_have_text(["Python 3.13"])
        drag_over(page, "AWS Lambda")
        expect(page.locator("#item-text mark.pending")).to_have_text("AWS Lambda")
        page.keyboard.press("1")
        expect(marks(page)).to_have_text(["Python 3.13", "AWS Lambda"])
        expect(marks(page).nth(1)).to_have_attribute("data-type", "SERVICE")
        # A selection over an existing span is refused, not merged.
        drag_over(page, "3.13 on")
        expect(page.locator("#toast")).to_contain_text("overlaps")
        expect(page.locator("#item-text mark.pending")).to_have_count(0)
        page.keyboard.press("Enter")

        # No entity proposed and none to add: Enter answers "no entities".
        expect(page.locator("#progress")).to_have_text(f"3 / {len(TEXTS)}")
        expect(marks(page)).to_have_count(0)
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_have_text(f"{len(TEXTS)} / {len(TEXTS)} answered")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#toast")).to_contain_text("Submitted 3 answers")

    assert TEXTS[1][13:24] == "Python 3.13" and TEXTS[1][28:38] == "AWS Lambda"
    assert api.posted == [
        {
            "answers": [
                {"item_id": "i0", "entities": [span(0, 9, "SERVICE"), span(23, 43, "SERVICE")]},
                {"item_id": "i1", "entities": [span(13, 24, "VERSION"), span(28, 38, "SERVICE")]},
                {"item_id": "i2", "entities": []},
            ]
        }
    ]


def test_keyboard_alone_accepts_selects_words_and_types_them(page):
    api = FakeEntityReviewApi()
    with ReviewServer(api) as server:
        page.goto(server.url)
        page.locator("#token-input").fill(api.token)
        page.keyboard.press("Enter")
        expect(page.locator(".queue-item")).to_have_count(1)
        page.keyboard.press("1")
        expect(marks(page)).to_have_count(3)
        page.keyboard.press("a")  # the model's three spans, as proposed
        expect(page.locator("#progress")).to_have_text(f"2 / {len(TEXTS)}")

        # "s" selects the first word no entity covers; → skips the words an entity covers.
        page.keyboard.press("s")
        pending = page.locator("#item-text mark.pending")
        expect(pending).to_have_text("Upgrade")
        expect(page.locator("#toast")).to_contain_text("Selected “Upgrade”")
        for word in ["to", "on", "AWS"]:
            page.keyboard.press("ArrowRight")
            expect(pending).to_have_text(word)
        page.keyboard.press("Shift+ArrowRight")
        expect(pending).to_have_text("AWS Lambda")  # the full stop after it stays out
        page.keyboard.press("Shift+ArrowRight")
        expect(pending).to_have_text("AWS Lambda today")
        page.keyboard.press("Shift+ArrowLeft")
        expect(pending).to_have_text("AWS Lambda")
        page.keyboard.press("1")
        expect(marks(page)).to_have_text(["Python 3.13", "AWS Lambda"])
        # Escape drops a selection without leaving the batch.
        page.keyboard.press("s")
        expect(pending).to_have_count(1)
        page.keyboard.press("Escape")
        expect(pending).to_have_count(0)
        expect(page.locator("#batch-view")).to_be_visible()
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_have_text(f"3 / {len(TEXTS)}")
        page.keyboard.press("Enter")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#toast")).to_contain_text("Submitted 3 answers")

    assert api.posted == [
        {
            "answers": [
                {
                    "item_id": "i0",
                    "entities": [
                        span(0, 9, "SERVICE"),
                        span(14, 22, "VERSION"),
                        span(23, 43, "VERSION"),
                    ],
                },
                {"item_id": "i1", "entities": [span(13, 24, "VERSION"), span(28, 38, "SERVICE")]},
                {"item_id": "i2", "entities": []},
            ]
        }
    ]
