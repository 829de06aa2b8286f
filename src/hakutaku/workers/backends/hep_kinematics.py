"""Four-momentum kinematics as a served model: the non-LLM demo that `hai up` starts.

All methods are vectorised numpy over batches. Conventions:

- A four-momentum is `(E, px, py, pz)` in the last axis (natural units, c = 1; any energy unit,
  results come back in the same unit). Arrays arrive as numpy arrays (msgpack) or nested lists
  (JSON); everything is computed in float64.
- Jets/events are `(n_jets, n_particles, 4)`; padding rows are all zero (as in JetClass) or are
  marked with an explicit boolean `mask` of shape `(n_jets, n_particles)`.
- Masses are `sqrt(max(E² − |p|², 0))`: tiny negative m² from rounding gives 0, not NaN.
- φ is in (−π, π]; η and φ of a vector with pT = 0 are reported as 0.

Host it with `hai worker hakutaku.workers.backends.hep_kinematics:HepKinematics` (no config),
then call it with an API key, e.g. the mass of a Z at rest and of a massless particle:

    curl -s http://127.0.0.1:8000/v1/models/hep-kinematics/invariant_mass \\
      -H "Authorization: Bearer $HAI_API_KEY" -H "Content-Type: application/json" \\
      -d '{"p4": [[91.1876, 0, 0, 0], [50, 30, 0, 40]]}'
    # → [91.1876, 0.0]

and the jet mass of two back-to-back 45.6 GeV particles (combine=true sums along particles):

    curl -s http://127.0.0.1:8000/v1/models/hep-kinematics/invariant_mass \\
      -H "Authorization: Bearer $HAI_API_KEY" -H "Content-Type: application/json" \\
      -d '{"p4": [[[45.6, 45.6, 0, 0], [45.6, -45.6, 0, 0]]], "combine": true}'
    # → [91.2]

`scan_mass` is a generator, so the gateway streams its chunks (NDJSON, msgpack or SSE).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from hakutaku.workers.remote import RemoteModel, remote

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_FOUR_VECTOR = "(E, px, py, pz)"


def _as_float_array(value: Any, what: str, shape_text: str) -> FloatArray:
    """Read a JSON list or numpy array as float64, with an error that says what was expected."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{what}: expected a numeric array of shape {shape_text}; could not read it as one "
            f"({exc}). Send a rectangular list of numbers or a numpy array."
        ) from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: contains NaN or infinite values; send finite numbers only.")
    return arr


def _four_vectors(value: Any, what: str = "p4", *, min_ndim: int = 1) -> FloatArray:
    """Validate an array of four-vectors with at least `min_ndim` dimensions."""
    shape_text = "(..., 4)" if min_ndim == 1 else "(..., n_particles, 4)"
    arr = _as_float_array(value, what, shape_text)
    if arr.ndim < min_ndim or arr.shape[-1] != 4:
        raise ValueError(
            f"{what}: expected an array of shape {shape_text} with {_FOUR_VECTOR}, "
            f"got {tuple(arr.shape)}"
        )
    return arr


def _particle_mask(mask: Any, particles: FloatArray) -> BoolArray:
    """The explicit mask, or — when none is given — "any component non-zero" (zero padding)."""
    shape = particles.shape[:-1]
    if mask is None:
        return np.any(particles != 0.0, axis=-1)
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iuf":
            raise ValueError("mask: expected booleans (or 0/1 numbers) marking real particles.")
        arr = arr != 0
    if arr.shape != shape:
        raise ValueError(
            f"mask: expected shape {tuple(shape)} (the particle array without its last axis), "
            f"got {tuple(arr.shape)}"
        )
    return arr


def _mass(p4: FloatArray) -> FloatArray:
    # (E − |p|)(E + |p|) keeps precision for light, energetic particles where E² − p² cancels.
    p = np.sqrt(np.sum(p4[..., 1:] ** 2, axis=-1))
    m2 = (p4[..., 0] - p) * (p4[..., 0] + p)
    return np.sqrt(np.maximum(m2, 0.0))


