"""Numbers quoted in the README, the glossary and the workshop guide agree with their source.

A number in prose has one source: a committed results file (``benchmarks/runs/*/results.json``,
read with ``pixelfiq_lib.evaluation.committed``), a table of ``benchmarks/RESULTS.md``, a
constant of the library, or a notebook's parameters. Each claim below locates one quoted number
(or range) in a document by the words around it and recomputes it from its source; the number
in the prose must equal the source rounded to the digits the prose prints. A claim whose
sentence disappears fails as well, so a rewrite must carry its number along (or drop the claim
here on purpose). The course table's runtimes and the workshop's compute times are checked
against the notebooks' title cells by ``test_notebook_style.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import nbformat
import pytest

from pixelfiq_lib import regression, widgets
from pixelfiq_lib.core.maps import MAP_METHODS, RECOMMENDED_MAP
from pixelfiq_lib.evaluation import committed, stats
from tools import NOTEBOOK_DIR, REPO_ROOT

RESULTS_MD = (REPO_ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
NUMBER = r"(\d+(?:\.\d+)?)"
#: Superscript digits (10⁻⁶) read as plain ones.
SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


def markdown_table(text: str, *columns: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in ``text`` whose header holds every column."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and all(c in cells for c in columns) and "---" in lines[i + 1]:
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(
                    dict(zip(cells, (c.strip() for c in row.strip().strip("|").split("|"))))
                )
            return rows
    raise AssertionError(f"benchmarks/RESULTS.md has no table with the columns {columns}")


def _row(rows: list[dict[str, str]], key: str, value: str) -> dict[str, str]:
    found = [r for r in rows if r[key] == value]
    assert len(found) == 1, f"{len(found)} rows with {key} = {value!r}"
    return found[0]


def calibration(model: str) -> dict[str, float]:
    """RESULTS.md's calibration table for one network: raw-Q quantiles and constants."""
    rows = markdown_table(RESULTS_MD, "model", "alpha", "r", "a", "fitted")
    row = _row(rows, "model", model)
    quantiles = [
        float(v) for v in next(v for k, v in row.items() if k.startswith("raw Q")).split("/")
    ]
    lead = lambda text: float(text.split()[0])  # noqa: E731 - "130 (paper)" -> 130.0
    return dict(
        q_min=quantiles[0], q_max=quantiles[-1], alpha=lead(row["alpha"]), r=lead(row["r"]),
        a=float(row["a"]),
    )  # fmt: skip


def quality_100_median(model: str) -> float:
    rows = markdown_table(RESULTS_MD, "quantile of held-out faces", f"{model} quality_100")
    return float(_row(rows, "quantile of held-out faces", "50 %")[f"{model} quality_100"])


RUN = committed.load_run()


def loc(method: str, occluder: str, size: int = 0, model: str = "sface") -> float:
    return committed.run_value(
        RUN, "localisation", model=model, metric="loc_auroc", map_method=method,
        occluder=occluder, size=size,
    )  # fmt: skip


def black_range(method: str) -> tuple[float, float]:
    values = [loc(method, "black", s) for s in (30, 40, 50)]
    return min(values), max(values)


def cost(method: str, model: str = "sface") -> float:
    return committed.run_value(
        RUN, "map_costs", "fwd_bwd_equivalents", model=model, map_method=method
    )


