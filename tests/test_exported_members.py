"""Every module says what it offers in ``__all__``, and offers exactly that."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

ROOT = "newswatch"  # the one import package; the stages are its subpackages
PACKAGES = [ROOT, "newswatch.spiders", "newswatch.scheduler", "newswatch.alerts"]


def _modules() -> list[str]:
    module = importlib.import_module(ROOT)
    names = [ROOT]
    for info in pkgutil.walk_packages(module.__path__, prefix=f"{ROOT}."):
        names.append(info.name)
    return names


def test_every_stage_is_inside_newswatch() -> None:
    assert set(PACKAGES) <= set(_modules())


@pytest.mark.parametrize("name", _modules())
def test_public_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        assert name in PACKAGES, f"{name} has no __all__"
        return
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert len(set(exported)) == len(exported)
