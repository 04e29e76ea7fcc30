"""The layering holds: front ends → commands → core → edges, no cycle, nothing imported upward.

Every import counts, the ones inside functions too, so a lazy import cannot hide a cycle or an upward
dependency. ``python -m tests.test_layers`` prints the module graph (one line per module), ``--mermaid`` the picture
README embeds, ``--update-readme`` redraws it there.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.xdist_group("layers")  # one worker parses the code once for all of them
# lower number = lower layer; a module may import only its own layer or lower ones
LAYERS = [("bot.frontends", 4), ("bot.__main__", 4), ("commands", 3), ("bot.core", 2), ("bot.edges", 1),
          ("bot.sandbox", 1), ("bot", 0)]


def layer(module: str) -> int:
    for prefix, n in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return n
    raise AssertionError(f"{module} is in no layer")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in ("bot", "commands"):
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Internal modules that ``name`` imports anywhere in its body (under TYPE_CHECKING too)."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                yield t


@functools.cache  # parsed once per worker: the tests below only read it
def graph() -> dict[str, frozenset[str]]:
    mods = modules()
    known = set(mods)
    return {name: frozenset(imports(name, path, known)) for name, path in sorted(mods.items())}


def test_nothing_imports_a_higher_layer() -> None:
    upward = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
              for a, deps in graph().items() for b in deps if layer(b) > layer(a)]
    assert not upward, "\n".join(upward)


def test_no_import_cycle() -> None:
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            # a package's __init__ importing its own submodules is how a package is assembled, not a cycle
            if m.startswith(n + "."):
                continue
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if state.get(m) is None and (cycle := visit(m)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in g:
        if n not in state and (cycle := visit(n)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_the_checker_sees_lazy_and_upward_imports(tmp_path: Path) -> None:
    src = "def f():\n    from bot.frontends import cli\n"
    path = tmp_path / "x.py"
    path.write_text(src)
    assert list(imports("bot.core.x", path, {"bot.frontends.cli", "bot.core.x"})) == ["bot.frontends.cli"]


# -- the picture ------------------------------------------------------------------------------------------
GROUPS = [("bot.frontends", "front ends"), ("commands", "commands"), ("bot.core", "core"), ("bot.edges", "edges"),
          ("bot.sandbox", "sandbox")]


def unit(module: str) -> tuple[str, str] | None:
    """(layer, box) a module is drawn in: a sub-command module is part of one "commands" box, a package
    (slack/, docs/, alma/, migrations/) is one box; the entry point and bare package roots are not drawn."""
    for prefix, title in GROUPS:
        if module.startswith(prefix + "."):
            rest = module[len(prefix) + 1:].split(".")
            return title, ("commands" if prefix == "commands" else rest[0])
        if module == prefix == "commands":
            return title, "commands"
    return None


def mermaid() -> str:
    """The import graph, module boxes grouped by layer, as a Mermaid flowchart (README embeds it)."""
    boxes: dict[str, set[str]] = {title: set() for _p, title in GROUPS}
    edges: set[tuple[str, str]] = set()
    ident = {title: title.replace(" ", "") for _p, title in GROUPS}
    for a, deps in graph().items():
        ua = unit(a)
        if ua is None:
            continue
        boxes[ua[0]].add(ua[1])
        for b in deps:
            ub = unit(b)
            if ub is not None and ub != ua:
                edges.add((f"{ident[ua[0]]}_{ua[1]}", f"{ident[ub[0]]}_{ub[1]}"))
    # an arrow that another path already implies is left out (transitive reduction), so the picture shows
    # what each box needs directly rather than every import
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)

    def reach(start: str, skip: tuple[str, str]) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            n = todo.pop()
            for m in succ.get(n, ()):
                if (n, m) != skip and m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    edges = {(a, b) for a, b in edges if b not in reach(a, (a, b))}
    lines = ["flowchart TD"]
    for _p, title in GROUPS:
        lines.append(f'  subgraph {ident[title]}["{title}"]')
        lines.extend(f"    {ident[title]}_{box}[{box}]" for box in sorted(boxes[title]))
        lines.append("  end")
    lines.extend(f"  {a} --> {b}" for a, b in sorted(edges))
    return "\n".join(lines)


def test_the_readme_picture_is_the_import_graph() -> None:
    """README's picture is drawn from the code: an import that changes the picture changes README too
    (`python -m tests.test_layers --mermaid` prints it)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{mermaid()}\n```" in readme, \
        "README's import graph is stale: run `.venv/bin/python -m tests.test_layers --update-readme`"


def update_readme() -> None:
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    start = text.index("```mermaid\n")
    end = text.index("\n```", start + 11)
    path.write_text(text[:start] + f"```mermaid\n{mermaid()}" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    import sys

    if "--mermaid" in sys.argv:
        print(mermaid())
    elif "--update-readme" in sys.argv:
        update_readme()
    else:
        for mod, deps in graph().items():
            print(f"{mod:<28} [{layer(mod)}] -> {', '.join(sorted(deps)) or '-'}")
