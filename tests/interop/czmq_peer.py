"""The discovery half of a Zyre node, from CZMQ itself (libczmq through ctypes): the beacon
and gossip code Zyre uses, and a CZMQ ROUTER as the inbox they announce. Prints JSON lines:

    {"event": "READY", ...}                       (set up; the inbox endpoint, the uuid used)
    {"event": "BEACON", "from": <source address>, "data": <hex of the beacon bytes>}
    {"event": "DELIVER", "key": <key>, "value": <value>}   (a gossip tuple from the network)
    {"event": "MESSAGE", "frames": [<hex>, ...]}   (what arrives at the inbox: HELLO first)

Usage (the environment is set here, before CZMQ starts):
    czmq_peer.py beacon INTERFACE PORT SECONDS       zbeacon with ZSYS_IPV6=1 on INTERFACE
    czmq_peer.py hub ENDPOINT SECONDS                 a zgossip hub bound at ENDPOINT
    czmq_peer.py client ENDPOINT HOST SECONDS         a zgossip client of the hub at ENDPOINT,
                                                      publishing (uuid, its inbox at tcp://HOST:*)
"""

import ctypes
import json
import os
import sys
import time
import uuid


def main():
    mode = sys.argv[1]
    if mode == "beacon":
        os.environ["ZSYS_IPV6"] = "1"
        os.environ["ZSYS_INTERFACE"] = sys.argv[2]
    elif "[" in sys.argv[2]:
        os.environ["ZSYS_IPV6"] = "1"
    cz = ctypes.CDLL("libczmq.so.4")
    vp = ctypes.c_void_p
    cz.zactor_new.restype = vp
    cz.zactor_new.argtypes = [vp, vp]
    cz.zstr_recv.restype = ctypes.c_char_p
    cz.zstr_recv.argtypes = [vp]
    cz.zsock_new_router.restype = vp
    cz.zsock_new_router.argtypes = [ctypes.c_char_p]
    cz.zsock_last_endpoint.restype = ctypes.c_char_p
    cz.zsock_last_endpoint.argtypes = [vp]
    cz.zsock_set_rcvtimeo.argtypes = [vp, ctypes.c_int]
    cz.zmsg_recv.restype = vp
    cz.zmsg_recv.argtypes = [vp]
    cz.zmsg_pop.restype = vp
    cz.zmsg_pop.argtypes = [vp]
    cz.zframe_data.restype = ctypes.POINTER(ctypes.c_ubyte)
    cz.zframe_data.argtypes = [vp]
    cz.zframe_size.restype = ctypes.c_size_t
    cz.zframe_size.argtypes = [vp]
    cz.zframe_destroy.argtypes = [ctypes.POINTER(vp)]
    cz.zmsg_destroy.argtypes = [ctypes.POINTER(vp)]
    cz.zsock_send.restype = ctypes.c_int
    cz.zsock_recv.restype = ctypes.c_int

    def frames(msg):
        out = []
        while True:
            f = vp(cz.zmsg_pop(msg))
            if not f.value:
                break
            n = cz.zframe_size(f)
            out.append(bytes(cz.zframe_data(f)[:n]))
            cz.zframe_destroy(ctypes.byref(f))
        m = vp(msg)
        cz.zmsg_destroy(ctypes.byref(m))
        return out

    if mode != "beacon":
        return gossip(cz, vp, frames, mode, sys.argv[2:])
    port, secs = int(sys.argv[3]), float(sys.argv[4])
    beacon = cz.zactor_new(ctypes.cast(cz.zbeacon, vp).value, None)
    cz.zsock_send(vp(beacon), b"si", b"CONFIGURE", ctypes.c_int(port))
    hostname = cz.zstr_recv(vp(beacon)).decode()
    # The inbox the beacon announces (CZMQ sets ZMQ_IPV6 on its sockets with ZSYS_IPV6=1).
    inbox = cz.zsock_new_router(b"tcp://[%s]:*" % hostname.encode())
    if not inbox:
        print(json.dumps({"event": "ERROR", "what": "router bind", "hostname": hostname}), flush=True)
        return 1
    endpoint = cz.zsock_last_endpoint(vp(inbox)).decode()
    inbox_port = int(endpoint.rsplit(":", 1)[1])
    me = uuid.uuid4().bytes
    data = b"ZRE\x01" + me + inbox_port.to_bytes(2, "big")
    cz.zsock_send(vp(beacon), b"sbi", b"PUBLISH", data, ctypes.c_size_t(len(data)), ctypes.c_int(200))
    cz.zsock_send(vp(beacon), b"sb", b"SUBSCRIBE", b"ZRE", ctypes.c_size_t(3))
    print(json.dumps({"event": "READY", "hostname": hostname, "port": inbox_port,
                      "uuid": me.hex().upper(), "endpoint": endpoint}), flush=True)
    cz.zsock_set_rcvtimeo(vp(beacon), 50)
    cz.zsock_set_rcvtimeo(vp(inbox), 50)
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        msg = cz.zmsg_recv(vp(beacon))
        if msg:
            fs = frames(msg)
            if len(fs) == 2 and fs[1][:4] == b"ZRE\x01" and fs[1][4:20] != me:
                print(json.dumps({"event": "BEACON", "from": fs[0].decode(), "data": fs[1].hex()}),
                      flush=True)
        msg = cz.zmsg_recv(vp(inbox))
        if msg:
            print(json.dumps({"event": "MESSAGE", "frames": [f.hex() for f in frames(msg)]}),
                  flush=True)
    cz.zactor_destroy.argtypes = [ctypes.POINTER(vp)]
    cz.zsock_destroy_checked.argtypes = [ctypes.POINTER(vp), ctypes.c_char_p, ctypes.c_size_t]
    b, i = vp(beacon), vp(inbox)
    cz.zactor_destroy(ctypes.byref(b))
    cz.zsock_destroy_checked(ctypes.byref(i), b"czmq_peer.py", 0)
    return 0


