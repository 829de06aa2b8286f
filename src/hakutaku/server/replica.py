"""What one server replica holds, assembled in one place.

The replica owns its database handle, settings, the secrets it serves with, the gateway's
per-replica state (registry snapshot, key cache, usage queue, worker connections), the storage
uploads service, the job scheduler, the deployment controller, the accounting collector and the
monitor (the cluster snapshot and the samples). The app builds one at start-up
(`Replica.assemble`), keeps it on `app.state.replica`, and routers receive its parts through
the FastAPI dependencies in `hakutaku.api.deps` — no router builds a service of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from hakutaku.accounting.collector import Collector
from hakutaku.apps.sessions import AppSessions
from hakutaku.compute.scheduler import Scheduler
from hakutaku.compute.service import ComputeService
from hakutaku.config import Settings
from hakutaku.db.session import Database
from hakutaku.deploy.controller import Controller
from hakutaku.gateway.context import Gateway
from hakutaku.gateway.registry import Registry
from hakutaku.identity.auth import KeyAuthenticator
from hakutaku.identity.secrets import SecretBox
from hakutaku.identity.worker_tokens import WorkerTokens
from hakutaku.monitoring.monitor import Monitor
from hakutaku.monitoring.prometheus import ClusterCollector
from hakutaku.portal.state import PortalState
from hakutaku.server.setup import prepare
from hakutaku.storage.service import Storage
from hakutaku.storage.uploads import Uploads


@dataclass(eq=False)
class Replica:
    settings: Settings
    db: Database
    box: SecretBox
    auth: KeyAuthenticator
    worker_token: str
    worker_tokens: WorkerTokens
    gateway: Gateway
    compute: ComputeService
    scheduler: Scheduler
    controller: Controller
    collector: Collector
    uploads: Uploads
    portal: PortalState
    monitor: Monitor
    apps: AppSessions

    @classmethod
    def assemble(cls, settings: Settings) -> Replica:
        """Prepare the home and the schema, then build every part (nothing runs yet)."""
        prepared = prepare(settings)
        db = Database(settings.sqlalchemy_url)
        box = SecretBox(prepared.server_secret)
        auth = KeyAuthenticator(
            db,
            prepared.server_secret,
            settings.key_cache_ttl,
            session_idle=settings.portal_idle_hours * 3600,
        )
        registry = Registry(db, box, settings.heartbeat_timeout)
        gateway = Gateway(settings, db, registry, auth, prepared.worker_token)
        scheduler_ref: list[Scheduler] = []
        # A local job that ends wakes the scheduler so the next one starts without a tick's wait.
        compute = ComputeService(settings, on_job_exit=lambda: scheduler_ref[0].wake())
        scheduler = Scheduler(compute, db, settings.scheduler_interval)
        scheduler_ref.append(scheduler)
        controller = Controller(settings, db, compute, box, on_submit=scheduler.wake)
        gateway.on_cold_start = controller.wake
        scheduler.on_jobs_ended = controller.wake
        storage = Storage(settings)
        # The cluster snapshot and the samples; its gauges are served with the gateway's.
        monitor = Monitor(settings, db, compute, gateway, storage)
        gateway.metrics.registry.register(
            ClusterCollector(lambda: monitor.view, lambda: monitor.homes_near_quota)
        )
        return cls(
            settings=settings,
            db=db,
            box=box,
            auth=auth,
            worker_token=prepared.worker_token,
            worker_tokens=WorkerTokens(prepared.server_secret, prepared.worker_token),
            gateway=gateway,
            compute=compute,
            scheduler=scheduler,
            controller=controller,
            collector=Collector(db, interval=settings.accounting_interval),
            uploads=Uploads(storage),
            portal=PortalState(settings),
            monitor=monitor,
            apps=AppSessions(settings, db, compute, box),
        )

    async def start(self) -> None:
        await self.gateway.start()
        await self.scheduler.start()
        await self.controller.start()
        self.collector.start()
        await self.monitor.start()

    async def stop(self) -> None:
        """Stop the loops, then flush what is queued (usage, a last accounting pass)."""
        try:
            await self.monitor.stop()
            await self.controller.stop()
            await self.scheduler.stop()
            await self.collector.stop()
            await self.gateway.stop()
        finally:
            self.db.dispose()
