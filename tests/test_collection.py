"""Garbage collection settled for a long-lived crawling process (``newswatch.collection``).

Run in a fresh interpreter: freezing is for the life of a process.
"""

from __future__ import annotations

import subprocess
import sys

SETTLED = """
import gc, weakref
from newswatch.collection import YOUNG_THRESHOLD, settle

kept = [object() for _ in range(1000)]
settle()
assert gc.get_freeze_count() >= len(kept), gc.get_freeze_count()
assert gc.get_threshold()[0] == YOUNG_THRESHOLD

class Node:
    pass

node = Node()
node.itself = node  # a cycle: only the collector can free it
gone = weakref.ref(node)
del node
gc.collect()
assert gone() is None, "cyclic garbage made after settling was not collected"
"""


def test_settling_freezes_what_lives_and_still_collects_what_comes_after() -> None:
    done = subprocess.run([sys.executable, "-c", SETTLED], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
