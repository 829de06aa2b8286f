"""A conversation as a file: Markdown for people, JSON for programs (the API's own shapes)."""

from __future__ import annotations

from typing import Any

from hakutaku.db.models import ChatConversation, ChatMessage

FORMATS = ("markdown", "json")


def conversation_record(row: ChatConversation) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "model": row.model,
        "system_prompt": row.system_prompt,
        "message_count": row.message_count,
        "paper_ids": list(row.paper_ids or []),
        "shared": row.share_token is not None,
        "share_token": row.share_token,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def message_record(row: ChatMessage, share_token: str | None = None) -> dict[str, Any]:
    """`share_token`: the message is read through a share link, and so are its PDFs."""
    return {
        "seq": row.seq,
        "role": row.role,
        "content": row.content,
        "model": row.model,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "finish": row.finish,
        "passages": [passage_record(p, share_token) for p in row.passages]
        if row.passages
        else None,
        "created_at": row.created_at.isoformat(),
    }


def passage_record(p: dict[str, Any], share_token: str | None = None) -> dict[str, Any]:
    """A cited passage, with the link that opens its PDF at its page (for a shared
    conversation, through its share link: the reader does not own the paper)."""
    return {**p, "link": f"{pdf_path(int(p['paper_id']), share_token)}#page={int(p['page'])}"}


def pdf_path(paper_id: int, share_token: str | None = None) -> str:
    if share_token:
        return f"/api/chat/shared/{share_token}/papers/{paper_id}/pdf"
    return f"/api/papers/{paper_id}/pdf"


def as_json(row: ChatConversation, messages: list[ChatMessage]) -> dict[str, Any]:
    record = conversation_record(row)
    record.pop("share_token")  # an export is a copy to pass around, not the link itself
    return {**record, "messages": [message_record(m) for m in messages]}


def as_markdown(row: ChatConversation, messages: list[ChatMessage]) -> str:
    lines = [f"# {row.title or 'Conversation ' + str(row.id)}", ""]
    changed = f"{row.updated_at:%Y-%m-%d %H:%M}"
    lines.append(f"*Exported from Hakutaku chat; last changed {changed} UTC.*")
    lines.append("")
    if row.system_prompt:
        lines += ["## System prompt", "", row.system_prompt, ""]
    for m in messages:
        if m.role == "user":
            heading = "## You"
        else:
            counts = []
            if m.completion_tokens is not None:
                counts.append(f"{m.completion_tokens} tokens")
            if m.finish == "stopped":
                counts.append("stopped")
            detail = f" ({m.model}{', ' + ', '.join(counts) if counts else ''})" if m.model else ""
            heading = f"## Assistant{detail}"
        lines += [heading, "", m.content, ""]
        for i, p in enumerate(m.passages or [], start=1):
            lines.append(f"[{i}] {p['file']}, p. {p['page']}: {' '.join(p['text'].split())}")
        if m.passages:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def filename(row: ChatConversation, extension: str) -> str:
    """An ASCII file name from the title (Content-Disposition must stay plain)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "-" for ch in row.title)
    stem = "-".join(part for part in safe.split("-") if part)[:60] or "conversation"
    return f"{stem}-{row.id}.{extension}"
