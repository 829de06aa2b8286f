"""`client.papers`: your PDFs, indexed for questions answered with citations.

    paper = client.papers.upload("atlas-higgs.pdf")             # into papers/ in your home
    client.papers.add("data/cms-top.pdf")                       # a PDF already in your home
    reply = client.papers.ask("What mass was measured?", [paper["id"]])
    print(reply["answer"])
    for p in reply["passages"]:                                 # (file, page, text, score)
        print(p["file"], p["page"], round(p["score"], 2), client.papers.link(p))
    client.papers.translate(reply["passages"][0]["text"], to="zh")["text"]

Embeddings and answers are your own /v1 calls (metered and rate limited as yours).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path

from hakutaku.sdk._resource import Record, Resource, query, segment


class Papers(Resource):
    """`/api/papers`. A paper record: `id`, `title`, `path` (in your home), `pages`, `chunks`,
    `bytes`, `created_at`, `pdf_url`."""

    def list(self) -> list[Record]:
        return self._client._objects("GET", "/api/papers")

    def get(self, paper_id: int) -> Record:
        return self._client._object("GET", f"/api/papers/{segment(paper_id)}")

    def upload(
        self, path: str | Path, *, filename: str | None = None, overwrite: bool = False
    ) -> Record:
        """Upload a local PDF into papers/ in your home (your quota applies) and index it."""
        source = Path(path)
        params = query(filename=filename or source.name, overwrite=overwrite or None)
        return self._client._object(
            "POST",
            "/api/papers",
            params=params,
            content=source.read_bytes(),
            headers={"content-type": "application/pdf"},
        )

    def add(self, path: str) -> Record:
        """Index a PDF already in your home (e.g. `papers/x.pdf`); it is not copied."""
        return self._client._object("POST", "/api/papers/from-file", json={"path": path})

    def delete(self, paper_id: int) -> Record:
        """Forget the paper (its index); the PDF stays in your files."""
        return self._client._object("DELETE", f"/api/papers/{segment(paper_id)}")

    def pdf(self, paper_id: int) -> bytes:
        return self._client._request("GET", f"/api/papers/{segment(paper_id)}/pdf").content

    def ask(
        self,
        question: str,
        paper_ids: Sequence[int],
        *,
        k: int = 3,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> Record:
        """`answer` (None when the model could not answer: see `error`), `model`, `usage` and
        `passages` (best first, cited as [1], [2], ...): `paper_id`, `file`, `page`, `text`,
        `score`, `link`."""
        body: dict[str, object] = {"question": question, "paper_ids": list(paper_ids), "k": k}
        if model is not None:
            body["model"] = model
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return self._client._object("POST", "/api/papers/ask", json=body)

    def search(
        self, question: str, paper_ids: Sequence[int], *, k: int = 3
    ) -> builtins.list[Record]:
        """The k passages closest to the question, best first, without asking a model."""
        body = {"question": question, "paper_ids": list(paper_ids), "k": k}
        return self._client._objects("POST", "/api/papers/search", json=body)

    def translate(self, text: str, *, to: str, model: str | None = None) -> Record:
        """`text` in English (`to="en"`) or Chinese (`to="zh"`): {`text`, `to`, `model`}."""
        body: dict[str, object] = {"text": text, "to": to}
        if model is not None:
            body["model"] = model
        return self._client._object("POST", "/api/papers/translate", json=body)

    def link(self, passage: Record) -> str:
        """The full URL that opens a passage's PDF at its page."""
        return f"{self._client.base_url}{passage['link']}"
