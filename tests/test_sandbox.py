"""The renderer and the templates reach nothing outside the project's own assets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conflict_minerals.build import OutputFormat, build
from conflict_minerals.problems import InputError
from conflict_minerals.report.pdf import AssetRefused, SandboxFetcher

from .conftest import edit

PDF = frozenset({OutputFormat.PDF})
HTML_ONLY = frozenset({OutputFormat.HTML})


def with_override(filing: Path, template: str, name: str = "form-sd.html.j2") -> Path:
    """Give the filing a template override folder holding one template."""
    folder = filing.parent / "theme"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(template, encoding="utf-8")
    edit(filing, "  draft: true", "  draft: true\n  template_dir: theme")
    return folder


EXTENDS = '{% extends "builtin/form-sd.html.j2" %}{% block content %}{{ super() }}HOSTILE{% endblock %}'


@pytest.mark.parametrize(
    "hostile",
    [
        '<img src="file:///etc/passwd">',
        '<a rel="attachment" href="/etc/passwd">x</a>',
        '<link rel="attachment" href="file:///etc/hostname">',
        '<img src="http://127.0.0.1:9/pixel.png">',
        '<img src="https://example.com/pixel.png">',
        '<img src="../../../../../../../../etc/passwd">',
        '<link rel="stylesheet" href="/etc/passwd">',
        '<style>@import url("/etc/passwd");</style>',
        '<div style="background: url(file:///etc/passwd)">x</div>',
        "<style>@font-face { font-family: X; src: url(/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf); }"
        " body { font-family: X; }</style>",
    ],
)
def test_override_template_cannot_fetch_outside_assets(
    sample_2025: Path, tmp_path: Path, hostile: str
) -> None:
    with_override(sample_2025, EXTENDS.replace("HOSTILE", hostile))
    out = tmp_path / "out"
    with pytest.raises(InputError) as raised:
        build(sample_2025, out, PDF)
    assert "refused to load" in str(raised.value)
    assert not out.exists() or not any(out.glob("*.pdf"))


def test_user_css_cannot_fetch_outside_assets(sample_2025: Path, tmp_path: Path) -> None:
    (sample_2025.parent / "extra.css").write_text("body { background: url(/etc/passwd); }", encoding="utf-8")
    edit(sample_2025, "  draft: true", "  draft: true\n  css: extra.css")
    with pytest.raises(InputError, match="refused to load"):
        build(sample_2025, tmp_path / "out", PDF)


def test_override_extends_builtin_and_may_use_its_own_assets(sample_2025: Path, tmp_path: Path) -> None:
    folder = with_override(
        sample_2025,
        EXTENDS.replace("HOSTILE", '<img src="logo.svg" alt="logo"><p>Custom footer text</p>'),
    )
    (folder / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        encoding="utf-8",
    )
    result = build(sample_2025, tmp_path / "out")
    html = (tmp_path / "out" / "form-sd.html").read_text(encoding="utf-8")
    assert "Custom footer text" in html and "FORM SD" in html
    assert tmp_path / "out" / "form-sd.pdf" in result.written


def test_yaml_paths_cannot_leave_the_filing_folder(sample_2025: Path, tmp_path: Path) -> None:
    edit(sample_2025, "  draft: true", "  draft: true\n  template_dir: ../../../../etc\n  css: /etc/passwd")
    with pytest.raises(InputError) as raised:
        build(sample_2025, tmp_path / "out", HTML_ONLY)
    messages = str(raised.value)
    assert "presentation.template_dir: must stay inside the filing's folder" in messages
    assert "presentation.css: must be a path relative to the filing's folder" in messages


def test_sandboxed_templates_block_python_internals(sample_2025: Path, tmp_path: Path) -> None:
    with_override(sample_2025, "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(InputError) as raised:
        build(sample_2025, tmp_path / "out", HTML_ONLY)
    assert "SecurityError" in str(raised.value) or "unsafe" in str(raised.value)


def test_override_include_cannot_read_files(sample_2025: Path, tmp_path: Path) -> None:
    with_override(sample_2025, '{% include "../../../../etc/passwd" %}')
    with pytest.raises(InputError, match="template not found"):
        build(sample_2025, tmp_path / "out", HTML_ONLY)


def test_override_symlink_out_of_the_folder_is_refused(sample_2025: Path, tmp_path: Path) -> None:
    folder = with_override(sample_2025, '{% include "leak.html" %}')
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET", encoding="utf-8")
    os.symlink(secret, folder / "leak.html")
    with pytest.raises(InputError, match="template not found"):
        build(sample_2025, tmp_path / "out", HTML_ONLY)


def test_template_syntax_error_names_file_and_line(sample_2025: Path, tmp_path: Path) -> None:
    with_override(sample_2025, "line one\n{% if %}\n")
    with pytest.raises(InputError) as raised:
        build(sample_2025, tmp_path / "out", HTML_ONLY)
    problem = raised.value.problems[0]
    assert problem.file.endswith("theme/form-sd.html.j2") and problem.line == 2


def test_fetcher_allows_assets_and_refuses_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "assets"
    root.mkdir()
    (root / "ok.css").write_text("p {}", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    os.symlink(outside, root / "link.css")
    fetcher = SandboxFetcher([root])
    assert fetcher.fetch((root / "ok.css").as_uri()).read() == b"p {}"
    assert fetcher.fetch("data:text/plain,hello").read() == b"hello"
    for url in ((root / "link.css").as_uri(), outside.as_uri(), "http://127.0.0.1/", "ftp://x/y"):
        with pytest.raises(AssetRefused):
            fetcher.fetch(url)
