"""HaiChat benchmark: the offline chat model through the gateway against the runtime itself, and
how often papers' retrieval finds the right page.

One run starts a real server (its own temporary HAI_HOME, SQLite, a free port) with the
offline chat model's worker (SmolLM2-135M-Instruct, transformers' GGUF loading) and the
embedding worker, and in this process loads the same model with the same class:

- offline model: time to first token and decode tokens/s of a greedy streamed answer,
  direct (the runtime's own generator in this process) and through `POST /v1/chat/completions`
  (SSE over loopback), alternating rounds so each ratio compares runs of the same minute;
  the transformers path's load time and resident memory (this process, before and after
  loading; and the worker's RSS).
- retrieval: three generated multi-page PDFs (tests/support/papers.py) uploaded through
  /api/papers, then every question of their set asked of all three at once
  (`POST /api/papers/search`, k=3): the hit rate of the right (file, page) in the top 3 and at
  the top.

With `--part history` (bench/chat_history.py, which also runs on its own): the chat pages'
server time with 10 000 conversations and a 500-message one, against a trivial page in the
same run (docs/performance.md, Chat history).

A benchmark, not a test: it prints numbers and exits 0 unless the platform failed.

    .venv/bin/python bench/chat.py            # ~3 minutes on 2 cores
    .venv/bin/python bench/chat.py --quick    # one round, short answers
    .venv/bin/python bench/chat.py --part history --db both   # SQLite and PostgreSQL
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.papers import DOCUMENTS, write_pdf
from tests.support.processes import Platform

LOCAL_CHAT = "hakutaku.workers.backends.local_chat:LocalChat"
EMBEDDING = "hakutaku.workers.backends.embedding:SentenceEmbedding"
MODEL = "smollm2-135m-instruct"
PROMPT = [{"role": "user", "content": "Explain in a few sentences what a hadronic jet is."}]


@dataclass
class Timing:
    ttft_s: float  # request sent → first text
    tokens: int  # completion tokens (usage)
    decode_tps: float  # tokens after the first, per second after the first text


def _timing(start: float, first: float | None, end: float, tokens: int) -> Timing:
    first = first if first is not None else end
    decode = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
    return Timing(first - start, tokens, decode)


def direct_stream(model: Any, max_tokens: int) -> Timing:
    """The runtime's own streamed generation, in this process (no HTTP, no gateway)."""
    start = time.perf_counter()
    first = None
    tokens = 0
    request = {
        "messages": PROMPT,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for chunk in model.chat_completions(request):
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and first is None:
            first = time.perf_counter()
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    return _timing(start, first, time.perf_counter(), tokens)


def gateway_stream(url: str, key: str, max_tokens: int) -> Timing:
    """The same request through POST /v1/chat/completions, read as SSE."""
    body = {
        "model": MODEL,
        "messages": PROMPT,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first = None
    tokens = 0
    with (
        httpx.Client(timeout=300) as h,
        h.stream(
            "POST",
            f"{url}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
        ) as r,
    ):
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = orjson.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and first is None:
                first = time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return _timing(start, first, time.perf_counter(), tokens)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_offline_model(p: Platform, rounds: int, max_tokens: int) -> None:
    from hakutaku.workers.backends.local_chat import LocalChat

    me = psutil.Process()
    rss_before = me.memory_info().rss
    began = time.perf_counter()
    model = LocalChat()
    model.setup()
    load_s = time.perf_counter() - began
    rss_model = me.memory_info().rss - rss_before
    worker = psutil.Process(p.workers[0].pid)
    print(f"offline model ({MODEL}, transformers GGUF → fp32, {os.cpu_count()} CPUs)")
    print(f"  load: {load_s:.1f} s; resident memory: +{rss_model / 2**30:.2f} GiB in this process,")
    print(f"  {worker.memory_info().rss / 2**30:.2f} GiB for the worker process")

    direct_stream(model, 4)  # warm-up: first calls allocate
    gateway_stream(p.url, p.admin_key, 4)
    direct: list[Timing] = []
    through: list[Timing] = []
    for _ in range(rounds):
        direct.append(direct_stream(model, max_tokens))
        through.append(gateway_stream(p.url, p.admin_key, max_tokens))
    d_ttft = _median([t.ttft_s for t in direct])
    g_ttft = _median([t.ttft_s for t in through])
    d_tps = _median([t.decode_tps for t in direct])
    g_tps = _median([t.decode_tps for t in through])
    tokens = _median([float(t.tokens) for t in through])
    print(f"  streamed, greedy, {tokens:.0f} tokens, median of {rounds} alternating rounds:")
    print(f"  {'':<10} {'TTFT ms':>9} {'tokens/s':>9}")
    print(f"  {'direct':<10} {d_ttft * 1000:>9.0f} {d_tps:>9.1f}")
    print(f"  {'gateway':<10} {g_ttft * 1000:>9.0f} {g_tps:>9.1f}")
    print(
        f"  ratio gateway/direct: TTFT {g_ttft / d_ttft:.2f}, tokens/s {g_tps / d_tps:.2f} "
        f"(gateway adds {(g_ttft - d_ttft) * 1000:+.0f} ms to the first token)"
    )


def bench_retrieval(p: Platform, workdir: Path) -> None:
    key = p.add_user_key("reader")
    ids: dict[str, int] = {}
    with p.http(key) as h:
        for name, (pages, _questions) in DOCUMENTS.items():
            pdf = write_pdf(workdir / name, pages)
            r = h.post("/api/papers", params={"filename": name}, content=pdf.read_bytes())
            r.raise_for_status()
            ids[name] = r.json()["id"]
        top1 = top3 = total = 0
        latencies: list[float] = []
        for name, (_pages, questions) in DOCUMENTS.items():
            for q in questions:
                began = time.perf_counter()
                r = h.post(
                    "/api/papers/search",
                    json={"question": q.text, "paper_ids": list(ids.values()), "k": 3},
                )
                latencies.append(time.perf_counter() - began)
                r.raise_for_status()
                found = [(x["file"], x["page"]) for x in r.json()]
                total += 1
                top3 += (name, q.page) in found
                top1 += bool(found) and found[0] == (name, q.page)
                if (name, q.page) not in found:
                    print(f"  miss: {q.text!r} → {found} (wanted {name} page {q.page})")
    pages = sum(len(d[0]) for d in DOCUMENTS.values())
    print(f"retrieval ({len(DOCUMENTS)} generated PDFs, {pages} pages, {total} questions, k=3)")
    print(f"  right page in the top 3: {top3}/{total} = {top3 / total:.0%}")
    print(f"  right page first:        {top1}/{total} = {top1 / total:.0%}")
    print(f"  search p50 {_median(latencies) * 1000:.0f} ms (one embedding call + exact search)")


def running_platform(home: Path) -> Iterator[Platform]:
    p = Platform(home).start()
    try:
        p.start_worker(LOCAL_CHAT, wait=300)
        p.start_worker(EMBEDDING, wait=300)
        yield p
    finally:
        p.stop()


def main() -> int:
    import chat_history  # bench/ is on sys.path when this file runs as a script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=["model", "history", "all"], default="model",
        help="model: the offline model and retrieval; history: the chat pages",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="one round, short answers")
    chat_history.add_history_arguments(parser)
    args = parser.parse_args()
    ok = True
    if args.part in ("model", "all"):
        rounds, max_tokens = (1, 16) if args.quick else (3, 64)
        with tempfile.TemporaryDirectory(prefix="hai-bench-chat-") as tmp:
            for p in running_platform(Path(tmp) / "home"):
                bench_offline_model(p, rounds, max_tokens)
                bench_retrieval(p, Path(tmp))
    if args.part in ("history", "all"):
        results: dict[str, Any] = {"load": os.getloadavg()[0]}
        ok = chat_history.history_main(args, results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
