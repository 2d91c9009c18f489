"""Imported as ``newswatch.alerts`` only: the folder sits at the top of the repository and is
installed inside the one import package (``newswatch/alerts`` is a symlink to it).

Importing it under its folder's bare name would load every module a second time under another
name (the checkout is on sys.path in an editable install), and the wheel has no such name, so
that fails here, loudly.
"""

if __name__ != "newswatch.alerts":
    raise ImportError(f"import newswatch.alerts, not {__name__}: the stage lives in newswatch")
