"""A local Hugging Face causal LM served as OpenAI `POST /v1/chat/completions` (stream or not).

Host it with

    HAI_CHAT_MODEL_DIR=/models/Qwen2.5-0.5B-Instruct \\
        hai worker hakutaku.workers.backends.transformers_chat:TransformersChat

Needs the `llm` extra (`pip install 'hakutaku[llm]'`); transformers is imported only in `setup()`.

Configuration (the worker constructs the class with no arguments):

- `HAI_CHAT_MODEL_DIR` (env) or class attribute `model_dir` (wins when set): a local directory
  with the model and tokenizer as `save_pretrained` writes them. Nothing is downloaded.
- `HAI_CHAT_MODEL_NAME` (env), else class attribute `name`, else the directory's basename: the
  model name callers use.
- `HAI_CHAT_DEVICE` (env) or class attribute `device`: torch device; default `cuda` if available.
- `HAI_CHAT_DTYPE` (env) or class attribute `dtype`: `float32`, `bfloat16` or `float16`; default
  float32 on CPU, bfloat16 on CUDA (float16 where bfloat16 is unsupported).
- Class attribute `default_max_tokens` (512): the completion limit when the request sets none
  (never more than what is left of the context window).

Prompting: the tokenizer's chat template when it has one (`add_generation_prompt=True`);
otherwise the fallback below, which suits base models:

    System: <content>
    User: <content>
    Assistant: <content>
    ...
    Assistant:

(one `<Role>: <content>` line per message, `developer` shown as System, then `Assistant:`).

Generation is transformers' `model.generate` with a `GenerationConfig` built from the request:
its KV cache, its `StopStringCriteria` (generation ends at the token that completes a stop
string in the completion) and a `TextIteratorStreamer` (incremental detokenization). It runs in
a thread that feeds the streamer, for the streamed and the non-streamed answer alike, so both
give the same text for the same request and seed; a stream closed early (the client left)
stops generation at the next token, and the thread is joined before the stream's generator
finishes. Sampling uses transformers' temperature and top-p warpers; the draw itself is made
with the request's own `torch.Generator` (generate's sampler uses torch's process-wide random
state, which concurrent requests share, so a seed would not reproduce). The model's own
`generation_config` sampling defaults (top-k, repetition penalty, ...) are not used: the request
says how to sample, with OpenAI's defaults. Supported request fields:
`messages`, `max_tokens` / `max_completion_tokens`, `temperature` (0 = greedy), `top_p`, `seed`,
`stop` (string or up to 4 strings; the stop text is not returned), `presence_penalty`,
`frequency_penalty`, `stream`, `stream_options.include_usage`, `n` (1 only). `user`, `metadata`
and similar bookkeeping fields are ignored; `tools`, `logprobs`, non-text content parts and
non-text `response_format` are refused with a ValueError. `usage.completion_tokens` counts every
generated token, including the end-of-sequence token or the one that completed a stop string.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hakutaku.workers.remote import RemoteModel, remote

if TYPE_CHECKING:
    import torch

INSTALL_HINT = "pip install 'hakutaku[llm]'"
MAX_STOP_SEQUENCES = 4  # OpenAI's limit
_ROLES = ("system", "developer", "user", "assistant", "tool")
_FALLBACK_LABELS = {
    "system": "System",
    "developer": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
}


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            f"TransformersChat needs the `transformers` package; install it with {INSTALL_HINT}"
        ) from exc
    return transformers


def fallback_prompt(messages: list[dict[str, str]]) -> str:
    """The documented prompt for tokenizers without a chat template."""
    lines = [f"{_FALLBACK_LABELS[m['role']]}: {m['content']}\n" for m in messages]
    return "".join(lines) + "Assistant:"


# ---------------------------------------------------------------- request validation


@dataclass
class _Params:
    messages: list[dict[str, str]]
    model: str
    max_tokens: int | None
    temperature: float
    top_p: float
    seed: int | None
    stop: list[str]
    presence_penalty: float
    frequency_penalty: float
    stream: bool
    include_usage: bool


def _number(request: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = request.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValueError(f"{key} must be a number between {lo:g} and {hi:g}, got {value!r}.")
    return float(value)


def _text_content(content: Any, where: str) -> str:
    """A message's content as plain text (a string or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ValueError(
                    f"{where}.content[{j}] is a {kind!r} part; this model reads text only. "
                    "Send text parts ({'type': 'text', 'text': ...}) or a string."
                )
            if not isinstance(part.get("text"), str):
                raise ValueError(f"{where}.content[{j}].text must be a string.")
            texts.append(part["text"])
        return "".join(texts)
    raise ValueError(f"{where}.content must be a string or a list of text parts.")


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} objects.")
    out = []
    for i, msg in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise ValueError(f"{where} must be an object with 'role' and 'content'.")
        role = msg.get("role")
        if role not in _ROLES:
            raise ValueError(f"{where}.role must be one of {', '.join(_ROLES)}; got {role!r}.")
        if msg.get("tool_calls") or msg.get("function_call"):
            raise ValueError(f"{where} carries tool calls; this model does not support tools.")
        out.append({"role": role, "content": _text_content(msg.get("content"), where)})
    return out


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise ValueError(
            f"stop must be a non-empty string or a list of at most {MAX_STOP_SEQUENCES} "
            f"non-empty strings, got {value!r}."
        )
    return stops


