"""A campaign: tasks on Parsl, steered by agents, journaled, cancellable while they run.

    with Campaign("scan", pools={"simulate": 3, "train": 1}) as c:
        futures = [c.submit(simulate, x, pool="simulate") for x in points]
        c.run(["mpiexec", "-n", "2", "./solver"], cpus=2, pool="simulate")

Parsl runs every task through `execute` (as `execute_pickled`) in one HighThroughputExecutor
with as many workers as the pools' CPUs (a Python task in its worker's resident runner,
`hakutaku.workflows.runner`), handed to it directly (`submit_payload`: the DataFlowKernel
only starts and scales the executor); the campaign admits a task only when its pool has the CPUs it
asks for, so pools can be rebalanced while the campaign runs. Re-running a campaign under the
same name and folder resumes it: a task whose inputs hash to a finished task's key is
answered from the journal without running.

Short tasks of a deep queue go to Parsl several at a time as one Parsl task on one lease
(`hakutaku.workflows.bundles`, `bundle=`): their results arrive together when the bundle
ends, at most ~20 ms of expected work later; long, new and lone tasks go alone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parsl.dataflow.dflow import DataFlowKernel
from parsl.executors import HighThroughputExecutor
from parsl.providers.base import ExecutionProvider

from hakutaku.config import get_settings
from hakutaku.errors import PlatformError
from hakutaku.sdk.client import Client
from hakutaku.workflows import environment, refs, states, store, usage_log
from hakutaku.workflows.bundles import MAX_TASKS as MAX_BUNDLE
from hakutaku.workflows.bundles import Bundle, WallTimes, bundle_size
from hakutaku.workflows.errors import (
    TaskCancelled,
    TaskError,
    TaskFailed,
    TaskTimeout,
    WorkflowError,
)
from hakutaku.workflows.execute import (
    CANCEL_FILE,
    USAGE_FILE,
    WITHDRAW_FILE,
    WITHDRAWN,
    execute_pickled,
)
from hakutaku.workflows.future import TaskFuture
from hakutaku.workflows.journal import Journal
from hakutaku.workflows.leases import FOLDER as LEASE_FOLDER
from hakutaku.workflows.leases import Leases
from hakutaku.workflows.platform_provider import PlatformProvider
from hakutaku.workflows.pools import Pool, Pools
from hakutaku.workflows.proctree import PID_FILE, kill_recorded
from hakutaku.workflows.profiles import LABEL, PROFILES, SlurmOptions, parsl_config
from hakutaku.workflows.runner import pack_call
from hakutaku.workflows.task import EXECUTABLE, PYTHON, TaskSpec, task_name

# What a worker runs for every task: `execute_pickled(request)`, the request a pickle of the
# attempt's spec (Parsl's own packing of function and arguments is not needed).
EXECUTE = {"task_executor": {"f": f"{execute_pickled.__module__}.{execute_pickled.__name__}"}}
DEFAULT_PREFETCH = 4  # tasks handed to Parsl ahead, at most (and never more than the CPUs)

ERRORS: dict[str, type[TaskError]] = {
    states.FAILED: TaskFailed,
    states.TIMEOUT: TaskTimeout,
    states.CANCELLED: TaskCancelled,
}


class Campaign:
    def __init__(
        self,
        name: str,
        *,
        pools: dict[str, int] | None = None,
        profile: str = "local",
        run_dir: str | Path | None = None,
        database_url: str | None = None,
        user: str | None = None,
        slurm: SlurmOptions | None = None,
        prefetch: int | None = None,
        bundle: int = MAX_BUNDLE,
    ) -> None:
        # `hai workflows run --name/--profile` win over what the file says.
        name = environment.campaign_name(name)
        profile = environment.campaign_profile(profile)
        try:
            store.check_name(name)
        except PlatformError as exc:
            raise WorkflowError(exc.message) from None
        if profile not in PROFILES:
            raise WorkflowError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
        settings = get_settings()
        self.name = name
        self.profile = profile
        self.pools: Pools[TaskFuture] = Pools(pools or {"default": os.cpu_count() or 1})
        # Tasks handed to Parsl ahead, each behind a running task of its pool on that task's
        # lease, so that a worker starts the next task without waiting for this process.
        # Each takes a spare Parsl worker (and, running Python, its resident runner): a few.
        if prefetch is None:
            prefetch = min(self.pools.total, DEFAULT_PREFETCH)
        if not isinstance(prefetch, int) or prefetch < 0:
            raise WorkflowError(
                f"prefetch must be a whole number of tasks >= 0 (0: none), not {prefetch!r}"
            )
        self.prefetch = prefetch
        # Short tasks of a deep queue go to Parsl up to `bundle` at a time as one Parsl task
        # (hakutaku.workflows.bundles); 0 or 1: never.
        if not isinstance(bundle, int) or bundle < 0:
            raise WorkflowError(
                f"bundle must be a whole number of tasks >= 0 (0 or 1: none), not {bundle!r}"
            )
        self.bundle = bundle
        self._walls = WallTimes()
        self.submissions = 0  # Parsl tasks handed to the executor (a bundle is one)
        self.bundled = 0  # task attempts that went to Parsl in a bundle
        self.run_dir = Path(run_dir or settings.home / "workflows" / name).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        backend = environment.journal_backend(database_url, user)
        self.journal = Journal(backend, name, str(self.run_dir), profile)
        # No earlier run left tasks here: no folder can hold an earlier result or process, so
        # submitting need not look (two file-system calls a task).
        self._fresh = not self.journal.previous and not (self.run_dir / "tasks").exists()
        self._lock = threading.RLock()
        self._seen: dict[str, int] = {}
        self._live: dict[str, TaskFuture] = {}
        self._cores = self._core_list(self.pools.total)
        self._free_cores = list(self._cores)
        self._leases: Leases[TaskFuture] = Leases(self.run_dir / LEASE_FOLDER)
        self._usage: dict[str, tuple[float, float]] | None = None  # of an earlier run's tasks
        self._idle = threading.Condition(self._lock)
        self._agents: list[threading.Thread] = []
        self._processors: list[tuple[str | None, Callable[[TaskFuture], None]]] = []
        self.stopping = threading.Event()
        self.counts = {"submitted": 0, "reused": 0, "done": 0, "failed": 0, "cancelled": 0}
        self._dfk = DataFlowKernel(
            parsl_config(
                profile, self.pools.total, self.run_dir, slurm, campaign=name, prefetch=prefetch
            )
        )
        # Tasks go straight to the executor (the DataFlowKernel only starts and scales it):
        # the campaign has its own queues, retries and journal, so Parsl's task records,
        # launch thread and AppFuture would be a second bookkeeping of every task.
        executor = self._dfk.executors[LABEL]
        if not isinstance(executor, HighThroughputExecutor):
            raise WorkflowError(f"the campaign's executor is a {type(executor).__name__}")
        self._executor = executor
        self._closed = False
        self._raised = False
        # Blocks submitted through the platform are the owner's jobs, billed as jobs.
        provider = getattr(self._dfk.executors[LABEL], "provider", None)
        self.journal.blocks_are_jobs = isinstance(getattr(provider, "client", None), Client)
        self._watcher = threading.Thread(target=self._watch_cancel, daemon=True)
        self._watcher.start()

    # ------------------------------------------------------------------ submitting tasks

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        pool: str = "default",
        cpus: int = 1,
        retries: int = 0,
        timeout: float | None = None,
        name: str | None = None,
        cards: int = 0,
        **kwargs: Any,
    ) -> TaskFuture:
        """Run the Python function `fn(*args, **kwargs)` as a task. `cards`: accelerator
        cards it uses (billed as card-seconds; it sees HAI_TASK_CARDS)."""
        spec = TaskSpec(
            PYTHON,
            name or task_name(fn, None),
            pool,
            cpus,
            retries,
            timeout,
            fn,
            args,
            kwargs,
            cards=cards,
        )
        return self._submit(spec)

    def run(
        self,
        argv: list[str],
        *,
        pool: str = "default",
        cpus: int = 1,
        retries: int = 0,
        timeout: float | None = None,
        name: str | None = None,
        mpi_ranks: int | None = None,
        cards: int = 0,
    ) -> TaskFuture:
        """Run an executable as a task; `mpi_ranks` launches it with `mpiexec -n RANKS`
        (give at least as many cpus). Its result is its exit code (0); stdout.txt and
        stderr.txt are in its folder."""
        command = [str(a) for a in argv]
        if mpi_ranks is not None:
            if mpi_ranks < 1 or mpi_ranks > cpus:
                raise WorkflowError(
                    f"mpi_ranks must be between 1 and cpus ({cpus}), not {mpi_ranks}"
                )
            launcher = shutil.which("mpiexec")
            if launcher is None:
                raise WorkflowError("mpiexec is not installed (apt-get install mpich)")
            command = [launcher, "-n", str(mpi_ranks), *command]
        spec = TaskSpec(
            EXECUTABLE,
            name or task_name(None, command),
            pool,
            cpus,
            retries,
            timeout,
            argv=command,
            cards=cards,
            mpi=mpi_ranks is not None,
        )
        return self._submit(spec)

    def _submit(self, spec: TaskSpec) -> TaskFuture:
        if self._closed:
            raise WorkflowError("the campaign is closed; submit inside its `with` block")
        spec.validate()
        pool = self.pools[spec.pool]
        if spec.cpus > self.pools.total:
            raise WorkflowError(
                f"task {spec.name!r} asks for {spec.cpus} CPUs; the campaign has "
                f"{self.pools.total} in all (pools: {self.pools.sizes()})"
            )
        digest = spec.digest()
        call = self._pack(spec) if spec.kind == PYTHON else b""
        with self._lock:
            n = self._seen.get(digest, 0)
            self._seen[digest] = n + 1
        key = f"{spec.name[:48]}-{digest}-{n}"
        folder = self.run_dir / "tasks" / key
        fut = TaskFuture(self, key, spec, folder)
        fut.call = call
        self.counts["submitted"] += 1
        if self._answer_from_journal(fut):
            return fut
        self._prepare_folder(folder)
        self._journal_new(fut, states.PENDING)
        with self._lock:
            self._live[key] = fut
            pool.queue.append(fut)
            self._admit()
        return fut

    @staticmethod
    def _pack(spec: TaskSpec) -> bytes:
        """The call, packed once here (`runner.pack_call`): the worker hands it to its
        runner as it is."""
        try:
            return pack_call(spec.fn, spec.args, spec.kwargs)
        except Exception as exc:
            raise WorkflowError(
                f"task {spec.name!r}: Parsl cannot serialize it ({type(exc).__name__}: {exc}); "
                "submit a module-level function with plain data, numpy arrays or file paths"
            ) from exc

    def _answer_from_journal(self, fut: TaskFuture) -> bool:
        """A finished task of an earlier run (journaled, or its result on disk) is not rerun."""
        earlier = self.journal.previous.get(fut.key)
        finished = earlier is not None and earlier.state == states.DONE
        if not (finished or (not self._fresh and refs.has_result(fut.task_dir))):
            return False
        try:
            value = refs.load(fut.task_dir)
        except (OSError, EOFError, ValueError):
            return False  # a result that cannot be read is computed again
        fut.state, fut.reused = states.DONE, True
        self.counts["reused"] += 1
        if not finished:  # it ended after the killed run's last journal write
            if self._usage is None:  # read once, at the first such task
                self._usage = usage_log.read(self.run_dir)
            fut.cpu_seconds, fut.wall_seconds = self._usage.get(fut.key, (0.0, 0.0))
            self._journal_new(fut, states.DONE, result_ref=str(fut.task_dir))
        fut.set_result(value)
        return True

    def _journal_new(self, fut: TaskFuture, state: str, result_ref: str | None = None) -> None:
        spec = fut.spec
        self.journal.record(
            fut.key,
            name=spec.name,
            kind=spec.kind,
            pool=spec.pool,
            cpus=spec.cpus,
            cards=spec.cards,
            state=state,
            attempts=0,
            task_dir=str(fut.task_dir),
            result_ref=result_ref,
            cpu_seconds=fut.cpu_seconds,
            wall_seconds=fut.wall_seconds,
            submitted_at=datetime.now(UTC),
        )

    def _prepare_folder(self, folder: Path) -> None:
        """A folder left by a killed run: kill what still runs there, clear its markers.
        The worker creates the folder (a mkdir here cost 0.1-0.2 ms a task on this VM)."""
        if not self._fresh and folder.exists():
            kill_recorded(folder, shared_too=True)  # left by an earlier run, so stale
            for stale in (CANCEL_FILE, WITHDRAW_FILE, PID_FILE, "error.txt", USAGE_FILE):
                (folder / stale).unlink(missing_ok=True)

    @staticmethod
    def _core_list(total: int) -> list[int]:
        # Pin tasks to cores only when every slot can have cores of its own.
        cores = sorted(os.sched_getaffinity(0))
        return cores if total <= len(cores) else []

    def _admit(self) -> None:
        """Hand queued tasks to Parsl while their pools have room (called under the lock):
        on a new lease while the pool has free CPUs, then (prefetched) behind a running task
        of the pool on its lease, while the campaign's prefetch allows."""
        # A pool shrunk by a rebalance can still use more than its size until its tasks end:
        # admit only into CPUs that are free in the campaign as a whole.
        free = self.pools.total - sum(pool.used for pool in self.pools)
        for pool in self.pools:
            while pool.queue:
                cpus = pool.queue[0].spec.cpus
                if cpus <= min(pool.free, free):
                    free -= cpus
                    pool.used += cpus
                    cores = [self._free_cores.pop() for _ in range(cpus)] if self._cores else []
                    lease = self._leases.open(pool.name, cpus, cores)
                elif self._leases.prefetched < self.prefetch and pool.used <= pool.capacity:
                    # (not into a pool shrunk below its use: its leases are to end)
                    found = self._leases.behind(pool.name, cpus)
                    if found is None:
                        break
                    lease = found
                else:
                    break
                size = 1
                if self.bundle > 1:
                    slots = pool.capacity // cpus
                    size = bundle_size(pool.queue, slots, self.bundle, self._walls)
                futs = [pool.queue.popleft() for _ in range(size)]
                self._leases.add(lease, futs)
                for fut in futs:
                    fut.lease = lease
                    fut.cores = lease.cores
                if size == 1:
                    self._launch(futs[0])
                else:
                    self._launch_bundle(Bundle(futs))
            if not pool.queue:
                self._rebind(pool, min(pool.free, free))

    def _rebind(self, pool: Pool[TaskFuture], free: int) -> None:
        """A pool with free CPUs and no queued task, while tasks of it wait on busy leases
        (a rebalance gave it CPUs, or tasks ran unevenly long): ask one waiting Parsl task
        per free CPU to come back unstarted, so it runs on a lease of its own (a bundle
        waiting for its lease as a whole: every member is asked, and the first one seen
        ends its wait)."""
        for lease in self._leases.open_leases:
            if free <= 0:
                return
            if lease.pool != pool.name:
                continue
            running = lease.tasks[0].bundle
            asked: set[int] = set()
            for fut in lease.tasks[:0:-1]:  # the last ones first, never the one running
                if free <= 0:
                    return
                unit = [fut] if fut.bundle is None else fut.bundle.members
                if fut.bundle is not None:
                    if fut.bundle is running or id(fut.bundle) in asked:
                        continue  # (its members run after the one running: soon)
                    asked.add(id(fut.bundle))
                waiting = all(f.state == states.RUNNING and not f.withdrawing for f in unit)
                if fut.spec.cpus <= free and waiting:
                    free -= fut.spec.cpus
                    for member in unit:
                        member.withdrawing = True
                        with contextlib.suppress(OSError):
                            member.task_dir.mkdir(parents=True, exist_ok=True)
                            (member.task_dir / WITHDRAW_FILE).touch()

    def _launch(self, fut: TaskFuture) -> None:
        request = pickle.dumps(self._payload(fut), protocol=pickle.HIGHEST_PROTOCOL)
        self._send(request, functools.partial(self._finished, fut))

    def _launch_bundle(self, bundle: Bundle[TaskFuture]) -> None:
        """The members go to Parsl as one task (`execute.execute_bundle`), on one lease."""
        for fut in bundle.members:
            fut.bundle = bundle
        payloads = [self._payload(fut) for fut in bundle.members]
        self.bundled += len(payloads)
        request = pickle.dumps(payloads, protocol=pickle.HIGHEST_PROTOCOL)
        self._send(request, functools.partial(self._bundle_finished, bundle))

    def _payload(self, fut: TaskFuture) -> dict[str, Any]:
        """The attempt's spec for `execute` (the attempt starts: running, counted)."""
        spec = fut.spec
        fut.state = states.RUNNING
        fut.attempts += 1
        if fut.lease is None or fut.lease.tasks[0] is fut:
            self._journal_started(fut)
        # else: prefetched (or behind a member of its bundle); journaled running once the
        # task before it on its lease has ended
        payload: dict[str, Any] = {
            "kind": spec.kind,
            "task_dir": str(fut.task_dir),
            "slot": fut.key,
            "cpus": spec.cpus,
            "cards": spec.cards,
            "cores": fut.cores,
            "timeout": spec.timeout,
            "lease": self._leases.path(fut.lease) if fut.lease is not None else None,
        }
        if spec.kind == PYTHON:
            payload["call"] = fut.call
        else:
            payload["argv"] = spec.argv
            payload["mpi"] = spec.mpi
        return payload

    def _send(self, request: bytes, finished: Callable[[Future[Any]], None]) -> None:
        self.submissions += 1
        try:
            # Called under the campaign's lock, always: the executor's task socket is not
            # thread-safe, and this is its only sender.
            sent = self._executor.submit_payload(EXECUTE, request)
        except Exception as exc:  # the executor is in a bad state (its workers are gone)
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            # Not here: the outcome admits the next task, which would fail the same way here.
            threading.Thread(target=finished, args=(failed,), daemon=True).start()
            return
        sent.add_done_callback(finished)

    # ------------------------------------------------------------------ results

    def _finished(self, fut: TaskFuture, done: Future[Any]) -> None:
        try:
            outcome = pickle.loads(done.result())
        except Exception as exc:  # the worker was lost, the task could not be sent, ...
            outcome = {"state": states.FAILED, "error": f"{type(exc).__name__}: {exc}"}
        self._settle(fut, outcome)

    def _bundle_finished(self, bundle: Bundle[TaskFuture], done: Future[Any]) -> None:
        """A bundle's outcomes, taken member by member in the order they ran; when the
        bundle as a whole failed (its worker was lost, ...), each member fails (or is
        retried) as a task alone would. Members that come back unstarted are queued again
        in their order; the pool admits once all are taken."""
        members = bundle.members
        try:
            outcomes = pickle.loads(done.result())
            if not isinstance(outcomes, list) or len(outcomes) != len(members):
                raise WorkflowError(f"a bundle of {len(members)} tasks answered {outcomes!r}")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc} (in a bundle of {len(members)} tasks)"
            outcomes = [{"state": states.FAILED, "error": error} for _ in members]
        back = 0
        for index, (fut, outcome) in enumerate(zip(members, outcomes, strict=True)):
            back += self._settle(fut, outcome, requeue_at=back, admit=index == len(members) - 1)

    def _settle(
        self, fut: TaskFuture, outcome: dict[str, Any], requeue_at: int = 0, admit: bool = True
    ) -> bool:
        """Take the attempt's outcome: journal it, retry or requeue the task (at
        `requeue_at` in its queue; then True), or end its future and call the result
        processors. `admit`: hand the pool's next tasks to Parsl now."""
        state = outcome["state"]
        if fut.state == states.CANCELLED:
            state = states.CANCELLED  # cancelled while its outcome was on its way back
        fut.cpu_seconds += outcome.get("cpu_seconds", 0.0)
        wall = outcome.get("wall_seconds")
        if wall is not None:
            fut.wall_seconds += wall
        with self._lock:
            if wall is not None:  # (an attempt that ran, whatever its end: the name's time)
                self._walls.add(fut.spec.name, wall)
            pool = self.pools[fut.spec.pool]
            self._release(fut)
            if fut.withdrawing:  # (or it had started, and the request came too late)
                fut.withdrawing = False
                (fut.task_dir / WITHDRAW_FILE).unlink(missing_ok=True)
            withdrawn = state == WITHDRAWN
            if withdrawn:  # it did not start: back to the head of its queue, not an attempt
                fut.attempts -= 1
            retry = state in (states.FAILED, states.TIMEOUT) and fut.attempts <= fut.spec.retries
            if retry:
                (fut.task_dir / "error.txt").unlink(missing_ok=True)
            if retry or withdrawn:
                pool.queue.insert(min(requeue_at, len(pool.queue)), fut)
                fut.state = states.PENDING
            if admit:
                self._admit()
        if retry or withdrawn:
            self.journal.record(fut.key, state=states.PENDING, error=outcome.get("error", ""))
            return True
        value: Any = None
        if state == states.DONE:
            try:
                inline = outcome.get("inline")
                if fut.spec.kind != PYTHON:
                    value = 0
                elif inline is not None:
                    value = refs.loads(inline)  # small: no file to open (it is written too)
                else:
                    value = refs.load(fut.task_dir)
            except Exception as exc:
                state, outcome["error"] = states.FAILED, f"its result could not be read: {exc}"
        fut.state = state
        self.journal.record(
            fut.key,
            state=state,
            error=outcome.get("error", ""),
            result_ref=str(fut.task_dir) if state == states.DONE else None,
            cpu_seconds=fut.cpu_seconds,
            wall_seconds=fut.wall_seconds,
        )
        self.counts[
            "done"
            if state == states.DONE
            else "failed"
            if state != states.CANCELLED
            else "cancelled"
        ] += 1
        with self._lock:
            self._live.pop(fut.key, None)
            self._idle.notify_all()
        if state == states.DONE:
            fut.set_result(value)
        else:
            fut.set_exception(
                ERRORS[state](f"task {fut.key}: {outcome.get('error', state)}", str(fut.task_dir))
            )
        for pool_name, processor in self._processors:
            if pool_name is None or pool_name == fut.spec.pool:
                processor(fut)
        return False

    def _journal_started(self, fut: TaskFuture) -> None:
        self.journal.record(
            fut.key, state=states.RUNNING, attempts=fut.attempts, started_at=datetime.now(UTC)
        )

    def _release(self, fut: TaskFuture) -> None:
        """The task's attempt ended: its lease goes to the task behind it, or is closed
        (its CPUs and cores free again). Called under the lock."""
        lease, bundle = fut.lease, fut.bundle
        fut.lease, fut.cores, fut.bundle = None, [], None
        if lease is None:
            return
        first = lease.tasks[0] is fut
        if not first:  # its outcome came before that of the task ahead of it on the lease
            self._journal_started(fut)
        last = True  # of its Parsl task
        if bundle is not None:
            bundle.left -= 1
            last = bundle.left == 0
        self._leases.remove(lease, fut, last=last)
        if lease.tasks:
            if first:  # the prefetched task has the lease now: it started as this one ended
                self._journal_started(lease.tasks[0])
            return
        self._leases.close(lease)
        self.pools[lease.pool].used -= lease.cpus
        self._free_cores.extend(lease.cores)

    # ------------------------------------------------------------------ steering

    def cancel(self, fut: TaskFuture) -> bool:
        """Cancel a queued or running task; a running one's process tree is killed: an
        executable's here at once (when it runs on this host), a Python task's by its worker,
        which sees the cancel file within POLL_SECONDS and alone knows whether its runner
        still runs this task."""
        with self._lock:
            if fut.state in states.FINAL or fut.done():
                return False
            queued = fut.state == states.PENDING
            if queued:
                try:
                    self.pools[fut.spec.pool].queue.remove(fut)
                except ValueError:
                    queued = False  # admitted a moment ago
            if queued:
                fut.state = states.CANCELLED
                self._live.pop(fut.key, None)
                self._idle.notify_all()
            else:
                fut.state = states.CANCELLED
                fut.task_dir.mkdir(parents=True, exist_ok=True)  # not there until it starts
                (fut.task_dir / CANCEL_FILE).touch()
        if queued:
            self.journal.record(fut.key, state=states.CANCELLED, error="cancelled before it ran")
            self.counts["cancelled"] += 1
            fut.set_exception(
                TaskCancelled(f"task {fut.key}: cancelled before it ran", str(fut.task_dir))
            )
        else:
            kill_recorded(fut.task_dir)
        return True

    def rebalance(self, source: str, target: str, cpus: int) -> None:
        """Move CPUs from one pool to another while tasks run."""
        with self._lock:
            self.pools.move(source, target, cpus)
            self._admit()

    def agent(self, fn: Callable[[Campaign], None]) -> Callable[[Campaign], None]:
        """Register a steering agent (the thinker pattern): `fn(campaign)` runs in its own
        thread from `start_agents()` until it returns or `campaign.stopping` is set."""
        self._agents.append(
            threading.Thread(target=fn, args=(self,), name=f"agent-{fn.__name__}", daemon=True)
        )
        return fn

    def on_result(
        self, pool: str | None = None
    ) -> Callable[[Callable[[TaskFuture], None]], Callable[[TaskFuture], None]]:
        """Register a result processor, called with every finished task (of `pool`)."""

        def register(fn: Callable[[TaskFuture], None]) -> Callable[[TaskFuture], None]:
            self._processors.append((pool, fn))
            return fn

        return register

    def start_agents(self) -> None:
        for thread in self._agents:
            if not thread.is_alive() and thread.ident is None:
                thread.start()

    def run_agents(self, timeout: float | None = None) -> None:
        """Start the agents and return when they have all returned (then wait for tasks)."""
        self.start_agents()
        for thread in self._agents:
            thread.join(timeout)
        self.wait()

    def stop(self) -> None:
        self.stopping.set()

    def wait(
        self, futures: Iterable[TaskFuture] | None = None, timeout: float | None = None
    ) -> None:
        """Wait until the given tasks (default: every task) have ended."""
        if futures is not None:
            for fut in futures:
                fut.exception(timeout)
            return
        with self._lock:
            self._idle.wait_for(lambda: not self._live, timeout)

    def live(self) -> list[TaskFuture]:
        with self._lock:
            return list(self._live.values())

    def _watch_cancel(self) -> None:
        """`hai workflows cancel` marks the campaign in the database; stop it here."""
        while not self._closed:
            if self.journal.cancel_requested.wait(0.5):
                self.stop()
                for fut in self.live():
                    fut.cancel()
                return

    # ------------------------------------------------------------------ closing

    def close(self, wait: bool = True) -> None:
        if self._closed:
            return
        if wait:
            self.wait()
        for fut in self.live():
            fut.cancel()
        self.wait(timeout=10)
        self._closed = True
        self.stopping.set()
        self._dfk.cleanup()
        provider = self.provider
        if isinstance(provider, PlatformProvider):
            provider.close()  # no block job outlives its campaign, whatever Parsl's state
        if self.journal.cancel_requested.is_set():
            final = states.CAMPAIGN_CANCELLED
        elif self.counts["failed"] or self._raised:  # a task failed, or the steering code
            final = states.CAMPAIGN_FAILED
        else:
            final = states.CAMPAIGN_FINISHED
        self.journal.close(final)

    @property
    def provider(self) -> ExecutionProvider | None:
        """Where the campaign's blocks come from (for the slurm profile: the user's jobs)."""
        return getattr(self._dfk.executors[LABEL], "provider", None)

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raised = exc[0] is not None  # e.g. Ctrl-C: the campaign did not finish
        self.close(wait=exc[0] is None)
