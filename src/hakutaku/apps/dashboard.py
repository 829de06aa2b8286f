"""The training dashboard app: a `hai hep train` run's epochs, live, and its ROC at the end.

Run in the job as `python -m hakutaku.apps.dashboard` with HAI_APP_HOST, HAI_APP_PORT,
HAI_APP_BASE_URL, HAI_APP_SECRET and HAI_APP_FOLDER (the run folder; relative to the job's
working directory, the user's home). The folder may not exist yet when the dashboard starts
(the training job can still be queued): the page says so and keeps looking.

What it reads is what `hakutaku.hep.training.train` writes: config.json (the epochs asked
for, the model, the classes) and metrics.json (one row per finished epoch, rewritten whole
after each, so a read sees the last complete version), and a ROC plot if the run has one
(`roc.png`, or `evaluation/roc.png` from `hai hep evaluate`), and job-end.json, which a
submitted training's job writes as it ends (`hakutaku.apps.training`), so that a failed one
reads "failed" rather than "waiting". The page polls `status.json`
every second. Every request must carry `Authorization: token <secret>` (the proxy adds it).

The dashboard of a submitted training follows its job (HAI_APP_FOLLOWS_JOB, the platform's job
id, which that job writes into job-end.json) and exits HAI_APP_END_GRACE seconds after that
job's job-end.json appears: its session then ends as completed. Without them (a dashboard
launched by hand on a run folder) it serves until it is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from hakutaku.apps.terminal import STATIC, VENDOR

FILES = {
    "dashboard.js": (STATIC / "dashboard.js", "text/javascript"),
    "uPlot.iife.min.js": (VENDOR / "uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": (VENDOR / "uPlot.min.css", "text/css"),
}
ROC_FILES = ("roc.png", "evaluation/roc.png")
CHECK_EVERY = 1.0  # seconds between looks for the followed job's end
METRICS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_auc", "lr", "seconds")


def read_run(folder: Path) -> dict[str, Any]:
    """The run's state as the page shows it (never raises on a half-made folder)."""
    status: dict[str, Any] = {"folder": str(folder), "exists": folder.is_dir()}
    config = _json(folder / "config.json")
    rows = _json(folder / "metrics.json")
    epochs = (
        [{k: _number(row.get(k)) for k in METRICS} for row in rows if isinstance(row, dict)]
        if isinstance(rows, list)
        else []
    )
    total = config.get("epochs") if isinstance(config, dict) else None
    end = _json(folder / "job-end.json")
    status.update(
        model=config.get("model") if isinstance(config, dict) else None,
        classes=config.get("label_names", []) if isinstance(config, dict) else [],
        epochs_total=total,
        epochs=epochs,
        finished=isinstance(total, int) and len(epochs) >= total,
        roc=next((name for name in ROC_FILES if (folder / name).is_file()), None),
        job_end=end if isinstance(end, dict) and "exit_code" in end else None,
    )
    return status


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # not there yet, or caught between write and rename
        return {}


def _number(value: Any) -> float | None:
    """JSON has no NaN (an AUC on one class is NaN): send null instead."""
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    return None


def _authorized(headers: Any, secret: str) -> bool:
    given = str(headers.get("authorization", ""))
    return hmac.compare_digest(given.encode(), f"token {secret}".encode())


def run_ended(folder: Path, job: str) -> bool:
    """Has the job `job` (a platform job id) written its job-end.json into the run folder?"""
    end = _json(folder / "job-end.json")
    return isinstance(end, dict) and str(end.get("job", "")) == job


async def _end_after_run(server: Any, folder: Path, job: str, grace: float) -> None:
    """Tell the server to exit `grace` seconds after the followed job's run ended."""
    while not run_ended(folder, job):
        await asyncio.sleep(CHECK_EVERY)
    await asyncio.sleep(grace)
    server.should_exit = True  # uvicorn then shuts down cleanly: exit code 0


async def _serve(server: Any, folder: Path, follows: str | None, grace: float) -> None:
    watcher = (
        asyncio.ensure_future(_end_after_run(server, folder, follows, grace)) if follows else None
    )
    try:
        await server.serve()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


def make_app(base_url: str, secret: str, folder: Path) -> object:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if not _authorized(request.headers, secret):
                return Response("forbidden", 403)
            response: Response = await handler(request)
            return response

        return endpoint

    async def page(request: Request) -> Response:
        html = (STATIC / "dashboard.html").read_text()
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    async def static(request: Request) -> Response:
        found = FILES.get(request.path_params["name"])
        if found is None:
            return Response("not found", 404)
        return FileResponse(found[0], media_type=found[1])

    async def status(request: Request) -> Response:
        return JSONResponse(read_run(folder), headers={"cache-control": "no-store"})

    async def roc(request: Request) -> Response:
        name = read_run(folder)["roc"]
        if name is None:
            return Response("this run has no ROC plot (yet)", 404)
        return FileResponse(folder / name, media_type="image/png")

    async def healthz(request: Request) -> Response:
        return Response("ok")

    routes = [
        Route("/", guarded(page)),
        Route("/static/{name}", guarded(static)),
        Route("/status.json", guarded(status)),
        Route("/roc.png", guarded(roc)),
        Route("/healthz", guarded(healthz)),
    ]
    return Starlette(routes=[Mount(base_url.rstrip("/"), routes=routes)])


def main() -> None:
    import uvicorn

    try:
        host = os.environ.get("HAI_APP_HOST", "127.0.0.1")
        port = int(os.environ["HAI_APP_PORT"])
        base_url = os.environ["HAI_APP_BASE_URL"]
        secret = os.environ["HAI_APP_SECRET"]
        folder = os.environ["HAI_APP_FOLDER"]
        follows = os.environ.get("HAI_APP_FOLLOWS_JOB") or None
        grace = float(os.environ.get("HAI_APP_END_GRACE") or 0)
    except (KeyError, ValueError) as exc:
        sys.exit(
            f"hakutaku.apps.dashboard: {exc} is missing or wrong; it is started by the platform "
            "as an app session (HAI_APP_PORT, HAI_APP_BASE_URL, HAI_APP_SECRET, HAI_APP_FOLDER; "
            "optionally HAI_APP_FOLLOWS_JOB and HAI_APP_END_GRACE, in seconds)."
        )
    run = Path(folder).expanduser().absolute()
    app = make_app(base_url, secret, run)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")  # type: ignore[arg-type]
    asyncio.run(_serve(uvicorn.Server(config), run, follows, grace))


if __name__ == "__main__":
    main()
