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
    for f in ("py.typed", "_native.pyi", "__init__.py", "pyre.py"):
        assert os.path.exists(os.path.join(pkg, f)), f


def test_every_public_name_is_documented():
    import ryre.pyre

    for mod in (ryre, ryre.pyre):
        assert mod.__doc__
        for name in mod.__all__:
            obj = getattr(mod, name)
            assert getattr(obj, "__doc__", None), "%s.%s has no docstring" % (mod.__name__, name)
    for cls in (ryre.Node, ryre.Event, ryre.pyre.Pyre, ryre.pyre.PyreEvent):
        for attr, val in vars(cls).items():
            if attr.startswith("_"):
                continue
            assert getattr(val, "__doc__", None), "%s.%s has no docstring" % (cls.__name__, attr)
