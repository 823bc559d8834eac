"""A real image registry for tests: Debian's `docker-registry` (the CNCF distribution registry)
on private paths, with htpasswd authentication, and images pushed to it from an engine.

Several processes may serve one storage directory: a test pushes through one on loopback (an
engine takes a loopback registry for an insecure one without being told) and the lab's engines
pull through one on a lab host's address.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import docker

from common.model import RegistryAuth
from tests.waiting import wait_for

USER = "shoal"


@dataclass
class Registry:
    """Serves storage at addr (host:port) once started; prefix runs it elsewhere (nsenter)."""

    root: Path
    addr: str
    storage: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    prefix: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def auth(self) -> RegistryAuth:
        return RegistryAuth(username=USER, password=self.password, server_address=self.addr)

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=5)).decode()
        htpasswd = self.root / "htpasswd"
        htpasswd.write_text(f"{USER}:{hashed}\n")
        config = self.root / "config.yml"
        # JSON is YAML: no YAML writer needed. No blob descriptor cache: another process may
        # write the same storage.
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "warn"},
                    "storage": {"filesystem": {"rootdirectory": str(self.storage)}},
                    "http": {"addr": self.addr},
                    "auth": {"htpasswd": {"realm": "shoal-tests", "path": str(htpasswd)}},
                }
            )
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.prefix, "docker-registry", "serve", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: self.answers() == 401, f"the registry at {self.addr}")

    def answers(self) -> int:
        """The status /v2/ answers with (401 without credentials), 0 when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=2) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def docker_config(self, directory: Path) -> Path:
        """A docker client configuration (for $DOCKER_CONFIG) holding the credentials."""
        directory.mkdir(parents=True, exist_ok=True)
        token = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
        (directory / "config.json").write_text(json.dumps({"auths": {self.addr: {"auth": token}}}))
        return directory


def build(api: docker.APIClient, tag: str, version: str) -> str:
    """An image of local/busybox:latest's content and a label of its own, so each version has a
    digest of its own; its ID."""
    dockerfile = f"FROM local/busybox:latest\nLABEL shoal.test.version={version}\n"
    for line in api.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, decode=True):
        if "error" in line:
            raise AssertionError(f"building {tag}: {line['error']}")
    image_id: str = api.inspect_image(tag)["Id"]  # type: ignore[no-untyped-call]
    return image_id


def push(api: docker.APIClient, registry: Registry, source: str, reference: str) -> str:
    """source pushed through registry as reference (repo:tag, without the registry); the
    manifest's digest. The engine keeps no tag of it after."""
    repository, tag = reference.rsplit(":", 1)
    target = f"{registry.addr}/{repository}"
    api.tag(source, target, tag)
    auth = {"username": USER, "password": registry.password}
    digest = ""
    try:
        for line in api.push(target, tag=tag, auth_config=auth, stream=True, decode=True):
            if "error" in line:
                raise AssertionError(f"pushing {target}:{tag}: {line['error']}")
            digest = (line.get("aux") or {}).get("Digest", digest)
    finally:
        api.remove_image(f"{target}:{tag}")
    assert digest.startswith("sha256:"), f"no digest pushing {target}:{tag}"
    return digest
