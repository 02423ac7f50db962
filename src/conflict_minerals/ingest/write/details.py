"""The details files of `cmr ingest --details DIR`: one JSON file per workbook (everything read
from it), under a flat, safe name, staged in a hidden folder and moved into place only when the
whole run succeeds."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ...manifest import sha256
from ..models import SupplierWorkbook, UnreadableWorkbook
from ..stopping import held


def details_json(result: SupplierWorkbook | UnreadableWorkbook) -> bytes:
    data = result.model_dump(mode="json")
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


# File names are at most 255 bytes on common file systems; a flattened path can be longer.
MAX_DETAILS_NAME_BYTES = 200


def details_name(file: str) -> str:
    """supplier/a b.xlsx -> supplier__a_b.xlsx.json: one flat, safe file name per workbook.

    A name too long for the file system keeps its start and gets a hash of the whole path, so
    it stays unique."""
    flat = re.sub(r"[^A-Za-z0-9._-]+", "_", file.replace("/", "__"))
    if len(flat) + len(".json") > MAX_DETAILS_NAME_BYTES:
        digest = sha256(file.encode("utf-8"))[:16]
        flat = f"{flat[: MAX_DETAILS_NAME_BYTES - 40]}~{digest}"
    return flat + ".json"


def details_names(files: Iterable[str]) -> dict[str, str]:
    """The details file name of each workbook, unique within the run even where two paths
    flatten alike ("a b.xlsx" and "a_b.xlsx"), or differ only in case: the later in file
    order gets "~2", "~3"."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for file in sorted(set(files)):
        base = details_name(file)
        name, number = base, 2
        while name.casefold() in used:
            name, number = f"{base.removesuffix('.json')}~{number}.json", number + 1
        used.add(name.casefold())
        names[file] = name
    return names


# tempfile.mkdtemp names: the prefix and eight characters from this alphabet.
_STAGING_PREFIX = ".cmr-staging-"
_STAGING_NAME = re.compile(re.escape(_STAGING_PREFIX) + r"[a-z0-9_]{8}")


class Staging:
    """Details JSON written as each workbook is read, into a hidden folder, and moved into place
    only when the whole run succeeds; a failed run leaves the previous details untouched. The
    staging folders a killed run left behind are removed by the next run (only folders with
    this tool's staging name, and only the .json files this tool puts in them)."""

    def __init__(self, folder: Path | None, names: dict[str, str]) -> None:
        self.folder = folder
        self.names = names
        self.area: Path | None = None
        self.staged: list[str] = []

    def __enter__(self) -> Staging:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            _remove_stale_staging(self.folder)
            self.area = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.folder))
        return self

    def put(self, result: SupplierWorkbook | UnreadableWorkbook) -> None:
        if self.area is not None:
            name = self.names[result.file]
            (self.area / name).write_bytes(details_json(result))
            self.staged.append(name)

    def publish(self) -> list[Path]:
        if self.area is None or self.folder is None:
            return []
        published = []
        for name in self.staged:
            os.replace(self.area / name, self.folder / name)
            published.append(self.folder / name)
        return published

    def __exit__(self, *exc: object) -> None:
        if self.area is not None:
            with held():  # a stop signal now must not leave half a staging folder behind
                shutil.rmtree(self.area, ignore_errors=True)


def _remove_stale_staging(folder: Path) -> None:
    """Called with the folder's lock held, so no other run is staging there."""
    with os.scandir(folder) as entries:
        stale = [
            e.path for e in entries if _STAGING_NAME.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
        ]
    for area in stale:
        with os.scandir(area) as entries:
            for entry in entries:
                if entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        with contextlib.suppress(OSError):  # left alone if anything else is in it
            os.rmdir(area)
