"""A drop-in for ``pyre.Pyre`` and ``pyre.PyreEvent`` (Pyre 0.3.4's API) on the ryre node.

    try:
        from ryre.pyre import Pyre, PyreEvent
    except ImportError:
        from pyre import Pyre, PyreEvent

Same class names, methods, arguments and return values; ``recv()`` returns Pyre's frames
(``ENTER``: type, 16-byte uuid, name, JSON headers, endpoint; ``SHOUT``: type, uuid, name,
group, content...), and ``socket()`` returns a pyzmq PAIR socket that a ``zmq.Poller`` polls as with
Pyre: a thread of the extension (in Rust, no GIL) takes each event from the node and writes
its frames to that socket over an ``ipc://`` pipe in a private temporary directory.

Differences from Pyre (see the README, section "Python"): the node id and default name
exist only once ``start()`` has run (the ryre node is created then; ``uuid()``/``name()``
before it raise ``RuntimeError`` unless a name was given); ``set_interface`` works (Pyre
ignores it); ``whispers``/``shouts`` apply ``format % args`` (Pyre drops the args);
``peer_header_value`` returns ``None`` for an unknown header (Pyre's thread crashes);
ENTER's JSON lists headers sorted by name (Pyre: in wire order); ryre's EVASIVE, SILENT and
LEADER events are not passed on (Pyre has none); a whisper to an unknown peer is dropped
silently, as Pyre does. Pyre's bugs are not copied: sequence numbers wrap 65535 -> 0,
the status byte wraps 255 -> 0, strings are UTF-8 byte-counted, messages are never dropped when
a queue fills.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid as _uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

try:
    import zmq
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ryre.pyre needs pyzmq (pip install pyzmq, or install ryre with the [pyre] extra)"
    ) from e

from . import Node, TooLongError, UnknownPeerError

__all__ = ["Pyre", "PyreEvent"]
__version_info__ = (0, 3, 4)

def _check_group(group: Any) -> None:
    if not isinstance(group, str):
        raise TypeError("a group name must be a str, not %s" % type(group).__name__)
    if len(group.encode("utf-8")) > 255:
        raise TooLongError("group name is %d bytes; ZRE allows at most 255" % len(group.encode("utf-8")))


def _ms(value: Any, what: str) -> float:
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number of milliseconds, not %r" % (what, value)) from None
    return ms / 1000.0


class Pyre(object):
    """A ZRE node with Pyre's API. Configure, then ``start()``."""

    def __init__(self, name: Optional[str] = None, ctx: Optional["zmq.Context[Any]"] = None, *args: Any, **kwargs: Any) -> None:
        self._ctx = ctx if ctx is not None else zmq.Context.instance()
        self._name = name
        self._options: Dict[str, Any] = {}
        self._headers: Dict[str, str] = {}
        self._groups: List[str] = []
        self._node: Optional[Node] = None
        # The node's events arrive on this socket as Pyre's frames, written by a thread of the
        # extension (no GIL on that path). pyzmq links its own libzmq, so the pipe is an ipc
        # socket file in a private directory (mode 0700), made here and removed by stop().
        self._pipe_dir = tempfile.mkdtemp(prefix="ryre-pyre-")
        self._pipe_ep = "ipc://" + os.path.join(self._pipe_dir, "events")
        self.inbox = self._ctx.socket(zmq.PAIR)
        self.inbox.setsockopt(zmq.RCVHWM, 0)
        self.inbox.setsockopt(zmq.LINGER, 0)
        self.verbose = False

    def __bool__(self) -> bool:
        return True

    def _started(self) -> Node:
        if self._node is None:
            raise RuntimeError("the node is not started yet: call start() first")
        return self._node

    # ---------------------------------------------------------------- settings
    def uuid(self) -> _uuid.UUID:
        """This node's id (``uuid.UUID``); exists once ``start()`` has run."""
        return self._started().uuid

    def name(self) -> str:
        """This node's name (the name given, else a name made from the id at start)."""
        if self._node is not None:
            return self._node.name
        if self._name:
            return self._name
        raise RuntimeError("the node has no name yet: give one to Pyre() or call start() first")

    def set_name(self, name: str) -> None:
        """Sets the name (before ``start()``)."""
        self._name = name

    def set_header(self, key: str, value: str) -> None:
        """Sets a HELLO header (before ``start()``)."""
        self._headers[key] = value

    def set_verbose(self) -> None:
        """Logs what the node does."""
        self.verbose = True
        self._options["verbose"] = True

    def set_port(self, port_nbr: Union[bytes, str, int]) -> None:
        """Sets the UDP beacon port; as in Pyre, given as bytes (``b"5670"``); str and int work too."""
        try:
            port = int(port_nbr)
        except (TypeError, ValueError):
            raise ValueError("the port must be a number, not %r" % (port_nbr,)) from None
        if not 0 < port < 65536:
            raise ValueError("the port must be 1..65535, not %d" % port)
        self._options["port"] = port

    def set_interval(self, interval: Union[bytes, str, int, float]) -> None:
        """Sets the beacon interval in milliseconds."""
        self._options["interval"] = _ms(interval, "interval")

    def set_evasive_timeout(self, interval: Union[bytes, str, int, float]) -> None:
        """Sets the evasive timeout in milliseconds (Zyre's API; Pyre 0.3.4 lacks it)."""
        self._options["evasive_timeout"] = _ms(interval, "evasive timeout")

    def set_expired_timeout(self, interval: Union[bytes, str, int, float]) -> None:
        """Sets the expired timeout in milliseconds (Zyre's API; Pyre 0.3.4 lacks it)."""
        self._options["expired_timeout"] = _ms(interval, "expired timeout")

    def set_interface(self, value: str) -> None:
        """Sets the network interface (a name such as ``eth0`` or an IPv4 address)."""
        self._options["interface"] = value

    def set_endpoint(self, format: str, *args: Any) -> None:
        """Sets the inbox endpoint (``tcp://IP:*`` or ``tcp://IP:PORT``)."""
        self._options["endpoint"] = format % args if args else format

    # ---------------------------------------------------------------- life
    def start(self) -> int:
        """Starts the node: discovery and connections begin. Returns 0."""
        if self._node is not None:
            return 0
        self._node = Node(self._name, headers=dict(self._headers), **self._options)
        for g in self._groups:
            self._node.join(g)
        self._node._pyre_pipe(self._pipe_ep)
        self.inbox.connect(self._pipe_ep)
        return 0

    def stop(self) -> None:
        """Stops the node politely (leaving beacon, links closed); a ``STOP`` event follows."""
        if self._node is not None:
            self._node.stop()
        shutil.rmtree(self._pipe_dir, ignore_errors=True)

    # ---------------------------------------------------------------- events
    def recv(self) -> List[bytes]:
        """The next event as Pyre's list of frames (blocks)."""
        frames: List[bytes] = self.inbox.recv_multipart()
        return frames

    def socket(self) -> "zmq.Socket[Any]":
        """The socket events arrive on (always the same object), for a ``zmq.Poller``."""
        sock: "zmq.Socket[Any]" = self.inbox
        return sock

    def recent_events(self) -> Iterator["PyreEvent"]:
        """The events waiting now, as ``PyreEvent``."""
        while int(self.socket().get(zmq.EVENTS)) & zmq.POLLIN:
            yield PyreEvent(self)

    def events(self) -> Iterator["PyreEvent"]:
        """Every event, as ``PyreEvent`` (forever)."""
        while True:
            yield PyreEvent(self)

    # ---------------------------------------------------------------- groups, messages
    def join(self, group: str) -> None:
        """Joins a group (before ``start()`` too: joined when the node starts)."""
        if self._node is None:
            _check_group(group)
            if group not in self._groups:
                self._groups.append(group)
        else:
            self._node.join(group)

    def leave(self, group: str) -> None:
        """Leaves a group."""
        if self._node is None:
            _check_group(group)
            if group in self._groups:
                self._groups.remove(group)
        else:
            self._node.leave(group)

    def whisper(self, peer: _uuid.UUID, msg_p: Union[bytes, List[bytes]]) -> None:
        """Sends a message (bytes or a list of frames) to a peer; dropped if the peer is
        unknown (or the node not started), as in Pyre."""
        if self._node is None:
            return
        try:
            self._node.whisper(peer, msg_p)
        except UnknownPeerError:
            pass

    def shout(self, group: str, msg_p: Union[bytes, List[bytes]]) -> None:
        """Sends a message (bytes or a list of frames) to a group (to nobody before ``start()``)."""
        if self._node is None:
            return
        self._node.shout(group, msg_p)

    def whispers(self, peer: _uuid.UUID, format: str, *args: Any) -> None:
        """Sends a string to a peer."""
        self.whisper(peer, (format % args if args else format).encode("utf-8"))

    def shouts(self, group: str, format: str, *args: Any) -> None:
        """Sends a string to a group."""
        self.shout(group, (format % args if args else format).encode("utf-8"))

    # ---------------------------------------------------------------- queries
    def peers(self) -> List[_uuid.UUID]:
        """The known peers."""
        if self._node is None:
            return []
        return self._node.peers()

    def peers_by_group(self, group: str) -> List[_uuid.UUID]:
        """The known peers in a group."""
        if self._node is None:
            return []
        return self._node.peers_by_group(group)

    def endpoint(self) -> str:
        """This node's inbox endpoint."""
        return "" if self._node is None else self._node.endpoint

    def get_peer_name(self, peer: _uuid.UUID) -> str:
        """A peer's name, ``""`` if unknown (deprecated in Pyre too)."""
        return "" if self._node is None else self._node.peer_name(peer) or ""

    def peer_address(self, peer: _uuid.UUID) -> str:
        """A peer's endpoint, ``""`` if unknown."""
        return "" if self._node is None else self._node.peer_address(peer) or ""

    def peer_header_value(self, peer: _uuid.UUID, name: str) -> Optional[str]:
        """A peer's header; ``""`` for an unknown peer, ``None`` for an unknown header."""
        node = self._node
        if node is None or node.peer_name(peer) is None:
            return ""
        return node.peer_header_value(peer, name)

    def peer_headers(self, peer: _uuid.UUID) -> Union[Dict[str, str], str]:
        """A peer's headers; ``""`` for an unknown peer (as Pyre answers)."""
        h = None if self._node is None else self._node.peer_headers(peer)
        return "" if h is None else h

    def own_groups(self) -> List[str]:
        """The groups this node is in."""
        if self._node is None:
            return list(self._groups)
        return self._node.own_groups()

    def peer_groups(self) -> List[str]:
        """The groups known peers are in."""
        if self._node is None:
            return []
        return self._node.peer_groups()

    @staticmethod
    def version() -> Tuple[int, int, int]:
        """The Pyre API version this module follows."""
        return __version_info__


