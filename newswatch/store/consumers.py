"""Who leases outbox entries: one name per process, and how to tell that its process is gone.

Every process that delivers (``newswatch run``, each ``run --once``) leases the entries it is about
to send under its own consumer name, so two processes on one store never hold the same entry: a
cron ``run --once`` that outlives its interval and the next one share the outbox instead of both
sending everything. The name is ``host:pid``. An entry leased by a process that died before
acknowledging it (kill -9, a power cut) must not wait long: a consumer on this host whose process
no longer exists has abandoned its leases, and the next delivery run takes them over at once.
Leases of consumers on other hosts are taken over once idle for the store's ``stale_after``.
"""

from __future__ import annotations

import os
import socket

__all__ = ["is_abandoned", "outbox_consumer"]


def outbox_consumer() -> str:
    """This process's consumer name."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_abandoned(consumer: str) -> bool:
    """True when ``consumer`` names a process of this host that no longer exists.

    A name of another host, or one that is not ``host:pid``, is never judged abandoned here: its
    leases are taken over only when they go stale. A reused pid makes a dead consumer look alive,
    which errs on the safe side (its leases wait until stale instead of being sent twice).
    """
    host, _, pid = consumer.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False
