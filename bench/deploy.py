"""Deployment benchmark: what serving a model as a deployment costs, against serving it by hand.

One run starts a real server (`python -m hakutaku serve`, temporary HAI_HOME, SQLite, local
backend, the default timings unless given) and measures, with `bench/bench_models.py:Bench`
(methods that answer at once, so the platform is what is measured):

1. reference: a worker started by hand (`python -m hakutaku worker ... --name bench-hand`,
   the server's worker token), from the process's start to its first answer through the
   gateway — the floor for any replica (Python start, the model's import, registration, the
   gateway's registry refresh);
2. cold start: a deployment with `--min 0`, scaled to zero, called: from the call to its answer
   (the call waits for the replica it asked for), with where the time went — the controller
   submitting the job, the scheduler starting it, the worker starting and registering, the
   gateway seeing it;
3. replacement: the only replica of a `--min 1` deployment killed (SIGKILL of its worker):
   from the kill to the first answer again, with a caller calling back to back throughout
   (calls wait for the replacement; the failed ones are counted);
4. create → first answer: a new deployment (`--min 1`) from its POST to its first successful
   call, against the worker by hand;
5. scale-up reaction: a `--max 3 --target-inflight 2` deployment at one replica gets a load
   step of 6 calls always in flight (each waits 0.2 s): the time until the controller wants 3
   replicas and until 3 answer;
6. rolling update under load: one client calls back to back while `update` rolls the
   deployment to a new generation: calls that failed (the target is none) and the time until
   only new replicas serve;
7. gateway overhead: the same calls (`echo`) to the deployed model and to the worker started by
   hand, both through the gateway, alternated phase by phase at concurrency 1 and 16: req/s,
   p50/p99 and the ratio deployed / by hand.

With `--slurm`, a second server on a single-node Slurm (deploy/slurm, brought up as the tests
do; root only) measures create → first answer there too, its replicas alice's Slurm jobs, with
the time split into the controller, Slurm's scheduling and the worker's start.

This is a benchmark, not a test: it prints numbers and ratios, and exits 0 unless the platform
failed to start or calls failed where none should.

    .venv/bin/python bench/deploy.py                  # ~2-3 minutes on 2 cores
    .venv/bin/python bench/deploy.py --quick          # fewer rounds and calls
    .venv/bin/python bench/deploy.py --rounds 10 --calls 5000 --json results.json
    .venv/bin/python bench/deploy.py --quick --slurm  # + create → first answer on Slurm
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

BENCH_DIR = Path(__file__).resolve().parent
TARGET = f"{BENCH_DIR / 'bench_models.py'}:Bench"
HAND = "bench-hand"  # the worker started by hand
COLD = "bench-cold"  # the deployment scaled to zero between calls
KEPT = "bench-kept"  # the deployment with one replica, killed and replaced
FRESH = "bench-fresh"  # created and deleted, for create → first answer
ELASTIC = "bench-elastic"  # 1 → 3 replicas on a load step
FINAL = {"completed", "failed", "cancelled", "timeout"}


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def ts(text: str | None) -> float:
    if not text:
        return float("nan")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Server:
    url: str
    home: Path
    http: httpx.Client  # the admin's
    env: dict[str, str]
    pid: int


@contextmanager
def server(env: dict[str, str], keep: bool) -> Iterator[Server]:
    """A real `hai serve` in a temporary HAI_HOME (local backend)."""
    home = Path(tempfile.mkdtemp(prefix="hai-bench-deploy-"))
    port = free_port()
    full_env = {
        **os.environ,
        "HAI_HOME": str(home),
        "HAI_PORT": str(port),
        "HAI_URL": f"http://127.0.0.1:{port}",
        "HAI_DEMO_WORKERS": "false",
        **env,
    }
    for name in ("HAI_API_KEY", "HAI_WORKER_TOKEN"):
        full_env.pop(name, None)
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "hakutaku", "serve"], env=full_env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(home / 'server.log').read_text()}")
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200

        wait_for(healthy, 60, "the server", every=0.2)
        key = (home / "bootstrap-admin.key").read_text().strip()
        with httpx.Client(
            base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=300
        ) as client:
            try:
                yield Server(url, home, client, full_env, proc.pid)
            finally:  # no replica job outlives the run (local jobs outlive the server)
                for d in client.get("/api/deployments").json():
                    client.delete(f"/api/deployments/{d['name']}")
                wait_for(lambda: client.get("/api/deployments").json() == [], 120, "deletions")
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        if keep:
            print(f"kept {home}")
        else:
            subprocess.run(["rm", "-rf", str(home)], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(h: httpx.Client, model: str, timeout: float = 300) -> int:
    return h.post(f"/v1/models/{model}/echo", json={"x": 1}, timeout=timeout).status_code


def live_replicas(h: httpx.Client, name: str) -> list[dict[str, Any]]:
    d = h.get(f"/api/deployments/{name}").json()
    return [r for r in d["replicas"] if r["state"] != "ended"]


def create(h: httpx.Client, name: str, **fields: Any) -> None:
    body = {"name": name, "kind": "worker", "target": TARGET, "mem": "500M", **fields}
    r = h.post("/api/deployments", json=body)
    if r.status_code != 201:
        raise RuntimeError(f"cannot create {name}: {r.status_code} {r.text}")


# ----------------------------------------------------------------------------- phases


def hand_worker(srv: Server, log: Path) -> subprocess.Popen[bytes]:
    env = {**srv.env, "HAI_WORKER_TOKEN": (srv.home / "worker.token").read_text().strip()}
    argv = [sys.executable, "-m", "hakutaku", "worker", TARGET, "--name", HAND]
    # In a session of its own, as from a user's shell, and as the local backend runs a job:
    # with the kernel's autogroup scheduling a session is one group in CPU sharing, so sharing
    # the benchmark's session would favour it over the deployed replica.
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*argv, "--server", srv.url], env=env, stdout=out, stderr=out, start_new_session=True
        )


def bench_hand_start(srv: Server, rounds: int) -> list[float]:
    """Start → first answer of a worker started by hand, `rounds` times."""
    times = []
    for i in range(rounds):
        began = time.monotonic()
        proc = hand_worker(srv, srv.home / f"hand-{i}.log")
        wait_for(lambda: call(srv.http, HAND, timeout=10) == 200, 120, "the worker by hand", 0.02)
        times.append(time.monotonic() - began)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        wait_for(lambda: not _workers(srv.http, HAND), 30, "the worker to deregister")
    return times


def _workers(h: httpx.Client, model: str) -> list[dict[str, Any]]:
    return [w for w in h.get("/api/workers").json() if w["model"] == model]


def bench_cold_start(srv: Server, rounds: int) -> list[dict[str, float]]:
    """A call to a deployment at zero replicas → its answer, with the steps between."""
    h = srv.http
    create(h, COLD, min_replicas=0, max_replicas=1, idle_timeout="2s")
    rows = []
    for _ in range(rounds):
        wait_for(lambda: not live_replicas(h, COLD), 120, "the deployment at zero", 0.2)
        t0 = time.time()
        status = call(h, COLD)
        t1 = time.time()
        if status != 200:
            raise RuntimeError(f"the cold call answered {status}")
        (replica,) = live_replicas(h, COLD)
        job = h.get(f"/api/jobs/{replica['job_id']}").json()
        (worker,) = [w for w in _workers(h, COLD) if w["job_id"] == replica["job_id"]]
        submitted, started = ts(job["submitted_at"]), ts(job["started_at"])
        registered = ts(worker["registered_at"])
        rows.append(
            {
                "total": t1 - t0,
                "to_submit": submitted - t0,  # the controller's reaction to the call
                "to_start": started - submitted,  # the scheduler and the job's runner
                "to_register": registered - started,  # Python, the model, registration
                "to_answer": t1 - registered,  # the gateway seeing it, then the call itself
            }
        )
    return rows


class Caller:
    """One client calling `model` back to back in a thread: (start, end, status) per call."""

    def __init__(self, srv: Server, model: str) -> None:
        self.srv, self.model = srv, model
        self.calls: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Caller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        h = self.srv.http
        with httpx.Client(base_url=self.srv.url, headers=h.headers, timeout=300) as c:
            while not self._stop.is_set():
                began = time.time()
                try:
                    status = call(c, self.model)
                except httpx.HTTPError:
                    status = 0
                self.calls.append((began, time.time(), status))


def bench_replacement(srv: Server, rounds: int) -> list[dict[str, float]]:
    """SIGKILL of the only replica's worker → the first answer again, calls running."""
    create(srv.http, KEPT, min_replicas=1, max_replicas=1)
    return [_replace_once(srv) for _ in range(rounds)]


