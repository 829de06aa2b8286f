"""What a model name may be: one rule for workers, upstreams, the gateway and the API.

Names as the field writes them — `my-tagger`, `openai/gpt-4o-mini`, `Qwen/Qwen2.5-7B-Instruct`:
one or more parts separated by '/', each of letters, digits, '.', '_', ':' or '-' and starting
with a letter or a digit; 128 characters in all.
"""

from __future__ import annotations

import re

MODEL_PART = r"[A-Za-z0-9][A-Za-z0-9._:-]*"
MODEL_NAME_PATTERN = rf"^{MODEL_PART}(?:/{MODEL_PART})*$"
MODEL_NAME_MAX = 128
_MODEL_NAME_RE = re.compile(MODEL_NAME_PATTERN)


def model_name_problem(name: str) -> str | None:
    """None for a valid name, else a sentence saying what to write."""
    if len(name) <= MODEL_NAME_MAX and _MODEL_NAME_RE.match(name):
        return None
    return (
        f"invalid model name {name!r}: use up to {MODEL_NAME_MAX} characters in one or more "
        "parts separated by '/' (e.g. openai/gpt-4o-mini), each of letters, digits, '.', '_', "
        "':' or '-' and starting with a letter or digit"
    )
