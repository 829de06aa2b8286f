"""`client.apps`: interactive app sessions, and trainings with their live dashboard.

client.apps.list()                                   # the apps on offer
s = client.apps.launch("terminal", cpus=2)            # a session; open client.apps.url(s)
client.apps.wait(s["id"])["phase"]                   # running, or ended (card["ended"]: why)
client.apps.extend(s["id"], "1h")["seconds_left"]    # more time, within the QOS's limits
t = client.apps.submit_training(["--model", "pfn", "--data", "jets/", "--epochs", "5"],
                                out="runs/pfn-5")    # the job, the dashboard's session, its URL
t["url"]                                             # http://server/apps/<session id>/
"""

from __future__ import annotations

import builtins
import time as clock
from collections.abc import Callable, Sequence
from typing import Literal

from hakutaku.sdk._resource import Record, Resource, segment


class Apps(Resource):
    """`/api/apps`. A session's card: `id`, `app`, `phase` (starting | running | ended),
    `ended`, `reason`, `job_id`, `node`, `url` (the path `/apps/<id>/`), ..."""

    def list(self) -> builtins.list[Record]:
        """The apps on offer (GET /api/apps)."""
        return self._client._objects("GET", "/api/apps")

    def sessions(self) -> builtins.list[Record]:
        """Your sessions' cards, newest first (GET /api/apps/sessions)."""
        return self._client._objects("GET", "/api/apps/sessions")

    def get(self, session_id: str) -> Record:
        return self._client._object("GET", f"/api/apps/sessions/{segment(session_id)}")

    def launch(self, app: str, *, folder: str | None = None, **resources: object) -> Record:
        """Launch an app session (POST /api/apps/sessions); `resources`: cpus, mem, time,
        partition, qos, account. `folder`: what the app works on (the training dashboard's
        run folder)."""
        body = {"app": app, "folder": folder, **resources}
        sent = {k: v for k, v in body.items() if v is not None}
        return self._client._object("POST", "/api/apps/sessions", json=sent)

    def extend(self, session_id: str, by: str | int) -> Record:
        """More time for a session (POST /api/apps/sessions/{id}/extend): `30m`, `1h`, Slurm's
        formats, or seconds. Returns its card: `time_limit`, `seconds_left`, `extend_room`
        (how much more may still be asked). Over the QOS's limit: 400 naming it."""
        path = f"/api/apps/sessions/{segment(session_id)}/extend"
        return self._client._object("POST", path, json={"by": by})

    def stop(self, session_id: str) -> Record:
        """Stop a session (cancels its job; POST /api/apps/sessions/{id}/stop). Its card may
        still read running for a moment: `wait(id, until="ended")` for the end."""
        return self._client._object("POST", f"/api/apps/sessions/{segment(session_id)}/stop")

    def wait(
        self,
        session_id: str,
        *,
        until: Literal["running", "ended"] = "running",
        timeout: float | None = None,
        poll: float = 0.5,
        on_poll: Callable[[Record], None] | None = None,
    ) -> Record:
        """Block until the session is running (its app answers) or has ended — with
        `until="ended"`, only until it has ended — and return its card. `on_poll` sees each
        card read meanwhile (its `reason`: the scheduler's while it waits). TimeoutError after
        `timeout` seconds."""
        if until not in ("running", "ended"):
            raise ValueError(f"until must be 'running' or 'ended', not {until!r}")
        done = {"ended"} if until == "ended" else {"running", "ended"}
        deadline = None if timeout is None else clock.monotonic() + timeout
        while True:
            session = self.get(session_id)
            if session["phase"] in done:
                return session
            if on_poll is not None:
                on_poll(session)
            if deadline is not None and clock.monotonic() > deadline:
                raise TimeoutError(
                    f"app session {session_id} still {session['phase']} after {timeout} s"
                )
            clock.sleep(poll)

    def url(self, session: Record) -> str:
        """The portal address of a session (what a browser opens, signed in)."""
        return f"{self._client.base_url}{session['url']}"

    def submit_training(
        self,
        args: Sequence[str],
        *,
        out: str,
        name: str = "",
        cpus: int | None = None,
        mem: str | None = None,
        gpus: str | None = None,
        time: str | None = None,
        partition: str | None = None,
        qos: str | None = None,
        account: str | None = None,
    ) -> Record:
        """Submit `hai hep train ARGS --out OUT` as your job, with its dashboard
        (POST /api/apps/trainings). Returns `job` (its record), `session` (the dashboard's
        card) and `url`, the dashboard's full portal address. `out` is relative to your
        home (where both jobs start) or absolute; so are relative data paths in `args`."""
        body = {
            "args": builtins.list(args),
            "out": out,
            "name": name,
            "cpus": cpus,
            "mem": mem,
            "gpus": gpus,
            "time": time,
            "partition": partition,
            "qos": qos,
            "account": account,
        }
        sent = {k: v for k, v in body.items() if v is not None}
        found = self._client._object("POST", "/api/apps/trainings", json=sent)
        found["url"] = f"{self._client.base_url}{found['url']}"
        return found
