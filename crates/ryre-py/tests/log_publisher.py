"""A Python program logging to the mesh, for tests/test_log.py:

    python log_publisher.py PORT

Installs ryre.log.Handler on the root logger (its own node, named "py-app", on loopback),
waits for a collector that wants INFO, logs four records (one DEBUG, which an INFO collector
never gets), closes the handler and prints its stats."""

import json
import logging
import sys

import ryre.log


def main() -> None:
    port = int(sys.argv[1])
    handler = ryre.log.Handler(name="py-app", interface="lo", port=port, interval=0.1,
                               scan_every=0.02)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    if not handler.wait_collector("info", timeout=20):
        print("no collector", flush=True)
        sys.exit(2)
    logging.getLogger("app.web").info("hello %s", "world", extra={"user": "ann"})
    logging.getLogger("app.db").debug("not wanted")
    logging.getLogger("app.db").warning("slow query: %d ms", 812)
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("app").exception("it broke")
    logging.getLogger("app").critical("on fire")
    stats = handler.stats()
    handler.close()
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
