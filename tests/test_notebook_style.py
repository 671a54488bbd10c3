"""Structural lint of the course notebooks (house style §5.3, §5.7), and its own tests.

Every rule is checked on the real notebooks, and each rule is shown to fire on a
small notebook that breaks it, so a violation cannot pass unnoticed.
"""

from __future__ import annotations

import copy
import os
import re

import nbformat
import pytest

from tools import NOTEBOOK_DIR, navigation, run_notebooks

EXPECTED = [
    "00_quickstart.ipynb",
    "01_quality_model.ipynb",
    "02_regression_construction.ipynb",
    "03_gradient_backprop.ipynb",
    "04_evaluation.ipynb",
    "05_interactive_explorer.ipynb",
    "06_bring_your_own_model.ipynb",
]
MAX_CODE_LINES = 15

IMPORT_RE = re.compile(r"^\s*(import\s+\w|from\s+[\w.]+\s+import\s)", re.M)
SHELL_RE = re.compile(r"^\s*(![ \t]*(pip|wget|git|curl|conda)\b|%(pip|conda)\b)", re.M)
ABS_PATH_RE = re.compile(r"""(["'])(/[A-Za-z]|~/|[A-Za-z]:\\)|\.\./""")
CUDA_RE = re.compile(r"""["']cuda""")
RUNTIME_RE = re.compile(r"\*\*Runtime\*\*:?.*CPU.*FAST", re.I)


def _headings(nb) -> list[str]:
    return [
        ln.strip()
        for c in nb.cells
        if c.cell_type == "markdown"
        for ln in c.source.splitlines()
        if ln.startswith("#")
    ]


def _setup_index(nb) -> int | None:
    for i, cell in enumerate(nb.cells[:-1]):
        if cell.cell_type == "markdown" and re.search(r"^## Setup\s*$", cell.source, re.M):
            return i + 1 if nb.cells[i + 1].cell_type == "code" else None
    return None


def _title_problems(nb, number: str) -> list[str]:
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        return ["cell 0 must be the markdown title cell"]
    title, out = nb.cells[0].source, []
    if not re.match(rf"# {number}\b", title):
        out.append(f"cell 0 must start with an H1 '# {number} · ...'")
    if "Learning goals" not in title:
        out.append("the title cell has no 'Learning goals'")
    if "Prerequisites" not in title:
        out.append("the title cell has no 'Prerequisites'")
    if not RUNTIME_RE.search(title):
        out.append("the title cell has no '**Runtime**: CPU ≈ N min (FAST: ...)' line")
    return out


def _section_problems(nb) -> list[str]:
    heads, out = _headings(nb), []
    for wanted in ("## Setup", "## Exercises", "## Summary", "### References"):
        if not any(h == wanted or h.startswith(wanted + " ") for h in heads):
            out.append(f"missing heading {wanted!r}")
    if not any(re.match(r"## 1\. ", h) for h in heads):
        out.append("missing numbered sections ('## 1. ...')")
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1 or tagged[0].cell_type != "code":
        out.append(f"expected one code cell tagged 'parameters', found {len(tagged)}")
    elif "cfg.fast" not in tagged[0].source:
        out.append("the parameters cell does not show its FAST values (cfg.fast)")
    return out


