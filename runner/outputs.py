"""Output locations checked before anything starts: a folder that is (or can become) writable, or one line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from runner.errors import DefinitionError, EnvironmentProblem


def _nearest_existing(path: Path) -> Path:
    current = path
    while not os.path.lexists(current):
        if current.parent == current:
            break
        current = current.parent
    return current


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_output_folder(path: Path, option: str) -> Path:
    """Make sure `path` is a folder mkdrill may create and write, creating nothing; return it absolute.

    A file where a folder must be is bad input (DefinitionError, exit 2); a folder that cannot be
    written (read-only mount, no permission) is an environment problem (EnvironmentProblem, exit 3).
    """
    absolute = Path(os.path.abspath(path))
    existing = _nearest_existing(absolute)
    if existing.is_symlink() and not existing.exists():
        raise DefinitionError(
            f"{option} {path}: {existing} is a dangling symlink; remove it or give another folder"
        )
    if not existing.is_dir():
        where = "is a file" if existing == absolute else f"is inside {existing}, which is a file"
        raise DefinitionError(f"{option} {path}: {where}; give a folder (reports go inside it)")
    writable = os.access(existing, os.W_OK | os.X_OK)
    if _read_only_mount(existing) or not writable:
        reason = (
            os.strerror(errno.EROFS) if _read_only_mount(existing) else os.strerror(errno.EACCES)
        )
        raise EnvironmentProblem(
            f"{option} {path}: cannot write in {existing} ({reason.lower()}); give a writable folder"
        )
    return absolute
