"""One side of a comparison: a filing YAML or a folder holding one (rendered on the fly, HTML
only) or a `cmr build` output folder (read through its manifest.json, with every hash checked)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from .. import __version__
from ..build import CMR, FORM_SD, MANIFEST, MANIFEST_VERSION, input_digests, render_html
from ..filing.inputs import MAX_TEXT_BYTES, decode_text, read_input_file, read_input_text
from ..filing.loader import load_filing
from ..problems import InputError, Problem, display_path
from ..report.context import build_context
from ..report.snapshot import SNAPSHOT_NAME, Snapshot, make_snapshot

DOCUMENTS = (FORM_SD, CMR)


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


def from_filing(path: Path) -> Side:
    loaded = load_filing(path)
    context = build_context(loaded)
    return Side(
        label=display_path(path),
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
    manifest_text = read_input_text(manifest_path)
    try:
        manifest = json.loads(manifest_text)
        outputs = _listed_outputs(manifest)
        tool = manifest["tool"]["version"]
        inputs = [{"path": e["path"], "sha256": e["sha256"]} for e in manifest["inputs"]]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise _fail(manifest_path, f"not a cmr build manifest ({type(error).__name__}: {error})") from None
    if SNAPSHOT_NAME not in outputs:
        raise _fail(manifest_path, f"the build has no {SNAPSHOT_NAME}; rebuild it with this version of cmr")
    documents = {}
    for spec in DOCUMENTS:
        name = f"{spec.stem}.html"
        if name in outputs:
            path = folder / name
            documents[spec.stem] = decode_text(_verified(path, outputs[name]), path)
    if FORM_SD.stem not in documents:
        raise _fail(manifest_path, "the build has no HTML documents; rebuild it with --format html (or both)")
    try:
        snapshot = Snapshot.model_validate_json(_verified(folder / SNAPSHOT_NAME, outputs[SNAPSHOT_NAME]))
    except ValidationError as error:
        raise _fail(folder / SNAPSHOT_NAME, f"unreadable filing data: {error.errors()[0]['msg']}") from None
    return Side(display_path(folder), "build", tool, inputs, documents, snapshot)


def _listed_outputs(manifest: dict) -> dict[str, str]:
    """The sha256 of each top-level output, by file name.

    Version 2 manifests name outputs relative to their own folder, so a build folder moved or
    copied anywhere is read the same; older ones named them relative to the filing's folder,
    and only the file name is used."""
    outputs = {}
    for entry in manifest["outputs"]:
        path = PurePosixPath(str(entry["path"]))
        if manifest.get("manifest_version") == MANIFEST_VERSION and len(path.parts) != 1:
            continue  # edgar/ and anything not beside the manifest: not read by the diff
        outputs[path.name] = str(entry["sha256"])
    return outputs


def _verified(path: Path, expected: str) -> bytes:
    """A build output whose bytes still match its manifest: a reviewer must not diff edited files."""
    if not os.path.lexists(path):
        raise _fail(path, "listed in manifest.json but missing")
    data = read_input_file(path, MAX_TEXT_BYTES)
    if hashlib.sha256(data).hexdigest() != expected:
        raise _fail(path, "changed since it was built (sha256 differs from manifest.json)")
    return data


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
