"""The wheel: one import package, ``newswatch``, with the stages and the templates inside it.

The folders ``alerts/``, ``spiders/`` and ``scheduler/`` sit at the top of the repository and
reach the wheel through the symlinks ``newswatch/alerts`` and so on, so nothing with a generic
name (a PyPI distribution owns ``scheduler``) lands at the top of site-packages. The test builds
the sdist and the wheel as an index would get them (and the wheel straight from the checkout, as
the Dockerfile does), installs it with its dependencies in a fresh virtualenv, and runs
``newswatch`` from a folder outside the checkout, with the checkout kept off sys.path, so only the
installed files can answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("alerts", "spiders", "scheduler")

CONFIG = """\
outlets:
  example:
    domains: [www.example.org, mirror.example.net]
    feeds: [/rss.xml]
watches:
  palmyra:
    query: 'Palmyra OR Tadmur'
    notify: [terminal]
channels:
  terminal:
    type: console
"""


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{cmd}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel built from it, as `python -m build` makes them for an index."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], out)
    [sdist] = out.glob("newswatch-*.tar.gz")
    [wheel] = out.glob("newswatch-*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def wheel(built: tuple[Path, Path]) -> Path:
    return built[1]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and its dependencies; returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], venv.parent)
    bin_dir = venv / "bin"
    # this pip installs into the new environment (no bootstrap of its own); --no-compile: the
    # dependencies' bytecode is not what is tested, and writing it is most of an install's time
    install = ["install", "-q", "--no-compile", str(wheel)]
    _run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), *install], venv.parent)
    return bin_dir


def test_wheel_holds_only_the_newswatch_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top = {
            name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
        }
        assert top == {"newswatch"}
        [dist_info] = {n.split("/")[0] for n in names} - {"newswatch"}
        record = archive.read(f"{dist_info}/RECORD").decode()
        recorded = {line.split(",")[0].split("/")[0] for line in record.splitlines() if line}
        assert recorded == {"newswatch", dist_info}
        for stage in STAGES:
            # every module of the top-level folder, as a real file with the folder's content
            for source in (ROOT / stage).glob("*.py"):
                inside = f"newswatch/{stage}/{source.name}"
                assert inside in names, inside
                assert archive.read(inside) == source.read_bytes(), inside
        assert "newswatch/spiders/placement_trees.json" in names
        assert "newswatch/spiders/placement_trees_first.json" in names
        for template in (ROOT / "templates").iterdir():
            assert archive.read(f"newswatch/templates/{template.name}") == template.read_bytes()
        assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        assert "newswatch = newswatch.scheduler.cli:main" in entry_points


def test_wheel_from_the_checkout_is_the_wheel_from_the_sdist(wheel: Path, tmp_path: Path) -> None:
    """`pip wheel .` (the Dockerfile's way) builds straight from the checkout, through the
    symlinks; `python -m build` builds from the sdist, where they are copies."""
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        tmp_path,
    )
    [direct] = tmp_path.glob("newswatch-*.whl")
    with zipfile.ZipFile(direct) as one, zipfile.ZipFile(wheel) as other:
        assert sorted(one.namelist()) == sorted(other.namelist())


def test_sdist_holds_the_stage_folders_and_their_copies_inside_newswatch(
    built: tuple[Path, Path],
) -> None:
    sdist = built[0]
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name}
    for stage in STAGES:
        for source in (ROOT / stage).glob("*.py"):
            for inside in (f"{stage}/{source.name}", f"newswatch/{stage}/{source.name}"):
                assert inside in members and members[inside].isfile(), inside


def test_installed_wheel_checks_a_config_and_renders_its_templates(
    installed: Path, tmp_path: Path
) -> None:
    work = tmp_path / "elsewhere"  # outside the checkout: it cannot leak onto sys.path
    work.mkdir()
    (work / "newswatch.yaml").write_text(CONFIG, encoding="utf-8")

    # what is importable: newswatch and its stages from site-packages, no generic name at all
    probe = _run(
        [
            str(installed / "python"),
            "-I",
            "-c",
            "import importlib.util, sys\n"
            "import newswatch, newswatch.alerts.render as render, newswatch.spiders.news\n"
            "import newswatch.scheduler.cli\n"
            "print(newswatch.__file__)\n"
            "print(render.builtin_templates_dir())\n"
            "print([n for n in ('alerts', 'spiders', 'scheduler') if importlib.util.find_spec(n)])\n",
        ],
        work,
    )
    package_file, templates_dir, generic = probe.stdout.splitlines()
    site = Path(package_file).parent
    assert "site-packages" in site.parts and ROOT not in Path(package_file).parents
    assert Path(templates_dir) == site / "templates"
    assert generic == "[]"

    # Scrapy finds the components the settings name by dotted path, from the installed files
    loaded = _run(
        [
            str(installed / "python"),
            "-I",
            "-c",
            "from scrapy.utils.misc import load_object\n"
            "from newswatch.config import CrawlSettings\n"
            "from newswatch.spiders.settings import scrapy_settings\n"
            "settings = scrapy_settings(CrawlSettings())\n"
            "for key in ('DOWNLOADER_MIDDLEWARES', 'ITEM_PIPELINES'):\n"
            "    for path, order in settings[key].items():\n"
            "        if order is not None:\n"
            "            print(load_object(path).__module__)\n",
        ],
        work,
    )
    assert "newswatch.spiders.pipelines" in loaded.stdout.split()
    assert all(line.startswith(("newswatch.spiders.", "scrapy.")) for line in loaded.stdout.split())

    # `newswatch check` renders every template (a broken one fails the check) and lists the config
    checked = _run([str(installed / "newswatch"), "check", "-c", "newswatch.yaml"], work)
    assert "newswatch.yaml: valid" in checked.stdout, checked.stdout
    assert "example" in checked.stdout and "palmyra" in checked.stdout, checked.stdout
    assert "terminal" in checked.stdout, checked.stdout

    # a sample alert through the console channel: the built-in email.txt from inside the wheel
    sent = _run(
        [str(installed / "newswatch"), "test-alert", "terminal", "-c", "newswatch.yaml"], work
    )
    assert "test alert delivered through 'terminal'" in sent.stderr
    builtin_text = sent.stdout
    assert builtin_text.strip()

    # the user's `templates:` folder comes first; the other templates still come from the wheel
    (work / "mine").mkdir()
    (work / "mine" / "email.txt").write_text("MINE: {{ alert.watch }}\n", encoding="utf-8")
    (work / "custom.yaml").write_text(CONFIG + "templates: mine\n", encoding="utf-8")
    _run([str(installed / "newswatch"), "check", "-c", "custom.yaml"], work)
    custom = _run(
        [str(installed / "newswatch"), "test-alert", "terminal", "-c", "custom.yaml"], work
    )
    assert custom.stdout.startswith("MINE: "), custom.stdout
    assert not builtin_text.startswith("MINE")
