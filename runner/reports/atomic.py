"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

TMP_SUFFIX = ".tmp"


def _tmp_path(path: Path) -> Path:
    # Hidden, per-process name in the same folder: os.replace is only atomic within one file system.
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write `content` to `path` through a temporary file, fsync it, and rename it into place."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is flushed (POSIX; no-op elsewhere).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sweep_stale_tmp(folder: Path, names: list[str]) -> list[Path]:
    """Remove temporary files a killed writer left for `names` in `folder`; return them."""
    removed: list[Path] = []
    for name in names:
        for stale in folder.glob(f".{name}.*{TMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
                removed.append(stale)
                log.debug("removed stale temporary file %s", stale)
    return removed
