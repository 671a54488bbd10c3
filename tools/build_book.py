"""Build the course book: a static site of every notebook executed, with every figure.

The book is plain HTML in one folder (``make book`` writes ``out/book``; open
``out/book/index.html``, or serve the folder with any web server). It holds

* ``index.html``: the method diagram (``pixelfiq_lib.viz.plot_method_diagram``), the README's
  course table with links to the notebook pages, and what this build ran (mode, times);
* ``NN_name.html``: each notebook executed by :mod:`tools.run_notebooks` (the executed
  ``NN_name.ipynb`` beside it), through JupyterLab's static template without any CDN script
  (``tools/book_template``), so it reads the same offline;
* ``glossary.html``, ``workshop.html``, ``install.html``: the guides in ``docs/``;
* ``src/``: every other repository file a page links to (library modules, RESULTS.md ...),
  rendered, so no link leaves the book or breaks.

Links between pages are rewritten from repository paths (``../docs/glossary.md``,
``03_gradient_backprop.ipynb``) to book pages. Full mode by default; ``--fast`` or
``PIXELFIQ_FAST=1`` runs the notebooks' small settings (what the test of the book uses).

Usage::

    python -m tools.build_book --out out/book              # full mode, every notebook
    PIXELFIQ_FAST=1 python -m tools.build_book --out out/b # FAST mode
"""

from __future__ import annotations

import argparse
import html
import posixpath
import re
import shutil
import sys
import time
import unicodedata
from pathlib import Path

from . import NOTEBOOK_DIR, REPO_ROOT
from .navigation import NOTEBOOK_RE, label, notebook_names
from .run_notebooks import execute, kernel_environment

TEMPLATE_DIR = Path(__file__).resolve().parent / "book_template"
INDEX = "index.html"
#: Marks a folder as a book, so a rebuild may replace it (and nothing else is ever deleted).
MARKER = ".pixelfiq-book"
SRC = "src"
#: Guides rendered as top-level pages: repository path -> page.
GUIDES = {
    "docs/glossary.md": "glossary.html",
    "docs/workshop.md": "workshop.html",
    "docs/install.md": "install.html",
}
#: The README section whose table is the book's table of contents.
COURSE_HEADING = "## The course"
_LINK = re.compile(r'(\b(?:href|src))="([^"]*)"')
_TEXT_SUFFIXES = {".py", ".md", ".json", ".txt", ".csv", ".toml", ".yml", ".yaml", ".cfg", ".sh"}

CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 0 1rem 3rem;
       line-height: 1.5; color: #222; }
