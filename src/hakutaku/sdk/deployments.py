"""`client.deployments`: models served by worker jobs that the platform scales and updates.

client.deployments.create("tagger", worker="/home/me/tagger.py:Tagger",
                          partition="gpu", gpus="1", min_replicas=0, max_replicas=4)
client.deployments.wait_ready("tagger")
client.deployments.scale("tagger", max_replicas=8)
client.deployments.update("tagger", worker="/home/me/tagger_v2.py:Tagger")   # rolling
client.deployments.delete("tagger")
"""

from __future__ import annotations

import builtins
import time as clock
from typing import Any

from hakutaku.sdk._resource import Record, Resource, model_segment

_TARGETS = ("worker", "module", "hub", "openai_server")


def _target(**given: str | None) -> tuple[str, str]:
    chosen = [(k, v) for k, v in given.items() if v]
    if len(chosen) != 1:
        raise ValueError(
            "give exactly one of worker=, module=, hub= or openai_server= (what each replica runs)"
        )
    kind, target = chosen[0]
    return kind.replace("_", "-"), target


class Deployments(Resource):
    """`/api/deployments`. A record: `name`, `owner`, `kind`, `target`, resources
    (`partition`, `qos`, `gpus`, `cpus`, `mem`, `time`), `min_replicas`, `max_replicas`,
    `target_inflight`, `idle_timeout`, `desired`, `ready`, `starting`, `draining`,
    `generation`, `state`, `failures`, `message`; `get` adds `replicas` and `usage`."""

    def create(
        self,
        name: str,
        *,
        worker: str | None = None,
        module: str | None = None,
        hub: str | None = None,
        openai_server: str | None = None,
        partition: str | None = None,
        qos: str | None = None,
        account: str | None = None,
        gpus: str | int | None = None,
        cpus: int = 1,
        mem: str = "2G",
        time: str | None = None,
        min_replicas: int = 1,
        max_replicas: int = 1,
        target_inflight: float = 4.0,
        idle_timeout: str | int = "15m",
    ) -> Record:
        """Deploy a model (POST /api/deployments). `worker` is /abs/path/file.py:Class,
        `module` pkg.mod:Class, `hub` ARCH:VERSION, `openai_server` a command line."""
        kind, target = _target(worker=worker, module=module, hub=hub, openai_server=openai_server)
        body = {
            "name": name,
            "kind": kind,
            "target": target,
            "partition": partition,
            "qos": qos,
            "account": account,
            "gpus": None if gpus is None else str(gpus),
            "cpus": cpus,
            "mem": mem,
            "time": time,
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
            "target_inflight": target_inflight,
            "idle_timeout": str(idle_timeout),
        }
        return self._client._object("POST", "/api/deployments", json=body)

    def list(self) -> builtins.list[Record]:
        """Your deployments (an admin's: all)."""
        return self._client._objects("GET", "/api/deployments")

    def get(self, name: str) -> Record:
        """One deployment with its replicas and usage (calls, resources, cost per 1 000)."""
        return self._client._object("GET", f"/api/deployments/{model_segment(name)}")

    def scale(
        self, name: str, *, min_replicas: int | None = None, max_replicas: int | None = None
    ) -> Record:
        body = {"min_replicas": min_replicas, "max_replicas": max_replicas}
        return self._client._object(
            "POST", f"/api/deployments/{model_segment(name)}/scale", json=body
        )

    def update(
        self,
        name: str,
        *,
        worker: str | None = None,
        module: str | None = None,
        hub: str | None = None,
        openai_server: str | None = None,
        **resources: Any,
    ) -> Record:
        """Roll out a new version (and/or resources): new replicas start, the old ones are
        drained once the new answer; no call fails."""
        body: Record = {k: v for k, v in resources.items() if v is not None}
        if worker or module or hub or openai_server:
            body["kind"], body["target"] = _target(
                worker=worker, module=module, hub=hub, openai_server=openai_server
            )
        return self._client._object(
            "POST", f"/api/deployments/{model_segment(name)}/update", json=body
        )

    def logs(self, name: str) -> builtins.list[Record]:
        """The tail of each live replica's job log."""
        return self._client._objects("GET", f"/api/deployments/{model_segment(name)}/logs")

    def delete(self, name: str) -> Record:
        """Drain and stop every replica, then forget the deployment."""
        return self._client._object("DELETE", f"/api/deployments/{model_segment(name)}")

    def wait_ready(
        self, name: str, replicas: int = 1, *, timeout: float = 300, generation: int | None = None
    ) -> Record:
        """Wait until `replicas` replicas (of `generation`, default any) answer calls."""
        deadline = clock.monotonic() + timeout
        while True:
            d = self.get(name)
            ready = [
                r
                for r in d["replicas"]
                if r["state"] == "ready" and (generation is None or r["generation"] == generation)
            ]
            if len(ready) >= replicas:
                return d
            if clock.monotonic() > deadline:
                raise TimeoutError(
                    f"deployment {name}: {len(ready)} of {replicas} replicas ready after "
                    f"{timeout:.0f} s; last word: {d['message']}"
                )
            clock.sleep(0.2)
