"""Gateway benchmark: the cost of going through `/v1` instead of calling the worker directly.

One run starts a real server (`python -m hakutaku serve`, its own temporary HAI_HOME, a free
port, SQLite) and one real worker hosting `bench/bench_models.py:Bench`, then drives both
with an aiohttp load generator in this process (a separate process from the server and the
worker) over loopback:

- direct:  POST {worker}/call/{method}            (worker token)
- gateway: POST {server}/v1/models/bench/{method}  (admin API key)
           POST {server}/v1/chat/completions        (the OpenAI chat path)

for plain and 50-chunk streamed calls at concurrency 1 and 32. For every phase it reports
requests/s, p50/p99 latency, time to first chunk, and the CPU time the server, the worker and
this load generator spent per request (user+system of all threads, from the kernel's
per-process CPU clock, read before and after the phase).
A direct phase and its gateway phase run back to back, so each ratio compares measurements
taken within the same minute. This is a benchmark, not a test: it prints numbers and PASS/MISS
against the targets, and exits 0 unless the platform failed to start or calls failed.

    .venv/bin/python bench/gateway.py            # full run, ~1-3 minutes on 2 cores
    .venv/bin/python bench/gateway.py --quick    # a few seconds per phase
    .venv/bin/python bench/gateway.py --json results.json --layout shared
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

BENCH_DIR = Path(__file__).resolve().parent
MODEL_TARGET = f"{BENCH_DIR / 'bench_models.py'}:Bench"
MODEL = "bench"
CHUNKS = 50  # items per streamed call

# Targets from the gateway issue (milliseconds).
TARGET_CPU_PLAIN_MS = 0.5
TARGET_CPU_STREAM_MS = 1.0
TARGET_ADDED_P50_MS = 1.0

# Requests per phase: (plain c=1, plain c=32, stream c=1, stream c=32).
FULL_COUNTS = {(False, 1): 2000, (False, 32): 5000, (True, 1): 500, (True, 32): 1000}
QUICK_COUNTS = {(False, 1): 300, (False, 32): 800, (True, 1): 80, (True, 32): 160}
PHASE_LIMIT_S = 60.0  # a phase stops early (and says so) past this many seconds
RUN_LIMIT_S = 900.0  # the whole run skips its remaining phases past this


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> Any:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float = 5) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last})")


@dataclass
class Layout:
    """Which CPUs each process may run on (None: not pinned)."""

    name: str
    server: set[int] | None = None
    worker: set[int] | None = None
    client: set[int] | None = None

    def describe(self) -> str:
        if self.server is None:
            return "shared: no pinning; server, worker and load generator share all CPUs"

        def cpus(s: set[int] | None) -> str:
            return ",".join(map(str, sorted(s or ())))

        return (
            f"split: server on CPU {cpus(self.server)}, worker on CPU {cpus(self.worker)}, "
            f"load generator on CPU {cpus(self.client)}"
        )


def make_layout(name: str) -> Layout:
    cpus = sorted(os.sched_getaffinity(0))
    if name == "shared" or len(cpus) < 2:
        return Layout("shared")
    if len(cpus) == 2:
        return Layout("split", {cpus[0]}, {cpus[1]}, {cpus[1]})
    return Layout("split", {cpus[0]}, {cpus[1]}, {cpus[2]})


class Platform:
    """A real server and one real benchmark worker, in their own temporary HAI_HOME."""

    def __init__(self, layout: Layout, keep: bool) -> None:
        self.layout = layout
        self.keep = keep
        self.home = Path(tempfile.mkdtemp(prefix="hai-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HAI_HOME": str(self.home),
            "HAI_PORT": str(self.port),
            "HAI_HOST": "127.0.0.1",
            "HAI_URL": self.url,
            "HAI_DEMO_WORKERS": "false",
            "HAI_LOG_LEVEL": "warning",
        }
        for name in ("HAI_API_KEY", "HAI_WORKER_TOKEN", "HAI_DATABASE_URL"):
            self.env.pop(name, None)
        self.procs: list[tuple[str, subprocess.Popen[bytes], Any]] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_url = ""
        self.admin_key = ""
        self.worker_token = ""

    def _spawn(self, name: str, argv: list[str], cpus: set[int] | None) -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()

        def pin() -> None:  # before exec, so every thread the process starts inherits it
            if cpus is not None:
                os.sched_setaffinity(0, cpus)

        proc = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pin
        )
        self.procs.append((name, proc, log))
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.home / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        py = sys.executable
        self.server = self._spawn("server", [py, "-m", "hakutaku", "serve"], self.layout.server)

        def healthy() -> bool:
            assert self.server is not None
            if self.server.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_tail('server')}")
            return _get_json(f"{self.url}/healthz").get("status") == "ok"

        wait_for(healthy, 60, f"the server on {self.url}")
        self.admin_key = (self.home / "bootstrap-admin.key").read_text().strip()
        self.worker_token = (self.home / "worker.token").read_text().strip()
        self.worker = self._spawn(
            "worker",
            [py, "-m", "hakutaku", "worker", MODEL_TARGET, "--server", self.url],
            self.layout.worker,
        )
        admin = {"authorization": f"Bearer {self.admin_key}"}

        def registered() -> str | None:
            assert self.worker is not None
            if self.worker.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{self.log_tail('worker')}")
            for row in _get_json(f"{self.url}/api/workers", admin):
                if row["model"] == MODEL and row["pid"] == self.worker.pid:
                    return row["url"].rstrip("/")
            return None

        self.worker_url = wait_for(registered, 120, "the worker to register")
        # The gateway routes from a snapshot refreshed every HAI_REGISTRY_REFRESH seconds.
        echo = f"{self.url}/v1/models/{MODEL}/echo"
        headers = {**admin, "content-type": "application/json"}
        wait_for(lambda: _post(echo, b"{}", headers) == 200, 30, "the gateway to route to it")

    def stop(self) -> None:
        for name, proc, log in reversed(self.procs):  # the worker first: it deregisters
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(35)
                except subprocess.TimeoutExpired:
                    print(f"{name} did not stop on SIGTERM; killing it", file=sys.stderr)
                    proc.kill()
                    proc.wait()
            log.close()
        if not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)


# ---------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Call:
    """One kind of request, as sent to one path (direct or gateway)."""

    url: str
    body: bytes
    headers: dict[str, str]
    stream: bool
    frame: bytes  # what separates stream items: b"\n" for NDJSON, b"\n\n" for SSE
    min_frames: int


@dataclass(frozen=True)
class Workload:
    suite: str  # "remote" | "chat"
    stream: bool
    direct: Call
    gateway: Call

    @property
    def label(self) -> str:
        what = {
            ("remote", False): "echo",
            ("remote", True): f"chunks({CHUNKS})",
            ("chat", False): "chat",
            ("chat", True): f"chat stream({CHUNKS})",
        }
        return what[(self.suite, self.stream)]


def workloads(p: Platform) -> list[Workload]:
    jw = {"authorization": f"Bearer {p.worker_token}", "content-type": "application/json"}
    jg = {"authorization": f"Bearer {p.admin_key}", "content-type": "application/json"}
    ndjson = {"accept": "application/x-ndjson"}
    sse = {"accept": "text/event-stream"}
    gw_remote = f"{p.url}/v1/models/{MODEL}"
    wk = f"{p.worker_url}/call"

    echo = json.dumps({"x": 1}).encode()
    chunks = json.dumps({"n": CHUNKS}).encode()
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    chat_stream = {**chat, "stream": True}
    # What the gateway sends the worker for a stream (it asks for usage to meter it), so the
    # worker does the same work on both paths; the gateway strips that usage-only event.
    chat_stream_fwd = {**chat_stream, "stream_options": {"include_usage": True}}

    def enc(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    return [
        Workload(
            "remote",
            False,
            Call(f"{wk}/echo", echo, jw, False, b"", 0),
            Call(f"{gw_remote}/echo", echo, jg, False, b"", 0),
        ),
        Workload(
            "remote",
            True,
            Call(f"{wk}/chunks", chunks, {**jw, **ndjson}, True, b"\n", CHUNKS),
            Call(f"{gw_remote}/chunks", chunks, {**jg, **ndjson}, True, b"\n", CHUNKS),
        ),
        Workload(
            "chat",
            False,
            Call(f"{wk}/chat_completions", enc({"request": chat}), jw, False, b"", 0),
            Call(f"{p.url}/v1/chat/completions", enc(chat), jg, False, b"", 0),
        ),
        Workload(
            "chat",
            True,
            Call(
                f"{wk}/chat_completions",
                enc({"request": chat_stream_fwd}),
                {**jw, **sse},
                True,
                b"\n\n",
                CHUNKS + 1,  # 50 chunks + [DONE] (+ the usage event)
            ),
            Call(
                f"{p.url}/v1/chat/completions",
                enc(chat_stream),
                {**jg, **sse},
                True,
                b"\n\n",
                CHUNKS + 1,  # 50 chunks + [DONE]
            ),
        ),
    ]


# ---------------------------------------------------------------------------- measuring


@dataclass
class Result:
    suite: str
    workload: str
    stream: bool
    concurrency: int
    path: str  # "direct" | "gateway"
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    ttfc_p50_ms: float | None
    ttfc_p99_ms: float | None
    server_cpu_ms: float  # per request
    worker_cpu_ms: float
    client_cpu_ms: float
    other_cpu: float = 0.0  # CPUs' worth kept busy by other processes during the phase
    stopped_early: bool = False
    first_error: str | None = None


class CpuClock:
    """A process's CPU time (user+system, all its threads, seconds).

    Read from the kernel's per-process CPU clock (nanoseconds) where there is one; psutil's
    user+system (clock ticks, 10 ms) otherwise, which is too coarse for short phases.
    """

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.clock: int | None = None
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            clock_id = ctypes.c_int()
            if libc.clock_getcpuclockid(pid, ctypes.byref(clock_id)) == 0:
                time.clock_gettime(clock_id.value)  # readable?
                self.clock = clock_id.value

    def __call__(self) -> float:
        if self.clock is not None:
            return time.clock_gettime(self.clock)
        t = self.proc.cpu_times()
        return t.user + t.system


def _busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all processes, kernel included)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


async def _one(session: aiohttp.ClientSession, call: Call) -> tuple[float, float | None]:
    """(latency, time to first chunk) in seconds; raises on a wrong answer."""
    start = time.perf_counter()
    first: float | None = None
    async with session.post(call.url, data=call.body, headers=call.headers) as r:
        if call.stream:
            parts = []
            async for chunk in r.content.iter_any():
                if first is None:
                    first = time.perf_counter() - start
                parts.append(chunk)
            body = b"".join(parts)
        else:
            body = await r.read()
        end = time.perf_counter()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {body[:300]!r}")
        if call.stream:
            frames = body.count(call.frame)
            if frames < call.min_frames or b"error" in body:
                raise RuntimeError(f"stream of {frames} frames: {body[-300:]!r}")
    return end - start, first


async def run_phase(
    session: aiohttp.ClientSession,
    call: Call,
    count: int,
    concurrency: int,
    limit_s: float,
) -> tuple[list[float], list[float], int, float, bool, str | None]:
    """Send `count` calls from `concurrency` tasks; (latencies, ttfcs, errors, seconds, ...)."""
    latencies: list[float] = []
    ttfcs: list[float] = []
    errors = 0
    first_error: str | None = None
    issued = 0
    started = time.perf_counter()
    deadline = started + limit_s
    stopped_early = False

    async def loop() -> None:
        nonlocal issued, errors, first_error, stopped_early
        while issued < count:
            if time.perf_counter() > deadline:
                stopped_early = True
                return
            issued += 1
            try:
                latency, first = await _one(session, call)
            except Exception as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            latencies.append(latency)
            if first is not None:
                ttfcs.append(first)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return latencies, ttfcs, errors, time.perf_counter() - started, stopped_early, first_error


async def measure(
    session: aiohttp.ClientSession,
    wl: Workload,
    path: str,
    concurrency: int,
    count: int,
    procs: dict[str, CpuClock],
    limit_s: float,
) -> Result:
    call = wl.direct if path == "direct" else wl.gateway
    busy_before = _busy_seconds()
    before = {k: clock() for k, clock in procs.items()}
    lat, ttfc, errors, seconds, early, first_error = await run_phase(
        session, call, count, concurrency, limit_s
    )
    after = {k: clock() for k, clock in procs.items()}
    ours = sum(after[k] - before[k] for k in procs)
    other = max(0.0, _busy_seconds() - busy_before - ours) / seconds if seconds > 0 else 0.0
    done = len(lat) + errors
    per = max(done, 1)

    def cpu_ms(k: str) -> float:
        return (after[k] - before[k]) * 1000.0 / per

    lat.sort()
    ttfc.sort()
    return Result(
        suite=wl.suite,
        workload=wl.label,
        stream=wl.stream,
        concurrency=concurrency,
        path=path,
        requests=done,
        errors=errors,
        seconds=seconds,
        rps=len(lat) / seconds if seconds > 0 else 0.0,
        p50_ms=_pct(lat, 0.50) * 1000,
        p99_ms=_pct(lat, 0.99) * 1000,
        ttfc_p50_ms=_pct(ttfc, 0.50) * 1000 if ttfc else None,
        ttfc_p99_ms=_pct(ttfc, 0.99) * 1000 if ttfc else None,
        server_cpu_ms=cpu_ms("server"),
        worker_cpu_ms=cpu_ms("worker"),
        client_cpu_ms=cpu_ms("client"),
        other_cpu=other,
        stopped_early=early,
        first_error=first_error,
    )


@dataclass
class Plan:
    counts: dict[tuple[bool, int], int]
    concurrencies: list[int]
    suites: list[str]
    warmup: int
    phase_limit_s: float
    run_limit_s: float


@dataclass
class Report:
    machine: dict[str, Any]
    layout: str
    quick: bool
    idle_server_cpu_ms_per_s: float
    results: list[Result] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


async def drive(p: Platform, plan: Plan, report: Report) -> None:
    assert p.server is not None and p.worker is not None
    procs = {
        "server": CpuClock(p.server.pid),
        "worker": CpuClock(p.worker.pid),
        "client": CpuClock(os.getpid()),
    }
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        skip_auto_headers=("User-Agent",),
    ) as session:
        # Server CPU while nothing goes through it: registry refresh, heartbeats, usage writer.
        idle_before = procs["server"]()
        await asyncio.sleep(3.0)
        report.idle_server_cpu_ms_per_s = (procs["server"]() - idle_before) * 1000 / 3.0

        run_deadline = time.monotonic() + plan.run_limit_s
        for wl in workloads(p):
            if wl.suite not in plan.suites:
                continue
            for c in plan.concurrencies:
                count = plan.counts[(wl.stream, 1 if c == 1 else 32)]
                for path in ("direct", "gateway"):
                    name = f"{wl.label} c={c} {path}"
                    if time.monotonic() > run_deadline:
                        report.skipped.append(name)
                        continue
                    call = wl.direct if path == "direct" else wl.gateway
                    # Warm-up: open the connections (client->server->worker pools too).
                    warm = max(plan.warmup // (4 if wl.stream else 1), 2 * c)
                    await run_phase(session, call, warm, c, plan.phase_limit_s)
                    result = await measure(session, wl, path, c, count, procs, plan.phase_limit_s)
                    report.results.append(result)
                    print(_progress(result), flush=True)


def _progress(r: Result) -> str:
    extra = " (stopped at the phase time limit)" if r.stopped_early else ""
    errs = f", {r.errors} errors: {r.first_error}" if r.errors else ""
    return (
        f"  {r.workload:<16} c={r.concurrency:<3} {r.path:<8} {r.requests:>6} req "
        f"{r.rps:>8.0f}/s  p50 {r.p50_ms:6.2f} ms{extra}{errs}"
    )


# ---------------------------------------------------------------------------- reporting


def wait_idle(limit_s: float, quiet: float = 0.25, window_s: float = 3.0) -> float:
    """Wait (at most `limit_s`) until the machine keeps less than `quiet` CPUs busy."""
    deadline = time.monotonic() + limit_s
    while True:
        before = _busy_seconds()
        time.sleep(window_s)
        busy = (_busy_seconds() - before) / window_s
        if busy < quiet or time.monotonic() > deadline:
            state = "quiet" if busy < quiet else "still busy; going ahead"
            print(f"machine load before the run: {busy:.2f} CPUs ({state})", flush=True)
            return busy
        print(f"waiting for a quiet machine: {busy:.2f} CPUs busy", flush=True)


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for mod in ("uvicorn", "starlette", "fastapi", "aiohttp", "uvloop", "httptools", "orjson"):
        with contextlib.suppress(Exception):
            versions[mod] = __import__(mod).__version__
    import hakutaku  # the copy the server and worker run (same interpreter, same environment)

    commit = "unknown"
    with contextlib.suppress(Exception):
        src = Path(hakutaku.__file__).resolve().parent
        git = ["git", "-C", str(src)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True
        ).stdout.strip()
        commit += " + uncommitted changes" if dirty else ""
    return {
        "hakutaku": str(Path(hakutaku.__file__).resolve().parent),
        "commit": commit,
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
    }


def _pairs(results: list[Result]) -> Iterator[tuple[Result, Result]]:
    direct = {(r.suite, r.stream, r.concurrency): r for r in results if r.path == "direct"}
    for g in results:
        if g.path == "gateway" and (d := direct.get((g.suite, g.stream, g.concurrency))):
            yield d, g


def verdicts(results: list[Result]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for d, g in _pairs(results):
        target = TARGET_CPU_STREAM_MS if g.stream else TARGET_CPU_PLAIN_MS
        kind = f"{CHUNKS}-chunk stream" if g.stream else "plain request"
        out.append(
            {
                "check": f"gateway CPU per {kind}: {g.workload} c={g.concurrency}",
                "value_ms": round(g.server_cpu_ms, 3),
                "target_ms": target,
                "ok": g.server_cpu_ms <= target,
            }
        )
        if g.concurrency == 1:
            added = g.p50_ms - d.p50_ms
            out.append(
                {
                    "check": f"p50 added latency: {g.workload} c=1",
                    "value_ms": round(added, 3),
                    "target_ms": TARGET_ADDED_P50_MS,
                    "ok": added <= TARGET_ADDED_P50_MS,
                }
            )
    return out


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(results: list[Result]) -> str:
    head = (
        "| workload | c | path | req | req/s | p50 ms | p99 ms | TTFC p50 ms | "
        "server CPU ms/req | worker CPU ms/req | client CPU ms/req | other load |"
    )
    rows = [head, "|" + "---|" * 12]
    for r in results:
        rows.append(
            f"| {r.workload} | {r.concurrency} | {r.path} | {r.requests} | {r.rps:.0f} | "
            f"{_f(r.p50_ms)} | {_f(r.p99_ms)} | {_f(r.ttfc_p50_ms)} | "
            f"{_f(r.server_cpu_ms, 3)} | {_f(r.worker_cpu_ms, 3)} | {_f(r.client_cpu_ms, 3)} | "
            f"{r.other_cpu:.2f} |"
        )
    return "\n".join(rows)


def ratios(results: list[Result]) -> str:
    head = (
        "| workload | c | gateway/direct req/s | p50 added ms | p99 added ms | "
        "TTFC added ms | gateway CPU ms/req |"
    )
    rows = [head, "|" + "---|" * 7]
    for d, g in _pairs(results):
        ttfc = (
            g.ttfc_p50_ms - d.ttfc_p50_ms
            if g.ttfc_p50_ms is not None and d.ttfc_p50_ms is not None
            else None
        )
        rows.append(
            f"| {g.workload} | {g.concurrency} | {g.rps / d.rps if d.rps else 0:.2f} | "
            f"{g.p50_ms - d.p50_ms:+.2f} | {g.p99_ms - d.p99_ms:+.2f} | "
            f"{'-' if ttfc is None else f'{ttfc:+.2f}'} | {g.server_cpu_ms:.3f} |"
        )
    return "\n".join(rows)


def print_report(report: Report) -> None:
    m = report.machine
    print()
    print(f"machine: {m['nproc']} CPUs ({m['cpu_model']}), Python {m['python']}")
    print(f"code:    {m['hakutaku']} at {m['commit']}")
    print(f"layout:  {report.layout}")
    print(
        f"idle server CPU (registry refresh, heartbeats): "
        f"{report.idle_server_cpu_ms_per_s:.2f} ms per second (included in the figures)"
    )
    print(
        "other load: CPUs kept busy by other processes during the phase (anything well above "
        "0 means another job competed for the CPUs and skewed that row)"
    )
    print()
    print(table(report.results))
    busy = [r for r in report.results if r.other_cpu > 0.2]
    if busy:
        print(f"WARNING: {len(busy)} phases ran while other processes used > 0.2 CPU")
    print()
    print("gateway vs direct (same workload, run back to back):")
    print(ratios(report.results))
    print()
    print("targets:")
    for v in report.verdicts:
        mark = "PASS" if v["ok"] else "MISS"
        print(f"  {mark}  {v['check']}: {v['value_ms']:.3f} ms (target <= {v['target_ms']} ms)")
    if report.skipped:
        print(f"skipped (run time limit): {', '.join(report.skipped)}")


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (fewer requests per phase)")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    ap.add_argument(
        "--layout",
        choices=("split", "shared"),
        default="split",
        help="split (default): pin the server to one CPU and the worker and load generator to "
        "another; shared: no pinning",
    )
    ap.add_argument(
        "--suite",
        choices=("remote", "chat"),
        action="append",
        help="only these workloads (repeatable; default both)",
    )
    ap.add_argument(
        "--concurrency",
        type=int,
        action="append",
        choices=(1, 32),
        help="only these concurrencies (repeatable; default 1 and 32)",
    )
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be quiet (other processes using "
        "< 0.25 CPU), for shared machines",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary HAI_HOME (logs)")
    args = ap.parse_args(argv)

    machine = machine_info()
    layout = make_layout(args.layout)
    if layout.client is not None:
        for tid in os.listdir("/proc/self/task"):  # every thread of this process
            os.sched_setaffinity(int(tid), layout.client)
    plan = Plan(
        counts=QUICK_COUNTS if args.quick else FULL_COUNTS,
        concurrencies=args.concurrency or [1, 32],
        suites=args.suite or ["remote", "chat"],
        warmup=100 if args.quick else 300,
        phase_limit_s=15.0 if args.quick else PHASE_LIMIT_S,
        run_limit_s=RUN_LIMIT_S,
    )
    report = Report(
        machine=machine,
        layout=layout.describe(),
        quick=args.quick,
        idle_server_cpu_ms_per_s=0.0,
    )
    print(f"layout: {report.layout}", flush=True)
    if args.wait_idle > 0:
        report.machine["busy_cpus_at_start"] = wait_idle(args.wait_idle)
    p = Platform(layout, keep=args.keep)
    try:
        p.start()
        print(f"server {p.url} (pid {p.server.pid}), worker {p.worker_url} (pid {p.worker.pid})")
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            runner.run(drive(p, plan, report))
    finally:
        p.stop()
        if args.keep:
            print(f"logs kept in {p.home}")
    report.verdicts = verdicts(report.results)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 1 if any(r.errors for r in report.results) else 0


if __name__ == "__main__":
    sys.exit(main())
