"""``--engine ray --address`` to a cluster that is not there fails within a bounded time,
exit 2 and one sentence (issue case 5: it hung until killed)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from helpers.faces import write_faces

pytest.importorskip("ray", reason="Ray is not installed: pip install 'pixelfiq[scale]'")

pytestmark = pytest.mark.slow
ARGS = ["--aligned", "--passes", "2", "--device", "cpu", "--quiet", "--engine", "ray"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return write_faces(tmp_path_factory.mktemp("faces"), ["a.png"])[0].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("pixelfiq: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_refused_address_fails_at_once(faces, tmp_path, in_process, capsys):
    address = f"127.0.0.1:{_free_port()}"
    start = time.monotonic()
    assert in_process(["quality", str(faces), "--out", "q.csv", "--address", address, *ARGS]) == 2
    assert time.monotonic() - start < 30
    assert "cannot be reached" in _error(capsys.readouterr().err)
    assert not (tmp_path / "q.csv").exists()


def test_an_address_that_answers_but_is_no_cluster_times_out(
    faces, tmp_path, in_process, capsys, monkeypatch
):
    """A port that accepts connections and says nothing: the documented limit stops it."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("PIXELFIQ_RAY_CONNECT_TIMEOUT", "8")
    start = time.monotonic()
    try:
        args = ["explain", str(faces), "--out", "o", "--address", f"127.0.0.1:{port}", *ARGS]
        code = in_process(args)
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    elapsed = time.monotonic() - start
    assert code == 2 and elapsed < 60, elapsed
    assert "127.0.0.1" in _error(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()
