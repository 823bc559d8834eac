"""Certificate bundles on disk: replaced as a whole, and a mismatched pair refused at load."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from common import pki
from common.errors import InvalidArgument
from common.tls import Bundle
from manager.ca import ClusterCA


def _bundle(ca: ClusterCA, name: str) -> Bundle:
    return ca.issue_with_key(name, pki.ROLE_WORKER, "c1", timedelta(days=1)).bundle(ca)


@pytest.fixture
def ca(tmp_path: Path) -> ClusterCA:
    return ClusterCA.load_or_create(tmp_path / "ca", "c1")


def test_save_then_load_gives_the_bundle_back_with_private_modes(
    ca: ClusterCA, tmp_path: Path
) -> None:
    """The three names load as saved; the key is 0600 and every directory holding it 0700."""
    bundle = _bundle(ca, "n1")
    bundle.save(tmp_path / "b")
    assert Bundle.load(tmp_path / "b") == bundle
    key = (tmp_path / "b" / "key.pem").resolve()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o700


def test_a_save_interrupted_at_any_step_leaves_the_old_or_the_new_pair(
    ca: ClusterCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash (a rename that fails) at each step of replacing a bundle in turn: what loads
    afterwards is the old bundle or the new one, never a certificate with the other's key."""
    real_replace = os.replace
    step = 0
    while True:
        directory = tmp_path / f"b{step}"
        old, new = _bundle(ca, "old"), _bundle(ca, "new")
        old.save(directory)
        calls = 0

        def failing_replace(src: object, dst: object, _limit: int = step) -> None:
            nonlocal calls
            calls += 1
            if calls > _limit:
                raise OSError("simulated crash")
            real_replace(src, dst)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "replace", failing_replace)
        try:
            new.save(directory)
            finished = True
        except OSError:
            finished = False
        monkeypatch.setattr(os, "replace", real_replace)
        assert Bundle.load(directory) in (old, new), f"interrupted after {step} renames"
        if finished:
            assert Bundle.load(directory) == new
            break
        step += 1
    assert step >= 3


def test_saving_again_keeps_one_version(ca: ClusterCA, tmp_path: Path) -> None:
    """Older versions are removed once the new one is current."""
    for name in ("a", "b", "c"):
        _bundle(ca, name).save(tmp_path / "b")
    assert len([p for p in (tmp_path / "b").iterdir() if p.name.startswith("..bundle-")]) == 1


def test_writers_of_one_directory_at_once_each_finish_and_leave_a_whole_bundle(
    ca: ClusterCA, tmp_path: Path
) -> None:
    """The manager refreshing its admin bundle while `shoal ca --rotate` saves the same one:
    no save loses its version to the other's clean-up, and what loads is one of theirs."""
    directory = tmp_path / "admin"
    bundles = [_bundle(ca, f"w{i}") for i in range(4)]

    def writer(bundle: Bundle) -> None:
        for _ in range(15):
            bundle.save(directory)
            assert Bundle.load(directory) in bundles

    with ThreadPoolExecutor(len(bundles)) as pool:
        for done in [pool.submit(writer, b) for b in bundles]:
            done.result()
    assert Bundle.load(directory) in bundles
    assert len([p for p in directory.iterdir() if p.name.startswith("..bundle-")]) == 1


def test_a_mismatched_pair_is_refused_in_one_line(ca: ClusterCA, tmp_path: Path) -> None:
    """A certificate beside another certificate's key: InvalidArgument naming the directory."""
    directory = tmp_path / "plain"
    directory.mkdir()
    one, other = _bundle(ca, "one"), _bundle(ca, "other")
    (directory / "ca.pem").write_bytes(one.ca_pem)
    (directory / "cert.pem").write_bytes(one.cert_pem)
    (directory / "key.pem").write_bytes(other.key_pem)
    with pytest.raises(InvalidArgument, match="do not match") as refused:
        Bundle.load(directory)
    assert str(directory) in str(refused.value)
    assert "\n" not in str(refused.value)


def test_remove_takes_the_bundle_and_leaves_other_files(ca: ClusterCA, tmp_path: Path) -> None:
    directory = tmp_path / "state"
    _bundle(ca, "n1").save(directory)
    (directory / "identity.json").write_text("{}")
    Bundle.remove(directory)
    assert [p.name for p in directory.iterdir()] == ["identity.json"]


def test_a_ca_pair_that_does_not_match_is_refused(tmp_path: Path) -> None:
    """The CA's key replaced by another: the manager refuses to load it."""
    ClusterCA.load_or_create(tmp_path / "ca", "c1")
    (tmp_path / "ca" / "ca-key.pem").write_bytes(pki.key_pem(pki.new_key()))
    with pytest.raises(InvalidArgument, match="do not match"):
        ClusterCA.load_or_create(tmp_path / "ca", "c1")
