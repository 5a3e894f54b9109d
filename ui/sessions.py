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
class _Attempts:
    count: int = 0  # attempts counted (each as wrong from its start, until it proves right)
    last: float = 0.0
    blocked_until: float = 0.0
    in_flight: int = 0  # started, not ended (a sign-in form's body may still be on its way)


MAX_IN_FLIGHT = 2  # sign-in attempts of one address under way at once


def _backoff(count: int) -> float:
    extra = count - FREE_FAILURES
    return min(MAX_WAIT, FIRST_WAIT * 2 ** (extra - 1)) if extra > 0 else 0.0


class LoginThrottle:
    """Exponential backoff per client address: after FREE_FAILURES wrong tokens,
    each further one makes the address wait FIRST_WAIT, 2×, 4× … seconds (at most
    MAX_WAIT) before it may try again. A right token clears its record.

    Attempts, not answers, are counted (issue 22): an attempt counts as wrong from the
    moment it starts (`begin`), before its token has arrived, so that fifty guesses
    sent in parallel cannot all pass the check before the first of them is answered.
    At most MAX_IN_FLIGHT attempts of an address may be under way at once, and one
    whose body took its time is checked again (`recheck`) once the body is read: a
    token parked while other guesses got the address blocked is refused too."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._attempts: dict[str, _Attempts] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds the client must still wait (0: it may try now)."""
        with self._lock:
            record = self._attempts.get(client)
            if record is None:
                return 0
            return max(0, math.ceil(record.blocked_until - self._clock()))

    def begin(self, client: str) -> tuple[int, int]:
        """An attempt starts: (0, ticket) if it may go ahead, counted now; else (seconds
        to wait, 0) and it is not made. Every attempt begun must be ended with `end`."""
        with self._lock:
            now = self._clock()
            self._sweep(now)
            record = self._attempts.setdefault(client, _Attempts())
            if record.blocked_until > now:
                return max(1, math.ceil(record.blocked_until - now)), 0
            if record.in_flight >= MAX_IN_FLIGHT:
                return 1, 0  # the ones under way decide whether there is a wait
            record.in_flight += 1
            record.count += 1
            record.last = now
            record.blocked_until = now + _backoff(record.count)  # for the attempts after this one
            return 0, record.count

    def recheck(self, client: str, ticket: int) -> int:
        """Once the attempt's token has arrived: the seconds to wait if attempts begun
        after it got the address blocked meanwhile (0: compare the token)."""
        with self._lock:
            record = self._attempts.get(client)
            if record is None or record.count <= ticket:
                return 0  # nothing begun since: its own count does not block it
            return max(0, math.ceil(record.blocked_until - self._clock()))

    def end(self, client: str, right: bool) -> None:
        """The attempt is over: a right token clears the record, a wrong one stays counted."""
        with self._lock:
            record = self._attempts.get(client)
            if record is None:
                return
            record.in_flight = max(0, record.in_flight - 1)
            if right:
                record.count, record.blocked_until = 0, 0.0
                if not record.in_flight:
                    del self._attempts[client]

    def check(self, client: str, right: Callable[[], bool]) -> tuple[bool, int]:
        """A whole attempt whose token is already here (a Bearer header): (whether
        `right()` said so, the seconds to wait now: 0 unless refused or blocked).
        Checked, compared and counted in one step under the lock, so that parallel
        requests cannot all pass the check before any of them is counted, and right
        ones sent in parallel never count against each other."""
        with self._lock:
            now = self._clock()
            self._sweep(now)
            record = self._attempts.get(client)
            if record is not None and record.blocked_until > now:
                return False, max(1, math.ceil(record.blocked_until - now))
            if right():
                if record is not None:
                    record.count, record.blocked_until = 0, 0.0
                return True, 0
            return False, self._count(client, now)

    def failed(self, client: str) -> int:
        """Record a wrong token; returns the seconds the client now has to wait."""
        with self._lock:
            return self._count(client, self._clock())

    def _count(self, client: str, now: float) -> int:
        self._sweep(now)
        record = self._attempts.setdefault(client, _Attempts())
        record.count += 1
        record.last = now
        record.blocked_until = now + _backoff(record.count)
        return math.ceil(_backoff(record.count))

    def succeeded(self, client: str) -> None:
        with self._lock:
            record = self._attempts.get(client)
            if record is not None:
                record.count, record.blocked_until = 0, 0.0

    def _sweep(self, now: float) -> None:
        # addresses silent for FORGET_AFTER are forgotten, so memory stays bounded
        self._attempts = {c: r for c, r in self._attempts.items() if r.in_flight or now - r.last < FORGET_AFTER}


def client_address(request: Request) -> str:
    """The peer's address. X-Forwarded-For is believed only from the proxies configured
    in `forwarded_allow_ips` (ui/server.py): anybody else can set it, and trusting it
    would let a guesser pick a fresh address for every try."""
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    """Served over HTTPS, directly or behind a proxy that says so. Believing the
    header can only add the Secure flag, which is harmless when wrong."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"
