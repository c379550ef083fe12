"""The installed package: no system libzmq needed at run time, CURVE built in, typed."""

import os
import shutil
import subprocess

import pytest

import ryre
import ryre._native


def test_extension_does_not_link_a_system_libzmq():
    so = ryre._native.__file__
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("no ldd")
    out = subprocess.run([ldd, so], capture_output=True, text=True, timeout=30).stdout
    assert "libzmq" not in out, out
    assert "libpython" not in out, out  # abi3 extension: no libpython link


def test_vendored_libzmq_has_curve():
    assert ryre.zmq_has("curve") is True
    assert ryre.zmq_has("no-such-capability") is False


def test_typed_package_files_are_installed():
    pkg = os.path.dirname(ryre.__file__)
    for f in ("py.typed", "_native.pyi", "__init__.py", "pyre.py", "pipeline.py", "log.py",
              "timer.py"):
        assert os.path.exists(os.path.join(pkg, f)), f


def test_every_public_name_is_documented():
    import ryre.log
    import ryre.pipeline
    import ryre.pyre
    import ryre.timer

    for mod in (ryre, ryre.pyre, ryre.pipeline, ryre.log, ryre.timer):
        assert mod.__doc__
        for name in mod.__all__:
            obj = getattr(mod, name)
            assert getattr(obj, "__doc__", None), "%s.%s has no docstring" % (mod.__name__, name)
    classes = [ryre.Node, ryre.Event, ryre.pyre.Pyre, ryre.pyre.PyreEvent]
    classes += [ryre.pipeline.Worker, ryre.pipeline.Client, ryre.pipeline.Collector,
                ryre.pipeline.Batch, ryre.log.Handler, ryre.log.Collector, ryre.log.LogRecord,
                ryre.timer.Timers, ryre.timer.Server, ryre.timer.Tick, ryre.timer.Wake,
                ryre.timer.TimerNotice]
    for klass in classes:
        for cls in klass.__mro__:
            if cls is object or cls.__module__ == "logging":
                continue
            for attr, val in vars(cls).items():
                if attr.startswith("_"):
                    continue
                assert getattr(val, "__doc__", None), "%s.%s has no docstring" % (
                    cls.__name__, attr)


def test_stubs_match_the_extension():
    """Every class and function of ryre._native has a stub, and every stubbed method or
    property exists at run time (the stubs cannot drift from the code)."""
    import ast

    pkg = os.path.dirname(ryre.__file__)
    tree = ast.parse(open(os.path.join(pkg, "_native.pyi")).read())
    stubbed = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            stubbed[node.name] = [n.name for n in node.body if isinstance(n, ast.FunctionDef)]
        elif isinstance(node, ast.FunctionDef):
            stubbed[node.name] = []
    for name, members in stubbed.items():
        obj = getattr(ryre._native, name, None)
        assert obj is not None, "stub %s has nothing behind it" % name
        for m in members:
            if m == "__new__":
                continue
            assert hasattr(obj, m), "stub %s.%s has nothing behind it" % (name, m)
    for name in dir(ryre._native):
        obj = getattr(ryre._native, name)
        if name.startswith("_") or not callable(obj):
            continue
        assert name in stubbed, "ryre._native.%s has no stub" % name
