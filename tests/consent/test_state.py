"""The consent state and its signed cookie."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import TimestampSigner

from gateway.consent.codec import ConsentCookieCodec
from gateway.consent.state import (
    ALL_GRANTED,
    ESSENTIAL_ONLY,
    Category,
    ConsentState,
    Decision,
    Regime,
    Source,
    grants_from,
    new_consent_id,
)

SECRET = "codec-secret-0123456789"


def decision(granted: frozenset[Category] = ALL_GRANTED, version: str = "1") -> Decision:
    return Decision(new_consent_id(), granted, version, datetime.now(UTC))


def test_consent_id_has_128_random_bits() -> None:
    ids = {new_consent_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 22 for i in ids)  # 22 base64 characters = 132 bits >= 128


@given(st.sets(st.sampled_from(list(Category))))
def test_cookie_round_trips_every_grant_combination(chosen: set[Category]) -> None:
    codec = ConsentCookieCodec([SECRET], 3600)
    original = decision(grants_from(dict.fromkeys(chosen, True)))
    decoded = codec.decode(codec.encode(original), "1")
    assert decoded is not None
    assert decoded.granted == original.granted
    assert decoded.consent_id == original.consent_id
    assert Category.ESSENTIAL in decoded.granted


def test_cookie_is_well_under_200_bytes() -> None:
    codec = ConsentCookieCodec([SECRET], 3600)
    assert len(codec.encode(decision(version="2026-11-policy-v12"))) < 120


def test_decision_time_comes_from_the_signature() -> None:
    codec = ConsentCookieCodec([SECRET], 3600)
    decoded = codec.decode(codec.encode(decision()), "1")
    assert decoded is not None
    assert abs(decoded.decided_at.timestamp() - time.time()) < 5


@pytest.mark.parametrize(
    "mangle",
    [
        # Signature edited (not its last character, whose low bits base64 ignores).
        lambda v: v[:-10] + ("A" if v[-10] != "A" else "B") + v[-9:],
        lambda v: v.replace(".0.", ".7.", 1),  # grants edited
        lambda v: v[: len(v) // 2],  # truncated
        lambda v: "",
        lambda v: "garbage",
        lambda v: v + ".extra",
        lambda v: "\xff\x00" + v,
    ],
)
def test_tampered_cookies_do_not_verify(mangle: object) -> None:
    codec = ConsentCookieCodec([SECRET], 3600)
    value = codec.encode(decision(ESSENTIAL_ONLY))
    assert codec.decode(mangle(value), "1") is None  # type: ignore[operator]


@pytest.mark.slow
def test_expired_cookie_does_not_verify() -> None:
    codec = ConsentCookieCodec([SECRET], 10)
    signer = TimestampSigner([SECRET], salt="consent-gateway.consent", digest_method=hashlib.sha256)
    old = signer.sign(f"{new_consent_id()}.7.1").decode()
    assert codec.decode(old, "1") is not None
    codec_short = ConsentCookieCodec([SECRET], 0)
    time.sleep(1.1)
    assert codec_short.decode(old, "1") is None


def test_other_policy_version_does_not_count() -> None:
    codec = ConsentCookieCodec([SECRET], 3600)
    assert codec.decode(codec.encode(decision(version="1")), "2") is None


def test_first_secret_signs_and_all_verify() -> None:
    old_codec = ConsentCookieCodec(["old-secret-0123456789"], 3600)
    rotated = ConsentCookieCodec(["new-secret-0123456789", "old-secret-0123456789"], 3600)
    new_only = ConsentCookieCodec(["new-secret-0123456789"], 3600)
    old_cookie = old_codec.encode(decision())
    assert rotated.decode(old_cookie, "1") is not None
    new_cookie = rotated.encode(decision())
    assert new_only.decode(new_cookie, "1") is not None
    assert old_codec.decode(new_cookie, "1") is None


def test_codec_refuses_to_work_without_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        ConsentCookieCodec([], 3600)


def test_state_allows_essential_always() -> None:
    state = ConsentState(ESSENTIAL_ONLY, False, Source.DEFAULT, "1", Regime.OPT_IN)
    assert state.allows(Category.ESSENTIAL)
    assert state.allows("essential")
    assert not state.allows(Category.ANALYTICS)
    assert state.as_json()["categories"] == {
        "essential": True,
        "preferences": False,
        "analytics": False,
        "marketing": False,
    }
