"""Batches from a reader's chunks: mixed across open files through a shuffle buffer, or in order.

Shuffled (training), as weaver-core mixes its fetches, with bounded memory:

1. up to `open_files` of the reader's files are open at once; the next piece (at most `step`
   entries) is read from one of them drawn at random, with weights equal to what each still
   has to give, so the buffer's mix follows the files' sizes; a finished file makes room for
   the next in the epoch's order;
2. pieces gather in a buffer of `buffer_jets` jets; when it is full it is shuffled and batches
   are drawn from it until half of it is left, then it is topped up again — so a jet can leave
   in any batch after it arrived, and the memory held is about `buffer_jets` jets;
3. at the end the rest is shuffled and drained (the last batch may be short).

Everything random is drawn from the `rng` given, so a reader's batches are a function of its
chunks and its seed. In order (validation, evaluation): the chunks' jets as they are in the
files, cut into batches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

import numpy as np

from hakutaku.hep.jets import JetBatch
from hakutaku.hep.stream.source import Chunk, JetSource


@dataclass
class _OpenFile:
    pieces: Iterator[tuple[int, JetBatch]]
    remaining: int  # entries still to read

    def close(self) -> None:
        close = getattr(self.pieces, "close", None)
        if close is not None:
            close()


def shuffled_batches(
    source: JetSource,
    chunks: Sequence[Chunk],
    batch_size: int,
    rng: np.random.Generator,
    buffer_jets: int,
    open_files: int,
    step: int,
) -> Iterator[JetBatch]:
    """The jets of `chunks`, each once, in shuffled batches of `batch_size` (see the module)."""
    queue = deque(_files_in_order(chunks))
    window: list[_OpenFile] = []
    buffer: JetBatch | None = None
    arrived: list[JetBatch] = []
    held = 0
    target = max(int(buffer_jets), 2 * batch_size)
    try:
        while True:
            while len(window) < max(open_files, 1) and queue:
                own = queue.popleft()
                window.append(_OpenFile(source.pieces(own, step), sum(c.size for c in own)))
            if not window:
                break
            weights = np.array([f.remaining for f in window], dtype=np.float64)
            pick = int(rng.choice(len(window), p=weights / weights.sum()))
            read, piece = next(window[pick].pieces, (window[pick].remaining, None))
            window[pick].remaining -= read
            if window[pick].remaining <= 0 or piece is None:
                window.pop(pick).close()
            if piece is not None and len(piece):
                arrived.append(piece)
                held += len(piece)
            if held >= target:
                full = _join(buffer, arrived)
                assert full is not None
                arrived = []
                order, n_out = _shuffle(full, batch_size, rng, keep=target // 2)
                buffer = full.select(order[n_out:])
                yield from _cut(full, order[:n_out], batch_size)
                held = len(buffer)
        rest = _join(buffer, arrived)
        if rest is not None and len(rest):
            order, n_out = _shuffle(rest, batch_size, rng, keep=0)
            yield from _cut(rest, order, batch_size)
    finally:
        for f in window:
            f.close()


def ordered_batches(
    source: JetSource, chunks: Sequence[Chunk], batch_size: int, step: int
) -> Iterator[JetBatch]:
    """The jets of `chunks` in file order, in batches of `batch_size` (the last may be short)."""
    arrived: list[JetBatch] = []
    held = 0
    for _, run in groupby(chunks, key=lambda c: c.file):
        for _, piece in source.pieces(list(run), step):
            if not len(piece):
                continue
            arrived.append(piece)
            held += len(piece)
            if held < batch_size:
                continue
            joined = _join(None, arrived)
            assert joined is not None
            cut = held - held % batch_size
            for lo in range(0, cut, batch_size):
                yield joined.select(np.arange(lo, lo + batch_size))
            arrived = [joined.select(np.arange(cut, held))] if cut < held else []
            held -= cut
    rest = _join(None, arrived)
    if rest is not None and len(rest):
        yield rest


def _files_in_order(chunks: Sequence[Chunk]) -> list[list[Chunk]]:
    """The chunks grouped by file, files in the order they first appear."""
    by_file: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        by_file.setdefault(chunk.file, []).append(chunk)
    return list(by_file.values())


def _join(buffer: JetBatch | None, arrived: list[JetBatch]) -> JetBatch | None:
    parts = ([buffer] if buffer is not None and len(buffer) else []) + arrived
    if not parts:
        return buffer
    return parts[0] if len(parts) == 1 else JetBatch.concat(parts)


def _shuffle(
    buffer: JetBatch, batch_size: int, rng: np.random.Generator, keep: int
) -> tuple[np.ndarray, int]:
    """A random order of the buffer, and how many of its first jets leave in batches so that
    `keep` stay (whole batches only, unless keep is 0: then all of them)."""
    order = rng.permutation(len(buffer))
    if keep == 0:
        return order, len(buffer)
    n_out = len(buffer) - keep
    return order, max(n_out - n_out % batch_size, 0)


def _cut(buffer: JetBatch, order: np.ndarray, batch_size: int) -> Iterator[JetBatch]:
    """The jets of `order` in batches, one at a time (the last may be short)."""
    for lo in range(0, len(order), batch_size):
        yield buffer.select(order[lo : lo + batch_size])
