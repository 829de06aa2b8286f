"""`JetSource`: the jets of a set of files, known by their metadata, read chunk by chunk.

    source = JetSource.open(["data/top", "data/qcd/*.root"], max_jets=100_000, scan=True)
    source.label_names, source.groups     # the classes present; each file's class, for mixing
    train, val = source.split(0.2, seed=0)      # train.n_jets: how many it yields
    for chunk in train.chunks:
        for entries_read, piece in train.pieces([chunk], step=2000):   # JetBatch pieces
            ...

Opening reads only metadata: each file's format, its number of jets and where a read can
start (`hakutaku.hep.formats.ranges`); with ``scan=True`` also the label columns. The files
are cut into `Chunk`s of at most `chunk_jets` jets (whole row groups for parquet, whole files
for npz), the units that streaming readers share out. A piece carries its labels as indices
into `label_names` (the run's classes) and two jet columns that say where each jet came from:
``_file`` (index into `files`) and ``_entry`` (its entry in that file).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import groupby

import numpy as np

from hakutaku.hep.formats import detect_format
from hakutaku.hep.formats import ranges as file_ranges
from hakutaku.hep.jets import JetBatch
from hakutaku.hep.stream import split as splitting
from hakutaku.hep.stream.specs import DataFile, Spec, resolve

DEFAULT_CHUNK_JETS = 10_000
ID_COLUMNS = ("_file", "_entry")


@dataclass(frozen=True)
class Chunk:
    """Entries ``start:stop`` of file number `file`: the unit shared out among readers."""

    file: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Selection:
    """The part of the train/validation split (`split`) a source keeps."""

    fraction: float
    seed: int
    validation: bool


@dataclass(frozen=True)
class JetSource:
    files: tuple[DataFile, ...]
    formats: tuple[str, ...]
    counts: tuple[int, ...]  # entries used per file (all, or fewer under max_jets)
    chunks: tuple[Chunk, ...]
    label_names: tuple[str, ...] | None = None
    selection: Selection | None = None
    options: tuple[tuple[str, str], ...] = ()  # reader options, e.g. (("masses", "pdg"),)
    columns: frozenset[str] | None = None  # the columns wanted (None: all the files have)
    groups: tuple[str, ...] | None = None  # each file's group, for mixing (see scan)

    @classmethod
    def open(
        cls,
        specs: Spec | Iterable[Spec],
        *,
        format: str | None = None,
        label_names: Iterable[str] | None = None,
        max_jets: int | None = None,
        chunk_jets: int = DEFAULT_CHUNK_JETS,
        scan: bool = False,
        **options: str,
    ) -> JetSource:
        """The files `specs` name (see `specs.resolve`), from their metadata only — and, with
        `scan`, their label columns (in the same pass): the classes present (the source's
        `label_names`, unless given) and each file's group (see `scan`).

        `max_jets` keeps the first jets of every file, each file giving its share in proportion
        to its size (so a top file and a QCD file keep both classes); `label_names` fixes the
        classes; options go to the format readers (``masses`` for npz).
        """
        if isinstance(specs, (str, DataFile)) or not isinstance(specs, Iterable):
            specs = [specs]
        files = tuple(resolve(specs))
        formats = [_format_of(f, format) for f in files]
        labels: list[tuple[np.ndarray, tuple[str, ...]] | None] = []
        totals: list[int] = []
        for data_file, fmt in zip(files, formats, strict=True):
            if scan and data_file.label is None:
                read = file_ranges.read_labels(data_file.path, fmt)  # opens the file once
                labels.append(read)
                totals.append(len(read[0]))
            else:
                labels.append(None)
                totals.append(file_ranges.count(data_file.path, fmt))
        counts = totals if max_jets is None else _quotas(totals, max_jets)
        chunks = [
            Chunk(index, start, min(stop, counts[index]))
            for index, (data_file, fmt) in enumerate(zip(files, formats, strict=True))
            for start, stop in file_ranges.chunks(data_file.path, fmt, chunk_jets, totals[index])
            if start < counts[index]
        ]
        source = cls(
            files=files,
            formats=tuple(formats),
            counts=tuple(counts),
            chunks=tuple(chunks),
            label_names=tuple(label_names) if label_names is not None else None,
            options=tuple(sorted(options.items())),
        )
        if not scan:
            return source
        classes, groups = _classes_and_groups(files, source.counts, labels)
        source = source.with_groups(groups)
        return source if label_names is not None else source.with_classes(classes)

    # ------------------------------------------------------------------ classes and split

    def scan(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the classes present, each file's group), reading label columns only.

        Classes come in the order the files name them (a file's label order, e.g. JetClass's
        for its files: QCD before Tbqq; a labelled group's label), as `JetBatch.concat` orders
        them, keeping those some jet has. A file's group is its label, or the class most of its
        jets have: readers mix the groups (`plan`) so every batch holds every class.
        """
        labels = [
            None if f.label is not None else file_ranges.read_labels(f.path, fmt)
            for f, fmt in zip(self.files, self.formats, strict=True)
        ]
        return _classes_and_groups(self.files, self.counts, labels)

    def scan_classes(self) -> tuple[str, ...]:
        """The classes present (see `scan`)."""
        return self.scan()[0]

    def with_groups(self, groups: Iterable[str] | None) -> JetSource:
        """Set each file's group (see `scan`); None: all files in one group."""
        return replace(self, groups=None if groups is None else tuple(groups))

    def with_classes(self, label_names: Iterable[str]) -> JetSource:
        return replace(self, label_names=tuple(label_names))

    def with_columns(self, columns: Iterable[str] | None) -> JetSource:
        """Read only these jet/constituent columns where the format allows (ROOT, parquet)."""
        return replace(self, columns=None if columns is None else frozenset(columns))

    def split(self, fraction: float, seed: int) -> tuple[JetSource, JetSource]:
        """(training part, validation part): see `hakutaku.hep.stream.split`."""
        return (
            replace(self, selection=Selection(fraction, seed, validation=False)),
            replace(self, selection=Selection(fraction, seed, validation=True)),
        )

    @cached_property
    def n_jets(self) -> int:
        """The number of jets the source yields (its part of the split, if split)."""
        if self.selection is None:
            return sum(c.size for c in self.chunks)
        return sum(int(self._keep(c.file, np.arange(c.start, c.stop)).sum()) for c in self.chunks)

    # ------------------------------------------------------------------ reading

    def pieces(self, chunks: Sequence[Chunk], step: int) -> Iterator[tuple[int, JetBatch]]:
        """(entries read, piece) for chunks of one file, in the order given, the file opened
        once: pieces of at most `step` entries, with the selection applied (a piece may then be
        empty), labels indexing `label_names`, and the ``_file``/``_entry`` columns."""
        if self.label_names is None:
            raise ValueError("the source's classes are not set: call with_classes first")
        if not chunks:
            return
        file = chunks[0].file
        if any(c.file != file for c in chunks):
            raise ValueError("pieces() reads the chunks of one file at a time")
        data_file, fmt = self.files[file], self.formats[file]
        spans = [(c.start, c.stop) for c in chunks if c.stop > c.start]
        starts = iter([start for start, stop in spans for start in range(start, stop, step)])
        pieces = file_ranges.iterate(
            data_file.path, fmt, spans, step, self.columns, **dict(self.options)
        )
        for piece in pieces:
            first = next(starts)
            entries = np.arange(first, first + len(piece), dtype=np.int64)
            piece = self._relabel(piece, data_file)
            piece.jets["_file"] = np.full(len(piece), file, dtype=np.int64)
            piece.jets["_entry"] = entries
            if self.selection is not None:
                piece = piece.select(self._keep(file, entries))
            yield len(entries), piece

    def read_all(self, step: int = 50_000) -> JetBatch:
        """Every jet of the source (its part of the split) in one JetBatch, in file order —
        for samples small enough to train on in memory."""
        pieces = [
            piece
            for _, run in groupby(self.chunks, key=lambda c: c.file)
            for _, piece in self.pieces(list(run), step)
            if len(piece)
        ]
        if not pieces:
            raise ValueError("the source holds no jets")
        batch = pieces[0] if len(pieces) == 1 else JetBatch.concat(pieces)
        batch.meta = {"source": [str(f) for f in self.files]}
        return batch

    def _keep(self, file: int, entries: np.ndarray) -> np.ndarray:
        assert self.selection is not None
        s = self.selection
        name = self.files[file].path.name
        validation = splitting.is_validation(name, entries, s.fraction, s.seed)
        return validation if s.validation else ~validation

    def _relabel(self, piece: JetBatch, data_file: DataFile) -> JetBatch:
        names = self.label_names or ()
        if data_file.label is not None:
            if data_file.label not in names:
                raise ValueError(
                    f"{data_file}: the class {data_file.label!r} is not one the model knows "
                    f"({list(names)})"
                )
            labels = np.full(len(piece), names.index(data_file.label), dtype=np.int64)
        else:
            lookup = np.array([names.index(n) if n in names else -1 for n in piece.label_names])
            labels = lookup[piece.labels] if len(piece) else piece.labels
            if len(labels) and labels.min() < 0:
                unknown = sorted({piece.label_names[i] for i in piece.labels[labels < 0]})
                raise ValueError(
                    f"{data_file.path} has jets of classes {unknown} that the model does not "
                    f"know (it knows {list(names)})"
                )
        return JetBatch(piece.jets, piece.particles, piece.counts, labels, names, piece.meta)


