"""Jets from Pythia events: FastJet anti-kT clustering, kinematic selection, truth matching.

Clustering uses FastJet's vectorised (awkward) interface: one C++ call clusters a whole batch
of events. Everything after that works on flat numpy arrays (no Python per particle).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from hakutaku.hep.generation.pythia import EventRecord


@cache
def quiet_fastjet() -> None:
    """Stop FastJet printing its banner on stdout (once per process)."""
    from fastjet._swig import _fastjet_swig

    _fastjet_swig.ClusterSequence_set_fastjet_banner_stream(None)


def fastjet_version() -> str:
    import fastjet

    return str(fastjet.__version__)


# -- four-vector helpers (numpy, any shape) ----------------------------------------------------


def pt_of(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    return np.hypot(px, py)


def phi_of(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Azimuth in (-pi, pi]."""
    return np.arctan2(py, px)


def eta_of(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """Pseudorapidity."""
    return np.arcsinh(pz / np.maximum(np.hypot(px, py), 1e-300))


def rapidity_of(pz: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Rapidity 0.5 ln((E + pz) / (E - pz)), numerically safe for forward particles."""
    with np.errstate(divide="ignore", invalid="ignore"):
        y = 0.5 * np.log(np.maximum(e + pz, 1e-300) / np.maximum(e - pz, 1e-300))
    return y


def mass_of(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Invariant mass; a (rounding-)negative m^2 gives -sqrt(-m^2) as FastJet does."""
    m2 = (e - pz) * (e + pz) - px * px - py * py
    return np.sign(m2) * np.sqrt(np.abs(m2))


def delta_phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b wrapped into [-pi, pi)."""
    return (np.asarray(a) - np.asarray(b) + np.pi) % (2 * np.pi) - np.pi


def delta_r(eta1: np.ndarray, phi1: np.ndarray, eta2: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    return np.hypot(np.asarray(eta1) - np.asarray(eta2), delta_phi(phi1, phi2))


# -- clustering ------------------------------------------------------------------------------


@dataclass
class Jets:
    """Jets of a batch of events: `constituents` are flat indices into the `EventRecord`."""

    event: np.ndarray  # (n_jets,) event of each jet
    constituents: np.ndarray  # flat record indices, jet by jet
    counts: np.ndarray  # (n_jets,) constituents per jet
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    @property
    def pt(self) -> np.ndarray:
        return pt_of(self.px, self.py)

    @property
    def eta(self) -> np.ndarray:
        return eta_of(self.px, self.py, self.pz)

    @property
    def rapidity(self) -> np.ndarray:
        return rapidity_of(self.pz, self.e)

    @property
    def phi(self) -> np.ndarray:
        return phi_of(self.px, self.py)

    @property
    def mass(self) -> np.ndarray:
        return mass_of(self.px, self.py, self.pz, self.e)

    def select(self, which: np.ndarray) -> Jets:
        index = np.flatnonzero(which) if np.asarray(which).dtype == bool else np.asarray(which)
        starts, counts = self.offsets[:-1][index], self.counts[index]
        flat = _ranges(starts, counts)
        return Jets(
            event=self.event[index],
            constituents=self.constituents[flat],
            counts=counts,
            px=self.px[index],
            py=self.py[index],
            pz=self.pz[index],
            e=self.e[index],
        )


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated arange(s, s + c) for each (s, c), vectorised."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    first = ends - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - first, counts) + np.arange(total)


def cluster_antikt(
    record: EventRecord, particles: np.ndarray, radius: float, pt_min: float
) -> Jets:
    """Anti-kT jets (E-scheme) with pT >= pt_min of the `particles` (flat mask) of each event.

    Jet four-momenta are the sums of their constituents (which is what FastJet's E-scheme
    recombination gives, to rounding).
    """
    import awkward as ak
    import fastjet

    quiet_fastjet()
    chosen = np.flatnonzero(particles)
    counts = np.bincount(record.event_index[chosen], minlength=record.n_events)
    columns = {
        "px": record.px[chosen],
        "py": record.py[chosen],
        "pz": record.pz[chosen],
        "E": record.e[chosen],
    }
    events = ak.unflatten(ak.zip(columns), counts)
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    sequence = fastjet.ClusterSequence(events, definition)
    index = sequence.constituent_index(min_pt=pt_min)  # events * jets * local indices
    jets_per_event = np.asarray(ak.to_numpy(ak.num(index, axis=1)), dtype=np.int64)
    per_jet = np.asarray(ak.to_numpy(ak.flatten(ak.num(index, axis=2))), dtype=np.int64)
    local = np.asarray(ak.to_numpy(ak.flatten(index, axis=None)), dtype=np.int64)
    event = np.repeat(np.arange(record.n_events), jets_per_event)
    event_start = np.concatenate([[0], np.cumsum(counts)])[:-1]
    constituents = chosen[local + np.repeat(event_start[event], per_jet)]
    return _with_momenta(record, event, constituents, per_jet)


def _with_momenta(
    record: EventRecord, event: np.ndarray, constituents: np.ndarray, counts: np.ndarray
) -> Jets:
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]

    def total(values: np.ndarray) -> np.ndarray:
        if len(counts) == 0:
            return np.zeros(0)
        return np.add.reduceat(values[constituents], starts) * (counts > 0)

    return Jets(
        event=event,
        constituents=constituents,
        counts=counts,
        px=total(record.px),
        py=total(record.py),
        pz=total(record.pz),
        e=total(record.e),
    )


def kinematic_mask(
    jets: Jets, pt_min: float, pt_max: float, abs_max: float, rapidity: str
) -> np.ndarray:
    """pt_min <= pT < pt_max and |eta| (or |y|) < abs_max."""
    pt = jets.pt
    position = jets.eta if rapidity == "eta" else jets.rapidity
    return (pt >= pt_min) & (pt < pt_max) & (np.abs(position) < abs_max)


def leading_mask(jets: Jets) -> np.ndarray:
    """True for the hardest jet of each event."""
    keep = np.zeros(len(jets), dtype=bool)
    if len(jets):
        order = np.lexsort((-jets.pt, jets.event))
        first = np.ones(len(order), dtype=bool)
        first[1:] = jets.event[order][1:] != jets.event[order][:-1]
        keep[order[first]] = True
    return keep


# -- truth ------------------------------------------------------------------------------------


@dataclass
class HadronicTops:
    """Hadronically decaying tops: (eta, phi) of the top (as it decays) and of its b, q, q'."""

    event: np.ndarray
    eta: np.ndarray  # (n_tops, 4): top, b, q, q'
    phi: np.ndarray

    def __len__(self) -> int:
        return len(self.event)


def _global_mother(record: EventRecord, index: np.ndarray) -> np.ndarray:
    starts = record.offsets[:-1]
    return starts[record.event_index[index]] + record.mother1[index]


def hadronic_tops(record: EventRecord) -> HadronicTops:
    """Find t -> W b, W -> q q' in the event records.

    The top is its last copy (the one that decays); b, q and q' are the decay products as
    they are made (before their own showers).
    """
    aid = np.abs(record.id)
    candidates = np.flatnonzero((aid >= 1) & (aid <= 5) & (record.mother1 > 0))
    mothers = _global_mother(record, candidates)
    from_w = aid[mothers] == 24
    quarks, w = candidates[from_w], mothers[from_w]
    # Walk each W up its chain of copies to the first one, whose mother is the top.
    for _ in range(100):
        up = _global_mother(record, w)
        step = (aid[up] == 24) & (record.mother1[w] > 0)
        if not step.any():
            break
        w = np.where(step, up, w)
    top_of_quark = _global_mother(record, w)
    keep = aid[top_of_quark] == 6
    quarks, top_of_quark = quarks[keep], top_of_quark[keep]

    b_candidates = candidates[(aid[candidates] == 5) & (aid[mothers] == 6)]
    top_of_b = _global_mother(record, b_candidates)

    b_by_top = dict(zip(top_of_b.tolist(), b_candidates.tolist(), strict=True))
    q_by_top: dict[int, list[int]] = {}
    for top, q in zip(top_of_quark.tolist(), quarks.tolist(), strict=True):
        q_by_top.setdefault(top, []).append(q)
    rows = [
        (top, b_by_top[top], qs[0], qs[1])
        for top, qs in sorted(q_by_top.items())
        if len(qs) == 2 and top in b_by_top
    ]
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    px, py, pz = record.px[table], record.py[table], record.pz[table]
    return HadronicTops(
        event=record.event_index[table[:, 0]] if len(table) else np.zeros(0, np.int64),
        eta=eta_of(px, py, pz),
        phi=phi_of(px, py),
    )


def match_tops(jets: Jets, tops: HadronicTops, radius: float) -> np.ndarray:
    """True for jets with a hadronic top of their event such that the top, b, q, q' are all
    within Delta R < radius of the jet axis (eta-phi)."""
    matched = np.zeros(len(jets), dtype=bool)
    if not len(jets) or not len(tops):
        return matched
    jet_eta, jet_phi = jets.eta, jets.phi
    order = np.argsort(tops.event, kind="stable")
    events, eta, phi = tops.event[order], tops.eta[order], tops.phi[order]
    first = np.searchsorted(events, jets.event, side="left")
    last = np.searchsorted(events, jets.event, side="right")
    for k in range(int((last - first).max(initial=0))):
        has = first + k < last
        row = np.minimum(first + k, len(events) - 1)
        dr = delta_r(jet_eta[:, None], jet_phi[:, None], eta[row], phi[row])
        matched |= has & (dr < radius).all(axis=1)
    return matched


def outgoing_partons_ok(record: EventRecord, allowed: tuple[int, ...]) -> np.ndarray:
    """Per event: every outgoing parton of the hardest process (|status| 23) has |id| in
    `allowed`."""
    aid = np.abs(record.id)
    parton = ((aid <= 6) | (aid == 21)) & (np.abs(record.status) == 23)
    bad = parton & ~np.isin(aid, np.asarray(allowed))
    n_bad = np.bincount(record.event_index[bad], minlength=record.n_events)
    n_parton = np.bincount(record.event_index[parton], minlength=record.n_events)
    return (n_bad == 0) & (n_parton > 0)
