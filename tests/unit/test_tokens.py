"""common.tokens: the join token format, its parser, and secret handling."""

from __future__ import annotations

import re

import pytest

from common import tokens
from common.errors import InvalidArgument, ShoalError
from common.tokens import JoinToken

BASE36 = re.compile(r"^[0-9a-z]+$")
DIGEST = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcd"
SECRET = "zyxwvutsrqponmlkjihgfedcb"
GOOD = f"SHOAL-1-{DIGEST}-{SECRET}"


def test_fixture_lengths() -> None:
    """The sample digest and secret used below have exactly the lengths the format demands."""
    assert len(DIGEST) == tokens.DIGEST_LEN == 50
    assert len(SECRET) == tokens.SECRET_LEN == 25


class TestFormat:
    def test_str_has_the_documented_shape(self) -> None:
        """str(JoinToken) is SHOAL-1-<digest>-<secret>."""
        assert str(JoinToken(digest=DIGEST, secret=SECRET)) == GOOD

    def test_round_trip(self) -> None:
        """Parsing the text of a token gives back an equal token."""
        token = JoinToken(digest=tokens.digest_of(b"ca certificate"), secret=tokens.new_secret())
        assert tokens.parse(str(token)) == token

    def test_parse_splits_digest_and_secret(self) -> None:
        """parse() puts the 50-character field in digest and the 25-character one in secret."""
        token = tokens.parse(GOOD)
        assert token.digest == DIGEST
        assert token.secret == SECRET

    def test_surrounding_whitespace_is_ignored(self) -> None:
        """A token pasted with a trailing newline or leading spaces still parses."""
        assert tokens.parse(f"  {GOOD}\n") == tokens.parse(GOOD)

    def test_digest_of_is_50_base36_and_deterministic(self) -> None:
        """digest_of gives 50 base36 characters: the same for the same bytes, else different."""
        first = tokens.digest_of(b"ca")
        assert len(first) == tokens.DIGEST_LEN
        assert BASE36.match(first)
        assert tokens.digest_of(b"ca") == first
        assert tokens.digest_of(b"cb") != first

    def test_repr_of_token_hides_the_secret(self) -> None:
        """repr(JoinToken) never shows the secret (nor the digest), so logging it is harmless."""
        token = JoinToken(digest=DIGEST, secret=SECRET)
        assert SECRET not in repr(token)
        assert DIGEST not in repr(token)


MALFORMED = {
    "empty": "",
    "only whitespace": "   ",
    "wrong prefix": f"SWARM-1-{DIGEST}-{SECRET}",
    "lower-case prefix": f"shoal-1-{DIGEST}-{SECRET}",
    "wrong version": f"SHOAL-2-{DIGEST}-{SECRET}",
    "missing version": f"SHOAL-{DIGEST}-{SECRET}",
    "digest too short": f"SHOAL-1-{DIGEST[:-1]}-{SECRET}",
    "digest too long": f"SHOAL-1-{DIGEST}a-{SECRET}",
    "secret too short": f"SHOAL-1-{DIGEST}-{SECRET[:-1]}",
    "secret too long": f"SHOAL-1-{DIGEST}-{SECRET}a",
    "upper-case digest": f"SHOAL-1-{DIGEST.upper()}-{SECRET}",
    "upper-case secret": f"SHOAL-1-{DIGEST}-{SECRET.upper()}",
    "extra dash inside": f"SHOAL-1-{DIGEST}-{SECRET[:10]}-{SECRET[10:]}",
    "extra field": f"SHOAL-1-{DIGEST}-{SECRET}-x",
    "trailing dash": f"SHOAL-1-{DIGEST}-{SECRET}-",
    "missing secret": f"SHOAL-1-{DIGEST}",
    "non-base36 character": f"SHOAL-1-{DIGEST}-{SECRET[:-1]}_",
    "inner whitespace": f"SHOAL-1-{DIGEST}- {SECRET[1:]}",
}


class TestMalformed:
    @pytest.mark.parametrize("text", list(MALFORMED.values()), ids=list(MALFORMED))
    def test_refused_with_invalid_argument(self, text: str) -> None:
        """Anything but the exact format is refused with InvalidArgument (a ShoalError)."""
        with pytest.raises(InvalidArgument) as caught:
            tokens.parse(text)
        assert isinstance(caught.value, ShoalError)

    @pytest.mark.parametrize("text", list(MALFORMED.values()), ids=list(MALFORMED))
    def test_error_never_contains_the_secret(self, text: str) -> None:
        """Neither str() nor repr() of the error quotes the rejected text or its secret."""
        with pytest.raises(InvalidArgument) as caught:
            tokens.parse(text)
        for rendered in (str(caught.value), repr(caught.value)):
            assert SECRET not in rendered
            assert SECRET.upper() not in rendered
            assert SECRET[:-1] not in rendered
            assert SECRET[:10] not in rendered

    def test_error_says_what_was_expected(self) -> None:
        """The message names the expected shape, so a user can tell what went wrong."""
        with pytest.raises(InvalidArgument, match="SHOAL-1-"):
            tokens.parse("nope")


class TestSecrets:
    def test_new_secret_is_25_base36(self) -> None:
        """new_secret gives exactly 25 characters of [0-9a-z], padded when the number is small."""
        for _ in range(200):
            secret = tokens.new_secret()
            assert len(secret) == tokens.SECRET_LEN
            assert BASE36.match(secret)

    def test_new_secret_is_random(self) -> None:
        """Secrets do not repeat."""
        assert len({tokens.new_secret() for _ in range(1000)}) == 1000

    def test_new_secret_fits_a_token(self) -> None:
        """A fresh secret makes a token that parses."""
        secret = tokens.new_secret()
        assert tokens.parse(f"SHOAL-1-{DIGEST}-{secret}").secret == secret
