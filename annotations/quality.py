"""Quality figures of a project: agreement, per-labeler scores, canaries, possible misreaders.

Fetches rankings in a few queries and hands plain data to the pure functions of consensus.py.

Canaries (Completion.source == "canary") are known-bad completions added to measure labelers.
They are removed from every judgement before consensus and agreement are computed
(`judgements_by_prompt`), so they never distort them, and they count only for the canary pass
rate. Exports must leave them out too: filter `Completion.source != "canary"` (or strip the ids
of `canary_ids(project)` from each ranking, as `judgements_by_prompt` does) before making pairs.
"""

import hashlib
from collections import defaultdict

from .consensus import Judgement, LabelerScore, labeler_scores, strip_completions
from .models import Completion, Project, Ranking

__all__ = ["LabelerScore", "canary_ids", "judgements_by_prompt", "labeler_agreement", "labeler_pseudonym"]


def labeler_pseudonym(project: Project, user_id: int) -> str:
    """A labeler's stable name in one project's exports and API: never the username, and
    different in each project (the project's secret salt goes into the hash)."""
    digest = hashlib.sha256(f"{project.pseudonym_salt}:{user_id}".encode()).hexdigest()
    return f"labeler-{digest[:8]}"


def canary_ids(project: Project) -> dict[int, int]:
    """Canary completion id → its prompt id, for the whole project (one query)."""
    rows = Completion.objects.filter(prompt__project=project, source=Completion.Source.CANARY)
    return dict(rows.values_list("pk", "prompt_id"))


def judgements_by_prompt(project: Project, canaries: set[int] | None = None) -> dict[int, list[tuple[int, Judgement]]]:
    """Prompt id → [(labeler id, judgement without canaries)], every submitted ranking (two queries)."""
    canaries = set(canary_ids(project)) if canaries is None else canaries
    prompts: dict[int, list[tuple[int, Judgement]]] = defaultdict(list)
    rows = Ranking.objects.filter(project=project).order_by("prompt_id", "pk")
    for prompt_id, labeler_id, tiers, flagged in rows.values_list("prompt_id", "labeler_id", "tiers", "flagged"):
        judgement = Judgement(tiers, flagged)
        if canaries:
            judgement = strip_completions(judgement, canaries)
        prompts[prompt_id].append((labeler_id, judgement))
    return prompts


def labeler_agreement(project: Project) -> dict[int, LabelerScore]:
    """User id → agreement with the leave-one-out consensus (ranked pairs), 0..1, with the number
    of rankings compared and a 95% Wilson interval. Canaries are left out. A labeler is absent
    when none of their rankings could be compared yet (no other ranking of the same prompt, or
    the others' consensus orders nothing): their agreement is unknown, not zero."""
    return labeler_scores(judgements_by_prompt(project).values())
