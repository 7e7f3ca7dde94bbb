"""What importing a dependency loads: only what mkdrill uses of it.

httpx's package imports its own command line (`httpx._main`: click, rich, pygments) on
`import httpx`, about a third of a run's import time, for a console script mkdrill never calls.
While httpx's package is being initialised, that one import is answered "not installed", which
httpx itself handles (its `httpx.main` then says to install `httpx[cli]`); an explicit
`import httpx._main` afterwards loads it as usual.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

HTTPX_COMMAND_LINE = "httpx._main"


class _SkipHttpxCommandLine(importlib.abc.MetaPathFinder):
    """Refuses `httpx._main` only while `httpx/__init__.py` itself is running."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname != HTTPX_COMMAND_LINE:
            return None
        package = sys.modules.get("httpx")
        spec = getattr(package, "__spec__", None)
        if spec is not None and getattr(spec, "_initializing", False):
            raise ModuleNotFoundError(
                "httpx's command line is not loaded by mkdrill", name=HTTPX_COMMAND_LINE
            )
        return None


def skip_httpx_command_line() -> None:
    """Install the finder once, ahead of the others (a no-op when httpx is already imported)."""
    if any(isinstance(finder, _SkipHttpxCommandLine) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _SkipHttpxCommandLine())
