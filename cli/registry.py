"""Images from registries, as docker's client handles them for a service: the tag pinned to the
digest it names now, resolved through the Docker engine at DOCKER_HOST, and the user's
credentials for the image's registry, read from the docker client configuration
(~/.docker/config.json or $DOCKER_CONFIG, credential helpers included)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from common.docker_auth import auth_config
from common.model import RegistryAuth

# docker-py is imported where it is used: it takes the better part of a second, which only the
# commands that ask an engine or read the docker configuration should pay.

# Seconds the engine may take to ask the registry: past that the image stays unpinned.
RESOLVE_TIMEOUT = 30


def add(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--with-registry-auth",
        action="store_true",
        help="Send registry authentication details to the nodes that pull the image",
    )
    parser.add_argument(
        "--no-resolve-image",
        action="store_true",
        help="Do not query the registry to resolve the image digest",
    )


def shown(image: str) -> str:
    """What `service ls` and `ps` show of an image: its tag, without the digest pinned to it."""
    return image.split("@", 1)[0]


def credentials(image: str) -> RegistryAuth | None:
    """The user's credentials for image's registry; None when the configuration has none."""
    import docker.auth

    registry, _ = docker.auth.resolve_repository_name(image)
    found = docker.auth.resolve_authconfig(docker.auth.load_config(), registry)
    if not found:
        return None
    # Entries of the file are spelled in lower case, a credential helper's capitalised.
    fields = {key.lower(): str(value or "") for key, value in found.items()}
    return RegistryAuth(
        username=fields.get("username", ""),
        password=fields.get("password", ""),
        server_address=fields.get("serveraddress", "") or registry,
        identity_token=fields.get("identitytoken", ""),
    )


def pinned(image: str, auth: RegistryAuth | None, err: TextIO | None = None) -> str:
    """image as `repo:tag@sha256:...`, the digest its tag names now; image itself, after one
    line of warning, when no registry answers for it (as docker goes on), and without one for
    an image only built on the engine."""
    import docker.errors
    import requests.exceptions

    if "@" in image:
        return image
    reference = _tagged(image)
    try:
        digest = _digest(reference, auth)
        if digest is None:
            return image
    except (
        docker.errors.DockerException,
        requests.exceptions.RequestException,
        OSError,
        KeyError,
        TypeError,
    ) as exc:
        # The client's only engine call, and its failure only a warning: caught here.
        reason = _reason(exc)
        (err or sys.stderr).write(
            f"image {image} could not be accessed on a registry to record its digest ({reason});"
            f" each node will access {image} independently, possibly leading to different nodes"
            " running different versions of the image\n"
        )
        return image
    return f"{reference}@{digest}"


def _digest(reference: str, auth: RegistryAuth | None) -> str | None:
    """The digest reference's tag names in its registry; None for an image built on this
    engine and never pushed or pulled, which no registry can know (nor is asked about)."""
    import docker
    import docker.errors
    import docker.utils

    with docker.APIClient(
        **docker.utils.kwargs_from_env(), version="auto", timeout=RESOLVE_TIMEOUT
    ) as api:
        try:
            local = api.inspect_image(reference)  # type: ignore[no-untyped-call]
        except docker.errors.NotFound:
            local = None
        if local is not None and not local.get("RepoDigests"):
            return None
        # Only --with-registry-auth hands out the configuration's credentials (auth_config).
        answer: Mapping[str, Any] = api.inspect_distribution(  # type: ignore[no-untyped-call]
            reference, auth_config=auth_config(auth)
        )
    return str(answer["Descriptor"]["digest"])


def _tagged(image: str) -> str:
    """image with its tag, `latest` when it names none (a ':' before the last '/' is a
    registry's port)."""
    name = image.rsplit("/", 1)[-1]
    return image if ":" in name else f"{image}:latest"


def _reason(exc: Exception) -> str:
    import docker.errors

    if isinstance(exc, docker.errors.APIError):
        explanation = exc.explanation
        text = explanation.decode() if isinstance(explanation, bytes) else str(explanation or exc)
    else:
        text = str(exc) or type(exc).__name__
    return next((line.strip() for line in text.splitlines() if line.strip()), "no answer")
