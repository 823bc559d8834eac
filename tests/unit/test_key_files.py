"""Autolock's key files at rest: sealed under a KEK, opened only with it, rotated and turned off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from common import key_files, pki
from common.errors import FailedPrecondition, InvalidArgument
from common.key_files import Kek
from common.private_file import write_private
from common.tls import Bundle
from manager.ca import ClusterCA
from manager.data_key import DataKey


@pytest.fixture(autouse=True)
def _no_kek(tmp_path: Path) -> Iterator[None]:
    yield
    key_files.install(tmp_path / "manager", None)
    key_files.install(tmp_path, None)


def _state_dir(tmp_path: Path) -> tuple[Path, ClusterCA, DataKey, Bundle]:
    state = tmp_path / "manager"
    ca = ClusterCA.load_or_create(state / "ca", "cluster1")
    data_key = DataKey.load_or_create(state)
    node = ca.issue_with_key("node1", pki.ROLE_MANAGER, "cluster1", timedelta(days=1))
    node.bundle(ca).save(state / "node")
    admin = ca.issue_with_key("admin", pki.ROLE_ADMIN, "cluster1", timedelta(days=1))
    admin.bundle(ca).save(state / "admin")
    return state, ca, data_key, node.bundle(ca)


def _plain_key_bytes(state: Path) -> list[bytes]:
    return [path.read_bytes() for path in key_files.key_files(state)]


class TestUnlockKey:
    def test_text_form_round_trips_and_is_docker_like(self) -> None:
        kek = Kek.generate()
        assert kek.unlock_key.startswith("SHOALKEY-1-")
        assert Kek.parse(kek.unlock_key + "\n") == kek

    @pytest.mark.parametrize(
        "text",
        ["", "SWMKEY-1-abc", "SHOALKEY-1-abc", "SHOALKEY-1-!!!", "SHOALKEY-1-abc" + "A" * 41],
    )
    def test_malformed_is_refused_without_echo(self, text: str) -> None:
        with pytest.raises(InvalidArgument) as raised:
            Kek.parse(text)
        assert "abc" not in str(raised.value)

    def test_trailing_text_is_refused(self) -> None:
        with pytest.raises(InvalidArgument):
            Kek.parse(Kek.generate().unlock_key + " and more")

    def test_repr_hides_the_key(self) -> None:
        kek = Kek.generate()
        assert kek.unlock_key not in repr(kek)


class TestSealing:
    def test_sealing_covers_every_manager_key_but_the_client_bundle(self, tmp_path: Path) -> None:
        state, ca, data_key, node = _state_dir(tmp_path)
        changed = key_files.reseal(state, None, Kek.generate())
        names = {str(p.relative_to(state)).split("/")[0] for p in key_files.key_files(state)}
        assert names == {"ca", "keys", "node"}
        assert changed == 3
        for path in key_files.key_files(state):
            data = path.read_bytes()
            assert key_files.is_sealed(data)
            assert ca.key_pem not in data
            assert data_key.material not in data
            assert node.key_pem not in data
        assert not key_files.is_sealed(Bundle.load(state / "admin").key_pem)

    def test_sealed_files_load_with_the_kek_installed(self, tmp_path: Path) -> None:
        state, ca, data_key, node = _state_dir(tmp_path)
        key_files.reseal(state, None, Kek.generate())
        assert ClusterCA.load_or_create(state / "ca", "cluster1").key_pem == ca.key_pem
        assert DataKey.load_or_create(state).material == data_key.material
        assert Bundle.load(state / "node").key_pem == node.key_pem

    def test_a_state_dir_reached_through_a_symlink_loads_sealed(self, tmp_path: Path) -> None:
        """The KEK is found by the state dir's path as given, so a bundle's key is read by
        that path too, not by where a symlink leads."""
        real = tmp_path / "disk" / "manager"
        real.parent.mkdir()
        ca = ClusterCA.load_or_create(real / "ca", "cluster1")
        issued = ca.issue_with_key("node1", pki.ROLE_MANAGER, "cluster1", timedelta(days=1))
        (tmp_path / "manager").symlink_to(real)
        state = tmp_path / "manager"
        issued.bundle(ca).save(state / "node")
        key_files.reseal(state, None, Kek.generate())
        assert key_files.is_sealed((real / "node" / "key.pem").read_bytes())
        assert Bundle.load(state / "node").key_pem == issued.bundle(ca).key_pem

    def test_without_the_kek_nothing_loads(self, tmp_path: Path) -> None:
        state, _, _, _ = _state_dir(tmp_path)
        key_files.reseal(state, None, Kek.generate())
        key_files.install(state, None)
        with pytest.raises(FailedPrecondition, match="manager is locked"):
            DataKey.load_or_create(state)
        with pytest.raises(FailedPrecondition, match="manager is locked"):
            Bundle.load(state / "node")

    def test_a_key_written_while_locked_is_sealed(self, tmp_path: Path) -> None:
        state, ca, _, _ = _state_dir(tmp_path)
        key_files.reseal(state, None, Kek.generate())
        renewed = ca.issue_with_key("node1", pki.ROLE_MANAGER, "cluster1", timedelta(days=1))
        renewed.bundle(ca).save(state / "node")
        raw = (state / "node" / "key.pem").read_bytes()
        assert key_files.is_sealed(raw)
        assert Bundle.load(state / "node").key_pem == renewed.bundle(ca).key_pem

    def test_a_sealed_file_moved_onto_another_name_does_not_open(self, tmp_path: Path) -> None:
        state, _, _, _ = _state_dir(tmp_path)
        kek = Kek.generate()
        key_files.reseal(state, None, kek)
        (state / "keys" / "data.key").write_bytes((state / "ca" / "ca-key.pem").read_bytes())
        with pytest.raises(InvalidArgument):
            key_files.check(state, kek)

    def test_each_state_dir_keeps_its_own_kek(self, tmp_path: Path) -> None:
        locked, _, _, _ = _state_dir(tmp_path / "one")
        clear, _, _, _ = _state_dir(tmp_path / "two")
        key_files.reseal(locked, None, Kek.generate())
        DataKey.generate().save(clear)
        assert key_files.sealed_on_disk(locked)
        assert not key_files.sealed_on_disk(clear)
        key_files.install(locked, None)

    def test_a_state_dir_named_like_the_client_bundle_is_still_sealed(self, tmp_path: Path) -> None:
        state = tmp_path / "admin"
        key_files.install(state, Kek.generate())
        DataKey.generate().save(state)
        assert key_files.is_sealed((state / "keys" / "data.key").read_bytes())
        key_files.install(state, None)

    def test_files_outside_keys_stay_clear(self, tmp_path: Path) -> None:
        key_files.install(tmp_path, Kek.generate())
        write_private(tmp_path / "identity.json", b"{}")
        assert (tmp_path / "identity.json").read_bytes() == b"{}"


class TestWrongKeyRotationAndOff:
    def test_a_wrong_key_changes_nothing(self, tmp_path: Path) -> None:
        state, _, _, _ = _state_dir(tmp_path)
        key_files.reseal(state, None, Kek.generate())
        before = _plain_key_bytes(state)
        with pytest.raises(InvalidArgument, match="invalid unlock key"):
            key_files.check(state, Kek.generate())
        with pytest.raises(InvalidArgument):
            key_files.reseal(state, Kek.generate(), None)
        assert _plain_key_bytes(state) == before

    def test_rotation_reseals_and_the_old_key_stops_working(self, tmp_path: Path) -> None:
        state, _, data_key, _ = _state_dir(tmp_path)
        old, new = Kek.generate(), Kek.generate()
        key_files.reseal(state, None, old)
        assert key_files.reseal(state, old, new) == 3
        key_files.check(state, new)
        with pytest.raises(InvalidArgument):
            key_files.check(state, old)
        key_files.install(state, new)
        assert DataKey.load_or_create(state).material == data_key.material

    def test_a_rotation_cut_short_is_finished_by_the_next(self, tmp_path: Path) -> None:
        state, _, _, _ = _state_dir(tmp_path)
        old, new = Kek.generate(), Kek.generate()
        key_files.reseal(state, None, old)
        first = key_files.key_files(state)[0]
        first.write_bytes(new.seal(old.open(first.read_bytes(), first.name), first.name))
        assert key_files.reseal(state, old, new) == 2
        key_files.check(state, new)

    def test_turning_off_restores_the_clear_files(self, tmp_path: Path) -> None:
        state, ca, data_key, _ = _state_dir(tmp_path)
        clear = _plain_key_bytes(state)
        kek = Kek.generate()
        key_files.reseal(state, None, kek)
        assert key_files.sealed_on_disk(state)
        assert key_files.reseal(state, kek, None) == 3
        assert not key_files.sealed_on_disk(state)
        assert _plain_key_bytes(state) == clear
        key_files.install(state, None)
        assert DataKey.load_or_create(state).material == data_key.material
        assert ClusterCA.load_or_create(state / "ca", "cluster1").key_pem == ca.key_pem
