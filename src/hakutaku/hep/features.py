"""Network inputs from jets, exactly as the Particle Transformer data configs define them.

    from hakutaku.hep.features import build_inputs
    x = build_inputs(batch, "kin")      # {"pf_points", "pf_features", "pf_vectors", "pf_mask"}
    x["pf_features"].shape              # (n_jets, 7, 128) float32, channels first

The named configs reproduce the data configs of jet-universe/particle_transformer (``data/``)
as weaver-core applies them (``weaver/utils/dataset.py: _finalize_inputs``):

===================  ======================================  ================================
name (alias)         source config                           pf_features channels
===================  ======================================  ================================
jetclass_kin (kin)   data/JetClass/JetClass_kin.yaml         7: kinematics
jetclass_kinpid      data/JetClass/JetClass_kinpid.yaml      13: + charge, 5 PID one-hots
(kinpid)
jetclass_full        data/JetClass/JetClass_full.yaml        17: + d0, d0err, dz, dzerr
(full)
top_kin              data/TopLandscape/top_kin.yaml          7 (as jetclass_kin)
qg_kin               data/QuarkGluon/qg_kin.yaml             7 (as jetclass_kin)
qg_kinpid            data/QuarkGluon/qg_kinpid.yaml          13 (as jetclass_kinpid)
qg_kinpidplus        data/QuarkGluon/qg_kinpidplus.yaml      13 (weighted hadron flags)
===================  ======================================  ================================

Variables (``new_variables`` of the configs; every one is computed in float32 from float32
columns, as weaver computes them from the float32 files):

- ``part_pt = hypot(part_px, part_py)``
- ``part_pt_log = log(part_pt)``, ``part_e_log = log(part_energy)``
- ``part_logptrel = log(part_pt / jet_pt)``, ``part_logerel = log(part_energy / jet_energy)``
- ``part_deltaR = hypot(part_deta, part_dphi)``
- ``part_d0 = tanh(part_d0val)``, ``part_dz = tanh(part_dzval)`` (full)
- ``part_isCHad = [|pid|=211] + 0.5·[|pid|=321] + 0.2·[|pid|=2212]``,
  ``part_isNHad = [|pid|=130] + 0.2·[|pid|=2112]`` (qg_kinpidplus)
- ``part_mask = 1`` for every constituent
- ``part_deta``, ``part_dphi``: the batch's own columns when it has them (the files store
  them), else computed to the jet axis: ``(η − η_jet)·sign(η_jet)`` and ``φ − φ_jet`` wrapped
  into [−π, π) (see `hakutaku.hep.formats.physics`).
- ``part_charge`` and the one-hots ``part_isChargedHadron, part_isNeutralHadron,
  part_isPhoton, part_isElectron, part_isMuon``: the batch's own when present (JetClass, the
  QG parquet), else from PDG id and charge (`physics.pid_onehots`).
- ``part_d0val, part_d0err, part_dzval, part_dzerr``: the batch's own, else 0 (generator-level).

Preprocessing (``preprocess: method: manual``), per variable ``[name, center, scale, min, max,
pad_value]`` with defaults scale 1, min −5, max 5, pad_value 0: when center is not null,
``x → clip((x − center)·scale, min, max)``; null means the value as is. The shifts are:

==================  =====================  =================================================
variable            center, scale          clip
==================  =====================  =================================================
part_pt_log         1.7, 0.7               [−5, 5]
part_e_log          2.0, 0.7               [−5, 5]
part_logptrel       −4.7, 0.7              [−5, 5]
part_logerel        −4.7, 0.7              [−5, 5]
part_deltaR         0.2, 4.0               [−5, 5]
part_d0err          0, 1                   [0, 1]
part_dzerr          0, 1                   [0, 1]
others              null (unchanged)       none
==================  =====================  =================================================

NaN becomes 0 afterwards (weaver's kernels do this). Each input keeps the first ``length``
(128) constituents; shorter jets are padded with ``pad_mode: wrap`` for pf_points,
pf_features and pf_vectors — the jet's own constituents repeated cyclically, which weaver does
and the networks ignore through pf_mask — and with ``pad_mode: constant`` (zeros) for pf_mask.
Pass ``pad_mode="constant"`` to pad every input with zeros instead (as ParT's
``dataloader.py``/notebook do). Jets without constituents give all-zero rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hakutaku.hep.formats import _common, physics
from hakutaku.hep.jets import JETCLASS_LABELS, JetBatch

INPUT_NAMES = ("pf_points", "pf_features", "pf_vectors", "pf_mask")


@dataclass(frozen=True)
class Var:
    """One input variable with weaver's manual preprocessing parameters."""

    name: str
    center: float | None = None
    scale: float = 1.0
    min: float = -5.0
    max: float = 5.0
    pad_value: float = 0.0


