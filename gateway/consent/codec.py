"""The consent cookie: the visitor's decision signed with itsdangerous.

The whole decision fits in one small cookie, so gateway replicas share nothing in memory:
``<consent id>.<grant bits>.<policy version>.<timestamp>.<signature>``. The signing
timestamp doubles as the decision time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC

from itsdangerous import BadData, TimestampSigner

from gateway.consent.state import GRANT_BITS, Decision, grants_from

_CONSENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_\-]{22}")
# The longest consent cookie value that can verify: consent id (22), grant bits (1 hex digit)
# and policy version (at most 32), each followed by a dot; the signing time (itsdangerous: a
# big-endian integer, base64, 11 characters for 8 bytes) and a dot; the HMAC-SHA256
# signature (43 characters). A longer value is not verified.
MAX_COOKIE_VALUE_LENGTH = 22 + 1 + 1 + 1 + 32 + 1 + 11 + 1 + 43


@dataclass(slots=True)
class ConsentCookieCodec:
    """Signs and verifies the consent cookie.

    ``secrets[0]`` signs; every secret verifies, so keys rotate by prepending a new one.
    Anything that does not verify (tampered, truncated, expired, signed with a key we no
    longer hold, an older policy version) decodes to ``None``: the visitor has not decided.
    """

    secrets: Sequence[str]
    max_age_seconds: int
    _signer: TimestampSigner = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.secrets:
            raise ValueError("at least one secret is needed to sign the consent cookie")
        # itsdangerous signs with the *last* key and verifies with all of them.
        self._signer = TimestampSigner(
            list(reversed(self.secrets)),
            salt="consent-gateway.consent",
            digest_method=hashlib.sha256,
        )

    def encode(self, decision: Decision) -> str:
        bits = sum(GRANT_BITS[c] for c in decision.granted if c in GRANT_BITS)
        payload = f"{decision.consent_id}.{bits:x}.{decision.policy_version}"
        signed = self._signer.sign(payload).decode("ascii")
        return signed

    def decode(self, value: str, policy_version: str) -> Decision | None:
        """The decision in ``value``, or ``None`` when it cannot be trusted or is stale.

        Not remembered here: ``ConsentPolicy``'s memo of states, keyed by the consent
        cookies themselves, answers a returning visitor before this runs (a memo here saved
        nothing measurable, ``benchmarks/bench_memos.py``).
        """
        if len(value) > MAX_COOKIE_VALUE_LENGTH:
            return None
        try:
            payload, signed_at = self._signer.unsign(
                value, max_age=self.max_age_seconds, return_timestamp=True
            )
            consent_id, bits_text, version = payload.decode("ascii").split(".", 2)
            bits = int(bits_text, 16)
        except (BadData, ValueError, UnicodeDecodeError):
            return None
        if (
            version != policy_version
            or not _CONSENT_ID_PATTERN.fullmatch(consent_id)
            or len(bits_text) != 1
        ):
            return None
        granted = grants_from({c: bool(bits & bit) for c, bit in GRANT_BITS.items()})
        return Decision(consent_id, granted, version, signed_at.astimezone(UTC))

    def signed_consent_id(self, value: str) -> str | None:
        """The consent id of a cookie this gateway signed and that has not expired, whatever
        its policy version: a visitor's records stay theirs to read and erase after the
        policy changed. ``None`` for anything else."""
        if len(value) > MAX_COOKIE_VALUE_LENGTH:
            return None
        try:
            payload = self._signer.unsign(value, max_age=self.max_age_seconds)
            consent_id = payload.decode("ascii").split(".", 1)[0]
        except (BadData, UnicodeDecodeError):
            return None
        return consent_id if _CONSENT_ID_PATTERN.fullmatch(consent_id) else None
