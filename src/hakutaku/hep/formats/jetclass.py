"""JetClass ROOT files: one TTree named ``tree``, one entry per jet.

Branches and types as in the public files (``tree.show()`` of ``JetClass_example_100k.root``
in ParT's ``notebooks/JetClass101.ipynb``):

- ``part_px, part_py, part_pz, part_energy, part_deta, part_dphi, part_d0val, part_d0err,
  part_dzval, part_dzerr, part_charge``: jagged float32;
  ``part_isChargedHadron, part_isNeutralHadron, part_isPhoton, part_isElectron, part_isMuon``:
  jagged int32. Impact parameters are zeros for generator-level jets that do not carry them.
- ``label_QCD``: float32; ``label_Hbb, label_Hcc, label_Hgg, label_H4q, label_Hqql``: bool;
  ``label_Zqq, label_Wqq, label_Tbqq, label_Tbl``: int32 (the public files mix these types).
- ``jet_pt, jet_eta, jet_phi, jet_energy, jet_nparticles, jet_sdmass, jet_tau1..jet_tau4``:
  float32; ``aux_*`` (float32) are carried through when a batch has them.

Written with uproot's ``mktree``/``extend`` (a TTree, which the public loaders and weaver
read), not the RNTuple that uproot's plain assignment makes. Two differences from files that
ROOT's ``std::vector<float>`` writers make, which uproot cannot avoid and which no reader
notices: the jagged branches are ``float[npart]``-style arrays counted by an extra int32 branch
``npart`` (it does not match ``part_*``, and reads as the same ``var * float32``).

Reading returns every ``part_*`` column (float32) plus a representative ``part_pid``
(`physics.representative_pid`: JetClass stores no PDG id), every ``jet_*``/``aux_*`` column,
``jet_mass`` from (E, pT, η) of the jet, and the labels of the ``label_*`` branches present.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from hakutaku.hep.formats import _common, labels, physics
from hakutaku.hep.jets import JETCLASS_LABELS, JetBatch

TREE = "tree"
FLOAT_PARTICLE_BRANCHES = (
    "part_px",
    "part_py",
    "part_pz",
    "part_energy",
    "part_deta",
    "part_dphi",
    "part_d0val",
    "part_d0err",
    "part_dzval",
    "part_dzerr",
    "part_charge",
)
PARTICLE_BRANCHES = FLOAT_PARTICLE_BRANCHES + physics.PID_COLUMNS
LABEL_DTYPES: dict[str, np.dtype] = {
    "label_QCD": np.dtype(np.float32),
    **{f"label_{n}": np.dtype(bool) for n in ("Hbb", "Hcc", "Hgg", "H4q", "Hqql")},
    **{f"label_{n}": np.dtype(np.int32) for n in ("Zqq", "Wqq", "Tbqq", "Tbl")},
}
LABEL_BRANCHES = tuple(f"label_{n}" for n in JETCLASS_LABELS)
JET_BRANCHES = (
    "jet_pt",
    "jet_eta",
    "jet_phi",
    "jet_energy",
    "jet_nparticles",
    "jet_sdmass",
    "jet_tau1",
    "jet_tau2",
    "jet_tau3",
    "jet_tau4",
)
CHUNK = 10_000  # jets per basket


def _columns(batch: JetBatch) -> dict[str, np.ndarray]:
    """Every branch's flat (particles) or per-jet values, in the public types and order."""
    deta, dphi = _common.relative_coordinates(batch)
    derived = {
        "part_deta": deta,
        "part_dphi": dphi,
        "part_charge": _common.charges(batch),
    }
    out: dict[str, np.ndarray] = {}
    for name in FLOAT_PARTICLE_BRANCHES:
        values = derived[name] if name in derived else _common.column_or(batch, name, 0.0)
        out[name] = np.asarray(values, dtype=np.float32)
    for name, values in _common.onehots(batch).items():
        out[name] = values.astype(np.int32)
    for name, flag in labels.jetclass_columns(batch).items():
        out[name] = flag.astype(LABEL_DTYPES[name])
    for name in JET_BRANCHES:
        if name == "jet_nparticles":
            out[name] = batch.counts.astype(np.float32)
        else:
            out[name] = _common.jet_column_or(batch, name).astype(np.float32)
    for name in sorted(k for k in batch.jets if k.startswith("aux_")):
        out[name] = np.asarray(batch.jets[name], dtype=np.float32)
    return out


def write(batch: JetBatch, path: str | Path) -> None:
    columns = _columns(batch)
    branch_types: dict[str, object] = {}
    part_type = ak.types.from_datashape(
        "var * {" + ", ".join(f"{n[5:]}: {columns[n].dtype.name}" for n in PARTICLE_BRANCHES) + "}",
        highlevel=False,
    )
    branch_types["part"] = part_type
    for name, values in columns.items():
        if not name.startswith("part_"):
            branch_types[name] = values.dtype
    offsets = batch.offsets
    with uproot.recreate(path) as f:
        tree = f.mktree(TREE, branch_types)
        for start in range(0, len(batch), CHUNK):
            stop = min(start + CHUNK, len(batch))
            lo, hi = offsets[start], offsets[stop]
            counts = batch.counts[start:stop]
            part = ak.zip(
                {n[5:]: ak.unflatten(columns[n][lo:hi], counts) for n in PARTICLE_BRANCHES}
            )
            chunk = {"part": part}
            chunk.update(
                {n: v[start:stop] for n, v in columns.items() if not n.startswith("part_")}
            )
            tree.extend(chunk)


