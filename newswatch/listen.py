"""Where the service listens (``service.listen``), and whether that is this machine only.

The page shows every outlet, watch and alert: on a loopback address only people on the machine
reach it, anywhere else it must ask for ``service.auth``. Config validation and the HTTP server
read the address the same way, so the two can never disagree about what "loopback" means.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback", "split_listen"]


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8787`` for IPv6; no host means 127.0.0.1) as (host, port)."""
    host, _, port = listen.strip().rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{listen!r} is not host:port (e.g. 127.0.0.1:8787)") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"{listen!r}: port {number} is out of range")
    return host.strip("[]") or "127.0.0.1", number


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; a name that is no address is not trusted
    (it may resolve to anything), nor is 0.0.0.0 / :: (every interface)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