def _replace_once(srv: Server) -> dict[str, float]:
    h = srv.http
    (replica,) = wait_for(lambda: _ready(h, KEPT), 120, "a ready replica", 0.2)
    (worker,) = [w for w in _workers(h, KEPT) if w["job_id"] == replica["job_id"]]
    with Caller(srv, KEPT) as caller:
        wait_for(lambda: len(caller.calls) > 20, 30, "calls to flow")
        killed_at = time.time()
        os.kill(worker["pid"], signal.SIGKILL)
        after_kill = time.time()  # a call begun after this cannot reach the dead worker

        def answered() -> list[float]:
            return [end for began, end, s in caller.calls if began > after_kill and s == 200]

        first_ok = min(wait_for(answered, 180, "an answer from the replacement", 0.02))
    hit = [s for began, end, s in caller.calls if end > killed_at]
    (new,) = [r for r in live_replicas(h, KEPT) if r["job_id"] != replica["job_id"]]
    old_job = h.get(f"/api/jobs/{replica['job_id']}").json()
    new_job = h.get(f"/api/jobs/{new['job_id']}").json()
    (new_worker,) = [w for w in _workers(h, KEPT) if w["job_id"] == new["job_id"]]
    return {
        "total": first_ok - killed_at,
        "to_submit": ts(new_job["submitted_at"]) - killed_at,  # seen ended, back-off, submit
        "to_start": ts(new_job["started_at"]) - ts(new_job["submitted_at"]),
        "to_register": ts(new_worker["registered_at"]) - ts(new_job["started_at"]),
        "to_answer": first_ok - ts(new_worker["registered_at"]),
        "old_ended": ts(old_job["ended_at"]) - killed_at,
        "failed": float(sum(1 for s in hit if s != 200)),
        "calls_after_kill": float(len(hit)),
    }


