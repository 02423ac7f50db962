"""The documents as HTML: the table of documents rendered through the sandboxed templates.

`cmr build` writes this HTML and makes the PDFs and EDGAR files from it; `cmr validate` renders
it to check the templates; `cmr diff` renders a filing YAML's documents to compare them. No
WeasyPrint here: validating or diffing HTML must not pay for loading it.
"""

from __future__ import annotations

from ..documents import documents_for
from ..filing.inputs import read_input_text
from ..filing.loader import LoadedFiling
from .context import DocumentContext
from .templating import STYLESHEET, make_environment, render_template, theme_stylesheet


def render_html(loaded: LoadedFiling, context: DocumentContext) -> dict[str, str]:
    """HTML text of each document the filing is made of, keyed by file stem.

    A template that fails is an InputError (TemplateFailure) naming its file and line."""
    env = make_environment(loaded.template_dir)
    variables = {name: getattr(context, name) for name in DocumentContext.model_fields}
    variables["stylesheet"] = theme_stylesheet(STYLESHEET, _presentation_css(loaded))
    return {
        doc.stem: render_template(env, doc.template, {**variables, "document_title": doc.title})
        for doc in documents_for(context.files_cmr, context.audit_exhibit)
    }


def _presentation_css(loaded: LoadedFiling) -> str | None:
    """`presentation.css`, added after the built-in stylesheet."""
    if loaded.css_path is None:
        return None
    return "\n/* presentation.css */\n" + read_input_text(loaded.css_path)
