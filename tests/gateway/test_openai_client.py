"""The official `openai` package against the gateway, unchanged.

Chat goes to a worker-hosted model (`lab`) and to an upstream provider; the upstream here is
a TEST DOUBLE of a paid provider (tests/support/upstream_double.py), the one boundary these
machines cannot reach. Embeddings come from the real all-MiniLM-L6-v2 worker.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest

from tests.conftest import TEST_MODELS
from tests.support.processes import Platform
from tests.support.tiny_lm import save_tiny_model
from tests.support.upstream import upstream_double

UPSTREAM_KEY = "sk-double-0123456789"
EMBEDDING = "hakutaku.workers.backends.embedding:SentenceEmbedding"
LOCAL_LM = "hakutaku.workers.backends.transformers_chat:TransformersChat"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with upstream_double(UPSTREAM_KEY) as url:
        yield url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("openai") / "home").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab")
        p.start_worker(EMBEDDING, wait=180)
        lm_dir = tmp_path_factory.mktemp("lm") / "tiny-gpt2"
        save_tiny_model(lm_dir)
        p.start_worker(LOCAL_LM, env={"HAI_CHAT_MODEL_DIR": str(lm_dir)}, wait=180)
        with p.http() as h:
            r = h.post(
                "/api/models/upstream",
                json={
                    "name": "provider-chat",
                    "base_url": f"{upstream}/v1",
                    "api_key": UPSTREAM_KEY,
                    "upstream_model": "gpt-double-1",
                },
            )
            assert r.status_code == 201, r.text
            r = h.post(
                "/api/models/upstream",
                json={
                    "name": "wrong-key-chat",
                    "base_url": f"{upstream}/v1",
                    "api_key": "sk-wrong",
                },
            )
            assert r.status_code == 201, r.text
        yield p
    finally:
        p.stop()


@pytest.fixture
def oai(served: Platform) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.admin_key, max_retries=0)


def test_models_list(oai: openai.OpenAI) -> None:
    ids = {m.id for m in oai.models.list()}
    assert {"lab", "all-minilm-l6-v2", "provider-chat", "tiny-gpt2"} <= ids
    assert oai.models.retrieve("lab").id == "lab"


def test_chat_on_a_worker_model(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(
        model="lab", messages=[{"role": "user", "content": "quark gluon"}]
    )
    assert reply.choices[0].message.content == "noulg krauq"
    assert reply.usage is not None and reply.usage.completion_tokens == 2


def test_chat_stream_on_a_worker_model(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="lab", messages=[{"role": "user", "content": "top quark"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "krauq pot"
    assert all(c.usage is None for c in chunks)  # usage not asked for: not shown


def test_chat_on_a_local_transformers_model(oai: openai.OpenAI) -> None:
    """A Hugging Face causal LM from a directory (random weights: the text is gibberish)."""
    ask = {"model": "tiny-gpt2", "messages": [{"role": "user", "content": "what is a jet?"}]}
    whole = oai.chat.completions.create(**ask, max_tokens=8, temperature=0)
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage is not None and whole.usage.completion_tokens == 8
    stream = oai.chat.completions.create(
        **ask, max_tokens=8, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


def test_chat_via_upstream_provider(oai: openai.OpenAI, upstream: str) -> None:
    reply = oai.chat.completions.create(
        model="provider-chat", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "upstream says: hello there"
    assert reply.usage is not None and reply.usage.prompt_tokens == 7
    sent = httpx.get(f"{upstream}/_last").json()["chat"]
    assert sent["model"] == "gpt-double-1"  # the platform's name differs from the upstream's


def test_chat_stream_via_upstream_with_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="provider-chat",
        messages=[{"role": "user", "content": "b tagging"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "upstream says: b tagging"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_embeddings_are_real(oai: openai.OpenAI) -> None:
    result = oai.embeddings.create(
        model="all-minilm-l6-v2",
        input=[
            "The top quark decays to a W boson and a b quark.",
            "A top quark decays into a b quark and a W boson.",
            "The recipe needs two cups of flour.",
        ],
    )
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > 0.8 > 0.3 > unrelated
    assert result.usage.prompt_tokens > 10
    # The default client asks for base64; floats must decode to the same vector.
    floats = oai.embeddings.create(model="all-minilm-l6-v2", input="jet", encoding_format="float")
    b64 = oai.embeddings.create(model="all-minilm-l6-v2", input="jet")
    np.testing.assert_allclose(floats.data[0].embedding, b64.data[0].embedding, atol=1e-6)


def test_error_classes(served: Platform, oai: openai.OpenAI) -> None:
    bad = openai.OpenAI(base_url=f"{served.url}/v1", api_key="hai-nope.nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="ghost", messages=[{"role": "user", "content": "x"}])
    assert "ghost" in str(missing.value)
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="lab", messages=[])
    with pytest.raises(openai.BadRequestError):
        oai.embeddings.create(model="all-minilm-l6-v2", input="", encoding_format="float")
    with pytest.raises(openai.InternalServerError) as upstream_auth:
        oai.chat.completions.create(
            model="wrong-key-chat", messages=[{"role": "user", "content": "x"}]
        )
    assert upstream_auth.value.status_code == 502
    assert "credentials" in str(upstream_auth.value)


def test_forbidden_model_for_a_plain_user(served: Platform) -> None:
    key = served.add_user_key("carol", groups=("cms",))
    with served.http() as h:
        r = h.patch("/api/models/lab", json={"public": False, "groups": ["atlas"]})
        assert r.status_code == 200, r.text
    user = openai.OpenAI(base_url=f"{served.url}/v1", api_key=key, max_retries=0)
    try:
        assert "lab" not in {m.id for m in user.models.list()}
        with pytest.raises(openai.PermissionDeniedError) as denied:
            user.chat.completions.create(model="lab", messages=[{"role": "user", "content": "x"}])
        assert "lab" in str(denied.value)
        with served.http() as h:
            h.patch("/api/models/lab", json={"groups": ["atlas", "cms"]})
        assert "lab" in {m.id for m in user.models.list()}
    finally:
        with served.http() as h:
            h.patch("/api/models/lab", json={"public": True, "groups": []})


def test_metrics_and_no_secrets_in_logs(served: Platform, oai: openai.OpenAI) -> None:
    for model in ("lab", "provider-chat"):
        oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "a b"}])
    with served.http() as h:
        text = h.get("/metrics").text
    assert 'hai_requests_total{endpoint="chat",model="lab",status="200"}' in text
    assert 'hai_request_duration_seconds_bucket{endpoint="chat",le="0.005",model="lab"}' in text
    assert 'hai_tokens_total{direction="completion",model="provider-chat"}' in text
    logs = "".join(p.read_text(errors="replace") for p in served.home.glob("*.log"))
    assert served.worker_token not in logs
    assert UPSTREAM_KEY not in logs
    # The bootstrap key is printed once, at first start, and never again.
    assert logs.count(served.admin_key) <= 1
