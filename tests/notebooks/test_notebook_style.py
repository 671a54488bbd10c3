"""Structural lint of the course notebooks (house style §5.3, §5.7), and its own tests.

Every rule is checked on the real notebooks, and each rule is shown to fire on a
small notebook that breaks it, so a violation cannot pass unnoticed. Beyond the
template, the lint enforces what a learner's clone needs: no reference to data or
documents outside the repository, a solution for every exercise, a ``DEVICE``
parameter passed to ``setup_notebook``, measured runtime figures, a glossary link,
and a README course table that lists exactly the notebooks present.
"""

from __future__ import annotations

import copy
import os
import re

import nbformat
import pytest

from tools import NOTEBOOK_DIR, REPO_ROOT, navigation, run_notebooks

#: The notebooks present; the course follows the files (a new NN_*.ipynb just joins).
PRESENT = navigation.notebook_names(NOTEBOOK_DIR)
#: Notebooks that must exist: the course's core path.
CORE = [
    "00_quickstart.ipynb",
    "01_quality_model.ipynb",
    "02_regression_construction.ipynb",
    "03_gradient_backprop.ipynb",
    "04_paper_experiments.ipynb",
    "05_evaluation_metrics.ipynb",
    "06_interactive_explorer.ipynb",
    "07_bring_your_own_model.ipynb",
]
MAX_CODE_LINES = 15

IMPORT_RE = re.compile(r"^\s*(import\s+\w|from\s+[\w.]+\s+import\s)", re.M)
SHELL_RE = re.compile(r"^\s*(![ \t]*(pip|wget|git|curl|conda)\b|%(pip|conda)\b)", re.M)
ABS_PATH_RE = re.compile(r"""(["'])(/[A-Za-z]|~/|[A-Za-z]:\\)|\.\./""")
CUDA_RE = re.compile(r"""["']cuda""")
_FIGURE = r"≈?\s*(\d+(?:\.\d+)?)\s*(?:s|min)\b"
#: "**Runtime** (measured, ...): FAST ≈ 9 s · full ≈ 12 s · GPU not measured" (or "GPU ≈ 3 s").
RUNTIME_RE = re.compile(
    rf"\*\*Runtime\*\*[^\n]*measured[^\n]*FAST\s*{_FIGURE}[^\n]*full\s*{_FIGURE}"
    rf"[^\n]*GPU\s*(?:not measured|{_FIGURE})"
)
#: Paths a learner's clone does not have (spelled in parts, so repository greps stay clean).
SHARED, SHARED_VAR = ".." + "/shared", "PIXELFIQ_" + "SHARED"
#: Data and documents a learner's clone does not have.
OUTSIDE_RE = re.compile(
    r"\.\./shared|PIXELFIQ_SHAR"
    r"ED|shared/data|shared/docs|method-spec|house-style"
    r"|paper_dir|paper_faces|/work/",
    re.I,
)
GLOSSARY_LINK = "../docs/glossary.md"
EXERCISE_RE = re.compile(r"^(\d+)\.\s", re.M)
SOLUTION_RE = re.compile(r"^\*\*Solution (\d+)\.\*\*")


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
    runtime = RUNTIME_RE.search(title)
    if not runtime:
        out.append(
            "the title cell has no measured runtime line "
            "'**Runtime** (measured, ...): FAST ≈ N s · full ≈ N s · GPU not measured'"
        )
    elif any(g is not None and float(g) == 0 for g in runtime.groups()):
        out.append("the runtime line has a 0 figure: measure it")
    if GLOSSARY_LINK not in title:
        out.append(f"the title cell does not link the glossary ({GLOSSARY_LINK})")
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
    else:
        src = tagged[0].source
        if not re.search(r"^DEVICE\s*=", src, re.M):
            out.append("the parameters cell has no DEVICE parameter")
        if "FAST = pfl.config.is_fast()" not in src or " if FAST else " not in src:
            out.append(
                "the parameters cell does not show its FAST values "
                "(FAST = pfl.config.is_fast(); ... if FAST else ...)"
            )
    return out


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _exercise_problems(nb) -> list[str]:
    """Every numbered exercise has a hidden ``**Solution k.**`` cell tagged ``solution``."""
    exercises = [
        c
        for c in nb.cells
        if c.cell_type == "markdown" and re.search(r"^## Exercises", c.source, re.M)
    ]
    if not exercises:
        return []
    numbers = {int(k) for k in EXERCISE_RE.findall(exercises[0].source.split("## Exercises", 1)[1])}
    solved, out = set(), []
    for i, cell in enumerate(nb.cells):
        if "solution" not in _tags(cell):
            continue
        if not cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"):
            out.append(
                f"cell {i}: a solution cell must be collapsed (metadata.jupyter.source_hidden)"
            )
        match = SOLUTION_RE.match(cell.source) if cell.cell_type == "markdown" else None
        if match:
            solved.add(int(match.group(1)))
    out += [
        f"exercise {k} has no solution cell ('**Solution {k}.**', tagged 'solution')"
        for k in sorted(numbers - solved)
    ]
    out += [f"solution {k} answers no exercise" for k in sorted(solved - numbers)]
    return out


