"""Scheduler benchmark: how fast the platform starts jobs, against launching them directly.

Local backend (always): a real server (`python -m hakutaku serve`, temporary HAI_HOME, SQLite,
`--slots` CPUs) gets `--jobs` short jobs (`true`) submitted over HTTP one after another.
Reported: submissions per second, submit-to-start latency (p50/p99, from the jobs' records:
`started_at` is when the runner started the command), and throughput (jobs ended per second
from first submission to last end). The reference, measured in the same run: the same
commands launched straight from this process with the same concurrency (`subprocess.Popen`,
no server, no database, no runner) — the floor any executor pays for starting processes.

Slurm backend (`--slurm`, needs a running Slurm such as deploy/slurm/start.sh brings up, and
root or a Slurm user): `--slurm-jobs` jobs submitted with plain `sbatch --parsable --wrap true`
against the same jobs submitted through the platform (server with HAI_COMPUTE_BACKEND=slurm),
reporting the time per submission of each and the time until all ended (from `sacct` for
plain sbatch, from the platform's records through the API).

This is a benchmark, not a test: it prints numbers and ratios, and exits 0 unless the
platform failed to start or jobs failed.

    .venv/bin/python bench/scheduler.py                     # 1000 local jobs, ~1-3 minutes
    .venv/bin/python bench/scheduler.py --jobs 200 --slots 4
    .venv/bin/python bench/scheduler.py --slurm --slurm-jobs 50 --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FINAL = {"completed", "failed", "cancelled", "timeout"}
SLURM_USER = "alice"  # a Unix user deploy/slurm/start.sh creates, in account `physics`


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with_value = check()
        if with_value:
            return with_value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def server(env: dict[str, str]) -> Iterator[httpx.Client]:
    """A real `hai serve` in a temporary HAI_HOME; yields an admin HTTP client."""
    home = Path(tempfile.mkdtemp(prefix="hai-bench-sched-"))
    port = free_port()
    full_env = {
        **os.environ,
        "HAI_HOME": str(home),
        "HAI_PORT": str(port),
        "HAI_DEMO_WORKERS": "false",
        **env,
    }
    full_env.pop("HAI_API_KEY", None)
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "hakutaku", "serve"], env=full_env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(home / 'server.log').read_text()}")
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 60, "the server")
        key = (home / "bootstrap-admin.key").read_text().strip()
        with httpx.Client(
            base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ----------------------------------------------------------------------------- local


def bench_local(jobs: int, slots: int, interval: float) -> dict[str, Any]:
    env = {"HAI_LOCAL_CPUS": str(slots), "HAI_SCHEDULER_INTERVAL": str(interval)}
    with server(env) as h:
        idle = idle_latency(h, 20)
        t0 = time.time()
        ids = []
        for _ in range(jobs):
            r = h.post("/api/jobs", json={"command": ["true"]})
            r.raise_for_status()
            ids.append(r.json()["id"])
        submitted = time.time()

        def all_ended() -> bool:
            active = h.get("/api/jobs", params={"state": "pending,running", "limit": 1})
            return active.json() == []

        wait_for(all_ended, 1800, f"{jobs} jobs to end", every=0.5)
        records = [j for j in h.get("/api/jobs", params={"limit": jobs}).json() if j["id"] in ids]
    failed = [j for j in records if j["state"] != "completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} jobs did not complete, e.g. {failed[0]}")
    latency = [ts(j["started_at"]) - ts(j["submitted_at"]) for j in records]
    end = max(ts(j["ended_at"]) for j in records)
    reference = bench_direct(jobs, slots)
    return {
        "jobs": jobs,
        "slots": slots,
        "scheduler_interval_s": interval,
        "idle_start_latency_p50_ms": 1000 * pct(idle, 0.5),
        "idle_start_latency_max_ms": 1000 * max(idle),
        "submit_per_s": jobs / (submitted - t0),
        "start_latency_p50_ms": 1000 * pct(latency, 0.5),
        "start_latency_p99_ms": 1000 * pct(latency, 0.99),
        "start_latency_mean_ms": 1000 * statistics.fmean(latency),
        "throughput_jobs_per_s": jobs / (end - t0),
        "makespan_s": end - t0,
        "reference_direct_jobs_per_s": reference,
        "throughput_ratio": (jobs / (end - t0)) / reference,
    }


def idle_latency(h: httpx.Client, n: int) -> list[float]:
    """Submit-to-start seconds of jobs submitted one at a time to an idle platform."""
    latencies = []
    for _ in range(n):
        job = h.post("/api/jobs", json={"command": ["true"]}).json()

        def ended(job_id: int = job["id"]) -> dict | None:
            record = h.get(f"/api/jobs/{job_id}").json()
            return record if record["state"] in FINAL else None

        record = wait_for(ended, 60, f"job {job['id']}", every=0.02)
        latencies.append(ts(record["started_at"]) - ts(record["submitted_at"]))
    return latencies


def bench_direct(jobs: int, slots: int) -> float:
    """Jobs per second when this process launches `true` itself, `slots` at a time."""
    t0 = time.perf_counter()
    running: list[subprocess.Popen[bytes]] = []
    for _ in range(jobs):
        while len(running) >= slots:
            running = [p for p in running if p.poll() is None]
            if len(running) >= slots:
                time.sleep(0.0005)
        running.append(subprocess.Popen(["true"]))
    for p in running:
        p.wait()
    return jobs / (time.perf_counter() - t0)


# ----------------------------------------------------------------------------- Slurm


def bench_slurm(jobs: int, policy: Path) -> dict[str, Any]:
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise RuntimeError("sbatch not found: start Slurm first (deploy/slurm/start.sh)")
    out = Path(tempfile.mkdtemp(prefix="hai-bench-sbatch-"))
    out.chmod(0o1777)  # the jobs run as USER and write their output here
    as_user = [f"--uid={SLURM_USER}", f"--gid={SLURM_USER}"] if os.geteuid() == 0 else []
    t0 = time.perf_counter()
    plain_ids = []
    for _ in range(jobs):
        r = subprocess.run(
            [
                sbatch,
                "--parsable",
                *as_user,
                "--partition=cpu",
                "--account=physics",
                f"--output={out}/%j.out",
                "--wrap=true",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        plain_ids.append(r.stdout.strip().split(";")[0])
    plain_submit = time.perf_counter() - t0
    wait_for(lambda: _sacct_all_ended(plain_ids), 900, "plain sbatch jobs to end", every=0.5)
    plain_total = time.perf_counter() - t0

    env = {"HAI_COMPUTE_BACKEND": "slurm", "HAI_COMPUTE_POLICY": str(policy)}
    env["HAI_JOBS_DIR"] = str(out / "platform")
    with server(env) as admin:
        # Slurm runs jobs as their user: submit as a platform user with a Unix account.
        admin.post("/api/users", json={"name": SLURM_USER, "groups": ["physics"]})
        key = admin.post("/api/keys", json={"user": SLURM_USER}).json()["key"]
        h = httpx.Client(
            base_url=admin.base_url, headers={"authorization": f"Bearer {key}"}, timeout=60
        )
        t1 = time.perf_counter()
        for _ in range(jobs):
            r = h.post(
                "/api/jobs",
                json={"command": ["true"], "partition": "cpu", "workdir": str(out)},
            )
            r.raise_for_status()
        platform_submit = time.perf_counter() - t1

        def all_ended() -> bool:
            return h.get("/api/jobs", params={"state": "pending,running"}).json() == []

        wait_for(all_ended, 900, "platform jobs to end", every=0.5)
        platform_total = time.perf_counter() - t1
    return {
        "jobs": jobs,
        "sbatch_submit_ms": 1000 * plain_submit / jobs,
        "platform_submit_ms": 1000 * platform_submit / jobs,
        "submit_overhead_ms": 1000 * (platform_submit - plain_submit) / jobs,
        "submit_ratio": platform_submit / plain_submit,
        "sbatch_all_ended_s": plain_total,
        "platform_all_ended_s": platform_total,
        "all_ended_ratio": platform_total / plain_total,
    }


def _sacct_all_ended(ids: list[str]) -> bool:
    r = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "State", "-j", ",".join(ids)],
        capture_output=True,
        text=True,
    )
    states = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    busy = ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING")
    return len(states) >= len(ids) and not any(s.startswith(busy) for s in states)


# ----------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=8, help="HAI_LOCAL_CPUS for the run")
    parser.add_argument("--interval", type=float, default=0.5, help="HAI_SCHEDULER_INTERVAL")
    parser.add_argument("--no-local", action="store_true")
    parser.add_argument("--slurm", action="store_true")
    parser.add_argument("--slurm-jobs", type=int, default=50)
    parser.add_argument("--slurm-policy", type=Path, default=ROOT / "deploy/slurm/policy.toml")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg": os.getloadavg(),
        }
    }
    if not args.no_local:
        local = report["local"] = bench_local(args.jobs, args.slots, args.interval)
        print(
            f"local: {local['jobs']} jobs, {local['slots']} slots: "
            f"one at a time: start latency p50 {local['idle_start_latency_p50_ms']:.0f} ms "
            f"(max {local['idle_start_latency_max_ms']:.0f}); flood: "
            f"submit {local['submit_per_s']:.0f}/s; start latency p50 "
            f"{local['start_latency_p50_ms']:.0f} ms, p99 {local['start_latency_p99_ms']:.0f} ms; "
            f"throughput {local['throughput_jobs_per_s']:.1f} jobs/s vs direct launch "
            f"{local['reference_direct_jobs_per_s']:.0f} jobs/s "
            f"(ratio {local['throughput_ratio']:.3f})"
        )
    if args.slurm:
        sl = report["slurm"] = bench_slurm(args.slurm_jobs, args.slurm_policy)
        print(
            f"slurm: {sl['jobs']} jobs: sbatch {sl['sbatch_submit_ms']:.1f} ms/submit, platform "
            f"{sl['platform_submit_ms']:.1f} ms/submit (overhead {sl['submit_overhead_ms']:+.1f} "
            f"ms, ratio {sl['submit_ratio']:.2f}); all ended after {sl['sbatch_all_ended_s']:.1f}"
            f" s vs {sl['platform_all_ended_s']:.1f} s (ratio {sl['all_ended_ratio']:.2f})"
        )
    report["machine"]["load_avg_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
