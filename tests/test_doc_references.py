"""Every dotted reference to the library in its docs resolves.

Read: the package's docstrings, README.md, docs/*.md, benchmarks/*.md and benchmarks/*.py.
``pixelfiq_lib.a.b.c`` is a path: its modules import under those very names (an alias
kept for earlier versions, such as ``pixelfiq_lib.quality`` for ``core.quality``, does
not count) and the rest are attributes. ``pfl.a.b`` is attribute access on
``import pixelfiq_lib as pfl``, so aliases are fine there. A dataclass field ends the
walk: what lies past an instance attribute cannot be checked without an instance.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LIBRARY = REPO_ROOT / "pixelfiq_lib"
REFERENCE = re.compile(r"(?<![\w.])(pixelfiq_lib|pfl)((?:\.[A-Za-z_]\w*)+)")


def problem(reference: str) -> str | None:
    """Why ``reference`` does not resolve, or None when it does."""
    strict = reference.startswith("pixelfiq_lib.")
    parts = ["pixelfiq_lib", *reference.split(".")[1:]]
    obj = importlib.import_module("pixelfiq_lib")
    for i, name in enumerate(parts[1:], start=2):
        path = ".".join(parts[:i])
        if inspect.ismodule(obj):
            submodule = f"{obj.__name__}.{name}"  # an alias's submodule under its real name
            try:
                obj = importlib.import_module(submodule)
                continue
            except ModuleNotFoundError as exc:
                if exc.name != submodule:  # the module exists but needs something missing
                    raise
        if name in getattr(obj, "__dataclass_fields__", {}) and not hasattr(obj, name):
            return None
        if not hasattr(obj, name):
            return f"{path} does not exist"
        obj = getattr(obj, name)
        if strict and inspect.ismodule(obj) and obj.__name__ != path:
            return f"{path} is an alias: write {obj.__name__}"
    return None


def _docstrings(path: Path) -> list[tuple[int, str]]:
    """``(first line, text)`` of the module's, classes' and functions' docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, kinds) and ast.get_docstring(node, clean=False) is not None:
            expr = node.body[0]
            found.append((expr.lineno, expr.value.value))
    return found


def references(path: Path) -> list[tuple[int, str]]:
    """``(line, reference)`` for every dotted reference in ``path``'s documentation."""
    rel = path.relative_to(REPO_ROOT)
    if rel.parts[0] == "pixelfiq_lib":
        texts = _docstrings(path)
    else:  # markdown, and the benchmark scripts as a whole (code and comments)
        texts = [(1, path.read_text(encoding="utf-8"))]
    found = []
    for first, text in texts:
        for match in REFERENCE.finditer(text):
            line = first + text.count("\n", 0, match.start())
            found.append((line, match.group(0)))
    return found


SOURCES = sorted(
    [
        *LIBRARY.rglob("*.py"),
        REPO_ROOT / "README.md",
        *(REPO_ROOT / "docs").glob("*.md"),
        *(REPO_ROOT / "benchmarks").glob("*.md"),
        *(REPO_ROOT / "benchmarks").glob("*.py"),
    ]
)


def _id(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def test_the_resolver_tells_paths_from_stale_names():
    assert problem("pixelfiq_lib.core.calibration.fit_scaling") is None
    assert problem("pixelfiq_lib.models.FRModel.official_variant") is None
    assert problem("pfl.quality.dropout_masks") is None  # attribute access via the alias
    assert problem("pfl.PLQResult.plq") is None  # a dataclass field
    assert problem("pixelfiq_lib.core.quality.fit_scaling") == (
        "pixelfiq_lib.core.quality.fit_scaling does not exist"
    )
    assert problem("pixelfiq_lib.quality.serfiq_quality") == (
        "pixelfiq_lib.quality is an alias: write pixelfiq_lib.core.quality"
    )
    assert problem("pfl.no_such_name") == "pixelfiq_lib.no_such_name does not exist"
    text = "see pixelfiq_lib.core.maps.quality_map() and `pfl.PAPER_A`; not mypfl.x"
    assert [m.group(0) for m in REFERENCE.finditer(text)] == [
        "pixelfiq_lib.core.maps.quality_map",
        "pfl.PAPER_A",
    ]


def test_the_docs_hold_references_to_check():
    assert sum(len(references(p)) for p in SOURCES) >= 100


@pytest.mark.parametrize("path", SOURCES, ids=_id)
def test_every_dotted_reference_resolves(path):
    broken = [
        f"{_id(path)}:{line}: {why}"
        for line, ref in references(path)
        if (why := problem(ref)) is not None
    ]
    assert not broken, "\n".join(broken)


def _defined_names(path: Path) -> set[str]:
    """Functions, classes and variables a module defines at any level."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_glossary_links_the_file_that_defines_each_name():
    """A glossary entry ``[`pfl.x`](../pixelfiq_lib/a/b.py)`` sends the reader to x's source."""
    text = (REPO_ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    links = re.findall(r"\[`(pfl\.[\w.]+)`\]\(\.\./(pixelfiq_lib/[\w/]+\.py)\)", text)
    assert len(links) >= 40
    wrong = [
        f"{name} -> {path}"
        for name, path in links
        if name.rsplit(".", 1)[-1] not in _defined_names(REPO_ROOT / path)
    ]
    assert not wrong, wrong
