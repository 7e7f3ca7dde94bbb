"""Entry point of the mkdrill-toxiproxy image: toxiproxy-server's flags, mkdrill's embedded proxy.

The compose file gives the Toxiproxy service the command line of the real `toxiproxy-server`
(`-host=0.0.0.0 -config=/config/toxiproxy.json`), so `ghcr.io/shopify/toxiproxy` and this image are
interchangeable. This script reads those flags the way Go's flag package does (`-name=value`,
`-name value`, one or two dashes) and starts `mkdrill serve toxiproxy` in their place.
"""

from __future__ import annotations

import os
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


def main() -> None:
    """Replace this process with the embedded Toxiproxy, so it receives the container's signals."""
    values = parse(sys.argv[1:])
    arguments = ["serve", "toxiproxy", "--host", values["host"], "--port", values["port"]]
    if values["config"]:
        arguments += ["--config", values["config"]]
    os.execv(sys.executable, [sys.executable, "-m", "runner", *arguments])


if __name__ == "__main__":
    main()