def _parse(request: Any, default_model: str) -> _Params:
    if not isinstance(request, dict):
        raise ValueError("request must be an object (the OpenAI chat.completions request body).")
    if request.get("n") not in (None, 1):
        raise ValueError(f"n={request['n']!r} is not supported: this model returns one choice.")
    if request.get("tools") or request.get("functions"):
        raise ValueError("tools/functions are not supported by this model; remove them.")
    if request.get("logprobs") or request.get("top_logprobs"):
        raise ValueError("logprobs are not supported by this model; remove logprobs.")
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
        raise ValueError("only response_format {'type': 'text'} is supported by this model.")
    max_tokens = request.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = request.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}.")
    seed = request.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    stream = request.get("stream") or False
    if not isinstance(stream, bool):
        raise ValueError(f"stream must be true or false, got {stream!r}.")
    options = request.get("stream_options")
    if options is not None and not stream:
        raise ValueError("stream_options is only allowed when stream is true.")
    if options is not None and not isinstance(options, dict):
        raise ValueError("stream_options must be an object such as {'include_usage': true}.")
    top_p = _number(request, "top_p", 1.0, 0.0, 1.0)
    if top_p <= 0.0:
        raise ValueError("top_p must be greater than 0 (use temperature 0 for greedy decoding).")
    return _Params(
        messages=_messages(request.get("messages")),
        model=str(request.get("model") or default_model),
        max_tokens=max_tokens,
        temperature=_number(request, "temperature", 1.0, 0.0, 2.0),
        top_p=top_p,
        seed=seed,
        stop=_stop(request.get("stop")),
        presence_penalty=_number(request, "presence_penalty", 0.0, -2.0, 2.0),
        frequency_penalty=_number(request, "frequency_penalty", 0.0, -2.0, 2.0),
        stream=stream,
        include_usage=bool((options or {}).get("include_usage")),
    )


# ---------------------------------------------------------------- generation helpers


class _StopCut:
    """Removes the first stop string, and what follows it, from the answer's text.

    Generation itself ends at a stop string (transformers' `StopStringCriteria`), but the text
    it produced still contains it; text that may be the start of one is held back until it is
    known not to be.
    """

    def __init__(self, stops: list[str]) -> None:
        self._stops = stops
        self._keep = max((len(s) for s in stops), default=1) - 1
        self._pending = ""
        self.hit = False

    def feed(self, text: str) -> str:
        """The part of the text so far that is certainly in the answer."""
        self._pending += text
        found = [i for i in (self._pending.find(s) for s in self._stops) if i >= 0]
        if found:
            self.hit = True
            out, self._pending = self._pending[: min(found)], ""
            return out
        cut = max(0, len(self._pending) - self._keep)
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out

    def rest(self) -> str:
        out, self._pending = self._pending, ""
        return out


