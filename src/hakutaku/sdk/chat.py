"""`client.chat`: your chat conversations on the server, and asking a model inside one.

conv = client.chat.create(title="Jets", system_prompt="Answer briefly.")
answer = client.chat.send(conv["id"], "What is anti-kt?", model="smollm2-135m-instruct")
client.chat.regenerate(conv["id"])                  # a new answer to the last question
client.chat.edit(conv["id"], 1, "What is the kt algorithm?")   # later messages are deleted
client.chat.list(q="anti-kt")                       # search titles and messages
text = client.chat.export(conv["id"])               # Markdown (format="json": a dict)
link = client.chat.share(conv["id"])["share_url"]   # read-only, for signed-in users

with client.chat.stream(conv["id"], "And the kt algorithm?") as answer:   # streamed
    for text in answer:
        print(text, end="")

With papers attached, each answer is given the attached papers' best passages for the last
question and keeps them (`answer["passages"]`: file, page, text, score, link):

    client.chat.attach_papers(conv["id"], [paper["id"]])
    answer = client.chat.send(conv["id"], "What mass was measured?", max_tokens=64)
    answer["passages"][0]["link"]                   # /api/papers/7/pdf#page=2

`send`, `stream` and `regenerate` call `POST /v1/chat/completions` with this client's key, so
the call is metered, rate-limited and billed like any other /v1 call; the conversation store
itself (`/api/chat`) never calls a model.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

import httpx

from hakutaku.sdk._resource import Record, Resource, iter_frames, query, segment

CONTEXT_MESSAGES = 50  # the latest messages sent to the model with the system prompt


class Chat(Resource):
    """`/api/chat`. A conversation: `id`, `title`, `model`, `system_prompt`, `message_count`,
    `shared`, `share_token`, `share_path`, `created_at`, `updated_at`. A message: `seq`,
    `role`, `content`, `model`, `prompt_tokens`, `completion_tokens`, `finish`, `created_at`."""

    def _path(self, conversation_id: int, *rest: str | int) -> str:
        return "/".join(["/api/chat/conversations", segment(conversation_id), *map(segment, rest)])

    # -- conversations ----------------------------------------------------------------------

    def list(
        self, q: str | None = None, *, limit: int = 50, before: str | None = None
    ) -> builtins.list[Record]:
        """One page of your conversations, newest first; `q` searches titles and messages."""
        page = self._client._object(
            "GET", "/api/chat/conversations", params=query(q=q, limit=limit, before=before)
        )
        data: builtins.list[Record] = page["data"]
        return data

    def iter(self, q: str | None = None, *, page_size: int = 100) -> Iterator[Record]:
        """Every conversation (matching `q`), newest first, a page at a time."""
        before: str | None = None
        while True:
            page = self._client._object(
                "GET",
                "/api/chat/conversations",
                params=query(q=q, limit=page_size, before=before),
            )
            yield from page["data"]
            before = page["next"]
            if before is None:
                return

    def create(
        self, title: str = "", *, model: str | None = None, system_prompt: str = ""
    ) -> Record:
        body = {"title": title, "model": model, "system_prompt": system_prompt}
        return self._client._object("POST", "/api/chat/conversations", json=body)

    def get(self, conversation_id: int) -> Record:
        return self._client._object("GET", self._path(conversation_id))

    def update(
        self,
        conversation_id: int,
        *,
        title: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
    ) -> Record:
        """Change the title, the model it uses, or its system prompt (None: leave as is)."""
        body = {"title": title, "model": model, "system_prompt": system_prompt}
        body = {k: v for k, v in body.items() if v is not None}
        return self._client._object("PATCH", self._path(conversation_id), json=body)

    def rename(self, conversation_id: int, title: str) -> Record:
        return self.update(conversation_id, title=title)

    def delete(self, conversation_id: int) -> None:
        self._client._json("DELETE", self._path(conversation_id))

    def export(self, conversation_id: int, format: str = "markdown") -> Any:
        """The whole conversation: Markdown text, or (format="json") a dict with `messages`."""
        response = self._client._request(
            "GET", self._path(conversation_id, "export"), params={"format": format}
        )
        return response.json() if format == "json" else response.text

    def share(self, conversation_id: int) -> Record:
        """Share it read-only; the answer's `share_url` opens it for any signed-in user."""
        return self._client._object("PUT", self._path(conversation_id, "share"))

    def unshare(self, conversation_id: int) -> Record:
        return self._client._object("DELETE", self._path(conversation_id, "share"))

    def attach_papers(self, conversation_id: int, paper_ids: builtins.list[int]) -> Record:
        """Attach your papers (replacing those attached; [] detaches them all): each later
        answer is given their best passages for the question and cites them."""
        return self._client._object(
            "PUT", self._path(conversation_id, "papers"), json={"paper_ids": paper_ids}
        )

    def retrieve(self, conversation_id: int, question: str, *, k: int = 3) -> Record:
        """`{"passages": [...], "context": system message}`: the attached papers' `k` best
        passages for `question` (an embedding call as you; no chat call)."""
        return self._client._object(
            "POST", self._path(conversation_id, "retrieve"), json={"question": question, "k": k}
        )

    def shared(self, token: str) -> Record:
        """A conversation someone shared with you (its `share_token`)."""
        return self._client._object("GET", f"/api/chat/shared/{segment(token)}")

    def shared_messages(self, token: str, *, before: int | None = None, limit: int = 50) -> Record:
        return self._client._object(
            "GET",
            f"/api/chat/shared/{segment(token)}/messages",
            params=query(before=before, limit=limit),
        )

    # -- messages -----------------------------------------------------------------------------

    def messages(
        self, conversation_id: int, *, before: int | None = None, limit: int = 50
    ) -> Record:
        """`{"data": [messages oldest first], "has_earlier": bool}`: the latest `limit`, or
        those before message `before`."""
        return self._client._object(
            "GET",
            self._path(conversation_id, "messages"),
            params=query(before=before, limit=limit),
        )

    def add(self, conversation_id: int, role: str, content: str, **fields: Any) -> Record:
        """Append a message as it is (role "user" or "assistant"; an answer may carry
        `model`, `prompt_tokens`, `completion_tokens`, `finish`). No model is called."""
        body = {"role": role, "content": content, **fields}
        return self._client._object("POST", self._path(conversation_id, "messages"), json=body)

    def edit(self, conversation_id: int, seq: int, content: str) -> Record:
        """Change your message `seq`; every later message is deleted (then `send` again)."""
        return self._client._object(
            "PATCH", self._path(conversation_id, "messages", seq), json={"content": content}
        )

    def truncate(self, conversation_id: int, seq: int) -> None:
        """Delete message `seq` and every later one."""
        self._client._json("DELETE", self._path(conversation_id, "messages", seq))

    # -- asking the model -----------------------------------------------------------------------

    def send(
        self,
        conversation_id: int,
        content: str,
        *,
        model: str | None = None,
        **options: Any,
    ) -> Record:
        """Add your message, ask the model through /v1 (metered as you), keep the answer and
        return it. `model` defaults to the conversation's; `options` (max_tokens,
        temperature, ...) go into the chat.completions request."""
        self.add(conversation_id, "user", content)
        return self.answer(conversation_id, model=model, **options)

    def regenerate(
        self, conversation_id: int, *, model: str | None = None, **options: Any
    ) -> Record:
        """Replace the last answer with a new one (the question stays)."""
        latest = self.messages(conversation_id, limit=1)["data"]
        if latest and latest[-1]["role"] == "assistant":
            self.truncate(conversation_id, latest[-1]["seq"])
        return self.answer(conversation_id, model=model, **options)

    def answer(self, conversation_id: int, *, model: str | None = None, **options: Any) -> Record:
        """Ask the model to answer the conversation as it stands and keep the answer."""
        chosen, prompt, passages = self._prompt(conversation_id, model)
        body = {**options, "model": chosen, "messages": prompt, "stream": False}
        reply = self._client._object("POST", "/v1/chat/completions", json=body)
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        return self.add(
            conversation_id,
            "assistant",
            choice["message"].get("content") or "",
            model=chosen,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            finish=choice.get("finish_reason") or "stop",
            passages=passages,
        )

    def stream(
        self,
        conversation_id: int,
        content: str | None = None,
        *,
        model: str | None = None,
        **options: Any,
    ) -> AnswerStream:
        """`send` (or, without `content`, `answer`) streamed: iterate it for the answer's
        text as the model writes it. The answer is kept when the stream ends, or with what
        came so far (finish "stopped") when you `close()` it early, as the page's Stop does.

            with client.chat.stream(cid, "What is a jet?", max_tokens=64) as answer:
                for text in answer:
                    print(text, end="", flush=True)
            answer.message            # the kept answer: seq, content, token counts, finish
        """
        if content is not None:
            self.add(conversation_id, "user", content)
        chosen, prompt, passages = self._prompt(conversation_id, model)
        body = {
            **options,
            "model": chosen,
            "messages": prompt,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response = self._client._open(
            "POST", "/v1/chat/completions", json=body, headers={"accept": "text/event-stream"}
        )
        return AnswerStream(self, conversation_id, chosen, response, passages)

    def _prompt(
        self, conversation_id: int, model: str | None
    ) -> tuple[str, builtins.list[dict[str, str]], builtins.list[Record] | None]:
        """The model to ask, the messages to send (the system prompt and the latest ones) and,
        with papers attached, the passages retrieved for the last question (in the system
        message, numbered as the answer cites them)."""
        conversation = self.get(conversation_id)
        chosen = model or conversation["model"]
        if not chosen:
            raise ValueError(
                f"conversation {conversation_id} has no model yet: pass model=... "
                "(client.models.list() shows the models you may use)"
            )
        history = self.messages(conversation_id, limit=CONTEXT_MESSAGES)["data"]
        prompt = [{"role": m["role"], "content": m["content"]} for m in history]
        system = conversation["system_prompt"]
        passages = None
        questions = [m["content"] for m in history if m["role"] == "user"]
        if conversation.get("paper_ids") and questions:
            found = self.retrieve(conversation_id, questions[-1])
            passages = found["passages"]
            system = f"{system}\n\n{found['context']}" if system else found["context"]
        if system:
            prompt.insert(0, {"role": "system", "content": system})
        return chosen, prompt, passages


class AnswerStream:
    """The text of an answer as it streams (`Chat.stream`); `message` is the kept answer once
    the stream has ended or was closed."""

    def __init__(
        self,
        chat: Chat,
        conversation_id: int,
        model: str,
        response: httpx.Response,
        passages: builtins.list[Record] | None = None,
    ):
        self._chat = chat
        self._passages = passages
        self._conversation_id = conversation_id
        self._model = model
        self._response = response
        self._frames = iter_frames(response)
        self._parts: builtins.list[str] = []
        self._usage: dict[str, Any] = {}
        self._finish: str | None = None
        self.message: Record | None = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.message is not None:
            raise StopIteration
        try:
            for chunk in self._frames:
                if chunk.get("usage"):
                    self._usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    if choice.get("finish_reason"):
                        self._finish = choice["finish_reason"]
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        self._parts.append(piece)
                        return str(piece)
        except Exception:
            self._keep("error")
            raise
        self._keep(self._finish or "stop")
        raise StopIteration

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def close(self) -> None:
        """Stop the answer here (the model stops at its next token) and keep what came."""
        if self.message is None:
            self._response.close()
            self._keep("stopped")

    def __enter__(self) -> AnswerStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _keep(self, finish: str) -> None:
        self._response.close()
        if self.message is not None or (finish == "error" and not self._parts):
            return
        stopped = finish == "stopped"
        self.message = self._chat.add(
            self._conversation_id,
            "assistant",
            self.text,
            model=self._model,
            prompt_tokens=None if stopped else self._usage.get("prompt_tokens"),
            completion_tokens=None if stopped else self._usage.get("completion_tokens"),
            finish=finish,
            passages=self._passages,
        )
