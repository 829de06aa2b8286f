"""A real single-node Slurm for tests: deploy/slurm/start.sh and stop.sh, run for one session.

Binaries come from Debian's packages (deploy/slurm/install.sh, called by
deploy/dev/install-services.sh). The daemons need root (munged, slurmd). Everything the cluster
writes lives under one folder; the daemons are stopped by the PIDs start.sh recorded there.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "slurm"
# The daemons, the client tools and what they stand on; start.sh checks the same.
REQUIRED_BINARIES = (
    "slurmctld",
    "slurmd",
    "slurmdbd",
    "sbatch",
    "squeue",
    "sacct",
    "sacctmgr",
    "scancel",
    "munged",
    "mariadbd",
)
START_TIMEOUT = 240.0  # seconds; bring-up takes 10-40 s on a quiet machine
# One machine has room for one such cluster (ports, /etc/slurm): a second test session waits
# this long for the first to finish, then fails saying so (under pytest's 300 s test timeout).
LOCK_WAIT = 200.0
# The test session's cluster (tests/conftest.py: slurm_cluster, one for every test that needs it)
SLURM_RUN = Path("/tmp/hai-slurm-tests")


class SlurmStartFailed(RuntimeError):
    pass


def missing_slurm_binaries() -> list[str]:
    return [
        name
        for name in REQUIRED_BINARIES
        if shutil.which(name) is None and not Path("/usr/sbin", name).exists()
    ]


class SlurmCluster:
    """One cluster under `run_dir`, with the partitions and QOS of deploy/slurm/policy.toml."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.policy_path = DEPLOY / "policy.toml"
        self.start_output = ""  # start.sh's report, with its timings
        self.startup_seconds = 0.0
        self._lock_file: TextIO | None = None

    @property
    def jobs_dir(self) -> Path:
        """A folder every user's jobs can reach and write (mode 1777)."""
        return self.run_dir / "jobs"

    def platform_env(self, name: str) -> dict[str, str]:
        """Settings of a platform on this cluster: the Slurm backend and policy, with its jobs'
        and users' folders in a new folder under the shared one (jobs run as real users, who
        must reach them, as on a cluster where every node mounts the same storage)."""
        shared = self.jobs_dir / f"{name}-{time.monotonic_ns()}"
        storage = shared / "storage"
        storage.mkdir(parents=True)
        for folder in (shared, storage):
            folder.chmod(0o755)
        return {
            "HAI_COMPUTE_BACKEND": "slurm",
            "HAI_COMPUTE_POLICY": str(self.policy_path),
            "HAI_JOBS_DIR": str(shared / "jobs"),
            "HAI_STORAGE_ROOT": str(storage),
            "HAI_DEMO_WORKERS": "false",
        }

    def _env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "SLURM_RUN": str(self.run_dir), **extra}

    def start(self) -> None:
        self._lock()
        # A session that was killed may have left daemons under the same folder (it no longer
        # holds the lock): stop those by their recorded PIDs and start from clean state.
        self._stop_daemons(purge=True)
        began = time.monotonic()
        try:
            done = subprocess.run(
                ["bash", str(DEPLOY / "start.sh")],
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            self.stop()
            raise SlurmStartFailed(
                f"deploy/slurm/start.sh did not finish within {START_TIMEOUT:.0f} s; logs are in "
                f"{self.run_dir}/log (the next start removes them)."
            ) from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-3000:]
            self._stop_daemons(purge=False)  # keep the logs for whoever reads the failure
            self._unlock()
            raise SlurmStartFailed(
                f"deploy/slurm/start.sh failed (exit {done.returncode}); logs in "
                f"{self.run_dir}/log:\n{output}"
            )
        self.start_output = done.stdout
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop the daemons and remove the cluster's state; let the next session have it."""
        try:
            self._stop_daemons(purge=True)
        finally:
            self._unlock()

    def _lock(self) -> None:
        lock_path = self.run_dir.with_name(self.run_dir.name + ".lock")  # survives the purge
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(lock_path, "w")  # noqa: SIM115 - held for the whole session
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._unlock()
                    raise SlurmStartFailed(
                        f"Another test session has used the Slurm cluster ({self.run_dir}) for "
                        f"over {LOCK_WAIT:.0f} s; one machine runs one. Wait for it, or stop it "
                        "with `SLURM_RUN=... bash deploy/slurm/stop.sh`."
                    ) from None
                time.sleep(1)

    def _unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the lock
            self._lock_file = None

    def _stop_daemons(self, purge: bool) -> None:
        subprocess.run(
            ["bash", str(DEPLOY / "stop.sh")],
            env=self._env(SLURM_PURGE="1" if purge else "0"),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )


def python_for_job_users(folder: Path, user: str = "alice") -> Path:
    """A Python that the cluster's job users can execute, with this checkout's packages.

    Jobs run as their users, and the test's own interpreter may be out of their reach (a
    virtual environment made from /root/.pyenv: /root is closed to others), as a server's
    would be on a node-local path. A cluster installs the platform on shared storage; here a
    virtual environment is made in `folder` from the system's Python of the same version, and
    a `.pth` file adds this checkout's site-packages (readable by all) to it.
    """
    if _runs_as(user, Path(sys.executable)):
        return Path(sys.executable)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = Path(f"/usr/bin/python{version}")
    if not system.exists():
        raise SlurmStartFailed(
            f"Slurm jobs run as {user}, who cannot execute {sys.executable}, and there is no "
            f"{system} to build one they can: install python{version} (apt-get install "
            f"python{version}-venv) or run the tests from a Python every user can execute."
        )
    venv = folder / f"python{version}"
    if not (venv / "bin" / "python").exists():
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
        paths = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
        lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in paths)
        target = venv / "lib" / f"python{version}" / "site-packages" / "hai-checkout.pth"
        target.write_text(lines)
    python = venv / "bin" / "python"
    if not _runs_as(user, python):
        raise SlurmStartFailed(f"{user} cannot run {python} -c 'import hakutaku' either.")
    return python


def _runs_as(user: str, python: Path) -> bool:
    done = subprocess.run(
        ["runuser", "-u", user, "--", str(python), "-c", "import hakutaku"],
        capture_output=True,
        cwd="/",
        timeout=60,
    )
    return done.returncode == 0
