"""The render cache of `cmr build` (cache/render.py) and the size bound of the caches (cache/folder.py)."""

from __future__ import annotations

import dataclasses
import os
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conflict_minerals.build import BuildOptions, build
from conflict_minerals.cache.folder import trim
from conflict_minerals.cache.render import ENTRY_SUFFIX, PdfJob, RenderCache, docx_key, pdf_key
from conflict_minerals.cli import app
from conflict_minerals.documents import OutputFormat
from conflict_minerals.manifest import sha256
from conflict_minerals.problems import InputError

from .conftest import edit

DOCUMENTS = ("form-sd.pdf", "conflict-minerals-report.pdf", "form-sd.docx", "conflict-minerals-report.docx")


def _documents(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in DOCUMENTS}


def test_a_cached_build_gives_the_bytes_of_a_fresh_render_and_an_edit_renders_only_its_document(
    sample_2025: Path, tmp_path: Path
) -> None:
    options = BuildOptions(formats=frozenset({OutputFormat.PDF, OutputFormat.DOCX}), jobs=1)
    cold = RenderCache(tmp_path / "cache")
    build(sample_2025, tmp_path / "cold", dataclasses.replace(options, render_cache=cold))
    assert cold.hits == 0
    warm = RenderCache(tmp_path / "cache")
    build(sample_2025, tmp_path / "warm", dataclasses.replace(options, render_cache=warm))
    assert warm.hits == 4
    assert _documents(tmp_path / "warm") == _documents(tmp_path / "cold")  # what a fresh render gave

    # Form SD alone prints the ZIP code: the report comes from the cache, Form SD is rendered.
    edit(sample_2025, 'zip_code: "95134"', 'zip_code: "95135"')
    edited = RenderCache(tmp_path / "cache")
    build(sample_2025, tmp_path / "edited", dataclasses.replace(options, render_cache=edited))
    assert edited.hits == 2
    before, after = _documents(tmp_path / "cold"), _documents(tmp_path / "edited")
    assert [name for name in DOCUMENTS if before[name] != after[name]] == ["form-sd.pdf", "form-sd.docx"]


def test_a_failed_render_is_not_cached(sample_2025: Path, tmp_path: Path) -> None:
    (sample_2025.parent / "extra.css").write_text("body { background: url(/etc/passwd); }", encoding="utf-8")
    edit(sample_2025, "  draft: true", "  draft: true\n  css: extra.css")
    options = BuildOptions(formats=frozenset({OutputFormat.PDF}), jobs=1)
    for _ in range(2):  # refused both times: nothing was stored the first time
        cache = RenderCache(tmp_path / "cache")
        with pytest.raises(InputError, match="refused to load"):
            build(sample_2025, tmp_path / "out", dataclasses.replace(options, render_cache=cache))
        assert not list((tmp_path / "cache").rglob(f"*{ENTRY_SUFFIX}"))


def _job(tmp_path: Path, **changes: object) -> PdfJob:
    job = PdfJob(
        html="<p>x</p>",
        base_url=tmp_path,
        font_stylesheet=tmp_path / "fonts.css",
        asset_roots=(tmp_path / "theme",),
        document_date=date(2026, 5, 27),
        variant=None,
    )
    return dataclasses.replace(job, **changes)


def test_the_key_holds_what_the_bytes_depend_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = pdf_key(_job(tmp_path))
    assert pdf_key(_job(tmp_path)) == base
    changed = [
        _job(tmp_path, html="<p>y</p>"),
        _job(tmp_path, variant="pdf/a-3b"),
        _job(tmp_path, document_date=date(2026, 5, 28)),
        _job(tmp_path, attachments=(("survey.yaml", sha256(b"a"), "Supplier survey results"),)),
        _job(tmp_path, asset_roots=(tmp_path / "theme", tmp_path / "css")),
        _job(tmp_path, base_url=tmp_path / "theme"),
    ]
    keys = {pdf_key(job) for job in changed}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1780000000")
    keys.add(pdf_key(_job(tmp_path)))
    assert base not in keys and len(keys) == len(changed) + 1
    assert docx_key("<p>x</p>", "form-sd.html", date(2026, 5, 27)) != docx_key(
        "<p>x</p>", "form-sd.html", date(2026, 5, 28)
    )