def _ready(h: httpx.Client, name: str) -> list[dict[str, Any]]:
    return [r for r in live_replicas(h, name) if r["state"] == "ready"]


def bench_create(srv: Server, rounds: int, h: httpx.Client | None = None) -> list[dict]:
    """POST /api/deployments → the new deployment's first successful call, with the steps."""
    h = h or srv.http
    rows = []
    for _ in range(rounds):
        t0 = time.time()
        create(h, FRESH, min_replicas=1, max_replicas=1)
        wait_for(lambda: call(h, FRESH, timeout=10) == 200, 300, "the first answer", 0.02)
        t1 = time.time()
        (replica,) = live_replicas(h, FRESH)
        job = h.get(f"/api/jobs/{replica['job_id']}").json()
        (worker,) = [w for w in _workers(srv.http, FRESH) if w["job_id"] == replica["job_id"]]
        rows.append({
            "total": t1 - t0,
            "to_submit": ts(job["submitted_at"]) - t0,
            "to_start": ts(job["started_at"]) - ts(job["submitted_at"]),
            "to_register": ts(worker["registered_at"]) - ts(job["started_at"]),
            "to_answer": t1 - ts(worker["registered_at"]),
        })  # fmt: skip
        h.delete(f"/api/deployments/{FRESH}")
        wait_for(lambda: _deleted(h, FRESH), 180, "the deletion", 0.2)
    return rows


