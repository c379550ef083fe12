"""ryre for Python: proximity (LAN) peer-to-peer networking over ZeroMQ, speaking ZRE
(RFC 36) with Zyre and Pyre.

    import ryre

    with ryre.Node("alice", headers={"role": "demo"}) as node:
        node.join("chat")
        for ev in node:
            if ev.type == "ENTER":
                node.whisper(ev.peer, b"hello")
            elif ev.type == "SHOUT":
                print(ev.name, ev.group, ev.content)

``ryre.pyre`` is a drop-in for ``pyre.Pyre`` / ``pyre.PyreEvent``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import AsyncIterator, Iterator, Optional

from . import _native
from ._native import (
    CertificateError,
    ConfigError,
    Error,
    Event,
    NetworkError,
    NotEntitledError,
    NulError,
    ProtocolError,
    StoppedError,
    TooLongError,
    UnknownPeerError,
    WouldBlockError,
    private_port,
    zmq_has,
)

__version__: str = _native.__version__

__all__ = [
    "Node",
    "Event",
    "Error",
    "ConfigError",
    "NetworkError",
    "ProtocolError",
    "StoppedError",
    "TooLongError",
    "UnknownPeerError",
    "NulError",
    "WouldBlockError",
    "NotEntitledError",
    "CertificateError",
    "private_port",
    "zmq_has",
]

# How long one wait of an asyncio receive lasts on the executor thread: a cancelled
# ``arecv`` leaves its thread within this time.
_ASYNC_SLICE = 0.05


class Node(_native.Node):
    """A running ZRE node (started by the constructor).

    Keyword options (all optional; times in seconds): ``headers`` (dict of str),
    ``interface`` (name, IPv4 or IPv6 address), ``port`` (beacon port, default 5670),
    ``interval``, ``evasive_timeout``, ``expired_timeout``, ``stop_flush`` (how long ``stop``
    may wait for the peers this node sent messages to to confirm them; default 0.5, 0: at
    once), ``endpoint`` (``tcp://IP:*``,
    ``tcp://[::1]:*``), ``discovery`` (``"auto"``, ``"local"``, ``"beacon"``, ``"off"``),
    ``rendezvous_port``, ``rendezvous_path``, ``agent`` (may host the machine's agent),
    ``verbose``, ``send_hwm``, ``ipv6`` (the inbox on the interface's IPv6 address, beacons to
    the IPv6 multicast group ff02::1; ``--ipv6`` of the CLI), ``dual_stack`` (IPv4 and IPv6 at
    once), and certified mode's ``cert`` (``DIR/NAME`` of ``ryre cert issue``: the node's
    certificate and key pair), ``trust`` (a CA certificate, or a list of them) and
    ``revocations`` (the revocation file, kept up to date). The log collector and the services
    take the same keywords. A command beyond the certificate's rights raises
    ``NotEntitledError``; an unusable certificate file ``CertificateError``.

    Use it as a context manager (``with ryre.Node(...) as n:``) to stop it on exit. Iterating
    (``for ev in node``) yields events until the node has stopped; ``await node.arecv()`` and
    ``async for ev in node.aevents()`` do the same for asyncio.
    """

    def __init__(self, name: Optional[str] = None, **options: object) -> None:
        # The native constructor has started the node; this only sets up the Python side.
        # (recv/try_recv are the native ones: no Python frame per event.)
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._executor_lock = threading.Lock()

    def __iter__(self) -> Iterator[Event]:
        while True:
            try:
                ev = self.recv()
            except StoppedError:
                return
            if ev is not None:
                yield ev

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stops the node (leaving beacon, links closed, a ``STOP`` event). Idempotent."""
        super().stop()
        with self._executor_lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=False)

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="ryre-arecv"
                )
            return self._executor

    def _keep(self, fut: "concurrent.futures.Future[Optional[Event]]") -> None:
        # A cancelled arecv's wait may still have taken an event: keep it for the next recv.
        if not fut.cancelled() and fut.exception() is None:
            ev = fut.result()
            if ev is not None:
                self._keep_event(ev)

    async def arecv(self, timeout: Optional[float] = None) -> Optional[Event]:
        """Awaits the next event (asyncio); ``None`` after ``timeout`` seconds without one.
        The wait runs on a helper thread with the GIL released; cancelling the await loses
        no event. Raises ``StoppedError`` once the node has stopped."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            ev = self.try_recv()
            if ev is not None:
                return ev
            wait = _ASYNC_SLICE
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - loop.time()))
            fut = self._pool().submit(_native.Node.recv, self, wait)
            try:
                ev = await asyncio.wrap_future(fut)
            except asyncio.CancelledError:
                fut.add_done_callback(self._keep)
                raise
            if ev is not None:
                return ev
            if deadline is not None and loop.time() >= deadline:
                return None

    async def aevents(self) -> AsyncIterator[Event]:
        """``async for ev in node.aevents():`` every event until the node has stopped."""
        while True:
            try:
                ev = await self.arecv()
            except StoppedError:
                return
            if ev is not None:
                yield ev
