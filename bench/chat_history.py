"""HaiChat benchmark, history part (run through `bench/chat.py --part history`, or directly):
the chat pages' server time with a big history. A real server
(`python -m hakutaku serve`, HAI_SERVER_TIMING=1) on a database where one user, `heavy`, has
`--conversations` conversations (10 000; two messages each) and one conversation of
`--long-messages` messages (500). Signed in through the portal's own form, it asks each page
`--rounds` times and reads the server's own time and SQL statement count from Server-Timing:

- `/chat` (a new chat: the sidebar's newest page of the 10 000),
- `/chat/{long}` (the 500-message conversation: its latest page of messages, and the sidebar),
- `/chat/{short}` (a two-message conversation),
- the API pages the chat page calls next: the long conversation's messages and the history
  list, and a history search (title or message text, a substring scan: no target).

The reference, measured in the same run on the same server: `/profile`, a trivial page.
Target (issue 14): p50 ≤ 50 ms server time for the chat pages with the big history.

    .venv/bin/python bench/chat.py --part history                  # SQLite, ~30 s
    .venv/bin/python bench/chat_history.py --db both --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # bench/portal.py: the server, the sign-in, the page timer

from portal import PASSWORD, PageResult, database, server, signed_in, time_page  # noqa: E402

HISTORY_P50_TARGET_MS = 50.0


# -- history ----------------------------------------------------------------------------------


def history_seed(url: str, conversations: int, long_messages: int) -> None:
    """`heavy` with `conversations` two-message conversations and one of `long_messages`."""
    from hakutaku.db.migrate import upgrade
    from hakutaku.db.models import ChatConversation, ChatMessage, User
    from hakutaku.identity.passwords import hash_password

    upgrade(url)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(User),
            [{"name": "heavy", "role": "user", "password_hash": hash_password(PASSWORD)}],
        )
        uid = conn.execute(select(User.id).where(User.name == "heavy")).scalar_one()
        rows = []
        for i in range(conversations):
            stamp = now - timedelta(minutes=conversations - i)
            rows.append(
                {
                    "user_id": uid,
                    "title": f"Conversation {i}: jets, b-tagging and the trigger",
                    "model": "smollm2-135m-instruct",
                    "system_prompt": "",
                    "message_count": 2,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
        rows.append(
            {
                "user_id": uid,
                "title": "The long one",
                "model": "smollm2-135m-instruct",
                "system_prompt": "Answer briefly.",
                "message_count": long_messages,
                "created_at": now - timedelta(days=30),
                "updated_at": now - timedelta(days=30),  # not in the sidebar's first page
            }
        )
        conn.execute(insert(ChatConversation), rows)
        ids = list(
            conn.execute(select(ChatConversation.id).order_by(ChatConversation.id)).scalars()
        )
        answer = (
            "An answer with **Markdown**, a formula $m_t \\approx 173$ GeV and some code.\n" * 4
        )
        messages: list[dict[str, Any]] = []

        def flush() -> None:
            conn.execute(insert(ChatMessage), messages)
            messages.clear()

        for cid in ids[:-1]:
            for seq, role in ((1, "user"), (2, "assistant")):
                messages.append(_message(cid, seq, role, answer, now))
            if len(messages) >= 5000:
                flush()
        for seq in range(1, long_messages + 1):
            messages.append(_message(ids[-1], seq, "user" if seq % 2 else "assistant", answer, now))
        flush()
    engine.dispose()


def _message(cid: int, seq: int, role: str, answer: str, now: datetime) -> dict[str, Any]:
    text = f"Question {seq} about the top quark?" if role == "user" else answer
    return {
        "conversation_id": cid,
        "seq": seq,
        "role": role,
        "content": text,
        "model": None if role == "user" else "smollm2-135m-instruct",
        "prompt_tokens": None if role == "user" else 200 + seq,
        "completion_tokens": None if role == "user" else 80,
        "finish": None if role == "user" else "stop",
        "created_at": now,
    }


def history_measure(kind: str, conversations: int, long_messages: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="hai-bench-chat-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # PostgreSQL runs as its own user, below this folder
        with database(kind, work) as url:
            began = time.monotonic()
            history_seed(url, conversations, long_messages)
            print(
                f"  seeded {conversations} conversations and one of {long_messages} messages "
                f"in {time.monotonic() - began:.0f} s"
            )
            with server(url, work / "home") as base, signed_in(base, "heavy") as client:
                page = client.get("/api/chat/conversations", params={"limit": 1}).json()
                short = page["data"][0]["id"]
                long_id = client.get("/api/chat/conversations", params={"q": "The long one"})
                long = long_id.json()["data"][0]["id"]
                paths = {
                    "reference: /profile": "/profile",
                    "/chat (new)": "/chat",
                    f"/chat/{{long}} ({long_messages} msgs)": f"/chat/{long}",
                    "/chat/{short} (2 msgs)": f"/chat/{short}",
                    "API: long's messages": f"/api/chat/conversations/{long}/messages",
                    "API: history page": "/api/chat/conversations",
                    "API: search, many hits (no target)": "/api/chat/conversations?q=b-tagging",
                    "API: search, no hit (no target)": "/api/chat/conversations?q=gravitino",
                }
                return {name: time_page(client, path, rounds) for name, path in paths.items()}


def history_report(kind: str, results: dict[str, PageResult]) -> bool:
    reference = results["reference: /profile"]
    print(
        f"\n{kind}: chat history, server time per request "
        f"(target p50 ≤ {HISTORY_P50_TARGET_MS:g} ms for the chat pages)"
    )
    print(f"  {'page':<36} {'p50':>8} {'p99':>8} {'queries':>8} {'p50/ref':>8}  verdict")
    ok_all = True
    for name, r in results.items():
        targeted = not name.startswith("reference") and "no target" not in name
        ok = r.status == 200 and (not targeted or r.p50_ms <= HISTORY_P50_TARGET_MS)
        ok_all &= ok
        ratio = r.p50_ms / reference.p50_ms if reference.p50_ms else float("nan")
        verdict = ("PASS" if ok else "FAIL") if targeted else "-"
        print(
            f"  {name:<36} {r.p50_ms:7.1f}ms {r.p99_ms:7.1f}ms {r.queries_max:8d} "
            f"{ratio:7.2f}x  {verdict}" + ("" if r.status == 200 else f" (status {r.status})")
        )
    return ok_all


def history_main(args: argparse.Namespace, results: dict[str, Any]) -> bool:
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    ok = True
    for kind in kinds:
        print(f"{kind}: history ({args.conversations} conversations)")
        measured = history_measure(kind, args.conversations, args.long_messages, args.rounds)
        ok &= history_report(kind, measured)
        results.setdefault("history", {})[kind] = {k: asdict(v) for k, v in measured.items()}
    return ok


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--long-messages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_history_arguments(parser)
    parser.add_argument("--json", type=Path, help="Write the results here.")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": f"{platform.node()} {os.cpu_count()} CPUs",
        "load": os.getloadavg()[0],
    }
    ok = history_main(args, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
