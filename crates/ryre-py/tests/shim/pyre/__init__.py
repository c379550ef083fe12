"""A stand-in `pyre` package for the tests: `import pyre` gives ryre.pyre, so an application
written for Pyre (tests/interop/pyre_peer.py, examples/chat.py) runs unchanged on ryre."""

from ryre.pyre import Pyre, PyreEvent, __version_info__  # noqa: F401

RUNNING_ON_RYRE = True
