"""The one exception tree of mkdrill, each branch carrying the exit code the CLI maps it to.

    DrillError                      exit 1 unless a subclass says otherwise
    ├── DefinitionError             exit 2  bad drill/suite file, pin file, flag or setting
    ├── EnvironmentProblem          exit 3  Docker unreachable, port in use, service never healthy, lock held
    │   └── CleanupError            exit 3  an undo step failed (the others still ran)
    ├── InjectionError              exit 3  a fault could not be applied
    │   └── FaultUnsupported        —       the backend cannot inject this kind: the drill is skipped
    ├── ProbeError                  exit 3  the probe itself broke (not the Draft flow it watches)
    ├── RollbackError               exit 3  the restore to the last green pin could not be performed
    └── Interrupted                 exit 130 SIGINT/SIGTERM during a run

Lower-level errors (httpx, docker, subprocess, OSError) are mapped once, at the boundary that
meets them, with ``raise ... from exc``. Messages say what failed, where, and what to try next.
"""

from __future__ import annotations

EXIT_PASSED = 0
EXIT_DRILL_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130


class DrillError(Exception):
    """Base of every error mkdrill raises on purpose."""

    exit_code: int = EXIT_DRILL_FAILED


class DefinitionError(DrillError):
    """Bad input: a drill, suite or pin file, a flag, or a setting. Nothing has been started."""

    exit_code = EXIT_BAD_INPUT


class EnvironmentProblem(DrillError):
    """The environment cannot host the drill: Docker, ports, processes, lock, health deadline."""

    exit_code = EXIT_ENVIRONMENT


class CleanupError(EnvironmentProblem):
    """One or more undo steps failed; the rest still ran."""


class InjectionError(DrillError):
    """A fault could not be applied."""

    exit_code = EXIT_ENVIRONMENT


class FaultUnsupported(InjectionError):
    """The backend cannot inject this fault kind at all: the drill is skipped, the run goes on."""


class ProbeError(DrillError):
    """The probe itself broke (not the Draft flow it watches)."""

    exit_code = EXIT_ENVIRONMENT


class RollbackError(DrillError):
    """The restore to the last green pin could not be performed."""

    exit_code = EXIT_ENVIRONMENT


class Interrupted(DrillError):
    """The run was interrupted by SIGINT or SIGTERM."""

    exit_code = EXIT_INTERRUPTED
