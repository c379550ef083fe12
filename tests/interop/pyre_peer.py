#!/usr/bin/env python3
"""CLI driver around a real Pyre (zeromq-pyre 0.3.4) node.

Prints one JSON object per stdout line, in the same format as `ryre node --json`:

  {"event":"STARTED","peer":HEX,"name":...}
  {"event":"ENTER","peer":HEX,"name":...,"headers":{...},"endpoint":...}
  {"event":"JOIN"|"LEAVE","peer":HEX,"name":...,"group":...}
  {"event":"SHOUT","peer":HEX,"name":...,"group":...,"content":...,"frames":n}
  {"event":"WHISPER","peer":HEX,"name":...,"content":...,"frames":n}
  {"event":"EXIT","peer":HEX,"name":...}
  {"event":"SUMMARY","counts":{...}}          (last line on a clean stop)

Driver-only extras (not part of the ryre contract):
  {"event":"BURST_DONE","group":..,"count":n,"ms":..}
  {"event":"CHURN_DONE","group":..,"count":n}
  {"event":"LOG","level":..,"msg":..}   notable Pyre log records (warnings, seq errors,
                                        send failures); repeated texts are rate-limited
  {"event":"CRASH","thread":..,"error":..}  an exception killed a Pyre thread
                                        (the node is dead from then on)

stdin commands (one per line): shout G TEXT | whisper HEX TEXT | join G | leave G | stop

Accepts (and ignores) `node`, `--json`, `--interface`, `--evasive`, `--expired` so that
it can stand in for the ryre binary when validating the harness. Pyre itself always
uses the first non-loopback IPv4 interface and fixed 10 s / 30 s timeouts.
"""

import argparse
import collections
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import uuid

import zmq
from pyre import Pyre

OUT_LOCK = threading.Lock()
COUNTS = collections.Counter()


def emit(obj):
    line = json.dumps(obj, ensure_ascii=False)
    with OUT_LOCK:
        COUNTS[obj.get("event", "?")] += 1
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def hexid(b):
    if isinstance(b, uuid.UUID):
        return b.hex.upper()
    return b.hex().upper()


def text(b):
    return b.decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# Surface Pyre's interesting log records and thread crashes as JSON events.

class _JsonLog(logging.Handler):
    NOTABLE_DEBUG = ("seq error", "Error while sending", "Purge peer", "messages lost",
                     "Received 0 port beacon", "peer expired")
    PER_TEXT_LIMIT = 5

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.seen = collections.Counter()

    def emit(self, record):
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001
            msg = str(record.msg)
        if record.levelno < logging.WARNING and not any(s in msg for s in self.NOTABLE_DEBUG):
            return
        key = (record.levelno, record.msg if isinstance(record.msg, str) else msg)
        self.seen[key] += 1
        if self.seen[key] > self.PER_TEXT_LIMIT:
            COUNTS["LOG_SUPPRESSED"] += 1
            return
        emit({"event": "LOG", "level": record.levelname, "logger": record.name, "msg": msg[:500]})


CRASHED = threading.Event()


def _excepthook(args):
    CRASHED.set()
    emit({"event": "CRASH", "thread": getattr(args.thread, "name", "?"),
          "error": "%s: %s" % (args.exc_type.__name__, args.exc_value)})


# ---------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", default="node", help="ignored ('node'), for ryre CLI compatibility")
    p.add_argument("--json", action="store_true", help="ignored: output is always JSON lines")
    p.add_argument("--name")
    p.add_argument("--join", action="append", default=[], metavar="GROUP")
    p.add_argument("--header", action="append", default=[], metavar="K=V")
    p.add_argument("--shout", nargs=2, metavar=("GROUP", "TEXT"))
    p.add_argument("--every", type=int, default=1000, metavar="MS")
    p.add_argument("--echo", action="store_true")
    p.add_argument("--burst", type=int, default=0, metavar="N")
    p.add_argument("--churn", type=int, default=0, metavar="N")
    p.add_argument("--leave-after-shouts", type=int, default=0, metavar="K",
                   help="leave the first joined group after receiving K shouts")
    p.add_argument("--for", dest="duration", type=float, default=0, metavar="SECONDS")
    p.add_argument("--interface", help="ignored: Pyre picks the first non-loopback IPv4 interface")
    p.add_argument("--evasive", type=int, help="ignored: Pyre's evasive timeout is fixed at 10 s")
    p.add_argument("--expired", type=int, help="ignored: Pyre's expired timeout is fixed at 30 s")
    p.add_argument("--verbose", action="store_true", help="Pyre debug log to stderr")
    return p.parse_args(argv)


