"""How `JetBatch.label_names` map onto each format's label columns.

==========================  ===============================  =================================
format                      label names accepted (writing)   names returned (reading), order
==========================  ===============================  =================================
JetClass ROOT               the 10 JetClass classes: QCD,    the `label_*` branches present,
                            Hbb, Hcc, Hgg, H4q, Hqql, Zqq,   in JetClass order (all 10 in the
                            Wqq, Tbqq, Tbl → `label_<name>`  public files)
TopLandscape h5 / parquet   "Tbqq" → 1, "QCD" → 0            ("Tbqq", "QCD"): the order of
                            (`is_signal_new` / `label`)      `top_kin.yaml`'s [jet_isTop,
                                                             jet_isQCD]
QuarkGluon npz / parquet    quark: "Zq" (or "q", "quark")    ("Zq", "Zg"): the order of
                            → 1; gluon: "Zg" (or "g",        `qg_kin.yaml`'s [jet_isQ,
                            "gluon") → 0 (`y` / `label`)     jet_isG]; EnergyFlow: quark = 1
==========================  ===============================  =================================

A batch whose labels have no column in a format is refused with a ValueError that says which
formats can hold it (e.g. quark/gluon jets cannot be written as JetClass, which has no gluon
class). `relabel` maps a batch read from any format onto the label names a caller wants.
"""

from __future__ import annotations

import numpy as np

from hakutaku.hep.jets import JETCLASS_LABELS, JetBatch

TOP_LABELS = ("Tbqq", "QCD")
QG_LABELS = ("Zq", "Zg")
QUARK_NAMES = frozenset({"Zq", "q", "quark"})
GLUON_NAMES = frozenset({"Zg", "g", "gluon"})
TOP_NAMES = frozenset({"Tbqq"})
QCD_NAMES = frozenset({"QCD"})


def _present(batch: JetBatch) -> list[str]:
    return [batch.label_names[i] for i in np.unique(batch.labels)]


def jetclass_columns(batch: JetBatch) -> dict[str, np.ndarray]:
    """{"label_QCD": 0/1 array, ...} for all 10 JetClass classes."""
    unknown = [n for n in _present(batch) if n not in JETCLASS_LABELS]
    if unknown:
        raise ValueError(
            f"labels {unknown} have no JetClass column (JetClass classes: "
            f"{', '.join(JETCLASS_LABELS)}); write quark/gluon jets as npz or parquet"
        )
    names = np.array(batch.label_names, dtype=object)[batch.labels]
    return {f"label_{n}": (names == n) for n in JETCLASS_LABELS}


def binary_flag(
    batch: JetBatch, signal: frozenset[str], background: frozenset[str], what: str
) -> np.ndarray:
    """1 for jets labelled with a `signal` name, 0 for `background` names; others refused."""
    unknown = [n for n in _present(batch) if n not in signal | background]
    if unknown:
        raise ValueError(
            f"labels {unknown} cannot be stored in the {what} layout, which holds only "
            f"{sorted(signal)} (1) and {sorted(background)} (0)"
        )
    names = np.array(batch.label_names, dtype=object)[batch.labels]
    return np.isin(names, list(signal))


def top_flag(batch: JetBatch) -> np.ndarray:
    return binary_flag(batch, TOP_NAMES, QCD_NAMES, "TopLandscape")


def quark_flag(batch: JetBatch) -> np.ndarray:
    return binary_flag(batch, QUARK_NAMES, GLUON_NAMES, "QuarkGluon")


def _fits(batch: JetBatch, names: frozenset[str]) -> bool:
    """The batch's label set fits `names` (or, failing that, the labels its jets carry)."""
    return set(batch.label_names) <= names or (len(batch) > 0 and set(_present(batch)) <= names)


def is_top_batch(batch: JetBatch) -> bool:
    return _fits(batch, TOP_NAMES | QCD_NAMES)


def is_qg_batch(batch: JetBatch) -> bool:
    return _fits(batch, QUARK_NAMES | GLUON_NAMES)


def from_flag(flag: np.ndarray, names: tuple[str, str]) -> tuple[np.ndarray, tuple[str, str]]:
    """Labels into `names` = (signal, background) from a 1/0 flag."""
    flag = np.asarray(flag)
    if flag.size and not np.isin(flag, (0, 1)).all():
        raise ValueError("label flags must be 0 or 1")
    return np.where(flag == 1, 0, 1).astype(np.int64), names


def relabel(batch: JetBatch, label_names: tuple[str, ...] | list[str]) -> JetBatch:
    """The same jets with `label_names` as the label set (jets of other classes refused)."""
    label_names = tuple(label_names)
    missing = [n for n in _present(batch) if n not in label_names]
    if missing:
        raise ValueError(f"jets labelled {missing} are not in label_names {label_names}")
    lookup = np.array([label_names.index(n) if n in label_names else -1 for n in batch.label_names])
    return JetBatch(
        jets=batch.jets,
        particles=batch.particles,
        counts=batch.counts,
        labels=lookup[batch.labels] if len(batch) else batch.labels,
        label_names=label_names,
        meta=dict(batch.meta),
    )
