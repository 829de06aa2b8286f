"""A surrogate answers by its ensemble where the spread is under its bound and by the real
function (a real task on Parsl) otherwise; it retrains in the background on real results."""

from __future__ import annotations

import numpy as np
import pytest

from hakutaku.workflows import Campaign, WorkflowError
from hakutaku.workflows.surrogate import Surrogate
from tests.workflows import tasks


def test_it_switches_at_its_bound(campaign: Campaign) -> None:
    s = Surrogate(tasks.objective, bound=1e-9, min_real=8, campaign=campaign)
    try:
        for x in np.linspace(0, 2, 12):  # untrained, then too strict: every answer is real
            assert s.ask(x).source == "real"
        assert s.counts["real"] == 12 and s.counts["surrogate"] == 0
        assert s.wait_trained(12)
        assert s.counts["retrains"] >= 1
        guess = s.predict(1.05)
        assert guess is not None
        mean, spread = guess
        assert abs(mean - tasks.objective(1.05)) < 0.2  # it learned the function
        s.bound = spread * 1.01  # just above its spread here: the surrogate answers
        answer = s.ask(1.05)
        assert answer.source == "surrogate" and answer.value == pytest.approx(mean)
        assert s.counts == {**s.counts, "surrogate": 1, "real": 12}
        s.bound = spread * 0.99  # just below: the real function answers (a task)
        answer = s.ask(1.05)
        assert answer.source == "real"
        assert answer.value == pytest.approx(tasks.objective(1.05))
        assert s.counts["real"] == 13
        far = s.predict(8.0)  # far from every real point the members disagree
        assert far is not None and far[1] > spread
    finally:
        s.close()


def test_audits_measure_the_error(campaign: Campaign) -> None:
    s = Surrogate(tasks.objective, bound=10.0, min_real=6, audit_every=2)  # real calls inline
    try:
        for x in np.linspace(0, 2, 10):
            s.ask(x)
        assert s.wait_trained(10)
        for x in (0.3, 0.7, 1.1, 1.5):
            assert s.ask(x).source == "surrogate"
        assert s.counts["audits"] == 2
        assert len(s.audit_errors) == 2 and max(s.audit_errors) < 0.3
    finally:
        s.close()


def test_bad_bound_is_refused() -> None:
    with pytest.raises(WorkflowError, match="bound"):
        Surrogate(tasks.objective, bound=0)
