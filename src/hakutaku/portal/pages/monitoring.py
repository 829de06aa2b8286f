"""The operators' monitoring page: charts of the samples, the alerts, the cluster now.

GET /admin/monitoring              the page (admins): alerts, the snapshot, chart frames
GET /admin/monitoring/alerts       the alerts alone (htmx refreshes them)
GET /admin/monitoring/series.json  the charts' data for a window (?hours=1|6|24|48):
                                   cluster (card or CPU utilisation, jobs pending and running,
                                   per partition) and gateway (calls/s, 5xx and 4xx in % of
                                   calls, mean and 95th percentile latency, usage queue)

Everything is read from the database the monitor fills (hakutaku.monitoring): grouped queries
over the samples, a few small ones for the alerts; no scheduler command, no walk of the homes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.responses import JSONResponse

from hakutaku.api.deps import ReplicaDep
from hakutaku.db.lease import LeaseState, read_lease
from hakutaku.monitoring.alerts import Alert, current_alerts
from hakutaku.monitoring.samples import cluster_series, gateway_series, step_for
from hakutaku.portal.auth import Admin
from hakutaku.portal.formatting import ago, size, when
from hakutaku.portal.i18n import _
from hakutaku.portal.templating import SECURITY_HEADERS, render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

WINDOWS = (1, 6, 24, 48)  # hours a chart may show
DEFAULT_WINDOW = 6


@dataclass(frozen=True)
class Shown:
    """An alert in words, in the reader's language."""

    alert: Alert
    title: str
    detail: str
    action: str


def words(a: Alert) -> Shown:
    v = {**a.values, "subject": a.subject}
    if a.kind == "worker_down":
        title = _("Model %(subject)s has no live worker") % v
        detail = _("It last had one %(ago)s ago (%(when)s).") % {
            "ago": ago(a.since),
            "when": when(a.since),
        }
        action = (
            _(
                "Start a worker for it (`hai worker TARGET --name %(subject)s`), or find why its "
                "worker stopped (its log, its node). If the model is retired, remove it."
            )
            % v
        )
    elif a.kind == "partition_full":
        title = _("Partition %(subject)s has been full for an hour") % v
        if v.get("what") == "cards":
            detail = _("None of its %(total)d cards was free in the last hour.") % v
        else:
            detail = _("None of its %(total)d CPU cores was free in the last hour.") % v
        if "pending" in v:
            detail += " " + _("%(pending)d of the platform's jobs wait for it.") % v
        action = _(
            "Point users to another partition, add nodes, or look at the long jobs holding it "
            "(All jobs, in Admin)."
        )
    elif a.kind == "home_near_quota":
        title = _("The home of %(subject)s is at %(percent)d %% of its quota") % v
        detail = _(
            "%(used)s of %(limit)s, %(files)d of %(max_files)d files; measured %(ago)s ago."
        ) % {
            "used": size(v["bytes"]),
            "limit": size(v["max_bytes"]),
            "files": v["files"],
            "max_files": v["max_files"],
            "ago": ago(a.since),
        }
        action = (
            _(
                "Ask %(subject)s to delete what they no longer need, or raise the quota "
                "(Admin → Users, or `hai files quota set %(subject)s --bytes ...`). Uploads "
                "past the quota are refused."
            )
            % v
        )
    elif a.kind == "usage_backlog":
        title = _("The usage writer of replica %(subject)s is falling behind") % v
        detail = (
            _("%(pending)d usage events wait to be written; the queue holds %(max)d at most.") % v
        )
        action = _(
            "Check that the database takes writes (disk, connections, locks). Past the limit "
            "the oldest events are dropped and never billed."
        )
    elif a.kind == "usage_dropped":
        title = _("Replica %(subject)s dropped %(count)d usage events in the last hour") % v
        detail = _(
            "Its queue was full while the database took no writes: those calls are not billed."
        )
        action = _(
            "Find in the server log why the database refused writes; raise "
            "HAI_USAGE_MAX_PENDING if such outages are expected."
        )
    elif a.kind == "usage_rejected":
        title = _("The database refused %(count)d usage events of replica %(subject)s") % v
        detail = _("They are set aside in %(path)s; every other event was written.") % v
        action = _("Read that file and the server log for why (a name too long?).")
    elif a.kind == "snapshot_stale":
        if v.get("age"):
            title = _("The cluster snapshot is %(age)d s old") % v
        else:
            title = _("The cluster has not been read")
        detail = v.get("error") or _("The monitor has not written a new snapshot.")
        action = _(
            "Check that Slurm answers (`sinfo`, `scontrol ping`) on the replica holding the "
            "lease monitor:slurm (see below); the server log says why."
        )
    elif a.kind == "nodes_down":
        title = _("%(down)d of %(nodes)d nodes are down or drained") % v
        detail = _("Their cards and cores are not counted as free.")
        action = _(
            "See why with `sinfo -R`; bring a node back with `scontrol update "
            "nodename=NODE state=resume`."
        )
    else:
        title, detail, action = a.kind, str(a.values), ""
    return Shown(a, title, detail, action)


def _alerts(replica: Replica) -> list[Shown]:
    with replica.db.session() as s:
        found = current_alerts(
            s,
            replica.settings,
            replica.monitor.view,
            replica.uploads.storage.defaults,
            last_error=replica.monitor.last_error,
        )
    return [words(a) for a in found]


def _lease(replica: Replica) -> LeaseState | None:
    with replica.db.session() as s:
        return read_lease(s, replica.monitor.lease.name)


def _window(request: Request) -> int:
    try:
        hours = int(request.query_params.get("hours", DEFAULT_WINDOW))
    except ValueError:
        return DEFAULT_WINDOW
    return hours if hours in WINDOWS else DEFAULT_WINDOW


@router.get("/admin/monitoring")
async def monitoring_page(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    alerts, lease = await asyncio.gather(
        asyncio.to_thread(_alerts, replica), asyncio.to_thread(_lease, replica)
    )
    hours = _window(request)
    context = {
        "alerts": alerts,
        "view": replica.monitor.view,
        "lease": lease,
        "this_replica": replica.monitor.lease.id,
        "interval": replica.settings.monitor_interval,
        "retention": replica.settings.monitor_retention_hours,
        "hours": hours,
        "windows": [w for w in WINDOWS if w <= max(replica.settings.monitor_retention_hours, 1)],
    }
    return render(request, "monitoring/page.html", context)


@router.get("/admin/monitoring/alerts")
async def monitoring_alerts(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    alerts = await asyncio.to_thread(_alerts, replica)
    return render(request, "monitoring/_alerts.html", {"alerts": alerts})


@router.get("/admin/monitoring/series.json")
async def monitoring_series(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    hours = _window(request)
    step = step_for(hours, replica.settings.monitor_interval)
    since = int(time.time()) - hours * 3600

    def read() -> dict[str, Any]:
        with replica.db.session() as s:
            return {
                "hours": hours,
                "step": step,
                "now": int(time.time()),
                "cluster": cluster_series(s, since, step, hours),
                "gateway": gateway_series(s, since, step, hours),
                "updated_at": (
                    replica.monitor.view.updated_at.astimezone(UTC).isoformat()
                    if replica.monitor.view.updated_at
                    else None
                ),
            }

    data = await asyncio.to_thread(read)
    headers = {**SECURITY_HEADERS, "cache-control": "no-store"}
    return JSONResponse(data, headers=headers)
