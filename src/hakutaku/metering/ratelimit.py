"""Per-key rate limits on model calls: a token bucket per API key, in each server's memory.

A key may make `limit` calls per minute: its bucket holds up to `limit` calls and refills at
limit/60 per second, so a quiet key may burst a minute's worth at once and then gets one call
per 60/limit seconds. Buckets live in the replica's memory (no database on the request path):
with R replicas behind a balancer a key gets up to R times its limit in all, and a restart
forgets them (a fresh minute). Buckets idle for a minute are full and carry no information, so
they are dropped when the table is full.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # key id → (calls left, as of, the limit they were counted against)
        self._buckets: dict[int, tuple[float, float, int]] = {}

    def take(self, key_id: int, limit: int) -> float:
        """Take one call from the key's bucket. Returns 0.0 if allowed, else the seconds until
        one call is available again (nothing is taken). A changed limit starts a full bucket."""
        now = self._clock()
        tokens, since, counted = self._buckets.get(key_id, (float(limit), now, limit))
        if counted != limit:
            tokens = float(limit)
        tokens = min(float(limit), tokens + (now - since) * limit / 60.0)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now, limit)
            return (1.0 - tokens) * 60.0 / limit
        if len(self._buckets) >= MAX_BUCKETS and key_id not in self._buckets:
            self._drop_full(now)
        self._buckets[key_id] = (tokens - 1.0, now, limit)
        return 0.0

    def _drop_full(self, now: float) -> None:
        # A bucket idle for a minute is full again for any limit: forgetting it changes nothing.
        stale = [k for k, (_, since, _) in self._buckets.items() if now - since >= 60.0]
        for key_id in stale:
            del self._buckets[key_id]
        if len(self._buckets) >= MAX_BUCKETS:
            # every key busy within the minute: forget the longest idle half (they may burst
            # again) rather than grow without bound
            by_age = sorted(self._buckets, key=lambda k: self._buckets[k][1])
            for key_id in by_age[: len(by_age) // 2 + 1]:
                del self._buckets[key_id]