def stdin_reader(q):
    for line in sys.stdin:
        q.put(line.rstrip("\r\n"))
    # EOF: keep running (tests keep stdin open; a closed stdin is not a stop request)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8", errors="replace")

    # Pyre's own log: plain text on stderr (WARNING+, or everything with --verbose),
    # plus the notable records as JSON LOG events on stdout.
    stderr_h = logging.StreamHandler(sys.stderr)
    stderr_h.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    stderr_h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    pyre_log = logging.getLogger("pyre")
    pyre_log.setLevel(logging.DEBUG)
    pyre_log.propagate = False
    pyre_log.addHandler(stderr_h)
    pyre_log.addHandler(_JsonLog())
    logging.getLogger().addHandler(stderr_h)  # zbeacon/set_interface log via the root logger too
    threading.excepthook = _excepthook

    headers = {}
    for h in args.header:
        k, sep, v = h.partition("=")
        if not sep:
            sys.exit("bad --header %r (want K=V)" % h)
        headers[k] = v

    ctx = zmq.Context()
    node = Pyre(args.name, ctx=ctx)
    for k, v in headers.items():
        node.set_header(k, v)
    for g in args.join:
        node.join(g)
    node.start()
    my_uuid = node.uuid()
    emit({"event": "STARTED", "peer": hexid(my_uuid), "name": node.name()})

    stop_req = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_req.set())

    cmds = queue.Queue()
    threading.Thread(target=stdin_reader, args=(cmds,), daemon=True, name="stdin").start()

    sock = node.socket()
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)

    first_group = args.join[0] if args.join else None
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    next_shout = time.monotonic() if args.shout else None
    shout_n = 0
    peers = set()
    burst_next, burst_started = (None, None)  # index of next burst shout, start time
    churn_left = args.churn
    churn_state = None  # None / "leave" / "join"
    shouts_seen = 0
    left_after = False
    CHUNK = 200

    def handle_event(frames):
        nonlocal burst_next, burst_started, shouts_seen, left_after
        kind = text(frames[0])
        if kind == "STOP":  # node acknowledges our own stop
            return
        pid, name = frames[1], text(frames[2])
        ev = {"event": kind, "peer": hexid(pid), "name": name}
        payload = None
        if kind == "ENTER":
            try:
                ev["headers"] = json.loads(text(frames[3]))
            except ValueError:
                ev["headers"] = {"_raw": text(frames[3])}
            ev["endpoint"] = text(frames[4])
            peers.add(pid)
        elif kind in ("JOIN", "LEAVE"):
            ev["group"] = text(frames[3])
        elif kind == "SHOUT":
            ev["group"] = text(frames[3])
            payload = frames[4:]
        elif kind == "WHISPER":
            payload = frames[3:]
        elif kind == "EXIT":
            peers.discard(pid)
        if payload is not None:
            ev["content"] = text(payload[0]) if payload else ""
            ev["frames"] = len(payload)
        emit(ev)

        if payload is not None and args.echo and not (payload and payload[0].startswith(b"ECHO ")):
            node.whisper(uuid.UUID(bytes=pid), b"ECHO " + (payload[0] if payload else b""))
        if kind == "SHOUT":
            shouts_seen += 1
            if args.leave_after_shouts and not left_after and shouts_seen >= args.leave_after_shouts and first_group:
                node.leave(first_group)
                left_after = True
        if kind == "JOIN" and args.burst and burst_next is None and ev["group"] == first_group:
            burst_next, burst_started = 0, time.monotonic()

    def drain(timeout_ms):
        events = dict(poller.poll(timeout_ms))
        n = 0
        while sock in events and n < 1000:
            handle_event(sock.recv_multipart())
            n += 1
            events = dict(poller.poll(0))

    def run_command(line):
        parts = line.split(" ", 2)
        cmd = parts[0].lower() if parts else ""
        try:
            if cmd == "shout" and len(parts) >= 2:
                node.shout(parts[1], (parts[2] if len(parts) > 2 else "").encode("utf-8"))
            elif cmd == "whisper" and len(parts) >= 2:
                node.whisper(uuid.UUID(hex=parts[1]), (parts[2] if len(parts) > 2 else "").encode("utf-8"))
            elif cmd == "join" and len(parts) >= 2:
                node.join(parts[1])
            elif cmd == "leave" and len(parts) >= 2:
                node.leave(parts[1])
            elif cmd == "stop":
                stop_req.set()
            elif cmd:
                emit({"event": "LOG", "level": "ERROR", "msg": "unknown command %r" % line})
        except Exception as e:  # noqa: BLE001
            emit({"event": "LOG", "level": "ERROR", "msg": "command %r failed: %s" % (line, e)})

    while not stop_req.is_set():
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        wait = 0.05
        if next_shout is not None:
            wait = min(wait, max(0.0, next_shout - now))
        if burst_next is not None and burst_next < args.burst:
            wait = 0
        if churn_left and peers:
            wait = 0
        drain(int(wait * 1000))

        while True:
            try:
                run_command(cmds.get_nowait())
            except queue.Empty:
                break

        now = time.monotonic()
        if next_shout is not None and now >= next_shout:
            node.shout(args.shout[0], args.shout[1].encode("utf-8"))
            shout_n += 1
            next_shout = now + args.every / 1000.0

        if burst_next is not None and burst_next < args.burst:
            end = min(args.burst, burst_next + CHUNK)
            for i in range(burst_next, end):
                node.shout(first_group, str(i).encode())
            burst_next = end
            if burst_next >= args.burst:
                emit({"event": "BURST_DONE", "group": first_group, "count": args.burst,
                      "ms": int((time.monotonic() - burst_started) * 1000)})

        if churn_left and peers and first_group:
            # one leave+join cycle per loop turn
            node.leave(first_group)
            node.join(first_group)
            churn_left -= 1
            if not churn_left:
                emit({"event": "CHURN_DONE", "group": first_group, "count": args.churn})

    # ---- clean stop: pyre stop() (sends the zero-port beacon), SUMMARY, exit 0.
    # stop() blocks forever if the node thread died, so run it with a timeout.
    drain(0)
    stopped_ok = False
    if not CRASHED.is_set():
        t = threading.Thread(target=node.stop, daemon=True, name="stopper")
        t.start()
        t.join(5)
        stopped_ok = not t.is_alive()
    counts = dict(COUNTS)
    emit({"event": "SUMMARY", "counts": counts, "stopped_cleanly": stopped_ok, "crashed": CRASHED.is_set()})
    sys.stdout.flush()
    sys.stderr.flush()
    # Pyre's actor threads are non-daemon and may be wedged after a crash: don't wait for them.
    os._exit(0)


if __name__ == "__main__":
    main()
