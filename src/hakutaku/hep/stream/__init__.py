"""Jets streamed from files: training and evaluation with bounded memory, however big the data.

- `specs`: which files a data argument names (files, folders, globs, ``LABEL:pattern``);
- `source`: `JetSource`, the files known by their metadata, cut into chunks, read in pieces;
- `split`: the per-jet train/validation split, decided by a hash (no pass over the data);
- `plan`: the epoch's order of files and chunks, and each reader's share;
- `shuffle`: batches mixed across open files through a shuffle buffer (or in file order);
- `dataset`: `JetStream`, a torch IterableDataset of input batches, and its `loader`.
"""

from hakutaku.hep.stream.dataset import JetStream, default_workers, iterate, loader
from hakutaku.hep.stream.source import Chunk, JetSource
from hakutaku.hep.stream.specs import DataFile, DataSpecError, resolve

__all__ = [
    "Chunk",
    "DataFile",
    "DataSpecError",
    "JetSource",
    "JetStream",
    "default_workers",
    "iterate",
    "loader",
    "resolve",
]
