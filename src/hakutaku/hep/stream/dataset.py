"""`JetStream`: a torch IterableDataset of network-input batches streamed from a `JetSource`.

    stream = JetStream(source, "kin", 128, batch_size=256, shuffle=True, seed=0)
    for epoch in range(epochs):
        stream.set_epoch(epoch)
        for inputs, labels, ids in loader(stream, num_workers=2):
            ...   # inputs: {pf_points, pf_features, pf_vectors, pf_mask}; ids: (n, 2) file, entry

Each item is one batch (the DataLoader is made with ``batch_size=None``). Every reader — the
main process with ``num_workers=0``, else each DataLoader worker — takes its share of the
epoch's chunks (`plan`), reads them (`shuffle`) and builds the inputs of each batch with
`hakutaku.hep.features.build_inputs` there, so reading and feature building run in the
workers, beside the training step. Memory per reader: its shuffle buffer (`buffer_jets`) and
the batches in flight, whatever the size of the data.

The order is a function of (seed, epoch, number of readers): the same settings give the same
batches (the DataLoader takes the readers' batches in turn).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from hakutaku.hep.inputs import to_tensors
from hakutaku.hep.jets import JetBatch
from hakutaku.hep.stream import plan
from hakutaku.hep.stream.shuffle import ordered_batches, shuffled_batches
from hakutaku.hep.stream.source import JetSource

DEFAULT_BUFFER_JETS = 20_000
DEFAULT_OPEN_FILES = 12
# Jets per read: a full buffer should hold two reads of every open file, or it mixes only
# a few files. uproot spends ~20 ms a read of a JetClass file's kin branches whatever its size
# (at 500 jets, 40 us a jet, as much as building the jet's inputs), so a buffer of at least
# 1000 x open_files jets keeps reads efficient; smaller buffers get smaller reads.
MIN_READ, MAX_READ = 64, 8192

Example = tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]


class JetStream(IterableDataset[Example]):
    def __init__(
        self,
        source: JetSource,
        features: str,
        length: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        buffer_jets: int = DEFAULT_BUFFER_JETS,
        open_files: int = DEFAULT_OPEN_FILES,
        read_step: int | None = None,
    ) -> None:
        if source.label_names is None:
            raise ValueError("the source's classes are not set: call with_classes first")
        if source.columns is None:
            # Read only what the inputs are built from (ROOT and parquet read fewer branches).
            from hakutaku.hep.features import columns_needed

            source = source.with_columns(columns_needed(features))
        self.source = source
        self.features = features
        self.length = length
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.buffer_jets = int(buffer_jets)
        self.open_files = int(open_files)
        self.read_step = int(read_step) if read_step is not None else None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next iteration gives (set before creating the iterator:
        DataLoader workers take a copy of the dataset when they start)."""
        self.epoch = int(epoch)

    @property
    def step(self) -> int:
        """Entries per read: a full buffer holds two reads of each open file (see MIN_READ)."""
        if self.read_step is not None:
            return self.read_step
        return max(MIN_READ, min(self.buffer_jets // (2 * max(self.open_files, 1)), MAX_READ))

    def max_batches(self, readers: int) -> int:
        """An upper bound on the batches of one epoch with `readers` readers (each reader's
        last batch may be short)."""
        n = self.source.n_jets
        return -(-n // self.batch_size) + max(readers, 1) if n else 0

    def batches(self, reader: int = 0, readers: int = 1) -> Iterator[JetBatch]:
        """Reader `reader`'s batches of jets (before feature building) for this epoch."""
        chunks = plan.reader_chunks(self.source, readers)
        mine = plan.reader_plan(
            chunks,
            self.source.groups,
            reader,
            readers,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
        )
        if not self.shuffle:
            return ordered_batches(self.source, mine, self.batch_size, self.step)
        rng = np.random.default_rng([self.seed, self.epoch, reader, readers, 1])
        return shuffled_batches(
            self.source, mine, self.batch_size, rng, self.buffer_jets, self.open_files, self.step
        )

    def __iter__(self) -> Iterator[Example]:
        info = get_worker_info()
        reader, readers = (info.id, info.num_workers) if info is not None else (0, 1)
        for batch in self.batches(reader, readers):
            inputs = to_tensors(batch, self.features, self.length)
            labels = torch.from_numpy(np.asarray(batch.labels, dtype=np.int64))
            ids = torch.from_numpy(
                np.stack([batch.jets["_file"], batch.jets["_entry"]], axis=1).astype(np.int64)
            )
            yield inputs, labels, ids


# DataLoader workers run at a lower priority than the process that trains: where training
# keeps every core busy (CPU training), a worker takes the cycles it leaves and does not
# preempt its threads (which wait on each other at every operation); where training waits
# for data, nothing else wants the cores and the workers get them all.
WORKER_NICENESS = 10


def loader(stream: JetStream, num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over the stream's batches, `num_workers` processes reading (0: this one)."""
    return DataLoader(
        stream,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        prefetch_factor=4 if num_workers else None,
        persistent_workers=False,
        worker_init_fn=_lower_priority if num_workers else None,
    )


def iterate(batches: DataLoader) -> Iterator[Example]:
    """The loader's batches. An error in a worker is raised again with its own message: the
    DataLoader re-raises it in the main process wrapped in the worker's traceback text."""
    try:
        yield from batches
    except (ValueError, LookupError, OSError) as exc:
        message = str(exc)
        if "Original Traceback" not in message:
            raise
        last = message.strip().splitlines()[-1]
        raise type(exc)(last.split(": ", 1)[-1]) from exc


def _lower_priority(worker: int) -> None:
    import contextlib
    import os

    with contextlib.suppress(OSError):  # not permitted here: run at the same priority
        os.nice(WORKER_NICENESS)


def default_workers(device: str = "cpu") -> int:
    """Readers for training on `device`: on an accelerator one per core beyond the first, at
    most four; on the CPU only the cores torch's threads leave free — none by default, since
    they use every core and a reader would only take turns with them (the training process
    then reads between steps, which measured faster on two cores: docs/benchmarks.md)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if device == "cpu":
        return max(0, min(4, cores - torch.get_num_threads()))
    return max(0, min(4, cores - 1))
