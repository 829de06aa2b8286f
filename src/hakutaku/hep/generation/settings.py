"""Process cards: what Pythia generates and which jets are kept, for each named process.

A `ProcessCard` holds the Pythia settings of one physics process, the jet definition and
selection, how jets are labelled, and the label set of its dataset family:

- `ttbar`, `qcd`: top tagging, TopLandscape-like (arXiv:1902.09914): the leading anti-kT
  R = 0.8 jet of the event, kept if 550 <= pT < 650 GeV and |eta| < 2. A top jet ("Tbqq") must
  contain a hadronically decaying top: the top and its b, q and q' within Delta R < 0.8 of the
  jet axis (both W bosons are forced to decay to quarks). QCD jets ("QCD") come from hard QCD
  2 -> 2 with no matching.
  Label set ("Tbqq", "QCD"), the order of ParT's `top_kin.yaml` ([jet_isTop, jet_isQCD]) and of
  what `hakutaku.hep.formats` reads back (TopLandscape's `is_signal_new` is 1 for "Tbqq").
- `zq`, `zg`: quark/gluon, EnergyFlow-like. Z(-> nu nu) + jet, anti-kT R = 0.4,
  500 <= pT < 550 GeV, |y| < 1.7; the hardest jet of the event is kept and labelled by the
  parton recoiling against the Z in the hard process: `zg` (q qbar -> Z g) gives "Zg",
  `zq` (q g -> Z q, light quarks u, d, s only as in EnergyFlow's default sample) gives "Zq".
  Label set ("Zq", "Zg"), the order of ParT's `qg_kin.yaml` ([jet_isQ, jet_isG]) and of what
  `hakutaku.hep.formats` reads back (EnergyFlow's `y` is 1 for "Zq").

Every card runs at sqrt(s) = 14 TeV with multiparton interactions on unless turned off.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

ECM_GEV = 14000.0
# Pythia's Random:seed must lie in [0, 900 000 000]; 0 would mean "from the clock".
MAX_PYTHIA_SEED = 900_000_000

TOP_LABELS = ("Tbqq", "QCD")
QUARK_GLUON_LABELS = ("Zq", "Zg")


@dataclass(frozen=True)
class JetSelection:
    """Anti-kT jets of radius `radius` with pt_min <= pT < pt_max and |eta| (or |y|) < abs_max."""

    radius: float
    pt_min: float
    pt_max: float
    abs_max: float
    # "eta" (pseudorapidity) or "y" (rapidity) for the |...| < abs_max cut.
    rapidity: str = "eta"
    # "all": every jet passing the cuts; "leading": only the event's hardest jet, if it passes.
    jets: str = "all"

    def describe(self) -> str:
        which = "hardest jet" if self.jets == "leading" else "jets"
        return (
            f"anti-kT R={self.radius:g} {which}, {self.pt_min:g} <= pT < {self.pt_max:g} GeV, "
            f"|{self.rapidity}| < {self.abs_max:g}"
        )


@dataclass(frozen=True)
class ProcessCard:
    """One process: Pythia settings, jet selection, labelling."""

    name: str
    description: str
    label: str
    label_names: tuple[str, ...]
    pythia: tuple[str, ...]
    selection: JetSelection
    # "top": a jet must contain a hadronic top (t, b, q, q' within `match_radius` of its axis);
    # "none": no truth requirement.
    matching: str = "none"
    match_radius: float = 0.8
    # If set, keep only events whose outgoing hard-process partons (other than the Z) have
    # |PDG id| in this set (e.g. light quarks for `zq`).
    outgoing_partons: tuple[int, ...] | None = None
    # Soft drop (beta, z_cut) on C/A reclustering with R0 = jet radius; N-subjettiness beta.
    soft_drop_beta: float = 0.0
    soft_drop_zcut: float = 0.1
    nsub_beta: float = 1.0

    def __post_init__(self) -> None:
        if self.label not in self.label_names:
            raise ValueError(f"label {self.label!r} is not in {self.label_names}")
        if self.matching not in ("none", "top"):
            raise ValueError(f"unknown matching {self.matching!r}")
        if self.selection.rapidity not in ("eta", "y"):
            raise ValueError("selection.rapidity must be 'eta' or 'y'")
        if self.selection.jets not in ("all", "leading"):
            raise ValueError("selection.jets must be 'all' or 'leading'")

    @property
    def label_index(self) -> int:
        return self.label_names.index(self.label)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pythia"] = list(self.pythia)
        d["label_names"] = list(self.label_names)
        if self.outgoing_partons is not None:
            d["outgoing_partons"] = list(self.outgoing_partons)
        return d


TOP_SELECTION = JetSelection(
    radius=0.8, pt_min=550.0, pt_max=650.0, abs_max=2.0, rapidity="eta", jets="leading"
)
QG_SELECTION = JetSelection(
    radius=0.4, pt_min=500.0, pt_max=550.0, abs_max=1.7, rapidity="y", jets="leading"
)

# The hard process's pTHat has a floor and no ceiling. A jet in the window often comes from a
# hard scatter well below it (ISR recoil, a second parton merged into the jet), and such QCD
# jets are heavier than the rest, so a floor just under the jet window (e.g. 500 GeV) biases
# exactly the background a top tagger must reject (measured with Pythia 8.317, no MPI: a 500
# GeV floor keeps 65 % of the QCD jets a 300 GeV floor gives, and fewer of them near m_t). At
# 400 GeV the sample keeps 87 % (QCD), 90 % (top), 93 % (Z+q), 96 % (Z+g) of the jets of a
# 300/250 GeV floor, with the jets' soft-drop mass and tau_32 means unchanged within a few %.
# A lower floor costs events: override with extra settings (e.g. "PhaseSpace:pTHatMin = 350").
PTHAT_MIN_GEV = 400.0
_PTHAT = (f"PhaseSpace:pTHatMin = {PTHAT_MIN_GEV:.1f}",)
_Z_TO_NUNU = (
    "WeakZ0:gmZmode = 2",  # Z only, no photon contribution (as EnergyFlow's sample)
    "23:onMode = off",
    "23:onIfAny = 12 14 16",
)

PROCESSES: dict[str, ProcessCard] = {
    "ttbar": ProcessCard(
        name="ttbar",
        description="pp -> t tbar, W -> q q'; jets containing a hadronic top (TopLandscape-like)",
        label="Tbqq",
        label_names=TOP_LABELS,
        pythia=(
            "Top:gg2ttbar = on",
            "Top:qqbar2ttbar = on",
            *_PTHAT,
            "24:onMode = off",
            "24:onIfAny = 1 2 3 4 5",
        ),
        selection=TOP_SELECTION,
        matching="top",
    ),
    "qcd": ProcessCard(
        name="qcd",
        description="QCD dijets (HardQCD:all); light-quark and gluon jets (TopLandscape-like)",
        label="QCD",
        label_names=TOP_LABELS,
        pythia=("HardQCD:all = on", *_PTHAT),
        selection=TOP_SELECTION,
    ),
    "zq": ProcessCard(
        name="zq",
        description="q g -> Z(-> nu nu) q, u/d/s quark jets (EnergyFlow-like)",
        label="Zq",
        label_names=QUARK_GLUON_LABELS,
        pythia=("WeakBosonAndParton:qg2gmZq = on", *_Z_TO_NUNU, *_PTHAT),
        selection=QG_SELECTION,
        outgoing_partons=(1, 2, 3),
    ),
    "zg": ProcessCard(
        name="zg",
        description="q qbar -> Z(-> nu nu) g, gluon jets (EnergyFlow-like)",
        label="Zg",
        label_names=QUARK_GLUON_LABELS,
        pythia=("WeakBosonAndParton:qqbar2gmZg = on", *_Z_TO_NUNU, *_PTHAT),
        selection=QG_SELECTION,
        outgoing_partons=(21,),
    ),
}


def get_card(process: str | ProcessCard) -> ProcessCard:
    if isinstance(process, ProcessCard):
        return process
    try:
        return PROCESSES[process]
    except KeyError:
        known = ", ".join(sorted(PROCESSES))
        raise ValueError(f"unknown process {process!r}; known: {known}") from None


def chunk_seed(seed: int, process: str, chunk: int) -> int:
    """Pythia's Random:seed for chunk `chunk` of a run with `seed` (1 .. 900 000 000).

    A hash, so chunks of one run and runs of neighbouring seeds get unrelated streams.
    """
    if seed < 0 or chunk < 0:
        raise ValueError("seed and chunk must be non-negative")
    digest = hashlib.blake2b(f"hakutaku/{process}/{seed}/{chunk}".encode(), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % (MAX_PYTHIA_SEED - 1)


@dataclass(frozen=True)
class RunOptions:
    """Switches that change the physics of a run (they are part of the chunk identity)."""

    mpi: bool = True
    extra_settings: tuple[str, ...] = field(default_factory=tuple)


def pythia_settings(card: ProcessCard, seed: int, options: RunOptions) -> list[str]:
    """The full list of strings given to Pythia's readString, in order."""
    if not 1 <= seed <= MAX_PYTHIA_SEED:
        raise ValueError(f"Pythia seed {seed} outside 1..{MAX_PYTHIA_SEED}")
    return [
        f"Beams:eCM = {ECM_GEV:.1f}",
        *card.pythia,
        f"PartonLevel:MPI = {'on' if options.mpi else 'off'}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Print:quiet = on",
        "Next:numberCount = 0",
        *options.extra_settings,
    ]
