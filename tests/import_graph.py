"""The project's import graph, read from source with ast, for the layering test.

Kept apart from the test so the cycle finder can be checked on a synthetic graph too.
Every import counts, also those inside functions and under ``if TYPE_CHECKING:``: a lazy
or type-only import that closes a loop still ties two modules into one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted module name of a source file (``core/ui/__init__.py`` → ``core.ui``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Every dotted name a module's source imports (``from a import b`` gives ``a`` and ``a.b``)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module if is_package else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}".strip(".")
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(source))
    return names


def project_graph(folders: Iterable[str], root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the project modules it imports, parents included (importing ``a.b`` runs ``a``)."""
    sources = {}
    for folder in folders:
        target = root / folder
        paths = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
        for path in paths:
            sources[module_name(path, root)] = (path.read_text(), path.name == "__init__.py")
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        edges: set[str] = set()
        own_packages = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
        for name in imported_names(source, module, is_package):
            parts = name.split(".")
            prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
            # a module's own enclosing packages are already running when it is imported: not an edge
            edges.update(prefix for prefix in prefixes - own_packages if prefix in sources)
        graph[module] = edges
    return graph


def external_imports(folders: Iterable[str], root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the top-level names of everything it imports (``streamlit``, ``polars``, ``core`` …)."""
    result = {}
    for folder in folders:
        target = root / folder
        paths = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
        for path in paths:
            module = module_name(path, root)
            names = imported_names(path.read_text(), module, path.name == "__init__.py")
            result[module] = {name.split(".")[0] for name in names}
    return result


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
            strongconnect(node)
    return found
