"""The shape of the package: one table of documents, a plain `--help`, and commands that load
only what they use (issue 11)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conflict_minerals.cli import app
from conflict_minerals.documents import CMR, DOCUMENTS, FORM_SD, OWN_OUTPUT, OutputFormat, documents_for

from .conftest import REPO, edit

runner = CliRunner()
PACKAGE = REPO / "src" / "conflict_minerals"
COMMANDS = ("init", "validate", "build", "serve", "ingest", "diff", "cmrt", "check-edgar")

# --------------------------------------------------------------------------------------
# One table of documents


def test_the_document_names_are_written_in_documents_py_only() -> None:
    names = re.compile(r"conflict-minerals-report|form-sd\b|formsd-|ex1-01|EX-1\.01")
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "documents.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if names.search(line)
    ]
    assert found == []


def test_the_stale_output_pattern_follows_the_table() -> None:
    for document in DOCUMENTS:
        for output_format in OutputFormat:
            assert OWN_OUTPUT.fullmatch(document.file_name(output_format))
        assert OWN_OUTPUT.fullmatch(f"edgar/{document.edgar.file_name(2025)}")
    for name in ("filing-data.json", "evidence.json", "evidence.html", "edgar/submission.json"):
        assert OWN_OUTPUT.fullmatch(name)
    # Never the manifest, another tool's file, a look-alike or a path out of the folder.
    for name in (
        "manifest.json",
        "notes.txt",
        "form-sd.rtf",
        "xform-sd.html",
        "edgar/file.json",
        "edgar/formsd-25.htm",
        "../form-sd.html",
        "sub/form-sd.html",
    ):
        assert not OWN_OUTPUT.fullmatch(name), name


def test_the_report_is_written_only_when_filed() -> None:
    assert documents_for(True) == (FORM_SD, CMR)
    assert documents_for(False) == (FORM_SD,)


def test_the_package_root_holds_at_most_eight_modules() -> None:
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= 8, modules


def test_diff_imports_no_build_driver() -> None:
    for path in sorted((PACKAGE / "diff").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"from \.\.build import|import conflict_minerals\.build", text), path.name
        assert not re.search(r"^from weasyprint|^import weasyprint", text, re.MULTILINE), path.name


# --------------------------------------------------------------------------------------
# A readable --help


def _help(*arguments: str) -> str:
    result = runner.invoke(app, [*arguments, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def _first_column(text: str, section: str) -> list[str]:
    """The names and metavars of a help section ("Options", "Arguments"), one per entry."""
    body = text.split(f"\n{section}:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip().split("  ")[0] for line in body.splitlines() if re.match(r"  \S", line)]


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_shows_plain_metavars_and_an_example(command: str) -> None:
    text = _help(command)
    usage = text.splitlines()[0]
    assert usage.startswith(f"Usage: cmr {command} [OPTIONS] ")
    assert not re.search(r"[{}<>]|\[(?!OPTIONS\])", usage), usage
    columns = _first_column(text, "Options")
    if "\nArguments:\n" in text:
        columns += _first_column(text, "Arguments")
    for column in columns:
        assert not re.search(r"[{}<>\[\]]|\b(path|int|str|list|range)\b", column), column
    assert "Example:" in text
    assert re.search(rf"^\s+cmr {command} \S", text.split("Example:", 1)[1], re.MULTILINE)


def test_the_command_list_gives_whole_descriptions() -> None:
    text = _help()
    listing = text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    assert "…" not in listing and "..." not in listing
    # Compared without white space: the list wraps lines, at hyphens too ("word-" "level").
    described = "".join(listing.split())
    assert [info.name for info in app.registered_commands] == list(COMMANDS)
    for info in app.registered_commands:
        assert info.short_help and "".join(f"{info.name} {info.short_help}".split()) in described, info.name


# --------------------------------------------------------------------------------------
# Fixed costs: what each command imports

HEAVY = ("weasyprint", "pydyf", "fontTools", "lxml", "rich", "python_calamine", "msoffcrypto")
LIBRARY = ("jinja2", "pydantic", "yaml", "markdown_it", "pycountry")

_PROBE = """
import json, sys
from conflict_minerals.cli import app
sys.argv = ["cmr", *sys.argv[1:]]
try:
    app()  # not main(): it leaves through os._exit, before this probe could print
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


def _loaded(*arguments: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *arguments], capture_output=True, text=True, timeout=120, check=False
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("arguments", [["--version"], ["--help"]])
def test_help_and_version_load_no_library(arguments: list[str]) -> None:
    assert _loaded(*arguments) & {*HEAVY, *LIBRARY} == set()


def test_a_command_help_loads_no_heavy_module() -> None:
    # Typer builds a command's parameters with pydantic, so that much is loaded.
    assert _loaded("build", "--help") & set(HEAVY) == set()


