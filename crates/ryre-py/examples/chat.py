#!/usr/bin/env python3
"""A chat in the style of Pyre's own example, written for Pyre's API only.

    python chat.py NAME [--port N] [--group CHAT]

Lines typed on stdin are shouted to the group; what others say is printed as
"NAME: text"; arrivals and departures as "* NAME joined" / "* NAME left".
It runs unchanged on Pyre (`pip install zeromq-pyre`) and on ryre (a `pyre` module that is
ryre.pyre, or change the import to the `try: from ryre.pyre ...` line below).
"""

import argparse
import sys
import threading

import zmq

try:
    from ryre.pyre import Pyre, PyreEvent  # the fast drop-in, when installed
except ImportError:
    from pyre import Pyre, PyreEvent

if "--pyre" in sys.argv:  # force the pure-Python Pyre (the tests run the app on both)
    sys.argv.remove("--pyre")
    from pyre import Pyre, PyreEvent  # noqa: F811


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--port", type=int, default=5670)
    p.add_argument("--group", default="CHAT")
    args = p.parse_args()

    ctx = zmq.Context()
    node = Pyre(args.name, ctx=ctx)
    node.set_header("CHAT_Header1", "example header1")
    node.set_port(str(args.port).encode())
    node.join(args.group)
    node.start()

    # stdin lines reach the main loop through a pipe the poller watches with the node socket
    pipe_in = ctx.socket(zmq.PAIR)
    pipe_in.bind("inproc://chat-input")
    pipe_out = ctx.socket(zmq.PAIR)
    pipe_out.connect("inproc://chat-input")

    def read_input():
        for line in sys.stdin:
            pipe_out.send_string(line.rstrip("\n"))
        pipe_out.send_string("/quit")

    threading.Thread(target=read_input, daemon=True).start()
    names = {}
    poller = zmq.Poller()
    poller.register(pipe_in, zmq.POLLIN)
    poller.register(node.socket(), zmq.POLLIN)
    print("* %s is here (%s)" % (node.name(), Pyre.__module__), flush=True)
    while True:
        items = dict(poller.poll())
        if pipe_in in items and items[pipe_in] == zmq.POLLIN:
            line = pipe_in.recv_string()
            if line == "/quit":
                break
            node.shouts(args.group, line)
        if node.socket() in items and items[node.socket()] == zmq.POLLIN:
            ev = PyreEvent(node)
            if ev.type == "ENTER":
                names[ev.peer_uuid] = ev.peer_name
                print("* %s entered (header %s)" % (ev.peer_name, ev.header("CHAT_Header1")), flush=True)
            elif ev.type == "JOIN" and ev.group == args.group:
                print("* %s joined" % ev.peer_name, flush=True)
            elif ev.type == "SHOUT" and ev.group == args.group:
                print("%s: %s" % (ev.peer_name, ev.msg[0].decode("utf-8")), flush=True)
            elif ev.type == "EXIT":
                print("* %s left" % names.pop(ev.peer_uuid, ev.peer_name), flush=True)
    node.stop()
    print("* bye", flush=True)


if __name__ == "__main__":
    main()
