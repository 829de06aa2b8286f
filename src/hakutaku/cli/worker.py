"""`hai worker TARGET`: host a Python object as a platform model."""

from __future__ import annotations

import traceback
from typing import Annotated

import typer

from hakutaku.config import get_settings, worker_token

NO_TOKEN = (
    "no worker token: set HAI_WORKER_TOKEN, or put the server's token in {path} "
    "(`hai serve` / `hai up` create it there on first start)"
)


def worker(
    target: Annotated[
        str,
        typer.Argument(
            help="What to host: path/to/file.py:Class or package.module:Class.",
            show_default=False,
        ),
    ],
    server: Annotated[
        str | None,
        typer.Option(
            "--server", help="Server to register with (default: the configured server URL)."
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Model name (default: the class's `name`, else its class name)."
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on; 0 picks a free one.")] = 0,
    max_inflight: Annotated[
        int | None,
        typer.Option(
            "--max-inflight",
            min=1,
            help="Concurrent calls before 429 (default: the class's `max_inflight`, else 32).",
        ),
    ] = None,
    advertise_url: Annotated[
        str | None,
        typer.Option(
            "--advertise-url", help="URL the server should call (default: http://HOST:PORT)."
        ),
    ] = None,
) -> None:
    """Serve a Python object's @remote methods as a model, registered with the server."""
    # Imported here so that `hai --help` does not pay for uvicorn and the runtime.
    from hakutaku.workers.agent import WorkerError, run_worker
    from hakutaku.workers.loader import LoadError

    settings = get_settings()
    token = worker_token(settings)
    if not token:
        typer.echo(f"error: {NO_TOKEN.format(path=settings.worker_token_path)}", err=True)
        raise typer.Exit(2)
    server_url = (server or settings.server_url).rstrip("/")
    try:
        run_worker(
            target,
            server_url=server_url,
            name=name,
            host=host,
            port=port,
            max_inflight=max_inflight,
            advertise_url=advertise_url,
            token=token,
        )
    except LoadError as e:
        cause = e.__cause__
        if cause is not None and not isinstance(cause, LoadError):
            # The user's own code failed (import or setup): show where.
            traceback.print_exception(cause)
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except WorkerError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
