"""The import graph between the library's parts, read from the source with ``ast``.

A part is a subpackage (``core``, ``models``, ``data``, ``evaluation``, ``cli``, ...) or a
top-level module (``config``, ``errors``, ``files``, ``viz``, ``widgets``). Every import
counts, at module level or inside a function, relative or absolute, and
``importlib.import_module("literal")`` too; only imports under ``if TYPE_CHECKING:`` are
left out, since they never run. The package's own ``__init__`` (lazy re-exports) is the
facade over all parts and is not a part.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import pixelfiq_lib as pfl

LIBRARY = Path(pfl.__file__).parent
PACKAGE = LIBRARY.name


@dataclass(frozen=True)
class Import:
    source: str  # module doing the import, dotted
    target: str  # module imported from, dotted and absolute
    name: str | None  # the name taken from it (``from target import name``), if any
    where: str  # path:line, for messages


def parts(root: Path) -> set[str]:
    """Subpackages (folders with an ``__init__.py``) and top-level modules of ``root``."""
    subpackages = {p.parent.name for p in root.glob("*/__init__.py")}
    modules = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    return subpackages | modules


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    names = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(names)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, where: str) -> None:
        self.module, self.where, self.found = module, where, []
        self.package = module if is_package else module.rpartition(".")[0]

    def _add(self, target: str, name: str | None, node: ast.AST) -> None:
        where = f"{self.where}:{node.lineno}"
        self.found.append(Import(self.module, target, name, where))

    def _absolute(self, level: int, module: str | None) -> str:
        if not level:
            return module or ""
        base = self.package.split(".")
        base = base[: len(base) - level + 1]
        return ".".join(base + ([module] if module else []))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:  # the ``else`` of TYPE_CHECKING does run
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, None, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        target = self._absolute(node.level, node.module)
        for alias in node.names:
            self._add(target, alias.name, node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0] if node.args else None
        if (
            called == "import_module"
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
        ):
            text = first.value
            level = len(text) - len(text.lstrip("."))
            self._add(self._absolute(level, text.lstrip(".") or None), None, node)
        self.generic_visit(node)


def imports(root: Path) -> list[Import]:
    """Every import made by the ``.py`` files under ``root`` (a package folder)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        collector = _Collector(module, path.name == "__init__.py", str(path.relative_to(root)))
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        found += collector.found
    return found


def part_of(module: str, name: str | None, root: Path) -> str | None:
    """The part ``module`` (or ``from module import name``) belongs to; None outside."""
    package, known = root.name, parts(root)
    pieces = module.split(".")
    if pieces[0] != package:
        return None
    if len(pieces) == 1:  # ``from pixelfiq_lib import data`` reaches a part; names do not
        return name if name in known else None
    return pieces[1] if pieces[1] in known else None


def graph(root: Path) -> dict[tuple[str, str], list[str]]:
    """``(part, part) -> [path:line, ...]`` for every import from one part into another."""
    edges: dict[tuple[str, str], list[str]] = {}
    for imp in imports(root):
        src = part_of(imp.source, None, root)
        dst = part_of(imp.target, imp.name, root)
        if src and dst and src != dst:
            edges.setdefault((src, dst), []).append(imp.where)
    return edges


def cycles(edges) -> list[list[str]]:
    """Strongly connected groups of more than one part (Tarjan), each sorted."""
    nodes = sorted({n for edge in edges for n in edge})
    succ = {n: sorted(b for a, b in edges if a == n) for n in nodes}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(n: str) -> None:
        index[n] = low[n] = len(index)
        stack.append(n)
        on_stack.add(n)
        for m in succ[n]:
            if m not in index:
                visit(m)
                low[n] = min(low[n], low[m])
            elif m in on_stack:
                low[n] = min(low[n], index[m])
        if low[n] == index[n]:
            group = []
            while True:
                m = stack.pop()
                on_stack.discard(m)
                group.append(m)
                if m == n:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for n in nodes:
        if n not in index:
            visit(n)
    return groups


# ------------------------------------------------------------ the checker itself
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_graph_reads_every_kind_of_import_but_type_checking_ones(tmp_path):
    root = _write(
        tmp_path / "toy",
        {
            "__init__.py": "",
            "errors.py": "",
            "a/__init__.py": "from .inner import f\n",
            "a/inner.py": (
                "from typing import TYPE_CHECKING\n"
                "from ..errors import E\n"
                "if TYPE_CHECKING:\n    from ..b.mod import Model\n"
                "def f():\n    import toy.c.deep\n"
            ),
            "b/__init__.py": "",
            "b/mod.py": "from .. import a\n",
            "c/__init__.py": "import importlib\nimportlib.import_module('toy.b.mod')\n",
            "c/deep.py": "",
        },
    )
    edges = graph(root)
    assert sorted(edges) == [("a", "c"), ("a", "errors"), ("b", "a"), ("c", "b")]
    assert edges[("a", "c")] == ["a/inner.py:6"]
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({k: v for k, v in edges.items() if k != ("c", "b")}) == []


# ------------------------------------------------------------ the library
def test_the_library_has_the_parts_this_test_knows():
    known = parts(LIBRARY)
    assert {"core", "models", "data", "evaluation", "cli", "config", "errors"} <= known
    edges = graph(LIBRARY)
    assert ("models", "core") in edges  # the networks take the paper's constants
    assert ("cli", "core") in edges


def test_no_import_cycle_between_parts_of_the_library():
    edges = graph(LIBRARY)
    found = cycles(edges)
    detail = {
        f"{a} -> {b}": sites[:3]
        for group in found
        for (a, b), sites in sorted(edges.items())
        if a in group and b in group
    }
    assert not found, f"import cycles {found}: {detail}"


def test_nothing_in_the_library_imports_the_cli():
    offenders = [
        imp.where
        for imp in imports(LIBRARY)
        if part_of(imp.source, None, LIBRARY) != "cli"
        and part_of(imp.target, imp.name, LIBRARY) == "cli"
    ]
    assert not offenders, f"library modules that import the command line: {offenders}"


def _public_names(part: str) -> set[str]:
    module = importlib.import_module(f"{PACKAGE}.{part}")
    names = getattr(module, "__all__", None)
    if names is None:  # a top-level module without __all__: its names without "_"
        names = [n for n in vars(module) if not n.startswith("_")]
    return set(names)


def test_the_cli_uses_only_public_names():
    """cli/ takes names from ``pixelfiq_lib`` or from a part's ``__init__`` (its
    ``__all__``; a top-level module's names without a leading underscore)."""
    public = {PACKAGE: set(pfl.__all__)}
    offenders = []
    for imp in imports(LIBRARY):
        if part_of(imp.source, None, LIBRARY) != "cli":
            continue
        target = part_of(imp.target, imp.name, LIBRARY)
        if target is None and imp.target != PACKAGE or target == "cli":
            continue  # outside the library, or the command's own modules
        if imp.target == PACKAGE:
            allowed = imp.name in public[PACKAGE]
        elif imp.target == f"{PACKAGE}.{target}":
            if target not in public:
                public[target] = _public_names(target)
            allowed = imp.name is None or imp.name in public[target]
        else:  # pixelfiq_lib.<part>.<module>: behind the public names
            allowed = False
        if not allowed:
            name = f" ({imp.name})" if imp.name else ""
            offenders.append(f"{imp.where} {imp.target}{name}")
    assert not offenders, f"{len(offenders)} imports past the public names: {offenders}"
