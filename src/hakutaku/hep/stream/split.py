"""The train/validation split of streamed files, decided per jet without reading any jet.

A jet is a validation jet when a hash of (seed, its file's name, its entry number in the
file) falls below `fraction`: the split needs no pass over the data and no memory, is the
same in every worker, every epoch and every resumed run, does not depend on how the files
are chunked or ordered, and does not move when the files are copied elsewhere (the file's
name, not its folder, enters the hash). Each file contributes about `fraction` of its jets,
drawn from all of it, so files sorted in any way (by class, by pT) still split fairly.

The cost: the validation jets are spread through every chunk, so a validation pass reads the
whole files again and keeps about `fraction` of their jets (training passes drop the same
ones). For large datasets give separate validation files instead (``val_data=`` /
``--val-data``), as JetClass ships them.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def file_key(name: str, seed: int) -> np.uint64:
    """A 64-bit key for (seed, file name), the same on every machine and Python run."""
    digest = hashlib.blake2b(f"{seed}\0{name}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def uniform(key: np.uint64, entries: np.ndarray) -> np.ndarray:
    """A number in [0, 1) for each entry: SplitMix64 of key + entry·golden ratio."""
    with np.errstate(over="ignore"):
        x = key + np.asarray(entries, dtype=np.uint64) * _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _MIX1
        x = (x ^ (x >> np.uint64(27))) * _MIX2
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


def is_validation(name: str, entries: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """True for the entries of the file called `name` that belong to the validation split."""
    if fraction <= 0:
        return np.zeros(len(entries), dtype=bool)
    if fraction >= 1:
        return np.ones(len(entries), dtype=bool)
    return uniform(file_key(name, seed), entries) < fraction
