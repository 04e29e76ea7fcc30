"""The layering holds: front ends → commands → core → edges, no cycle, nothing imported upward.

Every import counts, the ones inside functions too, so a lazy import cannot hide a cycle or an upward
dependency. ``python -m tests.test_layers`` prints the module graph (one line per module).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: set(imports(name, path, known)) for name, path in sorted(mods.items())}


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


if __name__ == "__main__":
    for mod, deps in graph().items():
        print(f"{mod:<28} [{layer(mod)}] -> {', '.join(sorted(deps)) or '-'}")
