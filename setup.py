"""Build hook: the drill catalog, the rehearsal scenarios and compose/ ship inside the package, as
runner/data/{drills,rehearsals,compose}.

Everything else is configured in pyproject.toml. A source checkout (and an editable install)
reads drills/, rehearsals/ and compose/ where they are; a wheel carries copies, so a plain `pip install`
runs both backends from any directory.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {
    "drills": ("*.yaml",),
    "rehearsals": ("*.yaml",),
    "compose": (
        "docker-compose.yml",
        "Dockerfile",
        "toxiproxy.json",
        "toxiproxy-entrypoint.py",
        "README.md",
    ),
}


class BuildWithCatalog(build_py):
    """build_py that also copies the shipped folders into the built package."""

    def run(self) -> None:
        super().run()
        for folder, patterns in SHIPPED.items():
            target = Path(self.build_lib) / "runner" / "data" / folder
            target.mkdir(parents=True, exist_ok=True)
            for pattern in patterns:
                for source in sorted((ROOT / folder).glob(pattern)):
                    shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildWithCatalog})
