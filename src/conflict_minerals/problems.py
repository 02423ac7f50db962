"""Problems found in user input, and the exception that carries them to the CLI.

Every stage reports what is wrong with the user's files as `Problem`s naming the file,
the place (line and column, or sheet and cell) and the field, so the CLI can print all
of them at once instead of stopping at the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    severity: Severity = Severity.ERROR

    def location(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.location()
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        if self.field:
            return f"{where}: {prefix}{self.field}: {self.message}"
        return f"{where}: {prefix}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "severity": str(self.severity),
        }


@dataclass
class InputError(Exception):
    """Raised when user input is invalid; carries every problem found."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def display_path(path: Path, base: Path | None = None) -> str:
    """A path as the user should see it: relative to `base` (or the cwd) when inside it."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: show the path as given
        return str(path)
    for root in (base, Path.cwd()):
        if root is None:
            continue
        try:
            return resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)