def explorer_passes(model: str) -> int:
    """``N_PASSES[model]`` of notebook 06's parameters cell (the explorer's T per network)."""
    nb = nbformat.read(NOTEBOOK_DIR / "06_interactive_explorer.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    match = re.search(rf'"{model}":\s*(\d+)\b', cell.source)
    assert match, f"notebook 06 sets no fixed N_PASSES for {model}"
    return int(match.group(1))


@dataclass(frozen=True)
class Claim:
    """``pattern`` finds the quoted number(s) in ``doc``; ``source`` recomputes them."""

    doc: str
    pattern: str
    source: Callable[[], tuple[float, ...]]
    scale: float = 1.0  # the prose quotes source / scale (e.g. 1e8 for "1.02·10^8")


CLAIMS = [
    # README: what the numbers mean, choices, the map menu, beyond the paper
    Claim(
        "README.md",
        rf"SFace {NUMBER}–{NUMBER}, MobileFaceNet {NUMBER}–{NUMBER}\)",
        lambda: (
            *(calibration("sface")[k] for k in ("q_min", "q_max")),
            *(calibration("mobilefacenet")[k] for k in ("q_min", "q_max")),
        ),
    ),  # fmt: skip
    Claim(
        "README.md",
        rf"its raw Q of real faces lies in {NUMBER}–{NUMBER}\)",
        lambda: (calibration("sface")["q_min"], calibration("sface")["q_max"]),
    ),
    Claim(
        "README.md",
        rf"with a = {NUMBER}·10\^8 \(median Ŝ of {NUMBER}\s+reference",
        lambda: (calibration("sface")["a"] / 1e8, 47.0),
    ),
    Claim(
        "README.md",
        rf"α = {NUMBER}, r = {NUMBER}, a = {NUMBER}·10\^9",
        lambda: (
            calibration("mobilefacenet")["alpha"],
            calibration("mobilefacenet")["r"],
            calibration("mobilefacenet")["a"] / 1e9,
        ),
    ),  # fmt: skip
    Claim(
        "README.md",
        rf"the median lands at {NUMBER} for both networks",
        lambda: (quality_100_median("sface"),),
    ),
    Claim(
        "README.md",
        rf"the median lands at {NUMBER} for both networks",
        lambda: (quality_100_median("mobilefacenet"),),
    ),
    Claim(
        "README.md",
        rf"{NUMBER} forward\+backward equivalents per face on SFace",
        lambda: (cost(RECOMMENDED_MAP),),
    ),
    Claim(
        "README.md",
        rf"~{NUMBER} equivalents per face\)",
        lambda: (cost("counterfactual"),),
    ),
    Claim(
        "README.md",
        rf"{NUMBER}–{NUMBER} on 30–50 px black squares and {NUMBER} on sunglasses, where\n"
        rf"  the paper's map scores {NUMBER}–{NUMBER} and {NUMBER};",
        lambda: (
            *black_range(RECOMMENDED_MAP),
            loc(RECOMMENDED_MAP, "sunglasses"),
            *black_range("plq"),
            loc("plq", "sunglasses"),
        ),
    ),  # fmt: skip
    # glossary
    Claim(
        "docs/glossary.md",
        rf"SFace keeps the official code's α = {NUMBER}, r = {NUMBER}",
        lambda: (calibration("sface")["alpha"], calibration("sface")["r"]),
    ),
    Claim(
        "docs/glossary.md",
        rf"median reference pixel gets P = 0.5 \(SFace: {NUMBER}·10⁸\)",
        lambda: (calibration("sface")["a"] / 1e8,),
    ),
    Claim(
        "docs/glossary.md",
        r"refuses a node when \\\|Σe\(I₀\)\\\| < 10⁻([⁰¹²³⁴⁵⁶⁷⁸⁹]+)",
        lambda: (-round(math.log10(regression.MIN_EMBEDDING_SUM)),),
    ),
    Claim(
        "docs/glossary.md",
        rf"the {NUMBER} maps behind one option",
        lambda: (float(len(MAP_METHODS)),),
    ),
    Claim(
        "docs/glossary.md",
        rf"{NUMBER} identities × {NUMBER} face crops shipped in `data/bbt`",
        lambda: (
            RUN["meta"]["n_identities"],
            RUN["meta"]["n_images"] / RUN["meta"]["n_identities"],
        ),
    ),
    Claim(
        "docs/glossary.md",
        rf"95 % percentile interval of a mean over faces from {NUMBER} resamples",
        lambda: (float(stats.bootstrap_ci.__defaults__[0]),),
    ),
    # workshop guide
    Claim(
        "docs/workshop.md",
        rf"MobileFaceNet needs about\n  T = {NUMBER} for ±{NUMBER}",
        lambda: (explorer_passes("mobilefacenet"), widgets.MAX_SE),
    ),
    Claim(
        "docs/workshop.md",
        rf"The explorer shows T and the ± and warns from ±{NUMBER}\.",
        lambda: (widgets.MAX_SE,),
    ),
]


def check_claim(text: str, claim: Claim) -> list[str]:
    """Every problem of one claim in ``text`` (empty = the prose matches its source)."""
    matches = list(re.finditer(claim.pattern, text))
    if not matches:
        return [f"{claim.doc}: no text matches {claim.pattern!r} (sentence removed or reworded?)"]
    expected = claim.source()
    out = []
    for match in matches:
        quoted = match.groups()
        if len(quoted) != len(expected):
            out.append(f"{claim.doc}: {len(quoted)} numbers quoted, {len(expected)} in the source")
            continue
        for text_value, value in zip((q.translate(SUPERSCRIPT) for q in quoted), expected):
            decimals = len(text_value.split(".")[1]) if "." in text_value else 0
            if round(float(value) / claim.scale, decimals) != float(text_value):
                out.append(
                    f"{claim.doc}: quotes {text_value} in {match.group(0)!r}; the source gives "
                    f"{float(value) / claim.scale:.{decimals + 3}f}"
                )
    return out


def _doc(name: str) -> str:
    return (REPO_ROOT / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: f"{c.doc}:{c.pattern[:40]}")
def test_quoted_number_equals_its_source(claim):
    problems = check_claim(_doc(claim.doc), claim)
    assert not problems, "\n".join(problems)


def test_every_document_is_covered():
    assert {c.doc for c in CLAIMS} == {"README.md", "docs/glossary.md", "docs/workshop.md"}


# ------------------------------------------------------- the check fires on drift
def test_a_drifted_number_is_caught():
    claim = next(c for c in CLAIMS if "equivalents per face" in c.pattern)
    text = _doc(claim.doc)
    assert check_claim(text, claim) == []
    drifted = re.sub(r"\b9\.7 forward\+backward", "4.5 forward+backward", text)
    assert drifted != text
    assert any("quotes 4.5" in p for p in check_claim(drifted, claim))


def test_a_removed_sentence_is_caught():
    claim = CLAIMS[0]
    text = re.sub(claim.pattern, "a narrow band", _doc(claim.doc))
    assert any("no text matches" in p for p in check_claim(text, claim))


def test_the_source_readers_find_what_results_md_prints():
    assert calibration("sface") == dict(q_min=0.859, q_max=0.906, alpha=130.0, r=0.88, a=1.02e8)
    assert black_range("plq") == pytest.approx((0.576, 0.627), abs=5e-4)
    with pytest.raises(AssertionError, match="no table"):
        markdown_table(RESULTS_MD, "model", "no such column")