@dataclass(frozen=True)
class Input:
    vars: tuple[Var, ...]
    pad_mode: str = "wrap"  # "wrap" or "constant"


@dataclass(frozen=True)
class FeatureConfig:
    """A data config: named inputs of variables, the padded length, the class order."""

    name: str
    inputs: Mapping[str, Input]
    length: int = 128
    label_names: tuple[str, ...] = ()
    source: str = ""

    @property
    def n_features(self) -> int:
        return len(self.inputs["pf_features"].vars)

    @classmethod
    def from_yaml(cls, path: str | Path, name: str | None = None) -> FeatureConfig:
        """Read the ``inputs`` (and ``labels``) of a weaver data config YAML.

        Only ``preprocess: method: manual`` and the variables this module knows (`VARIABLES`)
        are supported; ``new_variables`` expressions are not evaluated but must define those
        names as the ParT configs do.
        """
        import yaml

        path = Path(path)
        doc = yaml.safe_load(path.read_text())
        method = str((doc.get("preprocess") or {}).get("method", "manual")).lower()
        if method.startswith("auto"):
            raise ValueError(f"{path}: automatic standardisation is not supported")
        inputs: dict[str, Input] = {}
        lengths = set()
        for key, spec in doc["inputs"].items():
            variables = []
            for v in spec["vars"]:
                v = [v] if isinstance(v, str) else list(v)
                defaults = [None, None, 1.0, -5.0, 5.0, 0.0]
                v = v + defaults[len(v) :]
                if v[0] not in VARIABLES:
                    raise ValueError(f"{path}: unknown variable {v[0]!r}")
                variables.append(Var(v[0], v[1], *(float(x) for x in v[2:6])))
            inputs[key] = Input(tuple(variables), str(spec.get("pad_mode", "constant")).lower())
            lengths.add(int(spec["length"]))
        if len(lengths) != 1:
            raise ValueError(f"{path}: inputs of different lengths {sorted(lengths)}")
        values = (doc.get("labels") or {}).get("value") or []
        label_names = tuple(str(v).removeprefix("label_") for v in values)
        return cls(name or path.stem, inputs, lengths.pop(), label_names, str(path))


# ------------------------------------------------------------------------------- variables


class _Columns:
    """Flat float32 constituent variables of a batch, computed on demand and cached."""

    def __init__(self, batch: JetBatch) -> None:
        self.batch = batch
        self.cache: dict[str, np.ndarray] = {}
        self._onehots: dict[str, np.ndarray] | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.cache:
            if name not in VARIABLES:
                raise KeyError(f"unknown variable {name!r}; known: {', '.join(sorted(VARIABLES))}")
            values = np.asarray(VARIABLES[name](self), dtype=np.float32)
            self.cache[name] = values
        return self.cache[name]

    def raw(self, name: str, fill: float = 0.0) -> np.ndarray:
        return _common.column_or(self.batch, name, fill).astype(np.float32)

    def per_jet(self, name: str) -> np.ndarray:
        values = np.asarray(self.batch.jets[name], dtype=np.float32)
        return np.repeat(values, self.batch.counts)

    def relative(self) -> tuple[np.ndarray, np.ndarray]:
        if "_rel" not in self.cache:
            deta, dphi = _common.relative_coordinates(self.batch)
            self.cache["_rel"] = np.stack([deta, dphi]).astype(np.float32)
        return self.cache["_rel"][0], self.cache["_rel"][1]

    def onehot(self, name: str) -> np.ndarray:
        if self._onehots is None:
            self._require_pid()
            self._onehots = _common.onehots(self.batch)
        return self._onehots[name]

    def pid(self) -> np.ndarray:
        if "part_pid" not in self.batch.particles:
            raise ValueError("this variable needs part_pid")
        return np.abs(np.asarray(self.batch.particles["part_pid"], dtype=np.int64))

    def charge(self) -> np.ndarray:
        self._require_pid()
        return _common.charges(self.batch)

    def _require_pid(self) -> None:
        if not _common.has_pid(self.batch):
            raise ValueError(
                "this batch has no particle identification (e.g. TopLandscape stores none): "
                "use a 'kin' config"
            )


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x)


def _onehot_of(name: str) -> Callable[[_Columns], np.ndarray]:
    return lambda c: c.onehot(name)


