"""What an export is asked for: the options of `export_pairs`, the API and the export page (no Django)."""

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..ranking import FLAGGED_OPTIONS, TIES_OPTIONS

FORMATS = ("jsonl", "parquet", "csv")
MODES = ("labeler", "consensus")
MARGINS = ("agreement", "rank-gap")
SPLITS = ("train", "test")
KINDS = ("preference", "kto")

# The contract's columns, in order; `margin` is added only when asked for.
PAIR_COLUMNS = (
    "prompt", "chosen", "rejected", "prompt_id", "chosen_id", "rejected_id",
    "chosen_rank", "rejected_rank", "labeler", "agreement", "split",
)
# TRL's unpaired preference format (KTOTrainer), one row per judged completion.
KTO_COLUMNS = ("prompt", "completion", "label", "prompt_id", "completion_id", "labeler", "split")


class ExportOptionsError(ValueError):
    """An export option that makes no sense: `option` names it, `message` says what is wrong."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option, self.message = option, message


@dataclass(frozen=True)
class ExportOptions:
    kind: str = "preference"
    format: str = "jsonl"
    mode: str = "labeler"
    flagged: str = "drop"
    ties: str = "drop"
    exclude_labelers_below: float | None = None
    test_fraction: float | None = None
    margin: str | None = None
    complete_only: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (("kind", KINDS), ("format", FORMATS), ("mode", MODES), ("flagged", FLAGGED_OPTIONS),
                              ("ties", TIES_OPTIONS)):
            if getattr(self, name) not in allowed:
                raise ExportOptionsError(name, f"must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.kind == "kto" and self.mode != "labeler":
            raise ExportOptionsError("mode", "a kto export is one row per labeler's judgement: use mode labeler")
        if self.kind == "kto" and self.margin is not None:
            raise ExportOptionsError("margin", "a kto export has no pairs, so no margin")
        if self.margin is not None and self.margin not in MARGINS:
            raise ExportOptionsError("margin", f"must be one of {', '.join(MARGINS)}, got {self.margin!r}")
        threshold = self.exclude_labelers_below
        if threshold is not None and not (_is_number(threshold) and 0 <= threshold <= 1):
            raise ExportOptionsError("exclude_labelers_below", f"must be between 0 and 1, got {threshold!r}")
        fraction = self.test_fraction
        if fraction is not None and not (_is_number(fraction) and 0 < fraction < 1):
            raise ExportOptionsError("test_fraction", f"must be between 0 and 1 (exclusive), got {fraction!r}")
        if not isinstance(self.complete_only, bool):
            raise ExportOptionsError("complete_only", f"must be true or false, got {self.complete_only!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ExportOptionsError("seed", f"must be a whole number, got {self.seed!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ExportOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExportOptionsError(unknown[0], f"unknown export option (known: {', '.join(sorted(known))})")
        return cls(**{key: value for key, value in data.items() if value is not None})  # None: the default

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def columns(self) -> tuple[str, ...]:
        if self.kind == "kto":
            return KTO_COLUMNS
        return PAIR_COLUMNS + (("margin",) if self.margin else ())

    @property
    def split_names(self) -> tuple[str, ...]:
        return SPLITS if self.test_fraction else ("train",)

    def pair_file_names(self) -> dict[str, str]:
        """Split → file name: pairs.<ext> (kto.<ext> for a kto export), or train.<ext> and test.<ext>
        with a test fraction."""
        if self.test_fraction:
            return {split: f"{split}.{self.format}" for split in self.split_names}
        return {"train": f"{'kto' if self.kind == 'kto' else 'pairs'}.{self.format}"}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
