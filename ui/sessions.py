"""Admin sign-in: random session ids with an expiry, revoked on logout, and
throttling of wrong tokens per client address.

Sessions live in memory: a restart signs everybody out, which for one office
server's admin page is a feature, not a loss.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

SESSION_SECONDS = 8 * 3600  # a working day
MAX_SESSIONS = 1000  # the oldest are dropped beyond this, so a flood of sign-ins cannot fill memory
FREE_FAILURES = 3  # wrong tokens allowed before the wait starts
FIRST_WAIT = 1.0  # seconds after the first counted failure, doubling with each further one
MAX_WAIT = 15 * 60.0
FORGET_AFTER = 3600.0  # failures this old are forgotten


class SessionStore:
    """Random session ids (from `secrets`), each valid for `lifetime` seconds."""

    def __init__(self, lifetime: float = SESSION_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.lifetime = lifetime
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self) -> str:
        session = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._expiry = {s: t for s, t in self._expiry.items() if t > now}
            while len(self._expiry) >= MAX_SESSIONS:
                self._expiry.pop(next(iter(self._expiry)))
            self._expiry[session] = now + self.lifetime
        return session

    def valid(self, session: str) -> bool:
        with self._lock:
            expiry = self._expiry.get(session)
            if expiry is None:
                return False
            if expiry <= self._clock():
                del self._expiry[session]
                return False
            return True

    def revoke(self, session: str) -> None:
        with self._lock:
            self._expiry.pop(session, None)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Exponential backoff per client address: after FREE_FAILURES wrong tokens,
    each further one makes the address wait FIRST_WAIT, 2×, 4× … seconds (at most
    MAX_WAIT) before it may try again. A right token clears its record."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._failures: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds the client must still wait (0: it may try now)."""
        with self._lock:
            record = self._failures.get(client)
            if record is None:
                return 0
            return max(0, math.ceil(record.blocked_until - self._clock()))

    def failed(self, client: str) -> int:
        """Record a wrong token; returns the seconds the client now has to wait."""
        with self._lock:
            now = self._clock()
            self._failures = {c: r for c, r in self._failures.items() if now - r.last < FORGET_AFTER}
            record = self._failures.setdefault(client, _Failures())
            record.count += 1
            record.last = now
            extra = record.count - FREE_FAILURES
            wait = min(MAX_WAIT, FIRST_WAIT * 2 ** (extra - 1)) if extra > 0 else 0.0
            record.blocked_until = now + wait
            return math.ceil(wait)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def client_address(request: Request) -> str:
    """The peer's address. X-Forwarded-For is not trusted: anybody can set it, and
    trusting it would let a guesser pick a fresh address for every try."""
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    """Served over HTTPS, directly or behind a proxy that says so. Believing the
    header can only add the Secure flag, which is harmless when wrong."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"
