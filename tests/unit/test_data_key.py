import stat
from pathlib import Path

import pytest

from common.errors import InvalidArgument
from manager.data_key import KEY_FILE, KEYS_DIR, DataKey


def test_sealed_bytes_open_to_the_plaintext_and_do_not_contain_it() -> None:
    key = DataKey.generate()
    secret = b"hunter2-" * 8
    sealed = key.seal(secret, "secret/abc")
    assert secret not in sealed
    assert key.open(sealed, "secret/abc") == secret


def test_each_seal_uses_a_fresh_nonce() -> None:
    key = DataKey.generate()
    assert key.seal(b"same", "x") != key.seal(b"same", "x")


def test_sealed_bytes_are_bound_to_their_object() -> None:
    key = DataKey.generate()
    sealed = key.seal(b"db password", "secret/one")
    with pytest.raises(InvalidArgument, match="does not open"):
        key.open(sealed, "secret/two")


def test_another_key_or_altered_bytes_do_not_open() -> None:
    key = DataKey.generate()
    sealed = key.seal(b"payload", "x")
    with pytest.raises(InvalidArgument):
        DataKey.generate().open(sealed, "x")
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(InvalidArgument):
        key.open(altered, "x")
    with pytest.raises(InvalidArgument, match="unknown format"):
        key.open(b"\x07" + sealed[1:], "x")


def test_the_key_is_kept_private_and_reloaded(tmp_path: Path) -> None:
    first = DataKey.load_or_create(tmp_path)
    path = tmp_path / KEYS_DIR / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = DataKey.load_or_create(tmp_path)
    assert again.open(first.seal(b"v", "x"), "x") == b"v"
    assert "redacted" in repr(again)
    assert path.read_bytes().hex() not in repr(again)


def test_a_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="32 bytes"):
        DataKey(b"short")