def count(path: str | Path) -> int:
    """The number of jets in the file (from the tree's header: nothing is decompressed)."""
    with uproot.open(path) as f:
        return int(f[TREE].num_entries)


def read(path: str | Path, start: int | None = None, stop: int | None = None) -> JetBatch:
    """The jets ``start:stop`` of the file (all by default)."""
    with uproot.open(path) as f:
        tree = f[TREE]
        arrays = tree.arrays(_wanted(tree), entry_start=start, entry_stop=stop)
    return _batch(arrays, path)


def iterate(
    path: str | Path,
    spans: Sequence[tuple[int, int]],
    step: int,
    columns: Collection[str] | None = None,
) -> Iterator[JetBatch]:
    """The jets of each (start, stop) span in turn, in pieces of at most `step`, the file
    opened once. `columns`: read only the branches those columns need (labels always)."""
    with uproot.open(path) as f:
        tree = f[TREE]
        wanted = _wanted(tree, columns)
        for start, stop in spans:
            if stop <= start:
                continue
            for arrays in tree.iterate(
                wanted, entry_start=start, entry_stop=stop, step_size=max(int(step), 1)
            ):
                yield _batch(arrays, path)


def read_labels(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """(labels, label names) of every jet, reading the ``label_*`` branches only."""
    with uproot.open(path) as f:
        tree = f[TREE]
        names = set(tree.keys())
        arrays = tree.arrays([n for n in LABEL_BRANCHES if n in names])
    return _labels(arrays, path)


def _wanted(tree: uproot.TTree, columns: Collection[str] | None = None) -> list[str]:
    names: list[str] = tree.keys()
    keep = [n for n in names if n.startswith(("part_", "jet_", "aux_")) or n in LABEL_BRANCHES]
    if columns is None:
        return keep
    need = set(columns) | set(LABEL_BRANCHES) | {"part_energy"}  # part_energy gives the counts
    if "part_pid" in need:  # JetClass stores PID one-hots and charges, not PDG ids
        need |= {*physics.PID_COLUMNS, "part_charge"}
    if "jet_mass" in need:
        need |= {"jet_pt", "jet_eta", "jet_energy"}
    return [n for n in keep if n in need]


def _labels(arrays: ak.Array, path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    present = [n for n in JETCLASS_LABELS if f"label_{n}" in arrays.fields]
    if not present:
        raise ValueError(f"{path}: no label_* branches")
    onehot = np.stack([ak.to_numpy(arrays[f"label_{n}"]).astype(np.float64) for n in present], 1)
    per_jet = onehot.sum(axis=1)
    if len(onehot) and not np.all(per_jet == 1):
        bad = int(np.flatnonzero(per_jet != 1)[0])
        raise ValueError(f"{path}: jet {bad} has {per_jet[bad]:g} labels set, not exactly one")
    label = np.argmax(onehot, axis=1) if len(onehot) else np.zeros(0, np.int64)
    return label.astype(np.int64), tuple(present)


def _batch(arrays: ak.Array, path: str | Path) -> JetBatch:
    counts = ak.to_numpy(ak.num(arrays["part_energy"])).astype(np.int64)
    particles = {
        n: ak.to_numpy(ak.flatten(arrays[n]))
        for n in sorted(arrays.fields)
        if n.startswith("part_")
    }
    jets = {
        n: ak.to_numpy(arrays[n]) for n in sorted(arrays.fields) if n.startswith(("jet_", "aux_"))
    }
    if "jet_nparticles" in jets:
        jets["jet_nparticles"] = np.rint(jets["jet_nparticles"]).astype(np.int64)
    if all(n in jets for n in ("jet_pt", "jet_eta", "jet_energy")):
        p = jets["jet_pt"].astype(np.float64) * np.cosh(jets["jet_eta"].astype(np.float64))
        mass2 = jets["jet_energy"].astype(np.float64) ** 2 - p**2
        jets["jet_mass"] = np.sqrt(np.maximum(mass2, 0.0)).astype(np.float32)
    if "part_pid" not in particles and all(c in particles for c in physics.PID_COLUMNS):
        particles["part_pid"] = physics.representative_pid(particles, particles["part_charge"])
    label, present = _labels(arrays, path)
    return JetBatch(
        jets=_common.complete_jets(jets, len(counts)),
        particles=particles,
        counts=counts,
        labels=label,
        label_names=present,
        meta={"format": "jetclass", "source": str(path)},
    )