def _pt_eta_phi(p4: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    px, py, pz = p4[..., 1], p4[..., 2], p4[..., 3]
    pt = np.hypot(px, py)
    # η = asinh(pz / pT); defined as 0 where pT = 0 so padding never produces inf/NaN.
    ratio = np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0)
    eta = np.arcsinh(ratio)
    phi = np.arctan2(py, px)
    return pt, eta, phi


def _wrap_phi(dphi: FloatArray) -> FloatArray:
    """Map an angle difference into [−π, π)."""
    return np.remainder(dphi + np.pi, 2.0 * np.pi) - np.pi


def _delta_r(eta1: Any, phi1: Any, eta2: Any, phi2: Any) -> FloatArray:
    deta = np.asarray(eta1) - np.asarray(eta2)
    dphi = _wrap_phi(np.asarray(phi1) - np.asarray(phi2))
    return np.sqrt(deta**2 + dphi**2)


def _scalar_or_array(arr: NDArray[Any]) -> Any:
    # A single vector in gives a plain number out, which every codec can carry.
    return arr.item() if arr.ndim == 0 else arr


def _combined(p4: FloatArray, mask: Any) -> FloatArray:
    """Sum four-vectors along the particle axis (−2), ignoring masked-out particles."""
    if mask is None:
        return p4.sum(axis=-2)
    keep = _particle_mask(mask, p4)
    return np.where(keep[..., None], p4, 0.0).sum(axis=-2)


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{what}: expected a positive integer, got {value!r}")
    return int(value)


