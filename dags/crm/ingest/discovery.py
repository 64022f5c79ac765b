"""Find landing files that are complete and ready to load."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Names that belong to a writer still at work (browser downloads, rsync, Excel lock files, ...).
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".filepart", ".swp", "~")
TEMPORARY_PREFIXES = (".", "~$", "_tmp", "__")


@dataclass(frozen=True)
class LandingFile:
    source: str
    path: Path
    size: int
    mtime: float


def is_temporary(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(TEMPORARY_PREFIXES) or lower.endswith(TEMPORARY_SUFFIXES)


def discover(
    landing_dir: Path, source: str, settle_seconds: float, now: float | None = None
) -> list[LandingFile]:
    """Files in ``landing/<source>/`` older than ``settle_seconds``, oldest first (ties by name)."""
    folder = landing_dir / source
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    found: list[LandingFile] = []
    for path in folder.iterdir():
        if not path.is_file() or path.is_symlink():
            continue
        if is_temporary(path.name):
            log.info("skipping %s: temporary or hidden file name", path.name)
            continue
        stat = path.stat()
        if now - stat.st_mtime < settle_seconds:
            log.info(
                "skipping %s: modified %.1fs ago, may still be being written", path.name, now - stat.st_mtime
            )
            continue
        found.append(LandingFile(source, path, stat.st_size, stat.st_mtime))
    return sorted(found, key=lambda f: (f.mtime, f.path.name))


def sha256_of(path: Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()