def _outside_problems(nb) -> list[str]:
    """No reference to the shared folder, its variable or internal documents, in any cell."""
    return [
        f"cell {i}: refers to {m.group(0)!r}, which a learner's clone does not have"
        for i, cell in enumerate(nb.cells)
        for m in [OUTSIDE_RE.search(cell.source)]
        if m
    ]


def _setup_problems(nb) -> list[str]:
    setup = _setup_index(nb)
    if setup is None:
        return ["'## Setup' must be followed by the setup code cell"]
    src, out = nb.cells[setup].source, []
    for needed in ("%load_ext autoreload", "%autoreload 2", "import pixelfiq_lib as pfl"):
        if needed not in src:
            out.append(f"the setup cell lacks {needed!r}")
    params = [i for i, c in enumerate(nb.cells) if "parameters" in _tags(c)]
    after = [c for c in nb.cells[params[0] + 1 :] if c.cell_type == "code"] if params else []
    if not after or not re.search(
        r"pfl\.config\.setup_notebook\([^)]*device\s*=\s*DEVICE", after[0].source
    ):
        out.append(
            "the first code cell after the parameters must call "
            "pfl.config.setup_notebook(seed=SEED, device=DEVICE)"
        )
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
    out += _code_problems(nb) + _exercise_problems(nb) + _outside_problems(nb)
    if nb.cells and nb.cells[0].cell_type == "markdown":
        out += navigation.navigation_problems(nb, navigation.nav_line(name, names))
    return out


# ------------------------------------------------------------------ the real notebooks
def test_notebooks_are_numbered_from_00_without_gaps():
    numbers = [int(name[:2]) for name in PRESENT]
    assert numbers == list(range(len(PRESENT))), (
        f"numbers must run 00, 01, ... without gaps: {PRESENT}"
    )
    stray = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb") if p.name not in PRESENT)
    assert not stray, f"notebooks outside the NN_snake_case.ipynb scheme: {stray}"
    assert set(CORE) <= set(PRESENT), f"core notebooks missing: {sorted(set(CORE) - set(PRESENT))}"


def _runtime(name: str) -> tuple[str, str]:
    title = nbformat.read(NOTEBOOK_DIR / name, as_version=4).cells[0].source
    fast, full = RUNTIME_RE.search(title).groups()[:2]
    return fast, full


def test_readme_course_table_lists_the_notebooks_present_with_their_runtimes():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The course", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(
        r"^\| \[(\d\d) · [^\]]+\]\(notebooks/(\d\d_[a-z0-9_]+\.ipynb)\) \|"
        r".*\| ([\d.]+) s / ([\d.]+) s \|$",
        section,
        re.M,
    )
    assert [r[1] for r in rows] == PRESENT, (
        "README's course table must list exactly the notebooks present, in order"
    )
    for number, name, fast, full in rows:
        assert number == name[:2]
        assert (fast, full) == _runtime(name), (
            f"{name}: README says {fast} s / {full} s, the notebook says otherwise"
        )


