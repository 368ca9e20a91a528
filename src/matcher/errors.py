"""The project's own error types: every bad input ends in one of these, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as a person would look for it.

    ``file`` is the file name or ``workbook.xlsx[sheet]``; ``row`` is the 1-based row as a
    spreadsheet shows it (header = row 1) or ``None`` for file-level problems; ``column``
    the column name (or a TOML key path) or ``None``; ``message`` says what was found and
    what was expected.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class MatcherError(Exception):
    """Base class of every error matcher raises on purpose."""


class InstanceError(MatcherError):
    """An instance (or scheme) that cannot be used, with every problem found in it."""

    def __init__(self, problems: list[Problem], path: str | None = None):
        self.problems = list(problems)
        self.path = path
        head = f"{len(self.errors)} problem(s) in instance" + (f" {path}" if path else "")
        lines = [head] + [f"  - {p}" for p in self.errors[:50]]
        if len(self.errors) > 50:
            lines.append(f"  ... and {len(self.errors) - 50} more")
        super().__init__("\n".join(lines))

    @property
    def errors(self) -> list[Problem]:
        """The problems that make the instance unusable (warnings left out)."""
        return [p for p in self.problems if p.severity == "error"]


class SolveError(MatcherError):
    """The solver could not produce a plan (with the reason in words)."""


class PlanError(MatcherError):
    """A plan folder that cannot be read, or does not belong to the given instance."""
