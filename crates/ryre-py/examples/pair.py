#!/usr/bin/env python3
"""Two ryre nodes on loopback meet, whisper and shout, then stop (runs and exits).

    python crates/ryre-py/examples/pair.py
"""

import ryre


def until(node, kind, timeout=10.0):
    """The next event of type `kind` (others are printed); fails after `timeout` seconds."""
    while True:
        ev = node.recv(timeout=timeout)
        if ev is None:
            raise SystemExit("no %s within %.0f s" % (kind, timeout))
        print(node.name, "<-", ev)
        if ev.type == kind:
            return ev


def main():
    port = ryre.private_port()  # a private group: only these two meet
    with ryre.Node("alice", interface="lo", port=port, headers={"role": "greeter"}) as alice, \
            ryre.Node("bob", interface="lo", port=port) as bob:
        ev = until(bob, "ENTER")
        print("bob sees", ev.name, "with headers", ev.headers)
        until(alice, "ENTER")
        alice.whisper(bob.uuid, [b"hello", b"bob"])
        print("bob got", until(bob, "WHISPER").content)
        bob.join("chat")
        until(alice, "JOIN")
        alice.shout("chat", "hi, chat")
        print("bob got", until(bob, "SHOUT").content)
    print("both stopped")


if __name__ == "__main__":
    main()
