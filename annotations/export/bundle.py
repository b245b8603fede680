"""The bundle: pair file(s), rankings.jsonl, the dataset card (README.md) and manifest.json.

`write_bundle` is the one code path of the command line and the export job. Every file is
written under a temporary name and renamed when complete (writers.py); the manifest, written
last, holds the sha256 of every other file."""

import re
import time
from collections.abc import Callable
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from django.template.loader import render_to_string
from django.utils import timezone

from ..models import InstructionVersion, Project
from .options import ExportOptions
from .reading import excluded_labelers, has_conversations, rankings_to_export, stream_prompts
from .writers import Counts, PairsResult, sha256_of, write_file_atomically, write_pairs

PROGRESS_EVERY_SECONDS = 0.5
ProgressCallback = Callable[[float], None]


def labelhub_version() -> str:
    """The installed package's version (pyproject.toml), the one the bundle says made it."""
    return package_version("labelhub")


class BundleResult(NamedTuple):
    counts: dict[str, Any]
    sha256: dict[str, str]
    files: list[str]


def _counts_dict(result: PairsResult, labelers_excluded: int) -> dict[str, Any]:
    splits = result.splits
    total = Counts(*(sum(c[i] for c in splits.values()) for i in range(3)))
    return {
        **total._asdict(),
        "identical_pairs_dropped": result.identical_pairs_dropped,
        "labelers_excluded": labelers_excluded,
        "splits": {split: counts._asdict() for split, counts in splits.items()},
    }


def instruction_versions(project: Project, result: PairsResult) -> list[dict[str, Any]]:
    """Every instructions version of the project, oldest first, with the number of the export's
    rankings made under it (one query, whatever the project's size)."""
    versions = InstructionVersion.objects.filter(project=project).order_by("version")
    return [
        {"version": v.version, "created_at": v.created_at.isoformat(), "text": v.text,
         "rankings": result.rankings_by_version.get(v.version, 0)}
        for v in versions.only("version", "created_at", "text")
    ]