def _setup_problems(nb) -> list[str]:
    setup = _setup_index(nb)
    if setup is None:
        return ["'## Setup' must be followed by the setup code cell"]
    src, out = nb.cells[setup].source, []
    for needed in (
        "%load_ext autoreload",
        "%autoreload 2",
        "import pixelfiq_lib as pfl",
        "pfl.config.setup_notebook(",
    ):
        if needed not in src:
            out.append(f"the setup cell lacks {needed!r}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and i != setup and IMPORT_RE.search(cell.source):
            out.append(f"cell {i}: imports belong in the setup cell")
    return out


def _code_problems(nb) -> list[str]:
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        src = cell.source
        if cell.get("outputs") or cell.get("execution_count") is not None:
            out.append(f"cell {i}: has outputs or an execution count (commit notebooks stripped)")
        if SHELL_RE.search(src):
            out.append(
                f"cell {i}: installs or downloads from a shell escape (!pip, !wget, !git, %pip)"
            )
        if ABS_PATH_RE.search(src):
            out.append(f"cell {i}: absolute or '../' path literal; use pfl.config paths")
        if CUDA_RE.search(src):
            out.append(f"cell {i}: hard-coded 'cuda'; use cfg.device")
        if re.search(r"^\s*from\s+\S+\s+import\s+\*", src, re.M):
            out.append(f"cell {i}: 'import *'")
        if len([ln for ln in src.splitlines() if ln.strip()]) > MAX_CODE_LINES:
            out.append(f"cell {i}: more than {MAX_CODE_LINES} lines; move logic into pixelfiq_lib")
        if i == 0 or nb.cells[i - 1].cell_type != "markdown":
            out.append(f"cell {i}: a code cell needs a sentence of prose before it")
    return out


def notebook_problems(nb, name: str, names: list[str]) -> list[str]:
    """Every style problem of notebook ``nb`` saved as ``name`` among ``names`` (empty = fine)."""
    match = navigation.NOTEBOOK_RE.match(name)
    if match is None:
        return [f"file name {name!r} does not match NN_snake_case.ipynb"]
    out = _title_problems(nb, match.group(1)) + _section_problems(nb) + _setup_problems(nb)
    out += _code_problems(nb)
    if nb.cells and nb.cells[0].cell_type == "markdown":
        out += navigation.navigation_problems(nb, navigation.nav_line(name, names))
    return out


# ------------------------------------------------------------------ the real notebooks
def test_notebook_set_is_exactly_00_to_06_in_order():
    assert navigation.notebook_names(NOTEBOOK_DIR) == EXPECTED
    stray = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb") if p.name not in EXPECTED)
    assert not stray, f"unexpected notebooks: {stray}"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_follows_the_house_style(name):
    path = NOTEBOOK_DIR / name
    assert path.is_file(), f"{name} is missing"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    problems = notebook_problems(nb, name, navigation.notebook_names(NOTEBOOK_DIR))
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def test_navigation_lines_are_as_generated():
    assert navigation.check_navigation(NOTEBOOK_DIR) == []


# ------------------------------------------------------- the lint fires on violations
NAMES = ["00_intro.ipynb", "01_demo.ipynb", "02_next.ipynb"]


def _good() -> nbformat.NotebookNode:
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md(
            "# 01 · Demo\n\nWhy.\n\n**Learning goals**\n- compute things\n\n**Prerequisites**: "
            "[00](00_intro.ipynb)\n\n**Runtime**: CPU ≈ 1 min (FAST: < 1 min)"
        ),
        md("## Setup"),
        code(
            "%load_ext autoreload\n%autoreload 2\nimport numpy as np\nimport pixelfiq_lib as pfl\n"
            "cfg = pfl.config.setup_notebook(seed=0)"
        ),
        md("## Parameters"),
        code("N_PASSES = 8 if cfg.fast else 100"),
        md("## 1. First step\n\nWe compute."),
        code("x = np.arange(N_PASSES)\nassert x.sum() >= 28"),
        md("## Exercises\n\n1. Do it."),
        md(
            "## Summary\n\n- done\n\n### References\n\n- arXiv 2110.11001\n\n"
            "**Next →** [02](02_next.ipynb)"
        ),
    ]
    cells[4].metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=cells)
    return navigation.with_navigation(nb, navigation.nav_line("01_demo.ipynb", NAMES))


def _set(i: int, text: str):
    def edit(nb):
        nb.cells[i].source = text

    return edit


def _append(text: str):
    def edit(nb):
        nb.cells.insert(-1, nbformat.v4.new_markdown_cell("Prose."))
        nb.cells.insert(-1, nbformat.v4.new_code_cell(text))

    return edit


def _outputs(nb):
    nb.cells[6].outputs = [nbformat.v4.new_output("stream", text="1\n")]


def _count(nb):
    nb.cells[6].execution_count = 3


def _untag(nb):
    nb.cells[4].metadata["tags"] = []


def _no_bottom_nav(nb):
    nb.cells.pop()


def _stale_top_nav(nb):
    nb.cells[0].source = nb.cells[0].source.replace("02_next", "03_other")


def _two_code_cells(nb):
    nb.cells.insert(7, nbformat.v4.new_code_cell("y = 1"))


