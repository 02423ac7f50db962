"""One side of a comparison: a filing YAML or a folder holding one (rendered on the fly, HTML
only) or a `cmr build` output folder (read through its manifest.json, with every hash checked)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .. import __version__
from ..documents import DOCUMENTS, FORM_SD, MANIFEST, SNAPSHOT, OutputFormat
from ..filing.characters import refuse_invalid_document
from ..filing.inputs import decode_text
from ..filing.loader import load_filing
from ..manifest import NotAManifest, input_digests, read_manifest
from ..problems import InputError, Problem, display_path
from ..report.context import build_context
from ..report.html import render_html
from ..report.snapshot import Snapshot, make_snapshot


@dataclass
class Side:
    label: str
    kind: str  # "filing" or "build"
    tool_version: str
    inputs: list[dict[str, str]]
    documents: dict[str, str]  # file stem -> HTML
    snapshot: Snapshot

    @property
    def reporting_year(self) -> int:
        return self.snapshot.reporting_year

    @property
    def draft(self) -> bool:
        """A draft's documents carry the DRAFT marker of the running header (base.html.j2)."""
        return any('class="running-draft"' in html for html in self.documents.values())


def _label(path: Path) -> str:
    """The input as the user gave it, relative to the working folder (never an absolute path
    that says where the files happen to sit)."""
    return Path(os.path.relpath(path.absolute(), Path.cwd())).as_posix()


def from_filing(path: Path) -> Side:
    loaded = load_filing(path)
    context = build_context(loaded)
    return Side(
        label=_label(path),
        kind="filing",
        tool_version=__version__,
        # Relative to the filing, as in a build's manifest: the diff must not depend on where it ran.
        inputs=input_digests(loaded),
        documents=render_html(loaded, context),
        snapshot=make_snapshot(loaded, context),
    )


def _fail(path: Path, message: str) -> InputError:
    return InputError([Problem(display_path(path), None, None, "", message)])


def from_build(folder: Path) -> Side:
    manifest_path = folder / MANIFEST
    if not os.path.lexists(manifest_path):
        raise _fail(folder, "no manifest.json: not an output folder of cmr build")
    try:
        manifest = read_manifest(folder)
        outputs = manifest.outputs_beside()
        tool = manifest.tool_version
        inputs = manifest.inputs
    except NotAManifest as error:
        raise _fail(manifest_path, f"not a cmr build manifest ({error})") from None
    if SNAPSHOT not in outputs:
        raise _fail(manifest_path, f"the build has no {SNAPSHOT}; rebuild it with this version of cmr")
    documents = {}
    for doc in DOCUMENTS:
        name = doc.file_name(OutputFormat.HTML)
        if name in outputs:
            documents[doc.stem] = decode_text(manifest.verified(name, outputs[name]), folder / name)
            refuse_invalid_document(documents[doc.stem], display_path(folder / name), "was it edited?")
    if FORM_SD.stem not in documents:
        raise _fail(manifest_path, "the build has no HTML documents; rebuild it with --format html (or both)")
    try:
        snapshot = Snapshot.model_validate_json(manifest.verified(SNAPSHOT, outputs[SNAPSHOT]))
    except ValidationError as error:
        raise _fail(folder / SNAPSHOT, f"unreadable filing data: {error.errors()[0]['msg']}") from None
    return Side(_label(folder), "build", tool, inputs, documents, snapshot)


FILING_NAME = "filing.yaml"


def load_side(path: Path) -> Side:
    """A filing YAML, a build folder (it has manifest.json) or a filing's folder (filing.yaml)."""
    if path.is_dir():
        if not os.path.lexists(path / MANIFEST) and os.path.lexists(path / FILING_NAME):
            return from_filing(path / FILING_NAME)
        if not os.path.lexists(path / MANIFEST):
            raise _fail(
                path, f"neither a cmr build folder (no {MANIFEST}) nor a filing folder (no {FILING_NAME})"
            )
        return from_build(path)
    if not path.exists():
        raise _fail(path, "not found")
    return from_filing(path)
