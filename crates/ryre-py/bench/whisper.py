#!/usr/bin/env python3
"""Whisper throughput from Python: ryre (native API), ryre.pyre, Pyre 0.3.4, and the Rust API,
interleaved in one run (round 1: each variant once, round 2: each again, ...), median of the
rounds. Needs root: it creates two network namespaces joined by a veth pair (Pyre always uses
the first non-loopback interface, so it must never run in the root namespace) and deletes them.

    python crates/ryre-py/bench/whisper.py --size 16 --count 100000 --rounds 3 \
        [--ryre-bin target/release/ryre]

Variants:
  ryre       sender and receiver in two Python processes, one per namespace (ryre.Node)
  ryre.pyre  the same with the drop-in (events through its pyzmq pipe)
  pyre       the same with Pyre 0.3.4 from PyPI
  ryre-1p    ryre.Node, both nodes in one Python process on loopback (discovery off,
             connect_peer; receiver on a thread): the shape of `ryre bench whisper`
  rust       `ryre bench whisper --ryre-only` (the Rust API, same shape as ryre-1p)
A ryre sender whose queue to the receiver fills (the send high-water mark, 100,000 messages
per peer by default) is told: the peer EXITs with reason queue-full and whisper raises
UnknownPeerError; the result then shows "sender_error". The receiver counts WHISPERs from the first to the last (or until none came for 3 s: lost
messages), so the rate is received/second at the receiver; CPU is the process CPU time of
sender plus receiver per message received.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(REPO, "tests", "interop"))

IDLE = 3.0  # seconds without a message: the rest was lost


# ----------------------------------------------------------------------------- roles


def make_node(api, name, iface):
    if api == "ryre":
        import ryre

        return ryre.Node(name, interface=iface)
    if api == "ryre.pyre":
        from ryre.pyre import Pyre
    else:
        from pyre import Pyre
    n = Pyre(name)
    if api == "ryre.pyre":
        n.set_interface(iface)
    n.start()
    return n


class Events:
    """(type, peer uuid bytes, content) from either API."""

    def __init__(self, api, node):
        self.api, self.node = api, node
        if api != "ryre":
            import zmq

            self.poller = zmq.Poller()
            self.poller.register(node.socket(), zmq.POLLIN)

    def next(self, timeout):
        if self.api == "ryre":
            ev = self.node.recv(timeout)
            if ev is None:
                return None
            return ev.type, ev.peer_bytes, ev.content
        if not self.poller.poll(int(timeout * 1000)):
            return None
        f = self.node.recv()
        t = f[0].decode()
        content = f[3:] if t == "WHISPER" else None
        return t, f[1], content


def whisper(api, node, peer, data):
    import uuid

    if api == "ryre":
        node.whisper(peer, data)
    else:
        node.whisper(uuid.UUID(bytes=peer), data)


def role_receiver(api, iface, count):
    node = make_node(api, "receiver", iface)
    evs = Events(api, node)
    sender = None
    while sender is None:
        ev = evs.next(30)
        if ev is None:
            raise SystemExit("receiver: no sender within 30 s")
        if ev[0] == "ENTER":
            sender = ev[1]
    whisper(api, node, sender, b"ready")
    got, first, last = 0, None, None
    cpu0 = time.process_time()
    now = time.perf_counter
    if api == "ryre":  # the loop an application writes, without a wrapper per message
        recv = node.recv
        while got < count:
            ev = recv(IDLE)
            if ev is None:
                break
            if ev.type == "WHISPER":
                got += 1
                last = now()
                if first is None:
                    first = last
    else:  # Pyre style: poll the socket, then recv() the frames
        poll, recv = evs.poller.poll, node.recv
        idle_ms = int(IDLE * 1000)
        while got < count:
            if not poll(idle_ms):
                break
            f = recv()
            if f[0] == b"WHISPER":
                got += 1
                last = now()
                if first is None:
                    first = last
    cpu = time.process_time() - cpu0
    secs = (last - first) if (first is not None and got > 1) else 0.0
    whisper(api, node, sender, b"done")
    print(json.dumps({"got": got, "secs": secs, "cpu": cpu}), flush=True)
    node.stop()


def role_sender(api, iface, count, size):
    node = make_node(api, "sender", iface)
    evs = Events(api, node)
    receiver = None
    while receiver is None:
        ev = evs.next(30)
        if ev is None:
            raise SystemExit("sender: no receiver within 30 s")
        if ev[0] == "WHISPER" and ev[2] == [b"ready"]:
            receiver = ev[1]
    data = b"x" * size
    import uuid

    peer = receiver if api == "ryre" else uuid.UUID(bytes=receiver)
    send = node.whisper
    cpu0 = time.process_time()
    dropped_at = None
    try:
        for i in range(count):
            send(peer, data)
    except Exception as e:  # noqa: BLE001 - ryre: the queue to the peer filled (EXIT queue-full)
        dropped_at = "%d: %s" % (i, e)
    while True:  # wait for the receiver to finish (its "done"), bounded
        ev = evs.next(120)
        if ev is None or (ev[0] == "WHISPER" and ev[2] == [b"done"]):
            break
    print(json.dumps({"cpu": time.process_time() - cpu0, "dropped_at": dropped_at}), flush=True)
    node.stop()


def one_process(count, size):
    """ryre-1p: two ryre.Node in this process, like `ryre bench whisper`."""
    import ryre

    a = ryre.Node("a", interface="lo", discovery="off")
    b = ryre.Node("b", interface="lo", discovery="off")
    a.connect_peer(b.uuid, b.endpoint)
    while True:
        ev = b.recv(10)
        if ev is None:
            raise SystemExit("ryre-1p: no ENTER")
        if ev.type == "ENTER":
            break
    b.connect_peer(a.uuid, a.endpoint)
    while True:
        ev = a.recv(10)
        if ev is None:
            raise SystemExit("ryre-1p: no ENTER")
        if ev.type == "ENTER":
            break
    out = {}

    def receive():
        got, first, last = 0, None, None
        while got < count:
            ev = b.recv(IDLE)
            if ev is None:
                break
            if ev.type == "WHISPER":
                got += 1
                last = time.perf_counter()
                if first is None:
                    first = last
        out.update(got=got, secs=(last - first) if got > 1 else 0.0)

    t = threading.Thread(target=receive)
    cpu0 = time.process_time()
    t.start()
    data = b"x" * size
    peer, send = b.uuid, a.whisper
    for _ in range(count):
        send(peer, data)
    t.join()
    out["cpu"] = time.process_time() - cpu0
    a.stop()
    b.stop()
    print(json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver


def run_pair(lab, ns_a, ns_b, link, api, count, size):
    py = [sys.executable, "-u", os.path.abspath(__file__)]
    recv = lab.spawn("recv:" + api, ns_b, py + ["--role", "receiver", "--api", api, "--iface", link["if_b"],
                                                "--count", str(count)])
    send = lab.spawn("send:" + api, ns_a, py + ["--role", "sender", "--api", api, "--iface", link["if_a"],
                                                "--count", str(count), "--size", str(size)])
    r = recv.expect(lambda e: "got" in e, 300, "receiver result")
    s = send.expect(lambda e: "cpu" in e, 300, "sender result")
    recv.wait_exit(30)
    send.wait_exit(30)
    out = {"got": r["got"], "secs": r["secs"], "cpu": r["cpu"] + s["cpu"]}
    if s.get("dropped_at"):
        out["sender_error"] = s["dropped_at"]
    return out


def run_1p(lab, ns_a, count, size):
    p = lab.spawn("ryre-1p", ns_a, [sys.executable, "-u", os.path.abspath(__file__), "--role", "1p",
                                    "--count", str(count), "--size", str(size)])
    r = p.expect(lambda e: "got" in e, 300, "result")
    p.wait_exit(30)
    return {k: r[k] for k in ("got", "secs", "cpu")}


def run_rust(lab, ns_a, ryre_bin, count, size):
    p = lab.spawn("rust", ns_a, [ryre_bin, "bench", "whisper", "--ryre-only", "--json", "--rounds", "1",
                                 "--count", str(count), "--size", str(size)])
    r = p.expect(lambda e: e.get("bench") == "whisper", 300, "rust result")
    p.wait_exit(30)
    return {"rate": r["ryre"]["msgs_per_sec"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--role", choices=["driver", "receiver", "sender", "1p"], default="driver")
    p.add_argument("--api", default="ryre")
    p.add_argument("--iface")
    p.add_argument("--count", type=int, default=100000)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ryre-bin", default=os.path.join(REPO, "target", "release", "ryre"))
    p.add_argument("--variants", default="rust,ryre-1p,ryre,ryre.pyre,pyre")
    args = p.parse_args()
    if args.role == "receiver":
        return role_receiver(args.api, args.iface, args.count)
    if args.role == "sender":
        return role_sender(args.api, args.iface, args.count, args.size)
    if args.role == "1p":
        return one_process(args.count, args.size)

    import netns

    variants = args.variants.split(",")
    results = {v: [] for v in variants}
    with netns.Lab(tag="bench") as lab:
        a, b, link = lab.two_hosts()
        for rnd in range(args.rounds):
            for v in variants:
                if v == "rust":
                    r = run_rust(lab, a, args.ryre_bin, args.count, args.size)
                elif v == "ryre-1p":
                    r = run_1p(lab, a, args.count, args.size)
                else:
                    r = run_pair(lab, a, b, link, v, args.count, args.size)
                if "rate" not in r:
                    r["rate"] = r["got"] / r["secs"] if r["secs"] > 0 else 0.0
                results[v].append(r)
                print("round %d %-9s %s" % (rnd + 1, v, json.dumps(r)), flush=True)
    print("whisper %d B, %d messages, median of %d rounds:" % (args.size, args.count, args.rounds))
    med = {v: statistics.median(r["rate"] for r in rs) for v, rs in results.items()}
    for v, rs in results.items():
        line = "  %-9s %12.0f msg/s" % (v, med[v])
        if "got" in rs[0]:
            lost = max(args.count - r["got"] for r in rs)
            cpu_us = statistics.median(r["cpu"] / max(r["got"], 1) * 1e6 for r in rs)
            line += "   CPU %6.2f us/msg   worst loss %d of %d" % (cpu_us, lost, args.count)
        print(line)
    for x, y in (("ryre", "pyre"), ("ryre.pyre", "pyre"), ("ryre", "rust"), ("ryre-1p", "rust")):
        if x in med and y in med and med[y] > 0:
            print("  ratio %s/%s: %.2f" % (x, y, med[x] / med[y]))
    print(json.dumps({"size": args.size, "count": args.count, "rounds": args.rounds, "median": med,
                      "runs": results}))


if __name__ == "__main__":
    main()
