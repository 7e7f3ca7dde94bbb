"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The temporary file has an unpredictable name in the target's own folder and is created with
O_CREAT|O_EXCL|O_NOFOLLOW, so a symlink planted in the folder can never redirect the write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

TMP_SUFFIX = ".tmp"
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CREATE_TRIES = 8


def _tmp_path(path: Path) -> Path:
    # Hidden, random name in the same folder: os.replace is only atomic within one file system.
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}{TMP_SUFFIX}")


def _create_tmp(path: Path) -> tuple[Path, int]:
    """A new temporary file beside `path`, opened for writing; never an existing file or a link."""
    for _ in range(_CREATE_TRIES):
        tmp = _tmp_path(path)
        try:
            return tmp, os.open(tmp, _CREATE_FLAGS, 0o644)
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temporary name after {_CREATE_TRIES} tries")


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write `content` to `path` through a temporary file, fsync it, and rename it into place."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp, fd = _create_tmp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
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
