"""The packages form layers, corpus → index → bot → ui: a module imports from its own layer or the
ones below it, never from one above, and no modules import each other in a circle (not even
through an import inside a function, which hides a circle from Python but not from a reader).

Read from the source with `ast`, without importing anything; an import under
`if TYPE_CHECKING:` counts too: a type named from a layer above is an arrow going up.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("corpus", "index", "bot", "ui")  # each may import only from itself and those before it


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for layer in LAYERS for p in sorted((ROOT / layer).rglob("*.py"))}


def imported_modules(name: str, source: str, modules: set[str], is_package: bool = False) -> set[str]:
    """The project modules that module `name` (whose text is `source`) imports, anywhere in
    it: `from a.b import c` is a.b.c when c is a module, else a.b."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` runs a, a.b and a.b.c; the arrow that matters is to the deepest one we have
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {
        name: imported_modules(name, path.read_text(encoding="utf-8"), set(modules), path.name == "__init__.py")
        for name, path in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_imports_have_no_circles_and_never_go_up_a_layer():
    graph = import_graph()
    assert len(graph) > 50 and "index.tokens" in graph["index.lexicon"]  # the walk sees the imports
    upward = sorted(f"{a} → {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))
    assert upward == [], "imports going up the layers corpus → index → bot → ui"
    assert circles(graph) == [], "modules that import each other, directly or round a circle"


def test_the_walk_finds_a_circle_and_an_upward_arrow():
    """The checks themselves: a circle closed by a relative import and one inside a function,
    and an arrow up."""
    sources = {
        "corpus.a": "def f():\n    from corpus.b import x\n",
        "corpus.b": "from . import a\n",
        "index.c": "import ui.d.e\nfrom corpus import a\n",
        "ui.d": "",
    }
    graph = {name: imported_modules(name, text, set(sources)) for name, text in sources.items()}
    assert graph == {"corpus.a": {"corpus.b"}, "corpus.b": {"corpus.a"}, "index.c": {"ui.d", "corpus.a"}, "ui.d": set()}
    assert circles(graph) == [["corpus.a", "corpus.b"]]
    assert [(a, b) for a, ts in graph.items() for b in ts if layer(b) > layer(a)] == [("index.c", "ui.d")]
