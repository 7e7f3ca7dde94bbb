"""Entry point of the mkdrill-toxiproxy image: toxiproxy-server's flags, mkdrill's embedded proxy.

The compose file gives the Toxiproxy service the command line of the real `toxiproxy-server`
(`-host=0.0.0.0 -config=/config/toxiproxy.json`), so `ghcr.io/shopify/toxiproxy` and this image are
interchangeable. This script reads those flags the way Go's flag package does (`-name=value`,
`-name value`, one or two dashes) and starts `mkdrill serve toxiproxy` in their place.

Debian bookworm's Python (3.11.2, the offline base) predates CPython's fix that makes
`transport.pause_reading()` inside `connection_made()` hold: the reader is added right after
anyway, so a proxied client's first bytes arrive before its upstream exists. On such a Python the
server runs in this process with that fix applied to asyncio; newer ones just exec the command.
"""

from __future__ import annotations

import os
import runpy
import sys

KNOWN = {"host": "localhost", "port": "8474", "config": ""}
# Flags of toxiproxy-server with no meaning here; accepted so a shared command line still works.
IGNORED = {"seed", "proxy-metrics", "runtime-metrics", "v", "version"}


def parse(argv: list[str]) -> dict[str, str]:
    """toxiproxy-server's flags as a dict; exits 2 on an unknown flag, like Go's flag package."""
    values = dict(KNOWN)
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            break
        name, has_value, value = arg.lstrip("-").partition("=")
        if name in IGNORED:
            continue
        if name not in KNOWN:
            sys.stderr.write(f"flag provided but not defined: -{name}\n")
            sys.exit(2)
        if not has_value:
            if not args:
                sys.stderr.write(f"flag needs an argument: -{name}\n")
                sys.exit(2)
            value = args.pop(0)
        values[name] = value
    return values


def needs_pause_reading_fix() -> bool:
    """True on a 3.11 asyncio whose transports start reading even when paused in connection_made."""
    return (3, 11) <= sys.version_info[:3] < (3, 11, 4)


def apply_pause_reading_fix() -> None:
    """The stdlib fix (3.11.4): a transport paused before its reader is added does not add it."""
    from asyncio import selector_events

    transport = selector_events._SelectorTransport

    def _add_reader(self, fd, callback, *args):  # type: ignore[no-untyped-def]
        if not self.is_reading():
            return
        self._loop._add_reader(fd, callback, *args)

    transport._add_reader = _add_reader  # type: ignore[method-assign]


def main() -> None:
    """Run the embedded Toxiproxy as this process (PID 1's child), keeping its signals."""
    values = parse(sys.argv[1:])
    arguments = ["serve", "toxiproxy", "--host", values["host"], "--port", values["port"]]
    if values["config"]:
        arguments += ["--config", values["config"]]
    if not needs_pause_reading_fix():
        os.execv(sys.executable, [sys.executable, "-m", "runner", *arguments])
    apply_pause_reading_fix()
    sys.argv = ["mkdrill", *arguments]
    runpy.run_module("runner", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
