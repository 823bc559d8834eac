"""`shoal cluster update --autolock`, `shoal cluster unlock`, `shoal cluster unlock-key`: autolock,
as `docker swarm update --autolock`, `docker swarm unlock` and `docker swarm unlock-key` do it."""

from __future__ import annotations

import argparse
import getpass
import sys

from cli.client import Client
from common.errors import InvalidArgument
from common.key_files import unlock_message


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}: expected true or false")


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    update = commands.add_parser("update", help="Update the cluster")
    update.add_argument(
        "--autolock",
        type=_boolean,
        nargs="?",
        const=True,
        required=True,
        metavar="true|false",
        help="Change manager autolocking setting (true|false)",
    )
    update.set_defaults(run=_update)
    unlock = commands.add_parser(
        "unlock",
        help="Unlock a locked manager (the key is read from a prompt, or stdin when piped)",
    )
    unlock.set_defaults(run=_unlock, local=True)
    unlock_key = commands.add_parser("unlock-key", help="Manage the unlock key")
    unlock_key.add_argument("-q", "--quiet", action="store_true", help="Only display the key")
    unlock_key.add_argument("--rotate", action="store_true", help="Rotate the unlock key")
    unlock_key.set_defaults(run=_unlock_key)


def _update(args: argparse.Namespace, client: Client) -> int:
    key = client.update_autolock(args.autolock)
    print("Cluster updated.")
    if key:
        print(unlock_message(key))
    return 0


def _unlock(args: argparse.Namespace, client: Client) -> int:
    # Never an argument: a command line is visible to every user of the host (ps).
    if sys.stdin.isatty():
        key = getpass.getpass("Please enter unlock key: ")
    else:
        key = sys.stdin.readline()
    if not key.strip():
        raise InvalidArgument("no unlock key given")
    client.unlock_manager(key.strip())
    return 0


def _unlock_key(args: argparse.Namespace, client: Client) -> int:
    key = client.unlock_key(rotate=args.rotate)
    if args.quiet:
        print(key)
        return 0
    if args.rotate:
        print("Successfully rotated manager unlock key.\n")
    print(unlock_message(key))
    return 0
