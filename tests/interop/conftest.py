import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import netns  # noqa: E402

_SUPPORT = None


def _support():
    global _SUPPORT
    if _SUPPORT is None:
        _SUPPORT = netns.netns_supported()
    return _SUPPORT


def pytest_sessionstart(session):
    if os.geteuid() == 0 and os.path.exists(netns._IP):
        netns.cleanup_stale_namespaces()


@pytest.fixture
def lab(request):
    ok, reason = _support()
    if not ok:
        pytest.skip(reason)
    lab = netns.Lab(tag=request.node.name)
    try:
        yield lab
    finally:
        # always runs, also when the test failed or timed out (pytest-timeout
        # in signal mode raises inside the test, so this finally executes)
        lab.close()


@pytest.fixture(scope="session")
def pyre_cmd():
    """argv prefix that runs pyre_peer.py with the interpreter running pytest
    (the venv created by run.sh, which has zeromq-pyre installed)."""
    try:
        import pyre  # noqa: F401
    except ImportError:
        pytest.skip("zeromq-pyre not installed in this interpreter (use tests/interop/run.sh)")
    return [sys.executable, "-u", os.path.join(HERE, "pyre_peer.py")]


@pytest.fixture(scope="session")
def ryre_bin():
    path = os.environ.get("RYRE_BIN") or os.path.join(REPO, "target", "debug", "ryre")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip("ryre binary not found at %s (build it with `cargo build`, or set RYRE_BIN)" % path)
    return path


# ---------------------------------------------------------------------------
# "findings": facts recorded by tests (timings, how Pyre reacted), printed at
# the end of the run so they are visible in CI logs.

FINDINGS = []


@pytest.fixture
def finding(request):
    def add(msg):
        FINDINGS.append("%s: %s" % (request.node.name, msg))
    return add


def pytest_terminal_summary(terminalreporter):
    if FINDINGS:
        terminalreporter.section("interop findings")
        for f in FINDINGS:
            terminalreporter.write_line(f)
