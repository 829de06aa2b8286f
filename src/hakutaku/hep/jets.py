"""`JetBatch`: jets and their constituents in memory, the currency between the hep layers.

Generation produces it, format writers store it, readers return it, feature builders consume
it. Jet-level values are 1-D arrays of length n_jets; constituents are flat arrays with
`counts` (constituents per jet), in the order each jet's constituents were stored (by
convention: decreasing pT).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

# Jet-level columns every batch has (units: GeV, radians).
JET_COLUMNS = (
    "jet_pt",
    "jet_eta",
    "jet_phi",
    "jet_energy",
    "jet_mass",
    "jet_sdmass",
    "jet_tau1",
    "jet_tau2",
    "jet_tau3",
    "jet_tau4",
    "jet_nparticles",
)
# Constituent columns every batch has; optional ones (e.g. track impact parameters of
# detector-level data) may be added by readers.
PARTICLE_COLUMNS = ("part_px", "part_py", "part_pz", "part_energy", "part_pid", "part_charge")

# Class names in JetClass's order, then the ones used by the other datasets.
JETCLASS_LABELS = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")


@dataclass
class JetBatch:
    """A batch of jets: jet columns, flat constituent columns with `counts`, integer labels.

    `labels[i]` indexes `label_names`. `meta` carries provenance (generator, settings, seed).
    """

    jets: dict[str, np.ndarray]
    particles: dict[str, np.ndarray]
    counts: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.counts)
        for name, values in self.jets.items():
            if len(values) != n:
                raise ValueError(f"jet column {name!r} has {len(values)} rows for {n} jets")
        total = int(self.counts.sum())
        for name, values in self.particles.items():
            if len(values) != total:
                raise ValueError(
                    f"particle column {name!r} has {len(values)} entries for {total} constituents"
                )
        if len(self.labels) != n:
            raise ValueError(f"{len(self.labels)} labels for {n} jets")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.label_names)):
            raise ValueError("labels must index label_names")

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts)])

    def jet_particles(self, i: int) -> dict[str, np.ndarray]:
        start, stop = self.offsets[i], self.offsets[i + 1]
        return {k: v[start:stop] for k, v in self.particles.items()}

    def padded(self, column: str, length: int, fill: float = 0.0) -> np.ndarray:
        """A constituent column as (n_jets, length), truncated or padded with `fill`."""
        values = self.particles[column]
        out = np.full((len(self), length), fill, dtype=np.result_type(values.dtype, np.float32))
        position = np.arange(len(values)) - np.repeat(self.offsets[:-1], self.counts)
        keep = position < length
        rows = np.repeat(np.arange(len(self)), self.counts)
        out[rows[keep], position[keep]] = values[keep]
        return out

    def mask(self, length: int) -> np.ndarray:
        """(n_jets, length) booleans: True where a real constituent is."""
        return np.arange(length)[None, :] < self.counts[:, None]

    def select(self, which: np.ndarray) -> JetBatch:
        """The jets where `which` (a boolean mask or an index array) selects."""
        index = np.flatnonzero(which) if np.asarray(which).dtype == bool else np.asarray(which)
        index = index.astype(np.int64, copy=False)
        starts, counts = self.offsets[:-1][index], self.counts[index]
        # Every selected jet's constituents, in one vectorised gather: constituent j of the
        # k-th selected jet sits at starts[k] + j.
        first = np.cumsum(counts) - counts
        flat = np.repeat(starts - first, counts) + np.arange(int(counts.sum()), dtype=np.int64)
        return JetBatch(
            jets={k: v[index] for k, v in self.jets.items()},
            particles={k: v[flat] for k, v in self.particles.items()},
            counts=counts,
            labels=self.labels[index],
            label_names=self.label_names,
            meta=dict(self.meta),
        )

    def one_hot(self) -> np.ndarray:
        return np.eye(len(self.label_names), dtype=np.float32)[self.labels]

    @classmethod
    def concat(cls, batches: Iterable[JetBatch]) -> JetBatch:
        """Join batches; their label sets are merged (labels re-indexed)."""
        batches = list(batches)
        if not batches:
            raise ValueError("nothing to concatenate")
        names: list[str] = []
        for b in batches:
            names += [n for n in b.label_names if n not in names]
        relabelled = [
            np.array([names.index(n) for n in b.label_names], dtype=np.int64)[b.labels]
            if len(b.label_names)
            else b.labels
            for b in batches
        ]
        common_jets = set.intersection(*(set(b.jets) for b in batches))
        common_parts = set.intersection(*(set(b.particles) for b in batches))
        return cls(
            jets={k: np.concatenate([b.jets[k] for b in batches]) for k in sorted(common_jets)},
            particles={
                k: np.concatenate([b.particles[k] for b in batches]) for k in sorted(common_parts)
            },
            counts=np.concatenate([b.counts for b in batches]),
            labels=np.concatenate(relabelled) if relabelled else np.zeros(0, np.int64),
            label_names=tuple(names),
            meta=dict(batches[0].meta),
        )


def from_padded(
    jets: Mapping[str, np.ndarray],
    particles: Mapping[str, np.ndarray],
    mask: np.ndarray,
    labels: np.ndarray,
    label_names: tuple[str, ...],
) -> JetBatch:
    """Build a batch from (n_jets, n_max) padded constituent arrays and a validity mask."""
    mask = np.asarray(mask, dtype=bool)
    return JetBatch(
        jets=dict(jets),
        particles={k: np.asarray(v)[mask] for k, v in particles.items()},
        counts=mask.sum(axis=1),
        labels=labels,
        label_names=label_names,
    )


def from_four_vectors(
    p4: np.ndarray,
    mask: np.ndarray | None = None,
    pid: np.ndarray | None = None,
    charge: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    label_names: tuple[str, ...] = ("unknown",),
) -> JetBatch:
    """A batch from zero-padded constituents (n_jets, n_max, 4) as (px, py, pz, E).

    The jet four-momentum is the sum of its constituents; quantities only a clustering
    history gives (soft-drop mass, N-subjettiness) are left at zero.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    if p4.ndim != 3 or p4.shape[-1] != 4:
        raise ValueError(
            f"expected constituents of shape (n_jets, n_particles, 4) as (px, py, pz, E), "
            f"got {p4.shape}"
        )
    if mask is None:
        mask = np.abs(p4).sum(axis=-1) > 0  # zero rows are padding
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != p4.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match constituents {p4.shape[:2]}")
    n_jets, n_max = mask.shape
    particles = {
        "part_px": p4[..., 0],
        "part_py": p4[..., 1],
        "part_pz": p4[..., 2],
        "part_energy": p4[..., 3],
        "part_pid": np.zeros((n_jets, n_max), np.int64) if pid is None else np.asarray(pid),
        "part_charge": np.zeros((n_jets, n_max)) if charge is None else np.asarray(charge),
    }
    jet = (p4 * mask[..., None]).sum(axis=1)
    px, py, pz, energy = jet.T
    pt = np.hypot(px, py)
    # A jet with no transverse momentum (all padding) gets eta 0, not a division by zero.
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    jets = {
        "jet_pt": pt,
        "jet_eta": eta,
        "jet_phi": np.arctan2(py, px),
        "jet_energy": energy,
        "jet_mass": np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0)),
        "jet_sdmass": np.zeros(n_jets),
        **{f"jet_tau{i}": np.zeros(n_jets) for i in range(1, 5)},
        "jet_nparticles": mask.sum(axis=1).astype(np.float64),
    }
    return from_padded(
        jets,
        particles,
        mask,
        np.zeros(n_jets, np.int64) if labels is None else np.asarray(labels),
        label_names,
    )
