"""`client.compute`: partitions, QOS, the machine's resources, and the policy (admins apply it).

client.compute.partitions()                         # [{name, accelerator, max_time, ...}]
client.compute.apply_policy(toml=open("policy.toml").read())      # admin
"""

from __future__ import annotations

from typing import Any

from hakutaku.sdk._resource import Record, Resource


class Compute(Resource):
    """`/api/compute`. The policy is `{"partitions": [...], "qos": [...]}`."""

    def policy(self) -> Record:
        """Partitions and QOS (GET /api/compute/policy); any key."""
        return self._client._object("GET", "/api/compute/policy")

    def partitions(self) -> list[Record]:
        """The partitions: accelerator, models, default and maximum time, QOS allowed."""
        rows: list[Record] = self.policy()["partitions"]
        return rows

    def qos(self) -> list[Record]:
        """The QOS: priority and per-user limits."""
        rows: list[Record] = self.policy()["qos"]
        return rows

    def resources(self) -> Record:
        """The backend, and on the local backend this machine's CPUs, memory and cards and
        what is free (GET /api/compute/resources)."""
        return self._client._object("GET", "/api/compute/resources")

    def apply_policy(
        self, toml: str | None = None, *, policy: dict[str, Any] | None = None
    ) -> Record:
        """Replace partitions and QOS (PUT /api/compute/policy; admin), from a policy file's
        TOML text or from the JSON `policy()` returns. Jobs already submitted keep their
        values. A policy that does not parse is 400 `invalid_policy`. Returns the new policy."""
        if (toml is None) == (policy is None):
            raise TypeError("give the policy either as toml=... or as policy=...")
        body = {"toml": toml} if toml is not None else {"policy": policy}
        return self._client._object("PUT", "/api/compute/policy", json=body)
