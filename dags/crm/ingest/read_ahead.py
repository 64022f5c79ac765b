"""Reading and normalising in a second process, ahead of validation and loading.

Reading a landing file and normalising its chunks (cleaning and parsing each column's distinct
values in Python) is pure: the result depends on the file alone. Validation and loading are not:
the exactly-once check, the duplicate and price checks read what earlier files loaded, and DuckDB
has one writer. So on a machine with a second core the loader asks this worker to read and
normalise the files in order, one file ahead of the one it validates and loads, and consumes what
the worker streams back: exactly the chunks ``open_file`` yields and the frames ``normalise_frame``
returns in-process (a file the loader then skips, a duplicate say, was read for nothing).

The worker is a plain ``python -m crm.ingest.read_ahead`` child (not ``multiprocessing``, which would
re-import the parent's main module: the Airflow CLI under Airflow). Requests and messages are pickled
over its stdin and stdout. A message carries the request's sequence number and is one of
``opened``, ``chunk`` (the chunk and its normalised frame), then exactly one of ``end``,
``rejected`` (``FileRejected``: the reader's verdict, raised in the parent) or ``error``. The pipe
is the back-pressure: the worker blocks once a chunk waits unread, so at most about two chunks are
ahead. If the worker dies, the file being read fails (it stays in landing) and the loader reads the
remaining files in-process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from crm.ingest.errors import FileRejected
from crm.ingest.readers import Chunk, OpenedFile

log = logging.getLogger(__name__)

_PROTOCOL = 5
#: The directory that holds the ``crm`` package (Airflow puts its dags folder on ``sys.path`` itself).
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
TERMINAL = ("end", "rejected", "error")


class WorkerFailed(RuntimeError):
    """The worker could not read or normalise a file, or it exited."""


class ReadAhead:
    """The parent's side: request files by position, then open them in the same order."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "crm.ingest.read_ahead"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._requested = -1  # highest sequence number sent
        self._reading = -1  # sequence number whose messages are being read
        self._done = True  # whether the terminal message of ``_reading`` was read

    @property
    def alive(self) -> bool:
        return self._process is not None

    def request(self, seq: int, path: Path, source: str, chunk_rows: int) -> None:
        """Ask for file ``seq`` (sequence numbers increase by one per request)."""
        if self._process is None or seq <= self._requested:
            return
        assert self._process.stdin is not None
        try:
            pickle.dump((seq, str(path), source, chunk_rows), self._process.stdin, protocol=_PROTOCOL)
            self._process.stdin.flush()
        except OSError as exc:
            raise self._died(exc) from exc
        self._requested = seq

    def _message(self, seq: int) -> tuple[Any, ...]:
        """The next message of request ``seq``; messages of earlier requests are dropped."""
        if self._process is None:
            raise WorkerFailed("the read-ahead worker is not running")
        assert self._process.stdout is not None
        while True:
            try:
                message = pickle.load(self._process.stdout)  # noqa: S301 - our own child, a private pipe
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                raise self._died(exc) from exc
            if message[0] == seq:
                return message
            if message[0] > seq:
                raise WorkerFailed(f"the read-ahead worker answered request {message[0]} before {seq}")

    def open(self, seq: int, path: Path, source: str) -> OpenedFile:
        """File ``seq`` as ``open_file`` would open it, its chunks carrying their normalised frames.
        Raises ``FileRejected`` as ``open_file`` would."""
        if seq > self._requested:
            raise WorkerFailed(f"file {seq} ({path.name}) was not requested from the read-ahead worker")
        self._reading, self._done = seq, False
        message = self._message(seq)
        if message[1] == "opened":
            _, _, file_type, encoding, header_map = message
            return OpenedFile(path, source, file_type, encoding, header_map, self._chunks(seq))
        self._done = True
        return self._terminal(message)

    def _chunks(self, seq: int) -> Iterator[Chunk]:
        while True:
            message = self._message(seq)
            if message[1] == "chunk":
                yield message[2]
                continue
            self._done = True
            if message[1] == "end":
                return
            self._terminal(message)

    @staticmethod
    def _terminal(message: tuple[Any, ...]) -> Any:
        kind = message[1]
        if kind == "rejected":
            raise FileRejected(message[2], message[3])
        if kind == "error":
            raise WorkerFailed(f"{message[2]} (in the read-ahead worker)")
        raise WorkerFailed(f"unexpected message {kind!r} from the read-ahead worker")

    def _died(self, exc: BaseException) -> WorkerFailed:
        process, self._process = self._process, None
        code = None
        if process is not None:
            process.kill()
            code = process.wait()
        log.error("the read-ahead worker exited (exit code %s); the next files are read in-process", code)
        return WorkerFailed(f"the read-ahead worker exited (exit code {code}): {exc!r}")

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.close()  # end of requests: the worker returns once it has written them
            process.stdout.close()  # unread messages: the worker's next write fails and it exits
            process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


def _send(results: IO[bytes], message: tuple[Any, ...]) -> None:
    pickle.dump(message, results, protocol=_PROTOCOL)
    results.flush()


def serve(requests: IO[bytes], results: IO[bytes]) -> None:
    """Answer each ``(seq, path, source, chunk_rows)`` request with its stream of messages."""
    from crm.ingest.readers import open_file
    from crm.normalise.frame import normalise_frame

    while True:
        try:
            seq, path, source, chunk_rows = pickle.load(requests)  # noqa: S301 - only the parent writes it
        except EOFError:
            return
        try:
            opened = open_file(Path(path), source, chunk_rows)
            _send(results, (seq, "opened", opened.file_type, opened.encoding, opened.header_map))
            for chunk in opened.chunks():
                chunk.normalised = normalise_frame(source, chunk.frame)
                _send(results, (seq, "chunk", chunk))
            _send(results, (seq, "end"))
        except FileRejected as exc:
            _send(results, (seq, "rejected", exc.reason_code, exc.message))
        except BrokenPipeError:
            return
        except Exception as exc:  # the parent fails this file and goes on; the traceback goes to stderr
            traceback.print_exc()
            _send(results, (seq, "error", f"{type(exc).__name__}: {exc}"))


def main() -> None:
    # The protocol owns stdout: anything else printed (a library's warning) goes to stderr.
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with contextlib.suppress(BrokenPipeError):  # the parent stopped reading: nothing left to do
        serve(sys.stdin.buffer, results)
        results.close()


if __name__ == "__main__":
    main()
