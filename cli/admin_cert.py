"""`shoal admin-cert --rotate [--out DIR]`: replace the admin bundle, revoking every older one.

Like `kubeadm certs renew admin.conf`, the bundle in use is replaced where it is, unless --out
names another directory. The key is made here and never leaves this host.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from cli.client import Client
from common import pki
from common.errors import InvalidArgument, Unauthenticated
from common.tls import Bundle


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="Issue a new admin bundle; admin certificates issued before it are refused",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="Write the new bundle to DIR (default: replace the bundle in use)",
    )
    parser.set_defaults(run=_admin_cert, check=functools.partial(_require_rotate, parser))


def _require_rotate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.rotate:
        parser.error("nothing to do: give --rotate")


def _admin_cert(args: argparse.Namespace, client: Client) -> int:
    out: Path = args.out or client.config
    if out.exists() and not out.is_dir():
        raise InvalidArgument(f"--out {out} is not a directory")
    key = pki.new_key()
    ca_pem, cert_pem = client.rotate_admin_certificate(pki.new_csr(key))
    cert = pki.load_cert(cert_pem)
    if not pki.issued_by(cert, pki.load_cert(ca_pem)) or not pki.matches_key(cert, key):
        raise Unauthenticated("the manager answered with a certificate that does not verify")
    Bundle(ca_pem=ca_pem, cert_pem=cert_pem, key_pem=pki.key_pem(key)).save(out)
    print(
        f"Admin certificate rotated: the new bundle is in {out}.\n"
        "Admin certificates issued before it are refused from now on."
    )
    return 0
