"""`cmr init`: copy the starter project (a commented filing and a small survey file)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

STARTER_FILES = ("filing.yaml", "survey.yaml")


class StarterExists(Exception):
    pass


def write_starter(directory: Path, *, force: bool = False) -> list[Path]:
    targets = [directory / name for name in STARTER_FILES]
    if not force:
        for target in targets:
            if target.exists():
                raise StarterExists(str(target))
    directory.mkdir(parents=True, exist_ok=True)
    package = files(__name__)
    for name, target in zip(STARTER_FILES, targets, strict=True):
        target.write_bytes((package / name).read_bytes())
    return targets
