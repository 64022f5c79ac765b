"""Write a file's chunks on a background thread while the loader reads and normalises the next one.

DuckDB releases the GIL while it runs a statement: scanning a chunk's frame and appending it to
``raw.<source>`` (compression, statistics) proceeds on another core while the loader's own thread
parses the next chunk with Arrow and runs the per-value normalisers in Python. The writes stay
strictly ordered and never overlap with another use of the connection: a new write waits for the
previous one, and the loader calls :meth:`WriteBehind.wait` before it queries the warehouse itself
(the duplicate and price checks must see every earlier chunk of the file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class WriteBehind:
    """At most one write in flight, run on a private thread; errors surface at the next wait."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-ingest-write")
        self._pending: Future[Any] | None = None

    def submit(self, write: Callable[..., Any], *args: Any) -> None:
        """Start ``write(*args)`` once the previous write has finished (raising its error, if any)."""
        self.wait()
        self._pending = self._executor.submit(write, *args)

    def wait(self) -> None:
        """Block until the write in flight is done; re-raise what it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def drain(self) -> None:
        """Wait for the write in flight while an error is already being handled: its own error is
        logged, not raised, so the first error stays the one reported."""
        try:
            self.wait()
        except BaseException:
            log.debug("a background write failed while another error was handled", exc_info=True)

    def close(self) -> None:
        self.drain()
        self._executor.shutdown(wait=True)
