"""Helpers for tests that read or break the repository's own files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def broken_copy(source: Path, directory: Path, old: str, new: str) -> Path:
    """A copy of `source` in `directory` with the first `old` replaced by `new` (which must be
    there: a test that breaks nothing would pass for the wrong reason)."""
    text = source.read_text(encoding="utf-8")
    assert old in text, old
    path = directory / source.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    """The 1-based number of the first line of `path` containing `fragment`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if fragment in line)
