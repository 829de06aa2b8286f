"""Results by reference: a task writes its result into its own folder and only the folder's
name travels back through Parsl's interchange. Large numpy arrays are separate `.npy` files,
read back memory-mapped, so a gigabyte array is never pickled or copied through sockets."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RESULT = "result.pkl"
# Arrays at least this large go to their own file; smaller ones ride in the pickle.
ARRAY_BYTES = 1 << 16
# A result pickle up to this size also returns inline with the task's outcome (the file stays,
# for a resumed campaign), so the steering side need not open a file per small result.
INLINE_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class ArrayRef:
    """A numpy array kept in a file next to the result (the name is relative to the folder)."""

    name: str


def has_result(folder: str | os.PathLike[str]) -> bool:
    """A result is complete once its pickle exists: it is renamed into place last."""
    return os.path.exists(os.path.join(folder, RESULT))


def store(value: Any, folder: str | os.PathLike[str]) -> bytes | None:
    """Write `value` as the result of the task in `folder`, which exists (arrays of the value
    itself or one level down in a dict, list or tuple go to .npy files). Returns the pickle
    written when it holds the whole value (no array files), so a small result can also
    travel inline."""
    folder = os.fspath(folder)
    count = 0

    def swap(item: Any) -> Any:
        nonlocal count
        if isinstance(item, np.ndarray) and item.nbytes >= ARRAY_BYTES and item.dtype != object:
            name = f"array{count}.npy"
            count += 1
            np.save(os.path.join(folder, name), item, allow_pickle=False)
            return ArrayRef(name)
        return item

    if isinstance(value, dict):
        top: Any = {key: swap(item) for key, item in value.items()}
    elif isinstance(value, list | tuple):
        top = type(value)(swap(item) for item in value)
    else:
        top = swap(value)
    data = pickle.dumps(top, protocol=pickle.HIGHEST_PROTOCOL)
    final = os.path.join(folder, RESULT)
    partial = final + ".part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(partial, final)  # last: the result is there whole or not at all
    return data if count == 0 else None


def load(folder: Path) -> Any:
    """The result stored in `folder`, with its arrays memory-mapped read-only."""
    with (folder / RESULT).open("rb") as handle:
        top = pickle.load(handle)
    return _with_arrays(top, folder)


def loads(data: bytes) -> Any:
    """A result that came inline (`store` returned it: it has no array files)."""
    return pickle.loads(data)


def _with_arrays(top: Any, folder: Path) -> Any:
    def swap(item: Any) -> Any:
        if isinstance(item, ArrayRef):
            return np.load(folder / item.name, mmap_mode="r")
        return item

    if isinstance(top, dict):
        return {key: swap(item) for key, item in top.items()}
    if isinstance(top, list | tuple):
        return type(top)(swap(item) for item in top)
    return swap(top)
