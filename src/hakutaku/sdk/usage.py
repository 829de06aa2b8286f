"""`client.usage`: model-call usage, monthly statements, the ledger behind them.

    client.usage.summary(model="qwen-7b")            # calls, errors, tokens per user/model/method
    client.usage.statement(period="2026-11")         # resources, credit, charges, totals
    client.usage.ledger(period="2026-11", source="job")

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
        `id`, `ts`, `period`, `user`, `account`, `source` (job or model), `ref`, `resource`,
        `quantity`, `unit`. Page with `limit` and `offset`."""
        params = query(
            period=period, user=user, account=account, source=source, limit=limit, offset=offset
        )
        return self._client._objects("GET", "/api/usage/ledger", params=params)

    def collect(self) -> Record:
        """Bring the ledger up to date with finished jobs and model calls now instead of at
        the collector's next pass (POST /api/usage/collect; admin). Returns the counts:
        `jobs`, `job_entries`, `model_entries`."""
        return self._client._object("POST", "/api/usage/collect")
