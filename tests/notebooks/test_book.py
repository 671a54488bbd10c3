# ruff: noqa: E501  (JavaScript run in the browser keeps its own line lengths)
"""The course book (tools/build_book.py): built in FAST mode, then read in headless Chromium.

The book is served over HTTP on loopback and every page is loaded the way a reader's browser
loads it: each page must load, each <img> must be decoded (naturalWidth > 0), each figure of
the executed notebook must appear on its page, no output may be an error, and every link that
stays inside the book must reach an existing page (and anchor). Needs Debian's ``chromium`` and
``chromium-driver`` (``.ci/run`` installs them) and ``selenium``; the browser part skips with
the reason otherwise. The link rewriting and the index are also tested without building.
``PIXELFIQ_BOOK=out/book`` checks a book already built (``make book``) instead of building one.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from test_browser import CHROMIUM, DRIVER, browser  # noqa: F401  (the shared Chromium fixture)

from tools import REPO_ROOT, build_book
from tools.navigation import notebook_names

BUILD_TIMEOUT_S = 1800  # the whole FAST build; a cell that hangs fails after --timeout
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs chromium and chromedriver (Debian: apt-get install -y chromium "
    "chromium-driver; .ci/run installs them)",
)


# --- without building: how repository links become book links --------------------------


def test_repository_paths_map_to_book_pages():
    assert build_book.page_for("README.md") == "index.html"
    assert build_book.page_for("notebooks") == "index.html"
    assert (
        build_book.page_for("notebooks/03_gradient_backprop.ipynb") == "03_gradient_backprop.html"
    )
    assert build_book.page_for("docs/glossary.md") == "glossary.html"
    assert (
        build_book.page_for("pixelfiq_lib/core/quality.py")
        == "src/pixelfiq_lib__core__quality.py.html"
    )
    assert build_book.page_for("docs/demo_overview.png") == "src/docs__demo_overview.png"
    assert build_book.page_for("notebooks/99_missing.ipynb") is None
    assert build_book.page_for("no/such/file.py") is None
    assert build_book.page_for("../outside.md") is None


def test_linker_rewrites_relative_links_and_leaves_others_alone():
    linker = build_book.Linker()
    page = (
        '<a href="../docs/glossary.md#q-hat">g</a> <a href="01_quality_model.ipynb">n</a>'
        '<a href="../README.md">i</a> <a href="https://arxiv.org/abs/2110.11001">x</a>'
        '<a href="#setup">s</a> <img src="data:image/png;base64,AAAA">'
        '<a href="../pixelfiq_lib/viz.py">v</a> <a href="../nowhere.md">broken</a>'
    )
    out = linker.rewrite(page, "notebooks", "00_quickstart.html")
    assert 'href="glossary.html#q-hat"' in out and 'href="01_quality_model.html"' in out
    assert 'href="index.html"' in out and 'href="https://arxiv.org/abs/2110.11001"' in out
    assert 'href="#setup"' in out and 'src="data:image/png;base64,AAAA"' in out
    assert 'href="src/pixelfiq_lib__viz.py.html"' in out
    assert linker.wanted == {"src/pixelfiq_lib__viz.py.html": "pixelfiq_lib/viz.py"}
    assert linker.broken == ["00_quickstart.html: ../nowhere.md"]
    # from a page under src/, a link back climbs one folder
    back = linker.rewrite('<a href="../README.md">i</a>', "docs", "src/x.html")
    assert 'href="../index.html"' in back


def test_headings_get_githubs_anchors():
    assert build_book.slug("1. Your environment") == "1-your-environment"
    assert build_book.slug("Q̂ and <code>q_se</code>") == "q̂-and-q_se"
    html = build_book.markdown_to_html("## Before the day\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert '<h2 id="before-the-day">' in html and "<table>" in html


def test_the_index_lists_every_notebook_from_the_readme_table():
    table = build_book.course_table((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    for name in notebook_names():
        assert f"(notebooks/{name})" in table, name
    with pytest.raises(SystemExit, match="no table"):
        build_book.course_table("# a README without a course\n")


def test_builder_never_deletes_a_folder_that_is_not_a_book(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(SystemExit, match="not empty and holds no course book"):
        build_book.build(tmp_path, fast=True, only=["00"], timeout=10, kernel="python3")
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_a_stalled_notebook_runs_once_more_and_other_failures_are_kept(monkeypatch, tmp_path):
    calls = []

    def stalls_once(path, out, **kwargs):
        calls.append(path.name)
        if path.name.startswith("00") and calls.count(path.name) == 1:
            raise TimeoutError("a cell timed out")
        if path.name.startswith("01"):
            raise RuntimeError("a cell failed")
        return out / "x.ipynb", out / f"{path.stem}.html", 1.5

    monkeypatch.setattr(build_book, "execute", stalls_once)
    page, seconds, failed = build_book.run_one("00_quickstart.ipynb", tmp_path, 5, "k", None)
    assert (page.name, seconds, failed) == ("00_quickstart.html", 1.5, False)
    assert calls == ["00_quickstart.ipynb"] * 2
    page, _, failed = build_book.run_one("01_quality_model.ipynb", tmp_path, 5, "k", None)
    assert failed and page.name == "01_quality_model.html"
    assert calls.count("01_quality_model.ipynb") == 1, "a real error is not retried"


# --- the built book ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """The whole book built in FAST mode (the builder reads PIXELFIQ_FAST=1 like a notebook).

    ``PIXELFIQ_BOOK=out/book`` checks an existing book instead (e.g. the full one of ``make book``).
    """
    if os.environ.get("PIXELFIQ_BOOK"):
        built = Path(os.environ["PIXELFIQ_BOOK"])
        assert (built / "index.html").is_file(), f"PIXELFIQ_BOOK={built} holds no book"
        return built
    out = tmp_path_factory.mktemp("book") / "book"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PIXELFIQ_FAST"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "tools.build_book", "--out", str(out), "--timeout", "300"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert proc.returncode == 0, (
        f"the book did not build:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    assert "FAST mode" in proc.stdout
    assert "link to a missing file" not in proc.stderr, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def site(book):
    """The book served over HTTP on 127.0.0.1 (a random port); yields the base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output readable
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_book_has_every_page_and_no_remote_script(book):
    pages = {p.relative_to(book).as_posix() for p in book.rglob("*.html")}
    expected = {"index.html", "glossary.html", "workshop.html", "install.html"}
    expected |= {name.replace(".ipynb", ".html") for name in notebook_names()}
    assert expected <= pages, sorted(expected - pages)
    assert (book / "method.png").stat().st_size > 10_000, "the method diagram was drawn"
    for page in pages:
        text = (book / page).read_text(encoding="utf-8")
        for tag in ("<script src=", '<link rel="stylesheet" href="http'):
            assert tag not in text, f"{page} loads a remote resource ({tag}): it must read offline"