def test_an_entry_is_used_only_while_what_it_loaded_is_unchanged_and_served(tmp_path: Path) -> None:
    theme = tmp_path / "theme"
    theme.mkdir()
    font = theme / "font.ttf"
    font.write_bytes(b"font one")
    cache = RenderCache(tmp_path / "cache")
    loaded = {font.as_uri(): sha256(b"font one")}
    cache.put("ab" * 32, b"%PDF-1.7 one", loaded)
    assert cache.get("ab" * 32, [theme]) == b"%PDF-1.7 one"
    assert cache.get("ab" * 32, [tmp_path / "elsewhere"]) is None  # no longer inside the sandbox
    font.write_bytes(b"font two")
    assert cache.get("ab" * 32, [theme]) is None
    # A file swapped for a link to the same bytes outside the asset folders is not served.
    outside = tmp_path / "outside.ttf"
    outside.write_bytes(b"font one")
    font.unlink()
    font.symlink_to(outside)
    assert cache.get("ab" * 32, [theme]) is None
    # Stored bytes that no longer match their sha256 are not used.
    cache.put("cd" * 32, b"%PDF-1.7 two")
    entry = next((tmp_path / "cache").rglob(f"{'cd' * 32}{ENTRY_SUFFIX}"))
    entry.write_bytes(entry.read_bytes().replace(b"two", b"owt"))
    assert cache.get("cd" * 32) is None


def test_the_cache_folder_keeps_under_its_bound_and_removes_only_its_entries(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    for number in range(10):
        entry = folder / f"{number:02d}" / f"{number:02d}{ENTRY_SUFFIX}"
        entry.parent.mkdir(parents=True)
        entry.write_bytes(b"x" * 1000)
        os.utime(entry, (1_700_000_000 + number, 1_700_000_000 + number))
    (folder / "notes.txt").write_bytes(b"y" * 50_000)
    removed = trim(folder, 5000, ENTRY_SUFFIX)
    left = sorted(path.name for path in folder.rglob(f"*{ENTRY_SUFFIX}"))
    assert removed == 6000 and left == [f"{n:02d}{ENTRY_SUFFIX}" for n in range(6, 10)]  # the newest
    assert (folder / "notes.txt").exists()
    assert trim(folder, 5000, ENTRY_SUFFIX) == 0


def test_no_cache_skips_the_cache(sample_2025: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    arguments = ["build", str(sample_2025), "--out", str(tmp_path / "out"), "--format", "docx"]
    assert CliRunner().invoke(app, [*arguments, "--no-cache"]).exit_code == 0
    assert not (tmp_path / "xdg").exists()
    assert CliRunner().invoke(app, arguments).exit_code == 0
    assert len(list((tmp_path / "xdg" / "conflict-minerals" / "render").rglob(f"*{ENTRY_SUFFIX}"))) == 2


def test_a_cached_pdf_repeats_the_layout_warnings_it_was_rendered_with(
    sample_2025: Path, tmp_path: Path
) -> None:
    """The layout check reads WeasyPrint's laid-out pages, which a cache hit does not have: its
    faults are stored with the PDF and printed again."""
    (sample_2025.parent / "wide.css").write_text(".signature-block { width: 5in; }\n", encoding="utf-8")
    edit(sample_2025, "  draft: true", "  draft: true\n  css: wide.css")
    options = BuildOptions(formats=frozenset({OutputFormat.PDF}), jobs=1)

    def layout(result: object) -> list[str]:
        return sorted(str(w) for w in result.warnings if w.field.startswith("page "))

    cold = build(
        sample_2025, tmp_path / "cold", dataclasses.replace(options, render_cache=RenderCache(tmp_path / "c"))
    )
    warm_cache = RenderCache(tmp_path / "c")
    warm = build(sample_2025, tmp_path / "warm", dataclasses.replace(options, render_cache=warm_cache))
    assert warm_cache.hits == 2
    assert layout(cold) and layout(warm) == layout(cold)
    assert all(w.severity.value == "warning" for w in warm.warnings if w.field.startswith("page "))
