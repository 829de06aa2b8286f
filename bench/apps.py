"""Interactive apps: Launch → usable Jupyter, and the proxy's added latency (HTTP, websocket).

One run starts a real server (`python -m hakutaku serve`, SQLite, local backend) on loopback,
signs in a user through the portal's form, then:

1. launches Jupyter Lab `--launches` times and times each from the launch request to the
   first `api/status` that answers 200 through the proxy (a usable Jupyter: its REST API and
   kernels answer);
2. launches one Terminal and sends the same requests to its `healthz` sequentially over one
   keep-alive connection, directly (`http://127.0.0.1:PORT/apps/ID/healthz` with the secret,
   read from the job's request.json) and through the proxy (`/apps/ID/healthz` with the
   portal cookie), interleaved in rounds so drift on a shared machine hits both alike;
3. sends websocket round trips on the terminal's shell (a key and its echo, then a backspace
   and its echo), directly and through the proxy, interleaved the same way.

Prints p50/p90 per path, the ratio and the added µs at p50 (target: ≤ 1000 µs added on
loopback), PASS/MISS. `--json FILE` writes the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import websockets
from tests.portal.conftest import PASSWORD, add_user
from tests.support.apps import (
    csrf_of,
    launch,
    session_cookie,
    signed_in_client,
    stop_all_sessions,
)
from tests.support.processes import Platform, wait_until

TARGET_ADDED_US = 1000.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def launch_to_usable(p: Platform, client: httpx.Client, launches: int) -> list[float]:
    times = []
    for _ in range(launches):
        start = time.perf_counter()
        session = launch(client, "jupyter")
        url = f"/apps/{session['id']}/api/status"
        wait_until(lambda u=url: client.get(u).status_code == 200, 120, "Jupyter", interval=0.05)
        times.append(time.perf_counter() - start)
        client.post(
            f"/api/apps/sessions/{session['id']}/stop",
            headers={"x-csrf-token": csrf_of(client)},
        )
    return times


def direct_access(p: Platform, job_id: int) -> tuple[str, str]:
    """The app's own address and secret (what the proxy uses; the bench reads them from the
    job's request as only the platform could)."""
    env = json.loads((p.home / "jobs" / str(job_id) / "request.json").read_text())["env"]
    return f"http://127.0.0.1:{env['HAI_APP_PORT']}", env["HAI_APP_SECRET"]


def http_latency(
    direct: httpx.Client, proxied: httpx.Client, path: str, rounds: int, per_round: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"direct": [], "proxy": []}
    for client in (direct, proxied):  # warm both connections
        for _ in range(50):
            assert client.get(path).status_code == 200
    for _ in range(rounds):
        for name, client in (("direct", direct), ("proxy", proxied)):
            for _ in range(per_round):
                start = time.perf_counter()
                r = client.get(path)
                out[name].append(time.perf_counter() - start)
                assert r.status_code == 200
    return out


async def ws_latency(
    direct_url: str,
    direct_headers: dict[str, str],
    proxy_url: str,
    proxy_headers: dict[str, str],
    origin: str,
    rounds: int,
    per_round: int,
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"direct": [], "proxy": []}
    async with (
        websockets.connect(direct_url, additional_headers=direct_headers) as d,
        websockets.connect(
            proxy_url,
            additional_headers=proxy_headers,
            origin=origin,  # type: ignore[arg-type]
        ) as pr,
    ):
        for ws in (d, pr):  # drain the replayed screen
            with _suppress_timeout():
                while True:
                    await asyncio.wait_for(ws.recv(), 0.5)
        for _ in range(rounds):
            for name, ws in (("direct", d), ("proxy", pr)):
                for i in range(per_round):
                    key = "a" if i % 2 == 0 else "\x7f"
                    start = time.perf_counter()
                    await ws.send(json.dumps({"type": "input", "data": key}))
                    await ws.recv()
                    out[name].append(time.perf_counter() - start)
                    # the other client attached to the same shell sees the echo too: drain it
                other = pr if ws is d else d
                with _suppress_timeout():
                    while True:
                        await asyncio.wait_for(other.recv(), 0.05)
    return out


class _suppress_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, *_: Any) -> bool:
        return kind is TimeoutError


def summary(name: str, samples: dict[str, list[float]]) -> dict[str, float]:
    d50, p50 = quantile(samples["direct"], 0.5), quantile(samples["proxy"], 0.5)
    d90, p90 = quantile(samples["direct"], 0.9), quantile(samples["proxy"], 0.9)
    added = (p50 - d50) * 1e6
    verdict = "PASS" if added <= TARGET_ADDED_US else "MISS"
    print(
        f"{name:<10} direct p50 {d50 * 1e6:8.0f} µs p90 {d90 * 1e6:8.0f} µs | proxy p50 "
        f"{p50 * 1e6:8.0f} µs p90 {p90 * 1e6:8.0f} µs | ×{p50 / d50:5.2f}, +{added:6.0f} µs "
        f"p50 ({verdict}, target ≤ {TARGET_ADDED_US:.0f} µs) n={len(samples['proxy'])}"
    )
    return {
        "direct_p50_us": d50 * 1e6,
        "proxy_p50_us": p50 * 1e6,
        "direct_p90_us": d90 * 1e6,
        "proxy_p90_us": p90 * 1e6,
        "ratio_p50": p50 / d50,
        "added_p50_us": added,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hai-bench-apps-")) / "home"
    p = Platform(home, HAI_PORTAL_LOGIN_ATTEMPTS="1000")
    p.start()
    results: dict[str, Any] = {}
    try:
        add_user(p, "alice")
        client = signed_in_client(p.url, "alice", PASSWORD)
        usable = launch_to_usable(p, client, args.launches)
        print(
            f"launch → usable Jupyter: median {statistics.median(usable):.2f} s "
            f"(min {min(usable):.2f}, max {max(usable):.2f}, n={len(usable)})"
        )
        results["jupyter_usable_s"] = usable
        term = launch(client, "terminal")
        sid = term["id"]
        wait_until(lambda: client.get(f"/apps/{sid}/healthz").status_code == 200, 60, "terminal")
        origin, secret = direct_access(p, term["job_id"])
        auth = {"authorization": f"token {secret}"}
        path = f"/apps/{sid}/healthz"
        with (
            httpx.Client(base_url=origin, headers=auth) as direct,
            httpx.Client(base_url=p.url, headers={"cookie": session_cookie(client)}) as proxied,
        ):
            results["http"] = summary(
                "HTTP", http_latency(direct, proxied, path, args.rounds, args.per_round)
            )
        ws = asyncio.run(
            ws_latency(
                origin.replace("http", "ws") + f"/apps/{sid}/ws",
                auth,
                p.url.replace("http", "ws") + f"/apps/{sid}/ws",
                {"cookie": session_cookie(client)},
                p.url,
                args.rounds,
                args.per_round // 2,
            )
        )
        results["websocket"] = summary("websocket", ws)
    finally:
        stop_all_sessions(p)
        p.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
