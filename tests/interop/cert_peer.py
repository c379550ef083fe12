"""A raw certified-mode peer for test_certified_refusals_netns.py: it presents any certificate
chain, including ones `ryre node` refuses to start with (expired, not yet valid, tampered, a
sub-CA granting more than it has), in a ZRE HELLO over a real CURVE link.

    python cert_peer.py ADDR BCAST NAME.secret NAME.cert GROUP SECONDS [tamper]

Written from the wire rules (ZRE v2 frames, 54-byte v3 beacons with the CURVE key, as a secure
ryre node accepts from Zyre): it beacons on UDP 5670 of BCAST with the key of NAME.secret,
greets every secure node it hears (a CURVE DEALER to its beaconed key, HELLO with
X-PUBLICKEY and X-RYRE-CERT = the chain of NAME.cert; with `tamper`, one byte of the first
certificate's name changed after signing), joins GROUP, then shouts to it and whispers, and
reports as JSON lines what it receives (HELLO, WHISPER, SHOUT, JOIN). Never touches the root
namespace: the test runs it inside a namespace of its own.
"""

import base64
import json
import os
import socket
import struct
import sys
import time

from secure_tools import _zre_string, curve_inbox, parse_hello, zre_hello


def out(**kv):
    print(json.dumps(kv), flush=True)


def read_secret(path):
    """(public, secret) Z85 CURVE keys of a ryre NAME.secret (ZPL, curve/public-key and
    curve/secret-key)."""
    keys = {}
    section = None
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            section = line.strip()
            continue
        k, _, v = line.strip().partition("=")
        keys[(section, k.strip())] = v.strip().strip('"')
    return keys[("curve", "public-key")].encode(), keys[("curve", "secret-key")].encode()


def read_chain(path):
    """The bytes of a ryre certificate file's armored block (the encoded chain)."""
    body, inside = [], False
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-----BEGIN"):
            inside = True
        elif line.startswith("-----END"):
            inside = False
        elif inside:
            body.append(line)
    return base64.b64decode("".join(body))


def tampered(chain, name):
    """The chain with one byte of `name` (in the first certificate) changed after signing."""
    at = chain.find(name.encode())
    assert at >= 0, "name %r not in the chain" % name
    b = bytearray(chain)
    b[at] ^= 0x01
    return bytes(b)


def main(addr, bcast, secret_path, cert_path, group, seconds, *flags):
    import zmq
    import zmq.utils.z85 as z85
    pub, sec = read_secret(secret_path)
    name = os.path.basename(cert_path)[:-len(".cert")]
    chain = read_chain(cert_path)
    if "tamper" in flags:
        chain = tampered(chain, name)
    header = base64.b64encode(chain).decode()
    ctx = zmq.Context()
    uuid = os.urandom(16)
    inbox, port = curve_inbox(ctx, pub, sec, addr)
    out(event="STARTED", peer=uuid.hex().upper(), public_key=pub.decode(), port=port,
        tampered="tamper" in flags)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    udp.bind(("", 5670))
    beacon = b"ZRE\x03" + uuid + struct.pack(">H", port) + z85.decode(pub)
    dealers = {}  # peer uuid -> [DEALER, its sequence number]
    poller = zmq.Poller()
    poller.register(inbox, zmq.POLLIN)
    poller.register(udp.fileno(), zmq.POLLIN)
    deadline = time.monotonic() + float(seconds)
    next_beacon = next_send = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_beacon:
            udp.sendto(beacon, (bcast, 5670))
            next_beacon = now + 0.2
        if dealers and now >= next_send:
            # Keep trying what a refused peer would: shout and whisper (none may arrive).
            for link in dealers.values():
                link[1] += 1
                link[0].send_multipart([bytes([0xAA, 0xA1, 3, 2]) + struct.pack(">H", link[1])
                                        + _zre_string(group.encode()), b"shout-from-" + name.encode()])
                link[1] += 1
                link[0].send_multipart([bytes([0xAA, 0xA1, 2, 2]) + struct.pack(">H", link[1]),
                                        b"whisper-from-" + name.encode()])
            next_send = now + 0.5
        for sock, _ in poller.poll(100):
            if sock == inbox:
                frames = inbox.recv_multipart()
                sender = frames[0][1:].hex().upper()  # routing id: 0x01 + the sender's uuid
                head = frames[1]
                kind = head[2] if len(head) > 2 else None
                content = b"".join(frames[2:]).decode("utf-8", "replace")
                if kind == 1:
                    ep, groups, status, hname, headers = parse_hello(head)
                    out(event="HELLO", peer=sender, name=hname, groups=groups)
                elif kind == 2:
                    out(event="WHISPER", peer=sender, content=content)
                elif kind == 3:
                    out(event="SHOUT", peer=sender, content=content)
                elif kind == 4:
                    out(event="JOIN", peer=sender)
            else:
                data, src = udp.recvfrom(2048)
                if len(data) == 54 and data[:4] == b"ZRE\x03" and data[4:20] != uuid \
                        and data[4:20] not in dealers and struct.unpack(">H", data[20:22])[0] != 0:
                    their_key = z85.encode(data[22:54])
                    their_port = struct.unpack(">H", data[20:22])[0]
                    out(event="BEACON", peer=data[4:20].hex().upper(), port=their_port)
                    dealer = ctx.socket(zmq.DEALER)
                    dealer.curve_serverkey = their_key
                    dealer.curve_publickey = pub
                    dealer.curve_secretkey = sec
                    dealer.identity = b"\x01" + uuid
                    dealer.linger = 0
                    dealer.connect("tcp://%s:%d" % (src[0], their_port))
                    dealers[data[4:20]] = [dealer, 1]
                    dealer.send(zre_hello(1, "tcp://%s:%d" % (addr, port), [group], 1, name,
                                          {"X-PUBLICKEY": pub.decode(), "X-RYRE-CERT": header}))
                    out(event="GREETED", peer=data[4:20].hex().upper())
    out(event="DONE")
    for s in [link[0] for link in dealers.values()] + [inbox]:
        s.close()
    ctx.term()


if __name__ == "__main__":
    main(*sys.argv[1:])
