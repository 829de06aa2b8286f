"""Names, units and exact quantities of the resources the ledger counts.

Job resources are `cpu` (core-hours) and `KIND:MODEL` card-hours such as `gpu:a800`
(or just `KIND` when the model is unknown). Model calls are `model:NAME:calls` and
`model:NAME:tokens` (thousands of prompt + completion tokens). A resource's *kind* is the
price that applies when it has none of its own: `gpu` for `gpu:a800`, `model:tokens` for
`model:chat:tokens`.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

from hakutaku.errors import PlatformError

HOUR = "hour"
CALL = "call"
KILO_TOKENS = "1k-tokens"
UNITS = (HOUR, CALL, KILO_TOKENS)

CPU = "cpu"
ACCELERATOR_KINDS = ("gpu", "dcu", "npu")
MODEL_PREFIX = "model:"
CALLS_SUFFIX = ":calls"
TOKENS_SUFFIX = ":tokens"

# Ledger quantities are kept to a millionth of their unit (3.6 ms of a card-hour): exact in a
# float column, and summed as Decimals, so statements add up to the last digit.
QUANTUM = Decimal("0.000001")
SECONDS_PER_HOUR = Decimal(3600)

RESOURCE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._:/+-]{0,95}$", re.IGNORECASE)


def card_resource(accelerator: str, model: str | None) -> str:
    """The ledger resource for a job's accelerators, e.g. ("gpu", "A800") -> "gpu:a800"."""
    kind = accelerator.strip().lower()
    return f"{kind}:{model.strip().lower()}" if model and model.strip() else kind


def model_calls_resource(model: str) -> str:
    return f"{MODEL_PREFIX}{model}{CALLS_SUFFIX}"


def model_tokens_resource(model: str) -> str:
    return f"{MODEL_PREFIX}{model}{TOKENS_SUFFIX}"


def kind_of(resource: str) -> str | None:
    """The fallback price's resource, or None when the resource is already a kind."""
    if resource.startswith(MODEL_PREFIX):
        for suffix in (CALLS_SUFFIX, TOKENS_SUFFIX):
            if resource.endswith(suffix) and resource.count(":") >= 2:
                kind = MODEL_PREFIX + suffix[1:]
                return kind if kind != resource else None
        return None
    head, sep, _ = resource.partition(":")
    return head if sep else None


def default_unit(resource: str) -> str:
    """The unit a resource is measured in (and so the unit its price is per)."""
    if resource.startswith(MODEL_PREFIX):
        if resource.endswith(TOKENS_SUFFIX):
            return KILO_TOKENS
        if resource.endswith(CALLS_SUFFIX):
            return CALL
    return HOUR


def check_resource(resource: str) -> str:
    if not RESOURCE_PATTERN.match(resource):
        raise PlatformError(
            f"invalid resource {resource!r}: use names like cpu, gpu, gpu:a800, dcu:k100ai, "
            "npu:ascend910b, model:tokens or model:NAME:calls",
            param="resource",
        )
    return resource


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise PlatformError(
            f"invalid unit {unit!r}: choose one of {', '.join(UNITS)}", param="unit"
        )
    return unit


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """A float from the database as the decimal it was written from (not its binary value),
    without a float's trailing ".0" (6.0 -> 6), so it reads as it was meant."""
    if isinstance(value, Decimal):
        return value
    number = Decimal(str(value))
    if number.is_finite() and number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number


def unit_hours(count: int, seconds: Decimal) -> Decimal:
    """`count` units (cores, cards) used for `seconds`, in unit-hours, kept to QUANTUM."""
    return (count * seconds / SECONDS_PER_HOUR).quantize(QUANTUM, ROUND_HALF_EVEN)


def kilo_tokens(tokens: int) -> Decimal:
    return (Decimal(tokens) / 1000).quantize(QUANTUM)
