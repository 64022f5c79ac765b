"""Atomic replacement of files and directories, so a reader never sees a half-written artefact.

Files are written under a hidden temporary name in the destination's directory (same file system)
and moved into place with ``os.replace``, which is atomic on POSIX: a reader opens either the old
file or the new one, and a reader that already opened the old file keeps reading it. Directories
cannot be swapped with one rename, so a published directory is a symbolic link to a versioned
sibling, and the link itself is replaced atomically (the Parquet export does the same per file).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def temporary_sibling(path: Path, *, suffix: str = "") -> Path:
    """A unique hidden name next to ``path`` (same directory, hence the same file system)."""
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}{suffix}")


def replace_file(staged: Path, target: Path) -> None:
    """Move ``staged`` onto ``target`` atomically (fsync first, so a crash cannot leave an empty file)."""
    with staged.open("rb") as fh:
        os.fsync(fh.fileno())
    staged.replace(target)


def write_text_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = temporary_sibling(target)
    try:
        staged.write_text(text, encoding="utf-8")
        replace_file(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def swap_directory(staged: Path, target: Path) -> None:
    """Publish the directory ``staged`` as ``target`` (a symlink to a versioned sibling), atomically.

    ``staged`` must live in ``target``'s parent directory. The previous version is deleted after
    the switch; a reader that resolved the old link mid-way may see files vanish, never a mix.
    """
    if staged.parent.resolve() != target.parent.resolve():
        raise ValueError(f"{staged} must be in the same directory as {target}")
    version = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    staged.rename(version)
    previous: Path | None = None
    if target.is_symlink():
        previous = target.parent / target.readlink()
    elif target.exists():
        # A plain directory left by an older layout: move it aside (a brief gap), then link.
        previous = temporary_sibling(target, suffix=".old")
        target.rename(previous)
    link = temporary_sibling(target, suffix=".link")
    link.symlink_to(version.name, target_is_directory=True)
    link.replace(target)
    if previous is not None and previous.resolve() != version.resolve():
        shutil.rmtree(previous, ignore_errors=True)