VIOLATIONS = {
    "wrong number in title": _set(
        0,
        "# 02 · Demo\n\n**Learning goals**\n**Prerequisites**\n"
        "**Runtime**: CPU ≈ 1 min (FAST: < 1 min)",
    ),
    "no learning goals": _set(
        0, "# 01 · Demo\n\n**Prerequisites**\n**Runtime**: CPU ≈ 1 min (FAST: < 1 min)"
    ),
    "no runtime line": _set(0, "# 01 · Demo\n\n**Learning goals**\n**Prerequisites**"),
    "no setup heading": _set(1, "## Preparation"),
    "setup without autoreload": _set(
        2, "import pixelfiq_lib as pfl\ncfg = pfl.config.setup_notebook(seed=0)"
    ),
    "no parameters tag": _untag,
    "no FAST values": _set(4, "N_PASSES = 100"),
    "no summary": _set(8, "## Wrap-up\n\n### References\n"),
    "no exercises": _set(7, "## Homework"),
    "no references": _set(8, "## Summary\n\n- done"),
    "no numbered sections": _set(5, "## First step"),
    "import outside setup": _append("import os"),
    "from-import outside setup": _append("from pathlib import Path"),
    "outputs": _outputs,
    "execution count": _count,
    "!pip": _append("!pip install torch"),
    "%pip": _append("%pip install torch"),
    "!wget": _append("!wget http://x/y.png"),
    "!git": _append("! git clone http://x/y"),
    "absolute path": _append("img = pfl.data.load_image('/home/me/face.png')"),
    "../data literal": _append('img = pfl.data.load_image("../data/face.png")'),
    "hard-coded cuda": _append('x = x.to("cuda")'),
    "long code cell": _append("\n".join(f"a{i} = {i}" for i in range(16))),
    "code without prose": _two_code_cells,
    "no bottom nav": _no_bottom_nav,
    "stale top nav": _stale_top_nav,
}


def test_a_good_notebook_passes():
    assert notebook_problems(_good(), "01_demo.ipynb", NAMES) == []


@pytest.mark.parametrize("rule", sorted(VIOLATIONS))
def test_each_violation_is_reported(rule):
    nb = copy.deepcopy(_good())
    VIOLATIONS[rule](nb)
    assert notebook_problems(nb, "01_demo.ipynb", NAMES), f"{rule!r} was not reported"


def test_bad_file_name_is_reported():
    assert notebook_problems(_good(), "1-demo.ipynb", NAMES)
    assert notebook_problems(_good(), "01_Demo.ipynb", NAMES)


# ---------------------------------------------------------------------------- the tools
def test_navigation_line_format():
    names = EXPECTED
    assert navigation.nav_line("03_gradient_backprop.ipynb", names) == (
        "< [02 · Regression construction](02_regression_construction.ipynb) | [Index](../README.md)"
        " | [04 · Evaluation](04_evaluation.ipynb) >"
    )
    assert navigation.nav_line(names[0], names).startswith(
        "[Index](../README.md) | [01 · Quality model]"
    )
    assert navigation.nav_line(names[-1], names).endswith("| [Index](../README.md)")


def test_navigation_tool_writes_then_checks(tmp_path):
    for name in NAMES:
        nb = _good()
        nb.cells[0].source = nb.cells[0].source.replace("# 01", f"# {name[:2]}")
        nbformat.write(nb, tmp_path / name)
    assert navigation.check_navigation(tmp_path)  # 00 and 02 carry 01's lines
    changed = navigation.add_navigation(tmp_path)
    assert {p.name for p in changed} == {"00_intro.ipynb", "02_next.ipynb"}
    assert navigation.check_navigation(tmp_path) == []
    assert navigation.add_navigation(tmp_path) == [], "a second run changes nothing"
    assert navigation.main([str(tmp_path), "--check"]) == 0


def test_run_notebooks_selects_and_restores_the_environment(monkeypatch):
    assert run_notebooks.select(EXPECTED, ["00", "03"]) == [EXPECTED[0], EXPECTED[3]]
    with pytest.raises(SystemExit):
        run_notebooks.select(EXPECTED, ["99"])
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PIXELFIQ_FAST", "1")
    with run_notebooks.kernel_environment(fast=False):
        assert "PIXELFIQ_FAST" not in os.environ
        assert os.environ["MPLBACKEND"] == run_notebooks.INLINE_BACKEND
    assert os.environ["MPLBACKEND"] == "Agg" and os.environ["PIXELFIQ_FAST"] == "1"


def test_run_notebooks_writes_executed_ipynb_and_html_with_figures(tmp_path):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(
        cells=[
            md("# 00 · Tiny"),
            code(
                "import os, matplotlib.pyplot as plt\n"
                "print('FAST', os.environ.get('PIXELFIQ_FAST'))\n"
                "plt.plot([0, 1])"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(nb, src / "00_tiny.ipynb")
    with run_notebooks.kernel_environment(fast=True):
        ipynb, html, _ = run_notebooks.execute(
            src / "00_tiny.ipynb", tmp_path / "out", timeout=120, kernel="python3"
        )
    done = nbformat.read(ipynb, as_version=4)
    outputs = done.cells[1].outputs
    assert any("FAST 1" in o.get("text", "") for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs), "figures must reach the copies"
    assert "data:image/png;base64" in html.read_text(encoding="utf-8")