def gossip(cz, vp, frames, mode, args):
    cz.zactor_new.argtypes = [vp, ctypes.c_char_p]
    cz.zstr_sendx.restype = ctypes.c_int
    actor = cz.zactor_new(ctypes.cast(cz.zgossip, vp).value, b"czmq")
    endpoint = args[0].encode()
    inbox = None
    me = uuid.uuid4().hex.upper()
    if mode == "hub":
        secs = float(args[1])
        cz.zstr_sendx(vp(actor), b"BIND", endpoint, None)
        print(json.dumps({"event": "READY", "bind": args[0]}), flush=True)
    else:
        host, secs = args[1], float(args[2])
        inbox = cz.zsock_new_router(b"tcp://%s:*" % host.encode())
        if not inbox:
            print(json.dumps({"event": "ERROR", "what": "router bind", "host": host}), flush=True)
            return 1
        mine = cz.zsock_last_endpoint(vp(inbox))
        cz.zsock_set_rcvtimeo(vp(inbox), 20)
        cz.zstr_sendx(vp(actor), b"CONNECT", endpoint, None)
        cz.zstr_sendx(vp(actor), b"PUBLISH", me.encode(), mine, None)
        print(json.dumps({"event": "READY", "uuid": me, "endpoint": mine.decode()}), flush=True)
    cz.zsock_set_rcvtimeo(vp(actor), 30)
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        msg = cz.zmsg_recv(vp(actor))
        if msg:
            fs = frames(msg)
            if len(fs) == 3 and fs[0] == b"DELIVER":
                print(json.dumps({"event": "DELIVER", "key": fs[1].decode(), "value": fs[2].decode()}),
                      flush=True)
        if inbox:
            msg = cz.zmsg_recv(vp(inbox))
            if msg:
                print(json.dumps({"event": "MESSAGE", "frames": [f.hex() for f in frames(msg)]}),
                      flush=True)
    cz.zactor_destroy.argtypes = [ctypes.POINTER(vp)]
    a = vp(actor)
    cz.zactor_destroy(ctypes.byref(a))
    if inbox:
        cz.zsock_destroy_checked.argtypes = [ctypes.POINTER(vp), ctypes.c_char_p, ctypes.c_size_t]
        i = vp(inbox)
        cz.zsock_destroy_checked(ctypes.byref(i), b"czmq_peer.py", 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
