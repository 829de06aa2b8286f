"""TransformersChat with a tiny random GPT-2 and a tokenizer trained here (nothing downloaded).

The weights are random, so the text is gibberish; what is tested is the OpenAI contract: shapes,
token accounting, streaming ≡ non-streaming, limits, stop sequences and finish reasons.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

import torch
import transformers
from tests.support.tiny_lm import save_tiny_model

from hakutaku.workers.backends.transformers_chat import (
    TransformersChat,
    fallback_prompt,
)
from hakutaku.workers.remote import remote_methods

MESSAGES = [
    {"role": "system", "content": "you are a physics assistant"},
    {"role": "user", "content": "what is a jet?"},
]
TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models") / "tiny-gpt2"
    save_tiny_model(directory)
    return directory


def _load(directory: Path) -> TransformersChat:
    cls = type("TinyChat", (TransformersChat,), {"model_dir": str(directory), "device": "cpu"})
    chat = cls()
    chat.setup()
    return chat


@pytest.fixture(scope="module")
def chat(model_dir: Path) -> TransformersChat:
    return _load(model_dir)


@pytest.fixture(scope="module")
def tokenizer(model_dir: Path) -> Any:
    return transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)


def ask(chat: TransformersChat, **fields: Any) -> Any:
    return chat.chat_completions({"model": "tiny", "messages": MESSAGES, **fields})


def collect(chunks: Any) -> tuple[list[dict], str]:
    items = list(chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in items if c["choices"])
    return items, text


def test_non_stream_response_shape_and_usage(chat: TransformersChat, tokenizer: Any) -> None:
    resp = ask(chat, max_tokens=8, temperature=0)
    assert resp["object"] == "chat.completion"
    assert resp["id"].startswith("chatcmpl-")
    assert isinstance(resp["created"], int)
    assert resp["model"] == "tiny"
    [choice] = resp["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] == "length"
    prompt_tokens = len(tokenizer(fallback_prompt(MESSAGES))["input_ids"])
    assert resp["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 8,
        "total_tokens": prompt_tokens + 8,
    }


def test_fallback_prompt_format() -> None:
    assert fallback_prompt([*MESSAGES, {"role": "developer", "content": "be brief"}]) == (
        "System: you are a physics assistant\nUser: what is a jet?\nSystem: be brief\nAssistant:"
    )


def test_stream_concatenates_to_the_non_stream_text(chat: TransformersChat) -> None:
    full = ask(chat, max_tokens=12, temperature=0)
    chunks, text = collect(
        ask(chat, max_tokens=12, temperature=0, stream=True, stream_options={"include_usage": True})
    )
    assert text == full["choices"][0]["message"]["content"]
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "tiny" for c in chunks)
    first, *middle, final, usage = chunks
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["choices"][0]["finish_reason"] is None for c in [first, *middle])
    assert len(middle) >= 2  # token-by-token deltas, not one blob
    assert final["choices"][0]["delta"] == {} and final["choices"][0]["finish_reason"] == "length"
    assert all(c["usage"] is None for c in chunks[:-1])
    assert usage["choices"] == []
    assert usage["usage"] == full["usage"]


def test_stream_without_usage_has_no_usage_chunk(chat: TransformersChat) -> None:
    chunks, _ = collect(ask(chat, max_tokens=4, temperature=0, stream=True))
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_max_tokens_and_max_completion_tokens(chat: TransformersChat) -> None:
    assert ask(chat, max_tokens=3, temperature=0)["usage"]["completion_tokens"] == 3
    resp = ask(chat, max_completion_tokens=5, max_tokens=50, temperature=0)
    assert resp["usage"]["completion_tokens"] == 5
    # Without a limit: default_max_tokens, capped by what is left of the 128-token context.
    resp = ask(chat, temperature=0)
    assert resp["usage"]["total_tokens"] == 128
    assert resp["choices"][0]["finish_reason"] == "length"


def test_stop_sequence_cuts_the_text(chat: TransformersChat) -> None:
    text = ask(chat, max_tokens=20, temperature=0)["choices"][0]["message"]["content"]
    stop = text[4:7]
    expected = text[: text.find(stop)]
    resp = ask(chat, max_tokens=20, temperature=0, stop=[stop, "never-appears"])
    assert resp["choices"][0]["message"]["content"] == expected
    assert resp["choices"][0]["finish_reason"] == "stop"
    assert resp["usage"]["completion_tokens"] < 20
    chunks, streamed = collect(ask(chat, max_tokens=20, temperature=0, stop=stop, stream=True))
    assert streamed == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_end_of_sequence_token_stops(model_dir: Path, tmp_path: Path) -> None:
    # Make the first greedy token the model's EOS: the answer is empty with finish "stop".
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    tok = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    ids = torch.tensor([tok(fallback_prompt(MESSAGES))["input_ids"]])
    with torch.no_grad():
        first = int(base(input_ids=ids).logits[0, -1].argmax())
    directory = tmp_path / "eos-model"
    shutil.copytree(model_dir, directory)
    gen_config = json.loads((directory / "generation_config.json").read_text())
    gen_config["eos_token_id"] = [gen_config["eos_token_id"], first]
    (directory / "generation_config.json").write_text(json.dumps(gen_config))
    resp = ask(_load(directory), temperature=0)
    assert resp["choices"][0]["message"]["content"] == ""
    assert resp["choices"][0]["finish_reason"] == "stop"
    assert resp["usage"]["completion_tokens"] == 1


def test_chat_template_is_used_when_present(model_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "templated"
    shutil.copytree(model_dir, directory)
    tok = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
    tok.chat_template = TEMPLATE
    tok.save_pretrained(directory)
    resp = ask(_load(directory), max_tokens=2, temperature=0)
    rendered = "<system>you are a physics assistant\n<user>what is a jet?\n<assistant>"
    expected = len(tok(rendered, add_special_tokens=False)["input_ids"])
    assert resp["usage"]["prompt_tokens"] == expected


def test_sampling_is_reproducible_with_a_seed(chat: TransformersChat) -> None:
    a = ask(chat, max_tokens=10, temperature=1.2, top_p=0.9, seed=7)
    b = ask(chat, max_tokens=10, temperature=1.2, top_p=0.9, seed=7)
    assert a["choices"][0]["message"] == b["choices"][0]["message"]
    _, streamed = collect(ask(chat, max_tokens=10, temperature=1.2, top_p=0.9, seed=7, stream=True))
    assert streamed == a["choices"][0]["message"]["content"]
    penalised = ask(chat, max_tokens=10, temperature=0, frequency_penalty=2.0, presence_penalty=1)
    assert penalised["usage"]["completion_tokens"] == 10


def test_concurrent_requests_match_sequential(chat: TransformersChat) -> None:
    expected = ask(chat, max_tokens=10, temperature=0)["choices"][0]["message"]["content"]
    results: list[str] = []

    def run() -> None:
        _, text = collect(ask(chat, max_tokens=10, temperature=0, stream=True))
        results.append(text)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_seeded_sampling_is_reproducible_under_concurrency(chat: TransformersChat) -> None:
    """Each request samples with its own generator: concurrent requests do not disturb a seed."""
    fields = {"max_tokens": 10, "temperature": 1.3, "top_p": 0.95, "seed": 11}
    expected = ask(chat, **fields)["choices"][0]["message"]["content"]
    results: list[str] = []

    def run(seed: int | None) -> None:
        text = ask(chat, **{**fields, "seed": seed})["choices"][0]["message"]["content"]
        if seed == 11:
            results.append(text)

    threads = [threading.Thread(target=run, args=(s,)) for s in (11, None, 11, 3, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3


def _generating() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith("-generate") and t.is_alive()]


@pytest.fixture
def slow_chat(model_dir: Path) -> Iterator[tuple[TransformersChat, list[int]]]:
    """A model that takes 20 ms a token, and the count of its forward passes."""
    chat = _load(model_dir)
    calls: list[int] = []

    def hook(*_args: Any) -> None:
        calls.append(1)
        time.sleep(0.02)

    handle = chat._model.register_forward_hook(hook)
    yield chat, calls
    handle.remove()


def test_a_stream_closed_early_stops_generation_and_leaves_no_thread(
    slow_chat: tuple[TransformersChat, list[int]],
) -> None:
    chat, calls = slow_chat
    stream = ask(chat, max_tokens=100, temperature=0, stream=True)
    first = next(stream)
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = next(stream)  # generation is running now
    assert text["choices"][0]["delta"]["content"]
    stream.close()  # the client left
    assert _generating() == []  # joined by close()
    assert len(calls) < 50  # stopped soon after, not run to 100 tokens (2 s at 20 ms each)
    done = len(calls)
    time.sleep(0.1)
    assert len(calls) == done
    # The model still answers afterwards.
    assert ask(chat, max_tokens=2, temperature=0)["usage"]["completion_tokens"] == 2


def test_a_failure_inside_generate_reaches_the_caller(
    chat: TransformersChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(chat._model, "generate", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        ask(chat, max_tokens=4)
    with pytest.raises(RuntimeError, match="out of memory"):
        collect(ask(chat, max_tokens=4, stream=True))
    assert _generating() == []


def test_a_stop_string_is_looked_for_in_the_completion_only(chat: TransformersChat) -> None:
    """The prompt's tail and the completion's start together do not make a stop string."""
    text = ask(chat, max_tokens=12, temperature=0)["choices"][0]["message"]["content"]
    stop = fallback_prompt(MESSAGES)[-2:] + text[0]  # "t:" + the first character
    assert stop not in text
    resp = ask(chat, max_tokens=12, temperature=0, stop=stop)
    assert resp["choices"][0]["message"]["content"] == text
    assert resp["choices"][0]["finish_reason"] == "length"
    assert resp["usage"]["completion_tokens"] == 12


def test_the_models_own_sampling_defaults_are_not_used(model_dir: Path, tmp_path: Path) -> None:
    """Requests say how to sample (OpenAI's defaults), whatever generation_config.json holds."""
    directory = tmp_path / "opinionated"
    shutil.copytree(model_dir, directory)
    path = directory / "generation_config.json"
    config = json.loads(path.read_text())
    config.update(do_sample=True, temperature=0.1, top_k=1, repetition_penalty=5.0)
    config.update(no_repeat_ngram_size=1, min_new_tokens=10)
    path.write_text(json.dumps(config))
    plain = _load(model_dir)
    opinionated = _load(directory)
    for fields in ({"temperature": 0}, {"temperature": 1.1, "seed": 5}):
        a = ask(plain, max_tokens=10, **fields)
        b = ask(opinionated, max_tokens=10, **fields)
        assert a["choices"] == b["choices"] and a["usage"] == b["usage"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"messages": []}, "messages must be a non-empty list"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, r"messages\[0\]\.role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "reads text only",
        ),
        ({"n": 2}, "n=2 is not supported"),
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
        ({"stop": ""}, "non-empty string"),
        ({"temperature": 3}, "temperature must be a number between 0 and 2"),
        ({"top_p": 0}, "top_p must be greater than 0"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"max_tokens": 1000}, "context window is 128 tokens"),
        ({"stream_options": {"include_usage": True}}, "only allowed when stream is true"),
        ({"seed": "7"}, "seed must be an integer"),
    ],
)
def test_bad_requests_raise_clear_value_errors(
    chat: TransformersChat, fields: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ask(chat, **fields)


def test_text_parts_are_accepted(chat: TransformersChat) -> None:
    parts = [{"type": "text", "text": "what is "}, {"type": "text", "text": "a jet?"}]
    a = chat.chat_completions(
        {"messages": [{"role": "user", "content": parts}], "max_tokens": 3, "temperature": 0}
    )
    b = chat.chat_completions(
        {
            "messages": [{"role": "user", "content": "what is a jet?"}],
            "max_tokens": 3,
            "temperature": 0,
        }
    )
    assert a["choices"] == b["choices"]
    assert a["model"] == chat.name == "tiny-gpt2"  # default: the directory's basename


def test_configuration_from_environment(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAI_CHAT_MODEL_DIR", raising=False)
    monkeypatch.delenv("HAI_CHAT_MODEL_NAME", raising=False)
    with pytest.raises(ValueError, match="set HAI_CHAT_MODEL_DIR"):
        TransformersChat()
    monkeypatch.setenv("HAI_CHAT_MODEL_DIR", str(model_dir / "missing"))
    with pytest.raises(ValueError, match="is not a directory"):
        TransformersChat()
    monkeypatch.setenv("HAI_CHAT_MODEL_DIR", str(model_dir))
    assert TransformersChat().name == "tiny-gpt2"
    monkeypatch.setenv("HAI_CHAT_MODEL_NAME", "physics-chat")
    chat = TransformersChat()
    assert chat.name == "physics-chat"
    assert set(remote_methods(chat)) == {"chat_completions"}
    with pytest.raises(RuntimeError, match="setup"):
        chat.chat_completions({"messages": MESSAGES})
