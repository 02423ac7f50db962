"""The Jinja environment: sandboxed, strict and autoescaped, with user overrides.

Lookup order, as in MkDocs' `custom_dir`: a template in the filing's override folder wins,
and it can still extend the built-in one as `{% extends "builtin/<name>" %}`.

An override template is code from the user's folder, so rendering is bounded: in time
(a loop of loops), in output size, in the size of any string or list it builds, in memory,
and in recursion depth. Every failure is `template:line: message`, never a traceback or a
hang. Every environment (build, diff, ingest findings) comes from `make_environment` and is
rendered through `render_template`, so all get the same limits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from types import FrameType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from ..filing.inputs import read_input_text
from ..outputs import address_space
from ..problems import InputError, Problem, display_path
from .markdown import address_html

STYLESHEET = "css/documents.css"
FONT_STYLESHEET = "css/fonts.css"

# Limits on templates. The built-in ones render a filing in about 20 ms, to well under 1 MB
# per document, from sources of a few kilobytes.
MAX_TEMPLATE_BYTES = 2 * 1024 * 1024
MAX_RENDER_SECONDS = 20.0
MAX_OUTPUT_CHARS = 20_000_000  # per document
MAX_VALUE_LENGTH = 10_000_000  # characters or items in a string or list made by `*` or `+`
MAX_POWER_BITS = 100_000  # `**` on integers
# Address space a render may add to the process: a backstop for what the checks above do not
# see (`'x'|center(10**10)`), turning it into a MemoryError instead of swapping.
MAX_RENDER_MEMORY = 1024 * 1024 * 1024


def builtin_theme_dir() -> Path:
    """The built-in templates: inside the installed package, or the checkout's top-level folder."""
    packaged = Path(str(files("conflict_minerals") / "templates"))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "templates"
    if checkout.is_dir():
        return checkout
    raise RuntimeError("the built-in templates are missing from this installation")


class TemplateLimit(Exception):
    """A template went past a limit. An Exception, not a BaseException, so that Jinja maps its
    traceback to the template line."""


class ContainedFileSystemLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that reads a template as any user-named file (never waiting on a FIFO,
    never a folder or a device, at most MAX_TEMPLATE_BYTES) and refuses one whose real path
    (after symlinks) leaves its folder. A name that exists but cannot be used is an error,
    not a silent fall-back to the built-in template."""

    def get_source(self, environment: jinja2.Environment, template: str):
        pieces = jinja2.loaders.split_template_path(template)
        for root in self.searchpath:
            candidate = Path(root, *pieces)
            if not os.path.lexists(candidate):
                continue
            try:
                inside = candidate.resolve().is_relative_to(Path(root).resolve())
            except (OSError, RuntimeError):  # a symlink loop
                inside = False
            if not inside:
                message = "template not found: it leads outside the template folder (or loops)"
                raise InputError([Problem(display_path(candidate), None, None, "", message)])
            source = read_input_text(candidate, MAX_TEMPLATE_BYTES)
            mtime = os.path.getmtime(candidate)

            def uptodate(candidate: Path = candidate, mtime: float = mtime) -> bool:
                try:
                    return os.path.getmtime(candidate) == mtime
                except OSError:
                    return False

            return source, os.path.normpath(candidate), uptodate
        raise jinja2.TemplateNotFound(template)


def _sized(value: object) -> bool:
    return isinstance(value, str | bytes | list | tuple)


class LimitedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox (which already caps `range()` at 100,000 items) with bounded `*`, `+`
    and `**`, so that `'x' * 10**10` or `2 ** 10**9` stops at once with a clear message."""

    intercepted_binops = frozenset({"*", "+", "**"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if _sized(sequence) and isinstance(count, int):
                    _check_length(len(sequence) * count)
        elif operator == "+" and _sized(left) and _sized(right):
            _check_length(len(left) + len(right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            bits = max(left.bit_length(), 1) * right
            if abs(left) > 1 and bits > MAX_POWER_BITS:
                raise TemplateLimit(
                    f"a number of about {bits:,} bits is over the limit of {MAX_POWER_BITS:,}"
                )
        return super().call_binop(context, operator, left, right)


def _check_length(length: int) -> None:
    if length > MAX_VALUE_LENGTH:
        raise TemplateLimit(
            f"a value of {length:,} characters or items is over the limit of {MAX_VALUE_LENGTH:,}"
        )


def make_environment(override_dir: Path | None) -> SandboxedEnvironment:
    builtin = ContainedFileSystemLoader(str(builtin_theme_dir()))
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(ContainedFileSystemLoader(str(override_dir)))
    loaders += [jinja2.PrefixLoader({"builtin": builtin}), builtin]
    env = LimitedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["number"] = lambda value: f"{value:,}"
    env.filters["address"] = address_html  # a web or mail address that never breaks at a hyphen
    env.filters["series"] = series
    # "the Democratic Republic of the Congo" opening a sentence.
    env.filters["capitalize_first"] = lambda text: str(text)[:1].upper() + str(text)[1:]
    return env


def series(items: object) -> str:
    """Items as running text lists them: "A", "A and B", "A, B and C" (no serial comma, as the
    documents' definitions write them)."""
    words = [str(item) for item in items] if isinstance(items, (list, tuple)) else [str(items)]
    if len(words) <= 2:
        return " and ".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def style_block(css: str) -> Markup:
    """CSS for a <style> element; `</` is escaped so the text cannot close the element."""
    return Markup(css.replace("</", "<\\/"))


def theme_stylesheet(name: str, extra: str | None = None) -> Markup:
    """A built-in stylesheet (`css/diff.css`) for a <style> element, with `extra` CSS after it."""
    css = (builtin_theme_dir() / name).read_text(encoding="utf-8")
    if extra is not None:
        css += extra
    return style_block(css)


class TemplateFailure(InputError):
    """A template (usually a user override) failed to compile or render: an input error naming
    the template's file and line, shown and mapped to an exit code like any other."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        super().__init__([Problem(file, line, None, "", message)])
        self.file = file
        self.line = line
        self.message = message


def render_template(env: SandboxedEnvironment, name: str, context: dict[str, object]) -> str:
    """Render one template within the limits; any failure is a TemplateFailure (file, line)."""
    shown = name  # the template's file once it is found, for failures outside any template line
    try:
        with _time_limit(MAX_RENDER_SECONDS), _memory_limit(MAX_RENDER_MEMORY):
            template = env.get_template(name)
            shown = _template_file(template.filename, name)
            return _render_bounded(template, context)
    except InputError:
        raise  # an unreadable template file: already names the file
    except jinja2.TemplateSyntaxError as error:
        raise TemplateFailure(
            _template_file(error.filename, name), error.lineno, error.message or "syntax error"
        ) from None
    except jinja2.TemplateNotFound as error:
        raise TemplateFailure(name, None, f"template not found: {error.message or error.name}") from None
    except jinja2.TemplateError as error:
        filename, line = _template_frame(shown)
        raise TemplateFailure(filename, line, f"{type(error).__name__}: {error}") from None
    except TemplateLimit as error:
        filename, line = _template_frame(shown)
        raise TemplateFailure(filename, line, str(error)) from None
    except RecursionError:
        filename, line = _template_frame(shown)
        raise TemplateFailure(filename, line, "a macro or include calls itself too deeply") from None
    except MemoryError:
        filename, line = _template_frame(shown)
        message = f"rendering needs more than {MAX_RENDER_MEMORY // 2**20:,} MiB of memory"
        raise TemplateFailure(filename, line, message) from None
    except Exception as error:  # `{{ 1 / 0 }}`, `{{ 1e308 * 10 ** 10 }}`: a template's own error
        filename, line = _template_frame(shown)
        raise TemplateFailure(filename, line, f"{type(error).__name__}: {error}") from None


def _render_bounded(template: jinja2.Template, context: dict[str, object]) -> str:
    """Render piece by piece, stopping as soon as the output passes MAX_OUTPUT_CHARS."""
    pieces = []
    length = 0
    stream = template.generate(context)
    try:
        for piece in stream:
            length += len(piece)
            if length > MAX_OUTPUT_CHARS:
                raise TemplateLimit(f"the output is larger than {MAX_OUTPUT_CHARS:,} characters")
            pieces.append(piece)
    finally:
        stream.close()
    return "".join(pieces)


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Stop a render after `seconds`. In the main thread a SIGALRM timer raises inside the
    template code; elsewhere (signals go to the main thread only) a trace function checks the
    clock on each template line."""
    expired = TemplateLimit(f"rendering took longer than {seconds:g} s (a loop that does not end?)")
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            raise expired

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    deadline = time.monotonic() + seconds

    def on_line(frame: FrameType, event: str, arg: object) -> Any:
        if time.monotonic() > deadline:
            raise expired
        return on_line

    def on_call(frame: FrameType, event: str, arg: object) -> Any:
        # Code compiled from a template runs with its environment in its globals.
        is_template = isinstance(frame.f_globals.get("environment"), LimitedEnvironment)
        return on_line(frame, event, arg) if is_template else None

    previous_trace = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous_trace)


@contextlib.contextmanager
def _memory_limit(extra: int) -> Iterator[None]:
    """Cap the address space at its current size plus `extra` while a template renders."""
    try:
        import resource
    except ImportError:  # not on this platform
        yield
        return
    current = address_space()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = None if current is None else current + extra
    if cap is not None and hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if cap is None or (soft != resource.RLIM_INFINITY and soft <= cap):
        yield  # no reading, or an existing limit that is already tighter
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _template_file(filename: str | None, fallback: str) -> str:
    return display_path(Path(filename)) if filename else fallback


def _template_frame(fallback: str) -> tuple[str, int | None]:
    """The innermost template line of the exception being handled (Jinja maps frames to templates)."""
    traceback = sys.exc_info()[2]
    found: tuple[str, int | None] = (fallback, None)
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if code.co_filename.endswith(".j2"):
            found = (display_path(Path(code.co_filename)), traceback.tb_lineno)
        traceback = traceback.tb_next
    return found
