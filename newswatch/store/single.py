"""The embedded store serves one ``newswatch run``: a second one on the same folder is refused.

Two services on one SQLite file would each poll every outlet and each run every digest: the
store keeps alerts single, but the work and the traffic to every outlet double, and nothing in
the embedded store shares it out (that is what the Redis store's queue and lease are for). An
exclusive ``flock`` on a file beside the database says so at start, with the other process's pid;
the kernel drops the lock when its holder dies, so a crash never leaves the folder locked.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from newswatch.errors import StoreError

__all__ = ["hold_single_process"]

LOCK_NAME = "run.lock"


def hold_single_process(folder: Path) -> IO[str]:
    """Lock the folder for this process; keep the returned file open while the service runs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        other = handle.read().strip() or "unknown"
        handle.close()
        raise StoreError(
            f"the embedded store in {folder}/ is in use by another `newswatch run` (pid {other}): "
            "it serves one process. To run several processes, point them all at one Redis "
            "(store: redis://host:6379/0)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
