"""The mesh timer from Python (the ``ryre-timer`` crate): numbered ticks at 1 to 1000 Hz from
whichever timer node leads for that rate, and one-shot or periodic wake-ups.

    import ryre.timer

    with ryre.timer.Timers(name="app") as timers:
        timers.subscribe(10)
        for tick in timers.ticks(timeout=5):      # TimeoutError if none for 5 s
            print(tick.n, tick.lateness)

Ticks come from a timer node: ``ryre timer serve`` (the CLI) or ``ryre.timer.Server`` here.
Tick ``n`` of a rate is due at ``t0 + n / rate``; each number arrives once, increasing, and
``missed`` counts a gap. Several timer nodes may run; per rate one ticks (ZRE's election) and
the next one continues the same numbering when it dies.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Union

from . import _native
from ._native import Event, StoppedError, Tick, TimerNotice, Wake

__all__ = ["Timers", "Server", "Tick", "Wake", "TimerNotice"]

TimerEvent = Union[Tick, Wake, TimerNotice, Event]


class Timers(_native.Timers):
    """A timer client on a node of its own (started from the keyword node settings):
    ``subscribe(rate)`` for ticks, ``wake_after``/``wake_at``/``wake_every`` for wake-ups,
    ``recv(timeout)`` for the next event (a ``Tick``, ``Wake``, ``TimerNotice`` or any other
    ``ryre.Event`` of the node). A context manager (stops on exit)."""

    def __init__(self, **node_settings: Any) -> None:
        pass

    def __enter__(self) -> "Timers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def events(self, timeout: Optional[float] = None) -> Iterator[TimerEvent]:
        """Every event; raises ``TimeoutError`` when none comes within ``timeout`` seconds
        (``None``: waits as long as it takes); ends when stopped."""
        while True:
            try:
                ev = self.recv(timeout)
            except StoppedError:
                return
            if ev is None:
                raise TimeoutError("no timer event within %s s" % timeout)
            yield ev

    def ticks(self, rate: Optional[int] = None, timeout: Optional[float] = None) -> Iterator[Tick]:
        """The ticks (of ``rate`` only, if given; other events are skipped); raises
        ``TimeoutError`` when no tick comes within ``timeout`` seconds; ends when stopped."""
        import time

        while True:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    ev = self.recv(left)
                except StoppedError:
                    return
                if isinstance(ev, Tick) and (rate is None or ev.rate == rate):
                    yield ev
                    break
                if ev is None or (deadline is not None and time.monotonic() >= deadline):
                    raise TimeoutError("no tick within %s s" % timeout)


class Server(_native.TimerServer):
    """A timer node serving ticks at ``rates`` (Hz; default 1, 10 and 100) and, with
    ``wakeups`` (default on), wake-ups; ``max_late``: a tick more than this many periods late
    is skipped (default 10). Other keyword arguments are node settings (give timer nodes a
    short ``expired_timeout`` for a fast failover). A context manager (stops on exit)."""

    def __init__(self, rates: Optional[Iterable[int]] = None, **settings: Any) -> None:
        pass

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
