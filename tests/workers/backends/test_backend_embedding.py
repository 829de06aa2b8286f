"""SentenceEmbedding (all-MiniLM-L6-v2, bundled offline) called in-process, no server."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from hakutaku.workers.backends.embedding import SentenceEmbedding
from hakutaku.workers.remote import remote_methods

TOP = "the top quark decays to a W boson and a b quark"
TOP_SHORT = "t → W b: the top quark almost always decays into a W and a bottom quark"
UNRELATED = "my grandmother bakes apple pie every Sunday afternoon"


@pytest.fixture(scope="module")
def model() -> SentenceEmbedding:
    # Loading takes seconds: once per module.
    m = SentenceEmbedding()
    m.setup()
    return m


def vectors(response: dict) -> np.ndarray:
    return np.array([d["embedding"] for d in response["data"]], dtype=np.float32)


def test_single_string_openai_shape(model: SentenceEmbedding) -> None:
    resp = model.embeddings({"model": "all-minilm-l6-v2", "input": "hello world"})
    assert set(resp) == {"object", "data", "model", "usage"}
    assert resp["object"] == "list"
    assert resp["model"] == "all-minilm-l6-v2"
    [item] = resp["data"]
    assert item["object"] == "embedding"
    assert item["index"] == 0
    assert len(item["embedding"]) == 384
    assert all(isinstance(x, float) for x in item["embedding"])
    assert np.linalg.norm(item["embedding"]) == pytest.approx(1.0, abs=1e-5)
    # [CLS] hello world [SEP]
    assert resp["usage"] == {"prompt_tokens": 4, "total_tokens": 4}


def test_batch_indices_usage_and_normalisation(model: SentenceEmbedding) -> None:
    texts = ["hello world", TOP, "jets"]
    resp = model.embeddings({"model": "minilm-alias", "input": texts, "user": "someone"})
    assert resp["model"] == "minilm-alias"  # echoes the name the caller used
    assert [d["index"] for d in resp["data"]] == [0, 1, 2]
    np.testing.assert_allclose(np.linalg.norm(vectors(resp), axis=1), 1.0, atol=1e-5)
    # Word pieces with [CLS]/[SEP]: 4 + 18 + 3.
    assert resp["usage"] == {"prompt_tokens": 25, "total_tokens": 25}


def test_batch_equals_one_by_one(model: SentenceEmbedding) -> None:
    texts = [TOP, "a", UNRELATED * 3]
    together = vectors(model.embeddings({"input": texts}))
    alone = np.concatenate([vectors(model.embeddings({"input": t})) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_model_defaults_to_own_name(model: SentenceEmbedding) -> None:
    assert model.embeddings({"input": "x"})["model"] == "all-minilm-l6-v2"


def test_base64_decodes_to_the_float_vectors(model: SentenceEmbedding) -> None:
    texts = [TOP, UNRELATED]
    floats = vectors(model.embeddings({"input": texts, "encoding_format": "float"}))
    b64 = model.embeddings({"input": texts, "encoding_format": "base64"})
    decoded = np.stack(
        [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in b64["data"]]
    )
    assert decoded.shape == (2, 384)
    np.testing.assert_array_equal(decoded, floats)
    assert b64["usage"] == model.embeddings({"input": texts})["usage"]


def test_encode_returns_float32_array(model: SentenceEmbedding) -> None:
    arr = model.encode([TOP, UNRELATED])
    assert isinstance(arr, np.ndarray)
    assert arr.dtype == np.float32
    assert arr.shape == (2, 384)
    np.testing.assert_array_equal(arr, vectors(model.embeddings({"input": [TOP, UNRELATED]})))
    with pytest.raises(ValueError, match=r"texts\[1\] is an empty string"):
        model.encode(["ok", ""])


def test_semantic_similarity(model: SentenceEmbedding) -> None:
    a, b, c = model.encode([TOP, TOP_SHORT, UNRELATED])
    assert float(a @ b) > float(a @ c) + 0.3
    assert float(a @ b) > 0.6


def test_dimensions_equal_to_model_size_is_accepted(model: SentenceEmbedding) -> None:
    assert model.dimension == 384
    assert len(model.embeddings({"input": "x", "dimensions": 384})["data"][0]["embedding"]) == 384


def test_long_text_is_truncated_to_the_model_window(model: SentenceEmbedding) -> None:
    resp = model.embeddings({"input": "quark " * 1000})
    assert resp["usage"]["prompt_tokens"] == 256


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({}, "input is required"),
        ({"input": ""}, r"input\[0\] is an empty string"),
        ({"input": []}, "empty list"),
        ({"input": ["fine", ""]}, r"input\[1\] is an empty string"),
        ({"input": [15339, 1917]}, "token ids.*send the text itself"),
        ({"input": [[15339, 1917]]}, "token ids.*send the text itself"),
        ({"input": 42}, "must be a string or a list of strings"),
        ({"input": ["a", {"text": "b"}]}, r"input\[1\] must be a string"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format must be 'float' or 'base64'"),
        ({"input": "x", "dimensions": 256}, "dimensions=256 is not supported.*384"),
        ({"input": "x", "dimensions": True}, "dimensions=True is not supported"),
    ],
)
def test_bad_requests_raise_clear_value_errors(
    model: SentenceEmbedding, request_body: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        model.embeddings(request_body)


def test_too_many_inputs(model: SentenceEmbedding) -> None:
    with pytest.raises(ValueError, match="at most 2048 per request"):
        model.embeddings({"input": ["x"] * 2049})


def test_name_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SentenceEmbedding().name == "all-minilm-l6-v2"
    monkeypatch.setenv("HAI_EMBEDDING_NAME", "minilm")
    assert SentenceEmbedding().name == "minilm"
    monkeypatch.delenv("HAI_EMBEDDING_NAME")

    class Custom(SentenceEmbedding):
        name = "custom-embedder"

    assert Custom().name == "custom-embedder"


def test_remote_methods_and_setup_guard() -> None:
    fresh = SentenceEmbedding()
    methods = remote_methods(fresh)
    assert set(methods) == {"embeddings", "encode"}
    assert methods["embeddings"].params == ["request"]
    with pytest.raises(RuntimeError, match="setup"):
        fresh.embeddings({"input": "x"})
