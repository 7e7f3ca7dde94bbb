"""`python -m runner.reference.memorykernel`: the reference service as the runner starts it.

The same command line as `mkdrill serve memorykernel` (`--release --db --bind`), without the CLI
framework: the runner restarts MemoryKernel inside drills (kill, deploy, rollback), and each
start is part of a measured restore, so it loads only what serving needs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runner.reference.memorykernel.server import DEFAULT_BIND, DEFAULT_DB


def main(argv: list[str] | None = None) -> int:
    """Parse the real command line and serve until SIGTERM or SIGINT; the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m runner.reference.memorykernel",
        description="Serve the MemoryKernel HTTP contract of one release (reference).",
    )
    parser.add_argument(
        "--release", required=True, help="MemoryKernel release tag: v0.3.2 or v0.4.0."
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite database file.")
    parser.add_argument("--bind", default=DEFAULT_BIND, help="IP:PORT to listen on.")
    args = parser.parse_args(argv)

    from runner.backends.processes import watch_owner
    from runner.errors import DrillError
    from runner.reference.memorykernel.server import serve

    watch_owner()
    try:
        serve(release=args.release, bind=args.bind, db=args.db)
    except DrillError as exc:
        print(f"mkdrill: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