class PyreEvent(object):
    """One event of a ``Pyre`` node, parsed from its frames (as ``pyre.PyreEvent``)."""

    def __init__(self, node: Pyre) -> None:
        incoming = node.recv()
        self.type: str = incoming.pop(0).decode("utf-8")
        self.peer_uuid_bytes: bytes = incoming.pop(0)
        self.peer_name: str = incoming.pop(0).decode("utf-8")
        self.headers: Optional[Dict[str, str]] = None
        self.peer_addr: Optional[str] = None
        self.group: Optional[str] = None
        self.msg: Optional[List[bytes]] = None
        if self.type == "ENTER":
            self.headers = json.loads(incoming.pop(0).decode("utf-8"))
            self.peer_addr = incoming.pop(0).decode("utf-8")
        elif self.type in ("JOIN", "LEAVE"):
            self.group = incoming.pop(0).decode("utf-8")
        elif self.type == "WHISPER":
            self.msg = incoming
        elif self.type == "SHOUT":
            self.group = incoming.pop(0).decode("utf-8")
            self.msg = incoming

    def header(self, name: str) -> Optional[str]:
        """One header of an ENTER event, else ``None``."""
        if self.headers and name in self.headers:
            return self.headers[name]
        return None

    @property
    def peer_uuid(self) -> _uuid.UUID:
        """The peer as ``uuid.UUID``."""
        return _uuid.UUID(bytes=self.peer_uuid_bytes)

    def __str__(self) -> str:
        return "<%s %s from %s>" % (__name__, self.type, self.peer_uuid.hex)