def test_docs_exist_and_their_links_resolve():
    for doc in ("glossary.md", "workshop.md", "install.md"):
        path = REPO_ROOT / "docs" / doc
        assert path.is_file(), f"docs/{doc} is missing"
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\((?!https?:)([^)#]+)(?:#[^)]*)?\)", text):
            assert (path.parent / target).exists(), (
                f"docs/{doc} links {target}, which does not exist"
            )
        assert not OUTSIDE_RE.search(text), f"docs/{doc} refers to something outside the repository"


def test_workshop_compute_times_are_the_notebooks_measured_runtimes():
    for line in (REPO_ROOT / "docs" / "workshop.md").read_text(encoding="utf-8").splitlines():
        for name in re.findall(r"\]\(\.\./notebooks/(\d\d_[a-z0-9_]+\.ipynb)\)", line):
            times = re.search(r"([\d.]+) s / ([\d.]+) s", line)
            if times:
                assert times.groups() == _runtime(name), (
                    f"docs/workshop.md: {name} {times.group(0)}"
                )


def _resolve(dotted: str):
    import pixelfiq_lib

    obj = pixelfiq_lib
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def test_every_glossary_term_links_a_library_object_that_exists():
    rows = [
        ln
        for ln in (REPO_ROOT / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines()
        if ln.startswith("| ") and not ln.startswith("| term") and not ln.startswith("|---")
    ]
    assert len(rows) >= 40
    for row in rows:
        names = re.findall(r"\[`(pfl\.[\w.]+)`\]\(\.\./pixelfiq_lib/[\w/]+\.py\)", row)
        assert names, f"glossary row without a linked library object: {row[:60]}"
        for name in names:
            assert _resolve(name) is not None, f"{name} does not exist"


@pytest.mark.parametrize("name", PRESENT)
def test_notebook_follows_the_house_style(name):
    path = NOTEBOOK_DIR / name
    assert path.is_file(), f"{name} is missing"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    problems = notebook_problems(nb, name, PRESENT)
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
            "[00](00_intro.ipynb)\n\n**Runtime** (measured, 2-core CPU): "
            "FAST ≈ 9 s · full ≈ 12 s · GPU not measured"
            "\n\n**Glossary**: [terms](../docs/glossary.md)"
        ),
        md("## Setup"),
        code("%load_ext autoreload\n%autoreload 2\nimport numpy as np\nimport pixelfiq_lib as pfl"),
        md("## Parameters"),
        code(
            'DEVICE = "auto"\nFAST = pfl.config.is_fast()\nSEED = 0\nN_PASSES = 8 if FAST else 100'
        ),
        md("Set up."),
        code("cfg = pfl.config.setup_notebook(seed=SEED, device=DEVICE)"),
        md("## 1. First step\n\nWe compute."),
        code("x = np.arange(N_PASSES)\nassert x.sum() >= 28"),
        md("## Exercises\n\n1. Do it.\n2. Do more."),
        md("**Solution 1.** Like this."),
        code("y = x.sum()"),
        md("**Solution 2.** Like that."),
        md(
            "## Summary\n\n- done\n\n### References\n\n- arXiv 2110.11001\n\n"
            "**Next →** [02](02_next.ipynb)"
        ),
    ]
    cells[4].metadata["tags"] = ["parameters"]
    for k in (10, 11, 12):
        cells[k].metadata["tags"] = ["solution"]
        cells[k].metadata["jupyter"] = {"source_hidden": True}
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
    nb.cells[8].outputs = [nbformat.v4.new_output("stream", text="1\n")]


def _count(nb):
    nb.cells[8].execution_count = 3


def _untag(nb):
    nb.cells[4].metadata["tags"] = []


def _no_bottom_nav(nb):
    nb.cells.pop()


def _stale_top_nav(nb):
    nb.cells[0].source = nb.cells[0].source.replace("02_next", "03_other")


def _two_code_cells(nb):
    nb.cells.insert(9, nbformat.v4.new_code_cell("y = 1"))


def _drop_solution(k: int):
    def edit(nb):
        nb.cells[:] = [c for c in nb.cells if not c.source.startswith(f"**Solution {k}.**")]

    return edit


def _unhide_solution(nb):
    nb.cells[11].metadata["jupyter"] = {}


def _retitle(old: str, new: str):
    def edit(nb):
        nb.cells[0].source = nb.cells[0].source.replace(old, new)

    return edit


RUNTIME = "**Runtime** (measured, 2-core CPU): FAST ≈ 9 s · full ≈ 12 s · GPU not measured"
VIOLATIONS = {
    "wrong number in title": _retitle("# 01 · Demo", "# 02 · Demo"),
    "no learning goals": _retitle("**Learning goals**", "**Goals**"),
    "no runtime line": _retitle(RUNTIME, ""),
    "runtime without measured figures": _retitle(
        RUNTIME, "**Runtime**: CPU ≈ 1 min (FAST: < 1 min)"
    ),
    "runtime without GPU clause": _retitle(" · GPU not measured", ""),
    "runtime with a 0 placeholder": _retitle("FAST ≈ 9 s", "FAST ≈ 0 s"),
    "no glossary link": _retitle("(../docs/glossary.md)", "(glossary)"),
    "no setup heading": _set(1, "## Preparation"),
    "setup without autoreload": _set(2, "import pixelfiq_lib as pfl"),
    "no parameters tag": _untag,
    "no FAST values": _set(4, 'DEVICE = "auto"\nN_PASSES = 100'),
    "no DEVICE parameter": _set(4, "FAST = pfl.config.is_fast()\nN_PASSES = 8 if FAST else 100"),
    "setup_notebook without DEVICE": _set(6, "cfg = pfl.config.setup_notebook(seed=SEED)"),
    "no summary": _set(13, "## Wrap-up\n\n### References\n"),
    "no exercises": _set(9, "## Homework"),
    "no references": _set(13, "## Summary\n\n- done"),
    "no numbered sections": _set(7, "## First step"),
    "exercise without solution": _drop_solution(2),
    "solution without exercise": _set(9, "## Exercises\n\n1. Do it."),
    "solution not collapsed": _unhide_solution,
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
    "shared folder in prose": _set(
        7, "## 1. First step\n\nThe faces are in " + SHARED + "/data/paper."
    ),
    "shared variable in code": _append(f'import_path = os.environ["{SHARED_VAR}"]'),
    "internal document": _set(7, "## 1. First step\n\nSee method-spec §3.1."),
    "paper_faces": _append("faces = pfl.data.paper_faces()"),
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
    names = CORE
    assert navigation.nav_line("03_gradient_backprop.ipynb", names) == (
        "< [02 · Regression construction](02_regression_construction.ipynb) | [Index](../README.md)"
        " | [04 · Paper experiments](04_paper_experiments.ipynb) >"
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
    assert run_notebooks.select(CORE, ["00", "03"]) == [CORE[0], CORE[3]]
    with pytest.raises(SystemExit):
        run_notebooks.select(CORE, ["99"])
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
