"""Unit tests of routing choices and of the SSE usage tap (no processes)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson

from hakutaku.db.models import Worker
from hakutaku.gateway.registry import Registry, Snapshot, WorkerEntry
from hakutaku.gateway.streaming import SSEUsageTap


def _worker(wid: str, inflight: int = 0, limit: int = 2) -> WorkerEntry:
    entry = WorkerEntry(wid, "m", f"http://{wid}", {"run": {}}, limit, datetime.now(UTC))
    entry.inflight = inflight
    return entry


def _registry(*workers: WorkerEntry) -> Registry:
    r = Registry.__new__(Registry)
    Registry.__init__(r, db=None, box=None, heartbeat_timeout=1.5)  # type: ignore[arg-type]
    r.snapshot = Snapshot(models={}, workers={"m": list(workers)})
    return r


def test_least_loaded_then_rotation() -> None:
    a, b = _worker("a", inflight=1), _worker("b")
    r = _registry(a, b)
    assert r.pick("m", "run")[0] is b
    b.inflight = 1
    picks = Counter(r.pick("m", "run")[0].id for _ in range(10))  # type: ignore[union-attr]
    assert picks == {"a": 5, "b": 5}


def test_busy_dead_excluded_and_unknown_method() -> None:
    a, b = _worker("a", inflight=2), _worker("b", inflight=2)
    r = _registry(a, b)
    assert r.pick("m", "run") == (None, True)  # all at their limit: 429, not 503
    b.inflight = 0
    r.mark_dead(b)
    assert r.pick("m", "run") == (None, True)
    a.inflight = 0
    assert r.pick("m", "run", exclude={"a"}) == (None, False)
    assert r.pick("m", "other") == (None, False)
    assert r.pick("nobody", "run") == (None, False)


def test_a_failed_worker_comes_back_only_with_a_beat_after_the_failure() -> None:
    """A beat sent just before the worker died, read after the failure, must not revive it."""
    seen = _worker("a")
    r = _registry(seen)
    sent_before_death = datetime.now(UTC)
    seen.last_beat = sent_before_death - timedelta(seconds=1)  # the last beat read so far
    r.mark_dead(seen)
    row = Worker(id="a", model="m", url="http://a", methods={"run": {}}, max_inflight=2)
    row.draining = False
    row.call_token = None
    assert r._worker_entry(row, sent_before_death, seen).dead_since_beat is not None
    assert r.pick("m", "run") == (None, False)
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert r._worker_entry(row, later, seen).dead_since_beat is None  # it beat again


def _event(obj: dict) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


STREAM = (
    _event({"choices": [{"delta": {"content": "a"}}], "usage": None})
    + _event({"choices": [{"delta": {"content": "b"}}], "usage": None})
    + _event({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    + b"data: [DONE]\n\n"
)


def test_usage_tap_at_every_split() -> None:
    for strip in (False, True):
        for cut in range(1, len(STREAM)):
            tap = SSEUsageTap(strip_usage_only=strip)
            out = tap.feed(STREAM[:cut]) + tap.feed(STREAM[cut:]) + tap.close()
            assert (tap.prompt_tokens, tap.completion_tokens) == (5, 2)
            expected = (
                STREAM if not strip else STREAM.replace(STREAM.split(b"\n\n")[2] + b"\n\n", b"")
            )
            assert out == expected
