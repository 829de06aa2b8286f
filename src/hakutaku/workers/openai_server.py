"""A worker class's `chat_completions` as a stand-alone OpenAI-compatible server.

    python -m hakutaku.workers.openai_server --port 8001 \\
        [--target hakutaku.workers.backends.transformers_chat:TransformersChat] [--name NAME]

`GET /v1/models` and `POST /v1/chat/completions` (SSE stream and not), nothing else. On CPU
nodes this is what `hai deploy create NAME --openai-server "... --port {port}"` runs where a
GPU node would run vLLM; the class is configured as it is under `hai worker` (for
TransformersChat: `HAI_CHAT_MODEL_DIR`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hakutaku.workers.loader import instantiate, load_target, model_name

DEFAULT_TARGET = "hakutaku.workers.backends.transformers_chat:TransformersChat"


def _error(status: int, message: str, kind: str) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status)


def _sse(chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for chunk in chunks:
        yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


def create_app(model: Any, name: str) -> Starlette:
    async def models(_: Request) -> Response:
        entry = {"id": name, "object": "model", "created": 0, "owned_by": "hakutaku"}
        return JSONResponse({"object": "list", "data": [entry]})

    def complete(body: dict[str, Any]) -> Response:
        try:
            answer = model.chat_completions({**body, "model": name})
        except ValueError as exc:
            return _error(400, str(exc), "invalid_request_error")
        if isinstance(answer, dict):
            return JSONResponse(answer)
        return StreamingResponse(_sse(answer), media_type="text/event-stream")

    async def chat(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON", "invalid_request_error")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object", "invalid_request_error")
        return await run_in_threadpool(complete, body)  # generation blocks

    routes = [
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--target", default=DEFAULT_TARGET, help="package.module:Class")
    parser.add_argument("--name", default=None, help="the model id /v1/models shows")
    args = parser.parse_args(argv)
    model = instantiate(load_target(args.target))
    name = model_name(model, args.name)
    uvicorn.run(create_app(model, name), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
