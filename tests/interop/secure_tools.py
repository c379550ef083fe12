"""Mallory's tools for the secure-mode tests (test_secure.py): each subcommand does one thing
from inside a network namespace and reports what happened as JSON lines on stdout.

    python secure_tools.py sniff PORT SECONDS          print every UDP datagram on PORT
    python secure_tools.py send BCAST PORT HEX...      broadcast these datagrams
    python secure_tools.py signed-leave UUID BCAST PORT  a leaving beacon for UUID, signed by a
                                                        fresh Ed25519 key (not the owner's)
    python secure_tools.py listen SECONDS              a TCP listener; reports every connection
    python secure_tools.py probe HOST PORT SECONDS     a plain ZMTP (NULL) client: what comes back
    python secure_tools.py impersonate ENDPOINT SERVERKEY UUID COUNT
                                                        a CURVE client with its own key that
                                                        claims UUID's routing id and whispers
    python secure_tools.py register HOST PORT          a Register with a forged key proof
    python secure_tools.py zyre-peer ADDR BCAST GROUP SECONDS
                                                        a peer in C Zyre's secure mode, written
                                                        from zyre_node.c's behaviour: v3 beacons,
                                                        a CURVE ROUTER inbox, CURVE DEALERs, HELLO
                                                        with X-PUBLICKEY; it greets the first
                                                        secure node it hears, joins GROUP,
                                                        whispers and shouts, and reports all it
                                                        receives
"""

import json
import os
import socket
import struct
import sys
import time


def out(**kv):
    print(json.dumps(kv), flush=True)


def sniff(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("", int(port)))
    out(event="STARTED", peer="0" * 32)
    deadline = time.monotonic() + float(seconds)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            break
        out(event="DATAGRAM", hex=data.hex(), len=len(data), src=addr[0])
    out(event="DONE")


def send(bcast, port, *hexes):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    for h in hexes:
        s.sendto(bytes.fromhex(h), (bcast, int(port)))
    out(event="SENT", n=len(hexes))


def signed_leave(uuid_hex, bcast, port):
    import nacl.signing
    key = nacl.signing.SigningKey.generate()
    body = b"RYB\x01" + bytes.fromhex(uuid_hex) + struct.pack(">HQ", 0, 2 ** 63) + bytes(key.verify_key)
    datagram = body + key.sign(body).signature
    send(bcast, port, datagram.hex())


def listen(seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 0))
    s.listen(16)
    out(event="LISTENING", port=s.getsockname()[1])
    deadline = time.monotonic() + float(seconds)
    n = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            c, addr = s.accept()
        except socket.timeout:
            break
        n += 1
        out(event="ACCEPTED", src=addr[0])
        c.close()
    out(event="DONE", accepted=n)


def probe(host, port, seconds):
    """ZMTP 3.0 greeting with the NULL mechanism (RFC 23), then everything the server sends."""
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31
    assert len(greeting) == 64
    c = socket.create_connection((host, int(port)), timeout=5)
    c.sendall(greeting)
    got = b""
    deadline = time.monotonic() + float(seconds)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        c.settimeout(left)
        try:
            chunk = c.recv(4096)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    mech = got[12:32].rstrip(b"\x00").decode("ascii", "replace") if len(got) >= 32 else ""
    out(event="PROBE", received=len(got), mechanism=mech, hex=got[:128].hex())


def impersonate(endpoint, server_key, uuid_hex, count):
    import zmq
    ctx = zmq.Context()
    pub, sec = zmq.curve_keypair()
    d = ctx.socket(zmq.DEALER)
    d.curve_serverkey = server_key.encode()
    d.curve_publickey = pub
    d.curve_secretkey = sec
    d.identity = b"\x01" + bytes.fromhex(uuid_hex)
    d.linger = 0
    d.connect(endpoint)
    n = int(count)
    for seq in range(2, 2 + n):
        d.send_multipart([bytes([0xAA, 0xA1, 2, 2]) + struct.pack(">H", seq), b"forged"])
    time.sleep(0)  # nothing to wait for: the frames are queued; give the I/O thread the socket
    # Keep the connection up long enough for libzmq to flush (bounded).
    poller = zmq.Poller()
    poller.register(d, zmq.POLLIN)
    poller.poll(1500)
    out(event="SENT", n=n, key=pub.decode())
    d.close()
    ctx.term()


def register(host, port):
    """A Register for a fresh UUID whose proof is random bytes (RRV version 1, kind 1)."""
    uuid = os.urandom(16)
    endpoint = b"tcp://127.0.0.1:9"
    body = b"RRV\x01\x01" + uuid + bytes([4]) + b"evil" + bytes([len(endpoint)]) + endpoint
    body += b"\x00" + b"\x00\x00" + b"\x00\x00" + b"\x00"  # no beacon, headers, groups; status
    body += b"\x01" + os.urandom(32) + os.urandom(64)      # a forged proof
    c = socket.create_connection((host, int(port)), timeout=5)
    c.sendall(struct.pack(">I", len(body)) + body)
    got = b""
    c.settimeout(5)
    try:
        while len(got) < 4 or len(got) < 4 + struct.unpack(">I", got[:4])[0]:
            chunk = c.recv(4096)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    kind = got[8] if len(got) > 8 else None
    code = got[9] if len(got) > 9 else None
    out(event="REPLY", kind=kind, code=code, uuid=uuid.hex().upper())


def _zre_string(b):
    return bytes([len(b)]) + b


def _zre_longstr(b):
    return struct.pack(">I", len(b)) + b


