"""Where `shoal` finds its bundle, and the TLS it speaks with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli import connection
from common import tls
from common.tls import Bundle
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Certificates, Places, Shoal, one_error_line, serving
from tests.unit.cli.seeded import MONITOR_ID, WEB_ID


def place(bundle: Path, directory: Path) -> Path:
    shutil.copytree(bundle, directory)
    return directory


def partial(directory: Path, source: Path) -> Path:
    """A directory with the CA certificate alone, as after an interrupted copy."""
    directory.mkdir(parents=True)
    shutil.copy(source / tls.CA_FILE, directory)
    return directory


class TestBundleSearch:
    """Which bundle directory the client presents. The bundle that should lose is always one
    from another cluster, so picking it would fail the TLS handshake."""

    @pytest.mark.parametrize(
        ("flag", "env", "home", "manager"),
        [
            ("admin", "foreign", "foreign", "foreign"),
            (None, "admin", "foreign", "foreign"),
            (None, None, "admin", "foreign"),
            (None, None, None, "admin"),
            (None, None, "partial", "admin"),
        ],
        ids=[
            "--config beats $SHOAL_CONFIG",
            "$SHOAL_CONFIG beats ~/.shoal",
            "~/.shoal beats the manager's",
            "the manager's admin dir last",
            "an incomplete ~/.shoal is passed over",
        ],
    )
    def test_order(
        self,
        control: FakeControl,
        certificates: Certificates,
        places: Places,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        flag: str | None,
        env: str | None,
        home: str | None,
        manager: str | None,
    ) -> None:
        """--config, then $SHOAL_CONFIG, then ~/.shoal, then the manager's admin directory: the
        first complete one is used."""
        bundles = {"admin": certificates.admin, "foreign": certificates.foreign}

        def fill(choice: str | None, directory: Path) -> Path:
            if choice == "partial":
                return partial(directory, certificates.admin)
            if choice is not None:
                place(bundles[choice], directory)
            return directory

        config = None if flag is None else fill(flag, tmp_path / "flag")
        if env is not None:
            monkeypatch.setenv(connection.CONFIG_ENV, str(fill(env, tmp_path / "env")))
        fill(home, places.home_config)
        fill(manager, places.manager_admin)
        result = Shoal(capsys, control.address, config)("service", "ls", "-q")
        assert (result.code, result.lines, result.err) == (0, [MONITOR_ID, WEB_ID], "")

    @pytest.mark.parametrize("source", ["--config", "$SHOAL_CONFIG"])
    def test_a_named_directory_must_be_complete(
        self,
        control: FakeControl,
        certificates: Certificates,
        places: Places,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        source: str,
    ) -> None:
        """An incomplete directory given by --config or $SHOAL_CONFIG is an error naming it,
        even when ~/.shoal holds a good bundle; nothing is sent."""
        named = partial(tmp_path / "named", certificates.admin)
        place(certificates.admin, places.home_config)
        if source == "--config":
            shoal = Shoal(capsys, control.address, named)
        else:
            monkeypatch.setenv(connection.CONFIG_ENV, str(named))
            shoal = Shoal(capsys, control.address)
        result = shoal("node", "ls")
        assert one_error_line(result) == (
            f"Error: no complete certificate bundle (ca.pem, cert.pem, key.pem) in {named},"
            f" given by {source}"
        )
        assert control.calls == []

    def test_none_anywhere(
        self, control: FakeControl, places: Places, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With no bundle anywhere: one line that names the places searched and how to get a
        bundle; nothing is sent."""
        result = Shoal(capsys, control.address)("node", "ls")
        assert one_error_line(result) == (
            f"Error: no certificate bundle in {places.home_config} or {places.manager_admin}:"
            f" copy <manager state dir>/admin/ (default {places.manager_admin}) from the manager"
            " host to ~/.shoal, or pass --config DIR"
        )
        assert control.calls == []

    def test_unreadable_directory(
        self,
        control: FakeControl,
        certificates: Certificates,
        places: Places,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A directory on the search path the user may not read (the manager's, as a plain
        user) is one line naming it, not a traceback."""
        place(certificates.admin, places.manager_admin)
        present = Bundle.present

        def denied(directory: Path) -> bool:
            # What a plain user meets in root's 0700 state dir; tests run as root, so the
            # refusal is made here rather than by file modes.
            if directory == places.manager_admin:
                raise PermissionError(13, "Permission denied", str(directory))
            return present(directory)

        monkeypatch.setattr(Bundle, "present", staticmethod(denied))
        result = Shoal(capsys, control.address)("node", "ls")
        assert one_error_line(result) == (
            f"Error: cannot read the certificate bundle in {places.manager_admin}:"
            " permission denied"
        )


class TestTls:
    def test_bundle_from_another_cluster(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bundle whose CA did not sign the manager's certificate fails the handshake: one
        line that says so and names the bundle, without any of its contents."""
        result = Shoal(capsys, control.address, certificates.foreign)("node", "ls")
        assert one_error_line(result) == (
            f"Error: TLS handshake with the manager at {control.address} failed:"
            f" is the bundle in {certificates.foreign} from this cluster?"
        )
        assert "BEGIN" not in result.err
        assert control.calls == []

    def test_certificate_refused_by_the_manager(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A client certificate the manager's CA did not issue is refused (after the handshake,
        under TLS 1.3); it gets the same message as a wrong CA."""
        result = Shoal(capsys, control.address, certificates.stranger)("node", "ls")
        assert one_error_line(result) == (
            f"Error: TLS handshake with the manager at {control.address} failed:"
            f" is the bundle in {certificates.stranger} from this cluster?"
        )
        assert control.calls == []

    def test_address_the_certificate_does_not_name(
        self, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Calling the manager at an address its certificate does not name says so, and how to
        call it instead."""
        fake = FakeControl()
        with serving(fake, certificates.localhost_only):
            result = Shoal(capsys, fake.address, certificates.admin)("node", "ls")
        assert one_error_line(result) == (
            f"Error: the manager's certificate does not name {fake.address}:"
            " use -H with the address or hostname the manager advertises"
        )
        assert fake.calls == []

    def test_worker_certificate_gets_the_servers_refusal(
        self, control: FakeControl, certificates: Certificates, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """PERMISSION_DENIED from the manager is shown in its own words, on one line."""
        result = Shoal(capsys, control.address, certificates.worker)("node", "ls")
        assert one_error_line(result) == ("Error: a worker certificate cannot use the control API")
        assert control.calls == []
