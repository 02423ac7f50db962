"""`cmr serve`: a live preview of the filing over HTTP, like `mkdocs serve`.

The documents are rendered in memory when the server starts and again whenever a file in the
filing's folder changes; every open page holds a server-sent events connection and reloads
itself when the preview's version changes. An invalid filing replaces the pages with its list
of problems, and the server stays up.

URL space:

    /                          the index of the documents (or the problems)
    /<stem>.html, /<stem>.pdf  a document; the PDF is rendered on request and cached
    /_cmr/live.js              the reload script, /_cmr/events its event stream
    /_cmr/theme/<path>         the built-in theme's assets (fonts, stylesheets)
    /<path>                    an asset the documents reference, found as the PDF finds it

Safe by default: it binds the loopback address, answers only requests addressed to a loopback
name while bound there (a web page cannot reach it through DNS rebinding), and serves files
only under the PDF fetcher's rules (see `assets.py`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import queue
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from types import FrameType

import jinja2

from ..filing.inputs import kind_of_file
from ..problems import InputError, Problem, display_path
from ..report.templating import FONT_STYLESHEET, builtin_theme_dir
from .assets import AssetMissing, AssetRefused, read_asset, referenced_files, resolve_asset, url_segments
from .preview import PdfCache, Preview, render_preview
from .render import KillableRenderer, RenderStopped
from .watch import FolderWatcher

# An open page hears from the server at least this often, so a closed tab's thread ends.
KEEPALIVE_SECONDS = 10.0
# A client that sends nothing (or reads nothing) for this long is dropped.
SOCKET_TIMEOUT_SECONDS = 10.0

# Documents: no script but ours, nothing fetched from anywhere but this server, as the PDF
# fetches nothing but the project's files. Inline styles are how the documents carry their CSS.
DOCUMENT_POLICY = (
    "default-src 'self' data:; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
# Sent with every response, whatever it is (a document, an asset, the PDF, an error, the event
# stream): an .svg or .html in the template folder runs no script at the preview's origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": DOCUMENT_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# The preview's own stylesheet of the documents' fonts, added to every page's head.
FONTS_URL = "/_cmr/theme/" + FONT_STYLESHEET

_DOCUMENT_PATH = re.compile(r"/(?P<stem>[a-z0-9][a-z0-9-]*)\.(?P<format>html|pdf)")
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)


class ServeError(Exception):
    """The preview cannot start: no such filing, or the address cannot be used."""


class PreviewStopping(BaseException):
    """Raised in the main thread by SIGTERM or Ctrl-C while it renders the documents, so that
    the preview stops at once (a BaseException: no `except Exception` on the way holds it)."""


@dataclass
class Response:
    status: HTTPStatus
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _package_file(*parts: str) -> bytes:
    return files("conflict_minerals.serve").joinpath(*parts).read_bytes()


def _page_environment() -> jinja2.Environment:
    """The preview's own pages: package templates, autoescaped (problems quote the user's text)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("conflict_minerals.serve", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The name in a Host header, without its port: `[::1]:8000` -> `::1`."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class PreviewServer:
    """The preview of one filing: its renderings, its watcher and its HTTP server."""

    def __init__(self, filing: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.filing = filing
        self.host = host
        self.port = port
        self.loopback = is_loopback(host)
        self.theme = builtin_theme_dir()
        self.renderer = KillableRenderer()
        self.pdfs = PdfCache(self.renderer)
        self.rendering = False  # the main thread is rendering the documents (see PreviewStopping)
        self._assets: tuple[str, frozenset[Path]] = ("", frozenset())
        self._assets_lock = threading.Lock()
        self.pages = _page_environment()
        self._changed = threading.Condition()
        # From the watcher to `run()`: sets of changed paths; None asks `run()` to return.
        self._changes: queue.SimpleQueue[set[Path] | None] = queue.SimpleQueue()
        self._preview = Preview(version="")
        self._stopping = False
        self._http: _HttpServer | None = None
        self._watcher: FolderWatcher | None = None
        self._serving: threading.Thread | None = None
        self.log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)

    # Life cycle

    def start(self) -> None:
        """Render the filing, bind the address and start watching and serving (in threads)."""
        if (kind := kind_of_file(self.filing)) is not None:
            raise ServeError(f"{self.filing}: {kind} (give the filing YAML to preview)")
        self._publish(self._render())
        try:
            self._http = _HttpServer(self)
        except OSError as error:
            reason = error.strerror or str(error)
            raise ServeError(
                f"cannot listen on {self.host}:{self.port}: {reason} "
                "(choose another --port, or --port 0 for a free one)"
            ) from None
        self.port = self._http.server_address[1]
        self._watcher = FolderWatcher(self.filing.parent, self._changes.put, self.log)
        self._watcher.start()
        self._serving = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.1}, name="cmr-serve-http"
        )
        self._serving.start()
        self.renderer.start()  # the PDF worker imports WeasyPrint while the first page is read

    def run(self) -> None:
        """Re-render after each change until `request_stop()`. Meant for the main thread, where
        the templates' time limit is a timer signal rather than a trace of every line (half the
        rendering time)."""
        while (changed := self._changes.get()) is not None:
            # Changes that arrived while the last rendering ran are rendered once, together.
            while not self._changes.empty():
                more = self._changes.get()
                if more is None:
                    return
                changed |= more
            self.refresh(changed)

    def request_stop(self) -> None:
        """Make `run()` return. Safe in a signal handler (SimpleQueue.put is reentrant)."""
        self._changes.put(None)

    def stop(self) -> None:
        """Stop watching and serving; returns once every thread of the preview has ended. A PDF
        being rendered is killed: its process ends, and its request is answered at once."""
        self.renderer.stop()
        if self._watcher is not None:
            self._watcher.stop()
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._http is not None:
            self._http.shutdown()
            self._http.close_connections()
            self._http.server_close()  # joins the request threads
        if self._serving is not None:
            self._serving.join()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # Renderings

    @property
    def preview(self) -> Preview:
        with self._changed:
            return self._preview

    def _publish(self, preview: Preview) -> None:
        with self._changed:
            self._preview = preview
            self._changed.notify_all()

    def refresh(self, changed: set[Path]) -> None:
        """Render again if the change concerns the documents, and tell the open pages."""
        if not self._concerns_inputs(changed):
            return
        try:
            preview = self._render()
        except Exception as error:  # a bug, not the user's input: keep serving the last rendering
            self.log(f"cmr serve: internal error while rendering, the preview was not updated: {error!r}")
            return
        if preview.version == self.preview.version:
            return  # saved unchanged, or an editor's temporary while the filing is broken
        # An editor's save also touches its temporaries, gone by now: name what is still there.
        shown = sorted(display_path(path) for path in changed if path.exists()) or ["a file"]
        names = ", ".join(shown)
        if preview.ok:
            self.log(f"{names} changed: rendered in {preview.seconds:.2f} s")
        else:
            self.log(f"{names} changed: {len(preview.problems)} problem(s), shown in the browser")
            for problem in preview.problems:
                self.log(f"  {problem}")
        self._publish(preview)

    def _render(self) -> Preview:
        """render_preview, marked as under way: a stop signal then interrupts it (run_server)."""
        self.rendering = True
        try:
            return render_preview(self.filing)
        finally:
            self.rendering = False

    def _concerns_inputs(self, changed: set[Path]) -> bool:
        """Whether a change touches what the documents are made from. While the filing cannot be
        loaded its inputs are not known (the survey may be the file just created), so any is."""
        current = self.preview
        if current.loaded is None:
            return True
        inputs = set(current.input_files()) | {self.filing.resolve()}
        template_dir = current.loaded.template_dir
        for path in changed:
            if path in inputs or path.parent.resolve() / path.name in inputs:
                return True
            if template_dir is not None and path.is_relative_to(template_dir.resolve()):
                return True
        return False

    def wait_for_change(self, version: str, timeout: float) -> str:
        """The preview's version once it differs from `version` (or after `timeout`, or on stop)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._preview.version == version and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self._preview.version

    @property
    def stopping(self) -> bool:
        with self._changed:
            return self._stopping

    # Responses

    def host_refused(self, host_header: str | None) -> Response | None:
        """Bound to loopback, the preview answers only requests addressed to a loopback name: a
        page on another site whose name was re-pointed at 127.0.0.1 gets nothing."""
        if self.loopback and not is_loopback(_host_name(host_header or "")):
            return self._text(HTTPStatus.FORBIDDEN, "refused: this preview answers only to localhost")
        return None

    def respond(self, raw_path: str, host_header: str | None) -> Response:
        """The response to a GET of `raw_path` (the events stream is handled by the caller)."""
        if (refused := self.host_refused(host_header)) is not None:
            return refused
        path = _path_of(raw_path)
        preview = self.preview
        if path in ("/", "/index.html"):
            return self._index(preview)
        if path == "/_cmr/live.js":
            return Response(
                HTTPStatus.OK, "text/javascript; charset=utf-8", _package_file("static", "live.js")
            )
        if path.startswith("/_cmr/theme/"):
            return self._asset(path.removeprefix("/_cmr/theme"), self.theme, [self.theme])
        document = _DOCUMENT_PATH.fullmatch(path)
        if document is not None:
            found = self._document(preview, document["stem"], document["format"])
            if found is not None:
                return found
        base, roots = self._asset_roots(preview)
        response = self._asset(path, base, roots)
        if document is not None and response.status == HTTPStatus.NOT_FOUND:
            # A page left open on a document the filing no longer makes (the CMR after a switch
            # to rcoi_only) says so, and comes back by itself when the document does.
            return self._problems_page(
                preview,
                [],
                heading="No such document",
                explanation=f"This filing makes no {document['stem']}.{document['format']}; "
                "see the list of its documents.",
                status=HTTPStatus.NOT_FOUND,
            )
        return response

    def _asset_roots(self, preview: Preview) -> tuple[Path, list[Path]]:
        """Where the documents' relative URLs lead and which folders they may reach: the PDF's
        (the template folder, else the theme). With no rendering, the theme alone."""
        loaded = preview.loaded
        if loaded is None:
            return self.theme, [self.theme]
        roots = [self.theme]
        if loaded.template_dir is not None:
            roots.append(loaded.template_dir)
        if loaded.css_path is not None:
            roots.append(loaded.css_path.parent)
        return loaded.template_dir or self.theme, roots

    def _document(self, preview: Preview, stem: str, format: str) -> Response | None:
        if not preview.ok:
            return self._problems_page(preview)
        if stem not in preview.pages:
            return None  # perhaps an asset of an override folder; else not found
        if format == "html":
            html = _with_live_reload(preview.pages[stem], self._live_head(preview.version))
            return Response(HTTPStatus.OK, "text/html; charset=utf-8", html.encode("utf-8"))
        try:
            pdf = self.pdfs.get(preview, stem)
        except InputError as error:
            return self._problems_page(preview, list(error.problems), heading="The PDF cannot be rendered")
        except RenderStopped:
            return self._text(HTTPStatus.SERVICE_UNAVAILABLE, "the preview is stopping")
        return Response(HTTPStatus.OK, "application/pdf", pdf)

    def _live_head(self, version: str) -> str:
        return self.pages.get_template("live.html.j2").render(version=version)

    def _index(self, preview: Preview) -> Response:
        if not preview.ok:
            return self._problems_page(preview)
        assert preview.loaded is not None
        filing = preview.loaded.filing
        html = self.pages.get_template("index.html.j2").render(
            version=preview.version,
            title=f"{filing.registrant.name}: reporting year {filing.reporting_year}",
            filing=display_path(self.filing),
            documents=preview.documents,
            warnings=preview.warnings,
        )
        return self._html(HTTPStatus.OK, html)

    def _problems_page(
        self,
        preview: Preview,
        problems: list[Problem] | None = None,
        heading: str = "The filing cannot be rendered",
        explanation: str | None = None,
        status: HTTPStatus = HTTPStatus.OK,
    ) -> Response:
        shown = list(preview.problems) if problems is None else problems
        if explanation is None:
            count = sum(1 for problem in shown if problem.severity == "error")
            explanation = (
                f"{count} problem{'s' if count != 1 else ''} in {display_path(self.filing)} "
                "or the files it names:"
            )
        html = self.pages.get_template("error.html.j2").render(
            version=preview.version, heading=heading, explanation=explanation, problems=shown
        )
        return self._html(status, html)

    def _asset(self, path: str, base: Path, roots: list[Path]) -> Response:
        try:
            found = resolve_asset(url_segments(path), base, roots)
            if found in self._private_files():
                raise AssetRefused("the filing and its survey results are not assets")
            if found not in self.served_assets():
                # The template folder may be the project's folder: only what the documents use.
                raise AssetMissing("not a file the documents use")
            data, content_type = read_asset(found)
        except AssetRefused as refused:
            return self._text(HTTPStatus.FORBIDDEN, f"refused: {refused}")
        except AssetMissing as missing:
            return self._text(HTTPStatus.NOT_FOUND, f"not found: {missing}")
        return Response(HTTPStatus.OK, content_type, data)

    def served_assets(self) -> frozenset[Path]:
        """The files the current documents reference (images, stylesheets, fonts, directly or
        through CSS `url()` and `@import`) and the preview's own fonts: the only files served."""
        preview = self.preview
        with self._assets_lock:
            if self._assets[0] != preview.version:

                def locate(path: str) -> Path | None:
                    return self._locate(preview, path)

                self._assets = (preview.version, referenced_files(preview.pages, FONTS_URL, locate))
            return self._assets[1]

    def _locate(self, preview: Preview, path: str) -> Path | None:
        """The file a URL path of the preview leads to, or None."""
        if path.startswith("/_cmr/theme/"):
            path, (base, roots) = path.removeprefix("/_cmr/theme"), (self.theme, [self.theme])
        else:
            base, roots = self._asset_roots(preview)
        try:
            return resolve_asset(url_segments(path), base, roots)
        except (AssetRefused, AssetMissing):
            return None

    def _private_files(self) -> set[Path]:
        """The filing and the survey: never served, even through a symlink in the template folder
        to the CSS's folder (which the PDF's fetcher may read from)."""
        private = {self.filing.resolve()}
        if (loaded := self.preview.loaded) is not None:
            private.add(loaded.survey_path.resolve())
        return private

    @staticmethod
    def _html(status: HTTPStatus, html: str) -> Response:
        return Response(status, "text/html; charset=utf-8", html.encode("utf-8"))

    @staticmethod
    def _text(status: HTTPStatus, text: str) -> Response:
        return Response(status, "text/plain; charset=utf-8", (text + "\n").encode("utf-8"))


