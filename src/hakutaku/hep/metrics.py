"""Tagging metrics with numpy only: ROC, AUC, background rejection at fixed signal efficiency."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Roc:
    """Signal efficiency (TPR) and background efficiency (FPR), both increasing."""

    signal_eff: np.ndarray
    background_eff: np.ndarray

    @property
    def auc(self) -> float:
        return float(np.trapezoid(self.signal_eff, self.background_eff))

    def rejection_at(self, signal_eff: float) -> float:
        """1/ε_B at the given ε_S (interpolated on the ROC curve); inf when ε_B = 0."""
        eps_b = float(np.interp(signal_eff, self.signal_eff, self.background_eff))
        return float("inf") if eps_b <= 0 else 1.0 / eps_b


def roc(scores: np.ndarray, is_signal: np.ndarray) -> Roc:
    """The ROC curve of `scores` (higher = more signal-like) for binary truth `is_signal`."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(is_signal, dtype=bool)
    if truth.all() or not truth.any():
        raise ValueError("a ROC curve needs both signal and background examples")
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], truth[order]
    # One point per distinct score, so ties do not depend on the input order.
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(t)[distinct]
    fp = np.cumsum(~t)[distinct]
    tpr = np.r_[0.0, tp / t.sum()]
    fpr = np.r_[0.0, fp / (~t).sum()]
    return Roc(signal_eff=tpr, background_eff=fpr)


def auc(scores: np.ndarray, is_signal: np.ndarray) -> float:
    return roc(scores, is_signal).auc


def binary_summary(scores: np.ndarray, is_signal: np.ndarray) -> dict[str, float]:
    curve = roc(scores, is_signal)
    return {
        "auc": curve.auc,
        "rejection_at_30": curve.rejection_at(0.30),
        "rejection_at_50": curve.rejection_at(0.50),
    }


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(probabilities).argmax(axis=1) == np.asarray(labels)).mean())


def signal_vs_background(probabilities: np.ndarray, signal: int, background: int) -> np.ndarray:
    """The two-class score P(s) / (P(s) + P(b)) used to compare JetClass outputs (e.g. top/QCD)."""
    p = np.asarray(probabilities, dtype=np.float64)
    denominator = p[:, signal] + p[:, background]
    return np.divide(p[:, signal], denominator, out=np.zeros(len(p)), where=denominator > 0)
