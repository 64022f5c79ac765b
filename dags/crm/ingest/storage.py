"""Moving files out of landing: loaded files to archive/, unreadable ones to rejected/ with a reason.

Nothing is ever deleted. Target names are ``<sha256[:12]>__<sanitised name>`` so two exports with
the same name never overwrite each other and no landing file name reaches a path unescaped.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


class StorageError(Exception):
    """The file could not be moved (permissions, disk full); it stays in landing."""


def safe_name(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name).strip("._") or "file"
    return cleaned[:150]


def _move(path: Path, target_dir: Path, sha256: str) -> Path:
    target = target_dir / f"{sha256[:12]}__{safe_name(path.name)}"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".moving")
        shutil.copy2(path, tmp)  # copy then rename then unlink: a crash never leaves zero copies
        tmp.replace(target)
        path.unlink()
    except OSError as exc:
        raise StorageError(
            f"could not move {path} to {target_dir}: {exc.strerror or exc}; the file stays in landing "
            "and the next run retries"
        ) from exc
    return target


def archive(path: Path, archive_dir: Path, source: str, sha256: str, day: dt.date) -> Path:
    return _move(path, archive_dir / source / day.isoformat(), sha256)


def reject(path: Path, rejected_dir: Path, source: str, sha256: str, reason_code: str, message: str) -> Path:
    target = _move(path, rejected_dir / source, sha256)
    sidecar = target.with_name(target.name + ".reason.json")
    sidecar.write_text(
        json.dumps(
            {
                "file": path.name,
                "source": source,
                "sha256": sha256,
                "reason_code": reason_code,
                "message": message,
                "rejected_at": dt.datetime.now(dt.UTC).isoformat(),
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return target
