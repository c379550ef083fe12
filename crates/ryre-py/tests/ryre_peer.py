#!/usr/bin/env python3
"""A ryre.Node (the native Python API) driven like tests/interop/pyre_peer.py: JSON lines out
(STARTED, ENTER with headers and endpoint, JOIN, LEAVE, SHOUT, WHISPER, EXIT), commands in on
stdin (shout G TEXT | whisper HEX TEXT | join G | leave G | stop)."""

import argparse
import json
import queue
import sys
import threading

import ryre


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name")
    p.add_argument("--interface")
    p.add_argument("--port", type=int)
    p.add_argument("--discovery")
    p.add_argument("--join", action="append", default=[])
    p.add_argument("--header", action="append", default=[], metavar="K=V")
    p.add_argument("--echo", action="store_true")
    args = p.parse_args()
    headers = dict(h.split("=", 1) for h in args.header)
    node = ryre.Node(
        args.name,
        headers=headers,
        interface=args.interface,
        port=args.port,
        discovery=args.discovery,
    )
    for g in args.join:
        node.join(g)
    emit({"event": "STARTED", "peer": node.uuid.hex.upper(), "name": node.name})

    commands = queue.Queue()

    def read_stdin():
        for line in sys.stdin:
            commands.put(line.rstrip("\n"))
        commands.put("stop")

    threading.Thread(target=read_stdin, daemon=True).start()
    while True:
        try:
            line = commands.get_nowait()
        except queue.Empty:
            line = None
        if line is not None:
            parts = line.split(" ", 2)
            cmd, rest = parts[0], parts[1:]
            text = (rest[1] if len(rest) > 1 else "").encode()
            try:
                if cmd == "stop":
                    break
                elif cmd == "shout":
                    node.shout(rest[0], text)
                elif cmd == "whisper":
                    node.whisper(rest[0], text)
                elif cmd == "join":
                    node.join(rest[0])
                elif cmd == "leave":
                    node.leave(rest[0])
            except ryre.Error as e:
                emit({"event": "LOG", "level": "ERROR", "msg": str(e)})
            continue
        ev = node.recv(timeout=0.05)
        if ev is None:
            continue
        out = {"event": ev.type, "peer": ev.peer.hex.upper(), "name": ev.name}
        if ev.type == "ENTER":
            out["headers"], out["endpoint"] = ev.headers, ev.endpoint
        if ev.group is not None:
            out["group"] = ev.group
        if ev.type == "EXIT":
            out["reason"] = ev.reason
        if ev.content is not None:
            out["content"] = ev.content[0].decode("utf-8", "replace") if ev.content else ""
            out["frames"] = len(ev.content)
            if args.echo and not ev.content[0].startswith(b"ECHO "):
                node.whisper(ev.peer, b"ECHO " + ev.content[0])
        emit(out)
    node.stop()
    emit({"event": "SUMMARY"})


if __name__ == "__main__":
    main()
