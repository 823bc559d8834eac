"""`shoal ca [--rotate [--cert-expiry D] [-d] [-q] [--timeout D]]`: show the cluster's root CA,
or move the cluster onto a new one (docker's `swarm ca --rotate`).

The bundle in use is replaced by one of the new CA at once (its key is made here), and once
the rotation ends its CA file holds the new root alone. Exit codes: 0 done (or detached), 1 an
error, 2 the timeout passed before every live node moved (they are named).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

from cli.answers import CAProgress
from cli.client import Client
from common import durations, pki
from common.errors import ShoalError, Unauthenticated
from common.tls import Bundle

POLL = 0.5
TIMED_OUT = 2


def _duration(text: str) -> timedelta:
    try:
        return durations.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="Rotate the cluster CA: every node moves onto a new one",
    )
    parser.add_argument(
        "--cert-expiry",
        type=_duration,
        metavar="DURATION",
        help="Validity period for node certificates from now on (default: the managers')",
    )
    parser.add_argument(
        "-d", "--detach", action="store_true", help="Exit immediately instead of waiting"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    parser.add_argument(
        "--timeout",
        type=_duration,
        default=timedelta(minutes=5),
        metavar="DURATION",
        help="How long to wait for every live node to move (default 5m); exit 2 past it",
    )
    parser.set_defaults(run=_ca)


def _ca(args: argparse.Namespace, client: Client) -> int:
    if not args.rotate:
        status = client.ca_status()
        if status.rotating:
            print(f"rotation in progress: {_progress(status)}", file=sys.stderr)
        sys.stdout.write(status.ca_pem.decode())
        return 0
    key = pki.new_key()
    ca_pem, cert_pem = client.rotate_ca(pki.new_csr(key), args.cert_expiry)
    cert = pki.load_cert(cert_pem)
    if pki.issuing_root(cert, pki.load_certs(ca_pem)) is None or not pki.matches_key(cert, key):
        raise Unauthenticated("the manager answered with a certificate that does not verify")
    bundle = Bundle(ca_pem=ca_pem, cert_pem=cert_pem, key_pem=pki.key_pem(key))
    bundle.save(client.config)
    if args.detach:
        print("CA rotation begun: `shoal ca` shows how far it is.", file=sys.stderr)
        return 0
    deadline = time.monotonic() + args.timeout.total_seconds()
    shown = ""
    while True:
        status = client.ca_status()
        line = _progress(status)
        if not args.quiet and line != shown:
            print(line, file=sys.stderr, flush=True)
            shown = line
        if not status.rotating:
            Bundle(status.ca_pem, bundle.cert_pem, bundle.key_pem).save(client.config)
            sys.stdout.write(status.ca_pem.decode())
            return 0
        if time.monotonic() >= deadline:
            print(
                "timed out: the rotation goes on; nodes not moved yet: "
                + (", ".join(status.pending) or "none"),
                file=sys.stderr,
            )
            return TIMED_OUT
        time.sleep(POLL)


def _progress(status: CAProgress) -> str:
    return f"rotated: {status.moved}/{status.total} nodes"