VARIABLES: dict[str, Callable[[_Columns], np.ndarray]] = {
    "part_px": lambda c: c.raw("part_px"),
    "part_py": lambda c: c.raw("part_py"),
    "part_pz": lambda c: c.raw("part_pz"),
    "part_energy": lambda c: c.raw("part_energy"),
    "part_mask": lambda c: np.ones(int(c.batch.counts.sum()), dtype=np.float32),
    "part_deta": lambda c: c.relative()[0],
    "part_dphi": lambda c: c.relative()[1],
    "part_pt": lambda c: np.hypot(c["part_px"], c["part_py"]),
    "part_pt_log": lambda c: _log(c["part_pt"]),
    "part_e_log": lambda c: _log(c["part_energy"]),
    "part_logptrel": lambda c: _log(c["part_pt"] / c.per_jet("jet_pt")),
    "part_logerel": lambda c: _log(c["part_energy"] / c.per_jet("jet_energy")),
    "part_deltaR": lambda c: np.hypot(c["part_deta"], c["part_dphi"]),
    "part_charge": lambda c: c.charge(),
    **{name: _onehot_of(name) for name in physics.PID_COLUMNS},
    "part_d0val": lambda c: c.raw("part_d0val"),
    "part_d0err": lambda c: c.raw("part_d0err"),
    "part_dzval": lambda c: c.raw("part_dzval"),
    "part_dzerr": lambda c: c.raw("part_dzerr"),
    "part_d0": lambda c: np.tanh(c["part_d0val"]),
    "part_dz": lambda c: np.tanh(c["part_dzval"]),
    "part_isCHad": lambda c: (c.pid() == 211) + (c.pid() == 321) * 0.5 + (c.pid() == 2212) * 0.2,
    "part_isNHad": lambda c: (c.pid() == 130) + (c.pid() == 2112) * 0.2,
}


# The file columns each variable reads (directly, or through the fallbacks `_Columns` uses:
# Δη/Δφ from the momenta and the jet axis, charges and one-hots from PDG ids): what a
# streaming reader needs to read for a config (`columns_needed`).
_MOMENTUM = ("part_px", "part_py", "part_pz")
_RELATIVE = ("part_deta", "part_dphi", *_MOMENTUM, "jet_eta", "jet_phi")
_IDENTITY = ("part_pid", "part_charge", *physics.PID_COLUMNS)
VARIABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "part_px": ("part_px",),
    "part_py": ("part_py",),
    "part_pz": ("part_pz",),
    "part_energy": ("part_energy",),
    "part_mask": (),
    "part_deta": _RELATIVE,
    "part_dphi": _RELATIVE,
    "part_pt": _MOMENTUM,
    "part_pt_log": _MOMENTUM,
    "part_e_log": ("part_energy",),
    "part_logptrel": (*_MOMENTUM, "jet_pt"),
    "part_logerel": ("part_energy", "jet_energy"),
    "part_deltaR": _RELATIVE,
    "part_charge": _IDENTITY,
    **{name: _IDENTITY for name in physics.PID_COLUMNS},
    "part_d0val": ("part_d0val",),
    "part_d0err": ("part_d0err",),
    "part_dzval": ("part_dzval",),
    "part_dzerr": ("part_dzerr",),
    "part_d0": ("part_d0val",),
    "part_dz": ("part_dzval",),
    "part_isCHad": _IDENTITY,
    "part_isNHad": _IDENTITY,
}


def columns_needed(config: str | FeatureConfig) -> frozenset[str] | None:
    """The jet and constituent columns `build_inputs` reads for `config` (None: a variable
    whose columns are not known here, so read everything)."""
    names = {var.name for spec in get_config(config).inputs.values() for var in spec.vars}
    if any(name not in VARIABLE_COLUMNS for name in names):
        return None
    return frozenset(column for name in names for column in VARIABLE_COLUMNS[name])


# ------------------------------------------------------------------------------- configs


def _inputs(features: list[Var]) -> dict[str, Input]:
    return {
        "pf_points": Input((Var("part_deta"), Var("part_dphi"))),
        "pf_features": Input(tuple(features)),
        "pf_vectors": Input(
            tuple(Var(n) for n in ("part_px", "part_py", "part_pz", "part_energy"))
        ),
        "pf_mask": Input((Var("part_mask"),), pad_mode="constant"),
    }


_KIN = [
    Var("part_pt_log", 1.7, 0.7),
    Var("part_e_log", 2.0, 0.7),
    Var("part_logptrel", -4.7, 0.7),
    Var("part_logerel", -4.7, 0.7),
    Var("part_deltaR", 0.2, 4.0),
]
_PID = [Var(n) for n in ("part_charge", *physics.PID_COLUMNS)]
_PIDPLUS = [Var(n) for n in ("part_charge", "part_isCHad", "part_isNHad")] + [
    Var(n) for n in ("part_isPhoton", "part_isElectron", "part_isMuon")
]
_IP = [
    Var("part_d0"),
    Var("part_d0err", 0.0, 1.0, 0.0, 1.0),
    Var("part_dz"),
    Var("part_dzerr", 0.0, 1.0, 0.0, 1.0),
]
_REL = [Var("part_deta"), Var("part_dphi")]
_TOP = ("Tbqq", "QCD")
_QG = ("Zq", "Zg")
_PT = "jet-universe/particle_transformer "