def bench_slurm_create(rounds: int, keep: bool) -> list[dict]:
    """create → first answer on a single-node Slurm, the replicas alice's Slurm jobs."""
    sys.path.insert(0, str(BENCH_DIR.parent))  # the tests' Slurm bring-up
    from tests.support.slurm import SLURM_RUN, SlurmCluster, python_for_job_users

    cluster = SlurmCluster(SLURM_RUN)
    cluster.start()
    try:
        env = {
            **cluster.platform_env("bench-deploy"),
            "HAI_DEPLOY_PYTHON": str(python_for_job_users(cluster.jobs_dir)),
        }
        with server(env, keep) as srv:
            h = srv.http
            r = h.post("/api/users", json={"name": "alice", "groups": ["physics"]})
            if r.status_code not in (201, 409):
                raise RuntimeError(f"cannot create alice: {r.status_code} {r.text}")
            key = h.post("/api/keys", json={"user": "alice"}).json()["key"]
            headers = {"authorization": f"Bearer {key}"}
            with httpx.Client(base_url=srv.url, headers=headers, timeout=300) as alice:
                return bench_create(srv, rounds, alice)
    finally:
        cluster.stop()


def _deleted(h: httpx.Client, name: str) -> bool:
    return name not in [d["name"] for d in h.get("/api/deployments").json()]


class Load:
    """`clients` calls always in flight to `model`.wait (each 0.2 s), in a thread of its own."""

    def __init__(self, srv: Server, model: str, clients: int) -> None:
        self.srv, self.model, self.clients = srv, model, clients
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    async def _run(self) -> None:
        key = self.srv.http.headers["authorization"].split()[1]
        target = f"{self.srv.url}/v1/models/{self.model}/wait"
        async with aiohttp.ClientSession(headers={"authorization": f"Bearer {key}"}) as session:

            async def one() -> None:
                while not self._stop.is_set():
                    async with session.post(target, json={"seconds": 0.2}) as r:
                        await r.read()
                        self.statuses.append(r.status)

            await asyncio.gather(*(one() for _ in range(self.clients)))


def bench_scale_up(srv: Server, rounds: int) -> list[dict[str, float]]:
    """A load step of 6 calls in flight on a 1-replica, target-2 deployment: → 3 replicas."""
    h = srv.http
    create(h, ELASTIC, min_replicas=1, max_replicas=3, target_inflight=2, idle_timeout="3s")
    rows = []
    for _ in range(rounds):
        wait_for(lambda: len(live_replicas(h, ELASTIC)) == 1 and _ready(h, ELASTIC), 180,
                 "one replica", 0.2)  # fmt: skip
        began = time.time()
        with Load(srv, ELASTIC, clients=6) as load:
            wait_for(lambda: h.get(f"/api/deployments/{ELASTIC}").json()["desired"] == 3, 60,
                     "the controller to want 3", 0.05)  # fmt: skip
            wanted = time.time()
            wait_for(lambda: len(_ready(h, ELASTIC)) == 3, 180, "3 ready replicas", 0.05)
            ready = time.time()
        rows.append({
            "to_desired": wanted - began,  # heartbeats carry the in-flight counts; a tick
            "to_ready": ready - began,  # + two replica jobs started and registered
            "failed": float(sum(1 for s in load.statuses if s != 200)),
            "calls": float(len(load.statuses)),
        })  # fmt: skip
    return rows


def bench_rolling_update(srv: Server, rounds: int) -> list[dict[str, float]]:
    """`update` of the one-replica deployment while a client calls it back to back."""
    h = srv.http
    rows = []
    for _ in range(rounds):
        wait_for(lambda: len(live_replicas(h, KEPT)) == 1 and _ready(h, KEPT), 180,
                 "one ready replica", 0.2)  # fmt: skip
        with Caller(srv, KEPT) as caller:
            wait_for(lambda: len(caller.calls) > 20, 30, "calls to flow")
            began = time.time()
            r = h.post(f"/api/deployments/{KEPT}/update", json={"kind": "worker", "target": TARGET})
            if r.status_code != 200:
                raise RuntimeError(f"update refused: {r.status_code} {r.text}")
            generation = r.json()["generation"]

            def rolled(generation: int = generation) -> bool:
                live = live_replicas(h, KEPT)
                return bool(live) and all(
                    x["generation"] == generation and x["state"] == "ready" for x in live
                )

            wait_for(rolled, 180, "the rollout", 0.05)
            done = time.time()
            during = [s for b, e, s in caller.calls if e >= began]
        rows.append({
            "rollout": done - began,
            "failed": float(sum(1 for s in during if s != 200)),
            "calls": float(len(during)),
        })  # fmt: skip
    return rows