def test_validate_loads_no_pdf_or_ingest_modules(sample_2025: Path) -> None:
    loaded = _loaded("validate", str(sample_2025))
    assert "conflict_minerals" in loaded and "jinja2" in loaded  # it ran and rendered the templates
    assert loaded & set(HEAVY) == set()


def test_an_html_diff_loads_no_weasyprint(sample_2024: Path, sample_2025: Path, tmp_path: Path) -> None:
    loaded = _loaded(
        "diff", str(sample_2024), str(sample_2025), "--out", str(tmp_path / "d"), "--format", "html"
    )
    assert (tmp_path / "d" / "diff.html").is_file()
    assert "weasyprint" not in loaded and "pydyf" not in loaded


@pytest.mark.parametrize("output_format", ["html", "docx"])
def test_a_build_without_pdfs_loads_no_weasyprint(
    sample_2025: Path, tmp_path: Path, output_format: str
) -> None:
    """Its manifest still names the renderer's version, from WeasyPrint's package metadata."""
    out = tmp_path / "out"
    loaded = _loaded("build", str(sample_2025), "--out", str(out), "--format", output_format)
    assert (out / f"form-sd.{output_format}").is_file()
    assert "weasyprint" not in loaded and "pydyf" not in loaded
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["weasyprint"] == importlib.metadata.version("weasyprint")


def test_a_pdf_rendered_in_the_early_process_loads_no_weasyprint_here(
    sample_2025: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Form SD edited, the CMR from the render cache: Form SD's PDF is rendered by the process
    forked as the command starts, and what it sends back must not import WeasyPrint into the
    command's process (half a second of a build that renders one small PDF)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "out"
    build = ("build", str(sample_2025), "--out", str(out), "--format", "pdf", "--jobs", "2")
    assert "weasyprint" in _loaded(*build)  # both PDFs to render: Form SD's in this process
    before = (out / "form-sd.pdf").read_bytes()
    edit(sample_2025, 'zip_code: "95134"', 'zip_code: "95131"')
    loaded = _loaded(*build)
    assert (out / "form-sd.pdf").read_bytes() != before, "Form SD was not rendered again"
    assert "weasyprint" not in loaded and "pydyf" not in loaded


# --------------------------------------------------------------------------------------
# ingest/ in stages (issue 22)

INGEST = PACKAGE / "ingest"
# What each stage may import besides the shared modules at the top of ingest/.
STAGE_IMPORTS = {
    "read": set(),
    "check": {"read"},
    "write": {"read", "check"},
    "suppliers": {"read", "check", "write"},
}
SHARED = {"models", "options", "stopping"}


def _ingest_imports() -> dict[str, set[str]]:
    """module (dotted, under ingest) -> the ingest modules it imports at run time (type-only
    imports aside), found in the source."""
    import ast

    found: dict[str, set[str]] = {}
    for path in sorted(INGEST.rglob("*.py")):
        parts = list(path.relative_to(INGEST).with_suffix("").parts)
        package = parts[:-1]
        module = ".".join(parts if parts[-1] != "__init__" else parts[:-1]) or "__init__"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {
            id(node)
            for branch in ast.walk(tree)
            if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
            for node in ast.walk(branch)
        }
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and id(node) not in type_only:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                if node.level - 1 > len(package):
                    continue  # outside ingest/
                targets.add(".".join([*base, *([node.module] if node.module else [])]))
        found[module] = targets
    return found


def test_ingest_stages_import_only_the_stages_before_them_and_no_module_imports_itself_back() -> None:
    imports = _ingest_imports()
    for module, targets in imports.items():
        stage = module.split(".")[0] if "." in module else None
        for target in targets:
            first = target.split(".")[0]
            if first in SHARED or first == module.split(".")[0]:
                continue
            if stage is None:
                assert module == "pipeline", f"{module} imports {target}: only pipeline.py runs the stages"
            else:
                assert first in STAGE_IMPORTS[stage], f"{module} imports {target}"
    for shared in SHARED:
        assert not any(t.split(".")[0] in STAGE_IMPORTS for t in imports[shared]), shared
    # No circle between modules either.
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in imports.get(module, ()):
            if target in imports:
                assert state.get(target) != 1, f"import circle: {' -> '.join([*path, target])}"
                if target not in state:
                    visit(target, [*path, target])
        state[module] = 2

    for module in imports:
        if module not in state:
            visit(module, [module])


def test_the_command_process_does_not_load_calamine() -> None:
    """Most workbooks are read by the streaming reader; calamine is imported by the worker that
    falls back to it, not by `cmr ingest`'s own process (its library kept a megabyte there)."""
    import subprocess
    import sys

    code = (
        "import sys; import conflict_minerals.cli, conflict_minerals.ingest.pipeline, "
        "conflict_minerals.ingest.read.runner, conflict_minerals.ingest.read.extract; "
        "print('python_calamine' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
