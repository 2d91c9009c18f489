"""newswatch: keyword alerts for news outlets and their mirror domains.

The core package holds what every stage shares (config, store, article identity, errors) and
imports no stage of its own.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