def _path_of(target: str) -> str:
    """The path of a request target, still percent-encoded. Not `urlsplit`: it would read
    `//etc/passwd` as a host name and a path, and the path check must see it whole."""
    return target.split("?", 1)[0].split("#", 1)[0]


def _with_live_reload(html: str, head: str) -> str:
    """The document with the preview's head added before `</head>` (or first, if it has none)."""
    match = _HEAD_END.search(html)
    if match is None:
        return head + html
    return html[: match.start()] + head + html[match.start() :]


class _HttpServer(ThreadingHTTPServer):
    # Request threads are joined on close: stopping leaves no thread behind.
    daemon_threads = False
    block_on_close = True

    def __init__(self, preview: PreviewServer) -> None:
        self.preview = preview
        self.address_family = socket.AF_INET6 if ":" in preview.host else socket.AF_INET
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((preview.host, preview.port), _Handler)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            if is_open:
                self._open.add(connection)
            else:
                self._open.discard(connection)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-response (a reload, a closed tab) is not news: nothing is
        printed. Anything else is a bug, and the standard report (a traceback) says so."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End every open connection (event streams, slow clients) so their threads return."""
        with self._open_lock:
            for connection in self._open:
                with contextlib.suppress(OSError):  # already closed by the client
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    timeout = SOCKET_TIMEOUT_SECONDS

    def version_string(self) -> str:
        return "cmr-serve"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        preview = self.server.preview
        if _path_of(self.path) == "/_cmr/events" and send_body:
            if (refused := preview.host_refused(self.headers.get("Host"))) is not None:
                self._send(refused, send_body)
                return
            self._stream_events(preview)
            return
        self._send(preview.respond(self.path, self.headers.get("Host")), send_body)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._headers_sent: set[str] = set()
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        getattr(self, "_headers_sent", set()).add(keyword.lower())
        super().send_header(keyword, value)

    def end_headers(self) -> None:
        """Every response gets the same security headers, the server's own errors (400, 501)
        and the event stream included."""
        for name, value in SECURITY_HEADERS.items():
            if name.lower() not in getattr(self, "_headers_sent", set()):
                self.send_header(name, value)
        super().end_headers()

    def _send(self, response: Response, send_body: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)

    def _stream_events(self, preview: PreviewServer) -> None:
        """Send the preview's version now and after every change, until the page goes away."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        version = preview.preview.version
        try:
            self.wfile.write(b"retry: 1000\n\n")
            while not preview.stopping:
                self.wfile.write(f"event: version\ndata: {version}\n\n".encode())
                self.wfile.flush()
                latest = preview.wait_for_change(version, KEEPALIVE_SECONDS)
                while latest == version and not preview.stopping:
                    self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
                    latest = preview.wait_for_change(version, KEEPALIVE_SECONDS)
                version = latest
        except OSError:  # the page was closed or reloaded, or the server is stopping
            return

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the terminal shows renders and problems, not every request."""


def run_server(filing: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the preview until Ctrl-C or SIGTERM. The URL goes to stdout, the rest to stderr."""
    server = PreviewServer(filing, host, port)
    echo = server.log
    if not server.loopback:
        echo(
            f"warning: serving on {host}, not the loopback address: anyone who can reach this "
            "machine can read the draft filing (the preview has no login)"
        )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        server.request_stop()
        if server.rendering:  # the documents are being rendered in this thread: stop that now
            raise PreviewStopping

    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        _serve(server, filing, echo)
    except PreviewStopping:
        pass
    finally:
        server.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    echo("cmr serve: stopped")


def _serve(server: PreviewServer, filing: Path, echo: Callable[[str], None]) -> None:
    server.start()
    preview = server.preview
    if preview.ok:
        echo(f"{display_path(filing)}: rendered in {preview.seconds:.2f} s")
    else:
        echo(f"{display_path(filing)}: {len(preview.problems)} problem(s), shown in the browser")
        for problem in preview.problems:
            echo(f"  {problem}")
    print(f"Serving the preview at {server.url} (Ctrl-C to stop)", flush=True)
    server.run()
