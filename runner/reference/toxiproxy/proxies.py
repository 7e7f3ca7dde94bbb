"""Proxies and the collection of them: listen, enable/disable, update, toxics, populate.

Each proxy accepts and dials as Toxiproxy's accept loop does: one client at a time, the upstream
dialled before the next client is accepted, with no dial timeout. A client is accepted in the
event loop's step that sees it queued, and a dial that completes at once (a loopback upstream) is
linked in that same step, so a new connection costs a few loop turns, not a task's hops. While one dial hangs (an upstream
whose listen queue is full drops the SYN), every later client waits in the proxy's own listen
queue, and stopping the proxy waits for that dial to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterable

from runner.reference.toxiproxy.addresses import (
    DialPending,
    bind_listener,
    dial_at_once,
    finish_dial,
    format_address,
)
from runner.reference.toxiproxy.errors import (
    ApiError,
    proxy_already_exists,
    proxy_not_found,
    toxic_not_found,
)
from runner.reference.toxiproxy.links import Connection, forward_first
from runner.reference.toxiproxy.toxics import Direction, Toxic

logger = logging.getLogger(__name__)


class Proxy:
    """One named TCP proxy: a listening socket, its connections and its toxics."""

    def __init__(self, name: str, listen: str, upstream: str, default_host: str) -> None:
        self.name = name
        self.listen = listen
        self._upstream = upstream
        self.enabled = False
        self.toxics: dict[Direction, list[Toxic]] = {
            Direction.UPSTREAM: [],
            Direction.DOWNSTREAM: [],
        }
        self.connections: set[Connection] = set()
        self._default_host = default_host
        self._listener: socket.socket | None = None
        self._watching = False  # the listener is read for clients
        self._dialing: asyncio.Task[None] | None = None  # a dial that did not complete at once
        self._opening: set[asyncio.Task[None]] = set()

    # what connections read ------------------------------------------------------------------------

    @property
    def upstream(self) -> str:
        """host:port dialled for each accepted client."""
        return self._upstream

    def toxics_for(self, direction: Direction) -> list[Toxic]:
        """The toxics a new connection starts with, in chain order."""
        return list(self.toxics[direction])

    def connection_opened(self, connection: Connection) -> None:
        """Track a connection so disabling the proxy can drop it."""
        self.connections.add(connection)

    def connection_closed(self, connection: Connection) -> None:
        """Forget a connection whose sockets are both gone."""
        self.connections.discard(connection)

    # listening ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and accept; a bind failure raises the 500 Toxiproxy answers with."""
        if self.enabled:
            return
        sock = bind_listener(self.listen, self._default_host)
        self.listen = format_address(sock.getsockname())
        self.enabled = True
        self._listener = sock
        self._watch_listener(True)
        logger.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    def _watch_listener(self, on: bool) -> None:
        """Accept when a client is queued (on), or leave the queue alone while a dial is pending."""
        sock = self._listener
        if sock is None or on == self._watching:
            return
        loop = asyncio.get_running_loop()
        if on:
            loop.add_reader(sock.fileno(), self._accept_ready)
        else:
            loop.remove_reader(sock.fileno())
        self._watching = on

    def _accept_ready(self) -> None:
        """Toxiproxy's Proxy.server(): accept one client, dial its upstream, link them, repeat.

        A dial that completes at once (a loopback upstream) is done right here, in the event
        loop's step that saw the client; one that does not is awaited by a task while the listener
        is not read, so later clients wait in its queue as they do behind Toxiproxy's dial.
        """
        while self.enabled and self._listener is not None and self._dialing is None:
            try:
                client, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.warning("proxy %s: error while accepting a client: %s", self.name, exc)
                self._watch_listener(False)
                return
            client.setblocking(False)
            try:
                upstream = dial_at_once(self.upstream)
            except DialPending as pending:
                self._watch_listener(False)
                self._dialing = asyncio.get_running_loop().create_task(
                    self._dial(client, peer, pending)
                )
                return
            self._link(client, peer, upstream)

    async def _dial(self, client: socket.socket, peer: object, pending: DialPending) -> None:
        """A dial that did not complete at once: awaited with no timeout, then back to accepting."""
        try:
            upstream = await finish_dial(self.upstream, pending)
        except BaseException:
            client.close()
            raise
        finally:
            self._dialing = None
        if not self.enabled:  # stopped while dialling: Toxiproxy closes the new link at once
            client.close()
            if upstream is not None:
                upstream.close()
            return
        self._link(client, peer, upstream)
        self._watch_listener(True)
        self._accept_ready()  # the clients queued meanwhile

    def _link(self, client: socket.socket, peer: object, upstream: socket.socket | None) -> None:
        if upstream is None:
            logger.info("proxy %s: upstream %s unreachable for %s", self.name, self.upstream, peer)
            client.close()
            return
        # The client's first bytes go straight on when no upstream toxic could hold them, before
        # the connection's parts are made; its link then reads on from what that left queued.
        if not self.toxics[Direction.UPSTREAM]:
            forward_first(client, upstream)
        # Like Toxiproxy's StartLink goroutines, the links start without holding up the loop.
        connection = Connection(self)
        self.connection_opened(connection)
        try:
            if connection.open_now(client, upstream):
                return
        except OSError as exc:
            logger.debug("proxy %s: a client was gone before its link started: %s", self.name, exc)
            self.connection_closed(connection)
            return
        opening = asyncio.get_running_loop().create_task(connection.open(client, upstream))
        self._opening.add(opening)
        opening.add_done_callback(self._opened)

    async def stop(self) -> None:
        """Stop listening (queued clients are dropped) and drop every connection.

        As in Toxiproxy, this waits for a dial in progress to end, however long that takes.
        """
        if not self.enabled:
            return
        self.enabled = False
        self._watch_listener(False)
        sock, self._listener = self._listener, None
        if sock is not None:
            sock.close()
        if self._dialing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._dialing)
        self._drop_connections()
        logger.info("proxy %s stopped", self.name)

    def _opened(self, task: asyncio.Task[None]) -> None:
        self._opening.discard(task)
        if not task.cancelled() and isinstance(task.exception(), OSError):
            logger.debug("proxy %s: a client was gone before its link started", self.name)

    def close_now(self) -> None:
        """Stop without waiting for a dial in progress (server shutdown)."""
        self.enabled = False
        self._watch_listener(False)
        if self._dialing is not None:
            self._dialing.cancel()
        if self._listener is not None:
            self._listener.close()
        self._dialing, self._listener = None, None
        self._drop_connections()

    def _drop_connections(self) -> None:
        for opening in list(self._opening):
            opening.cancel()
        for connection in list(self.connections):
            connection.close()
        self.connections.clear()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Toxiproxy's Proxy.Update: a new address restarts the proxy; `enabled` starts/stops it."""
        if listen != self.listen or upstream != self.upstream:
            await self.stop()
            self.listen = listen
            self._upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                await self.stop()

    # toxics ---------------------------------------------------------------------------------------

    def toxic_list(self) -> list[Toxic]:
        """Every toxic, upstream ones first, as Toxiproxy lists them."""
        return [*self.toxics[Direction.UPSTREAM], *self.toxics[Direction.DOWNSTREAM]]

    def toxic_names(self) -> set[str]:
        """Names in use on this proxy."""
        return {toxic.name for toxic in self.toxic_list()}

    def get_toxic(self, name: str) -> Toxic:
        """A toxic by name, or 404."""
        for toxic in self.toxic_list():
            if toxic.name == name:
                return toxic
        raise toxic_not_found()

    def add_toxic(self, toxic: Toxic) -> None:
        """Append a toxic to its direction's chain, on every live connection too."""
        self.toxics[toxic.direction].append(toxic)
        for connection in list(self.connections):
            connection.add_toxic(toxic)

    def update_toxic(self, toxic: Toxic) -> None:
        """Replace a toxic's attributes and toxicity in place."""
        chain = self.toxics[toxic.direction]
        for index, current in enumerate(chain):
            if current.name == toxic.name:
                chain[index] = toxic
        for connection in list(self.connections):
            connection.update_toxic(toxic)

    def remove_toxic(self, name: str) -> None:
        """Remove a toxic by name, or 404."""
        toxic = self.get_toxic(name)
        self.toxics[toxic.direction].remove(toxic)
        for connection in list(self.connections):
            connection.remove_toxic(toxic)

    def reset_toxics(self) -> None:
        """Remove every toxic."""
        for toxic in self.toxic_list():
            self.remove_toxic(toxic.name)

    def to_json(self) -> dict[str, object]:
        """The JSON object Toxiproxy returns for a proxy."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            # Toxiproxy marshals its exported *zerolog.Logger field too: an empty object.
            "Logger": {},
            "toxics": [toxic.to_json() for toxic in self.toxic_list()],
        }


class ProxyCollection:
    """All proxies by name."""

    def __init__(self, default_host: str) -> None:
        self.default_host = default_host
        self.proxies: dict[str, Proxy] = {}

    def new_proxy(self, name: str, listen: str, upstream: str) -> Proxy:
        """A proxy not yet added or started."""
        return Proxy(name, listen, upstream, self.default_host)

    def get(self, name: str) -> Proxy:
        """A proxy by name, or 404."""
        try:
            return self.proxies[name]
        except KeyError:
            raise proxy_not_found() from None

    async def add(self, proxy: Proxy, start: bool) -> None:
        """Add a new proxy (409 if the name is taken), started when asked."""
        if proxy.name in self.proxies:
            raise proxy_already_exists()
        if start:
            await proxy.start()
        self.proxies[proxy.name] = proxy

    async def add_or_replace(self, proxy: Proxy, start: bool) -> Proxy:
        """Populate's rule: an existing proxy with the same listen and upstream is kept as it is."""
        existing = self.proxies.get(proxy.name)
        if existing is not None:
            if existing.listen == proxy.listen and existing.upstream == proxy.upstream:
                return existing
            await existing.stop()
        if start:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def populate(
        self, specs: Iterable[tuple[str, str, str, bool]]
    ) -> tuple[list[Proxy], ApiError | None]:
        """Create or replace proxies in order; the first failure stops it, keeping what was done."""
        applied: list[Proxy] = []
        for name, listen, upstream, enabled in specs:
            try:
                applied.append(
                    await self.add_or_replace(self.new_proxy(name, listen, upstream), enabled)
                )
            except ApiError as exc:
                return applied, exc
        return applied, None

    async def remove(self, name: str) -> None:
        """Stop and forget a proxy, or 404."""
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (POST /reset)."""
        for proxy in list(self.proxies.values()):
            await proxy.start()
            proxy.reset_toxics()

    def close(self) -> None:
        """Stop everything (server shutdown)."""
        for proxy in self.proxies.values():
            proxy.close_now()