def zre_hello(seq, endpoint, groups, status, name, headers):
    body = bytes([0xAA, 0xA1, 1, 2]) + struct.pack(">H", seq) + _zre_string(endpoint.encode())
    body += struct.pack(">I", len(groups)) + b"".join(_zre_longstr(g.encode()) for g in groups)
    body += bytes([status]) + _zre_string(name.encode())
    body += struct.pack(">I", len(headers))
    for k, v in headers.items():
        body += _zre_string(k.encode()) + _zre_longstr(v.encode())
    return body


def parse_hello(frame):
    """(endpoint, groups, status, name, headers) of a ZRE HELLO frame."""
    pos = 6

    def string():
        nonlocal pos
        n = frame[pos]
        v = frame[pos + 1:pos + 1 + n].decode()
        pos += 1 + n
        return v

    def longstr():
        nonlocal pos
        n = struct.unpack(">I", frame[pos:pos + 4])[0]
        v = frame[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        return v

    def count():
        nonlocal pos
        n = struct.unpack(">I", frame[pos:pos + 4])[0]
        pos += 4
        return n
    endpoint = string()
    groups = [longstr() for _ in range(count())]
    status = frame[pos]
    pos += 1
    name = string()
    headers = {}
    for _ in range(count()):
        k = string()
        headers[k] = longstr()
    return endpoint, groups, status, name, headers


def curve_inbox(ctx, pub, sec, addr):
    """A ZRE inbox as a secure Zyre node binds it: a CURVE-server ROUTER (ZAP domain "global")
    on an OS-chosen port of `addr`; returns (socket, port)."""
    import zmq
    inbox = ctx.socket(zmq.ROUTER)
    inbox.curve_server = True
    inbox.curve_secretkey = sec
    inbox.curve_publickey = pub
    inbox.zap_domain = b"global"
    inbox.linger = 0
    return inbox, inbox.bind_to_random_port("tcp://%s" % addr)


def zyre_peer(addr, bcast, group, seconds):
    import zmq
    import zmq.utils.z85 as z85
    ctx = zmq.Context()
    pub, sec = zmq.curve_keypair()
    while z85.decode(pub)[0] == 0:  # as Zyre: never a key starting with 0
        pub, sec = zmq.curve_keypair()
    uuid = os.urandom(16)
    inbox, port = curve_inbox(ctx, pub, sec, addr)
    out(event="STARTED", peer=uuid.hex().upper(), public_key=pub.decode(), port=port)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    udp.bind(("", 5670))
    beacon = b"ZRE\x03" + uuid + struct.pack(">H", port) + z85.decode(pub)
    dealer = None
    seq = 0
    poller = zmq.Poller()
    poller.register(inbox, zmq.POLLIN)
    poller.register(udp.fileno(), zmq.POLLIN)
    deadline = time.monotonic() + float(seconds)
    next_beacon = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_beacon:
            udp.sendto(beacon, (bcast, 5670))
            next_beacon = now + 0.2
        for sock, _ in poller.poll(100):
            if sock == inbox:
                frames = inbox.recv_multipart()
                head = frames[1]
                kind = head[2] if len(head) > 2 else None
                if kind == 1:
                    ep, groups, status, name, headers = parse_hello(head)
                    out(event="HELLO", name=name, endpoint=ep, groups=groups, headers=headers,
                        signature=head[:2].hex(), version=head[3], sequence=struct.unpack(">H", head[4:6])[0])
                elif kind == 2:
                    out(event="WHISPER", content=b"".join(frames[2:]).decode("utf-8", "replace"))
                elif kind == 3:
                    out(event="SHOUT", content=b"".join(frames[3:]).decode("utf-8", "replace"))
                elif kind == 6:  # PING -> PING-OK
                    if dealer is not None:
                        seq += 1
                        dealer.send(bytes([0xAA, 0xA1, 7, 2]) + struct.pack(">H", seq))
            else:
                data, src = udp.recvfrom(2048)
                if dealer is None and len(data) == 54 and data[:4] == b"ZRE\x03" and data[4:20] != uuid:
                    their_key = z85.encode(data[22:54])
                    their_port = struct.unpack(">H", data[20:22])[0]
                    out(event="BEACON", peer=data[4:20].hex().upper(), key=their_key.decode(), port=their_port)
                    dealer = ctx.socket(zmq.DEALER)
                    dealer.curve_serverkey = their_key
                    dealer.curve_publickey = pub
                    dealer.curve_secretkey = sec
                    dealer.identity = b"\x01" + uuid
                    dealer.linger = 0
                    dealer.connect("tcp://%s:%d" % (src[0], their_port))
                    endpoint = "tcp://%s:%d" % (addr, port)
                    seq = 1
                    dealer.send(zre_hello(seq, endpoint, [group], 1, "zyre",
                                          {"X-PUBLICKEY": pub.decode(), "X-IMPL": "zyre-secure"}))
                    seq += 1
                    dealer.send_multipart([bytes([0xAA, 0xA1, 2, 2]) + struct.pack(">H", seq), b"whisper-from-zyre"])
                    seq += 1
                    dealer.send_multipart([bytes([0xAA, 0xA1, 3, 2]) + struct.pack(">H", seq) + _zre_string(group.encode()),
                                           b"shout-from-zyre"])
    out(event="DONE")
    for s in (dealer, inbox):
        if s is not None:
            s.close()
    ctx.term()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"sniff": sniff, "send": send, "signed-leave": signed_leave, "listen": listen,
     "probe": probe, "impersonate": impersonate, "register": register,
     "zyre-peer": zyre_peer}[cmd](*args)
