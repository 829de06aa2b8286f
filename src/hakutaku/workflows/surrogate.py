"""A surrogate for an expensive function: each call is answered by an ensemble model when its
spread there is under the bound the user sets, and by the real function otherwise. Every real
answer is kept and the model is retrained in the background on them; `counts` says how often
each answered, and audits (every `audit_every`-th surrogate answer also computed for real)
measure the surrogate's error.

    s = Surrogate(simulate, bound=0.01, campaign=c, pool="simulate")
    y = s(x)  # real or surrogate, whichever the bound allows
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hakutaku.workflows.ensemble import Ensemble
from hakutaku.workflows.errors import WorkflowError

if TYPE_CHECKING:
    from hakutaku.workflows.campaign import Campaign


@dataclass(frozen=True, slots=True)
class Answer:
    value: float
    source: str  # "surrogate" | "real"
    spread: float | None  # the ensemble's spread where it was asked (None: not trained)


class Surrogate:
    def __init__(
        self,
        fn: Callable[..., float],
        *,
        bound: float,
        min_real: int = 8,
        audit_every: int = 0,
        campaign: Campaign | None = None,
        pool: str = "default",
        ensemble: Ensemble | None = None,
    ) -> None:
        if bound <= 0:
            raise WorkflowError(
                "the surrogate's bound (largest spread it may answer with) must be > 0"
            )
        if min_real < 2:
            raise WorkflowError("min_real: the surrogate needs at least 2 real answers to train")
        self.fn = fn
        self.bound = bound
        self.min_real = min_real
        self.audit_every = audit_every
        self.campaign = campaign
        self.pool = pool
        self.model = ensemble or Ensemble()
        self.x: list[list[float]] = []
        self.y: list[float] = []
        self.counts = {"surrogate": 0, "real": 0, "audits": 0, "retrains": 0}
        self.audit_errors: list[float] = []
        self._lock = threading.Lock()
        self._new_data = threading.Event()
        self._stop = threading.Event()
        self._trained_on = 0
        self._retrainer = threading.Thread(target=self._retrain_loop, daemon=True)
        self._retrainer.start()

    # ------------------------------------------------------------------ answering

    def predict(self, x: Sequence[float] | float) -> tuple[float, float] | None:
        """The model's mean and spread at x, or None before it has trained."""
        with self._lock:
            if not self.model.trained:
                return None
            mean, spread = self.model.predict(np.atleast_2d(np.asarray(x, dtype=float)))
        return float(mean[0]), float(spread[0])

    def ask(self, x: Sequence[float] | float) -> Answer:
        point = [float(v) for v in np.atleast_1d(np.asarray(x, dtype=float))]
        guess = self.predict(point)
        if guess is not None and guess[1] <= self.bound:
            self.counts["surrogate"] += 1
            if self.audit_every and self.counts["surrogate"] % self.audit_every == 0:
                real = self._real(point)
                self.counts["audits"] += 1
                self.audit_errors.append(abs(real - guess[0]))
            return Answer(guess[0], "surrogate", guess[1])
        return Answer(self._real(point), "real", None if guess is None else guess[1])

    def __call__(self, x: Sequence[float] | float) -> float:
        return self.ask(x).value

    def _real(self, point: list[float]) -> float:
        args: Any = point[0] if len(point) == 1 else point
        if self.campaign is not None:
            value = float(self.campaign.submit(self.fn, args, pool=self.pool).result())
        else:
            value = float(self.fn(args))
        self.counts["real"] += 1
        self.add(point, value)
        return value

    # ------------------------------------------------------------------ training

    def add(self, point: Sequence[float], value: float) -> None:
        """Add a real result (the surrogate retrains on it in the background)."""
        with self._lock:
            self.x.append([float(v) for v in point])
            self.y.append(float(value))
        self._new_data.set()

    def retrain(self) -> None:
        """Train on every real result so far (the background thread calls this)."""
        with self._lock:
            x, y = np.array(self.x), np.array(self.y)
        if len(y) < self.min_real:
            return
        model = Ensemble(
            self.model.members,
            self.model.features,
            self.model.length_scale,
            self.model.ridge,
            seed=len(y),
        )
        model.fit(x, y)  # outside the lock: answers go on from the old model meanwhile
        with self._lock:
            self.model = model
            self._trained_on = len(y)
            self.counts["retrains"] += 1

    def wait_trained(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until the model has been trained on at least `count` real results."""
        done = threading.Event()
        while not done.wait(0.01):
            if self._trained_on >= count:
                return True
            timeout -= 0.01
            if timeout <= 0:
                return False
        return True

    def _retrain_loop(self) -> None:
        while not self._stop.is_set():
            if self._new_data.wait(0.2):
                self._new_data.clear()
                self.retrain()

    def close(self) -> None:
        self._stop.set()
        self._retrainer.join(timeout=5)