async def _phase(url: str, key: str, model: str, calls: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    left = calls
    headers = {"authorization": f"Bearer {key}"}
    target = f"{url}/v1/models/{model}/echo"
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one() -> None:
            nonlocal left, errors
            while left > 0:
                left -= 1
                began = time.perf_counter()
                async with session.post(target, json={"x": 1}) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "model": model,
        "concurrency": concurrency,
        "calls": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
    }


def bench_overhead(srv: Server, calls: int, levels: list[int], repeat: int) -> list[dict]:
    """The deployed model against the same worker by hand, phases alternated."""
    hand = hand_worker(srv, srv.home / "hand-overhead.log")
    try:
        wait_for(lambda: call(srv.http, HAND, timeout=10) == 200, 120, "the worker by hand")
        wait_for(lambda: _ready(srv.http, KEPT), 120, "the deployed replica")
        key = srv.http.headers["authorization"].split()[1]
        results = []
        for concurrency in levels:
            warm = max(50, calls // 10)
            for model in (HAND, KEPT):
                asyncio.run(_phase(srv.url, key, model, warm, concurrency))
            for rep in range(repeat):  # ABBA...: neither always goes first
                for model in (HAND, KEPT) if rep % 2 == 0 else (KEPT, HAND):
                    results.append(asyncio.run(_phase(srv.url, key, model, calls, concurrency)))
        return results
    finally:
        hand.send_signal(signal.SIGTERM)
        hand.wait(60)


# ----------------------------------------------------------------------------- report


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _row(what: str, values: list[float], reference: float | None = None) -> None:
    """One measure: median, min, max and, against a reference, the ratio of the medians."""
    mid = statistics.median(values)
    ratio = f"  {mid / reference:.2f}" if reference else ""
    print(f"{what:<58} {mid:8.2f}s {min(values):7.2f}s {max(values):7.2f}s{ratio}")


def _steps(rows: list[dict[str, float]], steps: tuple[tuple[str, str], ...]) -> None:
    for key, what in steps:
        _row(what, [r[key] for r in rows])


START_STEPS = (
    ("to_start", "  submitted → job started (scheduler, runner)"),
    ("to_register", "  started → worker registered (Python, model)"),
)


def report(results: dict[str, Any]) -> bool:
    hand = results["hand_start_s"]
    cold = results["cold_start"]
    repl = results["replacement"]
    hand_p50 = statistics.median(hand)
    print(f"\nmachine: {results['machine']}")
    print(f"\n{'measure':<58} {'median':>9} {'min':>8} {'max':>8}  ratio")
    _row("worker by hand: start → first answer (reference)", hand, hand_p50)
    _row("cold start: call at zero replicas → answer", [r["total"] for r in cold], hand_p50)
    _steps(cold, (
        ("to_submit", "  call → replica job submitted (controller)"),
        *START_STEPS,
        ("to_answer", "  registered → answer (gateway refresh, call)"),
    ))  # fmt: skip
    failed = sum(r["failed"] for r in repl)
    _row("replacement: SIGKILL of the only replica → first answer",
         [r["total"] for r in repl], hand_p50)  # fmt: skip
    _steps(repl, (
        ("old_ended", "  kill → killed job's end recorded (runner)"),
        ("to_submit", "  kill → replacement submitted (follow, back-off 1 s)"),
        *START_STEPS,
        ("to_answer", "  registered → first answer (gateway refresh, call)"),
    ))  # fmt: skip
    print(
        f"  calls failed meanwhile: {failed:.0f} of "
        f"{sum(r['calls_after_kill'] for r in repl):.0f} (all rounds)"
    )
    for label, rows in (("local", results["create"]), ("Slurm", results.get("slurm_create"))):
        if not rows:
            continue
        _row(f"create → first answer, {label}", [r["total"] for r in rows], hand_p50)
        _steps(rows, (
            ("to_submit", "  create → replica job submitted (controller)"),
            ("to_start", "  submitted → job started (scheduler)"),
            START_STEPS[1],
            ("to_answer", "  registered → first answer (gateway refresh, call)"),
        ))  # fmt: skip
    ups = results["scale_up"]
    _steps(ups, (
        ("to_desired", "scale-up: load step (6 in flight) → 3 replicas wanted"),
        ("to_ready", "scale-up: load step → 3 replicas answering"),
    ))  # fmt: skip
    rolls = results["rolling_update"]
    rolled_failed = sum(r["failed"] for r in rolls)
    _row("rolling update under load: update → only new replicas", [r["rollout"] for r in rolls])
    print(f"  calls failed during the updates: {rolled_failed:.0f} of "
          f"{sum(r['calls'] for r in rolls):.0f} (target 0)")  # fmt: skip
    print(f"\n{'gateway calls (echo)':<26} {'c':>3} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    ok = True
    by: dict[tuple[str, int], list[dict]] = {}
    for row in results["overhead"]:
        by.setdefault((row["model"], row["concurrency"]), []).append(row)
        ok = ok and row["errors"] == 0
    for concurrency in sorted({c for _, c in by}):
        line: dict[str, dict[str, float]] = {}
        for model, label in ((HAND, "worker by hand"), (KEPT, "deployed replica")):
            rows = by[(model, concurrency)]
            line[model] = {k: statistics.median(r[k] for r in rows)
                           for k in ("rps", "p50_ms", "p99_ms")}  # fmt: skip
            v = line[model]
            print(f"{label:<26} {concurrency:>3} {v['rps']:8.0f} {v['p50_ms']:8.2f} "
                  f"{v['p99_ms']:8.2f}")  # fmt: skip
        ratio_rps = line[KEPT]["rps"] / line[HAND]["rps"]
        ratio_p50 = line[KEPT]["p50_ms"] / line[HAND]["p50_ms"]
        print(f"{'  ratio deployed / by hand':<26} {concurrency:>3} {ratio_rps:8.2f} "
              f"{ratio_p50:8.2f}")  # fmt: skip
    # One client: at most its one call in flight on the killed worker may fail per round.
    scaled_failed = sum(r["failed"] for r in ups)
    return ok and failed <= len(repl) and rolled_failed == 0 and scaled_failed == 0


def machine() -> str:
    load = os.getloadavg()[0]
    return (f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"load {load:.2f} at start")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="cold starts, kills, hand starts")
    ap.add_argument("--calls", type=int, default=2000, help="calls per overhead phase")
    ap.add_argument("--repeat", type=int, default=3, help="alternations per concurrency")
    ap.add_argument("--concurrency", type=int, action="append", help="default 1 and 16")
    ap.add_argument("--quick", action="store_true", help="3 rounds, 300 calls, 1 repeat")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary HAI_HOME")
    ap.add_argument("--slurm", action="store_true", help="also create → first answer on Slurm")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.calls, args.repeat = 3, 300, 1
    levels = args.concurrency or [1, 16]
    results: dict[str, Any] = {"machine": machine()}
    env = {"HAI_LOCAL_CPUS": "4", "HAI_LOCAL_MEM_MB": "8000"}
    with server(env, args.keep) as srv:
        print(f"server pid {srv.pid} on {srv.url}; default timings (deploy interval 1 s, "
              "registry refresh 1 s, heartbeat 2 s)")  # fmt: skip
        results["hand_start_s"] = bench_hand_start(srv, args.rounds)
        results["cold_start"] = bench_cold_start(srv, args.rounds)
        results["replacement"] = bench_replacement(srv, args.rounds)
        results["create"] = bench_create(srv, args.rounds)
        results["scale_up"] = bench_scale_up(srv, args.rounds)
        results["rolling_update"] = bench_rolling_update(srv, args.rounds)
        results["overhead"] = bench_overhead(srv, args.calls, levels, args.repeat)
    if args.slurm:
        results["slurm_create"] = bench_slurm_create(args.rounds, args.keep)
    ok = report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