CONFIGS: dict[str, FeatureConfig] = {
    c.name: c
    for c in (
        FeatureConfig(
            "jetclass_kin",
            _inputs(_KIN + _REL),
            label_names=JETCLASS_LABELS,
            source=_PT + "data/JetClass/JetClass_kin.yaml",
        ),
        FeatureConfig(
            "jetclass_kinpid",
            _inputs(_KIN + _PID + _REL),
            label_names=JETCLASS_LABELS,
            source=_PT + "data/JetClass/JetClass_kinpid.yaml",
        ),
        FeatureConfig(
            "jetclass_full",
            _inputs(_KIN + _PID + _IP + _REL),
            label_names=JETCLASS_LABELS,
            source=_PT + "data/JetClass/JetClass_full.yaml",
        ),
        FeatureConfig(
            "top_kin",
            _inputs(_KIN + _REL),
            label_names=_TOP,
            source=_PT + "data/TopLandscape/top_kin.yaml",
        ),
        FeatureConfig(
            "qg_kin",
            _inputs(_KIN + _REL),
            label_names=_QG,
            source=_PT + "data/QuarkGluon/qg_kin.yaml",
        ),
        FeatureConfig(
            "qg_kinpid",
            _inputs(_KIN + _PID + _REL),
            label_names=_QG,
            source=_PT + "data/QuarkGluon/qg_kinpid.yaml",
        ),
        FeatureConfig(
            "qg_kinpidplus",
            _inputs(_KIN + _PIDPLUS + _REL),
            label_names=_QG,
            source=_PT + "data/QuarkGluon/qg_kinpidplus.yaml",
        ),
    )
}
ALIASES = {"kin": "jetclass_kin", "kinpid": "jetclass_kinpid", "full": "jetclass_full"}


def get_config(config: str | FeatureConfig) -> FeatureConfig:
    """A named config (or its alias), a YAML data config path, or a FeatureConfig as is."""
    if isinstance(config, FeatureConfig):
        return config
    name = ALIASES.get(config, config)
    if name in CONFIGS:
        return CONFIGS[name]
    if str(config).endswith((".yaml", ".yml")) and Path(config).exists():
        return FeatureConfig.from_yaml(config)
    known = ", ".join([*CONFIGS, *ALIASES])
    raise ValueError(f"unknown feature config {config!r}; known: {known}")


def n_features(config: str | FeatureConfig) -> int:
    """Number of pf_features channels of a config (7 kin, 13 kinpid, 17 full)."""
    return get_config(config).n_features


# ------------------------------------------------------------------------------- building


def _preprocess(values: np.ndarray, var: Var) -> np.ndarray:
    if var.center is not None:
        shifted = (values - np.float32(var.center)) * np.float32(var.scale)
        values = np.clip(shifted, np.float32(var.min), np.float32(var.max))
    return np.where(np.isnan(values), np.float32(0), values).astype(np.float32)


def _gather_index(counts: np.ndarray, length: int, pad_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(n_jets, length) flat indices into the constituents, and where they are valid."""
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    position = np.arange(length, dtype=np.int64)[None, :]
    if pad_mode == "wrap":
        index = offsets[:, None] + position % np.maximum(counts, 1)[:, None]
        valid = np.broadcast_to(counts[:, None] > 0, index.shape)
    elif pad_mode == "constant":
        index = offsets[:, None] + position
        valid = position < counts[:, None]
    else:
        raise ValueError(f"pad_mode must be 'wrap' or 'constant', not {pad_mode!r}")
    return np.where(valid, index, 0), valid


def build_inputs(
    batch: JetBatch,
    config: str | FeatureConfig = "kin",
    length: int | None = None,
    pad_mode: str | None = None,
) -> dict[str, np.ndarray]:
    """The network inputs of `config` for `batch`: {name: (n_jets, channels, length) float32}.

    `length` defaults to the config's (128); `pad_mode` ("wrap" or "constant") overrides the
    config's padding of the non-mask inputs.
    """
    cfg = get_config(config)
    length = cfg.length if length is None else int(length)
    counts = np.asarray(batch.counts, dtype=np.int64)
    columns = _Columns(batch)
    out: dict[str, np.ndarray] = {}
    for key, spec in cfg.inputs.items():
        mode = spec.pad_mode if pad_mode is None or key.endswith("_mask") else pad_mode
        index, valid = _gather_index(counts, length, mode)
        result = np.empty((len(counts), len(spec.vars), length), dtype=np.float32)
        for channel, var in enumerate(spec.vars):
            values = _preprocess(columns[var.name], var)
            if not len(values):
                result[:, channel] = np.float32(var.pad_value if mode == "constant" else 0)
                continue
            padded = values[index]
            fill = np.float32(var.pad_value if mode == "constant" else 0)
            result[:, channel] = np.where(valid, padded, fill)
        out[key] = result
    return out
