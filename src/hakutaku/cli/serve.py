"""`hai serve`: run the server (gateway + control API) in this process."""

from __future__ import annotations

from typing import Annotated

import typer

from hakutaku.config import Settings, get_settings


def announce_new_admin_key(settings: Settings, key: str | None) -> None:
    if key:
        typer.echo(
            f"Bootstrap admin key (shown once; also in {settings.bootstrap_key_path}):\n  {key}",
            err=True,
        )


def serve(
    host: Annotated[str | None, typer.Option(help="Default HAI_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default HAI_PORT.")] = None,
) -> None:
    """Run the server: /v1 gateway, /api, /healthz, /metrics."""
    # Imported here so that every other `hai` command starts fast.
    import uvicorn

    from hakutaku.server.app import create_app
    from hakutaku.server.setup import prepare

    settings = get_settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    prepared = prepare(settings)
    announce_new_admin_key(settings, prepared.new_admin_key)
    typer.echo(f"hakutaku serving on http://{settings.host}:{settings.port}", err=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=30,
    )
