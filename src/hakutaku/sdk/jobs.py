"""`client.jobs`: submit, follow and cancel batch jobs (the `/api/jobs` endpoints).

job = client.jobs.submit(["python", "train.py"], gpus="a800:1", time="2:00:00")
for chunk in client.jobs.logs(job["id"], follow=True):
    print(chunk.decode(), end="")
client.jobs.extend(job["id"], "30m")["time_limit"]   # more time, within the QOS's limits
client.jobs.wait(job["id"])["state"]           # completed | failed | cancelled | timeout
client.jobs.files(job["id"])["entries"]        # its folder: output.log, what it wrote there
client.jobs.download(job["id"], "output.log", "run.log")
"""

from __future__ import annotations

import builtins
import os
import time as clock
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from hakutaku.sdk._resource import Record, Resource, query

FINAL_STATES = frozenset({"completed", "failed", "cancelled", "timeout"})


class Jobs(Resource):
    """`/api/jobs`. A job record: `id`, `user`, `account`, `name`, `command`, `script`,
    `workdir`, `partition`, `qos`, `cpus`, `mem_mb`, `accelerator`, `accelerators`,
    `time_limit`, `state`, `reason`, `node`, `devices`, `exit_code`, `submitted_at`,
    `started_at`, `ended_at`, ... (docs/openapi.json: JobOut)."""

    def submit(
        self,
        command: Sequence[str] | None = None,
        *,
        script: str | None = None,
        name: str | None = None,
        partition: str | None = None,
        qos: str | None = None,
        account: str | None = None,
        cpus: int | None = None,
        mem: str | int | None = None,
        gpus: str | int | None = None,
        time: str | int | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Record:
        """Submit a job (POST /api/jobs): an argv `command`, or a bash `script` body.

        `mem` as `4G`, `512M` or megabytes; `gpus` as `N` or `MODEL:N`; `time` in Slurm's
        formats (`15` minutes, `1:00:00`, `2-00:00:00`); `account` is the group billed.
        What is left out takes the partition's and the platform's defaults. A request over a
        limit is 400, its message naming the limit. Returns the job's record.
        """
        body = {
            "command": builtins.list(command or []),
            "script": script,
            "name": name,
            "partition": partition,
            "qos": qos,
            "account": account,
            "cpus": cpus,
            "mem": mem,
            "gpus": gpus,
            "time": time,
            "workdir": workdir,
            "env": dict(env) if env is not None else None,
        }
        sent = {key: value for key, value in body.items() if value is not None}
        return self._client._object("POST", "/api/jobs", json=sent)

    def list(
        self,
        *,
        everyone: bool = False,
        user: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[Record]:
        """Your jobs, newest first (GET /api/jobs); admins: everyone's with `everyone`, or a
        `user`'s. `state` filters, e.g. `running` or `pending,running`."""
        params = query(all=everyone, user=user, state=state or None, limit=limit)
        return self._client._objects("GET", "/api/jobs", params=params)

    def get(self, job_id: int) -> Record:
        """One job (GET /api/jobs/{id}); yours, or (admins) anyone's."""
        return self._client._object("GET", f"/api/jobs/{int(job_id)}")

    def cancel(self, job_id: int) -> Record:
        """Cancel a pending or running job (POST /api/jobs/{id}/cancel); 409 when it has
        already ended. Returns its record."""
        return self._client._object("POST", f"/api/jobs/{int(job_id)}/cancel")

    def extend(self, job_id: int, by: str | int) -> Record:
        """Raise a pending or running job's time limit by `by` (POST /api/jobs/{id}/extend):
        `30m`, `1h`, `1h30m`, Slurm's formats, or seconds (an int). Over the partition's or
        the QOS's limit it is 400, naming the limit and how much may still be asked; 409 once
        the job has ended. Returns its record, with the new `time_limit`."""
        return self._client._object("POST", f"/api/jobs/{int(job_id)}/extend", json={"by": by})

    def logs(self, job_id: int, *, follow: bool = False, offset: int = 0) -> Iterator[bytes]:
        """The job's output (stdout and stderr) from byte `offset`; with `follow`, as it is
        written, until the job ends (GET /api/jobs/{id}/logs)."""
        with self._client._stream(
            "GET",
            f"/api/jobs/{int(job_id)}/logs",
            what=f"the log of job {job_id}",
            params={"follow": follow, "offset": offset},
            timeout=None,
        ) as response:
            yield from response.iter_bytes()

    def files(self, job_id: int, path: str = "") -> Record:
        """The job's folder, or a folder in it (GET /api/jobs/{id}/files):
        `{job_id, path, type, entries: [{name, path, type, size, modified}, ...]}`. A job not
        started yet lists empty; request.json (the job's environment) is never shown."""
        return self._client._object(
            "GET", f"/api/jobs/{int(job_id)}/files", params=query(path=path or None)
        )

    def download(self, job_id: int, path: str, to: str | os.PathLike[str] = ".") -> Path:
        """Stream a file of the job's folder to `to` (a file, or a folder to put it in),
        written beside it first and renamed when complete (GET /api/jobs/{id}/files/{path})."""
        local = Path(to)
        if local.is_dir():
            local = local / Path(path).name
        partial = local.with_name(local.name + ".part")
        try:
            with (
                self._client._stream(
                    "GET",
                    f"/api/jobs/{int(job_id)}/files/{quote(path.lstrip('/'), safe='/')}",
                    what=f"{path!r} of job {job_id}",
                ) as response,
                open(partial, "wb") as f,
            ):
                for block in response.iter_bytes(1 << 20):
                    f.write(block)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, local)
        return local

    def wait(self, job_id: int, timeout: float | None = None, poll: float = 0.5) -> Record:
        """Block until the job ends; its final record (TimeoutError after `timeout` s)."""
        deadline = None if timeout is None else clock.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["state"] in FINAL_STATES:
                return job
            if deadline is not None and clock.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s")
            clock.sleep(poll)