class HepKinematics(RemoteModel):
    """Relativistic kinematics of four-momenta (E, px, py, pz), vectorised with numpy.

    No configuration: no class attributes to set and no environment variables; nothing to load.
    """

    name: ClassVar[str | None] = "hep-kinematics"
    description: ClassVar[str] = (
        "Vectorised four-momentum kinematics: invariant masses, jet observables (pT, η, φ, mass, "
        "width), Lorentz boosts and ΔR. Four-vectors are (E, px, py, pz) in the last axis."
    )

    @remote
    def invariant_mass(self, p4: Any, mask: Any = None, combine: bool = False) -> Any:
        """Invariant mass of each four-vector in `p4` (shape (..., 4)) → shape (...).

        With `combine=True`, `p4` is (..., n_particles, 4): the particles along axis −2 are summed
        first and the mass of each sum (a jet or event mass) is returned, shape (...). `mask`
        (shape (..., n_particles), booleans) then selects which particles enter the sum.
        """
        if not combine:
            if mask is not None:
                raise ValueError(
                    "mask selects the particles to combine into one system; pass combine=true "
                    "with it (or drop the mask to get one mass per four-vector)."
                )
            return _scalar_or_array(_mass(_four_vectors(p4)))
        arr = _four_vectors(p4, min_ndim=2)
        return _scalar_or_array(_mass(_combined(arr, mask)))

    @remote
    def jet_observables(self, particles: Any, mask: Any = None) -> dict[str, Any]:
        """Per-jet observables from constituents `particles` (n_jets, n_particles, 4).

        `mask` (n_jets, n_particles) marks real particles; without it, all-zero rows are padding.
        Returns arrays of shape (n_jets,): `pt`, `eta`, `phi`, `mass`, `energy` of the summed
        jet four-vector, `n_constituents`, and `width` = Σᵢ pTᵢ ΔR(i, jet) / Σᵢ pTᵢ (the
        pT-weighted width, a.k.a. girth; 0 for an empty jet).
        """
        arr = _four_vectors(particles, "particles", min_ndim=2)
        present = _particle_mask(mask, arr)
        parts = np.where(present[..., None], arr, 0.0)
        jet = parts.sum(axis=-2)
        jet_pt, jet_eta, jet_phi = _pt_eta_phi(jet)
        pt, eta, phi = _pt_eta_phi(parts)
        dr = _delta_r(eta, phi, jet_eta[..., None], jet_phi[..., None])
        sum_pt = pt.sum(axis=-1)
        width = np.divide(
            (pt * dr).sum(axis=-1), sum_pt, out=np.zeros_like(sum_pt), where=sum_pt > 0
        )
        observables = {
            "pt": jet_pt,
            "eta": jet_eta,
            "phi": jet_phi,
            "mass": _mass(jet),
            "energy": jet[..., 0],
            "n_constituents": present.sum(axis=-1).astype(np.int64),
            "width": width,
        }
        return {key: _scalar_or_array(value) for key, value in observables.items()}

    @remote
    def boost(self, p4: Any, beta: Any) -> Any:
        """Lorentz-boost four-vectors `p4` (..., 4) by velocity `beta` (3,) or (..., 3), |β| < 1.

        Active boost (as ROOT's TLorentzVector::Boost): a particle at rest ends up moving with
        velocity β. To go to the rest frame of a system with four-momentum P, use β = −P⃗/E.
        """
        vectors = _four_vectors(p4)
        b = _as_float_array(beta, "beta", "(3,) or (..., 3)")
        if b.ndim < 1 or b.shape[-1] != 3:
            raise ValueError(
                f"beta: expected a velocity 3-vector (βx, βy, βz) of shape (3,) or (..., 3), "
                f"got {tuple(b.shape)}"
            )
        b2 = np.sum(b**2, axis=-1)
        if np.any(b2 >= 1.0):
            raise ValueError(
                f"beta: |β| must be below 1 (the speed of light), got |β| = "
                f"{float(np.sqrt(b2.max())):.6g}"
            )
        try:
            out_shape = np.broadcast_shapes(vectors.shape[:-1], b.shape[:-1])
        except ValueError:
            raise ValueError(
                f"beta of shape {tuple(b.shape)} does not broadcast against p4 of shape "
                f"{tuple(vectors.shape)}; use (3,) for one boost or match p4's leading axes."
            ) from None
        gamma = 1.0 / np.sqrt(1.0 - b2)
        energy, momentum = vectors[..., 0], vectors[..., 1:]
        bp = np.sum(b * momentum, axis=-1)
        # (γ − 1)/β² written as γ²/(γ + 1): same value, no 0/0 when β = 0.
        coeff = gamma**2 / (gamma + 1.0) * bp + gamma * energy
        result = np.empty((*out_shape, 4), dtype=np.float64)
        result[..., 0] = gamma * (energy + bp)
        result[..., 1:] = momentum + coeff[..., None] * b
        return result

    @remote
    def delta_r(self, eta1: Any, phi1: Any, eta2: Any, phi2: Any) -> Any:
        """ΔR = √(Δη² + Δφ²) with Δφ wrapped into [−π, π); inputs broadcast like numpy."""
        arrays = [
            _as_float_array(v, n, "(...)")
            for v, n in ((eta1, "eta1"), (phi1, "phi1"), (eta2, "eta2"), (phi2, "phi2"))
        ]
        try:
            np.broadcast_shapes(*(a.shape for a in arrays))
        except ValueError:
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise ValueError(
                f"eta1, phi1, eta2, phi2 must have broadcastable shapes, got {shapes}"
            ) from None
        return _scalar_or_array(_delta_r(*arrays))

    @remote
    def scan_mass(
        self, p4: Any, chunk_size: int = 4096, mask: Any = None, combine: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Stream invariant masses chunk by chunk along the first axis of `p4`.

        Same arguments as `invariant_mass` (`p4` needs a leading batch axis). Yields
        `{"start", "stop", "total", "mass"}` per chunk of at most `chunk_size` rows, so a caller
        can show progress or process a large batch without waiting for all of it.
        """
        size = _positive_int(chunk_size, "chunk_size")
        arr = _four_vectors(p4, min_ndim=3 if combine else 2)
        if mask is not None and not combine:
            raise ValueError("mask is only meaningful with combine=true (see invariant_mass).")
        keep = _particle_mask(mask, arr) if mask is not None else None
        total = arr.shape[0]
        for start in range(0, total, size):
            stop = min(start + size, total)
            chunk = arr[start:stop]
            if combine:
                chunk = _combined(chunk, None if keep is None else keep[start:stop])
            yield {"start": start, "stop": stop, "total": total, "mass": _mass(chunk)}
