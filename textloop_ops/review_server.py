"""The local review page: static files plus a proxy to the review API.

The reviewer signs in on the page with their own bearer token (``textloop users token NAME``
locally, Cognito on AWS); the page sends it with every ``/api/reviews...`` call and this server
forwards it as ``Authorization: Bearer``. The server holds no credential of its own and never
mints tokens: whoever opens the page can do only what their own token allows (the reviewers
group), and the answers are recorded under the token's person. Only what a reviewer needs is
forwarded (list batches, read one, post its answers), whatever the token could do elsewhere.

Bound to 127.0.0.1 only. Because any web page the reviewer visits could still send requests to
a localhost port, requests must name this server in ``Host`` (defeats DNS rebinding) and POSTs
must come from its own origin (defeats cross-site form posts).
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from textloop_ops.client import Api

PAGE_DIR = Path(__file__).resolve().parent / "review_page"
MAX_BODY_BYTES = 5 * 1024 * 1024  # a batch of 1,000 answers is far below this
_BATCH_ID = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
# (method, path pattern below /api) the proxy forwards; everything else is 404.
ALLOWED = (
    ("GET", re.compile(r"/reviews")),
    ("GET", re.compile(rf"/reviews/{_BATCH_ID}")),
    ("POST", re.compile(rf"/reviews/{_BATCH_ID}/answers")),
)
STATIC = {
    "/": "index.html",
    "/index.html": "index.html",
    "/app.js": "app.js",
    "/style.css": "style.css",
}


def allowed(method: str, path: str) -> bool:
    return any(m == method and pattern.fullmatch(path) for m, pattern in ALLOWED)


class _Handler(BaseHTTPRequestHandler):
    server: ReviewHTTPServer
    server_version = "textloop-review"
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------------ plumbing

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str, extra=None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        # Answers change every few seconds; a cached queue would show finished batches.
        self.send_header("cache-control", "no-store")
        self.send_header("x-content-type-options", "nosniff")
        self.send_header("referrer-policy", "no-referrer")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _host_ok(self) -> bool:
        host = (self.headers.get("host") or "").lower()
        port = self.server.server_address[1]
        return host in {f"127.0.0.1:{port}", f"localhost:{port}"}

    def _origin_ok(self) -> bool:
        origin = self.headers.get("origin")
        if origin is None:  # same-origin fetches without Origin, and non-browser clients
            return True
        port = self.server.server_address[1]
        return origin in {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}

    # ------------------------------------------------------------------ verbs

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        if not self._host_ok():
            self._json(HTTPStatus.MISDIRECTED_REQUEST, {"message": "unexpected Host header"})
            return
        path, _, query = self.path.partition("?")
        if path.startswith("/api/"):
            self._proxy(path[len("/api") :], query)
        elif self.command in ("GET", "HEAD") and path in STATIC:
            self._static(STATIC[path])
        else:
            self._json(HTTPStatus.NOT_FOUND, {"message": f"no {self.command} {path}"})

    def _static(self, name: str) -> None:
        file = PAGE_DIR / name
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith("javascript"):
            content_type += "; charset=utf-8"
        # Everything the page uses is served from here: nothing else may load or run.
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        )
        self._send(HTTPStatus.OK, file.read_bytes(), content_type, {"content-security-policy": csp})

    def _proxy(self, api_path: str, query: str) -> None:
        method = "GET" if self.command == "HEAD" else self.command
        if not allowed(method, api_path):
            self._json(
                HTTPStatus.NOT_FOUND, {"message": f"the review page cannot {method} {api_path}"}
            )
            return
        raw = None
        if method == "POST":
            if not self._origin_ok():
                self._json(HTTPStatus.FORBIDDEN, {"message": "cross-origin request refused"})
                return
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "body too large"})
                return
            raw = self.rfile.read(length)
        path = api_path + (f"?{query}" if query else "")
        token = _bearer(self.headers.get("authorization"))
        try:
            status, body = self.server.api.request(method, path, raw=raw, token=token)
        except OSError as exc:  # the API is unreachable (LocalStack stopped, no network)
            self._json(HTTPStatus.BAD_GATEWAY, {"message": f"the review API is unreachable: {exc}"})
            return
        self._json(status, body if body is not None else {})


def _bearer(authorization: str | None) -> str | None:
    """The token of the browser's ``Authorization: Bearer``; anything else is not forwarded."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ReviewHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: Api, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.api = api
        self.verbose = verbose
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class ReviewServer:
    """A review server on a background thread (tests, notebooks); ``with`` stops it."""

    def __init__(self, api: Api, port: int = 0, verbose: bool = False):
        self.httpd = ReviewHTTPServer(api, port=port, verbose=verbose)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="textloop-review-server", daemon=True
        )

    @property
    def url(self) -> str:
        return self.httpd.url

    def start(self) -> ReviewServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
