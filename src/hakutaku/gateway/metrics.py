"""Prometheus metrics for the gateway (served at /metrics)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Label sets are made only from names the registry resolved; this caps them anyway (workers
# may register many models): past it, new models are counted under one label.
MAX_MODELS = 1000
OTHER = "(other)"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._models: set[str] = set()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hai_requests",
            "Gateway requests by model, endpoint and status.",
            ["model", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hai_request_duration_seconds",
            "Gateway request latency (until the last byte for streams).",
            ["model", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "hai_errors",
            "Gateway errors by model and error code.",
            ["model", "code"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "hai_tokens",
            "Tokens by model and direction (prompt|completion).",
            ["model", "direction"],
            registry=self.registry,
        )
        self.workers = Gauge(
            "hai_workers", "Live workers by model.", ["model"], registry=self.registry
        )
        self.usage_pending = Gauge(
            "hai_usage_pending", "Usage events waiting to be written.", registry=self.registry
        )
        self.usage_dropped = Counter(
            "hai_usage_dropped",
            "Usage events dropped because the queue was full (the database took no writes).",
            registry=self.registry,
        )
        self.usage_rejected = Counter(
            "hai_usage_rejected",
            "Usage events the database refused, set aside in HAI_HOME/usage/rejected.jsonl.",
            registry=self.registry,
        )

    def _label(self, model: str) -> str:
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODELS:
            return OTHER
        self._models.add(model)
        return model

    def _children(self, model: str, endpoint: str, status: int) -> tuple[Any, Any]:
        # labels() costs a few microseconds each; the set of label values is small.
        key = (model, endpoint, status)
        pair = self._cache.get(key)
        if pair is None:
            model = self._label(model)
            pair = (
                self.requests.labels(model, endpoint, str(status)),
                self.latency.labels(model, endpoint),
            )
            self._cache[key] = pair
        return pair

    def observe(
        self, model: str, endpoint: str, status: int, seconds: float, code: str | None
    ) -> None:
        requests, latency = self._children(model, endpoint, status)
        requests.inc()
        latency.observe(seconds)
        if code is not None:
            self.errors.labels(self._label(model), code).inc()

    def count_tokens(self, model: str, prompt: int, completion: int) -> None:
        label = self._label(model)
        self.tokens.labels(label, "prompt").inc(prompt)
        self.tokens.labels(label, "completion").inc(completion)

    def set_workers(self, model: str, live: int) -> None:
        self.workers.labels(self._label(model)).set(live)
