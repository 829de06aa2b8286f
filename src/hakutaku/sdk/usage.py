"""`client.usage`: model-call usage, monthly statements, the ledger behind them.

    client.usage.summary(model="qwen-7b")            # calls, errors, tokens per user/model/method
    client.usage.daily(since="2026-11-01")           # the same per UTC day and model
    client.usage.monthly(source="job")               # ledger per month: card-/CPU-hours
    client.usage.statement(period="2026-11")         # resources, credit, charges, totals
    client.usage.ledger(period="2026-11", source="job")
    client.usage.deployments()                       # per deployment: calls, cost per 1 000

You read your own usage and your groups' (`account=`); admins read anyone's.
"""

from __future__ import annotations

from datetime import datetime

from hakutaku.sdk._resource import Record, Resource, query


class Usage(Resource):
    """`/api/usage`."""

    def summary(
        self,
        *,
        user: str | None = None,
        model: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> list[Record]:
        """Model calls per user, model and method (GET /api/usage): `user`, `model`,
        `method`, `calls`, `errors` (status 400 or more), `prompt_tokens`,
        `completion_tokens`, `mean_latency_ms`. Yours; admins: a `user`'s, or everyone's."""
        params = query(user=user, model=model, since=since, until=until)
        return self._client._objects("GET", "/api/usage", params=params)

    def daily(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        user: str | None = None,
        model: str | None = None,
    ) -> list[Record]:
        """Model calls per UTC day and model (GET /api/usage/daily), oldest first: `day`
        (YYYY-MM-DD), `model`, `calls`, `errors`, `prompt_tokens`, `completion_tokens`.
        [since, until): default the last 30 days; at most 366. Days without calls are left
        out. Yours; admins: a `user`'s, or everyone's."""
        params = query(since=since, until=until, user=user, model=model)
        return self._client._objects("GET", "/api/usage/daily", params=params)

    def monthly(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        user: str | None = None,
        account: str | None = None,
        source: str | None = None,
    ) -> list[Record]:
        """The ledger per month and resource (GET /api/usage/monthly): `period`, `source`,
        `resource`, `unit`, `quantity` (a decimal string). Months `since`..`until`
        (YYYY-MM, both included; default the last 12). `source="job"`: card- and CPU-hours.
        Yours, a group's (`account`); admins anyone's."""
        params = query(since=since, until=until, user=user, account=account, source=source)
        return self._client._objects("GET", "/api/usage/monthly", params=params)

    def statement(
        self, *, period: str | None = None, user: str | None = None, account: str | None = None
    ) -> Record:
        """A month's statement (GET /api/usage/statements; `period` YYYY-MM, default this
        month): yours; a group's with `account` (its credit applied); admins: anyone's, or
        the whole platform's with neither. Keys: `period`, `user`, `account`,
        `credit_applied`, `lines`, `credits`, `totals` (currency → amount), `unpriced`."""
        params = query(period=period, user=user, account=account)
        return self._client._object("GET", "/api/usage/statements", params=params)

    def ledger(
        self,
        *,
        period: str | None = None,
        user: str | None = None,
        account: str | None = None,
        source: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Record]:
        """The ledger rows behind a statement, oldest first (GET /api/usage/ledger):
        `id`, `ts`, `period`, `user`, `account`, `source` (job, model or workflow), `ref`,
        `resource`, `quantity`, `unit`. Page with `limit` and `offset`."""
        params = query(
            period=period, user=user, account=account, source=source, limit=limit, offset=offset
        )
        return self._client._objects("GET", "/api/usage/ledger", params=params)

    def deployments(self, *, period: str | None = None) -> list[Record]:
        """Per deployment (GET /api/usage/deployments; yours, admins all): `name`, `owner`,
        `state`, `calls` served, `resources` (ledger quantities of the replicas' ended jobs),
        `cost`, `currency`, `cost_per_1k_calls`; all time, or one month (`period` YYYY-MM)."""
        return self._client._objects("GET", "/api/usage/deployments", params=query(period=period))

    def collect(self) -> Record:
        """Bring the ledger up to date with finished jobs, model calls and workflow tasks now
        instead of at the collector's next pass (POST /api/usage/collect; admin). Returns the
        counts: `jobs`, `job_entries`, `model_entries`, `workflow_tasks`, `workflow_entries`."""
        return self._client._object("POST", "/api/usage/collect")
