"""Conversations and their messages, per user: list, search, create, edit, truncate, share.

Every read and write names the caller: a conversation that is not the caller's is "not found"
(404), whoever the caller is (admins too), so no one can tell another's conversations exist.
A shared conversation is read through its share token only, and read-only.

Messages are numbered 1, 2, ... (`seq`) without gaps. Editing a user message or regenerating
an answer *truncates*: the messages after the edited one (or the answer and those after it)
are deleted, and the conversation goes on from there. There are no branches to pick between;
export before editing to keep the old path.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from hakutaku.db.models import ChatConversation, ChatMessage, Paper, utcnow
from hakutaku.errors import NotFound, PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.papers.retrieval import MAX_K, owned_papers

ROLES = ("user", "assistant")
FINISHES = ("stop", "length", "stopped", "error", "content_filter", "tool_calls")
TITLE_MAX = 200
AUTO_TITLE = 60  # a new conversation is titled by the start of its first message
CONTENT_MAX = 200_000  # characters of one message
SYSTEM_PROMPT_MAX = 20_000
PAGE_MAX = 200


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the history, newest first; `next` is the cursor of the page after it."""

    conversations: list[ChatConversation]
    next: str | None


@dataclass(frozen=True, slots=True)
class MessagePage:
    """Messages in order (oldest first) and whether older ones exist before them."""

    messages: list[ChatMessage]
    has_earlier: bool


def not_found(conversation_id: int | str) -> NotFound:
    return NotFound(
        f"You have no conversation {conversation_id}. List yours with GET /api/chat/conversations.",
        code="conversation_not_found",
    )


def get(s: Session, who: Principal, conversation_id: int) -> ChatConversation:
    """The caller's conversation, or 404 (also for someone else's)."""
    row = s.get(ChatConversation, conversation_id)
    if row is None or row.user_id != who.user_id:
        raise not_found(conversation_id)
    return row


def shared(s: Session, token: str) -> ChatConversation:
    row = s.scalar(select(ChatConversation).where(ChatConversation.share_token == token))
    if row is None or not token:
        raise NotFound(
            "No conversation is shared under this link; its owner may have stopped sharing it.",
            code="share_not_found",
        )
    return row


def cites(s: Session, conversation: ChatConversation, paper_id: int) -> bool:
    """Whether an answer in the conversation cites a passage of this paper."""
    m = ChatMessage
    query = select(m.passages).where(m.conversation_id == conversation.id, m.passages.is_not(None))
    return any(int(p["paper_id"]) == paper_id for row in s.scalars(query) for p in row or [])


# -- the history ----------------------------------------------------------------------------


def _limit(limit: int) -> int:
    if not 1 <= limit <= PAGE_MAX:
        raise PlatformError(f"limit must be between 1 and {PAGE_MAX}, got {limit}.", param="limit")
    return limit


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(row: ChatConversation) -> str:
    """`<microseconds since the epoch>~<id>`: exact, and safe in a URL as it is."""
    micros = (row.updated_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}~{row.id}"


def _parse_cursor(cursor: str) -> tuple[datetime, int]:
    micros, _, ident = cursor.partition("~")
    try:
        return EPOCH + timedelta(microseconds=int(micros)), int(ident)
    except (ValueError, OverflowError):
        raise PlatformError(
            "This 'before' cursor is not one the server gave; use the 'next' of the last page.",
            param="before",
        ) from None


