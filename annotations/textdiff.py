"""Line diffs between two versions of a text, as plain data for a template (no Django here)."""

import difflib
from dataclasses import dataclass
from typing import Literal

Kind = Literal["added", "removed", "same", "gap"]


@dataclass(frozen=True)
class DiffLine:
    kind: Kind
    text: str


def diff_lines(old: str, new: str, context: int = 2) -> list[DiffLine]:
    """What changed from `old` to `new`, line by line: added and removed lines with `context`
    unchanged lines around them; a "gap" line stands for the unchanged lines left out."""
    lines: list[DiffLine] = []
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for group in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_grouped_opcodes(context):
        if lines:
            lines.append(DiffLine("gap", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(DiffLine("same", line) for line in old_lines[i1:i2])
                continue
            if tag in ("replace", "delete"):
                lines.extend(DiffLine("removed", line) for line in old_lines[i1:i2])
            if tag in ("replace", "insert"):
                lines.extend(DiffLine("added", line) for line in new_lines[j1:j2])
    return lines
