"""Remote models through the gateway: real server, two real workers, real HTTP."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import msgpack
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from hakutaku import codec
from hakutaku.sdk.errors import APIError
from tests.conftest import TEST_MODELS
from tests.support.processes import Platform, wait_until


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One server with two workers of the `lab` model."""
    p = Platform(tmp_path_factory.mktemp("lab") / "home").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab")
        p.start_worker(TEST_MODELS + ":Lab")
        yield p
    finally:
        p.stop()


def test_sdk_numpy_round_trip_over_msgpack(lab: Platform) -> None:
    model = lab.client().remote_model("lab")
    jets = np.random.default_rng(1).normal(size=(8, 128, 17)).astype(np.float32)
    out = model.stats(jets)
    assert isinstance(out["doubled"], np.ndarray)
    assert out["doubled"].dtype == np.float32 and out["doubled"].shape == (8, 128, 17)
    np.testing.assert_array_equal(out["doubled"], jets * 2)
    np.testing.assert_allclose(out["sum"], jets.sum(axis=(0, 1)), rtol=1e-6)
    assert out["dtype"] == "float32"
    assert model.add(2, b=3.5) == 5.5


def test_msgpack_on_the_wire_keeps_arrays_native(lab: Platform) -> None:
    x = np.arange(6, dtype=np.int16).reshape(2, 3, 1)
    with lab.http() as h:
        r = h.post(
            "/v1/models/lab/stats",
            content=codec.encode({"x": x}, codec.MSGPACK),
            headers={"content-type": codec.MSGPACK, "accept": codec.MSGPACK},
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(codec.MSGPACK)
    raw = msgpack.unpackb(
        r.content, strict_map_key=False, raw=False, ext_hook=lambda c, d: ("ext", c)
    )
    assert raw["doubled"][0] == "ext"  # an array travels as an extension, not a list
    decoded = codec.decode(r.content, codec.MSGPACK)
    np.testing.assert_array_equal(decoded["doubled"], x * 2)


def test_json_call_with_curl_style_body(lab: Platform) -> None:
    with lab.http() as h:
        r = h.post("/v1/models/lab/add", json={"a": 1, "b": 2})
    assert r.status_code == 200
    assert r.json() == 3
    assert r.headers["x-request-id"].startswith("req_")


def test_streaming_generators_arrive_item_by_item(lab: Platform) -> None:
    model = lab.client().remote_model("lab")
    assert list(model.count(5)) == [{"i": i, "square": i * i} for i in range(5)]
    assert list(model.acount(4)) == [0, 1, 2, 3]
    with lab.http() as h, h.stream("POST", "/v1/models/lab/count", json={"n": 3}) as r:
        assert r.headers["x-hai-stream"] == "1"
        lines = [line for line in r.iter_lines() if line]
    assert [codec.decode(line.encode(), codec.JSON)["i"] for line in lines] == [0, 1, 2]


def test_load_spreads_over_both_workers(lab: Platform) -> None:
    model = lab.client().remote_model("lab")
    pids = {w.pid for w in lab.workers}
    served = Counter(model.whoami() for _ in range(20))
    assert set(served) == pids
    # Concurrent slow calls also land on both workers.
    with ThreadPoolExecutor(4) as pool:
        concurrent = Counter(
            pool.map(lambda _: lab.client().remote_model("lab").sleep(0.3), range(4))
        )
    assert set(concurrent) == pids


def test_method_errors_are_openai_shaped(lab: Platform) -> None:
    with lab.http() as h:
        unknown = h.post("/v1/models/lab/nope", json={})
        raised = h.post("/v1/models/lab/fail", json={"message": "detector on fire"})
        bad_args = h.post("/v1/models/lab/add", json={"a": 1})
        no_model = h.post("/v1/models/ghost/run", json={})
    assert unknown.status_code == 404
    assert "no method 'nope'" in unknown.json()["error"]["message"]
    assert "add" in unknown.json()["error"]["message"]  # lists the methods it has
    assert raised.status_code == 500
    assert "detector on fire" in raised.json()["error"]["message"]
    assert bad_args.status_code == 400
    assert "b" in bad_args.json()["error"]["message"]
    assert no_model.status_code == 404
    assert no_model.json()["error"]["code"] == "model_not_found"


def test_malformed_and_oversized_bodies(tmp_path: Path) -> None:
    p = Platform(tmp_path / "home", HAI_MAX_BODY_BYTES="2048").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab")
        with p.http() as h:
            bad_json = h.post(
                "/v1/models/lab/add",
                content=b"{not json",
                headers={"content-type": "application/json"},
            )
            not_object = h.post("/v1/models/lab/add", json=[1, 2])
            big = h.post("/v1/models/lab/add", json={"a": "x" * 5000, "b": ""})
            chat_bad = h.post(
                "/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}
            )
            chat_missing = h.post("/v1/chat/completions", json={"model": "lab"})
        assert bad_json.status_code == 400
        assert bad_json.json()["error"]["type"] == "invalid_request_error"
        assert not_object.status_code == 400
        assert big.status_code == 413
        assert "2048" in big.json()["error"]["message"]
        assert chat_bad.status_code == 400
        assert chat_missing.status_code == 400
        assert chat_missing.json()["error"]["param"] == "messages"
    finally:
        p.stop()


def test_overload_gives_429_not_a_queue(tmp_path: Path) -> None:
    p = Platform(tmp_path / "home").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab", args=("--max-inflight", "2"))
        model_url = "/v1/models/lab/sleep"
        results: list[int] = []
        lock = threading.Lock()

        def slow() -> None:
            with p.http() as h:
                status = h.post(model_url, json={"seconds": 3}).status_code
            with lock:
                results.append(status)

        threads = [threading.Thread(target=slow) for _ in range(2)]
        for t in threads:
            t.start()
        wait_until(lambda: _inflight(p) >= 2, 20, "two calls in flight")
        with p.http() as h:
            r = h.post(model_url, json={"seconds": 0})
        assert r.status_code == 429
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert "lab" in r.json()["error"]["message"]
        for t in threads:
            t.join()
        assert results == [200, 200]
    finally:
        p.stop()


def _inflight(p: Platform) -> int:
    """In-flight calls as the workers report them in their heartbeats."""
    return sum(w["inflight"] for w in p.live_workers("lab"))


def test_worker_killed_mid_call(tmp_path: Path) -> None:
    p = Platform(tmp_path / "home").start()
    try:
        first = p.start_worker(TEST_MODELS + ":Lab")
        second = p.start_worker(TEST_MODELS + ":Lab")
        victim_pid: list[int] = []
        outcome: dict[str, object] = {}

        def long_call() -> None:
            with p.http() as h:
                r = h.post("/v1/models/lab/sleep", json={"seconds": 30})
            outcome["status"] = r.status_code
            outcome["error"] = r.json()["error"]

        t = threading.Thread(target=long_call)
        t.start()
        wait_until(lambda: _busy_worker(p), 20, "the long call to start")
        busy_pid = _busy_worker(p)
        victim = first if first.pid == busy_pid else second
        survivor = second if victim is first else first
        victim_pid.append(victim.pid)
        victim.kill()
        t.join(30)
        assert outcome["status"] == 502
        error = outcome["error"]
        assert isinstance(error, dict)
        assert "'lab'" in error["message"] and error["code"] == "worker_failed"
        # The next call succeeds on the surviving worker.
        assert p.client().remote_model("lab").whoami() == survivor.pid
        # The dead worker is dropped within 3 missed heartbeats (0.5 s each) plus a refresh.
        wait_until(
            lambda: [w["pid"] for w in p.live_workers("lab")] == [survivor.pid],
            10,
            "the dead worker to be dropped",
        )
    finally:
        p.stop()


def _busy_worker(p: Platform) -> int | None:
    busy = [w["pid"] for w in p.live_workers("lab") if w["inflight"] > 0]
    return busy[0] if busy else None


def test_no_worker_gives_503(platform: Platform) -> None:
    w = platform.start_worker(TEST_MODELS + ":Lab")
    w.stop()  # graceful: deregisters, but the model stays known
    with platform.http() as h:
        r = h.post("/v1/models/lab/add", json={"a": 1, "b": 1})
    assert r.status_code == 503
    assert "'lab'" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "no_healthy_worker"


def test_sdk_raises_api_error(lab: Platform) -> None:
    with pytest.raises(APIError) as info:
        lab.client().remote_model("lab").fail("bad calibration")
    assert info.value.status == 500
    assert "bad calibration" in info.value.message


def test_caller_hanging_up_stops_the_stream(tmp_path: Path) -> None:
    p = Platform(tmp_path / "home").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab", args=("--max-inflight", "1"))
        with (
            httpx.Client(base_url=p.url, headers={"authorization": f"Bearer {p.admin_key}"}) as h,
            h.stream("POST", "/v1/models/lab/drip", json={"n": 600, "delay": 0.1}) as r,
        ):
            assert r.headers["x-request-id"].startswith("req_")
            assert next(r.iter_lines())  # the first item arrived; now hang up
        # The worker's only slot is freed long before the 60 s the stream would have taken.
        with p.http() as h2:
            wait_until(
                lambda: h2.post("/v1/models/lab/add", json={"a": 1, "b": 1}).status_code == 200,
                15,
                "the worker to drop the abandoned stream and take a new call",
            )
    finally:
        p.stop()
    engine = create_engine(f"sqlite:///{p.home / 'hakutaku.db'}")
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT method, status FROM usage_events")).all())
    engine.dispose()
    assert statuses["drip"] == 499 and statuses["add"] == 200
