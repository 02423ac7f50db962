"""Issue 20, classes 5 and 7: `cmr serve` stops promptly, stays quiet, and serves only what the
documents use, with the same security headers on every response.

Before: SIGTERM during a PDF render waited for the render (42 s on a 1.6 MB filing), with no
time limit; a client that disconnected mid-response printed a traceback (1,184 of them under a
burst); a FIFO given as the filing was "file not found"; with `template_dir: .` every file of
the filing's folder was served (notes, .git/config, supplier workbooks); an .svg or .html in the
template folder came without the Content-Security-Policy, so its script ran at the preview's
origin.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conflict_minerals.report import pdf
from conflict_minerals.serve.server import SECURITY_HEADERS

from .conftest import edit
from .test_serve import CMR_PAGE, Events, Served, start_command

PROC = Path("/proc")


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def stop_and_wait(process: subprocess.Popen[str], signum: int) -> tuple[float, str]:
    started = time.monotonic()
    process.send_signal(signum)
    try:
        _, errors = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return time.monotonic() - started, errors


@pytest.mark.skipif(not PROC.is_dir(), reason="needs /proc to see the render process")
def test_sigterm_during_a_pdf_render_stops_within_two_seconds(sample_2025: Path) -> None:
    process, url = start_command(sample_2025)
    pdf_url = url + "conflict-minerals-report.pdf"
    asked = threading.Thread(
        target=_quietly, args=(lambda: urllib.request.urlopen(pdf_url, timeout=60).read(),)
    )
    asked.start()
    try:
        deadline = time.monotonic() + 30
        # The render runs in the worker process, busy once the request has reached it.
        while not [pid for pid in descendants(process.pid) if _cpu_ticks(pid) > 50]:
            assert time.monotonic() < deadline, "no render process started"
            time.sleep(0.05)
        time.sleep(0.5)  # inside the render (seconds long)
        below = descendants(process.pid)
        took, errors = stop_and_wait(process, signal.SIGTERM)
    finally:
        asked.join(30)
    assert took < 2, f"stopping took {took:.1f} s"
    assert process.returncode == 0, errors
    assert "Traceback" not in errors and "cmr serve: stopped" in errors
    time.sleep(0.5)
    assert not [pid for pid in below if _running(pid)], "a process outlived cmr serve"


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's first process may never reap what is left to it)."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cpu_ticks(pid: int) -> int:
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _quietly(action) -> None:
    with contextlib.suppress(OSError):
        action()


def test_sigterm_during_a_slow_document_render_stops_within_two_seconds(sample_2025: Path) -> None:
    """The documents are rendered in the main thread: a stop signal interrupts them there."""
    process, _ = start_command(sample_2025)
    theme = sample_2025.parent / "theme"
    theme.mkdir()
    # Slow but within the template time limit (20 s): about five seconds of loops.
    (theme / "form-sd.html.j2").write_text(
        '{% extends "builtin/form-sd.html.j2" %}{% block content %}'
        "{% for i in range(100000) %}{% for j in range(300) %}{% endfor %}{% endfor %}"
        "{{ super() }}{% endblock %}",
        encoding="utf-8",
    )
    edit(sample_2025, "  draft: true", "  draft: true\n  template_dir: theme")
    time.sleep(1.5)  # the watcher saw it; the render is under way
    took, errors = stop_and_wait(process, signal.SIGTERM)
    assert took < 2, f"stopping took {took:.1f} s"
    assert process.returncode == 0 and "Traceback" not in errors, errors


def test_a_render_past_the_time_limit_is_an_error_page(
    sample_2025: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same limit as `cmr build`'s (PDF_RENDER_SECONDS), here made tiny."""
    monkeypatch.setattr(pdf, "PDF_RENDER_SECONDS", 0.05)
    served = Served(sample_2025)
    try:
        status, _, body = served.get("/conflict-minerals-report.pdf")
    finally:
        served.close()
    assert status == 200 and b"The PDF cannot be rendered" in body
    assert b"took longer than 0.05 s" in body


def test_build_applies_the_same_render_time_limit(sample_2025: Path, tmp_path: Path, monkeypatch) -> None:
    from conflict_minerals.build import OutputFormat, build
    from conflict_minerals.problems import InputError

    monkeypatch.setattr(pdf, "PDF_RENDER_SECONDS", 0.05)
    with pytest.raises(InputError, match=r"took longer than 0\.05 s"):
        build(sample_2025, tmp_path / "out", frozenset({OutputFormat.PDF}))
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_clients_that_disconnect_mid_response_print_nothing(sample_2025: Path) -> None:
    process, url = start_command(sample_2025)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    try:
        for _ in range(40):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            client.connect(("127.0.0.1", port))
            client.sendall(f"GET /{CMR_PAGE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            client.recv(100)
            # Closed with a reset while the server is still writing the page.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        with urllib.request.urlopen(url, timeout=30) as response:  # still serving
            assert response.status == 200
    finally:
        _, errors = stop_and_wait(process, signal.SIGTERM)
    assert "Traceback" not in errors and "Error" not in errors, errors
    assert process.returncode == 0


def test_a_fifo_given_as_the_filing_is_named_as_one(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "filing.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "conflict_minerals", "serve", str(tmp_path / "filing.yaml"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "filing.yaml: is a named pipe (FIFO), not a file" in result.stderr


def test_only_what_the_documents_use_is_served_with_the_same_headers(sample_2025: Path) -> None:
    project = sample_2025.parent
    (project / "notes.txt").write_text("counsel's private notes", encoding="utf-8")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("[remote] url = secret", encoding="utf-8")
    (project / "supplier.xlsx").write_bytes(b"PK\x03\x04 a supplier's workbook")
    (project / "evil.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", encoding="utf-8"
    )
    (project / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    (project / "extra.css").write_text("@import 'more.css';\n", encoding="utf-8")
    (project / "more.css").write_text("h1 { background: url('logo.svg'); }\n", encoding="utf-8")
    # The CSS at the filing folder's root, and the folder itself as the template folder.
    edit(sample_2025, "  draft: true", "  draft: true\n  template_dir: .\n  css: extra.css")
    served = Served(sample_2025)
    try:
        for target in ("/notes.txt", "/.git/config", "/supplier.xlsx", "/evil.svg", "/extra.css"):
            status, headers, body = served.get(target)
            assert status == 404, (target, status)
            assert b"private" not in body and b"secret" not in body and b"PK" not in body
            assert_security_headers(headers)
        # extra.css is inlined into the pages; what it imports (more.css) and uses is served.
        for target in ("/logo.svg",):
            status, headers, body = served.get(target)
            assert status == 200, target
            assert_security_headers(headers)
        for target in ("/", f"/{CMR_PAGE}", "/_cmr/live.js", "/_cmr/theme/css/fonts.css", "/../x"):
            assert_security_headers(served.get(target)[1])
        assert_security_headers(Events(served).response.headers)
        connection = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
        connection.request("POST", "/", body=b"x")  # answered by http.server itself (501)
        response = connection.getresponse()
        assert response.status == 501
        assert_security_headers(dict(response.headers))
        connection.close()
    finally:
        served.close()


def assert_security_headers(headers) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, headers.get(name))
