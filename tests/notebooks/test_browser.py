# ruff: noqa: E501  (JavaScript run in the browser keeps its own line lengths)
"""The explorer notebook in a real browser: JupyterLab on loopback, driven by headless Chromium.

The widget unit tests (test_widgets.py) call the explorer's Python side directly; this test
checks what only a browser shows: that every cell runs in JupyterLab, that the widgets render
without an error, that moving the occluder slider and switching the network redraw the face and
change the displayed Q̂, and that the controls fit a notebook in a 1280 px window.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and ``selenium``
(the ``test`` extra); skips with the reason otherwise. JupyterLab listens on 127.0.0.1 only,
with a random token, on a copy of the notebook in a temporary folder (so nothing is saved into
the repository), and is always shut down, also when the test fails. Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tools import NOTEBOOK_DIR, REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
NOTEBOOK = "06_interactive_explorer.ipynb"
BOOT_S, RUN_ALL_S, REDRAW_S = 120, 420, 90
Q_RE = re.compile(r"Q̂ = (\d\.\d{3}) ± (\d\.\d{3})")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="needs chromium and chromedriver (Debian: apt-get install -y chromium "
        "chromium-driver; .ci/run installs them)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, timeout: float, what: str, poll: float = 0.5):
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 serving a copy of the explorer notebook; yields (url, token)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(NOTEBOOK_DIR / NOTEBOOK, root / NOTEBOOK)
    news = (
        root
        / ".settings"
        / "@jupyterlab"
        / "apputils-extension"
        / "notification.jupyterlab-settings"
    )
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')  # no news toast over the widgets, no request out
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel draws inline
    env.update(
        PIXELFIQ_FAST="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        JUPYTER_CONFIG_DIR=str(root / ".config"),
        JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"),
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    log = open(root / "lab.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited: {(root / 'lab.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    try:
        _wait(up, BOOT_S, "JupyterLab to answer")
        yield url, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, 1280 x 900, with the system's chromedriver (no driver download)."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
    )
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


# JavaScript run in the page: the notebook panel through window.jupyterapp.
_PANEL = "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
_KERNEL_IDLE = (
    _PANEL
    + """
return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
          && w.sessionContext.session.kernel.status === 'idle');"""
)
_CELLS = (
    _PANEL
    + """
if (!w || !w.content) { return null; }
return w.content.widgets.filter(c => c.model.type === 'code').map(c => ({
    count: c.model.executionCount,
    errors: c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                      .map(o => o.ename + ': ' + o.evalue)}));"""
)


def _status(driver) -> str:
    """The explorer's status line (the HTML widget holding 'T = ... Q̂ = ...')."""
    texts = driver.execute_script("""
        return Array.from(document.querySelectorAll('.widget-html-content'))
                    .map(e => e.textContent).filter(t => t.includes('Q̂ =') && t.includes('T ='));""")
    return texts[-1] if texts else ""


def _control(driver, kind: str, label: str):
    """The ``kind`` element (``select`` or ``.widget-readout``) of the widget labelled ``label``."""
    from selenium.webdriver.common.by import By

    for box in driver.find_elements(By.CSS_SELECTOR, ".widget-inline-hbox"):
        labels = box.find_elements(By.CSS_SELECTOR, ".widget-label")
        if labels and labels[0].text.strip() == label:
            return box.find_element(By.CSS_SELECTOR, kind)
    raise AssertionError(f"no widget labelled {label!r} on the page")


def _redrawn(driver, before: str, must_contain: str = ""):
    def changed():
        now = _status(driver)
        return now if now != before and Q_RE.search(now) and must_contain in now else None

    return _wait(changed, REDRAW_S, f"the status line to change from {before!r}")


def test_explorer_runs_renders_and_responds_in_a_real_browser(lab, browser):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    url, token = lab
    browser.get(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
    _wait(lambda: browser.execute_script(_KERNEL_IDLE), BOOT_S, "the notebook's kernel to start")
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")

    def all_ran():
        cells = browser.execute_script(_CELLS)
        errors = [e for c in cells or [] for e in c["errors"]]
        assert not errors, f"a cell failed in the browser: {errors}"
        done = cells and all(c["count"] is not None for c in cells)
        return done and browser.execute_script(_KERNEL_IDLE)

    _wait(all_ran, RUN_ALL_S, "every cell to run", poll=1.0)
    page = browser.find_element("tag name", "body").text
    assert "Error displaying widget" not in page and "Error rendering" not in page
    first = _wait(lambda: _status(browser), REDRAW_S, "the explorer's status line")
    assert Q_RE.search(first), first

    # The layout fits: no horizontal scrollbar in the explorer or the notebook at 1280 px.
    overflow = browser.execute_script("""
        const boxes = Array.from(document.querySelectorAll('.jp-OutputArea-output .widget-box, .jp-Notebook'));
        return boxes.filter(e => e.scrollWidth > e.clientWidth + 2)
                    .map(e => e.className + ' ' + e.scrollWidth + '>' + e.clientWidth + ' children '
                         + Array.from(e.children).map(c => c.className.split(' ').pop() + ':'
                                                      + c.getBoundingClientRect().width).join(', '));""")
    assert not overflow, f"horizontal overflow at 1280 px: {overflow}"

    # The occluder slider: type a size into its readout, as a user may, and wait for the redraw.
    readout = _control(browser, ".widget-readout", "size")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", readout)
    readout.click()
    readout.send_keys(Keys.CONTROL, "a")
    readout.send_keys("40", Keys.ENTER)
    occluded = _redrawn(browser, first)
    assert Q_RE.search(occluded).group(1) != Q_RE.search(first).group(1), (first, occluded)

    # The network menu: the other network, with its own number of passes and error bar.
    select = _control(browser, "select", "network")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", select)
    menu = Select(select)
    others = [o.text for o in menu.options if o.text != menu.first_selected_option.text]
    if not others:
        pytest.skip("only one network is ready here (pixelfiq models fetch mobilefacenet)")
    menu.select_by_visible_text(others[0])
    switched = _redrawn(browser, occluded, must_contain=others[0])
    assert Q_RE.search(switched).group(1) != Q_RE.search(occluded).group(1), (occluded, switched)
