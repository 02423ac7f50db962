"""`manifest.json`: what a build read and wrote, with the sha256 of each; writing, reading and
verifying it, and the one sha256 helper of the package.

Inputs are named relative to the filing's folder (`filing.yaml`, `theme/extra.css`); outputs
relative to the manifest's own folder (`filing-data.json`, `edgar/submission.json`), so the same
build into two folders gives the same manifest and a folder moved anywhere still checks
(`manifest_version` 2). Version 1 named outputs relative to the filing's folder; it is still read.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from . import __version__
from .documents import MANIFEST
from .filing.inputs import MAX_ASSET_BYTES, MAX_TEXT_BYTES, read_input_file, read_input_text
from .outputs import rename_target
from .problems import InputError, Problem, display_path

if TYPE_CHECKING:
    from .filing.loader import LoadedFiling

# 2: outputs are named relative to the manifest's folder (1: relative to the filing's folder).
MANIFEST_VERSION = 2


def sha256(data: bytes) -> str:
    """The hex sha256 of `data`: the one digest the package writes (manifests, caches, names)."""
    return hashlib.sha256(data).hexdigest()


def relative_to(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def input_digests(loaded: LoadedFiling) -> list[dict[str, str]]:
    """Each input's path relative to the filing's folder and its sha256."""
    base = loaded.base_dir
    return [
        {"path": relative_to(path, base), "sha256": sha256(read_input_file(path, MAX_ASSET_BYTES))}
        for path in loaded.input_files()
    ]


def _json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _weasyprint_version() -> str:
    """The renderer's version, as WeasyPrint states it; from its package metadata when it is
    not loaded (a build without PDFs need not spend half a second importing it)."""
    loaded = sys.modules.get("weasyprint")
    if loaded is not None:
        return loaded.__version__
    from importlib.metadata import version

    return version("weasyprint")


def _head(loaded: LoadedFiling) -> dict[str, Any]:
    base = loaded.base_dir
    return {
        "manifest_version": MANIFEST_VERSION,
        "tool": {"name": "conflict-minerals", "version": __version__},
        "weasyprint": _weasyprint_version(),
        "filing": relative_to(loaded.filing_path, base),
        "reporting_year": loaded.filing.reporting_year,
        "mode": loaded.filing.mode.value,
        "inputs": input_digests(loaded),
    }


def inputs_manifest(loaded: LoadedFiling) -> bytes:
    """The manifest without its outputs: what a PDF/A-3 carries (a PDF cannot carry its own hash)."""
    return _json_bytes(_head(loaded))


def make_manifest(loaded: LoadedFiling, out_dir: Path, outputs: dict[Path, bytes]) -> bytes:
    """Inputs relative to the filing's folder; outputs relative to the manifest's own folder, so
    the same build into any folder gives the same manifest, and a moved folder still checks."""
    manifest = _head(loaded) | {
        "outputs": [
            {"path": path.relative_to(out_dir).as_posix(), "sha256": sha256(data)}
            for path, data in sorted(outputs.items())
        ],
    }
    return _json_bytes(manifest)


class NotAManifest(ValueError):
    """manifest.json is JSON but not what a build writes."""


@dataclass(frozen=True)
class Manifest:
    """A build folder's manifest.json as read; each accessor raises NotAManifest on a field that
    is missing or of the wrong kind, so a reader asks only for what it uses."""

    folder: Path
    data: Any  # the JSON as parsed: checked field by field, as each is read

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST

    @property
    def version(self) -> object:
        return self.data.get("manifest_version") if isinstance(self.data, dict) else None

    @property
    def tool_version(self) -> str:
        return str(_field(lambda: self.data["tool"]["version"]))

    @property
    def inputs(self) -> list[dict[str, str]]:
        return _field(lambda: [{"path": e["path"], "sha256": e["sha256"]} for e in self.data["inputs"]])

    def output_paths(self) -> list[str]:
        """Every output's path as the manifest gives it."""
        return _field(lambda: [str(entry["path"]) for entry in self.data["outputs"]])

    def outputs_beside(self) -> dict[str, str]:
        """The sha256 of each output in the manifest's own folder, by file name.

        Version 1 named outputs relative to the filing's folder: there only the file name is used."""

        def beside() -> dict[str, str]:
            found = {}
            for entry in self.data["outputs"]:
                path = PurePosixPath(str(entry["path"]))
                if self.version == MANIFEST_VERSION and len(path.parts) != 1:
                    continue  # edgar/ and anything not beside the manifest
                found[path.name] = str(entry["sha256"])
            return found

        return _field(beside)

    def outputs_inside(self, filing_dir: Path) -> list[str]:
        """The outputs that lie inside the manifest's folder, relative to it: a forged entry
        pointing elsewhere (`../notes.txt`, an absolute path) is left out."""
        base = self.folder if self.version == MANIFEST_VERSION else filing_dir
        folder = self.folder.resolve()
        found = []
        for entry in self.output_paths():
            try:
                found.append(rename_target(base / entry).relative_to(folder).as_posix())
            except (ValueError, OSError, RuntimeError):
                continue
        return found

    def verified(self, name: str, expected: str) -> bytes:
        """An output whose bytes still match its sha256 here: a reviewer must not read edited files."""
        path = self.folder / name
        if not os.path.lexists(path):
            raise _problem(path, "listed in manifest.json but missing")
        data = read_input_file(path, MAX_TEXT_BYTES)
        if sha256(data) != expected:
            raise _problem(path, "changed since it was built (sha256 differs from manifest.json)")
        return data


def read_manifest(folder: Path) -> Manifest:
    """The manifest of a build folder. InputError when the file cannot be read; NotAManifest when
    it is not JSON."""
    text = read_input_text(folder / MANIFEST)
    try:
        return Manifest(folder, json.loads(text))
    except ValueError as error:
        raise NotAManifest(f"{type(error).__name__}: {error}") from None


def _field(read: Any) -> Any:
    try:
        return read()
    except (KeyError, TypeError, AttributeError) as error:
        raise NotAManifest(f"{type(error).__name__}: {error}") from None


def _problem(path: Path, message: str) -> InputError:
    return InputError([Problem(display_path(path), None, None, "", message)])
