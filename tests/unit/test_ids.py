"""common.ids: base36 encoding and object IDs."""

from __future__ import annotations

import re

import pytest

from common.ids import ALPHABET, base36, new_id

ID = re.compile(r"^[0-9a-z]{25}$")


class TestBase36:
    @pytest.mark.parametrize(
        ("value", "width", "expected"),
        [
            (0, 3, "000"),
            (1, 3, "001"),
            (35, 3, "00z"),
            (36, 3, "010"),
            (36**3 - 1, 3, "zzz"),
            (1295, 2, "zz"),
        ],
    )
    def test_digits_and_left_padding(self, value: int, width: int, expected: str) -> None:
        """Digits are 0-9 then a-z, most significant first, padded with 0 to the width."""
        assert base36(value, width) == expected

    def test_zero_width_zero(self) -> None:
        """Zero in width zero is the empty string (nothing to pad)."""
        assert base36(0, 0) == ""

    def test_too_wide_is_refused(self) -> None:
        """A value needing more digits than the width raises ValueError instead of truncating."""
        with pytest.raises(ValueError, match="do not fit"):
            base36(36**3, 3)

    def test_round_trips_through_int(self) -> None:
        """int(text, 36) reads back the value for a spread of magnitudes."""
        for value in [0, 1, 35, 36, 12345678901234567890, 2**128 - 1]:
            assert int(base36(value, 25), 36) == value

    def test_alphabet(self) -> None:
        """The alphabet is the 36 characters 0-9a-z in order."""
        assert ALPHABET == "0123456789abcdefghijklmnopqrstuvwxyz"


class TestNewId:
    def test_shape(self) -> None:
        """An ID is exactly 25 characters of [0-9a-z] (the largest 128-bit value fits)."""
        assert base36(2**128 - 1, 25)  # no ValueError: 128 bits always fit in 25 digits
        for _ in range(500):
            assert ID.match(new_id())

    def test_unique(self) -> None:
        """IDs do not repeat over many calls."""
        assert len({new_id() for _ in range(10_000)}) == 10_000
