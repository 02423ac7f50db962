"""`cmr serve`: the live preview over real HTTP, with real file changes seen by the watcher."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conflict_minerals.build import OutputFormat, build
from conflict_minerals.serve.assets import AssetRefused, url_segments
from conflict_minerals.serve.server import PreviewServer, is_loopback

from .conftest import edit, make_rcoi_only

CMR_PAGE = "conflict-minerals-report.html"
SURVEYED = re.compile(r"surveyed: (\d+)")


class Served:
    """A preview running in this process: the server's threads plus `run()` in one more."""

    def __init__(self, filing: Path) -> None:
        self.filing = filing
        self.server = PreviewServer(filing, port=0)
        self.log: list[str] = []
        self.server.log = self.log.append
        self.server.start()
        self.runner = threading.Thread(target=self.server.run, name="cmr-serve-test-run")
        self.runner.start()
        self.url = self.server.url

    def close(self) -> None:
        self.server.request_stop()
        self.runner.join(10)
        self.server.stop()

    def get(self, path: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path.lstrip("/"))
        if host is not None:
            request.add_unredirected_header("Host", host)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def text(self, path: str) -> str:
        status, _, body = self.get(path)
        assert status == 200, (path, status, body[:300])
        return body.decode("utf-8")

    def raw_get(self, target: str) -> tuple[int, bytes]:
        """A request whose target is sent exactly as written (urllib would normalise `..`)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            connection.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", f"127.0.0.1:{self.server.port}")
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@pytest.fixture
def served(sample_2025: Path) -> Iterator[Served]:
    before = set(threading.enumerate())
    preview = Served(sample_2025)
    try:
        yield preview
    finally:
        preview.close()
    left = [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()]
    assert left == [], f"threads left running after stop: {left}"


class Events:
    """The server-sent events stream a page listens to, read line by line."""

    def __init__(self, served: Served) -> None:
        self.response = urllib.request.urlopen(served.url + "_cmr/events", timeout=20)
        assert self.response.headers["Content-Type"] == "text/event-stream"

    def next_version(self) -> str:
        event = None
        while True:
            line = self.response.readline().decode("utf-8")
            assert line, "the event stream ended"
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "version":
                return line.removeprefix("data: ")

    def close(self) -> None:
        self.response.close()


@pytest.fixture
def events(served: Served) -> Iterator[Events]:
    stream = Events(served)
    yield stream
    stream.close()


def page_version(html: str) -> str:
    found = re.search(r'src="/_cmr/live.js" data-version="([0-9a-f]+)"', html)
    assert found, "the page has no live-reload script"
    return found.group(1)


def save(path: Path, text: str) -> None:
    """Save as editors do: write a new file beside it and rename it over the old one."""
    temporary = path.with_name(f".{path.name}.saving")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    return next(number for number, line in enumerate(lines, 1) if text in line)


def test_index_lists_the_documents_with_their_formats(served: Served) -> None:
    index = served.text("/")
    assert '<a href="/form-sd.html">Form SD</a>' in index
    assert '<a href="/conflict-minerals-report.html">Conflict Minerals Report</a>' in index
    assert '<a href="/conflict-minerals-report.pdf">PDF</a>' in index
    # The sample survey is marked illustrative: the final-copy warnings are listed with their line.
    assert re.search(r"survey\.yaml:\d+:\d+: warning: note: the survey results are marked", index)


def test_document_is_the_built_html_plus_the_reload_script(served: Served, tmp_path: Path) -> None:
    build(served.filing, tmp_path / "out", frozenset({OutputFormat.HTML}))
    built = (tmp_path / "out" / CMR_PAGE).read_text(encoding="utf-8")
    status, headers, body = served.get(CMR_PAGE)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    page = body.decode("utf-8")
    head = re.search(
        r'<link rel="stylesheet" href="/_cmr/theme/css/fonts.css">\n<script [^>]*></script>\n', page
    )
    assert head is not None
    assert page[: head.start()] + page[head.end() :] == built


def test_editing_the_filing_reloads_the_page_with_the_change(served: Served, events: Events) -> None:
    shown = page_version(served.text(CMR_PAGE))
    assert events.next_version() == shown
    save(
        served.filing,
        served.filing.read_text(encoding="utf-8").replace("Acme Devices, Inc.", "Acme Gizmos, Inc."),
    )
    changed = events.next_version()
    assert changed != shown
    page = served.text(CMR_PAGE)
    assert page_version(page) == changed
    assert "Acme Gizmos, Inc." in page and "Acme Devices, Inc." not in page


def test_editing_the_survey_reloads_the_page(served: Served, events: Events) -> None:
    survey = served.filing.parent / "survey.yaml"
    surveyed = int(SURVEYED.search(survey.read_text(encoding="utf-8")).group(1))
    assert f"{surveyed:,}" in served.text(CMR_PAGE)
    shown = events.next_version()
    edit(survey, f"surveyed: {surveyed}", f"surveyed: {surveyed + 1111}")  # written in place
    assert events.next_version() != shown
    assert f"{surveyed + 1111:,}" in served.text(CMR_PAGE)


def test_unrelated_files_do_not_reload(served: Served) -> None:
    shown = served.server.preview.version
    (served.filing.parent / "notes.txt").write_text("not an input", encoding="utf-8")
    (served.filing.parent / "output").mkdir()
    (served.filing.parent / "output" / "form-sd.html").write_text("a build's output", encoding="utf-8")
    assert served.server.wait_for_change(shown, 1.5) == shown


def test_broken_filing_shows_its_problems_and_comes_back_when_fixed(served: Served, events: Events) -> None:
    original = served.filing.read_text(encoding="utf-8")
    shown = events.next_version()
    line = line_of(served.filing, "reporting_year:") + 1
    save(
        served.filing, original.replace("reporting_year: 2025", "reporting_year: 2025\nreporting_year: 2024")
    )
    broken = events.next_version()
    assert broken != shown
    for path in ("/", CMR_PAGE, "form-sd.html", "form-sd.pdf"):
        page = served.text(path)
        assert "The filing cannot be rendered" in page
        assert f"filing.yaml:{line}:" in page, page
        assert page_version(page) == broken  # the error page reloads itself too
    assert any("problem(s), shown in the browser" in line for line in served.log)

    save(served.filing, original)
    assert events.next_version() == shown  # the same inputs: the same version
    page = served.text(CMR_PAGE)
    assert "The filing cannot be rendered" not in page and "Acme Devices, Inc." in page


def test_validation_problems_are_listed_as_file_line_column_field(served: Served, events: Events) -> None:
    events.next_version()
    line = line_of(served.filing, "irs_employer_identification_number:")
    edit(served.filing, 'irs_employer_identification_number: "', 'irs_employer_identification_number: "x')
    events.next_version()
    page = served.text(CMR_PAGE)
    assert re.search(rf"filing\.yaml:{line}:\d+: registrant\.irs_employer_identification_number: ", page), (
        page
    )


def test_template_error_is_shown_with_the_template_line(served: Served, events: Events) -> None:
    events.next_version()
    theme = served.filing.parent / "theme"
    theme.mkdir()
    (theme / "cmr.html.j2").write_text(
        '{% extends "builtin/cmr.html.j2" %}\n{% block content %}\n{{ super() }\n{% endblock %}\n',
        encoding="utf-8",
    )
    edit(served.filing, "  draft: true", "  draft: true\n  template_dir: theme")
    events.next_version()
    page = served.text(CMR_PAGE)
    assert "theme/cmr.html.j2:3" in page, page
    # Fixing the template alone (not the filing) brings the page back.
    (theme / "cmr.html.j2").write_text(
        '{% extends "builtin/cmr.html.j2" %}\n{% block content %}\n{{ super() }}OVERRIDDEN\n{% endblock %}\n',
        encoding="utf-8",
    )
    events.next_version()
    assert "OVERRIDDEN" in served.text(CMR_PAGE)


def test_problem_text_is_escaped_on_the_error_page(served: Served, events: Events) -> None:
    events.next_version()
    edit(served.filing, "reporting_year: 2025", "reporting_year: '<script>alert(1)</script>'")
    events.next_version()
    page = served.text(CMR_PAGE)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_pdf_is_the_built_pdf_rendered_once_per_version(
    served: Served, events: Events, tmp_path: Path
) -> None:
    build(served.filing, tmp_path / "out", frozenset({OutputFormat.PDF}))
    status, headers, pdf = served.get("form-sd.pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert pdf == (tmp_path / "out" / "form-sd.pdf").read_bytes()
    assert served.get("form-sd.pdf")[2] == pdf
    assert served.server.pdfs.renders == 1

    shown = events.next_version()
    edit(served.filing, 'name: "Acme Devices, Inc."', 'name: "Acme Gizmos, Inc."')
    assert events.next_version() != shown
    changed = served.get("form-sd.pdf")[2]
    assert changed.startswith(b"%PDF") and changed != pdf
    assert served.server.pdfs.renders == 2


def test_rcoi_only_filing_has_no_report_page(served: Served, events: Events) -> None:
    events.next_version()
    make_rcoi_only(served.filing)
    events.next_version()
    assert "conflict-minerals-report" not in served.text("/")
    status, _, body = served.get(CMR_PAGE)
    assert status == 404
    page = body.decode("utf-8")
    assert "No such document" in page and page_version(page)  # and it reloads when the CMR is back


def test_theme_assets_are_served_with_their_types(served: Served) -> None:
    status, headers, body = served.get("/_cmr/theme/css/fonts.css")
    assert status == 200 and headers["Content-Type"] == "text/css; charset=utf-8"
    assert b"@font-face" in body
    status, headers, body = served.get("/_cmr/theme/fonts/LiberationSerif-Regular.ttf")
    assert status == 200 and headers["Content-Type"] == "font/ttf" and len(body) > 10_000
    status, headers, body = served.get("/_cmr/live.js")
    assert status == 200 and b"EventSource" in body


def test_override_assets_are_served_relative_to_the_template_folder(served: Served, events: Events) -> None:
    events.next_version()
    theme = served.filing.parent / "theme"
    (theme / "images").mkdir(parents=True)
    (theme / "images" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    # Served because the documents use it (issue 20: nothing else of the folder is served).
    (served.filing.parent / "extra.css").write_text("h1 { background: url(images/logo.svg); }")
    edit(served.filing, "  draft: true", "  draft: true\n  template_dir: theme\n  css: extra.css")
    events.next_version()
    status, headers, body = served.get("/images/logo.svg")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml" and body.startswith(b"<svg")
    assert served.get("/images/missing.svg")[0] == 404


PASSWD = b"root:"


@pytest.mark.parametrize(
    "target",
    [
        "/../../../../etc/passwd",
        "/_cmr/theme/../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        "/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/_cmr/theme/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/css/..%5c..%5c..%5cetc%5cpasswd",
        "/./css/documents.css",
    ],
)
def test_path_escapes_are_refused(served: Served, target: str) -> None:
    status, body = served.raw_get(target)
    assert status == 403, (target, status, body[:200])
    assert PASSWD not in body


def test_absolute_paths_never_leave_the_asset_folders(served: Served) -> None:
    # http.server folds `//etc/passwd` to `/etc/passwd`, which is looked for inside the theme.
    # A double-encoded `..` is a folder named `%2e%2e`: not found, never decoded twice.
    for target in (
        "//etc/passwd",
        "///etc/passwd",
        "/etc/passwd",
        "/%2fetc/passwd",
        "/%252e%252e/etc/passwd",
    ):
        status, body = served.raw_get(target)
        assert status in (403, 404) and PASSWD not in body, target
    with pytest.raises(AssetRefused, match="absolute"):
        url_segments("//etc/passwd")


def test_symlinks_out_of_the_asset_folders_are_refused(
    served: Served, events: Events, tmp_path: Path
) -> None:
    events.next_version()
    secret = tmp_path / "secret.txt"
    secret.write_text("the company's secrets", encoding="utf-8")
    theme = served.filing.parent / "theme"
    theme.mkdir()
    (theme / "leak.txt").symlink_to(secret)
    (theme / "outside").symlink_to(tmp_path)
    (theme / "inside.txt").write_text("fine", encoding="utf-8")
    css = "p { background: url(inside.txt) url(leak.txt) url(outside/secret.txt); }"
    (served.filing.parent / "extra.css").write_text(css, encoding="utf-8")
    edit(served.filing, "  draft: true", "  draft: true\n  template_dir: theme\n  css: extra.css")
    events.next_version()
    assert served.get("/inside.txt")[:1] == (200,)
    for target in ("/leak.txt", "/outside/secret.txt"):
        status, body = served.raw_get(target)
        assert status == 403 and b"secrets" not in body, target
    # The filing and survey are not assets: the template folder is a folder of the filing's folder.
    assert served.get("/filing.yaml")[0] == 404


def test_filing_and_survey_are_never_served(served: Served, events: Events) -> None:
    events.next_version()
    project = served.filing.parent
    (project / "extra.css").write_text("p { color: black; }", encoding="utf-8")
    theme = project / "theme"
    theme.mkdir()
    # The CSS's folder (the filing's) is one the PDF may read from; a link there is still refused.
    (theme / "filing.yaml").symlink_to(served.filing)
    (theme / "survey.yaml").symlink_to(project / "survey.yaml")
    edit(served.filing, "  draft: true", "  draft: true\n  template_dir: theme\n  css: extra.css")
    events.next_version()
    for target in ("/filing.yaml", "/survey.yaml"):
        status, body = served.raw_get(target)
        assert status == 403 and b"reporting_year" not in body, target


def test_requests_for_another_host_name_are_refused(served: Served) -> None:
    status, _, body = served.get("/", host="attacker.example")
    assert status == 403 and b"Acme" not in body
    assert served.get("/", host=f"localhost:{served.server.port}")[0] == 200
    assert served.get("/", host=f"[::1]:{served.server.port}")[0] == 200


def test_only_get_and_head_are_answered(served: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    connection.request("POST", "/", body=b"x")
    assert connection.getresponse().status == 501
    connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    connection.request("HEAD", "/" + CMR_PAGE)
    response = connection.getresponse()
    assert response.status == 200 and int(response.headers["Content-Length"]) > 1000
    assert response.read() == b""
    connection.close()


def test_stop_ends_open_event_streams_and_every_thread(sample_2025: Path) -> None:
    before = set(threading.enumerate())
    preview = Served(sample_2025)
    streams = [Events(preview) for _ in range(3)]
    for stream in streams:
        stream.next_version()
    started = time.monotonic()
    preview.close()
    assert time.monotonic() - started < 5
    assert [thread for thread in threading.enumerate() if thread not in before] == []
    for stream in streams:
        assert stream.response.read().strip() == b""  # returns: the server closed the stream
        stream.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.7", False), ("example.com", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# The command itself, in a subprocess: the URL it prints, its errors, and its stopping.


def start_command(filing: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "conflict_minerals", "serve", str(filing), "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline() if process.stdout else ""
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if found is None:
        process.kill()
        _, errors = process.communicate()
        pytest.fail(f"no URL printed: {line!r} {errors}")
    return process, found.group(0)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_command_prints_its_url_and_stops_cleanly_on_signals(sample_2025: Path, stop: signal.Signals) -> None:
    process, url = start_command(sample_2025)
    try:
        with urllib.request.urlopen(url + CMR_PAGE, timeout=30) as response:
            assert b"Acme Devices, Inc." in response.read()
        stream = urllib.request.urlopen(url + "_cmr/events", timeout=20)  # an open page
        assert stream.readline()
        process.send_signal(stop)
        _, errors = process.communicate(timeout=10)
        stream.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    assert "rendered in" in errors and "cmr serve: stopped" in errors
    assert "Traceback" not in errors
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def run_command(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "conflict_minerals", "serve", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_command_refuses_a_port_in_use(sample_2025: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_command(str(sample_2025), "--port", str(port))
    assert result.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}: " in result.stderr
    assert "--port 0" in result.stderr and "Traceback" not in result.stderr


def test_command_warns_when_not_on_loopback(sample_2025: Path) -> None:
    # 192.0.2.0/24 is reserved for documentation: never this machine's, so nothing listens.
    result = run_command(str(sample_2025), "--host", "192.0.2.7", "--port", "0")
    assert "warning: serving on 192.0.2.7, not the loopback address" in result.stderr
    assert result.returncode == 1 and "error: cannot listen on 192.0.2.7:0" in result.stderr


def test_command_refuses_a_missing_filing(tmp_path: Path) -> None:
    result = run_command(str(tmp_path / "nope.yaml"), "--port", "0")
    assert result.returncode == 1
    assert "nope.yaml: file not found" in result.stderr and "Traceback" not in result.stderr
