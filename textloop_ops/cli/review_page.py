"""``textloop review-page``: serve the review page on 127.0.0.1 (``textloop_ops.review_server``)."""

from __future__ import annotations

import argparse
import webbrowser

from textloop_ops.cli.common import EXIT_OK, CommandError, add_command, person_token


def cmd_review_page(args: argparse.Namespace) -> int:
    from textloop_ops.client import Api
    from textloop_ops.review_server import ReviewHTTPServer

    # The server holds no credential: it forwards the reviewer's own token from the browser.
    api = Api(args.target.api_url, None, args.timeout)
    try:
        server = ReviewHTTPServer(api, port=args.port, verbose=args.verbose)
    except OSError as exc:
        raise CommandError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from exc
    url = server.url
    # Only when asked on this command line (not from TEXTLOOP_TOKEN, which may be an
    # operator's own token): whoever opens the printed URL acts as that person.
    token = person_token(args) if (args.as_user or args.token) else None
    if token:
        # In the fragment: browsers never send it to a server; the page moves it into this
        # tab's session storage and removes it from the address bar.
        url += f"#token={token}"
    args.output.line(f"review page: {url}  (Ctrl+C stops it)")
    if not token:
        args.output.line("reviewers sign in with their token (`textloop users token NAME`)")
    if args.open:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def add_parsers(commands) -> None:
    page = add_command(
        commands,
        "review-page",
        cmd_review_page,
        "serve the review page on 127.0.0.1 (reviewers sign in with their own token)",
        "Serve the review page on 127.0.0.1. The server holds no credential: each reviewer "
        "signs in with their token. With --as NAME (LocalStack) the printed URL carries a "
        "token for NAME, for the operator who reviews on this machine.",
    )
    page.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    page.add_argument("--open", action="store_true", help="open it in the default browser")
    page.add_argument("--verbose", action="store_true", help="log every request")
