"""The journal's writer: a process of its own that writes a campaign's task rows to the
database, so that SQLAlchemy's work per row (tens of microseconds) does not hold the steering
process's GIL while its threads hand tasks to Parsl and take their results.

The steering process (`Journal`) starts it with `WriterProcess(url)` and sends it frames on
its stdin: a length (8 bytes, big-endian) and a pickle, the first frame the database URL (not
in argv, where `ps` would show a password), then `(number, campaign_id, run, rows,
blocks_are_jobs)` per batch. The writer reads what has arrived, merges the rows of all the
batches it read by task key (each row is the task's full row so far: the latest wins), writes
them in one transaction and answers the highest batch number written, a line on its stdout.
At the end of its stdin (the steering process closed it, or died) it writes what it has and
exits 0; it exits 1 when the database refused a batch for good, and the steering process then
writes every row itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from sqlalchemy.exc import OperationalError

HEADER = 8
ATTEMPTS = 20  # a database locked or away: tries of one batch, a second apart at most


def frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(HEADER, "big") + data


class WriterProcess:
    """The steering side: send batches, learn which are written."""

    def __init__(self, url: str) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (package_root, path)))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hakutaku.workflows.journal_writer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin: IO[bytes] = self.process.stdin
        self._replies = self.process.stdout.fileno()
        os.set_blocking(self._replies, False)
        self._pending = b""
        self.sent = 0  # the number of the last batch sent
        self.written = 0  # the highest number the writer said it wrote
        self._stdin.write(frame(url))
        self._stdin.flush()

    def send(self, campaign_id: int, run: int, rows: list[dict[str, Any]], jobs: bool) -> int:
        """Hand a batch over (OSError: the writer is gone). Its number is returned."""
        self.sent += 1
        self._stdin.write(frame((self.sent, campaign_id, run, rows, jobs)))
        self._stdin.flush()
        self.read_replies(0)
        return self.sent

    def read_replies(self, timeout: float) -> bool:
        """Take the writer's answers that arrived (waiting up to `timeout` for one); False
        once it has exited and said all it will."""
        ready, _, _ = select.select([self._replies], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self._replies, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        if lines:
            self.written = max(self.written, int(lines[-1]))
        return True

    def wait_written(self, number: int, timeout: float) -> bool:
        """Whether batch `number` was written within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.written < number:
            left = deadline - time.monotonic()
            if left <= 0 or not self.read_replies(min(left, 1.0)):
                return self.written >= number
        return True

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout: float) -> bool:
        """End its input and wait for it; whether it wrote everything it was sent."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        ok = self.wait_written(self.sent, timeout)
        try:
            code = self.process.wait(max(1.0, timeout / 10))
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        return ok and code == 0

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------------- the writer's side


def _frames(fd: int) -> Any:
    """Lists of the frames read from `fd`: each list is what had arrived when it was read."""
    buffer = bytearray()
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return
        buffer += chunk
        ready = []
        while len(buffer) >= HEADER:
            size = int.from_bytes(buffer[:HEADER], "big")
            if len(buffer) < HEADER + size:
                break
            ready.append(pickle.loads(bytes(buffer[HEADER : HEADER + size])))
            del buffer[: HEADER + size]
        if ready:
            yield ready


def _write(
    db: Any, batches: list[tuple[int, int, int, list[dict[str, Any]], bool]], jobs_set: list[bool]
) -> None:
    """Write the batches' rows (merged) in one transaction. `jobs_set`: the blocks_are_jobs
    value written last (empty before the first write), set only when it changes."""
    from hakutaku.workflows import store

    rows: dict[str, dict[str, Any]] = {}
    for _, _, _, batch_rows, _ in batches:
        for row in batch_rows:
            rows[row["key"]] = row
    _, campaign_id, run, _, jobs = batches[-1]
    for attempt in range(ATTEMPTS):
        try:
            with db.session() as s:
                store.write_tasks(s, campaign_id, run, list(rows.values()))
                if jobs_set != [jobs]:
                    store.set_blocks_are_jobs(s, campaign_id, jobs)
            jobs_set[:] = [jobs]
            return
        except OperationalError:  # locked, or the server away for a moment
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(min(1.0, 0.05 * 2**attempt))


def main() -> int:
    from hakutaku.db.session import Database

    db = None
    jobs_set: list[bool] = []
    try:
        for frames in _frames(sys.stdin.fileno()):
            if db is None:
                db = Database(frames.pop(0))
            if frames:
                _write(db, frames, jobs_set)
                os.write(sys.stdout.fileno(), f"{frames[-1][0]}\n".encode())
    except Exception as exc:
        print(f"hakutaku journal writer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if db is not None:
            db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
