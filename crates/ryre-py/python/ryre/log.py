"""Mesh logging from Python (the ``ryre-log`` crate): a ``logging.Handler`` that publishes
records to every log collector on the LAN, and a collector that reads them.

    import logging, ryre.log

    handler = ryre.log.Handler(name="app")         # a node of its own; or Handler(node)
    logging.getLogger().addHandler(handler)
    logging.getLogger("app.db").warning("slow query", extra={"ms": 812})

Collectors are ordinary ryre nodes carrying the ``X-RYRE-LOG`` header: ``ryre log`` (the CLI)
or ``ryre.log.Collector`` here. Publishers find them by presence and connect; a collector's
level (and node) filter is a ZeroMQ subscription applied **at the publisher**, so a record
nobody asked for costs one atomic load and is never formatted. The handler never blocks the
application: when the queue is full, records are dropped and counted (``stats()``).

A Python record becomes a mesh record as follows: level ``CRITICAL``/``ERROR`` -> ERROR,
``WARNING`` -> WARN, ``INFO`` -> INFO, ``DEBUG`` -> DEBUG, below ``DEBUG`` -> TRACE; target =
the logger name; message = ``record.getMessage()`` (or the handler's formatter's output, if one
is set); fields = ``file`` (path:line), ``function``, ``thread``, ``process``, ``exception``
(the formatted traceback, when there is one), ``levelname`` (only when it is not one of the
four standard ones, e.g. ``CRITICAL``) and every ``extra=`` attribute (as ``str``).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from . import _native
from ._native import LogRecord

__all__ = ["Handler", "Collector", "LogRecord"]

Level = Union[int, str]

# Attributes every logging.LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_PLAIN = {"ERROR", "WARNING", "INFO", "DEBUG"}


class Handler(logging.Handler):
    """A ``logging.Handler`` publishing records to the mesh log.

    ``node``: a running ``ryre.Node`` to publish as; without one, the handler starts a node of
    its own from the keyword node settings (``name``, ``interface``, ``port``, ...), stopped by
    ``close()``. ``queue``: records waiting for the socket (default 65536); ``scan_every``:
    seconds between looks for new collectors (0.2). ``level`` is the handler's own level, as
    for any ``logging.Handler``.
    """

    def __init__(self, node: Optional[Any] = None, level: Level = logging.NOTSET,
                 *, queue: Optional[int] = None, scan_every: Optional[float] = None,
                 **node_settings: Any) -> None:
        super().__init__(level)
        self._pub = _native.LogPublisher(node, queue=queue, scan_every=scan_every, **node_settings)

    def fields(self, record: logging.LogRecord) -> List[Tuple[str, str]]:
        """The fields published with ``record`` (override to change them)."""
        out = [
            ("file", "%s:%d" % (record.pathname, record.lineno)),
            ("function", str(record.funcName)),
            ("thread", str(record.threadName)),
            ("process", str(record.process)),
        ]
        if record.levelname not in _PLAIN:
            out.append(("levelname", str(record.levelname)))
        if record.exc_info and self.formatter is None:
            out.append(("exception", logging.Formatter().formatException(record.exc_info)))
        elif record.exc_text and self.formatter is None:
            out.append(("exception", record.exc_text))
        for k, v in record.__dict__.items():
            if k not in _STANDARD and not k.startswith("_"):
                out.append((k, str(v)))
        return out

    def emit(self, record: logging.LogRecord) -> None:
        """Publishes ``record`` if some collector wants its level (never blocks)."""
        # Nobody wants this level: nothing is formatted (the filter sits at this publisher).
        if not self._pub.enabled(record.levelno):
            return
        try:
            msg = self.format(record) if self.formatter is not None else record.getMessage()
            self._pub.publish(record.levelno, record.name, msg, self.fields(record))
        except Exception:
            self.handleError(record)

    def wait_collector(self, level: Level = "info", timeout: Optional[float] = None) -> bool:
        """Waits until some collector wants records of ``level``; ``False`` after ``timeout``
        seconds without one. (Records logged before a collector is connected are dropped.)"""
        return self._pub.wait_collector(level, timeout)

    def stats(self) -> Dict[str, Any]:
        """The publisher's counters (``published``, ``queued``, ``dropped``, ``truncated``,
        ``collectors``, ``bad_endpoints``, ``wanted``)."""
        return self._pub.stats()

    def close(self) -> None:
        """Sends what is queued (at most 1 s more) and stops; stops the handler's own node."""
        try:
            self._pub.close()
        finally:
            super().close()


class Collector(_native.LogCollector):
    """A mesh log collector: asks publishers for ``level`` and above (default ``"info"``;
    a ``logging`` number or a name), optionally only from ``node_id`` and of targets starting
    with ``target``; keeps the newest ``memory`` records (``recent(n)``), hands records to
    ``recv(timeout)`` / iteration, and writes JSON lines into ``directory`` if given. Other
    keyword arguments are node settings. A context manager (stops on exit)."""

    def __init__(self, level: Optional[Level] = None, **settings: Any) -> None:
        pass

    def __enter__(self) -> "Collector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def records(self, timeout: Optional[float] = None) -> Iterator[LogRecord]:
        """Yields records as they come; raises ``TimeoutError`` when none comes within
        ``timeout`` seconds (``None``: waits as long as it takes), ends when stopped."""
        while True:
            try:
                rec = self.recv(timeout)
            except _native.StoppedError:
                return
            if rec is None:
                raise TimeoutError("no log record within %s s" % timeout)
            yield rec