def listing(
    s: Session, who: Principal, *, q: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """The caller's conversations, most recently changed first; `q` matches the title or any
    message's text (case-insensitive substring)."""
    c = ChatConversation
    query = select(c).where(c.user_id == who.user_id)
    if q and q.strip():
        needle = q.strip()
        in_messages = exists().where(
            ChatMessage.conversation_id == c.id,
            ChatMessage.content.icontains(needle, autoescape=True),
        )
        query = query.where(or_(c.title.icontains(needle, autoescape=True), in_messages))
    if before:
        stamp, ident = _parse_cursor(before)
        query = query.where(or_(c.updated_at < stamp, and_(c.updated_at == stamp, c.id < ident)))
    newest_first = query.order_by(c.updated_at.desc(), c.id.desc())
    rows = list(s.scalars(newest_first.limit(_limit(limit) + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, _cursor(rows[-1]) if more and rows else None)


# -- one conversation -----------------------------------------------------------------------


def _title(title: str) -> str:
    title = " ".join(title.split())
    if len(title) > TITLE_MAX:
        raise PlatformError(
            f"A title has at most {TITLE_MAX} characters; this one has {len(title)}.",
            param="title",
        )
    return title


def _system_prompt(text: str) -> str:
    if len(text) > SYSTEM_PROMPT_MAX:
        raise PlatformError(
            f"A system prompt has at most {SYSTEM_PROMPT_MAX} characters; this one has "
            f"{len(text)}.",
            param="system_prompt",
        )
    return text


def create(
    s: Session,
    who: Principal,
    *,
    title: str = "",
    model: str | None = None,
    system_prompt: str = "",
) -> ChatConversation:
    now = utcnow()
    row = ChatConversation(
        user_id=who.user_id,
        title=_title(title),
        model=model or None,
        system_prompt=_system_prompt(system_prompt),
        message_count=0,
        created_at=now,
        updated_at=now,
    )
    s.add(row)
    s.flush()
    return row


def change(
    s: Session,
    who: Principal,
    conversation_id: int,
    *,
    title: str | None = None,
    model: str | None = None,
    system_prompt: str | None = None,
) -> ChatConversation:
    """Rename it, change its system prompt or the model it last used."""
    row = get(s, who, conversation_id)
    if title is not None:
        row.title = _title(title)
    if model is not None:
        row.model = model or None
    if system_prompt is not None:
        row.system_prompt = _system_prompt(system_prompt)
    row.updated_at = utcnow()
    return row


def attach_papers(
    s: Session, who: Principal, conversation_id: int, paper_ids: list[int]
) -> ChatConversation:
    """Set the papers a conversation asks (an empty list detaches them all); each must be the
    caller's own (404 `paper_not_found` otherwise, as for one that does not exist)."""
    row = get(s, who, conversation_id)
    wanted = list(dict.fromkeys(paper_ids))
    if wanted:
        owned_papers(s, who.user_id, wanted)
    row.paper_ids = wanted
    row.updated_at = utcnow()
    return row


def attached_papers(s: Session, conversation: ChatConversation) -> list[int]:
    """The attached papers that still exist (a deleted paper drops out of its conversations)."""
    ids = list(conversation.paper_ids or [])
    if not ids:
        return []
    kept = {p.id for p in s.scalars(select(Paper).where(Paper.id.in_(ids)))}
    return [i for i in ids if i in kept]


def remove(s: Session, who: Principal, conversation_id: int) -> None:
    row = get(s, who, conversation_id)
    s.execute(delete(ChatMessage).where(ChatMessage.conversation_id == row.id))
    s.delete(row)


def share(s: Session, who: Principal, conversation_id: int) -> ChatConversation:
    """Give it a share token (kept if it has one): signed-in users with the link may read it."""
    row = get(s, who, conversation_id)
    if row.share_token is None:
        row.share_token = secrets.token_urlsafe(18)
    return row


def unshare(s: Session, who: Principal, conversation_id: int) -> ChatConversation:
    """Stop sharing: the old link answers 404 from now on (a new share gets a new link)."""
    row = get(s, who, conversation_id)
    row.share_token = None
    return row


# -- messages -------------------------------------------------------------------------------


def messages(
    s: Session, conversation: ChatConversation, *, before: int | None = None, limit: int = 50
) -> MessagePage:
    """The `limit` messages before position `before` (default: the latest), oldest first.

    One indexed range read, so a 500-message conversation opens as fast as a short one."""
    m = ChatMessage
    query = select(m).where(m.conversation_id == conversation.id)
    if before is not None:
        query = query.where(m.seq < before)
    rows = list(s.scalars(query.order_by(m.seq.desc()).limit(_limit(limit))))
    rows.reverse()
    return MessagePage(rows, bool(rows) and rows[0].seq > 1)


def all_messages(s: Session, conversation: ChatConversation) -> list[ChatMessage]:
    m = ChatMessage
    query = select(m).where(m.conversation_id == conversation.id).order_by(m.seq)
    return list(s.scalars(query))


def _content(content: str) -> str:
    if not content.strip():
        raise PlatformError("A message needs some text.", param="content")
    if len(content) > CONTENT_MAX:
        raise PlatformError(
            f"A message has at most {CONTENT_MAX} characters; this one has {len(content)}.",
            param="content",
        )
    return content


def _tokens(value: int | None, name: str) -> int | None:
    if value is not None and value < 0:
        raise PlatformError(f"{name} must be 0 or more, got {value}.", param=name)
    return value


def append(
    s: Session,
    who: Principal,
    conversation_id: int,
    *,
    role: str,
    content: str,
    model: str | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    finish: str | None = None,
    passages: list[dict[str, Any]] | None = None,
) -> ChatMessage:
    """Add a message at the end. An answer may be empty only when it was stopped or failed
    (the partial answer of a stopped stream is kept as it was). `passages` are those an
    answer from attached papers was given (kept to show its citations again)."""
    if role not in ROLES:
        raise PlatformError(
            f"role must be one of {', '.join(ROLES)}, got {role!r} (the system prompt is the "
            "conversation's own field: PATCH it).",
            param="role",
        )
    if finish is not None and finish not in FINISHES:
        raise PlatformError(
            f"finish must be one of {', '.join(FINISHES)}, got {finish!r}.", param="finish"
        )
    if not (role == "assistant" and finish in ("stopped", "error") and not content.strip()):
        content = _content(content)
    row = get(s, who, conversation_id)
    # One writer at a time per conversation: the UPDATE locks the row (PostgreSQL) or the
    # database (SQLite) until commit, so two appends cannot take the same seq.
    s.execute(
        update(ChatConversation)
        .where(ChatConversation.id == row.id)
        .values(message_count=ChatConversation.message_count + 1, updated_at=utcnow())
    )
    s.refresh(row)
    if not row.title and role == "user":
        row.title = _auto_title(content)
    if model:
        row.model = model
    message = ChatMessage(
        conversation_id=row.id,
        seq=row.message_count,
        role=role,
        content=content,
        model=model or None,
        prompt_tokens=_tokens(prompt_tokens, "prompt_tokens"),
        completion_tokens=_tokens(completion_tokens, "completion_tokens"),
        finish=finish,
        passages=_passages(role, passages),
        created_at=utcnow(),
    )
    s.add(message)
    s.flush()
    return message


PASSAGE_TEXT_MAX = 4000


def _passages(role: str, passages: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Only what a citation needs, checked: the link is rebuilt from paper_id and page."""
    if not passages:
        return None
    if role != "assistant":
        raise PlatformError("Only an answer cites passages.", param="passages")
    if len(passages) > MAX_K:
        raise PlatformError(
            f"An answer cites at most {MAX_K} passages, got {len(passages)}.", param="passages"
        )
    out = []
    for i, p in enumerate(passages):
        try:
            page = int(p["page"])
            kept = {
                "paper_id": int(p["paper_id"]),
                "file": str(p["file"])[:512],
                "page": page,
                "text": str(p["text"])[:PASSAGE_TEXT_MAX],
                "score": float(p.get("score", 0.0)),
            }
        except (KeyError, TypeError, ValueError):
            raise PlatformError(
                f"passages[{i}] needs paper_id, file, page and text (as /api/papers/search "
                "answers them).",
                param="passages",
            ) from None
        if page < 1:
            raise PlatformError(f"passages[{i}].page must be 1 or more.", param="passages")
        out.append(kept)
    return out


def _auto_title(content: str) -> str:
    words = " ".join(content.split())
    return words if len(words) <= AUTO_TITLE else words[: AUTO_TITLE - 1].rstrip() + "…"


def _message(s: Session, conversation: ChatConversation, seq: int) -> ChatMessage:
    row = s.scalar(
        select(ChatMessage).where(
            ChatMessage.conversation_id == conversation.id, ChatMessage.seq == seq
        )
    )
    if row is None:
        raise NotFound(
            f"Conversation {conversation.id} has no message {seq} (it has "
            f"{conversation.message_count}).",
            code="message_not_found",
        )
    return row


def truncate(s: Session, who: Principal, conversation_id: int, seq: int) -> ChatConversation:
    """Delete message `seq` and every later one (regenerate: drop the answer, ask again)."""
    row = get(s, who, conversation_id)
    _message(s, row, seq)
    _cut(s, row, seq)
    return row


def edit(s: Session, who: Principal, conversation_id: int, seq: int, content: str) -> ChatMessage:
    """Replace a user message's text and delete every message after it (edit and resend)."""
    row = get(s, who, conversation_id)
    message = _message(s, row, seq)
    if message.role != "user":
        raise PlatformError(
            f"Message {seq} is an answer; only your own messages can be edited "
            "(regenerate an answer instead).",
            code="not_a_user_message",
        )
    message.content = _content(content)
    message.created_at = utcnow()
    _cut(s, row, seq + 1)
    return message


def _cut(s: Session, row: ChatConversation, first: int) -> None:
    s.execute(
        delete(ChatMessage).where(ChatMessage.conversation_id == row.id, ChatMessage.seq >= first)
    )
    row.message_count = min(row.message_count, first - 1)
    row.updated_at = utcnow()


def count(s: Session, who: Principal) -> int:
    c = ChatConversation
    return s.scalar(select(func.count()).select_from(c).where(c.user_id == who.user_id)) or 0
