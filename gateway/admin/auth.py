"""Who may open the admin page: a bearer token, or the signed session cookie its login form
sets; failed attempts limited per client network.

Tokens are compared in constant time: each configured token's SHA-256 against the offered
one's, all of them every time, so neither which token nor its length shows in the timing.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Sequence

from itsdangerous import BadData, TimestampSigner

from gateway.proxies import truncate_ip

SESSION_SALT = "consent-gateway.admin-session"
CSRF_SALT = b"consent-gateway.admin-csrf"
FAILURES_ALLOWED = 10  # failed attempts per network within the window
FAILURE_WINDOW_SECONDS = 300.0
MAX_NETWORKS = 10_000  # networks remembered at once; the oldest is forgotten first


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Tokens:
    """The configured admin tokens, as digests."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._digests = [_digest(token) for token in tokens]

    def match(self, offered: str) -> bytes | None:
        """The digest of the configured token ``offered`` is, or None; every token is
        compared, with no early exit."""
        given = _digest(offered)
        found = None
        for digest in self._digests:
            if hmac.compare_digest(given, digest):
                found = digest
        return found

    def holds(self, fingerprint: str) -> bool:
        """Whether a session's token fingerprint still names a configured token."""
        found = False
        for digest in self._digests:
            found |= hmac.compare_digest(fingerprint, _fingerprint(digest))
        return found


def _fingerprint(digest: bytes) -> str:
    """What a session cookie names its token by: not the token, and not enough of its hash
    to test guesses against offline faster than online."""
    return hashlib.sha256(b"admin-session" + digest).hexdigest()[:32]


class Sessions:
    """The login's cookie: the token's fingerprint signed with the consent cookie's secrets
    (the first signs, all verify) and a time, valid for ``max_age`` seconds."""

    def __init__(self, secrets: Sequence[str], tokens: Tokens, max_age: int) -> None:
        self._signer = TimestampSigner(
            list(reversed(secrets)), salt=SESSION_SALT, digest_method=hashlib.sha256
        )
        self._key = _digest(secrets[0])
        self._tokens = tokens
        self.max_age = max_age

    def issue(self, digest: bytes) -> str:
        return self._signer.sign(_fingerprint(digest)).decode("ascii")

    def valid(self, value: str | None) -> bool:
        if not value or len(value) > 200:
            return False
        try:
            fingerprint = self._signer.unsign(value, max_age=self.max_age).decode("ascii")
        except (BadData, UnicodeDecodeError):
            return False
        return self._tokens.holds(fingerprint)

    def csrf(self, session: str) -> str:
        """The form token of a session: forms posted with the cookie must carry it."""
        return hmac.new(self._key, CSRF_SALT + session.encode("ascii"), "sha256").hexdigest()

    def csrf_valid(self, session: str, offered: str) -> bool:
        return hmac.compare_digest(self.csrf(session), offered)


def client_network(address: str | None) -> str:
    """The network a client address counts failures for: IPv4 /24, IPv6 /48 (one
    subscriber's)."""
    if address is None:
        return "unknown"
    return truncate_ip(address) or address


class FailureLimiter:
    """Failed logins per client network in a sliding window, in memory (per worker: with
    N workers an attacker gets N times the attempts, still a few per minute)."""

    def __init__(
        self,
        allowed: int = FAILURES_ALLOWED,
        window: float = FAILURE_WINDOW_SECONDS,
        max_networks: int = MAX_NETWORKS,
    ) -> None:
        self.allowed = allowed
        self.window = window
        self.max_networks = max_networks
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def retry_after(self, network: str, now: float | None = None) -> int:
        """Seconds until ``network`` may try again; 0 when it may now."""
        now = time.monotonic() if now is None else now
        times = self._recent(network, now)
        if len(times) < self.allowed:
            return 0
        return max(1, int(times[0] + self.window - now) + 1)

    def failed(self, network: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        times = self._recent(network, now)
        times.append(now)
        self._failures[network] = times
        self._failures.move_to_end(network)
        while len(self._failures) > self.max_networks:
            self._failures.popitem(last=False)

    def _recent(self, network: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(network, ()) if t > now - self.window]
        if not times:
            self._failures.pop(network, None)
        return times[-self.allowed :]
