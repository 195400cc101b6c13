"""``textloop users``: the people who may sign in (the local directory on LocalStack, Cognito
on AWS) and their bearer tokens."""

from __future__ import annotations

import argparse
import json

from textloop_ops.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    CommandError,
    add_command,
    local_people,
)


def _cognito(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The Cognito user pool and app client the options or the environment name."""
    return (
        args.user_pool_id or args.environ.get("TEXTLOOP_COGNITO_USER_POOL_ID"),
        args.client_id or args.environ.get("TEXTLOOP_COGNITO_CLIENT_ID"),
    )


def _needs_target(args: argparse.Namespace) -> bool:
    # With Cognito named, no API URL or key is needed: a reviewer signs in with the app client
    # alone, without being handed a client application's key.
    return not any(_cognito(args))


def _people_directory(args: argparse.Namespace):
    """The users of the target: Cognito on AWS when its pool or app client is named, else the
    LocalStack stack's local directory."""
    pool, client = _cognito(args)
    if pool or client:
        import boto3

        from textloop_ops.people import CognitoPeople

        return CognitoPeople(boto3.client("cognito-idp"), pool, client)
    return local_people(args)


def _on_aws(directory) -> bool:
    from textloop_ops.people import CognitoPeople

    return isinstance(directory, CognitoPeople)


def cmd_users_add(args: argparse.Namespace) -> int:
    directory = _people_directory(args)
    if _on_aws(directory):
        user = directory.add(args.name, args.group, email=args.email)
    else:
        user = directory.add(args.name, args.group)
    if args.output.as_json:
        args.output.json(user.to_dict())
    else:
        args.output.line(f"{user.name}: {', '.join(user.groups)}")
    return EXIT_OK


def cmd_users_remove(args: argparse.Namespace) -> int:
    if not _people_directory(args).remove(args.name):
        raise CommandError(f"no user {args.name!r}", EXIT_NOT_FOUND)
    args.output.line(
        f"{args.name} removed (tokens already issued stay valid until they expire)"
        if not args.output.as_json
        else json.dumps({"removed": args.name})
    )
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    users = [u.to_dict() for u in _people_directory(args).list()]
    args.output.table(users, ["name", "groups"], {"users": users})
    return EXIT_OK


def cmd_users_token(args: argparse.Namespace) -> int:
    """Only the token on stdout, so ``TEXTLOOP_TOKEN=$(textloop users token NAME)`` works."""
    directory = _people_directory(args)
    if _on_aws(directory):
        import getpass

        token = directory.token(args.name, getpass.getpass)
    else:
        token = directory.token(args.name, args.minutes)
    args.output.line(json.dumps({"token": token}) if args.output.as_json else token)
    return EXIT_OK


def add_parsers(commands) -> None:
    users = commands.add_parser(
        "users",
        help="people who may sign in (reviewers, operators, approvers) and their tokens",
        description="People who may sign in and their groups: on LocalStack the stack's local "
        "directory (SSM) and tokens signed with its KMS key; on AWS its Cognito user pool "
        "(--user-pool-id, --client-id or env TEXTLOOP_COGNITO_USER_POOL_ID, "
        "TEXTLOOP_COGNITO_CLIENT_ID).",
    )
    usr = users.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    add = add_command(
        usr,
        "add",
        cmd_users_add,
        "add a person (again: set their groups)",
        needs_target=_needs_target,
    )
    add.add_argument("name")
    add.add_argument(
        "--group",
        action="append",
        required=True,
        choices=("reviewers", "operators", "approvers"),
        help="repeatable",
    )
    add.add_argument("--email", help="AWS: Cognito e-mails the temporary password there")
    remove = add_command(
        usr,
        "remove",
        cmd_users_remove,
        "remove a person (issued tokens expire)",
        needs_target=_needs_target,
    )
    remove.add_argument("name")
    add_command(usr, "list", cmd_users_list, "people and their groups", needs_target=_needs_target)
    token = add_command(
        usr,
        "token",
        cmd_users_token,
        "print a bearer token for a person",
        "LocalStack: a token for NAME signed with the stack's KMS key (your kms:Sign). AWS: "
        "sign in to Cognito as NAME (asks for the password) and print the ID token.",
        needs_target=_needs_target,
    )
    token.add_argument("name")
    token.add_argument(
        "--minutes", type=int, default=60, help="LocalStack: lifetime (default 60, max 720)"
    )
    for sub in (add, remove, token, usr.choices["list"]):
        sub.add_argument("--user-pool-id", help="AWS: the people user pool")
        sub.add_argument("--client-id", help="AWS: the people app client")
