"""What ships: the wheel holds the product (bot/, commands/, the schema revisions), not the test doubles or the
benchmarks, and the installed package runs without the development extras (pytest, bm25s, …)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

DEV_ONLY = ("pytest", "xdist", "bm25s", "tests", "bench", "tools", "ruff", "mypy")


@pytest.mark.long
def test_the_wheel_ships_the_product_and_no_tools(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the working tree
    for name in ("bot", "commands", "knowledge"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(tmp_path), str(src)], capture_output=True, text=True, timeout=300)
    if build.returncode != 0 and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel offline here: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("p2p_bot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    # the shipped topics install as data (<prefix>/share/p2p-bot/knowledge), found by kb.default_dir()
    shipped = {n.rsplit("/", 1)[1] for n in names if "/data/share/p2p-bot/knowledge/" in n}
    assert shipped == {p.name for p in (ROOT / "knowledge").glob("*.md")}, shipped
    assert tops == {"bot", "commands"}, tops
    assert not [n for n in names if "fake_slack" in n or "bench" in n.split("/")], names
    assert "bot/edges/migrations/env.py" in names
    assert any(n.startswith("bot/edges/migrations/versions/0001_") for n in names)
    assert "bot/sandbox/server.py" in names  # the demo needs it


def test_the_package_never_imports_a_development_tool() -> None:
    found = []
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("commands").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in DEV_ONLY]
    assert found == []


BLOCKED_RUN = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is a development tool")
sys.meta_path.insert(0, Block())
import bot, commands
for pkg in (bot, commands):
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if ".migrations." not in m.name:  # Alembic runs those files itself
            importlib.import_module(m.name)
from bot.frontends.cli import main
sys.exit(main(["--help"]))
"""


def test_help_and_every_module_load_without_the_development_extras() -> None:
    out = subprocess.run([sys.executable, "-c", BLOCKED_RUN.format(blocked=DEV_ONLY)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: p2p-bot" in out.stdout and "serve" in out.stdout


def test_the_c_stemmer_is_used_and_stems_as_the_pure_python_one() -> None:
    """PyStemmer (the Snowball project's C build) is what snowballstemmer hands out when it is installed: a
    cold `ask` then does not import 34 languages' Python stemmers. Both must give the same stems, or a cached
    index would not match a fresh one; checked on every word of the shipped knowledge."""
    import re

    import snowballstemmer
    from snowballstemmer.english_stemmer import EnglishStemmer

    fast = snowballstemmer.stemmer("english")
    assert type(fast).__module__ == "Stemmer", "PyStemmer is not installed: `pip install -e .`"
    words = sorted({w for f in (ROOT / "knowledge").glob("*.md")
                    for w in re.findall(r"[a-z0-9]+(?:[_'][a-z0-9]+)*", f.read_text(encoding="utf-8").lower())})
    pure = EnglishStemmer()
    assert len(words) > 1000
    assert [fast.stemWord(w) for w in words] == [pure.stemWord(w) for w in words]
