"""Canary completions: known-bad completions added to a share of a project's prompts, so that each
labeler's canary pass rate (canary ranked last or flagged) is measured without hand-made gold items.

A canary is one of: the completion of a different prompt (`other_prompt`), the first third of a
real completion (`truncated`), or a real completion with its words shuffled (`shuffled`; the
characters, for text written without spaces such as Chinese). It is stored as a Completion with
source "canary" and looks like any other on the labeling page. Consensus, agreement and exports
leave canaries out (see annotations/quality.py).

Which prompts get one is decided by a hash of the project's salt and the prompt id, so a repeat
run chooses the same prompts; only prompts nobody has been given yet are touched (a ranking
always covers every completion that was shown), and never twice (a unique constraint)."""

import hashlib
import random
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max, OuterRef

from .models import Assignment, Completion, Project, Prompt

CANARY_KINDS = ("other_prompt", "truncated", "shuffled")
BATCH = 500


def tokens(text: str) -> tuple[list[str], str]:
    """Words and the separator to join them with; characters for text without spaces."""
    words = text.split()
    return (words, " ") if len(words) >= 4 else (list(text), "")


def truncated(text: str) -> str:
    parts, sep = tokens(text)
    keep = max(1, len(parts) // 3)
    return sep.join(parts[:keep])


def shuffled(text: str, rng: random.Random) -> str:
    parts, sep = tokens(text)
    original = list(parts)
    for _ in range(5):  # a shuffle that returns the original order is no canary
        rng.shuffle(parts)
        if parts != original:
            break
    return sep.join(parts)


def build_canary(kind: str, real: str, other: str | None, rng: random.Random) -> tuple[str, str]:
    """(kind, text) of a canary for a prompt with a real completion `real`; `other` is a
    completion of a different prompt (None when the project has only one prompt). Falls back to
    another kind when the chosen one would not differ from the real text."""
    if kind == "other_prompt" and other:
        return kind, other
    if kind == "truncated" and truncated(real) != real:
        return kind, truncated(real)
    candidate = shuffled(real, rng)
    if candidate != real:
        return "shuffled", candidate
    if other:
        return "other_prompt", other
    return "truncated", truncated(real) + " …"


def chosen_for_canary(project: Project, prompt_id: int) -> bool:
    """A stable draw: the same prompts are chosen on every run, about canary_share of them."""
    digest = hashlib.sha256(f"{project.pseudonym_salt}:canary:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < project.canary_share


def eligible_prompts(project: Project):
    """Prompts that may still receive a canary: ready for labeling (not waiting for generation),
    never given to anyone, and without a canary."""
    ready = project.target_completions if project.generation_enabled else 2
    return (
        Prompt.objects.filter(project=project, num_completions__gte=max(ready, 2), num_rankings=0, num_reserved=0)
        .exclude(Exists(Assignment.objects.filter(prompt=OuterRef("pk"))))
        .exclude(Exists(Completion.objects.filter(prompt=OuterRef("pk"), source=Completion.Source.CANARY)))
    )


def add_canaries(project_id: int) -> dict:
    """Add one canary to each chosen, eligible prompt of the project. Safe to repeat and to run
    beside the labeling loop: each batch locks its prompts (skipping those a `next` holds) and
    re-checks that nobody has been given them."""
    project = Project.objects.get(pk=project_id)
    if not project.canaries_enabled or project.canary_share <= 0:
        return {"project": project_id, "added": 0, "enabled": False}
    candidates = [pk for pk in eligible_prompts(project).order_by("pk").values_list("pk", flat=True)
                  if chosen_for_canary(project, pk)]
    added = 0
    for start in range(0, len(candidates), BATCH):
        added += _add_batch(project, candidates[start:start + BATCH])
    return {"project": project_id, "added": added, "enabled": True}


def _add_batch(project: Project, prompt_ids: Sequence[int]) -> int:
    with transaction.atomic():
        locked = list(
            eligible_prompts(project).filter(pk__in=prompt_ids).select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
        )
        if not locked:
            return 0
        real = {}
        for prompt_id, text in (
            Completion.objects.filter(prompt_id__in=locked).exclude(source=Completion.Source.CANARY)
            .order_by("prompt_id", "position").values_list("prompt_id", "text")
        ):
            real.setdefault(prompt_id, text)
        last = dict(
            Completion.objects.filter(prompt_id__in=locked).values("prompt_id").annotate(top=Max("position"))
            .values_list("prompt_id", "top")
        )
        donors = _donor_texts(project, locked)
        canaries = []
        for prompt_id in locked:
            if prompt_id not in real:
                continue
            rng = random.Random(f"{project.pseudonym_salt}:{prompt_id}")
            kind, text = build_canary(rng.choice(CANARY_KINDS), real[prompt_id], donors.get(prompt_id), rng)
            canaries.append(Completion(
                prompt_id=prompt_id, position=last.get(prompt_id, 0) + 1, text=text,
                source=Completion.Source.CANARY, canary_kind=kind, model="", params={},
            ))
        try:
            with transaction.atomic():
                Completion.objects.bulk_create(canaries)
        except IntegrityError:
            return 0  # another run added canaries to these prompts meanwhile; the next run retries the rest
        Prompt.objects.filter(pk__in=[c.prompt_id for c in canaries]).update(num_completions=F("num_completions") + 1)
    return len(canaries)


def _donor_texts(project: Project, prompt_ids: Sequence[int]) -> dict[int, str]:
    """For each prompt, a real completion of a different prompt of the project (its neighbour in
    id order among a sample), or nothing when the project has a single prompt."""
    sample = list(
        Completion.objects.filter(prompt__project=project).exclude(source=Completion.Source.CANARY)
        .order_by("-prompt_id", "position")
        .values_list("prompt_id", "text")[:200]
    )
    donors = {}
    for i, prompt_id in enumerate(prompt_ids):
        others = [text for pid, text in sample if pid != prompt_id]
        if others:
            donors[prompt_id] = others[i % len(others)]
    return donors