nav.book-nav { padding: 6px 0; border-bottom: 1px solid #ddd; margin-bottom: 1rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
code, pre { background: #f6f8fa; font-size: 0.9em; }
pre { padding: 8px; overflow-x: auto; }
img { max-width: 100%; }
"""


def is_fast_env() -> bool:
    """``PIXELFIQ_FAST`` as the library reads it (the builder accepts it like the notebooks)."""
    from pixelfiq_lib.config import is_fast

    return is_fast()


def page_for(repo_path: str) -> str | None:
    """The book page of a repository path (posix, relative to the root); None if it is missing.

    Notebooks become ``NN_name.html``, the README and ``notebooks/`` the index, the guides their
    own pages, any other file ``src/<path with / as __>`` (``.html`` added for text files).
    """
    repo_path = posixpath.normpath(repo_path)
    if repo_path in ("README.md", "notebooks", "."):
        return INDEX
    if repo_path in GUIDES:
        return GUIDES[repo_path]
    folder, name = posixpath.split(repo_path)
    if folder == "notebooks" and NOTEBOOK_RE.match(name):
        return name[: -len(".ipynb")] + ".html" if (REPO_ROOT / repo_path).is_file() else None
    target = REPO_ROOT / repo_path
    if repo_path.startswith("..") or not target.is_file():
        return None
    flat = repo_path.replace("/", "__")
    return f"{SRC}/{flat}.html" if target.suffix in _TEXT_SUFFIXES else f"{SRC}/{flat}"


class Linker:
    """Rewrites a page's relative links to book pages and remembers which files to render."""

    def __init__(self) -> None:
        self.wanted: dict[str, str] = {}  # book page under src/ -> repository path
        self.broken: list[str] = []

    def rewrite(self, text: str, repo_dir: str, page: str) -> str:
        """Links in ``text`` are relative to ``repo_dir`` (repository); ``page``: its book path."""

        def fix(match: re.Match) -> str:
            attr, url = match.groups()
            if not url or url.startswith(("#", "data:", "mailto:")) or re.match(r"^\w+://", url):
                return match.group(0)
            path, _, frag = url.partition("#")
            repo_path = posixpath.normpath(posixpath.join(repo_dir, path))
            target = page_for(repo_path)
            if target is None:
                self.broken.append(f"{page}: {url}")
                return match.group(0)
            if target.startswith(SRC + "/"):
                self.wanted[target] = repo_path
            rel = posixpath.relpath(target, posixpath.dirname(page) or ".")
            return f'{attr}="{html.escape(rel)}{"#" + frag if frag else ""}"'

        return _LINK.sub(fix, text)


def slug(text: str) -> str:
    """GitHub's heading anchor: tags dropped, lower case, punctuation removed, spaces to '-'."""
    plain = re.sub(r"<[^>]+>", "", html.unescape(text)).strip().lower()
    kept = (
        c for c in plain if c.isalnum() or c in "_- " or unicodedata.category(c).startswith("M")
    )
    return "".join(kept).replace(" ", "-")


def markdown_to_html(text: str) -> str:
    """Markdown (tables, strike-through, bare URLs) to HTML, headings with GitHub's anchors."""
    import mistune

    class Renderer(mistune.HTMLRenderer):
        def heading(self, text: str, level: int, **attrs) -> str:
            return f'<h{level} id="{slug(text)}">{text}</h{level}>\n'

    md = mistune.create_markdown(
        renderer=Renderer(escape=False), plugins=["table", "strikethrough", "url"]
    )
    return md(text)


def shell(title: str, body: str, page: str) -> str:
    """A complete book page around ``body`` (``page`` sets the link back to the index)."""
    home = posixpath.relpath(INDEX, posixpath.dirname(page) or ".")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<nav class="book-nav"><a href="{home}">pixelfiq course book</a></nav>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def course_table(readme: str) -> str:
    """The markdown table of the README's course section (the book's table of contents)."""
    _, found, rest = readme.partition(COURSE_HEADING + "\n")
    rows = []
    for line in rest.splitlines() if found else []:
        if line.startswith("|"):
            rows.append(line)
        elif rows or line.startswith("## "):
            break
    if not rows:
        raise SystemExit(f"README.md has no table under {COURSE_HEADING!r}: nothing to index")
    return "\n".join(rows) + "\n"


def render_source(repo_path: str, page: str, out: Path, linker: Linker) -> None:
    """Write one linked repository file into the book: markdown rendered, code highlighted."""
    src, dest = REPO_ROOT / repo_path, out / page
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.suffix not in _TEXT_SUFFIXES:
        shutil.copyfile(src, dest)
        return
    text = src.read_text(encoding="utf-8")
    if src.suffix == ".md":
        body = markdown_to_html(text)
    else:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_for_filename

        formatter = HtmlFormatter(linenos="table", noclasses=True)
        body = highlight(text, get_lexer_for_filename(src.name, text), formatter)
    body = linker.rewrite(body, posixpath.dirname(repo_path), page)
    title = f"<h1><code>{html.escape(repo_path)}</code></h1>\n"
    dest.write_text(shell(repo_path, title + body, page), encoding="utf-8")


def write_index(out: Path, linker: Linker, runs: list[tuple[str, float, bool]], fast: bool):
    """The entry page: what the book is, the method diagram, the course table, the guides."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from pixelfiq_lib.viz import plot_method_diagram

    fig, _ = plot_method_diagram()
    fig.savefig(out / "method.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = linker.rewrite(markdown_to_html(course_table(readme)), "", INDEX)
    items = "\n".join(
        f'<li><a href="{name}.html">{html.escape(label(name + ".ipynb"))}</a>: '
        f"{'FAILED after ' if failed else ''}{seconds:.0f} s "
        f'(<a href="{name}.ipynb">executed notebook</a>)</li>'
        for name, seconds, failed in runs
    )
    mode = "FAST mode (PIXELFIQ_FAST=1, small settings)" if fast else "full mode"
    guides = "\n".join(
        f'<li><a href="{page}">{title}</a></li>'
        for page, title in (
            ("glossary.html", "Glossary: every term and symbol"),
            ("workshop.html", "Running the course as a workshop"),
            ("install.html", "Installing for the course (CPU-only laptops)"),
        )
        if (out / page).exists()
    )
    body = f"""<h1>pixelfiq: the course book</h1>
<p>Pixel-level face image quality (PLQ, Terhörst et al., arXiv 2110.11001) in PyTorch: the
course's notebooks executed with every figure, to read without installing anything. Built by
<code>make book</code> from the repository's notebooks in {mode} on
{time.strftime("%Y-%m-%d")}; numbers in a page are those of this run.</p>
<h2 id="the-method">The method</h2>
<p><img src="method.png" alt="The PLQ method: the face goes through the network's body, the head
runs T times with dropout, the agreement of the T embeddings gives Q and Q-hat, the quality node
N = sum of w_k e_k outputs Q-hat at the face, its gradient with respect to the pixels gives S-hat,
mapped to the pixel quality P(I)."></p>
<p>Drawn by <code>pixelfiq_lib.viz.plot_method_diagram()</code>.</p>
<h2 id="the-course">The course</h2>
{table}
<h3 id="this-build">This build</h3>
<ul>
{items}
</ul>
<h2 id="guides">Guides</h2>
<ul>
{guides}
</ul>
"""
    (out / INDEX).write_text(shell("pixelfiq course book", body, INDEX), encoding="utf-8")


def run_one(name: str, out: Path, timeout: int, kernel: str, exporter) -> tuple[Path, float, bool]:
    """Execute one notebook into the book: ``(page, seconds, failed)``.

    A cell that times out is run once more in a fresh kernel: now and then the execution of a
    cell that shows widgets (00's ``interact``) never returns, the kernel and the client both
    idle (nbclient issue 312; the same notebook then runs normally), and one such stall should
    not cost the whole book. Any other failure is kept; the page shows it in context.
    """
    for attempt in (1, 2):
        start = time.perf_counter()
        try:
            _, page, seconds = execute(
                NOTEBOOK_DIR / name, out, timeout=timeout, kernel=kernel, exporter=exporter
            )
            return page, seconds, False
        except Exception as exc:
            seconds = time.perf_counter() - start
            print(f"{name}: FAILED ({type(exc).__name__})", file=sys.stderr, flush=True)
            if attempt == 2 or not isinstance(exc, TimeoutError):  # nbclient's CellTimeoutError
                return out / f"{name[: -len('.ipynb')]}.html", seconds, True
            print(f"{name}: a cell timed out; running the notebook again", file=sys.stderr)
    raise AssertionError("unreachable")


def build(out: Path, *, fast: bool, only: list[str], timeout: int, kernel: str) -> int:
    """Build the book into ``out`` (emptied first). Returns 0, or 1 when a notebook failed."""
    from nbconvert import HTMLExporter

    from .run_notebooks import select

    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise SystemExit(f"{out} is not empty and holds no course book: choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by python -m tools.build_book; replaced by the next build\n")
    linker = Linker()
    exporter = HTMLExporter(
        template_name="pixelfiq_book", extra_template_basedirs=[str(TEMPLATE_DIR)]
    )
    runs = []
    with kernel_environment(fast):
        for name in select(notebook_names(NOTEBOOK_DIR), only):
            page, seconds, failed = run_one(name, out, timeout, kernel, exporter)
            print(f"{name}: {seconds:.0f} s", flush=True)
            runs.append((name[: -len(".ipynb")], seconds, failed))
            if page.exists():
                text = page.read_text(encoding="utf-8")
                page.write_text(linker.rewrite(text, "notebooks", page.name), encoding="utf-8")
    for repo_path, page in GUIDES.items():
        if (REPO_ROOT / repo_path).is_file():
            body = markdown_to_html((REPO_ROOT / repo_path).read_text(encoding="utf-8"))
            body = linker.rewrite(body, posixpath.dirname(repo_path), page)
            (out / page).write_text(shell(Path(repo_path).stem, body, page), encoding="utf-8")
    write_index(out, linker, runs, fast)
    done: set[str] = set()
    while set(linker.wanted) - done:  # rendered files may link further files
        for page in sorted(set(linker.wanted) - done):
            render_source(linker.wanted[page], page, out, linker)
            done.add(page)
    for link in linker.broken:
        print(f"warning: link to a missing file: {link}", file=sys.stderr)
    failed = [name for name, _, bad in runs if bad]
    mode = "FAST" if fast else "full"
    print(
        f"book: {len(runs) - len(failed)}/{len(runs)} notebooks executed in {mode} mode, "
        f"{len(done)} linked files; open {out / INDEX}"
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the course book (a static HTML site).")
    parser.add_argument("only", nargs="*", help="only notebooks starting with these prefixes")
    parser.add_argument("--out", required=True, type=Path, help="folder of the book (replaced)")
    parser.add_argument(
        "--fast", action="store_true", help="FAST mode (also when PIXELFIQ_FAST=1 is set)"
    )
    parser.add_argument(
        "--timeout", type=int, default=900, help="seconds per cell; a cell past it runs once more"
    )
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    args = parser.parse_args(argv)
    fast = args.fast or is_fast_env()
    return build(args.out, fast=fast, only=args.only, timeout=args.timeout, kernel=args.kernel)


if __name__ == "__main__":
    sys.exit(main())