def write_bundle(
    project: Project,
    options: ExportOptions,
    out_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    export_id: int | None = None,
) -> BundleResult:
    """Write the whole bundle into `out_dir` (created if missing). `progress(fraction)` is called
    at most every PROGRESS_EVERY_SECONDS while the pairs are written, with fractions below 1."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = timezone.now()
    excluded = excluded_labelers(project, options.exclude_labelers_below)
    total = rankings_to_export(project, excluded).count() or 1
    pseudonyms: dict[int, str] = {}

    def pseudonym(user_id: int) -> str:
        name = pseudonyms.get(user_id)
        if name is None:
            from ..quality import labeler_pseudonym  # quality.py is large: loaded once a labeler appears

            name = pseudonyms[user_id] = labeler_pseudonym(project, user_id)
        return name

    last_report = [time.monotonic()]

    def on_prompt(rankings_done: int) -> None:
        now = time.monotonic()
        if progress is not None and now - last_report[0] >= PROGRESS_EVERY_SECONDS:
            last_report[0] = now
            progress(min(0.95, 0.95 * rankings_done / total))

    conversational = has_conversations(project)
    thumbs = project.feedback == Project.Feedback.THUMBS
    result = write_pairs(stream_prompts(project, options, excluded), options, out_dir, pseudonym, on_prompt,
                         conversational=conversational, thumbs=thumbs)
    counts = _counts_dict(result, len(excluded))
    versions = instruction_versions(project, result)
    version = labelhub_version()
    prompt_format = "conversational" if conversational else "plain"
    card = dataset_card(project, options, counts, versions, result, version, prompt_format)
    write_file_atomically(out_dir / "README.md", card.encode())
    checksums = {name: result.sha256.get(name) or sha256_of(out_dir / name) for name in [*result.files, "README.md"]}
    manifest = {
        "labelhub_version": version,
        "export_id": export_id,
        "created_at": started.isoformat(),
        "finished_at": timezone.now().isoformat(),
        "project": {
            "slug": project.slug,
            "name": project.name,
            "criterion": project.criterion,
            "labelers_per_prompt": project.labelers_per_prompt,
            "allow_ties": project.allow_ties,
            "feedback": project.feedback,
        },
        "parameters": options.as_dict(),
        # "conversational": every row in TRL's conversational format (the project has conversations;
        # its plain prompts, if any, are one user message); "plain": prompts and completions as text.
        "prompt_format": prompt_format,
        "columns": list(options.columns),
        "instructions_versions": versions,
        "rankings_without_instructions_version": result.rankings_by_version.get(None, 0),
        # PRODUCT names it at the manifest's top level; `counts` carries it too, beside the other counts.
        "identical_pairs_dropped": counts["identical_pairs_dropped"],
        "counts": counts,
        "files": {name: {"sha256": digest, "bytes": (out_dir / name).stat().st_size}
                  for name, digest in checksums.items()},
    }
    write_file_atomically(out_dir / "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return BundleResult(counts, checksums, [*result.files, "README.md", "manifest.json"])


# --- The dataset card (templates/annotations/dataset_card.md) ------------------------------------

COLUMN_DOCS = {
    "prompt": "the prompt text shown to the labelers",
    "chosen": "the preferred completion (reward 1)",
    "rejected": "the other completion (reward 0)",
    "prompt_id": "the prompt's id in the uploaded prompt set, else LabelHub's prompt id (as a string)",
    "chosen_id": "LabelHub's id of the chosen completion",
    "rejected_id": "LabelHub's id of the rejected completion",
    "chosen_rank": "tier of the chosen completion, 1 = best",
    "rejected_rank": "tier of the rejected completion (a flagged completion paired as rejected: last tier + 1)",
    "labeler": "stable pseudonym of the labeler (labeler mode); null in consensus mode",
    "agreement": "share of the prompt's labelers who preferred chosen over rejected (0.5 for a tied pair)",
    "split": "train or test; all pairs of one prompt are in the same split",
    "margin": "TRL's optional margin",
    "completion": "the judged completion",
    "label": "true: a good completion (thumbs up, or the first tier of a ranking of two or more tiers); false: thumbs "
             "down, the last tier of a ranking, or flagged",
    "completion_id": "LabelHub's id of the completion",
}
CONVERSATIONAL_DOCS = {
    "prompt": "the conversation shown to the labelers, a list of messages `{role, content}` ending with the user's "
              "(a plain prompt is one user message)",
    "chosen": 'the preferred reply, `[{"role": "assistant", "content": ...}]` (reward 1)',
    "rejected": 'the other reply, `[{"role": "assistant", "content": ...}]` (reward 0)',
    "completion": 'the judged reply, `[{"role": "assistant", "content": ...}]`',
}
MARGIN_DOCS = {
    "agreement": "`margin` = `agreement`: pairs more labelers agree on push the rewards further apart.",
    "rank-gap": "`margin` = `rejected_rank - chosen_rank`: pairs further apart in the ranking push further.",
}
LOADERS = {"jsonl": "json", "parquet": "parquet", "csv": "csv"}


def one_line(text: str) -> str:
    """User text placed in a heading or a sentence of the card: on one line, so that it cannot
    start a heading, a list or a code block of its own."""
    return " ".join(text.split())


def table_cell(text: str) -> str:
    """User text in a Markdown table cell: one line, and a pipe that cannot end the cell."""
    return one_line(text).replace("\\", "\\\\").replace("|", "\\|")


def leaderboard_rows(project: Project) -> tuple[list[dict[str, Any]], str | None]:
    """The model leaderboard of the project's rankings for the card: rows, or the reason for none.
    Computed here (the export is a background job already), and stored as the project's consensus
    leaderboard, which the quality page and the API then serve fresh."""
    from ..stored_leaderboard import refresh_leaderboard  # numpy and the fit: only when a card is written

    board = refresh_leaderboard(project.pk, "consensus")
    rows = [{
        "model": table_cell(row.model), "score": f"{row.score:.0f}", "low": f"{row.ci_low:.0f}",
        "high": f"{row.ci_high:.0f}", "wins": row.wins, "losses": row.losses, "ties": row.ties,
        "group": row.component + 1,
        "longer_won": "—" if row.longer_won is None else f"{row.longer_won:.0%}",
    } for row in board.models]
    return rows, board.reason if not rows else None


def code_fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text`: the text inside shows
    exactly as written (Markdown and all), and nothing in it can close the block."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def dataset_card(
    project: Project,
    options: ExportOptions,
    counts: dict[str, Any],
    versions: list[dict[str, Any]],
    result: PairsResult,
    made_by_version: str,
    prompt_format: str = "plain",
) -> str:
    names = options.pair_file_names()
    context = {
        "title": one_line(project.name),
        "criterion": one_line(project.criterion),
        "project": project,
        "options": options,
        "counts": counts,
        "labelhub_version": made_by_version,
        "exported_at": timezone.now().strftime("%Y-%m-%d %H:%M UTC"),
        "versions_used": [str(v) for v in sorted(v for v in result.rankings_by_version if v is not None)],
        "unrecorded_rankings": result.rankings_by_version.get(None, 0),
        "instructions": [
            {**v, "created": v["created_at"][:10], "text": v["text"].strip(), "fence": code_fence(v["text"])}
            for v in versions
        ],
        "file_names": names,
        "columns": [(column, (prompt_format == "conversational" and CONVERSATIONAL_DOCS.get(column))
                     or COLUMN_DOCS[column]) for column in options.columns],
        "margin_doc": MARGIN_DOCS.get(options.margin or "", ""),
        "loader": LOADERS[options.format],
        "data_files": "{" + ", ".join(f'"{split}": "{name}"' for split, name in names.items()) + "}",
        "keep": '["chosen", "rejected", "margin"]' if options.margin else '["chosen", "rejected"]',
        "keep_with_prompt": '["prompt", "chosen", "rejected", "margin"]' if options.margin
        else '["prompt", "chosen", "rejected"]',
        "has_test": "test" in names,
        "adaptive": project.max_labelers_per_prompt > project.labelers_per_prompt,
        "conversational": prompt_format == "conversational",
        "kto": options.kind == "kto",
        "thumbs": project.feedback == Project.Feedback.THUMBS,
    }
    context["leaderboard"], context["no_leaderboard"] = leaderboard_rows(project)
    context["leaderboard_groups"] = len({row["group"] for row in context["leaderboard"]})
    return render_to_string("annotations/dataset_card.md", context).strip() + "\n"
