"""Admin tokens, sessions and the limit on failed attempts, without a server."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from itsdangerous import TimestampSigner

from gateway import Settings
from gateway.admin.auth import SESSION_SALT, FailureLimiter, Sessions, Tokens, client_network
from gateway.settings import SettingsError

SECRET = "test-secret-0123456789abcdef"
TOKENS = ["first-admin-token-0123456789", "second-admin-token-0123456789"]


def test_every_configured_token_matches_and_nothing_else() -> None:
    tokens = Tokens(TOKENS)
    assert tokens.match(TOKENS[0]) is not None
    assert tokens.match(TOKENS[1]) is not None
    assert tokens.match(TOKENS[0]) != tokens.match(TOKENS[1])
    for wrong in ("", TOKENS[0][:-1], TOKENS[0] + " ", TOKENS[0].upper(), "\udcff"):
        assert tokens.match(wrong) is None
    assert Tokens([]).match("") is None


def test_a_session_names_its_token_and_dies_with_it() -> None:
    sessions = Sessions([SECRET], Tokens(TOKENS), max_age=60)
    digest = Tokens(TOKENS).match(TOKENS[1])
    assert digest is not None
    value = sessions.issue(digest)
    assert TOKENS[1] not in value
    assert sessions.valid(value)
    assert not Sessions([SECRET], Tokens(TOKENS[:1]), max_age=60).valid(value)
    assert not Sessions(["another-secret-0123456789"], Tokens(TOKENS), 60).valid(value)
    # A new secret first still verifies sessions the old one signed.
    assert Sessions(["a-newer-secret-0123456789", SECRET], Tokens(TOKENS), 60).valid(value)
    for forged in (None, "", value[:-1], value + "x", "a" * 500):
        assert not sessions.valid(forged)


def test_an_expired_session_opens_nothing() -> None:
    sessions = Sessions([SECRET], Tokens(TOKENS), max_age=60)
    digest = Tokens(TOKENS).match(TOKENS[0])
    assert digest is not None
    fingerprint = sessions.issue(digest).rsplit(".", 2)[0]

    class TwoMinutesAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 120

    stale = TwoMinutesAgo(SECRET, salt=SESSION_SALT, digest_method=hashlib.sha256)
    assert not sessions.valid(stale.sign(fingerprint).decode())
    fresh = TimestampSigner(SECRET, salt=SESSION_SALT, digest_method=hashlib.sha256)
    assert sessions.valid(fresh.sign(fingerprint).decode())


def test_form_tokens_belong_to_their_session() -> None:
    sessions = Sessions([SECRET], Tokens(TOKENS), max_age=60)
    one, two = "session-one", "session-two"
    assert sessions.csrf_valid(one, sessions.csrf(one))
    assert not sessions.csrf_valid(two, sessions.csrf(one))
    assert not sessions.csrf_valid(one, "")


def test_failures_are_limited_per_network_in_a_sliding_window() -> None:
    limiter = FailureLimiter(allowed=3, window=100.0)
    network = client_network("203.0.113.7")
    assert network == client_network("203.0.113.200") == "203.0.113.0"
    for second in range(3):
        assert limiter.retry_after(network, now=float(second)) == 0
        limiter.failed(network, now=float(second))
    assert limiter.retry_after(network, now=3.0) == 98
    assert limiter.retry_after(client_network("198.51.100.1"), now=3.0) == 0
    assert limiter.retry_after(network, now=100.5) == 0  # the first failure left the window


def test_the_limiter_forgets_the_oldest_networks_beyond_its_bound() -> None:
    limiter = FailureLimiter(allowed=1, window=100.0, max_networks=2)
    for host in ("192.0.2.1", "198.51.100.1", "203.0.113.1"):
        limiter.failed(client_network(host), now=1.0)
    assert limiter.retry_after(client_network("192.0.2.1"), now=2.0) == 0
    assert limiter.retry_after(client_network("203.0.113.1"), now=2.0) > 0
    assert client_network("2001:db8:1:2::1") == "2001:db8:1::"
    assert client_network(None) == "unknown"


def test_every_token_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(len(a))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    tokens = Tokens([*TOKENS, "third-admin-token-0123456789"])
    for offered in (TOKENS[0], TOKENS[1], "x", "wrong" * 40):
        compared.clear()
        tokens.match(offered)
        assert compared == [32, 32, 32]  # all three, as digests of one length


def test_tokens_are_checked_and_kept_out_of_the_settings_repr() -> None:
    settings = Settings.load(environ={}, secret=SECRET, admin_token=TOKENS[0])
    assert settings.admin_token == [TOKENS[0]]
    assert TOKENS[0] not in repr(settings) and TOKENS[0] not in str(settings)
    for weak in ("short", "with a space in it 0123456789", "tab\there-0123456789012345"):
        with pytest.raises(SettingsError, match="admin_token"):
            Settings.load(environ={}, secret=SECRET, admin_token=weak)
    from_env = Settings.load(
        environ={"CONSENT_GATEWAY_ADMIN_TOKEN": f'["{TOKENS[0]}", "{TOKENS[1]}"]'}, secret=SECRET
    )
    assert from_env.admin_token == TOKENS
