"""What an app is: the command a job runs, how the platform knows it is up, how it is reached.

An app is served under `/apps/<session id>/` (its base URL) on a port the platform chooses,
and must refuse requests without the session's secret, which the proxy sends in a header.
The command, environment and header are templates over:

  {python}    the Python app jobs run (HAI_APPS_PYTHON, default the server's)
  {host}      the address to listen on (127.0.0.1 for local jobs, 0.0.0.0 on Slurm nodes)
  {port}      the port the platform chose
  {base_url}  /apps/<session id>/ (with the slashes)
  {secret}    the per-session secret (give it to the app in `env`, not on the command line:
              a command line is visible to every user of the node)
  {workdir}   the session's working directory (the user's home)
  {folder}    the folder the session was launched on (`Launch.folder`; the training
              dashboard's run folder); an app that names it cannot be launched without one

Operators add apps in a TOML file (HAI_APPS_FILE), one `[apps.NAME]` table each, with the
fields of `AppSpec`; see docs/apps.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hakutaku.errors import PlatformError


class AppSpecError(PlatformError):
    code = "invalid_app_spec"


@dataclass(frozen=True)
class AppSpec:
    name: str
    title: str
    command: tuple[str, ...]
    description: str = ""
    env: dict[str, str] = field(default_factory=dict)
    # a GET of base_url + ready_path, with the secret header, answering < 500 means "up"
    ready_path: str = ""
    auth_header: str = "Authorization"
    auth_value: str = "token {secret}"
    # optional: a JSON document with `busy` (bool) and `last_activity` (ISO time), for culling
    activity_path: str | None = None
    cpus: int = 1
    mem: str = "2G"
    time: str = "2:00:00"

    def render(self, values: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """The command and environment with the placeholders filled in."""
        try:
            command = [part.format(**values) for part in self.command]
            env = {k: v.format(**values) for k, v in self.env.items()}
        except (KeyError, IndexError, ValueError) as exc:
            raise AppSpecError(
                f"App {self.name!r}: bad placeholder {exc} in its command or env; placeholders "
                "are {python} {host} {port} {base_url} {secret} {workdir} {folder}."
            ) from None
        return command, env

    @property
    def needs_folder(self) -> bool:
        return any("{folder}" in part for part in (*self.command, *self.env.values()))

    def header(self, secret: str) -> tuple[bytes, bytes]:
        return self.auth_header.lower().encode(), self.auth_value.format(secret=secret).encode()


JUPYTER = AppSpec(
    name="jupyter",
    title="Jupyter Lab",
    description="Notebooks, a file browser and consoles in the job's resources.",
    command=(
        "{python}",
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip={host}",
        "--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.base_url={base_url}",
        "--ServerApp.root_dir={workdir}",
        # the proxy is the only client; it rewrites Origin to this server's own
        "--ServerApp.allow_remote_access=True",
        # the job runs as its user; a local backend run by root runs it as root
        "--ServerApp.allow_root=True",
    ),
    # Jupyter reads its token from the environment: never on the command line
    env={"JUPYTER_TOKEN": "{secret}"},
    ready_path="api/status",
    activity_path="api/status",
    mem="4G",
)

TERMINAL = AppSpec(
    name="terminal",
    title="Terminal",
    description="Your shell on the job's node, in the browser.",
    command=("{python}", "-m", "hakutaku.apps.terminal"),
    env={
        "HAI_APP_HOST": "{host}",
        "HAI_APP_PORT": "{port}",
        "HAI_APP_BASE_URL": "{base_url}",
        "HAI_APP_SECRET": "{secret}",
    },
    ready_path="healthz",
    activity_path="activity",
    mem="1G",
)

TRAINING = AppSpec(
    name="training",
    title="Training dashboard",
    description="A `hai hep train` run's loss, accuracy and AUC per epoch, live; ROC at the end.",
    command=("{python}", "-m", "hakutaku.apps.dashboard"),
    env={
        "HAI_APP_HOST": "{host}",
        "HAI_APP_PORT": "{port}",
        "HAI_APP_BASE_URL": "{base_url}",
        "HAI_APP_SECRET": "{secret}",
        "HAI_APP_FOLDER": "{folder}",
    },
    ready_path="healthz",
    mem="512M",
    time="8:00:00",
)

SHIPPED = (JUPYTER, TERMINAL, TRAINING)


def load_apps(path: Path | None) -> dict[str, AppSpec]:
    """The shipped apps, plus (or replaced by) the operator's from `path`."""
    apps = {a.name: a for a in SHIPPED}
    if path is None:
        return apps
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AppSpecError(f"Cannot read the apps file {path} (HAI_APPS_FILE): {exc}.") from None
    for name, table in (data.get("apps") or {}).items():
        apps[name] = _spec(name, table, path)
    return apps


_FIELDS = set(AppSpec.__dataclass_fields__) - {"name"}


def _spec(name: str, table: Any, path: Path) -> AppSpec:
    where = f"[apps.{name}] in {path}"
    if not isinstance(table, dict):
        raise AppSpecError(f"{where} must be a table.")
    unknown = set(table) - _FIELDS
    if unknown:
        raise AppSpecError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; fields are "
            f"{', '.join(sorted(_FIELDS))}."
        )
    command = table.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise AppSpecError(f"{where}: `command` must be a non-empty list of strings.")
    values = {k: v for k, v in table.items() if k != "command"}
    values.setdefault("title", name)
    try:
        return AppSpec(name=name, command=tuple(command), **values)
    except TypeError as exc:
        raise AppSpecError(f"{where}: {exc}.") from None
