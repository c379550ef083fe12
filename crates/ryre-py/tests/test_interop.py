"""ryre for Python against a real Pyre 0.3.4 (from PyPI) in network namespaces this test
creates: ryre.Node <-> pyre and ryre.pyre <-> pyre, both directions; and a Pyre-style chat
application running unchanged on both."""

import json
import os
import sys

import pytest

from conftest import HERE, INTEROP

ENTER_T = 15  # Pyre beacons once a second; its TCP handshake follows
MSG_T = 10
GROUP = "INTEROP"

PYRE_PEER = os.path.join(INTEROP, "pyre_peer.py")
RYRE_PEER = os.path.join(HERE, "ryre_peer.py")
SHIM = os.path.join(HERE, "shim")
CHAT = os.path.join(os.path.dirname(HERE), "examples", "chat.py")


def env_with(path=None):
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start(lab, ns, kind, name, iface, *flags):
    """kind: 'pyre' (real Pyre), 'ryre.pyre' (the same driver on ryre.pyre through the
    `pyre` shim), 'ryre' (the native ryre.Node driver)."""
    py = [sys.executable, "-u"]
    if kind == "pyre":
        argv, env = py + [PYRE_PEER], env_with()
    elif kind == "ryre.pyre":
        argv, env = py + [PYRE_PEER], env_with(SHIM)
    else:
        argv, env = py + [RYRE_PEER, "--interface", iface], env_with()
    p = lab.spawn("%s:%s" % (kind, name), ns, argv + ["--name", name] + list(flags), env=env)
    ev = p.expect("STARTED", 30, "STARTED line")
    p.uuid = ev["peer"]
    return p


def exchange(x, y, hx, hy):
    """x and y (both --join GROUP --echo) see each other ENTER with headers and JOIN, shout
    and whisper in both directions."""
    for me, other, headers in ((x, y, hy), (y, x, hx)):
        ev = me.expect({"event": "ENTER", "peer": other.uuid}, ENTER_T, "ENTER of " + other.label, others=[other])
        for k, v in headers.items():
            assert ev["headers"].get(k) == v, ev
        assert ev["endpoint"].startswith("tcp://10.200."), ev
        me.expect({"event": "JOIN", "peer": other.uuid, "group": GROUP}, ENTER_T, "JOIN", others=[other])
    for sender, receiver in ((x, y), (y, x)):
        text = "hello from " + sender.label
        sender.send("shout %s %s" % (GROUP, text))
        receiver.expect({"event": "SHOUT", "peer": sender.uuid, "group": GROUP, "content": text}, MSG_T,
                        "SHOUT", others=[sender])
        sender.expect({"event": "WHISPER", "peer": receiver.uuid, "content": "ECHO " + text}, MSG_T,
                      "echoed WHISPER", others=[receiver])
        sender.send("whisper %s direct" % receiver.uuid)
        receiver.expect({"event": "WHISPER", "peer": sender.uuid, "content": "direct"}, MSG_T,
                        "WHISPER", others=[sender])
    # LEAVE, both ways
    x.send("leave " + GROUP)
    y.expect({"event": "LEAVE", "peer": x.uuid, "group": GROUP}, MSG_T, "LEAVE", others=[x])
    y.send("leave " + GROUP)
    x.expect({"event": "LEAVE", "peer": y.uuid, "group": GROUP}, MSG_T, "LEAVE", others=[y])


@pytest.mark.parametrize("ours", ["ryre", "ryre.pyre"])
@pytest.mark.parametrize("ours_stops_first", [True, False], ids=["ours-exits", "pyre-exits"])
def test_with_real_pyre(lab, ours, ours_stops_first):
    a, b, link = lab.two_hosts()
    mine = start(lab, a, ours, "mine", link["if_a"], "--join", GROUP, "--echo", "--header", "X-SIDE=ryre")
    theirs = start(lab, b, "pyre", "theirs", link["if_b"], "--join", GROUP, "--echo", "--header", "X-SIDE=pyre")
    exchange(mine, theirs, {"X-SIDE": "ryre"}, {"X-SIDE": "pyre"})
    first, second = (mine, theirs) if ours_stops_first else (theirs, mine)
    first.send("stop")
    first.wait_exit(15)
    second.expect({"event": "EXIT", "peer": first.uuid}, 40, "EXIT of " + first.label)


def test_pyre_app_runs_on_ryre_pyre_unchanged(lab):
    """tests/interop/pyre_peer.py imports `from pyre import Pyre`; with the shim it runs on
    ryre.pyre; check it is really ryre underneath (the shim's marker) and it talks to ryre."""
    a, b, link = lab.two_hosts()
    probe = lab.spawn("probe", a, [sys.executable, "-c", "import pyre, json; print(json.dumps({'event': 'PROBE', 'ryre': getattr(pyre, 'RUNNING_ON_RYRE', False)}))"],
                      env=env_with(SHIM))
    assert probe.expect("PROBE", 20, "probe")["ryre"] is True
    x = start(lab, a, "ryre.pyre", "x", link["if_a"], "--join", GROUP, "--echo", "--header", "K=1")
    y = start(lab, b, "ryre", "y", link["if_b"], "--join", GROUP, "--echo", "--header", "K=2")
    exchange(x, y, {"K": "1"}, {"K": "2"})


def chat(lab, ns, backend, name, port):
    argv = [sys.executable, "-u", CHAT, name, "--port", str(port)]
    if backend == "pyre":
        argv.append("--pyre")
    return lab.spawn("chat:" + name, ns, argv)


def line(p, text, timeout, what):
    return p.expect(lambda ev: ev.get("event") == "_RAW" and text in ev.get("line", ""), timeout, what)


@pytest.mark.parametrize("left,right", [("pyre", "ryre"), ("ryre", "ryre")])
def test_chat_app_on_both(lab, left, right):
    a, b, _ = lab.two_hosts()
    port = 5670 + (os.getpid() % 1000)  # inside private namespaces: any port is ours
    x = chat(lab, a, left, "xavier", port)
    y = chat(lab, b, right, "yvonne", port)
    line(x, "is here (%s.pyre)" % left, 20, "start banner")
    line(y, "is here (%s.pyre)" % right, 20, "start banner")
    line(x, "yvonne entered (header example header1)", ENTER_T, "yvonne entered")
    line(y, "xavier entered (header example header1)", ENTER_T, "xavier entered")
    line(x, "yvonne joined", ENTER_T, "yvonne joined")
    line(y, "xavier joined", ENTER_T, "xavier joined")
    x.send("hi from xavier")
    line(y, "xavier: hi from xavier", MSG_T, "xavier's line")
    y.send("hi from yvonne ü")
    line(x, "yvonne: hi from yvonne ü", MSG_T, "yvonne's line")
    y.popen.stdin.close()  # end of input: the app quits
    line(y, "* bye", 15, "bye")
    line(x, "* yvonne left", 40, "yvonne left")
