"""`cmr init`: copy the starter project (a commented filing and a small survey file)."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from ...outputs import refuse_unusable_outputs, write_atomic

STARTER_FILES = ("filing.yaml", "survey.yaml")


class StarterExists(Exception):
    pass


class NotAFolder(Exception):
    pass


def write_starter(directory: Path, *, force: bool = False) -> list[Path]:
    if os.path.lexists(directory) and not directory.is_dir():
        raise NotAFolder(str(directory))
    targets = [directory / name for name in STARTER_FILES]
    refuse_unusable_outputs(targets)  # --force replaces files, never a FIFO or a device
    if not force:
        for target in targets:
            # lexists: a dangling symlink is an existing file too (it is replaced, never followed).
            if os.path.lexists(target):
                raise StarterExists(str(target))
    directory.mkdir(parents=True, exist_ok=True)
    package = files(__name__)
    for name, target in zip(STARTER_FILES, targets, strict=True):
        write_atomic(target, (package / name).read_bytes())
    return targets
