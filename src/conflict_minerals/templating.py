"""The Jinja environment: sandboxed, strict and autoescaped, with user overrides.

Lookup order, as in MkDocs' `custom_dir`: a template in the filing's override folder wins,
and it can still extend the built-in one as `{% extends "builtin/<name>" %}`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from .problems import InputError, Problem, display_path

FORM_SD_TEMPLATE = "form-sd.html.j2"
CMR_TEMPLATE = "cmr.html.j2"
STYLESHEET = "css/documents.css"
FONT_STYLESHEET = "css/fonts.css"


def builtin_theme_dir() -> Path:
    """The built-in templates: inside the installed package, or the checkout's top-level folder."""
    packaged = Path(str(files("conflict_minerals") / "templates"))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if checkout.is_dir():
        return checkout
    raise RuntimeError("the built-in templates are missing from this installation")


class ContainedFileSystemLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that refuses files whose real path (after symlinks) leaves its folder."""

    def get_source(self, environment: jinja2.Environment, template: str):
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not any(real.is_relative_to(Path(root).resolve()) for root in self.searchpath):
            raise jinja2.TemplateNotFound(template, f"{template} leads outside the template folder")
        return source, filename, uptodate


def make_environment(override_dir: Path | None) -> SandboxedEnvironment:
    builtin = ContainedFileSystemLoader(str(builtin_theme_dir()))
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(ContainedFileSystemLoader(str(override_dir)))
    loaders += [jinja2.PrefixLoader({"builtin": builtin}), builtin]
    env = SandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["number"] = lambda value: f"{value:,}"
    return env


def style_block(css: str) -> Markup:
    """CSS for a <style> element; `</` is escaped so the text cannot close the element."""
    return Markup(css.replace("</", "<\\/"))


@dataclass
class TemplateFailure(Exception):
    """A template (usually a user override) failed to compile or render."""

    file: str
    line: int | None
    message: str

    def as_input_error(self) -> InputError:
        return InputError([Problem(self.file, self.line, None, "", self.message)])


def render_template(env: SandboxedEnvironment, name: str, context: dict[str, object]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateFailure(
            _template_file(error.filename, name), error.lineno, error.message or "syntax error"
        ) from None
    except jinja2.TemplateNotFound as error:
        raise TemplateFailure(name, None, f"template not found: {error.message or error.name}") from None
    except jinja2.TemplateError as error:
        filename, line = _template_frame(name)
        raise TemplateFailure(filename, line, f"{type(error).__name__}: {error}") from None


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
