"""`shoal secret ...`, `shoal config ...` and the --secret/--config flags of `service
create/update`, against the fake manager of tests/unit/cli."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Certificates, Shoal, serving
from tests.unit.cli.seeded import seed

IMAGE = "local/busybox:latest"


@pytest.fixture
def fake(certificates: Certificates) -> Iterator[FakeControl]:
    control = FakeControl()
    seed(control)
    with serving(control, certificates.server):
        yield control


@pytest.fixture
def shoal(
    fake: FakeControl,
    certificates: Certificates,
    capsys: pytest.CaptureFixture[str],
) -> Shoal:
    return Shoal(capsys, fake.address, certificates.admin)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.write_bytes(b"hunter2\n")
    return path


def test_secret_create_ls_and_inspect_never_show_the_data(shoal: Shoal, data: Path) -> None:
    created = shoal("secret", "create", "--label", "team=db", "db-pass", str(data))
    assert created.code == 0, created.err
    [secret_id] = created.lines
    listed = shoal("secret", "ls")
    assert listed.lines[0].split() == ["ID", "NAME", "CREATED", "UPDATED"]
    assert listed.lines[1].split()[:2] == [secret_id, "db-pass"]
    assert shoal("secret", "ls", "-q").lines == [secret_id]
    [document] = json.loads(shoal("secret", "inspect", "db-pass").out)
    assert document["Spec"] == {"Name": "db-pass", "Labels": {"team": "db"}}
    assert document["DataVersions"] == [1]
    pretty = shoal("secret", "inspect", "--pretty", "db-pass").out
    assert "hunter2" not in pretty
    assert "Versions:               1" in pretty


def test_config_inspect_shows_the_data(shoal: Shoal, data: Path) -> None:
    shoal("config", "create", "app.conf", str(data))
    [document] = json.loads(shoal("config", "inspect", "app.conf").out)
    assert base64.b64decode(document["Spec"]["Data"]) == b"hunter2\n"
    # Secrets and configs are apart: the config is no secret.
    assert shoal("secret", "ls", "-q").lines == []


def test_unreadable_file_and_unknown_name_are_one_line(shoal: Shoal, tmp_path: Path) -> None:
    missing = shoal("secret", "create", "x", str(tmp_path / "absent"))
    assert (missing.code, missing.err) == (
        1,
        f"Error: cannot read {tmp_path / 'absent'}: No such file or directory\n",
    )
    unknown = shoal("secret", "rm", "nope")
    assert (unknown.code, unknown.err) == (1, "Error: secret not found: nope\n")


def test_endless_input_is_refused_at_the_limit_without_reading_it_all(
    shoal: Shoal, fake: FakeControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/dev/zero as the file and as stdin: the client reads one byte past the limit and stops
    (it would run out of memory otherwise), and nothing is created."""
    zero = shoal("secret", "create", "x", "/dev/zero")
    assert (zero.code, zero.err) == (
        1,
        "Error: /dev/zero: secret data is over the limit of 500 KB\n",
    )
    with open("/dev/zero", "rb") as endless:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(endless))
        piped = shoal("config", "create", "y", "-")
    assert (piped.code, piped.err) == (
        1,
        "Error: stdin: config data is over the limit of 1000 KB\n",
    )
    assert fake.files == {}


def test_data_at_the_limit_is_sent(shoal: Shoal, fake: FakeControl, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.write_bytes(b"s" * 500 * 1024)
    assert shoal("secret", "create", "x", str(full)).code == 0
    [stored] = fake.files.values()
    assert len(stored.data) == 500 * 1024


def test_service_create_sends_short_and_long_references(shoal: Shoal, fake: FakeControl) -> None:
    done = shoal(
        "service", "create", "-d", "--name", "api", "--secret", "db-pass",
        "--secret", "source=db-pass,target=pw,uid=1000,gid=1001,mode=0400",
        "--config", "app.conf", "--config", "src=app.conf,target=/etc/app.conf", IMAGE,
    )  # fmt: skip
    assert done.code == 0, done.err
    [service] = [s for s in fake.services.values() if s.spec.name == "api"]
    assert service.spec.container.secrets == (
        m.FileReference(name="db-pass", target="db-pass"),
        m.FileReference(name="db-pass", target="pw", uid=1000, gid=1001, mode=0o400),
    )
    assert [r.target for r in service.spec.container.configs] == ["/app.conf", "/etc/app.conf"]


def test_service_update_adds_and_removes_references(shoal: Shoal, fake: FakeControl) -> None:
    shoal("service", "create", "-d", "--name", "api", "--secret", "a", "--secret", "b", IMAGE)
    done = shoal(
        "service", "update", "-d", "--secret-rm", "a", "--secret-add", "source=c,target=b",
        "--config-add", "x", "api",
    )  # fmt: skip
    assert done.code == 0, done.err
    [service] = [s for s in fake.services.values() if s.spec.name == "api"]
    # c took b's target, so it replaced b.
    assert [(r.name, r.target) for r in service.spec.container.secrets] == [("c", "b")]
    assert [r.name for r in service.spec.container.configs] == ["x"]
    refused = shoal("service", "update", "-d", "--secret-rm", "zzz", "api")
    assert (refused.code, refused.err) == (1, "Error: secret zzz is not used by the service\n")


def test_a_bad_long_form_is_a_usage_error(shoal: Shoal, fake: FakeControl) -> None:
    calls = len(fake.calls)
    result = shoal("service", "create", "--secret", "source=a,mode=9z", IMAGE)
    assert result.code == 1
    (line,) = result.err.splitlines()
    assert "uid and gid are numbers, mode an octal number" in line
    assert len(fake.calls) == calls


def test_job_flags_reach_the_spec(shoal: Shoal, fake: FakeControl) -> None:
    done = shoal(
        "service", "create", "-d", "--name", "batch", "--mode", "replicated-job",
        "--replicas", "5", "--max-concurrent", "2", IMAGE,
    )  # fmt: skip
    assert done.code == 0, done.err
    [service] = [s for s in fake.services.values() if s.spec.name == "batch"]
    assert (service.spec.mode, service.spec.replicas, service.spec.max_concurrent) == (
        m.ServiceMode.REPLICATED_JOB,
        5,
        2,
    )
    assert service.spec.restart.condition == m.RestartCondition.ON_FAILURE
    refused = shoal("service", "create", "-d", "--max-concurrent", "2", IMAGE)
    assert refused.err == "Error: --max-concurrent can only be used with replicated-job mode\n"
