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


def _people_directory(args: argparse.Namespace):
    """The users of the target: the local directory, or Cognito on AWS."""
    if args.target.is_localstack:
        return local_people(args)
    from textloop_ops.people import CognitoPeople

    return CognitoPeople(
        args.target,
        args.user_pool_id or args.environ.get("TEXTLOOP_COGNITO_USER_POOL_ID"),
        args.client_id or args.environ.get("TEXTLOOP_COGNITO_CLIENT_ID"),
    )


def cmd_users_add(args: argparse.Namespace) -> int:
    directory = _people_directory(args)
    if args.target.is_localstack:
        user = directory.add(args.name, args.group)
    else:
        user = directory.add(args.name, args.group, email=args.email)
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
    if args.target.is_localstack:
        token = directory.token(args.name, args.minutes)
    else:
        import getpass

        token = directory.token(args.name, getpass.getpass)
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
    add = add_command(usr, "add", cmd_users_add, "add a person (again: set their groups)")
    add.add_argument("name")
    add.add_argument(
        "--group",
        action="append",
        required=True,
        choices=("reviewers", "operators", "approvers"),
        help="repeatable",
    )
    add.add_argument("--email", help="AWS: Cognito e-mails the temporary password there")
    remove = add_command(usr, "remove", cmd_users_remove, "remove a person (issued tokens expire)")
    remove.add_argument("name")
    add_command(usr, "list", cmd_users_list, "people and their groups")
    token = add_command(
        usr,
        "token",
        cmd_users_token,
        "print a bearer token for a person",
        "LocalStack: a token for NAME signed with the stack's KMS key (your kms:Sign). AWS: "
        "sign in to Cognito as NAME (asks for the password) and print the ID token.",
    )
    token.add_argument("name")
    token.add_argument(
        "--minutes", type=int, default=60, help="LocalStack: lifetime (default 60, max 720)"
    )
    for sub in (add, remove, token, usr.choices["list"]):
        sub.add_argument("--user-pool-id", help="AWS: the people user pool")
        sub.add_argument("--client-id", help="AWS: the people app client")