def _classes_and_groups(
    files: Sequence[DataFile],
    counts: Sequence[int],
    labels: Sequence[tuple[np.ndarray, tuple[str, ...]] | None],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(classes present, in the order the files name them; each file's group): see `scan`."""
    known: list[str] = []
    present: set[str] = set()
    groups: list[str] = []
    for data_file, n, read in zip(files, counts, labels, strict=True):
        if read is None:
            names, tally = [data_file.label or ""], np.array([n])
        else:
            names = list(read[1])
            tally = np.bincount(read[0][:n], minlength=len(names))
        known += [name for name in names if name not in known]
        present |= {name for name, count in zip(names, tally, strict=True) if count}
        groups.append(names[int(np.argmax(tally))] if n else "")
    return tuple(name for name in known if name in present), tuple(groups)


def _quotas(counts: list[int], total: int) -> list[int]:
    """How many of its first jets each file gives to make `total`, in proportion to size."""
    available = sum(counts)
    if total >= available:
        return list(counts)
    quotas = [n * total // available for n in counts]
    short = total - sum(quotas)
    for i, n in enumerate(counts):
        if short == 0:
            break
        if quotas[i] < n:
            quotas[i] += 1
            short -= 1
    return quotas


def _format_of(data_file: DataFile, format: str | None) -> str:
    if format is None:
        return detect_format(data_file.path)
    from hakutaku.hep.formats import ALIASES, FORMATS

    name = ALIASES.get(format.lower(), format.lower())
    if name == "parquet":
        return detect_format(data_file.path)
    if name not in FORMATS:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    return name
