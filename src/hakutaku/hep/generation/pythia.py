"""Pythia 8 (PyPI `pythia8mc`): set up a generator from a settings list, make events in batches.

Events come from `Pythia.nextBatch`, which fills an awkward array in C++ (no Python per
particle). `EventRecord` flattens what the jet code needs into numpy arrays with per-event
offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

import numpy as np


class PythiaSettingsError(ValueError):
    """A settings string that Pythia does not understand."""


@cache
def pythia_version() -> str:
    """The installed `pythia8mc` distribution's version (e.g. 8.317.2)."""
    return metadata.version("pythia8mc")


def make_pythia(settings: list[str]) -> Any:
    """An initialised `pythia8mc.Pythia` with `settings` read in order."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)  # no banner
    for line in settings:
        if not pythia.readString(line):
            raise PythiaSettingsError(f"Pythia did not accept the setting {line!r}")
    if not pythia.init():
        raise PythiaSettingsError("Pythia failed to initialise with these settings")
    return pythia


def settings_record(pythia: Any) -> dict[str, Any]:
    """Every Pythia setting whose value differs from its default, by its canonical name.

    With the Pythia version this pins the whole configuration (all other settings are at the
    version's defaults). Values are read after `init()`, so settings Pythia changes itself
    (e.g. through Print:quiet) are included.
    """
    s = pythia.settings
    out: dict[str, Any] = {}
    for getter in (s.getFlagMap, s.getModeMap, s.getParmMap, s.getWordMap):
        for entry in getter("").values():
            if entry.valNow != entry.valDefault:
                out[entry.name] = entry.valNow
    for getter in (s.getFVecMap, s.getMVecMap, s.getPVecMap, s.getWVecMap):
        for entry in getter("").values():
            now, default = list(entry.valNow), list(entry.valDefault)
            if now != default:
                out[entry.name] = now
    return dict(sorted(out.items()))


def cross_section(pythia: Any) -> dict[str, float]:
    """Pythia's estimate of the generated cross section so far (pb) and events tried/accepted."""
    info = pythia.infoPython()
    return {
        "sigma_pb": float(info.sigmaGen()) * 1e9,
        "sigma_err_pb": float(info.sigmaErr()) * 1e9,
        "n_accepted": int(info.nAccepted()),
        "n_tried": int(info.nTried()),
    }


_NEUTRINOS = np.array([12, 14, 16])


@dataclass
class EventRecord:
    """A batch of full Pythia event records as flat numpy arrays.

    `offsets[k]` is where event k starts in the flat arrays; `mother1` indexes within the event.
    """

    id: np.ndarray
    status: np.ndarray
    mother1: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    counts: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.counts)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    @property
    def event_index(self) -> np.ndarray:
        """The event of each flat entry."""
        return np.repeat(np.arange(self.n_events), self.counts)

    def visible_final(self) -> np.ndarray:
        """Flat mask of final-state particles other than neutrinos."""
        return (self.status > 0) & ~np.isin(np.abs(self.id), _NEUTRINOS)

    @classmethod
    def from_awkward(cls, events: Any) -> EventRecord:
        import awkward as ak

        prt = events["prt"]
        p = prt["p"]

        def flat(a: Any, dtype: Any) -> np.ndarray:
            return np.asarray(ak.to_numpy(ak.flatten(a)), dtype=dtype)

        return cls(
            id=flat(prt["id"], np.int64),
            status=flat(prt["status"], np.int64),
            mother1=flat(prt["mother1"], np.int64),
            px=flat(p["px"], np.float64),
            py=flat(p["py"], np.float64),
            pz=flat(p["pz"], np.float64),
            e=flat(p["e"], np.float64),
            counts=np.asarray(ak.to_numpy(ak.num(prt)), dtype=np.int64),
        )


class EventSource:
    """A Pythia generator producing `EventRecord` batches; counts the events it made."""

    def __init__(self, settings: list[str]) -> None:
        self.settings = list(settings)
        self.pythia = make_pythia(self.settings)
        self.n_events = 0
        self._charges: dict[int, float] = {}

    def next_batch(self, n: int) -> EventRecord:
        # "skip": an event Pythia fails to make is left out (and reported in Pythia's stats).
        events = self.pythia.nextBatch(int(n), "skip")
        record = EventRecord.from_awkward(events)
        self.n_events += record.n_events
        return record

    def charges(self, pdg_ids: np.ndarray) -> np.ndarray:
        """Electric charge (units of e) of each PDG id, from Pythia's particle data."""
        unique, inverse = np.unique(pdg_ids, return_inverse=True)
        for pid in unique.tolist():
            if pid not in self._charges:
                self._charges[pid] = float(self.pythia.particleData.charge(int(pid)))
        table = np.array([self._charges[pid] for pid in unique.tolist()], dtype=np.float64)
        return table[inverse].reshape(np.shape(pdg_ids))

    def record(self) -> dict[str, Any]:
        return {
            "settings": list(self.settings),
            "changed": settings_record(self.pythia),
            **cross_section(self.pythia),
            "n_events": self.n_events,
        }
