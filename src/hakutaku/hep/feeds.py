"""What `train` and `evaluate` iterate: batches of network inputs, from memory or from files.

Two kinds, one interface (`Feed`), so the training loop does not care where jets come from:

- `InMemoryFeed`: a `JetBatch` already in memory. Its inputs are built once for all jets and
  batches are drawn from them; the validation split is a seeded permutation. Fast for small
  samples, but memory grows with the data (the jets and their inputs, about 12 kB a jet).
- `StreamedFeed`: files read chunk by chunk (`hakutaku.hep.stream`): DataLoader workers read,
  mix and build inputs beside the training step, so memory stays flat however big the data;
  the validation split is decided per jet by a hash (`hakutaku.hep.stream.split`), or given
  as separate files.

The default for files is streaming; pass a `JetBatch` (``formats.read(...)``) to train in
memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from hakutaku.hep.inputs import to_tensors
from hakutaku.hep.jets import JetBatch
from hakutaku.hep.stream import JetSource, JetStream, default_workers, iterate, loader

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]


class Feed(Protocol):
    label_names: list[str]
    n_train: int
    n_val: int

    def steps_per_epoch(self) -> int:
        """Training batches per epoch (an upper bound where the exact count is not known)."""
        ...

    def train_batches(self, epoch: int) -> Iterable[Batch]: ...

    def val_batches(self) -> Iterable[Batch]: ...


def labels_for(data: JetBatch, names: list[str]) -> torch.Tensor:
    """The batch's labels as indices into `names` (the model's classes)."""
    missing = sorted(set(data.label_names[i] for i in np.unique(data.labels)) - set(names))
    if missing:
        raise ValueError(
            f"the data has classes {missing} that the model does not know (it knows {names})"
        )
    lookup = np.array([names.index(n) if n in names else -1 for n in data.label_names])
    index = lookup[data.labels] if len(data) else np.zeros(0, dtype=np.int64)
    return torch.from_numpy(index.astype(np.int64))


def batches(
    inputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator | None = None,
) -> Iterator[Batch]:
    n = len(labels)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        yield {k: v[index] for k, v in inputs.items()}, labels[index]


def split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(n * val_fraction)
    return order[n_val:], order[:n_val]


def present_classes(data: JetBatch) -> list[str]:
    """The classes the jets carry, in the batch's label order (not every name it knows: jets
    read from a JetClass file know ten classes but may be top and QCD only)."""
    present = set(np.unique(data.labels).tolist())
    return [n for i, n in enumerate(data.label_names) if i in present]


# ------------------------------------------------------------------------------- in memory


@dataclass
class InMemoryFeed:
    """Inputs built once for every jet; batches drawn from them."""

    train: tuple[dict[str, torch.Tensor], torch.Tensor]
    val: tuple[dict[str, torch.Tensor], torch.Tensor]
    label_names: list[str]
    batch_size: int
    seed: int
    n_features: int = 0
    n_train: int = field(init=False)
    n_val: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_train, self.n_val = len(self.train[1]), len(self.val[1])
        self.n_features = int(self.train[0]["pf_features"].shape[1])

    @classmethod
    def build(
        cls,
        data: JetBatch,
        label_names: list[str],
        features: str,
        length: int,
        batch_size: int,
        val_fraction: float,
        seed: int,
        val_data: JetBatch | None = None,
    ) -> InMemoryFeed:
        labels = labels_for(data, label_names)
        inputs = to_tensors(data, features, length)
        if val_data is not None:
            val = to_tensors(val_data, features, length), labels_for(val_data, label_names)
            return cls((inputs, labels), val, label_names, batch_size, seed)
        train_idx, val_idx = split(len(data), val_fraction, seed)
        train = {k: v[train_idx] for k, v in inputs.items()}, labels[train_idx]
        val = {k: v[val_idx] for k, v in inputs.items()}, labels[val_idx]
        return cls(train, val, label_names, batch_size, seed)

    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    def train_batches(self, epoch: int) -> Iterable[Batch]:
        # Each epoch's shuffle depends only on (seed, epoch), so a resumed run matches.
        generator = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        return batches(*self.train, self.batch_size, shuffle=True, generator=generator)

    def val_batches(self) -> Iterable[Batch]:
        return batches(*self.val, self.batch_size, shuffle=False)


# ------------------------------------------------------------------------------- streamed


@dataclass
class StreamedFeed:
    """Batches streamed from files by DataLoader workers (see `hakutaku.hep.stream`)."""

    train: JetStream
    val: JetStream | None
    label_names: list[str]
    num_workers: int
    pin_memory: bool = False
    n_train: int = field(init=False)
    n_val: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_train = self.train.source.n_jets
        self.n_val = self.val.source.n_jets if self.val is not None else 0

    @classmethod
    def build(
        cls,
        source: JetSource,
        label_names: list[str],
        features: str,
        length: int,
        batch_size: int,
        val_fraction: float,
        seed: int,
        *,
        val_source: JetSource | None = None,
        num_workers: int | None = None,
        buffer_jets: int,
        open_files: int,
        device: str = "cpu",
    ) -> StreamedFeed:
        source = source.with_classes(label_names)
        if val_source is not None:
            train, val = source, val_source.with_classes(label_names)
        else:
            train, val = source.split(val_fraction, seed)
        options = {"buffer_jets": buffer_jets, "open_files": open_files, "seed": seed}
        train_stream = JetStream(train, features, length, batch_size, shuffle=True, **options)
        val_stream = JetStream(val, features, length, batch_size, shuffle=False, **options)
        workers = default_workers(device) if num_workers is None else int(num_workers)
        return cls(train_stream, val_stream, label_names, workers, pin_memory=device == "cuda")

    def steps_per_epoch(self) -> int:
        return self.train.max_batches(self.num_workers)

    def train_batches(self, epoch: int) -> Iterable[Batch]:
        self.train.set_epoch(epoch)
        return _without_ids(iterate(loader(self.train, self.num_workers, self.pin_memory)))

    def val_batches(self) -> Iterable[Batch]:
        if self.val is None or self.n_val == 0:
            return iter(())
        return _without_ids(iterate(loader(self.val, self.num_workers, self.pin_memory)))


def _without_ids(
    items: Iterable[tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]],
) -> Iterator[Batch]:
    for inputs, labels, _ in items:
        yield inputs, labels
