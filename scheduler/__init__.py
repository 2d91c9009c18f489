"""Imported as ``newswatch.scheduler`` only: the folder sits at the top of the repository and is
installed inside the one import package (``newswatch/scheduler`` is a symlink to it).

Importing it under its folder's bare name would load every module a second time under another
name (the checkout is on sys.path in an editable install), and the wheel has no such name, so
that fails here, loudly.
"""

if __name__ != "newswatch.scheduler":
    raise ImportError(f"import newswatch.scheduler, not {__name__}: the stage lives in newswatch")
