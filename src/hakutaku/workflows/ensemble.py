"""A small ensemble regressor whose spread says how far to trust it: each member is a ridge
regression on its own random Fourier features (an RBF kernel's approximation), fit on its own
bootstrap resample. Near the data the members agree; away from it they part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Member:
    freqs: np.ndarray  # (features, dims)
    phases: np.ndarray  # (features,)
    weights: np.ndarray  # (features,)


class Ensemble:
    def __init__(
        self,
        members: int = 8,
        features: int = 64,
        length_scale: float = 0.3,
        ridge: float = 1e-3,
        seed: int = 0,
    ) -> None:
        self.members = members
        self.features = features
        self.length_scale = length_scale
        self.ridge = ridge
        self.rng = np.random.default_rng(seed)
        self._fit: list[Member] = []
        self._center = np.zeros(1)
        self._scale = np.ones(1)
        self._y_mean = 0.0
        self._y_scale = 1.0

    @property
    def trained(self) -> bool:
        return bool(self._fit)

    def _phi(self, m: Member, x: np.ndarray) -> np.ndarray:
        z = (x - self._center) / self._scale
        return np.sqrt(2.0 / self.features) * np.cos(z @ m.freqs.T + m.phases)

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = x[:, None]  # one input dimension
        y = np.asarray(y, dtype=float)
        self._center, self._scale = x.mean(0), x.std(0) + 1e-12
        self._y_mean, self._y_scale = float(y.mean()), float(y.std() + 1e-12)
        t = (y - self._y_mean) / self._y_scale
        fit = []
        for _ in range(self.members):
            freqs = self.rng.normal(0, 1 / self.length_scale, (self.features, x.shape[1]))
            phases = self.rng.uniform(0, 2 * np.pi, self.features)
            pick = self.rng.integers(0, len(x), len(x))
            m = Member(freqs, phases, np.zeros(self.features))
            phi = self._phi(m, x[pick])
            a = phi.T @ phi + self.ridge * np.eye(self.features)
            fit.append(Member(freqs, phases, np.linalg.solve(a, phi.T @ t[pick])))
        self._fit = fit

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread (standard deviation across members) at each row of `x`."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        preds = np.stack([self._phi(m, x) @ m.weights for m in self._fit])
        preds = preds * self._y_scale + self._y_mean
        return preds.mean(0), preds.std(0)
