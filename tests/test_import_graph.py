"""No import circle between the modules of any project package (issue 29.6).

``test_lowlight_common.py`` checks the packages against each other; this checks the modules
inside them. An edge is any import that runs (at module level or inside a function: a lazy
import still ties the two modules together), except those under ``if TYPE_CHECKING:``.
``from pkg import name`` points at the submodule ``pkg.name`` when there is one, else at the
package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO_ROOT

PACKAGES = ("lowlight_common", "lldata", "diffll", "detectors", "enhancers", "iqa", "efficiency", "reports")


def _modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """module -> imported project module -> one place (``file:line``) that imports it."""
    modules = _modules(root, packages)
    edges: dict[str, dict[str, str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_only(tree)
        own_package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = own_package[: len(own_package) - (node.level - 1)]
                    base = ".".join([*parent, base] if base else parent)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != module:
                    edges.setdefault(module, {}).setdefault(target, f"{path.relative_to(root)}:{node.lineno}")
    return edges


def circles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_between_modules() -> None:
    edges = import_graph(REPO_ROOT, PACKAGES)
    assert len(edges) > 50  # the graph was read (not an empty walk)
    problems = [
        " <-> ".join(group) + " (" + ", ".join(edges[a][b] for a in group for b in edges.get(a, {}) if b in group) + ")"
        for group in circles(edges)
    ]
    assert not problems, "import circles: " + "; ".join(problems)


def test_the_check_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")  # lazy and relative: still a circle
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "d.py").write_text("import pkg.c\n")
    edges = import_graph(tmp_path, ("pkg",))
    assert circles(edges) == [["pkg.a", "pkg.b"]]
    assert "pkg.c" not in edges and edges["pkg.d"] == {"pkg.c": "pkg/d.py:1"}