_PAGE_STATE = """
const imgs = Array.from(document.images);
return {
  ready: document.readyState,
  title: document.title,
  images: imgs.map(i => ({src: i.getAttribute('src').slice(0, 60), ok: i.complete && i.naturalWidth > 0})),
  errors: Array.from(document.querySelectorAll('.output_error, [data-mime-type="application/vnd.jupyter.error"]')).length,
  tracebacks: Array.from(document.querySelectorAll('.jp-OutputArea-output'))
                   .filter(e => e.textContent.includes('Traceback (most recent call last)')).length,
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
};"""


def _figures(ipynb: Path) -> int:
    """Image outputs in an executed notebook: each must appear on its page."""
    nb = nbformat.read(ipynb, as_version=4)
    return sum(
        1
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if any(key.startswith("image/") for key in out.get("data", {}))
    )


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_every_page_loads_with_its_figures_no_error_and_no_broken_link(book, site, browser):  # noqa: F811
    pages = sorted(p.relative_to(book).as_posix() for p in book.rglob("*.html"))
    states, problems = {}, []
    for page in pages:
        browser.get(urllib.parse.urljoin(site, page))
        state = browser.execute_script(_PAGE_STATE)
        states[page] = state
        if state["ready"] != "complete" or not state["title"]:
            problems.append(f"{page}: did not load ({state['ready']!r}, title {state['title']!r})")
        bad = [i["src"] for i in state["images"] if not i["ok"]]
        if bad:
            problems.append(f"{page}: images not decoded: {bad}")
        if state["errors"] or state["tracebacks"]:
            problems.append(
                f"{page}: {state['errors']} error outputs, {state['tracebacks']} tracebacks"
            )
        ipynb = book / page.replace(".html", ".ipynb")
        if ipynb.exists() and len(state["images"]) < _figures(ipynb):
            problems.append(f"{page}: {len(state['images'])} images for {_figures(ipynb)} figures")
    assert len(states["index.html"]["images"]) == 1, "the index shows the method diagram"
    for page, state in states.items():
        for href in state["links"]:
            if not href.startswith(site):
                continue  # a page outside the book (the paper on arXiv ...)
            target, _, frag = href[len(site) :].partition("#")
            target = urllib.parse.unquote(target) or "index.html"
            if not (book / target).is_file():
                problems.append(f"{page}: broken link to {target}")
            elif (
                frag
                and target in states
                and not {frag, urllib.parse.unquote(frag)} & set(states[target]["ids"])
            ):
                problems.append(f"{page}: link to {target}#{frag}, no such anchor there")
    assert not problems, "\n".join(problems[:40])
    notebook_pages = [p for p in pages if (book / p.replace(".html", ".ipynb")).exists()]
    assert len(notebook_pages) == len(notebook_names())
    assert sum(len(states[p]["images"]) for p in notebook_pages) >= len(notebook_pages), json.dumps(
        {p: len(states[p]["images"]) for p in notebook_pages}
    )
