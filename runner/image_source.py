"""Where `mkdrill images build` finds what it builds from: a source checkout or the installed package.

A checkout builds from its own tree (compose/Dockerfile, .dockerignore, pyproject.toml's
dependencies; wheels and facts about base images cached under compose/). A plain `pip install`
has no checkout: the Dockerfile and the Toxiproxy entry point ship in runner/data/compose/, the
dependencies are the installed distribution's, caches live in the user's cache folder, and the
build context is staged from the installed package in the layout the Dockerfile expects:

    compose/Dockerfile  compose/toxiproxy-entrypoint.py  compose/.wheels/  runner/
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO

from docker.utils.build import tar as build_context_tar

from runner.errors import EnvironmentProblem

DOCKERFILE = "compose/Dockerfile"
DISTRIBUTION = "mkdrill"
_PACKAGE = Path(__file__).resolve().parent
_EXTRA_MARKER = re.compile(r"""extra\s*==""")


@dataclass(frozen=True)
class ImageSource:
    """The pieces of an image build: checkout root (None when installed), caches, dependencies."""

    checkout: Path | None
    package: Path
    cache: Path

    @classmethod
    def find(cls, package: Path = _PACKAGE) -> ImageSource:
        """The checkout the package sits in, else the installed package itself."""
        root = package.parent
        if (root / DOCKERFILE).is_file() and (root / "pyproject.toml").is_file():
            return cls(root, package, root / "compose")
        shipped = package / "data" / "compose"
        if not (shipped / "Dockerfile").is_file():
            raise EnvironmentProblem(
                f"no Dockerfile in {root / 'compose'} or {shipped}; reinstall mkdrill "
                "(`pip install mkdrill`) or build from a source checkout"
            )
        return cls(None, package, _user_cache() / "images")

    @property
    def wheels_dir(self) -> Path:
        """Where the image dependencies are downloaded (kept between builds)."""
        return self.cache / ".wheels" if self.checkout is not None else self.cache / "wheels"

    @property
    def probe_cache_dir(self) -> Path:
        """Facts about base images, by image ID (outside the build context)."""
        return self.cache / ".cache" if self.checkout is not None else self.cache / "bases"

    def requirements(self) -> list[str]:
        """The runtime dependencies: pyproject.toml's in a checkout, else the installed ones."""
        if self.checkout is not None:
            pyproject = self.checkout / "pyproject.toml"
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
                return [str(item) for item in data["project"]["dependencies"]]
            except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
                raise EnvironmentProblem(
                    f"{pyproject}: cannot read project.dependencies ({exc}); fix the file"
                ) from exc
        try:
            declared = metadata.requires(DISTRIBUTION) or []
        except metadata.PackageNotFoundError as exc:
            raise EnvironmentProblem(
                f"the {DISTRIBUTION} distribution is not installed next to {self.package}; "
                "reinstall it with pip"
            ) from exc
        return [item for item in declared if not _EXTRA_MARKER.search(item)]

    def context(self) -> IO[bytes]:
        """The build context as one tar (the caller closes it); wheels must be downloaded first."""
        if self.checkout is not None:
            dockerignore = self.checkout / ".dockerignore"
            patterns = [
                line.strip()
                for line in dockerignore.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")
            ]
            archive: IO[bytes] = build_context_tar(
                str(self.checkout), exclude=patterns, dockerfile=(DOCKERFILE, None)
            )
            return archive
        return self._staged_context()

    def _staged_context(self) -> IO[bytes]:
        shipped = self.package / "data" / "compose"
        skip = shutil.ignore_patterns("__pycache__", "*.pyc")
        context: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
        with tempfile.TemporaryDirectory(prefix="mkdrill-image-context-") as staging:
            root = Path(staging)
            (root / "compose").mkdir()
            shutil.copy2(shipped / "Dockerfile", root / DOCKERFILE)
            shutil.copy2(shipped / "toxiproxy-entrypoint.py", root / "compose")
            shutil.copytree(self.wheels_dir, root / "compose" / ".wheels", ignore=skip)
            shutil.copytree(self.package, root / "runner", ignore=skip)
            with tarfile.open(fileobj=context, mode="w") as archive:
                for path in sorted(root.rglob("*")):
                    archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
        context.seek(0)
        return context


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "mkdrill"
