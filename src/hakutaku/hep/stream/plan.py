"""Who reads which chunk, in which order: each reader's share of an epoch.

Shuffled (training), per epoch, from (seed, epoch) only — the same in every run:

1. the files are taken group by group (a group: the files of one class — a labelled group's,
   or those whose jets are mostly of that class —, `JetSource.groups`), each group's files
   and each file's chunks in a new order;
2. each group's chunks are dealt to the readers in turn (chunk i to reader i mod n, the turn
   running on from one group to the next): the shares are disjoint and together are every
   chunk, so each jet is read once per epoch however many readers there are, and every
   reader gets files of every group (as weaver-core shares out the files of each group);
3. each reader interleaves its groups, drawing the next chunk from a group with a chance in
   proportion to the jets that group has left, so the files it has open at once — and its
   shuffle buffer — hold every class, not a run of top files followed by a run of QCD files.

Before that, a file that a read can enter anywhere (ROOT, h5) is cut into a multiple of the
number of readers of equal chunks, so every reader gets an equal part of it. A file that can
only be read from its start (npz; parquet within a row group) is one chunk per row group
or file: give more such files than readers.

In order (validation, evaluation): the chunks in file order, dealt in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from hakutaku.hep.formats.ranges import SEEKABLE
from hakutaku.hep.stream.source import Chunk, JetSource

MIN_CUT = 64  # jets: a file is not cut into pieces smaller than this for the readers' sake


def reader_chunks(source: JetSource, readers: int) -> list[Chunk]:
    """The source's chunks for `readers` readers: each seekable file cut into a multiple of
    `readers` equal chunks (at least as many as the source has for it, none under `MIN_CUT`
    jets unless the file is that small)."""
    by_file: dict[int, list[Chunk]] = {}
    for chunk in source.chunks:
        by_file.setdefault(chunk.file, []).append(chunk)
    out: list[Chunk] = []
    for file, own in by_file.items():
        if readers <= 1 or source.formats[file] not in SEEKABLE:
            out += own
            continue
        start, stop = own[0].start, own[-1].stop
        parts = readers * -(-len(own) // readers)
        while parts > 1 and (stop - start) // parts < MIN_CUT:
            parts = parts - readers if parts > readers else 1
        edges = np.linspace(start, stop, parts + 1).round().astype(int)
        out += [Chunk(file, int(a), int(b)) for a, b in pairwise(edges) if b > a]
    return out


def reader_plan(
    chunks: Sequence[Chunk],
    groups: Sequence[str] | None,
    reader: int,
    readers: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
) -> list[Chunk]:
    """Reader `reader`'s chunks (of `readers`) for the epoch, in the order it reads them."""
    if not 0 <= reader < readers:
        raise ValueError(f"reader {reader} of {readers}")
    if not shuffle:
        return list(chunks[reader::readers])
    rng = np.random.default_rng([seed, epoch])
    by_group: dict[str, dict[int, list[Chunk]]] = {}
    for chunk in chunks:
        group = groups[chunk.file] if groups is not None else ""
        by_group.setdefault(group, {}).setdefault(chunk.file, []).append(chunk)
    mine: list[list[Chunk]] = []
    turn = 0
    for group in sorted(by_group):
        files = by_group[group]
        laid_out: list[Chunk] = []
        for file in [sorted(files)[i] for i in rng.permutation(len(files))]:
            laid_out += [files[file][i] for i in rng.permutation(len(files[file]))]
        mine.append([c for i, c in enumerate(laid_out) if (turn + i) % readers == reader])
        turn = (turn + len(laid_out)) % readers
    return _interleave(mine, np.random.default_rng([seed, epoch, reader, readers]))


def _interleave(lists: list[list[Chunk]], rng: np.random.Generator) -> list[Chunk]:
    """One list from several, the next item taken from a list chosen with a chance in
    proportion to the jets it has left."""
    left = [sum(c.size for c in own) for own in lists]
    position = [0] * len(lists)
    out: list[Chunk] = []
    while any(p < len(own) for p, own in zip(position, lists, strict=True)):
        weights = np.array(
            [
                max(w, 1) if p < len(own) else 0
                for w, p, own in zip(left, position, lists, strict=True)
            ],
            dtype=np.float64,
        )
        pick = int(rng.choice(len(lists), p=weights / weights.sum()))
        chunk = lists[pick][position[pick]]
        position[pick] += 1
        left[pick] -= chunk.size
        out.append(chunk)
    return out
