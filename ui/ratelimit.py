"""A per-identity request rate limit, for /v1's keys or addresses and the chat's 👍/👎."""

from __future__ import annotations

import collections
import math
import threading
import time


class RateLimiter:
    """At most `per_minute` requests in any 60 seconds per identity (a sliding window):
    `/v1` keys or addresses, the chat's 👍/👎 per address."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._seen: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def retry_after(self, identity: str) -> int:
        """0 when the request may go ahead (and is counted); else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            if now - self._swept >= 60:  # identities silent for a minute are forgotten, so memory stays bounded
                self._seen = {k: q for k, q in self._seen.items() if q and now - q[-1] < 60}
                self._swept = now
            seen = self._seen.setdefault(identity, collections.deque())
            while seen and now - seen[0] >= 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(1, math.ceil(60 - (now - seen[0])))
            seen.append(now)
            return 0