class _Cancel:
    """A stopping criterion for `generate`: true from the first step after `set()`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(
        self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        import torch

        return torch.full((input_ids.shape[0],), self._event.is_set(), device=input_ids.device)


class _OnCompletion:
    """A stopping criterion applied to the completion only.

    transformers' `StopStringCriteria` looks at the whole sequence, prompt included, so with a
    prompt ending in `Assistant:` the stop string `::` would end generation at the first `:`.
    """

    def __init__(self, criterion: Any, prompt_len: int) -> None:
        self._criterion = criterion
        self._prompt_len = prompt_len

    def __call__(
        self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        return self._criterion(input_ids[:, self._prompt_len :], scores, **kwargs)


class _Penalties:
    """OpenAI's penalties as a logits processor: `frequency` per occurrence of a token in the
    completion so far, `presence` once per token seen (transformers has only the multiplicative
    repetition penalty, which means something else)."""

    def __init__(self, prompt_len: int, presence: float, frequency: float) -> None:
        self._prompt_len = prompt_len
        self._presence = presence
        self._frequency = frequency

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        generated = input_ids[:, self._prompt_len :]
        ones = torch.ones_like(generated, dtype=scores.dtype)
        counts = torch.zeros_like(scores).scatter_add_(1, generated, ones)
        return scores - self._frequency * counts - self._presence * (counts > 0).to(scores.dtype)


class _Draw:
    """The last logits processor when sampling: draws the next token from the (warped) scores
    with the request's own generator and leaves only it possible, so generate's greedy pick
    takes it."""

    def __init__(self, generator: torch.Generator) -> None:
        self._generator = generator

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        chosen = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=self._generator)
        return torch.full_like(scores, -math.inf).scatter_(1, chosen, 0.0)


class _WithoutEos:
    """A streamer for `generate` that passes tokens on to a `TextIteratorStreamer`, except an
    end-of-sequence token: its text is not part of the answer, special token or not."""

    def __init__(self, streamer: Any, eos_ids: set[int]) -> None:
        self._streamer = streamer
        self._eos_ids = eos_ids

    def put(self, value: torch.Tensor) -> None:
        # The prompt comes as (1, n); each generated token as (1,), and an EOS token is the last.
        if value.dim() == 1 and int(value[0]) in self._eos_ids:
            return
        self._streamer.put(value)

    def end(self) -> None:
        self._streamer.end()


@dataclass
class _Outcome:
    """Filled in by the generation, read once its text is exhausted."""

    completion_tokens: int = 0
    finish_reason: str = "length"


# ---------------------------------------------------------------- the model


def _pick_device(configured: str | None) -> str:
    chosen = os.environ.get("HAI_CHAT_DEVICE", "").strip() or configured
    if chosen:
        return chosen
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _pick_dtype(configured: str | None, device: str) -> torch.dtype:
    import torch

    choice = os.environ.get("HAI_CHAT_DTYPE", "").strip() or configured
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if choice:
        if choice not in dtypes:
            raise ValueError(
                f"dtype (HAI_CHAT_DTYPE or the class attribute) must be one of "
                f"{', '.join(dtypes)}, got {choice!r}."
            )
        return dtypes[choice]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # Half precision on CPU is slow or unsupported for many kernels.
    return torch.float32


class TransformersChat(RemoteModel):
    """A local Hugging Face causal LM behind the OpenAI chat.completions interface."""

    description: ClassVar[str] = "Local Hugging Face causal language model (chat completions)."
    model_dir: ClassVar[str | None] = None
    device: ClassVar[str | None] = None
    dtype: ClassVar[str | None] = None
    default_max_tokens: ClassVar[int] = 512

    def __init__(self) -> None:
        directory = self.model_dir or os.environ.get("HAI_CHAT_MODEL_DIR", "").strip()
        if not directory:
            raise ValueError(
                "TransformersChat needs a model directory: set HAI_CHAT_MODEL_DIR to a local "
                "directory written by save_pretrained (or subclass it and set model_dir)."
            )
        self._dir = Path(directory).expanduser()
        if not self._dir.is_dir():
            raise ValueError(
                f"model directory {directory!r} (HAI_CHAT_MODEL_DIR or model_dir) is not a "
                "directory; point it at a directory written by save_pretrained."
            )
        # Resolved here, before setup(), so the runtime can register under the final name.
        name = os.environ.get("HAI_CHAT_MODEL_NAME", "").strip() or self.name or self._dir.name
        self._init_state(name)

    def _init_state(self, name: str) -> None:
        """The final model name and the not-yet-loaded runtime state (before setup())."""
        self.name = name  # type: ignore[misc]
        self._gguf_file: str | None = None  # a GGUF file name inside self._dir, if loading one
        self._model: Any = None
        self._tokenizer: Any = None
        self._transformers: Any = None
        self._torch: Any = None
        self._device: Any = None
        self._eos_ids: set[int] = set()
        self._pad_id: int | None = None
        self._context: int | None = None

    def setup(self) -> None:
        """Load tokenizer and model from the directory (local files only) onto the device."""
        transformers = _import_transformers()
        import torch

        device = _pick_device(self.device)
        dtype = _pick_dtype(self.dtype, device)
        # transformers 5 renamed `torch_dtype` to `dtype`; the llm extra allows 4.40+.
        dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
        # A GGUF file is dequantized by transformers (needs the `gguf` package) to `dtype`.
        gguf = {"gguf_file": self._gguf_file} if self._gguf_file else {}
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            self._dir, local_files_only=True, **gguf
        )
        model = transformers.AutoModelForCausalLM.from_pretrained(
            self._dir, local_files_only=True, **gguf, **{dtype_kw: dtype}
        )
        model.to(device)
        model.eval()
        eos: set[int] = set()
        for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
            if isinstance(source, int):
                eos.add(source)
            elif isinstance(source, list):
                eos.update(i for i in source if isinstance(i, int))
        pad = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos, default=None)
        )
        # Only the token ids are kept from the model's generation config: its sampling defaults
        # would otherwise fill what a request leaves unset (generate merges them in).
        model.generation_config = transformers.GenerationConfig(
            bos_token_id=model.generation_config.bos_token_id,
            eos_token_id=sorted(eos) or None,
            pad_token_id=pad,
        )
        self._context = getattr(model.config, "max_position_embeddings", None)
        self._eos_ids = eos
        self._pad_id = pad
        self._transformers = transformers
        self._torch = torch
        self._device = torch.device(device)
        self._tokenizer = tokenizer
        self._model = model

    # -- prompt

    def _prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            from jinja2 import TemplateError

            try:
                text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            except TemplateError as exc:
                raise ValueError(
                    f"the model's chat template rejected the messages: {exc}"
                ) from None
            # The template writes BOS and other markers itself.
            return list(tok(text, add_special_tokens=False)["input_ids"])
        return list(tok(fallback_prompt(messages))["input_ids"])

    def _completion_limit(self, prompt_len: int, requested: int | None) -> int:
        room = None if self._context is None else self._context - prompt_len
        if room is not None and room < 1:
            raise ValueError(
                f"the prompt is {prompt_len} tokens, which fills {self.name}'s context window "
                f"of {self._context} tokens; shorten the messages."
            )
        if requested is None:
            return self.default_max_tokens if room is None else min(self.default_max_tokens, room)
        if room is not None and requested > room:
            total = prompt_len + requested
            raise ValueError(
                f"{self.name}'s context window is {self._context} tokens, but {total} "
                f"were requested ({prompt_len} in the messages, {requested} for the completion); "
                "reduce max_tokens or the messages."
            )
        return requested

    # -- generation

    def _generation_config(self, p: _Params, limit: int) -> Any:
        return self._transformers.GenerationConfig(
            max_new_tokens=limit,
            # Greedy picks; when sampling, the draw is the last logits processor's (_Draw).
            do_sample=False,
            eos_token_id=sorted(self._eos_ids) or None,
            pad_token_id=self._pad_id,
        )

    def _logits_processors(self, p: _Params, prompt_len: int) -> Any:
        tf, torch = self._transformers, self._torch
        processors: list[Any] = []
        if p.presence_penalty != 0.0 or p.frequency_penalty != 0.0:
            processors.append(_Penalties(prompt_len, p.presence_penalty, p.frequency_penalty))
        if p.temperature > 0.0:
            if p.temperature != 1.0:
                processors.append(tf.TemperatureLogitsWarper(p.temperature))
            if p.top_p < 1.0:
                processors.append(tf.TopPLogitsWarper(p.top_p))
            generator = torch.Generator(device=self._device)
            if p.seed is None:
                generator.seed()
            else:
                generator.manual_seed(p.seed & 0xFFFF_FFFF_FFFF_FFFF)
            processors.append(_Draw(generator))
        return tf.LogitsProcessorList(processors)

    def _stopping_criteria(self, p: _Params, prompt_len: int, cancel: _Cancel) -> Any:
        tf = self._transformers
        criteria: list[Any] = [cancel]
        if p.stop:
            stops = tf.StopStringCriteria(tokenizer=self._tokenizer, stop_strings=p.stop)
            criteria.append(_OnCompletion(stops, prompt_len))
        return tf.StoppingCriteriaList(criteria)

    def _deltas(
        self, prompt_ids: list[int], limit: int, p: _Params, out: _Outcome
    ) -> Iterator[str]:
        """Generate up to `limit` tokens, yielding text as it becomes final.

        `generate` runs in its own thread and feeds a streamer this generator reads. Closing
        the generator early (a client that left) cancels generation at its next token and joins
        the thread, so none is left running.
        """
        tf, torch = self._transformers, self._torch
        streamer = tf.TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        cancel = _Cancel()
        inputs = torch.tensor([prompt_ids], device=self._device)
        result: dict[str, Any] = {}

        def generate() -> None:
            try:
                with torch.inference_mode():
                    result["sequences"] = self._model.generate(
                        inputs,
                        attention_mask=torch.ones_like(inputs),
                        generation_config=self._generation_config(p, limit),
                        logits_processor=self._logits_processors(p, len(prompt_ids)),
                        stopping_criteria=self._stopping_criteria(p, len(prompt_ids), cancel),
                        streamer=_WithoutEos(streamer, self._eos_ids),
                    )
            except BaseException as exc:  # raised again in the reader's thread
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=generate, name=f"{self.name}-generate", daemon=True)
        thread.start()
        cut = _StopCut(p.stop)
        try:
            for text in streamer:
                text = cut.feed(text)
                if text:
                    yield text
                if cut.hit:
                    break
            else:
                text = cut.rest()
                if text:
                    yield text
        finally:
            cancel.set()  # a no-op once generation has ended
            thread.join()
        if "error" in result:
            raise result["error"]
        generated = result["sequences"][0, len(prompt_ids) :].tolist()
        out.completion_tokens = len(generated)
        ended = cut.hit or (bool(generated) and generated[-1] in self._eos_ids)
        out.finish_reason = "stop" if ended else "length"

    # -- OpenAI surface

    @remote
    def chat_completions(self, request: dict[str, Any]) -> Any:
        """OpenAI `POST /v1/chat/completions`. Returns a `chat.completion` dict, or — when
        `request["stream"]` is true — a generator of `chat.completion.chunk` dicts."""
        if self._model is None:
            raise RuntimeError("TransformersChat.setup() has not run: call it to load the model.")
        p = _parse(request, str(self.name))
        prompt_ids = self._prompt_ids(p.messages)
        limit = self._completion_limit(len(prompt_ids), p.max_tokens)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if p.stream:
            return self._stream(prompt_ids, limit, p, completion_id, created)
        out = _Outcome()
        content = "".join(self._deltas(prompt_ids, limit, p, out))
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": p.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": out.finish_reason,
                }
            ],
            "usage": _usage(len(prompt_ids), out.completion_tokens),
        }

    def _stream(
        self, prompt_ids: list[int], limit: int, p: _Params, completion_id: str, created: int
    ) -> Iterator[dict[str, Any]]:
        def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
            body: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": p.model,
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if p.include_usage:
                body["usage"] = None  # OpenAI sends null here and the totals in a last chunk
            return body

        out = _Outcome()
        yield chunk({"role": "assistant", "content": ""})
        for text in self._deltas(prompt_ids, limit, p, out):
            yield chunk({"content": text})
        yield chunk({}, out.finish_reason)
        if p.include_usage:
            last = chunk(None)
            last["usage"] = _usage(len(prompt_ids), out.completion_tokens)
            yield last


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
