"""Run the ``newswatch`` command with a resolver of the test's own: ``python -m tests.support.fake_dns``.

The test "internet" is one loopback proxy, so real DNS knows none of its host names. Mirror
verification asks the system's resolver where a candidate lives (a mirror must be on a public
address), and so does the crawl's egress rule: this wrapper gives them the answers a test
wants. ``$NEWSWATCH_TEST_DNS`` maps host names to one address each (JSON), or to ``"hang"`` for a lookup
that never returns; numeric addresses and
``localhost`` resolve as usual (the proxy, SMTP and webhook servers are on 127.0.0.1), and every
other name does not resolve at all, so nothing a test does ever asks a real DNS server.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any

HANG = "hang"  # as a name's address: its lookup never returns

_real_getaddrinfo = socket.getaddrinfo


def install(names: dict[str, str]) -> None:
    """Answer ``getaddrinfo`` for ``names`` from the map, for every process-wide caller."""
    table = {name.lower(): address for name, address in names.items()}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".") in table:
            address = table[name.lower().rstrip(".")]
            if address == HANG:  # a name server that never answers
                time.sleep(3600)
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (
                (address, port or 0, 0, 0) if family == socket.AF_INET6 else (address, port or 0)
            )
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
        if name is None or name == "localhost" or _is_numeric(name):
            return _real_getaddrinfo(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"{name}: not in the test's DNS")

    socket.getaddrinfo = getaddrinfo


def _is_numeric(name: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, name.split("%", 1)[0])
            return True
        except OSError:
            continue
    return False


def main() -> int:
    install(json.loads(os.environ.get("NEWSWATCH_TEST_DNS", "{}")))
    from newswatch.scheduler.cli import main as newswatch

    return newswatch(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
